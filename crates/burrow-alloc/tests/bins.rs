//! Bins (*Bins* in `mcache/bins.rs`): a sized free through `GlobalAlloc`
//! keeps the block in the freeing thread's bin for its class, whichever
//! thread allocated it; `GlobalAlloc::realloc` keeps a block in place only
//! within its class, so the sized free names the right one; a thread's
//! bins are emptied into their spans when it exits; a thread that only
//! frees a class keeps no bin for it; the calling thread's counts stay
//! exact.
//!
//! One test in this binary, so nothing else moves the global counters.
//! With the `debug-free` feature there are no bins (every free goes to its
//! span to be checked), so nothing here applies.
#![cfg(not(feature = "debug-free"))]

mod common;
use common::shuffle;

use std::alloc::{GlobalAlloc, Layout};

use burrow_alloc::sizeclass::{CLASSES, class_for, span_objects};
use burrow_alloc::{BurrowAlloc, stats, usable_size};

const A: BurrowAlloc = BurrowAlloc::without_background_scavenger();

/// Blocks another thread allocated and this one frees come back to this
/// thread's next allocations of the class, and none of those frees takes
/// the remote path (one CAS each on a span's remote list).
fn foreign_blocks_are_reused_without_the_remote_path() {
    let layout = Layout::from_size_align(200, 8).unwrap();
    let mut theirs: Vec<usize> = std::thread::spawn(move || {
        // SAFETY: a valid non-zero layout.
        (0..8)
            .map(|_| unsafe { A.alloc(layout) } as usize)
            .collect()
    })
    .join()
    .expect("the allocating thread");
    std::thread::spawn(move || {
        // A thread gets its bins at its first allocation's slow path (of
        // another class here, so that the ring holds only their blocks).
        let other = Layout::from_size_align(16, 8).unwrap();
        // SAFETY: a valid layout; the block is freed once.
        unsafe { A.dealloc(A.alloc(other), other) };
        let before = stats().remote_frees;
        for &p in &theirs {
            // SAFETY: allocated above with `layout`, freed once, here.
            unsafe { A.dealloc(p as *mut u8, layout) };
        }
        // SAFETY: a valid non-zero layout.
        let mut mine: Vec<usize> = (0..8)
            .map(|_| unsafe { A.alloc(layout) } as usize)
            .collect();
        let remote = stats().remote_frees - before;
        theirs.sort_unstable();
        mine.sort_unstable();
        assert_eq!(
            mine, theirs,
            "the freeing thread's next allocations are the blocks it freed"
        );
        assert_eq!(remote, 0, "frees into the bin took the remote path");
        for p in mine {
            // SAFETY: allocated just above with `layout`, freed once.
            unsafe { A.dealloc(p as *mut u8, layout) };
        }
    })
    .join()
    .expect("the freeing thread");
}

/// A `realloc` that shrinks into a smaller class moves the block (the
/// sized free will name the smaller class); one within the class keeps
/// it.
fn realloc_stays_within_the_class() {
    let old = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: valid layouts; each block is freed once with its layout.
    unsafe {
        let p = A.alloc(old);
        p.write_bytes(7, 48);
        let same = A.realloc(p, old, 41);
        assert_eq!(same, p, "48 -> 41 is the same class: kept in place");
        // 25 is more than half of 48, so an unsized realloc would keep
        // the block; but 25's class is 32.
        let q = A.realloc(same, Layout::from_size_align(41, 8).unwrap(), 25);
        let c25 = class_for(25, 8).unwrap();
        assert_ne!(q, p, "48 -> 25 changes class: moved");
        assert_eq!(
            usable_size(q),
            CLASSES[c25].size,
            "the new block is of 25's class"
        );
        assert!((0..25).all(|i| *q.add(i) == 7), "the bytes moved with it");
        let small = Layout::from_size_align(25, 8).unwrap();
        A.dealloc(q, small);
        assert_eq!(A.alloc(small), q, "the sized free put it in 25's bin");
        A.dealloc(q, small);
    }
}

/// A thread that frees into its bins and exits leaves no span in use for
/// them: the exit flush moves every binned block to its span first.
fn bins_are_emptied_at_thread_exit() {
    let size = 1024;
    let c = class_for(size, 8).unwrap();
    // Many spans' worth, freed in shuffled order: the bin's last blocks
    // then lie in as many different spans as it holds blocks.
    let n = span_objects(c) * 64;
    let before = stats().heap_inuse;
    std::thread::spawn(move || {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: a valid non-zero layout.
        let mut v: Vec<usize> = (0..n)
            .map(|_| unsafe { A.alloc(layout) } as usize)
            .collect();
        shuffle(&mut v, 0x2545_f491);
        for (i, p) in v.into_iter().enumerate() {
            // SAFETY: allocated above with `layout`, freed once.
            unsafe { A.dealloc(p as *mut u8, layout) };
            if i % 8 == 7 {
                // The thread allocates the class too, so its bin stays
                // open (*A thread that only frees* in `mcache/bins.rs`).
                // SAFETY: a valid layout; the block is freed once.
                unsafe { A.dealloc(A.alloc(layout), layout) };
            }
        }
    })
    .join()
    .expect("the thread");
    let after = stats().heap_inuse;
    // One span of slack: the class's kept empty span is given back at
    // exit, but a span of the Vec's class may be new.
    let span = (span_objects(c) * size) as u64;
    assert!(
        after <= before + span,
        "heap in use grew by {} bytes after the thread exited (one span is {span})",
        after.saturating_sub(before)
    );
}

/// A thread that frees another thread's blocks of a class and allocates
/// none of it holds none back: its bin closes when it first fills, and
/// every block reaches its span (here by the remote path, counted).
fn a_thread_that_only_frees_holds_nothing_back() {
    let layout = Layout::from_size_align(64, 8).unwrap();
    let blocks: Vec<usize> = std::thread::spawn(move || {
        // SAFETY: a valid non-zero layout.
        (0..1000)
            .map(|_| unsafe { A.alloc(layout) } as usize)
            .collect()
    })
    .join()
    .expect("the allocating thread");
    let n = blocks.len() as u64;
    std::thread::spawn(move || {
        // Registered, so that it has bins to close (by an allocation of
        // another class: one of 64 B could adopt a span of their blocks).
        let other = Layout::from_size_align(16, 8).unwrap();
        // SAFETY: a valid layout; the block is freed once.
        unsafe { A.dealloc(A.alloc(other), other) };
        let before = stats().remote_frees;
        for p in blocks {
            // SAFETY: allocated above with `layout`, freed once, here.
            unsafe { A.dealloc(p as *mut u8, layout) };
        }
        let remote = stats().remote_frees - before;
        assert_eq!(remote, n, "{} of {n} freed blocks held back", n - remote);
    })
    .join()
    .expect("the freeing thread");
}

/// The calling thread's counts are exact although a bin's fast paths
/// count nothing (*Counting* in `mcache/bins.rs`): pairs through the bin,
/// and a batch that overflows it and closes it, all counted once.
fn the_calling_threads_counts_are_exact() {
    std::thread::spawn(|| {
        let layout = Layout::from_size_align(96, 8).unwrap();
        let c = class_for(96, 8).unwrap();
        let other = Layout::from_size_align(16, 8).unwrap();
        // SAFETY: valid layouts; every block is freed once.
        unsafe {
            A.dealloc(A.alloc(other), other);
            let before = stats().by_class[c];
            for _ in 0..1000 {
                A.dealloc(A.alloc(layout), layout);
            }
            let kept: Vec<*mut u8> = (0..300).map(|_| A.alloc(layout)).collect();
            for p in kept {
                A.dealloc(p, layout);
            }
            let after = stats().by_class[c];
            assert_eq!(after.mallocs - before.mallocs, 1300, "allocations counted");
            assert_eq!(after.frees - before.frees, 1300, "frees counted");
        }
    })
    .join()
    .expect("the counting thread");
}

#[test]
fn bins_reuse_foreign_blocks_keep_classes_empty_at_exit_and_close() {
    foreign_blocks_are_reused_without_the_remote_path();
    realloc_stays_within_the_class();
    bins_are_emptied_at_thread_exit();
    a_thread_that_only_frees_holds_nothing_back();
    the_calling_threads_counts_are_exact();
}
