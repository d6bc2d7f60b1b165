//! `assay._core.FastTextModel`: a fastText supervised model read and run by assay-core.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use assay_core::fasttext::kernel::predict_many;
use assay_core::fasttext::{predict_array, FastTextModel as CoreModel, PredictOptions};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyTable;
use rayon::prelude::*;

use crate::errors::run_detached;

/// A fastText supervised model (`.bin` or quantized `.ftz`) loaded into Rust.
#[pyclass(frozen, name = "FastTextModel", module = "assay._core")]
pub struct FastTextModel {
    model: Arc<CoreModel>,
    /// The labels as Python strings, made once.
    labels: Vec<Py<PyString>>,
    path: String,
}

/// fastText's `k`: -1 means every label, otherwise at least 1.
fn k_of(k: i64) -> PyResult<Option<usize>> {
    match k {
        -1 => Ok(None),
        k if k >= 1 => Ok(Some(k as usize)),
        _ => Err(PyValueError::new_err("k needs to be 1 or higher!")),
    }
}

#[pymethods]
impl FastTextModel {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let bytes = std::fs::read(&path)?;
        let shown = path.display().to_string();
        let model = run_detached(py, move || CoreModel::from_bytes(&bytes)).map_err(|e| {
            if e.is_instance_of::<PyValueError>(py) {
                PyValueError::new_err(format!("{shown}: {}", e.value(py)))
            } else {
                e
            }
        })?;
        let labels = model.labels().iter().map(|l| PyString::new(py, l).unbind()).collect();
        Ok(Self { model: Arc::new(model), labels, path: shown })
    }

    /// The labels with their `__label__` prefix, in the model's order.
    #[getter]
    fn labels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.labels.iter().map(|l| l.bind(py)))
    }

    /// The vector dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.model.dim()
    }

    /// The loss the model was trained with: `hs`, `ns`, `softmax` or `ova`.
    #[getter]
    fn loss(&self) -> &'static str {
        self.model.args().loss.name()
    }

    /// Whether the input matrix is product-quantized.
    #[getter]
    fn quantized(&self) -> bool {
        self.model.is_quantized()
    }

    /// The training arguments stored in the file, as a dict.
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let a = self.model.args();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("dim", a.dim)?;
        d.set_item("ws", a.ws)?;
        d.set_item("epoch", a.epoch)?;
        d.set_item("minCount", a.min_count)?;
        d.set_item("neg", a.neg)?;
        d.set_item("wordNgrams", a.word_ngrams)?;
        d.set_item("loss", a.loss.name())?;
        d.set_item("bucket", a.bucket)?;
        d.set_item("minn", a.minn)?;
        d.set_item("maxn", a.maxn)?;
        d.set_item("lrUpdateRate", a.lr_update_rate)?;
        d.set_item("t", a.t)?;
        d.set_item("version", self.model.version())?;
        Ok(d)
    }

    /// One line (no `\n` check here): `(tuple of labels, float64 array of probabilities)`.
    fn predict_line<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        k: i64,
        threshold: f32,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyArray1<f64>>)> {
        let k = k_of(k)?;
        let predictions = self.model.predict(text, k, threshold);
        let labels = PyTuple::new(py, predictions.iter().map(|p| self.labels[p.label].bind(py)))?;
        let probs: Vec<f64> = predictions.iter().map(|p| p.probability as f64).collect();
        Ok((labels, PyArray1::from_vec(py, probs)))
    }

    /// Many lines, in parallel: `(list of label lists, list of float32 arrays)`.
    fn predict_lines<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        k: i64,
        threshold: f32,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let options = PredictOptions { k: k_of(k)?, threshold, newlines_as_spaces: false };
        let model = self.model.clone();
        let rows = run_detached(py, move || {
            Ok(predict_many(&model, texts.par_iter().map(|t| Some(t.as_str())), &options))
        })?;
        let all_labels = PyList::empty(py);
        let all_probs = PyList::empty(py);
        for row in rows.into_iter().flatten() {
            all_labels.append(PyList::new(py, row.iter().map(|p| self.labels[p.label].bind(py)))?)?;
            let probs: Vec<f32> = row.iter().map(|p| p.probability).collect();
            all_probs.append(PyArray1::from_vec(py, probs))?;
        }
        Ok((all_labels, all_probs))
    }

    /// Arrow kernel: `label`/`score` (plus `labels`/`scores` lists when `lists`) per
    /// row; newlines read as spaces.
    #[pyo3(signature = (texts, k=1, threshold=0.0, lists=false))]
    fn predict_arrow(
        &self,
        py: Python<'_>,
        texts: AnyArray,
        k: i64,
        threshold: f32,
        lists: bool,
    ) -> PyArrowResult<Py<PyAny>> {
        let options = PredictOptions { k: k_of(k)?, threshold, newlines_as_spaces: true };
        let reader = texts.into_reader()?;
        let model = self.model.clone();
        let batches: Vec<RecordBatch> = run_detached(py, move || {
            reader
                .map(|chunk| predict_array(&model, chunk?.as_ref(), &options, lists))
                .collect()
        })?;
        let table = PyTable::try_new(batches, assay_core::fasttext::kernel::schema(lists))?;
        Ok(table.into_pyarrow(py)?.unbind())
    }

    /// Arrow kernel: `label`/`score` of each text's natural-language content (code, math,
    /// URLs, markup masked; newlines read as spaces) and that content's script counts.
    fn predict_content(&self, py: Python<'_>, texts: AnyArray) -> PyArrowResult<Py<PyAny>> {
        let reader = texts.into_reader()?;
        let model = self.model.clone();
        let batches: Vec<RecordBatch> = run_detached(py, move || {
            reader
                .map(|chunk| assay_core::content_lid::predict_content_array(&model, chunk?.as_ref()))
                .collect()
        })?;
        let table = PyTable::try_new(batches, assay_core::content_lid::schema())?;
        Ok(table.into_pyarrow(py)?.unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "FastTextModel({:?}, labels={}, dim={}, loss={}, quantized={})",
            self.path,
            self.labels.len(),
            self.model.dim(),
            self.model.args().loss.name(),
            self.model.is_quantized()
        )
    }
}
