//! Bins: freed blocks a thread keeps for its own next allocations.
//!
//! Each size class of an mcache has a small ring of blocks the thread
//! freed (jemalloc's tcache bins; Go's mcache has no equivalent because a
//! GC, not `free`, returns its objects). A free puts the pointer at the
//! ring's tail; an allocation takes the one at its head before it looks
//! at the class's span list. Neither touches the block itself or its
//! span:
//!
//! - A free through `GlobalAlloc::dealloc` knows the block's class from
//!   its `Layout` (the class `alloc` chose for the same size and
//!   alignment), so it needs no span lookup at all: no arena-map load and
//!   no span-struct load, the two dependent cache misses that were over
//!   half of a free's time in larson, whose victims are random blocks of a
//!   2.5 MB working set.
//! - The block is not written (a span's free list links through the
//!   blocks, so pushing a cold block onto it is a cache miss on the block
//!   as well), and an allocation that takes it does not read it.
//! - Whose span the block is does not matter while it sits in a bin: a
//!   block another thread allocated is reused here without a trip through
//!   its span's remote list. Ownership is settled only when a block
//!   leaves the bin for its span (`free_to_span`).
//!
//! A ring, not a stack: a stack's one count is read and written by every
//! free and every allocation, so in a free–allocate loop each waits for
//! the other's store to that word (two store-to-load forwardings a pair);
//! with a ring, frees move only the tail and allocations only the head.
//! (That measured small next to keeping the free's rare paths out of line,
//! see `free_class`.) The price is first-in first-out reuse:
//! an allocation gets the oldest of at most [`BIN_MAX`] recent frees, not
//! the newest, which matters little for blocks freed that recently.
//!
//! A bin holds at most [`BIN_MAX`] blocks and at most [`BIN_BYTES`]
//! bytes' worth (one block for the 32 KiB class), so a thread keeps at
//! most ~1 MiB of freed blocks out of their spans, which is what a span
//! cannot be retired or scavenged for meanwhile. A free into a full bin
//! moves its older half to their spans; thread exit and
//! `release_thread_cache` empty every bin before the spans are handed
//! back.
//!
//! # A thread that only frees
//!
//! A thread that frees blocks others allocated and allocates none of the
//! class (a consumer at the end of a pipeline) gains nothing from a bin:
//! every block would go in and spill out again, later, and the blocks
//! held back keep the producers' spans fuller (in the cross-thread churn
//! benchmark, about 2,000 blocks per consumer across the classes, 30 %
//! slower). So a bin that fills up with nothing taken from it since it
//! last spilled empties and closes: the class's frees go straight to
//! their spans, as without bins, until the thread allocates the class
//! again: the next free that sees the class's allocation count moved
//! since the bin closed reopens it, and so does an allocation that
//! reaches the slow path. (The count is flushed to zero every 256 frees,
//! so a thread that only frees may reopen the bin once after closing it;
//! it closes again when it next fills, with the count at zero, and stays
//! closed.)
//!
//! # Counting
//!
//! `stats()` counts every allocation and free, but a bin's fast paths
//! update no counter: the ring's free-running indices are the counts. A
//! flush of the class's counts adds the tail's advance since the last
//! flush to the frees and the head's to the allocations (a spill advances
//! the head's mark too: a spilled block was counted going in, and leaving
//! for its span is no allocation). The free that brings the tail to a
//! multiple of 256 takes the slow path and flushes, so neither index
//! runs a full turn of its 16 bits between flushes. Two fewer memory
//! updates a pair than counting each operation.
//!
//! `GlobalAlloc::realloc` keeps a block in place only when the new layout
//! maps to the block's class, so a later sized free names the right
//! class. With the `debug-free` feature bins are off: every free goes to
//! its span, where the double-free check is.

use super::{ClassCache, MCache, free_to_span};
use crate::debug_free::DEBUG_FREE;
use crate::heap;
use crate::sizeclass::{CLASSES, NUM_CLASSES};

/// A bin's indices at its counts' last flush (*Counting*).
#[derive(Clone, Copy)]
pub(crate) struct Marks {
    pub(crate) head: u16,
    pub(crate) tail: u16,
}

/// The most blocks a bin holds: the ring's size, a power of two that
/// divides 2^16 so that the free-running `u16` indices wrap with it.
pub(crate) const BIN_MAX: usize = 32;

/// The most bytes of blocks a bin holds (but always at least one block).
const BIN_BYTES: usize = 16 * 1024;

/// How many blocks the bin of `class` may hold.
fn cap(class: usize) -> u16 {
    (BIN_BYTES / CLASSES[class].size).clamp(1, BIN_MAX) as u16
}

/// Gives this thread's cache its bins (at registration).
///
/// # Safety
/// The caller has exclusive use of `mc`.
pub(super) unsafe fn open(mc: *mut MCache) {
    for class in 1..NUM_CLASSES {
        // SAFETY: the caller's exclusive use of `mc`.
        unsafe { reopen(mc, class) };
    }
}

/// Gives `class` its bin back if it has none (a registered thread's
/// allocation slow path: the thread allocates the class again).
///
/// # Safety
/// The caller has exclusive use of `mc`, a registered, live thread's
/// cache.
pub(super) unsafe fn reopen(mc: *mut MCache, class: usize) {
    // SAFETY: the caller's exclusive use of `mc`.
    let cc = unsafe { &mut (*mc).classes[class] };
    if cc.bin_cap == 0 && !DEBUG_FREE {
        cc.bin_cap = cap(class);
        cc.spill_head = cc.bin_head;
    }
}

/// Takes the bins away (at thread exit): later frees on this thread go to
/// their spans, which the exit flush has handed back.
///
/// # Safety
/// The caller has exclusive use of `mc`.
pub(super) unsafe fn close(mc: *mut MCache) {
    for class in 1..NUM_CLASSES {
        // SAFETY: the caller's exclusive use of `mc`.
        unsafe { (*mc).classes[class].bin_cap = 0 };
    }
}

/// Moves the oldest `n` blocks of `class`'s bin to their spans.
///
/// # Safety
/// The caller has exclusive use of `mc`; `n` ≤ the bin's count.
unsafe fn spill(mc: *mut MCache, class: usize, n: usize) {
    // SAFETY: the caller's exclusive use of `mc`; every binned pointer is
    // an object of `class` that its span counts as out, freed once.
    unsafe {
        for _ in 0..n {
            let cc: &mut ClassCache = &mut (*mc).classes[class];
            let p = (*mc).bins[class][cc.bin_head as usize % BIN_MAX];
            cc.bin_head = cc.bin_head.wrapping_add(1);
            free_to_span(mc, heap::span_of(p as usize), p);
        }
        // A spilled block was counted when it went in; its way out is no
        // allocation.
        let m = &mut (*mc).bin_marks[class];
        m.head = m.head.wrapping_add(n as u16);
    }
}

/// The number of blocks in a class's bin.
fn len(cc: &ClassCache) -> usize {
    usize::from(cc.bin_tail.wrapping_sub(cc.bin_head))
}

/// The free fast path's fallback: puts `p` (class `class`) in the bin,
/// spilling the older half first if it is full, or frees `p` to its span
/// when the thread has no bin for the class (not registered yet: its
/// first allocation's slow path registers it; exited; or the bin closed,
/// or closes now). Returns whether `p` went into the bin.
///
/// A thread is not registered by a free: a free can come from another
/// library's thread-exit destructor after ours has run, and a bin opened
/// then would never be emptied.
///
/// # Safety
/// The caller has exclusive use of `mc`, this thread's cache; `p` is a
/// live object of class `class`, freed once.
pub(super) unsafe fn push_slow(mc: *mut MCache, class: usize, p: *mut u8) -> bool {
    // SAFETY: as the caller guarantees.
    unsafe {
        let cc = &(*mc).classes[class];
        let cap = usize::from(cc.bin_cap);
        if cap == 0 || DEBUG_FREE {
            free_to_span(mc, heap::span_of(p as usize), p);
            return false;
        }
        let n = len(cc);
        if n >= cap {
            if cc.bin_head == cc.spill_head {
                // Nothing was taken from the bin since it last spilled (or
                // opened): this thread frees the class and does not
                // allocate it. Empty the bin and close it until the
                // thread allocates the class again (`reopen`).
                spill(mc, class, n);
                let cc = &mut (*mc).classes[class];
                cc.bin_cap = 0;
                cc.spill_head = cc.nmalloc as u16;
                free_to_span(mc, heap::span_of(p as usize), p);
                return false;
            }
            spill(mc, class, n - cap / 2);
            let cc = &mut (*mc).classes[class];
            cc.spill_head = cc.bin_head;
        }
        let cc = &mut (*mc).classes[class];
        (*mc).bins[class][cc.bin_tail as usize % BIN_MAX] = p;
        cc.bin_tail = cc.bin_tail.wrapping_add(1);
        true
    }
}

/// Moves every binned block to its span.
///
/// # Safety
/// The caller has exclusive use of `mc`.
pub(super) unsafe fn flush_all(mc: *mut MCache) {
    for class in 1..NUM_CLASSES {
        // SAFETY: the caller's exclusive use of `mc`.
        unsafe {
            let n = len(&(*mc).classes[class]);
            if n != 0 {
                spill(mc, class, n);
            }
        }
    }
}
