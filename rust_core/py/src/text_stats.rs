use arrow_array::RecordBatch;
use pyo3::prelude::*;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyTable;

use crate::errors::run_detached;

/// text_stats(texts) -> pyarrow.Table: one row of statistics per input string.
///
/// `texts` is any Arrow string array or stream (pyarrow Array / ChunkedArray,
/// polars Series, ...). Output chunks follow input chunks.
#[pyfunction]
pub fn text_stats(py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> = run_detached(py, move || {
        reader
            .map(|chunk| assay_core::text_stats::text_stats_array(chunk?.as_ref()))
            .collect()
    })?;
    let table = PyTable::try_new(batches, assay_core::text_stats::schema())?;
    Ok(table.into_pyarrow(py)?.unbind())
}


/// script_counts(texts) -> pyarrow.Table: letters, han, kana, hangul and other_words per string.
#[pyfunction]
pub fn script_counts(py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> = run_detached(py, move || {
        reader
            .map(|chunk| assay_core::script::script_counts_array(chunk?.as_ref()))
            .collect()
    })?;
    let table = PyTable::try_new(batches, assay_core::script::script_counts_schema())?;
    Ok(table.into_pyarrow(py)?.unbind())
}

/// content_text(texts) -> pyarrow.Table: each string with code, math, URLs, e-mail addresses
/// and markup masked out (`content`), and the script counts of that content.
#[pyfunction]
pub fn content_text(py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> = run_detached(py, move || {
        reader
            .map(|chunk| assay_core::content::content_array(chunk?.as_ref()))
            .collect()
    })?;
    let table = PyTable::try_new(batches, assay_core::content::schema())?;
    Ok(table.into_pyarrow(py)?.unbind())
}
