//! Thread-local and cross-thread churn, burrow-alloc against the system
//! allocator (glibc) in the same process, alternating runs: a quick check
//! of the paths a free takes, cheaper to build than the full
//! `cargo xtask bench --filter alloc` suite (which builds every peer).
//!
//! - `own_churn T`: T threads, each with 4096 live blocks of 16–1024 B;
//!   each step frees a random one of its own and allocates a new one
//!   (glibc's `bench-malloc-thread` and larson's shape): ns per step per
//!   thread, and for burrow how many frees took the remote path.
//! - `xthread`: 2 producer → consumer pairs, every free remote (the
//!   suite's `alloc_larson_xthread`): ns per block.
//! - `pair_16`: one thread, free a 16 B block and allocate one, ring of 64.
//!
//! Run: `cargo run --release -p burrow-alloc --example alloc_churn`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Instant;

use burrow_alloc::BurrowAlloc;

static BURROW: BurrowAlloc = BurrowAlloc::without_background_scavenger();

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("layout")
}

fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

fn own_churn<A: GlobalAlloc + Sync>(a: &'static A, threads: usize, steps: usize) -> f64 {
    const SLOTS: usize = 4096;
    let t = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|id| {
            std::thread::spawn(move || {
                let mut seed = id as u64 + 7;
                let mut slots: Vec<(usize, usize)> = (0..SLOTS)
                    .map(|_| {
                        let size = 16 + next(&mut seed) as usize % 1009;
                        // SAFETY: a non-zero-size layout.
                        (unsafe { a.alloc(layout(size)) } as usize, size)
                    })
                    .collect();
                for _ in 0..steps {
                    let i = next(&mut seed) as usize % SLOTS;
                    let (p, size) = slots[i];
                    // SAFETY: allocated with this layout, freed once.
                    unsafe { a.dealloc(p as *mut u8, layout(size)) };
                    let size = 16 + next(&mut seed) as usize % 1009;
                    // SAFETY: a non-zero-size layout.
                    let q = unsafe { a.alloc(layout(size)) };
                    // SAFETY: a fresh block of `size` bytes.
                    unsafe { q.write(1) };
                    slots[i] = (q as usize, size);
                }
                for (p, size) in slots {
                    // SAFETY: as above.
                    unsafe { a.dealloc(p as *mut u8, layout(size)) };
                }
                // Flush this thread's counts for the remote-free figure.
                let _ = burrow_alloc::stats();
            })
        })
        .collect();
    for h in hs {
        h.join().expect("churn thread");
    }
    t.elapsed().as_nanos() as f64 / steps as f64
}

fn xthread<A: GlobalAlloc + Sync>(a: &'static A, per: usize) -> f64 {
    let t = Instant::now();
    let mut hs = Vec::new();
    for id in 0..2u64 {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(usize, usize)>>(64);
        hs.push(std::thread::spawn(move || {
            let mut seed = id + 1;
            let mut batch = Vec::with_capacity(256);
            for _ in 0..per {
                let size = 16 + next(&mut seed) as usize % 497;
                // SAFETY: a non-zero-size layout.
                let p = unsafe { a.alloc(layout(size)) };
                // SAFETY: a fresh block.
                unsafe { p.write(1) };
                batch.push((p as usize, size));
                if batch.len() == 256 {
                    tx.send(std::mem::replace(&mut batch, Vec::with_capacity(256)))
                        .expect("consumer");
                }
            }
            tx.send(batch).expect("consumer");
        }));
        hs.push(std::thread::spawn(move || {
            for batch in rx.iter() {
                for (p, size) in batch {
                    // SAFETY: the producer allocated it with this layout.
                    unsafe { a.dealloc(p as *mut u8, layout(size)) };
                }
            }
            let _ = burrow_alloc::stats();
        }));
    }
    for h in hs {
        h.join().expect("xthread");
    }
    t.elapsed().as_nanos() as f64 / (2 * per) as f64
}

fn pair<A: GlobalAlloc>(a: &A, size: usize, n: usize) -> f64 {
    let l = layout(size);
    // SAFETY: each block is allocated with `l` and freed once with it.
    unsafe {
        let mut ring = [std::ptr::null_mut::<u8>(); 64];
        for s in ring.iter_mut() {
            *s = a.alloc(l);
        }
        let t = Instant::now();
        for i in 0..n {
            let s = &mut ring[i & 63];
            a.dealloc(*s, l);
            *s = black_box(a.alloc(l));
        }
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        for p in ring {
            a.dealloc(p, l);
        }
        ns
    }
}

/// Runs `f` for both allocators, alternating, `rounds` times; prints the
/// minimum and median of each.
fn compare(name: &str, unit: &str, rounds: usize, f: impl Fn(bool) -> f64) {
    let (mut sys, mut bur) = (Vec::new(), Vec::new());
    let remote0 = burrow_alloc::stats().remote_frees;
    for _ in 0..rounds {
        sys.push(f(false));
        bur.push(f(true));
    }
    let remote = burrow_alloc::stats().remote_frees - remote0;
    let mm = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let (s0, s1) = mm(&mut sys);
    let (b0, b1) = mm(&mut bur);
    println!(
        "{name:<14} {unit:<10} glibc min {s0:7.2} med {s1:7.2} | burrow min {b0:7.2} med {b1:7.2} | burrow remote frees {remote}"
    );
}

fn main() {
    static SYSTEM: System = System;
    for threads in [1usize, 2] {
        compare(&format!("own_churn {threads}"), "ns/step", 5, |b| {
            if b {
                own_churn(&BURROW, threads, 2_000_000)
            } else {
                own_churn(&SYSTEM, threads, 2_000_000)
            }
        });
    }
    compare("xthread", "ns/block", 5, |b| {
        if b {
            xthread(&BURROW, 1_000_000)
        } else {
            xthread(&SYSTEM, 1_000_000)
        }
    });
    compare("pair_16", "ns/pair", 7, |b| {
        if b {
            pair(&BURROW, 16, 5_000_000)
        } else {
            pair(&SYSTEM, 16, 5_000_000)
        }
    });
}
