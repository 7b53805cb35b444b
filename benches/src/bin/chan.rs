//! Channel benchmarks, burrow against its peers in one run:
//!
//! - `chan_pingpong`: two goroutines bounce a value over two unbuffered
//!   channels; ns per round trip (two hand-offs, two parks). Peers: Go
//!   (unbuffered), tokio (`mpsc::channel(1)`: tokio has no rendezvous
//!   channel), may (its unbounded mpsc), crossbeam-channel `bounded(0)`
//!   between two std threads.
//! - `chan_pingpong_cpu`: the same runs, process CPU time (user + sys,
//!   `getrusage`) per round trip: on a shared, busy box the wall time
//!   mostly measures how much CPU the process was given; this does not.
//! - `chan_throughput_1to1` / `chan_throughput_4to4`: producers send N
//!   values through one channel of capacity 1024 to consumers; messages
//!   per second. Peers: Go, tokio (`mpsc::channel(1024)`; for 4→4 the
//!   receiver is shared behind a tokio `Mutex`, as DESIGN.md §9 measured),
//!   may (1→1 only: its receiver cannot be shared), crossbeam-channel
//!   `bounded(1024)` between std threads.

use std::sync::Arc;
use std::time::Instant;

use burrow_benches::{Args, Better, burrow_rt, procs, report, run_go, sample_n, skip, tokio_rt};
use burrow_sched::{chan, go};

/// Process CPU time (user + sys) so far, in ns.
fn cpu_ns() -> f64 {
    // SAFETY: an all-zero `rusage` is valid; getrusage fills it in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `sample` (wall ns per op) `n` times after a warm-up, also taking
/// CPU ns per op over each sample.
fn sample_wall_cpu(n: usize, ops: usize, mut sample: impl FnMut() -> f64) -> (Vec<f64>, Vec<f64>) {
    let _ = sample();
    (0..n)
        .map(|_| {
            let c = cpu_ns();
            let w = sample();
            (w, (cpu_ns() - c) / ops as f64)
        })
        .unzip()
}

fn pingpong_burrow(n: usize, samples: usize) -> (Vec<f64>, Vec<f64>) {
    burrow_rt().run(move || {
        sample_wall_cpu(samples, n, || {
            let (ping_tx, ping_rx) = chan::<u64>(0);
            let (pong_tx, pong_rx) = chan::<u64>(0);
            let h = go(move || {
                for v in &ping_rx {
                    pong_tx.send(v).unwrap();
                }
            });
            let t = Instant::now();
            for i in 0..n as u64 {
                ping_tx.send(i).unwrap();
                pong_rx.recv().unwrap();
            }
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            drop(ping_tx);
            h.join().unwrap();
            ns
        })
    })
}

fn pingpong_tokio(rt: &tokio::runtime::Runtime, n: usize) -> f64 {
    rt.block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let h = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v).await.unwrap();
            }
        });
        // The pinger is a task too (block_on's future runs off-worker).
        let pinger = tokio::spawn(async move {
            let t = Instant::now();
            for i in 0..n as u64 {
                ping_tx.send(i).await.unwrap();
                pong_rx.recv().await.unwrap();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        });
        let ns = pinger.await.unwrap();
        h.await.unwrap();
        ns
    })
}

fn pingpong_may(n: usize) -> f64 {
    let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
    // SAFETY: may's spawn is unsafe because of thread-locals; none are used.
    let h = unsafe {
        may::coroutine::spawn(move || {
            while let Ok(v) = ping_rx.recv() {
                pong_tx.send(v).unwrap();
            }
        })
    };
    // SAFETY: as above.
    let pinger = unsafe {
        may::coroutine::spawn(move || {
            let t = Instant::now();
            for i in 0..n as u64 {
                ping_tx.send(i).unwrap();
                pong_rx.recv().unwrap();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
    };
    let ns = pinger.join().unwrap();
    h.join().unwrap();
    ns
}

fn pingpong_crossbeam(n: usize) -> f64 {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<u64>(0);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<u64>(0);
    let h = std::thread::spawn(move || {
        for v in ping_rx {
            pong_tx.send(v).unwrap();
        }
    });
    let t = Instant::now();
    for i in 0..n as u64 {
        ping_tx.send(i).unwrap();
        pong_rx.recv().unwrap();
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    drop(ping_tx);
    h.join().unwrap();
    ns
}

fn bench_pingpong(args: &Args) {
    let name = "chan_pingpong";
    let n = args.pick(200_000, 2_000);
    let size = format!("{n} round trips");
    let s = args.samples(5);
    let both = |imp: &str, size: &str, (wall, cpu): (Vec<f64>, Vec<f64>)| {
        report(name, size, "ns/round trip", Better::Lower, imp, &wall);
        report(
            "chan_pingpong_cpu",
            size,
            "CPU ns/round trip",
            Better::Lower,
            imp,
            &cpu,
        );
    };
    both("burrow", &size, pingpong_burrow(n, s));
    let rt = tokio_rt();
    both(
        "tokio",
        &format!("{size} (mpsc(1))"),
        sample_wall_cpu(s, n, || pingpong_tokio(&rt, n)),
    );
    drop(rt);
    both(
        "may",
        &format!("{size} (unbounded mpsc)"),
        sample_wall_cpu(s, n, || pingpong_may(n)),
    );
    both(
        "crossbeam-channel",
        &format!("{size} (bounded(0), threads)"),
        sample_wall_cpu(s, n, || pingpong_crossbeam(n)),
    );
    run_go(
        name,
        "chan.go",
        &[name.into(), n.to_string(), s.to_string()],
    );
}

/// Messages per second for `p` producers and `c` consumers over one
/// burrow channel of capacity 1024; `n` messages in all.
fn throughput_burrow(p: usize, c: usize, n: usize, samples: usize) -> Vec<f64> {
    burrow_rt().run(move || {
        sample_n(samples, || {
            let (tx, rx) = chan::<u64>(1024);
            let t = Instant::now();
            let cs: Vec<_> = (0..c)
                .map(|_| {
                    let rx = rx.clone();
                    go(move || rx.iter().fold(0u64, |a, v| a.wrapping_add(v)))
                })
                .collect();
            drop(rx);
            let ps: Vec<_> = (0..p)
                .map(|_| {
                    let tx = tx.clone();
                    go(move || (0..(n / p) as u64).for_each(|i| tx.send(i).unwrap()))
                })
                .collect();
            drop(tx);
            ps.into_iter().for_each(|h| h.join().unwrap());
            cs.into_iter().for_each(|h| {
                h.join().unwrap();
            });
            n as f64 / t.elapsed().as_secs_f64()
        })
    })
}

fn throughput_tokio(rt: &tokio::runtime::Runtime, p: usize, c: usize, n: usize) -> f64 {
    rt.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(1024);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let t = Instant::now();
        let cs: Vec<_> = (0..c)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut sum = 0u64;
                    loop {
                        // 1 → 1 holds the lock throughout (uncontended).
                        let v = rx.lock().await.recv().await;
                        match v {
                            Some(v) => sum = sum.wrapping_add(v),
                            None => return sum,
                        }
                    }
                })
            })
            .collect();
        let ps: Vec<_> = (0..p)
            .map(|_| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..(n / p) as u64 {
                        tx.send(i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for h in ps {
            h.await.unwrap();
        }
        for h in cs {
            h.await.unwrap();
        }
        n as f64 / t.elapsed().as_secs_f64()
    })
}

fn throughput_may(n: usize) -> f64 {
    let (tx, rx) = may::sync::mpsc::channel::<u64>();
    let t = Instant::now();
    // SAFETY: no thread-locals are used.
    let cons = unsafe { may::coroutine::spawn(move || rx.iter().fold(0u64, u64::wrapping_add)) };
    // SAFETY: as above.
    let prod =
        unsafe { may::coroutine::spawn(move || (0..n as u64).for_each(|i| tx.send(i).unwrap())) };
    prod.join().unwrap();
    cons.join().unwrap();
    n as f64 / t.elapsed().as_secs_f64()
}

fn throughput_crossbeam(p: usize, c: usize, n: usize) -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    let t = Instant::now();
    let cs: Vec<_> = (0..c)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || rx.iter().fold(0u64, u64::wrapping_add))
        })
        .collect();
    drop(rx);
    let ps: Vec<_> = (0..p)
        .map(|_| {
            let tx = tx.clone();
            std::thread::spawn(move || (0..(n / p) as u64).for_each(|i| tx.send(i).unwrap()))
        })
        .collect();
    drop(tx);
    ps.into_iter().for_each(|h| h.join().unwrap());
    cs.into_iter().for_each(|h| {
        h.join().unwrap();
    });
    n as f64 / t.elapsed().as_secs_f64()
}

fn bench_throughput(args: &Args, p: usize, c: usize) {
    let name = format!("chan_throughput_{p}to{c}");
    let n = args.pick(2_000_000, 20_000);
    let size = format!("{n} msgs, cap 1024, {p}->{c}");
    let s = args.samples(5);
    let unit = "msgs/s";
    report(
        &name,
        &size,
        unit,
        Better::Higher,
        "burrow",
        &throughput_burrow(p, c, n, s),
    );
    let rt = tokio_rt();
    let tsize = if c > 1 {
        format!("{size} (mpsc, shared receiver)")
    } else {
        format!("{size} (mpsc)")
    };
    report(
        &name,
        &tsize,
        unit,
        Better::Higher,
        "tokio",
        &sample_n(s, || throughput_tokio(&rt, p, c, n)),
    );
    drop(rt);
    if p == 1 && c == 1 {
        report(
            &name,
            &format!("{n} msgs, 1->1 (unbounded mpsc)"),
            unit,
            Better::Higher,
            "may",
            &sample_n(s, || throughput_may(n)),
        );
    } else {
        skip(&name, "may", "may's mpsc receiver cannot be shared");
    }
    report(
        &name,
        &format!("{size} (threads)"),
        unit,
        Better::Higher,
        "crossbeam-channel",
        &sample_n(s, || throughput_crossbeam(p, c, n)),
    );
    run_go(
        &name,
        "chan.go",
        &[
            "chan_throughput".into(),
            n.to_string(),
            s.to_string(),
            p.to_string(),
            c.to_string(),
        ],
    );
}

fn main() {
    let args = Args::parse();
    may::config().set_workers(procs());
    if args.wants("chan_pingpong") {
        bench_pingpong(&args);
    }
    if args.wants("chan_throughput_1to1") {
        bench_throughput(&args, 1, 1);
    }
    if args.wants("chan_throughput_4to4") {
        bench_throughput(&args, 4, 4);
    }
}
