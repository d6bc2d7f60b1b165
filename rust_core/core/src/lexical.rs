//! Lexical diversity: MTLD (McCarthy & Jarvis 2010), the Measure of Textual Lexical Diversity.
//!
//! Walk the words keeping the type-token ratio (distinct words / words) of the current
//! stretch; when it falls to `threshold` (0.72) or below, count one factor and start a new
//! stretch. A last, unfinished stretch counts as the partial factor
//! `(1 - ttr) / (1 - threshold)`; a text whose ratio never falls counts one factor if every
//! word is distinct, else that partial factor from the whole text. MTLD is the words over the
//! factors, averaged over a forward and a backward pass. These are the conventions of
//! `lexicalrichness` 0.5 (`mtld(threshold=0.72)`: `<=`, the partial factor, the fallback), so the
//! two give the same value on the same word list.
//!
//! Words are those the quality filters count ([`crate::quality::tokenize`]: spaCy's English
//! rules, every Han, kana or hangul character one word), lowercased, without the tokens that
//! hold no letter or digit (punctuation).

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rustc_hash::FxHashSet;

use crate::error::Result;
use crate::quality::tokenize::{words, Language};
use crate::strings::StringColumn;

/// The words MTLD counts in `text` (see the module documentation).
///
/// ```
/// use assay_core::lexical::mtld_words;
/// use assay_core::quality::Language;
/// assert_eq!(mtld_words("The cat, the HAT.", Language::English), ["the", "cat", "the", "hat"]);
/// assert_eq!(mtld_words("我爱Rust。", Language::Chinese), ["我", "爱", "rust"]);
/// ```
pub fn mtld_words(text: &str, language: Language) -> Vec<String> {
    words(text, language)
        .into_iter()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(str::to_lowercase)
        .collect()
}

fn one_pass<'a>(words: impl Iterator<Item = &'a str>, total: usize, distinct: usize, threshold: f64) -> f64 {
    let mut terms: FxHashSet<&str> = FxHashSet::default();
    let mut count = 0usize;
    let mut factors = 0.0f64;
    let mut ttr = 1.0f64;
    for word in words {
        count += 1;
        terms.insert(word);
        ttr = terms.len() as f64 / count as f64;
        if ttr <= threshold {
            count = 0;
            terms.clear();
            factors += 1.0;
        }
    }
    if count > 0 {
        factors += (1.0 - ttr) / (1.0 - threshold);
    }
    if factors == 0.0 {
        let whole = distinct as f64 / total as f64;
        factors += if whole == 1.0 { 1.0 } else { (1.0 - whole) / (1.0 - threshold) };
    }
    total as f64 / factors
}

/// MTLD of a word list; None for an empty one.
///
/// ```
/// use assay_core::lexical::mtld;
/// let words: Vec<&str> = "a b a b a b c d".split(' ').collect();
/// assert_eq!(mtld(&words, 0.72), Some(6.0)); // forward 8 / 2 factors, backward 8 / 1
/// assert_eq!(mtld::<&str>(&[], 0.72), None);
/// ```
pub fn mtld<S: AsRef<str>>(words: &[S], threshold: f64) -> Option<f64> {
    if words.is_empty() {
        return None;
    }
    let distinct = words.iter().map(AsRef::as_ref).collect::<FxHashSet<&str>>().len();
    let forward = one_pass(words.iter().map(AsRef::as_ref), words.len(), distinct, threshold);
    let backward = one_pass(words.iter().rev().map(AsRef::as_ref), words.len(), distinct, threshold);
    Some((forward + backward) / 2.0)
}

/// MTLD of every text of a column, in parallel: `mtld` (null for a null text or one with
/// no word) and `mtld_words` (the words counted).
pub fn mtld_array(texts: &dyn Array, language: Language, threshold: f64) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "mtld")?;
    let scored = column.par_map(|text| {
        let words = mtld_words(text, language);
        (mtld(&words, threshold), words.len())
    });
    let mut value = Float64Builder::with_capacity(scored.len());
    let mut count = Int64Builder::with_capacity(scored.len());
    for row in scored {
        let (m, n) = row.unwrap_or((None, 0));
        value.append_option(m);
        count.append_value(n as i64);
    }
    let schema = Schema::new(vec![
        Field::new("mtld", DataType::Float64, true),
        Field::new("mtld_words", DataType::Int64, false),
    ]);
    Ok(RecordBatch::try_new(Arc::new(schema), vec![Arc::new(value.finish()), Arc::new(count.finish())])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_distinct_is_one_factor_and_repeats_lower_it() {
        let distinct: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
        assert_eq!(mtld(&distinct, 0.72), Some(10.0));
        let same = vec!["x"; 10];
        assert_eq!(mtld(&same, 0.72), Some(2.0)); // a factor every two words
    }
}
