//! The index of evaluation items' n-grams, and the checks made against it.
//!
//! An item's n-grams are those of each of its fields (an n-gram never spans two fields),
//! counted once each. A training text's [`Hit`] says how many distinct n-grams of it are in
//! the index and which single item it covers most: the largest fraction of one item's
//! distinct n-grams found in the text (ties go to the item added first), so a copied
//! question scores 1.0 and a text sharing one stock phrase with a long item scores little.
//!
//! Memory: a hash table of one 16-byte entry (the n-gram's hash, and the item holding it or
//! where its list of items starts) per distinct n-gram, at a load of 7/8 or less, plus 4
//! bytes per extra item of an n-gram held by several; [`ContaminationIndex::memory_bytes`]
//! gives the figure of one index.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int32Builder, LargeStringBuilder, StringBuilder};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_64;

use super::ngrams::{NgramConfig, NgramScratch};
use crate::error::{AssayError, Result};
use crate::minhash::shingle::Unit;
use crate::strings::StringColumn;

/// The value of an n-gram held by one item: the item number with this bit set; otherwise
/// `start << 32 | count` into `postings`.
const SINGLE: u64 = 1 << 63;

const MAGIC: &[u8; 8] = b"ASSAYCI\0";
const VERSION: u32 = 1;

/// What one text shares with the index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Distinct n-grams of the text found in the index (from any item).
    pub ngrams: u32,
    /// The largest fraction of one item's distinct n-grams found in the text (0 when none).
    pub fraction: f64,
    /// That item's number (None when nothing matched).
    pub item: Option<u32>,
}

/// Buffers one thread reuses across checks.
#[derive(Default)]
pub struct CheckScratch {
    ngrams: NgramScratch,
    matched: Vec<u64>,
    counts: FxHashMap<u32, u32>,
}

/// The n-grams of a set of evaluation items.
///
/// ```
/// use assay_core::contam::{ContaminationIndex, NgramConfig};
/// use assay_core::contam::index::CheckScratch;
/// let config = NgramConfig { ngram: 3, ..NgramConfig::default() };
/// let items = vec![vec!["What is the capital of France?".to_string()]];
/// let index = ContaminationIndex::build(vec!["q1".into()], &items, config).unwrap();
/// let hit = index.check("Quiz: what is the capital of France? Paris.", &mut CheckScratch::default());
/// assert_eq!((hit.ngrams, hit.fraction, hit.item), (4, 1.0, Some(0)));
/// ```
#[derive(Debug, Clone)]
pub struct ContaminationIndex {
    config: NgramConfig,
    ids: Vec<String>,
    /// Distinct n-grams of each item.
    sizes: Vec<u32>,
    table: FxHashMap<u64, u64>,
    postings: Vec<u32>,
}

impl ContaminationIndex {
    /// The index of `items` (each a list of field texts), named by `ids`, in parallel.
    pub fn build(ids: Vec<String>, items: &[Vec<String>], config: NgramConfig) -> Result<Self> {
        if ids.len() != items.len() {
            return Err(AssayError::InvalidArgument(format!("{} ids for {} items", ids.len(), items.len())));
        }
        let config = NgramConfig::new(config.ngram, config.unit)?;
        let per_item: Vec<Vec<u64>> = items
            .par_iter()
            .map_init(NgramScratch::default, |scratch, fields| {
                let mut hashes = Vec::new();
                for field in fields {
                    hashes.extend_from_slice(scratch.ngrams(field, config));
                }
                hashes.sort_unstable();
                hashes.dedup();
                hashes
            })
            .collect();
        Self::from_item_ngrams(ids, &per_item, config)
    }

    fn from_item_ngrams(ids: Vec<String>, per_item: &[Vec<u64>], config: NgramConfig) -> Result<Self> {
        if u32::try_from(ids.len()).is_err() {
            return Err(AssayError::InvalidArgument("an index holds at most 2^32 - 1 items".into()));
        }
        let sizes: Vec<u32> = per_item.iter().map(|h| h.len() as u32).collect();
        let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(per_item.iter().map(Vec::len).sum());
        for (item, hashes) in per_item.iter().enumerate() {
            pairs.extend(hashes.iter().map(|&h| (h, item as u32)));
        }
        pairs.par_sort_unstable();
        Ok(Self::from_sorted_pairs(ids, sizes, &pairs, config))
    }

    fn from_sorted_pairs(ids: Vec<String>, sizes: Vec<u32>, pairs: &[(u64, u32)], config: NgramConfig) -> Self {
        let distinct = pairs.chunk_by(|a, b| a.0 == b.0).count();
        let mut table = FxHashMap::with_capacity_and_hasher(distinct, Default::default());
        let mut postings = Vec::new();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            let value = if group.len() == 1 {
                SINGLE | group[0].1 as u64
            } else {
                let start = postings.len() as u64;
                postings.extend(group.iter().map(|p| p.1));
                start << 32 | group.len() as u64
            };
            table.insert(group[0].0, value);
        }
        Self { config, ids, sizes, table, postings }
    }

    /// How texts are cut into n-grams.
    pub fn config(&self) -> NgramConfig {
        self.config
    }

    /// The items' ids, in the order they were added.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Distinct n-grams of each item (0 for an item shorter than one n-gram).
    pub fn item_sizes(&self) -> &[u32] {
        &self.sizes
    }

    /// Distinct n-grams in the index.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Bytes the index holds: the hash table's buckets (16-byte entries and one control byte
    /// each), the shared item lists, the ids and sizes.
    pub fn memory_bytes(&self) -> usize {
        let buckets = if self.table.capacity() == 0 { 0 } else { (self.table.capacity() * 8 / 7).next_power_of_two() };
        buckets * 17 + self.postings.capacity() * 4 + self.sizes.capacity() * 4
            + self.ids.iter().map(|id| id.capacity() + std::mem::size_of::<String>()).sum::<usize>()
    }

    /// The items of an n-gram held by several (`value` without [`SINGLE`]).
    fn items_of(&self, value: u64) -> &[u32] {
        debug_assert!(value & SINGLE == 0);
        let start = (value >> 32) as usize;
        &self.postings[start..start + (value & 0xFFFF_FFFF) as usize]
    }

    /// What `text` shares with the index.
    pub fn check(&self, text: &str, scratch: &mut CheckScratch) -> Hit {
        let hashes = scratch.ngrams.ngrams(text, self.config);
        scratch.matched.clear();
        scratch.matched.extend(hashes.iter().filter(|h| self.table.contains_key(h)));
        if scratch.matched.is_empty() {
            return Hit { ngrams: 0, fraction: 0.0, item: None };
        }
        scratch.matched.sort_unstable();
        scratch.matched.dedup();
        scratch.counts.clear();
        for hash in &scratch.matched {
            let value = self.table[hash];
            if value & SINGLE != 0 {
                *scratch.counts.entry((value & !SINGLE) as u32).or_default() += 1;
            } else {
                for &item in self.items_of(value) {
                    *scratch.counts.entry(item).or_default() += 1;
                }
            }
        }
        let mut best: Option<(f64, u32)> = None;
        for (&item, &count) in &scratch.counts {
            let fraction = count as f64 / self.sizes[item as usize] as f64;
            if best.is_none_or(|(f, i)| fraction > f || (fraction == f && item < i)) {
                best = Some((fraction, item));
            }
        }
        let (fraction, item) = best.expect("a matched n-gram belongs to an item");
        Hit { ngrams: scratch.matched.len() as u32, fraction, item: Some(item) }
    }

    /// The byte ranges of `text` to cut: every matched n-gram's tokens, widened by `margin`
    /// tokens on each side, merged, from the first character of a token to the last of one.
    pub fn matched_spans(&self, text: &str, margin: usize, scratch: &mut CheckScratch) -> Vec<(usize, usize)> {
        if !scratch.ngrams.ngrams(text, self.config).iter().any(|h| self.table.contains_key(h)) {
            return Vec::new();
        }
        let n = self.config.ngram;
        scratch.ngrams.ngrams_with_sources(text, self.config);
        let (hashes, sources) = (&scratch.ngrams.hashes, &scratch.ngrams.sources);
        let tokens = sources.len();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (i, hash) in hashes.iter().enumerate() {
            if !self.table.contains_key(hash) {
                continue;
            }
            let (start, end) = (i.saturating_sub(margin), (i + n + margin).min(tokens));
            match runs.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => runs.push((start, end)),
            }
        }
        runs.into_iter().map(|(a, b)| (sources[a].0 as usize, sources[b - 1].1 as usize)).collect()
    }

    /// The index as bytes (see [`Self::from_bytes`]): the same on every platform.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.table.len() * 12 + self.ids.iter().map(|i| i.len() + 8).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.config.ngram as u32).to_le_bytes());
        out.push(match self.config.unit {
            Unit::Word => 1,
            _ => 0,
        });
        out.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        for (id, size) in self.ids.iter().zip(&self.sizes) {
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        let mut pairs: Vec<(u64, u32)> = Vec::with_capacity(self.table.len());
        for (&hash, &value) in &self.table {
            if value & SINGLE != 0 {
                pairs.push((hash, (value & !SINGLE) as u32));
            } else {
                pairs.extend(self.items_of(value).iter().map(|&item| (hash, item)));
            }
        }
        pairs.sort_unstable();
        out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
        for (hash, item) in pairs {
            out.extend_from_slice(&hash.to_le_bytes());
            out.extend_from_slice(&item.to_le_bytes());
        }
        let checksum = xxh3_64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// The index [`Self::to_bytes`] wrote; damaged or foreign bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| AssayError::InvalidArgument(format!("not a contamination index ({why})"));
        if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("no ASSAYCI header"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        if xxh3_64(body).to_le_bytes() != tail {
            return Err(bad("checksum mismatch: the file is damaged or truncated"));
        }
        let mut reader = Reader { bytes: body, at: MAGIC.len() };
        let version = reader.u32().ok_or_else(|| bad("truncated"))?;
        if version != VERSION {
            return Err(bad(&format!("format version {version}, this assay reads {VERSION}")));
        }
        let ngram = reader.u32().ok_or_else(|| bad("truncated"))? as usize;
        let unit = match reader.take(1).ok_or_else(|| bad("truncated"))?[0] {
            0 => Unit::Auto,
            1 => Unit::Word,
            other => return Err(bad(&format!("unknown unit {other}"))),
        };
        let config = NgramConfig::new(ngram, unit)?;
        let count = reader.u32().ok_or_else(|| bad("truncated"))? as usize;
        let mut ids = Vec::with_capacity(count.min(body.len() / 8));
        let mut sizes = Vec::with_capacity(count.min(body.len() / 8));
        for _ in 0..count {
            sizes.push(reader.u32().ok_or_else(|| bad("truncated"))?);
            let len = reader.u32().ok_or_else(|| bad("truncated"))? as usize;
            let id = reader.take(len).ok_or_else(|| bad("truncated"))?;
            ids.push(String::from_utf8(id.to_vec()).map_err(|_| bad("an id is not UTF-8"))?);
        }
        let pairs_count = reader.u64().ok_or_else(|| bad("truncated"))? as usize;
        if reader.bytes.len() - reader.at != pairs_count.saturating_mul(12) {
            return Err(bad("wrong length"));
        }
        let mut pairs = Vec::with_capacity(pairs_count);
        for _ in 0..pairs_count {
            let hash = reader.u64().expect("length checked");
            let item = reader.u32().expect("length checked");
            if item as usize >= ids.len() {
                return Err(bad("an n-gram names an item that is not there"));
            }
            pairs.push((hash, item));
        }
        if pairs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("n-grams out of order"));
        }
        Ok(Self::from_sorted_pairs(ids, sizes, &pairs, config))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Check a whole column, in parallel: `contam_ngrams` (distinct n-grams found),
/// `contam_fraction` (largest fraction of one item's n-grams found) and `contam_eval_id`
/// (that item; null when none). A null text has none.
pub fn contamination_array(index: &ContaminationIndex, texts: &dyn Array) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "contamination")?;
    let hits: Vec<Hit> = (0..column.len())
        .into_par_iter()
        .with_min_len(64)
        .map_init(CheckScratch::default, |scratch, i| match column.get(i) {
            Some(text) => index.check(text, scratch),
            None => Hit { ngrams: 0, fraction: 0.0, item: None },
        })
        .collect();
    let mut ngrams = Int32Builder::with_capacity(hits.len());
    let mut fraction = Float64Builder::with_capacity(hits.len());
    let mut eval_id = StringBuilder::new();
    for hit in hits {
        ngrams.append_value(hit.ngrams as i32);
        fraction.append_value(hit.fraction);
        eval_id.append_option(hit.item.map(|i| index.ids[i as usize].as_str()));
    }
    let schema = Schema::new(vec![
        Field::new("contam_ngrams", DataType::Int32, false),
        Field::new("contam_fraction", DataType::Float64, false),
        Field::new("contam_eval_id", DataType::Utf8, true),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(ngrams.finish()), Arc::new(fraction.finish()), Arc::new(eval_id.finish())],
    )?)
}

/// `text` without `spans` (byte ranges, in order, not overlapping): each cut becomes one
/// space, or nothing at the text's start or end or next to white space; the characters cut.
pub fn cut_spans(text: &str, spans: &[(usize, usize)]) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut cut = 0;
    for &(start, end) in spans {
        out.push_str(&text[at..start]);
        cut += text[start..end].chars().count();
        let before = out.chars().next_back();
        let after = text[end..].chars().next();
        if before.is_some_and(|c| !c.is_whitespace()) && after.is_some_and(|c| !c.is_whitespace()) {
            out.push(' ');
        }
        at = end;
    }
    out.push_str(&text[at..]);
    (out, cut)
}

/// Cut the matched n-grams out of a whole column, in parallel (see
/// [`ContaminationIndex::matched_spans`] and [`cut_spans`]): `text` (null stays null) and
/// `contam_cut`, the fraction of each text's characters cut (0 when nothing matched).
pub fn redact_array(index: &ContaminationIndex, texts: &dyn Array, margin: usize) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "contamination")?;
    let done: Vec<Option<(Option<String>, f64)>> = (0..column.len())
        .into_par_iter()
        .with_min_len(64)
        .map_init(CheckScratch::default, |scratch, i| {
            column.get(i).map(|text| {
                let spans = index.matched_spans(text, margin, scratch);
                if spans.is_empty() {
                    return (None, 0.0);
                }
                let (redacted, cut) = cut_spans(text, &spans);
                (Some(redacted), cut as f64 / text.chars().count().max(1) as f64)
            })
        })
        .collect();
    let mut text = LargeStringBuilder::new();
    let mut cut = Float64Builder::with_capacity(done.len());
    for (i, row) in done.into_iter().enumerate() {
        match row {
            None => {
                text.append_null();
                cut.append_value(0.0);
            }
            Some((redacted, fraction)) => {
                text.append_value(redacted.as_deref().unwrap_or_else(|| column.get(i).unwrap_or("")));
                cut.append_value(fraction);
            }
        }
    }
    let schema = Schema::new(vec![
        Field::new("text", DataType::LargeUtf8, true),
        Field::new("contam_cut", DataType::Float64, false),
    ]);
    Ok(RecordBatch::try_new(Arc::new(schema), vec![Arc::new(text.finish()), Arc::new(cut.finish())])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(items: &[&str], ngram: usize) -> ContaminationIndex {
        let ids = (0..items.len()).map(|i| format!("e{i}")).collect();
        let items: Vec<Vec<String>> = items.iter().map(|t| vec![t.to_string()]).collect();
        ContaminationIndex::build(ids, &items, NgramConfig { ngram, unit: Unit::Auto }).unwrap()
    }

    #[test]
    fn fraction_is_of_the_best_item() {
        let idx = index(&["a b c d e f", "c d e x y z w"], 3);
        let hit = idx.check("zz a b c d e qq", &mut CheckScratch::default());
        // a b c, b c d, c d e of item 0 (4 n-grams) and c d e of item 1 (5 n-grams)
        assert_eq!(hit.ngrams, 3);
        assert_eq!(hit.item, Some(0));
        assert!((hit.fraction - 0.75).abs() < 1e-12);
        assert_eq!(idx.check("nothing in common here at all", &mut CheckScratch::default()).item, None);
    }

    #[test]
    fn chinese_is_checked_by_characters() {
        let idx = index(&["下列函数中，既是偶函数又在区间上单调递增的是"], 8);
        let hit = idx.check("练习：下列函数中既是偶函数又在区间上单调递增的是哪个？", &mut CheckScratch::default());
        assert_eq!(hit.fraction, 1.0);
    }

    #[test]
    fn spans_cover_the_copied_text() {
        let idx = index(&["the quick brown fox jumps over the lazy dog"], 4);
        let text = "Intro words. The quick brown fox jumps over the lazy dog! Outro here.";
        let spans = idx.matched_spans(text, 0, &mut CheckScratch::default());
        assert_eq!(spans.iter().map(|&(a, b)| &text[a..b]).collect::<Vec<_>>(), ["The quick brown fox jumps over the lazy dog"]);
        let (cut, chars) = cut_spans(text, &spans);
        assert_eq!(cut, "Intro words. ! Outro here.");
        assert_eq!(chars, 43);
        let wide = idx.matched_spans(text, 1, &mut CheckScratch::default());
        assert_eq!(&text[wide[0].0..wide[0].1], "words. The quick brown fox jumps over the lazy dog! Outro");
    }

    #[test]
    fn bytes_round_trip_and_damage_is_caught() {
        let idx = index(&["one two three four", "two three four five", "short"], 2);
        let bytes = idx.to_bytes();
        let back = ContaminationIndex::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.item_sizes(), [3, 3, 0]);
        let mut scratch = CheckScratch::default();
        assert_eq!(back.check("two three four", &mut scratch), idx.check("two three four", &mut scratch));
        let mut damaged = bytes.clone();
        damaged[20] ^= 1;
        assert!(ContaminationIndex::from_bytes(&damaged).is_err());
        assert!(ContaminationIndex::from_bytes(&bytes[..bytes.len() - 3]).is_err());
        assert!(ContaminationIndex::from_bytes(b"PAR1....").is_err());
    }
}
