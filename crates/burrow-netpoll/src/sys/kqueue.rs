//! The native BSD/macOS backend: kqueue through libc, as Go's
//! `runtime/netpoll_kqueue.go` does it.
//!
//! - `netpollinit`: `kqueue()` marked close-on-exec, and a non-blocking
//!   pipe whose read end is registered for `EVFILT_READ` (level-triggered):
//!   writing a byte is the wake (Go's `netpollBreak` on the BSDs). One
//!   mechanism for every BSD: NetBSD and OpenBSD lack `EVFILT_USER`.
//! - `netpollopen`: `EVFILT_READ` and `EVFILT_WRITE`, each `EV_ADD|EV_CLEAR`
//!   (edge-triggered), the token in `udata`.
//! - Readiness: as Go, an `EVFILT_READ` event with `EV_EOF` wakes the write
//!   direction too (some systems never send `EVFILT_WRITE` when a pipe's
//!   read end closes); `EV_ERROR` is an error.
//!
//! Compiled (`cargo check --target x86_64-unknown-freebsd` and
//! `aarch64-apple-darwin`) but not run: this workspace has no BSD or macOS
//! machine. See `docs/netpoll.md`.

#![allow(
    clippy::unnecessary_cast,
    reason = "kevent field and constant types differ between macOS and the BSDs"
)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::time::Duration;

use super::{EventBuf, Selector as SelectorContract, SysEvent, WAKE_TOKEN, cvt, write_wake};
use crate::event::{Interest, Readiness};

/// The kqueue selector: the kqueue and its wake pipe.
#[derive(Debug)]
pub(crate) struct Selector {
    kq: OwnedFd,
    wake_rd: OwnedFd,
    wake_wr: OwnedFd,
}

/// A buffer for `kevent`.
pub(crate) type Events = EventBuf<KEvent>;

/// A `libc::kevent`, made `Send`.
#[repr(transparent)]
pub(crate) struct KEvent(libc::kevent);

// SAFETY: `libc::kevent` holds a `udata` pointer that we only ever use as an
// integer (our token); the event owns no memory through it.
unsafe impl Send for KEvent {}

fn set_cloexec_nonblock(fd: RawFd, nonblock: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own, no memory arguments.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    if nonblock {
        // SAFETY: as above.
        let fl = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// A zeroed `kevent` for `fd`, `filter`, `flags` carrying `token`.
fn change(fd: RawFd, filter: i16, flags: u16, token: u64) -> libc::kevent {
    // SAFETY: kevent is plain old data; all-zero is a valid value.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = fd as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    // The token is an integer carried in the pointer-sized udata (64-bit
    // targets only, see sys/mod.rs); it is never dereferenced.
    ev.udata = token as usize as _;
    ev
}

impl Selector {
    fn apply(&self, changes: &[libc::kevent]) -> io::Result<()> {
        // SAFETY: `changes` is a live slice of initialised kevents; no events
        // are read back (nevents 0, null buffer), no timeout.
        cvt(unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                changes.as_ptr(),
                changes.len() as _,
                ptr::null_mut(),
                0,
                ptr::null(),
            )
        })?;
        Ok(())
    }
}

impl SelectorContract for Selector {
    type Events = Events;
    const NAME: &'static str = "kqueue";

    fn new() -> io::Result<Selector> {
        // SAFETY: kqueue has no preconditions.
        let kq = cvt(unsafe { libc::kqueue() })?;
        // SAFETY: a fresh fd owned by no one else.
        let kq = unsafe { OwnedFd::from_raw_fd(kq) };
        set_cloexec_nonblock(kq.as_raw_fd(), false)?;
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two fds pipe writes.
        cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        // SAFETY: both fds are fresh and owned by no one else.
        let (wake_rd, wake_wr) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        set_cloexec_nonblock(wake_rd.as_raw_fd(), true)?;
        set_cloexec_nonblock(wake_wr.as_raw_fd(), true)?;
        let sel = Selector {
            kq,
            wake_rd,
            wake_wr,
        };
        sel.apply(&[change(
            sel.wake_rd.as_raw_fd(),
            libc::EVFILT_READ as i16,
            libc::EV_ADD as u16,
            WAKE_TOKEN,
        )])?;
        Ok(sel)
    }

    fn register(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let flags = (libc::EV_ADD | libc::EV_CLEAR) as u16;
        let mut changes = Vec::with_capacity(2);
        if interest.is_read() {
            changes.push(change(fd, libc::EVFILT_READ as i16, flags, token));
        }
        if interest.is_write() {
            changes.push(change(fd, libc::EVFILT_WRITE as i16, flags, token));
        }
        self.apply(&changes)
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        // One filter may not have been registered (ENOENT): delete each on
        // its own and report only other errors.
        let mut result = Ok(());
        for filter in [libc::EVFILT_READ as i16, libc::EVFILT_WRITE as i16] {
            if let Err(e) = self.apply(&[change(fd, filter, libc::EV_DELETE as u16, 0)]) {
                if e.raw_os_error() != Some(libc::ENOENT) {
                    result = Err(e);
                }
            }
        }
        result
    }

    fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as _,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(ptr::null(), |t| t as *const libc::timespec);
        let kq = self.kq.as_raw_fd();
        // SAFETY: kevent writes at most `cap` initialised events at `ptr` (the
        // buffer's spare room) and returns how many, or -1; `ts_ptr` is null
        // or points at a live timespec.
        unsafe {
            events.fill(|ptr, cap| {
                // `KEvent` is a transparent `libc::kevent`.
                libc::kevent(kq, ptr::null(), 0, ptr.cast(), cap as _, ts_ptr)
            })
        }
    }

    fn wake(&self) -> io::Result<()> {
        write_wake(self.wake_wr.as_raw_fd(), &[0])
    }

    fn reset_wake(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads at most 64 bytes into a live buffer from our pipe.
            let n =
                unsafe { libc::read(self.wake_rd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
        }
    }

    fn as_raw_fd(&self) -> RawFd {
        self.kq.as_raw_fd()
    }
}

impl SysEvent for KEvent {
    fn decode(&self) -> (u64, Readiness) {
        let ev = &self.0;
        let mut r = Readiness::EMPTY;
        let eof = ev.flags as u32 & libc::EV_EOF as u32 != 0;
        if ev.filter as i32 == libc::EVFILT_READ as i32 {
            r |= Readiness::READABLE;
            if eof {
                // Go: wake writers too on a read-side EOF.
                r |= Readiness::READ_CLOSED | Readiness::WRITE_CLOSED;
            }
        } else if ev.filter as i32 == libc::EVFILT_WRITE as i32 {
            r |= Readiness::WRITABLE;
            if eof {
                r |= Readiness::WRITE_CLOSED;
            }
        }
        if ev.flags as u32 & libc::EV_ERROR as u32 != 0 {
            r |= Readiness::ERROR;
        }
        (ev.udata as usize as u64, r)
    }
}
