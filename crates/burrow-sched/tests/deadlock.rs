//! Deadlock detection: a runtime in which nothing can ever run again is
//! reported by `try_run` (and `run` panics with Go's message) instead of
//! hanging; a goroutine that a plain thread wakes within the grace period
//! is not reported.

mod common;
use common::bounded;

use std::time::{Duration, Instant};

use burrow_sched::{Ready, RunError, Runtime, WaitReason, go, park};

/// Parks the current goroutine forever: its only `Ready` is dropped.
fn park_forever() {
    drop(Ready::for_current());
    park(WaitReason::Other);
}

#[test]
fn main_parked_forever_is_reported() {
    let (r, took) = bounded(30, "deadlock report", || {
        let rt = Runtime::builder()
            .maxprocs(2)
            .deadlock_grace(Some(Duration::from_millis(100)))
            .build()
            .unwrap();
        let t = Instant::now();
        let r = rt.try_run(|| {
            // A second goroutine parked forever too.
            let _h = go(park_forever);
            park_forever();
        });
        (r, t.elapsed())
    });
    assert!(
        matches!(r, Err(RunError::Deadlock { parked: 2, .. })),
        "{r:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "reported only after {took:?}"
    );
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("all goroutines are asleep - deadlock!"),
        "{msg}"
    );
}

#[test]
fn run_panics_with_gos_message() {
    let r = bounded(30, "deadlock panic", || {
        std::panic::catch_unwind(|| {
            Runtime::builder()
                .maxprocs(1)
                .deadlock_grace(Some(Duration::from_millis(50)))
                .build()
                .unwrap()
                .run(park_forever)
        })
    });
    let p = r.expect_err("run must panic on a deadlock");
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("all goroutines are asleep - deadlock!"),
        "{msg:?}"
    );
}

#[test]
fn goroutine_woken_by_a_thread_within_the_grace_is_not_reported() {
    let r = bounded(30, "thread wakes main", || {
        let rt = Runtime::builder()
            .maxprocs(2)
            .deadlock_grace(Some(Duration::from_secs(3)))
            .build()
            .unwrap();
        rt.try_run(|| {
            let ready = Ready::for_current();
            let th = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                ready.ready()
            });
            park(WaitReason::Other);
            // Again, so that the grace window restarts after a wake.
            let ready = Ready::for_current();
            let th2 = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                ready.ready()
            });
            park(WaitReason::Other);
            (th, th2)
        })
    });
    let (th, th2) = r.expect("not a deadlock: a thread woke the goroutine");
    assert!(th.join().unwrap() && th2.join().unwrap());
}

#[test]
fn pending_timer_is_not_a_deadlock() {
    // A pending timer is never a deadlock, however short the grace.
    let r = bounded(30, "sleep is not a deadlock", || {
        Runtime::builder()
            .maxprocs(1)
            .deadlock_grace(Some(Duration::from_millis(10)))
            .build()
            .unwrap()
            .try_run(|| {
                burrow_sched::sleep(Duration::from_millis(200));
                7
            })
    });
    assert_eq!(r, Ok(7));
}

#[test]
fn repeated_wakes_by_a_thread_keep_restarting_the_grace() {
    // Each wake comes well within the grace, but the runtime is idle most
    // of the time: only "nothing ran during the whole grace" may report.
    let r = bounded(30, "repeated thread wakes", || {
        let rt = Runtime::builder()
            .maxprocs(2)
            .deadlock_grace(Some(Duration::from_millis(300)))
            .build()
            .unwrap();
        rt.try_run(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Ready>();
            let th = std::thread::spawn(move || {
                for ready in rx {
                    std::thread::sleep(Duration::from_millis(100));
                    ready.ready();
                }
            });
            for _ in 0..12 {
                tx.send(Ready::for_current()).unwrap();
                park(WaitReason::Other);
            }
            drop(tx);
            th.join().unwrap();
        })
    });
    assert_eq!(r, Ok(()));
}

#[test]
fn the_report_carries_the_goroutine_dump() {
    let r = bounded(30, "deadlock dump", || {
        Runtime::builder()
            .maxprocs(1)
            .deadlock_grace(Some(Duration::from_millis(50)))
            .build()
            .unwrap()
            .try_run(|| {
                let (_tx, rx) = burrow_sched::chan::<u8>(0);
                let h = go(move || rx.recv());
                // Keep the sender alive: the receiver waits forever.
                let _keep = _tx;
                let _ = h.join();
            })
    });
    let Err(RunError::Deadlock { parked: 2, dump }) = &r else {
        panic!("expected a deadlock of two goroutines: {r:?}");
    };
    assert!(dump.contains("goroutine 1 [join]:"), "{dump}");
    assert!(dump.contains("goroutine 2 [chan receive]:"), "{dump}");
    assert!(
        dump.contains("created at") && dump.contains("deadlock.rs"),
        "{dump}"
    );
    // `run` panics with Go's message followed by the dump.
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.starts_with("all goroutines are asleep - deadlock!") && msg.contains("[chan receive]"),
        "{msg}"
    );
}
