//! Stable 64-bit hashes of strings, for deterministic sampling and shuffling.
//!
//! XXH3-64 with a seed: the same string and seed give the same hash on every
//! machine, thread count and version of assay (the algorithm is frozen by its spec).

use arrow_array::{Array, UInt64Array};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::Result;
use crate::strings::StringColumn;

/// XXH3-64 of the UTF-8 bytes of `text` with `seed`.
///
/// ```
/// use assay_core::hashing::hash64;
/// assert_eq!(hash64("abc", 0), hash64("abc", 0));
/// assert_ne!(hash64("abc", 0), hash64("abc", 1));
/// ```
pub fn hash64(text: &str, seed: u64) -> u64 {
    xxh3_64_with_seed(text.as_bytes(), seed)
}

/// [`hash64`] of every row of a string array, in parallel; null rows stay null.
pub fn hash64_array(texts: &dyn Array, seed: u64) -> Result<UInt64Array> {
    let column = StringColumn::try_new(texts, "hash64")?;
    Ok(column.par_map(|s| hash64(s, seed)).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    #[test]
    fn known_value_and_nulls() {
        // XXH3-64 of the empty input with seed 0 (from the xxHash specification's test vectors).
        assert_eq!(hash64("", 0), 0x2D06800538D394C2);
        let hashes = hash64_array(&StringArray::from(vec![Some("a"), None]), 7).unwrap();
        assert_eq!(hashes.value(0), hash64("a", 7));
        assert!(hashes.is_null(1));
    }
}
