//! The waiter record (Go's `sudog` plus the `selectDone` flag): one
//! [`Waiter`] per blocked operation or `select`, one [`Sudog`] per channel
//! queue it sits in. See *The claim* in `chan/mod.rs`.

use std::sync::Arc;

use crate::loom::{AtomicUsize, Ordering, Parker, Unparker, UnsafeCell, prepare_park};

/// Claim state: nobody has claimed the waiter yet.
pub(crate) const WAITING: usize = usize::MAX;
/// Claim state: its timer fired first (`*_timeout`, `select!`'s timeout).
pub(crate) const TIMED_OUT: usize = usize::MAX - 1;
/// Claim state: the select saw a ready case while registering and claimed
/// itself, to retry without parking.
pub(crate) const ABORTED: usize = usize::MAX - 2;
// Any other value is the index of the arm whose channel claimed it.

/// One blocked goroutine (or thread): the claim word and the handle that
/// wakes it.
pub(crate) struct Waiter {
    /// `WAITING` until one CAS claims it: an arm index, `TIMED_OUT` or
    /// `ABORTED`. Any thread may try the CAS (channel ops under the
    /// channel's lock, the timer callback, the waiter itself); exactly one
    /// wins and from then on the word never changes.
    state: AtomicUsize,
    /// Written by the waiter before the record is published (under a
    /// channel lock or before `add_timer`); taken by the claim's winner
    /// only, so never touched by two threads.
    unparker: UnsafeCell<Option<Unparker>>,
}

// SAFETY: `unparker` is accessed by one thread at a time: the owner before
// publication, then only the claim winner (the CAS on `state` orders it).
unsafe impl Sync for Waiter {}
// SAFETY: as above; `Unparker` is `Send`.
unsafe impl Send for Waiter {}

impl Waiter {
    /// A fresh waiter for the current goroutine (or thread) and the park
    /// that waits for its claim.
    pub(crate) fn new() -> (Arc<Waiter>, Parker) {
        let (u, p) = prepare_park();
        if let Some(mut w) = take_spare() {
            if let Some(m) = Arc::get_mut(&mut w) {
                m.state = AtomicUsize::new(WAITING);
                m.unparker = UnsafeCell::new(Some(u));
                return (w, p);
            }
        }
        let w = Arc::new(Waiter {
            state: AtomicUsize::new(WAITING),
            unparker: UnsafeCell::new(Some(u)),
        });
        (w, p)
    }

    /// Hands a finished waiter back for reuse by the next blocking
    /// operation on this thread (saves an allocation per park). Only the
    /// waiter itself calls it, after all its entries left the queues; if a
    /// timer callback still holds a reference it is simply dropped.
    pub(crate) fn recycle(w: Arc<Waiter>) {
        if Arc::strong_count(&w) == 1 {
            put_spare(w);
        }
    }

    /// True while nobody has claimed it. A hint only (the claim may be
    /// taken right after), used to skip stale queue entries.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Relaxed) == WAITING
    }

    /// Tries to claim the waiter for `outcome`; true if this call won.
    /// The winner must then finish the operation and call [`Waiter::wake`]
    /// (unless it is the waiter itself).
    pub(crate) fn try_claim(&self, outcome: usize) -> bool {
        // AcqRel: Acquire pairs with the waiter's publication (its Release
        // of the channel lock / the timer heap lock) so the unparker is
        // visible to the winner; Release orders the claim before the
        // winner's writes, which the waiter reads after `park` (ordered by
        // the unpark itself).
        self.state
            .compare_exchange(WAITING, outcome, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Wakes the waiter. Only the winner of [`Waiter::try_claim`] calls it,
    /// once, after writing the operation's result.
    pub(crate) fn wake(&self) {
        if let Some(u) = self.take_unparker() {
            u.unpark();
        }
    }

    /// Takes the unparker (claim winner only).
    pub(crate) fn take_unparker(&self) -> Option<Unparker> {
        // SAFETY: only the claim winner gets here (see `unparker`).
        self.unparker.with_mut(|p| unsafe { (*p).take() })
    }

    /// The claim's outcome; read by the waiter after its park returned.
    pub(crate) fn outcome(&self) -> usize {
        // Acquire: pairs with the winner's AcqRel CAS in `try_claim`.
        self.state.load(Ordering::Acquire)
    }

    /// Same waiter?
    pub(crate) fn same(a: &Arc<Waiter>, b: &Arc<Waiter>) -> bool {
        Arc::ptr_eq(a, b)
    }
}

/// Debug knob: set to false to allocate a fresh waiter for every park.
const REUSE_WAITERS: bool = true;

// One spare waiter per thread. The cache is only a pool of free objects:
// it is never borrowed across a park (take and put are separate calls,
// not inlined), so a goroutine moving between threads takes from one
// thread's cache and may return to another's, which is fine. Not used
// under loom (loom objects must not outlive a model).
#[cfg(not(loom))]
thread_local! {
    static SPARE: std::cell::Cell<Option<Arc<Waiter>>> = const { std::cell::Cell::new(None) };
}

#[inline(never)]
fn take_spare() -> Option<Arc<Waiter>> {
    #[cfg(not(loom))]
    if REUSE_WAITERS {
        return SPARE.try_with(|s| s.take()).ok().flatten();
    }
    None
}

#[inline(never)]
fn put_spare(w: Arc<Waiter>) {
    #[cfg(not(loom))]
    if REUSE_WAITERS {
        let _ = SPARE.try_with(|s| s.set(Some(w)));
    }
    #[cfg(loom)]
    drop((w, REUSE_WAITERS));
}

/// The value cell of one operation: the value a blocked sender offers, or
/// the place a blocked receiver gets its value. It lives in the waiting
/// frame (Go's `sudog.elem` points into the stack). The frame does not
/// return, nor unwind (drop guards in `Chan::block` and `select_impl`),
/// before its waiter is claimed and every [`Sudog`] pointing at it has
/// been retired under its channel's lock (`Chan::unregister`) or popped.
/// A retired entry may linger in its queue with a dangling slot pointer,
/// but it is never dereferenced: only the winner of its waiter's claim
/// touches a slot, and a claimed waiter is never reset to `WAITING` while
/// any entry holds it ([`Waiter::new`] reuses a waiter only through
/// `Arc::get_mut`, i.e. when no entry holds a clone).
pub(crate) struct Slot<T>(UnsafeCell<Option<T>>);

impl<T> Slot<T> {
    /// A slot holding `v`.
    pub(crate) fn new(v: Option<T>) -> Slot<T> {
        Slot(UnsafeCell::new(v))
    }

    /// Takes the value out.
    ///
    /// # Safety
    ///
    /// The caller has exclusive access: it is the waiter after its park
    /// returned (and its entries left the queues), or the claim winner
    /// under the channel lock.
    pub(crate) unsafe fn take(&self) -> Option<T> {
        // SAFETY: exclusive access, by the caller's contract.
        self.0.with_mut(|p| unsafe { (*p).take() })
    }

    /// Puts a value in.
    ///
    /// # Safety
    ///
    /// As for [`Slot::take`].
    pub(crate) unsafe fn put(&self, v: T) {
        // SAFETY: exclusive access, by the caller's contract.
        self.0.with_mut(|p| unsafe { *p = Some(v) })
    }
}

/// One waiter's entry in one channel's `sendq` or `recvq` (Go's `sudog`).
pub(crate) struct Sudog<T> {
    /// The waiter it belongs to (shared by every entry of one `select`).
    pub(crate) waiter: Arc<Waiter>,
    /// The arm index to claim with.
    pub(crate) arm: usize,
    /// The operation's value cell, in the waiter's frame; dangling once
    /// the entry is retired (see [`Slot`]).
    pub(crate) slot: *const Slot<T>,
}

// SAFETY: the slot pointer is only dereferenced by the claim winner under
// the channel lock, while the owning frame is guaranteed alive (see
// `Slot`; this holds on unwind too); the value moves between threads,
// hence `T: Send`.
unsafe impl<T: Send> Send for Sudog<T> {}

impl<T> Sudog<T> {
    /// The entry's slot.
    ///
    /// # Safety
    ///
    /// The caller won the claim of the entry's waiter while holding the
    /// lock of the channel whose queue holds the entry. The waiter was
    /// `WAITING` until then, so its frame has not passed its park nor
    /// retired the entry (an unwinding frame's guard blocks on this lock).
    pub(crate) unsafe fn slot(&self) -> &Slot<T> {
        // SAFETY: by the contract, the frame is alive until the lock is
        // released (see `Slot`).
        unsafe { &*self.slot }
    }
}
