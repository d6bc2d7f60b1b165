//! fastText's best label for the natural-language content of each text, with the script
//! counts of that content, in one parallel pass: what the `langid` step's content mode
//! needs, without building the content as a column of its own.
//!
//! Each row is masked ([`crate::content::content_into`]) into a per-thread buffer, counted
//! ([`crate::script::script_counts`]) and predicted (newlines read as spaces) while it is
//! in cache. Equal, row for row, to `content_array` followed by `predict_array` on its
//! content (tested).

use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use crate::content::content_into;
use crate::error::Result;
use crate::fasttext::{FastTextModel, PredictOptions, Prediction, Scratch};
use crate::script::{script_counts, script_counts_schema, ScriptCounts};
use crate::strings::StringColumn;

/// The Arrow schema of [`predict_content_array`]'s output: `label`, `score`, then the
/// [`ScriptCounts`] columns.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![Field::new("label", DataType::Utf8, true), Field::new("score", DataType::Float64, true)];
            fields.extend(script_counts_schema().fields().iter().map(|f| f.as_ref().clone()));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

struct Row {
    best: Option<Prediction>,
    counts: ScriptCounts,
}

/// The best label and its probability for the content of every row of a string array,
/// and the content's script counts. A null text gives nulls; a text whose content has no
/// label (nothing to predict on) a null label and score with its counts.
///
/// ```
/// use arrow_array::StringArray;
/// # fn demo(model: &assay_core::fasttext::FastTextModel) {
/// let texts = StringArray::from(vec![Some("见 https://a.org/x 好"), None]);
/// let batch = assay_core::content_lid::predict_content_array(model, &texts).unwrap();
/// assert_eq!(batch.num_rows(), 2);
/// # }
/// ```
pub fn predict_content_array(model: &FastTextModel, texts: &dyn Array) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "predict_content")?;
    let options = PredictOptions { k: Some(1), threshold: 0.0, newlines_as_spaces: true };
    // Rows go to the threads in runs of CHUNK, each run with its own buffers.
    const CHUNK: usize = 256;
    let column = &column;
    let options = &options;
    let rows: Vec<Option<Row>> = (0..column.len().div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|chunk| {
            let (mut content, mut scratch, mut predictions) = (String::new(), Scratch::default(), Vec::new());
            let rows = chunk * CHUNK..((chunk + 1) * CHUNK).min(column.len());
            rows.map(move |i| {
                column.get(i).map(|text| {
                    content.clear();
                    content_into(text, &mut content);
                    let counts = script_counts(&content);
                    model.predict_with(&content, options, &mut scratch, &mut predictions);
                    Row { best: predictions.first().copied(), counts }
                })
            })
        })
        .collect();
    let best = |i: usize| rows[i].as_ref().and_then(|r| r.best);
    let label: StringArray = (0..rows.len()).map(|i| best(i).map(|p| model.label_name(p.label))).collect();
    let score: Float64Array = (0..rows.len()).map(|i| best(i).map(|p| p.probability as f64)).collect();
    let ints = |f: fn(&ScriptCounts) -> i64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| r.as_ref().map(|r| f(&r.counts))).collect::<Int64Array>())
    };
    let columns = vec![Arc::new(label) as ArrayRef, Arc::new(score), ints(|c| c.letters), ints(|c| c.han),
                       ints(|c| c.kana), ints(|c| c.hangul), ints(|c| c.other_words)];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
