//! Spawner back-pressure: a goroutine spawning in a loop yields once its
//! P's run queue is long, so the number of live goroutines stays bounded
//! instead of growing with the loop; a short burst of `go` never yields.
//! Sized by `BURROW_STRESS` (default 100,000 spawns per setting).

mod common;
use common::{bounded, rt, scale};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burrow_sched::{current_id, go, num_goroutine};

/// Spawns `n` goroutines from the main goroutine without joining any
/// until the end, and returns the most goroutines seen alive at once.
fn max_live_while_spawning(procs: usize, n: usize) -> usize {
    bounded(120, "spawning loop", move || {
        rt(procs).run(move || {
            let ran = Arc::new(AtomicUsize::new(0));
            let mut max_live = 0;
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let ran = ran.clone();
                    let h = go(move || {
                        ran.fetch_add(1, Ordering::Relaxed);
                    });
                    max_live = max_live.max(num_goroutine());
                    h
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(ran.load(Ordering::Relaxed), n, "every goroutine ran");
            max_live
        })
    })
}

#[test]
fn spawning_loop_keeps_the_live_set_small_on_one_p() {
    let n = 100_000 * scale();
    let max = max_live_while_spawning(1, n);
    // The main goroutine plus a queue of at most 8 (the yield threshold).
    assert!(
        max <= 16,
        "{max} goroutines alive at once while spawning {n} on one P"
    );
}

#[test]
fn spawning_loop_keeps_the_live_set_small_on_several_ps() {
    let n = 100_000 * scale();
    for procs in [2, 4] {
        let max = max_live_while_spawning(procs, n);
        // Each P's queue stays near the threshold; without back-pressure
        // the live set grows to tens of thousands here.
        assert!(
            max <= 1024,
            "{max} goroutines alive at once while spawning {n} on {procs} Ps"
        );
    }
}

/// Below the threshold `go` does not switch: on one P, none of the
/// children has run when the spawner looks, and the spawner is still on
/// the same goroutine.
#[test]
fn a_short_burst_of_go_does_not_yield() {
    bounded(20, "short burst", || {
        rt(1).run(|| {
            let me = current_id();
            let ran = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..5)
                .map(|_| {
                    let ran = ran.clone();
                    go(move || {
                        ran.fetch_add(1, Ordering::Relaxed);
                    })
                })
                .collect();
            assert_eq!(
                ran.load(Ordering::Relaxed),
                0,
                "a child ran before the spawner parked"
            );
            assert_eq!(current_id(), me);
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(ran.load(Ordering::Relaxed), 5);
        })
    });
}

/// Past the threshold the spawner does yield: on one P, children have run
/// before the spawner's loop ends.
#[test]
fn a_long_burst_of_go_lets_children_run() {
    bounded(20, "long burst", || {
        rt(1).run(|| {
            let ran = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..1000)
                .map(|_| {
                    let ran = ran.clone();
                    go(move || {
                        ran.fetch_add(1, Ordering::Relaxed);
                    })
                })
                .collect();
            let before_join = ran.load(Ordering::Relaxed);
            assert!(
                before_join >= 900,
                "only {before_join} of 1000 children ran while the spawner looped"
            );
            for h in hs {
                h.join().unwrap();
            }
        })
    });
}
