//! Seeing into a running runtime: the goroutine dump, `stats`, the
//! schedtrace lines and the dump on `SIGQUIT`. The last two run in a child
//! process (this test binary, re-run with an environment variable), since
//! they write to stderr and exit.

mod common;
use common::bounded;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use burrow_sched::{Runtime, blocking, chan, dump, go, stats, yield_now};

/// Which child scenario this process runs, if it is a child.
const CHILD: &str = "BURROW_OBSERVE_CHILD";

/// Yields until `cond` holds, failing after `secs` seconds.
fn until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        yield_now();
    }
}

#[test]
fn the_dump_names_each_goroutine_its_state_and_spawn_site() {
    let d = bounded(30, "dump", || {
        Runtime::builder().maxprocs(2).build().unwrap().run(|| {
            let (tx, rx) = chan::<()>(0);
            let (in_tx, in_rx) = chan::<()>(1);
            let (go_tx, go_rx) = chan::<()>(1);
            let waiter = go(move || rx.recv());
            let blocked = go(move || {
                blocking(move || {
                    in_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                })
            });
            in_rx.recv().unwrap();
            until(10, "the receiver to park", || {
                dump().unwrap().contains("[chan receive]")
            });
            let d = dump().unwrap();
            go_tx.send(()).unwrap();
            tx.send(()).unwrap();
            waiter.join().unwrap().unwrap();
            blocked.join().unwrap().unwrap();
            d
        })
    });
    // The caller: running, with its stack trace.
    assert!(d.contains("goroutine 1 [running]:"), "{d}");
    assert!(
        d.contains("observe"),
        "the caller's trace names this test: {d}"
    );
    assert!(d.contains("goroutine 2 [chan receive]:"), "{d}");
    assert!(d.contains("goroutine 3 [syscall]:"), "{d}");
    assert!(
        d.contains("created at") && d.contains("tests/observe.rs"),
        "{d}"
    );
    assert_eq!(dump(), None, "outside a goroutine");
}

#[test]
fn stats_count_goroutines_ps_and_blocking_calls() {
    let (during, after) = bounded(30, "stats", || {
        Runtime::builder().maxprocs(2).build().unwrap().run(|| {
            let (in_tx, in_rx) = chan::<()>(1);
            let (go_tx, go_rx) = chan::<()>(1);
            let (_keep, rx) = chan::<()>(0);
            let parked: Vec<_> = (0..5)
                .map(|_| {
                    let rx = rx.clone();
                    go(move || rx.recv())
                })
                .collect();
            let b = go(move || {
                blocking(move || {
                    in_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                })
            });
            in_rx.recv().unwrap();
            let during = stats().unwrap();
            go_tx.send(()).unwrap();
            b.join().unwrap().unwrap();
            drop(_keep);
            for h in parked {
                assert!(h.join().unwrap().is_none(), "closed channel");
            }
            (during, stats().unwrap())
        })
    });
    assert_eq!(during.maxprocs, 2);
    assert_eq!(
        during.goroutines, 7,
        "main, five parked, one blocking: {during:?}"
    );
    assert_eq!(during.in_blocking_call, 1, "{during:?}");
    assert_eq!(during.local_queues.len(), 2);
    assert!(during.threads >= 2, "{during:?}");
    assert_eq!(after.goroutines, 1, "{after:?}");
    assert_eq!(after.in_blocking_call, 0, "{after:?}");
    assert_eq!(stats(), None, "outside a goroutine");
}

#[test]
fn stats_count_switches_and_histogram_stack_use() {
    const N: usize = 100;
    // Each goroutine touches this much of its stack before it parks.
    const DEPTH: usize = 40 * 1024;
    let (before, during) = bounded(30, "stack stats", || {
        Runtime::builder().maxprocs(1).build().unwrap().run(|| {
            let before = stats().unwrap();
            let (ready_tx, ready) = chan::<()>(N);
            let (_keep, rx) = chan::<()>(0);
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let (ready_tx, rx) = (ready_tx.clone(), rx.clone());
                    go(move || {
                        let mut buf = [0u8; DEPTH];
                        for (i, b) in buf.iter_mut().enumerate() {
                            *b = i as u8;
                        }
                        std::hint::black_box(&mut buf);
                        ready_tx.send(()).unwrap();
                        rx.recv()
                    })
                })
                .collect();
            for _ in 0..N {
                ready.recv().unwrap();
            }
            let during = stats().unwrap();
            drop(_keep);
            for h in hs {
                assert!(h.join().unwrap().is_none());
            }
            (before, during)
        })
    });
    assert!(
        during.switches >= before.switches + N as u64,
        "{N} goroutines ran, switches {} -> {}",
        before.switches,
        during.switches
    );
    let deep: usize = during
        .stack_histogram
        .iter()
        .filter(|&&(limit, _)| limit >= DEPTH)
        .map(|&(_, c)| c)
        .sum();
    assert!(
        deep >= N,
        "{N} goroutines hold {DEPTH} B of stack each: {:?}",
        during.stack_histogram
    );
    assert!(
        during.stack_resident_bytes >= (N * DEPTH) as u64,
        "resident {} B for {N} goroutines of {DEPTH} B",
        during.stack_resident_bytes
    );
    assert!(during.stack_bytes_per_goroutine() >= DEPTH as u64);
}

/// Runs this test binary's test `name` as a child with `CHILD=scenario`
/// and `env`; returns the child and its stdout/stderr readers.
fn child(name: &str, scenario: &str, env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("re-run the test binary")
}

/// Waits for `child` to exit within `secs`, returning its status and
/// stderr.
fn finish(mut child: std::process::Child, secs: u64) -> (std::process::ExitStatus, String) {
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    let stderr = match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(s) => s,
        Err(_) => {
            let _ = child.kill();
            panic!("the child did not finish within {secs} s");
        }
    };
    (child.wait().unwrap(), stderr)
}

#[test]
fn schedtrace_prints_go_shaped_lines_and_detail() {
    if std::env::var(CHILD).as_deref() == Ok("schedtrace") {
        Runtime::builder().maxprocs(2).build().unwrap().run(|| {
            let (_keep, rx) = chan::<()>(0);
            let _h = go(move || rx.recv());
            // Long enough for several 10 ms trace periods.
            burrow_sched::sleep(Duration::from_millis(120));
        });
        return;
    }
    let c = child(
        "schedtrace_prints_go_shaped_lines_and_detail",
        "schedtrace",
        &[("BURROW_DEBUG", "schedtrace=10,scheddetail=1")],
    );
    let (status, err) = finish(c, 60);
    assert!(status.success(), "child failed: {err}");
    let sched = err.lines().filter(|l| l.starts_with("SCHED ")).count();
    assert!(sched >= 2, "several SCHED lines in 120 ms: {err}");
    assert!(
        err.contains("gomaxprocs=2 idleprocs=") && err.contains("runqueue="),
        "{err}"
    );
    assert!(
        err.contains("  P0: schedtick="),
        "scheddetail's P lines: {err}"
    );
    assert!(
        err.contains("  G2: status=(chan receive)"),
        "scheddetail's G lines: {err}"
    );
    // An M line per M: its P (or -1), spinning, asleep, blocking call.
    let m_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("  M")).collect();
    assert!(
        m_lines.iter().any(|l| l.starts_with("  M0: p=")
            && l.contains(" spinning=")
            && l.contains(" idle=")
            && l.contains(" blocking=")),
        "scheddetail's M lines: {err}"
    );
}

#[test]
fn sigquit_prints_the_dump_and_exits_with_status_2() {
    if std::env::var(CHILD).as_deref() == Ok("sigquit") {
        // The runtime takes SIGQUIT only at its default disposition, and a
        // shell's background job (`cmd &` without job control) starts
        // with it ignored: this child is about the runtime's handler, so
        // it starts from the default whatever it inherited.
        // SAFETY: signal(2) with a valid signal number and SIG_DFL; it is
        // process-wide, and nothing else in this child handles SIGQUIT.
        unsafe { libc::signal(libc::SIGQUIT, libc::SIG_DFL) };
        Runtime::builder()
            .deadlock_grace(None)
            .build()
            .unwrap()
            .run(|| {
                let (_keep, rx) = chan::<()>(0);
                let _h = go(move || rx.recv());
                // Ready only once this goroutine (1) and the receiver (2)
                // are both parked, so the dump the signal prints names
                // both waits (saying so before parking raced the signal).
                let (_keep3, rx3) = chan::<()>(0);
                let _w = go(move || {
                    until(10, "goroutines 1 and 2 to park", || {
                        let d = dump().unwrap();
                        d.contains("goroutine 1 [chan receive]")
                            && d.contains("goroutine 2 [chan receive]")
                    });
                    println!("\nchild-ready");
                    let _ = rx3.recv();
                });
                // Wait for the signal.
                let (_t, r) = chan::<()>(0);
                let _ = r.recv();
            });
        unreachable!("SIGQUIT exits the process");
    }
    let mut c = child(
        "sigquit_prints_the_dump_and_exits_with_status_2",
        "sigquit",
        &[],
    );
    let out = c.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if line.ends_with("child-ready") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = c.kill();
        panic!("the child never became ready");
    }
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGQUIT) };
    assert_eq!(rc, 0);
    let (status, err) = finish(c, 30);
    assert_eq!(status.code(), Some(2), "Go's exit status: {err}");
    assert!(err.contains("SIGQUIT: quit"), "{err}");
    assert!(err.contains("goroutine 1 [chan receive]:"), "{err}");
    assert!(err.contains("goroutine 2 [chan receive]:"), "{err}");
}
