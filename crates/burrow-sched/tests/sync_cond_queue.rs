//! Stress: a work queue on `Mutex` + `Cond`, consumers waiting with and
//! without timeouts (so notifies race timer firings), goroutines and
//! threads together: every item is consumed exactly once and everyone
//! finishes. A notify lost to a plain waiter, or a waiter woken twice
//! (which corrupts its later parks), hangs or fails here. Scaled by
//! `BURROW_STRESS` (items = 2,000 × scale).

mod common;
use common::{bounded, rt, scale};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use burrow_sched::go;
use burrow_sched::sync::{Cond, Mutex};

struct Queue {
    items: VecDeque<u64>,
    closed: bool,
}

type Shared = Arc<(Mutex<Queue>, Cond)>;

/// Takes items until the queue is closed and empty; returns their sum and
/// count. `timeout` picks `wait_timeout` (a short one) over `wait`.
fn consume(q: Shared, timeout: bool) -> (u64, u64) {
    let (m, c) = &*q;
    let (mut sum, mut n) = (0, 0);
    let mut g = m.lock();
    loop {
        if let Some(v) = g.items.pop_front() {
            sum += v;
            n += 1;
            continue;
        }
        if g.closed {
            return (sum, n);
        }
        g = if timeout {
            c.wait_timeout(g, Duration::from_micros(200)).0
        } else {
            c.wait(g)
        };
    }
}

#[test]
fn every_item_consumed_once() {
    let items = 2_000 * scale() as u64;
    let (sum, n) = bounded(120, "cond queue", move || {
        rt(2).run(move || {
            let q: Shared = Arc::new((
                Mutex::new(Queue {
                    items: VecDeque::new(),
                    closed: false,
                }),
                Cond::new(),
            ));
            let gs: Vec<_> = (0..8)
                .map(|i| {
                    let q = q.clone();
                    go(move || consume(q, i % 2 == 0))
                })
                .collect();
            let ts: Vec<_> = (0..2)
                .map(|i| {
                    let q = q.clone();
                    std::thread::spawn(move || consume(q, i == 0))
                })
                .collect();
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    go(move || {
                        let (m, c) = &*q;
                        for i in 0..items / 2 {
                            m.lock().items.push_back(p * (items / 2) + i + 1);
                            c.notify_one();
                        }
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            q.0.lock().closed = true;
            q.1.notify_all();
            let mut total = (0, 0);
            for r in gs
                .into_iter()
                .map(|h| h.join().unwrap())
                .chain(ts.into_iter().map(|t| t.join().unwrap()))
            {
                total.0 += r.0;
                total.1 += r.1;
            }
            total
        })
    });
    assert_eq!(n, items, "items consumed");
    assert_eq!(sum, items * (items + 1) / 2, "each item exactly once");
}
