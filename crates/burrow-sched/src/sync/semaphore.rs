//! [`Semaphore`]: a weighted semaphore with FIFO fairness, after Go's
//! `golang.org/x/sync/semaphore`. See *Semaphore* in `sync/mod.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex as StdMutex;

use super::sema::lock;
use crate::kernel::park::{Ready, WaitReason, park};

/// The semaphore's state; any thread, under `Semaphore::state`.
struct State {
    /// Units held now.
    cur: u64,
    /// Parked acquirers in arrival order, with their weights.
    waiters: VecDeque<(u64, Ready)>,
}

/// A weighted semaphore: at most `size` units are held at once. Acquirers
/// are served strictly in arrival order: a large request at the head
/// blocks smaller ones behind it (so it cannot be starved by them), as in
/// Go's `x/sync/semaphore`.
pub struct Semaphore {
    size: u64,
    state: StdMutex<State>,
}

impl Semaphore {
    /// A semaphore with `size` units, none held.
    pub const fn new(size: u64) -> Semaphore {
        Semaphore {
            size,
            state: StdMutex::new(State {
                cur: 0,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Acquires `n` units, parking until they are available and every
    /// earlier acquirer has been served.
    ///
    /// # Panics
    ///
    /// If `n` exceeds the semaphore's size: the call could never return
    /// (Go's version blocks until its context ends; we have no context).
    pub fn acquire(&self, n: u64) {
        assert!(
            n <= self.size,
            "semaphore: acquire({n}) exceeds the size {}",
            self.size
        );
        let mut s = lock(&self.state);
        if self.size - s.cur >= n && s.waiters.is_empty() {
            s.cur += n;
            return;
        }
        s.waiters.push_back((n, Ready::for_current()));
        drop(s);
        // `release` added our `n` to `cur` before readying us: the units
        // are ours when we wake (the lock orders its writes before ours).
        park(WaitReason::Semacquire);
    }

    /// Acquires `n` units if they are free now and nobody is queued.
    pub fn try_acquire(&self, n: u64) -> bool {
        let mut s = lock(&self.state);
        let ok = self.size - s.cur >= n && s.waiters.is_empty();
        if ok {
            s.cur += n;
        }
        ok
    }

    /// Returns `n` units and wakes the queued acquirers they satisfy, in
    /// order.
    ///
    /// # Panics
    ///
    /// If more units are released than are held.
    pub fn release(&self, n: u64) {
        let mut woken = Vec::new();
        {
            let mut s = lock(&self.state);
            s.cur = s
                .cur
                .checked_sub(n)
                .expect("semaphore: released more than held");
            while let Some(&(want, _)) = s.waiters.front() {
                if self.size - s.cur < want {
                    // Not enough for the head: stop, even if a smaller
                    // request behind it would fit (FIFO, no starvation).
                    break;
                }
                s.cur += want;
                let (_, r) = s.waiters.pop_front().expect("peeked");
                woken.push(r);
            }
        }
        for r in woken {
            r.ready();
        }
    }

    /// Acquires `n` units as a permit that releases them when dropped.
    pub fn acquire_permit(&self, n: u64) -> SemaphorePermit<'_> {
        self.acquire(n);
        SemaphorePermit { sem: self, n }
    }

    /// Like [`Semaphore::try_acquire`], as a permit.
    pub fn try_acquire_permit(&self, n: u64) -> Option<SemaphorePermit<'_>> {
        self.try_acquire(n)
            .then_some(SemaphorePermit { sem: self, n })
    }

    /// The size given to [`Semaphore::new`].
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Acquirers parked now (a snapshot).
    pub fn waiting(&self) -> usize {
        lock(&self.state).waiters.len()
    }

    /// Units held now (a snapshot).
    pub fn held(&self) -> u64 {
        lock(&self.state).cur
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("Semaphore")
            .field("size", &self.size)
            .field("held", &s.cur)
            .field("waiters", &s.waiters.len())
            .finish()
    }
}

/// `n` units of a [`Semaphore`], released when dropped.
#[must_use = "the units are released as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: u64,
}

impl SemaphorePermit<'_> {
    /// How many units this permit holds.
    pub fn units(&self) -> u64 {
        self.n
    }

    /// Keeps the units: they are not released on drop (release them with
    /// [`Semaphore::release`]).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("units", &self.n)
            .finish()
    }
}
