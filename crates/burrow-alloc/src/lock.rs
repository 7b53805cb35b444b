//! A spin lock that never allocates and can be released by a forked child.
//!
//! `std::sync::Mutex` would do on Linux, but the fork handlers must lock every
//! allocator lock before `fork` and unlock them in both processes without a
//! guard object; this lock offers `raw_lock`/`raw_unlock` for that. Critical
//! sections are short (list splices, a page-heap search); a waiter spins a
//! little, then yields the CPU.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A lock protecting a `T`.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock serialises all access to `value`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the value; `T: Send` suffices.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock (without a guard; pair with [`Self::raw_unlock`]).
    #[inline]
    pub(crate) fn raw_lock(&self) {
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the Release store in `raw_unlock`, so the
            // previous holder's writes to `value` are visible.
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 64 {
                    core::hint::spin_loop();
                } else {
                    // SAFETY: sched_yield has no preconditions.
                    unsafe {
                        libc::sched_yield();
                    }
                }
            }
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds the lock (or is a forked child whose parent held it
    /// in the `fork` prepare handler).
    #[inline]
    pub(crate) unsafe fn raw_unlock(&self) {
        // Release: pairs with the Acquire swap in `raw_lock`.
        self.locked.store(false, Ordering::Release);
    }

    /// Takes the lock and returns a guard.
    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        self.raw_lock();
        Guard { lock: self }
    }

    /// The protected value, for callers that took the lock with `raw_lock`.
    ///
    /// # Safety
    /// The caller holds the lock for as long as it uses the pointer.
    pub(crate) unsafe fn get(&self) -> *mut T {
        self.value.get()
    }
}

/// Holds a [`SpinLock`] until dropped.
pub(crate) struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock.
        unsafe { self.lock.raw_unlock() }
    }
}
