//! Tests of the timer contract inside a running runtime (the contract is
//! crate-private, so these live here rather than in `tests/`): concurrent
//! adds and deletes on many Ps, periodic timers, and a P busy with a long
//! goroutine not holding its timers back. Sized by `BURROW_STRESS`.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::{TimerKey, del_timer};
use crate::time::add_timer;
use crate::{Runtime, go, sleep, yield_now};

fn bounded<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("{what}: did not finish within {secs} s"),
    }
}

fn scale() -> usize {
    std::env::var("BURROW_STRESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Waits (goroutine-sleeping between looks) until `done()` or `secs`.
fn wait_for(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if done() {
            return true;
        }
        sleep(Duration::from_millis(2));
    }
    done()
}

#[test]
fn concurrent_adds_and_deletes_on_many_ps() {
    const GOROUTINES: usize = 16;
    let per = 500 * scale();
    let total = GOROUTINES * per;
    let hits: Arc<Vec<AtomicU8>> = Arc::new((0..total).map(|_| AtomicU8::new(0)).collect());
    // 0: not deleted; 1: del_timer returned true; 2: returned false.
    let deleted: Arc<Vec<AtomicU8>> = Arc::new((0..total).map(|_| AtomicU8::new(0)).collect());
    let (h2, d2) = (hits.clone(), deleted.clone());
    bounded(120, "add/delete stress", move || {
        let rt = Runtime::builder().maxprocs(4).build().unwrap();
        rt.run(move || {
            let pool: Arc<Mutex<Vec<(usize, TimerKey)>>> = Arc::default();
            let hs: Vec<_> = (0..GOROUTINES)
                .map(|g| {
                    let (hits, deleted, pool) = (h2.clone(), d2.clone(), pool.clone());
                    go(move || {
                        for i in 0..per {
                            let id = g * per + i;
                            let h = hits.clone();
                            // Due within 0..20 ms: some fire before their
                            // delete, most do not.
                            let when = Instant::now()
                                + Duration::from_micros(((id * 7919) % 20_000) as u64);
                            let key = add_timer(
                                when,
                                None,
                                Box::new(move || {
                                    h[id].fetch_add(1, Ordering::SeqCst);
                                }),
                            );
                            if id % 2 == 0 {
                                pool.lock().unwrap().push((id, key));
                            }
                            // Delete a timer some goroutine (maybe on
                            // another P) added.
                            let victim = pool.lock().unwrap().pop();
                            if let Some((vid, vkey)) = victim {
                                let won = del_timer(&vkey);
                                deleted[vid].store(if won { 1 } else { 2 }, Ordering::SeqCst);
                            }
                            if i % 64 == 0 {
                                yield_now();
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let expected = (0..total)
                .filter(|&i| d2[i].load(Ordering::SeqCst) != 1)
                .count();
            let fired = || h2.iter().filter(|h| h.load(Ordering::SeqCst) != 0).count();
            assert!(
                wait_for(60, || fired() >= expected),
                "only {} of {expected} timers fired",
                fired()
            );
            // Every timer was due within 20 ms of its add; give a deleted
            // one that wrongly stayed armed time to show itself.
            sleep(Duration::from_millis(50));
        });
    });
    let mut wins = 0;
    for i in 0..total {
        let h = hits[i].load(Ordering::SeqCst);
        match deleted[i].load(Ordering::SeqCst) {
            1 => {
                wins += 1;
                assert_eq!(h, 0, "timer {i} fired after a successful delete");
            }
            _ => assert_eq!(h, 1, "timer {i} fired {h} times, not once"),
        }
    }
    assert!(wins > 0, "no delete ever won: the test tests nothing");
}

#[test]
fn periodic_timer_on_a_runtime_fires_until_deleted() {
    bounded(60, "periodic", || {
        let rt = Runtime::builder().maxprocs(2).build().unwrap();
        rt.run(|| {
            let n = Arc::new(AtomicUsize::new(0));
            let n2 = n.clone();
            let start = Instant::now();
            let key = add_timer(
                start + Duration::from_millis(5),
                Some(Duration::from_millis(5)),
                Box::new(move || {
                    n2.fetch_add(1, Ordering::SeqCst);
                }),
            );
            assert!(
                wait_for(30, || n.load(Ordering::SeqCst) >= 5),
                "periodic timer stalled at {}",
                n.load(Ordering::SeqCst)
            );
            // Five periods take at least 25 ms: never early.
            assert!(start.elapsed() >= Duration::from_millis(25));
            del_timer(&key);
            let at_delete = n.load(Ordering::SeqCst);
            sleep(Duration::from_millis(40));
            // A firing under way at the delete may still complete.
            assert!(
                n.load(Ordering::SeqCst) <= at_delete + 1,
                "fired after delete"
            );
        });
    });
}

#[test]
fn busy_p_does_not_hold_its_timers_back() {
    let took = bounded(60, "busy P", || {
        let rt = Runtime::builder().maxprocs(2).build().unwrap();
        rt.run(|| {
            let fired = Arc::new(AtomicBool::new(false));
            let f2 = fired.clone();
            let start = Instant::now();
            // On this goroutine's P...
            let _k = add_timer(
                start + Duration::from_millis(30),
                None,
                Box::new(move || f2.store(true, Ordering::SeqCst)),
            );
            // ...which now never reaches the scheduler.
            while !fired.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                std::hint::spin_loop();
            }
            assert!(
                fired.load(Ordering::SeqCst),
                "the busy P's timer never fired"
            );
            start.elapsed()
        })
    });
    assert!(took < Duration::from_secs(2), "fired only after {took:?}");
}

/// A periodic timer re-armed by `run_expired` is an
/// added timer. Its first firing readies the main goroutine (so another M
/// starts) and holds the entry out of the heap until that M has gone idle
/// and become the timer sleeper, for a 60 s timer. The re-arm (due 20 ms
/// later) must kick that sleeper; before the fix nobody did, the ticker
/// stalled until the 60 s timer and this test timed out.
#[test]
fn periodic_rearm_wakes_a_later_sleeper() {
    let saw_sleeper = bounded(10, "periodic re-arm behind a later sleeper", || {
        let rt = Runtime::builder().maxprocs(2).build().unwrap();
        rt.run(|| {
            // The later timer the other M will sleep on.
            let _long = go(|| sleep(Duration::from_secs(60)));
            let slot: Arc<Mutex<Option<crate::Ready>>> =
                Arc::new(Mutex::new(Some(crate::Ready::for_current())));
            let saw_sleeper = Arc::new(AtomicBool::new(false));
            let (s2, saw2) = (slot.clone(), saw_sleeper.clone());
            let mut n = 0;
            let key = add_timer(
                Instant::now() + Duration::from_millis(20),
                Some(Duration::from_millis(20)),
                Box::new(move || {
                    n += 1;
                    if n == 1 || n == 3 {
                        if let Some(r) = s2.lock().unwrap().take() {
                            r.ready();
                        }
                    }
                    if n == 1 {
                        // Hold the entry out of the heap until another M
                        // sleeps on the 60 s timer (bounded).
                        let end = Instant::now() + Duration::from_secs(2);
                        while Instant::now() < end {
                            let until = crate::kernel::m::with_m(|m| {
                                m.map_or(0, |m| m.rt.sleeper_until.load(Ordering::SeqCst))
                            });
                            if until != 0 {
                                saw2.store(true, Ordering::SeqCst);
                                break;
                            }
                            std::hint::spin_loop();
                        }
                    }
                }),
            );
            // Woken by the first firing...
            crate::park(crate::WaitReason::Other);
            // ...and by the third, which needs the re-arm to be seen.
            *slot.lock().unwrap() = Some(crate::Ready::for_current());
            crate::park(crate::WaitReason::Other);
            del_timer(&key);
            saw_sleeper.load(Ordering::SeqCst)
        })
    });
    assert!(
        saw_sleeper,
        "no M became the sleeper during the firing: the test tests nothing"
    );
}
