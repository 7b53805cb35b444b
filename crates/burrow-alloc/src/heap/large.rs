//! Large objects (over 32 KiB), which take whole pages straight from the
//! page heap (`heap.rs`): sizing a request ([`large_pages`]), allocating
//! ([`alloc_large`]), freeing with the double-free check under the heap
//! lock ([`free_large`]), resizing in place for `realloc`
//! ([`resize_large`], see *Contiguous growth* in `heap.rs`), and moving a
//! block's pages by `mremap` when it cannot grow in place ([`move_large`],
//! see *Moving a block* below).
//!
//! # Moving a block
//!
//! A move still copied the block, and the copy made every page of the
//! destination resident while the old pages stayed resident until the
//! scavenger's decay: growing a block 64 KiB at a time to 1 GiB past other
//! blocks peaked at +1.6 GiB of RSS for a block with 64 MiB touched
//! (`tests/realloc_grow_1gib.rs`). So a large block of at least
//! [`MOVE_MIN_BYTES`] moves its pages with `mremap(MREMAP_FIXED)` into the
//! new block (glibc's way for blocks that are their own mapping): no copy,
//! no page touched, and the old range gets fresh zero pages
//! (`sys::move_pages`), which cost nothing until reused.
//!
//! The cost is mappings. Moved anonymous pages keep their own mapping (a
//! VMA with its old page offset, which never merges with its neighbours),
//! so each moved block splits the heap's mapping in up to three, and the
//! kernel allows 65530 per process. So the block's span is marked
//! `remapped`, and freeing it maps fresh pages over the whole block
//! (`sys::map_fresh`, under the heap lock after the double-free check),
//! which merge with the neighbours again and return the pages to the OS at
//! once: the splits last only as long as the moved blocks live, at most
//! two per live block of 1 MiB or more. When the kernel refuses (the block
//! spans two mappings, as when an arena could not go right after the last)
//! the block is copied as before.

use core::ptr;

use super::arena::{in_arena, set_bounds, span_of};
use super::{HEAP, Heap, MAX_PAGES, align_slack_pages};
use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::{MSpan, SPAN_BUSY, SPAN_FREE, SPAN_LARGE};
use crate::{stats, sys};

/// Pages for a large object of `size` bytes aligned to `align`, or `None`
/// when no such object can exist: `align` is not a power of two, or the
/// pages plus the alignment slack exceed [`MAX_PAGES`]. Every step is
/// checked (see *Sizes near the top of the address space* in `lib.rs`).
pub(crate) fn large_pages(size: usize, align: usize) -> Option<usize> {
    if !align.is_power_of_two() || size > isize::MAX as usize {
        return None;
    }
    let npages = size.div_ceil(PAGE_SIZE).max(1);
    let total = npages.checked_add(align_slack_pages(align))?;
    (total <= MAX_PAGES).then_some(npages)
}

/// Allocates a large object of `npages` pages (from [`large_pages`])
/// aligned to `align`, if possible with `room` free pages after it (see
/// [`Heap::alloc_pages`]); returns its span (object at `base`), or null.
pub(crate) fn alloc_large(npages: usize, align: usize, room: usize) -> *mut MSpan {
    let s = {
        let mut h = HEAP.lock();
        let s = h.alloc_pages(npages, align, room);
        if !s.is_null() {
            // SAFETY: fresh span, ours under the lock.
            unsafe {
                (*s).state = SPAN_LARGE;
                (*s).class = 0;
                (*s).elem_size = (*s).bytes();
                (*s).nelems = 1;
                (*s).remapped = false;
                set_bounds(s);
                stats::locked_add(&stats::LARGE_MALLOCS, 1);
                stats::locked_add(&stats::LARGE_ALLOC_BYTES, (*s).bytes() as u64);
            }
        }
        s
    };
    crate::scavenger::tick();
    s
}

/// The live large span whose object starts at `addr`, or null. The caller
/// holds the heap lock: every span's `state` and `base` are written under
/// it, so the answer is exact — a freed block's span is `SPAN_FREE` (or
/// merged into a neighbour, or reused with another base), an interior or
/// stale pointer's span has another base or state. Span structs are never
/// unmapped, so reading a stale one is sound.
fn live_large(_h: &Heap, addr: usize) -> *mut MSpan {
    let s = span_of(addr);
    // SAFETY: see above; we hold the heap lock (`_h`).
    if !s.is_null() && unsafe { (*s).state == SPAN_LARGE && (*s).base == addr } {
        s
    } else {
        ptr::null_mut()
    }
}

/// Frees the large object at `addr` and returns its bytes; `None` (and no
/// change) when `addr` is not the start of a live large object: a double
/// free or an invalid pointer.
pub(crate) fn free_large(addr: usize) -> Option<usize> {
    let bytes = {
        let mut h = HEAP.lock();
        let s = live_large(&h, addr);
        if s.is_null() {
            return None;
        }
        // SAFETY: `s` is the live large span of the caller's object, which
        // the caller gives up; we hold the heap lock.
        unsafe {
            let bytes = (*s).bytes();
            if (*s).remapped {
                // Heal the mappings `move_large` split (see *Moving a
                // block*); the pages go back to the OS at once.
                (*s).remapped = false;
                if sys::map_fresh((*s).base, bytes) {
                    (*s).released = 0;
                }
            }
            h.release_span(s);
            stats::locked_add(&stats::LARGE_FREES, 1);
            stats::locked_add(&stats::LARGE_FREE_BYTES, bytes as u64);
            bytes
        }
    };
    crate::scavenger::tick();
    Some(bytes)
}

/// Whether `addr` is the start of a live large object.
pub(crate) fn is_live_large(addr: usize) -> bool {
    let h = HEAP.lock();
    !live_large(&h, addr).is_null()
}

/// What [`resize_large`] did.
pub(crate) enum Resize {
    /// The object now spans the pages asked for.
    Done,
    /// It cannot grow in place; the caller moves it.
    NotInPlace,
    /// `addr` is not the start of a live large object.
    NotLive,
}

/// Resizes the large object at `addr` in place to `npages`: shrinking
/// splits off the tail, growing takes pages from a free neighbour after it,
/// mapping more at the heap's top when the object or that neighbour ends
/// there (see *Contiguous growth* in `heap.rs`).
///
/// # Safety
/// `addr` is the caller's object, or else no live object at all (that is
/// checked under the lock and answered with [`Resize::NotLive`]).
pub(crate) unsafe fn resize_large(addr: usize, npages: usize) -> Resize {
    let mut h = HEAP.lock();
    let s = live_large(&h, addr);
    if s.is_null() {
        return Resize::NotLive;
    }
    let done = |ok: bool| if ok { Resize::Done } else { Resize::NotInPlace };
    // SAFETY: we hold the heap lock; `s` is the caller's in-use span and the
    // neighbour found through the side table is a live heap span.
    unsafe {
        let old = (*s).npages;
        if npages == old {
            return Resize::Done;
        }
        if npages < old {
            (*s).state = SPAN_BUSY; // keep the tail from merging back into us
            let ok = h.trim_tail(s, npages);
            (*s).state = SPAN_LARGE;
            if ok {
                // The tail was inserted as free with our stale `freed_at`.
                let t = span_of((*s).base + (npages << PAGE_SHIFT));
                if !t.is_null() {
                    (*t).freed_at = sys::now_ns();
                    (*t).needzero = true;
                }
                stats::locked_sub(&stats::HEAP_INUSE, ((old - npages) << PAGE_SHIFT) as u64);
                (*s).elem_size = (*s).bytes();
                set_bounds(s);
            }
            return done(ok);
        }
        let end = (*s).base + (*s).bytes();
        let need = npages - old;
        let mut after = span_of(end);
        let free_after = !after.is_null() && after != s && (*after).state == SPAN_FREE;
        if !after.is_null() && !free_after {
            return Resize::NotInPlace; // a live span follows
        }
        let have = if free_after { (*after).npages } else { 0 };
        if have < need {
            // Short of room: if we (or the free run after us) end at the
            // heap's top, map the next arenas right there (see *Contiguous
            // growth* in `heap.rs`); they merge into the free run after us.
            let top = end + (have << PAGE_SHIFT);
            if in_arena(top) || !h.grow_at(Some(top), need - have) {
                return Resize::NotInPlace;
            }
            after = span_of(end);
            if after.is_null() || (*after).state != SPAN_FREE || (*after).npages < need {
                return Resize::NotInPlace;
            }
        }
        h.take(after);
        (*after).state = SPAN_BUSY;
        if !h.trim_tail(after, need) {
            h.insert_free(after);
            return Resize::NotInPlace;
        }
        stats::locked_sub(
            &stats::HEAP_RELEASED,
            ((*after).released << PAGE_SHIFT) as u64,
        );
        stats::locked_add(&stats::HEAP_INUSE, (need << PAGE_SHIFT) as u64);
        (*s).npages = npages;
        (*s).elem_size = (*s).bytes();
        h.pool.put(after);
        set_bounds(s);
        Resize::Done
    }
}

/// Blocks at least this large move by `mremap` instead of a copy (see
/// *Moving a block*).
pub(crate) const MOVE_MIN_BYTES: usize = 1 << 20;

/// Moves the first `bytes` of live large block `from` into live large
/// block `to` by moving its pages (*Moving a block*); `from` then holds
/// fresh zero pages. Returns false, with nothing changed, when the kernel
/// refuses; the caller copies then.
///
/// # Safety
/// `from` and `to` are the caller's live large blocks, `to` at least
/// `bytes` long, `bytes` a multiple of the page size and at most `from`'s
/// length.
pub(crate) unsafe fn move_large(from: usize, to: usize, bytes: usize) -> bool {
    // SAFETY: both blocks are the caller's and nobody else touches them.
    if !unsafe { sys::move_pages(from, to, bytes) } {
        return false;
    }
    let _h = HEAP.lock();
    let s = span_of(to);
    // SAFETY: the live span of the caller's block; `remapped` is written
    // under the heap lock.
    unsafe { (*s).remapped = true };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Page counts for large objects: exact where they fit, `None` where
    /// the object plus its alignment slack would pass `isize::MAX` bytes.
    #[test]
    fn large_pages_refuses_what_cannot_exist() {
        assert_eq!(large_pages(0, 8), Some(1));
        assert_eq!(large_pages(PAGE_SIZE + 1, 8), Some(2));
        assert_eq!(large_pages(1 << 30, 1 << 30), Some((1 << 30) / PAGE_SIZE));
        assert_eq!(large_pages(100, 24), None, "not a power of two");
        let top = isize::MAX as usize;
        assert_eq!(large_pages(top, PAGE_SIZE), None, "one page past the limit");
        assert_eq!(large_pages(top - PAGE_SIZE + 1, PAGE_SIZE), Some(MAX_PAGES));
        assert_eq!(
            large_pages(top - PAGE_SIZE + 1, 2 * PAGE_SIZE),
            None,
            "slack"
        );
        assert_eq!(large_pages(1, 1 << 63), None, "slack alone");
        for k in 0..4096 {
            assert_eq!(large_pages(usize::MAX - k, 16), None, "MAX - {k}");
        }
    }
}
