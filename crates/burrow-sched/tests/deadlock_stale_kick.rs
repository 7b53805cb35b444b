//! A kick that lands on the timer sleeper's note after
//! its wait ended (`kicked` left set) must not end a later deadlock watch
//! of the same M early and get a deadlock reported without the grace.
//!
//! Phases of concurrent short sleeps under a longer pending timer (many
//! earlier-timer kicks, some of them late) are each followed by a short
//! wait on a plain thread with no timer pending (a deadlock watch). The
//! grace is 5 s and the thread always acts within ~5 ms, so any report is
//! false. Before the fix this failed about one run in three; rounds are
//! sized by `BURROW_STALE_KICK_ROUNDS` (default 150, about 3 s).

mod common;
use common::bounded;

use std::time::{Duration, Instant};

use burrow_sched::{Ready, Runtime, WaitReason, go, park, sleep};

#[test]
fn short_sleep_bursts_then_thread_wait_is_not_a_deadlock() {
    let rounds: u64 = std::env::var("BURROW_STALE_KICK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let r = bounded(120, "bursts then thread waits", move || {
        Runtime::builder()
            .maxprocs(2)
            .deadlock_grace(Some(Duration::from_secs(5)))
            .build()
            .unwrap()
            .try_run(move || {
                for round in 0..rounds {
                    let long = go(|| sleep(Duration::from_millis(12)));
                    let hs: Vec<_> = (0..4u64)
                        .map(|k| {
                            go(move || {
                                let t = Instant::now();
                                let mut i = k + round * 7;
                                while t.elapsed() < Duration::from_millis(10) {
                                    i = i
                                        .wrapping_mul(6364136223846793005)
                                        .wrapping_add(1442695040888963407);
                                    sleep(Duration::from_micros(1 + (i >> 60)));
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                    long.join().unwrap();
                    // No timer pending now: the idle M watches for a
                    // deadlock while a plain thread readies us in ~5 ms.
                    let ready = Ready::for_current();
                    let th = std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(5));
                        ready.ready();
                    });
                    park(WaitReason::Other);
                    th.join().unwrap();
                }
            })
    });
    assert_eq!(r, Ok(()), "false deadlock report (stale kick)");
}
