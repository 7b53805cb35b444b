//! A deleted (stopped) timer still in a P heap must not hold a deadlock
//! report back until its time, whether the idle M finds it at the top of
//! a heap or is already sleeping on it.
//!
//! The fallback side (process-global) is in `deadlock_fallback_timers.rs`.

mod common;
use common::bounded;

use std::time::{Duration, Instant};

use burrow_sched::{Ready, RunError, Runtime, Timer, WaitReason, go, park};

fn park_forever() {
    drop(Ready::for_current());
    park(WaitReason::Other);
}

#[test]
fn stopped_timer_in_a_p_heap_does_not_hold_back_the_report() {
    let (r, took) = bounded(20, "deadlock with a stopped P-heap timer", || {
        let t0 = Instant::now();
        let r = Runtime::builder()
            .maxprocs(1)
            .deadlock_grace(Some(Duration::from_millis(50)))
            .build()
            .unwrap()
            .try_run(|| {
                let t = Timer::new(Duration::from_secs(3600));
                assert!(t.stop());
                park_forever();
            });
        (r, t0.elapsed())
    });
    assert!(
        matches!(r, Err(RunError::Deadlock { parked: 1, .. })),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(10), "reported after {took:?}");
}

/// An idle M sleeps on a 1 h timer; a busy goroutine then stops that
/// timer and parks forever. The last M to go idle must kick the sleeper
/// so that it watches for the deadlock instead of sleeping an hour.
#[test]
fn sleeper_on_a_timer_stopped_later_is_woken_to_report() {
    let (r, took) = bounded(20, "deadlock after the sleeper's timer stopped", || {
        let t0 = Instant::now();
        let r = Runtime::builder()
            .maxprocs(2)
            .deadlock_grace(Some(Duration::from_millis(50)))
            .build()
            .unwrap()
            .try_run(|| {
                let t = Timer::new(Duration::from_secs(3600));
                let _h = go(move || {
                    // Busy (holding its P) while main's M goes idle and
                    // sleeps on the 1 h timer.
                    let spin = Instant::now();
                    while spin.elapsed() < Duration::from_millis(200) {
                        std::hint::spin_loop();
                    }
                    assert!(t.stop());
                    park_forever();
                });
                park_forever();
            });
        (r, t0.elapsed())
    });
    assert!(
        matches!(r, Err(RunError::Deadlock { parked: 2, .. })),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(10), "reported after {took:?}");
}
