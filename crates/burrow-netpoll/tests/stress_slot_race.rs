//! Stress: one read slot raced from four threads on real hardware — the
//! owner parks, a poller hands waiters back on events, a "deadline" thread
//! unblocks, a writer keeps making edges — so every path of the lock-free
//! slot protocol (*Lock-free slots* in `poll_desc.rs`) meets every other.
//! Each parked waiter must come back exactly once. The loom models check
//! the same protocol exhaustively on small cases; this runs it at speed.
//! Scaled by `BURROW_NETPOLL_STRESS` (parks, default 2000).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use burrow_netpoll::{Direction, Events, Interest, Park, Poller};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn park_event_and_unblock_race_hand_each_waiter_back_once() {
    let rounds: usize = std::env::var("BURROW_NETPOLL_STRESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (mut a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    b.set_nonblocking(true).expect("nonblocking");
    let poller: Arc<Poller<usize>> = Arc::new(Poller::new().expect("poller"));
    let pd = poller
        .register(a.as_raw_fd(), Interest::READ)
        .expect("register");
    let stop = Arc::new(AtomicBool::new(false));
    // Each hand-back says who made it: true for an event, false for unblock.
    let (back_tx, back) = mpsc::channel::<(usize, bool)>();

    // Who hands waiters back: the poller (events) and the deadline thread.
    let poll_thread = {
        let (poller, stop, tx) = (Arc::clone(&poller), Arc::clone(&stop), back_tx.clone());
        thread::spawn(move || {
            let mut events = Events::new();
            while !stop.load(Ordering::Relaxed) {
                poller
                    .poll(&mut events, Some(Duration::from_millis(5)))
                    .expect("poll");
                for w in events.drain_waiters() {
                    tx.send((w, true)).expect("owner alive");
                }
            }
        })
    };
    let deadline_thread = {
        let (pd, stop, tx) = (Arc::clone(&pd), Arc::clone(&stop), back_tx);
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(w) = pd.unblock(Direction::Read) {
                    tx.send((w, false)).expect("owner alive");
                }
                thread::yield_now();
            }
        })
    };
    let writer = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut b = b;
            while !stop.load(Ordering::Relaxed) {
                match b.write(b"x") {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("write: {e}"),
                }
                thread::yield_now();
            }
        })
    };

    // The owner: drain, park, and wait for its waiter to come back.
    let (mut by_event, mut by_unblock, mut ready) = (0, 0, 0);
    let mut buf = [0u8; 256];
    for i in 0..rounds {
        loop {
            match a.read(&mut buf) {
                Ok(n) => assert!(n > 0, "peer closed"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        match pd.park(Direction::Read, i) {
            Park::Parked => {
                let (got, event) = back
                    .recv_timeout(WAIT)
                    .unwrap_or_else(|_| panic!("waiter {i} never came back"));
                // A duplicate hand-back of an earlier waiter shows up here.
                assert_eq!(got, i, "waiter {got} handed back twice or out of turn");
                if event {
                    by_event += 1;
                } else {
                    by_unblock += 1;
                }
            }
            Park::Ready(w) => {
                assert_eq!(w, i);
                ready += 1;
            }
            other => panic!("round {i}: unexpected {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in [poll_thread, deadline_thread, writer] {
        t.join().expect("helper thread");
    }
    assert!(
        back.try_recv().is_err(),
        "a waiter was handed back after its owner got it"
    );
    assert_eq!(by_event + by_unblock + ready, rounds);
    eprintln!(
        "{rounds} parks: {by_event} woken by events, {by_unblock} unblocked, {ready} found readiness"
    );
    let left = poller.deregister(&pd).expect("deregister");
    assert_eq!(left.into_iter().count(), 0, "no waiter left parked");
}
