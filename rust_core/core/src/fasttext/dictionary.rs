//! The fastText dictionary: words and labels, their subword ids, and the mapping
//! from a line of text to the rows of the input matrix.
//!
//! Facts reproduced from fastText:
//! - hash: 32-bit FNV-1a where each byte is sign-extended (`int8_t`) before the xor;
//! - tokens are split on ASCII space, `\n`, `\r`, `\t`, `\v`, `\f` and NUL; the line end
//!   adds the token `</s>`;
//! - a word's character n-grams are the n-grams (n in minn..=maxn, counted in UTF-8
//!   code points) of `<word>`, except the lone `<` and `>`; each hashes to
//!   `nwords + hash % bucket`, remapped (or dropped) through the prune index when the
//!   dictionary was pruned by quantization;
//! - an in-vocabulary word contributes its own row then its n-grams (`</s>` only its
//!   row); an unknown word contributes its n-grams only; tokens starting with
//!   `__label__` contribute nothing;
//! - word n-grams (wordNgrams > 1) chain the token hashes as 64-bit
//!   `h = h * 116049371 + hash`, with the 32-bit hashes sign-extended.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::reader::{invalid, Args, Reader};

/// The end-of-sentence token.
pub const EOS: &[u8] = b"</s>";
/// The prefix that marks a label token.
pub const LABEL_PREFIX: &[u8] = b"__label__";

/// fastText's string hash (FNV-1a over sign-extended bytes).
///
/// ```
/// use assay_core::fasttext::dictionary::hash;
/// assert_eq!(hash(b""), 2166136261);
/// assert_eq!(hash(b"a"), 0xe40c292c);
/// ```
#[inline]
pub fn hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

#[inline]
fn is_delimiter(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

#[inline]
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// A fast hasher for the prune index's `i32` keys (bucket numbers, already hashes).
#[derive(Default)]
pub struct BucketHasher(u64);

impl Hasher for BucketHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_i32(&mut self, value: i32) {
        let x = (value as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

type PruneIndex = HashMap<i32, i32, BuildHasherDefault<BucketHasher>>;

/// A loaded dictionary.
#[derive(Debug)]
pub struct Dictionary {
    nwords: i32,
    nlabels: i32,
    /// All entry strings back to back; entry `i` is `text[offsets[i]..offsets[i+1]]`.
    text: Vec<u8>,
    offsets: Vec<usize>,
    counts: Vec<i64>,
    /// fastText's open-addressing table: slot -> entry id or -1.
    word2int: Vec<i32>,
    /// Input-matrix rows of each word (own row then n-grams): `subwords[sub_offsets[i]..sub_offsets[i+1]]`.
    subwords: Vec<i32>,
    sub_offsets: Vec<usize>,
    /// `None`: not pruned. `Some(map)`: n-gram bucket -> compacted bucket.
    prune_index: Option<PruneIndex>,
    bucket: u32,
    minn: usize,
    maxn: usize,
    word_ngrams: usize,
}

impl Dictionary {
    /// Read the dictionary section. `input_rows` is not known yet; the caller checks
    /// [`Dictionary::max_input_row`] against the input matrix afterwards.
    pub fn read(reader: &mut Reader<'_>, args: &Args) -> crate::Result<Self> {
        let size = reader.i32("dictionary size")?;
        let nwords = reader.i32("dictionary word count")?;
        let nlabels = reader.i32("dictionary label count")?;
        let _ntokens = reader.i64("dictionary token count")?;
        let prune_size = reader.i64("dictionary prune index size")?;
        if size < 0 || nwords < 0 || nlabels < 0 || nwords as i64 + nlabels as i64 != size as i64 {
            return Err(invalid(format_args!(
                "inconsistent dictionary sizes (size {size}, words {nwords}, labels {nlabels})"
            )));
        }
        // Each entry takes at least 10 bytes (NUL, i64 count, i8 type).
        if size as u64 * 10 > reader.remaining() as u64 {
            return Err(invalid(format_args!(
                "file truncated: the dictionary claims {size} entries but only {} bytes are left",
                reader.remaining()
            )));
        }
        let size = size as usize;
        let mut text = Vec::new();
        let mut offsets = Vec::with_capacity(size + 1);
        let mut counts = Vec::with_capacity(size);
        offsets.push(0);
        for i in 0..size {
            let word = reader.c_string("a dictionary entry")?;
            let count = reader.i64("a dictionary entry count")?;
            let kind = reader.u8("a dictionary entry type")?;
            let expected = if i < nwords as usize { 0 } else { 1 };
            if kind != expected {
                return Err(invalid(format_args!(
                    "dictionary entry {i} has type {kind}, expected {expected} (words first, then labels)"
                )));
            }
            text.extend_from_slice(word);
            offsets.push(text.len());
            counts.push(count);
        }
        let prune_index = if prune_size < 0 {
            None
        } else {
            if prune_size as u64 > reader.remaining() as u64 / 8 {
                return Err(invalid(format_args!(
                    "file truncated: the prune index claims {prune_size} pairs but only {} bytes are left",
                    reader.remaining()
                )));
            }
            let mut map = PruneIndex::with_capacity_and_hasher(prune_size as usize, Default::default());
            for _ in 0..prune_size {
                let from = reader.i32("the prune index")?;
                let to = reader.i32("the prune index")?;
                if to < 0 {
                    return Err(invalid(format_args!("negative prune index target {to}")));
                }
                map.insert(from, to);
            }
            Some(map)
        };
        let mut dict = Dictionary {
            nwords,
            nlabels,
            text,
            offsets,
            counts,
            word2int: Vec::new(),
            subwords: Vec::new(),
            sub_offsets: Vec::new(),
            prune_index,
            bucket: args.bucket as u32,
            minn: args.minn as usize,
            maxn: args.maxn as usize,
            word_ngrams: args.word_ngrams as usize,
        };
        if dict.bucket == 0 && (dict.maxn > 0 || dict.word_ngrams > 1) {
            return Err(invalid("bucket is 0 but the model uses n-grams"));
        }
        dict.build_index();
        Ok(dict)
    }

    fn build_index(&mut self) {
        let size = self.size();
        let table_size = ((size as f64 / 0.7).ceil() as usize).max(1);
        self.word2int = vec![-1; table_size];
        for i in 0..size {
            let slot = self.find(self.entry(i), hash(self.entry(i)));
            self.word2int[slot] = i as i32;
        }
        let mut subwords = Vec::new();
        let mut sub_offsets = Vec::with_capacity(size + 1);
        sub_offsets.push(0);
        let mut bracketed = Vec::new();
        for i in 0..size {
            subwords.push(i as i32);
            let word = self.entry(i);
            if word != EOS {
                bracketed.clear();
                bracketed.push(b'<');
                bracketed.extend_from_slice(word);
                bracketed.push(b'>');
                self.char_ngrams(&bracketed, |row| subwords.push(row));
            }
            sub_offsets.push(subwords.len());
        }
        self.subwords = subwords;
        self.sub_offsets = sub_offsets;
    }

    /// Number of entries (words and labels).
    pub fn size(&self) -> usize {
        self.counts.len()
    }

    pub fn nwords(&self) -> i32 {
        self.nwords
    }

    pub fn nlabels(&self) -> i32 {
        self.nlabels
    }

    /// True when quantization pruned the dictionary.
    pub fn is_pruned(&self) -> bool {
        self.prune_index.is_some()
    }

    /// The bytes of entry `i`.
    pub fn entry(&self, i: usize) -> &[u8] {
        &self.text[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Label `i` (with its `__label__` prefix), as bytes.
    pub fn label(&self, i: usize) -> &[u8] {
        self.entry(self.nwords as usize + i)
    }

    /// The training counts of the labels, in label order.
    pub fn label_counts(&self) -> &[i64] {
        &self.counts[self.nwords as usize..]
    }

    /// The largest input-matrix row any input can reach, or -1 when none.
    pub fn max_input_row(&self) -> i64 {
        let words = self.nwords as i64 - 1;
        let ngrams = match &self.prune_index {
            None if self.bucket > 0 && (self.maxn > 0 || self.word_ngrams > 1) => {
                self.nwords as i64 + self.bucket as i64 - 1
            }
            None => -1,
            Some(map) => map.values().map(|&v| self.nwords as i64 + v as i64).max().unwrap_or(-1),
        };
        // Entries' own rows (labels included) are only used for words; labels are skipped.
        words.max(ngrams)
    }

    fn find(&self, word: &[u8], h: u32) -> usize {
        let n = self.word2int.len();
        let mut slot = (h as usize) % n;
        loop {
            let id = self.word2int[slot];
            if id == -1 || self.entry(id as usize) == word {
                return slot;
            }
            slot = (slot + 1) % n;
        }
    }

    /// The entry id of `word`, or -1.
    pub fn id(&self, word: &[u8], h: u32) -> i32 {
        self.word2int[self.find(word, h)]
    }

    #[inline]
    fn push_hash(&self, id: i32, mut push: impl FnMut(i32)) {
        if id < 0 {
            return;
        }
        match &self.prune_index {
            None => push(self.nwords + id),
            Some(map) => {
                if let Some(&mapped) = map.get(&id) {
                    push(self.nwords + mapped)
                }
            }
        }
    }

    /// The character n-gram rows of an already bracketed word `<word>`.
    fn char_ngrams(&self, word: &[u8], mut push: impl FnMut(i32)) {
        if self.maxn == 0 {
            return;
        }
        for i in 0..word.len() {
            if is_continuation(word[i]) {
                continue;
            }
            let mut j = i;
            let mut n = 1;
            while j < word.len() && n <= self.maxn {
                j += 1;
                while j < word.len() && is_continuation(word[j]) {
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == word.len())) {
                    let id = (hash(&word[i..j]) % self.bucket) as i32;
                    self.push_hash(id, &mut push);
                }
                n += 1;
            }
        }
    }

    /// Call `push` with every input-matrix row of one line of text, in fastText's
    /// order (tokens' rows, then word n-grams); a `\n` inside counts as a space (the
    /// caller cuts the line first to read only one). `scratch` holds the token hashes.
    pub fn line_rows(&self, line: &[u8], scratch: &mut Vec<i32>, mut push: impl FnMut(i32)) {
        scratch.clear();
        let mut bracketed: Vec<u8> = Vec::new();
        let tokens = line.split(|&b| is_delimiter(b)).filter(|t| !t.is_empty());
        for token in tokens.chain(std::iter::once(EOS)) {
            let h = hash(token);
            let id = self.id(token, h);
            let is_label = if id >= 0 { id >= self.nwords } else { token.starts_with(LABEL_PREFIX) };
            if is_label {
                continue;
            }
            if id >= 0 {
                if self.maxn == 0 {
                    push(id);
                } else {
                    let id = id as usize;
                    for &row in &self.subwords[self.sub_offsets[id]..self.sub_offsets[id + 1]] {
                        push(row);
                    }
                }
            } else if token != EOS {
                bracketed.clear();
                bracketed.push(b'<');
                bracketed.extend_from_slice(token);
                bracketed.push(b'>');
                self.char_ngrams(&bracketed, &mut push);
            }
            scratch.push(h as i32);
            if token == EOS {
                // fastText stops the line at the first `</s>`, typed or implied.
                break;
            }
        }
        if self.word_ngrams > 1 {
            let bucket = self.bucket as u64;
            for i in 0..scratch.len() {
                let mut h = scratch[i] as i64 as u64;
                for &next in scratch.iter().take(i + self.word_ngrams).skip(i + 1) {
                    h = h.wrapping_mul(116_049_371).wrapping_add(next as i64 as u64);
                    self.push_hash((h % bucket) as i32, &mut push);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sign_extends_bytes() {
        // "é" is 0xC3 0xA9: both bytes are >= 0x80, so sign extension matters.
        let mut h: u32 = 2_166_136_261;
        for b in [0xC3u8, 0xA9] {
            h ^= 0xFFFF_FF00 | b as u32;
            h = h.wrapping_mul(16_777_619);
        }
        assert_eq!(hash("é".as_bytes()), h);
    }
}
