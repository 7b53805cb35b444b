//! [`Mutex`]: Go's `sync.Mutex` (normal mode with brief spinning, FIFO
//! parking, starvation mode after 1 ms) holding a value, with std's guard
//! shape. See *Mutex* in `sync/mod.rs` for the design.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use super::sema::Sema;
use crate::kernel::park::WaitReason;

/// State bit: the mutex is locked.
const LOCKED: i32 = 1;
/// State bit: a waiter is awake (spinning or just woken), so `unlock` need
/// not wake another.
const WOKEN: i32 = 1 << 1;
/// State bit: starvation mode: ownership is handed to the front waiter.
const STARVING: i32 = 1 << 2;
/// The waiter count lives in the state word above this many bits.
const WAITER_SHIFT: u32 = 3;
/// A waiter that waited longer than this switches the mutex to starvation
/// mode (Go's `starvationThresholdNs`, 1 ms).
const STARVATION_THRESHOLD_NS: u128 = 1_000_000;
/// Spin iterations before parking (Go's `active_spin`).
const ACTIVE_SPIN: u32 = 4;
/// Pause instructions per spin iteration (Go's `active_spin_cnt`).
const ACTIVE_SPIN_CNT: u32 = 30;

/// Times any mutex entered starvation mode (process-wide; for tests and
/// diagnostics). Relaxed: a statistic, ordered with nothing.
static STARVATION_ENTRIES: AtomicU64 = AtomicU64::new(0);

/// How many times any [`Mutex`] (or [`RwLock`](super::RwLock)'s writer
/// lock) in this process has switched into starvation mode. A diagnostic
/// counter: tests use it to show the mode is entered.
pub fn starvation_entries() -> u64 {
    STARVATION_ENTRIES.load(Ordering::Relaxed)
}

/// Whether spinning can pay off (Go's `sync_runtime_canSpin`): few
/// iterations so far, more than one CPU, and, inside a runtime, another P
/// running (`maxprocs > npidle + nmspinning + 1`: someone may be about to
/// unlock) and nothing waiting in our own P's run queue (spinning would
/// delay it; parking lets it run).
fn can_spin(iter: u32) -> bool {
    static NCPU: AtomicUsize = AtomicUsize::new(0);
    if iter >= ACTIVE_SPIN {
        return false;
    }
    let mut n = NCPU.load(Ordering::Relaxed);
    if n == 0 {
        n = std::thread::available_parallelism().map_or(1, |n| n.get());
        NCPU.store(n, Ordering::Relaxed);
    }
    if n <= 1 {
        return false;
    }
    crate::kernel::m::with_m(|m| {
        let Some(m) = m else {
            return true; // a plain thread: spin as on any multicore
        };
        let rt = m.rt;
        // A heuristic: stale counts only cost a spin or a park.
        let busy_elsewhere = rt.maxprocs > rt.npidle() + rt.spin.nmspinning() + 1;
        busy_elsewhere && m.pid().is_none_or(|p| rt.ps[p].runq.is_empty())
    })
}

fn do_spin() {
    for _ in 0..ACTIVE_SPIN_CNT {
        std::hint::spin_loop();
    }
}

/// The lock without data: Go's `sync.Mutex` exactly. Used by [`Mutex`],
/// [`RwLock`](super::RwLock) and [`Once`](super::Once).
pub(crate) struct RawMutex {
    /// `LOCKED | WOKEN | STARVING | waiters << WAITER_SHIFT`. Any thread,
    /// atomically.
    state: AtomicI32,
    /// Where waiters sleep.
    sema: Sema,
}

impl RawMutex {
    /// An unlocked mutex.
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicI32::new(0),
            sema: Sema::new(),
        }
    }

    /// Takes the lock if it is free; never waits.
    pub(crate) fn try_lock(&self) -> bool {
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            if old & (LOCKED | STARVING) != 0 {
                return false;
            }
            // Acquire: pairs with the Release in `unlock`, so the previous
            // holder's writes are visible.
            match self.state.compare_exchange_weak(
                old,
                old | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => old = now,
            }
        }
    }

    /// Takes the lock, waiting as long as needed.
    #[inline]
    pub(crate) fn lock(&self) {
        // Acquire: pairs with the Release in `unlock`.
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.lock_slow();
    }

    /// Go's `lockSlow`, line for line.
    #[cold]
    fn lock_slow(&self) {
        let mut wait_start: Option<Instant> = None;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin only in normal mode while locked: in starvation mode
            // ownership is handed off and spinning cannot win it.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(iter) {
                // Set WOKEN so that unlock does not wake another waiter
                // while we are awake to take the lock.
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                do_spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Don't try to take a starving mutex: new arrivals queue.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new += 1 << WAITER_SHIFT;
            }
            // Switch to starvation mode, but only if the mutex is locked
            // (unlock expects waiters in starvation mode).
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                assert!(new & WOKEN != 0, "sync: inconsistent mutex state");
                new &= !WOKEN;
            }
            // Acquire: if this takes the lock, pairs with the Release in
            // `unlock`.
            match self
                .state
                .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    if new & STARVING != 0 && old & STARVING == 0 {
                        STARVATION_ENTRIES.fetch_add(1, Ordering::Relaxed);
                    }
                    if old & (LOCKED | STARVING) == 0 {
                        return; // locked with the CAS
                    }
                    // Waited before: go back to the front of the queue.
                    let lifo = wait_start.is_some();
                    let started = *wait_start.get_or_insert_with(Instant::now);
                    self.sema.acquire(lifo, WaitReason::SyncMutex);
                    starving = starving || started.elapsed().as_nanos() > STARVATION_THRESHOLD_NS;
                    // Acquire: in starvation mode the lock was handed to
                    // us; pairs with the Release in `unlock_slow`'s
                    // hand-off (and the sema's ticket).
                    old = self.state.load(Ordering::Acquire);
                    if old & STARVING != 0 {
                        // Handed off to us: the state still says unlocked
                        // and counts us as a waiter. Fix both.
                        assert!(
                            old & (LOCKED | WOKEN) == 0 && old >> WAITER_SHIFT != 0,
                            "sync: inconsistent mutex state"
                        );
                        let mut delta = LOCKED - (1 << WAITER_SHIFT);
                        if !starving || old >> WAITER_SHIFT == 1 {
                            // Leave starvation mode: we waited briefly, or
                            // we are the last waiter.
                            delta -= STARVING;
                        }
                        // Acquire: pairs with the previous owner's Release.
                        self.state.fetch_add(delta, Ordering::Acquire);
                        return;
                    }
                    awoke = true;
                    iter = 0;
                }
                Err(now) => old = now,
            }
        }
    }

    /// Releases the lock.
    ///
    /// # Panics
    ///
    /// If the mutex is not locked (Go: "unlock of unlocked mutex").
    #[inline]
    pub(crate) fn unlock(&self) {
        // Release: publishes the critical section to the next owner's
        // Acquire.
        let new = self.state.fetch_sub(LOCKED, Ordering::Release) - LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    fn unlock_slow(&self, new: i32) {
        if (new + LOCKED) & LOCKED == 0 {
            panic!("sync: unlock of unlocked mutex");
        }
        if new & STARVING == 0 {
            let mut old = new;
            loop {
                // Nobody to wake, or someone already awake or holding it:
                // they will take care of the waiters.
                if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                    return;
                }
                let new = (old - (1 << WAITER_SHIFT)) | WOKEN;
                match self
                    .state
                    .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => {
                        self.sema.release(false);
                        return;
                    }
                    Err(now) => old = now,
                }
            }
        } else {
            // Starvation mode: hand ownership to the front waiter and
            // yield to it. LOCKED stays clear; the waiter sets it. New
            // arrivals see STARVING and queue.
            self.sema.release(true);
        }
    }

    /// Whether the lock is held (a snapshot).
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }
}

/// A mutual-exclusion lock protecting a `T`, with Go's `sync.Mutex`
/// algorithm: a goroutine that finds it locked spins briefly, then parks
/// (its M runs other goroutines); a plain OS thread blocks. Goroutines and
/// threads can share one.
///
/// Not poisoned by a panic: see *Poisoning* in the `sync` module docs.
///
/// ```
/// use std::sync::Arc;
/// use burrow_sched::{go, sync::Mutex};
/// let rt = burrow_sched::Runtime::builder().maxprocs(2).build().unwrap();
/// let n = rt.run(|| {
///     let m = Arc::new(Mutex::new(0));
///     let hs: Vec<_> = (0..10).map(|_| {
///         let m = m.clone();
///         go(move || *m.lock() += 1)
///     }).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     *m.lock()
/// });
/// assert_eq!(n, 10);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    /// Only touched through a guard, i.e. while `raw` is held.
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one holder at a time, possibly
// on another thread: `T: Send` suffices, as for std's Mutex.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: shared access only ever yields exclusive, serialised
// access to `T`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex, returning the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking the goroutine (or blocking the thread) while another
    /// holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard::new(self)
    }

    /// Locks if the mutex is free right now, else returns None. Like Go's
    /// `TryLock`, it also fails while a starving waiter is being handed
    /// the lock.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard::new(self))
    }

    /// Whether someone holds the lock right now (a racy snapshot).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Mutable access without locking: `&mut self` proves no guard exists.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(v: T) -> Self {
        Mutex::new(v)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Proof of holding a [`Mutex`]; unlocks when dropped (also while
/// unwinding). Unlike std's, it may be sent to another thread or
/// goroutine and dropped there (Go lets any goroutine unlock).
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) lock: &'a Mutex<T>,
    /// `&mut T` semantics for the auto traits: Send iff `T: Send`, Sync
    /// iff `T: Sync`.
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(lock: &'a Mutex<T>) -> Self {
        MutexGuard {
            lock,
            _marker: PhantomData,
        }
    }

    /// The mutex this guard holds (for `Cond`).
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no `&mut T` exists
        // elsewhere.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive ownership of the lock, and
        // `&mut self` that this is the only access through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
