use assay_core::minhash::shingle::{normalize_into, Normalized};
use assay_core::minhash::Unit;
fn main() {
    let raw = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    let docs: Vec<&str> = raw.split('\0').collect();
    let mut n = Normalized::default();
    let mut sink = 0;
    for _ in 0..300 { for d in &docs { normalize_into(d, Unit::Auto, &mut n); sink += n.tokens.len(); } }
    println!("{sink}");
}
