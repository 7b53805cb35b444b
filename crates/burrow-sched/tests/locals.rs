//! Goroutine-local storage follows its goroutine across Ms.

mod common;
use common::{bounded, rt};

use std::cell::Cell;

use burrow_sched::{Ready, WaitReason, go, goroutine_local, park, yield_now};

goroutine_local! {
    static MINE: Cell<u64> = Cell::new(0);
    static NAME: String = String::from("fresh");
}

#[test]
fn locals_follow_the_goroutine_across_ms() {
    let migrated = bounded(60, "locals", || {
        rt(4).run(|| {
            // A plain thread readies every parked goroutine: readies from
            // outside go through the global queue, so any P may resume it.
            let (tx, rx) = std::sync::mpsc::channel::<Ready>();
            let readier = std::thread::spawn(move || {
                for r in rx {
                    r.ready();
                }
            });
            let hs: Vec<_> = (1..=64u64)
                .map(|i| {
                    let tx = tx.clone();
                    go(move || {
                        MINE.with(|m| m.set(i));
                        let mut threads = std::collections::HashSet::new();
                        // At least 50 rounds; more (up to 5000) until it has
                        // run on two threads: on a loaded machine one M may
                        // do all the work for a while, and a test that saw
                        // no migration would prove nothing.
                        for round in 0..5000 {
                            threads.insert(std::thread::current().id());
                            if round >= 50 && threads.len() > 1 {
                                break;
                            }
                            tx.send(Ready::for_current()).unwrap();
                            park(WaitReason::Other);
                            assert_eq!(MINE.with(Cell::get), i, "goroutine-local changed");
                            assert_eq!(NAME.with(|n| n.clone()), "fresh");
                            yield_now();
                        }
                        threads.len() > 1
                    })
                })
                .collect();
            drop(tx);
            let n = hs
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|m| *m)
                .count();
            readier.join().unwrap();
            n
        })
    });
    assert!(
        migrated > 0,
        "no goroutine migrated between Ms; the test proved nothing"
    );
}

#[test]
fn a_new_goroutine_starts_with_fresh_locals() {
    let fresh = bounded(20, "fresh locals", || {
        rt(1).run(|| {
            for i in 0..100 {
                go(move || MINE.with(|m| m.set(i + 1))).join().unwrap();
            }
            // G structs are recycled; the values are not.
            go(|| MINE.with(Cell::get)).join().unwrap()
        })
    });
    assert_eq!(fresh, 0);
}

#[test]
fn outside_a_goroutine_the_thread_stands_in() {
    MINE.with(|m| m.set(9));
    assert_eq!(MINE.with(Cell::get), 9);
}
