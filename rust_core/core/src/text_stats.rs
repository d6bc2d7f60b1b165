//! Per-document text statistics: the first kernel and the model for the others.
//!
//! Definitions (all counts are over Unicode code points unless named otherwise):
//! - `chars`: code points; `bytes`: UTF-8 bytes.
//! - `words`: UAX #29 word segments that contain a letter or digit
//!   (`unicode-segmentation`'s `unicode_words`); UAX #29 breaks between Han
//!   ideographs, so every CJK ideograph counts as one word.
//! - `lines`: lines separated by `\n` (a `\r\n` ending counts once); a trailing
//!   newline does not open a new line, and the empty text has 0 lines.
//! - `cjk_ratio`: share of [`is_cjk`] characters.
//! - `alpha_ratio`: share of letters, general category L* (Python's `str.isalpha`).
//! - `digit_ratio`: share of decimal digits, general category Nd (Python's `str.isdecimal`).
//! - `whitespace_ratio`: share of characters with the Unicode `White_Space` property.
//!
//! Ratios of the empty text are 0.0, never NaN.

use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use unicode_general_category::{get_general_category, GeneralCategory as Gc};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::Result;
use crate::quality::chars::is_py_alpha;
use crate::script::is_cjk;
use crate::strings::StringColumn;

/// The statistics of one document.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TextStats {
    pub chars: i64,
    pub bytes: i64,
    pub words: i64,
    pub lines: i64,
    pub cjk_ratio: f64,
    pub alpha_ratio: f64,
    pub digit_ratio: f64,
    pub whitespace_ratio: f64,
}

#[inline]
fn is_decimal_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    get_general_category(c) == Gc::DecimalNumber
}

/// Compute the statistics of one text.
///
/// ```
/// use assay_core::text_stats::text_stats;
/// let s = text_stats("你好 world");
/// assert_eq!((s.chars, s.bytes, s.words, s.lines), (8, 12, 3, 1));
/// assert_eq!(s.cjk_ratio, 2.0 / 8.0);
/// ```
pub fn text_stats(text: &str) -> TextStats {
    let (mut chars, mut cjk, mut alpha, mut digit, mut space) = (0i64, 0i64, 0i64, 0i64, 0i64);
    for c in text.chars() {
        chars += 1;
        cjk += is_cjk(c) as i64;
        alpha += is_py_alpha(c) as i64;
        digit += is_decimal_digit(c) as i64;
        space += c.is_whitespace() as i64;
    }
    let ratio = |n: i64| if chars == 0 { 0.0 } else { n as f64 / chars as f64 };
    TextStats {
        chars,
        bytes: text.len() as i64,
        words: text.unicode_words().count() as i64,
        lines: text.lines().count() as i64,
        cjk_ratio: ratio(cjk),
        alpha_ratio: ratio(alpha),
        digit_ratio: ratio(digit),
        whitespace_ratio: ratio(space),
    }
}

/// The Arrow schema of [`text_stats_array`]'s output.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let int = |name| Field::new(name, DataType::Int64, true);
            let float = |name| Field::new(name, DataType::Float64, true);
            Arc::new(Schema::new(vec![
                int("chars"),
                int("bytes"),
                int("words"),
                int("lines"),
                float("cjk_ratio"),
                float("alpha_ratio"),
                float("digit_ratio"),
                float("whitespace_ratio"),
            ]))
        })
        .clone()
}

/// Statistics for every row of a string array, in parallel; null text gives null stats.
///
/// ```
/// use arrow_array::StringArray;
/// let texts = StringArray::from(vec![Some("one two"), None]);
/// let batch = assay_core::text_stats::text_stats_array(&texts).unwrap();
/// assert_eq!(batch.num_rows(), 2);
/// assert!(batch.column_by_name("words").unwrap().is_null(1));
/// ```
pub fn text_stats_array(texts: &dyn Array) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "text_stats")?;
    let rows = column.par_map(text_stats);
    let ints = |f: fn(&TextStats) -> i64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| r.as_ref().map(f)).collect::<Int64Array>())
    };
    let floats = |f: fn(&TextStats) -> f64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| r.as_ref().map(f)).collect::<Float64Array>())
    };
    let columns = vec![
        ints(|s| s.chars),
        ints(|s| s.bytes),
        ints(|s| s.words),
        ints(|s| s.lines),
        floats(|s| s.cjk_ratio),
        floats(|s| s.alpha_ratio),
        floats(|s| s.digit_ratio),
        floats(|s| s.whitespace_ratio),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, LargeStringArray, StringViewArray};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};

    #[test]
    fn mixed_script() {
        let s = text_stats("你好 world");
        assert_eq!(s.chars, 8);
        assert_eq!(s.bytes, 12);
        assert_eq!(s.words, 3);
        assert_eq!(s.lines, 1);
        assert_eq!(s.cjk_ratio, 0.25);
        assert_eq!(s.alpha_ratio, 7.0 / 8.0);
        assert_eq!(s.whitespace_ratio, 1.0 / 8.0);
        assert_eq!(s.digit_ratio, 0.0);
    }

    #[test]
    fn every_ideograph_is_a_word() {
        assert_eq!(text_stats("我爱北京天安门").words, 7);
        assert_eq!(text_stats("我爱Rust语言，真的。").words, 7);
    }

    #[test]
    fn words_follow_uax29() {
        // Apostrophes and decimal points stay inside a word; punctuation is no word.
        assert_eq!(text_stats("don't stop: 3.14 -- ok!").words, 4);
        assert_eq!(text_stats("... !!! ---").words, 0);
    }

    #[test]
    fn lines() {
        assert_eq!(text_stats("").lines, 0);
        assert_eq!(text_stats("a").lines, 1);
        assert_eq!(text_stats("a\n").lines, 1);
        assert_eq!(text_stats("a\r\nb\n\nc").lines, 4);
    }

    #[test]
    fn empty_text_has_zero_ratios() {
        assert_eq!(text_stats(""), TextStats::default());
    }

    #[test]
    fn digits_and_letters_are_unicode_aware() {
        let s = text_stats("١٢٣abcÉ");
        assert_eq!(s.digit_ratio, 3.0 / 7.0);
        assert_eq!(s.alpha_ratio, 4.0 / 7.0);
        // A combining mark is not a letter (Python's isalpha agrees).
        assert_eq!(text_stats("e\u{301}").alpha_ratio, 0.5);
    }

    #[test]
    fn arrow_layouts_agree_and_nulls_stay_null() {
        let values = vec![Some("alpha beta"), None, Some("三个字")];
        let utf8 = text_stats_array(&arrow_array::StringArray::from(values.clone())).unwrap();
        let large = text_stats_array(&LargeStringArray::from(values.clone())).unwrap();
        let view = text_stats_array(&StringViewArray::from(values)).unwrap();
        assert_eq!(utf8, large);
        assert_eq!(utf8, view);
        let words = utf8.column_by_name("words").unwrap().as_primitive::<Int64Type>();
        assert_eq!(words.iter().collect::<Vec<_>>(), vec![Some(2), None, Some(3)]);
        let cjk = utf8.column_by_name("cjk_ratio").unwrap().as_primitive::<Float64Type>();
        assert_eq!(cjk.value(2), 1.0);
    }

    #[test]
    fn all_null_and_empty_arrays() {
        let batch = text_stats_array(&arrow_array::NullArray::new(3)).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(batch.column(0).null_count(), 3);
        let empty = text_stats_array(&arrow_array::StringArray::from(Vec::<&str>::new())).unwrap();
        assert_eq!(empty.num_rows(), 0);
    }

    #[test]
    fn non_string_input_is_an_error() {
        let err = text_stats_array(&Int32Array::from(vec![1])).unwrap_err();
        assert!(err.to_string().contains("needs a string column, got Arrow type Int32"), "{err}");
    }

    #[test]
    fn parallel_result_matches_sequential() {
        let texts: Vec<String> = (0..5000).map(|i| format!("doc {i} 第{i}号 ")).collect();
        let array = arrow_array::StringArray::from(texts.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        let batch = text_stats_array(&array).unwrap();
        let chars = batch.column_by_name("chars").unwrap().as_primitive::<Int64Type>();
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(chars.value(i), text_stats(t).chars);
        }
    }
}
