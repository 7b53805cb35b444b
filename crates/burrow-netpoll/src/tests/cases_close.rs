//! Hang-ups, errors, stale events after close and fd reuse, bad input and
//! deregistration: the cases of the suite in `mod.rs`, generic over the
//! backend.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use super::*;
use crate::error::Error;
use crate::event::{Direction, Interest};
use crate::poll_desc::{Park, Waiters};
use crate::sys::RawEvents as _;

/// A connected TCP pair, both ends non-blocking.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.set_nonblocking(true).expect("nonblocking");
    server.set_nonblocking(true).expect("nonblocking");
    (client, server)
}

/// Registers `fd` for both directions and parks waiter `r` for reading and
/// `w` for writing (consuming the initial writable edge first).
fn park_both<B: Selector>(
    core: &Core<B>,
    buf: &mut Buf<B>,
    fd: i32,
    r: usize,
    w: usize,
) -> std::sync::Arc<crate::PollDesc<usize>> {
    let pd = core.register(fd, Interest::BOTH).expect("register");
    poll_until(core, buf, "initial writable edge", |s| {
        s.for_token(pd.token())
            .iter()
            .any(|e| e.readiness.wakes_write())
    });
    assert_eq!(
        pd.park(Direction::Write, w),
        Park::Ready(w),
        "pdReady for the write edge"
    );
    assert_eq!(pd.park(Direction::Write, w), Park::Parked);
    assert_eq!(pd.park(Direction::Read, r), Park::Parked);
    pd
}

pub(crate) fn rdhup_wakes_readers_only<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (client, server) = tcp_pair();
    let pd = park_both(&core, &mut buf, fd_of(&server), 1, 2);
    client.shutdown(Shutdown::Write).expect("shutdown");
    let seen = poll_until(&core, &mut buf, "read-side hang-up", |s| {
        s.waiters.contains(&1)
    });
    let ev = seen.for_token(pd.token());
    assert!(
        ev.iter().any(|e| e.readiness.is_read_closed()),
        "no read-closed bit (EPOLLRDHUP): {ev:?}"
    );
    // The half-close alone does not wake writers (Go maps EPOLLRDHUP to
    // 'r'); Linux may still report EPOLLOUT in the same event because the
    // socket is writable, which does wake the writer, harmlessly.
    let only_rdhup = ev
        .iter()
        .all(|e| !e.readiness.contains(crate::Readiness::WRITABLE));
    if only_rdhup {
        assert_eq!(
            seen.waiters,
            vec![1],
            "writer woken by a bare read-side hang-up"
        );
    }
}

pub(crate) fn hangup_wakes_both_directions<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (a, b) = pair();
    let pd = park_both(&core, &mut buf, fd_of(&a), 1, 2);
    drop(b);
    let seen = poll_until(&core, &mut buf, "both waiters after hang-up", |s| {
        s.waiters.len() == 2
    });
    let mut w = seen.waiters.clone();
    w.sort_unstable();
    assert_eq!(w, vec![1, 2]);
    let ev = seen.for_token(pd.token());
    assert!(
        ev.iter().any(|e| e.readiness.is_write_closed()),
        "no hang-up bit: {ev:?}"
    );
}

pub(crate) fn error_wakes_both_directions<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (client, server) = tcp_pair();
    let pd = park_both(&core, &mut buf, fd_of(&server), 1, 2);
    // SO_LINGER {on, 0}: close sends RST, the server's socket gets an error.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger` (a live struct of the size given)
    // on an open socket.
    let rc = unsafe {
        libc::setsockopt(
            client.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt SO_LINGER");
    drop(client);
    let seen = poll_until(&core, &mut buf, "both waiters after reset", |s| {
        s.waiters.len() == 2
    });
    let mut w = seen.waiters.clone();
    w.sort_unstable();
    assert_eq!(w, vec![1, 2]);
    let ev = seen.for_token(pd.token());
    assert!(
        ev.iter().any(|e| e.readiness.is_error()),
        "no error bit: {ev:?}"
    );
}

pub(crate) fn stale_event_after_close_and_fd_reuse_is_dropped<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (a, mut b) = pair();
    let old_fd = fd_of(&a);
    let old = core.register(old_fd, Interest::READ).expect("register old");
    send(&mut b, b"for the old owner");
    // First half of a poll: the event is in our buffer, not yet dispatched
    // (another poller thread preempted right after epoll_wait).
    let deadline = Instant::now() + WAIT;
    loop {
        core.select(&mut buf, Some(WAIT)).expect("select");
        if buf.raw.iter().next().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no raw event for the old owner");
    }
    // Meanwhile: close, and a new socket takes the same fd number and key.
    assert_eq!(
        core.deregister(&old).expect("deregister"),
        Waiters {
            read: None,
            write: None
        }
    );
    drop(a);
    drop(b);
    let (c, _d) = pair();
    let new = core
        .register(fd_of(&c), Interest::READ)
        .expect("register new");
    assert_eq!(fd_of(&c), old_fd, "the kernel did not reuse the fd number");
    assert_eq!(
        new.token().key(),
        old.token().key(),
        "the slab did not reuse the key"
    );
    assert_ne!(new.token().generation(), old.token().generation());
    assert_eq!(new.park(Direction::Read, 42), Park::Parked);

    let delivered = core.dispatch(&mut buf);
    assert_eq!(delivered, 0, "stale event delivered: {:?}", buf.events);
    assert_eq!(buf.stale, 1);
    assert!(
        buf.waiters.is_empty(),
        "new owner's waiter woken by a stale event"
    );
    assert!(new.has_waiter(Direction::Read));
    assert!(
        !new.is_ready(Direction::Read),
        "stale readiness recorded for new owner"
    );
    assert!(poll_quiet(&core, &mut buf).events.is_empty());
}

pub(crate) fn reused_fd_number_never_sees_old_readiness<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (a, mut b) = pair();
    let old_fd = fd_of(&a);
    let old = core.register(old_fd, Interest::READ).expect("register old");
    send(&mut b, b"unread");
    core.deregister(&old).expect("deregister");
    drop(a);
    let (c, _d) = pair();
    assert_eq!(fd_of(&c), old_fd, "the kernel did not reuse the fd number");
    let new = core
        .register(fd_of(&c), Interest::READ)
        .expect("register new");
    let seen = poll_quiet(&core, &mut buf);
    assert!(
        seen.for_token(new.token()).is_empty(),
        "old readiness reached the new owner: {seen:?}"
    );
    assert!(seen.events.is_empty(), "unexpected events: {seen:?}");
    assert!(!new.is_ready(Direction::Read));
}

pub(crate) fn invalid_and_closed_fds_are_errors<B: Selector>() {
    let (core, _buf) = new_core::<B>();
    assert!(matches!(
        core.register(-1, Interest::BOTH),
        Err(Error::InvalidFd { fd: -1 })
    ));
    assert!(matches!(
        core.register(i32::MAX, Interest::BOTH),
        Err(Error::InvalidFd { fd: i32::MAX })
    ));
    let (a, b) = pair();
    let closed = fd_of(&a);
    drop(a);
    match core.register(closed, Interest::READ) {
        Err(Error::InvalidFd { fd }) => assert_eq!(fd, closed),
        other => panic!("closed fd {closed}: {other:?}"),
    }
    if cfg!(target_os = "linux") {
        let file = std::fs::File::open("/proc/self/stat").expect("open a regular file");
        let err = core.register(file.as_raw_fd(), Interest::READ).unwrap_err();
        assert!(matches!(err, Error::NotPollable { .. }), "{err:?}");
        let pd = core.register(fd_of(&b), Interest::READ).expect("register");
        let err = core.register(fd_of(&b), Interest::READ).unwrap_err();
        assert!(matches!(err, Error::AlreadyRegistered { .. }), "{err:?}");
        assert!(err.to_string().contains("already registered"), "{err}");
        core.deregister(&pd).expect("deregister");
    }
    assert_eq!(
        core.len(),
        0,
        "failed registrations left descriptors behind"
    );

    let pd = core.register(fd_of(&b), Interest::READ).expect("register");
    core.deregister(&pd).expect("deregister");
    assert!(matches!(
        core.deregister(&pd),
        Err(Error::NotRegistered { .. })
    ));
    let (other, _) = new_core::<B>();
    let foreign = other
        .register(fd_of(&b), Interest::READ)
        .expect("register elsewhere");
    assert!(matches!(
        core.deregister(&foreign),
        Err(Error::NotRegistered { .. })
    ));
}

pub(crate) fn deregister_hands_back_waiters_and_refuses_parks<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (a, mut b) = pair();
    let pd = park_both(&core, &mut buf, fd_of(&a), 1, 2);
    let w = core.deregister(&pd).expect("deregister");
    assert_eq!(
        w,
        Waiters {
            read: Some(1),
            write: Some(2)
        }
    );
    assert!(pd.is_closing());
    assert_eq!(pd.park(Direction::Read, 3), Park::Closing(3));
    send(&mut b, b"after close");
    let seen = poll_quiet(&core, &mut buf);
    assert!(
        seen.events.is_empty() && seen.waiters.is_empty(),
        "{seen:?}"
    );
    assert_eq!(
        w_into_vec(core.deregister(&pd).map_err(|e| e.to_string())),
        Vec::<usize>::new()
    );
}

fn w_into_vec(r: Result<Waiters<usize>, String>) -> Vec<usize> {
    match r {
        Ok(w) => w.into_iter().collect(),
        Err(e) => {
            assert!(e.contains("not registered"), "{e}");
            Vec::new()
        }
    }
}

pub(crate) fn unblock_hands_back_waiter_without_readiness<B: Selector>() {
    let (core, mut buf) = new_core::<B>();
    let (_a, mut b) = pair();
    let pd = core.register(fd_of(&_a), Interest::READ).expect("register");
    assert_eq!(pd.park(Direction::Read, 5), Park::Parked);
    assert_eq!(
        pd.unblock(Direction::Read),
        Some(5),
        "deadline takes the waiter"
    );
    assert_eq!(pd.unblock(Direction::Read), None);
    assert!(
        !pd.is_ready(Direction::Read),
        "unblock must not record readiness"
    );
    send(&mut b, b"late");
    let seen = poll_until(&core, &mut buf, "read edge", |s| !s.events.is_empty());
    assert!(seen.waiters.is_empty());
    assert!(pd.is_ready(Direction::Read));
}
