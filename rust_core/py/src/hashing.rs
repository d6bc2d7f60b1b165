use pyo3::prelude::*;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyChunkedArray;

use crate::errors::run_detached;

/// hash64(texts, seed) -> pyarrow.ChunkedArray[uint64]: XXH3-64 of each string.
#[pyfunction]
#[pyo3(signature = (texts, seed = 0))]
pub fn hash64(py: Python<'_>, texts: AnyArray, seed: u64) -> PyArrowResult<Py<PyAny>> {
    let reader = texts.into_reader()?;
    let chunks = run_detached(py, move || {
        reader
            .map(|chunk| {
                let hashed = assay_core::hashing::hash64_array(chunk?.as_ref(), seed)?;
                Ok(std::sync::Arc::new(hashed) as arrow_array::ArrayRef)
            })
            .collect::<assay_core::Result<Vec<_>>>()
    })?;
    let field = arrow_schema::Field::new("hash64", arrow_schema::DataType::UInt64, true);
    Ok(PyChunkedArray::try_new(chunks, field.into())?.into_pyarrow(py)?.unbind())
}
