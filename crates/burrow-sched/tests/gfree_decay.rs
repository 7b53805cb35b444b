//! The global G free list keeps the Gs of a burst (with their stacks) for
//! the next burst, and gives them back a decay after they went idle
//! (*Idle Gs decay* in `kernel/gfree.rs`). Alone in its test binary: it reads
//! the process-wide stack pool's counters.

mod common;
use common::{bounded, park_burst};

use std::time::{Duration, Instant};

use burrow_sched::Runtime;

const BURST: usize = 20_000;

fn burst() {
    park_burst(BURST);
}

#[test]
fn a_bursts_gs_serve_the_next_burst_and_decay_after_a_second_idle() {
    let pool = burrow_stack::Pool::global();
    let decay = pool.config().decay;
    bounded(60, "gfree decay", move || {
        Runtime::builder()
            .maxprocs(2)
            .build()
            .unwrap()
            .run(move || {
                burst();
                let idle_since = Instant::now();
                // Every G of the burst is still on a free list, holding its
                // stack: none went back to the pool. (A goroutine that started
                // after the release exits at once and lends its G to the
                // next, so the burst may need a few fewer Gs than goroutines.)
                let s = pool.stats();
                assert!(
                    s.warm + s.tepid + s.cold == 0 && s.in_use >= BURST as u64 / 2,
                    "the burst's Gs keep their stacks: {s:?}"
                );
                // A second burst at once reuses them: no stack comes from the
                // pool, fresh or free.
                let before = pool.stats();
                burst();
                let after = pool.stats();
                assert!(
                    after.in_use <= before.in_use + 64,
                    "the second burst made new Gs: before {before:?}, after {after:?}"
                );
                let idle_since = idle_since.max(Instant::now());
                // Idle for a decay (and at most two), sysmon gives them back.
                let end = Instant::now() + Duration::from_secs(30);
                while pool.stats().in_use > 1_000 {
                    assert!(
                        Instant::now() < end,
                        "idle Gs never decayed: {:?}",
                        pool.stats()
                    );
                    burrow_sched::sleep(Duration::from_millis(20));
                }
                let waited = idle_since.elapsed();
                assert!(
                    waited >= decay,
                    "Gs went back after {waited:?}, before a whole decay ({decay:?})"
                );
            })
    });
}
