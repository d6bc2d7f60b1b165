//! C4 quality rules (Raffel et al. 2020), with datatrove 0.10's `C4QualityFilter`
//! parameters, defaults and reason strings.
//!
//! datatrove also *rewrites* a kept document: it drops the lines that fail the
//! line rules and joins the rest. assay only decides: a kept row keeps its text
//! unchanged. [`c4_kept_lines`] gives the lines datatrove would keep, for callers
//! that want the rewritten text.

use serde::{Deserialize, Serialize};

use super::chars::*;
use super::tokenize::{count_sentences_in, tokenize_en, tokenize_zh, Language};

/// Parameters of `c4_quality`. `-1` disables the integer rules, as in datatrove.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct C4QualityConfig {
    /// Cut the text into lines (true, as C4) or sentences (false).
    pub split_paragraph: bool,
    pub remove_citations: bool,
    pub filter_no_terminal_punct: bool,
    pub min_num_sentences: i64,
    pub min_words_per_line: i64,
    pub max_word_length: i64,
    pub filter_lorem_ipsum: bool,
    pub filter_javascript: bool,
    pub filter_curly_bracket: bool,
    pub filter_policy: bool,
}

impl Default for C4QualityConfig {
    fn default() -> Self {
        Self {
            split_paragraph: true,
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: 5,
            min_words_per_line: 3,
            max_word_length: 1000,
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
        }
    }
}

impl C4QualityConfig {
    /// The defaults for a language. Chinese lines are not space-separated, so a
    /// line's "words" are its [`tokenize_zh`] tokens for `min_words_per_line` and
    /// `max_word_length`; the terminal punctuation also accepts `。！？…；` and
    /// closing CJK quotes. The thresholds keep their values.
    pub fn for_language(_language: Language) -> Self {
        Self::default()
    }
}

const POLICY_SUBSTRINGS: &[&str] =
    &["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"];

/// The lower-case substrings the rules look for, as searchers built once.
struct Needles {
    lorem_ipsum: memchr::memmem::Finder<'static>,
    javascript: memchr::memmem::Finder<'static>,
    policy: Vec<memchr::memmem::Finder<'static>>,
}

static NEEDLES: std::sync::LazyLock<Needles> = std::sync::LazyLock::new(|| Needles {
    lorem_ipsum: memchr::memmem::Finder::new("lorem ipsum"),
    javascript: memchr::memmem::Finder::new("javascript"),
    policy: POLICY_SUBSTRINGS.iter().map(memchr::memmem::Finder::new).collect(),
});

/// Remove Wikipedia-style citations: `[digits]`, `[edit]`, `[citation needed]`.
pub fn remove_citations(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('[') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = rest.find('[') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let digits: usize = after.chars().take_while(|c| c.is_numeric() && is_unicode_decimal(*c)).map(char::len_utf8).sum();
        let skip = if after[digits..].starts_with(']') {
            Some(digits + 1)
        } else if after.starts_with("edit]") {
            Some(5)
        } else if after.starts_with("citation needed]") {
            Some(16)
        } else {
            None
        };
        match skip {
            Some(n) => rest = &after[n..],
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.into()
}

#[inline]
fn is_unicode_decimal(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory};
    c.is_ascii_digit() || get_general_category(c) == GeneralCategory::DecimalNumber
}

fn ends_with_terminal(line: &str, language: Language) -> bool {
    if line.ends_with("...") {
        return false;
    }
    match line.chars().next_back() {
        Some('.' | '?' | '!' | '"' | '\'') => true,
        Some(c) if language == Language::Chinese => {
            matches!(c, '。' | '！' | '？' | '…' | '；' | '”' | '’' | '」' | '』' | '）' | '》')
        }
        _ => false,
    }
}

/// The decision and the kept lines of datatrove's C4 filter.
pub struct C4Outcome<'a> {
    pub reason: Option<&'static str>,
    pub kept_lines: Vec<std::borrow::Cow<'a, str>>,
    pub sentences: usize,
}

/// What [`run_c4`] is asked for: the decision only (sentences are counted only up to the
/// minimum), the sentence count, or the kept lines too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum C4Output {
    Decision,
    Sentences,
    KeptLines,
}

fn run_c4<'a>(text: &'a str, language: Language, c: &C4QualityConfig, output: C4Output) -> C4Outcome<'a> {
    let mut kept_lines = Vec::new();
    let mut sentences = 0usize;
    let mut tokens: Vec<&str> = Vec::new();
    let mut lower = String::new();
    let needles = &*NEEDLES;
    let pieces: Vec<&str> = if c.split_paragraph { py_splitlines(text) } else { sentence_pieces(text) };
    for raw in pieces {
        let line = py_strip(raw);
        let (n_words, too_long) = match language {
            Language::English => {
                let mut n = 0i64;
                let mut too_long = false;
                for w in line.split(is_py_space).filter(|w| !w.is_empty()) {
                    n += 1;
                    too_long |= c.max_word_length != -1 && char_len(w) as i64 > c.max_word_length;
                }
                (n, too_long)
            }
            Language::Chinese => {
                tokens.clear();
                tokenize_zh(line, &mut tokens);
                let too_long = c.max_word_length != -1 && tokens.iter().any(|w| char_len(w) as i64 > c.max_word_length);
                (tokens.len() as i64, too_long)
            }
        };
        if too_long {
            continue;
        }
        let line = if c.remove_citations { remove_citations(line) } else { line.into() };
        if c.filter_no_terminal_punct && !ends_with_terminal(&line, language) {
            continue;
        }
        if n_words < c.min_words_per_line {
            continue;
        }
        lower.clear();
        if line.is_ascii() {
            lower.push_str(&line);
            lower.make_ascii_lowercase();
        } else {
            // full Unicode lowercasing: some non-ASCII letters lower to ASCII (the Kelvin sign to `k`)
            lower.push_str(&line.to_lowercase());
        }
        let lower_bytes = lower.as_bytes();
        if c.filter_lorem_ipsum && needles.lorem_ipsum.find(lower_bytes).is_some() {
            return C4Outcome { reason: Some("lorem_ipsum"), kept_lines, sentences };
        }
        if c.filter_javascript && needles.javascript.find(lower_bytes).is_some() {
            continue;
        }
        if c.filter_curly_bracket && line.contains('{') {
            return C4Outcome { reason: Some("curly_bracket"), kept_lines, sentences };
        }
        if c.filter_policy && needles.policy.iter().any(|p| p.find(lower_bytes).is_some()) {
            continue;
        }
        // a decision only needs to know that the minimum is reached
        let counted_enough = output == C4Output::Decision && sentences as i64 >= c.min_num_sentences;
        if c.min_num_sentences != -1 && !counted_enough {
            sentences += if c.split_paragraph {
                let mut line_tokens = Vec::with_capacity(n_words as usize * 2);
                match language {
                    Language::English => tokenize_en(&line, &mut line_tokens),
                    Language::Chinese => tokenize_zh(&line, &mut line_tokens),
                }
                count_sentences_in(&line_tokens)
            } else {
                1
            };
        }
        if output == C4Output::KeptLines {
            kept_lines.push(line);
        }
    }
    let reason = ((sentences as i64) < c.min_num_sentences).then_some("too_few_sentences");
    C4Outcome { reason, kept_lines, sentences }
}

/// Sentence pieces for `split_paragraph=false` (sentencizer boundaries over the text).
fn sentence_pieces(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    tokenize_en(text, &mut tokens);
    let mut pieces = Vec::new();
    let mut start = 0usize;
    let mut seen_end = false;
    for t in &tokens {
        let offset = t.as_ptr() as usize - text.as_ptr() as usize;
        let mut it = t.chars();
        let is_end = matches!((it.next(), it.next()), (Some(c), None) if is_sentence_end_char(c));
        if seen_end && !is_end && !t.chars().all(is_unicode_punct) {
            pieces.push(&text[start..offset]);
            start = offset;
            seen_end = false;
        } else if is_end {
            seen_end = true;
        }
    }
    pieces.push(&text[start..]);
    pieces
}

/// datatrove's `C4QualityFilter.filter` decision: the removal reason or `None`.
///
/// ```
/// use assay_core::quality::c4::{c4_quality, C4QualityConfig};
/// use assay_core::quality::Language;
/// let c = C4QualityConfig::default();
/// assert_eq!(c4_quality("Too short.", Language::English, &c), Some("too_few_sentences"));
/// ```
pub fn c4_quality(text: &str, language: Language, config: &C4QualityConfig) -> Option<&'static str> {
    run_c4(text, language, config, C4Output::Decision).reason
}

/// Sentences counted in the lines the C4 rules keep (the `too_few_sentences` signal).
pub fn c4_sentences(text: &str, language: Language, config: &C4QualityConfig) -> usize {
    run_c4(text, language, config, C4Output::Sentences).sentences
}

/// The lines datatrove's C4 filter keeps (what it would write back as the text).
pub fn c4_kept_lines<'a>(text: &'a str, language: Language, config: &C4QualityConfig) -> Vec<std::borrow::Cow<'a, str>> {
    run_c4(text, language, config, C4Output::KeptLines).kept_lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: Language = Language::English;

    #[test]
    fn citations() {
        assert_eq!(remove_citations("a[1] b[edit] c[citation needed] d[x] e[]"), "a b c d[x] e");
    }

    #[test]
    fn rules() {
        let c = C4QualityConfig::default();
        let good = "This is one sentence here. This is two here.\n".repeat(3);
        assert_eq!(c4_quality(&good, EN, &c), None);
        assert_eq!(c4_sentences(&good, EN, &c), 6);
        assert_eq!(c4_quality(&format!("{good}Lorem ipsum dolor sit.\n"), EN, &c), Some("lorem_ipsum"));
        assert_eq!(c4_quality(&format!("Use {{ braces }} ok.\n{good}"), EN, &c), Some("curly_bracket"));
        // a curly bracket on a line that fails the line rules is never seen
        assert_eq!(c4_quality(&format!("{{ no end\n{good}"), EN, &c), None);
        // javascript and policy lines are dropped, not fatal
        let js = "Enable JavaScript to view it.\n".repeat(10);
        assert_eq!(c4_quality(&js, EN, &c), Some("too_few_sentences"));
        // lines ending with an ellipsis are dropped
        assert_eq!(c4_sentences("Wait for it one...\n", EN, &c), 0);
        // a citation after the final period leaves a trailing space: dropped
        assert_eq!(c4_sentences("A b c.[1]\nA b c. [1]\n", EN, &c), 1);
        // too few words
        assert_eq!(c4_sentences("Two words.\n", EN, &c), 0);
    }

    #[test]
    fn kept_lines() {
        let c = C4QualityConfig::default();
        let kept = c4_kept_lines("menu\nA real line here.\nuse cookies on this site.", EN, &c);
        assert_eq!(kept, vec!["A real line here."]);
    }
}
