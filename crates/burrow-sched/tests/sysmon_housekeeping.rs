//! sysmon is the runtime's one housekeeping thread: while a runtime runs,
//! the stack pool's scavenging happens on sysmon and the pool starts no
//! thread of its own.

mod common;
use common::{bounded, park_burst, thread_names};

use std::time::{Duration, Instant};

use burrow_sched::Runtime;

#[test]
fn sysmon_scavenges_the_stack_pool_and_no_pool_thread_starts() {
    let (cooled, names) = bounded(60, "housekeeping", || {
        Runtime::builder().maxprocs(2).build().unwrap().run(|| {
            // Their Gs decay on sysmon's rounds (a decay after they go
            // idle), and their stacks then go back to the pool.
            park_burst(20_000);
            // The stacks then cool past the pool's 1 s decay on sysmon's
            // rounds.
            let pool = burrow_stack::Pool::global();
            let end = Instant::now() + Duration::from_secs(30);
            loop {
                let s = pool.stats();
                // Cold: decommitted by a scavenging round a decay after
                // going tepid (the pool's bound makes some tepid at once).
                if s.cold > 0 {
                    break (s.cold, thread_names());
                }
                assert!(Instant::now() < end, "no stack went cold in 30 s: {s:?}");
                burrow_sched::sleep(Duration::from_millis(50));
            }
        })
    });
    assert!(cooled > 0);
    assert!(
        names.iter().any(|n| n == "burrow-sysmon"),
        "sysmon runs: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("burrow-stack")),
        "no stack scavenger thread while the runtime drives the pool: {names:?}"
    );
}
