//! Error mapping and the panic guard.

use std::panic::{catch_unwind, AssertUnwindSafe};

use assay_core::AssayError;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    _core,
    RustPanic,
    PyRuntimeError,
    "A bug inside assay's Rust core (a panic), caught before it could abort Python."
);

/// Map a core error to the Python exception a caller expects.
pub fn to_py_err(err: AssayError) -> PyErr {
    match err {
        AssayError::UnsupportedType { .. } | AssayError::InvalidArgument(_) => {
            PyValueError::new_err(err.to_string())
        }
        AssayError::Arrow(_) => PyRuntimeError::new_err(err.to_string()),
    }
}

/// Run `work` with the GIL released; a core error becomes its Python exception and
/// a panic (also one raised on a rayon worker) becomes `RustPanic`.
pub fn run_detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> assay_core::Result<T> + Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(result) => result.map_err(to_py_err),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            Err(RustPanic::new_err(format!("internal error in assay's Rust core: {message}")))
        }
    }
}

/// Panic inside a rayon worker on purpose, so tests can check the guard.
#[pyfunction]
pub fn _panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    run_detached(py, move || {
        use rayon::prelude::*;
        (0..64).into_par_iter().for_each(|i| {
            if i == 63 {
                panic!("{message}");
            }
        });
        Ok(())
    })
}
