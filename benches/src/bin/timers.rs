//! Timer benchmarks, burrow against its peers in one run:
//!
//! - `timers_1m`: N goroutines (tasks) each sleeping 100 ms, spawned from
//!   one and joined; total wall time in ms (the floor is 100 ms: the rest
//!   is adding, firing and waking a million timers). DESIGN.md §9 measured
//!   Go 2.0–2.3 s and tokio 0.86–1.05 s on this box.
//!
//! Peers: tokio (`tokio::time::sleep`, same worker count), Go
//! (`benches/go/timers.go`, `time.Sleep`, when `go` is on PATH). Each
//! implementation runs one warm-up sample first, discarded (the Go peer
//! does the same).

use std::time::{Duration, Instant};

use burrow_benches::{Args, Better, burrow_rt, report, run_go, sample_n, tokio_rt};
use burrow_sched::{go, sleep};

const NAP: Duration = Duration::from_millis(100);

/// `samples` samples after a discarded warm-up.
fn warm_samples(samples: usize, mut f: impl FnMut() -> f64) -> Vec<f64> {
    let mut v = sample_n(samples + 1, &mut f);
    v.remove(0);
    v
}

fn sleepers_burrow(n: usize, samples: usize) -> Vec<f64> {
    let rt = burrow_rt();
    rt.run(move || {
        warm_samples(samples, || {
            let t = Instant::now();
            let hs: Vec<_> = (0..n).map(|_| go(|| sleep(NAP))).collect();
            for h in hs {
                h.join().unwrap();
            }
            t.elapsed().as_secs_f64() * 1e3
        })
    })
}

fn sleepers_tokio(n: usize, samples: usize) -> Vec<f64> {
    let rt = tokio_rt();
    warm_samples(samples, || {
        rt.block_on(async move {
            let t = Instant::now();
            let hs: Vec<_> = (0..n)
                .map(|_| tokio::spawn(tokio::time::sleep(NAP)))
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            t.elapsed().as_secs_f64() * 1e3
        })
    })
}

fn main() {
    let args = Args::parse();
    let name = "timers_1m";
    if !args.wants(name) {
        return;
    }
    let n = args.pick(1_000_000, 10_000);
    let s = args.samples(5);
    let size = format!("{n} goroutines x sleep 100ms");
    report(
        name,
        &size,
        "ms",
        Better::Lower,
        "burrow",
        &sleepers_burrow(n, s),
    );
    report(
        name,
        &size,
        "ms",
        Better::Lower,
        "tokio",
        &sleepers_tokio(n, s),
    );
    run_go(
        name,
        "timers.go",
        &[name.to_string(), n.to_string(), s.to_string()],
    );
}
