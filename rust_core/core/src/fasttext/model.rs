//! A loaded fastText supervised model and its `predict`.

use std::path::Path;

use super::dictionary::{Dictionary, LABEL_PREFIX};
use super::kernel::PredictOptions;
use super::loss::{Loss, Scored};
use super::matrix::Matrix;
use super::reader::{invalid, read_args, read_header, Args, Reader, SUPERVISED};

/// A fastText supervised model (`.bin`, or quantized `.ftz`), ready to predict.
#[derive(Debug)]
pub struct FastTextModel {
    args: Args,
    version: i32,
    dictionary: Dictionary,
    input: Matrix,
    output: Matrix,
    loss: Loss,
    labels: Vec<String>,
}

/// One prediction: label index and probability (fastText's `exp(score)` in float).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub label: usize,
    pub probability: f32,
}

/// Per-thread scratch buffers for [`FastTextModel::predict_with`].
#[derive(Debug, Default)]
pub struct Scratch {
    hidden: Vec<f32>,
    output: Vec<f32>,
    hashes: Vec<i32>,
    rows: Vec<u32>,
    heap: Vec<Scored>,
}

impl FastTextModel {
    /// Read a model file.
    pub fn load(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            crate::AssayError::InvalidArgument(format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parse a model from the bytes of a `.bin` / `.ftz` file.
    pub fn from_bytes(bytes: &[u8]) -> crate::Result<Self> {
        let mut reader = Reader::new(bytes);
        let version = read_header(&mut reader)?;
        let mut args = read_args(&mut reader)?;
        if args.model != SUPERVISED {
            return Err(invalid(format_args!(
                "model kind {} is not supervised (only classifiers can predict)",
                args.model
            )));
        }
        if version == 11 {
            // fastText: supervised models of version 11 have no character n-grams.
            args.maxn = 0;
        }
        let dictionary = Dictionary::read(&mut reader, &args)?;
        if dictionary.nlabels() == 0 {
            return Err(invalid("the dictionary has no labels"));
        }
        let quantized_input = reader.bool("the input quantization flag")?;
        let input = if quantized_input {
            Matrix::read_quantized(&mut reader, "the input matrix")?
        } else {
            Matrix::read_dense(&mut reader, "the input matrix")?
        };
        if !quantized_input && dictionary.is_pruned() {
            return Err(invalid("a pruned dictionary with a dense input matrix"));
        }
        let quantized_output = reader.bool("the output quantization flag")?;
        let output = if quantized_input && quantized_output {
            Matrix::read_quantized(&mut reader, "the output matrix")?
        } else {
            Matrix::read_dense(&mut reader, "the output matrix")?
        };
        let dim = args.dim as usize;
        if input.cols() != dim || output.cols() != dim {
            return Err(invalid(format_args!(
                "matrix widths {} and {} differ from the dimension {dim}",
                input.cols(),
                output.cols()
            )));
        }
        if dictionary.max_input_row() >= input.rows() as i64 {
            return Err(invalid(format_args!(
                "the input matrix has {} rows but the dictionary addresses row {}",
                input.rows(),
                dictionary.max_input_row()
            )));
        }
        let nlabels = dictionary.nlabels() as usize;
        let loss = Loss::new(args.loss, dictionary.label_counts())?;
        let needed = loss.output_rows_needed(nlabels);
        if output.rows() < needed || (args.loss != super::reader::LossKind::HierarchicalSoftmax && output.rows() != nlabels) {
            return Err(invalid(format_args!(
                "the output matrix has {} rows for {nlabels} labels",
                output.rows()
            )));
        }
        let labels = (0..nlabels)
            .map(|i| String::from_utf8_lossy(dictionary.label(i)).into_owned())
            .collect();
        Ok(Self { args, version, dictionary, input, output, loss, labels })
    }

    /// The training arguments from the file.
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// The file format version (11 or 12).
    pub fn version(&self) -> i32 {
        self.version
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        self.args.dim as usize
    }

    /// Whether the input matrix is product-quantized (an `.ftz`).
    pub fn is_quantized(&self) -> bool {
        matches!(self.input, Matrix::Quantized(_))
    }

    /// The labels, with their `__label__` prefix, in the model's order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Label `i` without the `__label__` prefix.
    pub fn label_name(&self, i: usize) -> &str {
        let label = &self.labels[i];
        label.strip_prefix(std::str::from_utf8(LABEL_PREFIX).unwrap_or_default()).unwrap_or(label)
    }

    /// The `k` most likely labels of one line of text, best first, as the official
    /// Python `predict` gives them (it appends the newline, so `</s>` is counted).
    /// `k = None` returns every label above the threshold. Text after a `\n` is ignored.
    ///
    /// ```no_run
    /// use assay_core::fasttext::FastTextModel;
    /// let model = FastTextModel::load("lid.176.ftz").unwrap();
    /// let best = model.predict("bonjour tout le monde", Some(1), 0.0);
    /// assert_eq!(model.label_name(best[0].label), "fr");
    /// ```
    pub fn predict(&self, text: &str, k: Option<usize>, threshold: f32) -> Vec<Prediction> {
        let options = PredictOptions { k, threshold, newlines_as_spaces: false };
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        self.predict_with(text, &options, &mut scratch, &mut out);
        out
    }

    /// [`FastTextModel::predict`] with options, reusing buffers; the predictions replace `out`.
    pub fn predict_with(
        &self,
        text: &str,
        options: &PredictOptions,
        scratch: &mut Scratch,
        out: &mut Vec<Prediction>,
    ) {
        let PredictOptions { k, threshold, newlines_as_spaces } = *options;
        out.clear();
        let dim = self.dim();
        let Scratch { hidden, output, hashes, rows, heap } = scratch;
        hidden.clear();
        hidden.resize(dim, 0.0);
        let line = match text.as_bytes().iter().position(|&b| b == b'\n') {
            Some(end) if !newlines_as_spaces => &text.as_bytes()[..end],
            _ => text.as_bytes(),
        };
        rows.clear();
        self.dictionary.line_rows(line, hashes, |row| rows.push(row as u32));
        if rows.is_empty() {
            return;
        }
        // the rows are summed in the order fastText sums them, fetching ahead
        const AHEAD: usize = 8;
        for &row in rows.iter().take(AHEAD) {
            self.input.prefetch_row(row as usize);
        }
        for (j, &row) in rows.iter().enumerate() {
            if let Some(&next) = rows.get(j + AHEAD) {
                self.input.prefetch_row(next as usize);
            }
            self.input.add_row_to(hidden, row as usize);
        }
        let scale = (1.0f64 / rows.len() as f64) as f32;
        for h in hidden.iter_mut() {
            *h *= scale;
        }
        let k = k.unwrap_or(self.labels.len()).max(1);
        self.loss.predict(&self.output, hidden, k, threshold, output, heap);
        out.extend(heap.iter().map(|&(score, label)| Prediction {
            label: label as usize,
            probability: score.exp(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lid176() -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/assay/models/lid.176.ftz");
        std::fs::read(path).expect("lid.176.ftz is shipped in python/assay/models")
    }

    #[test]
    fn lid176_loads_and_predicts() {
        let model = FastTextModel::from_bytes(&lid176()).unwrap();
        assert_eq!(model.dim(), 16);
        assert_eq!(model.labels().len(), 176);
        assert!(model.is_quantized());
        assert_eq!(model.args().loss, super::super::reader::LossKind::HierarchicalSoftmax);
        let top = model.predict("Das ist ein kleiner Test auf Deutsch", Some(3), 0.0);
        assert_eq!(model.label_name(top[0].label), "de");
        assert!(top[0].probability > top[1].probability && top[1].probability >= top[2].probability);
        assert_eq!(model.label_name(model.predict("这是一个中文句子", Some(1), 0.0)[0].label), "zh");
        // Values seen from the official fastText package for the empty line (only `</s>`).
        let empty = model.predict("", Some(2), 0.0);
        assert_eq!(model.label_name(empty[0].label), "en");
        assert!((empty[0].probability - 0.124_504_18).abs() < 1e-6);
        assert!((empty[1].probability - 0.085_948_33).abs() < 1e-6);
        // Only the first line is read.
        assert_eq!(model.predict("hello\nwelt", Some(3), 0.0), model.predict("hello", Some(3), 0.0));
        // A threshold above every probability leaves nothing.
        assert!(model.predict("hello", None, 0.999_999).is_empty());
    }

    #[test]
    fn truncated_and_corrupt_files_are_errors_not_panics() {
        let bytes = lid176();
        for cut in (0..bytes.len()).step_by(9_973).chain([1, 7, 63, 64, 65, bytes.len() - 1]) {
            let err = FastTextModel::from_bytes(&bytes[..cut]).unwrap_err().to_string();
            assert!(err.starts_with("invalid fastText model"), "cut {cut}: {err}");
        }
        // Flip bytes all over the file: each load either fails cleanly or gives a
        // model whose predictions stay in bounds.
        for position in (8..bytes.len()).step_by(4_099) {
            let mut corrupt = bytes.clone();
            corrupt[position] ^= 0xA5;
            if let Ok(model) = FastTextModel::from_bytes(&corrupt) {
                for p in model.predict("quick brown fox", Some(5), 0.0) {
                    assert!(p.label < model.labels().len());
                }
            }
        }
        let mut wrong_version = bytes.clone();
        wrong_version[4..8].copy_from_slice(&13i32.to_le_bytes());
        let err = FastTextModel::from_bytes(&wrong_version).unwrap_err().to_string();
        assert!(err.contains("version 13"), "{err}");
    }
}
