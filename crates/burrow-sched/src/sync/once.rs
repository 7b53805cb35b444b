//! [`Once`]: Go's `sync.Once` (an atomic fast path, a mutex slow path),
//! retrying after a panicking initialiser. See *Once* in `sync/mod.rs`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::mutex::RawMutex;

/// Runs an initialiser exactly once; every other caller parks until it
/// has finished and then sees its effects.
///
/// If the initialiser panics, the `Once` stays incomplete and the next
/// caller (one of those parked, or a later one) runs its own initialiser:
/// see *Once* in the `sync` module docs for why we differ from Go here.
pub struct Once {
    /// Set after the initialiser returned. Release: pairs with the
    /// Acquire load on the fast path.
    done: AtomicBool,
    /// Serialises initialisers; callers park here.
    m: RawMutex,
}

/// Unlocks the `Once`'s mutex even if the initialiser panics.
struct Unlock<'a>(&'a RawMutex);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

impl Once {
    /// A `Once` that has not run.
    pub const fn new() -> Once {
        Once {
            done: AtomicBool::new(false),
            m: RawMutex::new(),
        }
    }

    /// Runs `f` if no call to `call_once` has completed; otherwise returns
    /// at once. Concurrent callers park until the running `f` returns.
    /// As in Go, `f` calling `call_once` on the same `Once` deadlocks.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        // Acquire: pairs with the Release store in `call_once_slow`, so
        // the initialiser's writes are visible.
        if self.done.load(Ordering::Acquire) {
            return;
        }
        self.call_once_slow(f);
    }

    #[cold]
    fn call_once_slow<F: FnOnce()>(&self, f: F) {
        self.m.lock();
        let _unlock = Unlock(&self.m);
        if !self.done.load(Ordering::Relaxed) {
            f();
            // Release: pairs with the fast path's Acquire.
            self.done.store(true, Ordering::Release);
        }
    }

    /// Whether an initialiser has completed.
    pub fn is_completed(&self) -> bool {
        // Acquire: as on the fast path.
        self.done.load(Ordering::Acquire)
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("done", &self.is_completed())
            .finish_non_exhaustive()
    }
}
