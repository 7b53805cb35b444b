//! Shared test helpers: every wait is bounded.

#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and fails the test with a message if it does
/// not finish within `secs` seconds (a hung scheduler must fail, not hang).
pub fn bounded<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => h.join().expect("test body panicked"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(_) => unreachable!("sent before returning"),
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {secs} s (scheduler hang?)")
        }
    }
}

/// A runtime with `n` Ps.
pub fn rt(n: usize) -> burrow_sched::Runtime {
    burrow_sched::Runtime::builder()
        .maxprocs(n)
        .build()
        .expect("runtime builds")
}

/// Scale factor from `BURROW_STRESS` (default 1).
pub fn scale() -> usize {
    std::env::var("BURROW_STRESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Names of this process's threads (as the kernel truncates them).
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Parks `n` goroutines on a channel, then lets them all exit (in a
/// goroutine): a burst that leaves `n` Gs on the free lists.
pub fn park_burst(n: usize) {
    let (tx, rx) = burrow_sched::chan::<()>(0);
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let rx = rx.clone();
            burrow_sched::go(move || rx.recv())
        })
        .collect();
    drop(tx);
    for h in hs {
        assert!(h.join().unwrap().is_none());
    }
}
