//! Bindings for `assay_core::quality`: filters, signals, the instruction filter.

use arrow_array::RecordBatch;
use assay_core::quality::instruction::InstructionConfig;
use assay_core::quality::{kernel, Filter, Language};
use assay_core::AssayError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::{PyArray, PyTable};

use crate::errors::run_detached;

fn parse_language(code: &str) -> PyResult<Language> {
    Language::parse(code).ok_or_else(|| {
        PyValueError::new_err(format!("unsupported language {code:?} for the quality filters; use \"en\" or \"zh\""))
    })
}

/// apply_filters(texts, filters, language) -> pyarrow.Table (keep, reason).
///
/// `filters` is a list of `(name, params_json)`; they run in order on one
/// tokenization per text and the first failing filter gives the reason.
#[pyfunction]
pub fn apply_filters(
    py: Python<'_>,
    texts: AnyArray,
    filters: Vec<(String, String)>,
    language: &str,
) -> PyArrowResult<Py<PyAny>> {
    let language = parse_language(language)?;
    let filters: Vec<Filter> = filters
        .iter()
        .map(|(name, params)| Filter::from_json(name, params, language))
        .collect::<Result<_, AssayError>>()
        .map_err(crate::errors::to_py_err)?;
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> = run_detached(py, move || {
        reader.map(|chunk| kernel::apply_filters(chunk?.as_ref(), &filters, language)).collect()
    })?;
    Ok(PyTable::try_new(batches, kernel::decision_schema())?.into_pyarrow(py)?.unbind())
}

/// quality_signals(texts, language) -> pyarrow.Table of raw signals.
#[pyfunction]
pub fn quality_signals(py: Python<'_>, texts: AnyArray, language: &str) -> PyArrowResult<Py<PyAny>> {
    let language = parse_language(language)?;
    let reader = texts.into_reader()?;
    let batches: Vec<RecordBatch> = run_detached(py, move || {
        reader.map(|chunk| kernel::quality_signals_array(chunk?.as_ref(), language)).collect()
    })?;
    Ok(PyTable::try_new(batches, kernel::signals_schema())?.into_pyarrow(py)?.unbind())
}

/// instruction_filter(instruction, input, output, messages, rows, params_json) -> pyarrow.Table.
///
/// Each column is a single Arrow array (or None when the data lacks it).
#[pyfunction]
#[pyo3(signature = (instruction, input, output, messages, rows, params_json))]
pub fn instruction_filter(
    py: Python<'_>,
    instruction: Option<PyArray>,
    input: Option<PyArray>,
    output: Option<PyArray>,
    messages: Option<PyArray>,
    rows: usize,
    params_json: &str,
) -> PyArrowResult<Py<PyAny>> {
    let config: InstructionConfig = if params_json.trim().is_empty() {
        InstructionConfig::default()
    } else {
        serde_json::from_str(params_json).map_err(|e| PyValueError::new_err(format!("instruction: {e}")))?
    };
    let arrays = [instruction, input, output, messages].map(|a| a.map(|a| a.into_inner().0));
    let batch = run_detached(py, move || {
        let [i, n, o, m] = &arrays;
        kernel::instruction_filter_arrays(
            i.as_deref(),
            n.as_deref(),
            o.as_deref(),
            m.as_deref(),
            rows,
            &config,
        )
    })?;
    Ok(PyTable::try_new(vec![batch], kernel::decision_schema())?.into_pyarrow(py)?.unbind())
}

/// _quality_words(text, language) -> list[str]: the words the quality filters count
/// (for tests and debugging).
#[pyfunction]
pub fn _quality_words(text: &str, language: &str) -> PyResult<Vec<String>> {
    let language = parse_language(language)?;
    Ok(assay_core::quality::tokenize::words(text, language).into_iter().map(str::to_string).collect())
}

/// mtld(texts, language, threshold) -> pyarrow.Table of `mtld` and `mtld_words` per row.
#[pyfunction]
pub fn mtld(py: Python<'_>, texts: pyo3_arrow::input::AnyArray, language: &str, threshold: f64) -> pyo3_arrow::error::PyArrowResult<Py<PyAny>> {
    let language = parse_language(language)?;
    if !(0.0..1.0).contains(&threshold) {
        return Err(PyValueError::new_err(format!("threshold must be in [0, 1), got {threshold}")).into());
    }
    let chunks = texts.into_chunked_array()?.into_inner().0;
    let batches: Vec<arrow_array::RecordBatch> = crate::errors::run_detached(py, move || {
        chunks.iter().map(|c| assay_core::lexical::mtld_array(c.as_ref(), language, threshold)).collect()
    })?;
    let schema = assay_core::lexical::mtld_array(&arrow_array::StringArray::from(Vec::<&str>::new()), language, threshold)
        .map_err(crate::errors::to_py_err)?
        .schema();
    Ok(pyo3_arrow::PyTable::try_new(batches, schema)?.into_pyarrow(py)?.unbind())
}

/// _mtld_words(text, language) -> list[str]: the words MTLD counts (tests and debugging).
#[pyfunction]
pub fn _mtld_words(text: &str, language: &str) -> PyResult<Vec<String>> {
    Ok(assay_core::lexical::mtld_words(text, parse_language(language)?))
}
