//! The fallback timer thread: timers added from a plain thread outside any
//! runtime, and timers left in the per-P heaps of a runtime that shut down
//! (moved here by its last M), fire on this one process-wide thread.
//!
//! It is the reference implementation the per-P heaps replaced: a heap
//! behind a mutex and a condvar the thread waits on with a timeout until
//! the earliest entry. Adding an entry earlier than the current earliest
//! wakes it.
//!
//! Who touches it: any thread pushes under `Fallback::heap`; only the timer
//! thread pops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use super::heap::{Entry, TimerHeap};
use super::{Fired, TimerInner, fire, instant_of, now_nanos};

struct Fallback {
    heap: Mutex<TimerHeap>,
    cv: Condvar,
    /// Entries in `heap` (deleted ones included): read without the lock by
    /// the deadlock detector, which must not report while one may fire.
    pending: AtomicUsize,
}

/// The fallback, once started.
static FALLBACK: OnceLock<&'static Fallback> = OnceLock::new();

fn fallback() -> &'static Fallback {
    FALLBACK.get_or_init(|| {
        let fb: &'static Fallback = Box::leak(Box::new(Fallback {
            heap: Mutex::new(TimerHeap::default()),
            cv: Condvar::new(),
            pending: AtomicUsize::new(0),
        }));
        std::thread::Builder::new()
            .name("burrow-timers".into())
            .spawn(move || run(fb))
            .expect("cannot start the timer thread");
        fb
    })
}

/// Entries pending on the fallback thread (0 if it never started).
pub(crate) fn pending() -> usize {
    // Only look if the thread exists: do not start it to answer. SeqCst:
    // pairs with the SeqCst increment in `push`.
    FALLBACK
        .get()
        .map_or(0, |fb| fb.pending.load(Ordering::SeqCst))
}

/// Adds a firing of `timer` at `when` (nanoseconds, `super::nanos`).
pub(crate) fn push(when: u64, timer: Arc<TimerInner>) {
    let fb = fallback();
    let mut h = fb.heap.lock().expect("timer heap poisoned");
    let first = h.peek_when().is_none_or(|w| when < w);
    h.push(Entry { when, timer });
    // SeqCst: read by the deadlock detector's re-check, which must see an
    // entry pushed before it looked (see *Deadlock detection* in
    // `timer/mod.rs`).
    fb.pending.fetch_add(1, Ordering::SeqCst);
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
                // SeqCst: see `push`; decremented after any re-arm so the
                // count never reads 0 while a periodic timer lives.
                fb.pending.fetch_sub(1, Ordering::SeqCst);
                h = fb.heap.lock().expect("timer heap poisoned");
            }
        }
    }
}
