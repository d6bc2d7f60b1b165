//! Arrow kernels: whole columns in, `keep` / `reason` or signal columns out.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::instruction::{check_chat, check_exchange, Exchange, InstructionConfig};
use super::signals::{QualitySignals, SIGNAL_NAMES};
use super::{check_text, Document, Filter, Language};
use crate::error::{AssayError, Result};
use crate::strings::StringColumn;

/// Schema of the filter kernels' output: `keep` (bool) and `reason` (string, null when kept).
pub fn decision_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("keep", DataType::Boolean, false),
        Field::new("reason", DataType::Utf8, true),
    ]))
}

fn decisions(reasons: Vec<Option<String>>) -> Result<RecordBatch> {
    let keep: BooleanArray = reasons.iter().map(|r| Some(r.is_none())).collect();
    let reason: StringArray = reasons.iter().map(|r| r.as_deref()).collect();
    Ok(RecordBatch::try_new(decision_schema(), vec![Arc::new(keep), Arc::new(reason)])?)
}

/// Apply `filters` (in order, first reason wins) to every text, in parallel. A null
/// text is treated as the empty text.
///
/// ```
/// use arrow_array::StringArray;
/// use assay_core::quality::{kernel::apply_filters, Filter, Language};
/// let f = vec![Filter::from_json("gopher_quality", "", Language::English).unwrap()];
/// let out = apply_filters(&StringArray::from(vec!["too short"]), &f, Language::English).unwrap();
/// assert_eq!(out.num_rows(), 1);
/// ```
pub fn apply_filters(texts: &dyn Array, filters: &[Filter], language: Language) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "apply_filter")?;
    let reasons: Vec<Option<String>> = (0..column.len())
        .into_par_iter()
        .with_min_len(16)
        .map(|i| check_text(column.get(i).unwrap_or(""), language, filters).map(|r| r.into_owned()))
        .collect();
    decisions(reasons)
}

/// Schema of [`quality_signals_array`]'s output.
pub fn signals_schema() -> SchemaRef {
    let fields: Vec<Field> = SIGNAL_NAMES
        .iter()
        .map(|&name| {
            let ty = if matches!(name, "tokens" | "non_symbol_words" | "stop_words" | "c4_sentences") {
                DataType::Int64
            } else {
                DataType::Float64
            };
            Field::new(name, ty, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The raw quality signals of every text (null text gives null signals).
pub fn quality_signals_array(texts: &dyn Array, language: Language) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "quality_signals")?;
    let rows: Vec<Option<Vec<f64>>> = (0..column.len())
        .into_par_iter()
        .with_min_len(16)
        .map(|i| column.get(i).map(|t| QualitySignals::compute(&Document::new(t, language)).values()))
        .collect();
    let schema = signals_schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(k, field)| -> ArrayRef {
            if field.data_type() == &DataType::Int64 {
                Arc::new(rows.iter().map(|r| r.as_ref().map(|v| v[k] as i64)).collect::<Int64Array>())
            } else {
                Arc::new(rows.iter().map(|r| r.as_ref().map(|v| v[k])).collect::<Float64Array>())
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Turns of a `messages` column: list (or large list) of struct{role, content}.
struct Messages<'a> {
    offsets: Vec<usize>,
    validity: Option<&'a arrow_array::ArrayRef>,
    list: &'a dyn Array,
    role: StringColumn<'a>,
    content: StringColumn<'a>,
}

impl<'a> Messages<'a> {
    fn try_new(array: &'a dyn Array) -> Result<Option<Self>> {
        let (offsets, values): (Vec<usize>, &ArrayRef) = match array.data_type() {
            DataType::Null => return Ok(None),
            DataType::List(_) => {
                let l = array.as_list::<i32>();
                (l.value_offsets().iter().map(|&o| o as usize).collect(), l.values())
            }
            DataType::LargeList(_) => {
                let l = array.as_list::<i64>();
                (l.value_offsets().iter().map(|&o| o as usize).collect(), l.values())
            }
            other => {
                return Err(AssayError::InvalidArgument(format!(
                    "messages must be a list of struct<role, content>, got {other}"
                )))
            }
        };
        let values: &'a dyn Array = values.as_ref();
        let Some(fields) = values.as_struct_opt() else {
            return Err(AssayError::InvalidArgument("messages must be a list of struct<role, content>".into()));
        };
        let get = |name: &str| {
            fields
                .column_by_name(name)
                .ok_or_else(|| AssayError::InvalidArgument(format!("messages structs need a {name:?} field")))
        };
        let role = StringColumn::try_new(get("role")?.as_ref(), "messages.role")?;
        let content = StringColumn::try_new(get("content")?.as_ref(), "messages.content")?;
        Ok(Some(Self { offsets, validity: None, list: array, role, content }))
    }

    fn turns(&self, row: usize) -> Option<Vec<(&'a str, &'a str)>> {
        let _ = self.validity;
        if self.list.is_null(row) {
            return None;
        }
        let (start, end) = (self.offsets[row], self.offsets[row + 1]);
        if start == end {
            return None;
        }
        Some((start..end).map(|k| (self.role.get(k).unwrap_or(""), self.content.get(k).unwrap_or(""))).collect())
    }
}

fn col<'a>(a: Option<&'a dyn Array>, what: &'static str) -> Result<Option<StringColumn<'a>>> {
    a.map(|a| StringColumn::try_new(a, what)).transpose()
}

/// Apply the instruction filter to rows of the record schema: a row with a
/// non-empty `messages` list is judged as a chat, any other as
/// instruction / input / output (a missing column reads as null).
pub fn instruction_filter_arrays(
    instruction: Option<&dyn Array>,
    input: Option<&dyn Array>,
    output: Option<&dyn Array>,
    messages: Option<&dyn Array>,
    rows: usize,
    config: &InstructionConfig,
) -> Result<RecordBatch> {
    let instruction = col(instruction, "instruction")?;
    let input = col(input, "input")?;
    let output = col(output, "output")?;
    let messages = match messages {
        Some(m) => Messages::try_new(m)?,
        None => None,
    };
    for (name, len) in [
        ("instruction", instruction.as_ref().map(|c| c.len())),
        ("input", input.as_ref().map(|c| c.len())),
        ("output", output.as_ref().map(|c| c.len())),
        ("messages", messages.as_ref().map(|m| m.list.len())),
    ] {
        if let Some(len) = len {
            if len != rows {
                return Err(AssayError::InvalidArgument(format!("column {name} has {len} rows, expected {rows}")));
            }
        }
    }
    fn get<'a>(c: &Option<StringColumn<'a>>, i: usize) -> &'a str {
        c.as_ref().and_then(|c| c.get(i)).unwrap_or("")
    }
    let reasons: Vec<Option<String>> = (0..rows)
        .into_par_iter()
        .with_min_len(16)
        .map(|i| {
            let reason = match messages.as_ref().and_then(|m| m.turns(i)) {
                Some(turns) => check_chat(turns, config),
                None => check_exchange(
                    &Exchange { instruction: get(&instruction, i), input: get(&input, i), output: get(&output, i) },
                    config,
                ),
            };
            reason.map(str::to_string)
        })
        .collect();
    decisions(reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
    use arrow_array::types::Float64Type;

    #[test]
    fn filters_over_a_column() {
        let texts = StringArray::from(vec![Some(""), None, Some("a b c")]);
        let f = vec![Filter::from_json("gopher_repetition", "", Language::English).unwrap()];
        let out = apply_filters(&texts, &f, Language::English).unwrap();
        let reason = out.column(1).as_string::<i32>();
        assert_eq!(reason.value(0), "empty");
        assert_eq!(reason.value(1), "empty");
        assert_eq!(reason.value(2), "top_2_gram");
        assert_eq!(out.column(0).as_boolean().iter().collect::<Vec<_>>(), vec![Some(false); 3]);
    }

    #[test]
    fn signals_over_a_column() {
        let texts = StringArray::from(vec![Some("the cat and the dog"), None]);
        let out = quality_signals_array(&texts, Language::English).unwrap();
        assert_eq!(out.num_columns(), SIGNAL_NAMES.len());
        let mtld = out.column_by_name("mtld").unwrap().as_primitive::<Float64Type>();
        assert!(mtld.value(0) > 0.0);
        assert!(mtld.is_null(1));
    }

    #[test]
    fn chat_rows() {
        let fields = vec![Field::new("role", DataType::Utf8, true), Field::new("content", DataType::Utf8, true)];
        let mut builder = ListBuilder::new(StructBuilder::from_fields(fields, 4));
        for (role, content) in [("user", "Hi there, who are you?"), ("assistant", "As an AI language model, I am a bot.")] {
            let s = builder.values();
            s.field_builder::<StringBuilder>(0).unwrap().append_value(role);
            s.field_builder::<StringBuilder>(1).unwrap().append_value(content);
            s.append(true);
        }
        builder.append(true);
        builder.append(false);
        let messages = builder.finish();
        let output = StringArray::from(vec![None, Some("A fine answer.")]);
        let instruction = StringArray::from(vec![None, Some("Answer well.")]);
        let out = instruction_filter_arrays(
            Some(&instruction),
            None,
            Some(&output),
            Some(&messages),
            2,
            &InstructionConfig::default(),
        )
        .unwrap();
        let reason = out.column(1).as_string::<i32>();
        assert_eq!(reason.value(0), "refusal");
        assert!(reason.is_null(1));
    }
}
