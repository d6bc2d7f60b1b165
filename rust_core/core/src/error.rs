//! The error type shared by every kernel.

use arrow_schema::{ArrowError, DataType};

/// Everything that can go wrong inside assay-core.
#[derive(Debug, thiserror::Error)]
pub enum AssayError {
    /// A kernel was handed an Arrow array of a type it cannot read.
    #[error("{what} needs a string column, got Arrow type {data_type}")]
    UnsupportedType { what: &'static str, data_type: DataType },
    /// A caller passed a value outside what the function accepts.
    #[error("{0}")]
    InvalidArgument(String),
    /// An error raised by the Arrow library itself.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// `Result` with [`AssayError`].
pub type Result<T, E = AssayError> = std::result::Result<T, E>;
