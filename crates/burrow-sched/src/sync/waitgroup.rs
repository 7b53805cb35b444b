//! [`WaitGroup`]: Go's `sync.WaitGroup`, one 64-bit state word (counter
//! and waiter count) and a semaphore. See *WaitGroup* in `sync/mod.rs`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sema::Sema;
use crate::kernel::park::WaitReason;

/// The counter lives in the high 32 bits of the state word.
const COUNTER_SHIFT: u32 = 32;
/// The waiter count lives in the low 32 bits.
const WAITER_MASK: u64 = 0xffff_ffff;

/// Waits for a collection of goroutines (or threads) to finish: `add`
/// the number to wait for, each calls `done`, and `wait` parks until the
/// counter is zero. Share it by reference or in an `Arc`; `&self` is all
/// any method needs.
///
/// ```
/// use std::sync::Arc;
/// use burrow_sched::{go, sync::WaitGroup};
/// let rt = burrow_sched::Runtime::builder().maxprocs(2).build().unwrap();
/// rt.run(|| {
///     let wg = Arc::new(WaitGroup::new());
///     for _ in 0..4 {
///         wg.add(1);
///         let wg = wg.clone();
///         go(move || wg.done());
///     }
///     wg.wait();
/// });
/// ```
pub struct WaitGroup {
    /// `counter << 32 | waiters`. Any thread, atomically.
    state: AtomicU64,
    /// Waiters sleep here; the last `done` releases one unit per waiter.
    sema: Sema,
}

impl WaitGroup {
    /// A wait group with counter zero.
    pub const fn new() -> WaitGroup {
        WaitGroup {
            state: AtomicU64::new(0),
            sema: Sema::new(),
        }
    }

    /// Adds `delta` (which may be negative) to the counter; at zero, all
    /// waiters wake.
    ///
    /// # Panics
    ///
    /// If the counter goes negative, or if (as Go detects) `add` with a
    /// positive delta from zero races with `wait`.
    pub fn add(&self, delta: i32) {
        // AcqRel: Release publishes the caller's work to the waiter that
        // observes the counter reach zero (pairs with `wait`'s Acquire);
        // Acquire orders the wake-up after every earlier `done`.
        let state = self
            .state
            .fetch_add((delta as i64 as u64) << COUNTER_SHIFT, Ordering::AcqRel)
            .wrapping_add((delta as i64 as u64) << COUNTER_SHIFT);
        let v = (state >> COUNTER_SHIFT) as i32;
        let w = (state & WAITER_MASK) as u32;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v == delta {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter is zero and there are waiters: nobody may change the
        // state now (Go's rule), so reset it and wake them.
        if self.state.load(Ordering::Relaxed) != state {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        // Relaxed: the sema release below orders it for the waiters.
        self.state.store(0, Ordering::Relaxed);
        for _ in 0..w {
            self.sema.release(false);
        }
    }

    /// Decrements the counter by one.
    ///
    /// # Panics
    ///
    /// If the counter goes negative.
    pub fn done(&self) {
        self.add(-1);
    }

    /// Parks until the counter is zero (returns at once if it is).
    pub fn wait(&self) {
        // Acquire: pairs with the AcqRel of the `add` that reached zero.
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state >> COUNTER_SHIFT == 0 {
                return;
            }
            // Acquire: as above, should the counter reach zero meanwhile.
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.sema.acquire(false, WaitReason::WaitGroup);
                    if self.state.load(Ordering::Relaxed) != 0 {
                        panic!("sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Err(now) => state = now,
            }
        }
    }

    /// Adds one to the counter and returns a guard that calls
    /// [`WaitGroup::done`] when dropped (also while unwinding, so a
    /// panicking goroutine cannot leave `wait` hanging). The guard owns an
    /// `Arc`, so it can move into the goroutine it counts:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use burrow_sched::{go, sync::WaitGroup};
    /// let rt = burrow_sched::Runtime::builder().maxprocs(2).build().unwrap();
    /// rt.run(|| {
    ///     let wg = Arc::new(WaitGroup::new());
    ///     for _ in 0..4 {
    ///         let done = wg.add_guard();
    ///         go(move || drop(done));
    ///     }
    ///     wg.wait();
    /// });
    /// ```
    pub fn add_guard(self: &Arc<Self>) -> WaitGroupGuard {
        self.add(1);
        WaitGroupGuard(self.clone())
    }

    /// The current counter (a racy snapshot, for diagnostics).
    pub fn count(&self) -> i32 {
        (self.state.load(Ordering::Relaxed) >> COUNTER_SHIFT) as i32
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

/// One unit of a [`WaitGroup`]'s counter, from [`WaitGroup::add_guard`];
/// dropping it calls `done`.
#[must_use = "dropping the guard calls done() at once"]
pub struct WaitGroupGuard(Arc<WaitGroup>);

impl Drop for WaitGroupGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}

impl fmt::Debug for WaitGroupGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WaitGroupGuard").field(&*self.0).finish()
    }
}
