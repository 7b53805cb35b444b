//! The behaviour suite, written once generic over the backend and run for
//! every backend compiled on this machine (on Linux: epoll and mio), so CI
//! tests both without a second build (see `sys/mod.rs`).
//!
//! Every wait is a `poll` with a bounded timeout; a test that waits for an
//! event fails with a message when the bound passes. A poll that must *not*
//! see an event uses a short timeout: it can only fail by seeing one.

mod cases;
mod cases_close;
mod model;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::event::{Event, Token};
use crate::poller::{EventsCore, PollerCore};
use crate::sys::Selector;

/// Held by every case: the cases assert on fd numbers the kernel hands out
/// (lowest free first) and two 10,000-socket cases would together pass the
/// fd limit, so they must not run alongside each other. The suite takes
/// about a second serially.
pub(crate) static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waiters in the suite are plain numbers.
pub(crate) type Core<B> = PollerCore<usize, B>;
pub(crate) type Buf<B> = EventsCore<usize, <B as Selector>::Events>;

/// Bound for every wait that must succeed.
pub(crate) const WAIT: Duration = Duration::from_secs(5);
/// How long to look for an event that must not come.
pub(crate) const QUIET: Duration = Duration::from_millis(50);

pub(crate) fn new_core<B: Selector>() -> (Core<B>, Buf<B>) {
    (
        Core::<B>::new().expect("create poller"),
        Buf::<B>::with_capacity(256),
    )
}

pub(crate) fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    b.set_nonblocking(true).expect("nonblocking");
    (a, b)
}

/// What a run of polls delivered.
#[derive(Default, Debug)]
pub(crate) struct Seen {
    pub(crate) events: Vec<Event>,
    pub(crate) waiters: Vec<usize>,
    pub(crate) woken: bool,
}

impl Seen {
    pub(crate) fn for_token(&self, t: Token) -> Vec<Event> {
        self.events
            .iter()
            .copied()
            .filter(|e| e.token == t)
            .collect()
    }
}

/// Polls until `done(&seen)` holds, or panics after [`WAIT`] with `what`.
pub(crate) fn poll_until<B: Selector>(
    core: &Core<B>,
    buf: &mut Buf<B>,
    what: &str,
    mut done: impl FnMut(&Seen) -> bool,
) -> Seen {
    let deadline = Instant::now() + WAIT;
    let mut seen = Seen::default();
    loop {
        if done(&seen) {
            return seen;
        }
        let now = Instant::now();
        assert!(
            now < deadline,
            "timed out after {WAIT:?} waiting for {what}; saw {seen:?}"
        );
        core.poll(buf, Some(deadline - now)).expect("poll");
        seen.events.extend(buf.events.iter().copied());
        seen.waiters.append(&mut buf.waiters);
        seen.woken |= buf.woken;
    }
}

/// Polls for [`QUIET`] and returns everything seen.
pub(crate) fn poll_quiet<B: Selector>(core: &Core<B>, buf: &mut Buf<B>) -> Seen {
    let deadline = Instant::now() + QUIET;
    let mut seen = Seen::default();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return seen;
        }
        core.poll(buf, Some(deadline - now)).expect("poll");
        seen.events.extend(buf.events.iter().copied());
        seen.waiters.append(&mut buf.waiters);
        seen.woken |= buf.woken;
    }
}

/// Reads until `EAGAIN`; returns the bytes read.
pub(crate) fn drain(s: &mut impl Read) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

pub(crate) fn send(s: &mut impl Write, bytes: &[u8]) {
    s.write_all(bytes).expect("write");
}

/// Raises the soft fd limit to at least `n` (up to the hard limit);
/// returns the soft limit now in force.
#[allow(
    clippy::unnecessary_cast,
    reason = "rlim_t is u64 on Linux and i64 on the BSDs"
)]
pub(crate) fn raise_nofile(n: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the live struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let (cur, max) = (lim.rlim_cur as u64, lim.rlim_max as u64);
    if cur < n {
        lim.rlim_cur = n.min(max) as _;
        // SAFETY: setrlimit reads the live struct.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    lim.rlim_cur as u64
}

pub(crate) fn fd_of(s: &impl AsRawFd) -> i32 {
    s.as_raw_fd()
}

/// One `#[test]` per case name, calling `super::$file::$name::<$b>()`.
macro_rules! cases {
    ($b:ty, $file:ident: $($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let _serial = super::SERIAL
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            super::$file::$name::<$b>()
        }
    )*};
}

/// Instantiates every case for backend `$b` in module `$m`.
macro_rules! suite {
    ($m:ident, $b:ty) => {
        mod $m {
            cases!($b, cases:
                readiness_after_connect_accept_write,
                edge_triggered_second_event_only_after_new_data,
                parked_waiter_handed_back_exactly_once,
                readiness_before_wait_is_recorded,
                wake_interrupts_blocking_poll_from_another_thread,
                wakes_coalesce_and_reset,
                ten_thousand_registered_sockets,
                registered_with_gos_edge_triggered_flags,
                concurrent_pollers_each_event_once,
            );
            cases!($b, cases_close:
                rdhup_wakes_readers_only,
                hangup_wakes_both_directions,
                error_wakes_both_directions,
                stale_event_after_close_and_fd_reuse_is_dropped,
                reused_fd_number_never_sees_old_readiness,
                invalid_and_closed_fds_are_errors,
                deregister_hands_back_waiters_and_refuses_parks,
                unblock_hands_back_waiter_without_readiness,
            );
        }
    };
}

#[cfg(any(target_os = "linux", target_os = "android"))]
suite!(epoll, crate::sys::epoll::Selector);

suite!(mio, crate::sys::mio::Selector);

#[cfg(burrow_kqueue)]
suite!(kqueue, crate::sys::kqueue::Selector);
