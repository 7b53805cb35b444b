//! [`RwLock`]: Go's `sync.RWMutex` (reader counting with a negative bias
//! for a pending writer, so a writer is not starved by new readers)
//! holding a value. See *RwLock* in `sync/mod.rs`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI32, Ordering};

use super::mutex::RawMutex;
use super::sema::Sema;
use crate::kernel::park::WaitReason;

/// Subtracted from `reader_count` by a writer: readers that see a
/// negative count know a writer is pending and park (Go's
/// `rwmutexMaxReaders`). Also the maximum number of concurrent readers.
const MAX_READERS: i32 = 1 << 30;

/// Go's `sync.RWMutex` without data.
pub(crate) struct RawRwLock {
    /// Held by a writer from `write` to `unlock_write`: serialises writers.
    w: RawMutex,
    /// A writer parks here until the readers it waits for have left.
    writer_sem: Sema,
    /// Readers park here while a writer is pending or active.
    reader_sem: Sema,
    /// Readers inside or arriving, minus `MAX_READERS` while a writer is
    /// pending or active. Any thread, atomically.
    reader_count: AtomicI32,
    /// Readers the pending writer still waits for (those inside when it
    /// arrived). Any thread, atomically.
    reader_wait: AtomicI32,
}

impl RawRwLock {
    const fn new() -> RawRwLock {
        RawRwLock {
            w: RawMutex::new(),
            writer_sem: Sema::new(),
            reader_sem: Sema::new(),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
        }
    }

    fn read(&self) {
        // AcqRel: Acquire pairs with the Release in `unlock_write` (the
        // writer's section is visible to us); Release orders our arrival
        // for the writer's AcqRel on `reader_count`.
        if self.reader_count.fetch_add(1, Ordering::AcqRel) + 1 < 0 {
            // A writer is pending: wait for it. Its `unlock_write`
            // releases one unit per reader it made wait.
            self.reader_sem.acquire(false, WaitReason::SyncRWMutexRLock);
        }
    }

    fn try_read(&self) -> bool {
        let mut c = self.reader_count.load(Ordering::Relaxed);
        loop {
            if c < 0 {
                return false;
            }
            // Acquire: as in `read`.
            match self.reader_count.compare_exchange_weak(
                c,
                c + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
    }

    fn unlock_read(&self) {
        // Release: publishes our reads-done to the writer (pairs with its
        // Acquire on `reader_count`/`reader_wait`).
        let r = self.reader_count.fetch_sub(1, Ordering::AcqRel) - 1;
        if r < 0 {
            self.unlock_read_slow(r);
        }
    }

    #[cold]
    fn unlock_read_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            panic!("sync: RUnlock of unlocked RWMutex");
        }
        // A writer is pending. AcqRel: the last departing reader hands
        // the writer everything the readers did (pairs with the writer's
        // AcqRel add in `write`).
        if self.reader_wait.fetch_sub(1, Ordering::AcqRel) - 1 == 0 {
            // The last reader the writer waited for: wake it.
            self.writer_sem.release(false);
        }
    }

    fn write(&self) {
        // First, resolve competition with other writers.
        self.w.lock();
        // Announce to readers there is a pending writer. AcqRel: Acquire
        // pairs with the Release of departing readers' decrements.
        let r = self.reader_count.fetch_sub(MAX_READERS, Ordering::AcqRel);
        // Wait for active readers.
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::AcqRel) + r != 0 {
            self.writer_sem.acquire(false, WaitReason::SyncRWMutexLock);
        }
    }

    fn try_write(&self) -> bool {
        if !self.w.try_lock() {
            return false;
        }
        // Acquire: pairs with the Release of departing readers.
        if self
            .reader_count
            .compare_exchange(0, -MAX_READERS, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            self.w.unlock();
            return false;
        }
        true
    }

    fn unlock_write(&self) {
        // Announce to readers there is no active writer. Release: pairs
        // with the Acquire in `read`, publishing the writer's section.
        let r = self.reader_count.fetch_add(MAX_READERS, Ordering::AcqRel) + MAX_READERS;
        if r >= MAX_READERS {
            panic!("sync: Unlock of unlocked RWMutex");
        }
        // Unblock the readers that arrived while we held it.
        for _ in 0..r {
            self.reader_sem.release(false);
        }
        // Allow other writers to proceed.
        self.w.unlock();
    }
}

/// A reader-writer lock protecting a `T`, with Go's `sync.RWMutex`
/// algorithm: any number of readers, or one writer; a writer that is
/// waiting blocks *new* readers, so a stream of readers cannot starve it.
/// Not reentrant for readers either (as in Go: a reader that reads again
/// while a writer waits deadlocks). Not poisoned (see the `sync` docs).
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    /// Shared while readers hold `raw`, exclusive while a writer does.
    data: UnsafeCell<T>,
}

// SAFETY: handing the lock to another thread moves the `T` with it.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers on many threads share `&T` (needs `T: Sync`); a writer
// gets `&mut T` on any thread (needs `T: Send`). Same bounds as std.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access; parks while a writer holds or waits for the lock.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw.read();
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Shared access if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw.try_read().then(|| RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Exclusive access; parks until the writers before and the readers
    /// inside have left.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw.write();
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Exclusive access if the lock is entirely free right now.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw.try_write().then(|| RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Mutable access without locking: `&mut self` proves no guard exists.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s value; leaves when dropped.
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// `&T` semantics: Send and Sync iff `T: Sync`.
    _marker: PhantomData<&'a T>,
}

/// Exclusive access to an [`RwLock`]'s value; unlocks when dropped.
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// `&mut T` semantics: Send iff `T: Send`, Sync iff `T: Sync`.
    _marker: PhantomData<&'a mut T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard proves no writer holds the lock, so no
        // `&mut T` exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock_read();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard proves exclusive ownership.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: a write guard proves exclusive ownership; `&mut self`
        // that this is the only access through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock_write();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
