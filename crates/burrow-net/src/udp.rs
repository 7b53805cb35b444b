//! UDP: [`UdpSocket`], std's shape with Go's behaviour (a receive parks
//! the goroutine; deadlines), on [`NetFd`] over std's own `UdpSocket`
//! (non-blocking), whose calls already return std's address types.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use burrow_sched::netpoll::Direction;
use socket2::{Domain, Protocol, Socket, Type};

use crate::fd::{NetFd, deadline_methods, fd_traits, set_blocking, set_nonblocking};
use crate::resolve::{each_addr, resolve};

/// A UDP socket (Go's `net.UDPConn`): `recv_from` parks the calling
/// goroutine until a datagram arrives, `send_to` until there is room.
pub struct UdpSocket {
    fd: NetFd<std::net::UdpSocket>,
}

fd_traits!(UdpSocket, std::net::UdpSocket);

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
            .finish()
    }
}

impl UdpSocket {
    /// Binds a socket to `addr` (Go's `net.ListenPacket("udp", addr)`),
    /// trying each resolved address in turn.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            let sock = Socket::new(Domain::for_address(*a), Type::DGRAM, Some(Protocol::UDP))?;
            sock.set_nonblocking(true)?;
            sock.bind(&(*a).into())?;
            Ok(UdpSocket {
                fd: NetFd::new(sock.into()),
            })
        })
    }

    /// Sets the default peer: `send` sends there, and `recv` receives only
    /// from there. Tries each resolved address in turn.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.fd.sock().connect(a))
    }

    /// Sends `buf` to `addr` (the first address it resolves to), parking
    /// while the send buffer is full. Returns the bytes sent.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let a = resolve(addr)?[0];
        self.fd.io(Direction::Write, |s| s.send_to(buf, a))
    }

    /// Receives one datagram into `buf`, parking until one arrives;
    /// returns its length and sender. A datagram longer than `buf` is
    /// truncated.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Direction::Read, |s| s.recv_from(buf))
    }

    /// As [`UdpSocket::recv_from`], leaving the datagram in the queue.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Direction::Read, |s| s.peek_from(buf))
    }

    /// Sends `buf` to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Direction::Write, |s| s.send(buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Direction::Read, |s| s.recv(buf))
    }

    /// As [`UdpSocket::recv`], leaving the datagram in the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Direction::Read, |s| s.peek(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().local_addr()
    }

    /// The connected peer's address (`NotConnected` if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.fd.sock().set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.fd.sock().broadcast()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.fd.sock().set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.fd.sock().ttl()
    }

    /// Sets `IP_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.fd.sock().set_multicast_loop_v4(on)
    }

    /// Sets `IP_MULTICAST_TTL`.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.fd.sock().set_multicast_ttl_v4(ttl)
    }

    /// Joins an IPv4 multicast group on `interface`.
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.fd.sock().join_multicast_v4(group, interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.fd.sock().leave_multicast_v4(group, interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface`.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.fd.sock().join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.fd.sock().leave_multicast_v6(group, interface)
    }

    deadline_methods!();

    /// Closes the socket for this process's goroutines: a goroutine
    /// blocked in a receive or send wakes with "use of closed network
    /// connection" (`NotConnected`), as do later calls. The descriptor is
    /// released when the socket is dropped.
    pub fn close(&self) {
        self.fd.close();
    }

    /// A second handle to the same socket (a `dup`ed descriptor with its
    /// own deadlines).
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            fd: NetFd::new(self.fd.sock().try_clone()?),
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared: e.g. the ICMP
    /// "port unreachable" a send to a closed port leaves behind.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.fd.sock().take_error()
    }
}

impl From<std::net::UdpSocket> for UdpSocket {
    /// Takes over a std socket, switching it to non-blocking mode.
    fn from(s: std::net::UdpSocket) -> UdpSocket {
        set_nonblocking(&s);
        UdpSocket { fd: NetFd::new(s) }
    }
}

impl From<UdpSocket> for std::net::UdpSocket {
    /// Gives the socket back as a std socket, in blocking mode.
    fn from(s: UdpSocket) -> std::net::UdpSocket {
        let sock = s.fd.into_inner();
        set_blocking(&sock);
        sock
    }
}
