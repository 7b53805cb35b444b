//! A million suspended coroutines on burrow-stack's guarded stacks, on a
//! default Linux box (no sysctl): prints the time, the memory per coroutine
//! and how few mappings they needed.
//!
//! `cargo run --release --example suspended_coroutines [-- COUNT]`

use std::time::Instant;

use burrow_stack::{Pool, StackConfig};
use corosensei::{Coroutine, CoroutineResult, Yielder};

fn status(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Creates `n` coroutines, each suspended with a frame on its stack, then
/// resumes them all to completion. Returns (ns per creation, KiB RSS each).
fn round(pool: Pool, n: usize) -> (f64, f64) {
    let rss0 = status("RssAnon:");
    let t = Instant::now();
    let mut cos = Vec::with_capacity(n);
    for i in 0..n {
        let stack = pool
            .alloc()
            .unwrap_or_else(|e| panic!("coroutine {i}: {e}"));
        let mut co = Coroutine::with_stack(stack, move |y: &Yielder<(), u64>, ()| {
            y.suspend(i as u64); // park with a frame on the stack
            1u64
        });
        assert!(matches!(co.resume(()), CoroutineResult::Yield(_)));
        cos.push(co);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    let kib = status("RssAnon:").saturating_sub(rss0) as f64 / n as f64;
    let done: u64 = cos
        .iter_mut()
        .map(|co| co.resume(()).as_return().unwrap_or(0))
        .sum();
    assert_eq!(done as usize, n, "every coroutine finished");
    (ns, kib)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let pool = Pool::new(StackConfig {
        usable_size: 64 * 1024,
        ..StackConfig::default()
    })
    .expect("stack pool");
    let (cold_ns, kib) = round(pool, n);
    let maps = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
    println!(
        "{n} coroutines suspended at once: {kib:.2} KiB RSS each, {maps} lines in /proc/self/maps, guard mode {:?}",
        burrow_stack::current_guard_mode()
    );
    println!("  first round (fresh stacks, page faults): {cold_ns:.0} ns per coroutine");
    let (warm_ns, _) = round(pool, n);
    println!("  second round (stacks reused from the pool): {warm_ns:.0} ns per coroutine");
}
