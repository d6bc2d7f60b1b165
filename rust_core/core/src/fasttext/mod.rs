//! A pure-Rust reader and predictor for fastText supervised models (`.bin` and
//! quantized `.ftz`), reproducing the official implementation's predictions.
//!
//! - [`reader`]: the file format, bounds-checked (magic, version, arguments);
//! - [`dictionary`]: words, labels, character and word n-gram hashing, pruning;
//! - [`matrix`]: dense and product-quantized matrices (with norm quantization);
//! - [`loss`]: softmax, one-vs-all / negative sampling and hierarchical softmax
//!   prediction, with fastText's k-best heap;
//! - [`model`]: the loaded model and `predict`;
//! - [`kernel`]: the Arrow kernel (top-k labels and scores per row, in parallel).

pub mod dictionary;
pub mod kernel;
pub mod loss;
pub mod matrix;
pub mod model;
pub mod reader;

pub use kernel::{predict_array, PredictOptions};
pub use model::{FastTextModel, Prediction, Scratch};
