//! Raw quality signals of one document, all from one tokenization: the numbers the
//! Gopher, C4 and FineWeb rules compare with their thresholds, plus MTLD lexical
//! diversity. For reports and for data selection with `select`.

use std::collections::HashSet;

use super::c4::{c4_sentences, C4QualityConfig};
use super::chars::*;
use super::document::Document;
use super::fineweb::{FineWebQualityConfig, FineWebSignals};
use super::gopher::*;

/// The signals of one document (ratios of an empty denominator are NaN).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualitySignals {
    pub tokens: i64,
    pub non_symbol_words: i64,
    pub mean_word_length: f64,
    pub stop_words: i64,
    pub alpha_word_ratio: f64,
    pub hash_word_ratio: f64,
    pub ellipsis_word_ratio: f64,
    pub bullet_line_ratio: f64,
    pub ellipsis_line_ratio: f64,
    pub dup_para_frac: f64,
    pub dup_para_char_frac: f64,
    pub dup_line_frac: f64,
    pub dup_line_char_frac: f64,
    /// Characters of the top n-gram times its count over all characters, n = 2, 3, 4.
    pub top_ngram_char_frac: [f64; 3],
    /// Characters in duplicated n-grams over all characters, n = 5..=10.
    pub dup_ngram_char_frac: [f64; 6],
    pub c4_sentences: i64,
    pub line_punct_ratio: f64,
    pub short_line_ratio: f64,
    pub dup_line_chars_ratio: f64,
    pub newline_word_ratio: f64,
    pub mtld: f64,
}

/// Names of the columns [`QualitySignals`] becomes, in order.
pub const SIGNAL_NAMES: &[&str] = &[
    "tokens", "non_symbol_words", "mean_word_length", "stop_words", "alpha_word_ratio", "hash_word_ratio",
    "ellipsis_word_ratio", "bullet_line_ratio", "ellipsis_line_ratio", "dup_para_frac", "dup_para_char_frac",
    "dup_line_frac", "dup_line_char_frac", "top_2_gram_char_frac", "top_3_gram_char_frac",
    "top_4_gram_char_frac", "dup_5_gram_char_frac", "dup_6_gram_char_frac", "dup_7_gram_char_frac",
    "dup_8_gram_char_frac", "dup_9_gram_char_frac", "dup_10_gram_char_frac", "c4_sentences",
    "line_punct_ratio", "short_line_ratio", "dup_line_chars_ratio", "newline_word_ratio", "mtld",
];

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { f64::NAN } else { a as f64 / b as f64 }
}

impl QualitySignals {
    /// Every signal of `doc`.
    pub fn compute(doc: &Document) -> Self {
        let g = GopherQualitySignals::compute(doc);
        let r = RepetitionSignals::compute(doc.text);
        let fw = FineWebSignals::compute(doc.text, &FineWebQualityConfig::for_language(doc.language));
        let table = doc.token_table();
        let chars = r.text_chars;
        let mut scratch = NgramScratch::default();
        let mut top = [f64::NAN; 3];
        for (k, n) in (2..=4).enumerate() {
            top[k] = scratch.top_ngram_chars(table, n).map_or(0.0, |c| ratio(c, chars));
        }
        let mut dup = [f64::NAN; 6];
        for (k, n) in (5..=10).enumerate() {
            scratch.extend_keys(table, n);
            dup[k] = ratio(scratch.duplicated_chars(table, n), chars);
        }
        Self {
            tokens: g.n_words as i64,
            non_symbol_words: g.n_non_symbol_words as i64,
            mean_word_length: g.avg_word_length,
            stop_words: stop_word_count(doc) as i64,
            alpha_word_ratio: ratio(g.alpha_words, g.n_words),
            hash_word_ratio: ratio(g.hash_count, g.n_words),
            ellipsis_word_ratio: ratio(g.ellipsis_count, g.n_words),
            bullet_line_ratio: ratio(g.bullet_lines, g.n_lines),
            ellipsis_line_ratio: ratio(g.ellipsis_lines, g.n_lines),
            dup_para_frac: ratio(r.dup_paragraphs, r.n_paragraphs),
            dup_para_char_frac: ratio(r.dup_paragraph_chars, chars),
            dup_line_frac: ratio(r.dup_lines, r.n_lines),
            dup_line_char_frac: ratio(r.dup_line_chars, chars),
            top_ngram_char_frac: top,
            dup_ngram_char_frac: dup,
            c4_sentences: c4_sentences(doc.text, doc.language, &C4QualityConfig::for_language(doc.language)) as i64,
            line_punct_ratio: ratio(fw.punct_lines, fw.n_lines),
            short_line_ratio: ratio(fw.short_lines, fw.n_lines),
            dup_line_chars_ratio: ratio(fw.dup_line_chars, fw.chars_without_newlines),
            newline_word_ratio: ratio(fw.newlines, doc.words.len()),
            mtld: mtld(doc.words.iter().filter(|w| w.chars().any(|c| !is_datatrove_punctuation(c))).copied(), 0.72),
        }
    }

    /// The floats in [`SIGNAL_NAMES`] order (integers converted).
    pub fn values(&self) -> Vec<f64> {
        let mut v = vec![
            self.tokens as f64,
            self.non_symbol_words as f64,
            self.mean_word_length,
            self.stop_words as f64,
            self.alpha_word_ratio,
            self.hash_word_ratio,
            self.ellipsis_word_ratio,
            self.bullet_line_ratio,
            self.ellipsis_line_ratio,
            self.dup_para_frac,
            self.dup_para_char_frac,
            self.dup_line_frac,
            self.dup_line_char_frac,
        ];
        v.extend(self.top_ngram_char_frac);
        v.extend(self.dup_ngram_char_frac);
        v.extend([
            self.c4_sentences as f64,
            self.line_punct_ratio,
            self.short_line_ratio,
            self.dup_line_chars_ratio,
            self.newline_word_ratio,
            self.mtld,
        ]);
        v
    }
}

/// MTLD, the measure of textual lexical diversity (McCarthy & Jarvis 2010): the
/// mean length of word runs whose type-token ratio stays above `threshold`
/// (0.72), averaged over a forward and a backward pass; words are compared in
/// lower case. A text without words gives 0; one that never drops to the threshold
/// gives its word count.
///
/// ```
/// use assay_core::quality::signals::mtld;
/// assert_eq!(mtld("a a a a".split(' '), 0.72), 2.0);
/// assert_eq!(mtld(std::iter::empty(), 0.72), 0.0);
/// ```
pub fn mtld<'a>(words: impl Iterator<Item = &'a str>, threshold: f64) -> f64 {
    let lowered: Vec<String> = words.map(|w| w.to_lowercase()).collect();
    if lowered.is_empty() {
        return 0.0;
    }
    let pass = |order: &mut dyn Iterator<Item = &String>| -> f64 {
        let mut factors = 0.0;
        let mut types: HashSet<&str> = HashSet::new();
        let mut count = 0usize;
        let mut ttr = 1.0;
        for w in order {
            count += 1;
            types.insert(w.as_str());
            ttr = types.len() as f64 / count as f64;
            if ttr <= threshold {
                factors += 1.0;
                types.clear();
                count = 0;
                ttr = 1.0;
            }
        }
        if count > 0 {
            factors += (1.0 - ttr) / (1.0 - threshold);
        }
        if factors == 0.0 { lowered.len() as f64 } else { lowered.len() as f64 / factors }
    };
    (pass(&mut lowered.iter()) + pass(&mut lowered.iter().rev())) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::Language;

    #[test]
    fn mtld_values() {
        // all distinct: never reaches the threshold
        assert_eq!(mtld("a b c d".split(' '), 0.72), 4.0);
        // "a a": ttr 0.5 at the 2nd word -> one factor per 2 words
        assert_eq!(mtld("a a a a".split(' '), 0.72), 2.0);
    }

    #[test]
    fn signals_of_empty_text() {
        let s = QualitySignals::compute(&Document::new("", Language::English));
        assert_eq!(s.tokens, 0);
        assert!(s.alpha_word_ratio.is_nan());
        assert_eq!(s.mtld, 0.0);
        assert_eq!(s.values().len(), SIGNAL_NAMES.len());
    }
}
