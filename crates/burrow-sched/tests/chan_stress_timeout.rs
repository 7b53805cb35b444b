//! Stress: timeouts racing hand-offs never lose or duplicate a value:
//! senders use `send_timeout` with tiny deadlines, receivers
//! `recv_timeout`; every value a sender saw as sent is received exactly
//! once, and every value that timed out came back to its sender.
//! Size: `BURROW_STRESS` (default 1).

mod common;
use common::{bounded, rt, scale};

use std::time::Duration;

use burrow_sched::{SendTimeoutError, chan, go};

fn race(cap: usize) {
    let per = 300 * scale();
    let (sent, received, timeouts) = bounded(120, "timeout race", move || {
        rt(4).run(move || {
            let (tx, rx) = chan::<usize>(cap);
            let (done_tx, done_rx) = chan::<(Vec<usize>, Vec<usize>, usize)>(8);
            for p in 0..3 {
                let (tx, done) = (tx.clone(), done_tx.clone());
                go(move || {
                    let mut ok = Vec::new();
                    // Pacing (not synchronisation): a short wait on a
                    // channel that never fires between sends, so receivers
                    // park and their timers fire around the hand-offs.
                    let pace = burrow_sched::Receiver::<()>::never();
                    for i in 0..per {
                        let _ = pace.recv_timeout(Duration::from_micros((i % 4) as u64 * 25));
                        let v = p * per + i;
                        let d = Duration::from_micros((i % 7) as u64 * 20);
                        match tx.send_timeout(v, d) {
                            Ok(()) => ok.push(v),
                            Err(SendTimeoutError::Timeout(back)) => assert_eq!(back, v),
                            Err(SendTimeoutError::Closed(_)) => panic!("closed early"),
                        }
                    }
                    done.send((ok, Vec::new(), 0)).unwrap();
                });
            }
            drop(tx);
            for _ in 0..3 {
                let (rx, done) = (rx.clone(), done_tx.clone());
                go(move || {
                    let mut got = Vec::new();
                    let mut i = 0u64;
                    let mut parked_timeouts = 0;
                    loop {
                        i += 1;
                        let d = Duration::from_micros(i % 5 * 30);
                        match rx.recv_timeout(d) {
                            Ok(v) => got.push(v),
                            Err(burrow_sched::RecvTimeoutError::Timeout) => {
                                parked_timeouts += usize::from(!d.is_zero());
                            }
                            Err(burrow_sched::RecvTimeoutError::Closed) => break,
                        }
                    }
                    done.send((Vec::new(), got, parked_timeouts)).unwrap();
                });
            }
            drop((rx, done_tx));
            let (mut sent, mut received, mut timeouts) = (Vec::new(), Vec::new(), 0);
            for (s, r, t) in done_rx.iter() {
                sent.extend(s);
                received.extend(r);
                timeouts += t;
            }
            sent.sort_unstable();
            received.sort_unstable();
            (sent, received, timeouts)
        })
    });
    assert!(
        !sent.is_empty(),
        "nothing was ever delivered: the race was not exercised"
    );
    assert!(
        timeouts > 0,
        "no parked receive ever timed out: the race was not exercised"
    );
    assert_eq!(sent, received, "a value was lost or duplicated");
}

#[test]
fn unbuffered_timeouts_never_lose_or_duplicate() {
    race(0);
}

#[test]
fn buffered_timeouts_never_lose_or_duplicate() {
    race(2);
}
