//! `fork` safety: every allocator lock is taken before `fork` and released
//! in both processes after it, so the child never inherits a lock held by a
//! thread that does not exist there.
//!
//! Order (the global lock order): the fallback mcache, the mcentrals by
//! class, the heap. The child keeps the forking thread's mcache; spans owned
//! by other threads' caches stay owned by caches that no longer run, so
//! their free objects are lost to the child (memory only, never
//! correctness), as in mimalloc; so are the blocks in those threads' bins
//! (`mcache/bins.rs`), which also keep spans of the forking thread's from
//! being retired there. The background scavenger thread does not
//! survive `fork`; the child restarts it on demand.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::heap::HEAP;
use crate::{central, mcache, scavenger};

/// Set in a child process after `fork`: threads that were mid-operation in
/// the parent do not exist here (see `central::wait_for_delivery`).
static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// Whether this process is a forked child of a process using the heap.
pub(crate) fn in_child() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

extern "C" fn prepare() {
    mcache::lock_fallback();
    central::lock_all();
    HEAP.raw_lock();
}

extern "C" fn parent() {
    // SAFETY: `prepare` took these locks in this process.
    unsafe {
        HEAP.raw_unlock();
        central::unlock_all();
        mcache::unlock_fallback();
    }
}

extern "C" fn child() {
    // SAFETY: the parent took these locks in `prepare`; this is the only
    // thread of the child.
    unsafe {
        HEAP.raw_unlock();
        central::unlock_all();
        mcache::unlock_fallback();
    }
    scavenger::forget_background();
    IN_CHILD.store(true, Ordering::Relaxed);
}

/// Registers the handlers (once, from the global init).
pub(crate) fn register() {
    // SAFETY: the handlers are extern "C" fns valid for the process lifetime.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if rc != 0 {
        crate::sys::fatal("pthread_atfork failed");
    }
}
