//! Stress: close wakes every waiter: blocked senders get their value
//! back, blocked receivers get `None`, whether goroutines or threads.
//! Size: `BURROW_STRESS` (default 1).

mod common;
use common::{bounded, rt, scale};

use burrow_sched::{chan, go};

#[test]
fn close_wakes_every_sender_and_receiver() {
    let rounds = 20 * scale();
    bounded(120, "close wakes all", move || {
        rt(4).run(move || {
            for round in 0..rounds {
                let cap = round % 3;
                let (tx, rx) = chan::<usize>(cap);
                let (res_tx, res_rx) = chan::<(bool, Option<usize>)>(64);
                let n = 16;
                // Receivers on one channel, senders on another that nobody
                // reads: both sides block until the closes.
                let (stx, srx) = chan::<usize>(cap);
                for i in 0..n {
                    let (rx, res) = (rx.clone(), res_tx.clone());
                    go(move || res.send((false, rx.recv())).unwrap());
                    let (stx, res) = (stx.clone(), res_tx.clone());
                    go(move || {
                        let back = stx.send(i).err().map(|e| e.0);
                        res.send((true, back)).unwrap();
                    });
                }
                drop(res_tx);
                // Let them block (each yields the P), then close both.
                for _ in 0..4 * n {
                    burrow_sched::yield_now();
                }
                tx.close();
                // The buffered sends (up to `cap`) succeed; the rest come back.
                let buffered: Vec<usize> = std::iter::from_fn(|| srx.try_recv().ok()).collect();
                drop(srx);
                let mut recv_none = 0;
                let mut returned = Vec::new();
                let mut sent_ok = 0;
                for (is_send, v) in res_rx.iter() {
                    match (is_send, v) {
                        (false, None) => recv_none += 1,
                        (false, Some(_)) => panic!("a receiver got a value from nowhere"),
                        (true, Some(v)) => returned.push(v),
                        (true, None) => sent_ok += 1,
                    }
                }
                assert_eq!(recv_none, n, "every receiver woke with None");
                assert_eq!(returned.len() + sent_ok, n, "every sender woke");
                let mut all: Vec<usize> = returned.into_iter().chain(buffered).collect();
                all.sort_unstable();
                all.dedup();
                assert_eq!(
                    all.len(),
                    n,
                    "each value either delivered to the buffer or returned"
                );
                drop(rx);
            }
        })
    });
}
