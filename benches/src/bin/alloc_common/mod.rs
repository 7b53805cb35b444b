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

fn larson_ns(per_producer: usize) -> f64 {
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
        let s = sample_n(args.samples(5), || larson_ns(n));
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
