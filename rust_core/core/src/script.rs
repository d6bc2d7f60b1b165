//! Character classes shared by the kernels (which script a code point belongs to, and
//! Unicode punctuation).

use unicode_general_category::GeneralCategory;

/// True for Chinese, Japanese and Korean characters: Han ideographs (all CJK Unified
/// Ideographs blocks, radicals, compatibility ideographs), Hiragana, Katakana
/// (full and half width), Hangul (syllables and jamo) and Bopomofo.
/// Punctuation such as `。` is not CJK here; it is punctuation.
///
/// ```
/// use assay_core::script::is_cjk;
/// assert!(is_cjk('中') && is_cjk('か') && is_cjk('한'));
/// assert!(!is_cjk('a') && !is_cjk('。'));
/// ```
pub fn is_cjk(c: char) -> bool {
    is_han(c)
        || matches!(c as u32,
            0x3040..=0x309F        // Hiragana
            | 0x30A0..=0x30FF      // Katakana
            | 0x31F0..=0x31FF      // Katakana phonetic extensions
            | 0xFF66..=0xFF9F      // halfwidth Katakana
            | 0x1100..=0x11FF      // Hangul Jamo
            | 0x3130..=0x318F      // Hangul compatibility Jamo
            | 0xA960..=0xA97F      // Hangul Jamo extended A
            | 0xAC00..=0xD7AF      // Hangul syllables
            | 0xD7B0..=0xD7FF      // Hangul Jamo extended B
            | 0x3100..=0x312F      // Bopomofo
            | 0x31A0..=0x31BF)     // Bopomofo extended
}

/// True for the punctuation categories (P*: connector, dash, open, close, initial, final
/// and other punctuation).
///
/// ```
/// use unicode_general_category::{get_general_category, GeneralCategory};
/// use assay_core::script::is_punctuation_category;
/// assert!(is_punctuation_category(get_general_category('。')));
/// assert!(!is_punctuation_category(GeneralCategory::MathSymbol));
/// ```
pub fn is_punctuation_category(category: GeneralCategory) -> bool {
    matches!(
        category,
        GeneralCategory::ConnectorPunctuation
            | GeneralCategory::DashPunctuation
            | GeneralCategory::OpenPunctuation
            | GeneralCategory::ClosePunctuation
            | GeneralCategory::InitialPunctuation
            | GeneralCategory::FinalPunctuation
            | GeneralCategory::OtherPunctuation
    )
}

/// True for Han ideographs (the characters that UAX #29 segments one per word).
///
/// ```
/// assert!(assay_core::script::is_han('好'));
/// assert!(!assay_core::script::is_han('か'));
/// ```
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF            // CJK radicals supplement, Kangxi radicals
        | 0x3005 | 0x3007          // 々 〇
        | 0x3021..=0x3029          // Hangzhou numerals
        | 0x3038..=0x303B
        | 0x3400..=0x4DBF          // Extension A
        | 0x4E00..=0x9FFF          // Unified Ideographs
        | 0xF900..=0xFAFF          // Compatibility Ideographs
        | 0x20000..=0x323AF)       // Extensions B..H and the compatibility supplement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        for c in "中文漢字𠀀々".chars() {
            assert!(is_han(c) && is_cjk(c), "{c}");
        }
        for c in "ひらがなカタカナ한국어ㄅ".chars() {
            assert!(is_cjk(c) && !is_han(c), "{c}");
        }
        for c in "abc é1 ，。「」".chars() {
            assert!(!is_cjk(c), "{c}");
        }
    }
}
