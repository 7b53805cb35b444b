//! `sleep` never wakes early and wakes within a bounded lateness, for
//! goroutines spread over several Ps with mixed durations, and on a plain
//! thread (where it blocks the thread).

mod common;
use common::{bounded, rt};

use std::time::{Duration, Instant};

use burrow_sched::{go, sleep, sleep_until};

/// Generous: the box is shared with other builds.
const MAX_LATE: Duration = Duration::from_secs(2);

fn check(procs: usize) {
    let lates = bounded(60, "sleepers", move || {
        rt(procs).run(|| {
            let hs: Vec<_> = (0..200u64)
                .map(|i| {
                    go(move || {
                        let d = Duration::from_millis(1 + (i * 7) % 120);
                        let t = Instant::now();
                        if i % 2 == 0 {
                            sleep(d);
                        } else {
                            sleep_until(t + d);
                        }
                        t.elapsed().checked_sub(d)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    for (i, late) in lates.iter().enumerate() {
        let late = late.unwrap_or_else(|| panic!("sleeper {i} woke early (procs {procs})"));
        assert!(
            late < MAX_LATE,
            "sleeper {i} woke {late:?} late (procs {procs})"
        );
    }
}

#[test]
fn sleeps_are_never_early_one_p() {
    check(1);
}

#[test]
fn sleeps_are_never_early_four_ps() {
    check(4);
}

#[test]
fn zero_and_past_deadlines_return_at_once() {
    bounded(30, "zero sleeps", || {
        rt(2).run(|| {
            sleep(Duration::ZERO);
            sleep_until(Instant::now() - Duration::from_millis(1));
        })
    });
}

#[test]
fn plain_thread_sleep_blocks_the_thread() {
    bounded(30, "plain-thread sleep", || {
        let t = Instant::now();
        sleep(Duration::from_millis(20));
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(20), "woke early: {e:?}");
        assert!(e < Duration::from_millis(20) + MAX_LATE, "woke late: {e:?}");
    });
}
