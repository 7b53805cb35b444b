//! A deadlock grace too long for `Instant`
//! (`Duration::MAX`, "practically never") must mean "never report", not a
//! panic on an M holding the sched lock (which poisoned it and left
//! `try_run` hanging).

mod common;
use common::bounded;

use std::time::Duration;

use burrow_sched::{Ready, Runtime, WaitReason, park};

#[test]
fn huge_deadlock_grace_does_not_break_the_runtime() {
    let r = bounded(10, "huge grace", || {
        Runtime::builder()
            .maxprocs(1)
            .deadlock_grace(Some(Duration::MAX))
            .build()
            .unwrap()
            .try_run(|| {
                // Nothing can run while the thread sleeps: the idle M
                // considers a deadlock watch with the huge grace.
                let ready = Ready::for_current();
                let th = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    ready.ready()
                });
                park(WaitReason::Other);
                th.join().is_ok()
            })
    });
    assert_eq!(r, Ok(true));
}
