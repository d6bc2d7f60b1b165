//! The Arrow kernel: top-k labels and probabilities for every row of a string
//! column, in parallel on rayon's global pool.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::model::{FastTextModel, Prediction, Scratch};
use crate::error::{AssayError, Result};
use crate::strings::StringColumn;

/// How to predict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictOptions {
    /// Number of labels; `None`: all labels above the threshold.
    pub k: Option<usize>,
    /// Labels with a probability below this are left out.
    pub threshold: f32,
    /// Read `\n` as a space (the whole text is one line, as datatrove's
    /// `text.replace("\n", " ")`); otherwise only the first line is read.
    pub newlines_as_spaces: bool,
}

impl Default for PredictOptions {
    fn default() -> Self {
        Self { k: Some(1), threshold: 0.0, newlines_as_spaces: true }
    }
}

/// Predictions for many texts in parallel, in input order; `None` rows stay `None`.
pub fn predict_many<'a, I>(model: &FastTextModel, texts: I, options: &PredictOptions) -> Vec<Option<Vec<Prediction>>>
where
    I: IndexedParallelIterator<Item = Option<&'a str>>,
{
    texts
        .with_min_len(64)
        .map_init(Scratch::default, |scratch, text| {
            text.map(|t| {
                let mut out = Vec::new();
                model.predict_with(t, options, scratch, &mut out);
                out
            })
        })
        .collect()
}

/// The schema of [`predict_array`]'s output: `label` (no `__label__` prefix) and
/// `score` of the best label, plus `labels` / `scores` lists when `lists` is true.
pub fn schema(lists: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("label", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
    ];
    if lists {
        fields.push(Field::new("labels", DataType::new_list(DataType::Utf8, true), true));
        fields.push(Field::new("scores", DataType::new_list(DataType::Float64, true), true));
    }
    Arc::new(Schema::new(fields))
}

/// Predict every row of a string array. Null text, or a text with no label above
/// the threshold, gives null `label` / `score` (and empty lists when asked for).
///
/// ```
/// use arrow_array::StringArray;
/// use assay_core::fasttext::{predict_array, PredictOptions};
/// # fn demo(model: &assay_core::fasttext::FastTextModel) {
/// let texts = StringArray::from(vec![Some("Guten Morgen"), None]);
/// let batch = predict_array(model, &texts, &PredictOptions::default(), false).unwrap();
/// assert_eq!(batch.num_rows(), 2);
/// # }
/// ```
pub fn predict_array(
    model: &FastTextModel,
    texts: &dyn Array,
    options: &PredictOptions,
    lists: bool,
) -> Result<RecordBatch> {
    if options.k == Some(0) {
        return Err(AssayError::InvalidArgument("k needs to be 1 or higher".into()));
    }
    let column = StringColumn::try_new(texts, "fastText predict")?;
    let rows = predict_many(model, (0..column.len()).into_par_iter().map(|i| column.get(i)), options);
    let mut label = StringBuilder::new();
    let mut score = Float64Builder::with_capacity(rows.len());
    let mut labels = ListBuilder::new(StringBuilder::new());
    let mut scores = ListBuilder::new(Float64Builder::new());
    for row in &rows {
        match row.as_deref().and_then(|p| p.first()) {
            Some(best) => {
                label.append_value(model.label_name(best.label));
                score.append_value(best.probability as f64);
            }
            None => {
                label.append_null();
                score.append_null();
            }
        }
        if lists {
            match row {
                Some(predictions) => {
                    for p in predictions {
                        labels.values().append_value(model.label_name(p.label));
                        scores.values().append_value(p.probability as f64);
                    }
                    labels.append(true);
                    scores.append(true);
                }
                None => {
                    labels.append(false);
                    scores.append(false);
                }
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(label.finish()), Arc::new(score.finish())];
    if lists {
        columns.push(Arc::new(labels.finish()));
        columns.push(Arc::new(scores.finish()));
    }
    Ok(RecordBatch::try_new(schema(lists), columns)?)
}
