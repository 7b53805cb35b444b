//! The public API: spawn and join, nested `go`, joins from outside the
//! runtime, ids, `num_goroutine`, `yield_now`, builder errors.

mod common;
use common::{bounded, rt};

use burrow_sched::{Runtime, current_id, go, num_goroutine, yield_now};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn run_returns_main_result() {
    let v = bounded(20, "run", || rt(2).run(|| 40 + 2));
    assert_eq!(v, 42);
}

#[test]
fn main_goroutine_has_id_1_and_children_have_others() {
    let (main_id, child_ids) = bounded(20, "ids", || {
        rt(2).run(|| {
            let me = current_id();
            let hs: Vec<_> = (0..100).map(|_| go(current_id)).collect();
            let ids: Vec<_> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
            (me, ids)
        })
    });
    assert_eq!(main_id, Some(1));
    let mut ids = child_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100, "goroutine ids are unique");
    assert!(!ids.contains(&1));
    assert_eq!(current_id(), None, "a plain thread is not a goroutine");
}

#[test]
fn nested_go_three_levels() {
    let v = bounded(20, "nested", || {
        rt(2).run(|| {
            go(|| {
                let inner = go(|| go(|| 7u32).join().unwrap() * 3);
                inner.join().unwrap() + 1
            })
            .join()
            .unwrap()
        })
    });
    assert_eq!(v, 22);
}

#[test]
fn joins_from_outside_the_runtime() {
    // Goroutines are joined by a plain thread while the runtime runs: the
    // thread parks on its own parker, readied by the goroutines.
    let total = bounded(30, "outside joins", || {
        rt(2).run(|| {
            let hs: Vec<_> = (0..200u64)
                .map(|i| {
                    go(move || {
                        for _ in 0..(i % 5) {
                            yield_now();
                        }
                        i
                    })
                })
                .collect();
            let joiner =
                std::thread::spawn(move || hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>());
            // Wait for the thread inside a goroutine without blocking the
            // M: a goroutine joins it through park/ready.
            let ready = burrow_sched::Ready::for_current();
            let waker = std::thread::spawn(move || {
                let r = joiner.join().unwrap();
                ready.ready();
                r
            });
            burrow_sched::park(burrow_sched::WaitReason::Other);
            waker.join().unwrap()
        })
    });
    assert_eq!(total, (0..200).sum::<u64>());
}

#[test]
fn handles_joined_after_run_returned_are_abandoned_or_done() {
    // Goroutines that never got to run before main returned are dropped;
    // their handles say so instead of hanging.
    let hs = bounded(20, "spawn and leave", || {
        rt(1).run(|| (0..50u32).map(|i| go(move || i)).collect::<Vec<_>>())
    });
    let results = bounded(20, "join abandoned", move || {
        hs.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    for r in results {
        match r {
            Ok(_) => {}
            Err(p) => assert!(p.is_abandoned(), "unexpected panic: {p}"),
        }
    }
}

#[test]
fn num_goroutine_counts_live_goroutines() {
    let (during, after) = bounded(20, "num_goroutine", || {
        rt(1).run(|| {
            // The children stay alive until released: `go` may yield to
            // them (spawner back-pressure), so they must not finish early.
            let release = Arc::new(AtomicBool::new(false));
            let hs: Vec<_> = (0..10)
                .map(|_| {
                    let release = release.clone();
                    go(move || {
                        // Acquire: pairs with the Release store below.
                        while !release.load(Ordering::Acquire) {
                            yield_now();
                        }
                    })
                })
                .collect();
            let during = num_goroutine();
            // Release: pairs with the children's Acquire loads.
            release.store(true, Ordering::Release);
            for h in hs {
                h.join().unwrap();
            }
            (during, num_goroutine())
        })
    });
    assert_eq!(during, 11);
    assert_eq!(after, 1);
    assert_eq!(num_goroutine(), 0);
}

/// Goroutines are counted per P (spawn on one, exit on another): the sum
/// must still come back to exactly the main goroutine once they are gone.
#[test]
fn num_goroutine_settles_when_goroutines_exit_on_other_ps() {
    let (peak, settled) = bounded(60, "num_goroutine on 4 Ps", || {
        rt(4).run(|| {
            let mut peak = 0;
            for _ in 0..20 {
                let hs: Vec<_> = (0..200)
                    .map(|_| go(|| go(yield_now).join().unwrap()))
                    .collect();
                peak = peak.max(num_goroutine());
                hs.into_iter().for_each(|h| h.join().unwrap());
            }
            // A joined goroutine is counted out by its M just after it
            // hands over its result, so the count may lag a join briefly.
            let mut n = num_goroutine();
            while n != 1 {
                yield_now();
                n = num_goroutine();
            }
            (peak, n)
        })
    });
    assert!(peak > 1, "never saw a live child (peak {peak})");
    assert_eq!(settled, 1);
}

#[test]
fn yield_now_interleaves_on_one_p() {
    let log = bounded(20, "yield", || {
        rt(1).run(|| {
            let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let hs: Vec<_> = (0..3)
                .map(|id| {
                    let log = log.clone();
                    go(move || {
                        for step in 0..3 {
                            log.lock().unwrap().push((id, step));
                            yield_now();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            std::sync::Arc::try_unwrap(log)
                .unwrap()
                .into_inner()
                .unwrap()
        })
    });
    // Each goroutine's steps are in order and the three interleave (no
    // goroutine ran all its steps before another started).
    for id in 0..3 {
        let steps: Vec<_> = log
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(steps, vec![0, 1, 2]);
    }
    let first_done = log.iter().position(|&(_, s)| s == 2).unwrap();
    assert!(first_done >= 6, "yield_now did not interleave: {log:?}");
}

#[test]
fn builder_rejects_zero_maxprocs() {
    assert!(Runtime::builder().maxprocs(0).build().is_err());
}

#[test]
fn small_stack_size_is_honoured() {
    let v = bounded(20, "stack size", || {
        Runtime::builder()
            .maxprocs(1)
            .stack_size(64 * 1024)
            .build()
            .unwrap()
            .run(|| go(|| 5).join().unwrap())
    });
    assert_eq!(v, 5);
}

#[test]
fn go_outside_a_runtime_panics() {
    let r = std::panic::catch_unwind(|| go(|| ()));
    assert!(r.is_err());
}

#[test]
fn more_ps_than_cores() {
    let v = bounded(30, "maxprocs 16", || {
        rt(16).run(|| {
            let hs: Vec<_> = (0..1000u64).map(|i| go(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    });
    assert_eq!(v, (0..1000).sum::<u64>());
}

/// A goroutine stolen before it started gets its G on the thief's P, from
/// the thief's free list (*A goroutine's life* in `g.rs`): the id given by
/// `go` must be the one it runs under. Each
/// goroutine reports its `current_id` and the thread it ran on; every id
/// must match its handle, and some goroutines must have run on another
/// thread than the spawner's (or nothing was tested).
#[test]
fn goroutines_started_on_other_ps_keep_their_ids() {
    let (mismatched, elsewhere) = bounded(60, "ids on other Ps", || {
        rt(4).run(|| {
            let spawner = std::thread::current().id();
            let mut mismatched = 0;
            let mut elsewhere = 0;
            for _ in 0..50 {
                let hs: Vec<_> = (0..2000)
                    .map(|_| {
                        go(|| {
                            // A little work so that idle Ps find some to steal.
                            let mut x = 0u64;
                            for i in 0..200 {
                                x = std::hint::black_box(x.wrapping_add(i));
                            }
                            (current_id(), std::thread::current().id(), x)
                        })
                    })
                    .collect();
                for h in hs {
                    let id = h.id();
                    let (got, thread, _) = h.join().expect("no panic");
                    mismatched += usize::from(got != Some(id));
                    elsewhere += usize::from(thread != spawner);
                }
                if elsewhere > 100 {
                    break;
                }
            }
            (mismatched, elsewhere)
        })
    });
    assert_eq!(
        mismatched, 0,
        "goroutines saw another id than their handle's"
    );
    assert!(
        elsewhere > 0,
        "no goroutine ran on another thread than its spawner: nothing was stolen"
    );
}

/// Goroutines that run one after another on a P run on the same warm
/// stack (a goroutine gets its G when it first runs: the one this P freed
/// last, see *Warm stacks* in `g.rs`), not one stack each as a G bound at
/// spawn would give them. Each goroutine reports the address of a local: with one P and
/// four children per round, joined after all four are spawned, the four
/// run back to back and must all report the same address. Its id must
/// still be its own.
#[test]
fn goroutines_run_back_to_back_share_the_warm_stack() {
    let rounds = bounded(30, "warm stacks", || {
        rt(1).run(|| {
            let mut rounds = Vec::new();
            for _ in 0..20 {
                let hs: Vec<_> = (0..4)
                    .map(|_| {
                        go(|| {
                            let local = 0u8;
                            let at = std::hint::black_box(&local) as *const u8 as usize;
                            (at, current_id())
                        })
                    })
                    .collect();
                let mut at: Vec<usize> = Vec::new();
                for h in hs {
                    let id = h.id();
                    let (addr, got) = h.join().expect("no panic");
                    assert_eq!(got, Some(id), "a goroutine runs under its own id");
                    at.push(addr);
                }
                at.sort_unstable();
                at.dedup();
                rounds.push(at.len());
            }
            rounds
        })
    });
    assert!(
        rounds.iter().all(|&n| n == 1),
        "stacks used per round of four back-to-back goroutines: {rounds:?} (want 1 each)"
    );
}
