//! Stress: a waiter is not starved by goroutines hammering the lock in
//! tight loops. Each hammer holds the lock for a few µs and retakes it
//! the instant it lets go, so in normal mode a woken waiter nearly always
//! finds it retaken (the unlocker is on a CPU, the waiter is not). After
//! 1 ms of waiting it switches the mutex to starvation mode; the next
//! unlock hands it the lock and yields to it. We assert a generous bound
//! on its wait and that starvation mode was entered.
//!
//! The hammers yield every `YIELD_EVERY` rounds: our scheduler does not
//! preempt, and a woken waiter sits in its waker's `runnext` until that P
//! switches goroutines; Go's preemption provides the switch there. The
//! yields stand in for it, so this test measures the mutex, not the
//! absence of preemption. Scaled by `BURROW_STRESS` (rounds = 3 × scale).

mod common;
use common::{bounded, rt, scale};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burrow_sched::sync::{Mutex, starvation_entries};
use burrow_sched::{go, yield_now};

const HAMMERS: usize = 3;
/// Pause instructions inside the critical section (a few µs): long
/// enough that a woken waiter finds the lock retaken by the unlocker.
const HOLD_SPINS: usize = 2000;
/// Lock rounds between a hammer's yields (see the module docs).
const YIELD_EVERY: u64 = 64;
/// A generous bound: the waiter needs 1 ms to turn starving, then one
/// hand-off; CI machines are slow and shared.
const BOUND: Duration = Duration::from_secs(2);

#[test]
fn starving_waiter_is_served_within_a_bound() {
    let rounds = 3 * scale();
    let before = starvation_entries();
    let waits = bounded(120, "starvation", move || {
        rt(2).run(move || {
            let mut waits = Vec::new();
            for _ in 0..rounds {
                let m = Arc::new(Mutex::new(0u64));
                let stop = Arc::new(AtomicBool::new(false));
                let spins = Arc::new(AtomicU64::new(0));
                let hs: Vec<_> = (0..HAMMERS)
                    .map(|_| {
                        let (m, stop, spins) = (m.clone(), stop.clone(), spins.clone());
                        go(move || {
                            while !stop.load(Ordering::Relaxed) {
                                let mut g = m.lock();
                                *g += 1;
                                // Hold it a little so the lock is busy.
                                for _ in 0..HOLD_SPINS {
                                    std::hint::spin_loop();
                                }
                                drop(g);
                                let n = spins.fetch_add(1, Ordering::Relaxed);
                                if n % YIELD_EVERY == 0 {
                                    yield_now();
                                }
                            }
                        })
                    })
                    .collect();
                // Let the hammers get going.
                let deadline = Instant::now() + Duration::from_secs(20);
                while spins.load(Ordering::Relaxed) < 1_000 {
                    assert!(Instant::now() < deadline, "hammers never ran");
                    yield_now();
                }
                let t0 = Instant::now();
                let g = m.lock();
                let waited = t0.elapsed();
                stop.store(true, Ordering::Relaxed);
                drop(g);
                for h in hs {
                    h.join().unwrap();
                }
                waits.push(waited);
            }
            waits
        })
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
