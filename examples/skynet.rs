//! Skynet: a tree of 1,000,000 goroutines (each spawns ten children, the
//! leaves return their number, every node sums its children), the classic
//! spawn/join benchmark. Prints the sum and the time.
//!
//! `cargo run --release --example skynet [-- LEAVES]`; `BURROW_MAXPROCS`
//! sets the number of Ps.

use std::time::Instant;

fn skynet(num: u64, size: u64, div: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let children: Vec<_> = (0..div)
        .map(|i| {
            let sub = size / div;
            burrow::go(move || skynet(num + i * sub, sub, div))
        })
        .collect();
    children
        .into_iter()
        .map(|h| h.join().expect("no panics in skynet"))
        .sum()
}

fn main() {
    let leaves: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rt = burrow::Runtime::builder().build().expect("runtime builds");
    let procs = rt.maxprocs();
    let t = Instant::now();
    let sum = rt.run(move || skynet(0, leaves, 10));
    let el = t.elapsed();
    assert_eq!(sum, leaves * (leaves - 1) / 2, "wrong skynet sum");
    println!(
        "skynet: {leaves} leaves, sum {sum}, {:.1} ms, maxprocs {procs}",
        el.as_secs_f64() * 1e3
    );
}
