//! Netpoller benchmark: burrow-netpoll's native backend (epoll on Linux)
//! against plain mio, in the same run.
//!
//! - `netpoll_events`: N unix socket pairs, each registered edge-triggered
//!   for reading, each with a waiter parked on it — a goroutine blocked in
//!   `read`, the state a scheduler keeps a socket in. One round writes one
//!   byte into every pair and polls until every waiter was handed back;
//!   each woken waiter reads its byte and parks again. Reported in
//!   events/s (higher is better).
//!
//! # What each side does per event
//!
//! The same kernel work on both sides: one `write`, one `read`, a 1/128
//! share of an `epoll_wait` (both take up to [`BATCH`] events per call),
//! edge-triggered registrations with the same flags
//! (`EPOLLIN|EPOLLRDHUP|EPOLLET`). The user-space work is the readiness
//! bookkeeping a multi-threaded scheduler needs — find the socket's waiter
//! slot from the event, hand back the parked waiter exactly once (or record
//! readiness if none is parked), park the waiter again after its read —
//! done thread-safely, since several Ms poll at once (DESIGN.md §4):
//!
//! - **burrow**: what [`burrow_netpoll::Poller::poll`] does: slab lookup of
//!   the token and generation check (stale events after fd reuse are
//!   dropped), the pollDesc read slot's lock-free hand-back (CAS `WAITING →
//!   TAKING`, move the waiter out of its cell, CAS back to `EMPTY`), waiter
//!   and event pushed to `Events`; then [`burrow_netpoll::PollDesc::park`]
//!   (CAS claim, write the cell, CAS commit).
//! - **mio**: the leanest thread-safe equivalent, written here: the mio
//!   token is a bare index into a table of [`GoSlot`]s — Go's one-word
//!   `rg` (one CAS per event, one CAS per park), possible because this
//!   waiter is a word — and no generation check. This is *less* work than
//!   burrow's, on purpose: the peer gets the cheapest correct bookkeeping,
//!   not a handicap.
//!
//! Teardown (untimed) is the same on both sides too: deregister every fd,
//! then close. Samples of the two alternate ABBA, so machine noise hits
//! both alike and neither always runs right after the other's teardown
//! (with burrow always first and mio closing fds still registered, burrow
//! measured 0.87-0.98 of mio, median 0.89, in five runs on the busy 2-core
//! box; with both fixes 0.92-1.03, median 0.96, and 0.89-1.15, median 0.99,
//! in eleven later runs at lower load; see docs/netpoll.md); the
//! samples are short (100k events) and many (15) so that a busy machine's
//! drift shows as spread rather than as a bias, and the per-pair ratio
//! (sample i of burrow over sample i of mio) can be read from the JSON.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use burrow_benches::{Args, Better, report};
use burrow_netpoll::{Direction, Events, Interest, Park, Poller};

/// Events per `epoll_wait`, both sides (Go's batch size).
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
    let poller: Poller<usize> = Poller::new().expect("poller");
    let pds: Vec<_> = pairs
        .iter()
        .map(|(a, _)| {
            poller
                .register(a.as_raw_fd(), Interest::READ)
                .expect("register")
        })
        .collect();
    for (i, pd) in pds.iter().enumerate() {
        assert_eq!(pd.park(Direction::Read, i), Park::Parked);
    }
    let mut events = Events::with_capacity(BATCH);
    let t = Instant::now();
    for _ in 0..rounds {
        write_all(&mut pairs);
        let mut got = 0;
        while got < n {
            poller
                .poll(&mut events, Some(Duration::from_secs(5)))
                .expect("poll");
            assert!(!events.is_empty() || events.is_woken(), "no event in 5 s");
            for w in events.drain_waiters() {
                read_one(&mut pairs[w].0);
                assert_eq!(pds[w].park(Direction::Read, w), Park::Parked);
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

/// Go's `pd.rg` for a word-sized waiter: `NIL`, `READY`, or a parked
/// waiter `w` stored as `w + WAITER`. The mio side's bookkeeping (see the
/// module docs).
struct GoSlot(AtomicUsize);

const NIL: usize = 0;
const READY: usize = 1;
const WAITER: usize = 2;

impl GoSlot {
    /// Parks `w`; false if readiness was recorded first (consumed now).
    fn park(&self, w: usize) -> bool {
        // AcqRel/Acquire: pairs with the CAS in `event`, so the waiter
        // handed back there sees everything before its park.
        match self
            .0
            .compare_exchange(NIL, w + WAITER, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(READY) => {
                // AcqRel: pairs with the CAS in `event` that recorded it.
                let _ = self
                    .0
                    .compare_exchange(READY, NIL, Ordering::AcqRel, Ordering::Acquire);
                false
            }
            Err(_) => panic!("double wait"),
        }
    }

    /// An event: hands back the parked waiter, or records readiness (Go's
    /// `netpollunblock(pd, 'r', true)`).
    #[inline]
    fn event(&self) -> Option<usize> {
        // Acquire: pairs with the CAS in `park`.
        let mut old = self.0.load(Ordering::Acquire);
        loop {
            if old == READY {
                return None;
            }
            let new = if old == NIL { READY } else { NIL };
            // AcqRel: pairs with the CAS in `park`.
            match self
                .0
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return old.checked_sub(WAITER),
                Err(now) => old = now,
            }
        }
    }
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
    let slots: Vec<GoSlot> = (0..n)
        .map(|i| GoSlot(AtomicUsize::new(i + WAITER)))
        .collect();
    let mut events = mio::Events::with_capacity(BATCH);
    let mut woken = Vec::with_capacity(BATCH);
    let t = Instant::now();
    for _ in 0..rounds {
        write_all(&mut pairs);
        let mut got = 0;
        while got < n {
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .expect("poll");
            assert!(!events.is_empty(), "no event in 5 s");
            for ev in events.iter() {
                woken.extend(slots[ev.token().0].event());
            }
            for w in woken.drain(..) {
                read_one(&mut pairs[w].0);
                assert!(slots[w].park(w), "parks after its read");
                got += 1;
            }
        }
    }
    let rate = (n * rounds) as f64 / t.elapsed().as_secs_f64();
    // The same untimed teardown as burrow's: deregister, then close. (Closing
    // fds still in an epoll set leaves the kernel more deferred frees, which
    // would land in the next sample: the other side's.)
    for (a, _) in &pairs {
        poll.registry()
            .deregister(&mut mio::unix::SourceFd(&a.as_raw_fd()))
            .expect("deregister");
    }
    rate
}

fn main() {
    let args = Args::parse();
    if args.wants("netpoll_events") {
        let n = args.pick(1_000, 100);
        let rounds = args.pick(100, 20);
        let size = format!("{n} socket pairs x {rounds} rounds");
        let samples = args.samples(15);
        // Alternate the two so machine noise hits both alike.
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let _ = (burrow(n, rounds / 4 + 1), mio(n, rounds / 4 + 1));
        for i in 0..samples {
            // ABBA: who goes first alternates, so neither side always runs
            // right after the other's teardown (its deferred kernel frees).
            if i % 2 == 0 {
                ours.push(burrow(n, rounds));
                theirs.push(mio(n, rounds));
            } else {
                theirs.push(mio(n, rounds));
                ours.push(burrow(n, rounds));
            }
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
