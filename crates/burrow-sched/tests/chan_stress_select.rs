//! Stress: `select!` over several channels that become ready at once
//! loses nothing: producers feed K channels, consumers select over all of
//! them (and over a send arm, and a timeout), and every message arrives
//! exactly once. Size: `BURROW_STRESS` (default 1).

mod common;
use common::{bounded, rt, scale};

use std::time::Duration;

use burrow_sched::{chan, go, select};

fn run(cap: usize) {
    let per = 1_000 * scale();
    let got = bounded(120, "select stress", move || {
        rt(4).run(move || {
            let chans: Vec<_> = (0..3).map(|_| chan::<usize>(cap)).collect();
            for (k, (tx, _)) in chans.iter().enumerate() {
                for p in 0..2 {
                    let tx = tx.clone();
                    go(move || {
                        for i in 0..per {
                            tx.send((k * 2 + p) * per + i).unwrap();
                        }
                    });
                }
            }
            let rxs: Vec<_> = chans.iter().map(|(_, rx)| rx.clone()).collect();
            drop(chans);
            // Consumers forward what they select to `out` through a
            // select send arm.
            let (out_tx, out_rx) = chan::<usize>(0);
            for _ in 0..3 {
                let (a, b, c) = (rxs[0].clone(), rxs[1].clone(), rxs[2].clone());
                let out = out_tx.clone();
                go(move || {
                    let mut open = 3;
                    while open > 0 {
                        let v = select! {
                            recv(a) -> v => v,
                            recv(b) -> v => v,
                            recv(c) -> v => v,
                            timeout(Duration::from_millis(1)) => continue,
                        };
                        match v {
                            Some(v) => {
                                let never = burrow_sched::Receiver::<()>::never();
                                select! {
                                    send(out, v) -> r => r.unwrap(),
                                    recv(never) -> _ => unreachable!(),
                                }
                            }
                            None => {
                                // A closed channel stays ready; count each
                                // consumer's view once by draining the rest.
                                open = [&a, &b, &c]
                                    .iter()
                                    .filter(|r| !r.is_closed() || !r.is_empty())
                                    .count();
                            }
                        }
                    }
                });
            }
            drop((rxs, out_tx));
            let mut all: Vec<usize> = out_rx.iter().collect();
            all.sort_unstable();
            all
        })
    });
    assert_eq!(got.len(), 6 * per, "a message was lost or duplicated");
    assert!(
        got.iter().enumerate().all(|(i, &v)| i == v),
        "a message was lost or duplicated"
    );
}

#[test]
fn unbuffered_select_loses_nothing() {
    run(0);
}

#[test]
fn buffered_select_loses_nothing() {
    run(4);
}
