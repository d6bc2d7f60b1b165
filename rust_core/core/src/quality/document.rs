//! One document, tokenized once and shared by every filter that needs its words.

use std::cell::OnceCell;

use super::gopher::TokenTable;
use super::tokenize::{words, Language};

/// A text with its words; the n-gram table is built on first use.
pub struct Document<'a> {
    pub text: &'a str,
    pub language: Language,
    pub words: Vec<&'a str>,
    table: OnceCell<TokenTable>,
}

impl<'a> Document<'a> {
    /// Tokenize `text` for `language`.
    ///
    /// ```
    /// use assay_core::quality::{Document, Language};
    /// let doc = Document::new("It's fine.", Language::English);
    /// assert_eq!(doc.words, vec!["It", "'s", "fine", "."]);
    /// ```
    pub fn new(text: &'a str, language: Language) -> Self {
        Self { text, language, words: words(text, language), table: OnceCell::new() }
    }

    /// A document whose words are not needed (filters that read only lines).
    pub fn without_words(text: &'a str, language: Language) -> Self {
        Self { text, language, words: Vec::new(), table: OnceCell::new() }
    }

    /// Token ids and lengths for the n-gram rules.
    pub fn token_table(&self) -> &TokenTable {
        self.table.get_or_init(|| TokenTable::new(&self.words))
    }
}
