//! Binding of `assay_core::pii`: personal data found in, and replaced in, string columns.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use assay_core::pii::{self, PiiConfig, PiiKind, Replacement};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyTable;

use crate::errors::{run_detached, to_py_err};

fn config(kinds: Vec<String>, public_ips_only: bool) -> PyResult<PiiConfig> {
    let kinds = kinds.iter().map(|k| PiiKind::parse(k)).collect::<assay_core::Result<Vec<_>>>().map_err(to_py_err)?;
    Ok(PiiConfig { kinds, public_ips_only })
}

/// pii_spans(texts, kinds, public_ips_only) -> pyarrow.Table of `row`, `start`, `end`
/// (character offsets), `kind` and `text`, one row per match; `row` counts across chunks.
#[pyfunction]
pub fn pii_spans(py: Python<'_>, texts: AnyArray, kinds: Vec<String>, public_ips_only: bool) -> PyArrowResult<Py<PyAny>> {
    let config = config(kinds, public_ips_only)?;
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> = run_detached(py, move || {
        let mut offset = 0i64;
        let mut out = Vec::new();
        for chunk in reader {
            let chunk = chunk?;
            let batch = pii::find_array(chunk.as_ref(), &config)?;
            let rows = batch.column(0).as_any().downcast_ref::<Int64Array>().expect("row is int64");
            let shifted: Int64Array = rows.values().iter().map(|r| r + offset).collect();
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns[0] = Arc::new(shifted);
            out.push(RecordBatch::try_new(batch.schema(), columns)?);
            offset += chunk.len() as i64;
        }
        Ok(out)
    })?;
    let schema = pii::find_array(&arrow_array::StringArray::from(Vec::<&str>::new()), &PiiConfig::default())
        .map_err(to_py_err)?
        .schema();
    Ok(PyTable::try_new(batches, schema)?.into_pyarrow(py)?.unbind())
}

/// pii_redact(texts, kinds, public_ips_only, replacement, seed) -> pyarrow.Table of the
/// redacted `text`, `pii_count` and `pii_kinds` per row. `replacement`: `placeholder`
/// (`<EMAIL>`) or `hash` (`<EMAIL:1a2b3c4d>`, keyed by `seed`).
#[pyfunction]
pub fn pii_redact(
    py: Python<'_>,
    texts: AnyArray,
    kinds: Vec<String>,
    public_ips_only: bool,
    replacement: &str,
    seed: u64,
) -> PyArrowResult<Py<PyAny>> {
    let config = config(kinds, public_ips_only)?;
    let how = match replacement {
        "placeholder" => Replacement::Placeholder,
        "hash" => Replacement::Hash { seed },
        other => return Err(PyValueError::new_err(format!("replacement must be 'placeholder' or 'hash', got {other:?}")).into()),
    };
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> =
        run_detached(py, move || reader.map(|chunk| pii::redact_array(chunk?.as_ref(), &config, how)).collect())?;
    let schema = pii::redact_array(&arrow_array::StringArray::from(Vec::<&str>::new()), &PiiConfig::default(), how)
        .map_err(to_py_err)?
        .schema();
    Ok(PyTable::try_new(batches, schema)?.into_pyarrow(py)?.unbind())
}
