//! Stress: close wakes every waiter: blocked senders get their value
//! back, blocked receivers get `None`. The close runs only once every
//! waiter is seen parked (`Receiver::__waiters`).
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
                // Wait until every receiver and every sender that does
                // not fit in the buffer is parked (bounded), then close.
                let t = std::time::Instant::now();
                while rx.__waiters() < n || srx.__waiters() < n - cap {
                    assert!(
                        t.elapsed() < std::time::Duration::from_secs(60),
                        "round {round}: waiters never parked ({} receivers, {} senders)",
                        rx.__waiters(),
                        srx.__waiters()
                    );
                    burrow_sched::yield_now();
                }
                assert_eq!(rx.__waiters(), n, "exactly the receivers wait");
                assert_eq!(srx.__waiters(), n - cap, "the unbuffered senders wait");
                tx.close();
                stx.close();
                // The buffered sends (`cap`) succeed; the rest come back.
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
                assert_eq!(sent_ok, cap, "exactly the buffered sends succeeded");
                assert_eq!(buffered.len(), cap, "the buffer still held them");
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
