//! A goroutine that computes for a second without a runtime call does not
//! stop a ticker goroutine on the same (only) P: sysmon lends a spare P to
//! the starved P's work (*Starvation* in `kernel/sysmon.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burrow_sched::{Runtime, go};

mod common;
use common::bounded;

#[test]
fn a_tight_loop_does_not_stop_a_ticker() {
    let gaps = bounded(30, "ticker beside a tight loop", || {
        Runtime::builder().maxprocs(1).build().unwrap().run(|| {
            let done = Arc::new(AtomicBool::new(false));
            let ticker = {
                let done = done.clone();
                go(move || {
                    let mut at = Vec::new();
                    while !done.load(Ordering::Relaxed) {
                        burrow_sched::sleep(Duration::from_millis(10));
                        at.push(Instant::now());
                    }
                    at
                })
            };
            // Let the ticker start, then compute for 1 s with no
            // runtime call at all.
            burrow_sched::yield_now();
            let end = Instant::now() + Duration::from_secs(1);
            let mut x = 0u64;
            while Instant::now() < end {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            done.store(true, Ordering::Relaxed);
            let at = ticker.join().unwrap();
            at.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
        })
    });
    assert!(
        gaps.len() >= 40,
        "only {} ticks in 1 s (want ~100)",
        gaps.len()
    );
    let worst = gaps.iter().max().copied().unwrap_or_default();
    // Slack: 10 ms of starvation before sysmon acts, sysmon's own sleep
    // (at most 10 ms), and the spare M's start.
    assert!(
        worst < Duration::from_millis(60),
        "a 10 ms ticker went {worst:?} without ticking"
    );
}

/// A long goroutine that does make runtime calls (here `try_recv`, which
/// never parks) yields at one of them once sysmon flags it, and the yield
/// is counted in `stats().preemptions`.
#[test]
fn a_flagged_goroutine_yields_at_its_next_runtime_call() {
    let (ticks, preemptions) = bounded(30, "flagged goroutine yields", || {
        Runtime::builder().maxprocs(1).build().unwrap().run(|| {
            let done = Arc::new(AtomicBool::new(false));
            let ticker = {
                let done = done.clone();
                go(move || {
                    let mut n = 0u32;
                    while !done.load(Ordering::Relaxed) {
                        burrow_sched::sleep(Duration::from_millis(10));
                        n += 1;
                    }
                    n
                })
            };
            burrow_sched::yield_now();
            let (_tx, rx) = burrow_sched::chan::<u8>(1);
            let end = Instant::now() + Duration::from_millis(500);
            while Instant::now() < end {
                let _ = rx.try_recv();
            }
            done.store(true, Ordering::Relaxed);
            let ticks = ticker.join().unwrap();
            (ticks, burrow_sched::stats().unwrap().preemptions)
        })
    });
    assert!(ticks >= 20, "only {ticks} ticks in 500 ms (want ~50)");
    assert!(preemptions >= 1, "no preemption was honoured");
}
