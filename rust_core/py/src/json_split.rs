//! Binding of `assay_core::json_split`: records cut from JSON text fed in chunks.

use assay_core::json_split::{JsonSplitter, Piece};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::errors::run_detached;

/// JsonSplitter(max_record_bytes): `feed(chunk)` returns the records that ended in the
/// chunk, each the record's bytes, or its size (int) when it is over the limit and was
/// skipped; `finish()` returns a record left open at the end of the text.
#[pyclass(name = "JsonSplitter", module = "assay._core")]
pub struct PyJsonSplitter {
    inner: JsonSplitter,
}

fn pieces<'py>(py: Python<'py>, pieces: Vec<Piece>) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for piece in pieces {
        match piece {
            Piece::Record(bytes) => list.append(PyBytes::new(py, &bytes))?,
            Piece::TooLarge(size) => list.append(size)?,
        }
    }
    Ok(list)
}

#[pymethods]
impl PyJsonSplitter {
    #[new]
    fn new(max_record_bytes: usize) -> Self {
        Self { inner: JsonSplitter::new(max_record_bytes) }
    }

    fn feed<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let inner = &mut self.inner;
        let found = run_detached(py, move || Ok(inner.feed(chunk)))?;
        pieces(py, found)
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let found = self.inner.finish();
        pieces(py, found)
    }

    /// Bytes of the record being read (0 between records).
    #[getter]
    fn pending_bytes(&self) -> u64 {
        self.inner.pending_bytes()
    }

    /// Whether the text so far ends inside a top-level array.
    #[getter]
    fn in_open_array(&self) -> bool {
        self.inner.in_open_array()
    }
}
