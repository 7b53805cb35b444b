//! A thread that frees its own small blocks takes the local path (a push
//! onto a list its cache owns), never the remote one (a CAS on the span's
//! remote list), as long as its blocks lie in the spans its cache owns:
//! until the span empties or the thread exits (see *Owned
//! spans* in `mcache.rs`). `stats().remote_frees` counts remote-path frees.
//!
//! One test in this binary, so nothing else moves the global counter.

mod common;
use common::shuffle;

use burrow_alloc::sizeclass::{CLASSES, class_for};
use burrow_alloc::{allocate, deallocate, stats};

/// Spans' worth of objects each class's working set spans.
const SPANS: usize = 64;

/// Allocates several spans' worth of blocks of each of a few sizes.
fn working_set() -> Vec<usize> {
    let mut v = Vec::new();
    for size in [16usize, 64, 256, 1024, 4096] {
        let c = class_for(size, 8).expect("a small size");
        for _ in 0..CLASSES[c].nelems() * SPANS {
            let p = allocate(size, 8);
            assert!(!p.is_null());
            v.push(p as usize);
        }
    }
    v
}

#[test]
fn own_thread_frees_never_take_the_remote_path() {
    // Several rounds: the second and later ones reuse the spans the first
    // left behind, as a long-running thread would.
    for round in 0..3 {
        let mut blocks = working_set();
        shuffle(&mut blocks, 0x9e37_79b9 + round);
        let before = stats().remote_frees;
        for &p in &blocks {
            // SAFETY: each block was allocated above and is freed once.
            unsafe { deallocate(p as *mut u8) };
        }
        let remote = stats().remote_frees - before;
        assert_eq!(
            remote,
            0,
            "round {round}: {remote} of {} own-thread frees took the remote path",
            blocks.len()
        );
    }

    // The counter does count: the same frees from another thread are all
    // remote.
    let blocks = working_set();
    let n = blocks.len() as u64;
    let before = stats().remote_frees;
    std::thread::spawn(move || {
        for p in blocks {
            // SAFETY: allocated above, freed once, here.
            unsafe { deallocate(p as *mut u8) };
        }
        // Flush this thread's counts (other threads' counts may lag).
        let _ = stats();
    })
    .join()
    .expect("the freeing thread");
    let remote = stats().remote_frees - before;
    assert_eq!(remote, n, "cross-thread frees counted as remote");
}
