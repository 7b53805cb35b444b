//! The waiter record (Go's `sudog` plus the `selectDone` flag): one
//! [`Waiter`] per blocked operation or `select`, one [`Sudog`] per channel
//! queue it sits in. See *The claim* in `chan/mod.rs`.

use std::ptr::NonNull;
use std::sync::Arc;

use super::parker::{Parker, Unparker, prepare_park};
use crate::kernel::compact::StackOwner;
use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

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

    /// A waiter for a plain blocking operation without a deadline, kept
    /// in the blocked frame: no allocation and no reference counting per
    /// operation (see [`Sudog::local`]).
    pub(crate) fn new_local() -> (Waiter, Parker) {
        let (u, p) = prepare_park();
        (Self::new_local_with(u), p)
    }

    /// [`Waiter::new_local`] with a given unparker (a goroutine's
    /// `LockedPark` handle).
    pub(crate) fn new_local_with(u: Unparker) -> Waiter {
        Waiter {
            state: AtomicUsize::new(WAITING),
            unparker: UnsafeCell::new(Some(u)),
        }
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

    /// Claims a waiter that only holders of one channel's lock can claim
    /// (a waiter in the frame, see [`Sudog::local`]): a plain store, no
    /// locked read-modify-write. Such a waiter is `WAITING` whenever its
    /// entry is queued and the lock is free (claimers pop the entry before
    /// they claim, and its unwind guard claims and removes it in one lock
    /// hold), so the caller, holding the lock with the entry just popped,
    /// is the only possible claimer.
    pub(crate) fn claim_locked(&self, outcome: usize) {
        debug_assert!(self.is_waiting(), "a local waiter claimed twice");
        // Relaxed: the other readers of the word (`is_waiting` on queue
        // entries) hold the same channel lock, which orders them; the
        // waiter itself reads it only after its wake, which the unpark's
        // Release/Acquire pair orders after this store.
        self.state.store(outcome, Ordering::Relaxed);
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
///
/// It points at its [`Waiter`] in one of two ways:
///
/// - *shared* ([`Sudog::shared`]): the entry holds a strong reference to
///   an `Arc<Waiter>` (a select, or an operation with a deadline, whose
///   timer shares the waiter). Such an entry may linger in its queue after
///   its waiter was claimed and its frame returned (lazy unregister, see
///   [`super::Chan::unregister`]); the reference keeps the claim word
///   readable, so whoever meets it later sees "claimed" and drops it.
/// - *local* ([`Sudog::local`]): a plain blocking `send`/`recv` without a
///   deadline keeps its waiter in its own frame, and the entry holds a raw
///   pointer (no reference counting per operation). Only channel
///   operations under this queue's lock can claim such a waiter, and each
///   pops the entry before it claims; the unwind guard removes it exactly
///   (never lazily). So a local entry never outlives its waiter.
pub(crate) struct Sudog<T> {
    /// The waiter it belongs to (shared by every entry of one `select`).
    /// A strong reference (from `Arc::into_raw`) when `shared`.
    waiter: NonNull<Waiter>,
    /// Whether `waiter` carries a strong count this entry must drop.
    shared: bool,
    /// The arm index to claim with.
    pub(crate) arm: usize,
    /// The operation's value cell, in the waiter's frame; dangling once
    /// the entry is retired (see [`Slot`]).
    slot: *const Slot<T>,
    /// The goroutine whose frame holds the slot (and a local waiter): the
    /// claimer makes its stack resident before touching either (stack
    /// compaction, `kernel/compact.rs`).
    owner: StackOwner,
}

// SAFETY: the slot pointer is only dereferenced by the claim winner under
// the channel lock, while the owning frame is guaranteed alive (see
// `Slot`; this holds on unwind too); the waiter pointer is alive as long
// as the entry (see the type docs) and `Waiter` is `Sync`; the value
// moves between threads, hence `T: Send`.
unsafe impl<T: Send> Send for Sudog<T> {}

impl<T> Sudog<T> {
    /// An entry for arm `arm` of the shared waiter `w` (a select, or an
    /// operation with a deadline), with value cell `slot`. Takes a strong
    /// reference to `w`, dropped with the entry.
    pub(crate) fn shared(w: &Arc<Waiter>, arm: usize, slot: &Slot<T>) -> Sudog<T> {
        let raw = Arc::into_raw(Arc::clone(w)).cast_mut();
        Sudog {
            waiter: NonNull::new(raw).expect("Arc::into_raw is never null"),
            shared: true,
            arm,
            slot,
            owner: StackOwner::current(),
        }
    }

    /// An entry for a plain blocking operation whose waiter `w` lives in
    /// the blocked frame (arm 0).
    ///
    /// # Safety
    ///
    /// `w` must stay alive and unmoved until the entry has left its queue:
    /// only operations under the queue's channel lock may claim `w`, each
    /// popping the entry first, and if the frame unwinds before it is
    /// woken it removes the entry exactly, under the lock, before `w` dies
    /// (`Local` guard in `Chan::block_local`; a goroutine parking under
    /// the lock runs nothing between the enqueue and its switch).
    /// `owner` is the goroutine whose frame holds `w` and `slot`.
    pub(crate) unsafe fn local(w: &Waiter, slot: &Slot<T>, owner: StackOwner) -> Sudog<T> {
        Sudog {
            waiter: NonNull::from(w),
            shared: false,
            arm: 0,
            slot,
            owner,
        }
    }

    /// The entry's waiter.
    pub(crate) fn waiter(&self) -> &Waiter {
        // SAFETY: a shared entry holds a strong reference; a local one
        // never outlives its waiter (the contract of `Sudog::local`).
        unsafe { self.waiter.as_ref() }
    }

    /// Tries to claim the entry's waiter for the entry's arm; true if this
    /// call won (see [`Waiter::try_claim`]). The caller holds the lock of
    /// the channel whose queue held the entry and has just popped it. A
    /// local waiter can be claimed only that way, so its claim is a plain
    /// store ([`Waiter::claim_locked`]); a shared one may race a timer or
    /// another channel of its select, so it takes the CAS.
    ///
    /// Before the first write to the owner's frame (the local claim, or
    /// after winning a shared one: the slot, the local record's wake
    /// handle), the owner's stack is made resident if it was compacted.
    #[inline(always)]
    pub(crate) fn try_claim(&self) -> bool {
        if self.shared {
            let won = self.waiter().try_claim(self.arm);
            if won {
                self.owner.before_touch();
            }
            won
        } else {
            self.owner.before_touch();
            self.waiter().claim_locked(self.arm);
            true
        }
    }

    /// Whether the entry's waiter is still unclaimed. A local entry always
    /// is while it is queued (it is popped before it is claimed, and its
    /// unwinding frame removes it exactly), so only a shared one's claim
    /// word is read: a local waiter lives in a parked goroutine's frame,
    /// which may be compacted (its page released, reading as zeros), and
    /// only a claimer, after `try_claim`, may touch it.
    pub(crate) fn is_waiting(&self) -> bool {
        !self.shared || self.waiter().is_waiting()
    }

    /// Whether this entry belongs to waiter `w`.
    pub(crate) fn is_of(&self, w: &Waiter) -> bool {
        std::ptr::eq(self.waiter.as_ptr(), w)
    }

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

impl<T> Drop for Sudog<T> {
    fn drop(&mut self) {
        if self.shared {
            // SAFETY: a shared entry owns one strong count, taken by
            // `Arc::into_raw` in `Sudog::shared` and released once, here.
            unsafe { Arc::decrement_strong_count(self.waiter.as_ptr()) };
        }
    }
}
