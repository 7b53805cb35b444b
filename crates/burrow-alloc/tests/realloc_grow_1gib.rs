//! Growing one block by `reallocate` 64 KiB at a time to 1 GiB, while
//! other large blocks are allocated in between so that it must move now
//! and then, never copies it: a large block that cannot grow in place
//! moves its pages with `mremap` (see *Moving a block* in `heap/large.rs`).
//!
//! Each step writes one byte at the start of the new 64 KiB chunk, so the
//! block's resident part stays small (one page a chunk, 64 MiB at the
//! end, more if transparent huge pages fill whole 2 MiB pages). A copy
//! touches every page of the destination: one move of a block of half the
//! final size would add 512 MiB of RSS. The bound on peak RSS (`VmHWM`)
//! over the RSS before the loop is 320 MiB; measured: +65 MiB, 8 moves,
//! 0.2 s in a release build on a loaded box (copying instead: +1.6 GiB,
//! 1.6 s). Every chunk's byte is checked at the end and a sample of them
//! every 256 steps. A move splits the heap's mapping (the moved pages
//! keep their own); freeing the block maps fresh pages over it, which
//! merge again: at the end the heap's range is one mapping (two if an
//! arena could not go right after the last). One test in this binary, so `VmHWM` is this test's.

use std::time::{Duration, Instant};

use burrow_alloc::{allocate, deallocate, reallocate};

const STEP: usize = 64 * 1024;
const TOTAL: usize = 1 << 30;

/// A field of `/proc/self/status` in bytes (`VmHWM`, `VmRSS`).
fn status_bytes(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = s
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// Lines of `/proc/self/maps` (mappings) overlapping `[lo, hi)`.
fn mappings_in(lo: usize, hi: usize) -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("maps")
        .lines()
        .filter(|l| {
            let range = l.split_whitespace().next().expect("a range");
            let (a, b) = range.split_once('-').expect("start-end");
            let a = usize::from_str_radix(a, 16).expect("hex");
            let b = usize::from_str_radix(b, 16).expect("hex");
            a < hi && b > lo
        })
        .count()
}

#[test]
fn realloc_to_1gib_moves_pages_instead_of_copying() {
    let steps = TOTAL / STEP;
    let before = status_bytes("VmRSS");
    let start = Instant::now();
    let mut p = allocate(STEP, 16);
    assert!(!p.is_null());
    // SAFETY: `p` holds STEP bytes.
    unsafe { p.write(1) };
    let mut others = Vec::new();
    let mut moves = 0;
    let (mut lo, mut hi) = (p as usize, p as usize + STEP);
    for step in 1..steps {
        if step % 16 == 0 {
            let o = allocate(STEP, 16);
            assert!(!o.is_null());
            others.push(o);
        }
        // SAFETY: `p` is our live block, allocated with alignment 16.
        let q = unsafe { reallocate(p, 16, (step + 1) * STEP) };
        assert!(!q.is_null(), "realloc to {} failed", (step + 1) * STEP);
        if q != p {
            moves += 1;
        }
        p = q;
        lo = lo.min(p as usize);
        hi = hi.max(p as usize + (step + 1) * STEP);
        // SAFETY: chunk `step` is inside the block.
        unsafe { p.add(step * STEP).write(step as u8 | 1) };
        if step % 256 == 0 {
            for k in (0..step).step_by(61) {
                // SAFETY: chunk `k` is inside the block.
                let got = unsafe { *p.add(k * STEP) };
                assert_eq!(got, k as u8 | 1, "chunk {k} lost at step {step}");
            }
        }
    }
    let took = start.elapsed();
    let peak = status_bytes("VmHWM").saturating_sub(before);
    for k in 0..steps {
        // SAFETY: chunk `k` is inside the block.
        assert_eq!(unsafe { *p.add(k * STEP) }, k as u8 | 1, "chunk {k} lost");
    }
    let split = mappings_in(lo, hi);
    eprintln!(
        "1 GiB in {took:?}, {moves} moves, peak RSS +{} MiB, {split} mappings",
        peak >> 20
    );
    assert!(moves >= 1, "the block never moved: the test tests nothing");
    assert!(
        peak <= 320 << 20,
        "peak RSS +{} MiB growing to 1 GiB: the block was copied",
        peak >> 20
    );
    assert!(
        took < Duration::from_secs(5),
        "growing to 1 GiB took {took:?}"
    );
    // SAFETY: our live blocks, each freed once.
    unsafe {
        deallocate(p);
        for o in others {
            deallocate(o);
        }
    }
    let healed = mappings_in(lo, hi);
    assert!(
        healed <= 2,
        "the heap's range is {healed} mappings after the free ({split} before it): \
         moved pages left their mappings split"
    );
}
