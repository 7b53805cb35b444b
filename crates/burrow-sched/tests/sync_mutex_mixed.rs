//! Stress: goroutines and plain OS threads incrementing under one `Mutex`
//! give the exact total (the lock parks goroutines and blocks threads in
//! one queue). Scaled by `BURROW_STRESS` (increments = 200 × scale each).

mod common;
use common::{bounded, rt, scale};

use std::sync::Arc;

use burrow_sched::sync::Mutex;
use burrow_sched::{go, yield_now};

#[test]
fn goroutines_and_threads_share_one_mutex() {
    let per = 200 * scale() as u64;
    const GOROUTINES: u64 = 100;
    const THREADS: u64 = 4;
    let total = bounded(120, "mixed mutex", move || {
        rt(2).run(move || {
            let m = Arc::new(Mutex::new(0u64));
            let ts: Vec<_> = (0..THREADS)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        for i in 0..per {
                            let mut g = m.lock();
                            let v = *g;
                            if i % 10 == 0 {
                                std::thread::yield_now();
                            }
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            let hs: Vec<_> = (0..GOROUTINES)
                .map(|_| {
                    let m = m.clone();
                    go(move || {
                        for i in 0..per {
                            let mut g = m.lock();
                            let v = *g;
                            if i % 10 == 0 {
                                yield_now();
                            }
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            for t in ts {
                t.join().unwrap();
            }
            *m.lock()
        })
    });
    assert_eq!(total, (GOROUTINES + THREADS) * per);
}
