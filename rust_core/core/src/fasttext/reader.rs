//! Bounds-checked reading of fastText's binary model format.
//!
//! Layout (all little-endian, as written by fastText on x86): magic `i32`
//! (793712314), version `i32` (11 or 12), the training [`Args`] (12 `i32` and one
//! `f64`), the dictionary, a `bool` "input is quantized", the input matrix, a
//! `bool` "output is quantized" and the output matrix.
//!
//! Every read checks the bytes left first, and every count read from the file is
//! checked against the bytes left before anything is allocated, so a truncated or
//! corrupt file gives an error, never a panic or a huge allocation.

use crate::error::AssayError;

/// fastText's file magic number.
pub const MAGIC: i32 = 793_712_314;
/// The newest file format version fastText writes (and the newest read here).
pub const VERSION: i32 = 12;

/// The error for a file that is not a readable fastText model.
pub fn invalid(message: impl std::fmt::Display) -> AssayError {
    AssayError::InvalidArgument(format!("invalid fastText model: {message}"))
}

/// A cursor over the model bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Offset of the next byte.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The next `n` bytes; `what` names them in the error of a truncated file.
    pub fn take(&mut self, n: usize, what: &str) -> crate::Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(invalid(format_args!(
                "file truncated while reading {what} at byte {} (needs {n} bytes, {} left)",
                self.position,
                self.remaining()
            )));
        }
        let slice = &self.bytes[self.position..self.position + n];
        self.position += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> crate::Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub fn i32(&mut self, what: &str) -> crate::Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &str) -> crate::Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    pub fn f64(&mut self, what: &str) -> crate::Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    pub fn u8(&mut self, what: &str) -> crate::Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A C++ `bool` (one byte, 0 or 1).
    pub fn bool(&mut self, what: &str) -> crate::Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(invalid(format_args!("{what} must be a bool (0 or 1), found {other}"))),
        }
    }

    /// `count` little-endian `f32`, checked against the bytes left before allocating.
    pub fn f32s(&mut self, count: u64, what: &str) -> crate::Result<Vec<f32>> {
        let bytes = count
            .checked_mul(4)
            .and_then(|b| usize::try_from(b).ok())
            .ok_or_else(|| invalid(format_args!("{what} is too large ({count} floats)")))?;
        let raw = self.take(bytes, what)?;
        Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// Bytes up to (not including) the next NUL, which is consumed.
    pub fn c_string(&mut self, what: &str) -> crate::Result<&'a [u8]> {
        let rest = &self.bytes[self.position..];
        match rest.iter().position(|&b| b == 0) {
            Some(end) => {
                self.position += end + 1;
                Ok(&rest[..end])
            }
            None => Err(invalid(format_args!(
                "file truncated while reading {what} at byte {} (no terminating NUL)",
                self.position
            ))),
        }
    }
}

/// The loss a supervised model was trained with (fastText's `loss_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    HierarchicalSoftmax,
    NegativeSampling,
    Softmax,
    OneVsAll,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::HierarchicalSoftmax => "hs",
            Self::NegativeSampling => "ns",
            Self::Softmax => "softmax",
            Self::OneVsAll => "ova",
        }
    }
}

/// The training arguments stored in the file header (those that matter for prediction
/// are `dim`, `word_ngrams`, `loss`, `model`, `bucket`, `minn`, `maxn`).
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub dim: i32,
    pub ws: i32,
    pub epoch: i32,
    pub min_count: i32,
    pub neg: i32,
    pub word_ngrams: i32,
    pub loss: LossKind,
    /// 1 cbow, 2 skipgram, 3 supervised.
    pub model: i32,
    pub bucket: i32,
    pub minn: i32,
    pub maxn: i32,
    pub lr_update_rate: i32,
    pub t: f64,
}

/// The largest character n-gram length accepted.
pub const MAX_NGRAM: i32 = 64;

/// fastText's `model_name::sup`.
pub const SUPERVISED: i32 = 3;

/// Read and check the magic number and version; returns the version.
pub fn read_header(reader: &mut Reader<'_>) -> crate::Result<i32> {
    let magic = reader.i32("the magic number")?;
    if magic != MAGIC {
        return Err(invalid(format_args!(
            "not a fastText model file (magic number {magic}, expected {MAGIC})"
        )));
    }
    let version = reader.i32("the file format version")?;
    if !(11..=VERSION).contains(&version) {
        return Err(invalid(format_args!(
            "unsupported fastText file format version {version} (supported: 11 and {VERSION})"
        )));
    }
    Ok(version)
}

/// Read the training arguments that follow the header.
pub fn read_args(reader: &mut Reader<'_>) -> crate::Result<Args> {
    let dim = reader.i32("args.dim")?;
    let ws = reader.i32("args.ws")?;
    let epoch = reader.i32("args.epoch")?;
    let min_count = reader.i32("args.minCount")?;
    let neg = reader.i32("args.neg")?;
    let word_ngrams = reader.i32("args.wordNgrams")?;
    let loss = match reader.i32("args.loss")? {
        1 => LossKind::HierarchicalSoftmax,
        2 => LossKind::NegativeSampling,
        3 => LossKind::Softmax,
        4 => LossKind::OneVsAll,
        other => return Err(invalid(format_args!("unknown loss id {other} (expected 1..4)"))),
    };
    let model = reader.i32("args.model")?;
    let bucket = reader.i32("args.bucket")?;
    let minn = reader.i32("args.minn")?;
    let maxn = reader.i32("args.maxn")?;
    let lr_update_rate = reader.i32("args.lrUpdateRate")?;
    let t = reader.f64("args.t")?;
    if !(1..=1 << 20).contains(&dim) {
        return Err(invalid(format_args!("dimension {dim} out of range")));
    }
    // fastText's own models use maxn <= 6; the cap bounds the subword table built at
    // load time (words x maxn), which a corrupt value could blow up.
    if maxn > MAX_NGRAM {
        return Err(invalid(format_args!("maxn {maxn} out of range (at most {MAX_NGRAM})")));
    }
    if bucket < 0 || minn < 0 || maxn < 0 || word_ngrams < 0 {
        return Err(invalid(format_args!(
            "negative argument (bucket {bucket}, minn {minn}, maxn {maxn}, wordNgrams {word_ngrams})"
        )));
    }
    Ok(Args {
        dim,
        ws,
        epoch,
        min_count,
        neg,
        word_ngrams,
        loss,
        model,
        bucket,
        minn,
        maxn,
        lr_update_rate,
        t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_reads_are_errors() {
        let mut reader = Reader::new(&[1, 2, 3]);
        let err = reader.i32("x").unwrap_err().to_string();
        assert!(err.contains("truncated while reading x"), "{err}");
        assert_eq!(reader.u8("y").unwrap(), 1);
        assert!(reader.f32s(u64::MAX, "z").is_err());
        assert!(reader.f32s(1, "z").is_err());
        assert!(reader.c_string("w").is_err());
    }

    #[test]
    fn header_checks() {
        let mut bytes = MAGIC.to_le_bytes().to_vec();
        bytes.extend(13i32.to_le_bytes());
        let err = read_header(&mut Reader::new(&bytes)).unwrap_err().to_string();
        assert!(err.contains("version 13"), "{err}");
        let err = read_header(&mut Reader::new(b"PK\x03\x04....")).unwrap_err().to_string();
        assert!(err.contains("not a fastText model file"), "{err}");
    }

    #[test]
    fn absurd_maxn_is_refused() {
        let mut bytes = Vec::new();
        for v in [16i32, 5, 5, 1, 5, 1, 1, 3, 1000, 2, 1_000_000, 100] {
            bytes.extend(v.to_le_bytes());
        }
        bytes.extend(1e-4f64.to_le_bytes());
        let err = read_args(&mut Reader::new(&bytes)).unwrap_err().to_string();
        assert!(err.contains("maxn 1000000 out of range"), "{err}");
    }
}
