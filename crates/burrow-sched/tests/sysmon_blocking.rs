//! Blocking calls hand off their P (`kernel/syscall.rs`, sysmon's retake):
//! with one P, a goroutine inside a long `blocking` call does not hold up
//! the others; blocking calls count as alive for deadlock detection; the
//! thread cap fails a call with a clear error and the runtime serves on.

use std::time::{Duration, Instant};

use burrow_sched::{Runtime, ThreadLimit, blocking, chan, go};

mod common;
use common::bounded;

fn one_p() -> Runtime {
    Runtime::builder().maxprocs(1).build().unwrap()
}

/// 1,000 goroutines finish while a 200 ms blocking call holds the only
/// P's M: sysmon hands the P to another M.
fn others_run_during(call: fn()) -> Duration {
    bounded(30, "others run during a blocking call", move || {
        one_p().run(move || {
            let (started_tx, started) = chan::<()>(1);
            let blocker = go(move || {
                blocking(move || {
                    started_tx.send(()).unwrap();
                    call();
                })
                .unwrap();
            });
            // Wait until the blocker is inside its call.
            started.recv().unwrap();
            let t = Instant::now();
            let hs: Vec<_> = (0..1000u64).map(|i| go(move || i * 2)).collect();
            let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
            let took = t.elapsed();
            assert_eq!(sum, 999 * 1000);
            blocker.join().unwrap();
            took
        })
    })
}

#[test]
fn a_blocking_sleep_does_not_delay_the_other_goroutines() {
    let took = others_run_during(|| std::thread::sleep(Duration::from_millis(200)));
    // Slack: sysmon retakes within a few of its ticks (20 µs each while
    // busy), plus the time to start an M; 100 ms is far below the 200 ms
    // the others would wait if the P were held.
    assert!(
        took < Duration::from_millis(100),
        "1,000 goroutines took {took:?} beside a 200 ms blocking call"
    );
}

#[test]
fn a_blocking_file_read_loop_does_not_delay_the_other_goroutines() {
    let took = others_run_during(|| {
        let end = Instant::now() + Duration::from_millis(200);
        while Instant::now() < end {
            let _ = std::fs::read("/proc/self/stat");
        }
    });
    assert!(
        took < Duration::from_millis(100),
        "1,000 goroutines took {took:?} beside 200 ms of blocking reads"
    );
}

#[test]
fn a_program_waiting_on_a_blocking_call_is_not_deadlocked() {
    let r = bounded(20, "blocking is not deadlock", || {
        Runtime::builder()
            .maxprocs(1)
            .deadlock_grace(Some(Duration::from_millis(50)))
            .build()
            .unwrap()
            .try_run(|| {
                blocking(|| {
                    std::thread::sleep(Duration::from_millis(300));
                    7
                })
                .unwrap()
            })
    });
    assert_eq!(r.expect("no deadlock report"), 7);
}

#[test]
fn the_thread_cap_fails_calls_clearly_and_the_runtime_serves_on() {
    let (refused, served, msg) = bounded(30, "thread cap", || {
        Runtime::builder()
            .maxprocs(1)
            // One P plus four blocking calls.
            .max_threads(5)
            .build()
            .unwrap()
            .run(|| {
                let (in_tx, in_rx) = chan::<()>(16);
                let (go_tx, go_rx) = chan::<()>(16);
                let (no_tx, no_rx) = chan::<()>(16);
                let hs: Vec<_> = (0..10)
                    .map(|_| {
                        let (in_tx, go_rx, no_tx) = (in_tx.clone(), go_rx.clone(), no_tx.clone());
                        go(move || {
                            let r = blocking(move || {
                                in_tx.send(()).unwrap();
                                // Hold the thread until told to go.
                                go_rx.recv().unwrap();
                            });
                            if r.is_err() {
                                no_tx.send(()).unwrap();
                            }
                            r
                        })
                    })
                    .collect();
                // Four are inside and six were refused, before any is let go
                // (a call let go early would make room for another).
                for _ in 0..4 {
                    in_rx.recv().unwrap();
                }
                for _ in 0..6 {
                    no_rx.recv().unwrap();
                }
                // The runtime still runs goroutines.
                let served = go(|| (0..100u64).sum::<u64>()).join().unwrap();
                for _ in 0..10 {
                    go_tx.send(()).unwrap();
                }
                let results: Vec<Result<(), ThreadLimit>> =
                    hs.into_iter().map(|h| h.join().unwrap()).collect();
                let refused: Vec<_> = results.iter().filter_map(|r| r.clone().err()).collect();
                let msg = refused.first().map(|e| e.to_string()).unwrap_or_default();
                (refused.len(), served, msg)
            })
    });
    assert_eq!(refused, 6, "4 of 10 blocking calls fit under the cap");
    assert_eq!(served, 4950);
    assert!(
        msg.contains("BURROW_MAX_THREADS") && msg.contains("max_threads"),
        "the error names the knob: {msg}"
    );
}
