//! Direct calls of the raw API in the shapes C programs use: every
//! power-of-two alignment up to 4 MiB, realloc growth across classes and
//! into large blocks, zeroed allocation.

use burrow_alloc::{allocate, allocate_zeroed, deallocate, reallocate, usable_size};

#[test]
fn every_alignment_is_honoured() {
    let mut al = 8usize;
    while al <= 1 << 22 {
        for size in [1, al / 3 + 1, al, al + 1] {
            let p = allocate(size, al);
            assert!(!p.is_null(), "size {size} align {al}");
            assert_eq!(p as usize % al, 0, "size {size} align {al}");
            assert!(usable_size(p) >= size);
            // SAFETY: a fresh block of `size` bytes.
            unsafe {
                p.write_bytes(7, size);
                deallocate(p);
            }
        }
        al <<= 1;
    }
}

#[test]
fn realloc_keeps_contents_across_classes_and_pages() {
    let mut p = allocate(10, 16);
    // SAFETY: blocks are live and at least as long as what we touch.
    unsafe {
        p.copy_from_nonoverlapping(b"burrow".as_ptr(), 6);
        let mut n = 20usize;
        while n < 8 << 20 {
            p = reallocate(p, 16, n);
            assert!(!p.is_null());
            assert_eq!(std::slice::from_raw_parts(p, 6), b"burrow", "at {n}");
            n = n * 3 + 1;
        }
        while n > 8 {
            p = reallocate(p, 16, n);
            assert_eq!(std::slice::from_raw_parts(p, 6), b"burrow", "at {n}");
            n /= 3;
        }
        deallocate(p);
    }
}

#[test]
fn zeroed_blocks_are_zero_even_after_reuse() {
    for round in 0..3 {
        let mut v = Vec::new();
        for size in [8usize, 100, 5000, 40_000, 1 << 20] {
            let p = allocate_zeroed(size, 8);
            // SAFETY: a fresh block of `size` bytes.
            unsafe {
                assert!(
                    std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0),
                    "round {round} size {size}"
                );
                p.write_bytes(0xAB, size);
            }
            v.push(p);
        }
        for p in v {
            // SAFETY: live blocks freed once.
            unsafe { deallocate(p) };
        }
    }
}
