//! The n-grams of a text as 64-bit hashes.
//!
//! Each token is hashed once (XXH3-64 of its normalized UTF-8 bytes); an n-gram's hash is
//! XXH3-64 of its n token hashes in little-endian order. The hashes are the same on every
//! platform, so a saved index works anywhere. Two distinct n-grams share a hash with
//! probability about 2^-64 per pair.

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{AssayError, Result};
use crate::minhash::shingle::{normalize_into, normalize_with_sources, Normalized, Unit};

/// How texts are cut into n-grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NgramConfig {
    /// Tokens per n-gram.
    pub ngram: usize,
    /// `Auto` (words, and characters of unspaced scripts) or `Word`.
    pub unit: Unit,
}

impl NgramConfig {
    /// A checked configuration: `ngram` from 1 to 64, `unit` `auto` or `word`.
    pub fn new(ngram: usize, unit: Unit) -> Result<Self> {
        if !(1..=64).contains(&ngram) {
            return Err(AssayError::InvalidArgument(format!("ngram must be from 1 to 64, got {ngram}")));
        }
        if unit == Unit::Char {
            return Err(AssayError::InvalidArgument(
                "decontamination n-grams are made of tokens: unit must be 'auto' (characters of CJK runs, words elsewhere) or 'word'"
                    .into(),
            ));
        }
        Ok(Self { ngram, unit })
    }
}

impl Default for NgramConfig {
    fn default() -> Self {
        Self { ngram: 13, unit: Unit::Auto }
    }
}

/// Reused buffers for one thread.
#[derive(Default)]
pub struct NgramScratch {
    pub(crate) normalized: Normalized,
    tokens: Vec<u64>,
    bytes: Vec<u8>,
    pub(crate) hashes: Vec<u64>,
    pub(crate) sources: Vec<(u32, u32)>,
}

impl NgramScratch {
    fn hash_windows(&mut self, ngram: usize) {
        let text = self.normalized.text.as_bytes();
        self.tokens.clear();
        self.tokens.extend(self.normalized.tokens.iter().map(|&(s, e)| xxh3_64(&text[s as usize..e as usize])));
        self.hashes.clear();
        if self.tokens.len() < ngram {
            return;
        }
        self.bytes.clear();
        self.bytes.extend(self.tokens.iter().flat_map(|t| t.to_le_bytes()));
        let width = 8 * ngram;
        for start in (0..=self.bytes.len() - width).step_by(8) {
            self.hashes.push(xxh3_64(&self.bytes[start..start + width]));
        }
    }

    /// The hash of every n-gram of `text`, in order (repeats kept): window `i` covers
    /// tokens `i..i + ngram`.
    pub fn ngrams(&mut self, text: &str, config: NgramConfig) -> &[u64] {
        normalize_into(text, config.unit, &mut self.normalized);
        self.hash_windows(config.ngram);
        &self.hashes
    }

    /// [`Self::ngrams`], and the byte range of `text` each token came from
    /// (`self.sources`; window `i` spans `sources[i].0..sources[i + ngram - 1].1`).
    pub fn ngrams_with_sources(&mut self, text: &str, config: NgramConfig) -> &[u64] {
        normalize_with_sources(text, config.unit, &mut self.normalized, &mut self.sources);
        self.hash_windows(config.ngram);
        &self.hashes
    }
}

/// The n-gram hashes of one text.
///
/// ```
/// use assay_core::contam::ngrams::{ngram_hashes, NgramConfig};
/// let config = NgramConfig { ngram: 3, ..NgramConfig::default() };
/// let a = ngram_hashes("The quick brown fox.", config);
/// assert_eq!(a.len(), 2);
/// assert_eq!(a, ngram_hashes("the QUICK, brown   fox", config));
/// assert_eq!(ngram_hashes("北京大学", config).len(), 2); // 北京大, 京大学
/// ```
pub fn ngram_hashes(text: &str, config: NgramConfig) -> Vec<u64> {
    NgramScratch::default().ngrams(text, config).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_give_the_same_ngrams() {
        let config = NgramConfig { ngram: 2, unit: Unit::Auto };
        for text in ["Ｈｅｌｌｏ, wörld — 你好世界!", "e\u{301}cole et café", "plain ascii text here", "", "   "] {
            let mut a = NgramScratch::default();
            let mut b = NgramScratch::default();
            assert_eq!(a.ngrams(text, config), b.ngrams_with_sources(text, config), "{text:?}");
            assert_eq!(b.sources.len(), b.normalized.tokens.len());
        }
    }

    #[test]
    fn short_texts_have_none() {
        assert!(ngram_hashes("only four words here", NgramConfig::default()).is_empty());
    }
}
