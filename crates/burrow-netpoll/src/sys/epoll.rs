//! The native Linux backend: epoll through libc, as Go's
//! `runtime/netpoll_epoll.go` does it.
//!
//! - `netpollinit`: `epoll_create1(EPOLL_CLOEXEC)` and an eventfd
//!   (`EFD_CLOEXEC|EFD_NONBLOCK`) registered *level-triggered* for `EPOLLIN`
//!   — the wake (Go's `netpollBreak`) stays visible until it is read.
//! - `netpollopen`: `EPOLL_CTL_ADD` with [`GO_FLAGS`] =
//!   `EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`, the token in `epoll_data`.
//! - `netpoll(delay)`: `epoll_wait` with the delay in milliseconds (rounded
//!   up), `EINTR` returns no events.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{
    EventBuf, Selector as SelectorContract, SysEvent, WAKE_TOKEN, cvt, timeout_ms, write_wake,
};
use crate::event::{Interest, Readiness};

/// Go's registration flags for a socket: both directions, read-side
/// hang-up, edge-triggered (`netpollopen` in `netpoll_epoll.go`).
pub(crate) const GO_FLAGS: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// The epoll selector: the epoll instance and its wake eventfd.
#[derive(Debug)]
pub(crate) struct Selector {
    epfd: OwnedFd,
    wake_fd: OwnedFd,
}

/// A buffer for `epoll_wait`.
pub(crate) type Events = EventBuf<libc::epoll_event>;

/// The epoll flags for `interest`: Go's for [`Interest::BOTH`].
pub(crate) fn flags_for(interest: Interest) -> u32 {
    if interest == Interest::BOTH {
        return GO_FLAGS;
    }
    let mut flags = (libc::EPOLLET | libc::EPOLLRDHUP) as u32;
    if interest.is_read() {
        flags |= libc::EPOLLIN as u32;
    }
    if interest.is_write() {
        flags |= libc::EPOLLOUT as u32;
    }
    flags
}

fn readiness(bits: u32) -> Readiness {
    let mut r = Readiness::EMPTY;
    if bits & libc::EPOLLIN as u32 != 0 {
        r |= Readiness::READABLE;
    }
    if bits & libc::EPOLLOUT as u32 != 0 {
        r |= Readiness::WRITABLE;
    }
    if bits & libc::EPOLLRDHUP as u32 != 0 {
        r |= Readiness::READ_CLOSED;
    }
    if bits & libc::EPOLLHUP as u32 != 0 {
        r |= Readiness::READ_CLOSED | Readiness::WRITE_CLOSED;
    }
    if bits & libc::EPOLLERR as u32 != 0 {
        r |= Readiness::ERROR;
    }
    r
}

impl SelectorContract for Selector {
    type Events = Events;
    const NAME: &'static str = "epoll";

    fn new() -> io::Result<Selector> {
        // SAFETY: epoll_create1 has no memory preconditions.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epfd was just returned by the kernel and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        // SAFETY: eventfd has no memory preconditions.
        let wake_fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: as above, a fresh fd owned by no one else.
        let wake_fd = unsafe { OwnedFd::from_raw_fd(wake_fd) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_TOKEN,
        };
        // SAFETY: both fds are open; `ev` is a valid epoll_event for the call.
        cvt(unsafe {
            libc::epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                wake_fd.as_raw_fd(),
                &mut ev,
            )
        })?;
        Ok(Selector { epfd, wake_fd })
    }

    fn register(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: flags_for(interest),
            u64: token,
        };
        // SAFETY: `ev` is valid for the call; a bad `fd` is reported by the
        // kernel as EBADF, not undefined behaviour.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        // A non-null event pointer keeps pre-2.6.9 kernels happy, as Go does.
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is valid for the call; a bad fd is an error return.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let epfd = self.epfd.as_raw_fd();
        let ms = timeout_ms(timeout);
        // SAFETY: epoll_wait writes at most `cap` initialised events at `ptr`
        // (the buffer's spare room) and returns how many, or -1.
        unsafe { events.fill(|ptr, cap| libc::epoll_wait(epfd, ptr, cap, ms)) }
    }

    fn wake(&self) -> io::Result<()> {
        write_wake(self.wake_fd.as_raw_fd(), &1u64.to_ne_bytes())
    }

    fn reset_wake(&self) {
        let mut buf: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from our own eventfd.
        // EAGAIN (another poller already reset it) is fine to ignore.
        let _ = unsafe {
            libc::read(
                self.wake_fd.as_raw_fd(),
                (&raw mut buf).cast(),
                size_of::<u64>(),
            )
        };
    }

    fn as_raw_fd(&self) -> RawFd {
        self.epfd.as_raw_fd()
    }
}

impl SysEvent for libc::epoll_event {
    fn decode(&self) -> (u64, Readiness) {
        // Copy out of the (packed on x86_64) struct before use.
        let (token, bits) = (self.u64, self.events);
        (token, readiness(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_flags_are_gos() {
        // EPOLLIN 0x1, EPOLLOUT 0x4, EPOLLRDHUP 0x2000, EPOLLET 1<<31.
        assert_eq!(GO_FLAGS, 0x8000_2005);
        assert_eq!(flags_for(Interest::BOTH), GO_FLAGS);
    }

    #[test]
    fn hangup_maps_to_both_closed_bits() {
        let r = readiness((libc::EPOLLHUP | libc::EPOLLIN) as u32);
        assert!(r.is_read_closed() && r.is_write_closed());
        assert!(r.wakes_read() && r.wakes_write());
        assert!(readiness(libc::EPOLLERR as u32).is_error());
    }
}
