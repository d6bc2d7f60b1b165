//! Thread scaling of the Arrow MinHash kernel: one call over all documents, 1 vs 2 threads.
//!
//!     cargo run --release -p assay-core --example minhash_scaling -- DOCS_FILE [REPEATS]
use std::time::Instant;

use arrow_array::StringArray;
use assay_core::minhash::{MinHasher, Scheme, Unit};

fn main() {
    let mut args = std::env::args().skip(1);
    let raw = std::fs::read_to_string(args.next().expect("usage: minhash_scaling DOCS_FILE [REPEATS]")).unwrap();
    let repeats: usize = args.next().map_or(15, |r| r.parse().unwrap());
    let docs: Vec<&str> = raw.split('\0').collect();
    let array = StringArray::from(docs.clone());
    let hasher = MinHasher::new(128, 1, Scheme::Affine32, 5, Unit::Auto).unwrap();
    for threads in [1, 2, 1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut times: Vec<f64> = (0..repeats)
            .map(|_| {
                let t = Instant::now();
                pool.install(|| hasher.signatures(&array).unwrap());
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{threads} thread(s): median {:.2} ms, min {:.2} ms", times[repeats / 2] * 1e3, times[0] * 1e3);
    }
}
