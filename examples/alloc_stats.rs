//! Sets `BurrowAlloc` as the global allocator, allocates a workload, and
//! prints Go-style memory statistics before the workload, after it is freed,
//! and after the scavenger has returned the idle pages (decay 200 ms here).
//!
//! Run: `cargo run --release --example alloc_stats`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use burrow_alloc::{BurrowAlloc, MemStats};

#[global_allocator]
static GLOBAL: BurrowAlloc = BurrowAlloc::new();

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn show(label: &str, s: &MemStats) {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("== {label}");
    println!(
        "  HeapAlloc {:8.1} MiB  HeapInuse {:8.1} MiB  HeapIdle {:8.1} MiB  HeapReleased {:8.1} MiB",
        mib(s.heap_alloc),
        mib(s.heap_inuse),
        mib(s.heap_idle),
        mib(s.heap_released)
    );
    println!(
        "  HeapSys   {:8.1} MiB  TotalAlloc {:7.1} MiB  Mallocs {}  Frees {}  meta {:.1} MiB  RSS {:.1} MiB",
        mib(s.heap_sys),
        mib(s.total_alloc),
        s.mallocs,
        s.frees,
        mib(s.meta_sys),
        rss_mib()
    );
    let mut busiest: Vec<_> = s.by_class.iter().filter(|c| c.mallocs > 0).collect();
    busiest.sort_by_key(|c| std::cmp::Reverse(c.mallocs));
    let top: Vec<String> = busiest
        .iter()
        .take(5)
        .map(|c| format!("{}B:{}/{}", c.size, c.mallocs, c.frees))
        .collect();
    println!("  busiest classes (size:mallocs/frees): {}", top.join("  "));
}

fn main() {
    burrow_alloc::set_scavenger_decay(Duration::from_millis(200));
    show("start", &burrow_alloc::stats());

    // The workload: a big map of strings, a pile of vectors, some large blocks.
    let mut map = BTreeMap::new();
    for i in 0..200_000u64 {
        map.insert(i, format!("value number {i} with some padding"));
    }
    let vecs: Vec<Vec<u8>> = (0..2_000)
        .map(|i| vec![i as u8; 1 + (i * 37) % 60_000])
        .collect();
    let big: Vec<Vec<u64>> = (0..16).map(|_| vec![7u64; 1 << 20]).collect();
    show("workload live", &burrow_alloc::stats());

    let checksum = map.len() + vecs.iter().map(Vec::len).sum::<usize>() + big.len();
    drop(map);
    drop(vecs);
    drop(big);
    show(
        &format!("workload freed (checksum {checksum})"),
        &burrow_alloc::stats(),
    );

    let t = Instant::now();
    while burrow_alloc::stats().heap_idle_resident() > 4 << 20
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    show(
        &format!("after the scavenger ({} ms)", t.elapsed().as_millis()),
        &burrow_alloc::stats(),
    );
}
