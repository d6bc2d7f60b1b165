//! Character classes used by the quality filters.
//!
//! Two families live here: the punctuation sets datatrove's filters test against
//! (`PUNCTUATION_SET`, `TERMINAL_PUNCTUATION`), and the classes spaCy's English
//! tokenizer rules are written in (letters, quotes, hyphens, currency, units).
//! Python's notions of whitespace, letters and line breaks are reproduced where the
//! reference filters depend on them.

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

use crate::script::is_punctuation_category;

/// Code points with the Unicode `Sentence_Terminal` property that datatrove 0.10
/// lists in `TERMINAL_PUNCTUATION` (sorted, for binary search).
static TERMINAL: [u32; 159] = [
    0x21, 0x2E, 0x3F, 0x589, 0x61D, 0x61E, 0x61F, 0x6D4, 0x700, 0x701, 0x702, 0x7F9, 0x837, 0x839,
    0x83D, 0x83E, 0x964, 0x965, 0x104A, 0x104B, 0x1362, 0x1367, 0x1368, 0x166E, 0x1735, 0x1736,
    0x17D4, 0x17D5, 0x17D6, 0x17D9, 0x17DA, 0x1803, 0x1809, 0x1944, 0x1945, 0x1AA8, 0x1AA9, 0x1AAA,
    0x1AAB, 0x1B5A, 0x1B5B, 0x1B5E, 0x1B5F, 0x1B7D, 0x1B7E, 0x1C3B, 0x1C3C, 0x1C7E, 0x1C7F, 0x203C,
    0x203D, 0x2047, 0x2048, 0x2049, 0x2E2E, 0x2E3C, 0x2E53, 0x2E54, 0x3002, 0xA4FF, 0xA60E, 0xA60F,
    0xA6F3, 0xA6F7, 0xA876, 0xA877, 0xA8CE, 0xA8CF, 0xA92F, 0xA9C8, 0xA9C9, 0xAA5D, 0xAA5E, 0xAA5F,
    0xAAF0, 0xAAF1, 0xABEB, 0xFE52, 0xFE56, 0xFE57, 0xFF01, 0xFF0E, 0xFF1F, 0xFF61, 0x10A56,
    0x10A57, 0x10F55, 0x10F56, 0x10F57, 0x10F58, 0x10F59, 0x10F86, 0x10F87, 0x10F88, 0x10F89,
    0x11047, 0x11048, 0x110BE, 0x110BF, 0x110C0, 0x110C1, 0x11141, 0x11142, 0x11143, 0x111C5,
    0x111C6, 0x111CD, 0x111DE, 0x111DF, 0x11238, 0x11239, 0x1123B, 0x1123C, 0x112A9, 0x1144B,
    0x1144C, 0x115C2, 0x115C3, 0x115C9, 0x115CA, 0x115CB, 0x115CC, 0x115CD, 0x115CE, 0x115CF,
    0x115D0, 0x115D1, 0x115D2, 0x115D3, 0x115D4, 0x115D5, 0x115D6, 0x115D7, 0x11641, 0x11642,
    0x1173C, 0x1173D, 0x1173E, 0x11944, 0x11946, 0x11A42, 0x11A43, 0x11A9B, 0x11A9C, 0x11C41,
    0x11C42, 0x11EF7, 0x11EF8, 0x11F43, 0x11F44, 0x16A6E, 0x16A6F, 0x16AF5, 0x16B37, 0x16B38,
    0x16B44, 0x16E98, 0x1BC9F, 0x1DA88,
];

/// The terminal punctuation spaCy's sentencizer does NOT split on (newer Unicode
/// additions that datatrove lists but spaCy 3.8 does not).
static NOT_SENTENCIZER: [u32; 31] = [
    0x61D, 0x61E, 0x837, 0x839, 0x83D, 0x83E, 0x17D4, 0x17D5, 0x17D6, 0x17D9, 0x17DA, 0x1B7D,
    0x1B7E, 0x2E53, 0x2E54, 0x10F55, 0x10F56, 0x10F57, 0x10F58, 0x10F59, 0x10F86, 0x10F87, 0x10F88,
    0x10F89, 0x11944, 0x11946, 0x11EF7, 0x11EF8, 0x11F43, 0x11F44, 0x16E98,
];

/// Non-ASCII characters of datatrove's `PUNCTUATION` string (ASCII ones are in a mask).
const PUNCTUATION_NON_ASCII: &str = "—”％１〈、━【「」，】；“《„’∶´．（–？！：～«〉》）。…►»";
const PUNCTUATION_ASCII: &str = "!/:&(\\#%+^]~';{|[=-`*$,><)?@_.\"}";

const fn ascii_mask(chars: &str) -> u128 {
    let bytes = chars.as_bytes();
    let mut mask = 0u128;
    let mut i = 0;
    while i < bytes.len() {
        mask |= 1u128 << bytes[i];
        i += 1;
    }
    mask
}

/// ASCII part of datatrove's `PUNCTUATION_SET`: the listed symbols plus the control
/// characters 0..=8, 11..=31 and 127 (tab and line feed are not in it).
const PUNCT_ASCII_MASK: u128 = ascii_mask(PUNCTUATION_ASCII)
    | ((1u128 << 9) - 1)
    | (((1u128 << 32) - 1) & !((1u128 << 11) - 1))
    | (1u128 << 127);

/// True for a character of datatrove's `PUNCTUATION_SET` (its `PUNCTUATION` string,
/// which also holds the C0/C1 control characters except tab and line feed, united
/// with `TERMINAL_PUNCTUATION`).
#[inline]
pub fn is_datatrove_punctuation(c: char) -> bool {
    let u = c as u32;
    if u < 128 {
        return is_datatrove_punctuation_ascii(u as u8);
    }
    (0x80..0xA0).contains(&u) || PUNCTUATION_NON_ASCII.contains(c) || is_terminal_punctuation(c)
}

/// [`is_datatrove_punctuation`] of an ASCII byte (false for any other byte).
#[inline]
pub fn is_datatrove_punctuation_ascii(b: u8) -> bool {
    b < 128 && PUNCT_ASCII_MASK & (1u128 << b) != 0
}

/// True for a character of datatrove's `TERMINAL_PUNCTUATION` (`.`, `!`, `?`, `。`, ...).
#[inline]
pub fn is_terminal_punctuation(c: char) -> bool {
    match c {
        '.' | '!' | '?' => true,
        _ if (c as u32) < 0x580 => false,
        _ => TERMINAL.binary_search(&(c as u32)).is_ok(),
    }
}

/// True for the characters spaCy's sentencizer ends a sentence on (its default
/// `punct_chars`).
#[inline]
pub fn is_sentence_end_char(c: char) -> bool {
    is_terminal_punctuation(c) && NOT_SENTENCIZER.binary_search(&(c as u32)).is_err()
}

/// Python's `str.isspace` for one character (Unicode White_Space plus the
/// information separators U+001C..U+001F, which Python also counts).
#[inline]
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.isalpha` for one character: general category L*.
#[inline]
pub fn is_py_alpha(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
    )
}

/// Unicode punctuation (general category P*), spaCy's `is_punct` per character.
#[inline]
pub fn is_unicode_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~');
    }
    is_punctuation_category(get_general_category(c))
}

/// Python's `str.splitlines` boundaries (`\r\n` counts once, handled by callers).
const PY_LINE_BREAKS: [char; 10] =
    ['\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}', '\u{2029}'];

/// True for a character of [`PY_LINE_BREAKS`].
#[inline]
pub fn is_py_line_break(c: char) -> bool {
    PY_LINE_BREAKS.contains(&c)
}

/// Python's `str.splitlines()`: the lines without their line breaks; a final line
/// break opens no new line; the empty text has no lines.
///
/// ```
/// use assay_core::quality::chars::py_splitlines;
/// assert_eq!(py_splitlines("a\r\nb\n\nc\n"), vec!["a", "b", "", "c"]);
/// assert!(py_splitlines("").is_empty());
/// ```
pub fn py_splitlines(text: &str) -> Vec<&str> {
    PyLines::new(text).collect()
}

/// The first UTF-8 byte of each line break: [`PyLines`] decodes a character only where one
/// of these bytes is (none of them is a continuation byte, so each starts a character).
static LINE_BREAK_LEAD: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < PY_LINE_BREAKS.len() {
        let mut utf8 = [0u8; 4];
        PY_LINE_BREAKS[i].encode_utf8(&mut utf8);
        table[utf8[0] as usize] = true;
        i += 1;
    }
    table
};

/// The lines of [`py_splitlines`], one at a time, found by scanning bytes.
pub struct PyLines<'a> {
    text: &'a str,
    start: usize,
}

impl<'a> PyLines<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text, start: 0 }
    }
}

impl<'a> Iterator for PyLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.start;
        if start >= bytes.len() {
            return None;
        }
        for i in start..bytes.len() {
            if !LINE_BREAK_LEAD[bytes[i] as usize] {
                continue;
            }
            let c = self.text[i..].chars().next().expect("a lead byte starts a character");
            if is_py_line_break(c) {
                let crlf = c == '\r' && bytes.get(i + 1) == Some(&b'\n');
                self.start = i + c.len_utf8() + crlf as usize;
                return Some(&self.text[start..i]);
            }
        }
        self.start = bytes.len();
        Some(&self.text[start..])
    }
}

/// Python's `str.strip()` (whitespace as `str.isspace` defines it).
#[inline]
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Number of code points (Python's `len`), with an ASCII fast path.
#[inline]
pub fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Python's `str.count(sub)`: non-overlapping occurrences.
#[inline]
pub fn count_non_overlapping(haystack: &str, needle: &str) -> usize {
    memchr::memmem::find_iter(haystack.as_bytes(), needle.as_bytes()).count()
}

// ---- spaCy's character classes (spacy/lang/char_classes.py), as predicates ----

/// spaCy `ALPHA`: letters of the scripts spaCy lists; approximated by general category L*.
#[inline]
pub fn sp_alpha(c: char) -> bool {
    is_py_alpha(c)
}

/// spaCy `ALPHA_LOWER`: lower-case or uncased letters.
#[inline]
pub fn sp_alpha_lower(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    is_py_alpha(c) && !c.is_uppercase()
}

/// spaCy `ALPHA_UPPER`: upper-case or uncased letters.
#[inline]
pub fn sp_alpha_upper(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    is_py_alpha(c) && !c.is_lowercase()
}

/// Characters of spaCy's `_quotes` list.
#[inline]
pub fn sp_quote(c: char) -> bool {
    matches!(
        c,
        '\'' | '"' | '”' | '“' | '`' | '‘' | '´' | '’' | '‚' | ',' | '„' | '»' | '«' | '「' | '」' | '『'
            | '』' | '（' | '）' | '〔' | '〕' | '【' | '】' | '《' | '》' | '〈' | '〉' | '\u{2329}'
            | '\u{232A}' | '⟦' | '⟧'
    )
}

/// Single characters of spaCy's `_punct` list (`……` is two `…`).
#[inline]
pub fn sp_punct(c: char) -> bool {
    matches!(
        c,
        '…' | ',' | ':' | ';' | '!' | '?' | '¿' | '؟' | '¡' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>'
            | '_' | '#' | '*' | '&' | '。' | '？' | '！' | '，' | '、' | '；' | '：' | '～' | '·' | '।'
            | '،' | '۔' | '؛' | '٪'
    )
}

/// spaCy's `PUNCT` as used inside a character class in its suffix rule for `.`: the
/// `_punct` characters plus the `|`, `\` it was joined with.
#[inline]
pub fn sp_punct_in_class(c: char) -> bool {
    sp_punct(c) || c == '|' || c == '\\'
}

/// Single-character currency symbols of spaCy's `_currency` list.
#[inline]
pub fn sp_currency_char(c: char) -> bool {
    matches!(c, '$' | '£' | '€' | '¥' | '฿' | '₽' | '﷼' | '\u{20A0}'..='\u{20BF}')
}

/// spaCy's `LIST_ICONS`: "other symbols" (general category So).
#[inline]
pub fn sp_icon(c: char) -> bool {
    !c.is_ascii() && get_general_category(c) == Gc::OtherSymbol
}

/// spaCy's `_units` list (after a number they split off as a suffix).
pub const UNITS: &[&str] = &[
    "km", "km²", "km³", "m", "m²", "m³", "dm", "dm²", "dm³", "cm", "cm²", "cm³", "mm", "mm²", "mm³",
    "ha", "µm", "nm", "yd", "in", "ft", "kg", "g", "mg", "µg", "t", "lb", "oz", "m/s", "km/h", "kmh",
    "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T", "G", "M", "K",
    "%", "км", "км²", "км³", "м", "м²", "м³", "дм", "дм²", "дм³", "см", "см²", "см³", "мм", "мм²",
    "мм³", "нм", "кг", "г", "мг", "м/с", "км/ч", "кПа", "Па", "мбар", "Кб", "КБ", "кб", "Мб", "МБ",
    "мб", "Гб", "ГБ", "гб", "Тб", "ТБ", "тбكم", "كم²", "كم³", "م", "م²", "م³", "سم", "سم²", "سم³",
    "مم", "مم²", "مم³", "كم", "غرام", "جرام", "جم", "كغ", "ملغ", "كوب", "اكواب",
];

/// spaCy's multi-character currency symbols.
pub const CURRENCY_WORDS: &[&str] = &["US$", "C$", "A$"];

/// Hyphens of spaCy's `_hyphens` list, in its order.
pub const HYPHENS: &[&str] = &["-", "–", "—", "--", "---", "——", "~"];

// ---- Chinese ----

/// Chinese / full-width punctuation counted as punctuation for `language="zh"`
/// (CJK Symbols and Punctuation, full-width forms, and the general punctuation
/// block's quotes, dashes and ellipsis).
#[inline]
pub fn is_cjk_punctuation(c: char) -> bool {
    let u = c as u32;
    (0x3000..=0x303F).contains(&u) && !matches!(u, 0x3005 | 0x3007 | 0x3021..=0x3029 | 0x3038..=0x303B)
        || (0xFF01..=0xFF0F).contains(&u)
        || (0xFF1A..=0xFF20).contains(&u)
        || (0xFF3B..=0xFF40).contains(&u)
        || (0xFF5B..=0xFF65).contains(&u)
        || (0xFE10..=0xFE1F).contains(&u)
        || (0xFE30..=0xFE4F).contains(&u)
        || (0x2010..=0x2027).contains(&u)
}

/// Sentence-final punctuation for Chinese text: `。！？` (and their half-width forms)
/// plus the ASCII `.!?` and every datatrove terminal punctuation.
#[inline]
pub fn is_zh_terminal(c: char) -> bool {
    is_terminal_punctuation(c) || matches!(c, '…' | '；')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatrove_punctuation() {
        for c in "!/—”:％１〈&(、#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»\r\u{0}\u{1f}\u{7f}\u{9f}".chars() {
            assert!(is_datatrove_punctuation(c), "{c:?}");
        }
        for c in "aZ09\t\n \u{a0}中".chars() {
            assert!(!is_datatrove_punctuation(c), "{c:?}");
        }
        assert!(is_datatrove_punctuation('\u{0964}')); // Devanagari danda, a terminal
    }

    #[test]
    fn splitlines_equals_a_split_on_every_break_character() {
        // every break of str.splitlines, and the non-breaks that share their lead bytes
        let text = "a\nb\r\nc\rd\u{0b}e\u{0c}f\u{1c}g\u{1d}h\u{1e}i\u{85}j\u{2028}k\u{2029}l\u{a0}\u{2026}\u{2027}m\r";
        let reference: Vec<&str> = {
            let mut lines = Vec::new();
            let mut start = 0;
            let mut chars = text.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if is_py_line_break(c) {
                    lines.push(&text[start..i]);
                    start = i + c.len_utf8();
                    if c == '\r' && chars.peek().map(|&(_, n)| n) == Some('\n') {
                        chars.next();
                        start += 1;
                    }
                }
            }
            if start < text.len() {
                lines.push(&text[start..]);
            }
            lines
        };
        assert_eq!(reference.len(), 12); // as Python counts them
        assert_eq!(py_splitlines(text), reference);
        assert_eq!(py_splitlines("\n"), vec![""]);
    }

    #[test]
    fn terminal_sets() {
        assert!(TERMINAL.windows(2).all(|w| w[0] < w[1]));
        assert!(NOT_SENTENCIZER.windows(2).all(|w| w[0] < w[1]));
        for c in ".!?。！？｡".chars() {
            assert!(is_terminal_punctuation(c) && is_sentence_end_char(c), "{c}");
        }
        assert!(is_terminal_punctuation('\u{2E53}') && !is_sentence_end_char('\u{2E53}'));
        assert!(!is_terminal_punctuation(',') && !is_terminal_punctuation('…'));
    }

    #[test]
    fn python_whitespace_and_lines() {
        assert!(is_py_space('\u{1c}') && is_py_space('\u{a0}') && !is_py_space('\u{200b}'));
        assert_eq!(py_splitlines("a\u{2028}b\rc\u{0b}"), vec!["a", "b", "c"]);
        assert_eq!(py_splitlines("\n"), vec![""]);
        assert_eq!(py_strip("\u{1f} x \u{3000}"), "x");
    }

    #[test]
    fn unicode_punct_is_category_p() {
        for c in ".,!?'\"-()[]{}:;@#%&*_/\\。，".chars() {
            assert!(is_unicode_punct(c), "{c}");
        }
        for c in "$+<=>^`|~a1€".chars() {
            assert!(!is_unicode_punct(c), "{c}");
        }
    }
}
