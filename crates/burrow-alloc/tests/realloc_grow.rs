//! Growing one block by `reallocate`, 64 KiB at a time, to 256 MiB (the
//! way a growing buffer or a `Vec` pushed one chunk at a time grows) keeps
//! its contents at every step, takes well under the time a copy per step
//! would, and peaks at about the block's own size in RSS.
//!
//! Every step fills the new 64 KiB with the step's number and checks the
//! first byte of every earlier chunk, so the whole block is resident at the
//! end: the floor for peak RSS is the final size. The bounds:
//!
//! - **peak RSS** (`VmHWM`) at most 1.25 × the final size + 64 MiB over
//!   the RSS before the loop. Copying a block of more than about 0.6 × the
//!   final size needs old + new resident at once, over the bound; growing
//!   in place stays at 1 × (measured: +256 MiB). The allocator before
//!   *Contiguous growth* (`heap.rs`) copied the block at every 64 MiB arena
//!   boundary and peaked at +640 MiB here.
//! - **time** under 4 s: a guard against copying on every step (4096
//!   copies of 128 MiB on average, 512 GiB). The fill and the checks take
//!   0.4 s here; the old allocator's three arena-boundary copies took
//!   0.5 s, so time alone does not tell the two apart at this size (the
//!   same test at 1 GiB takes 2 s, most of it the checks; growing to 1 GiB
//!   with the old allocator took 10–12 s).
//!
//! `BURROW_REALLOC_GROW_MIB` sets the final size (default 256). One test in
//! this binary, so `VmHWM` is this test's.

use std::time::{Duration, Instant};

use burrow_alloc::{allocate, deallocate, reallocate};

const STEP: usize = 64 * 1024;

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

#[test]
fn realloc_grows_64k_at_a_time_without_copying() {
    let mib: usize = std::env::var("BURROW_REALLOC_GROW_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let total = mib << 20;
    let steps = total / STEP;
    let before = status_bytes("VmRSS");
    let start = Instant::now();

    let mut p = allocate(STEP, 16);
    assert!(!p.is_null());
    // SAFETY: `p` holds STEP bytes.
    unsafe { p.write_bytes(0, STEP) };
    for step in 1..steps {
        let size = (step + 1) * STEP;
        // SAFETY: `p` is our live block, allocated with alignment 16.
        let q = unsafe { reallocate(p, 16, size) };
        assert!(!q.is_null(), "realloc to {size} failed");
        p = q;
        // SAFETY: the block now holds `size` bytes; chunk `step` is new.
        unsafe { p.add(step * STEP).write_bytes(step as u8, STEP) };
        for k in 0..step {
            // SAFETY: chunk `k` lies inside the block.
            let got = unsafe { *p.add(k * STEP) };
            assert_eq!(got, k as u8, "chunk {k} lost at step {step}");
        }
    }
    for k in 0..steps {
        for off in [0, STEP / 2, STEP - 1] {
            // SAFETY: inside the block.
            let got = unsafe { *p.add(k * STEP + off) };
            assert_eq!(got, k as u8, "byte {off} of chunk {k} lost");
        }
    }
    let took = start.elapsed();
    let peak = status_bytes("VmHWM").saturating_sub(before);
    // SAFETY: our live block, freed once.
    unsafe { deallocate(p) };

    let limit = total as u64 + total as u64 / 4 + (64 << 20);
    eprintln!(
        "grew to {mib} MiB in {steps} steps: {took:?}, peak RSS +{} MiB (limit {} MiB)",
        peak >> 20,
        limit >> 20
    );
    assert!(
        peak <= limit,
        "peak RSS grew by {} MiB for a {mib} MiB block (limit {} MiB): the block was copied",
        peak >> 20,
        limit >> 20
    );
    assert!(
        took < Duration::from_secs(4),
        "growing to {mib} MiB took {took:?} (limit 4 s)"
    );
}
