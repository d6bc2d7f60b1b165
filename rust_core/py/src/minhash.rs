//! MinHash signatures, shingles, LSH parameters, and the dedup indexes.

use arrow_array::{Array, ArrayRef};
use assay_core::exact::{exact_keys, ExactIndex};
use assay_core::minhash::{
    optimal_params, recall_params, DedupConfig, DedupIndex, MinHasher, Scheme, Signatures, Unit,
};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;

use crate::errors::{run_detached, to_py_err};

fn chunks_of(data: AnyArray) -> PyArrowResult<Vec<ArrayRef>> {
    Ok(data.into_chunked_array()?.into_inner().0)
}

/// The key columns of exact dedup, each one Arrow array.
fn single_arrays(columns: Vec<AnyArray>) -> PyArrowResult<Vec<ArrayRef>> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for column in columns {
        let chunks = chunks_of(column)?;
        if chunks.len() != 1 {
            return Err(PyValueError::new_err("exact dedup key columns must be single arrays").into());
        }
        arrays.extend(chunks);
    }
    Ok(arrays)
}

/// The values of an optional int64 numpy array, all >= 0 (else an error saying `what`).
fn nonnegative(values: &Option<PyReadonlyArray1<'_, i64>>, what: &str) -> PyResult<Option<Vec<u64>>> {
    let Some(values) = values else { return Ok(None) };
    let values = values.as_array();
    if values.iter().any(|&v| v < 0) {
        return Err(PyValueError::new_err(format!("{what} must be >= 0")));
    }
    Ok(Some(values.iter().map(|&v| v as u64).collect()))
}

fn row_keys_of(row_keys: &Option<PyReadonlyArray1<'_, i64>>) -> PyResult<Option<Vec<u64>>> {
    nonnegative(row_keys, "row_keys")
}

fn order_of(order: &Option<PyReadonlyArray1<'_, i64>>) -> PyResult<Option<Vec<usize>>> {
    Ok(nonnegative(order, "order (row indices)")?.map(|v| v.into_iter().map(|i| i as usize).collect()))
}

/// shingles(text, ngram, unit) -> list[bytes]
#[pyfunction]
pub fn shingles<'py>(py: Python<'py>, text: &str, ngram: usize, unit: &str) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    if ngram == 0 {
        return Err(PyValueError::new_err("ngram must be >= 1"));
    }
    let unit = Unit::parse(unit).map_err(to_py_err)?;
    let owned = text.to_owned();
    let list = run_detached(py, move || Ok(assay_core::minhash::shingles(&owned, ngram, unit)))?;
    Ok(list.iter().map(|s| PyBytes::new(py, s)).collect())
}

/// normalize_text(text) -> str: the normalized text shingles and exact keys are made from.
#[pyfunction]
pub fn normalize_text(text: &str) -> String {
    assay_core::minhash::normalize_text(text)
}

/// minhash(texts, num_perm, seed, scheme, ngram, unit) -> numpy array (rows * num_perm, flat)
#[pyfunction]
pub fn minhash(
    py: Python<'_>,
    texts: AnyArray,
    num_perm: usize,
    seed: u64,
    scheme: &str,
    ngram: usize,
    unit: &str,
) -> PyArrowResult<Py<PyAny>> {
    let hasher = MinHasher::new(num_perm, seed, Scheme::parse(scheme).map_err(to_py_err)?, ngram, Unit::parse(unit).map_err(to_py_err)?)
        .map_err(to_py_err)?;
    let chunks = chunks_of(texts)?;
    let signatures: Vec<Signatures> =
        run_detached(py, move || chunks.iter().map(|chunk| hasher.signatures(chunk.as_ref())).collect())?;
    let flat = match scheme {
        "affine32" | "xxh3" => {
            let mut values: Vec<u32> = Vec::new();
            for s in signatures {
                match s {
                    Signatures::U32(v) if values.is_empty() => values = v,
                    Signatures::U32(v) => values.extend_from_slice(&v),
                    Signatures::U64(_) => unreachable!(),
                }
            }
            PyArray1::from_vec(py, values).into_any().unbind()
        }
        _ => {
            let mut values: Vec<u64> = Vec::new();
            for s in signatures {
                match s {
                    Signatures::U64(v) if values.is_empty() => values = v,
                    Signatures::U64(v) => values.extend_from_slice(&v),
                    Signatures::U32(_) => unreachable!(),
                }
            }
            PyArray1::from_vec(py, values).into_any().unbind()
        }
    };
    Ok(flat)
}

/// optimal_params(threshold, num_perm, false_positive_weight, false_negative_weight) -> (bands, rows)
#[pyfunction]
pub fn optimal_lsh_params(
    py: Python<'_>,
    threshold: f64,
    num_perm: usize,
    false_positive_weight: f64,
    false_negative_weight: f64,
) -> PyResult<(usize, usize)> {
    run_detached(py, move || optimal_params(threshold, num_perm, false_positive_weight, false_negative_weight))
}

/// recall_lsh_params(threshold, num_perm) -> (bands, rows): assay's recall-first defaults.
#[pyfunction]
pub fn recall_lsh_params(threshold: f64, num_perm: usize) -> PyResult<(usize, usize)> {
    recall_params(threshold, num_perm).map_err(to_py_err)
}

type Assigned<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<bool>>);

/// exact_key_hashes(columns, normalize) -> (high, low uint64 numpy arrays, has_key bool numpy array):
/// the 128-bit key of each row that the exact index clusters on.
#[pyfunction]
pub fn exact_key_hashes<'py>(
    py: Python<'py>,
    columns: Vec<AnyArray>,
    normalize: bool,
) -> PyArrowResult<(Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<bool>>)> {
    let arrays = single_arrays(columns)?;
    let keys = run_detached(py, move || {
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        exact_keys(&refs, normalize)
    })?;
    let key = |k: &Option<u128>| k.unwrap_or(0);
    Ok((
        PyArray1::from_iter(py, keys.iter().map(|k| (key(k) >> 64) as u64)),
        PyArray1::from_iter(py, keys.iter().map(|k| key(k) as u64)),
        PyArray1::from_iter(py, keys.iter().map(Option::is_some)),
    ))
}

/// The streaming near-duplicate index of assay-core.
#[pyclass(module = "assay._core", name = "DedupIndex")]
pub struct PyDedupIndex {
    inner: DedupIndex,
}

#[pymethods]
impl PyDedupIndex {
    #[new]
    #[pyo3(signature = (threshold, num_perm, bands, rows, seed, ngram, unit, verify, scheme="affine32"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        threshold: f64,
        num_perm: usize,
        bands: usize,
        rows: usize,
        seed: u64,
        ngram: usize,
        unit: &str,
        verify: bool,
        scheme: &str,
    ) -> PyResult<Self> {
        let config = DedupConfig {
            threshold,
            num_perm,
            bands,
            rows,
            seed,
            ngram,
            unit: Unit::parse(unit).map_err(to_py_err)?,
            verify,
            scheme: Scheme::parse(scheme).map_err(to_py_err)?,
        };
        Ok(Self { inner: DedupIndex::new(config).map_err(to_py_err)? })
    }

    /// add(texts, order=None, row_keys=None) -> (cluster_id, running cluster_size, is_duplicate) numpy arrays
    #[pyo3(signature = (texts, order=None, row_keys=None))]
    fn add<'py>(
        &mut self,
        py: Python<'py>,
        texts: AnyArray,
        order: Option<PyReadonlyArray1<'py, i64>>,
        row_keys: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyArrowResult<Assigned<'py>> {
        let chunks = chunks_of(texts)?;
        let order = order_of(&order)?;
        let row_keys = row_keys_of(&row_keys)?;
        let inner = &mut self.inner;
        let out = run_detached(py, move || {
            let arrays: Vec<&dyn Array> = chunks.iter().map(|c| c.as_ref()).collect();
            inner.add(&arrays, order.as_deref(), row_keys.as_deref())
        })?;
        Ok((
            PyArray1::from_iter(py, out.iter().map(|a| a.cluster_id as i64)),
            PyArray1::from_iter(py, out.iter().map(|a| a.cluster_size as i64)),
            PyArray1::from_iter(py, out.iter().map(|a| a.is_duplicate)),
        ))
    }

    /// band_keys(texts) -> (keys: uint64 numpy array of rows * bands, has_keys: bool numpy array)
    fn band_keys<'py>(
        &self,
        py: Python<'py>,
        texts: AnyArray,
    ) -> PyArrowResult<(Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<bool>>)> {
        let chunks = chunks_of(texts)?;
        let inner = &self.inner;
        let bands = inner.config().bands;
        let rows = run_detached(py, move || {
            let mut all = Vec::new();
            for chunk in &chunks {
                all.extend(inner.band_keys(chunk.as_ref())?);
            }
            Ok(all)
        })?;
        let mut keys = Vec::with_capacity(rows.len() * bands);
        for row in &rows {
            match row {
                Some(k) => keys.extend_from_slice(k),
                None => keys.extend(std::iter::repeat(0).take(bands)),
            }
        }
        Ok((PyArray1::from_vec(py, keys), PyArray1::from_iter(py, rows.iter().map(Option::is_some))))
    }

    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        run_detached(py, move || write_file(&path, |w| inner.save(w)))
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let inner = run_detached(py, move || read_file(&path, |r| DedupIndex::load(r)))?;
        Ok(Self { inner })
    }

    /// The parameters as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let c = self.inner.config();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("threshold", c.threshold)?;
        d.set_item("num_perm", c.num_perm)?;
        d.set_item("bands", c.bands)?;
        d.set_item("rows", c.rows)?;
        d.set_item("seed", c.seed)?;
        d.set_item("ngram", c.ngram)?;
        d.set_item("unit", c.unit.name())?;
        d.set_item("verify", c.verify)?;
        d.set_item("scheme", c.scheme.name())?;
        Ok(d)
    }

    #[getter]
    fn rows_seen(&self) -> u64 {
        self.inner.rows_seen()
    }

    #[getter]
    fn num_clusters(&self) -> usize {
        self.inner.num_clusters()
    }

    #[getter]
    fn band_table_bytes(&self) -> usize {
        self.inner.band_table_bytes()
    }

    #[getter]
    fn signature_bytes(&self) -> usize {
        self.inner.signature_bytes()
    }
}

/// Exact-duplicate clustering across batches.
#[pyclass(module = "assay._core", name = "ExactIndex")]
#[derive(Default)]
pub struct PyExactIndex {
    inner: ExactIndex,
}

#[pymethods]
impl PyExactIndex {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// add(columns, normalize, order=None, row_keys=None) -> (cluster_id, running cluster_size, is_duplicate)
    #[pyo3(signature = (columns, normalize, order=None, row_keys=None))]
    fn add<'py>(
        &mut self,
        py: Python<'py>,
        columns: Vec<AnyArray>,
        normalize: bool,
        order: Option<PyReadonlyArray1<'py, i64>>,
        row_keys: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyArrowResult<Assigned<'py>> {
        let arrays = single_arrays(columns)?;
        let order = order_of(&order)?;
        let row_keys = row_keys_of(&row_keys)?;
        let inner = &mut self.inner;
        let out = run_detached(py, move || {
            let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            let keys = exact_keys(&refs, normalize)?;
            inner.add(&keys, order.as_deref(), row_keys.as_deref())
        })?;
        Ok((
            PyArray1::from_iter(py, out.iter().map(|a| a.cluster_id as i64)),
            PyArray1::from_iter(py, out.iter().map(|a| a.cluster_size as i64)),
            PyArray1::from_iter(py, out.iter().map(|a| a.is_duplicate)),
        ))
    }

    #[getter]
    fn rows_seen(&self) -> u64 {
        self.inner.rows_seen()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        run_detached(py, move || write_file(&path, |w| inner.save(w)))
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let inner = run_detached(py, move || read_file(&path, |r| ExactIndex::load(r)))?;
        Ok(Self { inner })
    }
}

/// Create `path` and hand a buffered writer to `write`; IO errors name the file.
fn write_file(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> assay_core::Result<()>,
) -> assay_core::Result<()> {
    let named = |e: std::io::Error| {
        assay_core::AssayError::InvalidArgument(format!("cannot write {}: {e}", path.display()))
    };
    let mut writer = std::io::BufWriter::new(std::fs::File::create(path).map_err(named)?);
    write(&mut writer)?;
    std::io::Write::flush(&mut writer).map_err(named)
}

/// Open `path` and hand a buffered reader to `read`; IO errors name the file.
fn read_file<T>(
    path: &std::path::Path,
    read: impl FnOnce(&mut std::io::BufReader<std::fs::File>) -> assay_core::Result<T>,
) -> assay_core::Result<T> {
    let file = std::fs::File::open(path).map_err(|e| {
        assay_core::AssayError::InvalidArgument(format!("cannot open {}: {e}", path.display()))
    })?;
    read(&mut std::io::BufReader::new(file))
}
