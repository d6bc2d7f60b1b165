//! The format adapters of `assay.io.formats` for one parsed record: `text`, `alpaca`,
//! `belle` and `sharegpt`, giving the row the Python adapter gives, or declining.
//!
//! A record the Python adapter rejects (a missing field, a wrong type) is declined here,
//! not rejected: the Python reader then writes its own quarantine entry, with its message.

use std::borrow::Cow;

use super::json::{write_object_sorted, Declined, Json, Object};

/// The formats adapted in Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `text`, with its text fields (several are joined by a blank line).
    Text { fields: Vec<String> },
    Alpaca,
    Belle,
    ShareGpt,
}

impl Format {
    /// The format named as in `assay.io.formats.FORMATS`, or `None` for one that stays in Python.
    pub fn parse(name: &str, text_fields: Vec<String>) -> Option<Self> {
        Some(match name {
            "text" => Self::Text { fields: text_fields },
            "alpaca" => Self::Alpaca,
            "belle" => Self::Belle,
            "sharegpt" => Self::ShareGpt,
            _ => return None,
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Alpaca | Self::Belle => "instruction",
            Self::ShareGpt => "chat",
        }
    }
}

/// One adapted row (the columns that vary; `source`, `domain` and `kind` are the input's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// The record's own id as `str(value)` gives it; `None` when it has none (or `""`),
    /// and the reader makes `source:file:index`.
    pub id: Option<String>,
    /// Whether the record carried an id field with a value (the id check applies).
    pub own_id: bool,
    pub instruction: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub messages: Option<Vec<(String, String)>>,
    pub text: String,
    pub meta: String,
}

/// `str(value)` of an id value, as the Python adapter writes it.
fn id_text(value: &Json) -> Result<Option<String>, Declined> {
    Ok(Some(match value {
        Json::Null => return Ok(None),
        Json::Str(s) => s.to_string(),
        Json::Int(literal) => if *literal == "-0" { "0".into() } else { literal.to_string() },
        Json::Bool(b) => if *b { "True".into() } else { "False".into() },
        Json::Array(_) | Json::Object(_) => return Err(Declined),
    }))
}

/// `_take_str`: the string at `key`, popped; a missing or null field is `None` (popped too).
fn take_str<'a>(record: &mut Object<'a>, key: &str, required: bool) -> Result<Option<Cow<'a, str>>, Declined> {
    match record.pop(key) {
        None | Some(Json::Null) if required => Err(Declined),
        None | Some(Json::Null) => Ok(None),
        Some(Json::Str(s)) => Ok(Some(s)),
        Some(_) => Err(Declined),
    }
}

fn join_parts<'s>(parts: impl IntoIterator<Item = Option<&'s str>>) -> String {
    let mut text = String::new();
    for part in parts.into_iter().flatten().filter(|p| !p.is_empty()) {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(part);
    }
    text
}

/// The Python adapter's roles (`_ROLES`), for ASCII role names lower-cased.
fn role(name: &str) -> Result<String, Declined> {
    if !name.is_ascii() {
        return Err(Declined); // Python's str.lower() is the reference for the rest
    }
    let lower = name.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "human" | "user" => "user",
        "gpt" | "assistant" | "chatgpt" | "bing" | "bard" | "model" => "assistant",
        "system" => "system",
        "tool" | "function" | "observation" => "tool",
        "function_call" => "function_call",
        _ => return Ok(lower),
    }
    .to_string())
}

/// Adapt one parsed record (a JSON value) as `assay.io.formats.adapt` would, with the
/// input's `id_field`.
///
/// ```
/// use assay_core::jsonl::adapt::{adapt, Format};
/// use assay_core::jsonl::json::parse;
/// let row = adapt(&Format::Belle, "id", parse(br#"{"question": "1+1=?", "std_answer": "2", "class": "math"}"#).unwrap()).unwrap();
/// assert_eq!((row.text.as_str(), row.meta.as_str()), ("1+1=?\n\n2", r#"{"class":"math"}"#));
/// ```
pub fn adapt(format: &Format, id_field: &str, value: Json) -> Result<Row, Declined> {
    let Json::Object(mut record) = value else { return Err(Declined) };
    let id_value = record.pop(id_field);
    let own_id = id_value.as_ref().is_some_and(|v| *v != Json::Null);
    let id = match &id_value {
        Some(v) => id_text(v)?.filter(|s| !s.is_empty()),
        None => None,
    };
    let mut row = Row { id, own_id, ..Row::default() };
    match format {
        Format::Text { fields } => {
            if !fields.iter().any(|f| record.get(f).is_some_and(|v| *v != Json::Null)) {
                return Err(Declined);
            }
            let mut parts = Vec::with_capacity(fields.len());
            for f in fields {
                parts.push(take_str(&mut record, f, false)?);
            }
            row.text = join_parts(parts.iter().map(|p| p.as_deref()));
        }
        Format::Alpaca => {
            let instruction = take_str(&mut record, "instruction", true)?;
            let input = take_str(&mut record, "input", false)?.filter(|s| !s.is_empty());
            let output = take_str(&mut record, "output", true)?;
            row.text = join_parts([instruction.as_deref(), input.as_deref(), output.as_deref()]);
            row.instruction = instruction.map(Cow::into_owned);
            row.input = input.map(Cow::into_owned);
            row.output = output.map(Cow::into_owned);
        }
        Format::Belle => {
            let question = take_str(&mut record, "question", true)?;
            let answer = take_str(&mut record, "std_answer", true)?;
            row.text = join_parts([question.as_deref(), answer.as_deref()]);
            row.instruction = question.map(Cow::into_owned);
            row.output = answer.map(Cow::into_owned);
        }
        Format::ShareGpt => {
            let (key, role_key, content_key) = if record.contains("conversations") {
                ("conversations", "from", "value")
            } else if record.contains("messages") {
                ("messages", "role", "content")
            } else {
                return Err(Declined);
            };
            let Some(Json::Array(turns)) = record.pop(key) else { return Err(Declined) };
            if turns.is_empty() {
                return Err(Declined);
            }
            let mut messages = Vec::with_capacity(turns.len() + 1);
            if let Some(system) = take_str(&mut record, "system", false)?.filter(|s| !s.is_empty()) {
                messages.push(("system".to_string(), system.into_owned()));
            }
            for turn in &turns {
                let Json::Object(turn) = turn else { return Err(Declined) };
                let (Some(Json::Str(name)), Some(Json::Str(content))) = (turn.get(role_key), turn.get(content_key)) else {
                    return Err(Declined);
                };
                messages.push((role(name)?, content.to_string()));
            }
            row.text = join_parts(messages.iter().map(|(_, c)| Some(c.as_str())));
            row.messages = Some(messages);
        }
    }
    write_object_sorted(&record, &mut row.meta);
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;

    fn row(format: &Format, json: &str) -> Result<Row, Declined> {
        adapt(format, "id", parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn text_fields_and_ids() {
        let f = Format::Text { fields: vec!["title".into(), "body".into()] };
        let r = row(&f, r#"{"id": 7, "title": "T", "body": null, "x": 1}"#).unwrap();
        assert_eq!((r.id.as_deref(), r.own_id, r.text.as_str(), r.meta.as_str()), (Some("7"), true, "T", r#"{"x":1}"#));
        let r = row(&f, r#"{"id": "", "title": "", "body": "B"}"#).unwrap();
        assert_eq!((r.id, r.own_id, r.text.as_str()), (None, true, "B"));
        assert_eq!(row(&f, r#"{"id": true, "body": "B"}"#).unwrap().id.as_deref(), Some("True"));
        assert!(row(&f, r#"{"title": null}"#).is_err());
        assert!(row(&f, r#"{"title": 5}"#).is_err());
        assert!(row(&f, r#"{"id": [1], "title": "t"}"#).is_err());
        assert!(row(&f, "[1]").is_err());
    }

    #[test]
    fn alpaca_and_sharegpt() {
        let r = row(&Format::Alpaca, r#"{"instruction": "I", "input": "", "output": "O"}"#).unwrap();
        assert_eq!((r.input, r.text.as_str(), r.meta.as_str()), (None, "I\n\nO", "{}"));
        assert!(row(&Format::Alpaca, r#"{"instruction": "I"}"#).is_err());
        let r = row(&Format::ShareGpt, r#"{"system": "S", "conversations": [{"from": "Human", "value": "hi"}, {"from": "gpt", "value": "yo", "w": 1}], "k": 2}"#).unwrap();
        let messages = vec![("system".into(), "S".into()), ("user".into(), "hi".into()), ("assistant".into(), "yo".into())];
        assert_eq!((r.messages, r.text.as_str(), r.meta.as_str()), (Some(messages), "S\n\nhi\n\nyo", r#"{"k":2}"#));
        assert!(row(&Format::ShareGpt, r#"{"messages": []}"#).is_err());
        assert!(row(&Format::ShareGpt, r#"{"messages": [{"role": "Ünknown", "content": "x"}]}"#).is_err());
    }
}
