//! A strict JSON parser for one record, and a writer that gives the bytes orjson writes
//! with `OPT_SORT_KEYS` (what the Python readers put in `meta`).
//!
//! The parser declines ([`Declined`]) rather than guess: invalid JSON, invalid UTF-8, a
//! lone surrogate escape, nesting deeper than [`MAX_DEPTH`], and every number that is not
//! an integer within 64 bits (orjson turns those into floats, whose text form is
//! orjson's own). The caller hands a declined record to the Python reference reader,
//! which gives its value or its exact error, so declining never changes a result.

use std::borrow::Cow;

/// A parsed JSON value; strings borrow from the input unless they hold escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// An integer literal within `i64::MIN..=u64::MAX`, as written.
    Int(&'a str),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in input order; a repeated key keeps every occurrence (see [`Object`]).
    Object(Object<'a>),
}

/// The members of an object. As in a Python dict built from JSON, the last occurrence
/// of a repeated key is its value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object<'a> {
    pub members: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Object<'a> {
    /// The value of `key` (its last occurrence).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// Remove `key` (every occurrence) and return its value.
    pub fn pop(&mut self, key: &str) -> Option<Json<'a>> {
        let mut found = None;
        let mut i = 0;
        while i < self.members.len() {
            if self.members[i].0 == key {
                found = Some(self.members.remove(i).1);
            } else {
                i += 1;
            }
        }
        found
    }
}

/// The parser declined the input (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declined;

/// Deepest nesting parsed (orjson's limit is 1,024; deeper inputs go to Python).
pub const MAX_DEPTH: usize = 512;

/// Parse one JSON text (surrounding whitespace allowed).
///
/// ```
/// use assay_core::jsonl::json::{parse, Json};
/// let Json::Object(o) = parse(br#"{"a": [1, "x\n"], "a": true}"#).unwrap() else { panic!() };
/// assert_eq!(o.get("a"), Some(&Json::Bool(true)));
/// assert!(parse(b"1.5").is_err()); // a float: declined
/// ```
pub fn parse(input: &[u8]) -> Result<Json<'_>, Declined> {
    let text = std::str::from_utf8(input).map_err(|_| Declined)?;
    let mut p = Parser { s: text, b: input, i: 0 };
    p.ws();
    let value = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(Declined);
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Result<(), Declined> {
        if self.b.get(self.i) == Some(&byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(Declined)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Declined> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Declined)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, Declined> {
        match *self.b.get(self.i).ok_or(Declined)? {
            b'{' => self.object(depth + 1).map(Json::Object),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Json::Str),
            b't' => self.literal(b"true").map(|_| Json::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Json::Bool(false)),
            b'n' => self.literal(b"null").map(|_| Json::Null),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => Err(Declined),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Object<'a>, Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined);
        }
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.eat(b'}').is_ok() {
            return Ok(Object { members });
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(Declined);
            }
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Object { members });
                }
                _ => return Err(Declined),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined);
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b']').is_ok() {
            return Ok(Json::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(Declined),
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)` not followed by a fraction or exponent, within 64 bits.
    fn integer(&mut self) -> Result<Json<'a>, Declined> {
        let start = self.i;
        let negative = self.b[self.i] == b'-';
        if negative {
            self.i += 1;
        }
        let digits_start = self.i;
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.b.get(self.i) {
                    self.i += 1;
                }
            }
            _ => return Err(Declined),
        }
        if let Some(b'.' | b'e' | b'E' | b'0'..=b'9') = self.b.get(self.i) {
            return Err(Declined); // a float, or a leading zero
        }
        let digits = &self.s[digits_start..self.i];
        if digits.len() > 20 {
            return Err(Declined);
        }
        let magnitude: u128 = digits.parse().map_err(|_| Declined)?;
        let fits = if negative { magnitude <= 1u128 << 63 } else { magnitude <= u64::MAX as u128 };
        if !fits {
            return Err(Declined);
        }
        Ok(Json::Int(&self.s[start..self.i]))
    }

    fn string(&mut self) -> Result<Cow<'a, str>, Declined> {
        self.i += 1;
        let start = self.i;
        // the common case: no escape
        loop {
            match *self.b.get(self.i).ok_or(Declined)? {
                b'"' => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                b'\\' => break,
                0..=0x1f => return Err(Declined),
                _ => self.i += 1,
            }
        }
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.s[start..self.i]);
        loop {
            let run = self.i;
            while let Some(&b) = self.b.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.s[run..self.i]);
            match *self.b.get(self.i).ok_or(Declined)? {
                b'"' => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    self.i += 1;
                    let escape = *self.b.get(self.i).ok_or(Declined)?;
                    self.i += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let c = match unit {
                                0xD800..=0xDBFF => {
                                    self.literal(b"\\u")?;
                                    let low = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return Err(Declined);
                                    }
                                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return Err(Declined),
                                _ => unit,
                            };
                            out.push(char::from_u32(c).ok_or(Declined)?);
                        }
                        _ => return Err(Declined),
                    }
                }
                _ => return Err(Declined), // a raw control character
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Declined> {
        let digits = self.b.get(self.i..self.i + 4).ok_or(Declined)?;
        let mut value = 0u32;
        for &d in digits {
            value = value * 16 + (d as char).to_digit(16).ok_or(Declined)?;
        }
        self.i += 4;
        Ok(value)
    }
}

/// Append `value` as orjson writes it with `OPT_SORT_KEYS`: compact, object keys sorted
/// (a repeated key once, with its last value), non-ASCII as UTF-8, `"` `\` and control
/// characters escaped (`\n` `\r` `\t` `\b` `\f`, others as `\u00XX`), `-0` as `0`.
///
/// ```
/// use assay_core::jsonl::json::{parse, write_sorted};
/// let mut out = String::new();
/// write_sorted(&parse(br#"{"b": [1, -0], "a": {"d": "\u00e9\t", "c": null}}"#).unwrap(), &mut out);
/// assert_eq!(out, r#"{"a":{"c":null,"d":"é\t"},"b":[1,0]}"#);
/// ```
pub fn write_sorted(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(literal) => out.push_str(if *literal == "-0" { "0" } else { literal }),
        Json::Str(s) => write_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        Json::Object(object) => write_object_sorted(object, out),
    }
}

/// [`write_sorted`] of an object.
pub fn write_object_sorted(object: &Object, out: &mut String) {
    let mut order: Vec<usize> = (0..object.members.len()).collect();
    // stable: among equal keys the last occurrence comes last, and is the one written
    order.sort_by(|&a, &b| object.members[a].0.cmp(&object.members[b].0));
    out.push('{');
    let mut first = true;
    for (pos, &m) in order.iter().enumerate() {
        let key = &object.members[m].0;
        if order.get(pos + 1).is_some_and(|&next| object.members[next].0 == *key) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_string(key, out);
        out.push(':');
        write_sorted(&object.members[m].1, out);
    }
    out.push('}');
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[run..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(input: &str) -> String {
        let mut out = String::new();
        write_sorted(&parse(input.as_bytes()).unwrap(), &mut out);
        out
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(round(r#""a\"b\\c\/d\u0041\ud83d\ude00\u0000\u001f\b\f""#), "\"a\\\"b\\\\c/dA😀\\u0000\\u001f\\b\\f\"");
        assert_eq!(round("\"\u{7f}é\""), "\"\u{7f}é\"");
    }

    #[test]
    fn declines() {
        for bad in [
            "1.0", "1e5", "01", "-", "[1,]", "{\"a\":1,}", "\"\\ud800\"", "\"\\udc00\"", "\"a\tb\"", "NaN",
            "{'a':1}", "[1] x", "18446744073709551616", "-9223372036854775809", "\"\\x\"", "",
        ] {
            assert_eq!(parse(bad.as_bytes()), Err(Declined), "{bad:?}");
        }
        assert!(parse(&[b'"', 0xff, b'"']).is_err());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn integers_at_the_edges() {
        assert_eq!(round("18446744073709551615"), "18446744073709551615");
        assert_eq!(round("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(round("-0"), "0");
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        assert_eq!(round(r#"{"b":1,"a":2,"b":3}"#), r#"{"a":2,"b":3}"#);
        let Json::Object(mut o) = parse(br#"{"b":1,"a":2,"b":3}"#).unwrap() else { unreachable!() };
        assert_eq!(o.pop("b"), Some(Json::Int("3")));
        assert!(!o.contains("b"));
    }
}
