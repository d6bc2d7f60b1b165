//! Timing shared by the throughput examples.

use std::time::Instant;

/// Documents per timed chunk.
pub const CHUNK: usize = 100;

/// Run `f` on chunks of [`CHUNK`] documents, each chunk `rounds` times, and sum the fastest
/// time of every chunk: the machine may be shared, and other work only ever adds time.
pub fn best_seconds(docs: usize, rounds: usize, mut f: impl FnMut(std::ops::Range<usize>)) -> f64 {
    let mut total = 0.0;
    for start in (0..docs).step_by(CHUNK) {
        let chunk = start..(start + CHUNK).min(docs);
        let mut best = f64::INFINITY;
        for _ in 0..rounds {
            let t = Instant::now();
            f(chunk.clone());
            best = best.min(t.elapsed().as_secs_f64());
        }
        total += best;
    }
    total
}
