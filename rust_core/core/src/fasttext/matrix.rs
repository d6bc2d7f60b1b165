//! fastText's matrices: dense `f32` rows, and product-quantized rows (with optional
//! norm quantization) as written by `fasttext quantize`.
//!
//! Dense: `i64 rows, i64 cols, rows*cols f32`. Quantized: `bool qnorm, i64 rows,
//! i64 cols, i32 codesize, codesize u8 codes, product quantizer[, rows u8 norm codes,
//! norm quantizer]`. A product quantizer is `i32 dim, i32 nsubq, i32 dsub,
//! i32 lastdsub, dim*256 f32 centroids`; sub-quantizer `m` covers columns
//! `m*dsub ..` (`lastdsub` wide for the last one), and row `r` adds centroid
//! `codes[r*nsubq + m]` of each sub-quantizer, scaled by the row's quantized norm.

use super::reader::{invalid, Reader};

const KSUB: usize = 256;

/// A product quantizer (fastText's `ProductQuantizer`, 8 bits per sub-vector).
#[derive(Debug)]
pub struct ProductQuantizer {
    dim: usize,
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn read(reader: &mut Reader<'_>, what: &str) -> crate::Result<Self> {
        let dim = reader.i32(what)?;
        let nsubq = reader.i32(what)?;
        let dsub = reader.i32(what)?;
        let lastdsub = reader.i32(what)?;
        let consistent = dim > 0
            && nsubq > 0
            && dsub > 0
            && lastdsub > 0
            && lastdsub <= dsub
            && (dsub as i64) * (nsubq as i64 - 1) + lastdsub as i64 == dim as i64;
        if !consistent {
            return Err(invalid(format_args!(
                "inconsistent {what} (dim {dim}, nsubq {nsubq}, dsub {dsub}, lastdsub {lastdsub})"
            )));
        }
        let centroids = reader.f32s(dim as u64 * KSUB as u64, what)?;
        Ok(Self {
            dim: dim as usize,
            nsubq: nsubq as usize,
            dsub: dsub as usize,
            lastdsub: lastdsub as usize,
            centroids,
        })
    }

    #[inline]
    fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let i = code as usize;
        if m == self.nsubq - 1 {
            let start = m * KSUB * self.dsub + i * self.lastdsub;
            &self.centroids[start..start + self.lastdsub]
        } else {
            let start = (m * KSUB + i) * self.dsub;
            &self.centroids[start..start + self.dsub]
        }
    }

    #[inline]
    fn add_code(&self, x: &mut [f32], codes: &[u8], alpha: f32) {
        for (m, &code) in codes.iter().enumerate() {
            let c = self.centroid(m, code);
            let out = &mut x[m * self.dsub..m * self.dsub + c.len()];
            for (o, &v) in out.iter_mut().zip(c) {
                *o += alpha * v;
            }
        }
    }

    #[inline]
    fn mul_code(&self, x: &[f32], codes: &[u8], alpha: f32) -> f32 {
        let mut res = 0.0f32;
        for (m, &code) in codes.iter().enumerate() {
            let c = self.centroid(m, code);
            for (&xv, &v) in x[m * self.dsub..].iter().zip(c) {
                res += xv * v;
            }
        }
        res * alpha
    }
}

/// A matrix as stored in a model file.
#[derive(Debug)]
pub enum Matrix {
    Dense { rows: usize, cols: usize, data: Vec<f32> },
    Quantized(Box<QuantizedMatrix>),
}

/// A product-quantized matrix.
#[derive(Debug)]
pub struct QuantizedMatrix {
    rows: usize,
    cols: usize,
    codes: Vec<u8>,
    pq: ProductQuantizer,
    /// Per-row norm codes and their 1-d quantizer, when norms were quantized.
    norms: Option<(Vec<u8>, ProductQuantizer)>,
}

fn read_shape(reader: &mut Reader<'_>, what: &str) -> crate::Result<(usize, usize)> {
    let rows = reader.i64(what)?;
    let cols = reader.i64(what)?;
    if rows < 0 || cols < 0 || rows > i32::MAX as i64 + 1 || cols > i32::MAX as i64 {
        return Err(invalid(format_args!("{what} has an invalid shape {rows} x {cols}")));
    }
    Ok((rows as usize, cols as usize))
}

impl Matrix {
    /// Read a dense matrix.
    pub fn read_dense(reader: &mut Reader<'_>, what: &str) -> crate::Result<Self> {
        let (rows, cols) = read_shape(reader, what)?;
        let data = reader.f32s(rows as u64 * cols as u64, what)?;
        Ok(Matrix::Dense { rows, cols, data })
    }

    /// Read a product-quantized matrix.
    pub fn read_quantized(reader: &mut Reader<'_>, what: &str) -> crate::Result<Self> {
        let qnorm = reader.bool(what)?;
        let (rows, cols) = read_shape(reader, what)?;
        let codesize = reader.i32(what)?;
        if codesize < 0 {
            return Err(invalid(format_args!("{what} has a negative code size {codesize}")));
        }
        let codes = reader.take(codesize as usize, what)?.to_vec();
        let pq = ProductQuantizer::read(reader, what)?;
        if pq.dim != cols || codes.len() as u64 != rows as u64 * pq.nsubq as u64 {
            return Err(invalid(format_args!(
                "{what}: quantizer of dimension {} with {} sub-quantizers does not fit {rows} x {cols} with {} codes",
                pq.dim,
                pq.nsubq,
                codes.len()
            )));
        }
        let norms = if qnorm {
            let norm_codes = reader.take(rows, what)?.to_vec();
            let npq = ProductQuantizer::read(reader, what)?;
            if npq.dim != 1 || npq.nsubq != 1 {
                return Err(invalid(format_args!("{what}: the norm quantizer must be 1-dimensional")));
            }
            Some((norm_codes, npq))
        } else {
            None
        };
        Ok(Matrix::Quantized(Box::new(QuantizedMatrix { rows, cols, codes, pq, norms })))
    }

    pub fn rows(&self) -> usize {
        match self {
            Matrix::Dense { rows, .. } => *rows,
            Matrix::Quantized(q) => q.rows,
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Matrix::Dense { cols, .. } => *cols,
            Matrix::Quantized(q) => q.cols,
        }
    }

    /// `x += row i` (`x.len() == cols`, `i < rows`: checked by the model at load time).
    #[inline]
    pub fn add_row_to(&self, x: &mut [f32], i: usize) {
        match self {
            Matrix::Dense { cols, data, .. } => {
                for (o, &v) in x.iter_mut().zip(&data[i * cols..(i + 1) * cols]) {
                    *o += v;
                }
            }
            Matrix::Quantized(q) => {
                let codes = &q.codes[i * q.pq.nsubq..(i + 1) * q.pq.nsubq];
                q.pq.add_code(x, codes, q.norm(i));
            }
        }
    }

    /// Ask the CPU to bring row `i` into cache (a hint: no effect on results). The rows of a
    /// text's words and n-grams are spread over a large table, so fetching a few rows ahead
    /// hides most of the memory latency.
    #[inline]
    pub fn prefetch_row(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let address: Option<*const i8> = match self {
                Matrix::Dense { cols, data, .. } => data.get(i * cols).map(|v| v as *const f32 as *const i8),
                Matrix::Quantized(q) => {
                    if let Some((codes, _)) = &q.norms {
                        if let Some(c) = codes.get(i) {
                            // SAFETY: a prefetch of a valid address; it reads nothing.
                            unsafe { _mm_prefetch(c as *const u8 as *const i8, _MM_HINT_T0) };
                        }
                    }
                    q.codes.get(i * q.pq.nsubq).map(|v| v as *const u8 as *const i8)
                }
            };
            if let Some(address) = address {
                // SAFETY: as above.
                unsafe { _mm_prefetch(address, _MM_HINT_T0) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// The dot product of row `i` with `x`.
    #[inline]
    pub fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        match self {
            Matrix::Dense { cols, data, .. } => {
                let mut d = 0.0f32;
                for (&a, &b) in data[i * cols..(i + 1) * cols].iter().zip(x) {
                    d += a * b;
                }
                d
            }
            Matrix::Quantized(q) => {
                let codes = &q.codes[i * q.pq.nsubq..(i + 1) * q.pq.nsubq];
                q.pq.mul_code(x, codes, q.norm(i))
            }
        }
    }
}

impl QuantizedMatrix {
    #[inline]
    fn norm(&self, i: usize) -> f32 {
        match &self.norms {
            Some((codes, npq)) => npq.centroid(0, codes[i])[0],
            None => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantizer_bytes(dim: i32, nsubq: i32, dsub: i32, lastdsub: i32) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [dim, nsubq, dsub, lastdsub] {
            b.extend(v.to_le_bytes());
        }
        for i in 0..dim as usize * KSUB {
            b.extend((i as f32).to_le_bytes());
        }
        b
    }

    #[test]
    fn quantized_rows_decode_from_centroids() {
        // 2 rows x 3 cols, sub-quantizers of width 2 and 1.
        let mut b = vec![0u8];
        b.extend(2i64.to_le_bytes());
        b.extend(3i64.to_le_bytes());
        b.extend(4i32.to_le_bytes());
        b.extend([1u8, 2, 0, 255]);
        b.extend(quantizer_bytes(3, 2, 2, 1));
        let m = Matrix::read_quantized(&mut Reader::new(&b), "m").unwrap();
        let mut x = vec![0.0; 3];
        m.add_row_to(&mut x, 0);
        // Sub-quantizer 0, code 1: centroids[2..4]; the last one (width 1), code 2: centroids[512 + 2].
        assert_eq!(x, vec![2.0, 3.0, 514.0]);
        assert_eq!(m.dot_row(&[1.0, 1.0, 1.0], 1), 0.0 + 1.0 + 767.0);
    }

    #[test]
    fn inconsistent_quantizer_is_an_error() {
        let mut b = vec![0u8];
        b.extend(1i64.to_le_bytes());
        b.extend(3i64.to_le_bytes());
        b.extend(2i32.to_le_bytes());
        b.extend([0u8, 0]);
        b.extend(quantizer_bytes(3, 2, 2, 2));
        let err = Matrix::read_quantized(&mut Reader::new(&b), "m").unwrap_err().to_string();
        assert!(err.contains("inconsistent"), "{err}");
    }
}
