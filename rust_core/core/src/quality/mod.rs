//! Quality signals and filters: Gopher quality and repetition, C4, FineWeb, and
//! rules for instruction data.
//!
//! A document is tokenized once ([`Document`]); every filter asked for reads the
//! same words, so several filters cost one scan. The English rules, parameters,
//! defaults and reason strings follow datatrove 0.10 (`GopherQualityFilter`,
//! `GopherRepetitionFilter`, `C4QualityFilter`, `FineWebQualityFilter`); the
//! Chinese variants count characters (see each config's `for_language`).
//!
//! - [`tokenize`]: word tokenization (spaCy-rule compatible English; characters for Chinese)
//! - [`gopher`], [`c4`], [`fineweb`]: the web-text filters
//! - [`instruction`]: the instruction / chat response filter
//! - [`signals`]: the raw signals, MTLD included
//! - [`kernel`]: Arrow kernels over whole columns

pub mod c4;
pub mod chars;
pub mod document;
pub mod fineweb;
pub mod gopher;
pub mod instruction;
pub mod kernel;
pub mod signals;
pub mod tokenize;

use std::borrow::Cow;

pub use document::Document;
pub use tokenize::Language;

use crate::error::{AssayError, Result};

/// One configured web-text filter.
#[derive(Debug, Clone)]
pub enum Filter {
    GopherQuality(gopher::GopherQualityConfig),
    GopherRepetition(gopher::GopherRepetitionConfig),
    C4Quality(c4::C4QualityConfig),
    FineWebQuality(fineweb::FineWebQualityConfig),
}

/// Names accepted by [`Filter::from_json`].
pub const FILTER_NAMES: &[&str] = &["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"];

fn with_overrides<T>(defaults: serde_json::Value, params: &str, name: &str) -> Result<T>
where
    T: serde::de::DeserializeOwned,
{
    let mut merged = defaults;
    let overrides: serde_json::Value = if params.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(params).map_err(|e| AssayError::InvalidArgument(format!("{name}: bad parameters: {e}")))?
    };
    let serde_json::Value::Object(over) = overrides else {
        return Err(AssayError::InvalidArgument(format!("{name}: parameters must be a mapping")));
    };
    if let serde_json::Value::Object(base) = &mut merged {
        for (k, v) in over {
            base.insert(k, v);
        }
    }
    serde_json::from_value(merged).map_err(|e| AssayError::InvalidArgument(format!("{name}: {e}")))
}

impl Filter {
    /// The filter `name` with the defaults for `language`, overridden by the JSON
    /// object `params` (unknown keys are an error).
    ///
    /// ```
    /// use assay_core::quality::{Filter, Language};
    /// let f = Filter::from_json("gopher_quality", r#"{"min_doc_words": 3}"#, Language::English).unwrap();
    /// assert!(Filter::from_json("gopher_quality", r#"{"nope": 1}"#, Language::English).is_err());
    /// ```
    pub fn from_json(name: &str, params: &str, language: Language) -> Result<Self> {
        Ok(match name {
            "gopher_quality" => Self::GopherQuality(with_overrides(
                serde_json::to_value(gopher::GopherQualityConfig::for_language(language)).unwrap(),
                params,
                name,
            )?),
            "gopher_repetition" => Self::GopherRepetition(with_overrides(
                serde_json::to_value(gopher::GopherRepetitionConfig::for_language(language)).unwrap(),
                params,
                name,
            )?),
            "c4_quality" => Self::C4Quality(with_overrides(
                serde_json::to_value(c4::C4QualityConfig::for_language(language)).unwrap(),
                params,
                name,
            )?),
            "fineweb_quality" => Self::FineWebQuality(with_overrides(
                serde_json::to_value(fineweb::FineWebQualityConfig::for_language(language)).unwrap(),
                params,
                name,
            )?),
            other => {
                return Err(AssayError::InvalidArgument(format!(
                    "unknown filter {other:?}; expected one of {FILTER_NAMES:?} or \"instruction\""
                )))
            }
        })
    }

    /// The reason `doc` is removed, or `None` when kept.
    pub fn check(&self, doc: &Document) -> Option<Cow<'static, str>> {
        match self {
            Self::GopherQuality(c) => gopher::gopher_quality(doc, c).map(Cow::Borrowed),
            Self::GopherRepetition(c) => gopher::gopher_repetition(doc, c).map(Cow::Owned),
            Self::C4Quality(c) => c4::c4_quality(doc.text, doc.language, c).map(Cow::Borrowed),
            Self::FineWebQuality(c) => fineweb::fineweb_quality(doc, c).map(Cow::Borrowed),
        }
    }
}

/// Run `filters` in order on one text (tokenized once); the first reason wins.
///
/// ```
/// use assay_core::quality::{check_text, Filter, Language};
/// let f = vec![Filter::from_json("gopher_repetition", "", Language::English).unwrap()];
/// assert_eq!(check_text("", Language::English, &f).as_deref(), Some("empty"));
/// ```
pub fn check_text(text: &str, language: Language, filters: &[Filter]) -> Option<Cow<'static, str>> {
    let needs_words = filters.iter().any(|f| !matches!(f, Filter::C4Quality(_)));
    let doc = if needs_words {
        Document::new(text, language)
    } else {
        Document::without_words(text, language)
    };
    filters.iter().find_map(|f| f.check(&doc))
}
