//! A `Ready` kept after its goroutine is gone stays stale even once the
//! goroutine's G has been destroyed and its struct reused by new
//! goroutines (*G structs are never freed* in `kernel/g.rs`). Alone in its
//! test binary: it waits on the process-wide stack pool's counters. The
//! assertions catch a stale handle that wakes a goroutine of the new
//! generation; run under valgrind (`valgrind target/debug/deps/stale_ready-*`)
//! it also shows the reads of freed memory a design that freed G structs
//! would make (one per stale handle).

mod common;
use common::bounded;

use std::time::{Duration, Instant};

use burrow_sched::{Ready, Runtime, chan, go, sleep};

const N: usize = 300;

#[test]
fn a_ready_kept_past_its_gs_destruction_stays_stale() {
    let pool = burrow_stack::Pool::global();
    bounded(60, "stale ready", move || {
        Runtime::builder()
            .maxprocs(2)
            .build()
            .unwrap()
            .run(move || {
                let (tx, rx) = std::sync::mpsc::channel();
                let hs: Vec<_> = (0..N)
                    .map(|_| {
                        let tx = tx.clone();
                        go(move || {
                            tx.send(Ready::for_current()).unwrap();
                            // A park of its own: the handle above is stale now.
                            sleep(Duration::from_millis(20));
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
                let stale: Vec<Ready> = rx.try_iter().collect();
                assert_eq!(stale.len(), N);
                // Wait until sysmon has destroyed the idle Gs (their stacks go
                // back to the pool).
                let end = Instant::now() + Duration::from_secs(30);
                // (Each P's own free list keeps up to 63.)
                while pool.stats().in_use > 2 * 64 + 4 {
                    assert!(
                        Instant::now() < end,
                        "idle Gs never decayed: {:?}",
                        pool.stats()
                    );
                    sleep(Duration::from_millis(20));
                }
                // New goroutines on the old structs, parked.
                let (vtx, vrx) = chan::<usize>(0);
                let (dtx, drx) = chan::<usize>(N);
                let hs: Vec<_> = (0..N)
                    .map(|_| {
                        let (vrx, dtx) = (vrx.clone(), dtx.clone());
                        go(move || dtx.send(vrx.recv().unwrap()).unwrap())
                    })
                    .collect();
                for r in stale {
                    assert!(!r.ready(), "a stale Ready woke a goroutine");
                }
                for v in 0..N {
                    vtx.send(v).unwrap();
                }
                let mut got: Vec<usize> = (0..N).map(|_| drx.recv().unwrap()).collect();
                got.sort_unstable();
                assert_eq!(got, (0..N).collect::<Vec<_>>());
                for h in hs {
                    h.join().unwrap();
                }
            })
    });
}
