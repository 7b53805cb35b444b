//! Readiness, edge-triggering, waiter hand-back, wakes and scale: the cases
//! of the suite in `mod.rs`, generic over the backend.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::event::{Direction, Interest};
use crate::poll_desc::Park;

pub(crate) fn readiness_after_connect_accept_write<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let lpd = core
        .register(fd_of(&listener), Interest::READ)
        .expect("register listener");
    assert!(
        poll_quiet(&core, &mut buf).events.is_empty(),
        "idle listener reported an event"
    );

    let mut client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let seen = poll_until(&core, &mut buf, "listener readable after connect", |s| {
        !s.for_token(lpd.token()).is_empty()
    });
    assert!(seen.for_token(lpd.token())[0].readiness.wakes_read());

    let (mut server, _) = listener.accept().expect("accept after readiness");
    server.set_nonblocking(true).expect("nonblocking");
    let spd = core
        .register(fd_of(&server), Interest::BOTH)
        .expect("register accepted");
    let seen = poll_until(&core, &mut buf, "accepted socket writable", |s| {
        s.for_token(spd.token())
            .iter()
            .any(|e| e.readiness.wakes_write())
    });
    assert!(
        !seen
            .for_token(spd.token())
            .iter()
            .any(|e| e.readiness.wakes_read()),
        "no data was sent, yet the socket was readable: {seen:?}"
    );

    send(&mut client, b"hello");
    poll_until(
        &core,
        &mut buf,
        "accepted socket readable after write",
        |s| {
            s.for_token(spd.token())
                .iter()
                .any(|e| e.readiness.wakes_read())
        },
    );
    assert_eq!(drain(&mut server), 5);
    assert_eq!(spd.ready_seq(Direction::Read), 1);
}

pub(crate) fn edge_triggered_second_event_only_after_new_data<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (mut a, mut b) = pair();
    let pd = core.register(fd_of(&a), Interest::READ).expect("register");
    send(&mut b, b"x");
    poll_until(&core, &mut buf, "first read edge", |s| {
        !s.for_token(pd.token()).is_empty()
    });

    // Level-triggered polling would report the unread byte again.
    let seen = poll_quiet(&core, &mut buf);
    assert!(
        seen.events.is_empty(),
        "second event without new data: {seen:?}"
    );
    assert_eq!(drain(&mut a), 1);
    let seen = poll_quiet(&core, &mut buf);
    assert!(
        seen.events.is_empty(),
        "event after draining, without new data: {seen:?}"
    );
    assert_eq!(pd.ready_seq(Direction::Read), 1);

    send(&mut b, b"yz");
    poll_until(&core, &mut buf, "second read edge after new data", |s| {
        !s.for_token(pd.token()).is_empty()
    });
    assert_eq!(drain(&mut a), 2);
    assert_eq!(pd.ready_seq(Direction::Read), 2);
}

pub(crate) fn parked_waiter_handed_back_exactly_once<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (mut a, mut b) = pair();
    let pd = core.register(fd_of(&a), Interest::BOTH).expect("register");
    // The fresh socket is writable: consume that edge.
    poll_until(&core, &mut buf, "initial writable edge", |s| {
        !s.for_token(pd.token()).is_empty()
    });
    assert_eq!(
        pd.park(Direction::Write, 99),
        Park::Ready(99),
        "pdReady for write"
    );
    assert_eq!(pd.park(Direction::Read, 7), Park::Parked);
    assert_eq!(pd.park(Direction::Read, 8), Park::Busy(8), "double wait");
    assert!(poll_quiet(&core, &mut buf).waiters.is_empty());

    send(&mut b, b"data");
    let seen = poll_until(&core, &mut buf, "read waiter handed back", |s| {
        !s.waiters.is_empty()
    });
    assert_eq!(seen.waiters, vec![7]);
    assert!(!pd.has_waiter(Direction::Read));
    // More data: an event, but the waiter is gone (handed back once), so
    // readiness is recorded instead.
    send(&mut b, b"more");
    let seen = poll_until(&core, &mut buf, "second read edge", |s| {
        !s.events.is_empty()
    });
    assert!(
        seen.waiters.is_empty(),
        "waiter handed back twice: {seen:?}"
    );
    assert!(pd.is_ready(Direction::Read));
    assert_eq!(drain(&mut a), 8);
}

pub(crate) fn readiness_before_wait_is_recorded<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (mut a, mut b) = pair();
    let pd = core.register(fd_of(&a), Interest::READ).expect("register");
    send(&mut b, b"early");
    poll_until(&core, &mut buf, "read edge before any waiter", |s| {
        !s.events.is_empty()
    });
    assert!(pd.is_ready(Direction::Read), "pdReady not recorded");
    // The waiter arrives after the edge: it must not sleep through it.
    assert_eq!(pd.park(Direction::Read, 1), Park::Ready(1));
    assert!(!pd.is_ready(Direction::Read), "pdReady consumed once");
    assert_eq!(drain(&mut a), 5);
    assert_eq!(pd.park(Direction::Read, 2), Park::Parked);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Without `/proc` there is no way to see the poller block: the wake then
/// races with the poll's start, and both orders must make it return.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn current_tid() -> i32 {
    -1
}

/// The scheduler's state of a thread, from `/proc/self/task/TID/stat`
/// (`Some('S')` without `/proc`, see `current_tid`).
fn thread_state(tid: i32) -> Option<char> {
    if tid < 0 {
        return Some('S');
    }
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    s.rsplit_once(')')?.1.trim_start().chars().next()
}

pub(crate) fn wake_interrupts_blocking_poll_from_another_thread<B: Selector>() {
    let (core, buf) = new_core::<B>();
    let core = Arc::new(core);
    let (tid_tx, tid_rx) = mpsc::channel();
    let poller = {
        let core = Arc::clone(&core);
        thread::spawn(move || {
            let mut buf = buf;
            tid_tx.send(current_tid()).unwrap();
            let t = Instant::now();
            core.poll(&mut buf, Some(Duration::from_secs(30)))
                .expect("poll");
            (buf.woken, Instant::now(), t.elapsed())
        })
    };
    let tid = tid_rx.recv_timeout(WAIT).expect("poller thread started");
    // Wait (bounded) until the poller is asleep in the kernel, so the wake
    // really interrupts a blocked poll rather than pre-empting one.
    let deadline = Instant::now() + WAIT;
    while thread_state(tid) != Some('S') {
        assert!(Instant::now() < deadline, "poller thread never blocked");
        thread::yield_now();
    }
    let woke_at = Instant::now();
    core.wake().expect("wake");
    let (woken, returned_at, blocked_for) = poller.join().expect("poller thread");
    let latency = returned_at.saturating_duration_since(woke_at);
    assert!(woken, "poll returned without reporting the wake");
    assert!(
        blocked_for < Duration::from_secs(10),
        "poll ran into its own timeout instead of being woken"
    );
    assert!(
        latency < Duration::from_millis(200),
        "wake took {latency:?} to interrupt the poll"
    );
    eprintln!("{}: wake → poll return {latency:?}", B::NAME);
}

pub(crate) fn wakes_coalesce_and_reset<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    for _ in 0..10 {
        core.wake().expect("wake");
    }
    core.poll(&mut buf, Some(WAIT)).expect("poll");
    assert!(buf.woken, "pending wake not reported");
    let seen = poll_quiet(&core, &mut buf);
    assert!(!seen.woken, "one wake (of ten coalesced) reported twice");
    core.wake().expect("wake");
    let seen = poll_until(&core, &mut buf, "wake after reset", |s| s.woken);
    assert!(seen.events.is_empty());
}

pub(crate) fn ten_thousand_registered_sockets<B: Selector>() {
    const PAIRS: usize = 5_000;
    let limit = raise_nofile(2 * PAIRS as u64 + 256);
    assert!(
        limit >= 2 * PAIRS as u64 + 64,
        "RLIMIT_NOFILE {limit} is too low for 10,000 sockets (raise `ulimit -n`)"
    );
    let (core, mut buf) = new_core::<B>();
    let mut pairs = Vec::with_capacity(PAIRS);
    let mut pds = Vec::with_capacity(2 * PAIRS);
    for _ in 0..PAIRS {
        let (a, b) = pair();
        pds.push(
            core.register(fd_of(&a), Interest::READ)
                .expect("register a"),
        );
        pds.push(
            core.register(fd_of(&b), Interest::READ)
                .expect("register b"),
        );
        pairs.push((a, b));
    }
    assert_eq!(core.len(), 2 * PAIRS);
    // Park a waiter on every `a` end; write into every `b` end, so every `a`
    // becomes readable and every waiter must come back exactly once.
    for (i, pd) in pds.iter().enumerate().step_by(2) {
        assert_eq!(pd.park(Direction::Read, i), Park::Parked);
    }
    for (_, b) in &mut pairs {
        send(b, b"!");
    }
    let seen = poll_until(&core, &mut buf, "5,000 waiters", |s| {
        s.waiters.len() >= PAIRS
    });
    let mut got = seen.waiters.clone();
    got.sort_unstable();
    let want: Vec<usize> = (0..2 * PAIRS).step_by(2).collect();
    assert_eq!(got, want, "each waiter exactly once");
    for e in &seen.events {
        assert_eq!(
            e.token.key() % 2,
            0,
            "an unwritten `b` end got an event: {e:?}"
        );
    }
    for pd in &pds {
        core.deregister(pd).expect("deregister");
    }
    assert_eq!(core.len(), 0);
}

pub(crate) fn registered_with_gos_edge_triggered_flags<B: Selector>() {
    if !cfg!(target_os = "linux") {
        eprintln!("no /proc/self/fdinfo here: flags not checked");
        return;
    }
    let (core, _buf) = new_core::<B>();
    let (a, _b) = pair();
    let pd = core.register(fd_of(&a), Interest::BOTH).expect("register");
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", core.raw_fd()))
        .expect("read epoll fdinfo");
    let line = info
        .lines()
        .find(|l| l.starts_with(&format!("tfd: {:>8} ", fd_of(&a))))
        .unwrap_or_else(|| panic!("fd {} not in epoll fdinfo:\n{info}", fd_of(&a)));
    // EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, plus EPOLLERR|EPOLLHUP that the
    // kernel always adds.
    assert!(
        line.contains("events: 8000201d "),
        "flags differ from Go's: {line}"
    );
    // The kernel prints `data: %16llx`.
    assert!(
        line.contains(&format!("data: {:>16x} ", pd.token().as_u64())),
        "token {:x} not in epoll_data: {line}",
        pd.token().as_u64()
    );
}

pub(crate) fn concurrent_pollers_each_event_once<B: Selector>() {
    const N: usize = 64;
    let (core, _buf) = new_core::<B>();
    let core = Arc::new(core);
    let mut pairs: Vec<_> = (0..N).map(|_| pair()).collect();
    let pds: Vec<_> = pairs
        .iter()
        .map(|(a, _)| core.register(fd_of(a), Interest::READ).expect("register"))
        .collect();
    for (i, pd) in pds.iter().enumerate() {
        assert_eq!(pd.park(Direction::Read, i), Park::Parked);
    }
    let start = Arc::new(Barrier::new(3));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let (core, start, tx) = (Arc::clone(&core), Arc::clone(&start), tx.clone());
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut buf = Buf::<B>::with_capacity(8);
                start.wait();
                let deadline = Instant::now() + WAIT;
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    // Non-blocking and short blocking polls mixed, as
                    // schedule() and the idle M do.
                    for timeout in [Duration::from_millis(2), Duration::ZERO] {
                        core.poll(&mut buf, Some(timeout)).expect("poll");
                        for w in buf.waiters.drain(..) {
                            if tx.send(w).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    drop(tx);
    start.wait();
    for (_, b) in &mut pairs {
        send(b, b"?");
    }
    let mut got = Vec::new();
    while got.len() < N {
        got.push(
            rx.recv_timeout(WAIT)
                .expect("all waiters handed back within the bound"),
        );
    }
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        p.join().expect("poller thread");
    }
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "each waiter exactly once");
}
