//! The fallback timer thread: timers added from a plain thread outside any
//! runtime, and timers left in the per-P heaps of a runtime that shut down
//! (moved here by its last M), fire on this one process-wide thread.
//!
//! It is the reference implementation the per-P heaps replaced: a heap
//! behind a mutex and a condvar the thread waits on with a timeout until
//! the earliest entry. Adding an entry earlier than the current earliest
//! wakes it.
//!
//! Deleted entries are removed lazily, as in the P heaps: when they exceed
//! a quarter of the heap a push sweeps them (so a plain thread looping on
//! `recv_timeout(long)` does not grow the heap without bound), and the
//! deadlock detector sweeps before it counts ([`live`]): only live timers
//! (not deleted) hold a deadlock report back.
//!
//! Who touches it: any thread pushes or sweeps under `Fallback::heap`;
//! only the timer thread pops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use super::heap::{Entry, TimerHeap};
use super::{Fired, TimerInner, fire};
use crate::clock::{instant_of, now_nanos};

struct Fallback {
    heap: Mutex<TimerHeap>,
    cv: Condvar,
    /// Entries in `heap` plus the one the timer thread is firing, deleted
    /// ones included until swept or popped. Changed under `heap`.
    pending: AtomicUsize,
    /// Deleted entries still in `heap` (an estimate: a delete counts here
    /// only for timers added to the fallback, not ones moved from a dead
    /// runtime's P heaps; those are swept with the rest).
    ndeleted: AtomicUsize,
}

/// The fallback, once started.
static FALLBACK: OnceLock<&'static Fallback> = OnceLock::new();

fn fallback() -> &'static Fallback {
    FALLBACK.get_or_init(|| {
        let fb: &'static Fallback = Box::leak(Box::new(Fallback {
            heap: Mutex::new(TimerHeap::default()),
            cv: Condvar::new(),
            pending: AtomicUsize::new(0),
            ndeleted: AtomicUsize::new(0),
        }));
        std::thread::Builder::new()
            .name("burrow-timers".into())
            .spawn(move || run(fb))
            .expect("cannot start the timer thread");
        fb
    })
}

/// Live timers on the fallback thread (0 if it never started): sweeps the
/// deleted entries first, so a stopped timer does not count. Entries that
/// are not deleted count even if nothing waits on them (a plain thread's
/// `tick()`): an `after()` made on a thread may be handed to a goroutine,
/// so such a timer might wake one. Called by the deadlock detector only
/// (under the sched lock; lock order: sched, then the fallback heap).
pub(crate) fn live() -> usize {
    // Only look if the thread exists: do not start it to answer.
    let Some(fb) = FALLBACK.get() else {
        return 0;
    };
    let mut h = fb.heap.lock().expect("timer heap poisoned");
    if fb.ndeleted.load(Ordering::Relaxed) > 0 || h.len() > 0 {
        sweep(fb, &mut h);
    }
    // Relaxed: `pending` only changes under the heap lock, which we hold.
    fb.pending.load(Ordering::Relaxed)
}

/// Drops the deleted entries of `h` (under `fb.heap`).
fn sweep(fb: &Fallback, h: &mut TimerHeap) {
    let gone = h.retain(|e| !e.timer.is_done());
    // Relaxed: under the heap lock (see `pending`).
    fb.pending.fetch_sub(gone, Ordering::Relaxed);
    let _ = fb
        .ndeleted
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
            Some(d.saturating_sub(gone))
        });
}

/// A timer added to the fallback was deleted (its entry stays until swept).
pub(crate) fn note_deleted() {
    if let Some(fb) = FALLBACK.get() {
        fb.ndeleted.fetch_add(1, Ordering::Relaxed);
    }
}

/// The heap's length, for tests.
#[cfg(all(test, not(loom)))]
pub(crate) fn len_for_test() -> usize {
    FALLBACK
        .get()
        .map_or(0, |fb| fb.heap.lock().expect("timer heap poisoned").len())
}

/// Adds a firing of `timer` at `when` (nanoseconds, `super::nanos`).
pub(crate) fn push(when: u64, timer: Arc<TimerInner>) {
    let fb = fallback();
    let mut h = fb.heap.lock().expect("timer heap poisoned");
    // Go's `clearDeletedTimers`, as in `PTimers::sweep`.
    if h.len() >= super::SWEEP_MIN_LEN && fb.ndeleted.load(Ordering::Relaxed) > h.len() / 4 {
        sweep(fb, &mut h);
    }
    let first = h.peek_when().is_none_or(|w| when < w);
    h.push(Entry {
        when,
        timer,
        touches: 0,
    });
    // Relaxed: under the heap lock, which the deadlock detector takes to
    // read it (`live`).
    fb.pending.fetch_add(1, Ordering::Relaxed);
    drop(h);
    if first {
        fb.cv.notify_one();
    }
}

fn run(fb: &'static Fallback) {
    let mut h = fb.heap.lock().expect("timer heap poisoned");
    loop {
        let now = now_nanos();
        match h.peek_when() {
            None => h = fb.cv.wait(h).expect("timer heap poisoned"),
            Some(w) if w > now => {
                let d = instant_of(w).saturating_duration_since(instant_of(now));
                h = fb.cv.wait_timeout(h, d).expect("timer heap poisoned").0;
            }
            Some(_) => {
                let e = h.pop().expect("peeked");
                drop(h);
                if let Fired::Again(next) = fire(&e.timer, e.when) {
                    push(next, e.timer);
                }
                h = fb.heap.lock().expect("timer heap poisoned");
                // Relaxed: under the heap lock (see `push`); decremented
                // after any re-arm so the count never reads 0 while a
                // periodic timer lives.
                fb.pending.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}
