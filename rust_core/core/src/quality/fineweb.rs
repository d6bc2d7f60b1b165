//! FineWeb quality rules (Penedo et al. 2024), with datatrove 0.10's
//! `FineWebQualityFilter` parameters, defaults and reason strings.

use serde::{Deserialize, Serialize};

use super::chars::*;
use super::document::Document;
use super::gopher::find_duplicates;
use super::tokenize::Language;

/// Parameters of `fineweb_quality`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FineWebQualityConfig {
    pub line_punct_thr: f64,
    pub line_punct_exclude_zero: bool,
    /// Line endings that count as punctuation (default: datatrove's
    /// `TERMINAL_PUNCTUATION`). Each entry may be several characters.
    pub stop_chars: Option<Vec<String>>,
    pub short_line_thr: f64,
    pub short_line_length: usize,
    pub char_duplicates_ratio: f64,
    pub new_line_ratio: f64,
}

impl Default for FineWebQualityConfig {
    fn default() -> Self {
        Self {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            stop_chars: None,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
        }
    }
}

impl FineWebQualityConfig {
    /// The defaults for a language: for Chinese, FineWeb-2's line punctuation
    /// threshold 0.106; the others keep their values (lines are counted in
    /// characters either way; `new_line_ratio` divides by character tokens).
    pub fn for_language(language: Language) -> Self {
        match language {
            Language::English => Self::default(),
            Language::Chinese => Self { line_punct_thr: 0.106, ..Self::default() },
        }
    }
}

/// Signals of the FineWeb rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FineWebSignals {
    pub n_lines: usize,
    pub punct_lines: usize,
    pub short_lines: usize,
    pub dup_line_chars: usize,
    pub chars_without_newlines: usize,
    pub newlines: usize,
}

impl FineWebSignals {
    pub fn compute(text: &str, c: &FineWebQualityConfig) -> Self {
        let lines: Vec<&str> = text.split('\n').filter(|l| !py_strip(l).is_empty()).collect();
        let ends = |line: &str| match &c.stop_chars {
            None => line.chars().next_back().is_some_and(is_terminal_punctuation),
            Some(stops) => stops.iter().any(|s| line.ends_with(s.as_str())),
        };
        let newlines = text.bytes().filter(|&b| b == b'\n').count();
        Self {
            n_lines: lines.len(),
            punct_lines: lines.iter().filter(|l| ends(l)).count(),
            short_lines: lines.iter().filter(|l| char_len(l) <= c.short_line_length).count(),
            dup_line_chars: find_duplicates(lines.iter().copied()).1,
            chars_without_newlines: char_len(text) - newlines,
            newlines,
        }
    }
}

/// datatrove's `FineWebQualityFilter.filter`: the removal reason or `None`.
pub fn fineweb_quality(doc: &Document, c: &FineWebQualityConfig) -> Option<&'static str> {
    let s = FineWebSignals::compute(doc.text, c);
    if s.n_lines == 0 {
        return Some("empty");
    }
    let ratio = s.punct_lines as f64 / s.n_lines as f64;
    if ratio < c.line_punct_thr && !(ratio == 0.0 && c.line_punct_exclude_zero) {
        return Some("line_punct_ratio");
    }
    if s.short_lines as f64 / s.n_lines as f64 > c.short_line_thr {
        return Some("short_line_ratio");
    }
    if s.dup_line_chars as f64 / s.chars_without_newlines as f64 > c.char_duplicates_ratio {
        return Some("char_dup_ratio");
    }
    let words = doc.words.len();
    let list_ratio = if words == 0 { f64::INFINITY } else { s.newlines as f64 / words as f64 };
    if list_ratio > c.new_line_ratio {
        return Some("list_ratio");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Option<&'static str> {
        fineweb_quality(&Document::new(text, Language::English), &FineWebQualityConfig::default())
    }

    #[test]
    fn rules() {
        assert_eq!(check(""), Some("empty"));
        assert_eq!(check(" \n\t\n"), Some("empty"));
        let good = "A line that is long enough to count as a real line.\n".to_string()
            + "Another line that is also long enough, ending well.";
        assert_eq!(check(&good), None);
        assert_eq!(check("no punctuation on this rather long line here\nnor on this other long line at all"), Some("line_punct_ratio"));
        // 2 of 3 short lines is 0.667, not above 0.67
        assert_eq!(check("Short one.\nShort two.\nA line that is long enough to be long."), None);
        assert_eq!(check("One.\nTwo.\nThree.\nA line that is long enough to be long."), Some("short_line_ratio"));
        let dup = "A line that is long enough to count as real.\n".repeat(2);
        assert_eq!(check(&dup), Some("char_dup_ratio"));
        assert_eq!(check("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.\n\n\n\nBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."), Some("list_ratio"));
    }
}
