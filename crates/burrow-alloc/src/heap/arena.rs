//! The arena map: which 64 MiB arenas are ours and, through each arena's
//! side table, the span of every page, so `span_of(p)` finds any pointer's
//! span in O(1) without a lock. Also the arena's allocation bitmap for
//! `debug_free.rs`, and the bookkeeping that makes and publishes side
//! tables when the page heap (`heap.rs`) maps new arenas.
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
//! Who writes what: the map pointer, its entries and the page entries are
//! written only under the heap lock ([`HEAP`](super::HEAP)); the map and
//! the side tables are never unmapped, so lock-free readers may load them
//! at any time.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::MSpan;
use crate::sys;

/// log2 of the arena size.
pub(crate) const ARENA_SHIFT: usize = 26;
/// Bytes per arena (64 MiB).
pub(crate) const ARENA_BYTES: usize = 1 << ARENA_SHIFT;
const PAGES_PER_ARENA: usize = ARENA_BYTES / PAGE_SIZE;
/// Arena map entries: the 48-bit address space in 64 MiB arenas.
const ARENA_MAP_LEN: usize = 1 << (48 - ARENA_SHIFT);

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
/// the heap lock in `ensure_map`, Acquire loads in `span_of`.
static ARENA_MAP: AtomicPtr<ArenaMap> = AtomicPtr::new(ptr::null_mut());

/// Bytes of metadata mapped: arena map, side tables (span structs are
/// counted by the pool). Read by `Heap::meta_bytes`.
pub(super) static META_BYTES: AtomicU64 = AtomicU64::new(0);

/// The span holding `addr`, or null when `addr` is not in our heap.
#[inline(always)]
pub(crate) fn span_of(addr: usize) -> *mut MSpan {
    // Acquire: pairs with the Release store of the map in `ensure_map`.
    let map = ARENA_MAP.load(Ordering::Acquire);
    let ai = addr >> ARENA_SHIFT;
    if map.is_null() || ai >= ARENA_MAP_LEN {
        return ptr::null_mut();
    }
    // SAFETY: the map is live forever once made and `ai` is in bounds.
    let arena = unsafe { (*map).get_unchecked(ai) }.load(Ordering::Acquire); // pairs with `register`
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
    // Acquire: pairs with the Release store of the map in `ensure_map`.
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
    // Acquire: pairs with the Release store of the map in `ensure_map`.
    let map = ARENA_MAP.load(Ordering::Acquire);
    let ai = addr >> ARENA_SHIFT;
    if map.is_null() || ai >= ARENA_MAP_LEN {
        return ptr::null();
    }
    // SAFETY: the map is live forever once made and `ai` is in bounds.
    let arena = unsafe { (*map).get_unchecked(ai) }.load(Ordering::Acquire); // pairs with `register`
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
pub(super) fn set_span(addr: usize, s: *mut MSpan) {
    let map = ARENA_MAP.load(Ordering::Relaxed); // we hold the heap lock, which made it
    // SAFETY: `addr` is in an arena of ours, so the map and its entry exist.
    unsafe {
        let arena = (*map)[addr >> ARENA_SHIFT].load(Ordering::Relaxed);
        (*arena).spans[(addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)].store(s, Ordering::Relaxed);
    }
}

/// Records `s` for its first and last pages (free and large spans).
pub(super) fn set_bounds(s: *mut MSpan) {
    // SAFETY: the caller holds the heap lock and `s` is live.
    let (base, n) = unsafe { ((*s).base, (*s).npages) };
    set_span(base, s);
    set_span(base + ((n - 1) << PAGE_SHIFT), s);
}

/// Makes the arena map if there is none yet; false if it cannot be mapped.
/// The caller holds the heap lock (`Heap::grow_at`, before it maps arenas).
pub(super) fn ensure_map() -> bool {
    if !ARENA_MAP.load(Ordering::Relaxed).is_null() {
        return true; // only written under the heap lock, which we hold
    }
    let m = sys::map(core::mem::size_of::<ArenaMap>());
    if m.is_null() {
        return false;
    }
    META_BYTES.fetch_add(core::mem::size_of::<ArenaMap>() as u64, Ordering::Relaxed);
    // Release: pairs with the Acquire loads in `span_of`, `in_arena` and
    // `alloc_bits_word`.
    ARENA_MAP.store(m.cast(), Ordering::Release);
    true
}

/// Gives each arena of the freshly mapped range `base..base + bytes`
/// (arena-aligned, no span on it yet) a side table and enters it in the
/// arena map. Returns false, with no entry left made, when the range lies
/// past the map or a side table cannot be mapped; the tables already made
/// stay mapped (a lock-free `span_of` may be reading one). The caller holds
/// the heap lock and has made the map (`ensure_map`).
pub(super) fn register(base: usize, bytes: usize) -> bool {
    if (base + bytes - 1) >> ARENA_SHIFT >= ARENA_MAP_LEN {
        return false;
    }
    let map = ARENA_MAP.load(Ordering::Relaxed); // only written under our lock
    let mut a = base;
    while a < base + bytes {
        let Some(t) = new_side_table() else {
            unregister(base, a - base);
            return false;
        };
        // SAFETY: the map is live; index checked above.
        // Release: pairs with the Acquire load in `span_of`.
        unsafe { (*map)[a >> ARENA_SHIFT].store(t, Ordering::Release) };
        a += ARENA_BYTES;
    }
    true
}

/// Clears the map entries `register` made for `base..base + bytes`, whose
/// range goes back to the OS (an arena in the map is ours for good: see
/// `in_arena`). The caller holds the heap lock.
pub(super) fn unregister(base: usize, bytes: usize) {
    let map = ARENA_MAP.load(Ordering::Relaxed); // only written under our lock
    let mut a = base;
    while a < base + bytes {
        // SAFETY: the map is live; these entries are ours, made by `register`.
        unsafe { (*map)[a >> ARENA_SHIFT].store(ptr::null_mut(), Ordering::Relaxed) };
        a += ARENA_BYTES;
    }
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
