//! TCP: [`TcpListener`] and [`TcpStream`], std's shapes with Go's behaviour
//! (parking goroutines, deadlines).

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use burrow_sched::netpoll::{Direction, PollFd};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::sys::io_loop;

/// The backlog passed to `listen` (the kernel caps it at
/// `net.core.somaxconn`, as Go's `maxListenerBacklog` reads it).
const BACKLOG: i32 = 4096;

/// A TCP socket server, listening for connections (Go's `net.TCPListener`).
///
/// [`accept`](TcpListener::accept) parks the calling goroutine until a
/// connection arrives.
pub struct TcpListener {
    // Field order: the PollFd deregisters before the socket closes.
    pfd: PollFd,
    sock: Socket,
}

/// A TCP connection (Go's `net.TCPConn`): `Read` and `Write` park the
/// calling goroutine while the socket is not ready.
pub struct TcpStream {
    // Field order: the PollFd deregisters before the socket closes.
    pfd: PollFd,
    sock: Socket,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

fn socket_addr(a: &SockAddr) -> io::Result<SocketAddr> {
    a.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket address"))
}

/// Resolves `addr` (DNS for host names), failing if it names nothing.
fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    // A host name makes this a blocking DNS lookup on the calling thread
    // (std's resolver). Until the runtime has a blocking hand-off, it
    // holds the goroutine's P while it runs; literal addresses never block.
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        ));
    }
    Ok(addrs)
}

fn new_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

impl TcpListener {
    /// Binds to `addr` and listens (Go's `net.Listen("tcp", addr)`), trying
    /// each resolved address in turn. `SO_REUSEADDR` is set, as std does.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, false)
    }

    /// As [`TcpListener::bind`], also setting `SO_REUSEPORT`, so that
    /// several listeners (one per process) can share the port and the
    /// kernel spreads connections over them: the scale-out path.
    pub fn bind_reuseport(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, true)
    }

    fn bind_with(addr: impl ToSocketAddrs, reuseport: bool) -> io::Result<TcpListener> {
        let mut last = None;
        for a in resolve(addr)? {
            let r = (|| {
                let sock = new_socket(&a)?;
                sock.set_reuse_address(true)?;
                if reuseport {
                    sock.set_reuse_port(true)?;
                }
                sock.bind(&a.into())?;
                sock.listen(BACKLOG)?;
                Ok(sock)
            })();
            match r {
                Ok(sock) => {
                    return Ok(TcpListener {
                        pfd: PollFd::new(sock.as_raw_fd()),
                        sock,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    /// Waits for a connection and returns it with the peer's address.
    /// `ECONNABORTED` (a peer that gave up while queued) is skipped, as Go
    /// does; other errors, such as running out of file descriptors
    /// (`EMFILE`), are returned: a server loop should back off and retry
    /// (burrow-http's server does, 5 ms doubling to 1 s, as Go's).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            let r = io_loop(&self.pfd, Direction::Read, || {
                accept_nonblocking(&self.sock)
            });
            match r {
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e) => return Err(e),
                Ok((sock, addr)) => {
                    let addr = socket_addr(&addr)?;
                    // Go's default; a failure here is harmless.
                    let _ = sock.set_tcp_nodelay(true);
                    return Ok((TcpStream::from_socket(sock), addr));
                }
            }
        }
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address it listens on (with the real port if bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.sock.local_addr()?)
    }

    /// Sets the deadline for `accept` (`None` clears it).
    pub fn set_deadline(&self, t: Option<Instant>) {
        self.pfd.set_deadline(Direction::Read, t);
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}

/// The new connection's socket, non-blocking and close-on-exec in one call
/// where the OS allows.
fn accept_nonblocking(listener: &Socket) -> io::Result<(Socket, SockAddr)> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        // SAFETY: an all-zero sockaddr_storage is a valid buffer; accept4
        // fills at most `len` bytes of it and sets `len`.
        let (fd, addr) = unsafe {
            SockAddr::try_init(|storage, len| {
                let fd = libc::accept4(
                    listener.as_raw_fd(),
                    storage.cast(),
                    len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                );
                if fd < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(fd)
                }
            })
        }?;
        // SAFETY: accept4 returned a new descriptor that we own.
        Ok((unsafe { Socket::from_raw_fd(fd) }, addr))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let (sock, addr) = listener.accept()?;
        sock.set_nonblocking(true)?;
        Ok((sock, addr))
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpStream {
    fn from_socket(sock: Socket) -> TcpStream {
        TcpStream {
            pfd: PollFd::new(sock.as_raw_fd()),
            sock,
        }
    }

    /// Connects to `addr`, trying each resolved address in turn (Go's
    /// `net.Dial("tcp", addr)`); the goroutine parks while the handshake
    /// runs.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        TcpStream::connect_until(addr, None)
    }

    /// [`TcpStream::connect`] to one address, giving up after `timeout`
    /// (`TimedOut`).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_until(addr, Instant::now().checked_add(timeout))
    }

    fn connect_until(addr: impl ToSocketAddrs, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let mut last = None;
        for a in resolve(addr)? {
            match TcpStream::connect_one(&a, deadline) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    fn connect_one(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let s = TcpStream::from_socket(new_socket(addr)?);
        // Go's default; a failure here is harmless.
        let _ = s.sock.set_tcp_nodelay(true);
        match s.sock.connect(&(*addr).into()) {
            Ok(()) => return Ok(s),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        // Go's `connect` in fd_unix.go: wait for writability, then read
        // the outcome from SO_ERROR.
        s.pfd.set_deadline(Direction::Write, deadline);
        let r = loop {
            if let Err(e) = s.pfd.check(Direction::Write) {
                break Err(e);
            }
            match s.sock.take_error() {
                Ok(Some(e)) => break Err(e),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            // Connected once the peer address is known.
            if s.sock.peer_addr().is_ok() {
                break Ok(());
            }
            if let Err(e) = s.pfd.wait(Direction::Write) {
                break Err(e);
            }
        };
        s.pfd.set_deadline(Direction::Write, None);
        r.map(|()| s)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.sock.peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.sock.local_addr()?)
    }

    /// Shuts down the read half, the write half, or both. A goroutine
    /// blocked reading wakes: its read returns 0 (end of stream).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    /// Sets `TCP_NODELAY`. On by default for accepted and connected
    /// streams, as in Go (std leaves it off): request/response protocols
    /// should not wait for Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.tcp_nodelay()
    }

    /// Sets the read deadline (`None` clears it): see *Deadlines* in the
    /// crate docs.
    pub fn set_read_deadline(&self, t: Option<Instant>) {
        self.pfd.set_deadline(Direction::Read, t);
    }

    /// Sets the write deadline (`None` clears it).
    pub fn set_write_deadline(&self, t: Option<Instant>) {
        self.pfd.set_deadline(Direction::Write, t);
    }

    /// Sets both deadlines (Go's `SetDeadline`).
    pub fn set_deadline(&self, t: Option<Instant>) {
        self.set_read_deadline(t);
        self.set_write_deadline(t);
    }

    /// A second handle to the same connection (a `dup`ed descriptor with
    /// its own deadlines), e.g. one goroutine reading and one writing.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let sock = self.sock.try_clone()?;
        Ok(TcpStream::from_socket(sock))
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io_loop(&self.pfd, Direction::Read, || (&self.sock).read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        io_loop(&self.pfd, Direction::Read, || {
            (&self.sock).read_vectored(bufs)
        })
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io_loop(&self.pfd, Direction::Write, || (&self.sock).write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        io_loop(&self.pfd, Direction::Write, || {
            (&self.sock).write_vectored(bufs)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl From<std::net::TcpStream> for TcpStream {
    /// Takes over a std stream, switching it to non-blocking mode.
    fn from(s: std::net::TcpStream) -> TcpStream {
        let sock = Socket::from(s);
        // A socket that cannot be made non-blocking is not a socket:
        // fcntl only fails on a bad descriptor.
        sock.set_nonblocking(true)
            .expect("fcntl(O_NONBLOCK) on a TCP socket");
        TcpStream::from_socket(sock)
    }
}

impl From<TcpStream> for std::net::TcpStream {
    /// Gives the socket back as a std stream, in blocking mode.
    fn from(s: TcpStream) -> std::net::TcpStream {
        let TcpStream { pfd, sock } = s;
        drop(pfd);
        let _ = sock.set_nonblocking(false);
        sock.into()
    }
}

impl From<std::net::TcpListener> for TcpListener {
    /// Takes over a std listener, switching it to non-blocking mode.
    fn from(l: std::net::TcpListener) -> TcpListener {
        let sock = Socket::from(l);
        sock.set_nonblocking(true)
            .expect("fcntl(O_NONBLOCK) on a TCP socket");
        TcpListener {
            pfd: PollFd::new(sock.as_raw_fd()),
            sock,
        }
    }
}

impl From<TcpListener> for std::net::TcpListener {
    /// Gives the socket back as a std listener, in blocking mode.
    fn from(l: TcpListener) -> std::net::TcpListener {
        let TcpListener { pfd, sock } = l;
        drop(pfd);
        let _ = sock.set_nonblocking(false);
        sock.into()
    }
}

impl From<TcpStream> for OwnedFd {
    fn from(s: TcpStream) -> OwnedFd {
        let TcpStream { pfd, sock } = s;
        drop(pfd);
        // SAFETY: `into_raw_fd` gives up the socket's ownership of the fd.
        unsafe { OwnedFd::from_raw_fd(sock.into_raw_fd()) }
    }
}
