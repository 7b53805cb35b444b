//! Sizes at the top of the address space: every entry point refuses them
//! with null and never hands out a smaller block (see *Sizes near the top
//! of the address space* in the crate docs).
//!
//! The allocator's size arithmetic is checked explicitly, so this test
//! profile (overflow checks on) and a release build take the same paths;
//! a wrapping computation would return a block here (or panic on the
//! overflow check), and either fails the test.

use std::alloc::{GlobalAlloc, Layout};

use burrow_alloc::{BurrowAlloc, allocate, allocate_zeroed, deallocate, reallocate, usable_size};

/// How far below `usize::MAX` the walks go.
const EDGE: usize = 4096;

/// Every power-of-two alignment from 1 byte to 1 GiB, then a few beyond
/// (up to the largest power of two a `usize` holds).
fn alignments() -> impl Iterator<Item = usize> {
    (0..=30).chain([31, 40, 50, 62, 63]).map(|s| 1usize << s)
}

#[test]
fn allocate_refuses_sizes_near_usize_max_at_every_alignment() {
    for k in 0..EDGE {
        let size = usize::MAX - k;
        for align in alignments() {
            let p = allocate(size, align);
            assert!(p.is_null(), "allocate(MAX - {k}, {align}) gave {p:?}");
            let z = allocate_zeroed(size, align);
            assert!(
                z.is_null(),
                "allocate_zeroed(MAX - {k}, {align}) gave {z:?}"
            );
        }
    }
}

#[test]
fn allocate_refuses_sizes_just_over_isize_max() {
    let top = isize::MAX as usize;
    for size in [top + 1, top + 2, top + 4096, top + (1 << 20)] {
        for align in alignments() {
            assert!(
                allocate(size, align).is_null(),
                "allocate({size:#x}, {align}) succeeded"
            );
        }
    }
}

#[test]
fn alignment_slack_past_isize_max_is_refused() {
    // One byte, but an alignment whose slack alone passes isize::MAX.
    for shift in [62, 63] {
        let align = 1usize << shift;
        assert!(allocate(1, align).is_null(), "align 2^{shift}");
    }
}

#[test]
fn reallocate_refuses_sizes_near_usize_max_and_keeps_the_block() {
    // A small block, a large block and a page-aligned large block.
    for (size, align) in [(24usize, 16usize), (256 << 10, 16), (40_000, 1 << 20)] {
        let p = allocate(size, align);
        assert!(!p.is_null());
        // SAFETY: `p` is a live block of `size` bytes.
        unsafe { p.write_bytes(0x5a, size) };
        for k in 0..EDGE {
            // SAFETY: `p` is live with alignment `align`; a refused
            // reallocate leaves it live.
            let q = unsafe { reallocate(p, align, usize::MAX - k) };
            assert!(q.is_null(), "reallocate({size} -> MAX - {k}) gave {q:?}");
        }
        // SAFETY: `p` is still live and `size` bytes long.
        let intact = unsafe { std::slice::from_raw_parts(p, size) }
            .iter()
            .all(|&b| b == 0x5a);
        assert!(intact, "a refused reallocate changed the block");
        assert!(usable_size(p) >= size);
        // SAFETY: freed once.
        unsafe { deallocate(p) };
    }
}

#[test]
fn global_alloc_refuses_the_largest_layouts() {
    let a = BurrowAlloc::without_background_scavenger();
    for align in alignments().filter(|&al| al <= 1 << 30) {
        // The largest size Layout accepts at this alignment, and a few below.
        let top = isize::MAX as usize - (align - 1);
        for k in [0, 1, 7, 8, 4095, 4096, 1 << 20] {
            let layout = Layout::from_size_align(top - k, align).expect("a valid layout");
            // SAFETY: a non-zero-size layout.
            let p = unsafe { a.alloc(layout) };
            assert!(p.is_null(), "alloc({layout:?}) gave {p:?}");
            // SAFETY: as above.
            let z = unsafe { a.alloc_zeroed(layout) };
            assert!(z.is_null(), "alloc_zeroed({layout:?}) gave {z:?}");
        }
        let small = Layout::from_size_align(64, align).expect("layout");
        // SAFETY: a non-zero-size layout.
        let p = unsafe { a.alloc(small) };
        assert!(!p.is_null(), "alloc(64, {align})");
        // SAFETY: `p` is live with layout `small`; `top` rounded up to
        // `align` does not pass isize::MAX (GlobalAlloc's contract).
        let q = unsafe { a.realloc(p, small, top) };
        assert!(
            q.is_null(),
            "realloc to {top:#x} at align {align} gave {q:?}"
        );
        // SAFETY: a refused realloc leaves `p` live.
        unsafe { a.dealloc(p, small) };
    }
}

#[test]
fn usable_size_is_zero_off_the_heap() {
    assert_eq!(usable_size(std::ptr::null()), 0);
    assert_eq!(usable_size(usize::MAX as *const u8), 0);
    assert_eq!(usable_size((usize::MAX - 4095) as *const u8), 0);
}
