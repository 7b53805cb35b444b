//! Allocate/free pairs of medium sizes (1 KiB to 32 KiB, one to a few dozen
//! objects per span) with a small live ring, the `alloc_pair_*` bench's
//! pattern, never go to the page heap (and its lock) once warm, and never
//! take the remote path: the thread's cache owns the spans, keeps one empty
//! span per class, and medium classes have spans of 64 KiB or more (see
//! *Owned spans* in `mcache.rs` and *Medium spans* in `sizeclass.rs`).
//! `stats().small_span_trips` counts small spans taken from or given back
//! to the page heap.
//!
//! One test in this binary, so nothing else moves the global counters.

use burrow_alloc::{allocate, deallocate, stats};

/// Runs `n` pairs in the ring.
fn run(ring: &mut [*mut u8; 64], size: usize, n: usize) {
    for i in 0..n {
        let slot = &mut ring[i & 63];
        // SAFETY: allocated earlier, freed once.
        unsafe { deallocate(*slot) };
        *slot = allocate(size, 8);
        assert!(!slot.is_null());
        // SAFETY: the block holds `size` bytes.
        unsafe { slot.write(i as u8) };
    }
}

/// The bench's ring (free the block allocated 64 steps earlier): a warm-up
/// of 1000 pairs, then `n` pairs measured; the heap trips and remote frees
/// of the measured ones.
fn pairs(size: usize, n: usize) -> (u64, u64, u64) {
    let mut ring = [std::ptr::null_mut::<u8>(); 64];
    for slot in ring.iter_mut() {
        *slot = allocate(size, 8);
        assert!(!slot.is_null());
    }
    run(&mut ring, size, 1000);
    let before = stats();
    run(&mut ring, size, n);
    let after = stats();
    for p in ring {
        // SAFETY: allocated above, freed once.
        unsafe { deallocate(p) };
    }
    (
        after.small_span_trips - before.small_span_trips,
        after.remote_frees - before.remote_frees,
        after.mallocs - before.mallocs,
    )
}

#[test]
fn medium_pairs_stay_off_the_heap_lock() {
    for size in [1024usize, 2048, 4096, 8192, 16384, 32768] {
        let (trips, remote, mallocs) = pairs(size, 100_000);
        assert_eq!(trips, 0, "{size} B pairs: {trips} span trips to the heap");
        assert_eq!(remote, 0, "{size} B pairs: {remote} remote frees");
        assert!(mallocs >= 100_000, "pairs not counted: {mallocs}");
    }
}
