//! Binding of `assay_core::jsonl`: JSON Lines adapted to record-schema batches in Rust.

use assay_core::jsonl::{AdaptedLines, Event, Format, LineAdapter, LineCounter, RecordPiece};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3_arrow::PyRecordBatch;

use crate::errors::run_detached;

/// JsonLinesAdapter(format, source, file, id_field, text_fields, domain, max_record_bytes).
///
/// `adapt(data, first_line, first_index)` reads complete lines and returns
/// `(batch, index, line, own_id, starts, ends, events, lines, records)`: the record batch of
/// the rows it adapted, per row its record index, line number, whether it has its own id and
/// its line's byte span; `events` lists `(rows_before, "python" | "too_large", index, line,
/// a, b)` for each line left to the Python reader (`a..b` its span) or over the size limit
/// (`a` its size); then the numbers of lines and records read.
///
/// `adapt_records(pieces, first_index)` does the same for the records `JsonSplitter` cut
/// (its list of `bytes` values and `int` sizes of records over the limit); spans are in
/// the pieces joined, which it returns last, and line numbers are 0.
#[pyclass(name = "JsonLinesAdapter", module = "assay._core", frozen)]
pub struct PyJsonLinesAdapter {
    inner: LineAdapter,
}

#[pymethods]
impl PyJsonLinesAdapter {
    #[new]
    #[pyo3(signature = (format, source, file, id_field, text_fields, domain, max_record_bytes))]
    fn new(
        format: &str,
        source: String,
        file: String,
        id_field: String,
        text_fields: Vec<String>,
        domain: Option<String>,
        max_record_bytes: usize,
    ) -> PyResult<Self> {
        let format = Format::parse(format, text_fields)
            .ok_or_else(|| PyValueError::new_err(format!("format {format:?} is not read in Rust")))?;
        Ok(Self { inner: LineAdapter { format, id_field, source, file, domain, max_record_bytes } })
    }

    fn adapt<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        first_line: u64,
        first_index: u64,
    ) -> PyResult<Adapted<'py>> {
        let inner = &self.inner;
        let out = run_detached(py, move || inner.adapt_lines(data, first_line, first_index))?;
        to_python(py, out)
    }

    fn adapt_records<'py>(
        &self,
        py: Python<'py>,
        pieces: Vec<Bound<'py, PyAny>>,
        first_index: u64,
    ) -> PyResult<(Adapted<'py>, Bound<'py, PyBytes>)> {
        let mut data = Vec::new();
        let mut spans = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            if let Ok(bytes) = piece.cast::<PyBytes>() {
                let start = data.len();
                data.extend_from_slice(bytes.as_bytes());
                spans.push(RecordPiece::Span(start, data.len()));
            } else {
                spans.push(RecordPiece::TooLarge(piece.extract()?));
            }
        }
        let inner = &self.inner;
        let (data, spans) = (&data, &spans);
        let out = run_detached(py, move || inner.adapt_records(data, spans, first_index))?;
        Ok((to_python(py, out)?, PyBytes::new(py, data)))
    }
}

type Adapted<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyList>,
    u64,
    u64,
);

fn to_python(py: Python<'_>, out: AdaptedLines) -> PyResult<Adapted<'_>> {
    let events = PyList::empty(py);
    for (before, event) in out.events {
        match event {
            Event::Python { index, line, start, end } => {
                events.append((before, "python", index, line, start as u64, end as u64))?
            }
            Event::TooLarge { index, line, size } => events.append((before, "too_large", index, line, size, 0u64))?,
        }
    }
    let (starts, ends): (Vec<u64>, Vec<u64>) = out.span.iter().map(|&(s, e)| (s as u64, e as u64)).unzip();
    Ok((
        PyRecordBatch::new(out.batch).into_pyarrow(py)?,
        PyArray1::from_vec(py, out.index),
        PyArray1::from_vec(py, out.line),
        PyArray1::from_vec(py, out.own_id),
        PyArray1::from_vec(py, starts),
        PyArray1::from_vec(py, ends),
        events,
        out.lines,
        out.records,
    ))
}

/// LineCounter(max_record_bytes): `feed(data)` pieces of JSON Lines text, then `finish()`
/// gives `(lines, records)` as `JsonLinesAdapter.adapt` numbers them.
#[pyclass(name = "LineCounter", module = "assay._core")]
pub struct PyLineCounter {
    inner: LineCounter,
}

#[pymethods]
impl PyLineCounter {
    #[new]
    fn new(max_record_bytes: usize) -> Self {
        Self { inner: LineCounter::new(max_record_bytes) }
    }

    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let inner = &mut self.inner;
        run_detached(py, move || {
            inner.feed(data);
            Ok(())
        })
    }

    fn finish(&mut self) -> (u64, u64) {
        self.inner.finish()
    }
}
