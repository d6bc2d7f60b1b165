//! Gopher quality and repetition rules (Rae et al. 2021, table A1), with datatrove
//! 0.10's parameters, defaults, order of checks and reason strings.

use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap, FxHashSet};

use serde::{Deserialize, Serialize};

use super::chars::*;
use super::document::Document;
use super::tokenize::Language;

/// English stop words datatrove's Gopher quality filter requires (case-sensitive).
pub const EN_STOP_WORDS: &[&str] = &["the", "be", "to", "of", "and", "that", "have", "with"];

/// High-frequency Chinese function words, used for `language="zh"` (each is one
/// character, so they are found among the character tokens).
pub const ZH_STOP_WORDS: &[&str] = &["的", "了", "是", "在", "和", "有", "我", "不", "这", "也", "就", "都", "而", "及", "与"];

/// Parameters of `gopher_quality` (datatrove `GopherQualityFilter`). A `None` or
/// zero threshold disables its rule, as in datatrove.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GopherQualityConfig {
    pub min_doc_words: Option<f64>,
    pub max_doc_words: Option<f64>,
    pub min_avg_word_length: Option<f64>,
    pub max_avg_word_length: Option<f64>,
    pub max_symbol_word_ratio: Option<f64>,
    pub max_bullet_lines_ratio: Option<f64>,
    pub max_ellipsis_lines_ratio: Option<f64>,
    pub max_non_alpha_words_ratio: Option<f64>,
    pub min_stop_words: Option<f64>,
    pub stop_words: Option<Vec<String>>,
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        Self {
            min_doc_words: Some(50.0),
            max_doc_words: Some(100_000.0),
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            max_symbol_word_ratio: Some(0.1),
            max_bullet_lines_ratio: Some(0.9),
            max_ellipsis_lines_ratio: Some(0.3),
            max_non_alpha_words_ratio: Some(0.8),
            min_stop_words: Some(2.0),
            stop_words: None,
        }
    }
}

impl GopherQualityConfig {
    /// The defaults for a language. Chinese counts characters, so the mean word
    /// length rule is off (every CJK word has length 1) and the stop words are
    /// [`ZH_STOP_WORDS`]; the other thresholds keep their English values.
    pub fn for_language(language: Language) -> Self {
        match language {
            Language::English => Self::default(),
            Language::Chinese => Self { min_avg_word_length: None, max_avg_word_length: None, ..Self::default() },
        }
    }
}

/// `Some(x)` when the threshold is set and non-zero (datatrove tests truthiness).
#[inline]
fn on(v: Option<f64>) -> Option<f64> {
    v.filter(|x| *x != 0.0)
}

/// The Gopher quality signals of one document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GopherQualitySignals {
    pub n_words: usize,
    pub n_non_symbol_words: usize,
    pub avg_word_length: f64,
    pub hash_count: usize,
    pub ellipsis_count: usize,
    pub n_lines: usize,
    pub bullet_lines: usize,
    pub ellipsis_lines: usize,
    pub alpha_words: usize,
}

impl GopherQualitySignals {
    pub fn compute(doc: &Document) -> Self {
        let text = doc.text;
        let mut s = Self { n_words: doc.words.len(), ..Self::default() };
        let mut non_symbol_chars = 0usize;
        for w in &doc.words {
            let (len, has_non_punct, has_alpha) = if w.is_ascii() {
                let (mut non_punct, mut alpha) = (false, false);
                for &b in w.as_bytes() {
                    non_punct |= !is_datatrove_punctuation_ascii(b);
                    alpha |= b.is_ascii_alphabetic();
                }
                (w.len(), non_punct, alpha)
            } else {
                w.chars().fold((0, false, false), |(len, non_punct, alpha), c| {
                    (len + 1, non_punct | !is_datatrove_punctuation(c), alpha | is_py_alpha(c))
                })
            };
            if has_non_punct {
                s.n_non_symbol_words += 1;
                non_symbol_chars += len;
            }
            s.alpha_words += has_alpha as usize;
        }
        s.avg_word_length =
            if s.n_non_symbol_words == 0 { f64::NAN } else { non_symbol_chars as f64 / s.n_non_symbol_words as f64 };
        s.hash_count = text.bytes().filter(|&b| b == b'#').count();
        s.ellipsis_count = count_non_overlapping(text, "...") + count_non_overlapping(text, "…");
        for line in PyLines::new(text) {
            s.n_lines += 1;
            let start = line.trim_start_matches(is_py_space);
            s.bullet_lines += (start.starts_with('•') || start.starts_with('-')) as usize;
            let end = line.trim_end_matches(is_py_space);
            s.ellipsis_lines += (end.ends_with("...") || end.ends_with('…')) as usize;
        }
        s
    }
}

/// datatrove's `GopherQualityFilter.filter`: the reason a document is removed, or
/// `None` when it is kept.
pub fn gopher_quality(doc: &Document, config: &GopherQualityConfig) -> Option<&'static str> {
    let s = GopherQualitySignals::compute(doc);
    let stop_words: Vec<&str> = match &config.stop_words {
        Some(list) => list.iter().map(String::as_str).collect(),
        None if doc.language == Language::Chinese => ZH_STOP_WORDS.to_vec(),
        None => EN_STOP_WORDS.to_vec(),
    };
    decide_gopher_quality(&s, config, || count_stop_words(doc, &stop_words))
}

/// Distinct words of `stop_words` present in the document. The lists are short, so each
/// word is compared with them directly rather than hashed: words of up to 8 bytes as
/// one integer holding their bytes and length.
fn count_stop_words(doc: &Document, stop_words: &[&str]) -> usize {
    let mut distinct: Vec<&str> = stop_words.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let packed: Vec<Option<(u64, u8)>> = distinct.iter().map(|w| pack_short(w)).collect();
    let mut found = vec![false; distinct.len()];
    let mut remaining = distinct.len();
    for w in &doc.words {
        let hit = match pack_short(w) {
            Some(key) => packed.iter().position(|p| *p == Some(key)),
            None => distinct.iter().position(|sw| sw.len() == w.len() && sw == w),
        };
        if let Some(k) = hit {
            if !found[k] {
                found[k] = true;
                remaining -= 1;
                if remaining == 0 {
                    break;
                }
            }
        }
    }
    distinct.len() - remaining
}

/// The bytes of a word of at most 8 bytes in one integer, with its length.
#[inline]
fn pack_short(word: &str) -> Option<(u64, u8)> {
    let bytes = word.as_bytes();
    (bytes.len() <= 8).then(|| {
        let mut buf = [0u8; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        (u64::from_le_bytes(buf), bytes.len() as u8)
    })
}

/// Distinct stop words of the configured list present in the document.
pub fn stop_word_count(doc: &Document) -> usize {
    let list = if doc.language == Language::Chinese { ZH_STOP_WORDS } else { EN_STOP_WORDS };
    count_stop_words(doc, list)
}

fn decide_gopher_quality(
    s: &GopherQualitySignals,
    c: &GopherQualityConfig,
    stop_words: impl FnOnce() -> usize,
) -> Option<&'static str> {
    let n = s.n_non_symbol_words as f64;
    if on(c.min_doc_words).is_some_and(|t| n < t) {
        return Some("gopher_short_doc");
    }
    if on(c.max_doc_words).is_some_and(|t| n > t) {
        return Some("gopher_long_doc");
    }
    // NaN (no non-symbol word) compares false, as numpy's mean of nothing does.
    if on(c.min_avg_word_length).is_some_and(|t| s.avg_word_length < t) {
        return Some("gopher_below_avg_threshold");
    }
    if on(c.max_avg_word_length).is_some_and(|t| s.avg_word_length > t) {
        return Some("gopher_above_avg_threshold");
    }
    let n_words = s.n_words as f64;
    let ratio = |count: usize, total: f64| if total == 0.0 { if count == 0 { f64::NAN } else { f64::INFINITY } } else { count as f64 / total };
    if let Some(t) = on(c.max_symbol_word_ratio) {
        if ratio(s.hash_count, n_words) > t {
            return Some("gopher_too_many_hashes");
        }
        if ratio(s.ellipsis_count, n_words) > t {
            return Some("gopher_too_many_ellipsis");
        }
    }
    let n_lines = s.n_lines as f64;
    if on(c.max_bullet_lines_ratio).is_some_and(|t| ratio(s.bullet_lines, n_lines) > t) {
        return Some("gopher_too_many_bullets");
    }
    if on(c.max_ellipsis_lines_ratio).is_some_and(|t| ratio(s.ellipsis_lines, n_lines) > t) {
        return Some("gopher_too_many_end_ellipsis");
    }
    if on(c.max_non_alpha_words_ratio).is_some_and(|t| ratio(s.alpha_words, n_words) < t) {
        return Some("gopher_below_alpha_threshold");
    }
    if on(c.min_stop_words).is_some_and(|t| (stop_words() as f64) < t) {
        return Some("gopher_enough_stop_words");
    }
    None
}

// ------------------------------------------------------------------ repetition

/// Parameters of `gopher_repetition` (datatrove `GopherRepetitionFilter`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GopherRepetitionConfig {
    pub dup_line_frac: Option<f64>,
    pub dup_para_frac: Option<f64>,
    pub dup_line_char_frac: Option<f64>,
    pub dup_para_char_frac: Option<f64>,
    /// `(n, max fraction)` for the most frequent n-gram's characters.
    pub top_n_grams: Vec<(usize, f64)>,
    /// `(n, max fraction)` for the characters in duplicated n-grams.
    pub dup_n_grams: Vec<(usize, f64)>,
}

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        Self {
            dup_line_frac: Some(0.3),
            dup_para_frac: Some(0.3),
            dup_line_char_frac: Some(0.2),
            dup_para_char_frac: Some(0.2),
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)],
        }
    }
}

impl GopherRepetitionConfig {
    /// The defaults for a language. For Chinese the duplicated n-gram fractions are
    /// FineWeb-2's adapted range 0.198 (n=5) .. 0.127 (n=10), spaced evenly
    /// (n-grams are over characters); the other thresholds keep their values.
    pub fn for_language(language: Language) -> Self {
        match language {
            Language::English => Self::default(),
            Language::Chinese => Self {
                dup_n_grams: vec![(5, 0.198), (6, 0.184), (7, 0.170), (8, 0.155), (9, 0.141), (10, 0.127)],
                ..Self::default()
            },
        }
    }
}

/// `(duplicate elements, characters in duplicates)` of a sequence, as datatrove's
/// `find_duplicates` counts them (every repeat after the first occurrence).
pub fn find_duplicates<'a>(items: impl IntoIterator<Item = &'a str>) -> (usize, usize) {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let (mut elements, mut chars) = (0, 0);
    for item in items {
        if !seen.insert(item) {
            elements += 1;
            chars += char_len(item);
        }
    }
    (elements, chars)
}

/// Paragraphs as datatrove splits them: the stripped text cut at runs of 2+ `\n`.
pub fn paragraphs(text: &str) -> Vec<&str> {
    split_newline_runs(py_strip(text), 2)
}

/// Lines as the repetition filter splits them: cut at every run of `\n`, keeping
/// the empty first/last piece when the text starts/ends with `\n`.
pub fn repetition_lines(text: &str) -> Vec<&str> {
    split_newline_runs(text, 1)
}

fn split_newline_runs(text: &str, min_run: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let run_end = i + bytes[i..].iter().take_while(|&&b| b == b'\n').count();
            if run_end - i >= min_run {
                out.push(&text[start..i]);
                start = run_end;
            }
            i = run_end;
        } else {
            i += 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// Per-document token ids, character lengths and byte hashes, shared by the
/// n-gram rules (each distinct word is measured once).
pub struct TokenTable {
    pub ids: Vec<u32>,
    /// Per distinct word: (characters, polynomial hash of its bytes, BASE^bytes, bytes).
    distinct: Vec<(u32, u64, u64, u64)>,
}

const MERSENNE61: u64 = (1 << 61) - 1;
const BASE: u64 = 0x1F3D_5B79_A4C2_E681 % MERSENNE61;

/// `x mod 2^61 - 1` for `x < 2^122` (`2^61 = 1` there, so the high part adds to the low).
#[inline]
const fn reduce(x: u128) -> u64 {
    let s = ((x as u64) & MERSENNE61) + ((x >> 61) as u64);
    if s >= MERSENNE61 { s - MERSENNE61 } else { s }
}

#[inline]
const fn mulmod(a: u64, b: u64) -> u64 {
    reduce((a as u128) * (b as u128))
}

#[inline]
fn addmod(a: u64, b: u64) -> u64 {
    let s = a + b;
    if s >= MERSENNE61 { s - MERSENNE61 } else { s }
}

/// `BASE^k mod 2^61 - 1` for `k = 0..=SHORT_WORD`.
const SHORT_WORD: usize = 16;
static POWERS: [u64; SHORT_WORD + 1] = {
    let mut p = [1u64; SHORT_WORD + 1];
    let mut k = 1;
    while k <= SHORT_WORD {
        p[k] = mulmod(p[k - 1], BASE);
        k += 1;
    }
    p
};

/// (polynomial hash of the bytes, `BASE^len`): `sum (b_t + 1) BASE^(len-1-t) mod 2^61 - 1`.
/// Words of up to 16 bytes sum independent products in 128 bits and reduce once, instead
/// of a chain of one multiplication per byte; the value is the same.
#[inline]
fn word_hash(bytes: &[u8]) -> (u64, u64) {
    let len = bytes.len();
    if len <= SHORT_WORD {
        // the sum stays under 16 * 2^8 * 2^61 = 2^73
        let sum: u128 = bytes.iter().enumerate().map(|(t, &b)| (b as u128 + 1) * POWERS[len - 1 - t] as u128).sum();
        return (reduce(sum), POWERS[len]);
    }
    let (mut h, mut p) = (0u64, 1u64);
    for &b in bytes {
        h = addmod(mulmod(h, BASE), b as u64 + 1);
        p = mulmod(p, BASE);
    }
    (h, p)
}

impl TokenTable {
    pub fn new(words: &[&str]) -> Self {
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        index.reserve(words.len());
        let mut distinct = Vec::with_capacity(words.len());
        let ids = words
            .iter()
            .map(|w| match index.entry(w) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let (h, p) = word_hash(w.as_bytes());
                    distinct.push((char_len(w) as u32, h, p, w.len() as u64));
                    *e.insert(distinct.len() as u32 - 1)
                }
            })
            .collect();
        Self { ids, distinct }
    }

    #[inline]
    fn chars(&self, i: usize) -> usize {
        self.distinct[self.ids[i] as usize].0 as usize
    }

    /// (hash, BASE^bytes, bytes) of word `i`.
    #[inline]
    fn hash(&self, i: usize) -> (u64, u64, u64) {
        let d = self.distinct[self.ids[i] as usize];
        (d.1, d.2, d.3)
    }
}

/// Characters of the most frequent word n-gram times its count (datatrove's
/// `find_top_duplicate` over `" ".join` n-grams; ties go to the n-gram seen first).
/// `None` when the document has fewer than `n` words.
pub fn top_ngram_chars(table: &TokenTable, n: usize) -> Option<usize> {
    NgramScratch::default().top_ngram_chars(table, n)
}

/// Characters in repeated word n-grams, datatrove's `find_all_duplicate`: walk the
/// words; an n-gram (keyed by its words concatenated without separator) already
/// seen adds its characters and jumps `n` words ahead, else it is remembered.
pub fn duplicated_ngram_chars(table: &TokenTable, n: usize) -> usize {
    let mut scratch = NgramScratch::default();
    scratch.extend_keys(table, n);
    scratch.duplicated_chars(table, n)
}

/// Reusable buffers for the n-gram rules of one document: the concatenation key of
/// the window starting at every position is extended one word at a time, so the
/// rules for n = 5..=10 cost one step per position and n, not n steps.
#[derive(Default)]
pub struct NgramScratch {
    /// (polynomial hash, bytes) of the concatenated window of `key_len` words starting at
    /// each position: two windows with the same key have the same concatenation, up to a
    /// hash collision (probability ~ bytes / 2^61 per pair of equally long windows).
    keys: Vec<(u64, u64)>,
    key_len: usize,
    /// Per level: saturating counts of the keys per bucket of their hash.
    buckets: Vec<u8>,
    /// (hash, BASE^bytes, bytes) of each word of the document, in order.
    word_hashes: Vec<(u64, u64, u64)>,
    table: KeyTable,
}

impl NgramScratch {
    /// Forget the previous document's keys (the buffers stay allocated).
    pub fn next_document(&mut self) {
        self.keys.clear();
        self.key_len = 0;
    }

    /// Bring `keys` to windows of `n` words (restarting when `n` is smaller).
    pub fn extend_keys(&mut self, table: &TokenTable, n: usize) {
        let len = table.ids.len();
        if n < self.key_len || self.keys.len() != len {
            self.keys.clear();
            self.keys.resize(len, (0, 0));
            self.key_len = 0;
        }
        if self.key_len == 0 && n > 0 {
            // the words' own (hash, power, bytes) in document order, read once per level
            self.word_hashes.clear();
            self.word_hashes.extend((0..len).map(|i| table.hash(i)));
            for (key, &(wh, _, wbytes)) in self.keys.iter_mut().zip(&self.word_hashes) {
                *key = (wh, wbytes);
            }
            self.key_len = 1;
        }
        while self.key_len < n {
            let k = self.key_len;
            for (key, &(wh, wp, wbytes)) in self.keys.iter_mut().zip(self.word_hashes.get(k..).unwrap_or(&[])) {
                *key = (addmod(mulmod(key.0, wp), wh), key.1 + wbytes);
            }
            self.key_len += 1;
        }
    }

    /// [`duplicated_ngram_chars`] with keys already extended to `n`.
    pub fn duplicated_chars(&mut self, table: &TokenTable, n: usize) -> usize {
        let len = table.ids.len();
        if n == 0 || len < n {
            return 0;
        }
        debug_assert_eq!(self.key_len, n);
        let windows = len - n + 1;
        // Saturating counts of the keys per bucket of their hash: a window alone in its
        // bucket is new, and never looked up again, so it skips the table (a predictable
        // branch, where a table lookup is an unpredictable one).
        let bits = (windows * 4).next_power_of_two().max(64).trailing_zeros();
        let bucket = |key: (u64, u64)| ((key.0 ^ key.1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
        self.buckets.clear();
        self.buckets.resize(1 << bits, 0);
        for &key in &self.keys[..windows] {
            let b = &mut self.buckets[bucket(key)];
            *b = (*b).saturating_add(1);
        }
        self.table.reset(windows);
        let (mut repeated, mut idx) = (0usize, 0usize);
        while idx + n <= len {
            let key = self.keys[idx];
            if self.buckets[bucket(key)] < 2 || self.table.slot(key).1 {
                idx += 1;
            } else {
                repeated += (idx..idx + n).map(|j| table.chars(j)).sum::<usize>();
                idx += n;
            }
        }
        repeated
    }

    /// [`top_ngram_chars`] reusing the count table.
    pub fn top_ngram_chars(&mut self, table: &TokenTable, n: usize) -> Option<usize> {
        let len = table.ids.len();
        if n == 0 || len < n {
            return None;
        }
        let (count, first) = match packed_id_bits(table.distinct.len(), n) {
            Some(bits) => self.top_packed(&table.ids, n, bits),
            None => Self::top_by_slices(&table.ids, n),
        };
        let first = first as usize;
        let gram_chars: usize = (first..first + n).map(|j| table.chars(j)).sum::<usize>() + n - 1;
        Some(gram_chars * count as usize)
    }

    /// (count, first position) of the most frequent n-gram, ties to the first seen, with
    /// the n ids of each window packed exactly into one key of `bits` bits per id.
    fn top_packed(&mut self, ids: &[u32], n: usize, bits: u32) -> (u32, u32) {
        self.table.reset(ids.len() - n + 1);
        let mut best = (0u32, 0u32);
        let mask = if bits as usize * n == 64 { u64::MAX } else { (1u64 << (bits as usize * n)) - 1 };
        // the key of window i+1 is that of window i shifted by one id
        let mut key = ids[..n - 1].iter().fold(0u64, |k, &id| k << bits | id as u64);
        for i in 0..=ids.len() - n {
            key = (key << bits | ids[i + n - 1] as u64) & mask;
            let (slot, new) = self.table.slot((key, 0));
            if new {
                *slot = (1, i as u32);
            } else {
                slot.0 += 1;
            }
            let (count, first) = *slot;
            if count > best.0 || (count == best.0 && first < best.1) {
                best = (count, first);
            }
        }
        best
    }

    /// For documents with too many distinct words to pack `n` ids into 64 bits.
    fn top_by_slices(ids: &[u32], n: usize) -> (u32, u32) {
        let mut counts: FxHashMap<&[u32], (u32, u32)> = FxHashMap::default();
        counts.reserve(ids.len() - n + 1);
        for i in 0..=ids.len() - n {
            counts.entry(&ids[i..i + n]).and_modify(|e| e.0 += 1).or_insert((1, i as u32));
        }
        let best = counts.values().max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        *best.expect("at least one n-gram")
    }
}

/// Bits per id that pack `n` ids below `distinct` into 64 bits, if any.
fn packed_id_bits(distinct: usize, n: usize) -> Option<u32> {
    let bits = usize::BITS - distinct.max(1).leading_zeros();
    (bits as usize * n <= 64).then_some(bits)
}

/// An open-addressing table from 128-bit keys to a `(u32, u32)` value, for the n-gram
/// rules: sized for the positions of one document and emptied in O(1) by a generation
/// number, so a document costs no allocation or clearing after the first.
#[derive(Default)]
struct KeyTable {
    slots: Vec<KeySlot>,
    mask: usize,
    generation: u32,
}

#[derive(Clone, Copy, Default)]
struct KeySlot {
    key: (u64, u64),
    generation: u32,
    value: (u32, u32),
}

impl KeyTable {
    /// Empty the table, with room for `entries` keys at a load of at most one half.
    fn reset(&mut self, entries: usize) {
        let capacity = (entries * 2).next_power_of_two().max(16);
        if capacity > self.slots.len() || self.generation == u32::MAX {
            self.slots = vec![KeySlot::default(); capacity.max(self.slots.len())];
            self.generation = 0;
        }
        self.mask = capacity - 1;
        self.generation += 1;
    }

    /// The value of `key`, and whether it was just inserted (with value (0, 0)).
    #[inline]
    fn slot(&mut self, key: (u64, u64)) -> (&mut (u32, u32), bool) {
        let mixed = (key.0 ^ key.1.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut i = (mixed >> 32) as usize & self.mask;
        loop {
            let slot = &self.slots[i];
            if slot.generation != self.generation {
                self.slots[i] = KeySlot { key, generation: self.generation, value: (0, 0) };
                return (&mut self.slots[i].value, true);
            }
            if slot.key == key {
                return (&mut self.slots[i].value, false);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// Signals of the repetition filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepetitionSignals {
    pub text_chars: usize,
    pub n_paragraphs: usize,
    pub dup_paragraphs: usize,
    pub dup_paragraph_chars: usize,
    pub n_lines: usize,
    pub dup_lines: usize,
    pub dup_line_chars: usize,
}

impl RepetitionSignals {
    pub fn compute(text: &str) -> Self {
        let paras = paragraphs(text);
        let (dup_paragraphs, dup_paragraph_chars) = find_duplicates(paras.iter().copied());
        let lines = repetition_lines(text);
        let (dup_lines, dup_line_chars) = find_duplicates(lines.iter().copied());
        Self {
            text_chars: char_len(text),
            n_paragraphs: paras.len(),
            dup_paragraphs,
            dup_paragraph_chars,
            n_lines: lines.len(),
            dup_lines,
            dup_line_chars,
        }
    }
}

/// datatrove's `GopherRepetitionFilter.filter`: the removal reason or `None`.
pub fn gopher_repetition(doc: &Document, config: &GopherRepetitionConfig) -> Option<String> {
    let text = doc.text;
    if text.is_empty() {
        return Some("empty".into());
    }
    let s = RepetitionSignals::compute(text);
    let total = s.text_chars as f64;
    if on(config.dup_para_frac).is_some_and(|t| s.dup_paragraphs as f64 / s.n_paragraphs as f64 > t) {
        return Some("dup_para_frac".into());
    }
    if on(config.dup_para_char_frac).is_some_and(|t| s.dup_paragraph_chars as f64 / total > t) {
        return Some("dup_para_char_frac".into());
    }
    if on(config.dup_line_frac).is_some_and(|t| s.dup_lines as f64 / s.n_lines as f64 > t) {
        return Some("dup_line_frac".into());
    }
    if on(config.dup_line_char_frac).is_some_and(|t| s.dup_line_chars as f64 / total > t) {
        return Some("dup_line_char_frac".into());
    }
    let table = doc.token_table();
    NGRAM_SCRATCH.with_borrow_mut(|scratch| {
        scratch.next_document();
        let reason = ngram_rules(table, total, config, scratch);
        if table.ids.len() > KEPT_SCRATCH_WORDS {
            *scratch = NgramScratch::default(); // a long document's buffers are not kept
        }
        reason
    })
}

/// Documents of up to this many words leave their n-gram buffers (~100 bytes a word) to the
/// next document of the thread.
const KEPT_SCRATCH_WORDS: usize = 1 << 16;

thread_local! {
    /// The n-gram buffers of this thread, kept from one document to the next (a fresh
    /// table per document cost more than the rules on short texts).
    static NGRAM_SCRATCH: std::cell::RefCell<NgramScratch> = std::cell::RefCell::default();
}

fn ngram_rules(table: &TokenTable, total: f64, config: &GopherRepetitionConfig, scratch: &mut NgramScratch) -> Option<String> {
    for &(n, frac) in &config.top_n_grams {
        if let Some(chars) = scratch.top_ngram_chars(table, n) {
            if chars as f64 / total > frac {
                return Some(format!("top_{n}_gram"));
            }
        }
    }
    for &(n, frac) in &config.dup_n_grams {
        scratch.extend_keys(table, n);
        if scratch.duplicated_chars(table, n) as f64 / total > frac {
            return Some(format!("duplicated_{n}_n_grams"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document<'_> {
        Document::new(text, Language::English)
    }

    #[test]
    fn splits_like_python() {
        assert_eq!(repetition_lines("\na\n\nb\n"), vec!["", "a", "b", ""]);
        assert_eq!(paragraphs("  a\n\nb\n\n\nc \n"), vec!["a", "b", "c"]);
        assert_eq!(find_duplicates(["a", "bb", "a", "bb", "a"]), (3, 4));
    }

    #[test]
    fn ngram_counts() {
        let d = doc("a b a b a b c");
        let t = d.token_table();
        // top 2-gram "a b" x3, 3 chars each
        assert_eq!(top_ngram_chars(t, 2), Some(9));
        // 2-grams: ab(new) ba(new) ab(dup, +2, jump to 4) ab at 4 (dup +2, jump to 6) -> stop
        assert_eq!(duplicated_ngram_chars(t, 2), 4);
        assert_eq!(top_ngram_chars(t, 8), None);
    }

    #[test]
    fn duplicate_keys_are_concatenations() {
        // "ab"+"c" and "a"+"bc" are the same key in datatrove's find_all_duplicate
        let words = ["ab", "c", "a", "bc"];
        let t = TokenTable::new(&words);
        assert_eq!(duplicated_ngram_chars(&t, 2), 3);
    }

    #[test]
    fn top_ngram_tie_goes_to_first_seen() {
        let d = doc("xx y z z xx y");
        // "xx y" x2 (4 chars) vs others x1 -> 8
        assert_eq!(top_ngram_chars(d.token_table(), 2), Some(8));
        let d = doc("aaaa b c d c d aaaa b");
        // "aaaa b" (6 chars) and "c d" (3 chars) both x2; "aaaa b" first -> 12
        assert_eq!(top_ngram_chars(d.token_table(), 2), Some(12));
    }

    /// datatrove's `find_top_duplicate` and `find_all_duplicate` written out on strings.
    fn reference_rules(words: &[&str], n: usize) -> (Option<usize>, usize) {
        if words.len() < n {
            return (None, 0);
        }
        let grams: Vec<String> = words.windows(n).map(|w| w.join(" ")).collect();
        let mut counts: Vec<(String, usize)> = Vec::new();
        for g in &grams {
            match counts.iter_mut().find(|(k, _)| k == g) {
                Some((_, c)) => *c += 1,
                None => counts.push((g.clone(), 1)),
            }
        }
        // Counter.most_common(1): the highest count, first inserted among equals
        let (top, count) = counts.iter().fold(&counts[0], |best, e| if e.1 > best.1 { e } else { best });
        let mut seen = std::collections::HashSet::new();
        let (mut dup, mut idx) = (0, 0);
        while idx + n <= words.len() {
            let key: String = words[idx..idx + n].concat();
            if seen.insert(key) {
                idx += 1;
            } else {
                dup += words[idx..idx + n].iter().map(|w| w.chars().count()).sum::<usize>();
                idx += n;
            }
        }
        (Some(top.chars().count() * count), dup)
    }

    #[test]
    fn short_word_hash_equals_the_chain() {
        for len in 0..=40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8 | 0x80).collect();
            let (mut h, mut p) = (0u64, 1u64);
            for &b in &bytes {
                h = addmod(mulmod(h, BASE), b as u64 + 1);
                p = mulmod(p, BASE);
            }
            assert_eq!(word_hash(&bytes), (h, p), "{len} bytes");
        }
    }

    #[test]
    fn ngram_rules_equal_the_reference() {
        // small vocabularies (with words that concatenate alike) so that n-grams repeat
        let vocab = ["a", "b", "ab", "c", "bc", "the", "é", "of"];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut shared = NgramScratch::default();
        for case in 0..3000 {
            let (len, distinct) = ((case / 2) % 60, 1 + case % vocab.len());
            let words: Vec<&str> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    vocab[(state % distinct as u64) as usize]
                })
                .collect();
            let table = TokenTable::new(&words);
            // one scratch through the rules in the filter's order, and fresh ones
            let mut scratch = NgramScratch::default();
            for n in 1..=10 {
                let (top, dup) = reference_rules(&words, n);
                assert_eq!(scratch.top_ngram_chars(&table, n), top, "top {n} of {words:?}");
                assert_eq!(top_ngram_chars(&table, n), top, "top {n} of {words:?}");
                assert_eq!(duplicated_ngram_chars(&table, n), dup, "dup {n} of {words:?}");
            }
            // and the thread's scratch, kept from the document before (of the same length, often)
            shared.next_document();
            for n in 2..=10 {
                let (top, dup) = reference_rules(&words, n);
                assert_eq!(shared.top_ngram_chars(&table, n), top, "top {n} of {words:?}");
                shared.extend_keys(&table, n);
                assert_eq!(shared.duplicated_chars(&table, n), dup, "dup {n} of {words:?}");
            }
        }
    }

    #[test]
    fn quality_rules() {
        let c = GopherQualityConfig::default();
        assert_eq!(gopher_quality(&doc(""), &c), Some("gopher_short_doc"));
        let ok = "the cat sat with the dog and ran to the park of joy. ".repeat(5);
        assert_eq!(gopher_quality(&doc(&ok), &c), None);
        let hashes = format!("{ok} {}", "#".repeat(8));
        assert_eq!(gopher_quality(&doc(&hashes), &c), Some("gopher_too_many_hashes"));
        let no_stop = "cat sat dog ran park joy. ".repeat(10);
        assert_eq!(gopher_quality(&doc(&no_stop), &c), Some("gopher_enough_stop_words"));
    }

    #[test]
    fn repetition_rules() {
        let c = GopherRepetitionConfig::default();
        assert_eq!(gopher_repetition(&doc(""), &c).as_deref(), Some("empty"));
        assert_eq!(gopher_repetition(&doc("a\n\na\n\nb"), &c).as_deref(), Some("dup_para_frac"));
        let ok: String = (0..200).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        assert_eq!(gopher_repetition(&doc(&ok), &c), None);
        // short texts fail the top n-gram rule easily (datatrove agrees)
        let short = "one two three four five six seven eight nine ten eleven twelve";
        assert_eq!(gopher_repetition(&doc(short), &c).as_deref(), Some("top_3_gram"));
    }
}
