//! The allocator suite, shared by `alloc_system`, `alloc_burrow`,
//! `alloc_mimalloc` and `alloc_jemalloc`: one binary per allocator because
//! the global allocator is chosen per binary. Every binary prints the same
//! bench names, so `cargo xtask bench` lines them up.
//!
//! - `alloc_pair_{16,128,1024,8192}`: one thread, allocate a block and free
//!   the one allocated 64 steps earlier (a small live ring), ns per pair.
//! - `alloc_larson_xthread`: 2 producer → consumer pairs; producers
//!   allocate 16–512 B blocks, consumers free them (every free is remote),
//!   ns per block (wall time / blocks).
//! - `alloc_sweep`: sizes 16 B … 1 MiB doubling, mean ns per pair.
//! - `alloc_larson_{1,2,4}t`: Larson and Krishnan's server benchmark with
//!   mimalloc-bench's parameters (`larson 3 8 1000 5000 100 4141 T`):
//!   each of T threads owns 5000 blocks of 8–1000 B and replaces a random
//!   one (free, then allocate a new random size, write two bytes) 100 ×
//!   5000 times, then hands its blocks to a successor thread and exits; the
//!   successor frees blocks its predecessor made. Fixed work instead of
//!   larson's 3 s: 4 generations per thread (quick: 2 generations of 2
//!   rounds). ns per replacement, wall time over all threads' replacements.
//! - `alloc_realloc_grow`: one block grown by `realloc` 64 KiB at a time to
//!   256 MiB (quick: 8 MiB), one byte written per step, ms for the whole
//!   growth; `alloc_realloc_grow_rss` is the most RSS the growth added
//!   (sampled every 16 steps in a second, untimed pass), MiB.
//! - `alloc_burst_rss_after`: allocate 512 MiB (mixed sizes), free it,
//!   wait 2.5 s (decay 1 s + the scavenger's half-decay tick), RSS above the pre-burst RSS in MiB; `alloc_burst_rss_peak`
//!   is the peak RSS during the burst.

use std::alloc::{Layout, alloc, dealloc};
use std::hint::black_box;
use std::time::{Duration, Instant};

use burrow_benches::{Args, Better, report, rss_bytes, sample_n};

fn pair_ns(size: usize, n: usize) -> f64 {
    let layout = Layout::from_size_align(size, 8).expect("layout");
    let mut ring = [std::ptr::null_mut::<u8>(); 64];
    // SAFETY: each block is allocated with `layout` and freed once with it.
    unsafe {
        for slot in ring.iter_mut() {
            *slot = alloc(layout);
        }
        let t = Instant::now();
        for i in 0..n {
            let slot = &mut ring[i & 63];
            dealloc(*slot, layout);
            *slot = black_box(alloc(layout));
        }
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        for p in ring {
            dealloc(p, layout);
        }
        ns
    }
}

fn xthread_ns(per_producer: usize) -> f64 {
    let t = Instant::now();
    let mut hs = Vec::new();
    for id in 0..2u64 {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<usize>>(64);
        hs.push(std::thread::spawn(move || {
            let mut seed = id + 1;
            let mut batch = Vec::with_capacity(256);
            for _ in 0..per_producer {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                let size = 16 + (seed >> 40) as usize % 497;
                let layout = Layout::from_size_align(size, 8).expect("layout");
                // SAFETY: non-zero size layout.
                let p = unsafe { alloc(layout) };
                // SAFETY: fresh block of `size` bytes.
                unsafe { p.write(1) };
                batch.push(p as usize | (size << 48));
                if batch.len() == 256 {
                    tx.send(std::mem::replace(&mut batch, Vec::with_capacity(256)))
                        .expect("consumer");
                }
            }
            tx.send(batch).expect("consumer");
        }));
        hs.push(std::thread::spawn(move || {
            for batch in rx.iter() {
                for v in batch {
                    let (p, size) = ((v & ((1 << 48) - 1)) as *mut u8, v >> 48);
                    let layout = Layout::from_size_align(size, 8).expect("layout");
                    // SAFETY: the producer allocated it with this layout.
                    unsafe { dealloc(p, layout) };
                }
            }
        }));
    }
    for h in hs {
        h.join().expect("larson thread");
    }
    t.elapsed().as_nanos() as f64 / (2 * per_producer) as f64
}

/// Larson's `lran2`-style generator (a 64-bit LCG here).
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// One thread's blocks: addresses and sizes (0 = empty slot).
struct Blocks(Vec<(usize, usize)>);

impl Blocks {
    fn free_all(self) {
        for (p, size) in self.0 {
            if size != 0 {
                let layout = Layout::from_size_align(size, 8).expect("layout");
                // SAFETY: allocated with this layout, freed once.
                unsafe { dealloc(p as *mut u8, layout) };
            }
        }
    }
}

/// One generation of a larson thread: `ops` replacements in `blocks`, then
/// (if `left` > 0) a successor thread that inherits them.
fn larson_generation(mut blocks: Blocks, mut seed: u64, ops: usize, left: usize) -> Blocks {
    let n = blocks.0.len() as u64;
    for _ in 0..ops {
        let victim = (next(&mut seed) % n) as usize;
        let (p, size) = blocks.0[victim];
        if size != 0 {
            let layout = Layout::from_size_align(size, 8).expect("layout");
            // SAFETY: allocated with this layout by this lineage, freed once.
            unsafe { dealloc(p as *mut u8, layout) };
        }
        let size = 8 + (next(&mut seed) % 992) as usize;
        let layout = Layout::from_size_align(size, 8).expect("layout");
        // SAFETY: a non-zero size.
        let q = unsafe { alloc(layout) };
        assert!(!q.is_null(), "out of memory");
        // SAFETY: `q` holds `size` ≥ 8 bytes; larson writes two.
        unsafe {
            q.write_volatile(b'a');
            q.add(1).write_volatile(b'b');
        }
        blocks.0[victim] = (q as usize, size);
    }
    if left == 0 {
        return blocks;
    }
    std::thread::spawn(move || larson_generation(blocks, seed, ops, left - 1))
        .join()
        .expect("larson thread")
}

/// Larson with `threads` lineages of `generations` threads, each doing
/// `rounds` × 5000 replacements; ns per replacement (wall time).
fn larson_ns(threads: usize, rounds: usize, generations: usize) -> f64 {
    const PER_THREAD: usize = 5000;
    // The main thread makes every lineage's first blocks, as larson does.
    let mut seed = 4141u64;
    let lineages: Vec<Blocks> = (0..threads)
        .map(|_| {
            Blocks(
                (0..PER_THREAD)
                    .map(|_| {
                        let size = 8 + (next(&mut seed) % 992) as usize;
                        let layout = Layout::from_size_align(size, 8).expect("layout");
                        // SAFETY: a non-zero size.
                        (unsafe { alloc(layout) } as usize, size)
                    })
                    .collect(),
            )
        })
        .collect();
    let ops = rounds * PER_THREAD;
    let t = Instant::now();
    let hs: Vec<_> = lineages
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let seed = 4141 + i as u64;
            std::thread::spawn(move || larson_generation(b, seed, ops, generations - 1))
        })
        .collect();
    let ends: Vec<Blocks> = hs.into_iter().map(|h| h.join().expect("larson")).collect();
    let ns = t.elapsed().as_nanos() as f64 / (threads * generations * ops) as f64;
    for b in ends {
        b.free_all();
    }
    ns
}

/// Grows one block by `realloc` in 64 KiB steps to `mib`, writing a byte
/// per step. Returns the ms taken and, if `sample`, the most RSS it added
/// (read every 16 steps) in MiB.
fn realloc_grow(mib: usize, sample: bool) -> (f64, f64) {
    const STEP: usize = 64 * 1024;
    let base = rss_bytes();
    let mut peak = base;
    let t = Instant::now();
    let mut layout = Layout::from_size_align(STEP, 16).expect("layout");
    // SAFETY: a non-zero size.
    let mut p = unsafe { alloc(layout) };
    for step in 1..(mib << 20) / STEP {
        let size = (step + 1) * STEP;
        // SAFETY: `p` is live with `layout`; the new size is valid.
        p = unsafe { std::alloc::realloc(p, layout, size) };
        assert!(!p.is_null(), "realloc to {size} failed");
        layout = Layout::from_size_align(size, 16).expect("layout");
        // SAFETY: inside the block.
        unsafe { p.add(step * STEP).write_volatile(step as u8) };
        if sample && step % 16 == 0 {
            peak = peak.max(rss_bytes());
        }
    }
    let ms = t.elapsed().as_secs_f64() * 1e3;
    // SAFETY: live with `layout`, freed once.
    unsafe { dealloc(black_box(p), layout) };
    (ms, (peak - base) as f64 / (1024.0 * 1024.0))
}

fn sweep_ns(n: usize) -> f64 {
    let mut total = 0.0;
    let mut count = 0.0;
    let mut size = 16;
    while size <= 1 << 20 {
        let reps = (n / (1 + size / 4096)).max(200);
        total += pair_ns(size, reps);
        count += 1.0;
        size *= 2;
    }
    total / count
}

fn burst(mib: usize, wait: Duration) -> (f64, f64) {
    let before = rss_bytes();
    let mut v: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0;
    let mut i = 0usize;
    while bytes < mib << 20 {
        let size = [64usize, 1024, 16 * 1024, 256 * 1024][i % 4];
        v.push(vec![1u8; size]);
        bytes += size;
        i += 1;
    }
    let peak = rss_bytes();
    drop(v);
    std::thread::sleep(wait);
    let after = rss_bytes();
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    (
        mb(peak.saturating_sub(before)),
        mb(after.saturating_sub(before)),
    )
}

/// Runs the suite for implementation `imp`.
pub fn run(imp: &str) {
    let args = Args::parse();
    for size in [16usize, 128, 1024, 8192] {
        let name = format!("alloc_pair_{size}");
        if args.wants(&name) {
            let n = args.pick(5_000_000, 200_000);
            let s = sample_n(args.samples(7), || pair_ns(size, n));
            let what = format!("{size} B, ring of 64, {n} pairs");
            report(&name, &what, "ns/pair", Better::Lower, imp, &s);
        }
    }
    if args.wants("alloc_larson_xthread") {
        let n = args.pick(2_000_000, 100_000);
        let s = sample_n(args.samples(5), || xthread_ns(n));
        let what = format!("2 producers -> 2 consumers, {n} blocks each, 16-512 B");
        report(
            "alloc_larson_xthread",
            &what,
            "ns/block",
            Better::Lower,
            imp,
            &s,
        );
    }
    for threads in [1usize, 2, 4] {
        let name = format!("alloc_larson_{threads}t");
        if args.wants(&name) {
            let (rounds, generations) = args.pick((100, 4), (2, 2));
            let s = sample_n(args.samples(3), || larson_ns(threads, rounds, generations));
            let what = format!(
                "{threads} threads x {generations} generations x {rounds} x 5000 replacements, 8-1000 B"
            );
            report(&name, &what, "ns/op", Better::Lower, imp, &s);
        }
    }
    if args.wants("alloc_realloc_grow") {
        let mib = args.pick(256, 8);
        let s = sample_n(args.samples(5), || realloc_grow(mib, false).0);
        let what = format!("64 KiB steps to {mib} MiB");
        report("alloc_realloc_grow", &what, "ms", Better::Lower, imp, &s);
        let (_, rss) = realloc_grow(mib, true);
        report(
            "alloc_realloc_grow_rss",
            &what,
            "MiB",
            Better::Lower,
            imp,
            &[rss],
        );
    }
    if args.wants("alloc_sweep") {
        let n = args.pick(200_000, 10_000);
        let s = sample_n(args.samples(5), || sweep_ns(n));
        report(
            "alloc_sweep",
            "16 B .. 1 MiB doubling",
            "ns/pair",
            Better::Lower,
            imp,
            &s,
        );
    }
    if args.wants("alloc_burst_rss") {
        let (mib, wait) = args.pick(
            (512, Duration::from_millis(2500)),
            (64, Duration::from_millis(2500)),
        );
        let (peak, after) = burst(mib, wait);
        let what = format!(
            "{mib} MiB burst (64 B .. 256 KiB), freed, {} ms later",
            wait.as_millis()
        );
        report(
            "alloc_burst_rss_peak",
            &what,
            "MiB",
            Better::Lower,
            imp,
            &[peak],
        );
        report(
            "alloc_burst_rss_after",
            &what,
            "MiB",
            Better::Lower,
            imp,
            &[after],
        );
    }
}
