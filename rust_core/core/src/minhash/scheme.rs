//! The two datasketch (2.x) permutation schemes, bit for bit.
//!
//! - `affine32` (datasketch's default): `h' = fmix32(h)`, then `a_k * h' + b_k` wrapping
//!   at 2^32, with `a_k = 2 * randint(0, 2^31) + 1` (odd, so a bijection) and
//!   `b_k = randint(0, 2^32)`; all `a` are drawn first, then all `b`.
//! - `legacy` (datasketch < 2.0): `((a_k * h + b_k) mod 2^64) mod (2^61 - 1) & 0xFFFFFFFF`,
//!   stored as u64; `(a_k, b_k)` drawn as interleaved pairs from `[1, 2^61-1)` / `[0, 2^61-1)`.
//!
//! Both draw from NumPy's legacy `RandomState(seed)`; the input hash is
//! [`sha1_hash32`], datasketch's default `hashfunc`.

use sha1::{Digest, Sha1};

use super::mt19937::RandomState;
use crate::error::{AssayError, Result};

const MERSENNE_61: u64 = (1 << 61) - 1;

/// A permutation scheme of datasketch's `MinHash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Affine32,
    Legacy,
    /// Not datasketch's: each shingle hashed with 64-bit XXH3 (folded to 32 bits by
    /// `hi ^ lo`) instead of SHA-1, then `affine32`'s permutations (same parameters, same
    /// math). Several times faster; signatures differ from datasketch's, the estimate of
    /// Jaccard similarity is as good (see benchmarks/README.md).
    Xxh3,
}

impl Scheme {
    /// Parse datasketch's scheme name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "affine32" => Ok(Self::Affine32),
            "legacy" => Ok(Self::Legacy),
            "xxh3" => Ok(Self::Xxh3),
            other => Err(AssayError::InvalidArgument(format!(
                "scheme must be 'affine32', 'legacy' or 'xxh3', got {other:?}"
            ))),
        }
    }

    /// The name [`Scheme::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Affine32 => "affine32",
            Self::Legacy => "legacy",
            Self::Xxh3 => "xxh3",
        }
    }

    /// The value of an empty sketch (datasketch's max hash).
    pub fn empty_value(self) -> u64 {
        u32::MAX as u64
    }
}

/// datasketch's `sha1_hash32`: the first 4 bytes of SHA-1, little-endian.
///
/// ```
/// assert_eq!(assay_core::minhash::sha1_hash32(b"hello"), 0x1dc6f4aa);
/// ```
#[inline]
pub fn sha1_hash32(data: &[u8]) -> u32 {
    // Shingles are short: pad them into one or two blocks on the stack and run the
    // compression function directly (SHA-NI when the CPU has it), skipping the
    // streaming hasher's buffering.
    if data.len() <= 119 {
        let mut blocks = [0u8; 128];
        blocks[..data.len()].copy_from_slice(data);
        blocks[data.len()] = 0x80;
        let used = if data.len() <= 55 { 64 } else { 128 };
        blocks[used - 8..used].copy_from_slice(&((data.len() as u64) * 8).to_be_bytes());
        let mut state = SHA1_INIT;
        let blocks = if used == 64 { &blocks[..64] } else { &blocks[..] };
        compress_blocks(&mut state, blocks);
        return state[0].swap_bytes();
    }
    let digest = Sha1::digest(data);
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// SHA-1's initial state (H0..H4).
pub(super) const SHA1_INIT: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

#[inline]
fn compress_blocks(state: &mut [u32; 5], bytes: &[u8]) {
    use sha1::digest::generic_array::GenericArray;
    for chunk in bytes.chunks_exact(64) {
        sha1::compress(state, std::slice::from_ref(GenericArray::from_slice(chunk)));
    }
}

/// MurmurHash3's 32-bit finalizer (a bijection on u32).
#[inline]
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// `x mod (2^61 - 1)` for any u64, without a division.
#[inline]
fn mod_mersenne61(x: u64) -> u64 {
    let folded = (x & MERSENNE_61) + (x >> 61);
    if folded >= MERSENNE_61 {
        folded - MERSENNE_61
    } else {
        folded
    }
}

/// The permutation parameters of one `(num_perm, seed, scheme)`.
#[derive(Debug, Clone)]
pub enum Permutations {
    Affine32 { a: Vec<u32>, b: Vec<u32> },
    Legacy { a: Vec<u64>, b: Vec<u64> },
}

impl Permutations {
    /// Draw the parameters exactly as `datasketch.MinHash(num_perm, seed, scheme=...)` does.
    pub fn new(num_perm: usize, seed: u64, scheme: Scheme) -> Result<Self> {
        if num_perm == 0 {
            return Err(AssayError::InvalidArgument("num_perm must be positive".into()));
        }
        let seed = u32::try_from(seed).map_err(|_| {
            AssayError::InvalidArgument(format!("seed must be between 0 and 2**32 - 1, got {seed}"))
        })?;
        let mut rng = RandomState::new(seed);
        Ok(match scheme {
            Scheme::Affine32 | Scheme::Xxh3 => {
                let a = (0..num_perm)
                    .map(|_| rng.randint_u32(0, 1 << 31).wrapping_mul(2).wrapping_add(1))
                    .collect();
                let b = (0..num_perm).map(|_| rng.randint_u32(0, 1 << 32)).collect();
                Self::Affine32 { a, b }
            }
            Scheme::Legacy => {
                let (mut a, mut b) = (Vec::with_capacity(num_perm), Vec::with_capacity(num_perm));
                for _ in 0..num_perm {
                    a.push(rng.randint_u64(1, MERSENNE_61));
                    b.push(rng.randint_u64(0, MERSENNE_61));
                }
                Self::Legacy { a, b }
            }
        })
    }

    pub fn num_perm(&self) -> usize {
        match self {
            Self::Affine32 { a, .. } => a.len(),
            Self::Legacy { a, .. } => a.len(),
        }
    }

    pub fn scheme(&self) -> Scheme {
        match self {
            Self::Affine32 { .. } => Scheme::Affine32,
            Self::Legacy { .. } => Scheme::Legacy,
        }
    }
}

/// Fold input hashes into an `affine32` signature (`signature` starts at `u32::MAX`).
pub fn update_affine32(signature: &mut [u32], a: &[u32], b: &[u32], hashes: &[u32]) {
    let mixed: Vec<u32> = hashes.iter().map(|&h| fmix32(h)).collect();
    update_affine32_mixed(signature, a, b, &mixed);
}

/// [`update_affine32`] for hashes already passed through [`fmix32`].
pub fn update_affine32_mixed(signature: &mut [u32], a: &[u32], b: &[u32], mixed: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512 F, checked just above.
            unsafe { update_affine32_avx512(signature, a, b, mixed) };
            return;
        }
    }
    update_affine32_mixed_avx2(signature, a, b, mixed);
}

/// [`update_affine32_mixed`] without AVX-512 (public for the kernel benchmark).
#[doc(hidden)]
pub fn update_affine32_mixed_avx2(signature: &mut [u32], a: &[u32], b: &[u32], mixed: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { update_affine32_avx2(signature, a, b, mixed) };
            return;
        }
    }
    update_affine32_portable(signature, a, b, mixed);
}

#[inline(always)]
fn update_affine32_portable(signature: &mut [u32], a: &[u32], b: &[u32], mixed: &[u32]) {
    const LANES: usize = 8;
    let n = signature.len();
    let (a, b) = (&a[..n], &b[..n]);
    // Eight permutations at a time stay in one vector register across all hashes.
    let whole = n - n % LANES;
    for start in (0..whole).step_by(LANES) {
        let a: [u32; LANES] = a[start..start + LANES].try_into().unwrap();
        let b: [u32; LANES] = b[start..start + LANES].try_into().unwrap();
        let mut best: [u32; LANES] = signature[start..start + LANES].try_into().unwrap();
        for &x in mixed {
            for lane in 0..LANES {
                best[lane] = best[lane].min(a[lane].wrapping_mul(x).wrapping_add(b[lane]));
            }
        }
        signature[start..start + LANES].copy_from_slice(&best);
    }
    for k in whole..n {
        for &x in mixed {
            signature[k] = signature[k].min(a[k].wrapping_mul(x).wrapping_add(b[k]));
        }
    }
}

/// Four vectors of eight permutations (32 values) stay in registers across all hashes:
/// a, b and the running minimum take 12 of the 16 AVX2 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_affine32_avx2(signature: &mut [u32], a: &[u32], b: &[u32], mixed: &[u32]) {
    use std::arch::x86_64::*;
    const BLOCK: usize = 32;
    let n = signature.len();
    let (a, b) = (&a[..n], &b[..n]);
    let whole = n - n % BLOCK;
    let load = |values: &[u32], at: usize| _mm256_loadu_si256(values.as_ptr().add(at) as *const __m256i);
    for start in (0..whole).step_by(BLOCK) {
        let (a0, a1, a2, a3) = (load(a, start), load(a, start + 8), load(a, start + 16), load(a, start + 24));
        let (b0, b1, b2, b3) = (load(b, start), load(b, start + 8), load(b, start + 16), load(b, start + 24));
        let out = signature.as_mut_ptr().add(start) as *mut __m256i;
        let (mut m0, mut m1, mut m2, mut m3) =
            (_mm256_loadu_si256(out), _mm256_loadu_si256(out.add(1)), _mm256_loadu_si256(out.add(2)), _mm256_loadu_si256(out.add(3)));
        for &x in mixed {
            let x = _mm256_set1_epi32(x as i32);
            m0 = _mm256_min_epu32(m0, _mm256_add_epi32(_mm256_mullo_epi32(a0, x), b0));
            m1 = _mm256_min_epu32(m1, _mm256_add_epi32(_mm256_mullo_epi32(a1, x), b1));
            m2 = _mm256_min_epu32(m2, _mm256_add_epi32(_mm256_mullo_epi32(a2, x), b2));
            m3 = _mm256_min_epu32(m3, _mm256_add_epi32(_mm256_mullo_epi32(a3, x), b3));
        }
        _mm256_storeu_si256(out, m0);
        _mm256_storeu_si256(out.add(1), m1);
        _mm256_storeu_si256(out.add(2), m2);
        _mm256_storeu_si256(out.add(3), m3);
    }
    if whole < n {
        update_affine32_portable(&mut signature[whole..], &a[whole..], &b[whole..], mixed);
    }
}

/// With AVX-512, 128 permutations (eight vectors each of a, b and the running minimum,
/// 24 of the 32 registers) stay in registers across all hashes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_affine32_avx512(signature: &mut [u32], a: &[u32], b: &[u32], mixed: &[u32]) {
    let n = signature.len();
    let (a, b) = (&a[..n], &b[..n]);
    let mut start = 0;
    while start + 128 <= n {
        update_affine32_avx512_block::<8>(&mut signature[start..], &a[start..], &b[start..], mixed);
        start += 128;
    }
    while start + 16 <= n {
        update_affine32_avx512_block::<1>(&mut signature[start..], &a[start..], &b[start..], mixed);
        start += 16;
    }
    if start < n {
        update_affine32_portable(&mut signature[start..], &a[start..], &b[start..], mixed);
    }
}

/// The first `16 * V` permutations of `signature`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_affine32_avx512_block<const V: usize>(signature: &mut [u32], a: &[u32], b: &[u32], mixed: &[u32]) {
    use std::arch::x86_64::*;
    assert!(signature.len() >= 16 * V && a.len() >= 16 * V && b.len() >= 16 * V);
    let (mut av, mut bv, mut best) = ([_mm512_setzero_si512(); V], [_mm512_setzero_si512(); V], [_mm512_setzero_si512(); V]);
    for v in 0..V {
        av[v] = _mm512_loadu_si512(a.as_ptr().add(16 * v) as *const _);
        bv[v] = _mm512_loadu_si512(b.as_ptr().add(16 * v) as *const _);
        best[v] = _mm512_loadu_si512(signature.as_ptr().add(16 * v) as *const _);
    }
    for &x in mixed {
        let x = _mm512_set1_epi32(x as i32);
        for v in 0..V {
            best[v] = _mm512_min_epu32(best[v], _mm512_add_epi32(_mm512_mullo_epi32(av[v], x), bv[v]));
        }
    }
    for v in 0..V {
        _mm512_storeu_si512(signature.as_mut_ptr().add(16 * v) as *mut _, best[v]);
    }
}

/// Fold input hashes into a `legacy` signature (`signature` starts at `2^32 - 1`).
pub fn update_legacy(signature: &mut [u64], a: &[u64], b: &[u64], hashes: &[u32]) {
    let n = signature.len();
    let (a, b) = (&a[..n], &b[..n]);
    for &h in hashes {
        let h = h as u64;
        for k in 0..n {
            let v = mod_mersenne61(a[k].wrapping_mul(h).wrapping_add(b[k])) & 0xFFFF_FFFF;
            signature[k] = signature[k].min(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mersenne_fold_equals_modulo() {
        for x in [0u64, 1, MERSENNE_61 - 1, MERSENNE_61, MERSENNE_61 + 1, u64::MAX, u64::MAX - 7, 1 << 63] {
            assert_eq!(mod_mersenne61(x), x % MERSENNE_61, "{x}");
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            assert_eq!(mod_mersenne61(x), x % MERSENNE_61);
        }
    }

    #[test]
    fn permutations_match_numpy() {
        // np.random.RandomState(1): randint(0, 2**31, 3, dtype=np.uint32) = [1791095845, 2135392491, 946286476]
        let Permutations::Affine32 { a, .. } = Permutations::new(3, 1, Scheme::Affine32).unwrap() else {
            unreachable!()
        };
        assert_eq!(a, vec![2 * 1791095845u32 + 1, 2 * 2135392491 + 1, 2 * 946286476 + 1]);
        // randint(1, 2**61-1, dtype=np.uint64), randint(0, 2**61-1, dtype=np.uint64)
        let Permutations::Legacy { a, b } = Permutations::new(1, 1, Scheme::Legacy).unwrap() else {
            unreachable!()
        };
        assert_eq!((a[0], b[0]), (775169054918279404, 1758426461858698312));
    }

    #[test]
    fn vector_kernels_equal_the_portable_one() {
        let mixed: Vec<u32> = (0..37u32).map(|i| fmix32(i.wrapping_mul(0x9E37_79B9))).collect();
        for n in [1usize, 15, 16, 17, 33, 64, 127, 128, 129, 200, 256, 300] {
            let Permutations::Affine32 { a, b } = Permutations::new(n, 7, Scheme::Affine32).unwrap() else {
                unreachable!()
            };
            let mut expected = vec![u32::MAX; n];
            update_affine32_portable(&mut expected, &a, &b, &mixed);
            let mut got = vec![u32::MAX; n];
            update_affine32_mixed(&mut got, &a, &b, &mixed);
            assert_eq!(got, expected, "{n}");
            let mut got = vec![u32::MAX; n];
            update_affine32_mixed_avx2(&mut got, &a, &b, &mixed);
            assert_eq!(got, expected, "{n}");
        }
    }

    #[test]
    fn bad_arguments() {
        assert!(Permutations::new(0, 1, Scheme::Affine32).is_err());
        assert!(Permutations::new(4, 1 << 32, Scheme::Legacy).is_err());
        assert!(Scheme::parse("affine64").is_err());
    }
}
