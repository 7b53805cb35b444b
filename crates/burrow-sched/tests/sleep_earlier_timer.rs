//! A timer added while an idle M sleeps until a *later* timer wakes that
//! M (Go's `wakeNetPoller`): short sleeps are not held back by a long one
//! already pending.

mod common;
use common::{bounded, rt};

use std::time::{Duration, Instant};

use burrow_sched::{Ready, WaitReason, go, park, sleep};

#[test]
fn short_sleeps_are_not_held_back_by_a_long_pending_one() {
    let lates = bounded(60, "earlier timer", || {
        rt(2).run(|| {
            // A long timer: once all is idle, an idle M becomes the timer
            // sleeper with this deadline.
            let long = go(|| sleep(Duration::from_millis(1500)));
            let mut lates = Vec::new();
            for _ in 0..3 {
                // Let a plain thread wake us once the runtime is idle, so
                // that the short timer below is added by an M that is not
                // the sleeper while the sleeper waits for the long one:
                // without a kick it would fire only after 1.5 s.
                let ready = Ready::for_current();
                let th = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    ready.ready();
                });
                park(WaitReason::Other);
                th.join().unwrap();
                let t = Instant::now();
                sleep(Duration::from_millis(20));
                lates.push(t.elapsed());
            }
            long.join().unwrap();
            lates
        })
    });
    for (i, e) in lates.iter().enumerate() {
        assert!(
            *e >= Duration::from_millis(20),
            "sleep {i} woke early: {e:?}"
        );
        assert!(
            *e < Duration::from_millis(700),
            "sleep {i} took {e:?}: held back by the long timer"
        );
    }
}
