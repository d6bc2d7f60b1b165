//! Binding of `assay_core::contam`: the contamination index of evaluation items.

use arrow_array::{ArrayRef, RecordBatch};
use assay_core::contam::{self, ContaminationIndex, NgramConfig};
use assay_core::minhash::Unit;
use assay_core::strings::StringColumn;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyTable;

use crate::errors::{run_detached, to_py_err};

fn chunks_of(data: AnyArray) -> PyArrowResult<Vec<ArrayRef>> {
    Ok(data.into_chunked_array()?.into_inner().0)
}

/// The n-grams of evaluation items, for checking training text against.
#[pyclass(frozen, module = "assay._core", name = "ContaminationIndex")]
pub struct PyContaminationIndex {
    inner: ContaminationIndex,
}

#[pymethods]
impl PyContaminationIndex {
    /// build(ids, fields, ngram, unit): item i is row i of every array in `fields` (nulls skipped).
    #[staticmethod]
    fn build(py: Python<'_>, ids: Vec<String>, fields: Vec<AnyArray>, ngram: usize, unit: &str) -> PyArrowResult<Self> {
        let config = NgramConfig::new(ngram, Unit::parse(unit).map_err(to_py_err)?).map_err(to_py_err)?;
        let mut columns: Vec<Vec<ArrayRef>> = Vec::with_capacity(fields.len());
        for field in fields {
            columns.push(chunks_of(field)?);
        }
        let count = ids.len();
        let inner = run_detached(py, move || {
            let mut items: Vec<Vec<String>> = vec![Vec::new(); count];
            for chunks in &columns {
                let mut row = 0;
                for chunk in chunks {
                    let column = StringColumn::try_new(chunk.as_ref(), "ContaminationIndex.build")?;
                    for i in 0..column.len() {
                        if row >= count {
                            return Err(assay_core::AssayError::InvalidArgument(format!(
                                "a field has more rows than the {count} ids"
                            )));
                        }
                        if let Some(text) = column.get(i) {
                            items[row].push(text.to_string());
                        }
                        row += 1;
                    }
                }
                if row != count {
                    return Err(assay_core::AssayError::InvalidArgument(format!("a field has {row} rows for {count} ids")));
                }
            }
            ContaminationIndex::build(ids, &items, config)
        })?;
        Ok(Self { inner })
    }

    /// from_bytes(data): the index `to_bytes` wrote (ValueError when damaged).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: Vec<u8>) -> PyResult<Self> {
        let inner = run_detached(py, move || ContaminationIndex::from_bytes(&data))?;
        Ok(Self { inner })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = &self.inner;
        let bytes = run_detached(py, move || Ok(inner.to_bytes()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// check(texts) -> pyarrow.Table of contam_ngrams, contam_fraction, contam_eval_id per row.
    fn check(&self, py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
        let chunks = chunks_of(texts)?;
        let inner = &self.inner;
        let batches: Vec<RecordBatch> = run_detached(py, move || {
            chunks.iter().map(|c| contam::contamination_array(inner, c.as_ref())).collect()
        })?;
        let schema = contam::contamination_array(inner, &arrow_array::StringArray::from(Vec::<&str>::new()))
            .map_err(to_py_err)?
            .schema();
        Ok(PyTable::try_new(batches, schema)?.into_pyarrow(py)?.unbind())
    }

    /// redact(texts, margin) -> pyarrow.Table of the cut `text` and `contam_cut` per row.
    fn redact(&self, py: Python<'_>, texts: AnyArray, margin: usize) -> PyArrowResult<Py<PyAny>> {
        let chunks = chunks_of(texts)?;
        let inner = &self.inner;
        let batches: Vec<RecordBatch> = run_detached(py, move || {
            chunks.iter().map(|c| contam::redact_array(inner, c.as_ref(), margin)).collect()
        })?;
        let empty = arrow_array::StringArray::from(Vec::<&str>::new());
        let schema = contam::redact_array(inner, &empty, margin).map_err(to_py_err)?.schema();
        Ok(PyTable::try_new(batches, schema)?.into_pyarrow(py)?.unbind())
    }

    #[getter]
    fn ngram(&self) -> usize {
        self.inner.config().ngram
    }

    #[getter]
    fn unit(&self) -> &'static str {
        self.inner.config().unit.name()
    }

    #[getter]
    fn ids(&self) -> Vec<String> {
        self.inner.ids().to_vec()
    }

    #[getter]
    fn item_sizes(&self) -> Vec<u32> {
        self.inner.item_sizes().to_vec()
    }

    #[getter]
    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}
