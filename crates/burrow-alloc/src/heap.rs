//! `mheap`: the page allocator over 64 MiB arenas, and the arena map that
//! finds any pointer's span in O(1).
//!
//! The subsystem is three files, split by responsibility:
//!
//! - `heap.rs` (this file): the page heap — its free lists, growth by
//!   arenas placed one after another, carving and trimming spans, small
//!   spans for the mcentrals. Design: *The page heap* and *Contiguous
//!   growth* below.
//! - `heap/arena.rs`: the arena map and the per-arena side tables behind
//!   the lock-free `span_of`, and the allocation bitmaps of `DEBUG_FREE`.
//!   Design: *Arenas and the arena map* there.
//! - `heap/large.rs`: large objects — allocate, free (with the double-free
//!   check), resize in place for `realloc`, and move by `mremap`. Design:
//!   *Moving a block* there.
//!
//! Everything the rest of the crate uses is re-exported here, as
//! `heap::span_of`, `heap::alloc_large` and so on.
//!
//! # The page heap
//!
//! Free spans sit in 128 lists by exact page count plus one list of bigger
//! spans searched best-fit (TCMalloc's page heap, simpler than Go's radix
//! tree of bitmaps, which earns its keep with hundreds of GiB). Freeing
//! coalesces with free neighbours at once. Each free span remembers when it
//! was freed (`freed_at`) and how many of its pages are already returned to
//! the OS (`released`): that is what the scavenger works from.
//!
//! # Contiguous growth
//!
//! A block grown by `realloc` can stay where it is only if the pages after
//! it are free. Arenas placed wherever the kernel likes (top-down, each
//! below the last) leave a large block at the end of an arena with no room:
//! every 64 MiB of growth it was copied to a fresh arena, so growing one
//! block to 1 GiB copied 7.5 GiB and kept old and new copies resident.
//!
//! So the heap grows upward in one run of address space, as Go's does (its
//! `arenaHints` start at `0xc000000000`): the first arena is asked for at
//! [`HINT_BASE`] plus a random multiple of 1 GiB (so the heap's address is
//! not fixed), each later one right after the last (`Heap::hint`), with
//! `MAP_FIXED_NOREPLACE` so nothing already mapped is ever replaced. When
//! the hint is taken the arena goes wherever the kernel puts it and the
//! hint moves to its end. Two things follow:
//!
//! - adjacent arenas coalesce into one free span, and the kernel merges
//!   them into one mapping (one VMA);
//! - a large block, or a free span after it, that ends at the heap's top
//!   grows in place by mapping the next arenas right there
//!   ([`resize_large`] in `heap/large.rs`), so a block that keeps growing
//!   at the top is never copied.
//!
//! A block that cannot grow in place (a live span follows it) is moved
//! once, to a free run with half its size again of room after it
//! ([`alloc_large`]'s `room`), so it moves O(log n) times as it grows, not
//! once per step; a big one moves its pages rather than being copied
//! (*Moving a block* in `heap/large.rs`).

use core::ptr;
use core::sync::atomic::Ordering;

use crate::lock::SpinLock;
use crate::sizeclass::{CLASSES, PAGE_SHIFT, PAGE_SIZE, SPAN_PAGES, span_objects};
use crate::span::{
    LIST_HEAP, LIST_NONE, MSpan, SPAN_BUSY, SPAN_FREE, SPAN_LARGE, SPAN_SMALL, SpanList, SpanPool,
};
use crate::{stats, sys};

mod arena;
mod large;

use arena::{ARENA_BYTES, set_bounds, set_span};
pub(crate) use arena::{alloc_bits_word, in_arena, span_of};
pub(crate) use large::{
    MOVE_MIN_BYTES, Resize, alloc_large, free_large, is_live_large, large_pages, move_large,
    resize_large,
};

/// Spans up to this many pages have an exact-size free list.
const MAX_EXACT_PAGES: usize = 128;
/// Where the first arena is asked for: 32 TiB, far from where Linux puts
/// executables (about 85 TiB), `mmap` (below the stack, near 128 TiB) and
/// `brk`, with room above for the heap to grow (see *Contiguous growth*).
/// A random multiple of 1 GiB up to 4 TiB is added. Where the address space
/// is smaller the kernel refuses the hint and the heap goes elsewhere.
const HINT_BASE: usize = 0x2000_0000_0000;
/// The most pages one request may cover, its alignment slack included:
/// `isize::MAX` bytes, the most Rust lets one object span (C asks no less).
/// See *Sizes near the top of the address space* in `lib.rs`.
pub(crate) const MAX_PAGES: usize = isize::MAX as usize >> PAGE_SHIFT;

/// Heap state guarded by [`HEAP`].
pub(crate) struct Heap {
    free_exact: [SpanList; MAX_EXACT_PAGES + 1],
    free_large: SpanList,
    pool: SpanPool,
    /// Where the next arena is asked for: the end of the last one (see
    /// *Contiguous growth*); 0 before the first.
    hint: usize,
}

/// The page heap. Lock order: a class's mcentral lock is never held while
/// taking this one, and this one never while taking an mcentral lock.
pub(crate) static HEAP: SpinLock<Heap> = SpinLock::new(Heap {
    free_exact: [const { SpanList::new() }; MAX_EXACT_PAGES + 1],
    free_large: SpanList::new(),
    pool: SpanPool::new(),
    hint: 0,
});

impl Heap {
    fn list_for(&mut self, npages: usize) -> &mut SpanList {
        if npages <= MAX_EXACT_PAGES {
            &mut self.free_exact[npages]
        } else {
            &mut self.free_large
        }
    }

    /// Every free list, for the scavenger.
    pub(crate) fn lists(&self) -> impl Iterator<Item = &SpanList> {
        self.free_exact
            .iter()
            .chain(core::iter::once(&self.free_large))
    }

    /// Removes a free span from its list.
    ///
    /// # Safety
    /// `s` is a free span on a heap list.
    pub(crate) unsafe fn take(&mut self, s: *mut MSpan) {
        // SAFETY: the caller guarantees `s` is on the list for its size.
        unsafe {
            let n = (*s).npages;
            self.list_for(n).remove(s);
            (*s).list = LIST_NONE;
        }
    }

    /// Puts span `s` (state set by caller to free) into the free lists,
    /// merging it with free neighbours.
    ///
    /// # Safety
    /// `s` is a span of ours on no list, not reachable by anyone else.
    pub(crate) unsafe fn insert_free(&mut self, s: *mut MSpan) {
        // SAFETY: we hold the heap lock (we are `&mut Heap`); spans found
        // through the side table at our boundaries are live heap spans.
        unsafe {
            (*s).state = SPAN_FREE;
            let before = span_of((*s).base - 1);
            if !before.is_null() && before != s && (*before).state == SPAN_FREE {
                self.take(before);
                (*s).base = (*before).base;
                self.absorb(s, before);
            }
            let after = span_of((*s).base + (*s).bytes());
            if !after.is_null() && after != s && (*after).state == SPAN_FREE {
                self.take(after);
                self.absorb(s, after);
            }
            set_bounds(s);
            let n = (*s).npages;
            self.list_for(n).push(s);
            (*s).list = LIST_HEAP;
        }
    }

    /// Merges the accounting of neighbour `o` into `s` and frees `o`'s struct.
    unsafe fn absorb(&mut self, s: *mut MSpan, o: *mut MSpan) {
        // SAFETY: both are live free spans owned by the lock holder.
        unsafe {
            (*s).npages += (*o).npages;
            (*s).released += (*o).released;
            (*s).needzero |= (*o).needzero;
            (*s).freed_at = (*s).freed_at.max((*o).freed_at);
            self.pool.put(o);
        }
    }

    /// Finds a free span of at least `npages`, removing it from its list.
    fn find(&mut self, npages: usize) -> *mut MSpan {
        for n in npages..=MAX_EXACT_PAGES {
            let s = self.free_exact[n].head;
            if !s.is_null() {
                // SAFETY: `s` is on the list we just read it from.
                unsafe { self.take(s) };
                return s;
            }
        }
        let mut best: *mut MSpan = ptr::null_mut();
        let mut s = self.free_large.head;
        while !s.is_null() {
            // SAFETY: spans on our lists are live.
            unsafe {
                if (*s).npages >= npages && (best.is_null() || (*s).npages < (*best).npages) {
                    best = s;
                }
                s = (*s).next;
            }
        }
        if !best.is_null() {
            // SAFETY: `best` is on the large list.
            unsafe { self.take(best) };
        }
        best
    }

    /// Maps new arenas holding at least `npages`, at the heap's hint, and
    /// adds them as free.
    fn grow(&mut self, npages: usize) -> bool {
        self.grow_at(None, npages)
    }

    /// Maps new arenas holding at least `npages` and adds them as free:
    /// at exactly `at` (arena-aligned) if given, else at the hint or, if
    /// that is taken, wherever the kernel puts them (see *Contiguous
    /// growth*). Returns false, with nothing mapped, if it cannot.
    fn grow_at(&mut self, at: Option<usize>, npages: usize) -> bool {
        debug_assert!(at.is_none_or(|a| a % ARENA_BYTES == 0));
        let Some(bytes) = npages
            .checked_mul(PAGE_SIZE)
            .and_then(|b| b.checked_next_multiple_of(ARENA_BYTES))
        else {
            return false;
        };
        if !arena::ensure_map() {
            return false;
        }
        if self.hint == 0 {
            self.hint = first_hint();
        }
        let base = match at {
            Some(a) if sys::map_at(a, bytes) => a,
            Some(_) => return false,
            None if sys::map_at(self.hint, bytes) => self.hint,
            None => sys::map_aligned(bytes, ARENA_BYTES) as usize,
        };
        if base == 0 {
            return false;
        }
        if at.is_none() || at == Some(self.hint) {
            self.hint = base + bytes;
        }
        // On failure the range goes back to the OS, so a request the OS
        // cannot back in full leaks no address space, and the map entries
        // made for it are cleared again (an arena in the map is ours for
        // good: see `in_arena`). The side tables themselves stay mapped: a
        // lock-free `span_of` may be reading one (see `arena::register`).
        let give_back = || {
            // SAFETY: we just mapped it and no span covers it.
            unsafe { libc::munmap(base as *mut libc::c_void, bytes) };
            false
        };
        if !arena::register(base, bytes) {
            return give_back();
        }
        let s = self.pool.get();
        if s.is_null() {
            arena::unregister(base, bytes);
            return give_back();
        }
        // SAFETY: `s` is a fresh struct; the range is ours and untouched.
        unsafe {
            (*s).base = base;
            (*s).npages = bytes >> PAGE_SHIFT;
            // Fresh pages are not resident and read as zero.
            (*s).released = (*s).npages;
            (*s).needzero = false;
            (*s).freed_at = 0;
            self.insert_free(s);
        }
        stats::locked_add(&stats::HEAP_SYS, bytes as u64);
        stats::locked_add(&stats::HEAP_RELEASED, bytes as u64);
        true
    }

    /// Splits the first `npages` off free span `s` (on no list); the rest
    /// goes back to the free lists. Returns false if out of span structs.
    unsafe fn trim_tail(&mut self, s: *mut MSpan, npages: usize) -> bool {
        // SAFETY: `s` is ours under the lock; the new struct covers its tail.
        unsafe {
            let extra = (*s).npages - npages;
            if extra == 0 {
                return true;
            }
            let t = self.pool.get();
            if t.is_null() {
                return false;
            }
            (*t).base = (*s).base + (npages << PAGE_SHIFT);
            (*t).npages = extra;
            (*t).needzero = (*s).needzero;
            (*t).freed_at = (*s).freed_at;
            // Attribute released pages to the tail first (an estimate: which
            // pages are released is not tracked per page).
            (*t).released = (*s).released.min(extra);
            (*s).released -= (*t).released;
            (*s).npages = npages;
            // Our new last page must name us before the tail looks for its
            // neighbours (interior entries are stale).
            set_bounds(s);
            self.insert_free(t);
            true
        }
    }

    /// Allocates `npages` pages aligned to `align` bytes (a power of two),
    /// from a free run with `room` more free pages after them when the
    /// heap has one or can grow by one (those stay free, for the block to
    /// grow into: see *Contiguous growth*).
    fn alloc_pages(&mut self, npages: usize, align: usize, room: usize) -> *mut MSpan {
        let extra = align_slack_pages(align);
        let Some(want) = npages.checked_add(extra).filter(|&w| w <= MAX_PAGES) else {
            return ptr::null_mut();
        };
        let mut s = ptr::null_mut();
        if let Some(roomy) = want
            .checked_add(room)
            .filter(|&w| room > 0 && w <= MAX_PAGES)
        {
            s = self.find(roomy);
            if s.is_null() && self.grow(roomy) {
                s = self.find(roomy);
            }
        }
        if s.is_null() {
            s = self.find(want);
        }
        if s.is_null() {
            if !self.grow(want) {
                return ptr::null_mut();
            }
            s = self.find(want);
            if s.is_null() {
                return ptr::null_mut();
            }
        }
        // SAFETY: `s` is a free span we removed from the lists.
        unsafe {
            (*s).state = SPAN_BUSY;
            if extra > 0 {
                let aligned = (*s).base.next_multiple_of(align);
                let head = (aligned - (*s).base) >> PAGE_SHIFT;
                if head > 0 {
                    let h = self.pool.get();
                    if h.is_null() {
                        self.insert_free(s);
                        return ptr::null_mut();
                    }
                    (*h).base = (*s).base;
                    (*h).npages = head;
                    (*h).needzero = (*s).needzero;
                    (*h).freed_at = (*s).freed_at;
                    (*h).released = (*s).released.min(head);
                    (*s).released -= (*h).released;
                    (*s).base = aligned;
                    (*s).npages -= head;
                    set_bounds(s);
                    self.insert_free(h);
                }
            }
            if !self.trim_tail(s, npages) {
                self.insert_free(s);
                return ptr::null_mut();
            }
            stats::locked_sub(&stats::HEAP_RELEASED, ((*s).released << PAGE_SHIFT) as u64);
            stats::locked_add(&stats::HEAP_INUSE, ((*s).npages << PAGE_SHIFT) as u64);
            (*s).released = 0;
        }
        s
    }

    /// Bytes mapped for metadata.
    pub(crate) fn meta_bytes(&self) -> u64 {
        arena::META_BYTES.load(Ordering::Relaxed) + self.pool.mapped as u64
    }
}

/// Allocates a span for size class `class`, carved lazily by its owner.
pub(crate) fn alloc_small_span(class: usize) -> *mut MSpan {
    let sc = CLASSES[class];
    let npages = SPAN_PAGES[class];
    let nelems = span_objects(class);
    let s = {
        let mut h = HEAP.lock();
        stats::locked_add(&stats::SMALL_SPAN_TRIPS, 1);
        let s = h.alloc_pages(npages, PAGE_SIZE, 0);
        if !s.is_null() {
            // SAFETY: the span is ours alone until we publish an object from
            // it; we hold the heap lock for the side table.
            unsafe {
                (*s).state = SPAN_SMALL;
                (*s).class = class as u8;
                (*s).elem_size = sc.size;
                (*s).nelems = nelems;
                (*s).bump = (*s).base;
                (*s).limit = (*s).base + nelems * sc.size;
                (*s).target.store(0, Ordering::Relaxed);
                (*s).remote.store(0, Ordering::Relaxed);
                (*s).list = LIST_NONE;
                for i in 0..npages {
                    set_span((*s).base + (i << PAGE_SHIFT), s);
                }
            }
        }
        s
    };
    crate::scavenger::tick();
    s
}

/// The first arena's address: [`HINT_BASE`] plus a random multiple of
/// 1 GiB below 4 TiB, from the clock and this stack's address (which ASLR
/// randomises): not secret, just not the same in every process.
fn first_hint() -> usize {
    let local = 0u8;
    let mut x = sys::now_ns() ^ (core::ptr::addr_of!(local) as u64).rotate_left(32);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    HINT_BASE + ((x as usize & 0xfff) << 30)
}

/// Pages a search must find to place `npages` pages at alignment `align`
/// (a power of two): the alignment's worth of pages beyond the first.
fn align_slack_pages(align: usize) -> usize {
    if align > PAGE_SIZE {
        (align >> PAGE_SHIFT) - 1
    } else {
        0
    }
}

/// Returns small span `s` (in use, on no list) to the page heap.
///
/// # Safety
/// No object of `s` is live and nothing else refers to it.
pub(crate) unsafe fn free_span(s: *mut MSpan) {
    {
        let mut h = HEAP.lock();
        stats::locked_add(&stats::SMALL_SPAN_TRIPS, 1);
        // SAFETY: the caller gives `s` up; we hold the heap lock.
        unsafe { h.release_span(s) };
    }
    crate::scavenger::tick();
}

impl Heap {
    /// Puts in-use span `s` back into the free lists.
    ///
    /// `class` becomes 0, so a late free of an object of a small span that
    /// went back to the heap takes the large path and is caught there (see
    /// *Double frees* in `lib.rs`).
    ///
    /// # Safety
    /// We hold the heap lock; no object of `s` is live and nothing else
    /// refers to it.
    unsafe fn release_span(&mut self, s: *mut MSpan) {
        // SAFETY: the caller gives `s` up under the heap lock.
        unsafe {
            debug_assert!((*s).state == SPAN_SMALL || (*s).state == SPAN_LARGE);
            stats::locked_sub(&stats::HEAP_INUSE, (*s).bytes() as u64);
            (*s).owner.store(0, Ordering::Relaxed);
            (*s).remote.store(0, Ordering::Relaxed);
            (*s).class = 0;
            (*s).needzero = true;
            (*s).released = 0;
            (*s).freed_at = sys::now_ns();
            self.insert_free(s);
        }
    }
}

/// Bytes mapped for allocator metadata.
pub(crate) fn meta_sys() -> u64 {
    HEAP.lock().meta_bytes()
}
