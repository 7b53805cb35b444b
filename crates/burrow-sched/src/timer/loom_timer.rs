//! Loom models of a timer's state machine: a firing (`fire`, as run by an
//! M after popping the entry) racing `del_timer` from another thread.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p burrow-sched --lib --release loom_`.
//! They check the contract in `timer/mod.rs`: a delete that returns true
//! means the callback never runs (again); one that returns false means a
//! one-shot timer fired exactly once; after a delete returns, a periodic
//! timer fires at most once more (a firing already under way).

use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::{Fired, TimerInner, TimerKey, del_timer, fire};

fn counting_timer(period: Option<std::time::Duration>) -> (Arc<TimerInner>, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let t = TimerInner::new(
        period,
        Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        }),
        None,
    );
    (t, hits)
}

/// A one-shot timer fires on one thread while another deletes it.
#[test]
fn loom_one_shot_fire_vs_delete() {
    loom::model(|| {
        let (t, hits) = counting_timer(None);
        let key = TimerKey(t.clone());
        let firer = thread::spawn(move || matches!(fire(&t, 1), Fired::Done));
        let won = del_timer(&key);
        assert!(firer.join().unwrap(), "a one-shot timer never re-arms");
        let n = hits.load(Ordering::SeqCst);
        if won {
            assert_eq!(n, 0, "fired after a successful delete");
        } else {
            assert_eq!(n, 1, "a failed delete means it fired exactly once");
        }
        assert!(!del_timer(&key), "a second delete never wins");
    });
}

/// A periodic timer re-armed by its firer (up to three firings) while
/// another thread deletes it.
#[test]
fn loom_periodic_fire_vs_delete() {
    loom::model(|| {
        let (t, hits) = counting_timer(Some(std::time::Duration::from_nanos(1)));
        let key = TimerKey(t.clone());
        let firer = thread::spawn(move || {
            let mut when = 1;
            for _ in 0..3 {
                match fire(&t, when) {
                    Fired::Again(next) => when = next,
                    Fired::Done => return true,
                }
            }
            false
        });
        let won = del_timer(&key);
        let at_delete = hits.load(Ordering::SeqCst);
        let stopped = firer.join().unwrap();
        let n = hits.load(Ordering::SeqCst);
        if won {
            assert_eq!(n, at_delete, "fired after a successful delete");
        } else {
            assert!(n <= at_delete + 1, "more than the firing under way ran");
        }
        // Unless the firer used up its three firings before the delete, it
        // saw the delete and stopped re-arming.
        assert!(
            stopped || at_delete == 3,
            "still re-arming after the delete"
        );
    });
}
