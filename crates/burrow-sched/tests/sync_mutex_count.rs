//! Stress: 1,000 goroutines each incrementing a counter under one
//! `Mutex` give the exact total on maxprocs 1, 2 and 4. Every tenth
//! increment yields *inside* the critical section, so a broken lock would
//! lose updates even on one P. Scaled by `BURROW_STRESS` (increments per
//! goroutine = 20 × scale).

mod common;
use common::{bounded, rt, scale};

use std::sync::Arc;

use burrow_sched::sync::Mutex;
use burrow_sched::{go, yield_now};

const GOROUTINES: u64 = 1000;

fn count(procs: usize) {
    let per = 20 * scale() as u64;
    let total = bounded(120, "mutex count", move || {
        rt(procs).run(move || {
            let m = Arc::new(Mutex::new(0u64));
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
            *m.lock()
        })
    });
    assert_eq!(total, GOROUTINES * per, "lost updates on maxprocs {procs}");
}

#[test]
fn exact_total_maxprocs_1() {
    count(1);
}

#[test]
fn exact_total_maxprocs_2() {
    count(2);
}

#[test]
fn exact_total_maxprocs_4() {
    count(4);
}
