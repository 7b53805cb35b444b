//! proptest: random alloc/realloc/free sequences of random sizes and
//! alignments, on several threads at once, never overlap, keep alignment and
//! keep contents across realloc. Blocks are also handed between threads so
//! some frees are remote.

use std::collections::BTreeMap;
use std::sync::mpsc;

use burrow_alloc::{allocate, deallocate, reallocate, usable_size};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_shift: u32 },
    Realloc { idx: usize, size: usize },
    Free { idx: usize },
    Give { idx: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let size = prop_oneof![1usize..64, 64usize..4096, 4096usize..70_000, 0usize..1];
    prop_oneof![
        4 => (size.clone(), 0u32..14).prop_map(|(size, align_shift)| Op::Alloc { size, align_shift }),
        2 => (any::<usize>(), size).prop_map(|(idx, size)| Op::Realloc { idx, size }),
        2 => any::<usize>().prop_map(|idx| Op::Free { idx }),
        1 => any::<usize>().prop_map(|idx| Op::Give { idx }),
    ]
}

struct Block {
    p: usize,
    size: usize,
    align: usize,
    tag: u8,
}

fn fill(b: &Block) {
    // SAFETY: the block is live and `size` bytes long.
    unsafe { std::ptr::write_bytes(b.p as *mut u8, b.tag, b.size) };
}

fn check(b: &Block, n: usize) {
    // SAFETY: the block is live and at least `n` bytes long.
    let s = unsafe { std::slice::from_raw_parts(b.p as *const u8, n) };
    assert!(s.iter().all(|&x| x == b.tag), "contents of {:#x} lost", b.p);
}

fn run_thread(ops: Vec<Op>, tag0: u8, tx: mpsc::Sender<Block>, rx: mpsc::Receiver<Block>) {
    let mut live: Vec<Block> = Vec::new();
    let mut tag = tag0;
    for op in ops {
        while let Ok(b) = rx.try_recv() {
            check(&b, b.size);
            live.push(b);
        }
        match op {
            Op::Alloc { size, align_shift } => {
                let align = 1usize << align_shift;
                let p = allocate(size, align) as usize;
                assert_ne!(p, 0);
                assert_eq!(p % align, 0, "align {align} size {size}");
                assert!(usable_size(p as *const u8) >= size);
                tag = tag.wrapping_add(1);
                let b = Block {
                    p,
                    size,
                    align,
                    tag,
                };
                fill(&b);
                live.push(b);
            }
            Op::Realloc { idx, size } if !live.is_empty() => {
                let i = idx % live.len();
                let b = &mut live[i];
                // SAFETY: `b` is live with this alignment.
                let q = unsafe { reallocate(b.p as *mut u8, b.align, size) } as usize;
                assert_ne!(q, 0);
                assert_eq!(q % b.align, 0);
                let keep = b.size.min(size);
                b.p = q;
                check(b, keep);
                b.size = size;
                fill(b);
            }
            Op::Free { idx } if !live.is_empty() => {
                let b = live.swap_remove(idx % live.len());
                check(&b, b.size);
                // SAFETY: live, freed once.
                unsafe { deallocate(b.p as *mut u8) };
            }
            Op::Give { idx } if !live.is_empty() => {
                let b = live.swap_remove(idx % live.len());
                let _ = tx.send(b);
            }
            _ => {}
        }
        // No two live blocks of this thread overlap.
        let mut spans = BTreeMap::new();
        for b in &live {
            spans.insert(b.p, b.size.max(1));
        }
        let mut end = 0;
        for (&p, &n) in &spans {
            assert!(p >= end, "blocks overlap at {p:#x}");
            end = p + n;
        }
    }
    for b in live.drain(..) {
        check(&b, b.size);
        // SAFETY: live, freed once.
        unsafe { deallocate(b.p as *mut u8) };
    }
    drop(tx);
    for b in rx.iter() {
        check(&b, b.size);
        // SAFETY: live, freed once (handed to us by the ring).
        unsafe { deallocate(b.p as *mut u8) };
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn threads_never_overlap_and_keep_contents(
        seqs in proptest::collection::vec(proptest::collection::vec(op(), 1..300), 3..5)
    ) {
        // Threads in a ring: each gives blocks to the next (remote frees).
        let n = seqs.len();
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel::<Block>()).unzip();
        let mut rxs: Vec<Option<_>> = rxs.into_iter().map(Some).collect();
        let handles: Vec<_> = seqs
            .into_iter()
            .enumerate()
            .map(|(i, ops)| {
                let tx = txs[(i + 1) % n].clone();
                let rx = rxs[i].take().expect("rx");
                std::thread::spawn(move || run_thread(ops, (i * 50) as u8, tx, rx))
            })
            .collect();
        drop(txs);
        for h in handles {
            h.join().expect("thread panicked");
        }
    }
}
