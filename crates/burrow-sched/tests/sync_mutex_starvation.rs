//! Stress: a waiter is not starved by goroutines hammering the lock in
//! tight loops. Each hammer holds the lock for a few µs and retakes it the
//! instant it lets go. The waiter is a plain OS thread: when an unlock
//! wakes it in normal mode it has to be scheduled by the kernel first, and
//! by then a hammer (already on a CPU) has retaken the lock, so in normal
//! mode alone it waits long (measured here with starvation mode disabled,
//! 30 rounds: median 24 ms, p90 130 ms, max 560 ms; with it: 13 / 28 /
//! 57 ms; see `docs/sync.md`).
//! After 1 ms of waiting it switches the mutex to starvation mode; the
//! next unlock hands it the lock. We assert a generous bound on its wait
//! and that starvation mode was entered.
//!
//! (A goroutine waiter would measure something else: the runtime does not
//! preempt, and a woken goroutine waits in its waker's `runnext` until that
//! P switches goroutines, which a hammer that never parks does not do.)
//! Scaled by `BURROW_STRESS` (rounds = 3 × scale).

mod common;
use common::{bounded, rt, scale};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burrow_sched::go;
use burrow_sched::sync::{Mutex, starvation_entries};

const HAMMERS: usize = 3;
/// Pause instructions inside the critical section (a few µs).
const HOLD_SPINS: usize = 2000;
/// A generous bound: the waiter needs 1 ms to turn starving, then one
/// hand-off; CI machines are slow and shared.
const BOUND: Duration = Duration::from_secs(2);

/// One round: hammers on a 2-P runtime, the waiter on this thread.
fn round() -> Duration {
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let spins = Arc::new(AtomicU64::new(0));
    let runtime = {
        let (m, stop, spins) = (m.clone(), stop.clone(), spins.clone());
        std::thread::spawn(move || {
            rt(2).run(move || {
                let hs: Vec<_> = (0..HAMMERS)
                    .map(|_| {
                        let (m, stop, spins) = (m.clone(), stop.clone(), spins.clone());
                        go(move || {
                            while !stop.load(Ordering::Relaxed) {
                                let mut g = m.lock();
                                *g += 1;
                                for _ in 0..HOLD_SPINS {
                                    std::hint::spin_loop();
                                }
                                drop(g);
                                spins.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while spins.load(Ordering::Relaxed) < 1_000 {
        assert!(Instant::now() < deadline, "hammers never ran");
        std::thread::yield_now();
    }
    let t0 = Instant::now();
    let g = m.lock();
    let waited = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    drop(g);
    runtime.join().expect("hammers panicked");
    waited
}

#[test]
fn starving_waiter_is_served_within_a_bound() {
    let rounds = 3 * scale();
    let before = starvation_entries();
    let waits = bounded(120, "starvation", move || {
        (0..rounds).map(|_| round()).collect::<Vec<_>>()
    });
    eprintln!("waits: {waits:?}");
    for w in &waits {
        assert!(*w < BOUND, "waiter starved for {w:?} (bound {BOUND:?})");
    }
    assert!(
        starvation_entries() > before,
        "starvation mode never entered (waits {waits:?})"
    );
}
