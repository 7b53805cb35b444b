//! The blocking hand-off benchmarks of the `sched` suite (see the list in
//! `main.rs`): `blocking_call`, `blocking_handoff_latency`,
//! `blocking_handoff_fs` and `blocking_handoff_mix`, each beside Go's
//! system calls and tokio's `block_in_place` / `spawn_blocking` /
//! `tokio::fs`.

use std::hint::black_box;
use std::time::Instant;

use burrow_benches::{Args, Better, burrow_rt, ns_per_op, report, run_go, sample_n, tokio_rt};
use burrow_sched::{blocking, go};

/// `getppid`, the cheapest real system call.
fn getppid() -> i32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() }
}

pub(crate) fn bench_blocking_call(args: &Args) {
    let name = "blocking_call";
    let n = args.pick(1_000_000u64, 50_000);
    let size = format!("{n} getppid calls");
    let s = args.samples(5);
    let samples = burrow_rt().run(move || {
        sample_n(s, || {
            ns_per_op(n, || {
                for _ in 0..n {
                    black_box(blocking(getppid).unwrap());
                }
            })
        })
    });
    report(name, &size, "ns/call", Better::Lower, "burrow", &samples);
    let rt = tokio_rt();
    let samples = sample_n(s, || {
        rt.block_on(async move {
            tokio::spawn(async move {
                ns_per_op(n, || {
                    for _ in 0..n {
                        black_box(tokio::task::block_in_place(getppid));
                    }
                })
            })
            .await
            .unwrap()
        })
    });
    report(name, &size, "ns/call", Better::Lower, "tokio", &samples);
    let samples = sample_n(s, || {
        ns_per_op(n, || {
            for _ in 0..n {
                black_box(getppid());
            }
        })
    });
    report(
        name,
        &size,
        "ns/call",
        Better::Lower,
        "plain-call",
        &samples,
    );
    run_go(
        name,
        "sched.go",
        &[name.to_string(), n.to_string(), s.to_string()],
    );
}

/// The blocking sleep of `blocking_handoff_latency`.
const HANDOFF_SLEEP: std::time::Duration = std::time::Duration::from_millis(2);

pub(crate) fn bench_handoff_latency(args: &Args) {
    let name = "blocking_handoff_latency";
    let rounds = args.pick(50usize, 10);
    let size = format!("1 P, {rounds} rounds of a 2 ms blocking sleep");
    let s = args.samples(5);
    let rt = burrow_sched::Runtime::builder()
        .maxprocs(1)
        .build()
        .unwrap();
    let samples = rt.run(move || {
        sample_n(s, || {
            let lat: Vec<f64> = (0..rounds)
                .map(|_| {
                    let t0 = Instant::now();
                    // Queued on this (only) P behind the sleeper.
                    let waiter = go(move || t0.elapsed());
                    blocking(|| std::thread::sleep(HANDOFF_SLEEP)).unwrap();
                    waiter.join().unwrap().as_nanos() as f64 / 1e3
                })
                .collect();
            burrow_benches::median(&lat)
        })
    });
    report(name, &size, "us", Better::Lower, "burrow", &samples);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let samples = sample_n(s, || {
        rt.block_on(async move {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    let t0 = Instant::now();
                    let waiter = tokio::spawn(async move { t0.elapsed() });
                    tokio::task::block_in_place(|| std::thread::sleep(HANDOFF_SLEEP));
                    lat.push(waiter.await.unwrap().as_nanos() as f64 / 1e3);
                }
                burrow_benches::median(&lat)
            })
            .await
            .unwrap()
        })
    });
    report(name, &size, "us", Better::Lower, "tokio", &samples);
    run_go(
        name,
        "sched.go",
        &[name.to_string(), rounds.to_string(), s.to_string()],
    );
}

/// Goroutines (tasks) of `blocking_handoff_fs`, and twice the pairs of `blocking_handoff_mix`.
const FS_WORKERS: usize = 64;

/// The small file `blocking_handoff_fs` reads: 4 KiB in the temp dir.
fn handoff_fs_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("burrow-bench-fs-read-{}", std::process::id()));
    std::fs::write(&path, [7u8; 4096]).expect("write the blocking_handoff_fs file");
    path
}

pub(crate) fn bench_handoff_fs(args: &Args) {
    let name = "blocking_handoff_fs";
    let per = args.pick(4_000usize, 200);
    let total = (per * FS_WORKERS) as f64;
    let size = format!("{FS_WORKERS} goroutines x {per} reads of 4 KiB");
    let s = args.samples(5);
    let path = handoff_fs_file();
    let p = path.clone();
    let samples = burrow_rt().run(move || {
        sample_n(s, || {
            let t = Instant::now();
            let hs: Vec<_> = (0..FS_WORKERS)
                .map(|_| {
                    let p = p.clone();
                    go(move || {
                        for _ in 0..per {
                            black_box(burrow::fs::read(&p).unwrap());
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            total / t.elapsed().as_secs_f64() / 1e3
        })
    });
    report(name, &size, "k reads/s", Better::Higher, "burrow", &samples);
    let rt = tokio_rt();
    let samples = sample_n(s, || {
        let p = path.clone();
        rt.block_on(async move {
            let t = Instant::now();
            let hs: Vec<_> = (0..FS_WORKERS)
                .map(|_| {
                    let p = p.clone();
                    tokio::spawn(async move {
                        for _ in 0..per {
                            black_box(tokio::fs::read(&p).await.unwrap());
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            total / t.elapsed().as_secs_f64() / 1e3
        })
    });
    report(name, &size, "k reads/s", Better::Higher, "tokio", &samples);
    run_go(
        name,
        "sched.go",
        &[
            name.to_string(),
            per.to_string(),
            s.to_string(),
            path.display().to_string(),
        ],
    );
    let _ = std::fs::remove_file(&path);
}

pub(crate) fn bench_handoff_mix(args: &Args) {
    let name = "blocking_handoff_mix";
    let rounds = args.pick(20_000usize, 1_000);
    let pairs = FS_WORKERS / 2;
    let total = (rounds * FS_WORKERS) as f64;
    let size = format!("{pairs} pairs x {rounds} rounds of getppid + channel round trip");
    let s = args.samples(5);
    let samples = burrow_rt().run(move || {
        sample_n(s, || {
            let t = Instant::now();
            let mut hs = Vec::with_capacity(FS_WORKERS);
            for _ in 0..pairs {
                let (a_tx, a_rx) = burrow_sched::chan::<u64>(0);
                let (b_tx, b_rx) = burrow_sched::chan::<u64>(0);
                hs.push(go(move || {
                    for i in 0..rounds as u64 {
                        black_box(blocking(getppid).unwrap());
                        a_tx.send(i).unwrap();
                        black_box(b_rx.recv().unwrap());
                    }
                }));
                hs.push(go(move || {
                    for _ in 0..rounds {
                        black_box(blocking(getppid).unwrap());
                        let v = a_rx.recv().unwrap();
                        b_tx.send(v).unwrap();
                    }
                }));
            }
            for h in hs {
                h.join().unwrap();
            }
            total / t.elapsed().as_secs_f64() / 1e3
        })
    });
    report(
        name,
        &size,
        "k rounds/s",
        Better::Higher,
        "burrow",
        &samples,
    );
    let rt = tokio_rt();
    let samples = sample_n(s, || {
        rt.block_on(async move {
            let t = Instant::now();
            let mut hs = Vec::with_capacity(FS_WORKERS);
            for _ in 0..pairs {
                let (a_tx, mut a_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (b_tx, mut b_rx) = tokio::sync::mpsc::channel::<u64>(1);
                hs.push(tokio::spawn(async move {
                    for i in 0..rounds as u64 {
                        black_box(tokio::task::spawn_blocking(getppid).await.unwrap());
                        a_tx.send(i).await.unwrap();
                        black_box(b_rx.recv().await.unwrap());
                    }
                }));
                hs.push(tokio::spawn(async move {
                    for _ in 0..rounds {
                        black_box(tokio::task::spawn_blocking(getppid).await.unwrap());
                        let v = a_rx.recv().await.unwrap();
                        b_tx.send(v).await.unwrap();
                    }
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
            total / t.elapsed().as_secs_f64() / 1e3
        })
    });
    report(name, &size, "k rounds/s", Better::Higher, "tokio", &samples);
    run_go(
        name,
        "sched.go",
        &[name.to_string(), rounds.to_string(), s.to_string()],
    );
}
