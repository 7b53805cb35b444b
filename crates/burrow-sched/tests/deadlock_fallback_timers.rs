//! The fallback thread (process-global state, so in its own test
//! binary): a timer added on a plain thread and stopped must not
//! disable deadlock detection for every runtime in the process until its
//! original deadline. (A *live* fallback timer still holds reports back:
//! an `after()` made on a thread may be handed to a goroutine and wake it.)

mod common;
use common::bounded;

use std::time::Duration;

use burrow_sched::{Ready, RunError, Runtime, Timer, WaitReason, park};

#[test]
fn stopped_fallback_timer_does_not_disable_deadlock_detection() {
    // On the test thread: outside any runtime, so on the fallback thread.
    let t = Timer::new(Duration::from_secs(3600));
    assert!(t.stop());
    drop(t);
    let r = bounded(10, "deadlock with a stopped fallback timer", || {
        Runtime::builder()
            .maxprocs(1)
            .deadlock_grace(Some(Duration::from_millis(50)))
            .build()
            .unwrap()
            .try_run(|| {
                drop(Ready::for_current());
                park(WaitReason::Other);
            })
    });
    assert!(
        matches!(r, Err(RunError::Deadlock { parked: 1, .. })),
        "{r:?}"
    );
}
