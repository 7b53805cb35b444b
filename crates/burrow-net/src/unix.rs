//! Unix domain sockets: [`UnixListener`], [`UnixStream`] and
//! [`UnixDatagram`], std's shapes (`std::os::unix::net`) with Go's
//! behaviour, on [`NetFd`] over std's own types in non-blocking mode
//! (their calls already return std's `unix::net::SocketAddr`). A
//! non-blocking `connect` goes through socket2.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{self as stdunix, SocketAddr};
use std::path::Path;

use burrow_sched::netpoll::Direction;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use crate::fd::{
    NetFd, deadline_methods, fd_traits, finish_connect, set_blocking, set_nonblocking,
};

/// A Unix domain socket server (Go's `net.UnixListener`).
pub struct UnixListener {
    fd: NetFd<stdunix::UnixListener>,
}

/// A Unix domain stream (Go's `net.UnixConn` of type `"unix"`).
pub struct UnixStream {
    fd: NetFd<stdunix::UnixStream>,
}

/// A Unix domain datagram socket (Go's `net.UnixConn` of type
/// `"unixgram"`).
pub struct UnixDatagram {
    fd: NetFd<stdunix::UnixDatagram>,
}

fd_traits!(UnixListener, stdunix::UnixListener);
fd_traits!(UnixStream, stdunix::UnixStream);
fd_traits!(UnixDatagram, stdunix::UnixDatagram);

impl std::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl std::fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// A new non-blocking, close-on-exec Unix socket of type `ty`.
fn new_socket(ty: Type) -> io::Result<Socket> {
    let sock = Socket::new(Domain::UNIX, ty, None)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

impl UnixListener {
    /// Binds to the socket file `path` and listens. The file must not
    /// exist (remove a stale one first); it is not removed on drop, as
    /// with std.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let l = stdunix::UnixListener::bind(path)?;
        l.set_nonblocking(true)?;
        Ok(UnixListener { fd: NetFd::new(l) })
    }

    /// Waits for a connection and returns it with the peer's address
    /// (usually unnamed). Resource exhaustion backs off as in
    /// [`TcpListener::accept`](crate::TcpListener::accept).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, a) = self.fd.accept(|l| l.accept())?;
        s.set_nonblocking(true)?;
        Ok((UnixStream { fd: NetFd::new(s) }, a))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().local_addr()
    }

    /// Sets the deadline for `accept` (`None` clears it).
    pub fn set_deadline(&self, t: Option<std::time::Instant>) {
        self.fd.set_deadline(Direction::Read, t);
    }

    /// Wakes a goroutine blocked in `accept` with an error, and fails
    /// later calls, as [`TcpListener::close`](crate::TcpListener::close).
    pub fn close(&self) {
        self.fd.close();
    }

    /// A second handle to the same listening socket.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            fd: NetFd::new(self.fd.sock().try_clone()?),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.fd.sock().take_error()
    }
}

/// The iterator of [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl UnixStream {
    /// Connects to the socket file `path`; the goroutine parks while the
    /// connection is pending. A listener whose backlog is full fails the
    /// call with `WouldBlock`, as Go's `Dial("unix", ...)` fails with
    /// `EAGAIN`.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        let fd = NetFd::new(stdunix::UnixStream::from(new_socket(Type::STREAM)?));
        let start = SockRef::from(fd.sock()).connect(&addr);
        finish_connect(&fd, start, None, stdunix::UnixStream::take_error, |s| {
            s.peer_addr().is_ok()
        })?;
        Ok(UnixStream { fd })
    }

    /// A connected pair of streams (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = stdunix::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((
            UnixStream { fd: NetFd::new(a) },
            UnixStream { fd: NetFd::new(b) },
        ))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().peer_addr()
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.sock().shutdown(how)
    }

    /// Closes the stream, as [`TcpStream::close`](crate::TcpStream::close).
    pub fn close(&self) {
        let _ = self.fd.sock().shutdown(Shutdown::Both);
        self.fd.close();
    }

    deadline_methods!();

    /// A second handle to the same stream (a `dup`ed descriptor with its
    /// own deadlines).
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            fd: NetFd::new(self.fd.sock().try_clone()?),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.fd.sock().take_error()
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Direction::Read, |mut s| s.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.fd.io(Direction::Read, |mut s| s.read_vectored(bufs))
    }
}

impl Write for &UnixStream {
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

impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for UnixStream {
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

impl UnixDatagram {
    /// A socket bound to the file `path`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let s = stdunix::UnixDatagram::bind(path)?;
        s.set_nonblocking(true)?;
        Ok(UnixDatagram { fd: NetFd::new(s) })
    }

    /// A socket bound to no address (it can send, and receive replies
    /// only on a connected or paired socket).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let s = stdunix::UnixDatagram::from(new_socket(Type::DGRAM)?);
        Ok(UnixDatagram { fd: NetFd::new(s) })
    }

    /// A connected pair of sockets (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = stdunix::UnixDatagram::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((
            UnixDatagram { fd: NetFd::new(a) },
            UnixDatagram { fd: NetFd::new(b) },
        ))
    }

    /// Sets the default peer to the socket file `path`.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.fd.sock().connect(path)
    }

    /// Sends `buf` to the socket file `path`, parking while the receiver's
    /// queue is full.
    pub fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.fd.io(Direction::Write, |s| s.send_to(buf, path))
    }

    /// Receives one datagram, parking until one arrives; returns its
    /// length and sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Sends `buf` to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Direction::Write, |s| s.send(buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Direction::Read, |s| s.recv(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().peer_addr()
    }

    /// Shuts down the read half, the write half, or both: a goroutine
    /// blocked receiving wakes with 0 bytes.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.sock().shutdown(how)
    }

    /// Wakes goroutines blocked on the socket with an error, and fails
    /// later calls, as [`UdpSocket::close`](crate::UdpSocket::close).
    pub fn close(&self) {
        self.fd.close();
    }

    deadline_methods!();

    /// A second handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            fd: NetFd::new(self.fd.sock().try_clone()?),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.fd.sock().take_error()
    }
}

/// `From`/`Into` std's type of the same name: taking one over makes it
/// non-blocking, giving it back makes it blocking again.
macro_rules! std_conversions {
    ($t:ident) => {
        impl From<stdunix::$t> for $t {
            /// Takes over a std socket, switching it to non-blocking mode.
            fn from(s: stdunix::$t) -> $t {
                set_nonblocking(&s);
                $t { fd: NetFd::new(s) }
            }
        }

        impl From<$t> for stdunix::$t {
            /// Gives the socket back as a std socket, in blocking mode.
            fn from(s: $t) -> stdunix::$t {
                let sock = s.fd.into_inner();
                set_blocking(&sock);
                sock
            }
        }
    };
}

std_conversions!(UnixListener);
std_conversions!(UnixStream);
std_conversions!(UnixDatagram);
