//! JSON Lines read into record-schema Arrow batches in Rust: the lines of a chunk are
//! parsed ([`json`]) and adapted ([`adapt`]) in parallel, then written to Arrow columns.
//!
//! The Python readers (`assay.io.readers`, `assay.io.formats`) stay the reference: a line
//! this module does not handle exactly as they do (invalid JSON, a float, a record its
//! format rejects, ...) comes back as an [`Event::Python`] with its byte span, and the
//! Python reader reads that one line itself; a line over the size limit comes back as
//! [`Event::TooLarge`]. Line numbers count every line; record indices count the lines
//! that are not blank, as in `assay.io.readers`.

pub mod adapt;
pub mod json;

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use rayon::prelude::*;

use crate::error::{AssayError, Result};
pub use adapt::{Format, Row};

/// The record schema (`assay.schema.RECORD_SCHEMA`).
pub fn record_schema() -> SchemaRef {
    let message = Fields::from(vec![Field::new("role", DataType::Utf8, true), Field::new("content", DataType::Utf8, true)]);
    let messages = DataType::List(Arc::new(Field::new("item", DataType::Struct(message), true)));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("domain", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("instruction", DataType::Utf8, true),
        Field::new("input", DataType::Utf8, true),
        Field::new("output", DataType::Utf8, true),
        Field::new("messages", messages, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("meta", DataType::Utf8, false),
    ]))
}

/// What the lines of one input share.
#[derive(Debug, Clone)]
pub struct LineAdapter {
    pub format: Format,
    pub id_field: String,
    pub source: String,
    /// The file's name as generated ids use it (`source:file:index`).
    pub file: String,
    pub domain: Option<String>,
    pub max_record_bytes: usize,
}

/// A line the Rust reader left to Python, or skipped for its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Read this line (bytes `start..end` of the chunk) with the Python reader.
    Python { index: u64, line: u64, start: usize, end: usize },
    /// A line of `size` bytes, over `max_record_bytes`.
    TooLarge { index: u64, line: u64, size: u64 },
}

/// The rows of one chunk of lines, and what was left out of them.
#[derive(Debug)]
pub struct AdaptedLines {
    pub batch: RecordBatch,
    /// Per row: record index in the file, line number, whether it carries its own id,
    /// and its line's byte span in the chunk.
    pub index: Vec<u64>,
    pub line: Vec<u64>,
    pub own_id: Vec<bool>,
    pub span: Vec<(usize, usize)>,
    /// Each event with the number of rows that come before it.
    pub events: Vec<(usize, Event)>,
    /// Lines and records (non-blank lines) the chunk held.
    pub lines: u64,
    pub records: u64,
}

#[inline]
fn is_py_bytes_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `bytes.strip()`: the span of `line` without ASCII whitespace at either end.
fn strip_span(line: &[u8]) -> (usize, usize) {
    let start = line.iter().position(|&b| !is_py_bytes_space(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|&b| !is_py_bytes_space(b)).map_or(start, |e| e + 1);
    (start, end.max(start))
}

/// Lines and records of JSON Lines text fed in pieces, numbered as
/// [`LineAdapter::adapt_lines`] numbers them: every line counts, and a line is a record
/// when it is not blank or is over the size limit. A byte range of a file read on its own
/// learns from the counts of the ranges before it where its numbering starts.
///
/// ```
/// use assay_core::jsonl::LineCounter;
/// let mut counter = LineCounter::new(8);
/// counter.feed(b"{\"a\": 1}\n \r\n{\"b\"");
/// counter.feed(b": 2}\n          \n{}");
/// assert_eq!(counter.finish(), (5, 4)); // a blank line, and one of spaces over the limit
/// ```
#[derive(Debug, Clone)]
pub struct LineCounter {
    max_record_bytes: usize,
    lines: u64,
    records: u64,
    /// Bytes of the line not yet ended, and whether one of them is not white space.
    open_bytes: usize,
    open_filled: bool,
}

impl LineCounter {
    pub fn new(max_record_bytes: usize) -> Self {
        Self { max_record_bytes, lines: 0, records: 0, open_bytes: 0, open_filled: false }
    }

    fn extend(&mut self, piece: &[u8]) {
        self.open_bytes += piece.len();
        self.open_filled = self.open_filled || piece.iter().any(|&b| !is_py_bytes_space(b));
    }

    fn end_line(&mut self) {
        self.lines += 1;
        if self.open_filled || self.open_bytes > self.max_record_bytes {
            self.records += 1;
        }
        self.open_bytes = 0;
        self.open_filled = false;
    }

    pub fn feed(&mut self, data: &[u8]) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', data) {
            self.extend(&data[start..end]);
            self.end_line();
            start = end + 1;
        }
        self.extend(&data[start..]);
    }

    /// `(lines, records)`, counting a last line without its newline.
    pub fn finish(&mut self) -> (u64, u64) {
        if self.open_bytes > 0 {
            self.end_line();
        }
        (self.lines, self.records)
    }
}

/// One record of [`LineAdapter::adapt_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPiece {
    /// Bytes `start..end` of the data.
    Span(usize, usize),
    /// A record of this many bytes, over `max_record_bytes`, not read.
    TooLarge(u64),
}

enum Work {
    Parse { index: u64, line: u64, start: usize, end: usize },
    TooLarge { index: u64, line: u64, size: u64 },
}

impl LineAdapter {
    /// Adapt the lines of `data` (complete lines, the last one possibly without its
    /// newline), the first being line `first_line` and, if not blank, record `first_index`.
    ///
    /// ```
    /// use assay_core::jsonl::{Format, LineAdapter};
    /// let adapter = LineAdapter { format: Format::Alpaca, id_field: "id".into(), source: "s".into(),
    ///     file: "a.jsonl".into(), domain: None, max_record_bytes: 1 << 20 };
    /// let out = adapter.adapt_lines(b"{\"instruction\": \"I\", \"output\": \"O\"}\n\n{\"x\": 1.5}\n", 1, 0).unwrap();
    /// assert_eq!((out.batch.num_rows(), out.events.len(), out.lines, out.records), (1, 1, 3, 2));
    /// ```
    pub fn adapt_lines(&self, data: &[u8], first_line: u64, first_index: u64) -> Result<AdaptedLines> {
        let mut work = Vec::new();
        let (mut line, mut index, mut offset) = (first_line, first_index, 0usize);
        let body = data.strip_suffix(b"\n").unwrap_or(data);
        if !data.is_empty() {
            for piece in body.split(|&b| b == b'\n') {
                if piece.len() > self.max_record_bytes {
                    work.push(Work::TooLarge { index, line, size: piece.len() as u64 });
                    index += 1;
                } else {
                    let (s, e) = strip_span(piece);
                    if e > s {
                        work.push(Work::Parse { index, line, start: offset + s, end: offset + e });
                        index += 1;
                    }
                }
                offset += piece.len() + 1;
                line += 1;
            }
        }
        self.adapt_work(data, work, line - first_line, index - first_index)
    }

    /// Adapt records cut out of `data` one by one (the items of a JSON array, or
    /// concatenated values, as `assay.io.readers` cuts them with the JSON splitter): each
    /// piece is a span of `data` or a record skipped for its size, the first being record
    /// `first_index`. Records have no line numbers (`line` is 0).
    ///
    /// ```
    /// use assay_core::jsonl::{Format, LineAdapter, RecordPiece};
    /// let adapter = LineAdapter { format: Format::Alpaca, id_field: "id".into(), source: "s".into(),
    ///     file: "a.json".into(), domain: None, max_record_bytes: 1 << 20 };
    /// let data = b"{\"instruction\": \"I\",\n \"output\": \"O\"}{\"x\": 1.5}";
    /// let pieces = [RecordPiece::Span(0, 36), RecordPiece::TooLarge(1 << 21), RecordPiece::Span(36, 46)];
    /// let out = adapter.adapt_records(data, &pieces, 7).unwrap();
    /// assert_eq!((out.batch.num_rows(), out.index.clone(), out.events.len(), out.records), (1, vec![7], 2, 3));
    /// ```
    pub fn adapt_records(&self, data: &[u8], pieces: &[RecordPiece], first_index: u64) -> Result<AdaptedLines> {
        let work = (first_index..)
            .zip(pieces)
            .map(|(index, piece)| match *piece {
                RecordPiece::Span(start, end) => Work::Parse { index, line: 0, start, end },
                RecordPiece::TooLarge(size) => Work::TooLarge { index, line: 0, size },
            })
            .collect();
        self.adapt_work(data, work, 0, pieces.len() as u64)
    }

    fn adapt_work(&self, data: &[u8], work: Vec<Work>, lines: u64, records: u64) -> Result<AdaptedLines> {
        let rows: Vec<Option<Row>> = work
            .par_iter()
            .with_min_len(64)
            .map(|w| match w {
                Work::Parse { start, end, .. } => {
                    json::parse(&data[*start..*end]).and_then(|v| adapt::adapt(&self.format, &self.id_field, v)).ok()
                }
                Work::TooLarge { .. } => None,
            })
            .collect();

        let mut out = Columns::new(work.len());
        let mut adapted = AdaptedLines {
            batch: RecordBatch::new_empty(record_schema()),
            index: Vec::with_capacity(work.len()),
            line: Vec::with_capacity(work.len()),
            own_id: Vec::with_capacity(work.len()),
            span: Vec::with_capacity(work.len()),
            events: Vec::new(),
            lines,
            records,
        };
        for (w, row) in work.iter().zip(rows) {
            match (w, row) {
                (Work::Parse { index, line, start, end }, Some(row)) => {
                    out.push(self, *index, &row);
                    adapted.index.push(*index);
                    adapted.line.push(*line);
                    adapted.own_id.push(row.own_id);
                    adapted.span.push((*start, *end));
                }
                (Work::Parse { index, line, start, end }, None) => adapted.events.push((
                    adapted.index.len(),
                    Event::Python { index: *index, line: *line, start: *start, end: *end },
                )),
                (Work::TooLarge { index, line, size }, _) => adapted
                    .events
                    .push((adapted.index.len(), Event::TooLarge { index: *index, line: *line, size: *size })),
            }
        }
        adapted.batch = out.finish()?;
        Ok(adapted)
    }
}

struct Columns {
    id: StringBuilder,
    source: StringBuilder,
    domain: StringBuilder,
    kind: StringBuilder,
    instruction: StringBuilder,
    input: StringBuilder,
    output: StringBuilder,
    messages: ListBuilder<StructBuilder>,
    text: StringBuilder,
    meta: StringBuilder,
    default_id: String,
}

impl Columns {
    fn new(capacity: usize) -> Self {
        let message = Fields::from(vec![Field::new("role", DataType::Utf8, true), Field::new("content", DataType::Utf8, true)]);
        let strings = || StringBuilder::with_capacity(capacity, capacity * 8);
        Self {
            id: strings(),
            source: strings(),
            domain: strings(),
            kind: strings(),
            instruction: strings(),
            input: strings(),
            output: strings(),
            messages: ListBuilder::new(StructBuilder::from_fields(message, capacity)),
            text: StringBuilder::with_capacity(capacity, capacity * 512),
            meta: strings(),
            default_id: String::new(),
        }
    }

    fn push(&mut self, adapter: &LineAdapter, index: u64, row: &Row) {
        match &row.id {
            Some(id) => self.id.append_value(id),
            None => {
                use std::fmt::Write;
                self.default_id.clear();
                let _ = write!(self.default_id, "{}:{}:{}", adapter.source, adapter.file, index);
                self.id.append_value(&self.default_id);
            }
        }
        self.source.append_value(&adapter.source);
        self.domain.append_option(adapter.domain.as_deref());
        self.kind.append_value(adapter.format.kind());
        self.instruction.append_option(row.instruction.as_deref());
        self.input.append_option(row.input.as_deref());
        self.output.append_option(row.output.as_deref());
        match &row.messages {
            Some(messages) => {
                let items = self.messages.values();
                for (role, content) in messages {
                    items.field_builder::<StringBuilder>(0).expect("role").append_value(role);
                    items.field_builder::<StringBuilder>(1).expect("content").append_value(content);
                    items.append(true);
                }
                self.messages.append(true);
            }
            None => self.messages.append(false),
        }
        self.text.append_value(&row.text);
        self.meta.append_value(&row.meta);
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.domain.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.instruction.finish()),
            Arc::new(self.input.finish()),
            Arc::new(self.output.finish()),
            Arc::new(self.messages.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.meta.finish()),
        ];
        RecordBatch::try_new(record_schema(), columns).map_err(|e| AssayError::InvalidArgument(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(format: Format, limit: usize) -> LineAdapter {
        LineAdapter { format, id_field: "id".into(), source: "src".into(), file: "f.jsonl".into(), domain: Some("d.org".into()), max_record_bytes: limit }
    }

    #[test]
    fn numbering_blank_lines_and_events() {
        let a = adapter(Format::Text { fields: vec!["text".into()] }, 24);
        let data = b"{\"text\": \"a\"}\r\n  \n{\"text\": \"bbbbbbbbbbbbbbbbbbbbbbbbb\"}\nnot json\n{\"id\": 3, \"text\": \"c\"}";
        let out = a.adapt_lines(data, 10, 5).unwrap();
        assert_eq!((out.lines, out.records), (5, 4));
        assert_eq!(out.index, vec![5, 8]);
        assert_eq!(out.line, vec![10, 14]);
        assert_eq!(out.own_id, vec![false, true]);
        let ids = out.batch.column(0).as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
        assert_eq!((ids.value(0), ids.value(1)), ("src:f.jsonl:5", "3"));
        assert_eq!(out.events, vec![
            (1, Event::TooLarge { index: 6, line: 12, size: 37 }),
            (1, Event::Python { index: 7, line: 13, start: 56, end: 64 }),
        ]);
        assert_eq!(&data[56..64], b"not json");
        for cut in 0..data.len() {  // the counter in two pieces counts what adapt_lines numbered
            let mut counter = LineCounter::new(24);
            counter.feed(&data[..cut]);
            counter.feed(&data[cut..]);
            assert_eq!(counter.finish(), (out.lines, out.records), "cut at {cut}");
        }
        assert_eq!(out.batch.schema(), record_schema());
    }
}
