//! One-thread quality-filter throughput, by stage: tokenization, the token table of the
//! n-gram rules, each filter alone and all four as `check_text` runs them (tokenization
//! included); STAGE runs only the stages whose name contains it.
//!
//!     cargo run --release -p assay-core --example filters_throughput -- DOCS_FILE [ROUNDS [STAGE]]
//!
//! DOCS_FILE holds UTF-8 documents separated by NUL bytes, e.g. the Reuters documents as
//! `benchmarks/bench_filters.py` reads them:
//!
//!     python -c "import sys; sys.path.insert(0, 'benchmarks'); from bench_filters import load, SHARED; \
//!         open('/tmp/reuters.bin', 'wb').write('\0'.join(load(SHARED / 'reuters21578.jsonl.gz', None)).encode())"
//!
//! As in `minhash_throughput`, each stage runs on chunks of 100 documents, each chunk `ROUNDS`
//! times, and the fastest time of every chunk is summed (other work on the machine only adds).

use std::hint::black_box;
mod common;

use common::best_seconds;

use assay_core::quality::{check_text, Document, Filter, Language};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: filters_throughput DOCS_FILE [ROUNDS]");
    let rounds: usize = args.next().map_or(10, |r| r.parse().unwrap());
    // an optional third argument runs only the stages whose name contains it (for profiling)
    let only = args.next().unwrap_or_default();
    let raw = std::fs::read_to_string(path).unwrap();
    let texts: Vec<&str> = raw.split('\0').collect();
    let n = texts.len();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    println!("{n} documents, {:.0} bytes/doc", bytes as f64 / n as f64);
    let en = Language::English;
    let wanted = |stage: &str| stage.contains(only.as_str());
    let report = |stage: &str, seconds: f64| {
        println!("{stage:34} {:>9.0} docs/s  {:>7.2} us/doc  {:>5.1} ns/byte", n as f64 / seconds,
                 seconds * 1e6 / n as f64, seconds * 1e9 / bytes as f64);
    };
    let names = ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"];
    let filters: Vec<Filter> = names.iter().map(|name| Filter::from_json(name, "", en).unwrap()).collect();

    if wanted("tokenize") { report("tokenize", best_seconds(n, rounds, |r| {
        for t in &texts[r] {
            black_box(Document::new(t, en).words.len());
        }
    })); }
    let docs: Vec<Document> = texts.iter().map(|t| Document::new(t, en)).collect();
    if wanted("token table") { report("token table (n-gram ids)", best_seconds(n, rounds, |r| {
        for d in &docs[r] {
            black_box(assay_core::quality::gopher::TokenTable::new(&d.words).ids.len());
        }
    })); }
    for (name, filter) in names.iter().zip(&filters) {
        let stage = format!("{name} alone");
        if !wanted(&stage) {
            continue;
        }
        report(&stage, best_seconds(n, rounds, |r| {
            for t in &texts[r] {
                black_box(check_text(t, en, std::slice::from_ref(filter)));
            }
        }));
    }
    if wanted("all four") {
        report("all four (first reason wins)", best_seconds(n, rounds, |r| {
            for t in &texts[r] {
                black_box(check_text(t, en, &filters));
            }
        }));
    }
}
