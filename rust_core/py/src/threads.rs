//! rayon's global pool, seen from Python.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Number of threads in rayon's global pool (starts it if needed; honours `RAYON_NUM_THREADS`).
#[pyfunction]
pub fn thread_count() -> usize {
    rayon::current_num_threads()
}

/// Start rayon's global pool with `num_threads` threads. Fails if it already runs
/// with another size (the pool starts on first use and cannot be resized).
#[pyfunction]
pub fn init_thread_pool(num_threads: usize) -> PyResult<usize> {
    match rayon::ThreadPoolBuilder::new().num_threads(num_threads).build_global() {
        Ok(()) => Ok(rayon::current_num_threads()),
        Err(_) if rayon::current_num_threads() == num_threads => Ok(num_threads),
        Err(_) => Err(PyRuntimeError::new_err(format!(
            "the thread pool already runs with {} threads and cannot be resized to {num_threads}; \
             set RAYON_NUM_THREADS or call assay.set_threads() before the first assay call",
            rayon::current_num_threads()
        ))),
    }
}
