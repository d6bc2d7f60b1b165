//! One-thread MinHash throughput, by stage (normalize, + SHA-1, + permutations, Arrow kernel),
//! with the SHA-1 and permutation kernels also timed on their non-AVX-512 paths.
//!
//!     cargo run --release -p assay-core --example minhash_throughput -- DOCS_FILE [ROUNDS]
//!
//! DOCS_FILE holds UTF-8 documents separated by NUL bytes, e.g. the first 10,000 Reuters
//! documents as `benchmarks/bench_dedup.py` reads them:
//!
//!     python -c "import sys; sys.path.insert(0, 'benchmarks'); from bench_dedup import load_reuters; \
//!         open('/tmp/docs.bin', 'wb').write('\0'.join(load_reuters()[:10000]).encode())"
//!
//! The machine may be shared, and other work only ever adds time: each stage runs on
//! chunks of 100 documents, each chunk `ROUNDS` times, and the fastest time of every
//! chunk is summed.

mod common;

use common::{best_seconds, CHUNK};

use arrow_array::StringArray;
use assay_core::minhash::sha1_batch::{sha1_hash32_spans, sha1_hash32_spans_lanes};
use assay_core::minhash::shingle::{normalize_into, Normalized};
use assay_core::minhash::scheme::{fmix32, update_affine32, update_affine32_mixed, update_affine32_mixed_avx2};
use assay_core::minhash::{MinHasher, Permutations, Scheme, Scratch, Unit};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: minhash_throughput DOCS_FILE [ROUNDS]");
    let rounds: usize = args.next().map_or(30, |r| r.parse().unwrap());
    let raw = std::fs::read_to_string(path).unwrap();
    let docs: Vec<&str> = raw.split('\0').collect();
    let n = docs.len();
    let hasher = MinHasher::new(128, 1, Scheme::Affine32, 5, Unit::Auto).unwrap();
    let Permutations::Affine32 { a, b } = Permutations::new(128, 1, Scheme::Affine32).unwrap() else {
        unreachable!()
    };
    let mut scratch = Scratch::default();
    let mut normalized = Normalized::default();
    let mut sink = 0u64;
    let all_hashes: Vec<Vec<u32>> = docs.iter().map(|d| hasher.shingle_hashes(d, &mut scratch).to_vec()).collect();
    let all_mixed: Vec<Vec<u32>> = all_hashes.iter().map(|h| h.iter().map(|&x| fmix32(x)).collect()).collect();
    let shingles: usize = all_hashes.iter().map(Vec::len).sum();
    let report = |stage: &str, seconds: f64| {
        println!(
            "{stage:22} {:>9.0} docs/s  {:>6.2} us/doc  {:>5.1} ns/shingle",
            n as f64 / seconds,
            seconds * 1e6 / n as f64,
            seconds * 1e9 / shingles as f64
        )
    };

    report(
        "normalize",
        best_seconds(n, rounds, |chunk| {
            for d in &docs[chunk] {
                normalize_into(d, Unit::Auto, &mut normalized);
                sink += normalized.tokens.len() as u64;
            }
        }),
    );
    report(
        "normalize+sha1",
        best_seconds(n, rounds, |chunk| {
            for d in &docs[chunk] {
                sink += hasher.shingle_hashes(d, &mut scratch).len() as u64;
            }
        }),
    );
    let padded: Vec<(Vec<u8>, Vec<(u32, u32)>)> = docs
        .iter()
        .map(|d| {
            let mut normalized = Normalized::default();
            normalize_into(d, Unit::Auto, &mut normalized);
            let mut text = normalized.text.into_bytes();
            text.resize(text.len() + 64, 0);
            (text, normalized.tokens)
        })
        .collect();
    let mut hashes = Vec::new();
    macro_rules! sha1_only {
        ($stage:expr, $kernel:expr) => {
            report(
                $stage,
                best_seconds(n, rounds, |chunk| {
                    for (text, tokens) in &padded[chunk] {
                        hashes.clear();
                        if tokens.len() >= 5 {
                            let span = |i: usize| (tokens[i].0 as usize, tokens[i + 4].1 as usize);
                            $kernel(text, tokens.len() - 4, span, &mut hashes);
                        }
                        sink += hashes.len() as u64;
                    }
                }),
            )
        };
    }
    sha1_only!("sha1 only, 2 lanes", sha1_hash32_spans_lanes::<2>);
    sha1_only!("sha1 only, 3 lanes", sha1_hash32_spans_lanes::<3>);
    sha1_only!("sha1 only, 4 lanes", sha1_hash32_spans_lanes::<4>);
    sha1_only!("sha1 only, default", sha1_hash32_spans);
    let mut out = vec![0u32; 128];
    type Kernel = fn(&mut [u32], &[u32], &[u32], &[u32]);
    let kernels: [(&str, Kernel); 2] =
        [("permutations, AVX2", update_affine32_mixed_avx2), ("permutations, default", update_affine32_mixed)];
    for (stage, kernel) in kernels {
        report(
            stage,
            best_seconds(n, rounds, |chunk| {
                for mixed in &all_mixed[chunk] {
                    out.fill(u32::MAX);
                    kernel(&mut out, &a, &b, mixed);
                    sink += out[0] as u64;
                }
            }),
        );
    }
    report(
        "signature_u32",
        best_seconds(n, rounds, |chunk| {
            for d in &docs[chunk] {
                hasher.signature_u32(d, &mut scratch, &mut out);
                sink += out[0] as u64;
            }
        }),
    );
    // The fused signature path equals hashes-then-permutations.
    for d in &docs {
        let hashes = hasher.shingle_hashes(d, &mut scratch).to_vec();
        let mut expected = vec![u32::MAX; 128];
        update_affine32(&mut expected, &a, &b, &hashes);
        hasher.signature_u32(d, &mut scratch, &mut out);
        assert_eq!(out, expected);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let arrays: Vec<StringArray> =
        docs.chunks(CHUNK).map(|c| StringArray::from(c.to_vec())).collect();
    report(
        "signatures, 1 thread",
        best_seconds(n, rounds, |chunk| {
            pool.install(|| sink += hasher.signatures(&arrays[chunk.start / CHUNK]).map(|_| 1).unwrap());
        }),
    );
    eprintln!("({shingles} shingles, checksum {sink})");
}
