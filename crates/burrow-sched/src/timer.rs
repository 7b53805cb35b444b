//! The internal timer API that channels (`send_timeout`, `recv_timeout`,
//! `after`, `tick`, `select!`'s timeout arm), `sleep` and the sync
//! primitives build on.
//!
//! # Contract
//!
//! - [`add_timer`] schedules `f` to run at or after `when`, then every
//!   `period` after that if one is given, until [`del_timer`].
//! - `f` runs on a scheduler thread (an M between goroutines, or a timer
//!   thread), never inside a goroutine, and never while a scheduler lock is
//!   held. It must be short and must not block: it may call
//!   [`crate::Ready::ready`], `try_send` on a channel, or take a
//!   short-held lock.
//! - [`del_timer`] returns true if it removed the timer before its
//!   (next) firing began: then `f` will never run again. It returns false
//!   if a one-shot timer already fired or is firing now. After
//!   `del_timer` returns, a periodic timer fires no more (a firing already
//!   under way may still complete).
//!
//! This file is the *reference implementation*: one process-wide timer
//! thread with a binary heap. It is correct but is not Go's design (per-P
//! 4-ary heaps checked by `schedule()`); the timers work replaces the
//! inside and keeps the contract.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A timer's callback.
pub(crate) type TimerFn = Box<dyn FnMut() + Send>;

/// Timer state: waiting in a heap.
const PENDING: u8 = 0;
/// Timer state: the callback is running.
const RUNNING: u8 = 1;
/// Timer state: fired (one-shot) or deleted; never runs again.
const DONE: u8 = 2;

struct TimerInner {
    /// `PENDING`, `RUNNING` or `DONE`.
    state: AtomicU8,
    /// Set by `del_timer`; a periodic timer checks it before re-arming.
    deleted: std::sync::atomic::AtomicBool,
    period: Option<Duration>,
    f: Mutex<TimerFn>,
}

/// Names one timer for [`del_timer`].
#[derive(Clone)]
pub(crate) struct TimerKey(Arc<TimerInner>);

impl std::fmt::Debug for TimerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerKey")
            .field("state", &self.0.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

struct Entry {
    when: Instant,
    seq: u64,
    timer: Arc<TimerInner>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.when, self.seq) == (other.when, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.when, self.seq).cmp(&(other.when, other.seq))
    }
}

struct Wheel {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    cv: Condvar,
}

fn wheel() -> &'static Wheel {
    static WHEEL: OnceLock<&'static Wheel> = OnceLock::new();
    WHEEL.get_or_init(|| {
        let w: &'static Wheel = Box::leak(Box::new(Wheel {
            heap: Mutex::new((BinaryHeap::new(), 0)),
            cv: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("burrow-timers".into())
            .spawn(move || run(w))
            .expect("cannot start the timer thread");
        w
    })
}

fn push(w: &Wheel, when: Instant, timer: Arc<TimerInner>) {
    let mut h = w.heap.lock().expect("timer heap poisoned");
    h.1 += 1;
    let seq = h.1;
    let first = h.0.peek().is_none_or(|Reverse(e)| when < e.when);
    h.0.push(Reverse(Entry { when, seq, timer }));
    drop(h);
    if first {
        w.cv.notify_one();
    }
}

fn run(w: &'static Wheel) {
    let mut h = w.heap.lock().expect("timer heap poisoned");
    loop {
        let now = Instant::now();
        match h.0.peek() {
            None => h = w.cv.wait(h).expect("timer heap poisoned"),
            Some(Reverse(e)) if e.when > now => {
                let d = e.when - now;
                h = w.cv.wait_timeout(h, d).expect("timer heap poisoned").0;
            }
            Some(_) => {
                let Reverse(e) = h.0.pop().expect("peeked");
                drop(h);
                fire(w, e);
                h = w.heap.lock().expect("timer heap poisoned");
            }
        }
    }
}

fn fire(w: &Wheel, e: Entry) {
    let t = e.timer;
    // Acquire: pairs with the Release in `add_timer`/re-arm so the
    // callback's captured state is visible.
    if t.state
        .compare_exchange(PENDING, RUNNING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return; // deleted
    }
    (t.f.lock().expect("timer callback poisoned"))();
    match t.period {
        Some(p) if !t.deleted.load(Ordering::Acquire) => {
            // Release: pairs with the Acquire CAS above on the next firing.
            t.state.store(PENDING, Ordering::Release);
            // A del_timer that ran between the check and the store saw
            // RUNNING and set `deleted`; re-check so it is not lost.
            if t.deleted.load(Ordering::Acquire) {
                t.state.store(DONE, Ordering::Release);
                return;
            }
            let now = Instant::now();
            let behind = now.checked_sub(p).unwrap_or(now);
            push(w, e.when.max(behind) + p, t.clone());
        }
        _ => t.state.store(DONE, Ordering::Release),
    }
}

/// Runs `f` at or after `when`, then every `period` if given. See the
/// module docs for the contract.
pub(crate) fn add_timer(when: Instant, period: Option<Duration>, f: TimerFn) -> TimerKey {
    let t = Arc::new(TimerInner {
        state: AtomicU8::new(PENDING),
        deleted: std::sync::atomic::AtomicBool::new(false),
        period: period.filter(|p| !p.is_zero()),
        f: Mutex::new(f),
    });
    push(wheel(), when, t.clone());
    TimerKey(t)
}

/// Stops the timer. True if it was removed before its next firing began
/// (its callback will never run again). See the module docs.
pub(crate) fn del_timer(key: &TimerKey) -> bool {
    let t = &key.0;
    // Release: pairs with the Acquire loads in `fire`.
    t.deleted.store(true, Ordering::Release);
    // AcqRel: the winner of PENDING → DONE owns the outcome; pairs with
    // the firing thread's CAS PENDING → RUNNING.
    t.state
        .compare_exchange(PENDING, DONE, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    #[test]
    fn one_shot_fires_once_not_early() {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let when = start + Duration::from_millis(20);
        let _k = add_timer(
            when,
            None,
            Box::new(move || {
                let _ = tx.send(Instant::now());
            }),
        );
        let at = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("timer never fired");
        assert!(at >= when, "fired early");
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }

    #[test]
    fn deleted_timer_never_fires() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let k = add_timer(
            Instant::now() + Duration::from_millis(30),
            None,
            Box::new(move || {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert!(del_timer(&k));
        let (tx, rx) = mpsc::channel();
        let _probe = add_timer(
            Instant::now() + Duration::from_millis(60),
            None,
            Box::new(move || {
                let _ = tx.send(());
            }),
        );
        rx.recv_timeout(Duration::from_secs(5))
            .expect("probe timer never fired");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert!(!del_timer(&k));
    }

    #[test]
    fn periodic_fires_until_deleted() {
        let (tx, rx) = mpsc::channel();
        let k = add_timer(
            Instant::now(),
            Some(Duration::from_millis(5)),
            Box::new(move || {
                let _ = tx.send(());
            }),
        );
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(5))
                .expect("tick missing");
        }
        del_timer(&k);
        // At most one firing already under way may still arrive.
        let _ = rx.recv_timeout(Duration::from_millis(50));
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }
}
