//! The synchronisation facade (STYLE rule 9): the run queues and the
//! channels import their atomics, locks, cells and park/unpark from here,
//! so that under `--cfg loom` the same code is model-checked with loom's
//! types, and with smaller capacities (see [`crate::runq::RUNQ_CAP`]).
//!
//! Only the code loom models goes through this module: the run queue ring,
//! `runnext`, the global queue, the channel state (`chan/`), and a timer's
//! state word, deleted flag and callback lock (`timer/mod.rs`, modelled in
//! `timer/loom_timer.rs`). The rest of the scheduler (threads, coroutines)
//! cannot run inside a loom model and uses `std` directly.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering, fence},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering, fence},
};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std`'s `UnsafeCell` with loom's closure API (`with_mut`), so
/// the channel code reads the same under both.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// A cell holding `v`.
    pub(crate) const fn new(v: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }

    /// Runs `f` with a unique pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Prepares a park of the current goroutine (or thread): the [`Unparker`]
/// wakes it once, from any thread; [`Parker::park`] sleeps until it does
/// (or returns at once if it already did). Outside loom this is exactly
/// [`crate::Ready::for_current`] + [`crate::park`]; under loom a loom
/// `Notify`, so that loom threads can model goroutines.
pub(crate) fn prepare_park() -> (Unparker, Parker) {
    #[cfg(not(loom))]
    {
        (Unparker(crate::Ready::for_current()), Parker(()))
    }
    #[cfg(loom)]
    {
        let n = std::sync::Arc::new(LoomPark {
            notify: loom::sync::Notify::new(),
            fired: loom::sync::atomic::AtomicBool::new(false),
        });
        (Unparker(n.clone()), Parker(n))
    }
}

/// Wakes one prepared park, once (see [`prepare_park`]).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct Unparker(crate::Ready);

/// Under loom: a `Notify` (whose `wait` may return spuriously) and the
/// flag that says the unpark really happened.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct LoomPark {
    notify: loom::sync::Notify,
    fired: loom::sync::atomic::AtomicBool,
}

/// Wakes one prepared park, once (see [`prepare_park`]).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Unparker(std::sync::Arc<LoomPark>);

#[cfg(not(loom))]
impl Unparker {
    /// An unparker around a handle made elsewhere (`park::LockedPark`).
    pub(crate) fn from_ready(r: crate::Ready) -> Unparker {
        Unparker(r)
    }
}

impl Unparker {
    /// Wakes the parked (or about to park) waiter.
    pub(crate) fn unpark(self) {
        #[cfg(not(loom))]
        self.0.ready();
        #[cfg(loom)]
        {
            // Release: pairs with the Acquire load in `Parker::park`.
            self.0.fired.store(true, Ordering::Release);
            self.0.notify.notify();
        }
    }
}

/// Sleeps until the matching [`Unparker`] fires (see [`prepare_park`]).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct Parker(());

/// Sleeps until the matching [`Unparker`] fires (see [`prepare_park`]).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Parker(std::sync::Arc<LoomPark>);

impl Parker {
    /// Parks until unparked; `reason` shows in goroutine dumps.
    pub(crate) fn park(self, reason: crate::WaitReason) {
        #[cfg(not(loom))]
        crate::park(reason);
        #[cfg(loom)]
        {
            let _ = reason;
            // Acquire: pairs with the Release store in `Unparker::unpark`.
            while !self.0.fired.load(Ordering::Acquire) {
                self.0.notify.wait();
            }
        }
    }
}
