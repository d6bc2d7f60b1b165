//! assay-core: the pure-Rust algorithms behind assay.
//!
//! Nothing here knows about Python. Each module is one concept and exposes a
//! per-document function plus an Arrow kernel (`&dyn Array` in, `RecordBatch` out)
//! that runs on rayon's global pool. The pyo3 layer (`rust_core/py`) only converts
//! types, releases the GIL and maps errors.

pub mod contam;
pub mod content;
pub mod content_lid;
pub mod error;
pub mod hashing;
pub mod exact;
pub mod json_split;
pub mod jsonl;
pub mod lexical;
pub mod minhash;
pub mod pii;
pub mod fasttext;
pub mod quality;
pub mod script;
pub mod strings;
pub mod text_stats;

pub use error::{AssayError, Result};
