//! Stress: N producers × M consumers (goroutines and plain threads) over
//! unbuffered and buffered channels deliver every message exactly once.
//! Size: `BURROW_STRESS` (default 1; the full run is `BURROW_STRESS=50`).

mod common;
use common::{bounded, rt, scale};

use burrow_sched::{chan, go};

fn mpmc(cap: usize, producers: usize, consumers: usize, per: usize) {
    let got = bounded(120, "mpmc", move || {
        rt(4).run(move || {
            let (tx, rx) = chan::<usize>(cap);
            let (out_tx, out_rx) = chan::<Vec<usize>>(consumers);
            for c in 0..consumers {
                let (rx, out_tx) = (rx.clone(), out_tx.clone());
                let body = move || out_tx.send(rx.iter().collect()).unwrap();
                if c == 0 {
                    // One consumer is a plain thread.
                    std::thread::spawn(body);
                } else {
                    go(body);
                }
            }
            drop((rx, out_tx));
            for p in 0..producers {
                let tx = tx.clone();
                let body = move || (0..per).for_each(|i| tx.send(p * per + i).unwrap());
                if p == 0 {
                    std::thread::spawn(body);
                } else {
                    go(body);
                }
            }
            drop(tx);
            let mut all: Vec<usize> = out_rx.iter().flatten().collect();
            all.sort_unstable();
            all
        })
    });
    assert_eq!(
        got.len(),
        producers * per,
        "a message was lost or duplicated"
    );
    assert!(
        got.iter().enumerate().all(|(i, &v)| i == v),
        "a message was lost or duplicated"
    );
}

#[test]
fn unbuffered_every_message_exactly_once() {
    mpmc(0, 4, 4, 2_000 * scale());
}

#[test]
fn buffered_every_message_exactly_once() {
    mpmc(16, 4, 3, 5_000 * scale());
}

#[test]
fn buffered_cap1_every_message_exactly_once() {
    mpmc(1, 3, 5, 2_000 * scale());
}
