//! Statistics in the shape of Go's `runtime.ReadMemStats`.
//!
//! Heap page counters are kept exactly under the heap lock. Object counts
//! are kept per thread in the mcache (plain adds on the span paths; on a
//! bin's paths, the ring's indices, see *Counting* in `mcache/bins.rs`)
//! and flushed to the global per-class counters when the mcache refills
//! that class after [`FLUSH_EVERY`] allocations, every [`FLUSH_EVERY`]
//! frees to spans or pushes into the bin (a flush at every refill put two
//! contended atomic adds on a path that larson takes for one allocation in
//! three), at thread exit and when the calling thread asks for
//! [`stats`](crate::stats): Go stops the world for an exact snapshot, we
//! accept a small lag from other threads instead.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::sizeclass::{CLASSES, NUM_CLASSES};

/// Adds `x` to a counter that is written only under the heap lock: a load
/// and a store, no locked instruction (the lock orders the writers; a
/// reader without it sees some whole value, as with `fetch_add`). A large
/// block's allocation updates four such counters and its free three:
/// without the locked adds the sweep benchmark, whose time is mostly its
/// large pairs, took about a third less.
pub(crate) fn locked_add(c: &AtomicU64, x: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(x), Ordering::Relaxed);
}

/// Subtracts `x` from a counter written only under the heap lock (see
/// [`locked_add`]).
pub(crate) fn locked_sub(c: &AtomicU64, x: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_sub(x), Ordering::Relaxed);
}

/// Local free counts are flushed when they reach this.
pub(crate) const FLUSH_EVERY: u32 = 256;

pub(crate) static HEAP_SYS: AtomicU64 = AtomicU64::new(0);
pub(crate) static HEAP_INUSE: AtomicU64 = AtomicU64::new(0);
pub(crate) static HEAP_RELEASED: AtomicU64 = AtomicU64::new(0);
pub(crate) static SCAVENGED_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static LARGE_MALLOCS: AtomicU64 = AtomicU64::new(0);
pub(crate) static LARGE_FREES: AtomicU64 = AtomicU64::new(0);
pub(crate) static LARGE_ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static LARGE_FREE_BYTES: AtomicU64 = AtomicU64::new(0);
/// Small-object frees that took the remote path (see `MemStats::remote_frees`).
pub(crate) static REMOTE_FREES: AtomicU64 = AtomicU64::new(0);
/// Small spans taken from or given back to the page heap (heap lock held).
pub(crate) static SMALL_SPAN_TRIPS: AtomicU64 = AtomicU64::new(0);
pub(crate) static CLASS_MALLOCS: [AtomicU64; NUM_CLASSES] =
    [const { AtomicU64::new(0) }; NUM_CLASSES];
pub(crate) static CLASS_FREES: [AtomicU64; NUM_CLASSES] =
    [const { AtomicU64::new(0) }; NUM_CLASSES];

/// Counts for one size class (Go's `MemStats.BySize` entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Object size of the class in bytes.
    pub size: u32,
    /// Objects allocated so far.
    pub mallocs: u64,
    /// Objects freed so far.
    pub frees: u64,
}

/// A snapshot of the allocator (Go's `runtime.MemStats`, the heap part).
#[derive(Clone, Debug)]
pub struct MemStats {
    /// Bytes of live objects: small objects at their class size, large
    /// objects at their page-rounded size (`HeapAlloc`).
    pub heap_alloc: u64,
    /// Cumulative bytes allocated (`TotalAlloc`).
    pub total_alloc: u64,
    /// Objects allocated so far (`Mallocs`).
    pub mallocs: u64,
    /// Objects freed so far (`Frees`).
    pub frees: u64,
    /// Bytes of arenas mapped from the OS (`HeapSys`).
    pub heap_sys: u64,
    /// Bytes in spans holding objects (`HeapInuse`).
    pub heap_inuse: u64,
    /// Bytes in free spans, released or not (`HeapIdle`).
    pub heap_idle: u64,
    /// Bytes of free spans returned to the OS (`HeapReleased`).
    pub heap_released: u64,
    /// Cumulative bytes the scavenger returned to the OS.
    pub scavenged_total: u64,
    /// Bytes mapped for allocator metadata: arena map, side tables, span
    /// structs (part of Go's `MSpanSys`/`OtherSys`).
    pub meta_sys: u64,
    /// Frees of small objects that took the remote path (one CAS on the
    /// span's remote list) because the freeing thread's cache did not own
    /// the span: blocks of other threads, and own-thread frees into spans
    /// the thread has handed back (`release_thread_cache`; see *Owned
    /// spans* in `mcache.rs`), counted when they leave the freeing
    /// thread's bin for their span (a block reused from the bin never
    /// takes the path; see `mcache/bins.rs`). Counted per thread like
    /// `frees`.
    pub remote_frees: u64,
    /// Spans of small classes taken from or given back to the page heap,
    /// each under the heap lock: what a steady working set of small
    /// objects should not cause.
    pub small_span_trips: u64,
    /// Per size class counts; index 0 is unused (as in Go).
    pub by_class: [ClassStats; NUM_CLASSES],
}

impl MemStats {
    /// Idle bytes still resident (idle minus released): what the scavenger
    /// would return next.
    pub fn heap_idle_resident(&self) -> u64 {
        self.heap_idle.saturating_sub(self.heap_released)
    }
}

/// Builds a snapshot from the global counters.
pub(crate) fn snapshot(meta_sys: u64) -> MemStats {
    let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut by_class = [ClassStats::default(); NUM_CLASSES];
    let (mut mallocs, mut frees, mut total, mut live) = (0u64, 0u64, 0u64, 0u64);
    for c in 1..NUM_CLASSES {
        let (m, f) = (r(&CLASS_MALLOCS[c]), r(&CLASS_FREES[c]));
        let size = CLASSES[c].size as u64;
        by_class[c] = ClassStats {
            size: size as u32,
            mallocs: m,
            frees: f,
        };
        mallocs += m;
        frees += f;
        total += m * size;
        live += m.saturating_sub(f) * size;
    }
    let (lm, lf) = (r(&LARGE_MALLOCS), r(&LARGE_FREES));
    let (lab, lfb) = (r(&LARGE_ALLOC_BYTES), r(&LARGE_FREE_BYTES));
    let sys = r(&HEAP_SYS);
    let inuse = r(&HEAP_INUSE);
    MemStats {
        heap_alloc: live + lab.saturating_sub(lfb),
        total_alloc: total + lab,
        mallocs: mallocs + lm,
        frees: frees + lf,
        heap_sys: sys,
        heap_inuse: inuse,
        heap_idle: sys.saturating_sub(inuse),
        heap_released: r(&HEAP_RELEASED),
        scavenged_total: r(&SCAVENGED_BYTES),
        meta_sys,
        remote_frees: r(&REMOTE_FREES),
        small_span_trips: r(&SMALL_SPAN_TRIPS),
        by_class,
    }
}
