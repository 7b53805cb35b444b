//! Spawns 1,000,000 goroutines that all park, then wakes and joins them:
//! prints the time per goroutine and the peak resident memory per
//! goroutine (all of them are alive at the peak).
//!
//! `cargo run --release --example spawn_million [-- COUNT]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

fn peak_rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rt = burrow::Runtime::builder().build().expect("runtime builds");
    let before = peak_rss_bytes();
    let t = Instant::now();
    let (spawned, peak) = rt.run(move || {
        // Each goroutine parks on its Ready until main releases them all,
        // so all n are alive at once.
        let release = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel::<burrow::Ready>();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let tx = tx.clone();
                let release = release.clone();
                burrow::go(move || {
                    // Acquire: pairs with the Release store that lets everyone go.
                    if !release.load(Ordering::Acquire) {
                        tx.send(burrow::Ready::for_current()).expect("main listens");
                        burrow::park(burrow::WaitReason::Other);
                    }
                })
            })
            .collect();
        drop(tx);
        let mut readies = Vec::with_capacity(n);
        while readies.len() < n {
            readies.push(rx.recv().expect("every goroutine parks once"));
            if readies.len() % 1024 == 0 {
                burrow::yield_now();
            }
        }
        let spawned = t.elapsed();
        let peak = peak_rss_bytes();
        // Release: pairs with the goroutines\' Acquire load of the flag.
        release.store(true, Ordering::Release);
        for r in readies {
            r.ready();
        }
        for h in hs {
            h.join().expect("no panics");
        }
        (spawned, peak)
    });
    let total = t.elapsed();
    println!(
        "spawn_million: {n} goroutines; all parked after {:.0} ms ({:.0} ns each); spawn+park+wake+join {:.0} ns each; peak RSS {:.2} KiB per goroutine",
        spawned.as_secs_f64() * 1e3,
        spawned.as_nanos() as f64 / n as f64,
        total.as_nanos() as f64 / n as f64,
        (peak.saturating_sub(before)) as f64 / 1024.0 / n as f64
    );
}
