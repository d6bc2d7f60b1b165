//! Splitting JSON text into records, chunk by chunk, with a size limit per record.
//!
//! A stream of JSON text holds one or more top-level values. A top-level array gives its
//! items as records; any other top-level value (an object, or a scalar) is a record
//! itself. [`JsonSplitter::feed`] takes the text in chunks of any size and returns the
//! records that ended in them: the bytes of each record up to `max_record_bytes`, or,
//! for a longer one, only its size: a longer record is never held in memory, so a 2 GB
//! line costs what a small one does. The splitter only finds record boundaries (string
//! and escape state, bracket depth); parsing a record is the caller's (orjson), so a
//! record that is not valid JSON is that record's error, not the end of the file.

/// What [`JsonSplitter`] cut from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// The bytes of one record (at most the limit), as they appear in the text.
    Record(Vec<u8>),
    /// A record longer than the limit, of this many bytes, skipped.
    TooLarge(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Between top-level values.
    Top,
    /// Inside a top-level array, between items.
    Array,
    /// Inside a record.
    Record,
}

/// Cuts records out of JSON text fed in chunks (see the module doc).
#[derive(Debug, Clone)]
pub struct JsonSplitter {
    limit: usize,
    place: Where,
    /// Whether the record being read is an item of a top-level array.
    in_array: bool,
    /// Bracket depth inside the record (0: a scalar record, or between its brackets' ends).
    depth: u32,
    /// Whether the record is a container (object/array) rather than a scalar.
    container: bool,
    in_string: bool,
    escaped: bool,
    buffer: Vec<u8>,
    size: u64,
}

#[inline]
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl JsonSplitter {
    /// A splitter keeping records of at most `max_record_bytes` bytes.
    pub fn new(max_record_bytes: usize) -> Self {
        Self {
            limit: max_record_bytes,
            place: Where::Top,
            in_array: false,
            depth: 0,
            container: false,
            in_string: false,
            escaped: false,
            buffer: Vec::new(),
            size: 0,
        }
    }

    /// Bytes of the record in progress (0 between records).
    pub fn pending_bytes(&self) -> u64 {
        self.size
    }

    /// Open a record at its first byte, which the record always takes (so that every
    /// record, even a stray `]` or `,`, moves the text forward).
    fn start(&mut self, byte: u8) {
        self.place = Where::Record;
        self.container = matches!(byte, b'{' | b'[');
        self.depth = u32::from(self.container);
        self.in_string = byte == b'"';
        self.escaped = false;
        self.buffer.clear();
        self.size = 0;
        self.keep(&[byte]);
    }

    fn end(&mut self, out: &mut Vec<Piece>) {
        if self.size > self.limit as u64 {
            out.push(Piece::TooLarge(self.size));
        } else {
            out.push(Piece::Record(std::mem::take(&mut self.buffer)));
        }
        self.buffer = Vec::new();
        self.size = 0;
        self.place = if self.in_array { Where::Array } else { Where::Top };
    }

    /// Append `bytes` (of the current record) to the buffer while under the limit.
    fn keep(&mut self, bytes: &[u8]) {
        let before = self.size;
        self.size += bytes.len() as u64;
        if self.size <= self.limit as u64 {
            self.buffer.extend_from_slice(bytes);
        } else if before <= self.limit as u64 {
            self.buffer = Vec::new(); // over the limit: drop what was kept, count the rest
        }
    }

    /// Feed the next chunk of text; returns the records that ended in it, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut i = 0;
        let n = chunk.len();
        while i < n {
            match self.place {
                Where::Top => {
                    let byte = chunk[i];
                    if is_space(byte) {
                        i += 1;
                    } else if byte == b'[' {
                        self.in_array = true;
                        self.place = Where::Array;
                        i += 1;
                    } else {
                        self.in_array = false;
                        self.start(byte);
                        i += 1;
                    }
                }
                Where::Array => {
                    let byte = chunk[i];
                    if is_space(byte) || byte == b',' {
                        i += 1;
                    } else if byte == b']' {
                        self.in_array = false;
                        self.place = Where::Top;
                        i += 1;
                    } else {
                        self.start(byte);
                        i += 1;
                    }
                }
                Where::Record => {
                    let from = i;
                    let mut ended = false;
                    while i < n {
                        let byte = chunk[i];
                        if self.in_string {
                            if self.escaped {
                                self.escaped = false;
                            } else if byte == b'\\' {
                                self.escaped = true;
                            } else if byte == b'"' {
                                self.in_string = false;
                                if !self.container && self.depth == 0 {
                                    i += 1; // a string record ends with its quote
                                    ended = true;
                                    break;
                                }
                            }
                            i += 1;
                            continue;
                        }
                        match byte {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                if self.depth == 0 {
                                    // the end of the array holding this scalar item
                                    ended = true;
                                    break;
                                }
                                self.depth -= 1;
                                if self.container && self.depth == 0 {
                                    i += 1;
                                    ended = true;
                                    break;
                                }
                            }
                            b',' if self.depth == 0 => {
                                ended = true;
                                break;
                            }
                            _ if !self.container && self.depth == 0 && is_space(byte) => {
                                ended = true;
                                break;
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    self.keep(&chunk[from..i]);
                    if ended {
                        self.end(&mut out);
                    }
                }
            }
        }
        out
    }

    /// The end of the text: a record still open (a scalar at the very end, or a value cut
    /// short) is returned as it is, for the parser to accept or refuse.
    pub fn finish(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        if self.place == Where::Record && self.size > 0 {
            self.end(&mut out);
        }
        self.place = Where::Top;
        self.in_array = false;
        out
    }

    /// Whether the text ended inside a top-level array (its `]` never came).
    pub fn in_open_array(&self) -> bool {
        self.in_array
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &[u8], limit: usize, chunk: usize) -> Vec<Piece> {
        let mut splitter = JsonSplitter::new(limit);
        let mut out = Vec::new();
        for part in text.chunks(chunk.max(1)) {
            out.extend(splitter.feed(part));
        }
        out.extend(splitter.finish());
        out
    }

    fn texts(pieces: &[Piece]) -> Vec<String> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Record(b) => String::from_utf8(b.clone()).unwrap(),
                Piece::TooLarge(n) => format!("<{n}>"),
            })
            .collect()
    }

    #[test]
    fn arrays_give_their_items_and_objects_themselves() {
        let text = br#"[{"a": "x,]}"}, {"b": [1, {"c": 2}]}, 5, "s\"]", null] {"d": 1}
{"e": {}}"#;
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(
                texts(&records(text, 1 << 20, chunk)),
                [r#"{"a": "x,]}"}"#, r#"{"b": [1, {"c": 2}]}"#, "5", r#""s\"]""#, "null", r#"{"d": 1}"#, r#"{"e": {}}"#],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_record_over_the_limit_is_only_counted() {
        let big = format!(r#"{{"text": "{}"}}"#, "a".repeat(100));
        let text = format!(r#"[{{"a": 1}}, {big}, {{"b": 2}}]"#);
        for chunk in [1, 5, 64, 10_000] {
            let pieces = records(text.as_bytes(), 50, chunk);
            assert_eq!(texts(&pieces), [r#"{"a": 1}"#.to_string(), format!("<{}>", big.len()), r#"{"b": 2}"#.to_string()]);
        }
    }

    #[test]
    fn a_value_cut_short_comes_out_at_the_end() {
        let mut splitter = JsonSplitter::new(100);
        assert!(splitter.feed(br#"[{"a": 1}, {"b": "#).len() == 1);
        assert_eq!(texts(&splitter.finish()), [r#"{"b": "#]);
    }
}
