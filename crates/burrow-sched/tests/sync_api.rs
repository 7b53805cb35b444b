//! The sync primitives' behaviour: Mutex, RwLock, WaitGroup, Once, Cond
//! and Semaphore, from goroutines, from plain threads, and from both at
//! once. Every wait is bounded.

mod common;
use common::{bounded, rt};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use burrow_sched::sync::{Cond, Mutex, Once, RwLock, Semaphore, WaitGroup};
use burrow_sched::{go, yield_now};

/// Yields until `cond` holds; panics after `secs` seconds.
fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not reached in {secs} s");
        yield_now();
    }
}

#[test]
fn mutex_guard_api() {
    let mut m = Mutex::new(vec![1]);
    m.lock().push(2);
    {
        let g = m.try_lock().expect("free mutex");
        assert!(m.is_locked());
        assert!(m.try_lock().is_none(), "try_lock on a held mutex");
        assert_eq!(*g, vec![1, 2]);
    }
    assert!(!m.is_locked());
    m.get_mut().push(3);
    assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2, 3], .. }");
    assert_eq!(m.into_inner(), vec![1, 2, 3]);
}

#[test]
fn mutex_panic_in_critical_section_unlocks_without_poison() {
    let m = Arc::new(Mutex::new(0));
    let m2 = m.clone();
    let r = std::thread::spawn(move || {
        let _g = m2.lock();
        panic!("boom");
    })
    .join();
    assert!(r.is_err());
    assert!(!m.is_locked(), "the guard unlocked while unwinding");
    *m.lock() += 1;
    assert_eq!(*m.lock(), 1);
}

/// A goroutine holds the lock; a plain thread blocks on it until the
/// goroutine unlocks, and the other way round.
#[test]
fn mutex_blocks_threads_and_goroutines_alike() {
    bounded(20, "thread/goroutine hand-over", || {
        rt(2).run(|| {
            let m = Arc::new(Mutex::new(Vec::new()));
            let g = m.lock();
            let m2 = m.clone();
            let t = std::thread::spawn(move || m2.lock().push("thread"));
            // Nobody gets in while we hold it.
            assert!(m.try_lock().is_none());
            drop(g);
            t.join().unwrap();
            // Now a thread holds it while a goroutine waits.
            let m3 = m.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let (tx2, rx2) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || {
                let mut g = m3.lock();
                tx.send(()).unwrap();
                rx2.recv_timeout(Duration::from_secs(10)).unwrap();
                g.push("thread2");
            });
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
            let m4 = m.clone();
            let h = go(move || m4.lock().push("goroutine"));
            tx2.send(()).unwrap();
            h.join().unwrap();
            t.join().unwrap();
            assert_eq!(*m.lock(), vec!["thread", "thread2", "goroutine"]);
        })
    });
}

#[test]
fn mutex_guard_can_be_dropped_on_another_thread() {
    let m = Mutex::new(5);
    std::thread::scope(|s| {
        let g = m.lock();
        s.spawn(move || drop(g)).join().unwrap();
    });
    assert!(!m.is_locked());
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    bounded(20, "rwlock", || {
        rt(2).run(|| {
            let l = Arc::new(RwLock::new(0u32));
            let inside = Arc::new(AtomicUsize::new(0));
            const READERS: usize = 8;
            // All readers are inside at once: each waits for the others
            // while holding its read guard.
            let hs: Vec<_> = (0..READERS)
                .map(|_| {
                    let (l, inside) = (l.clone(), inside.clone());
                    go(move || {
                        let g = l.read();
                        inside.fetch_add(1, Ordering::SeqCst);
                        wait_until(10, "all readers inside", || {
                            inside.load(Ordering::SeqCst) == READERS
                        });
                        assert!(l.try_write().is_none(), "writer got in beside readers");
                        *g
                    })
                })
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), 0);
            }
            let mut w = l.write();
            assert!(l.try_read().is_none(), "reader got in beside a writer");
            assert!(l.try_write().is_none(), "two writers");
            *w = 7;
            drop(w);
            assert_eq!(*l.try_read().expect("free"), 7);
            assert_eq!(*l.try_write().expect("free"), 7);
        })
    });
}

/// Writers keep two fields equal; readers (goroutines and threads) must
/// never see them differ.
#[test]
fn rwlock_readers_never_see_a_half_write() {
    bounded(30, "rwlock consistency", || {
        rt(2).run(|| {
            let l = Arc::new(RwLock::new((0u64, 0u64)));
            let writers: Vec<_> = (0..4)
                .map(|_| {
                    let l = l.clone();
                    go(move || {
                        for _ in 0..500 {
                            let mut g = l.write();
                            g.0 += 1;
                            yield_now();
                            g.1 += 1;
                        }
                    })
                })
                .collect();
            let readers: Vec<_> = (0..4)
                .map(|_| {
                    let l = l.clone();
                    go(move || {
                        for _ in 0..500 {
                            let g = l.read();
                            assert_eq!(g.0, g.1, "half-done write visible");
                            drop(g);
                            yield_now();
                        }
                    })
                })
                .collect();
            let l2 = l.clone();
            let t = std::thread::spawn(move || {
                for _ in 0..500 {
                    let g = l2.read();
                    assert_eq!(g.0, g.1, "half-done write visible to a thread");
                }
            });
            for h in writers.into_iter().chain(readers) {
                h.join().unwrap();
            }
            t.join().unwrap();
            assert_eq!(*l.read(), (2000, 2000));
        })
    });
}

#[test]
fn waitgroup_waits_for_all() {
    bounded(20, "waitgroup", || {
        rt(2).run(|| {
            let wg = Arc::new(WaitGroup::new());
            let finished = Arc::new(AtomicUsize::new(0));
            for _ in 0..100 {
                wg.add(1);
                let (wg, finished) = (wg.clone(), finished.clone());
                go(move || {
                    yield_now();
                    finished.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            // A thread waits too, beside the main goroutine.
            let (wg2, f2) = (wg.clone(), finished.clone());
            let t = std::thread::spawn(move || {
                wg2.wait();
                f2.load(Ordering::Relaxed)
            });
            wg.wait();
            assert_eq!(finished.load(Ordering::Relaxed), 100);
            assert_eq!(t.join().unwrap(), 100);
            assert_eq!(wg.count(), 0);
            // Reusable once waits returned.
            wg.add(1);
            wg.done();
            wg.wait();
        })
    });
}

/// The guard form: a goroutine that panics still counts itself done.
#[test]
fn waitgroup_guard_is_done_even_on_panic() {
    bounded(20, "waitgroup guard", || {
        rt(2).run(|| {
            let wg = Arc::new(WaitGroup::new());
            let hs: Vec<_> = (0..10)
                .map(|i| {
                    let done = wg.add_guard();
                    go(move || {
                        let _done = done;
                        yield_now();
                        assert!(i % 3 != 0, "goroutine {i} panics on purpose");
                    })
                })
                .collect();
            wg.wait();
            let failed = hs
                .into_iter()
                .map(|h| h.join())
                .filter(Result::is_err)
                .count();
            assert_eq!(failed, 4, "goroutines 0, 3, 6, 9 panicked");
            assert_eq!(wg.count(), 0);
        })
    });
}

#[test]
#[should_panic(expected = "negative WaitGroup counter")]
fn waitgroup_negative_counter_panics() {
    WaitGroup::new().done();
}

#[test]
fn once_runs_exactly_once_and_all_callers_see_it() {
    bounded(20, "once", || {
        rt(2).run(|| {
            let once = Arc::new(Once::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let value = Arc::new(AtomicUsize::new(0));
            let call = {
                let (once, runs, value) = (once.clone(), runs.clone(), value.clone());
                move || {
                    once.call_once(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        // Others arrive while we are inside.
                        for _ in 0..10 {
                            yield_now();
                        }
                        value.store(42, Ordering::Relaxed);
                    });
                    value.load(Ordering::Relaxed)
                }
            };
            let hs: Vec<_> = (0..50).map(|_| go(call.clone())).collect();
            let ts: Vec<_> = (0..4).map(|_| std::thread::spawn(call.clone())).collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), 42);
            }
            for t in ts {
                assert_eq!(t.join().unwrap(), 42);
            }
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert!(once.is_completed());
        })
    });
}

#[test]
fn once_retries_after_a_panicking_initialiser() {
    let once = Once::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        once.call_once(|| panic!("init failed"))
    }));
    assert!(r.is_err());
    assert!(!once.is_completed());
    let mut ran = false;
    once.call_once(|| ran = true);
    assert!(ran, "second initialiser ran");
    assert!(once.is_completed());
    once.call_once(|| panic!("must not run again"));
}

/// Ping-pong through a Cond: a lost notify would hang (and fail the bound).
#[test]
fn cond_no_lost_notify() {
    bounded(30, "cond ping-pong", || {
        rt(2).run(|| {
            let pair = Arc::new((Mutex::new(0u32), Cond::new()));
            const ROUNDS: u32 = 2000;
            let p2 = pair.clone();
            let h = go(move || {
                let (m, c) = &*p2;
                let mut g = m.lock();
                for i in 0..ROUNDS {
                    g = c.wait_while(g, |v| *v != 2 * i + 1);
                    *g += 1;
                    c.notify_one();
                }
            });
            let (m, c) = &*pair;
            let mut g = m.lock();
            for i in 0..ROUNDS {
                *g += 1;
                c.notify_one();
                g = c.wait_while(g, |v| *v != 2 * i + 2);
            }
            drop(g);
            h.join().unwrap();
            assert_eq!(*m.lock(), 2 * ROUNDS);
        })
    });
}

#[test]
fn cond_notify_all_wakes_everyone() {
    bounded(20, "notify_all", || {
        rt(2).run(|| {
            const WAITERS: usize = 20;
            // (go flag, waiters inside)
            let pair = Arc::new((Mutex::new((false, 0usize)), Cond::new()));
            let mk = |pair: Arc<(Mutex<(bool, usize)>, Cond)>| {
                move || {
                    let (m, c) = &*pair;
                    let mut g = m.lock();
                    g.1 += 1;
                    let g = c.wait_while(g, |s| !s.0);
                    assert!(g.0);
                }
            };
            let hs: Vec<_> = (0..WAITERS - 2).map(|_| go(mk(pair.clone()))).collect();
            let ts: Vec<_> = (0..2)
                .map(|_| std::thread::spawn(mk(pair.clone())))
                .collect();
            let (m, c) = &*pair;
            // A waiter counted itself under the lock and is queued before
            // releasing it, so once all have counted, all are queued.
            wait_until(10, "all waiters queued", || m.lock().1 == WAITERS);
            m.lock().0 = true;
            c.notify_all();
            for h in hs {
                h.join().unwrap();
            }
            for t in ts {
                t.join().unwrap();
            }
        })
    });
}

#[test]
fn cond_wait_timeout_times_out_and_is_notified() {
    bounded(20, "wait_timeout", || {
        rt(2).run(|| {
            let pair = Arc::new((Mutex::new(false), Cond::new()));
            let (m, c) = &*pair;
            let t0 = Instant::now();
            let (g, r) = c.wait_timeout(m.lock(), Duration::from_millis(30));
            assert!(r.timed_out());
            assert!(t0.elapsed() >= Duration::from_millis(30), "woke early");
            drop(g);
            // A timed-out entry does not swallow a later notify.
            let p2 = pair.clone();
            let h = go(move || {
                let (m, c) = &*p2;
                let (g, r) = c.wait_timeout_while(m.lock(), Duration::from_secs(10), |v| !*v);
                (*g, r.timed_out())
            });
            wait_until(10, "notified", || {
                *m.lock() = true;
                c.notify_one();
                h.is_finished()
            });
            assert_eq!(h.join().unwrap(), (true, false));
        })
    });
}

#[test]
fn semaphore_weights_and_permits() {
    let s = Semaphore::new(5);
    assert!(s.try_acquire(3));
    assert!(!s.try_acquire(3));
    {
        let p = s.try_acquire_permit(2).expect("2 left");
        assert_eq!(p.units(), 2);
        assert_eq!(s.held(), 5);
    }
    assert_eq!(s.held(), 3);
    s.release(3);
    assert_eq!(s.held(), 0);
}

#[test]
#[should_panic(expected = "released more than held")]
fn semaphore_over_release_panics() {
    Semaphore::new(2).release(1);
}

/// N holders at most, goroutines and threads together.
#[test]
fn semaphore_never_exceeds_its_size() {
    bounded(30, "semaphore bound", || {
        rt(2).run(|| {
            const N: u64 = 3;
            let s = Arc::new(Semaphore::new(N));
            let inside = Arc::new(AtomicUsize::new(0));
            let over = Arc::new(AtomicBool::new(false));
            let body = {
                let (s, inside, over) = (s.clone(), inside.clone(), over.clone());
                move |w: u64| {
                    for _ in 0..200 {
                        let _p = s.acquire_permit(w);
                        let now = inside.fetch_add(w as usize, Ordering::SeqCst) + w as usize;
                        if now > N as usize {
                            over.store(true, Ordering::SeqCst);
                        }
                        yield_now();
                        inside.fetch_sub(w as usize, Ordering::SeqCst);
                    }
                }
            };
            let hs: Vec<_> = (0..10)
                .map(|i| {
                    let b = body.clone();
                    go(move || b(1 + i % 2))
                })
                .collect();
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let b = body.clone();
                    std::thread::spawn(move || b(1))
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            for t in ts {
                t.join().unwrap();
            }
            assert!(!over.load(Ordering::SeqCst), "more than N units held");
            assert_eq!(s.held(), 0);
        })
    });
}

/// Waiters are served in arrival order, and a big request at the head is
/// not overtaken by smaller ones behind it.
#[test]
fn semaphore_is_fifo() {
    bounded(20, "semaphore fifo", || {
        rt(2).run(|| {
            let s = Arc::new(Semaphore::new(4));
            let order = Arc::new(Mutex::new(Vec::new()));
            s.acquire(4);
            let mut hs = Vec::new();
            for (i, w) in [4u64, 1, 2, 4, 1].into_iter().enumerate() {
                let (s2, order) = (s.clone(), order.clone());
                hs.push(go(move || {
                    s2.acquire(w);
                    order.lock().push(i);
                    s2.release(w);
                }));
                wait_until(10, "queued", || s.waiting() == i + 1);
            }
            s.release(4);
            for h in hs {
                h.join().unwrap();
            }
            let got = order.lock().clone();
            // 0 (4 units) first; then 1 and 2 fit together (their order
            // in the list may swap, both are granted at one release); 3
            // only after both left; then 4.
            assert_eq!(got[0], 0, "{got:?}");
            let mut mid = got[1..3].to_vec();
            mid.sort_unstable();
            assert_eq!(mid, vec![1, 2], "{got:?}");
            assert_eq!(&got[3..], &[3, 4], "{got:?}");
        })
    });
}
