//! Go's runtime semaphore (`runtime/sema.go`), the sleeping half of
//! [`Mutex`](super::Mutex), [`RwLock`](super::RwLock) and
//! [`WaitGroup`](super::WaitGroup): a count and a FIFO queue of parked
//! waiters. See *The semaphore* in `sync/mod.rs`.
//!
//! `acquire` takes one unit if the count is positive, else parks until a
//! `release` hands it one. `release(handoff = true)` gives the unit
//! directly to the front waiter (the *ticket*) and yields to it, which is
//! how a starving mutex passes ownership FIFO.
//!
//! Go keys its queues by address in one global treap; ours lives inside the
//! primitive (Rust values own their memory, so there is nowhere global to
//! key by and nothing to gain from sharing).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdGuard};

use crate::kernel::park::{Ready, WaitReason, park};

/// One parked waiter: its wake handle and the hand-off flag.
///
/// Shared between the waiter and whoever dequeues it (a releaser, a
/// notifier, a timer). Exactly one of them takes `ready` and fires it.
pub(crate) struct Waiter {
    /// The handle for the waiter's current park; taken by the one who
    /// wakes it. Touched under this tiny lock by anyone holding the Arc.
    ready: StdMutex<Option<Ready>>,
    /// Set by a hand-off release before firing `ready`: the unit (or, for
    /// `Cond`, the timeout flag) belongs to the waiter. Release: pairs with
    /// the waiter's Acquire load after `park` returns.
    pub(crate) ticket: AtomicBool,
}

impl Waiter {
    /// A waiter for the current goroutine (or thread), armed for its next
    /// park.
    pub(crate) fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            ready: StdMutex::new(Some(Ready::for_current())),
            ticket: AtomicBool::new(false),
        })
    }

    /// Re-arms an existing waiter for another park (after a wake that did
    /// not grant what it waited for).
    pub(crate) fn rearm(&self) {
        self.ticket.store(false, Ordering::Relaxed);
        *lock(&self.ready) = Some(Ready::for_current());
    }

    /// Wakes the waiter if nobody has yet; true if this call did.
    pub(crate) fn wake(&self) -> bool {
        let r = lock(&self.ready).take();
        match r {
            Some(r) => {
                r.ready();
                true
            }
            None => false,
        }
    }

    /// Takes the wake handle without firing it, so that only the caller
    /// may wake the waiter (used to set `ticket` first).
    pub(crate) fn claim(&self) -> Option<Ready> {
        lock(&self.ready).take()
    }
}

/// Locks a std mutex that is only ever held for a few instructions and
/// never across a park; poisoning cannot leave these structures torn (no
/// user code runs under them), so it is ignored.
pub(crate) fn lock<T>(m: &StdMutex<T>) -> StdGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Go's semaphore: a count of available units and a queue of sleepers.
pub(crate) struct Sema {
    /// Available units. Any thread, atomically (CAS to take one).
    count: AtomicU32,
    /// Waiters queued or about to queue (Go's `root.nwait`): lets
    /// `release` skip the queue lock when nobody sleeps. Incremented under
    /// `queue`, decremented under `queue`, read without it.
    nwait: AtomicU32,
    /// Parked waiters, FIFO (LIFO insertion for a re-queued mutex waiter).
    /// Any thread, under this lock; the lock is never held across a park.
    queue: StdMutex<VecDeque<Arc<Waiter>>>,
}

impl Sema {
    /// A semaphore with no units.
    pub(crate) const fn new() -> Sema {
        Sema {
            count: AtomicU32::new(0),
            nwait: AtomicU32::new(0),
            queue: StdMutex::new(VecDeque::new()),
        }
    }

    /// Takes a unit if one is available (Go's `cansemacquire`).
    fn try_acquire(&self) -> bool {
        // SeqCst: the count/nwait pair is a Dekker handshake: a waiter
        // increments `nwait` then re-reads `count`; a releaser increments
        // `count` then reads `nwait`. SeqCst on all four makes at least
        // one of them see the other, so no wake-up is lost.
        let mut v = self.count.load(Ordering::SeqCst);
        loop {
            if v == 0 {
                return false;
            }
            match self
                .count
                .compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Takes one unit, parking until one is released (Go's
    /// `semacquire1`). `lifo` queues at the front (a mutex waiter that was
    /// woken and lost the race goes back first in line).
    pub(crate) fn acquire(&self, lifo: bool, reason: WaitReason) {
        if self.try_acquire() {
            return;
        }
        let mut me: Option<Arc<Waiter>> = None;
        loop {
            let mut q = lock(&self.queue);
            // SeqCst: see `try_acquire`.
            self.nwait.fetch_add(1, Ordering::SeqCst);
            if self.try_acquire() {
                // SeqCst: see `try_acquire`.
                self.nwait.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            let w = match &me {
                Some(w) => {
                    w.rearm();
                    w.clone()
                }
                None => me.insert(Waiter::new()).clone(),
            };
            if lifo {
                q.push_front(w);
            } else {
                q.push_back(w);
            }
            drop(q);
            park(reason);
            let w = me.as_ref().expect("set above");
            // Acquire: pairs with the Release store of the ticket in
            // `release`.
            if w.ticket.load(Ordering::Acquire) || self.try_acquire() {
                return;
            }
        }
    }

    /// Adds a unit and wakes the front waiter (Go's `semrelease1`). With
    /// `handoff`, the unit goes straight to that waiter and the caller
    /// yields so it runs at once.
    pub(crate) fn release(&self, handoff: bool) {
        // SeqCst: see `try_acquire`.
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.nwait.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut q = lock(&self.queue);
        // SeqCst: see `try_acquire` (under the lock, `nwait` equals the
        // queue length; this re-check is Go's).
        if self.nwait.load(Ordering::SeqCst) == 0 {
            return; // someone else took the unit and the waiter
        }
        let Some(w) = q.pop_front() else {
            // A waiter has counted itself but not queued yet: it re-reads
            // the count under the lock we hold and will take the unit.
            return;
        };
        // SeqCst: see `try_acquire`.
        self.nwait.fetch_sub(1, Ordering::SeqCst);
        drop(q);
        let ready = w.claim().expect("a queued waiter has an unfired handle");
        let ticket = handoff && self.try_acquire();
        if ticket {
            // Release: pairs with the waiter's Acquire load of the ticket.
            w.ticket.store(true, Ordering::Release);
        }
        ready.ready();
        if ticket && crate::kernel::runtime::current_id().is_some() {
            // Go's goyield: the waiter sits in our runnext; let it run.
            crate::kernel::runtime::yield_now();
        }
    }
}
