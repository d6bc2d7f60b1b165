//! Exact-duplicate detection: a 128-bit key (XXH3-128) per row and first-seen clustering.
//!
//! The key of a row hashes its key columns in order; each value is framed by its byte
//! length so that `("ab", "c")` and `("a", "bc")` differ. A null value counts as the
//! empty string (an absent `input` equals an empty one). With `normalize`, each value is
//! first normalized as for shingles ([`crate::minhash::normalize_text`]: NFKC, lowercase,
//! punctuation and white space folded). A row whose key values are all empty after that
//! has no key: it is never a duplicate.

use std::collections::HashMap;

use arrow_array::Array;
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_128;

use crate::error::{AssayError, Result};
use crate::minhash::shingle::{normalize_into, Normalized, Unit};
use crate::strings::StringColumn;

/// The key of one row's values (`None` when they are all empty).
///
/// ```
/// use assay_core::exact::exact_key;
/// assert_eq!(exact_key(&[Some("Hello, World")], true), exact_key(&[Some("hello world!")], true));
/// assert_ne!(exact_key(&[Some("ab"), Some("c")], false), exact_key(&[Some("a"), Some("bc")], false));
/// assert_eq!(exact_key(&[None, Some("")], false), None);
/// ```
pub fn exact_key(values: &[Option<&str>], normalize: bool) -> Option<u128> {
    let mut scratch = Normalized::default();
    let mut buffer = Vec::new();
    key_into(values.iter().copied(), normalize, &mut scratch, &mut buffer)
}

fn key_into<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
    normalize: bool,
    scratch: &mut Normalized,
    buffer: &mut Vec<u8>,
) -> Option<u128> {
    buffer.clear();
    let mut any = false;
    for value in values {
        let bytes = match value {
            Some(text) if normalize => {
                normalize_into(text, Unit::Auto, scratch);
                scratch.text.as_bytes()
            }
            Some(text) => text.as_bytes(),
            None => b"",
        };
        any |= !bytes.is_empty();
        buffer.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        buffer.extend_from_slice(bytes);
    }
    any.then(|| xxh3_128(buffer))
}

/// Keys of every row of the given string columns (all the same length), in parallel.
pub fn exact_keys(columns: &[&dyn Array], normalize: bool) -> Result<Vec<Option<u128>>> {
    let columns = columns
        .iter()
        .map(|c| StringColumn::try_new(*c, "exact dedup"))
        .collect::<Result<Vec<_>>>()?;
    let Some(first) = columns.first() else {
        return Err(AssayError::InvalidArgument("exact dedup needs at least one key column".into()));
    };
    let len = first.len();
    if columns.iter().any(|c| c.len() != len) {
        return Err(AssayError::InvalidArgument("key columns differ in length".into()));
    }
    Ok((0..len)
        .into_par_iter()
        .with_min_len(64)
        .map_init(
            || (Normalized::default(), Vec::new()),
            |(scratch, buffer), row| key_into(columns.iter().map(|c| c.get(row)), normalize, scratch, buffer),
        )
        .collect())
}

/// The fate of one row (same meaning as [`crate::minhash::Assignment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactAssignment {
    pub cluster_id: u64,
    /// The row's key, `None` when it has none.
    pub key: Option<u128>,
    /// The cluster's size right after this row joined it (a running count).
    pub cluster_size: u64,
    pub is_duplicate: bool,
}

/// First-seen clustering of keys, streaming across batches.
#[derive(Debug, Default, Clone)]
pub struct ExactIndex {
    /// key -> (global row of the survivor, cluster size so far)
    clusters: HashMap<u128, (u64, u64)>,
    rows_seen: u64,
}

impl ExactIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn rows_seen(&self) -> u64 {
        self.rows_seen
    }

    /// Distinct keys seen.
    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Size of the cluster of `key` so far.
    pub fn cluster_size(&self, key: Option<u128>) -> u64 {
        key.and_then(|k| self.clusters.get(&k)).map_or(1, |&(_, size)| size)
    }

    /// Add a batch of keys taken in `order` (input order when `None`); one result per row.
    /// Rows are named by `row_keys` when given (see [`crate::minhash::DedupIndex::add`]).
    pub fn add(
        &mut self,
        keys: &[Option<u128>],
        order: Option<&[usize]>,
        row_keys: Option<&[u64]>,
    ) -> Result<Vec<ExactAssignment>> {
        let len = keys.len();
        if let Some(order) = order {
            let mut seen = vec![false; len];
            if order.len() != len || order.iter().any(|&i| i >= len || std::mem::replace(&mut seen[i], true)) {
                return Err(AssayError::InvalidArgument("order must be a permutation of the rows".into()));
            }
        }
        crate::minhash::index::check_row_keys(row_keys, len)?;
        let base = self.rows_seen;
        let mut out = vec![ExactAssignment { cluster_id: 0, key: None, cluster_size: 1, is_duplicate: false }; len];
        let mut assign = |row: usize| {
            let global = row_keys.map_or(base + row as u64, |names| names[row]);
            out[row] = match keys[row] {
                None => ExactAssignment { cluster_id: global, key: None, cluster_size: 1, is_duplicate: false },
                Some(key) => {
                    let entry = self.clusters.entry(key).or_insert((global, 0));
                    entry.1 += 1;
                    ExactAssignment {
                        cluster_id: entry.0,
                        key: Some(key),
                        cluster_size: entry.1,
                        is_duplicate: entry.0 != global,
                    }
                }
            };
        };
        match order {
            Some(order) => order.iter().for_each(|&row| assign(row)),
            None => (0..len).for_each(assign),
        }
        self.rows_seen += len as u64;
        Ok(out)
    }

    /// Write the index to `writer`: magic, version, rows seen, then one
    /// (key, survivor row, size) record per cluster, little-endian.
    pub fn save(&self, writer: &mut impl std::io::Write) -> Result<()> {
        let io = |e: std::io::Error| AssayError::InvalidArgument(format!("cannot write the exact index: {e}"));
        writer.write_all(EXACT_MAGIC).map_err(io)?;
        writer.write_all(&EXACT_VERSION.to_le_bytes()).map_err(io)?;
        writer.write_all(&self.rows_seen.to_le_bytes()).map_err(io)?;
        writer.write_all(&(self.clusters.len() as u64).to_le_bytes()).map_err(io)?;
        for (key, (row, size)) in &self.clusters {
            writer.write_all(&key.to_le_bytes()).map_err(io)?;
            writer.write_all(&row.to_le_bytes()).map_err(io)?;
            writer.write_all(&size.to_le_bytes()).map_err(io)?;
        }
        Ok(())
    }

    /// Read an index written by [`ExactIndex::save`].
    pub fn load(reader: &mut impl std::io::Read) -> Result<Self> {
        let bad = |m: &str| AssayError::InvalidArgument(format!("not a valid assay exact index: {m}"));
        let mut head = [0u8; 28];
        reader.read_exact(&mut head).map_err(|_| bad("too short"))?;
        if &head[..8] != EXACT_MAGIC {
            return Err(bad("wrong magic bytes"));
        }
        if u32::from_le_bytes(head[8..12].try_into().unwrap()) != EXACT_VERSION {
            return Err(bad("unsupported format version"));
        }
        let rows_seen = u64::from_le_bytes(head[12..20].try_into().unwrap());
        let count = u64::from_le_bytes(head[20..28].try_into().unwrap());
        // No capacity from the header: a corrupt count must not allocate before the data proves it.
        let mut clusters = HashMap::new();
        let mut record = [0u8; 32];
        for _ in 0..count {
            reader.read_exact(&mut record).map_err(|_| bad("truncated"))?;
            let key = u128::from_le_bytes(record[..16].try_into().unwrap());
            let row = u64::from_le_bytes(record[16..24].try_into().unwrap());
            let size = u64::from_le_bytes(record[24..].try_into().unwrap());
            clusters.insert(key, (row, size));
        }
        Ok(Self { clusters, rows_seen })
    }
}

const EXACT_MAGIC: &[u8; 8] = b"ASSAYEX\0";
const EXACT_VERSION: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    #[test]
    fn clusters_in_order_with_nulls() {
        let texts = StringArray::from(vec![Some("A b"), Some("a  B!"), None, Some(""), Some("c"), Some("a b")]);
        let keys = exact_keys(&[&texts], true).unwrap();
        assert_eq!(keys[2], None);
        assert_eq!(keys[3], None);
        let mut index = ExactIndex::new();
        let out = index.add(&keys, None, None).unwrap();
        let ids: Vec<u64> = out.iter().map(|a| a.cluster_id).collect();
        assert_eq!(ids, vec![0, 0, 2, 3, 4, 0]);
        assert_eq!(index.cluster_size(keys[0]), 3);
        let mut saved = Vec::new();
        index.save(&mut saved).unwrap();
        let mut loaded = ExactIndex::load(&mut saved.as_slice()).unwrap();
        assert_eq!(loaded.rows_seen(), 6);
        let again = loaded.add(&keys[..1], None, None).unwrap();
        assert_eq!((again[0].cluster_id, again[0].cluster_size, again[0].is_duplicate), (0, 4, true));
        assert!(ExactIndex::load(&mut &saved[..saved.len() - 3]).is_err());
        assert!(ExactIndex::load(&mut &b"garbage"[..]).is_err());
        let raw = exact_keys(&[&texts], false).unwrap();
        assert_ne!(raw[0], raw[1]);
    }

    #[test]
    fn multi_column_and_order() {
        let a = StringArray::from(vec![Some("x"), Some("x"), Some("x")]);
        let b = StringArray::from(vec![None, Some(""), Some("y")]);
        let keys = exact_keys(&[&a, &b], false).unwrap();
        assert_eq!(keys[0], keys[1]);
        assert_ne!(keys[0], keys[2]);
        let out = ExactIndex::new().add(&keys, Some(&[1, 0, 2]), None).unwrap();
        assert_eq!((out[0].cluster_id, out[0].is_duplicate), (1, true));
        assert!(exact_keys(&[&a, &StringArray::from(vec!["1"])], false).is_err());
    }

    #[test]
    fn rows_named_by_row_keys() {
        let texts = StringArray::from(vec![Some("a"), Some("b"), Some("a")]);
        let keys = exact_keys(&[&texts], false).unwrap();
        let out = ExactIndex::new().add(&keys, None, Some(&[70, 50, 90])).unwrap();
        let got: Vec<(u64, bool)> = out.iter().map(|a| (a.cluster_id, a.is_duplicate)).collect();
        assert_eq!(got, vec![(70, false), (50, false), (70, true)]);
        assert!(ExactIndex::new().add(&keys, None, Some(&[1])).is_err());
    }
}
