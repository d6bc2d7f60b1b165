//! `sha1_hash32` of many short messages at once.
//!
//! datasketch hashes every shingle with SHA-1, and one SHA-1 block is a long chain of
//! dependent `sha1rnds4` instructions. With the x86 SHA extensions we run four
//! independent one-block messages (shingles up to 55 bytes) side by side so their
//! chains overlap; longer messages and CPUs without the extensions take the plain path.
//! Only the first 32-bit word of the digest is computed.

use super::scheme::sha1_hash32;

/// Append `sha1_hash32(m)` of every message to `out`, in order.
pub fn sha1_hash32_into<'a>(messages: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    {
        if shani::available() {
            shani::hash_all(messages, out);
            return;
        }
    }
    out.extend(messages.into_iter().map(sha1_hash32));
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::sha1_hash32;

    const LANES: usize = 4;
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

    /// Pad a message of at most 55 bytes into one SHA-1 block.
    #[inline(always)]
    fn pad(message: &[u8], block: &mut [u8; 64]) {
        *block = [0u8; 64];
        block[..message.len()].copy_from_slice(message);
        block[message.len()] = 0x80;
        block[56..].copy_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    }

    pub fn hash_all<'a>(messages: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u32>) {
        let mut blocks = [[0u8; 64]; LANES];
        let mut slots = [0usize; LANES];
        let mut filled = 0;
        for message in messages {
            if message.len() > 55 {
                out.push(sha1_hash32(message));
                continue;
            }
            pad(message, &mut blocks[filled]);
            slots[filled] = out.len();
            out.push(0);
            filled += 1;
            if filled == LANES {
                // SAFETY: `available()` checked the CPU features.
                let words = unsafe { first_words(&blocks) };
                for lane in 0..LANES {
                    out[slots[lane]] = words[lane];
                }
                filled = 0;
            }
        }
        if filled > 0 {
            // SAFETY: as above; unused lanes hash stale blocks and are ignored.
            let words = unsafe { first_words(&blocks) };
            for lane in 0..filled {
                out[slots[lane]] = words[lane];
            }
        }
    }

    #[inline(always)]
    unsafe fn rounds<const F: i32>(
        group: usize,
        abcd: &mut [__m128i; LANES],
        e: &mut [__m128i; LANES],
        w: &mut [[__m128i; 4]; LANES],
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
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn first_words(blocks: &[[u8; 64]; LANES]) -> [u32; LANES] {
        let byte_swap = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        let abcd_init = _mm_shuffle_epi32::<0x1B>(_mm_loadu_si128(INIT.as_ptr() as *const __m128i));
        let e_init = _mm_set_epi32(INIT[4] as i32, 0, 0, 0);
        let mut abcd = [abcd_init; LANES];
        let mut e = [e_init; LANES];
        let mut w = [[_mm_setzero_si128(); 4]; LANES];
        for lane in 0..LANES {
            for (i, word) in w[lane].iter_mut().enumerate() {
                let chunk = _mm_loadu_si128(blocks[lane].as_ptr().add(16 * i) as *const __m128i);
                *word = _mm_shuffle_epi8(chunk, byte_swap);
            }
            e[lane] = _mm_add_epi32(e[lane], w[lane][0]);
        }
        for group in 0..5 {
            rounds::<0>(group, &mut abcd, &mut e, &mut w);
        }
        for group in 5..10 {
            rounds::<1>(group, &mut abcd, &mut e, &mut w);
        }
        for group in 10..15 {
            rounds::<2>(group, &mut abcd, &mut e, &mut w);
        }
        for group in 15..20 {
            rounds::<3>(group, &mut abcd, &mut e, &mut w);
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

    #[test]
    fn equals_sha1_for_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let messages: Vec<&[u8]> = (0..=200).map(|len| &data[len % 37..len % 37 + len]).collect();
        let mut got = Vec::new();
        sha1_hash32_into(messages.iter().copied(), &mut got);
        for (message, value) in messages.iter().zip(&got) {
            let digest = Sha1::digest(message);
            assert_eq!(*value, u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]), "{}", message.len());
            assert_eq!(*value, sha1_hash32(message));
        }
    }
}
