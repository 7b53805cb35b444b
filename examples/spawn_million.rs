//! Spawns 1,000,000 goroutines that all block on a channel, then closes
//! it and joins them:
//! prints the time per goroutine and the peak resident memory per
//! goroutine (all of them are alive at the peak).
//!
//! `cargo run --release --example spawn_million [-- COUNT]`.

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
        // Go's shape: each goroutine says it is ready, then blocks on a
        // channel that main closes once all n have said so, so all n are
        // alive at once.
        let (ready_tx, ready_rx) = burrow::chan::<()>(1024);
        let (release_tx, release_rx) = burrow::chan::<()>(0);
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (ready_tx, release_rx) = (ready_tx.clone(), release_rx.clone());
                burrow::go(move || {
                    ready_tx.send(()).expect("main listens");
                    // None: main closed the channel.
                    assert!(release_rx.recv().is_none());
                })
            })
            .collect();
        drop((ready_tx, release_rx));
        for _ in 0..n {
            ready_rx.recv().expect("every goroutine reports once");
        }
        let spawned = t.elapsed();
        let peak = peak_rss_bytes();
        drop(release_tx);
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
