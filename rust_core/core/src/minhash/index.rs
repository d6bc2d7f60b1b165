//! Near-duplicate clustering with MinHash LSH, streaming and saveable.
//!
//! Documents are taken one at a time in a fixed order (input order, or the keep
//! policy's order). Each document's `affine32` signature is cut into bands; every
//! cluster found through a shared band key is a candidate, and with `verify` a candidate
//! counts only when the estimated Jaccard similarity between the document and the
//! cluster's *survivor* (its first document) is at least the threshold. The document
//! joins the most similar verified cluster (ties: the older one), or else founds a new
//! cluster and becomes its survivor. Either way its band keys that no cluster holds yet
//! are stored for its cluster, so near-duplicates of duplicates are found too, while
//! every member is verified against the survivor itself (no drift along chains).
//!
//! Memory: the band tables (8 bytes per stored band key at >= 70% load) and, for
//! verification, the signature of each survivor (4 bytes per permutation).
//! The result depends only on the documents and their order: signatures are computed in
//! parallel, the clustering runs in order, so batch size and thread count do not matter.

use std::io::{Read, Write};

use arrow_array::Array;
use rayon::prelude::*;

use super::kernel::{MinHasher, Scratch};
use super::lsh::{band_key, BandTable};
use super::scheme::Scheme;
use super::shingle::Unit;
use crate::error::{AssayError, Result};
use crate::strings::StringColumn;

/// Parameters of a [`DedupIndex`].
#[derive(Debug, Clone, PartialEq)]
pub struct DedupConfig {
    pub threshold: f64,
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
    pub seed: u64,
    pub ngram: usize,
    pub unit: Unit,
    pub verify: bool,
    /// `affine32` (datasketch's signatures) or `xxh3` (see [`Scheme::Xxh3`]).
    pub scheme: Scheme,
}

impl DedupConfig {
    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(AssayError::InvalidArgument(m));
        if !(0.0..=1.0).contains(&self.threshold) {
            return bad(format!("threshold must be in [0, 1], got {}", self.threshold));
        }
        if self.bands == 0 || self.rows == 0 || self.bands * self.rows > self.num_perm {
            return bad(format!(
                "bands * rows must be between 1 and num_perm: {} * {} > {}",
                self.bands, self.rows, self.num_perm
            ));
        }
        if self.ngram == 0 {
            return bad("ngram must be >= 1".into());
        }
        if self.scheme == Scheme::Legacy {
            return bad("the dedup index takes scheme 'affine32' or 'xxh3'".into());
        }
        Ok(())
    }
}

/// The fate of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    /// Global row number of the cluster's survivor (the document itself when it survives).
    pub cluster_id: u64,
    /// The cluster's ordinal in the index, `None` for a document without shingles
    /// (never a duplicate, never matched).
    pub cluster: Option<u32>,
    /// The cluster's size right after this document joined it (a running count).
    pub cluster_size: u64,
    pub is_duplicate: bool,
}

/// A streaming near-duplicate index (see the module documentation).
pub struct DedupIndex {
    config: DedupConfig,
    hasher: MinHasher,
    tables: Vec<BandTable>,
    survivor_signatures: Vec<u32>,
    survivor_rows: Vec<u64>,
    cluster_sizes: Vec<u64>,
    rows_seen: u64,
}

/// Per-document work done in parallel before the ordered clustering.
struct Prepared {
    signature: Vec<u32>,
    keys: Vec<u64>,
}

const MAGIC: &[u8; 8] = b"ASSAYLSH";
/// Version 2 added the scheme byte (version 1 files are `affine32`).
const FORMAT_VERSION: u32 = 2;

/// `row_keys`, when given, name each of the `len` rows.
pub(crate) fn check_row_keys(row_keys: Option<&[u64]>, len: usize) -> Result<()> {
    match row_keys {
        Some(keys) if keys.len() != len => Err(AssayError::InvalidArgument(format!(
            "row_keys has {} values for {len} rows",
            keys.len()
        ))),
        _ => Ok(()),
    }
}

impl DedupIndex {
    pub fn new(config: DedupConfig) -> Result<Self> {
        config.validate()?;
        let hasher = MinHasher::new(config.num_perm, config.seed, config.scheme, config.ngram, config.unit)?;
        Ok(Self {
            tables: vec![BandTable::default(); config.bands],
            config,
            hasher,
            survivor_signatures: Vec::new(),
            survivor_rows: Vec::new(),
            cluster_sizes: Vec::new(),
            rows_seen: 0,
        })
    }

    pub fn config(&self) -> &DedupConfig {
        &self.config
    }

    /// Documents added so far (the next document's global row number).
    pub fn rows_seen(&self) -> u64 {
        self.rows_seen
    }

    /// Number of clusters (survivors) so far.
    pub fn num_clusters(&self) -> usize {
        self.survivor_rows.len()
    }

    /// Current size of each cluster, by ordinal.
    pub fn cluster_sizes(&self) -> &[u64] {
        &self.cluster_sizes
    }

    /// Bytes held by the LSH band tables.
    pub fn band_table_bytes(&self) -> usize {
        self.tables.iter().map(BandTable::heap_bytes).sum()
    }

    /// Bytes held by the survivors' signatures (used to verify candidates).
    pub fn signature_bytes(&self) -> usize {
        self.survivor_signatures.capacity() * 4 + self.survivor_rows.capacity() * 8 + self.cluster_sizes.capacity() * 8
    }

    fn prepare(&self, texts: &StringColumn<'_>) -> Vec<Option<Prepared>> {
        let (n, bands, rows) = (self.config.num_perm, self.config.bands, self.config.rows);
        (0..texts.len())
            .into_par_iter()
            .with_min_len(32)
            .map_init(Scratch::default, |scratch, row| {
                let text = texts.get(row)?;
                let mut signature = vec![0u32; n];
                if !self.hasher.signature_u32(text, scratch, &mut signature) {
                    return None;
                }
                let keys = (0..bands).map(|band| band_key(&signature, band, rows)).collect();
                Some(Prepared { signature, keys })
            })
            .collect()
    }

    /// The band keys of every text (`bands` per row, in band order), as [`DedupIndex::add`]
    /// computes them; `None` for a text without shingles (it never matches). Two texts are
    /// candidates of each other exactly when they share a key of the same band, so the
    /// rows linked by shared keys form groups that [`DedupIndex::add`] decides independently
    /// of each other: a distributed executor can group the rows first, then add each group
    /// to its own index in row-key order and get the same result.
    pub fn band_keys(&self, texts: &dyn Array) -> Result<Vec<Option<Vec<u64>>>> {
        let column = StringColumn::try_new(texts, "near-duplicate band keys")?;
        Ok(self.prepare(&column).into_iter().map(|p| p.map(|p| p.keys)).collect())
    }

    fn estimated_jaccard(&self, signature: &[u32], cluster: u32) -> f64 {
        let n = self.config.num_perm;
        let survivor = &self.survivor_signatures[cluster as usize * n..(cluster as usize + 1) * n];
        let equal = survivor.iter().zip(signature).filter(|(a, b)| a == b).count();
        equal as f64 / n as f64
    }

    fn assign(&mut self, global_row: u64, prepared: Option<&Prepared>) -> Assignment {
        let Some(doc) = prepared else {
            return Assignment { cluster_id: global_row, cluster: None, cluster_size: 1, is_duplicate: false };
        };
        let mut candidates: Vec<u32> = Vec::with_capacity(4);
        for (table, &key) in self.tables.iter().zip(&doc.keys) {
            if let Some(cluster) = table.get(key) {
                if !candidates.contains(&cluster) {
                    candidates.push(cluster);
                }
            }
        }
        candidates.sort_unstable();
        let mut best: Option<(f64, u32)> = None;
        for &cluster in &candidates {
            if !self.config.verify {
                best = Some((1.0, cluster));
                break;
            }
            let similarity = self.estimated_jaccard(&doc.signature, cluster);
            if similarity >= self.config.threshold && best.map_or(true, |(s, _)| similarity > s) {
                best = Some((similarity, cluster));
            }
        }
        let (cluster, is_duplicate) = match best {
            Some((_, cluster)) => {
                self.cluster_sizes[cluster as usize] += 1;
                (cluster, true)
            }
            None => {
                let cluster = u32::try_from(self.survivor_rows.len())
                    .expect("a DedupIndex holds at most 2^32 clusters");
                self.survivor_signatures.extend_from_slice(&doc.signature);
                self.survivor_rows.push(global_row);
                self.cluster_sizes.push(1);
                (cluster, false)
            }
        };
        for (table, &key) in self.tables.iter_mut().zip(&doc.keys) {
            table.insert_if_absent(key, cluster);
        }
        Assignment {
            cluster_id: self.survivor_rows[cluster as usize],
            cluster: Some(cluster),
            cluster_size: self.cluster_sizes[cluster as usize],
            is_duplicate,
        }
    }

    /// Add a batch of texts (one Arrow array, or several chunks read as one), taken in
    /// `order` (a permutation of the batch's rows; input order when `None`). Returns one
    /// assignment per row, in row order. Rows are named by `row_keys` (one distinct number
    /// per row, e.g. the engine's row keys), else by global numbers
    /// `rows_seen()..rows_seen() + len` in row order; a survivor's name is its `cluster_id`.
    pub fn add(
        &mut self,
        chunks: &[&dyn Array],
        order: Option<&[usize]>,
        row_keys: Option<&[u64]>,
    ) -> Result<Vec<Assignment>> {
        let columns = chunks
            .iter()
            .map(|chunk| StringColumn::try_new(*chunk, "near-duplicate dedup"))
            .collect::<Result<Vec<_>>>()?;
        let len: usize = columns.iter().map(StringColumn::len).sum();
        if let Some(order) = order {
            let mut seen = vec![false; len];
            if order.len() != len || order.iter().any(|&i| i >= len || std::mem::replace(&mut seen[i], true)) {
                return Err(AssayError::InvalidArgument("order must be a permutation of the rows".into()));
            }
        }
        check_row_keys(row_keys, len)?;
        let mut prepared = Vec::with_capacity(len);
        for column in &columns {
            prepared.extend(self.prepare(column));
        }
        for table in &mut self.tables {
            table.reserve(len);
        }
        let base = self.rows_seen;
        let mut out = vec![Assignment { cluster_id: 0, cluster: None, cluster_size: 1, is_duplicate: false }; len];
        let mut assign_row = |index: &mut Self, row: usize| {
            let name = row_keys.map_or(base + row as u64, |keys| keys[row]);
            out[row] = index.assign(name, prepared[row].as_ref());
        };
        match order {
            Some(order) => order.iter().for_each(|&row| assign_row(self, row)),
            None => (0..len).for_each(|row| assign_row(self, row)),
        }
        self.rows_seen += len as u64;
        Ok(out)
    }

    /// Write the index to `writer` (little-endian binary, versioned).
    pub fn save(&self, writer: &mut impl Write) -> Result<()> {
        let c = &self.config;
        let io = |e: std::io::Error| AssayError::InvalidArgument(format!("cannot write the index: {e}"));
        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        for v in [c.num_perm as u64, c.bands as u64, c.rows as u64, c.seed, c.ngram as u64] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        header.extend_from_slice(&c.threshold.to_le_bytes());
        header.push(match c.unit {
            Unit::Word => 0,
            Unit::Char => 1,
            Unit::Auto => 2,
        });
        header.push(c.verify as u8);
        header.push(match c.scheme {
            Scheme::Affine32 | Scheme::Legacy => 0,
            Scheme::Xxh3 => 1,
        });
        header.extend_from_slice(&self.rows_seen.to_le_bytes());
        header.extend_from_slice(&(self.survivor_rows.len() as u64).to_le_bytes());
        writer.write_all(&header).map_err(io)?;
        write_u32s(writer, &self.survivor_signatures).map_err(io)?;
        write_u64s(writer, &self.survivor_rows).map_err(io)?;
        write_u64s(writer, &self.cluster_sizes).map_err(io)?;
        for table in &self.tables {
            writer.write_all(&(table.slots().len() as u64).to_le_bytes()).map_err(io)?;
            write_u64s(writer, table.slots()).map_err(io)?;
        }
        Ok(())
    }

    /// Read an index written by [`DedupIndex::save`].
    pub fn load(reader: &mut impl Read) -> Result<Self> {
        let bad = |m: &str| AssayError::InvalidArgument(format!("not a valid assay dedup index: {m}"));
        let mut magic = [0u8; 8];
        reader.read_exact(&mut magic).map_err(|_| bad("too short"))?;
        if &magic != MAGIC {
            return Err(bad("wrong magic bytes"));
        }
        let version = read_u64s_n::<4>(reader).map_err(|_| bad("truncated"))?;
        let version = u32::from_le_bytes(version);
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(bad("unsupported format version"));
        }
        let mut fields = [0u64; 5];
        for f in &mut fields {
            *f = u64::from_le_bytes(read_u64s_n::<8>(reader).map_err(|_| bad("truncated"))?);
        }
        let threshold = f64::from_le_bytes(read_u64s_n::<8>(reader).map_err(|_| bad("truncated"))?);
        let flags = read_u64s_n::<2>(reader).map_err(|_| bad("truncated"))?;
        let unit = match flags[0] {
            0 => Unit::Word,
            1 => Unit::Char,
            2 => Unit::Auto,
            _ => return Err(bad("unknown unit")),
        };
        let config = DedupConfig {
            threshold,
            num_perm: fields[0] as usize,
            bands: fields[1] as usize,
            rows: fields[2] as usize,
            seed: fields[3],
            ngram: fields[4] as usize,
            unit,
            verify: flags[1] != 0,
            scheme: if version == 1 {
                Scheme::Affine32
            } else {
                match read_u64s_n::<1>(reader).map_err(|_| bad("truncated"))?[0] {
                    0 => Scheme::Affine32,
                    1 => Scheme::Xxh3,
                    _ => return Err(bad("unknown scheme")),
                }
            },
        };
        let mut index = Self::new(config)?;
        index.rows_seen = u64::from_le_bytes(read_u64s_n::<8>(reader).map_err(|_| bad("truncated"))?);
        let clusters = u64::from_le_bytes(read_u64s_n::<8>(reader).map_err(|_| bad("truncated"))?) as usize;
        index.survivor_signatures =
            read_u32s(reader, clusters * index.config.num_perm).map_err(|_| bad("truncated signatures"))?;
        index.survivor_rows = read_u64s(reader, clusters).map_err(|_| bad("truncated rows"))?;
        index.cluster_sizes = read_u64s(reader, clusters).map_err(|_| bad("truncated sizes"))?;
        for table in &mut index.tables {
            let len = u64::from_le_bytes(read_u64s_n::<8>(reader).map_err(|_| bad("truncated"))?) as usize;
            *table = BandTable::from_slots(read_u64s(reader, len).map_err(|_| bad("truncated table"))?);
        }
        Ok(index)
    }
}

fn write_u32s(writer: &mut impl Write, values: &[u32]) -> std::io::Result<()> {
    for chunk in values.chunks(1 << 16) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
        writer.write_all(&bytes)?;
    }
    Ok(())
}

fn write_u64s(writer: &mut impl Write, values: &[u64]) -> std::io::Result<()> {
    for chunk in values.chunks(1 << 16) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
        writer.write_all(&bytes)?;
    }
    Ok(())
}

fn read_u64s_n<const N: usize>(reader: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    reader.read_exact(&mut buf)?;
    Ok(buf)
}

fn read_u32s(reader: &mut impl Read, count: usize) -> std::io::Result<Vec<u32>> {
    let mut bytes = vec![0u8; count * 4];
    reader.read_exact(&mut bytes)?;
    Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect())
}

fn read_u64s(reader: &mut impl Read, count: usize) -> std::io::Result<Vec<u64>> {
    let mut bytes = vec![0u8; count * 8];
    reader.read_exact(&mut bytes)?;
    Ok(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    fn config() -> DedupConfig {
        DedupConfig {
            threshold: 0.8,
            num_perm: 128,
            bands: 8,
            rows: 5,
            seed: 1,
            ngram: 3,
            unit: Unit::Auto,
            verify: true,
            scheme: Scheme::Affine32,
        }
    }

    fn corpus() -> Vec<Option<String>> {
        let base: Vec<String> = (0..40)
            .map(|i| {
                (0..60).map(|w| format!("w{}_{}", (i * 31 + w * 7) % 97, w % (3 + i % 5))).collect::<Vec<_>>().join(" ")
            })
            .collect();
        let mut docs = Vec::new();
        for (i, doc) in base.iter().enumerate() {
            docs.push(Some(doc.clone()));
            if i % 3 == 0 {
                docs.push(Some(doc.replacen("w", "W", 1))); // case folds: exact duplicate after normalization
                docs.push(Some(format!("{doc} extra")));
            }
            if i % 10 == 0 {
                docs.push(None);
                docs.push(Some(String::new()));
            }
        }
        docs
    }

    #[test]
    fn finds_planted_duplicates_and_keeps_first() {
        let docs = corpus();
        let array = StringArray::from(docs.clone());
        let mut index = DedupIndex::new(config()).unwrap();
        let out = index.add(&[&array], None, None).unwrap();
        for (row, (doc, a)) in docs.iter().zip(&out).enumerate() {
            match doc.as_deref() {
                None | Some("") => assert_eq!((a.cluster_id, a.is_duplicate, a.cluster), (row as u64, false, None)),
                Some(_) => assert_eq!(a.is_duplicate, a.cluster_id != row as u64),
            }
        }
        let duplicates = out.iter().filter(|a| a.is_duplicate).count();
        assert_eq!(duplicates, 2 * 14);
    }

    #[test]
    fn batch_size_does_not_matter_and_save_load_round_trips() {
        let docs = corpus();
        let whole = DedupIndex::new(config()).unwrap().add(&[&StringArray::from(docs.clone())], None, None).unwrap();
        for batch_size in [1, 7, 50] {
            let mut index = DedupIndex::new(config()).unwrap();
            let mut got = Vec::new();
            for (i, chunk) in docs.chunks(batch_size).enumerate() {
                if i == 2 {
                    let mut bytes = Vec::new();
                    index.save(&mut bytes).unwrap();
                    index = DedupIndex::load(&mut bytes.as_slice()).unwrap();
                }
                got.extend(index.add(&[&StringArray::from(chunk.to_vec())], None, None).unwrap());
            }
            assert_eq!(got, whole, "batch size {batch_size}");
        }
    }

    #[test]
    fn order_picks_the_survivor() {
        let docs = vec![Some("a b c d e f g h".to_string()), Some("a b c d e f g h!".to_string())];
        let mut index = DedupIndex::new(config()).unwrap();
        let out = index.add(&[&StringArray::from(docs)], Some(&[1, 0]), None).unwrap();
        assert_eq!((out[0].cluster_id, out[0].is_duplicate), (1, true));
        assert_eq!((out[1].cluster_id, out[1].is_duplicate), (1, false));
        assert!(DedupIndex::new(config()).unwrap().add(&[&StringArray::from(vec!["x"])], Some(&[1]), None).is_err());
    }

    #[test]
    fn the_xxh3_scheme_finds_the_same_planted_duplicates_and_saves_its_scheme() {
        let docs = corpus();
        let array = StringArray::from(docs.clone());
        let affine = DedupIndex::new(config()).unwrap().add(&[&array], None, None).unwrap();
        let xxh3_config = DedupConfig { scheme: Scheme::Xxh3, ..config() };
        let mut index = DedupIndex::new(xxh3_config.clone()).unwrap();
        let fast = index.add(&[&array], None, None).unwrap();
        let flags = |out: &[Assignment]| out.iter().map(|a| a.is_duplicate).collect::<Vec<_>>();
        assert_eq!(flags(&fast), flags(&affine));
        let mut bytes = Vec::new();
        index.save(&mut bytes).unwrap();
        assert_eq!(DedupIndex::load(&mut bytes.as_slice()).unwrap().config().scheme, Scheme::Xxh3);
        // a version-1 file (no scheme byte) is affine32
        let mut v1 = Vec::new();
        DedupIndex::new(config()).unwrap().save(&mut v1).unwrap();
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        let scheme_at = 8 + 4 + 5 * 8 + 8 + 2;
        v1.remove(scheme_at);
        assert_eq!(DedupIndex::load(&mut v1.as_slice()).unwrap().config().scheme, Scheme::Affine32);
        assert!(DedupIndex::new(DedupConfig { scheme: Scheme::Legacy, ..config() }).is_err());
    }

    #[test]
    fn load_rejects_garbage() {
        assert!(DedupIndex::load(&mut &b"nonsense"[..]).is_err());
    }
}
