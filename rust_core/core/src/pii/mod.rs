//! Personal data in text: finding it, and replacing it with a pure function of what matched.
//!
//! Kinds: `email`, `ipv4`, `ipv6` (public addresses only by default), `phone_cn` (mainland
//! mobile numbers, with or without +86/0086, spaces or dashes), `phone_intl` (E.164, `+`
//! and 7 to 15 digits), `cn_id` (resident ID: 18 characters with the ISO 7064 MOD 11-2 check
//! character, or the old 15 digits; a known province and a real birth date), `bank_card`
//! (13 to 19 digits starting 2-6, Luhn-valid, in groups or not) and `url_credentials`
//! (`user:password@` in a URL). Matches are bounded by the characters around them, not by
//! `\b`, so an address or a number touching Han, kana or hangul text is found, and a
//! number that is part of a longer number is not. Lookalikes stay: a date, an order
//! number, an ID with a wrong check character, a card number failing Luhn.
//!
//! Where spans of two kinds overlap, the earlier one wins, then the kind listed first in
//! [`PiiKind::ALL`]. Offsets are in characters (code points), as Python counts them.

pub mod validate;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{Int64Builder, LargeStringBuilder, ListBuilder, StringBuilder};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use regex::Regex;

use crate::error::{AssayError, Result};
use crate::strings::StringColumn;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    UrlCredentials,
    Email,
    CnId,
    BankCard,
    PhoneCn,
    PhoneIntl,
    Ipv6,
    Ipv4,
}

impl PiiKind {
    /// Every kind, in the order that settles overlaps.
    pub const ALL: [PiiKind; 8] = [
        PiiKind::UrlCredentials,
        PiiKind::Email,
        PiiKind::CnId,
        PiiKind::BankCard,
        PiiKind::PhoneCn,
        PiiKind::PhoneIntl,
        PiiKind::Ipv6,
        PiiKind::Ipv4,
    ];

    /// The kind's name (`email`, `phone_cn`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::UrlCredentials => "url_credentials",
            PiiKind::Email => "email",
            PiiKind::CnId => "cn_id",
            PiiKind::BankCard => "bank_card",
            PiiKind::PhoneCn => "phone_cn",
            PiiKind::PhoneIntl => "phone_intl",
            PiiKind::Ipv6 => "ipv6",
            PiiKind::Ipv4 => "ipv4",
        }
    }

    /// The placeholder that replaces a match (`<EMAIL>`, ...).
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::UrlCredentials => "<CREDENTIALS>",
            PiiKind::Email => "<EMAIL>",
            PiiKind::CnId => "<CN_ID>",
            PiiKind::BankCard => "<BANK_CARD>",
            PiiKind::PhoneCn | PiiKind::PhoneIntl => "<PHONE>",
            PiiKind::Ipv6 => "<IPV6>",
            PiiKind::Ipv4 => "<IPV4>",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
            AssayError::InvalidArgument(format!("unknown PII kind {name:?}; expected one of {known:?}"))
        })
    }
}

/// One match: byte offsets into the text, and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: PiiKind,
}

/// What to look for.
#[derive(Debug, Clone)]
pub struct PiiConfig {
    pub kinds: Vec<PiiKind>,
    /// Only public (global) IP addresses are personal data (private ones name no one).
    pub public_ips_only: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        Self { kinds: PiiKind::ALL.to_vec(), public_ips_only: true }
    }
}

/// How a match is replaced.
#[derive(Debug, Clone, Copy)]
pub enum Replacement {
    /// The kind's placeholder (`<EMAIL>`).
    Placeholder,
    /// The placeholder with a keyed hash of the match (`<EMAIL:1a2b3c4d>`): the same value
    /// gets the same token everywhere, and the value cannot be read back.
    Hash { seed: u64 },
}

struct Patterns {
    email: Regex,
    ipv4: Regex,
    ipv6: Regex,
    phone_cn: Regex,
    phone_intl: Regex,
    cn_id: Regex,
    digits: Regex,
    credentials: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
        let compile = |p: &str| Regex::new(p).expect("a valid built-in pattern");
        Patterns {
            email: compile(
                r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
            ),
            ipv4: compile(&format!(r"{octet}(?:\.{octet}){{3}}")),
            ipv6: compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}"),
            phone_cn: compile(r"(?:(?:\+|00)86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}"),
            phone_intl: compile(r"\+[1-9][0-9](?:[ -]?[0-9]){5,13}"),
            cn_id: compile(r"[1-9][0-9]{16}[0-9Xx]|[1-9][0-9]{14}"),
            digits: compile(r"[0-9](?:[ -]?[0-9]){12,18}"),
            credentials: compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^\s/?#@:]+:[^\s/?#@]+)@"),
        }
    })
}

fn prev_char(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn next_char(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// Where a kind's matches can be: byte ranges of the text that hold every match (a match
/// never crosses a range's end), so the pattern runs on them alone.
///
/// Each kind's pattern is made of a few ASCII bytes (digits, separators, e-mail characters),
/// so a match lies inside one maximal run of those bytes, and a run lacking what every
/// match needs (an `@`, two colons, enough digits) is skipped without running the pattern.
/// On web text this leaves a small part of the text to the patterns.
struct Windows {
    /// Runs of digits and `+ - . X x` and spaces, with their counts of digits and dots and
    /// whether a `+` is in them.
    numeric: Vec<(usize, usize, usize, usize, bool)>,
    /// Runs of e-mail address bytes around each `@`.
    email: Vec<(usize, usize)>,
    /// Runs of hexadecimal digits, `:` and `.` holding at least two colons.
    ipv6: Vec<(usize, usize)>,
}

fn is_numeric_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'+' | b'.' | b'X' | b'x')
}

fn is_email_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-@".contains(&b)
}

fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// The maximal runs of `member` bytes around each byte `is_anchor` accepts, in order.
fn runs_around(bytes: &[u8], is_anchor: impl Fn(u8) -> bool, member: impl Fn(u8) -> bool) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| is_anchor(b)) {
        let anchor = at + offset;
        let start = bytes[..anchor].iter().rposition(|&b| !member(b)).map_or(0, |p| p + 1);
        let end = bytes[anchor..].iter().position(|&b| !member(b)).map_or(bytes.len(), |p| anchor + p);
        runs.push((start.max(at), end));
        at = end;
        if at >= bytes.len() {
            break;
        }
    }
    runs
}

impl Windows {
    fn of(text: &str, kinds: &[PiiKind]) -> Self {
        let bytes = text.as_bytes();
        let wants = |family: &[PiiKind]| kinds.iter().any(|k| family.contains(k));
        let numeric = if wants(&[PiiKind::CnId, PiiKind::BankCard, PiiKind::PhoneCn, PiiKind::PhoneIntl, PiiKind::Ipv4]) {
            runs_around(bytes, |b| b.is_ascii_digit(), is_numeric_byte)
                .into_iter()
                .map(|(s, e)| {
                    let run = &bytes[s..e];
                    let digits = run.iter().filter(|b| b.is_ascii_digit()).count();
                    let dots = run.iter().filter(|&&b| b == b'.').count();
                    (s, e, digits, dots, run.contains(&b'+'))
                })
                .collect()
        } else {
            Vec::new()
        };
        let email = if kinds.contains(&PiiKind::Email) { runs_around(bytes, |b| b == b'@', is_email_byte) } else { Vec::new() };
        let ipv6 = if kinds.contains(&PiiKind::Ipv6) {
            runs_around(bytes, |b| b == b':', is_ipv6_byte)
                .into_iter()
                .filter(|&(s, e)| bytes[s..e].iter().filter(|&&b| b == b':').count() >= 2)
                .collect()
        } else {
            Vec::new()
        };
        Self { numeric, email, ipv6 }
    }

    /// The numeric runs with at least `digits` digits and `dots` dots (and a `+` if `plus`).
    fn numeric(&self, digits: usize, dots: usize, plus: bool) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.numeric
            .iter()
            .filter(move |r| r.2 >= digits && r.3 >= dots && (r.4 || !plus))
            .map(|r| (r.0, r.1))
    }
}

/// [`scan`] inside each of `windows`.
fn scan_windows(
    text: &str,
    windows: impl Iterator<Item = (usize, usize)>,
    re: &Regex,
    mut fits: impl FnMut(usize, usize) -> Option<(usize, usize)>,
    out: &mut Vec<(usize, usize)>,
) {
    for (start, end) in windows {
        scan(text, start, end, re, &mut fits, out);
    }
}

/// Every non-overlapping match of `re` in `text[from..to]` whose surroundings in `text`
/// `fits` accepts, trying again one character later when a match does not fit (a shorter
/// match may start inside it).
fn scan(
    text: &str,
    from: usize,
    to: usize,
    re: &Regex,
    mut fits: impl FnMut(usize, usize) -> Option<(usize, usize)>,
    out: &mut Vec<(usize, usize)>,
) {
    let haystack = &text[..to];
    let mut at = from;
    while at <= to {
        let Some(m) = re.find_at(haystack, at) else { break };
        if let Some(span) = fits(m.start(), m.end()) {
            out.push(span);
            at = span.1.max(m.start() + 1);
        } else {
            at = m.start() + next_char(text, m.start()).map_or(1, char::len_utf8);
        }
        while at < to && !text.is_char_boundary(at) {
            at += 1;
        }
    }
}

fn digits_of(text: &str) -> Vec<u8> {
    text.bytes().filter(u8::is_ascii_digit).collect()
}

fn find_kind(text: &str, kind: PiiKind, config: &PiiConfig, windows: &Windows, out: &mut Vec<Span>) {
    let p = patterns();
    let mut found = Vec::new();
    match kind {
        PiiKind::Email => scan_windows(
            text,
            windows.email.iter().copied(),
            &p.email,
            |s, e| {
                let before = prev_char(text, s);
                let after = next_char(text, e);
                let local = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c);
                let ok = !before.is_some_and(local) && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
                ok.then_some((s, e))
            },
            &mut found,
        ),
        PiiKind::Ipv4 => scan_windows(
            text,
            windows.numeric(4, 3, false),
            &p.ipv4,
            |s, e| {
                let before = prev_char(text, s);
                let after = text[e..].as_bytes();
                let continues = after.first().is_some_and(u8::is_ascii_digit)
                    || (after.first() == Some(&b'.') && after.get(1).is_some_and(u8::is_ascii_digit));
                if is_digit(before) || before == Some('.') || continues {
                    return None;
                }
                let ip: Ipv4Addr = text[s..e].parse().ok()?;
                (!config.public_ips_only || validate::ipv4_is_global(ip)).then_some((s, e))
            },
            &mut found,
        ),
        PiiKind::Ipv6 => scan_windows(
            text,
            windows.ipv6.iter().copied(),
            &p.ipv6,
            |s, mut e| {
                let hex = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit() || c == ':');
                while e > s && text.as_bytes()[e - 1] == b'.' {
                    e -= 1; // a sentence's full stop
                }
                if hex(prev_char(text, s)) || hex(next_char(text, e)) || text[s..e].matches(':').count() < 2 {
                    return None;
                }
                let ip: Ipv6Addr = text[s..e].parse().ok()?;
                (!config.public_ips_only || validate::ipv6_is_global(ip)).then_some((s, e))
            },
            &mut found,
        ),
        PiiKind::PhoneCn => scan_windows(
            text,
            windows.numeric(11, 0, false),
            &p.phone_cn,
            |s, e| {
                let before = prev_char(text, s);
                (!is_digit(before) && before != Some('+') && !is_digit(next_char(text, e))).then_some((s, e))
            },
            &mut found,
        ),
        PiiKind::PhoneIntl => scan_windows(
            text,
            windows.numeric(7, 0, true),
            &p.phone_intl,
            |s, e| {
                let before = prev_char(text, s);
                let word = before.is_some_and(|c| c.is_alphanumeric());
                (!word && !is_digit(next_char(text, e))).then_some((s, e))
            },
            &mut found,
        ),
        PiiKind::CnId => scan_windows(
            text,
            windows.numeric(15, 0, false),
            &p.cn_id,
            |s, e| {
                let after = next_char(text, e);
                let ok = !is_digit(prev_char(text, s)) && !is_digit(after) && !after.is_some_and(|c| c == 'X' || c == 'x');
                (ok && validate::cn_id_valid(text[s..e].as_bytes())).then_some((s, e))
            },
            &mut found,
        ),
        PiiKind::BankCard => scan_windows(
            text,
            windows.numeric(13, 0, false),
            &p.digits,
            |s, e| {
                if is_digit(prev_char(text, s)) || !matches!(text.as_bytes()[s], b'2'..=b'6') {
                    return None;
                }
                // the longest run of whole groups that is Luhn-valid (a card may be followed by
                // another number after a space)
                let bytes = text.as_bytes();
                let mut ends: Vec<usize> = (s + 1..=e)
                    .filter(|&i| bytes[i - 1].is_ascii_digit() && !bytes.get(i).is_some_and(u8::is_ascii_digit))
                    .collect();
                ends.reverse();
                ends.into_iter().find_map(|end| {
                    let digits = digits_of(&text[s..end]);
                    ((13..=19).contains(&digits.len()) && validate::luhn_valid(&digits)).then_some((s, end))
                })
            },
            &mut found,
        ),
        PiiKind::UrlCredentials => {
            if !text.contains("://") || !text.contains('@') {
                return;
            }
            for caps in p.credentials.captures_iter(text) {
                let m = caps.get(1).expect("the pattern has one group");
                found.push((m.start(), m.end()));
            }
        }
    }
    out.extend(found.into_iter().map(|(start, end)| Span { start, end, kind }));
}

/// The personal data in `text` (byte offsets), non-overlapping, in text order.
///
/// ```
/// use assay_core::pii::{find, PiiConfig};
/// let text = "联系邮箱zhang.san@example.com，手机13812345678";
/// let kinds: Vec<&str> = find(text, &PiiConfig::default()).iter().map(|s| s.kind.name()).collect();
/// assert_eq!(kinds, ["email", "phone_cn"]);
/// ```
pub fn find(text: &str, config: &PiiConfig) -> Vec<Span> {
    let mut spans = Vec::new();
    let windows = Windows::of(text, &config.kinds);
    for &kind in &config.kinds {
        find_kind(text, kind, config, &windows, &mut spans);
    }
    spans.sort_by_key(|s| (s.start, s.kind, std::cmp::Reverse(s.end)));
    let mut kept: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        if kept.last().is_none_or(|last| span.start >= last.end) {
            kept.push(span);
        }
    }
    kept
}

/// The token that replaces `matched`.
pub fn replacement(kind: PiiKind, matched: &str, how: Replacement) -> String {
    match how {
        Replacement::Placeholder => kind.placeholder().to_string(),
        Replacement::Hash { seed } => {
            let hash = xxhash_rust::xxh3::xxh3_64_with_seed(matched.as_bytes(), seed) as u32;
            let name = kind.placeholder().trim_end_matches('>');
            format!("{name}:{hash:08x}>")
        }
    }
}

/// `text` with every span replaced (spans as [`find`] gives them).
pub fn redact(text: &str, spans: &[Span], how: Replacement) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(&replacement(span.kind, &text[span.start..span.end], how));
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Spans of a whole column, in parallel: one row per match with `row`, `start`, `end`
/// (character offsets), `kind` and `text` (what matched).
pub fn find_array(texts: &dyn Array, config: &PiiConfig) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "pii")?;
    let found: Vec<Option<Vec<(usize, usize, PiiKind)>>> = column.par_map(|text| {
        let spans = find(text, config);
        let mut chars = 0;
        let mut at = 0;
        spans
            .iter()
            .map(|s| {
                chars += text[at..s.start].chars().count();
                let start = chars;
                chars += text[s.start..s.end].chars().count();
                at = s.end;
                (start, chars, s.kind)
            })
            .collect()
    });
    let mut row = Int64Builder::new();
    let mut start = Int64Builder::new();
    let mut end = Int64Builder::new();
    let mut kind = StringBuilder::new();
    let mut matched = StringBuilder::new();
    for (i, spans) in found.iter().enumerate() {
        let Some(spans) = spans else { continue };
        let text = column.get(i).unwrap_or("");
        let mut offsets: Vec<usize> = Vec::new();
        if !spans.is_empty() {
            offsets = text.char_indices().map(|(b, _)| b).chain(std::iter::once(text.len())).collect();
        }
        for &(s, e, k) in spans {
            row.append_value(i as i64);
            start.append_value(s as i64);
            end.append_value(e as i64);
            kind.append_value(k.name());
            matched.append_value(&text[offsets[s]..offsets[e]]);
        }
    }
    let schema = Schema::new(vec![
        Field::new("row", DataType::Int64, false),
        Field::new("start", DataType::Int64, false),
        Field::new("end", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(row.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            Arc::new(kind.finish()),
            Arc::new(matched.finish()),
        ],
    )?)
}

/// Redact a whole column, in parallel: `text` (null stays null), `pii_count` and
/// `pii_kinds` (the kinds found, in [`PiiKind::ALL`] order; empty when none).
pub fn redact_array(texts: &dyn Array, config: &PiiConfig, how: Replacement) -> Result<RecordBatch> {
    let column = StringColumn::try_new(texts, "pii")?;
    let done: Vec<Option<(String, Vec<PiiKind>, usize)>> = (0..column.len())
        .into_par_iter()
        .with_min_len(16)
        .map(|i| {
            column.get(i).map(|text| {
                let spans = find(text, config);
                let mut kinds: Vec<PiiKind> = spans.iter().map(|s| s.kind).collect();
                kinds.sort();
                kinds.dedup();
                (redact(text, &spans, how), kinds, spans.len())
            })
        })
        .collect();
    let mut text = LargeStringBuilder::new();
    let mut count = Int64Builder::new();
    let mut kinds = ListBuilder::new(StringBuilder::new()).with_field(Field::new("item", DataType::Utf8, false));
    for row in done {
        match row {
            None => {
                text.append_null();
                count.append_value(0);
            }
            Some((redacted, found, n)) => {
                text.append_value(redacted);
                count.append_value(n as i64);
                for k in found {
                    kinds.values().append_value(k.name());
                }
            }
        }
        kinds.append(true);
    }
    let schema = Schema::new(vec![
        Field::new("text", DataType::LargeUtf8, true),
        Field::new("pii_count", DataType::Int64, false),
        Field::new("pii_kinds", DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))), false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(text.finish()), Arc::new(count.finish()), Arc::new(kinds.finish())],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&'static str, String)> {
        find(text, &PiiConfig::default()).iter().map(|s| (s.kind.name(), text[s.start..s.end].to_string())).collect()
    }

    #[test]
    fn next_to_han_text_and_not_inside_longer_numbers() {
        assert_eq!(kinds("请联系zhang@example.com谢谢"), [("email", "zhang@example.com".into())]);
        assert_eq!(kinds("电话：+86 138-1234-5678。"), [("phone_cn", "+86 138-1234-5678".into())]);
        assert_eq!(kinds("订单号813812345678901"), []);
        assert_eq!(kinds("服务器8.8.8.8和192.168.1.1"), [("ipv4", "8.8.8.8".into())]);
        assert_eq!(kinds("version 1.2.3.4.5"), []);
        assert_eq!(kinds("身份证11010519491231002X。"), [("cn_id", "11010519491231002X".into())]);
        assert_eq!(kinds("身份证110105194912310021"), []);
        assert_eq!(kinds("卡号 6222 0212 3456 7890 128 到期 2027"), [("bank_card", "6222 0212 3456 7890 128".into())]);
        assert_eq!(kinds("card 4111 1111 1111 1112"), []);
        assert_eq!(kinds("see https://bob:hunter2@host.example/x"), [("url_credentials", "bob:hunter2".into())]);
        assert_eq!(kinds("call +44 20 7946 0958 now"), [("phone_intl", "+44 20 7946 0958".into())]);
        assert_eq!(kinds("dns 2606:4700:4700::1111. local fe80::1"), [("ipv6", "2606:4700:4700::1111".into())]);
        assert_eq!(kinds("at 10:30:45 on 2024-01-02"), []);
    }

    #[test]
    fn replacements_are_a_function_of_the_match() {
        let text = "a@example.com b@example.com a@example.com";
        let spans = find(text, &PiiConfig::default());
        let hashed = redact(text, &spans, Replacement::Hash { seed: 7 });
        let tokens: Vec<&str> = hashed.split(' ').collect();
        assert_eq!(tokens[0], tokens[2]);
        assert_ne!(tokens[0], tokens[1]);
        assert_eq!(redact(text, &spans, Replacement::Placeholder), "<EMAIL> <EMAIL> <EMAIL>");
    }
}
