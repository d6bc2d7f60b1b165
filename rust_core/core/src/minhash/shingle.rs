//! Text normalization and shingles: the exact byte strings that MinHash hashes.
//!
//! Normalization, in order:
//! 1. Unicode NFKC (full-width forms, ligatures, compatibility characters fold), then
//!    lowercase (Unicode full lowercase mapping, like Python's `str.lower`).
//! 2. Each character is then one of:
//!    - a **separator**: white space, control characters (Cc), punctuation (P*), math,
//!      currency and modifier symbols (Sm, Sc, Sk, except the emoji skin-tone modifiers).
//!      A run of separators folds into one token boundary;
//!    - **dropped**: format characters (Cf: zero-width joiner, soft hyphen, BOM...),
//!      removed without making a boundary;
//!    - an **unspaced-script character**: Han, Hiragana, Katakana, Bopomofo, Thai, Lao,
//!      Khmer, Myanmar, Tibetan, Yi, Javanese, Balinese (scripts written without spaces
//!      between words; Hangul is written with spaces and counts as a word character);
//!    - a **word character**: everything else (letters, digits, marks, emoji and other
//!      symbols of category So).
//! 3. Tokens: with `unit="auto"` every unspaced-script character is a token of its own and
//!    a maximal run of word characters is a word token; with `unit="word"` unspaced-script
//!    characters are word characters too (so a Chinese clause is one word).
//! 4. The normalized text joins the tokens with one space, except that two adjacent
//!    unspaced-script characters are joined with nothing (so `"你好，世界"` normalizes to
//!    `"你好世界"` and `"Hello,  World!"` to `"hello world"`).
//!
//! Shingles (n = `ngram`):
//! - `word` and `auto`: every run of n consecutive tokens, written as in the normalized
//!   text (so word n-grams are joined by one space and runs of CJK give character
//!   n-grams, mixed runs mix both);
//! - `char`: every run of n consecutive code points of the normalized text (the `auto`
//!   normalized text, spaces included).
//! A text with fewer than n units gives one shingle, the whole normalized text; a text
//! with no token (empty, or only separators) gives none. Shingles keep document order
//! and repeats.

use unicode_general_category::{get_general_category, GeneralCategory as Gc};
use unicode_normalization::UnicodeNormalization;

use crate::error::{AssayError, Result};
use crate::script::{is_han, is_punctuation_category};

/// What a shingle is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Word,
    Char,
    Auto,
}

impl Unit {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "word" => Ok(Self::Word),
            "char" => Ok(Self::Char),
            "auto" => Ok(Self::Auto),
            other => Err(AssayError::InvalidArgument(format!(
                "unit must be 'word', 'char' or 'auto', got {other:?}"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Word => "word",
            Self::Char => "char",
            Self::Auto => "auto",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
enum Class {
    Separator = 0,
    Dropped = 1,
    Unspaced = 2,
    Word = 3,
}

impl Class {
    /// The class numbered `bits & 3` (compiles to nothing: the numbers are the discriminants).
    #[inline(always)]
    fn from_bits(bits: u32) -> Self {
        match bits & 3 {
            0 => Class::Separator,
            1 => Class::Dropped,
            2 => Class::Unspaced,
            _ => Class::Word,
        }
    }
}

/// Scripts written without spaces between words.
#[inline]
pub fn is_unspaced_script(c: char) -> bool {
    is_han(c)
        || matches!(c as u32,
            0x3040..=0x30FF          // Hiragana, Katakana
            | 0x31F0..=0x31FF        // Katakana phonetic extensions
            | 0xFF66..=0xFF9F        // halfwidth Katakana
            | 0x3100..=0x312F        // Bopomofo
            | 0x31A0..=0x31BF        // Bopomofo extended
            | 0x0E00..=0x0EFF        // Thai, Lao
            | 0x0F00..=0x0FFF        // Tibetan
            | 0x1000..=0x109F        // Myanmar
            | 0xA9E0..=0xA9FF        // Myanmar extended B
            | 0xAA60..=0xAA7F        // Myanmar extended A
            | 0x1780..=0x17FF        // Khmer
            | 0x19E0..=0x19FF        // Khmer symbols
            | 0xA000..=0xA4CF        // Yi
            | 0xA980..=0xA9DF        // Javanese
            | 0x1B00..=0x1B7F)       // Balinese
}

#[inline]
fn classify(c: char) -> Class {
    if c.is_ascii() {
        return if c.is_ascii_alphanumeric() { Class::Word } else { Class::Separator };
    }
    if c.is_whitespace() {
        return Class::Separator;
    }
    match get_general_category(c) {
        category if is_punctuation_category(category) => Class::Separator,
        Gc::Control | Gc::MathSymbol | Gc::CurrencySymbol => Class::Separator,
        Gc::ModifierSymbol if !(0x1F3FB..=0x1F3FF).contains(&(c as u32)) => Class::Separator,
        Gc::Format => Class::Dropped,
        _ if is_unspaced_script(c) => Class::Unspaced,
        _ => Class::Word,
    }
}

/// What normalization needs to know of every Basic Multilingual Plane character, looked
/// up in one table instead of computed per character (the Unicode property lookups are
/// binary searches of 20-30 ns each, which made non-ASCII text 10-50x slower than ASCII).
/// Built once per process from the same functions the per-character path uses.
mod bmp {
    use std::sync::OnceLock;

    use unicode_normalization::char::canonical_combining_class;
    use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

    use super::{classify, Class, Utf8};

    /// Bits 0-23: the UTF-8 bytes of the lowercase of the character (of the one it stands
    /// for, see [`nfkc_boundary`]); 24-25: their count; 26-27: its [`Class`]; 28: the
    /// lowercase mapping is not one BMP character (use the slow path); 29: an NFKC segment
    /// boundary.
    #[derive(Clone, Copy)]
    pub struct Info(u32);

    const COMPLEX: u32 = 1 << 28;
    const NFKC_BOUNDARY: u32 = 1 << 29;

    impl Info {
        fn of(c: char) -> Self {
            let (c, boundary) = nfkc_boundary(c);
            let boundary = if boundary { NFKC_BOUNDARY } else { 0 };
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(first), None) if first as u32 <= 0xFFFF => {
                    let class = classify(first) as u32;
                    let utf8 = Utf8::of(first);
                    Self(utf8.bytes | utf8.len << 24 | class << 26 | boundary)
                }
                _ => Self(COMPLEX | boundary),
            }
        }

        /// The lowercase character and its class, unless the mapping is complex.
        #[inline(always)]
        pub fn lowercase(self) -> Option<(Utf8, Class)> {
            if self.0 & COMPLEX != 0 {
                return None;
            }
            let utf8 = Utf8 { bytes: self.0 & 0xFF_FFFF, len: self.0 >> 24 & 3 };
            Some((utf8, Class::from_bits(self.0 >> 26)))
        }

        #[inline(always)]
        pub fn nfkc_boundary(self) -> bool {
            self.0 & NFKC_BOUNDARY != 0
        }
    }

    /// Whether a segment can start at `c`, and the character it stands for there.
    ///
    /// A character with NFKC_Quick_Check=Yes and combining class 0 is unchanged by NFKC
    /// and never combines with what precedes it. So is a starter whose NFKC is one such
    /// character (full-width forms, the ideographic space), except that it stands for
    /// that character: a segment of it alone normalizes to it, whatever precedes.
    pub(super) fn nfkc_boundary(c: char) -> (char, bool) {
        let stable = |x: char| is_nfkc_quick(std::iter::once(x)) == IsNormalized::Yes && canonical_combining_class(x) == 0;
        if stable(c) {
            return (c, true);
        }
        let mut normalized = std::iter::once(c).nfkc();
        match (normalized.next(), normalized.next()) {
            (Some(single), None) if canonical_combining_class(c) == 0 && stable(single) => (single, true),
            _ => (c, false),
        }
    }

    /// The table (256 KB; a script's text touches only its own few blocks of it).
    pub fn table() -> &'static [Info] {
        static TABLE: OnceLock<Vec<Info>> = OnceLock::new();
        TABLE.get_or_init(|| (0..=0xFFFFu32).map(|cp| char::from_u32(cp).map_or(Info(COMPLEX), Info::of)).collect())
    }
}

/// A normalized text and the byte range of each of its tokens.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    pub text: String,
    pub tokens: Vec<(u32, u32)>,
    /// Scratch for the vectorized ASCII path: the lowercased input.
    lowered: Vec<u8>,
    /// Scratch for long ASCII runs inside non-ASCII text (normalized on their own, then
    /// appended).
    ascii_run: Option<Box<Normalized>>,
}

/// A token builder: appends characters to the normalized text.
/// `TRACK`: record each token's input range (`sources`); compiled out when false.
struct Builder<'a, const TRACK: bool> {
    out: &'a mut Normalized,
    split_unspaced: bool,
    /// The open word token's start, when one is open.
    open_word: Option<u32>,
    /// The last token was an unspaced-script character.
    last_unspaced: bool,
    /// When tracking sources: each token's byte range in the input (see
    /// [`normalize_with_sources`]), and the input range of the segment being pushed.
    sources: Option<&'a mut Vec<(u32, u32)>>,
    segment: (u32, u32),
    word_source: (u32, u32),
}

/// A character as its UTF-8 bytes packed little-endian into a u32 (first byte lowest), and
/// their count: appended to the normalized text with one 4-byte store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Utf8 {
    bytes: u32,
    len: u32,
}

impl Utf8 {
    fn of(c: char) -> Self {
        let mut buffer = [0u8; 4];
        let len = c.encode_utf8(&mut buffer).len() as u32;
        Self { bytes: u32::from_le_bytes(buffer), len }
    }
}

impl<const TRACK: bool> Builder<'_, TRACK> {
    #[inline(always)]
    fn close_word(&mut self) {
        if let Some(start) = self.open_word.take() {
            self.out.tokens.push((start, self.out.text.len() as u32));
            if TRACK {
                if let Some(sources) = self.sources.as_deref_mut() {
                    sources.push(self.word_source);
                }
            }
        }
    }

    #[inline(always)]
    fn write(&mut self, c: Utf8) {
        // SAFETY: four bytes are reserved; only the character's own `len` bytes, a whole
        // UTF-8 sequence, become part of the string (the rest is spare capacity).
        unsafe {
            let text = self.out.text.as_mut_vec();
            text.reserve(4);
            let end = text.len();
            std::ptr::write_unaligned(text.as_mut_ptr().add(end) as *mut u32, c.bytes.to_le());
            text.set_len(end + c.len as usize);
        }
    }

    #[inline]
    fn push(&mut self, c: char) {
        self.push_classified(Utf8::of(c), classify(c))
    }

    /// Letters come first: a jump table over the four classes cost more than these
    /// branches on real text.
    #[inline(always)]
    fn push_classified(&mut self, c: Utf8, class: Class) {
        if class == Class::Word || (class == Class::Unspaced && !self.split_unspaced) {
            if self.open_word.is_none() {
                if !self.out.tokens.is_empty() {
                    self.out.text.push(' ');
                }
                self.open_word = Some(self.out.text.len() as u32);
                self.last_unspaced = false;
                if TRACK {
                    self.word_source.0 = self.segment.0;
                }
            }
            if TRACK {
                self.word_source.1 = self.segment.1;
            }
            self.write(c);
        } else if class == Class::Separator {
            self.close_word();
        } else if class == Class::Unspaced {
            self.close_word();
            if !self.out.tokens.is_empty() && !self.last_unspaced {
                self.out.text.push(' ');
            }
            let start = self.out.text.len() as u32;
            self.write(c);
            self.out.tokens.push((start, self.out.text.len() as u32));
            if TRACK {
                if let Some(sources) = self.sources.as_deref_mut() {
                    sources.push(self.segment);
                }
            }
            self.last_unspaced = true;
        }
        // Class::Dropped: nothing.
    }

    /// `push_lowercase` of an ASCII character.
    #[inline(always)]
    fn push_ascii(&mut self, byte: u8) {
        match ASCII_WORD_BYTE[byte as usize] {
            0 => self.close_word(),
            lower => self.push_classified(Utf8 { bytes: lower as u32, len: 1 }, Class::Word),
        }
    }

    /// `push_ascii` of every byte of `run`, through the vectorized ASCII normalizer: the
    /// run's tokens are appended, the first one joining an open word when the run starts
    /// inside one, the last one left open when the run ends inside one.
    #[cfg(target_arch = "x86_64")]
    #[inline(never)]
    fn push_ascii_run(&mut self, run: &[u8]) {
        let mut normalized = self.out.ascii_run.take().unwrap_or_default();
        // SAFETY: `run` is ASCII and the caller checked `ascii_avx2::available()`.
        unsafe { ascii_avx2::normalize(run, &mut normalized) };
        if normalized.tokens.is_empty() {
            self.close_word();
        } else {
            let is_word = |byte: u8| ASCII_WORD_BYTE[byte as usize] != 0;
            let continued = if is_word(run[0]) { self.open_word.take() } else { None };
            if continued.is_none() {
                self.close_word();
                if !self.out.tokens.is_empty() {
                    self.out.text.push(' ');
                }
            }
            let base = self.out.text.len() as u32;
            self.out.text.push_str(&normalized.text);
            let last = normalized.tokens.len() - 1;
            for (i, &(start, end)) in normalized.tokens.iter().enumerate() {
                let start = if i == 0 { continued.unwrap_or(base + start) } else { base + start };
                if i == last && is_word(run[run.len() - 1]) {
                    self.open_word = Some(start);
                } else {
                    self.out.tokens.push((start, base + end));
                }
            }
            self.last_unspaced = false;
        }
        self.out.ascii_run = Some(normalized);
    }

    /// A segment of the input: `first` alone when `dirty` is false, else text to normalize.
    #[inline(always)]
    fn push_segment(&mut self, segment: &str, first: char, dirty: bool, table: &[bmp::Info]) {
        if dirty {
            for c in segment.nfkc() {
                self.push_lowercase(c, table);
            }
        } else if first.is_ascii() {
            self.push_ascii(first as u8);
        } else {
            self.push_lowercase(first, table);
        }
    }

    #[inline(always)]
    fn push_lowercase(&mut self, c: char, table: &[bmp::Info]) {
        if let Some((lower, class)) = table.get(c as usize).and_then(|info| info.lowercase()) {
            self.push_classified(lower, class);
        } else {
            for lower in c.to_lowercase() {
                self.push(lower);
            }
        }
    }
}

/// Normalize `text` into `out` (cleared first), splitting unspaced scripts into
/// one token per character unless `unit` is `Word`.
pub fn normalize_into(text: &str, unit: Unit, out: &mut Normalized) {
    normalize_tracked::<false>(text, unit, out, None)
}

/// [`normalize_into`], and the byte range in `text` that each token came from (pushed
/// onto `sources`, cleared first): the characters whose normalization made the token, so
/// a match found in normalized tokens can be cut out of the original text. Slower than
/// `normalize_into` (no vectorized ASCII path); the tokens are the same.
///
/// ```
/// use assay_core::minhash::shingle::{normalize_with_sources, Normalized, Unit};
/// let (mut out, mut sources) = (Normalized::default(), Vec::new());
/// normalize_with_sources("Hello, ＷＯＲＬＤ!", Unit::Auto, &mut out, &mut sources);
/// assert_eq!(out.text, "hello world");
/// assert_eq!(sources, [(0, 5), (7, 22)]);
/// ```
pub fn normalize_with_sources(text: &str, unit: Unit, out: &mut Normalized, sources: &mut Vec<(u32, u32)>) {
    sources.clear();
    normalize_tracked::<true>(text, unit, out, Some(sources))
}

fn normalize_tracked<const TRACK: bool>(text: &str, unit: Unit, out: &mut Normalized, sources: Option<&mut Vec<(u32, u32)>>) {
    out.text.clear();
    out.tokens.clear();
    if text.is_ascii() && !TRACK {
        #[cfg(target_arch = "x86_64")]
        {
            if ascii_avx2::available() {
                // SAFETY: the CPU has AVX2 and BMI1, checked just above.
                unsafe { ascii_avx2::normalize(text.as_bytes(), out) };
                return;
            }
        }
        normalize_ascii(text.as_bytes(), out);
        return;
    }
    let mut builder = Builder::<TRACK> {
        out,
        split_unspaced: unit != Unit::Word,
        open_word: None,
        last_unspaced: false,
        sources,
        segment: (0, 0),
        word_source: (0, 0),
    };
    let table = bmp::table();
    // NFKC segment by segment: a character with NFKC_Quick_Check=Yes and combining class
    // 0 never changes or combines with what precedes it, so the text splits before each
    // one (and before the stand-ins of `bmp::nfkc_boundary`), and only segments that hold
    // anything else (compatibility characters with longer mappings, combining marks,
    // Hangul jamo) go through the normalizer.
    let bytes = text.as_bytes();
    let mut pending: Option<(usize, char)> = None;
    let mut dirty = false;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] < 0x80 {
            // A run of ASCII: each character is a boundary, and all but the run's last are
            // final at once (only the last can still combine with what follows).
            if let Some((start, first)) = pending {
                builder.segment = (start as u32, at as u32);
                builder.push_segment(&text[start..at], first, dirty, table);
            }
            let run_end = bytes[at..].iter().position(|&b| b >= 0x80).map_or(bytes.len(), |n| at + n);
            #[cfg(target_arch = "x86_64")]
            {
                if run_end - at > VECTOR_ASCII_RUN && !TRACK && ascii_avx2::available() {
                    builder.push_ascii_run(&bytes[at..run_end - 1]);
                    at = run_end - 1;
                }
            }
            while at + 1 < run_end {
                builder.segment = (at as u32, at as u32 + 1);
                builder.push_ascii(bytes[at]);
                at += 1;
            }
            pending = Some((at, bytes[at] as char));
            dirty = false;
            at += 1;
            continue;
        }
        let c = text[at..].chars().next().unwrap();
        if table.get(c as usize).is_some_and(|info| info.nfkc_boundary()) {
            if let Some((start, first)) = pending {
                builder.segment = (start as u32, at as u32);
                builder.push_segment(&text[start..at], first, dirty, table);
            }
            pending = Some((at, c));
            dirty = false;
        } else {
            pending.get_or_insert((at, c));
            dirty = true;
        }
        at += c.len_utf8();
    }
    if let Some((start, first)) = pending {
        builder.segment = (start as u32, text.len() as u32);
        builder.push_segment(&text[start..], first, dirty, table);
    }
    builder.close_word();
}

/// ASCII runs longer than this inside non-ASCII text go through the vectorized ASCII
/// normalizer (shorter ones byte by byte).
const VECTOR_ASCII_RUN: usize = 32;

/// ASCII bytes: 0 for a separator, else the lowercased byte (letters and digits).
static ASCII_WORD_BYTE: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_digit() || c.is_ascii_lowercase() {
            table[b] = c;
        } else if c.is_ascii_uppercase() {
            table[b] = c + 32;
        }
        b += 1;
    }
    table
};

/// The same rules, byte by byte, for ASCII text (letters and digits are word
/// characters, everything else separates).
fn normalize_ascii(text: &[u8], out: &mut Normalized) {
    // The output is never longer than the input: each joining space replaces at least
    // one separator byte.
    out.tokens.clear();
    let mut buffer = std::mem::take(&mut out.text).into_bytes();
    buffer.clear();
    buffer.resize(text.len(), 0);
    let (mut written, mut start, mut in_word) = (0usize, 0usize, false);
    for &b in text {
        let mapped = ASCII_WORD_BYTE[(b & 0x7F) as usize];
        if mapped != 0 {
            if !in_word {
                if written > 0 {
                    buffer[written] = b' ';
                    written += 1;
                }
                start = written;
                in_word = true;
            }
            buffer[written] = mapped;
            written += 1;
        } else if in_word {
            out.tokens.push((start as u32, written as u32));
            in_word = false;
        }
    }
    if in_word {
        out.tokens.push((start as u32, written as u32));
    }
    buffer.truncate(written);
    // SAFETY: only ASCII bytes were written.
    out.text = unsafe { String::from_utf8_unchecked(buffer) };
}

/// `normalize_ascii`, 64 bytes at a time: AVX2 classifies and lowercases the bytes, the
/// token boundaries come out of the word-byte bit mask, and each token is then copied
/// with one or two 16-byte moves (no per-byte branches).
#[cfg(target_arch = "x86_64")]
mod ascii_avx2 {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::Normalized;

    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("bmi1"))
    }

    /// Bytes in `first..first + count` (as unsigned): shifted so the range starts at -128.
    #[inline(always)]
    unsafe fn in_range(bytes: __m256i, first: u8, count: u8) -> __m256i {
        let shifted = _mm256_add_epi8(bytes, _mm256_set1_epi8(0x80u8.wrapping_sub(first) as i8));
        _mm256_cmpgt_epi8(_mm256_set1_epi8((count as i8).wrapping_sub(-128i8)), shifted)
    }

    /// The letter-or-digit bits of 32 bytes, and the bytes lowercased.
    #[inline(always)]
    unsafe fn classify(bytes: __m256i) -> (u32, __m256i) {
        let upper = in_range(bytes, b'A', 26);
        let word = _mm256_or_si256(_mm256_or_si256(upper, in_range(bytes, b'a', 26)), in_range(bytes, b'0', 10));
        let lowered = _mm256_or_si256(bytes, _mm256_and_si256(upper, _mm256_set1_epi8(0x20)));
        (_mm256_movemask_epi8(word) as u32, lowered)
    }

    /// # Safety
    /// The CPU has AVX2 and BMI1; `text` is ASCII.
    #[target_feature(enable = "avx2,bmi1")]
    pub unsafe fn normalize(text: &[u8], out: &mut Normalized) {
        let len = text.len();
        // Pass 1: lowercase into `lowered`, and record each token's input range in
        // `tokens` (start and end come from the rising and falling edges of the mask).
        let lowered = &mut out.lowered;
        lowered.clear();
        lowered.resize(len + 64, 0);
        let tokens = &mut out.tokens;
        tokens.clear();
        tokens.resize(len / 2 + 2, (0, 0));
        let (mut starts, mut ends) = (0usize, 0usize);
        let mut in_word = 0u64;
        let mut base = 0;
        while base < len {
            let mut tail = [0u8; 64];
            let source = if base + 64 <= len {
                text.as_ptr().add(base)
            } else {
                // Zero bytes are separators, so the last token ends at `len`.
                tail[..len - base].copy_from_slice(&text[base..]);
                tail.as_ptr()
            };
            let (low_bits, low) = classify(_mm256_loadu_si256(source as *const __m256i));
            let (high_bits, high) = classify(_mm256_loadu_si256(source.add(32) as *const __m256i));
            _mm256_storeu_si256(lowered.as_mut_ptr().add(base) as *mut __m256i, low);
            _mm256_storeu_si256(lowered.as_mut_ptr().add(base + 32) as *mut __m256i, high);
            let word = low_bits as u64 | (high_bits as u64) << 32;
            let previous = (word << 1) | in_word;
            in_word = word >> 63;
            let mut rising = word & !previous;
            while rising != 0 {
                tokens[starts].0 = (base + rising.trailing_zeros() as usize) as u32;
                starts += 1;
                rising &= rising - 1;
            }
            let mut falling = !word & previous;
            while falling != 0 {
                tokens[ends].1 = (base + falling.trailing_zeros() as usize) as u32;
                ends += 1;
                falling &= falling - 1;
            }
            base += 64;
        }
        if in_word != 0 {
            tokens[ends].1 = len as u32;
            ends += 1;
        }
        debug_assert_eq!(starts, ends);
        // Pass 2: copy the tokens, one space apart. The output never outruns the input,
        // so the 16-byte moves stay inside `len + 16` bytes of `buffer`.
        let mut buffer = std::mem::take(&mut out.text).into_bytes();
        buffer.clear();
        buffer.resize(len + 16, 0);
        let (from, to) = (lowered.as_ptr(), buffer.as_mut_ptr());
        let mut written = 0usize;
        for token in &mut tokens[..starts] {
            let (start, end) = (token.0 as usize, token.1 as usize);
            let mut moved = 0;
            loop {
                let chunk = _mm_loadu_si128(from.add(start + moved) as *const __m128i);
                _mm_storeu_si128(to.add(written + moved) as *mut __m128i, chunk);
                moved += 16;
                if moved >= end - start {
                    break;
                }
            }
            *to.add(written + end - start) = b' ';
            *token = (written as u32, (written + end - start) as u32);
            written += end - start + 1;
        }
        tokens.truncate(starts);
        buffer.truncate(written.saturating_sub(1));
        // SAFETY: only ASCII bytes were written.
        out.text = String::from_utf8_unchecked(buffer);
    }
}

/// The normalized text (see the module documentation).
///
/// ```
/// use assay_core::minhash::normalize_text;
/// assert_eq!(normalize_text("Hello,  WORLD!"), "hello world");
/// assert_eq!(normalize_text("你好，世界 ＡＢＣ"), "你好世界 abc");
/// ```
pub fn normalize_text(text: &str) -> String {
    let mut out = Normalized::default();
    normalize_into(text, Unit::Auto, &mut out);
    out.text
}

/// Call `f` with every shingle of an already normalized text, in order.
#[inline]
pub fn for_each_shingle<'t>(normalized: &'t Normalized, ngram: usize, unit: Unit, mut f: impl FnMut(&'t [u8])) {
    let text = normalized.text.as_bytes();
    match unit {
        Unit::Word | Unit::Auto => {
            let tokens = &normalized.tokens;
            if tokens.is_empty() {
                return;
            }
            if tokens.len() < ngram {
                f(text);
                return;
            }
            for i in 0..=tokens.len() - ngram {
                f(&text[tokens[i].0 as usize..tokens[i + ngram - 1].1 as usize]);
            }
        }
        Unit::Char => {
            if text.is_empty() {
                return;
            }
            let s = normalized.text.as_str();
            if s.is_ascii() {
                if text.len() < ngram {
                    f(text);
                } else {
                    text.windows(ngram).for_each(f);
                }
                return;
            }
            let mut starts: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
            if starts.len() < ngram {
                f(text);
                return;
            }
            starts.push(text.len());
            for i in 0..starts.len() - ngram {
                f(&text[starts[i]..starts[i + ngram]]);
            }
        }
    }
}

/// The shingles of one text, as owned byte strings.
///
/// ```
/// use assay_core::minhash::{shingles, Unit};
/// let got = shingles("The quick brown fox!", 2, Unit::Word);
/// assert_eq!(got, vec![b"the quick".to_vec(), b"quick brown".to_vec(), b"brown fox".to_vec()]);
/// ```
pub fn shingles(text: &str, ngram: usize, unit: Unit) -> Vec<Vec<u8>> {
    let mut normalized = Normalized::default();
    normalize_into(text, unit, &mut normalized);
    let mut out = Vec::new();
    for_each_shingle(&normalized, ngram.max(1), unit, |s| out.push(s.to_vec()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(text: &str, n: usize, unit: Unit) -> Vec<String> {
        shingles(text, n, unit).into_iter().map(|s| String::from_utf8(s).unwrap()).collect()
    }

    #[test]
    fn words_fold_case_punctuation_and_space() {
        assert_eq!(strings("A b,  C\n\td!", 3, Unit::Word), vec!["a b c", "b c d"]);
        assert_eq!(strings("A b,  C\n\td!", 3, Unit::Auto), vec!["a b c", "b c d"]);
    }

    #[test]
    fn short_and_empty() {
        assert_eq!(strings("Only three words", 5, Unit::Word), vec!["only three words"]);
        assert_eq!(strings("你好", 5, Unit::Char), vec!["你好"]);
        assert!(strings("", 5, Unit::Auto).is_empty());
        assert!(strings(" ,.!? \n", 5, Unit::Auto).is_empty());
        assert!(strings("", 5, Unit::Char).is_empty());
    }

    #[test]
    fn mixed_script_auto() {
        assert_eq!(
            strings("我用iPhone拍照。", 3, Unit::Auto),
            vec!["我用 iphone", "用 iphone 拍", "iphone 拍照"]
        );
        assert_eq!(strings("你好，世界！", 2, Unit::Auto), vec!["你好", "好世", "世界"]);
        assert_eq!(strings("你好，世界！", 2, Unit::Word), vec!["你好 世界"]);
        assert_eq!(strings("สวัสดี ครับ", 10, Unit::Auto), vec!["สวัสดีครับ"]);
    }

    #[test]
    fn char_unit_uses_normalized_text() {
        assert_eq!(strings("Ab, c", 3, Unit::Char), vec!["ab ", "b c"]);
        assert_eq!(strings("中文，字", 2, Unit::Char), vec!["中文", "文字"]);
    }

    #[test]
    fn vectorized_ascii_equals_bytewise() {
        let alphabet = b"aZ09 ,.-\n\t!'xYq";
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let (mut fast, mut slow) = (Normalized::default(), Normalized::default());
        for len in (0..300).chain([511, 512, 513, 1000]) {
            for _ in 0..20 {
                // Runs of word bytes and of separators, of random lengths.
                let text: String = (0..len).map(|_| alphabet[next() % alphabet.len()] as char).collect();
                normalize_into(&text, Unit::Auto, &mut fast);
                normalize_ascii(text.as_bytes(), &mut slow);
                assert_eq!(fast.text, slow.text, "{text:?}");
                assert_eq!(fast.tokens, slow.tokens, "{text:?}");
            }
        }
        for text in ["", " ", "a", "a ", " a", &"x".repeat(64), &"x".repeat(65), &"xy ".repeat(40)] {
            normalize_into(text, Unit::Auto, &mut fast);
            normalize_ascii(text.as_bytes(), &mut slow);
            assert_eq!((&fast.text, &fast.tokens), (&slow.text, &slow.tokens), "{text:?}");
        }
    }

    #[test]
    fn bmp_table_equals_the_property_functions() {
        use unicode_normalization::char::canonical_combining_class;
        use unicode_normalization::{is_nfkc_quick, IsNormalized};
        let table = bmp::table();
        for cp in 0..=0xFFFFu32 {
            let Some(c) = char::from_u32(cp) else { continue };
            let info = table[cp as usize];
            let (stands_for, boundary) = bmp::nfkc_boundary(c);
            assert_eq!(info.nfkc_boundary(), boundary, "U+{cp:04X}");
            let lower: Vec<char> = stands_for.to_lowercase().collect();
            match info.lowercase() {
                Some((utf8, class)) => {
                    assert_eq!(lower.len(), 1, "U+{cp:04X}");
                    assert_eq!(utf8, Utf8::of(lower[0]), "U+{cp:04X}");
                    assert!(class == classify(lower[0]), "U+{cp:04X}");
                }
                None => assert!(lower.len() > 1 || lower[0] as u32 > 0xFFFF, "U+{cp:04X}"),
            }
            if stands_for != c {
                // Full-width forms and the like: a boundary that stands for its NFKC.
                assert!(boundary && canonical_combining_class(c) == 0, "U+{cp:04X}");
                assert_eq!(c.to_string().nfkc().collect::<String>(), stands_for.to_string(), "U+{cp:04X}");
            } else {
                let stable = is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes && canonical_combining_class(c) == 0;
                assert_eq!(boundary, stable, "U+{cp:04X}");
            }
        }
        assert_eq!(bmp::nfkc_boundary('，'), (',', true));
        assert_eq!(bmp::nfkc_boundary('\u{3000}'), (' ', true));
        assert_eq!(bmp::nfkc_boundary('①'), ('1', true));
        assert!(!bmp::nfkc_boundary('½').1 && !bmp::nfkc_boundary('\u{301}').1);
    }

    /// The rules applied the slow, obvious way: NFKC of the whole text, then every
    /// lowercase character classified with the Unicode property functions.
    fn reference_normalize(text: &str, unit: Unit) -> (String, Vec<(u32, u32)>) {
        let mut out = Normalized::default();
        let mut builder = Builder::<false> {
            out: &mut out,
            split_unspaced: unit != Unit::Word,
            open_word: None,
            last_unspaced: false,
            sources: None,
            segment: (0, 0),
            word_source: (0, 0),
        };
        for c in text.nfkc() {
            for lower in c.to_lowercase() {
                builder.push(lower);
            }
        }
        builder.close_word();
        (out.text, out.tokens)
    }

    #[test]
    fn segmented_normalization_equals_whole_text_nfkc() {
        // Characters that stress the segment rule: compatibility forms, combining marks out
        // of order, Hangul jamo, a dotted capital I (two-character lowercase), format
        // characters, astral characters, plain letters of several scripts, and the marks
        // of Thai, Hebrew, Arabic and Devanagari (combining classes 103/107, 7/9, ...).
        let mut pool: Vec<String> = "aZe9 ,.-\u{301}\u{316}\u{327}\u{308}ＡＢ，！（）ﬁ①㎏½İÅΩКирилл你好。世界\u{1100}\u{1161}\u{11A8}가\u{AC00}\u{200D}\u{AD}\u{FEFF}😀\u{1F3FB}𝐀𠀀ﾊﾟｶﾞहिन्दीक़العربيةé\u{E9}\u{65}\u{301}Ǆǅ\u{345}ΐกขภาษาไทย\u{E48}\u{E49}\u{E38}\u{E31}\u{E4C}שָׁלוֹםمَرْحَبًا\u{93C}\u{94D}"
            .chars()
            .map(String::from)
            .collect();
        // ASCII runs long enough for the vectorized path, starting and ending inside words
        // or on separators.
        pool.extend(
            [
                "The Quick brown fox, jumps over 12 lazy dogs; again and AGAIN",
                " -- leading separators then words until the very end of it",
                "trailing separators after a long enough run of plain words ... ",
                "x",
            ]
            .map(String::from),
        );
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let mut normalized = Normalized::default();
        for round in 0..20_000 {
            let len = 1 + next(12);
            let text: String = (0..len).map(|_| pool[next(pool.len())].as_str()).collect();
            let unit = [Unit::Auto, Unit::Word][round % 2];
            normalize_into(&text, unit, &mut normalized);
            let (expected_text, expected_tokens) = reference_normalize(&text, unit);
            assert_eq!(normalized.text, expected_text, "{text:?}");
            assert_eq!(normalized.tokens, expected_tokens, "{text:?}");
        }
    }

    #[test]
    fn nfkc_and_format_characters() {
        // Full-width letters, the "ﬁ" ligature and a soft hyphen.
        assert_eq!(normalize_text("ＨＥＬＬＯ ﬁne co\u{00AD}operate"), "hello fine cooperate");
        // Emoji are kept; a ZWJ sequence stays one token.
        assert_eq!(normalize_text("I ❤️ 👨\u{200D}👩\u{200D}👧!"), "i ❤\u{FE0F} 👨👩👧");
        assert_eq!(normalize_text("price: $100 + 5%"), "price 100 5");
    }
}
