//! The byte streams a server is served over and a client talks through:
//! the [`Conn`] and [`Listener`] traits, their implementations for std's
//! sockets, and the connection's private [`Wire`] that applies deadlines.
//!
//! # Deadlines, not timeouts
//!
//! Go's `net.Conn` has `SetReadDeadline(t)`: every read after `t` fails with
//! a timeout, however many reads it takes to get there. That is what a server
//! needs: a client that trickles one byte a second must still hit
//! `read_header_timeout`. burrow-net's sockets have exactly this (a time
//! point, error kind `TimedOut`), and setting one is a store. std's `TcpStream` only has a per-call
//! timeout (`SO_RCVTIMEO`). The [`Conn`] implementation for it converts the
//! deadline to the time left at the moment of the call, and [`Wire`]
//! re-applies the deadline before *every* read and write, so the sum of
//! many slow reads can never outlast it (one `setsockopt` per call).
//!
//! A stream that keeps its deadline itself ([`Conn::keeps_deadlines`]:
//! burrow-net's sockets) is told only when the deadline changes, as Go's
//! `conn.serve` calls `SetReadDeadline` once per request phase: the
//! socket's own check fails every call after it. [`Wire`] sets it lazily,
//! before the first call that follows a change, so a deadline that is
//! replaced before any I/O (the read deadline of a body nobody reads) is
//! never set at all, and no clock is read here.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// Ends a connection (or stops a listener) from another goroutine: Go's
/// `c.rwc.Close()` as called by `Server.Shutdown` and `Server.Close`.
///
/// It shuts the socket down rather than closing the descriptor, which
/// stays owned by the goroutine serving it: `Shutdown::Read` makes that
/// goroutine's read return end-of-file (a listener's `accept` fails),
/// `Shutdown::Both` also fails its writes. See *Shutdown* in `server/accept.rs`.
pub type Closer = Box<dyn Fn(Shutdown) + Send + Sync>;

/// A [`Closer`] for a socket descriptor: a duplicate of it (`dup`), on
/// which `shutdown(2)` acts on the shared socket while the original stays
/// open for its owner. Linux wakes a thread or netpoller waiting on the
/// socket in either case; on a listening socket `shutdown(SHUT_RD)` makes
/// `accept` fail with `EINVAL`.
#[cfg(unix)]
fn socket_closer(fd: BorrowedFd<'_>) -> Option<Closer> {
    let dup = fd.try_clone_to_owned().ok()?;
    // std's TcpStream is only the carrier of `shutdown(2)` here; it works
    // on any socket, listening or Unix-domain.
    let sock = TcpStream::from(dup);
    Some(Box::new(move |how| {
        let _ = sock.shutdown(how);
    }))
}

/// A bidirectional byte stream an HTTP/1 connection runs over.
///
/// The deadline methods have Go's `net.Conn` meaning: `Some(t)` makes every
/// read (or write) that is still blocked at `t`, or starts after it, fail
/// with `ErrorKind::TimedOut` (std's sockets report `WouldBlock`; both are
/// taken as a timeout); `None` removes the deadline. The defaults do nothing,
/// so an in-memory stream implements `Conn` with an empty `impl` block and
/// simply never times out.
pub trait Conn: Read + Write {
    /// Sets (or clears) the deadline for reads.
    fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        let _ = deadline;
        Ok(())
    }

    /// Sets (or clears) the deadline for writes.
    fn set_write_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        let _ = deadline;
        Ok(())
    }

    /// Whether the stream keeps a deadline set through the methods above
    /// for every later call until it is moved (Go's `net.Conn`), so that
    /// it need only be set when it changes. `false` (the default): it is
    /// re-applied before every read and write, and a passed deadline is
    /// checked against the clock here (see *Deadlines, not timeouts*).
    fn keeps_deadlines(&self) -> bool {
        false
    }

    /// Half-closes the stream: the peer reads end-of-file after what was
    /// written, while this side can still read. Used for the lingering close
    /// after an error response (see *Closing* in `server.rs`).
    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }

    /// The peer's address, for log lines; `None` when there is none.
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// A handle that ends this connection from another goroutine, used by
    /// graceful shutdown to close idle keep-alive connections. `None` (the
    /// default) means the connection can only end by itself: a timeout or
    /// the peer closing.
    fn closer(&self) -> Option<Closer> {
        None
    }
}

/// A borrowed connection is one too, so a caller can keep its stream:
/// `serve_conn(&mut stream, ..)`.
impl<S: Conn + ?Sized> Conn for &mut S {
    fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        (**self).set_read_deadline(deadline)
    }

    fn set_write_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        (**self).set_write_deadline(deadline)
    }

    fn keeps_deadlines(&self) -> bool {
        (**self).keeps_deadlines()
    }

    fn shutdown_write(&self) -> io::Result<()> {
        (**self).shutdown_write()
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        (**self).peer_addr()
    }

    fn closer(&self) -> Option<Closer> {
        (**self).closer()
    }
}

/// The shortest timeout handed to `SO_RCVTIMEO`/`SO_SNDTIMEO`: zero means
/// "no timeout" to the kernel and is refused by std.
const MIN_SOCKET_TIMEOUT: Duration = Duration::from_micros(1);

/// The per-call timeout that approximates `deadline` now.
fn timeout_until(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(MIN_SOCKET_TIMEOUT)
    })
}

impl Conn for TcpStream {
    fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.set_read_timeout(timeout_until(deadline))
    }

    fn set_write_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.set_write_timeout(timeout_until(deadline))
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        TcpStream::peer_addr(self).ok()
    }

    #[cfg(unix)]
    fn closer(&self) -> Option<Closer> {
        socket_closer(self.as_fd())
    }
}

#[cfg(unix)]
impl Conn for std::os::unix::net::UnixStream {
    fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.set_read_timeout(timeout_until(deadline))
    }

    fn set_write_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.set_write_timeout(timeout_until(deadline))
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn closer(&self) -> Option<Closer> {
        socket_closer(self.as_fd())
    }
}

impl Conn for burrow_net::TcpStream {
    fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        burrow_net::TcpStream::set_read_deadline(self, deadline);
        Ok(())
    }

    fn set_write_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        burrow_net::TcpStream::set_write_deadline(self, deadline);
        Ok(())
    }

    /// burrow-net's deadlines are Go's: the socket fails every call after
    /// one with `TimedOut` until it is moved.
    fn keeps_deadlines(&self) -> bool {
        true
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        burrow_net::TcpStream::peer_addr(self).ok()
    }

    fn closer(&self) -> Option<Closer> {
        socket_closer(self.as_fd())
    }
}

impl Listener for burrow_net::TcpListener {
    type Conn = burrow_net::TcpStream;

    fn accept(&self) -> io::Result<burrow_net::TcpStream> {
        burrow_net::TcpListener::accept(self).map(|(s, _)| s)
    }

    fn closer(&self) -> Option<Closer> {
        socket_closer(self.as_fd())
    }
}

/// Where a [`Server`](crate::Server) gets its connections: Go's
/// `net.Listener`, reduced to `accept`.
///
/// Implemented for std's `TcpListener` (and `UnixListener` on unix); burrow-net's
/// listener implements it by returning its goroutine-parking stream.
pub trait Listener {
    /// The stream type of an accepted connection.
    type Conn: Conn + Send + 'static;

    /// Blocks (or parks the goroutine) until a connection arrives.
    fn accept(&self) -> io::Result<Self::Conn>;

    /// A handle that makes a blocked `accept` fail, so that
    /// [`Server::shutdown`](crate::Server::shutdown) can stop the accept
    /// loop (Go closes the listener). `None` (the default): the loop stops
    /// at its next accepted connection instead.
    fn closer(&self) -> Option<Closer> {
        None
    }
}

impl Listener for TcpListener {
    type Conn = TcpStream;

    fn accept(&self) -> io::Result<TcpStream> {
        let (stream, _) = TcpListener::accept(self)?;
        // Go sets TCP_NODELAY on every TCP connection: a response is written
        // in one or two writes and must not wait for the previous ACK.
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    #[cfg(unix)]
    fn closer(&self) -> Option<Closer> {
        socket_closer(self.as_fd())
    }
}

#[cfg(unix)]
impl Listener for std::os::unix::net::UnixListener {
    type Conn = std::os::unix::net::UnixStream;

    fn accept(&self) -> io::Result<Self::Conn> {
        Ok(std::os::unix::net::UnixListener::accept(self)?.0)
    }

    fn closer(&self) -> Option<Closer> {
        socket_closer(self.as_fd())
    }
}

/// True for the error kinds a read or write reports when its deadline (or
/// std's per-call timeout) expired.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// The object-safe face of a connection's [`Wire`], held by the request
/// [`Body`](crate::Body) (to send `100 Continue`) and the
/// [`ResponseWriter`](crate::ResponseWriter) at the same time. Every method
/// takes `&self` and borrows the stream only for the one call, so the two
/// never hold it together (a connection is served by one goroutine).
pub(crate) trait Transport {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_all(&self, buf: &[u8]) -> io::Result<()>;
    fn flush(&self) -> io::Result<()>;
}

/// A connection's stream with its current deadlines.
///
/// Owner: the goroutine (thread) serving the connection; the `RefCell` is
/// never contended, it only lets the body and the response writer share
/// the stream. See *Deadlines, not timeouts* above.
pub(crate) struct Wire<S> {
    stream: RefCell<S>,
    /// `stream.keeps_deadlines()`, asked once.
    keeps: bool,
    read: DeadlineCell,
    write: DeadlineCell,
}

/// One direction's deadline: the one the server wants and the one last
/// given to the stream.
struct DeadlineCell {
    want: Cell<Option<Instant>>,
    /// What the stream holds; `None` also before the first set (a fresh
    /// stream has no deadline).
    applied: Cell<Option<Instant>>,
}

impl DeadlineCell {
    fn new() -> Self {
        DeadlineCell {
            want: Cell::new(None),
            applied: Cell::new(None),
        }
    }
}

impl<S: Conn> Wire<S> {
    pub(crate) fn new(stream: S) -> Self {
        Wire {
            keeps: stream.keeps_deadlines(),
            stream: RefCell::new(stream),
            read: DeadlineCell::new(),
            write: DeadlineCell::new(),
        }
    }

    pub(crate) fn set_read_deadline(&self, d: Option<Instant>) {
        self.read.want.set(d);
    }

    pub(crate) fn set_write_deadline(&self, d: Option<Instant>) {
        self.write.want.set(d);
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        self.stream.borrow().shutdown_write()
    }

    pub(crate) fn peer_addr(&self) -> Option<SocketAddr> {
        self.stream.borrow().peer_addr()
    }

    /// Applies the wanted deadline of `cell` to the stream before a call;
    /// `Err(TimedOut)` when it has already passed and the stream does not
    /// keep deadlines itself.
    fn arm(
        &self,
        cell: &DeadlineCell,
        set: impl FnOnce(&S, Option<Instant>) -> io::Result<()>,
    ) -> io::Result<()> {
        let want = cell.want.get();
        if self.keeps {
            // The stream checks its own deadline on every call: tell it
            // only about a change.
            if want != cell.applied.get() {
                set(&self.stream.borrow(), want)?;
                cell.applied.set(want);
            }
            return Ok(());
        }
        match want {
            Some(d) => {
                if Instant::now() >= d {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline exceeded"));
                }
                set(&self.stream.borrow(), Some(d))?;
                cell.applied.set(Some(d));
            }
            None if cell.applied.get().is_some() => {
                set(&self.stream.borrow(), None)?;
                cell.applied.set(None);
            }
            None => {}
        }
        Ok(())
    }
}

/// Turns std's `WouldBlock` from an expired `SO_RCVTIMEO` into `TimedOut`.
fn timeout_kind(e: io::Error) -> io::Error {
    if is_timeout(&e) {
        io::Error::new(io::ErrorKind::TimedOut, e)
    } else {
        e
    }
}

impl<S: Conn> Transport for Wire<S> {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(&self.read, |s, d| s.set_read_deadline(d))?;
        loop {
            match self.stream.borrow_mut().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r.map_err(timeout_kind),
            }
        }
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.arm(&self.write, |s, d| s.set_write_deadline(d))?;
        self.stream
            .borrow_mut()
            .write_all(buf)
            .map_err(timeout_kind)
    }

    fn flush(&self) -> io::Result<()> {
        self.stream.borrow_mut().flush().map_err(timeout_kind)
    }
}

/// `Read` over a borrowed [`Transport`], for the connection's buffered reader.
pub(crate) struct TransportReader<'w>(pub(crate) &'w dyn Transport);

impl Read for TransportReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
