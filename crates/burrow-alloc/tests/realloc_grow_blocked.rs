//! A block grown by `reallocate` while other large blocks are allocated in
//! between (which the page heap may place right after it, so it cannot
//! grow in place) moves only a logarithmic number of times: each move
//! leaves half its size again of free room after it (see *Contiguous
//! growth* in `heap.rs`), and the heap does not put new blocks into that
//! room while other free runs fit them.
//!
//! 2048 steps of 64 KiB to 128 MiB, with a 64 KiB block allocated and kept
//! every 16 steps. Measured: 4 moves (the block ends up at the heap's top
//! and grows there); the heap before contiguous growth and room took 20,
//! and placing each new block right after the growing one would force a
//! move every 16 steps (127). The bound is 10.

use burrow_alloc::{allocate, deallocate, reallocate};

const STEP: usize = 64 * 1024;

#[test]
fn realloc_grows_past_other_blocks_with_few_moves() {
    let steps = 2048;
    let mut p = allocate(STEP, 16);
    assert!(!p.is_null());
    // SAFETY: `p` holds STEP bytes.
    unsafe { p.write_bytes(0, STEP) };
    let mut others = Vec::new();
    let mut moves = 0;
    for step in 1..steps {
        if step % 16 == 0 {
            let o = allocate(STEP, 16);
            assert!(!o.is_null());
            others.push(o);
        }
        // SAFETY: `p` is our live block, allocated with alignment 16.
        let q = unsafe { reallocate(p, 16, (step + 1) * STEP) };
        assert!(!q.is_null());
        if q != p {
            moves += 1;
        }
        p = q;
        // SAFETY: chunk `step` is inside the block.
        unsafe { p.add(step * STEP).write_bytes(step as u8, STEP) };
        for k in (0..step).step_by(7) {
            // SAFETY: chunk `k` is inside the block.
            assert_eq!(unsafe { *p.add(k * STEP) }, k as u8, "chunk {k} lost");
        }
    }
    eprintln!(
        "{moves} moves in {steps} steps, {} other blocks",
        others.len()
    );
    assert!(moves <= 10, "{moves} moves growing to 128 MiB (bound 10)");
    // SAFETY: our live blocks, each freed once.
    unsafe {
        deallocate(p);
        for o in others {
            deallocate(o);
        }
    }
}
