//! Go's `net` package on goroutines: sockets whose blocking calls park only
//! the calling goroutine.
//!
//! # The problem
//!
//! A server in Go is a goroutine per connection, each written as plain
//! blocking code: `conn.Read` waits for bytes, `conn.Write` for room. Ten
//! thousand idle connections are ten thousand parked goroutines, not ten
//! thousand blocked threads. std's sockets block their thread; tokio's
//! need `async`. These are std-shaped (`Read`, `Write`, `accept`) and park
//! the goroutine instead.
//!
//! # The design (Go's `internal/poll`, seed `003_*`)
//!
//! Every socket is non-blocking from birth and carries a
//! [`burrow_sched::netpoll::PollFd`]. A call tries the system call first
//! and parks only when the kernel says `EAGAIN` (Go's `fd_unix.go`):
//!
//! 1. `pfd.check(dir)`: fail at once if the socket was closed or the
//!    deadline of this direction has passed;
//! 2. the system call (`read`, `write`, `accept`, `connect`'s completion);
//! 3. on `EAGAIN`, `pfd.wait(dir)`: the goroutine parks on the runtime's
//!    netpoller until the socket may be ready, the deadline passes, or
//!    the socket is closed; then back to 1.
//!
//! One exception: after a TCP read that returned less than it asked for
//! (the receive buffer was drained), the next read waits first and skips
//! the call that would say `EAGAIN` (*Short reads* in `docs/net.md`).
//!
//! The scheduler polls the netpoller itself (no poller thread: see
//! `docs/net.md` for the two pictures and why Go's wins), so the goroutine
//! whose data arrived runs on the M that saw the event.
//!
//! Outside a goroutine the same calls block the thread (in `poll(2)`), so
//! these types also work from plain threads.
//!
//! # Deadlines
//!
//! Go's semantics: [`TcpStream::set_read_deadline`] and friends take an
//! instant; once it has passed, the pending call and every later one fail
//! with [`std::io::ErrorKind::TimedOut`] until the deadline is moved.
//! Moving it from another goroutine wakes the blocked one. Setting a
//! deadline is a store: no timer is touched until a call waits, and the
//! timer a wait arms stays armed across later waits, re-checking the
//! deadline when it fires (*The armed timer* in burrow-sched's
//! `netpoll.rs`), so a server may move its deadlines on every request.
//!
//! # Why socket2
//!
//! `socket2` (a thin, well-kept layer over the socket calls, used by
//! tokio and mio) makes sockets non-blocking and close-on-exec at
//! creation, starts a non-blocking `connect`, and sets the options std
//! does not expose (`SO_REUSEPORT`). The I/O loop and the parking are ours.

mod fd;
mod resolve;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use fd::accept_backoffs;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
