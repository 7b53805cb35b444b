//! Stress: a pending writer is not starved by a stream of readers whose
//! read sections overlap (so the reader count alone would never reach
//! zero). Go's writer preference blocks new readers once a writer waits.
//! Scaled by `BURROW_STRESS` (rounds = 3 × scale).

mod common;
use common::{bounded, rt, scale};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burrow_sched::sync::RwLock;
use burrow_sched::{go, yield_now};

const READERS: usize = 8;
const BOUND: Duration = Duration::from_secs(2);

#[test]
fn writer_is_not_starved_by_readers() {
    let rounds = 3 * scale();
    let waits = bounded(120, "rwlock writer", move || {
        rt(2).run(move || {
            let mut waits = Vec::new();
            for _ in 0..rounds {
                let l = Arc::new(RwLock::new(0u64));
                let stop = Arc::new(AtomicBool::new(false));
                let reads = Arc::new(AtomicU64::new(0));
                let hs: Vec<_> = (0..READERS)
                    .map(|_| {
                        let (l, stop, reads) = (l.clone(), stop.clone(), reads.clone());
                        go(move || {
                            while !stop.load(Ordering::Relaxed) {
                                let g = l.read();
                                // Overlap with the other readers.
                                yield_now();
                                std::hint::black_box(*g);
                                drop(g);
                                reads.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                let deadline = Instant::now() + Duration::from_secs(20);
                while reads.load(Ordering::Relaxed) < 1_000 {
                    assert!(Instant::now() < deadline, "readers never ran");
                    yield_now();
                }
                let t0 = Instant::now();
                let mut g = l.write();
                let waited = t0.elapsed();
                *g += 1;
                stop.store(true, Ordering::Relaxed);
                drop(g);
                for h in hs {
                    h.join().unwrap();
                }
                assert_eq!(*l.read(), 1);
                waits.push(waited);
            }
            waits
        })
    });
    eprintln!("waits: {waits:?}");
    for w in &waits {
        assert!(*w < BOUND, "writer waited {w:?} (bound {BOUND:?})");
    }
}
