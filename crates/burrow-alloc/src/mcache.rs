//! `mcache`: the per-thread cache in front of everything, and the fast paths.
//!
//! Go gives each P an mcache holding one span per size class; allocation
//! takes the next free slot of that span without a lock. We have no Ps, so
//! the cache is per thread: a `thread_local!` with a `const` initialiser and
//! no `Drop`, which Rust lays out as a plain `#[thread_local]` static — no
//! lazy-init check and no destructor registration on the fast path.
//!
//! # Fast paths
//!
//! - **alloc**: TLS address, index by class, take the oldest block of the
//!   class's bin (`mcache/bins.rs`) or else pop the head of the class's
//!   free list, bump a counter. Both empty falls to `alloc_slow`.
//! - **free**: put the block in the class's bin. The class comes from the
//!   `Layout` for a `GlobalAlloc` free, and from the span (found through
//!   the arena map, `heap::span_of`) for an unsized one (`deallocate`, C's
//!   `free`). A full bin spills its older half to their spans
//!   (`free_to_span`): if the span's `owner` is this mcache, a push onto
//!   the class's list (the current span) or the span's `local_free` (an
//!   owned used-up span); otherwise onto the span's remote list
//!   (`central::free_remote`, one CAS).
//!
//! # Owned spans
//!
//! An mcache owns every span it allocates from, until the span empties or
//! the thread exits (mimalloc's pages work this way). Besides the current
//! span of each class it keeps two owner-only lists per class:
//!
//! - `avail`: spans with objects freed by the owner (their `local_free`
//!   list), taken as the current span when it runs dry;
//! - `full`: spans whose every object is out, with `R_NOTIFY` set in the
//!   remote word.
//!
//! So a thread's free of its own block never takes the remote path: it
//! goes to a bin, and from there onto the current span's list or onto the
//! span's `local_free`,
//! and a span that was full moves to `avail`. A free of another thread's
//! block also goes to the freeing thread's bin, and is reused there; when
//! it spills, it is one CAS onto the span's remote list, except into a
//! full span: the push
//! that sees `R_NOTIFY` hands its object to the owner's `delayed` list
//! instead (mimalloc's *thread-delayed free*), so the owner learns that
//! the span has room without looking at its full spans; the owner drains
//! `delayed` at its next refill, freeing each object as its own. See *The
//! remote word* in `span.rs` for the bits, and `central::wait_for_delivery`
//! for why a delivery never reaches a cache whose thread has exited.
//!
//! `R_NOTIFY` is set with an atomic write when a span first joins `full`
//! and then left set, whatever list the span moves to: a remote free into
//! a span on `avail`, or the current one, is then delivered too, which is
//! correct anywhere (`drain_delayed` frees each object as the owner's own
//! free would), and the span's next trip to `full` costs no atomic write.
//! Clearing the bit at each `avail` → current step, and setting it at each
//! current → `full` step, put two contended-looking `lock cmpxchg`s on the
//! refill path: 60 % of its samples in larson.
//!
//! `used` counts a non-current span's objects the owner does not know to
//! be free (set to all of them when the span is used up; objects waiting
//! on its remote list still count). The free that brings it to 0 retires
//! the span to the heap, unless it is the class's one kept empty span
//! (`MAX_EMPTY`): a class with one object per span (8 KiB) would otherwise
//! go to the heap lock on every pair. Remote frees into an `avail` span
//! are collected when it becomes current.
//!
//! The mcentrals hold only spans no thread owns: those of exited threads
//! (and of `release_thread_cache`), adopted by the next refill that needs
//! one. An earlier design owned the current span and at most four used-up
//! ones per class; with larger working sets most of a thread's own frees
//! went remote (larson: 3–5× slower than mimalloc).
//!
//! # Slow path (refill)
//!
//! Drain `delayed`; collect the current span's remote frees; else carve
//! more objects from the span's never-used tail; else put the span on the
//! `full` list and make the first `avail` span current; else adopt an
//! unowned partial span from the mcentral; else take a fresh span from the
//! heap.
//!
//! # Thread lifecycle
//!
//! A thread's first slow path registers the cache with a `pthread_key_create`
//! key whose destructor hands every span back to the mcentrals at thread
//! exit. States, in order: `UNINIT` → `INITIALIZING` → `ACTIVE` → `DEAD`.
//! While `INITIALIZING` (registration may itself call `malloc` in glibc)
//! and once `DEAD` (other TLS destructors run after ours and may allocate),
//! the thread allocates from `FALLBACK`, one shared mcache behind a lock.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::central;
use crate::debug_free::DEBUG_FREE;
use crate::heap;
use crate::lock::SpinLock;
use crate::sizeclass::{NUM_CLASSES, PAGE_SIZE};
use crate::span::{
    LIST_NONE, LIST_OWNED_AVAIL, LIST_OWNED_FULL, MSpan, R_MOVING, R_NOTIFY, SpanList, r_head,
};
use crate::stats::{CLASS_FREES, CLASS_MALLOCS, FLUSH_EVERY, REMOTE_FREES};

mod bins;
mod lifecycle;

use lifecycle::init_thread;
pub(crate) use lifecycle::{flush_my_counts, lock_fallback, release_thread_cache, unlock_fallback};

/// Empty spans an mcache keeps per class instead of retiring them to the
/// heap (see *Owned spans*).
const MAX_EMPTY: u8 = 1;

const ST_UNINIT: u8 = 0;
const ST_INITIALIZING: u8 = 1;
const ST_ACTIVE: u8 = 2;
const ST_DEAD: u8 = 3;

/// One class's slot in an mcache. Owner thread only. 32 bytes, so two
/// classes share a cache line and a slot never straddles one.
#[derive(Clone, Copy)]
struct ClassCache {
    free: *mut u8,
    span: *mut MSpan,
    /// Allocations and frees on the span paths since the last flush to
    /// the global counts (below `FLUSH_EVERY`); a bin's are counted by its
    /// indices (*Counting* in `bins.rs`).
    nmalloc: u32,
    nfree: u32,
    /// The class's bin (see `bins.rs`), a ring: the next block to take
    /// and the next free slot, free-running (`bins::BIN_MAX` divides
    /// 2^16), and how many blocks it may hold. The capacity is 0 until
    /// the thread's first slow path registers the cache, once the thread
    /// has exited (so that those states never keep a block the exit
    /// flush would miss), and while the thread frees the class without
    /// allocating it (*A thread that only frees* in `bins.rs`).
    bin_head: u16,
    bin_tail: u16,
    bin_cap: u16,
    /// While the bin is open, `bin_head` right after it last spilled;
    /// once it has closed, the low bits of `nmalloc` then (a later free
    /// that finds them changed reopens it).
    spill_head: u16,
}

/// A thread's cache (Go's `mcache`). Touched only by its thread (or, for
/// `FALLBACK`, under its lock); its address is the owner id in `MSpan::owner`.
pub(crate) struct MCache {
    state: u8,
    classes: [ClassCache; NUM_CLASSES],
    /// Per class, owned spans with locally freed objects (*Owned spans*).
    /// Kept apart from `classes` so the fast path's slots stay 32 bytes.
    avail: [SpanList; NUM_CLASSES],
    /// Per class, owned spans with every object out.
    full: [SpanList; NUM_CLASSES],
    /// Per class, spans on `avail` with `used == 0`.
    nempty: [u8; NUM_CLASSES],
    /// Frees that took the remote path since the last flush (stats).
    nremote: u64,
    /// Set by a refill that took a span from the heap: the heap may have
    /// grown, so `alloc_slow` checks whether to start the scavenger.
    grew: bool,
    /// Objects of our full spans freed by other threads (a Treiber stack
    /// linked through the objects): pushed by `deliver` from any thread,
    /// taken whole by the owner.
    delayed: AtomicPtr<u8>,
    /// Per class, freed blocks kept for this thread's next allocations
    /// (see `bins.rs`); a ring per class, `classes[c].bin_head` to
    /// `bin_tail`.
    bins: [[*mut u8; bins::BIN_MAX]; NUM_CLASSES],
    /// Per class, the bin's indices when its counts were last flushed
    /// (*Counting* in `bins.rs`).
    bin_marks: [bins::Marks; NUM_CLASSES],
}

// SAFETY: an MCache is only used by one thread at a time (its own, or the
// holder of the FALLBACK lock); the raw pointers point into the heap.
unsafe impl Send for MCache {}

impl MCache {
    const fn new(state: u8) -> MCache {
        MCache {
            state,
            classes: [ClassCache {
                free: ptr::null_mut(),
                span: ptr::null_mut(),
                nmalloc: 0,
                nfree: 0,
                bin_head: 0,
                bin_tail: 0,
                bin_cap: 0,
                spill_head: 0,
            }; NUM_CLASSES],
            avail: [const { SpanList::new() }; NUM_CLASSES],
            full: [const { SpanList::new() }; NUM_CLASSES],
            nempty: [0; NUM_CLASSES],
            nremote: 0,
            grew: false,
            delayed: AtomicPtr::new(ptr::null_mut()),
            bins: [[ptr::null_mut(); bins::BIN_MAX]; NUM_CLASSES],
            bin_marks: [bins::Marks { head: 0, tail: 0 }; NUM_CLASSES],
        }
    }
}

thread_local! {
    static MCACHE: UnsafeCell<MCache> = const { UnsafeCell::new(MCache::new(ST_UNINIT)) };
}

/// The shared cache for threads without a usable one of their own.
static FALLBACK: SpinLock<MCache> = SpinLock::new(MCache::new(ST_ACTIVE));

/// This thread's cache. Never inlined: a caller may run on a stackful
/// coroutine that resumes on another thread (a burrow goroutine after a
/// park), and an inlined thread-local address computed before the switch
/// could be reused after it, so that two threads shared one mcache. A
/// call computes it afresh each time; the rest of the fast path stays
/// inline. (burrow-sched's tasks hit exactly this: a crash in skynet.)
///
/// The address then passes through an empty `asm!` that may read and
/// write memory (no `nomem`/`pure`): otherwise this function touches no
/// memory (LLVM treats `llvm.threadlocal.address` as pure), is inferred
/// `memory(none)` (checked in the IR), and two calls in one caller could
/// be merged across a park all the same. `black_box` does the same job on
/// other targets but spills the pointer to the stack: ~1 ns more per pair.
#[inline(never)]
fn mcache() -> *mut MCache {
    #[allow(unused_mut)]
    let mut p = MCACHE.with(|c| c.get());
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: an empty instruction sequence: it reads and writes nothing;
    // it only makes the compiler assume that it may.
    unsafe {
        core::arch::asm!("/* {0} */", inout(reg) p, options(nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let p = core::hint::black_box(p);
    p
}

/// Allocates an object of size class `class`.
///
/// # Safety
/// `class` is in `1..NUM_CLASSES`.
#[inline(always)]
pub(crate) unsafe fn alloc_small(class: usize, bg: bool) -> *mut u8 {
    let mc = mcache();
    // SAFETY: `mc` is this thread's cache; `class` is in bounds (caller).
    unsafe {
        let cc = (*mc).classes.get_unchecked_mut(class);
        if cc.bin_head != cc.bin_tail {
            let p = *(*mc)
                .bins
                .get_unchecked(class)
                .get_unchecked(cc.bin_head as usize % bins::BIN_MAX);
            // Counted at the next flush, from the ring's indices.
            cc.bin_head = cc.bin_head.wrapping_add(1);
            return p;
        }
        let p = cc.free;
        if !p.is_null() {
            cc.free = *(p as *mut *mut u8);
            cc.nmalloc += 1;
            return p;
        }
        alloc_slow(mc, class, bg)
    }
}

/// Frees object `p` of small span `s` (a caller that found the span).
///
/// # Safety
/// `p` is a live object of `s`, freed once.
#[inline(always)]
pub(crate) unsafe fn free_small(s: *mut MSpan, p: *mut u8) {
    // SAFETY: `s` is live while `p` is, so its class is `p`'s (caller).
    unsafe { free_class((*s).class as usize, p) }
}

/// Frees object `p` of size class `class` into this thread's bin for the
/// class (see `bins.rs`); a full bin, or a thread without bins, takes
/// the span path.
///
/// # Safety
/// `p` is a live object of class `class` (in `1..NUM_CLASSES`) of our
/// heap, freed once.
#[inline(always)]
pub(crate) unsafe fn free_class(class: usize, p: *mut u8) {
    let mc = mcache();
    // SAFETY: `mc` is this thread's cache; `class` is in bounds (caller).
    unsafe {
        let cc = (*mc).classes.get_unchecked_mut(class);
        // Everything but the common case is out of line, so that the
        // inlined free keeps no more than `p` and `class` across the call
        // to `mcache()` (fewer registers to save and restore).
        // Not counted: the ring's indices count pushes and pops, flushed
        // when the tail passes a multiple of `FLUSH_EVERY` (the slow path
        // makes that push).
        if cc.bin_tail.wrapping_sub(cc.bin_head) < cc.bin_cap
            && (u32::from(cc.bin_tail) + 1) % FLUSH_EVERY != 0
            && !DEBUG_FREE
        {
            *(*mc)
                .bins
                .get_unchecked_mut(class)
                .get_unchecked_mut(cc.bin_tail as usize % bins::BIN_MAX) = p;
            cc.bin_tail = cc.bin_tail.wrapping_add(1);
            return;
        }
        free_class_slow(mc, class, p);
    }
}

/// [`free_class`] when the counts are due for a flush, the bin is full or
/// the thread has no bins.
///
/// # Safety
/// As for [`free_class`]; `mc` is this thread's cache.
#[cold]
#[inline(never)]
unsafe fn free_class_slow(mc: *mut MCache, class: usize, p: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let cc = &mut (*mc).classes[class];
        if cc.bin_cap == 0 && (*mc).state == ST_ACTIVE && cc.nmalloc as u16 != cc.spill_head {
            // Closed, but the thread has allocated the class since.
            bins::reopen(mc, class);
        }
        let pushed = bins::push_slow(mc, class, p);
        let cc = &mut (*mc).classes[class];
        if !pushed {
            // To its span: counted here, not by the ring.
            cc.nfree += 1;
        }
        if cc.nfree >= FLUSH_EVERY || (pushed && u32::from(cc.bin_tail) % FLUSH_EVERY == 0) {
            flush_counts(mc, class);
            flush_remote(mc);
        }
    }
}

/// Frees object `p` of span `s` where it belongs: onto the current span's
/// list or an owned span's `local_free` when `mc` owns `s`, else onto the
/// span's remote list (see *Owned spans*).
///
/// # Safety
/// The caller has exclusive use of `mc`; `p` is a live object of `s`,
/// freed once.
#[inline]
unsafe fn free_to_span(mc: *mut MCache, s: *mut MSpan, p: *mut u8) {
    // SAFETY: as the caller guarantees; owner-only fields only when `mc`
    // owns `s`.
    unsafe {
        if (*s).owner.load(Ordering::Relaxed) == mc as usize {
            let cc = (*mc).classes.get_unchecked_mut((*s).class as usize);
            if s == cc.span {
                *(p as *mut *mut u8) = cc.free;
                cc.free = p;
            } else {
                free_owned(mc, s, p);
            }
        } else {
            (*mc).nremote += 1;
            central::free_remote(s, p);
        }
    }
}

/// Frees object `p` into `s`, a span of `mc` other than its class's
/// current one (see *Owned spans*).
///
/// # Safety
/// The caller has exclusive use of `mc`, which owns `s`; `p` is a live
/// object of `s`, freed once.
#[inline(always)]
unsafe fn free_owned(mc: *mut MCache, s: *mut MSpan, p: *mut u8) {
    // SAFETY: owner-only fields of a span `mc` owns.
    unsafe {
        *(p as *mut *mut u8) = (*s).local_free;
        (*s).local_free = p;
        (*s).used -= 1;
        if (*s).list == LIST_OWNED_FULL || (*s).used == 0 {
            span_freed(mc, s);
        }
    }
}

/// `s` was full and has a free object now, or has no object out: move it
/// to `avail`, and retire it to the heap if it is empty and the class
/// already keeps an empty span.
///
/// # Safety
/// As for [`free_owned`].
#[cold]
unsafe fn span_freed(mc: *mut MCache, s: *mut MSpan) {
    // SAFETY: owner-only fields and lists of `mc`.
    unsafe {
        let class = (*s).class as usize;
        if (*s).list == LIST_OWNED_FULL {
            // To the back: by the time the span is taken, more of its
            // objects are free (mimalloc's page queues do the same).
            (*mc).full[class].remove(s);
            (*mc).avail[class].push_back(s);
            (*s).list = LIST_OWNED_AVAIL;
            // R_NOTIFY stays set (see *Owned spans*).
        }
        if (*s).used != 0 {
            return;
        }
        if (*mc).nempty[class] < MAX_EMPTY {
            (*mc).nempty[class] += 1;
            return;
        }
        // No object of `s` is out, so no other thread can touch it (a
        // remote free or a delivery needs one): it is ours to retire.
        (*mc).avail[class].remove(s);
        (*s).list = LIST_NONE;
        (*s).local_free = ptr::null_mut();
        heap::free_span(s);
    }
}

/// Another thread's free of `p`, an object of a full span owned by the
/// cache at address `owner`: pushes it onto that cache's `delayed` list
/// (see *Owned spans*).
///
/// # Safety
/// `owner` is a live mcache: the caller holds the span's `R_MOVING` bit,
/// which the owner waits for before its thread may exit
/// (`central::wait_for_delivery`). `p` is a free object of that span.
pub(crate) unsafe fn deliver(owner: usize, p: *mut u8) {
    let mc = owner as *mut MCache;
    // SAFETY: `mc` is live (caller); `delayed` is atomic, and `p` is ours
    // to link until the push publishes it.
    unsafe {
        let d = &(*mc).delayed;
        let mut head = d.load(Ordering::Relaxed);
        loop {
            *(p as *mut *mut u8) = head;
            // Release: publishes the link, paired with the owner's Acquire
            // swap in `drain_delayed`.
            match d.compare_exchange_weak(head, p, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

/// Frees as its own every object other threads delivered to `mc`.
///
/// # Safety
/// The caller has exclusive use of `mc`.
#[cold]
unsafe fn drain_delayed(mc: *mut MCache) {
    // SAFETY: the caller's exclusive use of `mc`; delivered objects are
    // free objects of spans `mc` owns (a delivery targets the owner, and
    // an owner gives a span up only after draining, see `flush`).
    unsafe {
        // Acquire: pairs with the Release push in `deliver`.
        let mut p = (*mc).delayed.swap(ptr::null_mut(), Ordering::Acquire);
        while !p.is_null() {
            let next = *(p as *mut *mut u8);
            let s = heap::span_of(p as usize);
            let cc = &mut (*mc).classes[(*s).class as usize];
            if s == cc.span {
                *(p as *mut *mut u8) = cc.free;
                cc.free = p;
            } else {
                free_owned(mc, s, p);
            }
            p = next;
        }
    }
}

/// Takes the objects on owned span `s`'s remote list, leaving the state
/// bits (`R_NOTIFY`, `R_MOVING`) as they are.
///
/// # Safety
/// The caller's cache owns `s`.
unsafe fn collect(s: *mut MSpan) -> *mut u8 {
    // SAFETY: `s` is live and owned by the caller.
    unsafe {
        let mut old = (*s).remote.load(Ordering::Relaxed);
        loop {
            if r_head(old).is_null() {
                return ptr::null_mut();
            }
            // Acquire: pairs with the pushers' Release CAS (object links).
            match (*s).remote.compare_exchange_weak(
                old,
                old & (R_MOVING | R_NOTIFY),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return r_head(old),
                Err(now) => old = now,
            }
        }
    }
}

/// The current span `s` of `class` has no free object left in its list or
/// bump region: put it on `full` with `R_NOTIFY` set and leave the class
/// without a current span (returns null), or, if remote frees arrived
/// meanwhile, keep it and return them.
///
/// # Safety
/// The caller has exclusive use of `mc`, which owns `s`, its current span
/// of `class`.
unsafe fn to_full(mc: *mut MCache, class: usize, s: *mut MSpan) -> *mut u8 {
    // SAFETY: owner-only fields and lists of `mc`.
    unsafe {
        (*s).used = if (*s).bump == (*s).limit {
            (*s).nelems
        } else {
            (*s).carved()
        } as u32;
        let mut old = (*s).remote.load(Ordering::Relaxed);
        loop {
            if !r_head(old).is_null() {
                let list = collect(s);
                if !list.is_null() {
                    return list;
                }
                old = (*s).remote.load(Ordering::Relaxed);
                continue;
            }
            if old & R_NOTIFY != 0 {
                // Still set from an earlier time on `full` (see *Owned
                // spans*): no atomic write needed.
                break;
            }
            // Release: publishes `owner` (and the span's state) to the
            // remote free that sees R_NOTIFY and delivers; pairs with its
            // Acquire CAS in `central::free_remote`.
            match (*s).remote.compare_exchange_weak(
                old,
                old | R_NOTIFY,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        (*mc).full[class].push(s);
        (*s).list = LIST_OWNED_FULL;
        (*mc).classes[class].span = ptr::null_mut();
        ptr::null_mut()
    }
}

/// Makes the first `avail` span of `class` current and returns its free
/// objects; null when there is none.
///
/// # Safety
/// The caller has exclusive use of `mc`; the class has no current span.
unsafe fn take_avail(mc: *mut MCache, class: usize) -> *mut u8 {
    // SAFETY: owner-only fields and lists of `mc`.
    unsafe {
        loop {
            let s = (*mc).avail[class].head;
            if s.is_null() {
                return ptr::null_mut();
            }
            (*mc).avail[class].remove(s);
            (*s).list = LIST_NONE;
            if (*s).used == 0 {
                (*mc).nempty[class] -= 1;
            }
            (*mc).classes[class].span = s;
            let mut list = (*s).local_free;
            (*s).local_free = ptr::null_mut();
            let remote = collect(s);
            if list.is_null() {
                list = remote;
            } else if !remote.is_null() {
                let mut tail = remote;
                loop {
                    let n = *(tail as *mut *mut u8);
                    if n.is_null() {
                        break;
                    }
                    tail = n;
                }
                *(tail as *mut *mut u8) = list;
                list = remote;
            }
            if !list.is_null() {
                return list;
            }
            // Nothing after all (cannot happen: a span joins `avail` with
            // a local free); treat it as used up.
            let l = to_full(mc, class, s);
            if !l.is_null() {
                return l;
            }
        }
    }
}

/// Adds `mc`'s remote-free count to the global one.
///
/// # Safety
/// The caller has exclusive use of `mc`.
#[cold]
unsafe fn flush_remote(mc: *mut MCache) {
    // SAFETY: the caller's exclusive use of `mc`.
    unsafe {
        if (*mc).nremote != 0 {
            REMOTE_FREES.fetch_add((*mc).nremote, Ordering::Relaxed);
            (*mc).nremote = 0;
        }
    }
}

/// Adds `mc`'s counts for `class` to the global ones: the span paths'
/// own counts, and the bin's pushes (frees) and pops (allocations) since
/// the last flush, read off its indices (*Counting* in `bins.rs`).
///
/// # Safety
/// The caller has exclusive use of `mc`.
#[cold]
#[inline(never)]
unsafe fn flush_counts(mc: *mut MCache, class: usize) {
    // SAFETY: the caller's exclusive use of `mc`.
    let (cc, marks) = unsafe { (&mut (*mc).classes[class], &mut (*mc).bin_marks[class]) };
    let pops = u64::from(cc.bin_head.wrapping_sub(marks.head));
    let pushes = u64::from(cc.bin_tail.wrapping_sub(marks.tail));
    *marks = bins::Marks {
        head: cc.bin_head,
        tail: cc.bin_tail,
    };
    let mallocs = u64::from(cc.nmalloc) + pops;
    let frees = u64::from(cc.nfree) + pushes;
    cc.nmalloc = 0;
    cc.nfree = 0;
    if mallocs != 0 {
        CLASS_MALLOCS[class].fetch_add(mallocs, Ordering::Relaxed);
    }
    if frees != 0 {
        CLASS_FREES[class].fetch_add(frees, Ordering::Relaxed);
    }
}

#[cold]
#[inline(never)]
unsafe fn alloc_slow(mc: *mut MCache, class: usize, bg: bool) -> *mut u8 {
    // SAFETY: `mc` is this thread's cache and nothing else borrows it.
    unsafe {
        if (*mc).state == ST_UNINIT {
            init_thread(mc);
        }
        if (*mc).state != ST_ACTIVE {
            return fallback_alloc(class);
        }
        bins::reopen(mc, class);
        let p = refill(mc, class);
        if (*mc).grew {
            (*mc).grew = false;
            crate::scavenger::maybe_start(bg);
        }
        p
    }
}

fn fallback_alloc(class: usize) -> *mut u8 {
    FALLBACK.raw_lock();
    // SAFETY: we hold the FALLBACK lock, so its cache is ours for now.
    let p = unsafe { refill(FALLBACK.get(), class) };
    // SAFETY: taken above.
    unsafe { FALLBACK.raw_unlock() };
    p
}

/// Carves up to a page of objects from the span's bump region onto `cc`.
unsafe fn carve(s: *mut MSpan, cc: &mut ClassCache) {
    // SAFETY: the caller owns `s`; the carved memory is unused span memory.
    unsafe {
        let size = (*s).elem_size;
        let n = (PAGE_SIZE / size).max(1);
        let end = ((*s).bump + n * size).min((*s).limit);
        let mut p = end - size;
        let mut head = cc.free;
        while p >= (*s).bump {
            *(p as *mut *mut u8) = head;
            head = p as *mut u8;
            if p < size {
                break;
            }
            p -= size;
        }
        cc.free = head;
        (*s).bump = end;
    }
}

/// Gets an object for `class` into `mc`'s list and pops it; null when the
/// OS refuses memory.
unsafe fn refill(mc: *mut MCache, class: usize) -> *mut u8 {
    // SAFETY: the caller has exclusive use of `mc`; spans it owns are its
    // to mutate (owner-only fields).
    unsafe {
        let me = mc as usize;
        if (*mc).classes[class].nmalloc >= FLUSH_EVERY {
            flush_counts(mc, class);
            flush_remote(mc);
        }
        if !(*mc).delayed.load(Ordering::Relaxed).is_null() {
            drain_delayed(mc);
        }
        let s = (*mc).classes[class].span;
        if (*mc).classes[class].free.is_null() && !s.is_null() {
            let mut list = collect(s);
            if list.is_null() && (*s).bump < (*s).limit {
                carve(s, &mut (*mc).classes[class]);
                list = (*mc).classes[class].free;
            }
            if list.is_null() {
                list = to_full(mc, class, s);
            }
            (*mc).classes[class].free = list;
        }
        while (*mc).classes[class].free.is_null() {
            let list = take_avail(mc, class);
            if !list.is_null() {
                (*mc).classes[class].free = list;
                break;
            }
            if let Some((s, list)) = central::adopt(class, me) {
                let cc = &mut (*mc).classes[class];
                cc.span = s;
                cc.free = list;
                if list.is_null() && (*s).bump < (*s).limit {
                    carve(s, cc);
                }
                if cc.free.is_null() {
                    // Nothing usable after all: it joins our full spans.
                    let list = to_full(mc, class, s);
                    (*mc).classes[class].free = list;
                }
                continue;
            }
            let s = heap::alloc_small_span(class);
            (*mc).grew = true;
            if s.is_null() {
                return ptr::null_mut();
            }
            (*s).owner.store(me, Ordering::Relaxed);
            let cc = &mut (*mc).classes[class];
            cc.span = s;
            carve(s, cc);
        }
        let cc = &mut (*mc).classes[class];
        let p = cc.free;
        cc.free = *(p as *mut *mut u8);
        cc.nmalloc += 1;
        p
    }
}
