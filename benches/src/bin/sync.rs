//! Sync benchmarks, burrow against its peers in one run:
//!
//! - `mutex_contended_8` / `mutex_contended_1000`: 8 (or 1000)
//!   goroutines (tasks, threads) each doing K lock + increment + unlock
//!   on one mutex; ns per operation (total time / all operations).
//!
//! Peers: Go's `sync.Mutex` (`benches/go/sync.go`, when `go` is on PATH),
//! tokio's `Mutex` (tasks on the multi-thread runtime, same worker count),
//! std's `Mutex` on OS threads (8, and 1000 as they survive), and may's
//! `Mutex` (coroutines, same worker count).

use std::sync::Arc;
use std::time::Instant;

use burrow_benches::{Args, Better, burrow_rt, procs, report, run_go, sample_n, tokio_rt};
use burrow_sched::{go, sync::Mutex};

fn check(total: u64, g: usize, k: usize) {
    assert_eq!(total, (g * k) as u64, "lost updates");
}

fn burrow(g: usize, k: usize, samples: usize) -> Vec<f64> {
    burrow_rt().run(move || {
        sample_n(samples, || {
            let m = Arc::new(Mutex::new(0u64));
            let t = Instant::now();
            let hs: Vec<_> = (0..g)
                .map(|_| {
                    let m = m.clone();
                    go(move || {
                        for _ in 0..k {
                            *m.lock() += 1;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let el = t.elapsed();
            check(*m.lock(), g, k);
            el.as_nanos() as f64 / (g * k) as f64
        })
    })
}

fn tokio_once(rt: &tokio::runtime::Runtime, g: usize, k: usize) -> f64 {
    rt.block_on(async move {
        let m = Arc::new(tokio::sync::Mutex::new(0u64));
        let t = Instant::now();
        let hs: Vec<_> = (0..g)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move {
                    for _ in 0..k {
                        *m.lock().await += 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        let el = t.elapsed();
        check(*m.lock().await, g, k);
        el.as_nanos() as f64 / (g * k) as f64
    })
}

fn threads_once(g: usize, k: usize) -> Option<f64> {
    let m = Arc::new(std::sync::Mutex::new(0u64));
    let t = Instant::now();
    let mut hs = Vec::with_capacity(g);
    for _ in 0..g {
        let m = m.clone();
        let h = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                for _ in 0..k {
                    *m.lock().unwrap() += 1;
                }
            })
            .ok()?;
        hs.push(h);
    }
    for h in hs {
        h.join().unwrap();
    }
    let el = t.elapsed();
    check(*m.lock().unwrap(), g, k);
    Some(el.as_nanos() as f64 / (g * k) as f64)
}

fn may_once(g: usize, k: usize) -> f64 {
    let m = Arc::new(may::sync::Mutex::new(0u64));
    let t = Instant::now();
    let hs: Vec<_> = (0..g)
        .map(|_| {
            let m = m.clone();
            // SAFETY: may's spawn is unsafe because of thread-locals; the
            // closure uses none.
            unsafe {
                may::coroutine::spawn(move || {
                    for _ in 0..k {
                        *m.lock().unwrap() += 1;
                    }
                })
            }
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let el = t.elapsed();
    check(*m.lock().unwrap(), g, k);
    el.as_nanos() as f64 / (g * k) as f64
}

fn bench_contended(args: &Args, g: usize) {
    let name = format!("mutex_contended_{g}");
    if !args.wants(&name) {
        return;
    }
    // About a million operations per sample in the full run.
    let k = args.pick(1_000_000 / g, 20_000 / g);
    let s = args.samples(5);
    // One size string for every peer (the report groups by it): a
    // "goroutine" is a task for tokio, a coroutine for may, a thread for
    // std.
    let size = format!("{g} goroutines x {k} ops");
    let unit = "ns/op";
    report(
        &name,
        &size,
        unit,
        Better::Lower,
        "burrow",
        &burrow(g, k, s),
    );
    let trt = tokio_rt();
    report(
        &name,
        &size,
        unit,
        Better::Lower,
        "tokio",
        &sample_n(s, || tokio_once(&trt, g, k)),
    );
    drop(trt);
    report(
        &name,
        &size,
        unit,
        Better::Lower,
        "may",
        &sample_n(s, || may_once(g, k)),
    );
    match threads_once(g, k) {
        Some(_) => report(
            &name,
            &size,
            unit,
            Better::Lower,
            "std-threads",
            &sample_n(s, || threads_once(g, k).expect("threads spawned once")),
        ),
        None => burrow_benches::skip(&name, "std-threads", "cannot spawn that many threads"),
    }
    run_go(
        &name,
        "sync.go",
        &[name.clone(), g.to_string(), k.to_string(), s.to_string()],
    );
}

fn main() {
    let args = Args::parse();
    may::config().set_workers(procs());
    bench_contended(&args, 8);
    bench_contended(&args, 1000);
}
