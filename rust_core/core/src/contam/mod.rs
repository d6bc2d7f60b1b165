//! Decontamination: finding evaluation items in training text by their n-grams.
//!
//! - [`ngrams`]: the n-grams of a text, as 64-bit hashes, and where each came from;
//! - [`index`]: the [`ContaminationIndex`] of evaluation items (build, query, save, load)
//!   and its Arrow kernels.
//!
//! Texts are normalized exactly as MinHash shingles are ([`crate::minhash::shingle`]: NFKC,
//! lowercase, punctuation and white space fold into token boundaries, format characters
//! drop). With `unit = auto` a token is a word of a spaced script or one character of an
//! unspaced one (Han, kana, Thai, ...), so an n-gram is n words of English, n characters of
//! Chinese, and a mix across a code-switched run; with `unit = word` a Chinese clause is
//! one token. An n-gram is n consecutive tokens; a text with fewer than n tokens has none.

pub mod index;
pub mod ngrams;

pub use index::{contamination_array, redact_array, ContaminationIndex, Hit};
pub use ngrams::{NgramConfig, NgramScratch};
