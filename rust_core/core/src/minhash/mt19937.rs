//! NumPy's legacy `RandomState(seed)`: MT19937 with `init_genrand` seeding and the
//! masked-rejection bounded integers of `randint`. Only what the MinHash
//! permutations need, reproduced draw for draw.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The Mersenne Twister MT19937 as NumPy's `RandomState` runs it.
pub struct RandomState {
    state: [u32; N],
    index: usize,
}

impl RandomState {
    /// `numpy.random.RandomState(seed)` for an integer seed (`init_genrand`).
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: N }
    }

    fn generate(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & UPPER_MASK) | (self.state[(i + 1) % N] & LOWER_MASK);
            let mut next = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 == 1 {
                next ^= MATRIX_A;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    /// The next raw 32-bit output (tempered).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.generate();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A 64-bit draw: the first 32-bit output is the high word.
    pub fn next_u64(&mut self) -> u64 {
        let high = self.next_u32() as u64;
        (high << 32) | self.next_u32() as u64
    }

    /// `randint(low, high, dtype=np.uint32)`: uniform in `[low, high)` by masked rejection.
    pub fn randint_u32(&mut self, low: u64, high: u64) -> u32 {
        assert!(high > low && high - low <= 1 << 32, "randint_u32 range");
        let range = (high - low - 1) as u32;
        if range == 0 {
            return low as u32;
        }
        if range == u32::MAX {
            return (low as u32).wrapping_add(self.next_u32());
        }
        let mask = mask_u32(range);
        loop {
            let value = self.next_u32() & mask;
            if value <= range {
                return (low as u32).wrapping_add(value);
            }
        }
    }

    /// `randint(low, high, dtype=np.uint64)`: uniform in `[low, high)` by masked rejection;
    /// ranges that fit 32 bits draw 32-bit words, as NumPy does.
    pub fn randint_u64(&mut self, low: u64, high: u64) -> u64 {
        assert!(high > low, "randint_u64 range");
        let range = high - low - 1;
        if range == 0 {
            return low;
        }
        if range <= u32::MAX as u64 {
            return low + self.randint_u32(0, range + 1) as u64;
        }
        let mask = mask_u64(range);
        loop {
            let value = self.next_u64() & mask;
            if value <= range {
                return low + value;
            }
        }
    }
}

fn mask_u32(range: u32) -> u32 {
    u32::MAX >> range.leading_zeros()
}

fn mask_u64(range: u64) -> u64 {
    u64::MAX >> range.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_raw_output() {
        // np.random.RandomState(1).randint(0, 2**32, 3, dtype=np.uint64) draws 32-bit words:
        // [1791095845, 4282876139, 3093770124]
        let mut rng = RandomState::new(1);
        assert_eq!(rng.next_u32(), 1_791_095_845);
        assert_eq!(rng.next_u32(), 4_282_876_139);
        assert_eq!(rng.next_u32(), 3_093_770_124);
    }

    #[test]
    fn reference_mt19937_5489() {
        // The reference implementation's first output for the default seed 5489.
        assert_eq!(RandomState::new(5489).next_u32(), 3_499_211_612);
    }
}
