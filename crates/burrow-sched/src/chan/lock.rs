//! The channel lock: a test-and-test-and-set spin lock whose unlock is a
//! plain release store.
//!
//! # Why not `std::sync::Mutex`
//!
//! std's futex mutex unlocks with a locked `swap` (to learn whether a
//! sleeper must be woken), checks poisoning on the way in and out, and
//! under contention puts the *thread* to sleep in the kernel. A channel's
//! critical sections are a few dozen instructions and never block (nothing
//! allocates a timer or calls user code while holding the lock; a
//! goroutine parking on the channel switches out holding it and its M
//! releases it right after, one coroutine switch later: see
//! `park::LockedPark`), so a waiter is better off spinning briefly than
//! sleeping: the futex mutex sent the Ms to sleep in the kernel on every
//! collision, which hurt the many-to-many throughput most (the
//! measurements are in `docs/channels.md`, *Hot-path pass*).
//!
//! Go's `runtime.lock` (lock_futex.go) spins too before it sleeps: up to
//! four rounds of 30 `PAUSE`s, one `osyield`, then a futex sleep. Ours
//! never sleeps in the kernel: the holder is running (or is an M about to
//! release it for a goroutine that just parked), so the wait is short
//! unless the kernel preempted the holder's thread.
//!
//! # Waiting
//!
//! How a waiter waits decides the throughput of a contended channel more
//! than anything the holder does. With producers on one P and consumers on
//! the other (4→4 on 2 Ps), one M holds the lock for most operations and
//! takes it again a few nanoseconds after each release; every time the
//! waiter *reads* the lock word it pulls the word's cache line to its own
//! core, and the holder's next `lock cmpxchg` must fetch it back. The
//! waiter's polls are what slow the holder down. Measured on the 2-core
//! box with `perf` (`docs/channels.md`, *Many-to-many throughput*): with
//! crossbeam's `Backoff::snooze` (re-read after at most 64 `PAUSE`s, and
//! after every `sched_yield` once past ~127, which returns at once on an
//! otherwise idle CPU) the holder's `lock cmpxchg` took two thirds of its
//! send/receive loop, and the waiter's `lock_slow` plus `sched_yield` a
//! third of all samples.
//!
//! So a waiter backs off exponentially, 1, 2, 4 … up to [`MAX_PAUSES`]
//! `PAUSE`s between polls (about 6 µs on that box), and stays at that
//! interval; from then on it also yields its thread before each pause, so
//! that a holder whose thread was preempted (a busy box, more Ms than
//! CPUs) gets a CPU, but the yield never shortens the interval between
//! polls. The holder then runs at nearly its uncontended speed and the
//! lock changes hands rarely (about twice the 4→4 throughput; numbers in
//! `docs/channels.md`). The
//! cost is latency for the waiter, up to one interval after the release;
//! a channel's operations are not latency-bound when they contend (a
//! waiter that loses simply finds the buffer fuller or emptier), and an
//! uncontended lock never enters this path (ping-pong, 1→1).
//!
//! Poisoning: a panic while a guard is held unlocks it (the guard's drop),
//! as before (the std mutex's poison was ignored with `into_inner`): every
//! critical section leaves `State` consistent between its steps. A parked
//! goroutine's lock has no guard (`Guard::into_flag`); its M releases it,
//! and nothing between the switch and that release can panic.
//!
//! Under loom the lock is loom's `Mutex` (loom models a lock's exclusion
//! and ordering; a spin loop would need `yield_now` and explode the state
//! space without testing anything the Acquire/Release pair below does not
//! already state).

#[cfg(not(loom))]
pub(crate) use spin::{Guard, Lock};

#[cfg(loom)]
pub(crate) use model::{Guard, Lock};

#[cfg(not(loom))]
mod spin {
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};

    use crate::loom::{AtomicBool, Ordering};

    /// The longest interval between two polls of a held lock, in `PAUSE`
    /// instructions: 2^8, about 6 µs where a `PAUSE` takes ~24 ns (the
    /// 2-core EPYC box), ~12 µs on Intel cores since Skylake (~140
    /// cycles), ~1 µs on older ones. See *Waiting* in the module docs.
    const MAX_PAUSES: u32 = 1 << 8;

    /// A spin lock around `T`.
    pub(crate) struct Lock<T> {
        /// True while a [`Guard`] exists.
        locked: AtomicBool,
        data: UnsafeCell<T>,
    }

    // SAFETY: `data` is only reached through a guard, and at most one guard
    // exists at a time (the `locked` flag, taken by an Acquire CAS and
    // released by a Release store); `T: Send` moves between threads with it.
    unsafe impl<T: Send> Sync for Lock<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Send for Lock<T> {}

    /// Holds the lock; unlocks on drop.
    pub(crate) struct Guard<'a, T> {
        lock: &'a Lock<T>,
    }

    impl<T> Lock<T> {
        pub(crate) fn new(v: T) -> Lock<T> {
            Lock {
                locked: AtomicBool::new(false),
                data: UnsafeCell::new(v),
            }
        }

        /// Takes the lock, spinning (then yielding the thread) while
        /// another holder has it.
        #[inline]
        pub(crate) fn lock(&self) -> Guard<'_, T> {
            // Acquire: pairs with the Release store in `Guard::drop`, so the
            // previous holder's writes are visible to us.
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_slow();
            }
            Guard { lock: self }
        }

        #[cold]
        #[inline(never)]
        fn lock_slow(&self) {
            // See *Waiting* in the module docs.
            let mut pauses = 1u32;
            loop {
                // Relaxed: a hint only (test before test-and-set, so a
                // waiter reads the line instead of writing it); the CAS
                // carries the Acquire.
                while self.locked.load(Ordering::Relaxed) {
                    if pauses < MAX_PAUSES {
                        pauses *= 2;
                    } else {
                        // Held for a while: let a preempted holder run.
                        std::thread::yield_now();
                    }
                    for _ in 0..pauses {
                        std::hint::spin_loop();
                    }
                }
                // Acquire: as in `lock`.
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    impl<'a, T> Guard<'a, T> {
        /// Gives up the guard *without* unlocking and returns the lock's
        /// flag, for a park that releases the lock after the goroutine
        /// switched out (`park::LockedPark`). The caller must see to it
        /// that the flag is stored false exactly once.
        pub(crate) fn into_flag(self) -> &'a AtomicBool {
            let lock = self.lock;
            std::mem::forget(self);
            &lock.locked
        }
    }

    impl<T> Deref for Guard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: we hold the lock, so no other guard exists.
            unsafe { &*self.lock.data.get() }
        }
    }

    impl<T> DerefMut for Guard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: we hold the lock, and `&mut self` makes this borrow
            // the only one through this guard.
            unsafe { &mut *self.lock.data.get() }
        }
    }

    impl<T> Drop for Guard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            // Release: publishes the critical section to the next holder's
            // Acquire CAS in `lock`. A plain store: no locked instruction.
            self.lock.locked.store(false, Ordering::Release);
        }
    }
}

#[cfg(loom)]
mod model {
    /// loom's mutex behind the spin lock's interface.
    pub(crate) struct Lock<T>(crate::loom::Mutex<T>);

    pub(crate) type Guard<'a, T> = crate::loom::MutexGuard<'a, T>;

    impl<T> Lock<T> {
        pub(crate) fn new(v: T) -> Lock<T> {
            Lock(crate::loom::Mutex::new(v))
        }

        pub(crate) fn lock(&self) -> Guard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}
