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
//! # Ownership as types
//!
//! [`local`] makes a queue and returns its two handles: one [`Local`]
//! (the owner's: push, pop, steal *into*; not `Clone`, its methods take
//! `&mut self`) and a [`Steal`] (anyone's: length hints; `Clone`). The
//! owner's single-thread rule is therefore the borrow checker's: a P's
//! `Local` moves between Ms inside the P's core (`p.rs`), and whoever holds
//! the core may use it, safely, with no promise in a comment. tokio's
//! `queue.rs` splits its queue the same way.
//!
//! Items are typed ([`RunItem`]): the ring stores each one as a pointer
//! and gives back the value it was given.
//!
//! This is the design of Go's `runtime/proc.go` (the ring is from Dmitry
//! Vyukov's scheduler of 2012); tokio's `multi_thread/queue.rs` is the same
//! ring with a packed head. We wrote it instead of wrapping
//! `crossbeam-deque` because that deque is unbounded (no 256 bound, so no
//! overflow to the global queue) and has no `runnext`; the ring is small
//! and loom checks it (`loom_runq.rs` in this crate).
//!
//! # The global queue
//!
//! A FIFO under a mutex with an atomic length, so that the common "is it
//! empty?" check takes no lock. Go keeps it under `sched.lock`; ours has
//! its own lock because our idle lists are separate (see `sched.rs`).

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;

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

/// A value a run queue can hold: it travels through the ring as one
/// non-null pointer.
///
/// # Safety
///
/// `from_raw(into_raw(x))` must give back `x`, and `into_raw` must return
/// a pointer that no other live item maps to. The queue calls `from_raw`
/// exactly once per `into_raw`.
pub(crate) unsafe trait RunItem: Send + Sized {
    /// The item as a pointer; ownership moves into the queue.
    fn into_raw(self) -> NonNull<()>;
    /// The item back from its pointer.
    ///
    /// # Safety
    ///
    /// `p` came from `into_raw` and is converted back once.
    unsafe fn from_raw(p: NonNull<()>) -> Self;
}

/// The state both handles of one queue share.
///
/// Who may touch what: `tail` and the slots at and after `tail` are written
/// only by the [`Local`] handle; `head` moves by CAS from any consumer;
/// `runnext` is swapped by the `Local` handle and taken by CAS from a
/// thief. Slots hold [`RunItem::into_raw`] pointers; the ring never
/// dereferences them.
struct Inner<T> {
    /// Next slot to consume. CAS by the owner and thieves.
    head: CachePadded<AtomicU32>,
    /// Next free slot. Stored only by the owner.
    tail: CachePadded<AtomicU32>,
    /// The ring; indexed by `index % RUNQ_CAP`.
    slots: Box<[AtomicPtr<()>]>,
    /// The item to run next, or null. See the module docs.
    runnext: CachePadded<AtomicPtr<()>>,
    _items: PhantomData<T>,
}

/// The owner's handle of a P's run queue: the only one that pushes, and
/// the one stolen work lands in. One per queue; not `Clone`.
pub(crate) struct Local<T> {
    q: Arc<Inner<T>>,
}

/// Anyone's handle of a run queue: length hints, and the victim side of a
/// steal ([`Local::steal_from`]).
pub(crate) struct Steal<T> {
    q: Arc<Inner<T>>,
}

impl<T> Clone for Steal<T> {
    fn clone(&self) -> Self {
        Steal { q: self.q.clone() }
    }
}

// SAFETY: the ring moves `T`s between threads as pointers (`T: Send`) and
// every shared field is atomic; the owner-only rule is enforced by `Local`
// being unique and taking `&mut self`.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Inner<T> {}

/// A new empty queue: its one owner handle and a steal handle (clone it
/// for as many thieves as needed).
pub(crate) fn local<T: RunItem>() -> (Steal<T>, Local<T>) {
    let q = Arc::new(Inner {
        head: CachePadded::new(AtomicU32::new(0)),
        tail: CachePadded::new(AtomicU32::new(0)),
        slots: (0..RUNQ_CAP)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect(),
        runnext: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
        _items: PhantomData,
    });
    (Steal { q: q.clone() }, Local { q })
}

fn raw<T: RunItem>(item: T) -> *mut () {
    item.into_raw().as_ptr()
}

/// # Safety
///
/// `p` is non-null, came from [`raw`], and was claimed by the caller (a
/// successful CAS on `head` or `runnext`), so it is converted back once.
unsafe fn unraw<T: RunItem>(p: *mut ()) -> T {
    let p = NonNull::new(p).expect("published run queue slots are non-null");
    // SAFETY: forwarded from the caller.
    unsafe { T::from_raw(p) }
}

impl<T> Inner<T> {
    fn slot(&self, i: u32) -> &AtomicPtr<()> {
        &self.slots[i as usize % RUNQ_CAP]
    }

    /// Items in the ring plus `runnext`, as seen now (may be stale at once).
    fn len(&self) -> usize {
        // Acquire on both: pairs with the Release stores of `tail` (owner)
        // and the CAS of `head` (consumers); a stale value is fine for a
        // hint, but it must never exceed the capacity by mixing epochs.
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Acquire);
        let n = (t.wrapping_sub(h) as usize).min(RUNQ_CAP);
        n + usize::from(!self.runnext.load(Ordering::Acquire).is_null())
    }

    fn ring_is_empty(&self) -> bool {
        // Acquire: as in `len`.
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Acquire);
        t == h
    }
}

impl<T: RunItem> Steal<T> {
    /// Items in the ring plus `runnext`, as seen now (may be stale at once).
    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether the ring looks empty (`runnext` not counted): a hint for a
    /// spinning M, which steals `runnext` only after a grace.
    pub(crate) fn ring_is_empty(&self) -> bool {
        self.q.ring_is_empty()
    }

    /// Whether the queue looks empty (ring and `runnext`).
    pub(crate) fn is_empty(&self) -> bool {
        self.q.len() == 0
    }
}

impl<T: RunItem> Local<T> {
    /// Items in the ring plus `runnext`.
    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether the queue is empty (ring and `runnext`).
    pub(crate) fn is_empty(&self) -> bool {
        self.q.len() == 0
    }

    /// Adds `item` at the tail, or to `runnext` when `next` is true (the old
    /// `runnext`, if any, goes to the tail). If the ring is full, half of it
    /// and the item are returned in a batch for the global queue (oldest
    /// first) and the ring keeps the other half.
    pub(crate) fn push(&mut self, item: T, next: bool) -> Option<Vec<T>> {
        let q = &*self.q;
        let mut item = raw(item);
        if next {
            // SeqCst (an AcqRel swap would do for the queue itself; on x86
            // both are one `xchg`): Release publishes the item to a thief's
            // CAS in `grab_into`; Acquire takes ownership of the old one
            // (which a thief may have tried to take; the swap wins or the
            // thief's CAS failed); SeqCst makes this swap the submitter's
            // half of the spinning-M Dekker pair, so `ready_g` needs no
            // fence before `wakep` (see `Shared::wakep_after_sc_publish`).
            let old = q.runnext.swap(item, Ordering::SeqCst);
            if old.is_null() {
                return None;
            }
            item = old;
        }
        loop {
            // Acquire: pairs with consumers' CAS on head, so the slots they
            // freed are no longer read by them when we overwrite them.
            let h = q.head.load(Ordering::Acquire);
            let t = q.tail.load(Ordering::Relaxed);
            if (t.wrapping_sub(h) as usize) < RUNQ_CAP {
                q.slot(t).store(item, Ordering::Relaxed);
                // Release: publishes the slot to consumers' Acquire of tail.
                q.tail.store(t.wrapping_add(1), Ordering::Release);
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
    fn push_slow(&self, item: *mut (), h: u32, t: u32) -> Option<Vec<T>> {
        let q = &*self.q;
        let n = t.wrapping_sub(h) / 2;
        debug_assert_eq!(
            n as usize,
            RUNQ_CAP / 2,
            "push_slow on a queue that is not full"
        );
        let mut taken = Vec::with_capacity(n as usize + 1);
        for i in 0..n {
            taken.push(q.slot(h.wrapping_add(i)).load(Ordering::Relaxed));
        }
        // AcqRel: Release so our slot reads happen before the owner may
        // overwrite those slots; Acquire orders after other consumers' CAS.
        if q.head
            .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        taken.push(item);
        // SAFETY: our CAS on head claimed those slots; `item` is ours.
        Some(taken.into_iter().map(|p| unsafe { unraw(p) }).collect())
    }

    /// Takes the next item: `runnext` first, then the ring's head. The bool
    /// says whether it came from `runnext`.
    pub(crate) fn pop(&mut self) -> Option<(T, bool)> {
        let q = &*self.q;
        let next = q.runnext.load(Ordering::Relaxed);
        if !next.is_null()
            // Acquire: pairs with the Release of the swap in `push` that put
            // it there (by us or a previous owner).
            && q
                .runnext
                .compare_exchange(next, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            // SAFETY: our CAS claimed it.
            return Some((unsafe { unraw(next) }, true));
        }
        loop {
            // Acquire: pairs with other consumers' CAS on head.
            let h = q.head.load(Ordering::Acquire);
            let t = q.tail.load(Ordering::Relaxed);
            if t == h {
                return None;
            }
            let p = q.slot(h).load(Ordering::Relaxed);
            // AcqRel: Release so our slot read happens before a later
            // overwrite by the owner; Acquire orders after thieves' CAS.
            if q.head
                .compare_exchange(h, h.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: our CAS claimed the slot.
                return Some((unsafe { unraw(p) }, false));
            }
        }
    }

    /// Go's `runqsteal`: steals half of `victim` into this queue and
    /// returns one stolen item to run now.
    ///
    /// `steal_next` lets it take `runnext` when the ring is empty (Go: the
    /// last stealing round); `owner_tick`, the victim P's published
    /// schedule tick, makes it leave a `runnext` the owner may have
    /// re-filled during the grace nap (see `grab_into`).
    ///
    /// # Panics
    ///
    /// If `victim` is this queue (a P cannot steal from itself).
    pub(crate) fn steal_from(
        &mut self,
        victim: &Steal<T>,
        steal_next: bool,
        owner_tick: Option<&std::sync::atomic::AtomicU32>,
    ) -> Option<T> {
        assert!(
            !Arc::ptr_eq(&self.q, &victim.q),
            "a P cannot steal from itself"
        );
        let dst = &*self.q;
        let t = dst.tail.load(Ordering::Relaxed);
        let n = grab_into(&victim.q, dst, t, steal_next, owner_tick);
        if n == 0 {
            return None;
        }
        let n = n - 1;
        let item = dst.slot(t.wrapping_add(n)).load(Ordering::Relaxed);
        if n > 0 {
            // Acquire: pairs with consumers' CAS of our head.
            let h = dst.head.load(Ordering::Acquire);
            assert!(
                (t.wrapping_sub(h).wrapping_add(n) as usize) < RUNQ_CAP,
                "runqsteal: runq overflow"
            );
            // Release: publishes the stolen slots to consumers of `dst`.
            dst.tail.store(t.wrapping_add(n), Ordering::Release);
        }
        // SAFETY: `grab_into` claimed it from the victim (its CAS) and it
        // was never published in our ring (beyond the new tail).
        Some(unsafe { unraw(item) })
    }

    /// Takes everything (for shutdown).
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Some((item, _)) = self.pop() {
            out.push(item);
        }
        out
    }
}

/// Go's `runqgrab`: takes half of `src`'s items (or `runnext` if the ring
/// is empty and `steal_next`) and writes them into `dst`'s ring at
/// `dst_tail..`, unpublished. Returns how many.
///
/// `owner_tick` is the victim P's schedule tick, when the caller has it:
/// see the runnext steal below.
fn grab_into<T>(
    src: &Inner<T>,
    dst: &Inner<T>,
    dst_tail: u32,
    steal_next: bool,
    owner_tick: Option<&std::sync::atomic::AtomicU32>,
) -> u32 {
    loop {
        // Acquire on head: synchronise with other consumers; Acquire on
        // tail: pairs with the owner's Release store, so the slots we
        // read are published.
        let h = src.head.load(Ordering::Acquire);
        let t = src.tail.load(Ordering::Acquire);
        let n = t.wrapping_sub(h);
        let n = n - n / 2;
        if n == 0 {
            if steal_next {
                // Acquire: pairs with the owner's (SeqCst) swap in `push`
                // that published the G.
                let next = src.runnext.load(Ordering::Acquire);
                if next.is_null() {
                    return 0;
                }
                // Go's grace period (`runqgrab`): the owner readied this
                // G a moment ago and is most likely about to park and
                // run it (a channel hand-off is far shorter). Stealing it
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
                    // to our thread every few thousand round trips (*The
                    // `runnext` ABA* in `docs/channels.md`). If the owner has
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
                if src
                    .runnext
                    .compare_exchange(next, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed)
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
            let p = src.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
            dst.slot(dst_tail.wrapping_add(i))
                .store(p, Ordering::Relaxed);
        }
        // AcqRel: Release commits the consumption (our slot reads happen
        // before the owner reuses them); Acquire orders after other
        // consumers' CAS.
        if src
            .head
            .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return n;
        }
    }
}

/// The global run queue: FIFO under a lock, with a lock-free length.
///
/// Any thread may push (readies from outside the runtime, overflow batches,
/// shutdown); Ms pull batches from it in `schedule()`.
pub(crate) struct GlobalQueue<T> {
    queue: Mutex<VecDeque<T>>,
    /// Mirrors `queue.len()`; written under the lock, read without it.
    len: AtomicUsize,
}

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
    pub(crate) fn push_batch(&self, items: impl IntoIterator<Item = T>) {
        let mut q = self.queue.lock().expect("global runq lock poisoned");
        q.extend(items);
        // Release: pairs with the Acquire in `len`.
        self.len.store(q.len(), Ordering::Release);
    }

    /// Appends one item.
    pub(crate) fn push(&self, item: T) {
        self.push_batch(std::iter::once(item));
    }

    /// Go's `globrunqget`: takes up to `max` items (at least one if any),
    /// and at most a fair share `len / nprocs + 1` so one P does not drain
    /// the queue that others could work on.
    pub(crate) fn pop_batch(&self, nprocs: usize, max: usize) -> Vec<T> {
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
