//! Stress: register/park/deregister churn on several threads while two
//! threads poll, so fd numbers and slab keys are reused under concurrent
//! dispatch. Every waiter must come back exactly once, to its own owner.
//! Scaled by `BURROW_NETPOLL_STRESS` (rounds per thread, default 2000).

use std::collections::HashSet;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use burrow_netpoll::{Direction, Events, Interest, Park, Poller};

#[test]
fn churn_under_concurrent_polls() {
    let rounds: usize = std::env::var("BURROW_NETPOLL_STRESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    const WORKERS: usize = 3;
    let poller: Arc<Poller<usize>> = Arc::new(Poller::new().expect("poller"));
    let stop = Arc::new(AtomicBool::new(false));
    // Waiters handed back by the pollers go to their owner's channel.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..WORKERS).map(|_| mpsc::channel::<usize>()).unzip();
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let (poller, stop, txs) = (Arc::clone(&poller), Arc::clone(&stop), txs.clone());
            thread::spawn(move || {
                let mut events = Events::with_capacity(16);
                while !stop.load(Ordering::Relaxed) {
                    poller
                        .poll(&mut events, Some(Duration::from_millis(5)))
                        .expect("poll");
                    for w in events.drain_waiters() {
                        txs[w % WORKERS].send(w).expect("owner alive");
                    }
                }
            })
        })
        .collect();
    let workers: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(id, rx)| {
            let poller = Arc::clone(&poller);
            thread::spawn(move || {
                let mut seen = HashSet::new();
                for round in 0..rounds {
                    let w = round * WORKERS + id;
                    let (a, mut b) = UnixStream::pair().expect("socketpair");
                    a.set_nonblocking(true).expect("nonblocking");
                    let pd = poller
                        .register(a.as_raw_fd(), Interest::READ)
                        .expect("register");
                    assert_eq!(pd.park(Direction::Read, w), Park::Parked);
                    b.write_all(b"!").expect("write");
                    let got = rx
                        .recv_timeout(Duration::from_secs(10))
                        .unwrap_or_else(|_| panic!("waiter {w} not handed back in 10 s"));
                    assert_eq!(got, w, "worker {id} got someone else's waiter");
                    assert!(seen.insert(got), "waiter {got} handed back twice");
                    let left = poller.deregister(&pd).expect("deregister");
                    assert_eq!(
                        left.into_iter().count(),
                        0,
                        "waiter still parked after hand-back"
                    );
                    drop(a);
                    drop(b);
                }
                // Nothing more may arrive for this worker.
                assert!(
                    rx.recv_timeout(Duration::from_millis(20)).is_err(),
                    "extra waiter"
                );
            })
        })
        .collect();
    let t = Instant::now();
    for w in workers {
        w.join().expect("worker");
    }
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        p.join().expect("poller");
    }
    assert!(poller.is_empty());
    eprintln!("{} rounds x {WORKERS} workers in {:?}", rounds, t.elapsed());
}
