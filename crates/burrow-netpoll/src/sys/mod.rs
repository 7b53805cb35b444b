//! The OS backends, one of which is chosen at compile time (STYLE rule 7).
//!
//! # The backend contract
//!
//! Written once, here, as the crate-private [`Selector`] and [`RawEvents`]
//! traits; every backend implements them and the rest of the crate uses the
//! chosen one through the [`DefaultSelector`] alias. There is no trait
//! object: the traits exist so the compiler checks that every backend keeps
//! the same contract, and so the unit tests can run the whole poller over
//! each backend compiled on the test machine (on Linux: epoll *and* mio).
//!
//! A selector:
//!
//! 1. **Registers an fd once, edge-triggered**, with a 64-bit `token` that
//!    every event for that fd carries back. Edge-triggered means: after an
//!    event for a direction, the next event for it comes only when the
//!    readiness changes again (new data, new buffer space, a hang-up) — the
//!    owner must drain until `EAGAIN` before it may expect another. On epoll
//!    the flags are Go's, exactly: `EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`
//!    for [`Interest::BOTH`]; on kqueue `EV_ADD|EV_CLEAR` per filter; mio
//!    uses the same edge-triggered flags underneath.
//! 2. **Reports errors as `io::Error`** carrying the OS errno where there is
//!    one (`EBADF` for a closed fd, `EEXIST` for a double registration,
//!    `EPERM` for a file epoll cannot poll). The poller maps them to
//!    [`crate::Error`]; a backend never panics on bad input.
//! 3. **`deregister` removes the fd** from the set. The caller guarantees
//!    the fd is still open (deregister before close); an error from the OS
//!    is harmless because the poller has already forgotten the token (see
//!    *Generations* in `poller.rs`).
//! 4. **`select` waits** up to `timeout` (`None` = forever, zero = do not
//!    block) and fills `events`, replacing what was there. It may return
//!    with no events early (a signal, `EINTR`): the caller loops. Several
//!    threads may call `select` at once; a backend that cannot (mio needs
//!    `&mut` for its `Poll`) returns at once with no events when another
//!    thread is selecting and `timeout` is zero, and otherwise waits its
//!    turn. The scheduler never has two threads *blocked* in `select` (see
//!    *Driving the poller* in `lib.rs`), so the difference is invisible there.
//! 5. **`wake` makes a `select` return**: one in progress, or the next one
//!    if none is in progress. It is callable from any thread and from inside
//!    a `select` on another thread. The wake shows up as an event whose token
//!    is [`WAKE_TOKEN`]; the poller then calls `reset_wake` so the wake does
//!    not fire again. (The poller coalesces wakes, like Go's
//!    `netpollWakeSig`, so a backend sees at most one outstanding `wake`.)
//! 6. **Readiness is reported in the crate's own bits** ([`Readiness`]):
//!    readable, writable, read side closed (`EPOLLRDHUP`, kqueue `EV_EOF`
//!    on the read filter), write side closed (`EPOLLHUP`), error.
//!
//! # Which backend
//!
//! | target | backend | wake |
//! |---|---|---|
//! | Linux, Android | `epoll.rs` (libc) | eventfd, level-triggered (Go's `netpollBreak`) |
//! | macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly (64-bit) | `kqueue.rs` (libc) | a non-blocking pipe (Go's BSD choice) |
//! | anything else (Windows IOCP via mio), or `--cfg burrow_force_mio`, or feature `force-mio` | `mio.rs` | `mio::Waker` |
//!
//! What the two native backends share lives here too, written once: the
//! event buffer [`EventBuf`] (each backend only says how to decode its
//! kernel event, [`SysEvent`]), the `EINTR` rule of `select`, the wake
//! write (`write_wake`: `EAGAIN` means a wake is already pending) and
//! `cvt`. `build.rs` names the kqueue systems once (`cfg(burrow_kqueue)`).
//!
//! Tokens are 64 bits (see *Generations* in `poller.rs`), so the mio and
//! kqueue backends need 64-bit pointers (mio tokens and kqueue `udata` are
//! pointer-sized); 32-bit targets other than Linux are not supported.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::event::{Interest, Readiness};

// Which backend: `burrow_kqueue` is set by `build.rs` for the kqueue systems
// (macOS, iOS, Free/Net/Open/DragonFly BSD, 64-bit); `burrow_force_mio` and
// the `force-mio` feature force mio. The native backends stay compiled when
// mio is forced, so the tests can still run them.

#[cfg(any(target_os = "linux", target_os = "android"))]
#[cfg_attr(
    any(burrow_force_mio, feature = "force-mio"),
    allow(
        dead_code,
        reason = "mio is forced; the native backend stays compiled for the tests"
    )
)]
pub(crate) mod epoll;

#[cfg(burrow_kqueue)]
#[cfg_attr(
    any(burrow_force_mio, feature = "force-mio"),
    allow(
        dead_code,
        reason = "mio is forced; the native backend stays compiled for the tests"
    )
)]
pub(crate) mod kqueue;

// The mio backend is compiled where it is the chosen backend, and for the
// unit tests everywhere, so that `cargo test` on Linux runs both.
#[cfg(any(
    test,
    burrow_force_mio,
    feature = "force-mio",
    not(any(target_os = "linux", target_os = "android", burrow_kqueue))
))]
#[cfg_attr(
    loom,
    allow(dead_code, reason = "the socket suites do not run under loom")
)]
pub(crate) mod mio;

/// The backend this build uses: mio when forced, else the native one.
#[cfg(any(burrow_force_mio, feature = "force-mio"))]
pub(crate) type DefaultSelector = mio::Selector;

/// The backend this build uses: native epoll.
#[cfg(all(
    not(any(burrow_force_mio, feature = "force-mio")),
    any(target_os = "linux", target_os = "android")
))]
pub(crate) type DefaultSelector = epoll::Selector;

/// The backend this build uses: native kqueue.
#[cfg(all(not(any(burrow_force_mio, feature = "force-mio")), burrow_kqueue))]
pub(crate) type DefaultSelector = kqueue::Selector;

/// The backend this build uses: mio, the portable one.
#[cfg(all(
    not(any(burrow_force_mio, feature = "force-mio")),
    not(any(target_os = "linux", target_os = "android", burrow_kqueue))
))]
pub(crate) type DefaultSelector = mio::Selector;

/// The raw event buffer of the chosen backend.
pub(crate) type DefaultRawEvents = <DefaultSelector as Selector>::Events;

/// The token a backend reports for a [`Selector::wake`]. No registration can
/// have it: its slab key would be `u32::MAX`, which the poller never hands
/// out.
pub(crate) const WAKE_TOKEN: u64 = u64::MAX;

/// An OS readiness selector: the backend contract (see the module docs).
pub(crate) trait Selector: Sized + Send + Sync + 'static {
    /// The backend's buffer of raw events, filled by [`Selector::select`].
    type Events: RawEvents;

    /// Short name of the backend, for logs and benchmarks.
    const NAME: &'static str;

    /// Creates the kernel object (epoll instance, kqueue) and the waker.
    fn new() -> io::Result<Self>;

    /// Registers `fd`, edge-triggered, for `interest`, reporting `token`.
    fn register(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()>;

    /// Removes `fd` from the set (rule 3).
    fn deregister(&self, fd: RawFd) -> io::Result<()>;

    /// Waits for events (rule 4), replacing the contents of `events`.
    fn select(&self, events: &mut Self::Events, timeout: Option<Duration>) -> io::Result<()>;

    /// Makes a `select` return (rule 5).
    fn wake(&self) -> io::Result<()>;

    /// Consumes a wake that `select` reported, so it does not fire again.
    fn reset_wake(&self);

    /// The kernel object's fd (epoll or kqueue instance), for diagnostics
    /// and tests.
    fn as_raw_fd(&self) -> RawFd;
}

/// A backend's event buffer.
pub(crate) trait RawEvents: Send + 'static {
    /// A buffer that holds up to `capacity` events per `select`.
    fn with_capacity(capacity: usize) -> Self;

    /// How many events one `select` can return.
    fn capacity(&self) -> usize;

    /// The events of the last `select`, as `(token, readiness)`.
    fn iter(&self) -> impl Iterator<Item = (u64, Readiness)> + '_;
}

/// Rounds `timeout` to whole milliseconds for epoll and mio-like APIs:
/// `None` → -1 (forever), zero → 0, otherwise rounded *up* so that a 100 µs
/// timer does not turn into a busy poll (Go's `netpoll` does the same for
/// delays under 1 ms), clamped to `i32::MAX`.
#[cfg_attr(
    any(
        burrow_force_mio,
        feature = "force-mio",
        not(any(target_os = "linux", target_os = "android"))
    ),
    allow(dead_code, reason = "only epoll takes milliseconds")
)]
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    }
}

/// A libc return value as `io::Result`: negative means `errno`.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", burrow_kqueue)),
    allow(dead_code, reason = "only the native backends make raw syscalls")
)]
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A native backend's event buffer: the array `epoll_wait` or `kevent`
/// fills, of the backend's [`SysEvent`] type.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", burrow_kqueue)),
    allow(dead_code, reason = "only the native backends make raw syscalls")
)]
pub(crate) struct EventBuf<T> {
    buf: Vec<T>,
}

/// One kernel event of a native backend, decoded to the crate's terms.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", burrow_kqueue)),
    allow(dead_code, reason = "only the native backends make raw syscalls")
)]
pub(crate) trait SysEvent: Send + 'static {
    /// The event's token and readiness (rule 6).
    fn decode(&self) -> (u64, Readiness);
}

#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", burrow_kqueue)),
    allow(dead_code, reason = "only the native backends make raw syscalls")
)]
impl<T> EventBuf<T> {
    /// Refills the buffer with a native select syscall: `syscall(ptr, cap)`
    /// writes up to `cap` events at `ptr` and returns how many, or -1 with
    /// `errno`. `EINTR` leaves the buffer empty (rule 4: the caller loops).
    ///
    /// # Safety
    ///
    /// `syscall` must write at most `cap` initialised `T`s starting at `ptr`
    /// and return their number, or return a negative value.
    pub(crate) unsafe fn fill(
        &mut self,
        syscall: impl FnOnce(*mut T, libc::c_int) -> libc::c_int,
    ) -> io::Result<()> {
        self.buf.clear();
        let cap = libc::c_int::try_from(self.buf.capacity()).unwrap_or(libc::c_int::MAX);
        let n = syscall(self.buf.as_mut_ptr(), cap);
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(err);
        }
        // SAFETY: the caller's promise: the syscall initialised the first
        // `n` (≤ cap ≤ capacity) entries.
        unsafe { self.buf.set_len(n as usize) };
        Ok(())
    }
}

impl<T: SysEvent> RawEvents for EventBuf<T> {
    fn with_capacity(capacity: usize) -> EventBuf<T> {
        EventBuf {
            buf: Vec::with_capacity(capacity.max(1)),
        }
    }

    fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn iter(&self) -> impl Iterator<Item = (u64, Readiness)> + '_ {
        self.buf.iter().map(SysEvent::decode)
    }
}

/// Writes `bytes` to a non-blocking wake fd (eventfd, pipe): the native
/// backends' `wake`. `EAGAIN` (the counter or pipe is full) means a wake is
/// pending anyway, so it is success.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", burrow_kqueue)),
    allow(dead_code, reason = "only the native backends make raw syscalls")
)]
pub(crate) fn write_wake(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: writes `bytes.len()` bytes from a live slice to an fd the
    // backend owns.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::WouldBlock {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(100))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(7))), 7);
        assert_eq!(timeout_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }
}
