//! Scheduler benchmarks, burrow against its peers in one run:
//!
//! - `spawn_join_1m`: spawn N goroutines (tasks, threads) from one, then
//!   join them all; ns per goroutine.
//! - `deepstack_32k`: the same, each recursing ~32 KiB deep first (Go pays
//!   for stack copying here; we reuse warm stacks); ns per goroutine.
//! - `skynet_1m`: the skynet tree of 1M leaves; ms total.
//! - `yield_chain`: 1000 goroutines each yielding K times; ns per yield.
//! - `parked_memory`: RSS growth per parked goroutine; bytes.
//! - `parked_1m` / `parked_1m_rss`: 1M goroutines that report ready and
//!   block on a channel, in a fresh process: ms until all are parked, and
//!   RSS growth per goroutine then. Go: the same program; tokio: 1M tasks
//!   awaiting a oneshot. `parked_1m_rss_idle`: the RSS growth per
//!   goroutine again after 8 s of idling (burrow compacts their stacks,
//!   and the row waits up to 30 s more until every one is compacted; Go
//!   runs a GC first, which may shrink stacks).
//! - `compacted_resume`: N goroutines parked long enough for sysmon to
//!   compact their stacks, woken one by one (a send and a reply each); ns
//!   per wake, beside the same program with compaction off
//!   (`burrow-resident`): the difference is what a compacted goroutine
//!   pays to come back (a page fault and the copy).
//! - `blocking_call`: a short system call (`getppid`) through the blocking
//!   hand-off, back to back on one goroutine; ns per call. Go:
//!   `syscall.Syscall` (its `entersyscall`/`exitsyscall`); tokio:
//!   `block_in_place`.
//! - `blocking_handoff_latency`: one P; a goroutine enters a 2 ms blocking sleep
//!   while another waits in the P's queue; µs until the waiting one runs
//!   (sysmon's retake). Go: `syscall.Nanosleep` under `GOMAXPROCS(1)`;
//!   tokio: one worker, `block_in_place`.
//! - `blocking_handoff_fs`: 64 goroutines each reading a 4 KiB file in a loop through
//!   `burrow::fs::read` (the blocking hand-off); k reads/s. Go:
//!   `os.ReadFile`; tokio: `tokio::fs::read` (its `spawn_blocking` pool).
//! - `blocking_handoff_mix`: 32 pairs of goroutines, each round one short blocking
//!   call (`getppid`) and one channel round trip with its partner; k
//!   rounds/s. Go: `syscall.Syscall` and channels; tokio:
//!   `spawn_blocking` and `tokio::sync::mpsc`.
//!
//! Peers: tokio (multi-thread runtime, same worker count), may (where it
//! survives: it needs one VMA per coroutine and fails near 32k live ones on
//! a default `vm.max_map_count`), std threads (at a size they survive), Go
//! (`benches/go/sched.go`, when `go` is on PATH).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burrow_benches::{
    Args, Better, burrow_rt, procs, report, rss_bytes, run_go, sample_n, skip, tokio_rt,
};
use burrow_sched::{Ready, WaitReason, go, park, yield_now};

mod blocking;
mod compact;

/// Recurses ~32 KiB deep (32 frames of 1 KiB).
#[inline(never)]
fn deep(depth: u32) -> u64 {
    let buf = black_box([depth as u8; 1024]);
    if depth == 0 {
        return buf[7] as u64;
    }
    deep(depth - 1) + buf[1000] as u64
}

/// All samples run in one runtime, as in a long-running program (and as
/// the Go peer does): Gs and their warm stacks are reused between samples.
fn spawn_join_burrow(n: usize, samples: usize, work: fn() -> u64) -> Vec<f64> {
    burrow_rt().run(move || {
        sample_n(samples, || {
            let t = Instant::now();
            let hs: Vec<_> = (0..n).map(|_| go(work)).collect();
            for h in hs {
                black_box(h.join().unwrap());
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
    })
}

fn spawn_join_tokio(rt: &tokio::runtime::Runtime, n: usize, work: fn() -> u64) -> f64 {
    rt.block_on(async move {
        let t = Instant::now();
        let hs: Vec<_> = (0..n)
            .map(|_| tokio::spawn(async move { work() }))
            .collect();
        for h in hs {
            black_box(h.await.unwrap());
        }
        t.elapsed().as_nanos() as f64 / n as f64
    })
}

fn spawn_join_may(n: usize, work: fn() -> u64) -> f64 {
    let t = Instant::now();
    // SAFETY: may's spawn is unsafe because of thread-locals; `work` uses
    // none.
    let hs: Vec<_> = (0..n)
        .map(|_| unsafe { may::coroutine::spawn(work) })
        .collect();
    for h in hs {
        black_box(h.join().unwrap());
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn spawn_join_threads(n: usize, work: fn() -> u64) -> f64 {
    let t = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| {
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(work)
                .unwrap()
        })
        .collect();
    for h in hs {
        black_box(h.join().unwrap());
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn shallow() -> u64 {
    black_box(1)
}

fn deep32() -> u64 {
    deep(32)
}

fn bench_spawn(args: &Args, name: &str, work: fn() -> u64, may_ok: bool) {
    let n = args.pick(1_000_000, 10_000);
    let size = format!("{n} goroutines");
    let s = args.samples(5);
    report(
        name,
        &size,
        "ns/goroutine",
        Better::Lower,
        "burrow",
        &spawn_join_burrow(n, s, work),
    );
    let rt = tokio_rt();
    report(
        name,
        &size,
        "ns/goroutine",
        Better::Lower,
        "tokio",
        &sample_n(s, || spawn_join_tokio(&rt, n, work)),
    );
    drop(rt);
    let may_n = 20_000.min(n);
    if may_ok {
        report(
            name,
            &format!("{may_n} goroutines (may: more fail)"),
            "ns/goroutine",
            Better::Lower,
            "may",
            &sample_n(s, || spawn_join_may(may_n, work)),
        );
    } else {
        skip(
            name,
            "may",
            "may's default coroutine stack overflows at 32 KiB deep",
        );
    }
    let tn = 10_000.min(n);
    report(
        name,
        &format!("{tn} threads"),
        "ns/goroutine",
        Better::Lower,
        "std-threads",
        &sample_n(args.samples(3), || spawn_join_threads(tn, work)),
    );
    let go_args = vec![name.to_string(), n.to_string(), s.to_string()];
    run_go(name, "sched.go", &go_args);
}

fn skynet_burrow(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let sub = size / 10;
    let hs: Vec<_> = (0..10)
        .map(|i| go(move || skynet_burrow(num + i * sub, sub)))
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

fn skynet_tokio(num: u64, size: u64) -> std::pin::Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let sub = size / 10;
        let hs: Vec<_> = (0..10)
            .map(|i| tokio::spawn(skynet_tokio(num + i * sub, sub)))
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn skynet_may(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let sub = size / 10;
    let hs: Vec<_> = (0..10)
        // SAFETY: no thread-locals are used.
        .map(|i| unsafe { may::coroutine::spawn(move || skynet_may(num + i * sub, sub)) })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

fn bench_skynet(args: &Args) {
    let name = "skynet_1m";
    let leaves: u64 = args.pick(1_000_000, 10_000);
    let size = format!("{leaves} leaves");
    let s = args.samples(5);
    let want = leaves * (leaves - 1) / 2;
    let samples = burrow_rt().run(move || {
        sample_n(s, || {
            let t = Instant::now();
            assert_eq!(skynet_burrow(0, leaves), want);
            t.elapsed().as_secs_f64() * 1e3
        })
    });
    report(name, &size, "ms", Better::Lower, "burrow", &samples);
    let rt = tokio_rt();
    report(
        name,
        &size,
        "ms",
        Better::Lower,
        "tokio",
        &sample_n(s, || {
            let t = Instant::now();
            assert_eq!(rt.block_on(skynet_tokio(0, leaves)), want);
            t.elapsed().as_secs_f64() * 1e3
        }),
    );
    if leaves <= 10_000 {
        report(
            name,
            &size,
            "ms",
            Better::Lower,
            "may",
            &sample_n(s, || {
                let t = Instant::now();
                assert_eq!(skynet_may(0, leaves), want);
                t.elapsed().as_secs_f64() * 1e3
            }),
        );
    } else {
        skip(
            name,
            "may",
            "fails at default vm.max_map_count with 1M coroutines (DESIGN.md §9)",
        );
    }
    skip(name, "std-threads", "1M threads do not fit");
    run_go(
        name,
        "sched.go",
        &[name.to_string(), leaves.to_string(), s.to_string()],
    );
}

fn bench_yield(args: &Args) {
    let name = "yield_chain";
    let (g, k) = (1000usize, args.pick(1000usize, 20));
    let size = format!("{g} goroutines x {k} yields");
    let s = args.samples(5);
    let total = (g * k) as f64;
    let samples = burrow_rt().run(move || {
        sample_n(s, || {
            let t = Instant::now();
            let hs: Vec<_> = (0..g)
                .map(|_| go(move || (0..k).for_each(|_| yield_now())))
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            t.elapsed().as_nanos() as f64 / total
        })
    });
    report(name, &size, "ns/yield", Better::Lower, "burrow", &samples);
    let rt = tokio_rt();
    report(
        name,
        &size,
        "ns/yield",
        Better::Lower,
        "tokio",
        &sample_n(s, || {
            rt.block_on(async move {
                let t = Instant::now();
                let hs: Vec<_> = (0..g)
                    .map(|_| {
                        tokio::spawn(async move {
                            for _ in 0..k {
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
                t.elapsed().as_nanos() as f64 / total
            })
        }),
    );
    report(
        name,
        &size,
        "ns/yield",
        Better::Lower,
        "may",
        &sample_n(s, || {
            let t = Instant::now();
            let hs: Vec<_> = (0..g)
                // SAFETY: no thread-locals are used.
                .map(|_| unsafe {
                    may::coroutine::spawn(move || (0..k).for_each(|_| may::coroutine::yield_now()))
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            t.elapsed().as_nanos() as f64 / total
        }),
    );
    run_go(
        name,
        "sched.go",
        &[name.to_string(), k.to_string(), s.to_string()],
    );
}

/// Measures RSS growth per parked goroutine in a fresh child process (so
/// no warm stacks or pages from earlier benchmarks hide the cost).
fn bench_parked_memory(args: &Args) {
    let name = "parked_memory";
    let n = args.pick(1_000_000usize, 10_000);
    let size = format!("{n} parked goroutines");
    let s = args.samples(3);
    for imp in ["burrow", "tokio"] {
        let samples: Vec<f64> = (0..s)
            .filter_map(|_| {
                let out = std::process::Command::new(std::env::current_exe().ok()?)
                    .args(["--child-parked", imp, &n.to_string()])
                    .output()
                    .ok()?;
                String::from_utf8_lossy(&out.stdout).trim().parse().ok()
            })
            .collect();
        if samples.is_empty() {
            skip(name, imp, "child process failed");
        } else {
            report(name, &size, "bytes/goroutine", Better::Lower, imp, &samples);
        }
    }
    run_go(
        name,
        "sched.go",
        &[name.to_string(), n.to_string(), s.to_string()],
    );
}

/// In a child: parks `n` goroutines (tasks) and prints RSS growth per one.
fn child_parked(imp: &str, n: usize) {
    let per = match imp {
        "burrow" => burrow_rt().run(move || {
            let before = rss_bytes();
            let release = Arc::new(AtomicBool::new(false));
            let (tx, rx) = std::sync::mpsc::channel::<Ready>();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (tx, release) = (tx.clone(), release.clone());
                    go(move || {
                        // Acquire: pairs with the Release store that lets everyone go.
                        if !release.load(Ordering::Acquire) {
                            tx.send(Ready::for_current()).unwrap();
                            park(WaitReason::Other);
                        }
                    })
                })
                .collect();
            let mut readies = Vec::with_capacity(n);
            while readies.len() < n {
                readies.push(rx.recv().unwrap());
                if readies.len() % 1024 == 0 {
                    yield_now();
                }
            }
            let per = rss_bytes().saturating_sub(before) as f64 / n as f64;
            // Release: pairs with the goroutines\' Acquire load of the flag.
            release.store(true, Ordering::Release);
            readies.into_iter().for_each(|r| {
                r.ready();
            });
            hs.into_iter().for_each(|h| h.join().unwrap());
            per
        }),
        _ => tokio_rt().block_on(async move {
            let before = rss_bytes();
            let mut txs = Vec::with_capacity(n);
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    txs.push(tx);
                    tokio::spawn(async move {
                        let _ = rx.await;
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            let per = rss_bytes().saturating_sub(before) as f64 / n as f64;
            txs.into_iter().for_each(|t| {
                let _ = t.send(());
            });
            for h in hs {
                h.await.unwrap();
            }
            per
        }),
    };
    println!("{per}");
}

/// `parked_1m`: in a fresh child process per sample, N goroutines (tasks)
/// that each report ready and then block on a channel (burrow: Go's shape,
/// a wait group and a closed-at-the-end release channel; tokio: a counter
/// and a oneshot each), the time until all N are parked,
/// and the RSS growth per goroutine at that moment (`parked_1m_rss`).
fn bench_parked_1m(args: &Args) {
    let n = args.pick(1_000_000usize, 10_000);
    let size = format!("{n} goroutines blocked on a channel");
    let idle_size = format!(
        "{n} goroutines blocked on a channel, after {} s idle",
        PARKED_IDLE.as_secs()
    );
    let s = args.samples(3);
    for imp in ["burrow", "tokio"] {
        let rows: Vec<[f64; 3]> = (0..s)
            .filter_map(|_| {
                let out = std::process::Command::new(std::env::current_exe().ok()?)
                    .args(["--child-parked-1m", imp, &n.to_string()])
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
                Some([it.next()??, it.next()??, it.next()??])
            })
            .collect();
        if rows.is_empty() {
            skip("parked_1m", imp, "child process failed");
            continue;
        }
        let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<f64>>();
        report("parked_1m", &size, "ms", Better::Lower, imp, &col(0));
        report(
            "parked_1m_rss",
            &size,
            "bytes/goroutine",
            Better::Lower,
            imp,
            &col(1),
        );
        report(
            "parked_1m_rss_idle",
            &idle_size,
            "bytes/goroutine",
            Better::Lower,
            imp,
            &col(2),
        );
    }
    for bench in ["parked_1m", "parked_1m_rss", "parked_1m_rss_idle"] {
        run_go(
            bench,
            "sched.go",
            &[bench.to_string(), n.to_string(), "1".to_string()],
        );
    }
}

/// How long `parked_1m_rss_idle` lets the parked goroutines sit before it
/// measures again: longer than the default compaction decay (1 s) plus
/// the sweeps that compact a million goroutines (at most half of sysmon's
/// time, about 2 µs each).
const PARKED_IDLE: std::time::Duration = std::time::Duration::from_secs(8);

/// How much longer `parked_1m_rss_idle` waits, at most, for the sweeps to
/// have compacted every parked goroutine when the idle time is up (a slow
/// spawn leaves the last-parked goroutines short of the decay, and a busy
/// box slows the sweeps).
const PARKED_IDLE_MORE: std::time::Duration = std::time::Duration::from_secs(30);

/// In a child: the `parked_1m` sample; prints "ms bytes_per_goroutine
/// bytes_per_goroutine_after_idle".
fn child_parked_1m(imp: &str, n: usize) {
    let (ms, per, idle) = match imp {
        "burrow" => burrow_rt().run(move || {
            let before = rss_bytes();
            let t = Instant::now();
            // Go's shape: a wait group says all are parked.
            let parked = Arc::new(burrow_sched::sync::WaitGroup::new());
            parked.add(i32::try_from(n).expect("n fits a wait group"));
            let (release_tx, release_rx) = burrow_sched::chan::<()>(0);
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (parked, release_rx) = (parked.clone(), release_rx.clone());
                    go(move || {
                        parked.done();
                        release_rx.recv()
                    })
                })
                .collect();
            parked.wait();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let per = rss_bytes().saturating_sub(before) as f64 / n as f64;
            // Idle: sysmon compacts the parked goroutines' stacks. On a
            // slow run the sweeps can still be at work when the idle time
            // is up; the row is about the memory after compaction, so wait
            // (bounded) for the sweeps to reach every goroutine.
            burrow_sched::sleep(PARKED_IDLE);
            let waited = Instant::now();
            while burrow_sched::stats().is_some_and(|s| s.compacted_goroutines < n as u64)
                && waited.elapsed() < PARKED_IDLE_MORE
            {
                burrow_sched::sleep(std::time::Duration::from_millis(100));
            }
            let idle = rss_bytes().saturating_sub(before) as f64 / n as f64;
            let s = burrow_sched::stats().unwrap();
            eprintln!(
                "parked_1m: {} of {n} goroutines compacted, {} bytes of buffers",
                s.compacted_goroutines, s.compacted_bytes
            );
            drop(release_tx);
            hs.into_iter().for_each(|h| {
                h.join().unwrap();
            });
            (ms, per, idle)
        }),
        _ => tokio_rt().block_on(async move {
            let before = rss_bytes();
            let t = Instant::now();
            let parked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut txs = Vec::with_capacity(n);
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    txs.push(tx);
                    let parked = parked.clone();
                    tokio::spawn(async move {
                        parked.fetch_add(1, Ordering::Relaxed);
                        let _ = rx.await;
                    })
                })
                .collect();
            while parked.load(Ordering::Relaxed) < n {
                tokio::task::yield_now().await;
            }
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let per = rss_bytes().saturating_sub(before) as f64 / n as f64;
            tokio::time::sleep(PARKED_IDLE).await;
            let idle = rss_bytes().saturating_sub(before) as f64 / n as f64;
            txs.into_iter().for_each(|t| {
                let _ = t.send(());
            });
            for h in hs {
                h.await.unwrap();
            }
            (ms, per, idle)
        }),
    };
    println!("{ms} {per} {idle}");
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--child-parked-1m") {
        child_parked_1m(&argv[2], argv[3].parse().expect("count"));
        return;
    }
    if argv.get(1).map(String::as_str) == Some("--child-parked") {
        child_parked(&argv[2], argv[3].parse().expect("count"));
        return;
    }
    let args = Args::parse();
    may::config().set_workers(procs());
    if args.wants("spawn_join_1m") {
        bench_spawn(&args, "spawn_join_1m", shallow, true);
    }
    if args.wants("deepstack_32k") {
        bench_spawn(&args, "deepstack_32k", deep32, false);
    }
    if args.wants("skynet_1m") {
        bench_skynet(&args);
    }
    if args.wants("yield_chain") {
        bench_yield(&args);
    }
    if args.wants("parked_1m") {
        bench_parked_1m(&args);
    }
    if args.wants("parked_memory") {
        bench_parked_memory(&args);
    }
    if args.wants("compacted_resume") {
        compact::bench_compacted_resume(&args);
    }
    if args.wants("blocking_call") {
        blocking::bench_blocking_call(&args);
    }
    if args.wants("blocking_handoff_latency") {
        blocking::bench_handoff_latency(&args);
    }
    if args.wants("blocking_handoff_fs") {
        blocking::bench_handoff_fs(&args);
    }
    if args.wants("blocking_handoff_mix") {
        blocking::bench_handoff_mix(&args);
    }
}
