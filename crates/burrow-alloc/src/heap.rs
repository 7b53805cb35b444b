//! `mheap`: the page allocator over 64 MiB arenas, and the arena map that
//! finds any pointer's span in O(1).
//!
//! # Arenas and the arena map
//!
//! The heap grows by *arenas*: 64 MiB of address space mapped with
//! `MAP_NORESERVE` and aligned to 64 MiB (Go's `heapArenaBytes` on 64-bit
//! Linux). Each arena has a `HeapArena` side table with one span pointer
//! per 8 KiB page. The *arena map* is a flat array indexed by `addr >> 26`
//! covering the 48-bit address space (4 Mi entries, 32 MiB of address space
//! reserved, of which only the pages holding used entries are ever touched).
//! So `span_of(p)` is two dependent loads: map entry, then page entry — no
//! lock, no search. Go uses the same two-level shape (`mheap_.arenas`).
//!
//! Which page entries are valid: every page of a small span (a pointer into
//! any object must find it); the first and last page of a large span and of
//! a free span (frees pass the object start; coalescing looks at the page
//! just before and just after a span). Interior entries of free and large
//! spans are stale and never read.
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
//!   (`resize_large`), so a block that keeps growing at the top is never
//!   copied.
//!
//! A block that cannot grow in place (a live span follows it) is moved
//! once, to a free run with half its size again of room after it
//! ([`alloc_large`]'s `room`), so it moves O(log n) times as it grows, not
//! once per step.
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
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::lock::SpinLock;
use crate::sizeclass::{CLASSES, PAGE_SHIFT, PAGE_SIZE, SPAN_PAGES, span_objects};
use crate::span::{
    LIST_HEAP, LIST_NONE, MSpan, SPAN_BUSY, SPAN_FREE, SPAN_LARGE, SPAN_SMALL, SpanList, SpanPool,
};
use crate::{stats, sys};

/// log2 of the arena size.
pub(crate) const ARENA_SHIFT: usize = 26;
/// Bytes per arena (64 MiB).
pub(crate) const ARENA_BYTES: usize = 1 << ARENA_SHIFT;
const PAGES_PER_ARENA: usize = ARENA_BYTES / PAGE_SIZE;
/// Arena map entries: the 48-bit address space in 64 MiB arenas.
const ARENA_MAP_LEN: usize = 1 << (48 - ARENA_SHIFT);
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

/// Per-arena side table: the span of every page (Go's `heapArena.spans`).
struct HeapArena {
    spans: [AtomicPtr<MSpan>; PAGES_PER_ARENA],
    /// With [`DEBUG_FREE`](crate::debug_free::DEBUG_FREE): one bit per
    /// 8 bytes of the arena, set while a small object starts there (see
    /// `debug_free.rs`); null otherwise. Written before the table is
    /// published, never changed after.
    alloc_bits: AtomicPtr<AtomicU64>,
}

/// Bytes of an arena's allocation bitmap (one bit per 8 bytes).
pub(crate) const ALLOC_BITS_BYTES: usize = ARENA_BYTES / 8 / 8;

type ArenaMap = [AtomicPtr<HeapArena>; ARENA_MAP_LEN];

/// The arena map; null until the first arena is made. Release store under
/// the heap lock in `grow`, Acquire loads in `span_of`.
static ARENA_MAP: AtomicPtr<ArenaMap> = AtomicPtr::new(ptr::null_mut());

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

/// Bytes of metadata mapped: arena map, side tables (span structs are
/// counted by the pool).
static META_BYTES: AtomicU64 = AtomicU64::new(0);

/// The span holding `addr`, or null when `addr` is not in our heap.
#[inline(always)]
pub(crate) fn span_of(addr: usize) -> *mut MSpan {
    // Acquire: pairs with the Release store of the map in `grow`.
    let map = ARENA_MAP.load(Ordering::Acquire);
    let ai = addr >> ARENA_SHIFT;
    if map.is_null() || ai >= ARENA_MAP_LEN {
        return ptr::null_mut();
    }
    // SAFETY: the map is live forever once made and `ai` is in bounds.
    let arena = unsafe { (*map).get_unchecked(ai) }.load(Ordering::Acquire); // pairs with `grow`
    if arena.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: side tables live forever; the index is masked into bounds.
    unsafe {
        (*arena)
            .spans
            .get_unchecked((addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1))
            .load(Ordering::Relaxed)
    }
    // Relaxed: whoever passes us a pointer into a span got it through the
    // allocation that followed the entry's write under the heap lock.
}

/// Whether `addr` lies in an arena of ours (whether or not a span covers
/// it): a pointer there that no span claims is no block of ours, yet no
/// other allocator's either.
pub(crate) fn in_arena(addr: usize) -> bool {
    // Acquire: pairs with the Release store of the map in `grow`.
    let map = ARENA_MAP.load(Ordering::Acquire);
    let ai = addr >> ARENA_SHIFT;
    // SAFETY: the map is live forever once made and `ai` is in bounds.
    !map.is_null()
        && ai < ARENA_MAP_LEN
        && !unsafe { (*map).get_unchecked(ai) }
            .load(Ordering::Relaxed) // only compared with null
            .is_null()
}

/// The word of the allocation bitmap holding `addr`'s bit, or null (no
/// bitmap: `DEBUG_FREE` off, or not our arena).
pub(crate) fn alloc_bits_word(addr: usize) -> *const AtomicU64 {
    // Acquire: pairs with the Release store of the map in `grow`.
    let map = ARENA_MAP.load(Ordering::Acquire);
    let ai = addr >> ARENA_SHIFT;
    if map.is_null() || ai >= ARENA_MAP_LEN {
        return ptr::null();
    }
    // SAFETY: the map is live forever once made and `ai` is in bounds.
    let arena = unsafe { (*map).get_unchecked(ai) }.load(Ordering::Acquire); // pairs with `grow`
    if arena.is_null() {
        return ptr::null();
    }
    // SAFETY: side tables live forever; `alloc_bits` was written before the
    // table was published (the Acquire above).
    let bits = unsafe { (*arena).alloc_bits.load(Ordering::Relaxed) };
    if bits.is_null() {
        return ptr::null();
    }
    // SAFETY: the bitmap covers the arena, one bit per 8 bytes.
    unsafe { bits.add((addr & (ARENA_BYTES - 1)) >> 9) }
}

/// Records `s` as the span of the page holding `addr`.
fn set_span(addr: usize, s: *mut MSpan) {
    let map = ARENA_MAP.load(Ordering::Relaxed); // we hold the heap lock, which made it
    // SAFETY: `addr` is in an arena of ours, so the map and its entry exist.
    unsafe {
        let arena = (*map)[addr >> ARENA_SHIFT].load(Ordering::Relaxed);
        (*arena).spans[(addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)].store(s, Ordering::Relaxed);
    }
}

/// Records `s` for its first and last pages (free and large spans).
fn set_bounds(s: *mut MSpan) {
    // SAFETY: the caller holds the heap lock and `s` is live.
    let (base, n) = unsafe { ((*s).base, (*s).npages) };
    set_span(base, s);
    set_span(base + ((n - 1) << PAGE_SHIFT), s);
}

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
        let mut map = ARENA_MAP.load(Ordering::Relaxed); // only written under our lock
        if map.is_null() {
            let m = sys::map(core::mem::size_of::<ArenaMap>());
            if m.is_null() {
                return false;
            }
            META_BYTES.fetch_add(core::mem::size_of::<ArenaMap>() as u64, Ordering::Relaxed);
            map = m.cast();
            // Release: pairs with the Acquire load in `span_of`.
            ARENA_MAP.store(map, Ordering::Release);
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
        // lock-free `span_of` may be reading one.
        let give_back = |upto: usize| {
            let mut a = base;
            while a < upto {
                // SAFETY: the map is live; these entries are ours, made below.
                unsafe { (*map)[a >> ARENA_SHIFT].store(ptr::null_mut(), Ordering::Relaxed) };
                a += ARENA_BYTES;
            }
            // SAFETY: we just mapped it and no span covers it.
            unsafe { libc::munmap(base as *mut libc::c_void, bytes) };
            false
        };
        if (base + bytes - 1) >> ARENA_SHIFT >= ARENA_MAP_LEN {
            return give_back(base);
        }
        let mut a = base;
        while a < base + bytes {
            let Some(t) = new_side_table() else {
                return give_back(a);
            };
            // SAFETY: the map is live; index checked above.
            // Release: pairs with the Acquire load in `span_of`.
            unsafe { (*map)[a >> ARENA_SHIFT].store(t, Ordering::Release) };
            a += ARENA_BYTES;
        }
        let s = self.pool.get();
        if s.is_null() {
            return give_back(base + bytes);
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
        stats::HEAP_SYS.fetch_add(bytes as u64, Ordering::Relaxed);
        stats::HEAP_RELEASED.fetch_add(bytes as u64, Ordering::Relaxed);
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
            stats::HEAP_RELEASED.fetch_sub(((*s).released << PAGE_SHIFT) as u64, Ordering::Relaxed);
            stats::HEAP_INUSE.fetch_add(((*s).npages << PAGE_SHIFT) as u64, Ordering::Relaxed);
            (*s).released = 0;
        }
        s
    }

    /// Bytes mapped for metadata.
    pub(crate) fn meta_bytes(&self) -> u64 {
        META_BYTES.load(Ordering::Relaxed) + self.pool.mapped as u64
    }
}

/// Allocates a span for size class `class`, carved lazily by its owner.
pub(crate) fn alloc_small_span(class: usize) -> *mut MSpan {
    let sc = CLASSES[class];
    let npages = SPAN_PAGES[class];
    let nelems = span_objects(class);
    let s = {
        let mut h = HEAP.lock();
        stats::SMALL_SPAN_TRIPS.fetch_add(1, Ordering::Relaxed);
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

/// Maps a side table (and, with `DEBUG_FREE`, its allocation bitmap).
fn new_side_table() -> Option<*mut HeapArena> {
    let t = sys::map(core::mem::size_of::<HeapArena>()).cast::<HeapArena>();
    if t.is_null() {
        return None;
    }
    let mut meta = core::mem::size_of::<HeapArena>();
    if crate::debug_free::DEBUG_FREE {
        let bits = sys::map(ALLOC_BITS_BYTES);
        if bits.is_null() {
            // SAFETY: just mapped, unpublished.
            unsafe { libc::munmap(t.cast(), core::mem::size_of::<HeapArena>()) };
            return None;
        }
        meta += ALLOC_BITS_BYTES;
        // SAFETY: a fresh table, not yet published (the Release store of
        // its address publishes this too).
        unsafe { (*t).alloc_bits.store(bits.cast(), Ordering::Relaxed) };
    }
    META_BYTES.fetch_add(meta as u64, Ordering::Relaxed);
    Some(t)
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
            }
        }
        s
    };
    crate::scavenger::tick();
    s
}

/// Returns small span `s` (in use, on no list) to the page heap.
///
/// # Safety
/// No object of `s` is live and nothing else refers to it.
pub(crate) unsafe fn free_span(s: *mut MSpan) {
    {
        let mut h = HEAP.lock();
        stats::SMALL_SPAN_TRIPS.fetch_add(1, Ordering::Relaxed);
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
            stats::HEAP_INUSE.fetch_sub((*s).bytes() as u64, Ordering::Relaxed);
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
/// there (see *Contiguous growth*).
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
                stats::HEAP_INUSE
                    .fetch_sub(((old - npages) << PAGE_SHIFT) as u64, Ordering::Relaxed);
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
            // growth*); they merge into the free run after us.
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
        stats::HEAP_RELEASED.fetch_sub(((*after).released << PAGE_SHIFT) as u64, Ordering::Relaxed);
        stats::HEAP_INUSE.fetch_add((need << PAGE_SHIFT) as u64, Ordering::Relaxed);
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

/// Bytes mapped for allocator metadata.
pub(crate) fn meta_sys() -> u64 {
    HEAP.lock().meta_bytes()
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
