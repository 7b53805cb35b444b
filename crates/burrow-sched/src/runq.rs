//! Run queues: each P's 256-slot ring with its `runnext` slot, and the
//! global queue.
//!
//! # The local ring (Go's `runqput`/`runqget`/`runqgrab`/`runqsteal`)
//!
//! A P's local queue is a fixed ring of [`RUNQ_CAP`] slots with two
//! free-running `u32` indices: `head` (next to consume) and `tail` (next free
//! slot). Exactly one thread, the M holding the P (the *owner*), adds to the
//! queue: it writes the slot, then publishes it with a Release store of
//! `tail`. Anyone may consume: the owner pops one item, a thief grabs half,
//! and both claim what they took with a CAS on `head`. A consumer reads the
//! slots *before* its CAS; if the CAS fails, the slots may have been
//! overwritten meanwhile and what it read is discarded. Go tolerates that
//! read as a benign race; we make the slots `AtomicPtr` so it is not a data
//! race in Rust's model either (a Relaxed pointer load costs the same as a
//! plain one on every target we build for).
//!
//! When the ring is full, the owner moves half of it plus the new item to
//! the global queue in one batch (`runqputslow`): the local queue stays
//! short, so a P never hoards work it cannot run soon, and the batch costs
//! one lock acquisition for 129 items.
//!
//! `runnext` is a one-item slot in front of the ring: a G readied or spawned
//! by the running G goes there and runs next, inheriting the locality of its
//! creator (what makes a channel ping-pong run without queueing). The owner
//! swaps it; a thief may take it only with a CAS and only in its last
//! stealing round (see `steal_into`).
//!
//! This is the design of Go's `runtime/proc.go` (the ring is from Dmitry
//! Vyukov's scheduler of 2012); tokio's `multi_thread/queue.rs` is the same
//! ring with a packed head. We wrote it instead of wrapping
//! `crossbeam-deque` because that deque is unbounded (no 256 bound, so no
//! overflow to the global queue) and has no `runnext`; the ring is small
//! and loom checks it (`tests/loom_runq.rs` inside this crate).
//!
//! # The global queue
//!
//! A FIFO under a mutex with an atomic length, so that the common "is it
//! empty?" check takes no lock. Go keeps it under `sched.lock`; ours has
//! its own lock because our idle lists are separate (see `sched.rs`).

use std::collections::VecDeque;
use std::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicPtr, AtomicU32, AtomicUsize, Mutex, Ordering};

/// Slots in a P's local run queue: 256 as in Go, 4 under loom so that the
/// model reaches the full-queue paths in few steps.
pub(crate) const RUNQ_CAP: usize = if cfg!(loom) { 4 } else { 256 };

/// How long a thief waits before taking a victim's `runnext` (Go's
/// `usleep(3)` in `runqgrab`; like Go's, the kernel's timer slack makes
/// the real pause tens of µs, which also keeps the spinning M from being
/// re-woken by every `ready`).
#[cfg(not(loom))]
const RUNNEXT_STEAL_GRACE: std::time::Duration = std::time::Duration::from_micros(3);

/// A P's local run queue: a bounded ring plus `runnext`.
///
/// Who may touch what: `tail` and the slots at and after `tail` are written
/// only by the owner; `head` moves by CAS from any consumer; `runnext` is
/// swapped by the owner and taken by CAS from a thief. Items are raw
/// pointers; the queue never dereferences them.
pub(crate) struct Runq<T> {
    /// Next slot to consume. CAS by the owner and thieves.
    head: CachePadded<AtomicU32>,
    /// Next free slot. Stored only by the owner.
    tail: CachePadded<AtomicU32>,
    /// The ring; indexed by `index % RUNQ_CAP`.
    slots: Box<[AtomicPtr<T>]>,
    /// The item to run next, or null. See the module docs.
    runnext: CachePadded<AtomicPtr<T>>,
}

// SAFETY: the queue only moves pointers between threads; it never
// dereferences them. Sending a `T` is what a push/pop pair does, so
// `T: Send` is required.
unsafe impl<T: Send> Send for Runq<T> {}
// SAFETY: all shared state is atomic; owner-only operations are `unsafe fn`
// whose callers promise exclusivity.
unsafe impl<T: Send> Sync for Runq<T> {}

impl<T> Runq<T> {
    /// An empty queue.
    pub(crate) fn new() -> Runq<T> {
        Runq {
            head: CachePadded::new(AtomicU32::new(0)),
            tail: CachePadded::new(AtomicU32::new(0)),
            slots: (0..RUNQ_CAP)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            runnext: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
        }
    }

    fn slot(&self, i: u32) -> &AtomicPtr<T> {
        &self.slots[i as usize % RUNQ_CAP]
    }

    /// Items in the ring plus `runnext`, as seen now (may be stale at once).
    pub(crate) fn len(&self) -> usize {
        // Acquire on both: pairs with the Release stores of `tail` (owner)
        // and the CAS of `head` (consumers); a stale value is fine for a
        // hint, but it must never exceed the capacity by mixing epochs.
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Acquire);
        let n = (t.wrapping_sub(h) as usize).min(RUNQ_CAP);
        n + usize::from(!self.runnext.load(Ordering::Acquire).is_null())
    }

    /// Whether the ring looks empty (`runnext` not counted): a hint for a
    /// spinning M, which steals `runnext` only after a grace.
    pub(crate) fn ring_is_empty(&self) -> bool {
        // Acquire: as in `len`.
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Acquire);
        t == h
    }

    /// Whether the queue looks empty (ring and `runnext`).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `item` at the tail, or to `runnext` when `next` is true (the old
    /// `runnext`, if any, goes to the tail). If the ring is full, half of it
    /// and the item are returned in a batch for the global queue (oldest
    /// first) and the ring keeps the other half.
    ///
    /// # Safety
    ///
    /// Only the owner of the queue may call this (one thread at a time, with
    /// ownership handed over through a happens-before edge).
    pub(crate) unsafe fn push(&self, item: NonNull<T>, next: bool) -> Option<Vec<NonNull<T>>> {
        let mut item = item;
        if next {
            // SeqCst (an AcqRel swap would do for the queue itself; on x86
            // both are one `xchg`): Release publishes the item to a thief's
            // CAS in `steal_into`; Acquire takes ownership of the old one
            // (which a thief may have tried to take; the swap wins or the
            // thief's CAS failed); SeqCst makes this swap the submitter's
            // half of the spinning-M Dekker pair, so `ready_g` needs no
            // fence before `wakep` (see `Shared::wakep_after_sc_publish`).
            let old = self.runnext.swap(item.as_ptr(), Ordering::SeqCst);
            match NonNull::new(old) {
                None => return None,
                Some(old) => item = old,
            }
        }
        loop {
            // Acquire: pairs with consumers' CAS on head, so the slots they
            // freed are no longer read by them when we overwrite them.
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if (t.wrapping_sub(h) as usize) < RUNQ_CAP {
                self.slot(t).store(item.as_ptr(), Ordering::Relaxed);
                // Release: publishes the slot to consumers' Acquire of tail.
                self.tail.store(t.wrapping_add(1), Ordering::Release);
                return None;
            }
            if let Some(batch) = self.push_slow(item, h, t) {
                return Some(batch);
            }
            // Thieves took some items meanwhile: there is room now.
        }
    }

    /// Go's `runqputslow`: moves half the full ring and `item` into a batch.
    #[cold]
    #[inline(never)]
    fn push_slow(&self, item: NonNull<T>, h: u32, t: u32) -> Option<Vec<NonNull<T>>> {
        let n = t.wrapping_sub(h) / 2;
        debug_assert_eq!(
            n as usize,
            RUNQ_CAP / 2,
            "push_slow on a queue that is not full"
        );
        let mut batch = Vec::with_capacity(n as usize + 1);
        for i in 0..n {
            let p = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
            batch.push(NonNull::new(p).expect("published slots are non-null"));
        }
        // AcqRel: Release so our slot reads happen before the owner may
        // overwrite those slots; Acquire orders after other consumers' CAS.
        if self
            .head
            .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        batch.push(item);
        Some(batch)
    }

    /// Takes the next item: `runnext` first, then the ring's head. The bool
    /// says whether it came from `runnext`.
    ///
    /// # Safety
    ///
    /// Only the owner of the queue may call this.
    pub(crate) unsafe fn pop(&self) -> Option<(NonNull<T>, bool)> {
        let next = self.runnext.load(Ordering::Relaxed);
        if !next.is_null()
            // Acquire: pairs with the Release of the swap in `push` that put
            // it there (by us or a previous owner).
            && self
                .runnext
                .compare_exchange(next, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            // SAFETY: checked non-null above.
            return Some((unsafe { NonNull::new_unchecked(next) }, true));
        }
        loop {
            // Acquire: pairs with other consumers' CAS on head.
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if t == h {
                return None;
            }
            let p = self.slot(h).load(Ordering::Relaxed);
            // Release: our slot read happens before the owner's later
            // overwrite (we are the owner here, but a thief could be the one
            // that raced us; keep the protocol uniform).
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some((
                    NonNull::new(p).expect("published slots are non-null"),
                    false,
                ));
            }
        }
    }

    /// Go's `runqgrab`: takes half of this queue's items (or `runnext` if the
    /// ring is empty and `steal_next`) and writes them into `dst`'s ring at
    /// `dst_tail..`. Returns how many.
    ///
    /// `owner_tick` is the victim P's `schedtick`, when the caller has it:
    /// see the runnext steal below.
    fn grab_into(
        &self,
        dst: &Runq<T>,
        dst_tail: u32,
        steal_next: bool,
        owner_tick: Option<&std::sync::atomic::AtomicU32>,
    ) -> u32 {
        loop {
            // Acquire on head: synchronise with other consumers; Acquire on
            // tail: pairs with the owner's Release store, so the slots we
            // read are published.
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            let n = t.wrapping_sub(h);
            let n = n - n / 2;
            if n == 0 {
                if steal_next {
                    // Acquire: pairs with the owner's (SeqCst) swap in `push`
                    // that published the G.
                    let next = self.runnext.load(Ordering::Acquire);
                    if next.is_null() {
                        return 0;
                    }
                    // Go's grace period (`runqgrab`): the owner readied this
                    // G a moment ago and is most likely about to park and
                    // run it (a channel hand-off takes ~100 ns). Stealing it
                    // now would bounce a ping-pong pair between threads and
                    // keep waking Ms; sleep briefly first, then steal only
                    // if it is still there. Not under loom (no time there).
                    #[cfg(not(loom))]
                    {
                        // Relaxed: a hint; only its owner writes the tick.
                        let tick = owner_tick.map(|t| t.load(Ordering::Relaxed));
                        std::thread::sleep(RUNNEXT_STEAL_GRACE);
                        // The nap is tens of µs: a ping-pong pair hands off
                        // hundreds of times meanwhile, and `runnext` may
                        // hold the very G we saw again (A and B take turns
                        // in it), so the CAS below would succeed on a G
                        // readied an instant ago: an ABA that moved the pair
                        // to our thread every few thousand round trips and
                        // cost ~10 % of a 2-P round trip. If the owner has
                        // scheduled since we looked, it is running its
                        // `runnext`s itself: leave this one. A P stuck in a
                        // long goroutine does not schedule, so its `runnext`
                        // is still taken (`tests/fairness.rs`). Go's
                        // `runqgrab` has the same ABA.
                        if let (Some(t), Some(before)) = (owner_tick, tick)
                            && t.load(Ordering::Relaxed) != before
                        {
                            return 0;
                        }
                    }
                    #[cfg(loom)]
                    let _ = owner_tick;
                    // Acquire: pairs with the owner's (SeqCst) swap in `push`.
                    if self
                        .runnext
                        .compare_exchange(
                            next,
                            ptr::null_mut(),
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    dst.slot(dst_tail).store(next, Ordering::Relaxed);
                    return 1;
                }
                return 0;
            }
            if n as usize > RUNQ_CAP / 2 {
                // Read an inconsistent h and t: retry.
                continue;
            }
            for i in 0..n {
                let p = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
                dst.slot(dst_tail.wrapping_add(i))
                    .store(p, Ordering::Relaxed);
            }
            // AcqRel: Release commits the consumption (our slot reads happen
            // before the owner reuses them); Acquire orders after other
            // consumers' CAS.
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Go's `runqsteal`: steals half of `self` (a victim) into `dst`, the
    /// thief's own queue, and returns one stolen item to run now.
    ///
    /// # Safety
    ///
    /// The caller must own `dst` (see [`Runq::push`]); `dst` must not be
    /// `self`.
    ///
    /// `steal_next` lets it take `runnext` when the ring is empty (Go: the
    /// last stealing round); `owner_tick`, the victim P's `schedtick`, makes
    /// it leave a `runnext` the owner may have re-filled during the grace
    /// nap (see `grab_into`).
    pub(crate) unsafe fn steal_into(
        &self,
        dst: &Runq<T>,
        steal_next: bool,
        owner_tick: Option<&std::sync::atomic::AtomicU32>,
    ) -> Option<NonNull<T>> {
        debug_assert!(!ptr::eq(self, dst), "a P cannot steal from itself");
        let t = dst.tail.load(Ordering::Relaxed);
        let n = self.grab_into(dst, t, steal_next, owner_tick);
        if n == 0 {
            return None;
        }
        let n = n - 1;
        let item = dst.slot(t.wrapping_add(n)).load(Ordering::Relaxed);
        let item = NonNull::new(item).expect("stolen slots are non-null");
        if n == 0 {
            return Some(item);
        }
        // Acquire: pairs with consumers' CAS of our head.
        let h = dst.head.load(Ordering::Acquire);
        assert!(
            (t.wrapping_sub(h).wrapping_add(n) as usize) < RUNQ_CAP,
            "runqsteal: runq overflow"
        );
        // Release: publishes the stolen slots to consumers of `dst`.
        dst.tail.store(t.wrapping_add(n), Ordering::Release);
        Some(item)
    }

    /// Takes everything (for shutdown).
    ///
    /// # Safety
    ///
    /// Only the owner of the queue may call this.
    pub(crate) unsafe fn drain(&self) -> Vec<NonNull<T>> {
        let mut out = Vec::new();
        // SAFETY: forwarded from our caller.
        while let Some((p, _)) = unsafe { self.pop() } {
            out.push(p);
        }
        out
    }
}

/// The global run queue: FIFO under a lock, with a lock-free length.
///
/// Any thread may push (readies from outside the runtime, overflow batches,
/// shutdown); Ms pull batches from it in `schedule()`.
pub(crate) struct GlobalQueue<T> {
    queue: Mutex<VecDeque<NonNull<T>>>,
    /// Mirrors `queue.len()`; written under the lock, read without it.
    len: AtomicUsize,
}

// SAFETY: the queue moves pointers between threads and never dereferences
// them; moving a `T` between threads needs `T: Send`.
unsafe impl<T: Send> Send for GlobalQueue<T> {}
// SAFETY: all state is behind the mutex or atomic.
unsafe impl<T: Send> Sync for GlobalQueue<T> {}

impl<T> GlobalQueue<T> {
    /// An empty queue.
    pub(crate) fn new() -> GlobalQueue<T> {
        GlobalQueue {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Length as seen now, without the lock.
    pub(crate) fn len(&self) -> usize {
        // Acquire: pairs with the Release stores under the lock, so a
        // reader that sees a non-zero length and then locks finds the items
        // (the lock orders it anyway; this keeps the hint fresh).
        self.len.load(Ordering::Acquire)
    }

    /// Appends `items` in order.
    pub(crate) fn push_batch(&self, items: impl IntoIterator<Item = NonNull<T>>) {
        let mut q = self.queue.lock().expect("global runq lock poisoned");
        q.extend(items);
        // Release: pairs with the Acquire in `len`.
        self.len.store(q.len(), Ordering::Release);
    }

    /// Appends one item.
    pub(crate) fn push(&self, item: NonNull<T>) {
        self.push_batch(std::iter::once(item));
    }

    /// Go's `globrunqget`: takes up to `max` items (at least one if any),
    /// and at most a fair share `len / nprocs + 1` so one P does not drain
    /// the queue that others could work on.
    pub(crate) fn pop_batch(&self, nprocs: usize, max: usize) -> Vec<NonNull<T>> {
        if self.len() == 0 {
            return Vec::new();
        }
        let mut q = self.queue.lock().expect("global runq lock poisoned");
        let n = (q.len() / nprocs.max(1) + 1).min(q.len()).min(max.max(1));
        let out: Vec<_> = q.drain(..n).collect();
        // Release: pairs with the Acquire in `len`.
        self.len.store(q.len(), Ordering::Release);
        out
    }
}
