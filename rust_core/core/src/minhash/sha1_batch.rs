//! `sha1_hash32` of many short messages at once.
//!
//! datasketch hashes every shingle with SHA-1, which is most of the cost of a signature.
//! Two batch kernels compute many independent messages at once, each building the padded
//! blocks in registers straight from the text:
//!
//! - with AVX-512 (F + BW), sixteen messages of up to four blocks (247 bytes) run in the
//!   sixteen 32-bit lanes of one vector: rotates and the round functions are single
//!   instructions there (`vprold`, `vpternlogd`). On a Sapphire Rapids class Xeon a
//!   one-block shingle costs about 10 ns this way against about 30 ns on the SHA
//!   extensions;
//! - with the SHA extensions, a few one-block messages (up to 55 bytes) run side by side
//!   so their dependent `sha1rnds4` chains overlap.
//!
//! Longer messages and CPUs with neither take the plain path. Only the first 32-bit word
//! of the digest is computed.

use super::scheme::{sha1_hash32, SHA1_INIT as INIT};

/// Messages of at most this many bytes fit one SHA-1 block with their padding.
pub const ONE_BLOCK: usize = 55;

/// Append `sha1_hash32(m)` of every message to `out`, in order.
pub fn sha1_hash32_into<'a>(messages: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u32>) {
    let messages: Vec<&[u8]> = messages.into_iter().collect();
    let start = out.len();
    out.resize(start + messages.len(), 0);
    let out = &mut out[start..];
    #[cfg(target_arch = "x86_64")]
    {
        if avx512::available() {
            // SAFETY: `available()` checked the CPU features.
            unsafe { avx512::hash_messages(|i| messages[i], out) };
            return;
        }
        if shani::available() {
            // SAFETY: `available()` checked the CPU features; no window is claimed readable.
            unsafe { shani::hash_messages::<BATCH>(|i| (messages[i], false), out) };
            return;
        }
    }
    for (slot, message) in out.iter_mut().zip(messages) {
        *slot = sha1_hash32(message);
    }
}

/// Append `sha1_hash32(&text[s..e])` for each of the `count` spans `span(i) = (s, e)`, in order.
///
/// Faster when `text` has at least 64 readable bytes after the start of every span (the
/// caller may append padding after the real end of its text; the bytes there are never
/// hashed).
#[inline]
pub fn sha1_hash32_spans(text: &[u8], count: usize, span: impl Fn(usize) -> (usize, usize), out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512::available() {
            let start = out.len();
            out.resize(start + count, 0);
            let message = |i| {
                let (s, e) = span(i);
                &text[s..e]
            };
            // SAFETY: `available()` checked the CPU features.
            unsafe { avx512::hash_messages(message, &mut out[start..]) };
            return;
        }
    }
    sha1_hash32_spans_lanes::<BATCH>(text, count, span, out);
}

/// Messages hashed side by side on the SHA extensions. Measured on AMD Zen 3: from two
/// messages on, the SHA unit's throughput (not the `sha1rnds4` latency) is the limit,
/// and four or more cost register spills (each message holds six of the sixteen vector
/// registers). On a Sapphire Rapids class Xeon 2 lanes were ~10% faster than 3, but that
/// CPU takes the AVX-512 kernel (3x faster again).
const BATCH: usize = 3;

/// [`sha1_hash32_spans`] on the SHA extensions with `L` messages side by side, whatever
/// else the CPU has (public for the kernel benchmark).
#[doc(hidden)]
#[inline]
pub fn sha1_hash32_spans_lanes<const L: usize>(
    text: &[u8],
    count: usize,
    span: impl Fn(usize) -> (usize, usize),
    out: &mut Vec<u32>,
) {
    let start = out.len();
    out.resize(start + count, 0);
    let out = &mut out[start..];
    #[cfg(target_arch = "x86_64")]
    {
        if shani::available() {
            let message = |i| {
                let (s, e) = span(i);
                (&text[s..e], s + 64 <= text.len())
            };
            // SAFETY: `available()` checked the CPU features, and a window is claimed
            // readable only when it lies inside `text`.
            unsafe { shani::hash_messages::<L>(message, out) };
            return;
        }
    }
    for (i, slot) in out.iter_mut().enumerate() {
        let (s, e) = span(i);
        *slot = sha1_hash32(&text[s..e]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::{sha1_hash32, INIT};

    const LANES: usize = 16;
    const K: [u32; 4] = [0x5A82_7999, 0x6ED9_EBA1, 0x8F1B_BCDC, 0xCA62_C1D6];
    /// `vpternlogd` truth tables of the round functions: choose, parity, majority.
    const CHOOSE: i32 = 0xCA;
    const PARITY: i32 = 0x96;
    const MAJORITY: i32 = 0xE8;

    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw"))
    }

    /// Reverses the bytes of every 32-bit word (`vpshufb` indices).
    #[inline(always)]
    unsafe fn byte_swap() -> __m512i {
        _mm512_set4_epi32(0x0C0D_0E0F, 0x0809_0A0B, 0x0405_0607, 0x0001_0203)
    }

    /// Block `block` of the padded message (its data bytes, the 0x80 marker when it falls
    /// there, zeros; not the length) as sixteen big-endian words. The masked load touches
    /// only the message's own bytes.
    #[inline(always)]
    unsafe fn load_block(message: &[u8], block: usize) -> __m512i {
        let (len, offset) = (message.len(), 64 * block);
        let rest = len.saturating_sub(offset);
        let data_mask = if rest >= 64 { u64::MAX } else { (1u64 << rest) - 1 };
        let data = _mm512_maskz_loadu_epi8(data_mask, message.as_ptr().wrapping_add(offset) as *const i8);
        let marker = if len >= offset && len - offset < 64 { 1u64 << (len - offset) } else { 0 };
        let padded = _mm512_mask_mov_epi8(data, marker, _mm512_set1_epi8(0x80u8 as i8));
        _mm512_shuffle_epi8(padded, byte_swap())
    }

    /// Rows of sixteen 32-bit words to columns: `out[c]` lane `r` = `rows[r]` lane `c`.
    #[inline(always)]
    unsafe fn transpose(rows: &[__m512i; 16]) -> [__m512i; 16] {
        let mut pairs = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            pairs[2 * i] = _mm512_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);
            pairs[2 * i + 1] = _mm512_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);
        }
        // quads[4g + j], 128-bit lane l: word 4l + j of rows 4g..4g+3.
        let mut quads = [_mm512_setzero_si512(); 16];
        for g in 0..4 {
            quads[4 * g] = _mm512_unpacklo_epi64(pairs[4 * g], pairs[4 * g + 2]);
            quads[4 * g + 1] = _mm512_unpackhi_epi64(pairs[4 * g], pairs[4 * g + 2]);
            quads[4 * g + 2] = _mm512_unpacklo_epi64(pairs[4 * g + 1], pairs[4 * g + 3]);
            quads[4 * g + 3] = _mm512_unpackhi_epi64(pairs[4 * g + 1], pairs[4 * g + 3]);
        }
        // Then a 4 x 4 transpose of 128-bit lanes among quads[j], [4 + j], [8 + j], [12 + j].
        let mut columns = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let low01 = _mm512_shuffle_i32x4::<0x44>(quads[j], quads[4 + j]);
            let high01 = _mm512_shuffle_i32x4::<0xEE>(quads[j], quads[4 + j]);
            let low23 = _mm512_shuffle_i32x4::<0x44>(quads[8 + j], quads[12 + j]);
            let high23 = _mm512_shuffle_i32x4::<0xEE>(quads[8 + j], quads[12 + j]);
            columns[j] = _mm512_shuffle_i32x4::<0x88>(low01, low23);
            columns[4 + j] = _mm512_shuffle_i32x4::<0xDD>(low01, low23);
            columns[8 + j] = _mm512_shuffle_i32x4::<0x88>(high01, high23);
            columns[12 + j] = _mm512_shuffle_i32x4::<0xDD>(high01, high23);
        }
        columns
    }

    /// One SHA-1 round in every lane; `state` is (a, b, c, d, e), `w` the ring of the last
    /// sixteen schedule words.
    #[inline(always)]
    unsafe fn round<const I: usize, const F: i32>(state: &mut [__m512i; 5], w: &mut [__m512i; 16], k: __m512i) {
        if I >= 16 {
            let mixed = _mm512_ternarylogic_epi32::<PARITY>(w[(I + 13) % 16], w[(I + 8) % 16], w[(I + 2) % 16]);
            w[I % 16] = _mm512_rol_epi32::<1>(_mm512_xor_si512(mixed, w[I % 16]));
        }
        let [a, b, c, d, e] = *state;
        let f = _mm512_ternarylogic_epi32::<F>(b, c, d);
        let t = _mm512_add_epi32(_mm512_add_epi32(_mm512_rol_epi32::<5>(a), f), _mm512_add_epi32(e, _mm512_add_epi32(w[I % 16], k)));
        *state = [t, a, _mm512_rol_epi32::<30>(b), c, d];
    }

    macro_rules! rounds {
        ($state:ident, $w:ident, $f:expr, $k:expr; $($i:literal)*) => {
            let k = _mm512_set1_epi32($k as i32);
            $(round::<$i, { $f }>(&mut $state, &mut $w, k);)*
        };
    }

    /// The SHA-1 compression of one block per lane (`w`: its sixteen words) into `state`.
    #[inline(always)]
    unsafe fn compress(state: &[__m512i; 5], mut w: [__m512i; 16]) -> [__m512i; 5] {
        let mut s = *state;
        rounds!(s, w, CHOOSE, K[0]; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19);
        rounds!(s, w, PARITY, K[1]; 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39);
        rounds!(s, w, MAJORITY, K[2]; 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59);
        rounds!(s, w, PARITY, K[3]; 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79);
        let mut out = *state;
        for (word, round) in out.iter_mut().zip(s) {
            *word = _mm512_add_epi32(*word, round);
        }
        out
    }

    /// SHA-1 blocks of a message of `len` bytes (with the 0x80 marker and the 8-byte length).
    #[inline(always)]
    fn block_count(len: usize) -> usize {
        (len + 8) / 64 + 1
    }

    /// Messages of up to this many blocks (247 bytes) can run in the vector kernel.
    const VECTOR_BLOCKS: usize = 4;
    /// A group of sixteen runs its multi-block messages in the vector kernel only when at
    /// least this many need more than one block: every extra block costs the whole
    /// vector, so one or two long messages are cheaper on the one-message path. In
    /// English nearly every shingle fits one block; in Russian, Greek or Hindi most do not.
    const MIN_LONG_LANES: usize = 4;

    /// Write the hash of `message(i)` to `out[i]`, for every `i`.
    ///
    /// # Safety
    /// The CPU has the features of `available()`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn hash_messages<'a>(message: impl Fn(usize) -> &'a [u8], out: &mut [u32]) {
        let count = out.len();
        let mut first = 0;
        while first < count {
            let lanes = (count - first).min(LANES);
            let mut messages: [&[u8]; LANES] = [&[]; LANES];
            let mut blocks = [1usize; LANES];
            let (mut long, mut most_blocks) = (0, 1);
            for lane in 0..lanes {
                messages[lane] = message(first + lane);
                blocks[lane] = block_count(messages[lane].len());
                if blocks[lane] > 1 {
                    long += 1;
                    if blocks[lane] <= VECTOR_BLOCKS {
                        most_blocks = most_blocks.max(blocks[lane]);
                    }
                }
            }
            let vector_blocks = if long >= MIN_LONG_LANES { most_blocks } else { 1 };
            let mut length_bits = [0u32; LANES];
            for lane in 0..lanes {
                length_bits[lane] = (messages[lane].len() as u32) << 3;
            }
            let length_bits = _mm512_loadu_si512(length_bits.as_ptr() as *const _);
            let init = INIT.map(|v| _mm512_set1_epi32(v as i32));
            let state = if vector_blocks == 1 {
                // Nearly always: no masks, no blends.
                let mut rows = [_mm512_setzero_si512(); LANES];
                for lane in 0..lanes {
                    if blocks[lane] == 1 {
                        rows[lane] = load_block(messages[lane], 0);
                    }
                }
                let mut w = transpose(&rows);
                w[15] = length_bits;
                compress(&init, w)
            } else {
                let mut state = init;
                for block in 0..vector_blocks {
                    let mut rows = [_mm512_setzero_si512(); LANES];
                    let (mut active, mut last) = (0u16, 0u16);
                    for lane in 0..lanes {
                        if block < blocks[lane] && blocks[lane] <= vector_blocks {
                            rows[lane] = load_block(messages[lane], block);
                            active |= 1 << lane;
                            if block + 1 == blocks[lane] {
                                last |= 1 << lane;
                            }
                        }
                    }
                    let mut w = transpose(&rows);
                    // The last block ends with the length in bits (its high word stays 0).
                    w[15] = _mm512_mask_blend_epi32(last, w[15], length_bits);
                    let next = compress(&state, w);
                    for (word, new) in state.iter_mut().zip(next) {
                        *word = _mm512_mask_blend_epi32(active, *word, new);
                    }
                }
                state
            };
            // The digest's first 4 bytes are H0 big-endian; sha1_hash32 reads them little-endian.
            let hashes = _mm512_shuffle_epi8(state[0], byte_swap());
            let mask = if lanes == LANES { u16::MAX } else { (1u16 << lanes) - 1 };
            _mm512_mask_storeu_epi32(out.as_mut_ptr().add(first) as *mut i32, mask, hashes);
            if long > 0 {
                for lane in 0..lanes {
                    if blocks[lane] > vector_blocks {
                        out[first + lane] = sha1_hash32(messages[lane]);
                    }
                }
            }
            first += lanes;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::{sha1_hash32, INIT, ONE_BLOCK};


    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            is_x86_feature_detected!("sha")
                && is_x86_feature_detected!("sse2")
                && is_x86_feature_detected!("ssse3")
                && is_x86_feature_detected!("sse4.1")
        })
    }

    type Block = [__m128i; 4];

    /// The padded one-block message of the `len` (<= 55) bytes at `bytes`, as the 16
    /// big-endian schedule words W0..W15 (W0 in the top lane of the first vector, the
    /// order `sha1rnds4` wants). Reads 64 bytes; those after the message are masked off.
    #[inline(always)]
    unsafe fn load_block(bytes: *const u8, len: usize) -> Block {
        let length = _mm_set1_epi8(len as i8);
        let marker = _mm_set1_epi8(0x80u8 as i8);
        let reverse = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        let mut index = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let sixteen = _mm_set1_epi8(16);
        let mut block = [_mm_setzero_si128(); 4];
        for (i, word) in block.iter_mut().enumerate() {
            let data = _mm_loadu_si128(bytes.add(16 * i) as *const __m128i);
            let kept = _mm_and_si128(data, _mm_cmpgt_epi8(length, index));
            let padded = _mm_or_si128(kept, _mm_and_si128(_mm_cmpeq_epi8(length, index), marker));
            *word = _mm_shuffle_epi8(padded, reverse);
            index = _mm_add_epi8(index, sixteen);
        }
        // W15 is the message length in bits (W14, its high half, stays 0).
        block[3] = _mm_insert_epi32::<0>(block[3], (len * 8) as i32);
        block
    }

    /// The block of `message`, or None when it needs more than one block. `window`: the
    /// 64 bytes from the message's start are readable.
    #[inline(always)]
    unsafe fn block_of(message: &[u8], window: bool) -> Option<Block> {
        if message.len() > ONE_BLOCK {
            return None;
        }
        if window {
            return Some(load_block(message.as_ptr(), message.len()));
        }
        let mut copy = [0u8; 64];
        copy[..message.len()].copy_from_slice(message);
        Some(load_block(copy.as_ptr(), message.len()))
    }

    /// Write the hash of message `i` to `out[i]`, for every `i`, where `message(i) = (bytes, window)`.
    ///
    /// # Safety
    /// The CPU has the features of `available()`; when `window` is true, the 64 bytes from
    /// `bytes.as_ptr()` are readable.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn hash_messages<'a, const LANES: usize>(message: impl Fn(usize) -> (&'a [u8], bool), out: &mut [u32]) {
        let count = out.len();
        let empty = block_of(&[], false).unwrap();
        let mut first = 0;
        while first < count {
            let lanes = (count - first).min(LANES);
            let mut blocks = [empty; LANES];
            let mut long = false;
            for lane in 0..lanes {
                let (bytes, window) = message(first + lane);
                match block_of(bytes, window) {
                    Some(block) => blocks[lane] = block,
                    None => long = true,
                }
            }
            let words = first_words(&blocks);
            if lanes == LANES {
                out[first..first + LANES].copy_from_slice(&words);
            } else {
                out[first..first + lanes].copy_from_slice(&words[..lanes]);
            }
            if long {
                for lane in 0..lanes {
                    let (bytes, _) = message(first + lane);
                    if bytes.len() > ONE_BLOCK {
                        out[first + lane] = sha1_hash32(bytes);
                    }
                }
            }
            first += lanes;
        }
    }

    #[inline(always)]
    unsafe fn rounds<const F: i32, const LANES: usize>(
        group: usize,
        abcd: &mut [__m128i; LANES],
        e: &mut [__m128i; LANES],
        w: &mut [Block; LANES],
    ) {
        let next = group + 1;
        for lane in 0..LANES {
            let previous = abcd[lane];
            abcd[lane] = _mm_sha1rnds4_epu32::<F>(abcd[lane], e[lane]);
            if next < 20 {
                let ring = &mut w[lane];
                if next >= 4 {
                    // W[next] = msg2(msg1(W[next-4], W[next-3]) ^ W[next-2], W[next-1])
                    let mixed = _mm_xor_si128(_mm_sha1msg1_epu32(ring[next % 4], ring[(next + 1) % 4]), ring[(next + 2) % 4]);
                    ring[next % 4] = _mm_sha1msg2_epu32(mixed, ring[(next + 3) % 4]);
                }
                e[lane] = _mm_sha1nexte_epu32(previous, ring[next % 4]);
            }
        }
    }

    /// The first state word after compressing one padded block per lane.
    #[inline(always)]
    unsafe fn first_words<const LANES: usize>(blocks: &[Block; LANES]) -> [u32; LANES] {
        let abcd_init = _mm_shuffle_epi32::<0x1B>(_mm_loadu_si128(INIT.as_ptr() as *const __m128i));
        let e_init = _mm_set_epi32(INIT[4] as i32, 0, 0, 0);
        let mut abcd = [abcd_init; LANES];
        let mut e = [e_init; LANES];
        let mut w = *blocks;
        for lane in 0..LANES {
            e[lane] = _mm_add_epi32(e[lane], w[lane][0]);
        }
        for group in 0..5 {
            rounds::<0, LANES>(group, &mut abcd, &mut e, &mut w);
        }
        for group in 5..10 {
            rounds::<1, LANES>(group, &mut abcd, &mut e, &mut w);
        }
        for group in 10..15 {
            rounds::<2, LANES>(group, &mut abcd, &mut e, &mut w);
        }
        for group in 15..20 {
            rounds::<3, LANES>(group, &mut abcd, &mut e, &mut w);
        }
        let mut words = [0u32; LANES];
        for lane in 0..LANES {
            let a = _mm_extract_epi32::<3>(_mm_add_epi32(abcd[lane], abcd_init)) as u32;
            // The digest's first 4 bytes are A big-endian; sha1_hash32 reads them little-endian.
            words[lane] = a.swap_bytes();
        }
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest, Sha1};

    fn reference(message: &[u8]) -> u32 {
        let digest = Sha1::digest(message);
        u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
    }

    #[test]
    fn equals_sha1_for_every_length() {
        let data: Vec<u8> = (0..400u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let messages: Vec<&[u8]> = (0..=300).map(|len| &data[len % 37..len % 37 + len]).collect();
        let mut got = Vec::new();
        sha1_hash32_into(messages.iter().copied(), &mut got);
        for (message, value) in messages.iter().zip(&got) {
            assert_eq!(*value, reference(message), "{}", message.len());
            assert_eq!(*value, sha1_hash32(message));
        }
    }

    #[test]
    fn groups_with_any_number_of_long_messages() {
        // Groups of sixteen with 0..=16 messages of 2 to 5 blocks among one-block ones.
        let data: Vec<u8> = (0..400u32).map(|i| (i.wrapping_mul(40503) >> 7) as u8).collect();
        let mut messages: Vec<&[u8]> = Vec::new();
        for long in 0..=16usize {
            for lane in 0..16 {
                let len = if lane < long { 56 + (lane * 41 + long * 7) % 260 } else { (lane * 5 + long) % 56 };
                messages.push(&data[lane..lane + len]);
            }
        }
        let mut got = Vec::new();
        sha1_hash32_into(messages.iter().copied(), &mut got);
        for (message, value) in messages.iter().zip(&got) {
            assert_eq!(*value, reference(message), "{}", message.len());
        }
    }

    #[test]
    fn spans_near_the_end_and_in_any_group_size() {
        let text: Vec<u8> = (0..150u32).map(|i| (i.wrapping_mul(40503) >> 5) as u8).collect();
        for count in 0..20usize {
            // Spans of every length from 0 to 70, some ending at the text's last byte.
            let span = |i: usize| {
                let len = (i * 13 + count) % 71;
                let start = if i % 3 == 0 { text.len() - len } else { (i * 7) % (text.len() - len) };
                (start, start + len)
            };
            let mut got = vec![7u32];
            sha1_hash32_spans(&text, count, span, &mut got);
            // The SHA-extension kernel, also where the AVX-512 one is used.
            sha1_hash32_spans_lanes::<3>(&text, count, span, &mut got);
            assert_eq!(got.len(), 2 * count + 1);
            for i in 0..count {
                let (s, e) = span(i);
                assert_eq!(got[i + 1], reference(&text[s..e]), "count {count} span {i}");
                assert_eq!(got[count + i + 1], reference(&text[s..e]), "SHA extensions, count {count} span {i}");
            }
        }
    }
}
