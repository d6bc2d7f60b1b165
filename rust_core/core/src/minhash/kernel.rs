//! MinHash signatures: per document and over an Arrow string column.

use arrow_array::Array;
use rayon::prelude::*;

use super::sha1_batch::{sha1_hash32_spans, ONE_BLOCK};
use super::scheme::{fmix32, update_affine32_mixed, update_legacy, Permutations, Scheme};
use super::shingle::{for_each_shingle, normalize_into, Normalized, Unit};
use crate::error::{AssayError, Result};
use crate::strings::StringColumn;

/// Signatures of many rows, row-major (`rows * num_perm` values).
#[derive(Debug, Clone, PartialEq)]
pub enum Signatures {
    /// `affine32`: one u32 per permutation (datasketch's uint32 hash values).
    U32(Vec<u32>),
    /// `legacy`: one u64 per permutation (datasketch's uint64 hash values).
    U64(Vec<u64>),
}

/// Reusable per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    normalized: Normalized,
    /// The byte span of each shingle in the normalized text.
    spans: Vec<(u32, u32)>,
    hashes: Vec<u32>,
    /// `fmix32` of each hash (affine32).
    mixed: Vec<u32>,
}

/// The `xxh3` scheme's hash of one shingle: 64-bit XXH3 (seed 0), its halves xor-ed.
///
/// ```
/// let h = xxhash_rust::xxh3::xxh3_64(b"a b c d e");
/// assert_eq!(assay_core::minhash::kernel::xxh3_hash32(b"a b c d e"), (h ^ (h >> 32)) as u32);
/// ```
#[inline]
pub fn xxh3_hash32(shingle: &[u8]) -> u32 {
    let h = xxhash_rust::xxh3::xxh3_64(shingle);
    (h ^ (h >> 32)) as u32
}

/// Appended to the normalized text while its shingles are hashed, so every shingle's
/// 64-byte window is readable (the SHA-1 kernel loads whole windows and masks them).
const PADDING: &str = match std::str::from_utf8(&[0u8; 64]) {
    Ok(zeros) => zeros,
    Err(_) => panic!(),
};

/// Computes MinHash signatures identical to datasketch's for our shingles.
#[derive(Debug, Clone)]
pub struct MinHasher {
    permutations: Permutations,
    scheme: Scheme,
    ngram: usize,
    unit: Unit,
}

impl MinHasher {
    pub fn new(num_perm: usize, seed: u64, scheme: Scheme, ngram: usize, unit: Unit) -> Result<Self> {
        if ngram == 0 {
            return Err(AssayError::InvalidArgument("ngram must be >= 1".into()));
        }
        Ok(Self { permutations: Permutations::new(num_perm, seed, scheme)?, scheme, ngram, unit })
    }

    pub fn num_perm(&self) -> usize {
        self.permutations.num_perm()
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn ngram(&self) -> usize {
        self.ngram
    }

    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// Normalize `text` and list its shingles as byte spans of the normalized text.
    fn prepare(&self, text: &str, scratch: &mut Scratch) {
        normalize_into(text, self.unit, &mut scratch.normalized);
        let normalized = &scratch.normalized;
        let bytes = normalized.text.as_bytes();
        let spans = &mut scratch.spans;
        spans.clear();
        match self.unit {
            Unit::Word | Unit::Auto => {
                // Straight from the token table: what `for_each_shingle` yields.
                let (tokens, n) = (&normalized.tokens, self.ngram);
                if tokens.len() >= n {
                    spans.extend(tokens.iter().zip(&tokens[n - 1..]).map(|(first, last)| (first.0, last.1)));
                } else if !tokens.is_empty() {
                    spans.push((0, bytes.len() as u32));
                }
            }
            Unit::Char => {
                let base = bytes.as_ptr() as usize;
                for_each_shingle(normalized, self.ngram, self.unit, |s| {
                    let start = s.as_ptr() as usize - base;
                    spans.push((start as u32, (start + s.len()) as u32));
                });
            }
        }
    }

    /// `sha1_hash32` of every shingle of `text`, in order (left in `scratch`).
    pub fn shingle_hashes<'s>(&self, text: &str, scratch: &'s mut Scratch) -> &'s [u32] {
        self.prepare(text, scratch);
        self.hash_spans(scratch)
    }

    /// The same hashes in any order, which is all a signature needs: shingles that fit
    /// one SHA-1 block come first, so the 16-lane kernel runs groups of one-block and
    /// groups of longer shingles instead of many mixed groups (where every lane pays for
    /// the longest). Matters for 2- and 3-byte scripts, where many word shingles are longer.
    fn signature_hashes<'s>(&self, text: &str, scratch: &'s mut Scratch) -> &'s [u32] {
        self.prepare(text, scratch);
        if self.scheme == Scheme::Xxh3 {
            return self.hash_spans(scratch);
        }
        let spans = &mut scratch.spans;
        let fits = |&(start, end): &(u32, u32)| end - start <= ONE_BLOCK as u32;
        if let Some(first_long) = spans.iter().position(|span| !fits(span)) {
            let mut short = first_long;
            for i in first_long + 1..spans.len() {
                if fits(&spans[i]) {
                    spans.swap(i, short);
                    short += 1;
                }
            }
        }
        self.hash_spans(scratch)
    }

    fn hash_spans<'s>(&self, scratch: &'s mut Scratch) -> &'s [u32] {
        if self.scheme == Scheme::Xxh3 {
            let bytes = scratch.normalized.text.as_bytes();
            scratch.hashes.clear();
            scratch.hashes.extend(scratch.spans.iter().map(|&(s, e)| xxh3_hash32(&bytes[s as usize..e as usize])));
            return &scratch.hashes;
        }
        let (spans, normalized) = (&scratch.spans, &mut scratch.normalized.text);
        let length = normalized.len();
        normalized.push_str(PADDING);
        scratch.hashes.clear();
        let span = |i: usize| (spans[i].0 as usize, spans[i].1 as usize);
        sha1_hash32_spans(normalized.as_bytes(), spans.len(), span, &mut scratch.hashes);
        normalized.truncate(length);
        &scratch.hashes
    }

    /// The `affine32` signature of `text` into `out` (`num_perm` values); returns false when
    /// the text has no shingle (then `out` is the empty sketch).
    pub fn signature_u32(&self, text: &str, scratch: &mut Scratch, out: &mut [u32]) -> bool {
        let Permutations::Affine32 { a, b } = &self.permutations else {
            panic!("signature_u32 needs the affine32 or xxh3 scheme");
        };
        out.fill(u32::MAX);
        self.signature_hashes(text, scratch);
        scratch.mixed.clear();
        scratch.mixed.extend(scratch.hashes.iter().map(|&h| fmix32(h)));
        update_affine32_mixed(out, a, b, &scratch.mixed);
        !scratch.hashes.is_empty()
    }

    /// The `legacy` signature of `text` into `out`; returns false when the text has no shingle.
    pub fn signature_u64(&self, text: &str, scratch: &mut Scratch, out: &mut [u64]) -> bool {
        let Permutations::Legacy { a, b } = &self.permutations else {
            panic!("signature_u64 needs the legacy scheme");
        };
        out.fill(u32::MAX as u64);
        let hashes = self.signature_hashes(text, scratch);
        update_legacy(out, a, b, hashes);
        !hashes.is_empty()
    }

    /// Signatures of every row of a string array, in parallel; a null or empty text
    /// gives the empty sketch (every value `2^32 - 1`).
    ///
    /// ```
    /// use arrow_array::StringArray;
    /// use assay_core::minhash::{MinHasher, Scheme, Signatures, Unit};
    /// let hasher = MinHasher::new(4, 1, Scheme::Affine32, 5, Unit::Auto).unwrap();
    /// let Signatures::U32(values) = hasher.signatures(&StringArray::from(vec![Some("a b"), None])).unwrap()
    /// else { unreachable!() };
    /// assert_eq!(values.len(), 8);
    /// assert!(values[4..].iter().all(|&v| v == u32::MAX));
    /// ```
    pub fn signatures(&self, texts: &dyn Array) -> Result<Signatures> {
        let column = StringColumn::try_new(texts, "minhash")?;
        let n = self.num_perm();
        Ok(match self.scheme() {
            Scheme::Affine32 | Scheme::Xxh3 => Signatures::U32(fill_rows(column.len(), n, |scratch, row, out| match column.get(row) {
                Some(text) => {
                    self.signature_u32(text, scratch, out);
                }
                None => out.fill(u32::MAX),
            })),
            Scheme::Legacy => Signatures::U64(fill_rows(column.len(), n, |scratch, row, out| match column.get(row) {
                Some(text) => {
                    self.signature_u64(text, scratch, out);
                }
                None => out.fill(u32::MAX as u64),
            })),
        })
    }
}

/// A new `rows * width` vector whose rows `fill` writes in parallel, each thread with its
/// own scratch buffers. The vector is not zeroed first: that would be a serial `memset`
/// before the parallel loop whenever the allocator hands back reused memory (it does
/// from the second call on); instead each row is initialized by the thread that fills it.
fn fill_rows<T: Copy + Default + Send>(
    rows: usize,
    width: usize,
    fill: impl Fn(&mut Scratch, usize, &mut [T]) + Sync,
) -> Vec<T> {
    let total = rows * width;
    let mut values: Vec<T> = Vec::with_capacity(total);
    values.spare_capacity_mut()[..total].par_chunks_mut(width.max(1)).enumerate().with_min_len(32).for_each_init(
        Scratch::default,
        |scratch, (row, out)| {
            for slot in out.iter_mut() {
                slot.write(T::default());
            }
            // SAFETY: every element of `out` was initialized just above.
            let out = unsafe { &mut *(out as *mut [std::mem::MaybeUninit<T>] as *mut [T]) };
            fill(scratch, row, out);
        },
    );
    // SAFETY: the loop visited every chunk of the first `total` elements and initialized
    // each element of each chunk (a panic inside it propagates before this line).
    unsafe { values.set_len(total) };
    values
}

/// The shingles of every row of a string array (null rows give none).
pub fn shingles_array(texts: &dyn Array, ngram: usize, unit: Unit) -> Result<Vec<Vec<Vec<u8>>>> {
    let column = StringColumn::try_new(texts, "shingles")?;
    Ok(column
        .par_map(|text| super::shingle::shingles(text, ngram, unit))
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::scheme::{sha1_hash32, update_affine32};

    fn signature(scheme: Scheme, shingle_list: &[&[u8]]) -> Vec<u64> {
        let permutations = Permutations::new(128, 1, scheme).unwrap();
        let hashes: Vec<u32> = shingle_list.iter().map(|s| sha1_hash32(s)).collect();
        match permutations {
            Permutations::Affine32 { a, b } => {
                let mut out = vec![u32::MAX; 128];
                update_affine32(&mut out, &a, &b, &hashes);
                out.into_iter().map(u64::from).collect()
            }
            Permutations::Legacy { a, b } => {
                let mut out = vec![u32::MAX as u64; 128];
                update_legacy(&mut out, &a, &b, &hashes);
                out
            }
        }
    }

    #[test]
    fn xxh3_signatures_are_the_affine32_permutations_of_xxh3_hashes() {
        let text = "The quick brown fox jumps over the lazy dog near the river bank";
        let hasher = MinHasher::new(16, 7, Scheme::Xxh3, 3, Unit::Auto).unwrap();
        let Permutations::Affine32 { a, b } = Permutations::new(16, 7, Scheme::Affine32).unwrap() else { unreachable!() };
        let expected: Vec<u32> = (0..16)
            .map(|p| {
                crate::minhash::shingles(text, 3, Unit::Auto)
                    .iter()
                    .map(|s| a[p].wrapping_mul(fmix32(xxh3_hash32(s))).wrapping_add(b[p]))
                    .min()
                    .unwrap()
            })
            .collect();
        let mut out = vec![0u32; 16];
        assert!(hasher.signature_u32(text, &mut Scratch::default(), &mut out));
        assert_eq!(out, expected);
    }

    #[test]
    fn design_test_vectors() {
        let input: [&[u8]; 3] = [b"hello", b"world", b"foo"];
        assert_eq!(signature(Scheme::Legacy, &input)[..4], [228630785, 216833891, 617530111, 32421658]);
        assert_eq!(
            signature(Scheme::Affine32, &input)[..4],
            [194877826, 648138202, 612313153, 1523615450]
        );
    }

    #[test]
    fn signatures_are_thread_independent_and_null_is_empty() {
        let texts: Vec<Option<String>> = (0..300)
            .map(|i| (i % 7 != 0).then(|| format!("document number {i} 第{i}号文件 with words {}", i * 7)))
            .collect();
        let array = arrow_array::StringArray::from(texts.clone());
        let hasher = MinHasher::new(64, 42, Scheme::Affine32, 3, Unit::Auto).unwrap();
        let Signatures::U32(parallel) = hasher.signatures(&array).unwrap() else { unreachable!() };
        let mut scratch = Scratch::default();
        for (row, text) in texts.iter().enumerate() {
            let mut out = vec![0u32; 64];
            match text {
                Some(t) => {
                    assert!(hasher.signature_u32(t, &mut scratch, &mut out));
                }
                None => out.fill(u32::MAX),
            }
            assert_eq!(&parallel[row * 64..(row + 1) * 64], &out[..]);
        }
    }
}
