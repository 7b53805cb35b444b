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

use crate::kernel::runq::{GlobalQueue, RUNQ_CAP, RunItem, local};

/// Items are boxed usizes; the queues move the pointers.
struct Item(Box<usize>);

// SAFETY: `from_raw` rebuilds the box `into_raw` leaked.
unsafe impl RunItem for Item {
    fn into_raw(self) -> NonNull<()> {
        NonNull::from(Box::leak(self.0)).cast()
    }
    unsafe fn from_raw(p: NonNull<()>) -> Self {
        // SAFETY: made by `into_raw` (caller's promise), converted once.
        Item(unsafe { Box::from_raw(p.cast::<usize>().as_ptr()) })
    }
}

fn item(v: usize) -> Item {
    Item(Box::new(v))
}

fn free(i: Item) -> usize {
    *i.0
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
        let (qs, mut q) = local::<Item>();
        let thief = {
            let qs = qs.clone();
            thread::spawn(move || {
                let (_, mut mine) = local::<Item>();
                let mut got = Vec::new();
                if let Some(p) = mine.steal_from(&qs, false, None) {
                    got.push(free(p));
                    got.extend(mine.drain().into_iter().map(free));
                }
                got
            })
        };
        let mut got = Vec::new();
        for i in 0..3 {
            assert!(q.push(item(i), false).is_none());
        }
        if let Some((p, _)) = q.pop() {
            got.push(free(p));
        }
        got.extend(thief.join().unwrap());
        got.extend(q.drain().into_iter().map(free));
        check_exactly_once(got, 3);
    });
}

/// The owner fills the ring past its capacity (overflow to the global
/// queue) while a thief steals.
#[test]
fn loom_overflow_to_global_while_stealing() {
    loom::model(|| {
        let (qs, mut q) = local::<Item>();
        let global: Arc<GlobalQueue<Item>> = Arc::new(GlobalQueue::new());
        let thief = {
            let qs = qs.clone();
            thread::spawn(move || {
                let (_, mut mine) = local::<Item>();
                let mut got = Vec::new();
                if let Some(p) = mine.steal_from(&qs, false, None) {
                    got.push(free(p));
                    got.extend(mine.drain().into_iter().map(free));
                }
                got
            })
        };
        let n = RUNQ_CAP + 1;
        for i in 0..n {
            if let Some(b) = q.push(item(i), false) {
                global.push_batch(b);
            }
        }
        let mut got = thief.join().unwrap();
        got.extend(q.drain().into_iter().map(free));
        got.extend(global.pop_batch(1, usize::MAX).into_iter().map(free));
        check_exactly_once(got, n);
    });
}

/// `runnext` raced: the owner replaces it while a thief (last round) takes
/// it; and the owner pops it.
#[test]
fn loom_runnext_steal_race() {
    loom::model(|| {
        let (qs, mut q) = local::<Item>();
        assert!(q.push(item(0), true).is_none());
        let thief = {
            let qs = qs.clone();
            thread::spawn(move || {
                let (_, mut mine) = local::<Item>();
                let mut got = Vec::new();
                if let Some(p) = mine.steal_from(&qs, true, None) {
                    got.push(free(p));
                    got.extend(mine.drain().into_iter().map(free));
                }
                got
            })
        };
        assert!(q.push(item(1), true).is_none());
        let mut got = Vec::new();
        if let Some((p, _)) = q.pop() {
            got.push(free(p));
        }
        got.extend(thief.join().unwrap());
        got.extend(q.drain().into_iter().map(free));
        check_exactly_once(got, 2);
    });
}

/// Two thieves steal from one queue at once.
#[test]
fn loom_two_thieves() {
    loom::model(|| {
        let (qs, mut q) = local::<Item>();
        for i in 0..RUNQ_CAP {
            assert!(q.push(item(i), false).is_none());
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let qs = qs.clone();
                thread::spawn(move || {
                    let (_, mut mine) = local::<Item>();
                    let mut got = Vec::new();
                    if let Some(p) = mine.steal_from(&qs, false, None) {
                        got.push(free(p));
                        got.extend(mine.drain().into_iter().map(free));
                    }
                    got
                })
            })
            .collect();
        let mut got = Vec::new();
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        got.extend(q.drain().into_iter().map(free));
        check_exactly_once(got, RUNQ_CAP);
    });
}
