//! `mcentral`: per size class, the spans no thread owns.
//!
//! Go's mcentral keeps *partial* spans (some free objects) and *full* ones
//! (none), split further by sweep generation because Go's GC finds free
//! objects by sweeping. We free explicitly, so frees arrive one by one on a
//! span's remote list (see *The remote word* in `span.rs`) and the lists
//! change only at four events, each under this class's lock:
//!
//! - **detach**: an mcache gives up a span (exhausted, or at thread exit);
//! - **adopt**: an mcache takes a partial span and everything freed into it;
//! - **move**: the first free into a full span moves it to partial;
//! - **reclaim**: the last free into an unowned span returns it to the heap.
//!
//! No lock is taken on any fast path: an mcache touches its mcentral only
//! when its current span of a class runs out.

use core::ptr;
use core::sync::atomic::Ordering;

use crate::heap;
use crate::lock::SpinLock;
use crate::sizeclass::NUM_CLASSES;
use crate::span::{
    LIST_FULL, LIST_NONE, LIST_PARTIAL, MSpan, R_MOVING, R_NOTIFY, R_RECLAIM, R_UNOWNED, SpanList,
    r_count, r_flags, r_head, r_pack,
};

/// One class's unowned spans.
pub(crate) struct Central {
    partial: SpanList,
    full: SpanList,
    /// Emptied spans kept on `partial` instead of going back to the heap
    /// (at most [`MAX_PARKED`]); see *Parked spans*.
    parked: usize,
}

/// Emptied spans an mcentral keeps. Classes with one or two objects per
/// span would otherwise give every span back to the heap on each free and
/// take a new one on the next allocation (measured: 8 KiB pairs went from
/// 113 ns to the cost of a refill).
const MAX_PARKED: usize = 1;

/// Per-class mcentrals. Lock order: never nested with each other nor held
/// while taking the heap lock.
pub(crate) static CENTRAL: [SpinLock<Central>; NUM_CLASSES] = [const {
    SpinLock::new(Central {
        partial: SpanList::new(),
        full: SpanList::new(),
        parked: 0,
    })
}; NUM_CLASSES];

impl Central {
    unsafe fn unlink(&mut self, s: *mut MSpan) {
        // SAFETY: the caller holds our lock and `s` is on the list `list` says.
        unsafe {
            match (*s).list {
                LIST_PARTIAL => self.partial.remove(s),
                LIST_FULL => self.full.remove(s),
                _ => {}
            }
            (*s).list = LIST_NONE;
        }
    }
}

/// Waits until no delivery into owned span `s` is under way (`R_MOVING`
/// on an owned span, see *The remote word* in `span.rs`) and clears
/// `R_NOTIFY`, so none starts: until our caller's CAS sets `R_UNOWNED`,
/// pushes go onto the span's list, where that CAS counts them.
///
/// A delivery is a few instructions on another thread, so the wait is
/// short; in a forked child, a delivery that was under way in a thread
/// that does not exist there never ends, so after a while the child takes
/// the span without it (the delivered object is lost to the child, as
/// other threads' spans are; see `fork.rs`).
///
/// # Safety
/// The caller owns `s`.
unsafe fn wait_for_delivery(s: *mut MSpan) {
    let mut spins = 0u32;
    // SAFETY: `s` is live and owned by the caller.
    unsafe {
        loop {
            // Acquire: pairs with the deliverer's Release `fetch_and` in
            // `free_remote`, so its push onto our cache's `delayed` list is
            // visible to the drain that follows the detach.
            let old = (*s).remote.load(Ordering::Acquire);
            if old & R_MOVING == 0 {
                if old & R_NOTIFY == 0
                    || (*s)
                        .remote
                        .compare_exchange(
                            old,
                            old & !R_NOTIFY,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    return;
                }
                continue;
            }
            spins += 1;
            if spins > 10_000 && crate::fork::in_child() {
                (*s).remote.fetch_and(!R_MOVING, Ordering::Relaxed);
                continue;
            }
            if spins < 64 {
                core::hint::spin_loop();
            } else {
                // SAFETY: no preconditions.
                libc::sched_yield();
            }
        }
    }
}

/// Thread exit (or an explicit flush): the owner gives up `s` together with
/// its local free list `local`. Returns true when the span is empty; the
/// caller must then free it to the heap. Objects delivered to the owner's
/// `delayed` list are not counted here: the caller frees them afterwards
/// as remote frees into the now unowned span.
///
/// # Safety
/// The caller owns `s`; `local` is a list of free objects of `s`.
pub(crate) unsafe fn detach_owned(s: *mut MSpan, local: *mut u8) -> bool {
    // SAFETY: `s` is live and owned by the caller; the objects on `local` are
    // free objects of `s`, so we may write their links.
    unsafe {
        let mut tail = ptr::null_mut::<u8>();
        let mut nlocal = 0u64;
        let mut p = local;
        while !p.is_null() {
            tail = p;
            nlocal += 1;
            p = *(p as *mut *mut u8);
        }
        let carved = (*s).carved() as u64;
        wait_for_delivery(s);
        let mut c = CENTRAL[(*s).class as usize].lock();
        (*s).owner.store(0, Ordering::Relaxed);
        (*s).target.store(carved as u32, Ordering::Relaxed);
        loop {
            let old = (*s).remote.load(Ordering::Acquire); // pairs with pushers' Release
            let total = nlocal + r_count(old);
            if total == carved {
                // Acquire: we take the pushed objects (and then the span).
                if (*s)
                    .remote
                    .compare_exchange(old, 0, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            let head = if tail.is_null() {
                r_head(old)
            } else {
                *(tail as *mut *mut u8) = r_head(old);
                local
            };
            let flags = if total > 0 || (*s).bump < (*s).limit {
                c.partial.push(s);
                (*s).list = LIST_PARTIAL;
                R_UNOWNED
            } else {
                c.full.push(s);
                (*s).list = LIST_FULL;
                R_UNOWNED | R_NOTIFY
            };
            // Release: publishes the links, `target` and the list state;
            // pairs with the Acquire loads in `free_remote` and `adopt`.
            if (*s)
                .remote
                .compare_exchange(
                    old,
                    r_pack(head, total, flags),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return false;
            }
            c.unlink(s);
        }
    }
}

/// Takes a partial span of `class` for mcache `me`: returns the span and
/// the list of its free objects (null if it has only uncarved room).
pub(crate) fn adopt(class: usize, me: usize) -> Option<(*mut MSpan, *mut u8)> {
    let mut c = CENTRAL[class].lock();
    let mut s = c.partial.head;
    while !s.is_null() {
        // SAFETY: spans on our lists are live; we hold the lock.
        unsafe {
            // Acquire: pairs with the pushers' Release CAS (object links).
            let old = (*s).remote.load(Ordering::Acquire);
            if old & R_RECLAIM != 0 {
                s = (*s).next;
                continue;
            }
            if (*s)
                .remote
                .compare_exchange(old, 0, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue; // a push landed; look again
            }
            c.unlink(s);
            if (*s).bump == (*s).base {
                c.parked -= 1; // only parked spans sit here uncarved
            }
            (*s).owner.store(me, Ordering::Relaxed);
            return Some((s, r_head(old)));
        }
    }
    None
}

/// Remote frees a full span must collect before it moves to the partial
/// list: an eighth of its objects (at least one).
///
/// Moving a span at its first free (as this code first did) filled the
/// partial list with spans holding one or two free objects when the frees
/// trickle in from other threads while the live set is large (the
/// scheduler's tasks in skynet: made on one M, freed by a joiner on
/// another, ~100k alive). Every refill then adopted such a span, took its
/// one or two objects, exhausted it and went back to the mcentral lock:
/// 470k refills for 1.1M allocations, and the two Ms fought over the class
/// lock (a third of skynet's time in one run out of two). With the
/// threshold, 54k refills for the same work, and an adopted span serves at
/// least an eighth of its objects per refill. A quarter was tried: it
/// slowed one-thread pairs of 1 KiB blocks from 11.6 to 18.8 ns (8 objects
/// a span: two frees before a move sent the mcache to the heap for a new
/// span instead); an eighth keeps classes of fewer than 16 objects a span
/// as before. The cost: up to an eighth of a full span's objects wait,
/// free but unused, until more frees arrive (or the owner-less span
/// empties and is reclaimed as before).
#[inline]
fn move_threshold(target: u64) -> u64 {
    (target / 8).max(1)
}

/// What a remote free obliges the freeing thread to do.
enum Duty {
    None,
    Move,
    Reclaim,
    Deliver,
}

/// Frees object `p` of span `s` from a thread that does not own `s`.
///
/// # Safety
/// `p` is a live object of small span `s`, freed once.
pub(crate) unsafe fn free_remote(s: *mut MSpan, p: *mut u8) {
    // SAFETY: `s` stays live while it has a live object (ours, `p`); once our
    // CAS succeeds we touch `s` only if the CAS gave us a duty, and a duty
    // holder is the only thread that may return the span to the heap.
    unsafe {
        let mut old = (*s).remote.load(Ordering::Acquire); // pairs with detach's Release
        loop {
            *(p as *mut *mut u8) = r_head(old);
            let mut count = r_count(old) + 1;
            let mut flags = r_flags(old);
            let mut duty = Duty::None;
            if flags & R_UNOWNED != 0 {
                let target = u64::from((*s).target.load(Ordering::Relaxed));
                if flags & R_NOTIFY != 0 && count >= move_threshold(target) {
                    flags = (flags & !R_NOTIFY) | R_MOVING;
                    duty = Duty::Move;
                }
                if count == target {
                    flags |= R_RECLAIM;
                    if matches!(duty, Duty::Move) {
                        // We both found it full and emptied it: no move.
                        flags &= !R_MOVING;
                        duty = Duty::Reclaim;
                    } else if flags & R_MOVING == 0 {
                        duty = Duty::Reclaim;
                    }
                    // else: the mover sees R_RECLAIM and reclaims.
                }
            } else if flags & (R_NOTIFY | R_MOVING) == R_NOTIFY {
                // Owned and on its owner's full list: deliver `p` to the
                // owner instead of pushing it (see *The remote word*).
                count -= 1;
                flags = (flags & !R_NOTIFY) | R_MOVING;
                duty = Duty::Deliver;
            }
            // Release: publishes the link written into `p`, paired with the
            // Acquire of whoever takes the list. Acquire on success: we may
            // read `target` of a state we then act on.
            let head = if matches!(duty, Duty::Deliver) {
                r_head(old)
            } else {
                p
            };
            match (*s).remote.compare_exchange_weak(
                old,
                r_pack(head, count, flags),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    match duty {
                        Duty::None => {}
                        Duty::Move => move_to_partial(s),
                        Duty::Reclaim => reclaim(s),
                        Duty::Deliver => {
                            // The owner cannot change while our R_MOVING
                            // is set (`wait_for_delivery`); Relaxed
                            // suffices: the owner wrote `owner` before its
                            // Release CAS that set R_NOTIFY, which our
                            // Acquire CAS read.
                            let owner = (*s).owner.load(Ordering::Relaxed);
                            crate::mcache::deliver(owner, p);
                            // Release: pairs with the Acquire load in
                            // `wait_for_delivery`: our push is visible to an
                            // exiting owner once it sees the bit clear.
                            (*s).remote.fetch_and(!R_MOVING, Ordering::Release);
                        }
                    }
                    return;
                }
                Err(now) => old = now,
            }
        }
    }
}

unsafe fn move_to_partial(s: *mut MSpan) {
    // SAFETY: our R_MOVING keeps the span from being reclaimed by others.
    unsafe {
        let mut c = CENTRAL[(*s).class as usize].lock();
        c.unlink(s);
        c.partial.push(s);
        (*s).list = LIST_PARTIAL;
        // AcqRel: pairs with the pushers' CAS; if one set R_RECLAIM while we
        // moved, the duty to reclaim is ours.
        let prev = (*s).remote.fetch_and(!R_MOVING, Ordering::AcqRel);
        if prev & R_RECLAIM != 0 {
            c.unlink(s);
            park_or_free(c, s);
        }
    }
}

unsafe fn reclaim(s: *mut MSpan) {
    // SAFETY: the span is empty and we hold the only duty for it.
    unsafe {
        let mut c = CENTRAL[(*s).class as usize].lock();
        c.unlink(s);
        park_or_free(c, s);
    }
}

/// *Parked spans*: an emptied, unlinked span is reset to uncarved and kept
/// on the partial list while fewer than [`MAX_PARKED`] are, else freed to
/// the heap. No pusher can touch it: it has no live object.
unsafe fn park_or_free(mut c: crate::lock::Guard<'_, Central>, s: *mut MSpan) {
    // SAFETY: `s` is empty and unlinked; we hold the class lock.
    unsafe {
        if c.parked < MAX_PARKED {
            c.parked += 1;
            (*s).bump = (*s).base;
            (*s).target.store(0, Ordering::Relaxed);
            (*s).owner.store(0, Ordering::Relaxed);
            // Release: pairs with the Acquire load in `adopt`.
            (*s).remote.store(R_UNOWNED, Ordering::Release);
            c.partial.push(s);
            (*s).list = LIST_PARTIAL;
            return;
        }
        drop(c);
        heap::free_span(s);
    }
}

/// Locks every mcentral (fork prepare).
pub(crate) fn lock_all() {
    for c in &CENTRAL {
        c.raw_lock();
    }
}

/// Unlocks every mcentral (fork parent and child).
///
/// # Safety
/// The caller (or the parent, before fork) took them with [`lock_all`].
pub(crate) unsafe fn unlock_all() {
    for c in CENTRAL.iter().rev() {
        // SAFETY: taken by lock_all.
        unsafe { c.raw_unlock() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizeclass::size_to_class;
    use crate::span::LIST_PARTIAL;

    /// A full unowned span moves to the partial list at the free that
    /// brings its remote count to an eighth of its objects, not before
    /// (see `move_threshold`), and is reclaimed when the last one returns.
    #[test]
    fn full_span_moves_to_partial_after_an_eighth_is_freed() {
        let class = size_to_class(128);
        let s = heap::alloc_small_span(class);
        assert!(!s.is_null(), "the heap gives a span");
        // SAFETY: a fresh span that this test owns (fake owner id 1): mark
        // every object carved, give it up, then free its objects remotely
        // one by one, each exactly once.
        unsafe {
            (*s).owner.store(1, Ordering::Relaxed);
            (*s).bump = (*s).limit;
            let n = (*s).carved();
            let size = (*s).elem_size;
            let base = (*s).base;
            assert!(n >= 16, "class 128 has {n} objects per span");
            assert!(!detach_owned(s, ptr::null_mut()), "not empty");
            assert_eq!((*s).list, LIST_FULL);
            // An eighth of the span's objects (n >= 16, so more than one).
            let threshold = n / 8;
            for i in 0..threshold - 1 {
                free_remote(s, (base + i * size) as *mut u8);
                assert_eq!((*s).list, LIST_FULL, "moved after {} frees", i + 1);
            }
            free_remote(s, (base + (threshold - 1) * size) as *mut u8);
            assert_eq!((*s).list, LIST_PARTIAL, "not moved after {threshold}");
            // The rest: the last free reclaims the span (no assertion on it
            // after that: it belongs to the heap again).
            for i in threshold..n {
                free_remote(s, (base + i * size) as *mut u8);
            }
        }
    }
}
