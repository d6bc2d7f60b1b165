//! Word tokenization for the quality filters.
//!
//! English (`language="en"`) follows the rules of the tokenizer datatrove 0.10 uses
//! for English (spaCy's rule-based English tokenizer, `spacy.blank("en")`, whose
//! tokens datatrove strips and drops when empty):
//!
//! 1. the text is cut at whitespace (Python's `str.isspace`);
//! 2. a chunk that is a *special case* (contraction, abbreviation, emoticon) is
//!    split as the special case says;
//! 3. otherwise prefixes and suffixes are peeled off repeatedly (opening brackets,
//!    quotes, currency; closing punctuation, `'s`, units after numbers, a final `.`
//!    after a lower-case letter or two capitals, ...), stopping at a special case;
//! 4. what remains is kept whole when it looks like a URL, else split at *infixes*
//!    (`...`, a hyphen between letters, `,` between letters, `.` between a lower-case
//!    and an upper-case letter, `/ : < > =` before a letter, `+ - * ^` between digits).
//!
//! This is an independent re-implementation of those rules, not a binding: letters
//! are Unicode general category L* (spaCy lists scripts explicitly), and spaCy's
//! second pass that re-merges special cases spanning several affix tokens is not
//! reproduced. The parity figures in `benchmarks/README.md` measure the effect.
//!
//! Chinese (`language="zh"`): every Han ideograph, kana or hangul character is one
//! word and every CJK punctuation mark one token; runs of other characters are
//! tokenized with the English rules.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use super::chars::*;
use crate::script::is_cjk;

/// Languages with their own tokenization rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Chinese,
}

impl Language {
    /// Parse a language code: `en`/`eng` or `zh`/`cmn`/`zho` (any case, with an
    /// optional script or region suffix such as `zh-Hans` or `zh_CN`).
    pub fn parse(code: &str) -> Option<Self> {
        let base = code.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match base.as_str() {
            "en" | "eng" => Some(Self::English),
            "zh" | "cmn" | "zho" | "chi" => Some(Self::Chinese),
            _ => None,
        }
    }
}

/// Split `text` into words the way the quality filters count them.
///
/// ```
/// use assay_core::quality::tokenize::{words, Language};
/// assert_eq!(words("Don't stop (U.S. mln.)", Language::English),
///            vec!["Do", "n't", "stop", "(", "U.S.", "mln", ".", ")"]);
/// assert_eq!(words("我爱Rust。", Language::Chinese), vec!["我", "爱", "Rust", "。"]);
/// ```
pub fn words(text: &str, language: Language) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 5 + 1);
    match language {
        Language::English => tokenize_en(text, &mut out),
        Language::Chinese => tokenize_zh(text, &mut out),
    }
    out
}

/// Append the English tokens of `text` to `out`.
///
/// Most whitespace chunks of real text are a plain ASCII word or number: no affix, infix
/// or URL rule can apply to a run of only letters or only digits, so such a chunk is one
/// token unless it is a special case (`dont`, `10am`); only the other chunks go through
/// the affix rules ([`tokenize_chunk`]).
pub fn tokenize_en<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    let first = out.len();
    let bytes = text.as_bytes();
    let (n, mut i) = (bytes.len(), 0);
    while i < n {
        let start = i;
        // bits of NOT_LETTER / NOT_DIGIT met in the chunk
        let mut seen = 0u8;
        while i < n {
            let b = bytes[i];
            if b < 0x80 {
                let class = ASCII_BITS[b as usize];
                if class == SPACE_BITS {
                    break;
                }
                seen |= class;
                i += 1;
            } else {
                // SAFETY: `i` is at the start of a character (the loop moves by whole characters).
                let c = unsafe { text.get_unchecked(i..) }.chars().next().unwrap_or(' ');
                if is_py_space(c) {
                    break;
                }
                seen = NOT_LETTER | NOT_DIGIT;
                i += c.len_utf8();
            }
        }
        if i > start {
            let chunk = &text[start..i];
            let simple = seen & NOT_LETTER == 0 || seen & NOT_DIGIT == 0;
            if simple && !may_be_simple_special(chunk) {
                out.push(chunk);
            } else if !push_word_and_mark(chunk, out) {
                tokenize_chunk(chunk, out, true);
            }
        }
        // step over the space that ended the chunk
        if i < n {
            i += if bytes[i] < 0x80 { 1 } else { text[i..].chars().next().map_or(1, char::len_utf8) };
        }
    }
    merge_special_spans(out, first);
}

/// The second fast path of [`tokenize_en`]: an ASCII word or number followed by one mark
/// the suffix rules always split off it (`said,` `cases;` `1987.`; a `.` only after a
/// lower-case letter or a digit) gives the word (as its special case, if it is one) and
/// the mark, unless the whole chunk is a special case. False when the chunk is not of
/// that shape.
fn push_word_and_mark<'a>(chunk: &'a str, out: &mut Vec<&'a str>) -> bool {
    let bytes = chunk.as_bytes();
    let Some((&mark, body)) = bytes.split_last() else { return false };
    let Some(&last) = body.last() else { return false };
    let splits = match mark {
        b',' | b';' | b':' | b'!' | b'?' | b')' => true,
        b'.' => last.is_ascii_lowercase() || last.is_ascii_digit(),
        _ => false,
    };
    if !splits || last >= 0x80 {
        return false;
    }
    let word_class = ASCII_CLASS[last as usize];
    if !matches!(word_class, LETTER | DIGIT) || !body.iter().all(|&b| b < 0x80 && ASCII_CLASS[b as usize] == word_class) {
        return false;
    }
    if push_special(chunk, out) {
        return true;
    }
    let word = &chunk[..body.len()];
    if !push_special(word, out) {
        out.push(word);
    }
    out.push(&chunk[body.len()..]);
    true
}

const OTHER: u8 = 0;
const SPACE: u8 = 1;
const LETTER: u8 = 2;
const DIGIT: u8 = 3;

const NOT_LETTER: u8 = 1;
const NOT_DIGIT: u8 = 2;
const SPACE_BITS: u8 = 4;

/// [`ASCII_CLASS`] as bits to OR together over a chunk.
static ASCII_BITS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match ASCII_CLASS[b] {
            SPACE => SPACE_BITS,
            LETTER => NOT_DIGIT,
            DIGIT => NOT_LETTER,
            _ => NOT_LETTER | NOT_DIGIT,
        };
        b += 1;
    }
    t
};

/// Class of each ASCII byte for [`tokenize_en`]'s fast path (spaces as `str.isspace`).
static ASCII_CLASS: [u8; 128] = {
    let mut t = [OTHER; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ' => SPACE,
            b'a'..=b'z' | b'A'..=b'Z' => LETTER,
            b'0'..=b'9' => DIGIT,
            _ => OTHER,
        };
        b += 1;
    }
    t
};

/// Whether an all-letter or all-digit chunk may be a special case: a bit per (first byte,
/// length) of every special case made of ASCII letters and digits; only chunks whose bit
/// is set are looked up.
fn may_be_simple_special(chunk: &str) -> bool {
    static BITS: OnceLock<[u64; 128]> = OnceLock::new();
    let bits = BITS.get_or_init(|| {
        let mut bits = [0u64; 128];
        for key in specials().keys() {
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                bits[key.as_bytes()[0] as usize] |= 1 << key.len().min(63);
            }
        }
        bits
    });
    let len = chunk.len().min(63);
    bits[chunk.as_bytes()[0] as usize] >> len & 1 == 1 && special_case(chunk).is_some()
}

/// spaCy's second pass: adjacent tokens whose joined text is a special case that
/// the affix rules split (e.g. `Dec` `.` from `Nov/Dec.`, or `)` `:`) are
/// re-tokenized as the special case says. Longest spans win, then leftmost.
fn merge_special_spans<'a>(out: &mut Vec<&'a str>, first: usize) {
    let patterns = special_patterns();
    let tokens: &[&'a str] = &out[first..];
    let n = tokens.len();
    let adjacent = |a: &str, b: &str| a.as_ptr() as usize + a.len() == b.as_ptr() as usize;
    let mut matches: Vec<(usize, usize)> = Vec::new();
    for i in 0..n.saturating_sub(1) {
        if !adjacent(tokens[i], tokens[i + 1]) {
            continue;
        }
        let mut end = i + 1;
        while end < n && end - i < patterns.max_tokens && (end == i + 1 || adjacent(tokens[end - 1], tokens[end])) {
            let start_ptr = tokens[i].as_ptr();
            let len = tokens[end].as_ptr() as usize + tokens[end].len() - start_ptr as usize;
            // SAFETY: tokens i..=end are adjacent slices of one `str`, so the bytes
            // from the first token's start to the last token's end are valid UTF-8.
            let joined = unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(start_ptr, len)) };
            if !patterns.may_start(joined) {
                end += 1;
                continue;
            }
            if let Some(lengths) = patterns.by_text.get(joined) {
                if lengths.len() == end - i + 1 && lengths.iter().zip(&tokens[i..=end]).all(|(&l, t)| l as usize == t.len()) {
                    matches.push((i, end + 1));
                }
            }
            end += 1;
        }
    }
    if matches.is_empty() {
        return;
    }
    matches.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
    let mut seen = vec![false; n];
    let mut kept: Vec<(usize, usize)> = Vec::new();
    for (start, end) in matches {
        if !seen[start] && !seen[end - 1] {
            kept.push((start, end));
        }
        seen[start..end].iter_mut().for_each(|s| *s = true);
    }
    kept.sort_unstable();
    let tokens: Vec<&'a str> = tokens.to_vec();
    out.truncate(first);
    let mut i = 0;
    let mut next = kept.into_iter().peekable();
    while i < n {
        match next.peek() {
            Some(&(start, end)) if start == i => {
                let len = tokens[end - 1].as_ptr() as usize + tokens[end - 1].len() - tokens[start].as_ptr() as usize;
                // SAFETY: as above, adjacent slices of one `str`.
                let joined = unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(tokens[start].as_ptr(), len)) };
                push_special(joined, out);
                i = end;
                next.next();
            }
            _ => {
                out.push(tokens[i]);
                i += 1;
            }
        }
    }
}

/// Special cases the affix rules split into several tokens, keyed by their text,
/// with the byte lengths of those affix tokens.
struct SpecialPatterns {
    by_text: FxHashMap<Box<str>, Box<[u16]>>,
    max_tokens: usize,
    /// A bit per (first byte, byte length up to 63) of the keys, to skip most lookups.
    starts: [u64; 256],
}

impl SpecialPatterns {
    #[inline]
    fn may_start(&self, text: &str) -> bool {
        self.starts[text.as_bytes()[0] as usize] >> text.len().min(63) & 1 == 1
    }
}

fn special_patterns() -> &'static SpecialPatterns {
    static PATTERNS: OnceLock<SpecialPatterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let mut by_text = FxHashMap::default();
        let mut max_tokens = 0;
        for key in specials().keys() {
            let mut pieces = Vec::new();
            tokenize_chunk(key, &mut pieces, false);
            if pieces.len() >= 2 {
                max_tokens = max_tokens.max(pieces.len());
                by_text.insert(key.clone(), pieces.iter().map(|p| p.len() as u16).collect());
            }
        }
        let mut starts = [0u64; 256];
        for key in by_text.keys() {
            starts[key.as_bytes()[0] as usize] |= 1 << key.len().min(63);
        }
        SpecialPatterns { by_text, max_tokens, starts }
    })
}

/// Append the Chinese tokens of `text` to `out`: one token per CJK character or CJK
/// punctuation mark, English rules for the runs in between.
pub fn tokenize_zh<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    let mut run_start = 0;
    for (i, c) in text.char_indices() {
        if is_cjk(c) || is_cjk_punctuation(c) {
            if run_start < i {
                tokenize_en(&text[run_start..i], out);
            }
            out.push(&text[i..i + c.len_utf8()]);
            run_start = i + c.len_utf8();
        }
    }
    if run_start < text.len() {
        tokenize_en(&text[run_start..], out);
    }
}

fn tokenize_chunk<'a>(chunk: &'a str, out: &mut Vec<&'a str>, with_specials: bool) {
    let special_case = |s: &str| if with_specials { special_case(s) } else { None };
    if with_specials && push_special(chunk, out) {
        return;
    }
    let mut prefixes: Vec<&'a str> = Vec::new();
    let mut suffixes: Vec<&'a str> = Vec::new();
    let mut s = chunk;
    let mut last_len = usize::MAX;
    while !s.is_empty() && s.len() != last_len {
        if special_case(s).is_some() {
            break;
        }
        last_len = s.len();
        let pre = find_prefix(s);
        if pre > 0 {
            let minus_pre = &s[pre..];
            if !minus_pre.is_empty() && special_case(minus_pre).is_some() {
                prefixes.push(&s[..pre]);
                s = minus_pre;
                break;
            }
        }
        let suf = find_suffix(&s[pre..]);
        if suf > 0 {
            let minus_suf = &s[..s.len() - suf];
            if !minus_suf.is_empty() && special_case(minus_suf).is_some() {
                suffixes.push(&s[s.len() - suf..]);
                s = minus_suf;
                break;
            }
        }
        if pre > 0 && suf > 0 && pre + suf <= s.len() {
            prefixes.push(&s[..pre]);
            suffixes.push(&s[s.len() - suf..]);
            s = &s[pre..s.len() - suf];
        } else if pre > 0 {
            prefixes.push(&s[..pre]);
            s = &s[pre..];
        } else if suf > 0 {
            suffixes.push(&s[s.len() - suf..]);
            s = &s[..s.len() - suf];
        }
    }
    out.extend(prefixes);
    if !s.is_empty() && !(with_specials && push_special(s, out)) {
        if is_url(s) {
            out.push(s);
        } else {
            push_infix_split(s, out);
        }
    }
    out.extend(suffixes.into_iter().rev());
}

// ---------------------------------------------------------------- prefixes

/// Byte length of the prefix spaCy's English rules split off `s` (0 for none). The
/// alternatives are tried in spaCy's order; the first that matches wins.
fn find_prefix(s: &str) -> usize {
    let mut it = s.chars();
    let Some(c) = it.next() else { return 0 };
    let next = it.next();
    match c {
        '§' | '%' | '=' | '—' | '–' => return c.len_utf8(),
        '+' => {
            return if next.is_some_and(|n| n.is_ascii_digit()) { 0 } else { 1 };
        }
        _ => {}
    }
    if sp_punct(c) {
        return c.len_utf8();
    }
    if c == '.' && next == Some('.') {
        return s.bytes().take_while(|&b| b == b'.').count();
    }
    if sp_quote(c) || sp_currency_char(c) {
        return c.len_utf8();
    }
    for word in CURRENCY_WORDS {
        if s.starts_with(word) {
            return word.len();
        }
    }
    if sp_icon(c) {
        return c.len_utf8();
    }
    0
}

// ---------------------------------------------------------------- suffixes

/// Byte length of the suffix spaCy's English rules split off `s` (0 for none).
/// spaCy searches for the leftmost position from which one alternative matches to
/// the end, so the longest matching alternative wins.
fn find_suffix(s: &str) -> usize {
    let Some(last) = s.chars().next_back() else { return 0 };
    let mut best = 0usize;
    let before = |len: usize| s[..s.len() - len].chars().next_back();
    // single characters: punctuation, quotes, icons, dashes
    if sp_punct(last) || sp_quote(last) || sp_icon(last) || last == '—' || last == '–' {
        best = last.len_utf8();
    }
    // `……` is in the list too (two ellipsis characters)
    if s.ends_with("……") {
        best = best.max("……".len());
    }
    // `\.\.+`
    if s.ends_with("..") {
        best = best.max(s.bytes().rev().take_while(|&b| b == b'.').count());
    }
    for tail in ["'s", "'S", "’s", "’S"] {
        if s.ends_with(tail) {
            best = best.max(tail.len());
        }
    }
    if last == '+' && before(1).is_some_and(|c| c.is_ascii_digit()) {
        best = best.max(1);
    }
    if last == '.' {
        let prev = before(1);
        let prev2 = prev.and_then(|p| s[..s.len() - 1 - p.len_utf8()].chars().next_back());
        let after_degree = prev.is_some_and(|p| "FfCcKk".contains(p)) && prev2 == Some('°');
        let after_class = prev.is_some_and(|p| {
            p.is_ascii_digit()
                || sp_alpha_lower(p)
                || matches!(p, '%' | '²' | '-' | '+' | '(' | '?' | ':' | ')')
                || sp_punct_in_class(p)
                || sp_quote(p)
        });
        let after_two_upper = prev.is_some_and(sp_alpha_upper) && prev2.is_some_and(sp_alpha_upper);
        if after_degree || after_class || after_two_upper {
            best = best.max(1);
        }
    }
    // currency and units after a digit
    if !s.bytes().any(|b| b.is_ascii_digit()) {
        return best;
    }
    // only a chunk ending like some unit or currency word can end with one
    static LAST_CHARS: OnceLock<Vec<char>> = OnceLock::new();
    let last_chars = LAST_CHARS.get_or_init(|| {
        let mut chars: Vec<char> =
            CURRENCY_WORDS.iter().chain(UNITS).filter_map(|w| w.chars().next_back()).collect();
        chars.sort_unstable();
        chars.dedup();
        chars
    });
    if last_chars.binary_search(&last).is_err() {
        return if sp_currency_char(last) && before(last.len_utf8()).is_some_and(|c| c.is_ascii_digit()) {
            best.max(last.len_utf8())
        } else {
            best
        };
    }
    for word in CURRENCY_WORDS.iter().copied().chain(UNITS.iter().copied()) {
        if s.len() > word.len() && s.ends_with(word) && before(word.len()).is_some_and(|c| c.is_ascii_digit()) {
            best = best.max(word.len());
        }
    }
    if sp_currency_char(last) && before(last.len_utf8()).is_some_and(|c| c.is_ascii_digit()) {
        best = best.max(last.len_utf8());
    }
    best
}

// ---------------------------------------------------------------- infixes

/// Split `s` at spaCy's English infixes and push the pieces.
fn push_infix_split<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    let may_split = s.bytes().skip(1).any(|b| {
        b >= 0x80 || matches!(b, b'.' | b'+' | b'-' | b'*' | b'^' | b',' | b':' | b'<' | b'>' | b'=' | b'/' | b'~')
    });
    if !may_split {
        out.push(s);
        return;
    }
    // most tokens are short: their characters go on the stack
    let mut stack = [(0usize, '\0'); 64];
    let heap: Vec<(usize, char)>;
    let chars: &[(usize, char)] = if s.len() <= stack.len() {
        let mut n = 0;
        for item in s.char_indices() {
            stack[n] = item;
            n += 1;
        }
        &stack[..n]
    } else {
        heap = s.char_indices().collect();
        &heap
    };
    let n = chars.len();
    let at = |k: usize| chars.get(k).map(|&(_, c)| c);
    let byte = |k: usize| if k < n { chars[k].0 } else { s.len() };
    let mut start = 0usize; // byte offset of the current piece
    let mut k = 0usize;
    while k < n {
        let Some(len) = infix_at(chars, k, &at) else {
            k += 1;
            continue;
        };
        let (infix_start, infix_end) = (byte(k), byte(k + len));
        if infix_start != 0 {
            if infix_start != start {
                out.push(&s[start..infix_start]);
            }
            out.push(&s[infix_start..infix_end]);
            start = infix_end;
        }
        k += len;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
}

/// Length in characters of the infix that starts at char index `k`, if any.
fn infix_at(chars: &[(usize, char)], k: usize, at: &dyn Fn(usize) -> Option<char>) -> Option<usize> {
    let c = chars[k].1;
    let prev = if k > 0 { at(k - 1) } else { None };
    let next = at(k + 1);
    // `\.\.+` and `…`
    if c == '.' && next == Some('.') {
        let mut len = 2;
        while at(k + len) == Some('.') {
            len += 1;
        }
        return Some(len);
    }
    if c == '…' || sp_icon(c) {
        return Some(1);
    }
    // (?<=[0-9])[+\-\*^](?=[0-9-])
    if matches!(c, '+' | '-' | '*' | '^')
        && prev.is_some_and(|p| p.is_ascii_digit())
        && next.is_some_and(|n| n.is_ascii_digit() || n == '-')
    {
        return Some(1);
    }
    // (?<=[{al}{q}])\.(?=[{au}{q}])
    if c == '.'
        && prev.is_some_and(|p| sp_alpha_lower(p) || sp_quote(p))
        && next.is_some_and(|n| sp_alpha_upper(n) || sp_quote(n))
    {
        return Some(1);
    }
    // (?<=[{a}]),(?=[{a}])
    if c == ',' && prev.is_some_and(sp_alpha) && next.is_some_and(sp_alpha) {
        return Some(1);
    }
    // (?<=[{a}0-9])(?:{hyphens})(?=[{a}])
    if prev.is_some_and(|p| sp_alpha(p) || p.is_ascii_digit()) {
        for hyphen in HYPHENS {
            let len = hyphen.chars().count();
            let matches = hyphen.chars().enumerate().all(|(j, h)| at(k + j) == Some(h));
            if matches && at(k + len).is_some_and(sp_alpha) {
                return Some(len);
            }
        }
        // (?<=[{a}0-9])[:<>=/](?=[{a}])
        if matches!(c, ':' | '<' | '>' | '=' | '/') && next.is_some_and(sp_alpha) {
            return Some(1);
        }
    }
    None
}

// ---------------------------------------------------------------- URLs

/// spaCy's `URL_MATCH` for a whole token: optional `scheme://`, optional
/// `user[:pass]@`, a host (dotted IPv4 or labels ending in a lower-case TLD of 2..63
/// letters), an optional `:port` and an optional path starting with `/`, `?` or `#`.
fn is_url(s: &str) -> bool {
    // every host form (domain or dotted IPv4) holds a '.'
    if !s.as_bytes().contains(&b'.') {
        return false;
    }
    let mut rest = s;
    if let Some(pos) = rest.find("://") {
        let scheme = &rest[..pos];
        if scheme.chars().count() >= 2
            && scheme.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '+' || c == '-' || c == '.')
        {
            rest = &rest[pos + 3..];
        }
    }
    // user info: any '@' whose remainder is a valid host+port+path
    if host_port_path(rest) {
        return true;
    }
    for (i, _) in rest.match_indices('@') {
        if i > 0 && host_port_path(&rest[i + 1..]) {
            return true;
        }
    }
    false
}

fn host_port_path(s: &str) -> bool {
    let host_end = s.find([':', '/', '?', '#']).unwrap_or(s.len());
    let (host, tail) = s.split_at(host_end);
    let tail = match tail.strip_prefix(':') {
        Some(port_and_path) => {
            let digits = port_and_path.bytes().take_while(|b| b.is_ascii_digit()).count();
            if !(2..=5).contains(&digits) {
                return false;
            }
            &port_and_path[digits..]
        }
        None => tail,
    };
    if !(tail.is_empty() || tail.starts_with(['/', '?', '#'])) {
        return false;
    }
    is_ipv4(host) || is_domain(host)
}

fn is_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4 || parts.iter().any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let v: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(999)).collect();
    let private = v[0] == 10 || v[0] == 127 || (v[0] == 169 && v[1] == 254) || (v[0] == 192 && v[1] == 168)
        || (v[0] == 172 && (16..=31).contains(&v[1]));
    !private && (1..=223).contains(&v[0]) && v[1] <= 255 && v[2] <= 255 && (1..=254).contains(&v[3])
}

fn is_domain(host: &str) -> bool {
    let Some((labels, tld)) = host.rsplit_once('.') else { return false };
    let tld_len = tld.chars().count();
    if !(2..=63).contains(&tld_len) || !tld.chars().all(sp_alpha_lower) || labels.is_empty() {
        return false;
    }
    let label_char = |c: char| c.is_ascii_alphanumeric() || ('\u{a1}'..='\u{ffff}').contains(&c);
    labels.split('.').all(|label| {
        let n = label.chars().count();
        (1..=64).contains(&n)
            && label.chars().next().is_some_and(label_char)
            && label.chars().next_back().is_some_and(label_char)
            && label.chars().all(|c| label_char(c) || c == '_' || c == '-')
    })
}

// ---------------------------------------------------------------- special cases

/// Abbreviations and other strings spaCy's English rules keep as one token.
const SINGLE_TOKENS: &[&str] = &[
    // base
    "'", "\\\")", "<space>", "''", "C++", "a.", "b.", "c.", "d.", "e.", "f.", "g.", "h.", "i.", "j.", "k.",
    "l.", "m.", "n.", "o.", "p.", "q.", "r.", "s.", "t.", "u.", "v.", "w.", "x.", "y.", "z.", "ä.", "ö.",
    "ü.", "—", "’", "’’",
    // emoticons
    ":)", ":-)", ":))", ":-))", ":)))", ":-)))", "(:", "(-:", "=)", "(=", ":]", ":-]", "[:", "[-:", "[=",
    "=]", ":o)", "(o:", ":}", ":-}", "8)", "8-)", "(-8", ";)", ";-)", "(;", "(-;", ":(", ":-(", ":((",
    ":-((", ":(((", ":-(((", "):", ")-:", "=(", ">:(", ":')", ":'-)", ":'(", ":'-(", ":/", ":-/", "=/",
    "=|", ":|", ":-|", "]=", "=[", ":1", ":P", ":-P", ":p", ":-p", ":O", ":-O", ":o", ":-o", ":0", ":-0",
    ":()", ">:o", ":*", ":-*", ":3", ":-3", "=3", ":>", ":->", ":X", ":-X", ":x", ":-x", ":D", ":-D", ";D",
    ";-D", "=D", "xD", "XD", "xDD", "XDD", "8D", "8-D", "^_^", "^__^", "^___^", ">.<", ">.>", "<.<", "._.",
    ";_;", "-_-", "-__-", "v.v", "V.V", "v_v", "V_V", "o_o", "o_O", "O_o", "O_O", "0_o", "o_0", "0_0",
    "o.O", "O.o", "O.O", "o.o", "0.0", "o.0", "0.o", "@_@", "<3", "<33", "<333", "</3", "(^_^)", "(-_-)",
    "(._.)", "(>_<)", "(*_*)", "(¬_¬)", "ಠ_ಠ", "ಠ︵ಠ", "(ಠ_ಠ)", "¯\\(ツ)/¯", "(╯°□°）╯︵┻━┻", "><(((*>",
    ":’(", ":’)", ":’-(", ":’-)",
    // English
    "'d", "’d", "'S", "'s", "‘S", "‘s", "’S", "’s", "and/or", "w/o", "'re", "’re", "'Cause", "'cause",
    "'cos", "'Cos", "'coz", "'Coz", "'cuz", "'Cuz", "'bout", "’Cause", "’cause", "’cos", "’Cos", "’coz",
    "’Coz", "’cuz", "’Cuz", "’bout", "ma'am", "Ma'am", "ma’am", "Ma’am", "o'clock", "O'clock", "o’clock",
    "O’clock", "lovin'", "Lovin'", "lovin’", "Lovin’", "lovin", "Lovin", "havin'", "Havin'", "havin’",
    "Havin’", "havin", "Havin", "doin'", "Doin'", "doin’", "Doin’", "doin", "Doin", "goin'", "Goin'",
    "goin’", "Goin’", "goin", "Goin", "nothin", "Nothin", "nothin'", "Nothin'", "nothin’", "Nothin’",
    "nuthin", "Nuthin", "nuthin'", "Nuthin'", "nuthin’", "Nuthin’", "ol", "Ol", "ol'", "Ol'", "ol’", "Ol’",
    "somethin", "Somethin", "somethin'", "Somethin'", "somethin’", "Somethin’", "em", "'em", "’em", "ll",
    "'ll", "’ll", "nuff", "'nuff", "’nuff",
    "Mt.", "Ak.", "Ala.", "Apr.", "Ariz.", "Ark.", "Aug.", "Calif.", "Colo.", "Conn.", "Dec.", "Del.",
    "Feb.", "Fla.", "Ga.", "Ia.", "Id.", "Ill.", "Ind.", "Jan.", "Jul.", "Jun.", "Kan.", "Kans.", "Ky.",
    "La.", "Mar.", "Mass.", "Mich.", "Minn.", "Miss.", "N.C.", "N.D.", "N.H.", "N.J.", "N.M.", "N.Y.",
    "Neb.", "Nebr.", "Nev.", "Nov.", "Oct.", "Okla.", "Ore.", "Pa.", "S.C.", "Sep.", "Sept.", "Tenn.",
    "Va.", "Wash.", "Wis.", "a.m.", "Adm.", "Bros.", "co.", "Co.", "Corp.", "D.C.", "Dr.", "e.g.", "E.g.",
    "E.G.", "Gen.", "Gov.", "i.e.", "I.e.", "I.E.", "Inc.", "Jr.", "Ltd.", "Md.", "Messrs.", "Mo.",
    "Mont.", "Mr.", "Mrs.", "Ms.", "p.m.", "Ph.D.", "Prof.", "Rep.", "Rev.", "Sen.", "St.", "vs.", "v.s.",
    "\u{a0}",
];

/// Words spaCy's contraction rules would produce but leaves whole.
const NOT_CONTRACTIONS: &[&str] = &[
    "Ill", "ill", "Its", "its", "Hell", "hell", "Shell", "shell", "Shed", "shed", "were", "Were",
    "Well", "well", "Whore", "whore",
];

const PRONOUNS: &[&str] = &["i", "you", "he", "she", "it", "we", "they"];
const WH_WORDS: &[&str] = &["who", "what", "when", "where", "why", "how", "there", "that", "this", "these", "those"];
/// Verbs taking `n't` (and `n't've`).
const NEG_VERBS: &[&str] = &[
    "ca", "could", "do", "does", "did", "had", "may", "might", "must", "need", "ought", "sha", "should",
    "wo", "would",
];
/// Verbs taking `n't` only.
const NEG_VERBS_SHORT: &[&str] = &["ai", "are", "is", "was", "were", "have", "has", "dare"];
const MODALS_VE: &[&str] = &["could", "might", "must", "should", "would"];

/// Multi-token special cases that are not generated from the tables above.
const FIXED_SPLITS: &[(&str, &[&str])] = &[
    ("cannot", &["can", "not"]), ("gonna", &["gon", "na"]), ("gotta", &["got", "ta"]),
    ("let's", &["let", "'s"]), ("let’s", &["let", "’s"]), ("c'mon", &["c'm", "on"]), ("c’mon", &["c’m", "on"]),
    ("not've", &["not", "'ve"]), ("not’ve", &["not", "’ve"]), ("notve", &["not", "ve"]),
    ("how'd'y", &["how", "'d", "'y"]), ("how’d’y", &["how", "’d", "’y"]),
];

type SplitTable = FxHashMap<Box<str>, Box<[u16]>>;

/// Every special case, built once: the string and its piece lengths in bytes.
fn specials() -> &'static SplitTable {
    static TABLE: OnceLock<SplitTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = SplitTable::default();
        let mut add = |pieces: &[&str]| {
            let key: String = pieces.concat();
            if !NOT_CONTRACTIONS.contains(&key.as_str()) {
                table.insert(key.into(), pieces.iter().map(|p| p.len() as u16).collect());
            }
        };
        for &s in SINGLE_TOKENS {
            add(&[s]);
        }
        for &(_, pieces) in FIXED_SPLITS {
            add(pieces);
            let mut title = pieces.to_vec();
            let first = title_case(pieces[0]);
            title[0] = &first;
            add(&title);
        }
        add(&["y'", "all"]);
        add(&["y’", "all"]);
        add(&["y", "all"]);
        for c in ["C", "F", "K", "c", "f", "k"] {
            add(&["°", c, "."]);
        }
        for hour in 1..=12 {
            let h = hour.to_string();
            for period in ["a.m.", "am", "p.m.", "pm"] {
                add(&[&h, period]);
            }
        }
        // (bases, chains of pieces written with `'`)
        let both: &[&[&str]] = &[&["'ll"], &["'ll", "'ve"], &["'d"], &["'d", "'ve"]];
        let groups: Vec<(&[&str], &[&[&str]])> = vec![
            (PRONOUNS, both),
            (WH_WORDS, both),
            (&["i"], &[&["'m"], &["'m", "a"]]),
            (&["i", "you", "we", "they"], &[&["'ve"]]),
            (&["you", "we", "they"], &[&["'re"]]),
            (&["he", "she", "it"], &[&["'s"]]),
            (&["who", "what", "when", "where", "why", "how", "there", "that", "this"], &[&["'s"]]),
            (&["who", "what", "when", "where", "why", "how", "there", "these", "those"], &[&["'re"], &["'ve"]]),
            (NEG_VERBS, &[&["n't"], &["n't", "'ve"]]),
            (NEG_VERBS_SHORT, &[&["n't"]]),
            (MODALS_VE, &[&["'ve"]]),
        ];
        for (bases, chains) in groups {
            for base in bases {
                for cased in [base.to_string(), title_case(base)] {
                    for chain in chains {
                        for apostrophe in ["'", "’", ""] {
                            let pieces: Vec<String> = chain.iter().map(|p| p.replace('\'', apostrophe)).collect();
                            let mut all: Vec<&str> = vec![cased.as_str()];
                            all.extend(pieces.iter().map(String::as_str));
                            add(&all);
                        }
                    }
                }
            }
        }
        table
    })
}

fn title_case(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The special-case split of `s`, as piece lengths in bytes, or `None`.
#[inline]
fn special_case(s: &str) -> Option<&'static [u16]> {
    specials().get(s).map(|v| &v[..])
}

/// Push the special-case split of `s`; false when `s` is no special case.
fn push_special<'a>(s: &'a str, out: &mut Vec<&'a str>) -> bool {
    match special_case(s) {
        Some(lengths) => {
            let mut start = 0;
            for &len in lengths {
                out.push(&s[start..start + len as usize]);
                start += len as usize;
            }
            true
        }
        None => false,
    }
}

// ---------------------------------------------------------------- sentences

/// Number of sentences spaCy's rule-based sentencizer finds in `text` after the
/// English tokenization: a sentence ends at a token that is one of the
/// sentence-final characters, and the next starts at the first following token that
/// is not punctuation. An empty text counts as one piece, as datatrove's splitter
/// returns it.
///
/// ```
/// use assay_core::quality::tokenize::count_sentences;
/// assert_eq!(count_sentences("Hello world. This is U.S. news... Yes! ok."), 3);
/// ```
pub fn count_sentences(text: &str) -> usize {
    let mut tokens = Vec::new();
    tokenize_en(text, &mut tokens);
    count_sentences_in(&tokens)
}

/// [`count_sentences`] over tokens already made.
pub fn count_sentences_in(tokens: &[&str]) -> usize {
    let mut sentences = 1;
    let mut seen_end = false;
    for token in tokens {
        let mut it = token.chars();
        let is_end_char = match (it.next(), it.next()) {
            (Some(c), None) => is_sentence_end_char(c),
            _ => false,
        };
        if seen_end && !is_end_char && !token.chars().all(is_unicode_punct) {
            sentences += 1;
            seen_end = false;
        } else if is_end_char {
            seen_end = true;
        }
    }
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokenizer without [`tokenize_en`]'s fast path: every chunk through the affix rules.
    fn reference_en(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for chunk in text.split(is_py_space) {
            if !chunk.is_empty() {
                tokenize_chunk(chunk, &mut out, true);
            }
        }
        merge_special_spans(&mut out, 0);
        out
    }

    #[test]
    fn fast_path_gives_the_reference_tokens() {
        let samples = [
            "dont stop, it's 10am and 5km away; Im here\u{3000}1987 cannot gonna",
            "  Hello   world.\tThe U.S. said 12pm\u{a0}x\u{85}y 3.5 km e-mail dont",
            "wont Wont WONT id Id ill Ill cant can't 2pm 2 pm",
            "said, cases; 1987. Inc. etc. IBM. A. dont. cant, vs. Mr. Dec. 10am. x). (y) 5km, a.m., ha!",
            "",
            "   ",
        ];
        for text in samples {
            assert_eq!(words(text, Language::English), reference_en(text), "{text:?}");
        }
        let mut keys: Vec<&str> = specials().keys().map(|k| &**k).collect();
        keys.sort_unstable();
        for mark in ["", ",", ".", ";", ")", "!", "?", ":"] {
            let joined = keys.iter().map(|k| format!("{k}{mark}")).collect::<Vec<_>>().join(" ");
            assert_eq!(words(&joined, Language::English), reference_en(&joined), "{mark:?}");
        }
    }


    fn en(text: &str) -> Vec<&str> {
        words(text, Language::English)
    }

    #[test]
    fn reference_sentence() {
        // Expected tokens as datatrove 0.10.1 (spaCy 3.8 "en") gives them.
        let text = "Hello, world! Don't U.S. mln. dlrs 3.5 1,000 $100 10% well-known e-mail \
                    http://x.com/a?b=1 a...b (test) 'quote' \"dq\" Inc. can't 1986/87 5-7 a/b 10km \
                    Jan. 12 Mr. Smith's";
        let expected = vec![
            "Hello", ",", "world", "!", "Do", "n't", "U.S.", "mln", ".", "dlrs", "3.5", "1,000", "$",
            "100", "10", "%", "well", "-", "known", "e", "-", "mail", "http://x.com/a?b=1", "a", "...",
            "b", "(", "test", ")", "'", "quote", "'", "\"", "dq", "\"", "Inc.", "ca", "n't", "1986/87",
            "5", "-", "7", "a", "/", "b", "10", "km", "Jan.", "12", "Mr.", "Smith", "'s",
        ];
        assert_eq!(en(text), expected);
    }

    #[test]
    fn contractions() {
        assert_eq!(en("I'm"), vec!["I", "'m"]);
        assert_eq!(en("they’ve"), vec!["they", "’ve"]);
        assert_eq!(en("wont cant"), vec!["wo", "nt", "ca", "nt"]);
        assert_eq!(en("its well were"), vec!["its", "well", "were"]);
        assert_eq!(en("couldn't've"), vec!["could", "n't", "'ve"]);
        assert_eq!(en("cannot"), vec!["can", "not"]);
        assert_eq!(en("5pm 11a.m."), vec!["5", "pm", "11", "a.m."]);
    }

    #[test]
    fn affixes() {
        assert_eq!(en("(hello)."), vec!["(", "hello", ")", "."]);
        assert_eq!(en("\"U.S.\""), vec!["\"", "U.S.", "\""]);
        assert_eq!(en("ABC."), vec!["ABC", "."]);
        assert_eq!(en("Ab."), vec!["Ab", "."]);
        assert_eq!(en("Inc."), vec!["Inc."]);
        assert_eq!(en("US$5"), vec!["US$", "5"]);
        assert_eq!(en("5US$"), vec!["5", "US$"]);
        assert_eq!(en("end..."), vec!["end", "..."]);
        assert_eq!(en("+5 +x"), vec!["+5", "+", "x"]);
        assert_eq!(en("said.The"), vec!["said", ".", "The"]);
        assert_eq!(en("a--b"), vec!["a", "--", "b"]);
        assert_eq!(en("(8)"), vec!["(", "8)"]);
    }

    #[test]
    fn whitespace_only_and_empty() {
        assert!(en("").is_empty());
        assert!(en(" \n\t\u{a0} ").is_empty());
    }

    #[test]
    fn urls() {
        assert!(is_url("www.example.com"));
        assert!(is_url("https://example.com:8080/x"));
        assert!(is_url("user@mail.example.org"));
        assert!(!is_url("U.S"));
        assert!(!is_url("said.The"));
        assert!(is_url("Corp.unit"));
    }

    #[test]
    fn chinese() {
        assert_eq!(words("你好，世界！OK", Language::Chinese), vec!["你", "好", "，", "世", "界", "！", "OK"]);
    }

    #[test]
    fn sentences() {
        assert_eq!(count_sentences("One. Two. Three"), 3);
        assert_eq!(count_sentences("No end"), 1);
        assert_eq!(count_sentences("Quote.\" Next"), 2);
        assert_eq!(count_sentences(""), 1);
    }

    #[test]
    fn large_input_is_linear() {
        let text = "word ".repeat(2_000_000);
        assert_eq!(en(&text).len(), 2_000_000);
    }
}
