//! MinHash near-duplicate detection, bit-compatible with `datasketch` 2.x.
//!
//! - [`shingle`]: text normalization and the shingles (the byte strings hashed);
//! - [`mt19937`]: NumPy's legacy `RandomState`, which draws the permutations;
//! - [`scheme`]: datasketch's `affine32` and `legacy` permutation schemes and `sha1_hash32`;
//! - [`kernel`]: signatures per document and over Arrow string columns;
//! - [`lsh`]: banding parameters (datasketch's optimum and recall-first defaults), band tables;
//! - [`index`]: the streaming, saveable near-duplicate index.

pub mod index;
pub mod kernel;
pub mod lsh;
pub mod mt19937;
pub mod scheme;
pub mod sha1_batch;
pub mod shingle;

pub use index::{Assignment, DedupConfig, DedupIndex};
pub use kernel::{shingles_array, MinHasher, Scratch, Signatures};
pub use lsh::{band_key, candidate_probability, optimal_params, recall_params, BandTable};
pub use scheme::{sha1_hash32, Permutations, Scheme};
pub use shingle::{normalize_text, shingles, Unit};
