//! Stress: 1,000,000 goroutines spawned from many goroutines each run
//! exactly once, on maxprocs 1, 2 and 8. Scaled by `BURROW_STRESS`
//! (default runs 100,000 per setting; `--ignored` runs the full million).

mod common;
use common::{bounded, rt, scale};

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use burrow_sched::go;

fn spawn_tree(procs: usize, total: usize) {
    let spawners = 100;
    let per = total / spawners;
    let ran: Arc<Vec<AtomicU8>> = Arc::new((0..total).map(|_| AtomicU8::new(0)).collect());
    let r2 = ran.clone();
    bounded(600, "million goroutines", move || {
        rt(procs).run(move || {
            let hs: Vec<_> = (0..spawners)
                .map(|s| {
                    let ran = r2.clone();
                    go(move || {
                        let hs: Vec<_> = (0..per)
                            .map(|i| {
                                let ran = ran.clone();
                                go(move || {
                                    ran[s * per + i].fetch_add(1, Ordering::Relaxed);
                                })
                            })
                            .collect();
                        for h in hs {
                            h.join().unwrap();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        })
    });
    let bad = ran
        .iter()
        .filter(|c| c.load(Ordering::Relaxed) != 1)
        .count();
    assert_eq!(bad, 0, "{bad} goroutines did not run exactly once");
}

#[test]
fn hundred_thousand_goroutines_run_exactly_once() {
    for procs in [1, 2, 8] {
        spawn_tree(procs, 100_000 * scale());
    }
}

#[test]
#[ignore = "1M goroutines x 3 settings; run with --ignored"]
fn million_goroutines_run_exactly_once() {
    for procs in [1, 2, 8] {
        spawn_tree(procs, 1_000_000);
    }
}
