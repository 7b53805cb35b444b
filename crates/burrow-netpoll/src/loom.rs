//! The synchronisation facade (STYLE rule 9): the pollDesc slots, the
//! registration table and the wake flag take their locks, atomics and cells
//! from here, so that under `--cfg loom` the same code is model-checked with
//! loom's types (see `loom_tests.rs`).

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::{
    RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// `std::cell::UnsafeCell` with loom's closure API (`with_mut`), so the
/// waiter cells of `poll_desc.rs` read the same under both.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a raw pointer to the contents; the caller's protocol
    /// decides who may dereference it.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
