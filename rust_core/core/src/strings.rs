//! Uniform, zero-copy read access to Arrow string columns.
//!
//! pyarrow hands over `utf8` or `large_utf8`, polars hands over `utf8_view`; an
//! all-null Python list arrives as type `null`. Kernels see all of them as one
//! [`StringColumn`] and never copy the text.

use arrow_array::cast::AsArray;
use arrow_array::{Array, LargeStringArray, StringArray, StringViewArray};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::error::{AssayError, Result};

/// A borrowed Arrow string column of any of the three string layouts.
pub enum StringColumn<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    /// Arrow `null` type: every value is null.
    AllNull(usize),
}

impl<'a> StringColumn<'a> {
    /// Borrow `array` as a string column; `what` names the caller in the error.
    ///
    /// ```
    /// use arrow_array::StringArray;
    /// use assay_core::strings::StringColumn;
    /// let array = StringArray::from(vec![Some("a"), None]);
    /// let column = StringColumn::try_new(&array, "example").unwrap();
    /// assert_eq!(column.get(0), Some("a"));
    /// assert_eq!(column.get(1), None);
    /// ```
    pub fn try_new(array: &'a dyn Array, what: &'static str) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view()),
            DataType::Null => Self::AllNull(array.len()),
            other => {
                return Err(AssayError::UnsupportedType { what, data_type: other.clone() })
            }
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Self::Utf8(a) => a.len(),
            Self::LargeUtf8(a) => a.len(),
            Self::Utf8View(a) => a.len(),
            Self::AllNull(n) => *n,
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at row `i`, `None` when null.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Utf8View(a) => a.is_valid(i).then(|| a.value(i)),
            Self::AllNull(_) => None,
        }
    }

    /// Apply `f` to every non-null value in parallel on rayon's global pool,
    /// keeping row order; null rows give `None`.
    ///
    /// ```
    /// use arrow_array::StringArray;
    /// use assay_core::strings::StringColumn;
    /// let array = StringArray::from(vec![Some("ab"), None]);
    /// let column = StringColumn::try_new(&array, "example").unwrap();
    /// assert_eq!(column.par_map(|s| s.len()), vec![Some(2), None]);
    /// ```
    pub fn par_map<T, F>(&self, f: F) -> Vec<Option<T>>
    where
        T: Send,
        F: Fn(&'a str) -> T + Sync + Send,
    {
        (0..self.len())
            .into_par_iter()
            .with_min_len(64)
            .map(|i| self.get(i).map(&f))
            .collect()
    }
}
