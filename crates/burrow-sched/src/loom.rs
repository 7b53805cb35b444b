//! The synchronisation facade (STYLE rule 9): the run queues and the
//! channels import their atomics, locks, cells and park/unpark from here,
//! so that under `--cfg loom` the same code is model-checked with loom's
//! types, and with smaller capacities (see [`crate::kernel::runq::RUNQ_CAP`]).
//!
//! Only the code loom models goes through this module: the run queue ring,
//! `runnext`, the global queue, the channel state (`chan/`), a timer's
//! state word, deleted flag and callback lock (`timer/mod.rs`, modelled in
//! `timer/loom_timer.rs`), and the spinning-M counters
//! (`kernel/spinning.rs`, modelled in `kernel/loom_idle.rs`). The rest of the scheduler (threads,
//! coroutines) cannot run inside a loom model and uses `std` directly.
//!
//! This module only re-exports; it imports nothing of the crate. How a
//! channel parks under loom (a loom `Notify` standing in for a goroutine
//! park) lives with the channels, in `chan/parker.rs`.

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

/// Spin-wait hints: loom's yield to its scheduler, so a model with a spin
/// wait terminates.
#[cfg(loom)]
pub(crate) use loom::{hint::spin_loop, thread::yield_now};

#[cfg(not(loom))]
pub(crate) use std::{hint::spin_loop, thread::yield_now};
