//! `sha1_hash32` of many short messages at once.
//!
//! datasketch hashes every shingle with SHA-1, and one SHA-1 block is a long chain of
//! dependent `sha1rnds4` instructions. With the x86 SHA extensions we run several
//! independent one-block messages (shingles up to 55 bytes) side by side so their
//! chains overlap, and build each padded block in registers straight from the text
//! (masked 16-byte loads: no zeroing, no byte copies, no store-to-load forwarding
//! stalls). Longer messages and CPUs without the extensions take the plain path. Only
//! the first 32-bit word of the digest is computed.

use super::scheme::sha1_hash32;

/// Messages of at most this many bytes fit one SHA-1 block with their padding.
const ONE_BLOCK: usize = 55;

/// Append `sha1_hash32(m)` of every message to `out`, in order.
pub fn sha1_hash32_into<'a>(messages: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u32>) {
    let messages: Vec<&[u8]> = messages.into_iter().collect();
    let start = out.len();
    out.resize(start + messages.len(), 0);
    let out = &mut out[start..];
    #[cfg(target_arch = "x86_64")]
    {
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
    sha1_hash32_spans_lanes::<BATCH>(text, count, span, out);
}

/// Messages hashed side by side. Measured on AMD Zen 3: from two messages on, the SHA
/// unit's throughput (not the `sha1rnds4` latency) is the limit, and four or more cost
/// register spills (each message holds six of the sixteen vector registers).
const BATCH: usize = 3;

/// [`sha1_hash32_spans`] with `L` messages side by side (public for the lane-count benchmark).
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
mod shani {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::{sha1_hash32, ONE_BLOCK};

    const INIT: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

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
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let messages: Vec<&[u8]> = (0..=200).map(|len| &data[len % 37..len % 37 + len]).collect();
        let mut got = Vec::new();
        sha1_hash32_into(messages.iter().copied(), &mut got);
        for (message, value) in messages.iter().zip(&got) {
            assert_eq!(*value, reference(message), "{}", message.len());
            assert_eq!(*value, sha1_hash32(message));
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
            assert_eq!(got.len(), count + 1);
            for i in 0..count {
                let (s, e) = span(i);
                assert_eq!(got[i + 1], reference(&text[s..e]), "count {count} span {i}");
            }
        }
    }
}
