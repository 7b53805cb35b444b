//! Go's size-class allocator — mcache → mcentral → mheap — for explicit
//! `alloc`/`free`, usable as any Rust program's `#[global_allocator]` and,
//! through `burrow-malloc`, as C `malloc`.
//!
//! # The problem
//!
//! A runtime with a million goroutines allocates constantly from every
//! thread: small objects, many sizes, often freed by another thread than the
//! one that made them (a message passed over a channel). A general-purpose
//! allocator must make the common case — a small allocation and its free on
//! the same thread — a handful of instructions with no lock, keep
//! fragmentation bounded, and give memory back to the OS after a burst.
//!
//! # Go's design (runtime/malloc.go, seed `004_*`)
//!
//! Go's allocator descends from TCMalloc. Sizes up to 32 KiB are rounded up
//! to one of ~68 *size classes*; each class is served from *spans*, runs of
//! 8 KiB pages cut into equal objects. Each P has an `mcache` holding one
//! span per class, from which it allocates without locks. When that span is
//! full the mcache swaps it at the class's `mcentral` (a locked pool of
//! partial spans). mcentrals get spans from the `mheap`, a page allocator
//! over 64 MiB arenas, which gets memory from the OS. Large objects (> 32
//! KiB) take pages straight from the mheap. Objects under 16 bytes without
//! pointers are packed together by a *tiny allocator*. The GC finds free
//! objects by *sweeping* spans, and a background *scavenger* returns idle
//! pages to the OS.
//!
//! # Ours
//!
//! The same layers and vocabulary (`sizeclass.rs`, `mcache.rs`,
//! `central.rs`, `heap.rs`, `span.rs`), with the changes explicit frees
//! force:
//!
//! - **Free lists instead of sweeping.** Without a GC nobody sweeps; a free
//!   puts the object back at once. Each span's free objects form an
//!   intrusive list; the mcache keeps the list of its current span per class,
//!   so allocation is a pop and a same-thread free a push.
//! - **Remote frees.** A free from a thread that does not own the span is one
//!   CAS onto the span's atomic *remote list* (mimalloc's idea); the owner
//!   collects the whole list with one swap when its local list runs dry. The
//!   remote word also carries the object count and the span's state, so the
//!   free that empties an unowned span — exactly one — returns it to the
//!   heap, and the first free into a full span moves it where allocators
//!   look. See *The remote word* in `span.rs`. No lock on any fast path.
//! - **Per thread, not per P.** Go's mcache is per P; a Rust allocator has
//!   no Ps, so the mcache is a const-initialised `thread_local!` without a
//!   destructor, and a `pthread_key_create` destructor hands the spans back
//!   when the thread exits (see *Thread lifecycle* in `mcache.rs`).
//! - **No tiny allocator.** Go packs tiny pointer-free objects into 16-byte
//!   blocks freed together by the GC; with explicit frees a block could be
//!   reused only when all its pieces are freed, which needs a count per
//!   block. The 8-byte class covers most of that ground; we have not
//!   measured a case that would pay for the tiny allocator.
//! - **Page heap.** Exact-size free lists up to 128 pages plus best fit
//!   above (TCMalloc's), with immediate coalescing, instead of Go's radix
//!   tree of page bitmaps, which pays off at much larger heaps.
//! - **Scavenger by decay.** Free spans idle longer than a decay (default
//!   1 s) are returned with `MADV_DONTNEED`, inline at heap slow paths and
//!   from a background thread, on by default once the heap holds a few
//!   MiB, so an idle program's RSS falls too (*Background by default* in
//!   `scavenger.rs`; `BURROW_ALLOC_SCAVENGER=0` turns the thread off).
//!
//! Alignment: every object of a class whose size is a multiple of `A` is
//! `A`-aligned (spans start on page boundaries), so an aligned request picks
//! the first such class (`sizeclass::class_for`); alignments above a page
//! take whole pages aligned by the page heap.
//!
//! # Sizes near the top of the address space
//!
//! A request that cannot be met returns null, never a smaller block. The
//! danger is arithmetic that wraps: rounding `usize::MAX - 3` up to a
//! 16-byte alignment wraps to 0 in a release build, and a size class picked
//! for 0 bytes is a 16-byte block that the caller believes holds 2^64 − 4
//! (C's `calloc(1, SIZE_MAX)` then zeroes past it). So every computation on
//! a caller's size or alignment is checked arithmetic written out
//! (`checked_*`, never a bare `+` or `next_multiple_of`), which behaves the
//! same in debug and release builds, and:
//!
//! - no object exceeds `isize::MAX` bytes, its alignment slack included
//!   (Rust's limit for one object; `heap::large_pages`, `heap::MAX_PAGES`);
//! - a size class is chosen only after the rounded size is known to fit
//!   (`sizeclass::class_for`); anything else takes the page path, which
//!   refuses what no page run can hold;
//! - `reallocate` refuses sizes above `isize::MAX` before looking at the
//!   block, and leaves it untouched;
//! - `burrow-malloc` checks products (`calloc`, `reallocarray`) and its own
//!   roundings (`pvalloc`, `memalign`) before calling in.
//!
//! `tests/size_edges.rs` walks `usize::MAX - k` for k below 4096 through
//! every entry point and alignment; `burrow-malloc`'s `tests/c/edges.c`
//! does the same for the C API under `LD_PRELOAD`.
//!
//! # Double frees
//!
//! A double free of a large block used to put its span into the page
//! heap's free lists twice; the lists became a cycle and the next search
//! (`heap::find`) spun forever. Now a bad free aborts with
//! `burrow-alloc: double free or invalid pointer 0x… (free)` (or
//! `(realloc)`), written with a raw `write(2)` and followed by `abort()`:
//! no allocation, no unwinding out of `extern "C"` callers
//! (`sys::bad_pointer`). What is checked:
//!
//! - **Large blocks, always.** Their free takes the heap lock anyway, and
//!   under it the span tells the truth: every span's `state` and `base`
//!   are written under that lock, so "the side table names a span that is
//!   `SPAN_LARGE` and starts at `p`" holds exactly for a live large block
//!   (`heap::free_large`, `heap::resize_large`). A freed block's span is
//!   `SPAN_FREE`, merged into a neighbour, or reused at another base; a
//!   pointer into a block's middle finds a span with another base.
//! - **Pointers in our arenas that no span claims, always** (`no_span`):
//!   an interior page of a large block whose side-table entry was never
//!   written. Pointers outside our arenas are still ignored: under
//!   `LD_PRELOAD` a program may free memory the loader got before us.
//! - **Small objects, cheaply, on the span path**: the pointer must lie
//!   inside the span its page names (a stale entry left by an earlier
//!   span fails), and a span given back to the heap has class 0, so a late
//!   free of one of its objects takes the large path and is caught there.
//!   An unsized free (`deallocate`, C's `free`) always takes it; a sized
//!   `GlobalAlloc` free of a small block goes to its thread's bin without
//!   looking at the span (*Bins* in `mcache/bins.rs`), so a Rust
//!   program's small double free is caught only with `debug-free`.
//! - **Small double frees, with the `debug-free` feature**: an allocation
//!   bitmap per arena, set by `allocate` and cleared by the free, which
//!   aborts on a clear bit or a pointer that does not start an object
//!   (`debug_free.rs`). Without it a small double free goes undetected;
//!   finding it would mean walking free lists that other threads push to.
//!
//! No allocator catches a free whose address was handed out again in
//! between (glibc neither): that free looks like the new block's.
//! `tests/double_free.rs` runs each bad free in a child process and
//! asserts death by `SIGABRT` with the message, within a time limit;
//! `burrow-malloc`'s `tests/c/double_free.c` does the same under
//! `LD_PRELOAD`.
//!
//! # Using it
//!
//! ```
//! use burrow_alloc::BurrowAlloc;
//!
//! #[global_allocator]
//! static GLOBAL: BurrowAlloc = BurrowAlloc::new();
//!
//! let v: Vec<u64> = (0..1000).collect();
//! assert_eq!(v.iter().sum::<u64>(), 499_500);
//! let s = burrow_alloc::stats();
//! assert!(s.heap_inuse > 0);
//! ```

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::time::Duration;

mod central;
mod debug_free;
mod fork;
mod heap;
mod lock;
mod mcache;
mod scavenger;
pub mod sizeclass;
mod span;
mod stats;
mod sys;

pub use sizeclass::{MAX_SMALL_SIZE, NUM_CLASSES, PAGE_SIZE};
pub use stats::{ClassStats, MemStats};
pub use sys::fatal;

use debug_free::DEBUG_FREE;
use sizeclass::{class_for, class_for_8};

/// The allocator as a Rust [`GlobalAlloc`].
///
/// All instances share one process-wide heap. [`BurrowAlloc::new`] starts
/// the background scavenger once the heap holds a few MiB, so memory
/// returns to the OS after a burst even if the program then stops
/// allocating (`BURROW_ALLOC_SCAVENGER=0` turns that off for the process);
/// [`BurrowAlloc::without_background_scavenger`] only scavenges inline.
#[derive(Clone, Copy, Debug)]
pub struct BurrowAlloc {
    background_scavenger: bool,
}

impl BurrowAlloc {
    /// The allocator with a background scavenger (Go's behaviour).
    pub const fn new() -> BurrowAlloc {
        BurrowAlloc {
            background_scavenger: true,
        }
    }

    /// The allocator without a background thread: idle pages are released
    /// only at the heap's slow paths or by [`scavenge`].
    pub const fn without_background_scavenger() -> BurrowAlloc {
        BurrowAlloc {
            background_scavenger: false,
        }
    }
}

impl Default for BurrowAlloc {
    fn default() -> Self {
        BurrowAlloc::new()
    }
}

// SAFETY: `allocate` returns blocks of at least `layout.size()` bytes aligned
// to `layout.align()`, disjoint from every other live block, and
// `deallocate`/`reallocate` accept exactly the blocks it returned.
unsafe impl GlobalAlloc for BurrowAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocate_with(layout.size(), layout.align(), self.background_scavenger)
    }

    /// A sized free: the layout names the block's class (the one `alloc`
    /// chose for it, kept by `realloc`), so a small block goes to this
    /// thread's bin without a span lookup (*Bins* in `mcache/bins.rs`).
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // Only the common alignments take the sized path inline (over-
        // aligned layouts would inline `class_for`'s search here).
        if !DEBUG_FREE
            && layout.align() <= 8
            && let Some(c) = class_for_8(layout.size())
        {
            // SAFETY: GlobalAlloc's contract: `p` came from `alloc` (or
            // `realloc`) with this layout, so `c` is the class `alloc`
            // chose (`class_for` with this alignment), and `p` is live.
            unsafe { mcache::free_class(c, p) };
            return;
        }
        // SAFETY: GlobalAlloc's contract: `p` came from `alloc` and is live.
        unsafe { deallocate_unsized(p) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocate_zeroed_with(layout.size(), layout.align(), self.background_scavenger)
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `p` is live with this layout.
        unsafe { reallocate_with(p, layout.align(), new_size, self.background_scavenger, true) }
    }
}

/// Allocates `size` bytes aligned to `align` (a power of two); null when the
/// OS refuses memory. `size` 0 gives a unique minimal block.
///
/// A slow path may start the background scavenger once the heap is big
/// enough, unless [`set_background_scavenger`] or
/// `BURROW_ALLOC_SCAVENGER=0` turned it off (see *Background by default*
/// in `scavenger.rs`).
#[inline]
pub fn allocate(size: usize, align: usize) -> *mut u8 {
    allocate_with(size, align, true)
}

/// [`allocate`]; `bg` false never starts the background scavenger
/// ([`BurrowAlloc::without_background_scavenger`]).
#[inline]
fn allocate_with(size: usize, align: usize, bg: bool) -> *mut u8 {
    match class_for(size, align) {
        Some(c) => {
            // SAFETY: class_for returns classes in 1..NUM_CLASSES.
            let p = unsafe { mcache::alloc_small(c, bg) };
            if DEBUG_FREE && !p.is_null() {
                debug_free::on_alloc(p);
            }
            p
        }
        None => alloc_large(size, align, bg, false),
    }
}

/// A large block of `size` bytes; with `roomy` (a `realloc` that must
/// move), placed where half its size again is free after it, so it can go
/// on growing in place (see *Contiguous growth* in `heap.rs`).
#[cold]
fn alloc_large(size: usize, align: usize, bg: bool, roomy: bool) -> *mut u8 {
    let Some(npages) = heap::large_pages(size, align) else {
        return ptr::null_mut();
    };
    let room = if roomy { npages / 2 } else { 0 };
    let s = heap::alloc_large(npages, align.max(PAGE_SIZE), room);
    scavenger::maybe_start(bg);
    if s.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: a fresh large span (counted by the heap, under its lock).
    unsafe { (*s).base as *mut u8 }
}

/// [`allocate`], zero-filled. Fresh or released pages are not written.
pub fn allocate_zeroed(size: usize, align: usize) -> *mut u8 {
    allocate_zeroed_with(size, align, true)
}

fn allocate_zeroed_with(size: usize, align: usize, bg: bool) -> *mut u8 {
    let p = allocate_with(size, align, bg);
    if p.is_null() {
        return p;
    }
    let s = heap::span_of(p as usize);
    // SAFETY: `p` is a live block of ours of at least `size` bytes; its
    // span's `needzero` was settled when the span left the heap.
    unsafe {
        if (*s).class != 0 || (*s).needzero {
            ptr::write_bytes(p, 0, size);
        }
    }
    p
}

/// Frees a block returned by [`allocate`]. Null and pointers outside this
/// heap's arenas are ignored (under `LD_PRELOAD` a program may free memory
/// the loader got before we were there). A pointer inside our arenas that
/// is no live block aborts the process when the span tables can tell:
/// always for large blocks and pages no block covers, for small objects
/// with the `debug-free` feature (see *Double frees*).
///
/// # Safety
/// `p` is null, not ours, or a live block of ours freed exactly once.
#[inline]
pub unsafe fn deallocate(p: *mut u8) {
    let s = heap::span_of(p as usize);
    if s.is_null() {
        no_span(p, "free");
        return;
    }
    // SAFETY: the caller guarantees `p` is a live block of span `s`; if it
    // is not (a double or invalid free), the checks below read a span
    // struct, which is never unmapped, and abort before anything changes.
    unsafe {
        if (*s).class != 0 {
            if DEBUG_FREE {
                debug_free::on_free(s, p);
            } else if (p as usize).wrapping_sub((*s).base) >= (*s).bytes() {
                // A stale side-table entry: `p` is in no span of this class.
                sys::bad_pointer(p as usize, "free");
            }
            mcache::free_small(s, p);
        } else {
            free_large(p);
        }
    }
}

/// [`deallocate`], out of line: `GlobalAlloc::dealloc`'s path for large
/// and over-aligned blocks, kept out of its inlined fast path.
///
/// # Safety
/// As for [`deallocate`].
#[cold]
#[inline(never)]
unsafe fn deallocate_unsized(p: *mut u8) {
    // SAFETY: forwarded to the caller.
    unsafe { deallocate(p) }
}

/// `p` has no span: ignored outside our arenas, fatal inside them.
#[cold]
fn no_span(p: *mut u8, op: &str) {
    if heap::in_arena(p as usize) {
        sys::bad_pointer(p as usize, op);
    }
}

#[cold]
fn free_large(p: *mut u8) {
    // Counted by the heap, under its lock.
    if heap::free_large(p as usize).is_none() {
        sys::bad_pointer(p as usize, "free");
    }
}

/// Usable bytes of the block at `p` (its class size, or its pages from
/// `p` on); 0 for null, pointers not from this heap, and pointers into no
/// live block that the span tables can tell apart (a free span, or outside
/// the span found).
pub fn usable_size(p: *const u8) -> usize {
    let s = heap::span_of(p as usize);
    if s.is_null() {
        return 0;
    }
    let p = p as usize;
    // SAFETY: span structs are never unmapped, so reading one is sound; for
    // a live block of ours (the caller's contract for the answer to mean
    // something) its fields are stable. The checks keep the subtraction
    // from wrapping when the side-table entry is stale.
    unsafe {
        let (base, bytes) = ((*s).base, (*s).bytes());
        if p < base || p - base >= bytes {
            return 0;
        }
        match (*s).state {
            span::SPAN_SMALL => (*s).elem_size,
            span::SPAN_LARGE => bytes - (p - base),
            _ => 0,
        }
    }
}

/// Whether `p` points into this heap.
pub fn owns(p: *const u8) -> bool {
    !heap::span_of(p as usize).is_null()
}

/// Resizes the block at `p` to `new_size` bytes keeping alignment `align`;
/// in place when the size class (or, for large blocks, the pages) allows.
/// Returns null (and leaves `p` alone) when memory runs out or no block of
/// `new_size` bytes can exist (more than `isize::MAX`).
///
/// # Safety
/// `p` is a live block of ours allocated with alignment `align`.
pub unsafe fn reallocate(p: *mut u8, align: usize, new_size: usize) -> *mut u8 {
    // SAFETY: forwarded to the caller.
    unsafe { reallocate_with(p, align, new_size, true, false) }
}

/// [`reallocate`] with the background scavenger allowed or not (`bg`).
/// With `sized` (`GlobalAlloc::realloc`, whose caller's later `dealloc`
/// names the block's class by its layout) a small block stays in place
/// only if the new size maps to its class.
///
/// # Safety
/// As for [`reallocate`].
unsafe fn reallocate_with(
    p: *mut u8,
    align: usize,
    new_size: usize,
    bg: bool,
    sized: bool,
) -> *mut u8 {
    let s = heap::span_of(p as usize);
    if s.is_null() {
        // Not from our heap: we cannot know its size to move it.
        sys::bad_pointer(p as usize, "realloc");
    }
    if new_size > isize::MAX as usize {
        return ptr::null_mut();
    }
    // SAFETY: `p` is live in `s` (caller's contract); if not, the checks
    // read span structs (never unmapped) and abort before any change.
    let class = unsafe { (*s).class as usize };
    if class != 0 {
        if DEBUG_FREE {
            // SAFETY: as above.
            unsafe { debug_free::check_live(s, p, "realloc") };
        }
        let old = usable_size(p);
        if old == 0 {
            sys::bad_pointer(p as usize, "realloc");
        }
        if new_size <= old
            && ((!sized && new_size > old / 2) || class_for(new_size, align) == Some(class))
        {
            return p;
        }
    } else if new_size > MAX_SMALL_SIZE {
        let pages = new_size.div_ceil(PAGE_SIZE);
        // SAFETY: `p` is the caller's block; resize_large checks that it is
        // live under the heap lock before touching anything.
        match unsafe { heap::resize_large(p as usize, pages) } {
            heap::Resize::Done => return p,
            heap::Resize::NotInPlace => {}
            heap::Resize::NotLive => sys::bad_pointer(p as usize, "realloc"),
        }
    } else if !heap::is_live_large(p as usize) {
        sys::bad_pointer(p as usize, "realloc");
    }
    let old = usable_size(p);
    let q = if class_for(new_size, align).is_none() {
        alloc_large(new_size, align, bg, new_size > old)
    } else {
        allocate_with(new_size, align, bg)
    };
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are live and distinct. A large block growing
    // into a large block moves its pages (*Moving a block* in
    // `heap/large.rs`); otherwise we copy what both hold.
    unsafe {
        if class == 0 && new_size > old && old >= heap::MOVE_MIN_BYTES {
            let s = heap::span_of(p as usize);
            let bytes = (*s).bytes();
            if heap::move_large(p as usize, q as usize, bytes) {
                deallocate(p);
                return q;
            }
        }
        ptr::copy_nonoverlapping(p, q, old.min(new_size));
        deallocate(p);
    }
    q
}

/// A snapshot of the allocator's statistics (Go's `runtime.ReadMemStats`).
/// The calling thread's counts are exact; other threads' may lag by up to
/// `FLUSH_EVERY` (256) allocations and frees per class (see `stats.rs`).
pub fn stats() -> MemStats {
    mcache::flush_my_counts();
    stats::snapshot(heap::meta_sys())
}

/// Returns every idle page to the OS now (Go's `debug.FreeOSMemory`
/// without the GC); returns the bytes released.
pub fn scavenge() -> u64 {
    scavenger::scavenge(true)
}

/// Returns to the OS the pages that have been free for the decay (one step
/// of the background scavenger); returns the bytes released. A runtime
/// with a housekeeping thread of its own calls this every half
/// [`scavenger_decay`] after [`set_background_scavenger`]`(false)`.
pub fn scavenge_decayed() -> u64 {
    scavenger::scavenge(false)
}

/// Sets how long free pages stay resident before the scavenger releases
/// them (default 1 s, or `BURROW_ALLOC_DECAY_MS`).
pub fn set_scavenger_decay(d: Duration) {
    scavenger::set_decay_ns(d.as_nanos().min(u64::MAX as u128) as u64);
}

/// How long free pages stay resident before the scavenger releases them.
pub fn scavenger_decay() -> Duration {
    Duration::from_nanos(scavenger::decay_ns())
}

/// Allows (the default) or forbids the background scavenger thread for
/// the whole process. Forbidding stops a running thread within half a
/// decay; a program that forbids it should call [`scavenge_decayed`]
/// from a thread of its own, or memory freed while it is idle stays
/// resident. Allowing it does not start it: the allocation slow paths do
/// once the heap is big enough (`BURROW_ALLOC_SCAVENGER=0` still wins).
pub fn set_background_scavenger(on: bool) {
    scavenger::set_background_allowed(on);
}

/// Starts the background scavenger thread now if it is not running,
/// whatever the heap's size and the environment say (a runtime that wants
/// it from the start; the allocation paths otherwise start it lazily), and
/// allows it again if [`set_background_scavenger`] forbade it.
/// Call it outside any allocator call: the thread's creation allocates.
pub fn start_background_scavenger() {
    scavenger::set_background_allowed(true);
    scavenger::start_background();
}

/// Hands the calling thread's cached spans back to the shared pools.
pub fn release_thread_cache() {
    mcache::release_thread_cache();
}
