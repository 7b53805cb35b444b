//! Fairness: the 1-in-61 global queue check and `runnext`.

mod common;
use common::{bounded, rt};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burrow_sched::{Ready, WaitReason, go, park, yield_now};

/// With one P, a goroutine looping on `yield_now` keeps the local queue
/// non-empty forever; a goroutine readied from outside the runtime sits in
/// the global queue. Only the 1-in-61 rule lets it run.
#[test]
fn global_queue_is_served_while_local_queue_never_empties() {
    let spins = bounded(20, "1/61 rule", || {
        rt(1).run(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let spins = Arc::new(AtomicUsize::new(0));
            let spinner = {
                let (flag, spins) = (flag.clone(), spins.clone());
                go(move || {
                    while !flag.load(Ordering::Acquire) {
                        spins.fetch_add(1, Ordering::Relaxed);
                        yield_now();
                    }
                })
            };
            // Park main; a plain thread readies it, which puts it on the
            // global queue (the readier is not a goroutine).
            let ready = Ready::for_current();
            let t = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                ready.ready()
            });
            park(WaitReason::Other);
            flag.store(true, Ordering::Release);
            spinner.join().unwrap();
            assert!(t.join().unwrap());
            spins.load(Ordering::Relaxed)
        })
    });
    assert!(spins > 0, "the spinner ran");
}

/// A G readied by a goroutine goes to the readier's `runnext` and runs
/// before the Gs already in the local queue.
#[test]
fn readied_goroutine_runs_next() {
    let order = bounded(20, "runnext", || {
        rt(1).run(|| {
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (tx, rx) = std::sync::mpsc::channel::<Ready>();
            let sleeper = {
                let order = order.clone();
                go(move || {
                    tx.send(Ready::for_current()).unwrap();
                    park(WaitReason::Other);
                    order.lock().unwrap().push("readied");
                })
            };
            yield_now(); // let the sleeper park
            let ready = rx.recv().unwrap();
            // Fill the local queue with goroutines that log themselves.
            let others: Vec<_> = (0..5)
                .map(|_| {
                    let order = order.clone();
                    go(move || order.lock().unwrap().push("queued"))
                })
                .collect();
            // The last `go` holds runnext; readying kicks it to the tail.
            assert!(ready.ready());
            yield_now();
            sleeper.join().unwrap();
            for h in others {
                h.join().unwrap();
            }
            Arc::try_unwrap(order).unwrap().into_inner().unwrap()
        })
    });
    assert_eq!(order[0], "readied", "readied G did not run next: {order:?}");
}

/// A stale `Ready` (from an earlier wait) never wakes a later wait, and a
/// `Ready` fired before `park` makes `park` return at once.
#[test]
fn ready_is_exactly_once_and_generation_checked() {
    bounded(20, "ready generations", || {
        rt(2).run(|| {
            let first = Ready::for_current();
            assert!(first.ready(), "ready before park counts");
            park(WaitReason::Other); // returns at once
            let stale = Ready::for_current();
            let fresh = Ready::for_current();
            assert!(!stale.ready(), "a stale handle must not fire");
            let t = std::thread::spawn(move || fresh.ready());
            park(WaitReason::Other);
            assert!(t.join().unwrap());
        })
    });
}

/// Ping-pong between two goroutines through park/ready, many rounds, on
/// several Ps: no lost or double wake-up.
#[test]
fn ping_pong_park_ready() {
    const ROUNDS: usize = 20_000;
    for procs in [1, 2, 4] {
        let n = bounded(60, "ping-pong", move || {
            rt(procs).run(|| {
                let slot: Arc<std::sync::Mutex<Option<Ready>>> = Arc::default();
                let turn = Arc::new(AtomicUsize::new(0));
                let spawn_player = |me: usize| {
                    let (slot, turn) = (slot.clone(), turn.clone());
                    go(move || {
                        for _ in 0..ROUNDS {
                            loop {
                                let ready = Ready::for_current();
                                let mine = {
                                    let mut s = slot.lock().unwrap();
                                    if turn.load(Ordering::Acquire) % 2 == me {
                                        true
                                    } else {
                                        *s = Some(ready);
                                        false
                                    }
                                };
                                if mine {
                                    break;
                                }
                                park(WaitReason::Other);
                            }
                            let next = {
                                let mut s = slot.lock().unwrap();
                                turn.fetch_add(1, Ordering::AcqRel);
                                s.take()
                            };
                            if let Some(r) = next {
                                r.ready();
                            }
                        }
                    })
                };
                let a = spawn_player(0);
                let b = spawn_player(1);
                a.join().unwrap();
                b.join().unwrap();
                turn.load(Ordering::Acquire)
            })
        });
        assert_eq!(n, 2 * ROUNDS);
    }
}

/// A G readied into `runnext` by a goroutine that then computes for a
/// long time (no preemption) must not starve there while another P is
/// free: the idle P's M takes it after the steal grace (`runqgrab`'s
/// `usleep(3)`, `RUNNEXT_STEAL_GRACE`). Also right after a ping-pong
/// phase, whose `runnext` traffic the thief must not have given up on.
#[test]
fn runnext_does_not_starve_behind_a_long_running_readier() {
    let rounds = bounded(20, "runnext starvation", || {
        rt(2).run(|| {
            // Warm up: a ping-pong pair keeps a P busy through runnext.
            let (ping_tx, ping_rx) = burrow_sched::chan::<u32>(0);
            let (pong_tx, pong_rx) = burrow_sched::chan::<u32>(0);
            let echo = go(move || {
                for v in &ping_rx {
                    pong_tx.send(v).unwrap();
                }
            });
            for i in 0..20_000 {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv(), Some(i));
            }
            drop(ping_tx);
            echo.join().unwrap();
            // Now ready a G into our runnext and spin until it has run.
            let mut rounds = 0;
            for _ in 0..5 {
                let ran = Arc::new(AtomicBool::new(false));
                let (tx, rx) = burrow_sched::chan::<()>(0);
                let h = {
                    let ran = ran.clone();
                    go(move || {
                        rx.recv().unwrap();
                        ran.store(true, Ordering::Release);
                    })
                };
                // An unbuffered `try_send` succeeds only once the receiver
                // is blocked in `recv`: the hand-off then readies it into
                // our runnext.
                while tx.try_send(()).is_err() {
                    yield_now();
                }
                // Busy, never yielding: only another P can run it. Bounded
                // by `bounded`'s timeout (a starving G fails the test).
                while !ran.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                h.join().unwrap();
                rounds += 1;
            }
            rounds
        })
    });
    assert_eq!(rounds, 5);
}
