//! The public API end to end, over the backend this build chose: a plain
//! event loop (`W = ()`) and a scheduler-like user parking waiters.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_netpoll::{Direction, Error, Events, Interest, Park, Poller};

const WAIT: Duration = Duration::from_secs(5);

/// The tests assert on fd numbers (a just-closed one must stay closed), so
/// they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    b.set_nonblocking(true).expect("nonblocking");
    (a, b)
}

#[test]
fn event_loop_without_waiters() {
    let _serial = serial();
    let poller: Poller = Poller::new().expect("poller");
    assert!(["epoll", "kqueue", "mio"].contains(&poller.backend()));
    let (mut a, mut b) = pair();
    let pd = poller
        .register(a.as_raw_fd(), Interest::READ)
        .expect("register");
    assert_eq!(poller.len(), 1);
    b.write_all(b"ping").expect("write");
    let mut events: Events = Events::new();
    assert_eq!(events.capacity(), 128);
    let deadline = Instant::now() + WAIT;
    loop {
        poller.poll(&mut events, Some(WAIT)).expect("poll");
        if events
            .iter()
            .any(|e| e.token == pd.token() && e.readiness.wakes_read())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no read event for {:?}",
            pd.token()
        );
    }
    let mut buf = [0u8; 4];
    a.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"ping");
    poller.deregister(&pd).expect("deregister");
    assert!(poller.is_empty());
}

#[test]
fn scheduler_style_waiters_and_cross_thread_wake() {
    let _serial = serial();
    let poller: Arc<Poller<u64>> = Arc::new(Poller::new().expect("poller"));
    let (_a, mut b) = pair();
    let pd = poller
        .register(_a.as_raw_fd(), Interest::BOTH)
        .expect("register");
    assert_eq!(pd.park(Direction::Read, 11), Park::Parked);
    let p2 = Arc::clone(&poller);
    let t = std::thread::spawn(move || p2.wake().expect("wake"));
    let mut events = Events::new();
    let deadline = Instant::now() + WAIT;
    let mut woken = false;
    while !woken {
        poller.poll(&mut events, Some(WAIT)).expect("poll");
        woken = events.is_woken();
        assert!(Instant::now() < deadline, "wake never arrived");
    }
    t.join().expect("waker thread");
    b.write_all(b"x").expect("write");
    let mut got = Vec::new();
    while got.is_empty() {
        poller.poll(&mut events, Some(WAIT)).expect("poll");
        got.extend(events.drain_waiters());
        assert!(Instant::now() < deadline, "waiter never handed back");
    }
    assert_eq!(got, vec![11]);
    let w = poller.deregister(&pd).expect("deregister");
    assert_eq!(w.into_iter().count(), 0);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let _serial = serial();
    let poller: Poller = Poller::new().expect("poller");
    let err = poller.register(-5, Interest::BOTH).unwrap_err();
    assert!(matches!(err, Error::InvalidFd { fd: -5 }), "{err:?}");
    assert_eq!(err.to_string(), "fd -5 is not an open file descriptor");
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    drop(a);
    assert!(matches!(
        poller.register(fd, Interest::READ),
        Err(Error::InvalidFd { .. })
    ));
}
