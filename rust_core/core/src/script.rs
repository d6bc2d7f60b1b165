//! Character classes shared by the kernels (which script a code point belongs to, and
//! Unicode punctuation), and per-text counts of letters by script.

use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use unicode_general_category::GeneralCategory;

use crate::error::Result;
use crate::strings::StringColumn;

/// True for Chinese, Japanese and Korean characters: Han ideographs (all CJK Unified
/// Ideographs blocks, radicals, compatibility ideographs), Hiragana, Katakana
/// (full and half width), Hangul (syllables and jamo) and Bopomofo.
/// Punctuation such as `。` is not CJK here; it is punctuation.
///
/// ```
/// use assay_core::script::is_cjk;
/// assert!(is_cjk('中') && is_cjk('か') && is_cjk('한'));
/// assert!(!is_cjk('a') && !is_cjk('。'));
/// ```
pub fn is_cjk(c: char) -> bool {
    is_han(c) || is_kana(c) || is_hangul(c) || matches!(c as u32,
        0x3100..=0x312F            // Bopomofo
        | 0x31A0..=0x31BF)         // Bopomofo extended
}

/// True for Hiragana and Katakana (full and half width, phonetic extensions): the
/// characters that only Japanese writes.
///
/// ```
/// assert!(assay_core::script::is_kana('か') && assay_core::script::is_kana('カ'));
/// assert!(!assay_core::script::is_kana('中'));
/// ```
pub fn is_kana(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F            // Hiragana
        | 0x30A0..=0x30FF          // Katakana
        | 0x31F0..=0x31FF          // Katakana phonetic extensions
        | 0xFF66..=0xFF9F)         // halfwidth Katakana
}

/// True for Hangul syllables and jamo.
///
/// ```
/// assert!(assay_core::script::is_hangul('한') && !assay_core::script::is_hangul('中'));
/// ```
pub fn is_hangul(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF            // Hangul Jamo
        | 0x3130..=0x318F          // Hangul compatibility Jamo
        | 0xA960..=0xA97F          // Hangul Jamo extended A
        | 0xAC00..=0xD7AF          // Hangul syllables
        | 0xD7B0..=0xD7FF)         // Hangul Jamo extended B
}

/// A text's letters counted by script, for language decisions: Han, kana and Hangul
/// characters one by one, and the words (runs) of every other alphabetic script.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptCounts {
    /// Alphabetic characters (`char::is_alphabetic`), all scripts.
    pub letters: i64,
    pub han: i64,
    pub kana: i64,
    pub hangul: i64,
    /// Runs of alphabetic characters that are neither Han, kana nor Hangul.
    pub other_words: i64,
}

impl ScriptCounts {
    /// Script units: every Han, kana or Hangul character is one, every other word is one.
    pub fn units(&self) -> i64 {
        self.han + self.kana + self.hangul + self.other_words
    }
}

/// [`ScriptCounts`] of one text.
///
/// ```
/// let c = assay_core::script::script_counts("修复错误 (via Thanks) です 한국");
/// assert_eq!((c.han, c.kana, c.hangul, c.other_words, c.letters), (4, 2, 2, 2, 17));
/// ```
pub fn script_counts(text: &str) -> ScriptCounts {
    let mut counts = ScriptCounts::default();
    let mut in_word = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            // the common case, without decoding: an ASCII letter is a letter of an "other" word
            if b.is_ascii_alphabetic() {
                counts.letters += 1;
                counts.other_words += !in_word as i64;
                in_word = true;
            } else {
                in_word = false;
            }
            i += 1;
            continue;
        }
        let c = text[i..].chars().next().expect("at a character boundary");
        i += c.len_utf8();
        if !c.is_alphabetic() {
            in_word = false;
            continue;
        }
        counts.letters += 1;
        if is_han(c) {
            counts.han += 1;
        } else if is_kana(c) {
            counts.kana += 1;
        } else if is_hangul(c) {
            counts.hangul += 1;
        } else {
            counts.other_words += !in_word as i64;
            in_word = true;
            continue;
        }
        in_word = false;
    }
    counts
}

/// The Arrow schema of [`script_counts_array`]'s output (int64 columns).
pub fn script_counts_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let int = |name| Field::new(name, DataType::Int64, true);
            Arc::new(Schema::new(vec![int("letters"), int("han"), int("kana"), int("hangul"), int("other_words")]))
        })
        .clone()
}

/// [`script_counts`] of every row of a string array, in parallel; null text gives nulls.
///
/// ```
/// use arrow_array::StringArray;
/// let batch = assay_core::script::script_counts_array(&StringArray::from(vec![Some("中文 text"), None])).unwrap();
/// assert_eq!(batch.num_rows(), 2);
/// assert!(batch.column_by_name("han").unwrap().is_null(1));
/// ```
pub fn script_counts_array(texts: &dyn Array) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "script_counts")?;
    let rows = column.par_map(script_counts);
    let ints = |f: fn(&ScriptCounts) -> i64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| r.as_ref().map(f)).collect::<Int64Array>())
    };
    let columns = vec![ints(|c| c.letters), ints(|c| c.han), ints(|c| c.kana), ints(|c| c.hangul),
                       ints(|c| c.other_words)];
    Ok(RecordBatch::try_new(script_counts_schema(), columns)?)
}

/// True for the punctuation categories (P*: connector, dash, open, close, initial, final
/// and other punctuation).
///
/// ```
/// use unicode_general_category::{get_general_category, GeneralCategory};
/// use assay_core::script::is_punctuation_category;
/// assert!(is_punctuation_category(get_general_category('。')));
/// assert!(!is_punctuation_category(GeneralCategory::MathSymbol));
/// ```
pub fn is_punctuation_category(category: GeneralCategory) -> bool {
    matches!(
        category,
        GeneralCategory::ConnectorPunctuation
            | GeneralCategory::DashPunctuation
            | GeneralCategory::OpenPunctuation
            | GeneralCategory::ClosePunctuation
            | GeneralCategory::InitialPunctuation
            | GeneralCategory::FinalPunctuation
            | GeneralCategory::OtherPunctuation
    )
}

/// True for Han ideographs (the characters that UAX #29 segments one per word).
///
/// ```
/// assert!(assay_core::script::is_han('好'));
/// assert!(!assay_core::script::is_han('か'));
/// ```
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF            // CJK radicals supplement, Kangxi radicals
        | 0x3005 | 0x3007          // 々 〇
        | 0x3021..=0x3029          // Hangzhou numerals
        | 0x3038..=0x303B
        | 0x3400..=0x4DBF          // Extension A
        | 0x4E00..=0x9FFF          // Unified Ideographs
        | 0xF900..=0xFAFF          // Compatibility Ideographs
        | 0x20000..=0x323AF)       // Extensions B..H and the compatibility supplement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        for c in "中文漢字𠀀々".chars() {
            assert!(is_han(c) && is_cjk(c), "{c}");
        }
        for c in "ひらがなカタカナ한국어ㄅ".chars() {
            assert!(is_cjk(c) && !is_han(c), "{c}");
        }
        for c in "abc é1 ，。「」".chars() {
            assert!(!is_cjk(c), "{c}");
        }
    }
}
