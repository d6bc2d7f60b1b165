//! Property-based tests of the kernels (proptest): random Unicode (combining marks, astral
//! and control characters, CJK, huge repeats), empty and null rows. No kernel panics, and
//! the fast paths equal their reference paths. Each property runs a bounded number of
//! cases in `cargo test`; `PROPTEST_CASES=20000 cargo test --release -p assay-core --test
//! properties` runs a longer fuzz.

use arrow_array::{Array, Int64Array, StringArray};
use assay_core::contam::index::CheckScratch;
use assay_core::contam::{ContaminationIndex, NgramConfig};
use assay_core::json_split::{JsonSplitter, Piece};
use assay_core::minhash::shingle::{normalize_into, normalize_with_sources, Normalized};
use assay_core::minhash::{sha1_hash32, shingles, MinHasher, Scheme, Scratch, Signatures, Unit};
use assay_core::quality::kernel::{apply_filters, quality_signals_array};
use assay_core::quality::{Filter, Language};
use proptest::prelude::*;

/// Characters that stress text code: ASCII, separators and controls, combining marks,
/// compatibility forms, CJK and kana, Hangul jamo, format characters, emoji and other
/// astral characters, a lone BOM, right-to-left text.
const POOL: &[char] = &[
    'a', 'Z', 'e', '9', ' ', '\n', '\t', '\r', '\0', '\u{7}', '\u{1b}', '\u{85}', ',', '.', '!', '?', '-', '#', '…',
    '\u{301}', '\u{316}', '\u{327}', '\u{308}', '\u{345}', 'Ａ', '，', '！', 'ﬁ', '①', '㎏', '½', 'İ', 'Å', 'Ω', 'К', '你',
    '好', '。', '世', '界', 'ｶ', 'ﾞ', 'の', 'カ', '\u{1100}', '\u{1161}', '가', '\u{200D}', '\u{AD}', '\u{FEFF}',
    '\u{202E}', '😀', '\u{1F3FB}', '𝐀', '𠀀', 'ह', 'ि', 'ا', 'ل', 'é', 'ǅ', 'ΐ', '\u{E000}', '\u{FFFD}',
];

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => prop::collection::vec(prop::sample::select(POOL), 0..40).prop_map(|cs| cs.into_iter().collect::<String>()),
        2 => any::<String>(),
        1 => (prop::collection::vec(prop::sample::select(POOL), 1..6), 1..3000usize)
            .prop_map(|(cs, n)| cs.into_iter().collect::<String>().repeat(n)),
        1 => Just("The cat sat on the mat. It was a sunny day in the park.\n".repeat(20)),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|parts| parts.concat())
}

fn column() -> impl Strategy<Value = Vec<Option<String>>> {
    prop::collection::vec(prop::option::weighted(0.9, text()), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn text_stats_counts_what_rust_counts(texts in column()) {
        let array = StringArray::from(texts.clone());
        let batch = assay_core::text_stats::text_stats_array(&array).unwrap();
        let chars = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let bytes = batch.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        for (i, text) in texts.iter().enumerate() {
            match text {
                None => prop_assert!(chars.is_null(i) && bytes.is_null(i)),
                Some(t) => {
                    prop_assert_eq!(chars.value(i), t.chars().count() as i64);
                    prop_assert_eq!(bytes.value(i), t.len() as i64);
                }
            }
        }
    }

    #[test]
    fn quality_kernels_never_panic(texts in column(), chinese in any::<bool>()) {
        let language = if chinese { Language::Chinese } else { Language::English };
        let filters: Vec<Filter> = ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"]
            .iter()
            .map(|name| Filter::from_json(name, "", language).unwrap())
            .collect();
        let array = StringArray::from(texts.clone());
        let decisions = apply_filters(&array, &filters, language).unwrap();
        prop_assert_eq!(decisions.num_rows(), texts.len());
        let signals = quality_signals_array(&array, language).unwrap();
        prop_assert_eq!(signals.num_rows(), texts.len());
    }

    #[test]
    fn script_and_content_kernels_never_panic(texts in column()) {
        let array = StringArray::from(texts.clone());
        prop_assert_eq!(assay_core::script::script_counts_array(&array).unwrap().num_rows(), texts.len());
        prop_assert_eq!(assay_core::content::content_array(&array).unwrap().num_rows(), texts.len());
        for t in texts.iter().flatten() {
            // the content of a text is never longer than the text
            prop_assert!(assay_core::content::content(t).len() <= t.len());
        }
    }

    #[test]
    fn batched_sha1_of_shingles_equals_one_message_sha1(text in text(), ngram in 1usize..8, unit in 0usize..3) {
        // MinHasher hashes every shingle of a text in SIMD groups straight from the
        // normalized text; each must equal the SHA-1 of the shingle on its own.
        let unit = [Unit::Word, Unit::Char, Unit::Auto][unit];
        let hasher = MinHasher::new(16, 1, Scheme::Affine32, ngram, unit).unwrap();
        let mut scratch = Scratch::default();
        let hashes = hasher.shingle_hashes(&text, &mut scratch).to_vec();
        let expected: Vec<u32> = shingles(&text, ngram, unit).iter().map(|s| sha1_hash32(s)).collect();
        prop_assert_eq!(hashes, expected);
    }

    #[test]
    fn a_signature_does_not_depend_on_the_batch(texts in prop::collection::vec(text(), 1..6)) {
        let hasher = MinHasher::new(32, 7, Scheme::Affine32, 5, Unit::Auto).unwrap();
        let Signatures::U32(all) = hasher.signatures(&StringArray::from(texts.clone())).unwrap() else {
            panic!("affine32 gives u32 signatures")
        };
        let mut scratch = Scratch::default();
        for (i, text) in texts.iter().enumerate() {
            let mut one = vec![u32::MAX; 32];
            hasher.signature_u32(text, &mut scratch, &mut one);
            prop_assert_eq!(&all[i * 32..(i + 1) * 32], &one[..]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The source-tracking normalizer (behind redaction) gives the fast path's tokens, and each
    /// token's source range, normalized on its own, gives that token back.
    #[test]
    fn sources_normalize_to_the_same_tokens(text in text(), word in any::<bool>()) {
        let unit = if word { Unit::Word } else { Unit::Auto };
        let (mut fast, mut tracked, mut sources) = (Normalized::default(), Normalized::default(), Vec::new());
        normalize_into(&text, unit, &mut fast);
        normalize_with_sources(&text, unit, &mut tracked, &mut sources);
        prop_assert_eq!(&fast.text, &tracked.text);
        prop_assert_eq!(&fast.tokens, &tracked.tokens);
        prop_assert_eq!(sources.len(), fast.tokens.len());
        // In order (one input segment whose normalization holds two tokens gives both its range).
        for pair in sources.windows(2) {
            prop_assert!(pair[0].0 <= pair[1].0 && pair[0].1 <= pair[1].1);
        }
    }

    /// A text checked against an index of itself holds all of it; cutting the matched spans
    /// leaves no n-gram of it; nothing panics.
    #[test]
    fn an_item_is_found_in_itself_and_cut_away(text in text(), ngram in 1usize..6) {
        let config = NgramConfig { ngram, ..NgramConfig::default() };
        let index = ContaminationIndex::build(vec!["x".into()], &[vec![text.clone()]], config).unwrap();
        let mut scratch = CheckScratch::default();
        let hit = index.check(&text, &mut scratch);
        if index.item_sizes()[0] > 0 {
            prop_assert_eq!(hit.fraction, 1.0);
            let spans = index.matched_spans(&text, 0, &mut scratch);
            let (cut, _) = assay_core::contam::index::cut_spans(&text, &spans);
            prop_assert_eq!(index.check(&cut, &mut scratch).ngrams, 0);
        } else {
            prop_assert_eq!(hit.item, None);
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        text().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn split(text: &[u8], limit: usize, chunks: &[usize]) -> Vec<Piece> {
    let mut splitter = JsonSplitter::new(limit);
    let mut out = Vec::new();
    let mut at = 0;
    for &size in chunks.iter().cycle() {
        if at >= text.len() {
            break;
        }
        let end = (at + size.max(1)).min(text.len());
        out.extend(splitter.feed(&text[at..end]));
        at = end;
    }
    out.extend(splitter.finish());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn json_records_are_the_items_whatever_the_chunks(
        items in prop::collection::vec(json_value(), 0..6),
        pretty in any::<bool>(),
        chunks in prop::collection::vec(1usize..300, 1..8),
        limit in 1usize..400,
    ) {
        let text = if pretty { serde_json::to_vec_pretty(&items) } else { serde_json::to_vec(&items) }.unwrap();
        let whole = split(&text, usize::MAX, &[text.len().max(1)]);
        prop_assert_eq!(whole.len(), items.len());
        for (piece, item) in whole.iter().zip(&items) {
            let Piece::Record(bytes) = piece else { panic!("no limit, yet {piece:?}") };
            prop_assert_eq!(&serde_json::from_slice::<serde_json::Value>(bytes).unwrap(), item);
        }
        // any chunking gives the same pieces; the limit only turns long ones into sizes
        prop_assert_eq!(&split(&text, usize::MAX, &chunks), &whole);
        let limited = split(&text, limit, &chunks);
        for (got, full) in limited.iter().zip(&whole) {
            let Piece::Record(bytes) = full else { unreachable!() };
            if bytes.len() <= limit {
                prop_assert_eq!(got, full);
            } else {
                prop_assert_eq!(got, &Piece::TooLarge(bytes.len() as u64));
            }
        }
    }

    #[test]
    fn the_splitter_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000),
                                          chunks in prop::collection::vec(1usize..64, 1..4)) {
        let pieces = split(&bytes, 100, &chunks);
        let kept: usize = pieces.iter().map(|p| match p { Piece::Record(b) => b.len(), Piece::TooLarge(n) => *n as usize }).sum();
        prop_assert!(kept <= bytes.len());
    }
}
