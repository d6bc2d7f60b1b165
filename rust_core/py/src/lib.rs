//! `assay._core`: the thin pyo3 layer over assay-core.
//!
//! Every function here only converts types, releases the GIL around the Rust work
//! and maps errors (and panics) to Python exceptions. Algorithms live in assay-core.

use pyo3::prelude::*;

mod contam;
mod errors;
mod hashing;
mod json_split;
mod jsonl;
mod minhash;
mod pii;
mod fasttext;
mod quality;
mod text_stats;
mod threads;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RustPanic", m.py().get_type::<errors::RustPanic>())?;
    m.add_function(wrap_pyfunction!(text_stats::text_stats, m)?)?;
    m.add_function(wrap_pyfunction!(text_stats::script_counts, m)?)?;
    m.add_function(wrap_pyfunction!(text_stats::content_text, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::hash64, m)?)?;
    m.add_function(wrap_pyfunction!(minhash::shingles, m)?)?;
    m.add_function(wrap_pyfunction!(minhash::normalize_text, m)?)?;
    m.add_function(wrap_pyfunction!(minhash::minhash, m)?)?;
    m.add_function(wrap_pyfunction!(minhash::optimal_lsh_params, m)?)?;
    m.add_function(wrap_pyfunction!(minhash::recall_lsh_params, m)?)?;
    m.add_function(wrap_pyfunction!(minhash::exact_key_hashes, m)?)?;
    m.add_class::<minhash::PyDedupIndex>()?;
    m.add_class::<minhash::PyExactIndex>()?;
    m.add_class::<json_split::PyJsonSplitter>()?;
    m.add_class::<jsonl::PyJsonLinesAdapter>()?;
    m.add_class::<jsonl::PyLineCounter>()?;
    m.add_class::<contam::PyContaminationIndex>()?;
    m.add_function(wrap_pyfunction!(pii::pii_spans, m)?)?;
    m.add_function(wrap_pyfunction!(pii::pii_redact, m)?)?;
    m.add_class::<fasttext::FastTextModel>()?;
    m.add_function(wrap_pyfunction!(quality::apply_filters, m)?)?;
    m.add_function(wrap_pyfunction!(quality::quality_signals, m)?)?;
    m.add_function(wrap_pyfunction!(quality::instruction_filter, m)?)?;
    m.add_function(wrap_pyfunction!(quality::_quality_words, m)?)?;
    m.add_function(wrap_pyfunction!(quality::mtld, m)?)?;
    m.add_function(wrap_pyfunction!(quality::_mtld_words, m)?)?;
    m.add_function(wrap_pyfunction!(threads::thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(threads::init_thread_pool, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_panic_for_tests, m)?)?;
    Ok(())
}
