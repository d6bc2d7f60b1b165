//! LSH banding: parameters (datasketch's `_optimal_param` and assay's recall-first
//! defaults), band keys and the compact band tables.
//!
//! A pair with Jaccard similarity `s` shares at least one of `b` bands of `r` rows with
//! probability `P(s) = 1 - (1 - s^r)^b` (the S-curve).

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{AssayError, Result};

/// `P(s) = 1 - (1 - s^r)^b`: the chance that a pair of similarity `s` becomes a candidate.
pub fn candidate_probability(similarity: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - similarity.powi(rows as i32)).powi(bands as i32)
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton iteration on P_n).
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    for i in 1..=n {
        let mut x = (std::f64::consts::PI * (i as f64 - 0.25) / (n as f64 + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
            let step = p1 / derivative;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        out.push((x, 2.0 / ((1.0 - x * x) * derivative * derivative)));
    }
    out
}

/// The integral of `f` over `[lo, hi]`, composite Gauss-Legendre (exact to rounding for
/// the polynomials of degree <= a few hundred integrated here).
fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64, rule: &[(f64, f64)]) -> f64 {
    const PIECES: usize = 16;
    let width = (hi - lo) / PIECES as f64;
    let mut total = 0.0;
    for piece in 0..PIECES {
        let mid = lo + width * (piece as f64 + 0.5);
        for &(x, w) in rule {
            total += w * f(mid + 0.5 * width * x);
        }
    }
    total * 0.5 * width
}

/// datasketch's `MinHashLSH` parameters for `threshold`: the `(bands, rows)` with
/// `bands * rows <= num_perm` that minimize the weighted integrals of false positive
/// (below the threshold) and false negative (above) candidate probability.
///
/// ```
/// use assay_core::minhash::optimal_params;
/// assert_eq!(optimal_params(0.8, 128, 0.5, 0.5).unwrap(), (9, 13));
/// assert_eq!(optimal_params(0.7, 128, 0.5, 0.5).unwrap(), (14, 9));
/// ```
pub fn optimal_params(
    threshold: f64,
    num_perm: usize,
    false_positive_weight: f64,
    false_negative_weight: f64,
) -> Result<(usize, usize)> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(AssayError::InvalidArgument("threshold must be in [0.0, 1.0]".into()));
    }
    if num_perm < 2 {
        return Err(AssayError::InvalidArgument("too few permutations (num_perm < 2)".into()));
    }
    let rule = gauss_legendre(24);
    let mut best = (f64::INFINITY, (0, 0));
    for bands in 1..=num_perm {
        for rows in 1..=num_perm / bands {
            let false_positive = integrate(|s| candidate_probability(s, bands, rows), 0.0, threshold, &rule);
            let false_negative =
                integrate(|s| 1.0 - candidate_probability(s, bands, rows), threshold, 1.0, &rule);
            let error = false_positive * false_positive_weight + false_negative * false_negative_weight;
            if error < best.0 {
                best = (error, (bands, rows));
            }
        }
    }
    Ok(best.1)
}

/// The most bands the recall-first defaults use: it keeps the band tables under
/// 100 bytes per document (8 bytes per entry at >= 70% load).
pub const DEFAULT_MAX_BANDS: usize = 8;

/// The share of pairs at exactly the threshold that the defaults must make candidates.
pub const DEFAULT_RECALL_AT_THRESHOLD: f64 = 0.95;

/// assay's recall-first banding for `threshold`: `DEFAULT_MAX_BANDS` bands (fewer if
/// `num_perm` is small) of the most rows that still make at least 95% of the pairs at
/// exactly the threshold candidates. Candidates are then verified on the full signature.
///
/// ```
/// use assay_core::minhash::recall_params;
/// assert_eq!(recall_params(0.8, 128).unwrap(), (8, 5));
/// ```
pub fn recall_params(threshold: f64, num_perm: usize) -> Result<(usize, usize)> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(AssayError::InvalidArgument("threshold must be in [0.0, 1.0]".into()));
    }
    if num_perm < 2 {
        return Err(AssayError::InvalidArgument("too few permutations (num_perm < 2)".into()));
    }
    let bands = DEFAULT_MAX_BANDS.min(num_perm);
    let mut rows = 1;
    while bands * (rows + 1) <= num_perm
        && candidate_probability(threshold, bands, rows + 1) >= DEFAULT_RECALL_AT_THRESHOLD
    {
        rows += 1;
    }
    Ok((bands, rows))
}

/// The 64-bit key of band `band` (rows `band*rows .. (band+1)*rows`) of a signature.
#[inline]
pub fn band_key(signature: &[u32], band: usize, rows: usize) -> u64 {
    let values = &signature[band * rows..(band + 1) * rows];
    // SAFETY: u32 has no padding; the bytes of a u32 slice are valid u8.
    let bytes = unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u8, values.len() * 4) };
    xxh3_64_with_seed(bytes, band as u64)
}

/// One band's table: band key -> a u32 value (the cluster that first had that key).
///
/// Open addressing with linear probing over 8-byte slots: the high half holds a 32-bit
/// fingerprint of the key (never 0; it also picks the home slot), the low half the value;
/// an empty slot is 0. Two keys with the same fingerprint read as one (about one lookup
/// in 4,000 at a million documents); the caller verifies candidates, so such a collision
/// costs at most a missed bucket, never a wrong answer. The table grows by 1.25x at
/// 87.5% load, so it stays >= 70% full: at most 11.5 bytes per entry.
#[derive(Debug, Clone, Default)]
pub struct BandTable {
    slots: Vec<u64>,
    len: usize,
}

impl BandTable {
    #[inline]
    fn fingerprint(key: u64) -> u32 {
        ((key >> 32) as u32).max(1)
    }

    #[inline]
    fn home(fingerprint: u32, capacity: usize) -> usize {
        ((fingerprint as u64 * capacity as u64) >> 32) as usize
    }

    /// The value stored under `key`, if any.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let fingerprint = Self::fingerprint(key);
        let capacity = self.slots.len();
        let mut i = Self::home(fingerprint, capacity);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if (slot >> 32) as u32 == fingerprint {
                return Some(slot as u32);
            }
            i += 1;
            if i == capacity {
                i = 0;
            }
        }
    }

    /// Store `value` under `key` unless the key is there already; true when stored.
    pub fn insert_if_absent(&mut self, key: u64, value: u32) -> bool {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            let capacity = (self.slots.len() * 5 / 4).max(64);
            self.rebuild(capacity);
        }
        let fingerprint = Self::fingerprint(key);
        if self.place((fingerprint as u64) << 32 | value as u64, false) {
            self.len += 1;
            true
        } else {
            false
        }
    }

    /// Put a slot value in place; with `overwrite` false an existing fingerprint wins.
    #[inline]
    fn place(&mut self, entry: u64, overwrite: bool) -> bool {
        let fingerprint = (entry >> 32) as u32;
        let capacity = self.slots.len();
        let mut i = Self::home(fingerprint, capacity);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                self.slots[i] = entry;
                return true;
            }
            if (slot >> 32) as u32 == fingerprint {
                if overwrite {
                    self.slots[i] = entry;
                }
                return false;
            }
            i += 1;
            if i == capacity {
                i = 0;
            }
        }
    }

    fn rebuild(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, vec![0u64; capacity]);
        for entry in old.into_iter().filter(|&e| e != 0) {
            self.place(entry, true);
        }
    }

    /// Reserve room for `additional` more entries without passing 87.5% load.
    pub fn reserve(&mut self, additional: usize) {
        let needed = ((self.len + additional) * 8).div_ceil(7);
        if needed > self.slots.len() {
            self.rebuild(needed.max(64));
        }
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table.
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * 8
    }

    /// The raw slots (for saving).
    pub fn slots(&self) -> &[u64] {
        &self.slots
    }

    /// A table from saved slots.
    pub fn from_slots(slots: Vec<u64>) -> Self {
        let len = slots.iter().filter(|&&s| s != 0).count();
        Self { slots, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_examples_of_optimal_params() {
        assert_eq!(optimal_params(0.8, 128, 0.5, 0.5).unwrap(), (9, 13));
        assert_eq!(optimal_params(0.7, 128, 0.5, 0.5).unwrap(), (14, 9));
        assert!(optimal_params(1.5, 128, 0.5, 0.5).is_err());
    }

    #[test]
    fn recall_defaults_meet_their_target() {
        for &(t, n) in &[(0.5, 128), (0.7, 128), (0.8, 128), (0.8, 256), (0.9, 128), (0.95, 64)] {
            let (b, r) = recall_params(t, n).unwrap();
            assert!(b * r <= n && b <= DEFAULT_MAX_BANDS);
            assert!(candidate_probability(t, b, r) >= DEFAULT_RECALL_AT_THRESHOLD, "{t} {n}");
        }
    }

    #[test]
    fn band_table_behaves_like_a_map() {
        let mut table = BandTable::default();
        let mut reference = std::collections::HashMap::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..50_000u32 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let key = xxh3_64_with_seed(&x.to_le_bytes(), 0);
            let fingerprint = BandTable::fingerprint(key);
            let stored = table.insert_if_absent(key, i);
            assert_eq!(stored, !reference.contains_key(&fingerprint));
            reference.entry(fingerprint).or_insert(i);
        }
        assert_eq!(table.len(), reference.len());
        assert!(table.heap_bytes() as f64 / table.len() as f64 <= 8.0 / 0.7 + 0.01);
        for (&fingerprint, &value) in &reference {
            assert_eq!(table.get((fingerprint as u64) << 32), Some(value));
        }
        let restored = BandTable::from_slots(table.slots().to_vec());
        assert_eq!(restored.len(), table.len());
    }
}
