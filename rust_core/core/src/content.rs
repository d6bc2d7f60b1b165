//! The natural-language content of a text, for language decisions: code, math, URLs,
//! e-mail addresses and markup masked out, Unicode spaces made plain, in one pass.
//!
//! Each masked span becomes one space. At every position the first rule that matches
//! wins, in this order (`assay.content_langid` documents them and its tests check this
//! scanner against the same rules written as RE2 regular expressions):
//!
//! 1. a fenced code block: "```" up to the next "```" (or the end of the text);
//! 2. a reStructuredText literal: "``" + one or more characters other than backtick and
//!    newline + "``";
//! 3. inline code: "`" + one or more characters other than backtick, newline and Han + "`";
//! 4. display math: "$$" ... "$$", "\[" ... "\]", "\(" ... "\)" (newlines allowed);
//! 5. inline math: "$" + one or more characters other than "$", newline and Han + "$";
//! 6. a LaTeX command: "\" + ASCII letters;
//! 7. a URL: "http://", "https://", "ftp://" (any case) or "www." after a character that
//!    is not an ASCII letter, digit or "_", up to the next ASCII white space;
//! 8. an e-mail address: ASCII `[A-Za-z0-9_.+-]+` "@" `[A-Za-z0-9_-]+` ("." `[A-Za-z0-9_-]+`)+;
//! 9. a markup tag: "<", an optional "/", an ASCII letter, at most 200 characters other
//!    than "<", ">" and newline, ">";
//! 10. a Unicode space (no-break, ideographic, the U+2000 block, zero-width, BOM) becomes " ".

use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::Result;
use crate::script::{is_han, script_counts, script_counts_schema, ScriptCounts};
use crate::strings::StringColumn;

fn is_unicode_space(c: char) -> bool {
    matches!(c as u32, 0x00A0 | 0x1680 | 0x2000..=0x200B | 0x202F | 0x205F | 0x3000 | 0xFEFF)
}

fn is_email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-')
}

fn is_domain_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
}

/// Where a delimited span that starts at `start` (after its opening `open`) ends: the
/// index after the closing `close`, when the characters between are allowed and there is
/// at least one.
fn closed_span(text: &str, start: usize, close: &str, allowed: impl Fn(char) -> bool) -> Option<usize> {
    let rest = &text[start..];
    let mut seen = false;
    for (offset, c) in rest.char_indices() {
        if rest[offset..].starts_with(close) {
            return seen.then_some(start + offset + close.len());
        }
        if !allowed(c) {
            return None;
        }
        seen = true;
    }
    None
}

fn until(text: &str, start: usize, close: &str) -> Option<usize> {
    text[start..].find(close).map(|i| start + i + close.len())
}

/// [`until`] with at least one character before `close` (RE2's `.+?`).
fn until_after_one(text: &str, start: usize, close: &str) -> Option<usize> {
    let first = text[start..].chars().next()?;
    until(text, start + first.len_utf8(), close)
}

/// RE2's `\s`: ASCII white space only.
fn is_re2_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// RE2's `\w` (ASCII), for its `\b`.
fn is_re2_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The end of a URL starting at `i`, if one does.
fn url_end(text: &str, i: usize) -> Option<usize> {
    let rest = &text.as_bytes()[i..];
    let starts = |p: &[u8]| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
    let prefix = [&b"https://"[..], b"http://", b"ftp://", b"www."].into_iter().find(|p| starts(p))?.len();
    let tail = &text[i + prefix..];
    let end = tail.find(is_re2_space).unwrap_or(tail.len());
    // "://" and "www." need something after them (RE2's \S+)
    (end > 0).then_some(i + prefix + end)
}

/// The end of the domain of an e-mail address whose "@" is at `at`, if it is one.
fn email_domain_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    let mut labels = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_domain_part(bytes[i]) {
            i += 1;
        }
        if i == start {
            return None;
        }
        labels += 1;
        if i + 1 < bytes.len() && bytes[i] == b'.' && is_domain_part(bytes[i + 1]) {
            i += 1;
            continue;
        }
        return (labels >= 2).then_some(i);
    }
}

fn tag_end(text: &str, i: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut j = i + 1;
    if bytes.get(j) == Some(&b'/') {
        j += 1;
    }
    if !bytes.get(j).is_some_and(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    j += 1;
    let mut count = 0;
    for (offset, c) in text[j..].char_indices() {
        match c {
            '>' => return Some(j + offset + 1),
            '<' | '\n' => return None,
            _ if count == 200 => return None,
            _ => count += 1,
        }
    }
    None
}

/// The content of `text` (see the module doc), appended to `out`.
///
/// ```
/// let mut out = String::new();
/// assay_core::content::content_into("见 https://a.org/x 和 `ls -l`：$x^2$\u{a0}好", &mut out);
/// assert_eq!(out, "见   和  ：  好");
/// ```
pub fn content_into(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut word_start = true; // RE2's \b before a URL: the previous character is not an ASCII word character
    while i < text.len() {
        // A run of plain characters is copied as it is. It ends before a character that may
        // start a masked span (a URL only at a word start) or a Unicode space.
        let start = i;
        let mut at_word_start = word_start;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii() {
                if matches!(b, b'`' | b'$' | b'\\' | b'@' | b'<')
                    || at_word_start && matches!(b, b'h' | b'H' | b'f' | b'F' | b'w' | b'W')
                {
                    break;
                }
                at_word_start = !is_re2_word(b as char);
                i += 1;
            } else {
                // only these lead bytes begin a Unicode space (U+00A0, U+1680, U+2000 to U+205F,
                // U+3000, U+FEFF): other characters are not decoded
                if matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF) && text[i..].chars().next().is_some_and(is_unicode_space) {
                    break;
                }
                at_word_start = true; // RE2's \w is ASCII
                i += match b {
                    0xF0.. => 4,
                    0xE0.. => 3,
                    _ => 2,
                };
            }
        }
        if i > start {
            out.push_str(&text[start..i]);
            word_start = at_word_start;
            continue;
        }
        let c = text[i..].chars().next().expect("in bounds");
        let rest = &text[i..];
        let masked_to = match c {
            '`' if rest.starts_with("```") => Some(until(text, i + 3, "```").unwrap_or(text.len())),
            '`' if rest.starts_with("``") => closed_span(text, i + 2, "``", |c| c != '`' && c != '\n'),
            '`' => closed_span(text, i + 1, "`", |c| c != '`' && c != '\n' && !is_han(c)),
            '$' if rest.starts_with("$$") => until_after_one(text, i + 2, "$$"),
            '$' => closed_span(text, i + 1, "$", |c| c != '$' && c != '\n' && !is_han(c)),
            '\\' if rest.starts_with("\\[") => until_after_one(text, i + 2, "\\]"),
            '\\' if rest.starts_with("\\(") => until_after_one(text, i + 2, "\\)"),
            '\\' if bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic()) => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_alphabetic() {
                    j += 1;
                }
                Some(j)
            }
            'h' | 'H' | 'f' | 'F' | 'w' | 'W' if word_start => url_end(text, i),
            '<' => tag_end(text, i),
            _ => None,
        };
        if let Some(end) = masked_to {
            out.push(' ');
            word_start = !text[..end].chars().next_back().is_some_and(is_re2_word);
            i = end;
            continue;
        }
        if c == '@' {
            // an e-mail address: take back its local part, already written out
            let local = out.bytes().rev().take_while(|&b| is_email_local(b)).count();
            if local > 0 {
                if let Some(end) = email_domain_end(bytes, i) {
                    out.truncate(out.len() - local);
                    out.push(' ');
                    word_start = false; // a domain ends with a word character
                    i = end;
                    continue;
                }
            }
        }
        out.push(if is_unicode_space(c) { ' ' } else { c });
        word_start = !is_re2_word(c);
        i += c.len_utf8();
    }
}

/// The content of one text.
pub fn content(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    content_into(text, &mut out);
    out
}

/// The Arrow schema of [`content_array`]'s output: the content and its [`ScriptCounts`].
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![Field::new("content", DataType::Utf8, true)];
            fields.extend(script_counts_schema().fields().iter().map(|f| f.as_ref().clone()));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// [`content`] of every row of a string array with the [`ScriptCounts`] of that content,
/// in parallel (each row is counted while it is in cache); null text gives nulls.
///
/// ```
/// use arrow_array::{Array, StringArray};
/// let batch = assay_core::content::content_array(&StringArray::from(vec![Some("a `b` 中"), None])).unwrap();
/// let content = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
/// assert_eq!(content.value(0), "a   中");
/// assert!(content.is_null(1) && batch.column_by_name("han").unwrap().is_null(1));
/// ```
pub fn content_array(texts: &dyn Array) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "content_text")?;
    let rows = column.par_map(|text| {
        let masked = content(text);
        let counts = script_counts(&masked);
        (masked, counts)
    });
    let ints = |f: fn(&ScriptCounts) -> i64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| r.as_ref().map(|(_, c)| f(c))).collect::<Int64Array>())
    };
    let content: ArrayRef = Arc::new(rows.iter().map(|r| r.as_ref().map(|(m, _)| m.as_str())).collect::<StringArray>());
    let columns = vec![content, ints(|c| c.letters), ints(|c| c.han), ints(|c| c.kana), ints(|c| c.hangul),
                       ints(|c| c.other_words)];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let cases = [
            ("```\ncode\n```中文", " 中文"),
            ("```unclosed", " "),
            ("``lit`` 和 ``y``", "  和  "),
            ("`a` 中 `b`", "  中  "),
            ("`跨 中文`", "`跨 中文`"),
            ("$$\\frac{1}{2}$$ 与 $x$", "  与  "),
            ("$5 和 $10", "$5 和 $10"),
            ("\\[a\\] \\(b\\) \\leqslant", "     "),
            ("see www.x.org now", "see   now"),
            ("mail me@x.co.uk.", "mail  ."),
            ("a@b", "a@b"),
            ("<b>粗</b> <3", " 粗  <3"),
            ("x\u{a0}y\u{3000}z", "x y z"),
            ("ahttp://x", "ahttp://x"),
            ("中文http://x.cn/a 好", "中文  好"),
            ("$$$x$$", " "),
        ];
        for (input, expected) in cases {
            assert_eq!(content(input), expected, "{input:?}");
        }
    }
}
