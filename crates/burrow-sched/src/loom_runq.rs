//! Loom models of the run queue: push, pop, steal-half, runnext and the
//! overflow to the global queue, with `RUNQ_CAP = 4` under `cfg(loom)`.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p burrow-sched --lib --release loom_`.
//! Each model checks that every item is taken exactly once, whichever
//! interleaving loom picks.

use std::ptr::NonNull;
use std::sync::Arc;

use loom::thread;

use crate::runq::{GlobalQueue, RUNQ_CAP, Runq};

fn item(v: usize) -> NonNull<usize> {
    NonNull::from(Box::leak(Box::new(v)))
}

fn free(p: NonNull<usize>) -> usize {
    // SAFETY: made by `item`; each pointer leaves the queues once.
    *unsafe { Box::from_raw(p.as_ptr()) }
}

fn check_exactly_once(mut got: Vec<usize>, n: usize) {
    got.sort_unstable();
    assert_eq!(
        got,
        (0..n).collect::<Vec<_>>(),
        "an item was lost or duplicated"
    );
}

/// The owner pushes and pops while a thief steals half.
#[test]
fn loom_push_pop_steal() {
    loom::model(|| {
        let q: Arc<Runq<usize>> = Arc::new(Runq::new());
        let thief = {
            let q = q.clone();
            thread::spawn(move || {
                let mine: Runq<usize> = Runq::new();
                let mut got = Vec::new();
                // SAFETY: this thread owns `mine`.
                if let Some(p) = unsafe { q.steal_into(&mine, false, None) } {
                    got.push(free(p));
                    // SAFETY: as above.
                    got.extend(unsafe { mine.drain() }.into_iter().map(free));
                }
                got
            })
        };
        let mut got = Vec::new();
        for i in 0..3 {
            // SAFETY: this thread owns `q`.
            assert!(unsafe { q.push(item(i), false) }.is_none());
        }
        // SAFETY: as above.
        if let Some((p, _)) = unsafe { q.pop() } {
            got.push(free(p));
        }
        got.extend(thief.join().unwrap());
        // SAFETY: the thief is gone; we own `q`.
        got.extend(unsafe { q.drain() }.into_iter().map(free));
        check_exactly_once(got, 3);
    });
}

/// The owner fills the ring past its capacity (overflow to the global
/// queue) while a thief steals.
#[test]
fn loom_overflow_to_global_while_stealing() {
    loom::model(|| {
        let q: Arc<Runq<usize>> = Arc::new(Runq::new());
        let global: Arc<GlobalQueue<usize>> = Arc::new(GlobalQueue::new());
        let thief = {
            let q = q.clone();
            thread::spawn(move || {
                let mine: Runq<usize> = Runq::new();
                let mut got = Vec::new();
                // SAFETY: this thread owns `mine`.
                if let Some(p) = unsafe { q.steal_into(&mine, false, None) } {
                    got.push(free(p));
                    // SAFETY: as above.
                    got.extend(unsafe { mine.drain() }.into_iter().map(free));
                }
                got
            })
        };
        let n = RUNQ_CAP + 1;
        for i in 0..n {
            // SAFETY: this thread owns `q`.
            if let Some(b) = unsafe { q.push(item(i), false) } {
                global.push_batch(b);
            }
        }
        let mut got = thief.join().unwrap();
        // SAFETY: the thief is gone; we own `q`.
        got.extend(unsafe { q.drain() }.into_iter().map(free));
        got.extend(global.pop_batch(1, usize::MAX).into_iter().map(free));
        check_exactly_once(got, n);
    });
}

/// `runnext` raced: the owner replaces it while a thief (last round) takes
/// it; and the owner pops it.
#[test]
fn loom_runnext_steal_race() {
    loom::model(|| {
        let q: Arc<Runq<usize>> = Arc::new(Runq::new());
        // SAFETY: this thread owns `q` (the thief only steals).
        assert!(unsafe { q.push(item(0), true) }.is_none());
        let thief = {
            let q = q.clone();
            thread::spawn(move || {
                let mine: Runq<usize> = Runq::new();
                let mut got = Vec::new();
                // SAFETY: this thread owns `mine`.
                if let Some(p) = unsafe { q.steal_into(&mine, true, None) } {
                    got.push(free(p));
                    // SAFETY: as above.
                    got.extend(unsafe { mine.drain() }.into_iter().map(free));
                }
                got
            })
        };
        // SAFETY: we own `q`.
        assert!(unsafe { q.push(item(1), true) }.is_none());
        let mut got = Vec::new();
        // SAFETY: as above.
        if let Some((p, _)) = unsafe { q.pop() } {
            got.push(free(p));
        }
        got.extend(thief.join().unwrap());
        // SAFETY: the thief is gone.
        got.extend(unsafe { q.drain() }.into_iter().map(free));
        check_exactly_once(got, 2);
    });
}

/// Two thieves steal from one queue at once.
#[test]
fn loom_two_thieves() {
    loom::model(|| {
        let q: Arc<Runq<usize>> = Arc::new(Runq::new());
        for i in 0..RUNQ_CAP {
            // SAFETY: this thread owns `q`.
            assert!(unsafe { q.push(item(i), false) }.is_none());
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    let mine: Runq<usize> = Runq::new();
                    let mut got = Vec::new();
                    // SAFETY: this thread owns `mine`.
                    if let Some(p) = unsafe { q.steal_into(&mine, false, None) } {
                        got.push(free(p));
                        // SAFETY: as above.
                        got.extend(unsafe { mine.drain() }.into_iter().map(free));
                    }
                    got
                })
            })
            .collect();
        let mut got = Vec::new();
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        // SAFETY: the thieves are gone; we own `q`.
        got.extend(unsafe { q.drain() }.into_iter().map(free));
        check_exactly_once(got, RUNQ_CAP);
    });
}
