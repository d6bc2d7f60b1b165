use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyTable;

use crate::errors::run_detached;

/// A per-row kernel over every chunk of `texts`, with the GIL released: one output batch per chunk.
fn per_chunk_table(
    py: Python<'_>,
    texts: AnyArray,
    kernel: fn(&dyn Array) -> assay_core::Result<RecordBatch>,
    schema: SchemaRef,
) -> PyArrowResult<Py<PyAny>> {
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> =
        run_detached(py, move || reader.map(|chunk| kernel(chunk?.as_ref())).collect())?;
    let table = PyTable::try_new(batches, schema)?;
    Ok(table.into_pyarrow(py)?.unbind())
}

/// text_stats(texts) -> pyarrow.Table: one row of statistics per input string.
///
/// `texts` is any Arrow string array or stream (pyarrow Array / ChunkedArray,
/// polars Series, ...). Output chunks follow input chunks.
#[pyfunction]
pub fn text_stats(py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
    per_chunk_table(py, texts, assay_core::text_stats::text_stats_array, assay_core::text_stats::schema())
}

/// script_counts(texts) -> pyarrow.Table: letters, han, kana, hangul and other_words per string.
#[pyfunction]
pub fn script_counts(py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
    per_chunk_table(py, texts, assay_core::script::script_counts_array, assay_core::script::script_counts_schema())
}

/// content_text(texts) -> pyarrow.Table: each string with code, math, URLs, e-mail addresses
/// and markup masked out (`content`), and the script counts of that content.
#[pyfunction]
pub fn content_text(py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
    per_chunk_table(py, texts, assay_core::content::content_array, assay_core::content::schema())
}
