//! TCP: [`TcpListener`] and [`TcpStream`], std's shapes with Go's behaviour
//! (parking goroutines, deadlines), on [`NetFd`] over socket2's `Socket`
//! (for the non-blocking `connect` and `SO_REUSEPORT`).

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

use burrow_sched::netpoll::Direction;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::fd::{
    NetFd, deadline_methods, fd_traits, finish_connect, set_blocking, set_nonblocking,
};
use crate::resolve::each_addr;

/// The backlog passed to `listen` (the kernel caps it at
/// `net.core.somaxconn`, as Go's `maxListenerBacklog` reads it).
const BACKLOG: i32 = 4096;

/// A TCP socket server, listening for connections (Go's `net.TCPListener`).
///
/// [`accept`](TcpListener::accept) parks the calling goroutine until a
/// connection arrives.
pub struct TcpListener {
    fd: NetFd<Socket>,
}

/// A TCP connection (Go's `net.TCPConn`): `Read` and `Write` park the
/// calling goroutine while the socket is not ready.
pub struct TcpStream {
    fd: NetFd<Socket>,
}

fd_traits!(TcpListener, Socket);
fd_traits!(TcpStream, Socket);

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

pub(crate) fn socket_addr(a: &SockAddr) -> io::Result<SocketAddr> {
    a.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket address"))
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
    /// each resolved address in turn (a host name is resolved through the
    /// blocking hand-off). `SO_REUSEADDR` is set, as std does.
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
        each_addr(addr, |a| {
            let sock = new_socket(a)?;
            sock.set_reuse_address(true)?;
            if reuseport {
                sock.set_reuse_port(true)?;
            }
            sock.bind(&(*a).into())?;
            sock.listen(BACKLOG)?;
            Ok(TcpListener {
                fd: NetFd::new(sock),
            })
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// `ECONNABORTED` (a peer that gave up while queued) is skipped, as Go
    /// does. When the process or the system runs out of descriptors or
    /// buffers (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), `accept` does
    /// not fail: it pauses 5 ms, doubling to 1 s, and tries again (Go's
    /// `http.Server` loop, here for every server), printing one line to
    /// stderr per process that says to raise `ulimit -n`; the pending
    /// connections are served once descriptors free up.
    /// [`accept_backoffs`](crate::accept_backoffs) counts the pauses.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (sock, addr) = self.fd.accept(accept_nonblocking)?;
        let addr = socket_addr(&addr)?;
        // Go's default; a failure here is harmless.
        let _ = sock.set_tcp_nodelay(true);
        Ok((
            TcpStream {
                fd: NetFd::new(sock),
            },
            addr,
        ))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address it listens on (with the real port if bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.fd.sock().local_addr()?)
    }

    /// Sets the deadline for `accept` (`None` clears it).
    pub fn set_deadline(&self, t: Option<Instant>) {
        self.fd.set_deadline(Direction::Read, t);
    }

    /// Closes the listener for this process's goroutines: a goroutine
    /// blocked in `accept` wakes with an error ("use of closed network
    /// connection", `NotConnected`), as do later calls. The port is
    /// released when the listener is dropped.
    pub fn close(&self) {
        self.fd.close();
    }

    /// A second handle to the same listening socket (a `dup`ed descriptor
    /// with its own deadline).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            fd: NetFd::new(self.fd.sock().try_clone()?),
        })
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.fd.sock().set_ttl_v4(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.fd.sock().ttl_v4()
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.fd.sock().take_error()
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
    /// Connects to `addr`, trying each resolved address in turn (Go's
    /// `net.Dial("tcp", addr)`); the goroutine parks while the handshake
    /// runs. A host name is resolved through the blocking hand-off.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_one(a, None))
    }

    /// [`TcpStream::connect`] to one address, giving up after `timeout`
    /// (`TimedOut`).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_one(addr, Instant::now().checked_add(timeout))
    }

    fn connect_one(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let fd = NetFd::new(new_socket(addr)?);
        // Go's default; a failure here is harmless.
        let _ = fd.sock().set_tcp_nodelay(true);
        let start = fd.sock().connect(&(*addr).into());
        finish_connect(&fd, start, deadline, Socket::take_error, |s| {
            s.peer_addr().is_ok()
        })?;
        Ok(TcpStream { fd })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.fd.sock().peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.fd.sock().local_addr()?)
    }

    /// Shuts down the read half, the write half, or both. A goroutine
    /// blocked reading wakes: its read returns 0 (end of stream).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.sock().shutdown(how)
    }

    /// Closes the connection (Go's `Close`): both halves are shut down, so
    /// the peer sees the end of the stream, and every pending and later
    /// call on this handle fails with "use of closed network connection"
    /// (`NotConnected`), waking goroutines blocked in it. The descriptor
    /// itself is released when the stream is dropped.
    pub fn close(&self) {
        // ENOTCONN (the peer already went away) is the only likely error,
        // and closing does not report it.
        let _ = self.fd.sock().shutdown(Shutdown::Both);
        self.fd.close();
    }

    /// Receives data without removing it from the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Direction::Read, |s| {
            // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout,
            // and recv only writes initialised bytes into it.
            let uninit = unsafe {
                &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [std::mem::MaybeUninit<u8>])
            };
            s.peek(uninit)
        })
    }

    /// Sets `TCP_NODELAY`. On by default for accepted and connected
    /// streams, as in Go (std leaves it off): request/response protocols
    /// should not wait for Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.fd.sock().set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.fd.sock().tcp_nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.fd.sock().set_ttl_v4(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.fd.sock().ttl_v4()
    }

    /// A second handle to the same connection (a `dup`ed descriptor with
    /// its own deadlines), e.g. one goroutine reading and one writing.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            fd: NetFd::new(self.fd.sock().try_clone()?),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.fd.sock().take_error()
    }
}

impl TcpStream {
    deadline_methods!();
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.read_stream(buf.len(), |mut s| s.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.fd.read_stream(len, |mut s| s.read_vectored(bufs))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Direction::Write, |mut s| s.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.fd.io(Direction::Write, |mut s| s.write_vectored(bufs))
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

impl From<std::net::TcpStream> for TcpStream {
    /// Takes over a std stream, switching it to non-blocking mode.
    fn from(s: std::net::TcpStream) -> TcpStream {
        let sock = Socket::from(s);
        set_nonblocking(&sock);
        TcpStream {
            fd: NetFd::new(sock),
        }
    }
}

impl From<TcpStream> for std::net::TcpStream {
    /// Gives the socket back as a std stream, in blocking mode.
    fn from(s: TcpStream) -> std::net::TcpStream {
        let sock = s.fd.into_inner();
        set_blocking(&sock);
        sock.into()
    }
}

impl From<std::net::TcpListener> for TcpListener {
    /// Takes over a std listener, switching it to non-blocking mode.
    fn from(l: std::net::TcpListener) -> TcpListener {
        let sock = Socket::from(l);
        set_nonblocking(&sock);
        TcpListener {
            fd: NetFd::new(sock),
        }
    }
}

impl From<TcpListener> for std::net::TcpListener {
    /// Gives the socket back as a std listener, in blocking mode.
    fn from(l: TcpListener) -> std::net::TcpListener {
        let sock = l.fd.into_inner();
        set_blocking(&sock);
        sock.into()
    }
}
