//! Netpoller benchmark: burrow-netpoll's native backend (epoll on Linux)
//! against plain mio, in the same run.
//!
//! - `netpoll_events`: N unix socket pairs, each registered edge-triggered
//!   for reading. One round writes one byte into every pair, polls until
//!   all N read events arrived, and reads each byte back. Reported in
//!   events/s (higher is better). Both implementations do the same
//!   syscalls per event (one write, one read); the difference is the
//!   poller: one `epoll_wait` per batch of 128 events, and the per-event
//!   work (burrow: token lookup in the slab, generation check, pollDesc slot
//!   update; mio: none beyond copying the event).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use burrow_benches::{Args, Better, report};

const BATCH: usize = 128;

fn pairs(n: usize) -> Vec<(UnixStream, UnixStream)> {
    (0..n)
        .map(|_| {
            let (a, b) = UnixStream::pair().expect("socketpair");
            a.set_nonblocking(true).expect("nonblocking");
            (a, b)
        })
        .collect()
}

fn write_all(pairs: &mut [(UnixStream, UnixStream)]) {
    for (_, b) in pairs.iter_mut() {
        b.write_all(b"x").expect("write");
    }
}

fn read_one(a: &mut UnixStream) {
    let mut byte = [0u8; 1];
    a.read_exact(&mut byte)
        .expect("read the byte the event announced");
}

/// events/s for burrow's poller over `rounds` rounds.
fn burrow(n: usize, rounds: usize) -> f64 {
    let mut pairs = pairs(n);
    let poller: burrow_netpoll::Poller = burrow_netpoll::Poller::new().expect("poller");
    let pds: Vec<_> = pairs
        .iter()
        .map(|(a, _)| {
            poller
                .register(a.as_raw_fd(), burrow_netpoll::Interest::READ)
                .expect("register")
        })
        .collect();
    let mut events = burrow_netpoll::Events::with_capacity(BATCH);
    let t = Instant::now();
    for _ in 0..rounds {
        write_all(&mut pairs);
        let mut got = 0;
        while got < n {
            poller
                .poll(&mut events, Some(Duration::from_secs(5)))
                .expect("poll");
            assert!(!events.is_empty() || events.is_woken(), "no event in 5 s");
            for ev in &events {
                // Keys are handed out 0..n in registration order.
                read_one(&mut pairs[ev.token.key() as usize].0);
                got += 1;
            }
        }
    }
    let rate = (n * rounds) as f64 / t.elapsed().as_secs_f64();
    for pd in &pds {
        poller.deregister(pd).expect("deregister");
    }
    rate
}

/// events/s for plain mio over `rounds` rounds.
fn mio(n: usize, rounds: usize) -> f64 {
    let mut pairs = pairs(n);
    let mut poll = mio::Poll::new().expect("poll");
    for (i, (a, _)) in pairs.iter().enumerate() {
        poll.registry()
            .register(
                &mut mio::unix::SourceFd(&a.as_raw_fd()),
                mio::Token(i),
                mio::Interest::READABLE,
            )
            .expect("register");
    }
    let mut events = mio::Events::with_capacity(BATCH);
    let t = Instant::now();
    for _ in 0..rounds {
        write_all(&mut pairs);
        let mut got = 0;
        while got < n {
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .expect("poll");
            assert!(!events.is_empty(), "no event in 5 s");
            for ev in events.iter() {
                read_one(&mut pairs[ev.token().0].0);
                got += 1;
            }
        }
    }
    (n * rounds) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let args = Args::parse();
    if args.wants("netpoll_events") {
        let n = args.pick(1_000, 100);
        let rounds = args.pick(300, 20);
        let size = format!("{n} socket pairs x {rounds} rounds");
        let samples = args.samples(7);
        // Interleave the two so machine noise hits both alike.
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let _ = (burrow(n, rounds / 4 + 1), mio(n, rounds / 4 + 1));
        for _ in 0..samples {
            ours.push(burrow(n, rounds));
            theirs.push(mio(n, rounds));
        }
        report(
            "netpoll_events",
            &size,
            "events/s",
            Better::Higher,
            "burrow",
            &ours,
        );
        report(
            "netpoll_events",
            &size,
            "events/s",
            Better::Higher,
            "mio",
            &theirs,
        );
    }
}
