//! [`NetFd`]: the one socket type every kind is built on (Go's `netFD`
//! over `internal/poll.FD`): a non-blocking socket, its [`PollFd`], the
//! I/O loop that tries the system call and parks on `EAGAIN`, std-style
//! timeouts, and `accept`'s back-off when the process runs out of
//! descriptors.
//!
//! `TcpStream`, `UdpSocket`, `UnixStream` and the rest are thin wrappers
//! that choose the inner socket type `S` (socket2's `Socket` for TCP,
//! std's own types for UDP and Unix sockets, whose methods already speak
//! std's address types) and say which system call each method makes.
//! The waiting, the deadlines and the closing live here, once.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burrow_sched::netpoll::{Direction, PollFd};

/// The first pause after `accept` ran out of a resource (Go's
/// `net/http.Server.Serve`: 5 ms, doubling).
pub(crate) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);

/// The longest pause between `accept` retries (Go's: 1 s).
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Set once the process has printed its one line about `accept` running
/// out of resources; see *Accept back-off* in `docs/net.md`.
static ACCEPT_LOGGED: AtomicBool = AtomicBool::new(false);

/// How many times `accept` has backed off in this process.
static ACCEPT_BACKOFFS: AtomicU64 = AtomicU64::new(0);

/// How many times an `accept` in this process has paused because the
/// process or the system ran out of a resource (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`). A server whose count grows needs a higher
/// open-file limit (`ulimit -n`); see [`TcpListener::accept`].
///
/// [`TcpListener::accept`]: crate::TcpListener::accept
pub fn accept_backoffs() -> u64 {
    ACCEPT_BACKOFFS.load(Ordering::Relaxed)
}

/// A non-blocking socket `S` that goroutines wait on. Field order matters:
/// the `PollFd` deregisters before the socket closes (see [`PollFd`]).
pub(crate) struct NetFd<S: AsRawFd> {
    pfd: PollFd,
    sock: S,
    /// Std-style per-call timeouts, read and write, in nanoseconds; 0:
    /// none. While one is set, each call of that direction moves the
    /// deadline to now + timeout before it starts.
    timeout: [AtomicU64; 2],
    /// A stream read returned less than it asked for: the receive buffer
    /// was empty then, so the next read waits for an edge before its first
    /// system call (see [`NetFd::read_stream`]).
    drained: AtomicBool,
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::Read => 0,
        Direction::Write => 1,
    }
}

impl<S: AsRawFd> NetFd<S> {
    /// Wraps `sock`, which the caller has made non-blocking.
    pub(crate) fn new(sock: S) -> NetFd<S> {
        NetFd {
            pfd: PollFd::new(sock.as_raw_fd()),
            sock,
            timeout: [AtomicU64::new(0), AtomicU64::new(0)],
            drained: AtomicBool::new(false),
        }
    }

    /// The socket, for calls that never block (addresses, options).
    pub(crate) fn sock(&self) -> &S {
        &self.sock
    }

    /// The poll descriptor, for the connect loop.
    pub(crate) fn pfd(&self) -> &PollFd {
        &self.pfd
    }

    /// Gives the socket back, deregistered (still non-blocking).
    pub(crate) fn into_inner(self) -> S {
        let NetFd { pfd, sock, .. } = self;
        drop(pfd);
        sock
    }

    /// Runs `op` (a system call in direction `dir`) until it does not fail
    /// with `WouldBlock`, parking the goroutine (or blocking the thread)
    /// between tries: the I/O loop of Go's `fd_unix.go`. `EINTR` is
    /// retried.
    pub(crate) fn io<T>(
        &self,
        dir: Direction,
        op: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        self.io_after(dir, false, op)
    }

    /// A read on a TCP stream into buffers of `len` bytes in all:
    /// [`NetFd::io`], except that after a read that returned less than it
    /// asked for, the next one waits for the socket before its first
    /// system call (see *Short reads* in `docs/net.md`).
    ///
    /// A short stream read means the receive buffer was empty when it
    /// returned (`epoll(7)`: a read that only partially fills the buffer
    /// is sufficient to show it was drained), and any byte that arrives
    /// after it raises a new edge. Going straight to the wait saves the
    /// read that would say `EAGAIN`: in an echo loop, one system call of
    /// three per message (tokio does the same; Go does not). A wait that
    /// finds an edge of bytes already consumed returns at once and the
    /// loop reads as before, so a wrong guess costs the call it meant to
    /// save. An end of stream or a reset already seen by the poller
    /// raises no later edge, so then the read is made at once
    /// ([`PollFd::read_closed`]). Only TCP uses this: a short datagram
    /// says nothing about the next, and a Unix stream read also stops
    /// short between writers' credentials (`SO_PASSCRED`). TCP's one such
    /// stop, before urgent data, would leave the bytes after the mark for
    /// the next edge; tokio accepts the same.
    pub(crate) fn read_stream(
        &self,
        len: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        // Relaxed: a hint about this socket's own reads. A reader that
        // misses it makes the `EAGAIN` call; one that sees it waits for an
        // edge that bytes arriving after the short read will raise.
        let wait_first =
            len > 0 && self.drained.swap(false, Ordering::Relaxed) && !self.pfd.read_closed();
        let n = self.io_after(Direction::Read, wait_first, op)?;
        if n > 0 && n < len {
            self.drained.store(true, Ordering::Relaxed);
        }
        Ok(n)
    }

    /// [`NetFd::io`], waiting for the socket before the first system call
    /// when `wait_first` (the deadline and a close still end that wait).
    fn io_after<T>(
        &self,
        dir: Direction,
        wait_first: bool,
        mut op: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        // Relaxed: a value of this handle's own configuration; a racing
        // `set_*_timeout` applies from the next call either way.
        let t = self.timeout[index(dir)].load(Ordering::Relaxed);
        if t != 0 {
            self.pfd
                .set_deadline(dir, Instant::now().checked_add(Duration::from_nanos(t)));
        }
        if wait_first {
            self.pfd.wait(dir)?;
        }
        loop {
            self.pfd.check(dir)?;
            match op(&self.sock) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.pfd.wait(dir)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// The accept loop: [`NetFd::io`] in the read direction, skipping
    /// `ECONNABORTED` and backing off on resource exhaustion (see *Accept
    /// back-off* in `docs/net.md`): 5 ms doubling to 1 s, one line to
    /// stderr per process, then serving again once descriptors free up.
    /// The pause ends early at the accept deadline; a close is seen when
    /// the pause ends.
    pub(crate) fn accept<T>(&self, mut op: impl FnMut(&S) -> io::Result<T>) -> io::Result<T> {
        let mut delay = ACCEPT_BACKOFF_MIN;
        loop {
            let err = match self.io(Direction::Read, &mut op) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            match err.raw_os_error() {
                Some(libc::ECONNABORTED) => continue,
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {}
                _ => return Err(err),
            }
            ACCEPT_BACKOFFS.fetch_add(1, Ordering::Relaxed);
            if !ACCEPT_LOGGED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "burrow-net: accept: {err}; retrying, waiting {}ms doubling up to {}s \
                     (raise the open-file limit, `ulimit -n`, or lower the load; \
                     this is printed once per process)",
                    ACCEPT_BACKOFF_MIN.as_millis(),
                    ACCEPT_BACKOFF_MAX.as_secs()
                );
            }
            let mut pause = delay;
            if let Some(d) = self.pfd.deadline(Direction::Read) {
                pause = pause.min(d.saturating_duration_since(Instant::now()));
            }
            burrow_sched::sleep(pause);
            delay = (delay * 2).min(ACCEPT_BACKOFF_MAX);
        }
    }

    /// Sets the deadline of `dir` (Go's semantics; `None` clears it) and
    /// clears that direction's std-style timeout.
    pub(crate) fn set_deadline(&self, dir: Direction, t: Option<Instant>) {
        self.timeout[index(dir)].store(0, Ordering::Relaxed);
        self.pfd.set_deadline(dir, t);
    }

    /// The deadline of `dir`, if set.
    pub(crate) fn deadline(&self, dir: Direction) -> Option<Instant> {
        self.pfd.deadline(dir)
    }

    /// Sets std's per-call timeout of `dir` (`None` clears it and the
    /// deadline). A zero duration is refused with `InvalidInput`, as std
    /// refuses it.
    pub(crate) fn set_timeout(&self, dir: Direction, t: Option<Duration>) -> io::Result<()> {
        match t {
            Some(d) if d.is_zero() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            )),
            Some(d) => {
                let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                self.timeout[index(dir)].store(n, Ordering::Relaxed);
                Ok(())
            }
            None => {
                self.set_deadline(dir, None);
                Ok(())
            }
        }
    }

    /// Std's per-call timeout of `dir`, if set.
    pub(crate) fn timeout(&self, dir: Direction) -> Option<Duration> {
        match self.timeout[index(dir)].load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// Go's `Close` without the `close(2)`: every pending and later call
    /// fails with "use of closed network connection"; the descriptor is
    /// released when the value is dropped (so its number cannot be reused
    /// under a goroutine still using it).
    pub(crate) fn close(&self) {
        self.pfd.close();
    }
}

impl<S: AsRawFd> std::fmt::Debug for NetFd<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetFd")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

/// Finishes a non-blocking `connect(2)` (Go's `connect` in `fd_unix.go`):
/// `start` is what the call returned; on `EINPROGRESS`, waits for
/// writability until `deadline`, reading the outcome from `SO_ERROR`
/// (`take_error`) and `connected` (whether the peer address is known).
pub(crate) fn finish_connect<S: AsRawFd>(
    fd: &NetFd<S>,
    start: io::Result<()>,
    deadline: Option<Instant>,
    take_error: impl Fn(&S) -> io::Result<Option<io::Error>>,
    connected: impl Fn(&S) -> bool,
) -> io::Result<()> {
    match start {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let pfd = fd.pfd();
    pfd.set_deadline(Direction::Write, deadline);
    let r = loop {
        if let Err(e) = pfd.check(Direction::Write) {
            break Err(e);
        }
        match take_error(fd.sock()) {
            Ok(Some(e)) => break Err(e),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if connected(fd.sock()) {
            break Ok(());
        }
        if let Err(e) = pfd.wait(Direction::Write) {
            break Err(e);
        }
    };
    pfd.set_deadline(Direction::Write, None);
    r
}

/// The descriptor traits every socket type has: `AsRawFd`, `AsFd`,
/// `IntoRawFd`, `FromRawFd`, and `From`/`Into` `OwnedFd`. `$t` is a
/// struct with one field `fd: NetFd<$s>`.
macro_rules! fd_traits {
    ($t:ident, $s:ty) => {
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.fd.sock())
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.fd.sock())
            }
        }

        impl std::os::fd::IntoRawFd for $t {
            /// Gives up the descriptor, deregistered and still
            /// non-blocking.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.fd.into_inner())
            }
        }

        impl std::os::fd::FromRawFd for $t {
            /// Takes ownership of `fd` and makes it non-blocking.
            ///
            /// # Safety
            ///
            /// `fd` is an open socket of this kind that the caller owns
            /// and gives up.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $t {
                // SAFETY: the caller passes an owned, open descriptor.
                let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
                $t::from(owned)
            }
        }

        impl From<std::os::fd::OwnedFd> for $t {
            /// Takes over a socket descriptor of this kind, making it
            /// non-blocking.
            fn from(fd: std::os::fd::OwnedFd) -> $t {
                let sock = <$s>::from(fd);
                // fcntl(F_SETFL) only fails on a bad descriptor, which an
                // OwnedFd is not.
                crate::fd::set_nonblocking(&sock);
                $t {
                    fd: crate::fd::NetFd::new(sock),
                }
            }
        }

        impl From<$t> for std::os::fd::OwnedFd {
            /// Gives up the descriptor, deregistered and still
            /// non-blocking.
            fn from(s: $t) -> std::os::fd::OwnedFd {
                s.fd.into_inner().into()
            }
        }
    };
}
pub(crate) use fd_traits;

/// Puts a descriptor in non-blocking mode; an `fcntl` failure (only on a
/// bad descriptor) shows up as an error at the first call instead.
pub(crate) fn set_nonblocking(fd: &impl AsRawFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor the caller holds open; F_GETFL and
    // F_SETFL read and write only its status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK == 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Puts a descriptor back in blocking mode, for handing it to std.
pub(crate) fn set_blocking(fd: &impl AsRawFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: as in `set_nonblocking`.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

/// The deadline and timeout methods of a socket with both directions,
/// inside an `impl` block of a struct with one field `fd: NetFd<_>`.
macro_rules! deadline_methods {
    () => {
        /// Sets the read deadline (`None` clears it; clears the read
        /// timeout): see *Deadlines* in the crate docs.
        pub fn set_read_deadline(&self, t: Option<std::time::Instant>) {
            self.fd
                .set_deadline(burrow_sched::netpoll::Direction::Read, t);
        }

        /// Sets the write deadline (`None` clears it; clears the write
        /// timeout).
        pub fn set_write_deadline(&self, t: Option<std::time::Instant>) {
            self.fd
                .set_deadline(burrow_sched::netpoll::Direction::Write, t);
        }

        /// Sets both deadlines (Go's `SetDeadline`).
        pub fn set_deadline(&self, t: Option<std::time::Instant>) {
            self.set_read_deadline(t);
            self.set_write_deadline(t);
        }

        /// The read deadline, if set.
        pub fn read_deadline(&self) -> Option<std::time::Instant> {
            self.fd.deadline(burrow_sched::netpoll::Direction::Read)
        }

        /// The write deadline, if set.
        pub fn write_deadline(&self) -> Option<std::time::Instant> {
            self.fd.deadline(burrow_sched::netpoll::Direction::Write)
        }

        /// std's read timeout: each read may wait at most `t` (`None`: no
        /// limit). It works by moving the read deadline to now + `t` at
        /// the start of each read, so it replaces a deadline set before,
        /// and setting a read deadline clears it. A zero duration is
        /// refused with `InvalidInput`, as std does.
        pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
            self.fd
                .set_timeout(burrow_sched::netpoll::Direction::Read, t)
        }

        /// std's write timeout; see `set_read_timeout`.
        pub fn set_write_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
            self.fd
                .set_timeout(burrow_sched::netpoll::Direction::Write, t)
        }

        /// The read timeout, if set.
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.fd.timeout(burrow_sched::netpoll::Direction::Read))
        }

        /// The write timeout, if set.
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.fd.timeout(burrow_sched::netpoll::Direction::Write))
        }
    };
}
pub(crate) use deadline_methods;
