//! [`Cond`]: a condition variable for [`Mutex`] in std's `Condvar` shape
//! (Go's `sync.Cond`), with timeouts on the internal timer contract. See
//! *Cond* in `sync/mod.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::sema::{Waiter, lock};
use crate::kernel::park::{WaitReason, park};
use crate::time::add_timer;
use crate::timer::del_timer;

/// Whether a timed wait ended by timing out (std's `WaitTimeoutResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the time ran out.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable: goroutines (or threads) wait on it with a
/// [`Mutex`](super::Mutex) held, and another wakes one or all of them.
///
/// A waiter is queued *before* it releases the mutex, so a notify made by
/// anyone who takes the mutex after that cannot be lost. Wake-ups are
/// FIFO. As with every condition variable, check the condition in a loop
/// (or use [`Cond::wait_while`]).
pub struct Cond {
    /// Waiting goroutines and threads, oldest first. Any thread, under
    /// this lock (never held across a park).
    waiters: StdMutex<VecDeque<Arc<Waiter>>>,
}

impl Cond {
    /// A condition variable with no waiters.
    pub const fn new() -> Cond {
        Cond {
            waiters: StdMutex::new(VecDeque::new()),
        }
    }

    /// Releases the guard's mutex, parks until notified, and locks it
    /// again.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let w = Waiter::new();
        lock(&self.waiters).push_back(w);
        let mutex = guard.mutex();
        drop(guard);
        park(WaitReason::SyncCond);
        mutex.lock()
    }

    /// Waits while `condition` holds for the protected value, returning
    /// the guard once it does not.
    pub fn wait_while<'a, T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T> {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Like [`Cond::wait`], but gives up after `timeout`.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let w = Waiter::new();
        lock(&self.waiters).push_back(w.clone());
        let mutex = guard.mutex();
        drop(guard);
        let when = Instant::now().checked_add(timeout);
        let key = when.map(|when| {
            let tw = w.clone();
            add_timer(
                when,
                None,
                Box::new(move || {
                    // Whoever claims the handle wakes the waiter: the
                    // notifier or this timer, never both.
                    if let Some(r) = tw.claim() {
                        // Release: pairs with the waiter's Acquire load.
                        tw.ticket.store(true, Ordering::Release);
                        r.ready();
                    }
                }),
            )
        });
        park(WaitReason::SyncCond);
        if let Some(key) = key {
            del_timer(&key);
        }
        // Acquire: pairs with the timer's Release store.
        let timed_out = w.ticket.load(Ordering::Acquire);
        if timed_out {
            // Our entry is still queued (notifiers skip claimed entries,
            // but don't leave it to pile up).
            lock(&self.waiters).retain(|x| !Arc::ptr_eq(x, &w));
        }
        (mutex.lock(), WaitTimeoutResult(timed_out))
    }

    /// Like [`Cond::wait_while`], but gives up after `timeout` in total.
    pub fn wait_timeout_while<'a, T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return (guard, WaitTimeoutResult(false));
            }
            let Some(left) = timeout.checked_sub(start.elapsed()) else {
                return (guard, WaitTimeoutResult(true));
            };
            guard = self.wait_timeout(guard, left).0;
        }
    }

    /// Wakes the longest-waiting waiter, if any (Go's `Signal`).
    pub fn notify_one(&self) {
        loop {
            let Some(w) = lock(&self.waiters).pop_front() else {
                return;
            };
            // A timed-out waiter's entry was already claimed: skip it.
            if w.wake() {
                return;
            }
        }
    }

    /// Wakes every current waiter (Go's `Broadcast`).
    pub fn notify_all(&self) {
        let all = std::mem::take(&mut *lock(&self.waiters));
        for w in all {
            w.wake();
        }
    }
}

impl Default for Cond {
    fn default() -> Self {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}
