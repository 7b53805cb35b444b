//! Go's network poller as a standalone crate: readiness for sockets, with
//! per-fd waiter slots a scheduler parks its goroutines in.
//!
//! # The problem
//!
//! A goroutine that reads from a socket must not hold its thread while no
//! data is there: ten thousand idle connections cannot be ten thousand
//! blocked threads. Go's answer is the *netpoller*: every socket is
//! non-blocking; a read that gets `EAGAIN` parks the goroutine on the
//! socket's `pollDesc`; one kernel readiness queue (epoll, kqueue, IOCP)
//! tells the scheduler which sockets became ready, and the scheduler makes
//! the parked goroutines runnable again.
//!
//! # Go's design (`runtime/netpoll.go`, `netpoll_epoll.go`)
//!
//! - `netpollinit`: `epoll_create1(EPOLL_CLOEXEC)`, plus an eventfd for
//!   `netpollBreak` (interrupting a blocked `epoll_wait`).
//! - `netpollopen`: each fd is registered **once**, for
//!   `EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`: both directions, edge-triggered,
//!   never modified afterwards. Edge-triggered events cost nothing while no
//!   one waits, so there is no re-arming syscall per wait.
//! - `pollDesc`: per-fd state from a type-stable cache, with `rg`/`wg`
//!   slots each holding nothing, `pdReady` (an edge came while no one
//!   waited) or a parked G; `closing`; sequence numbers; deadlines.
//! - `netpoll(delay)`: `epoll_wait`, then for each event `netpollready`
//!   hands back the Gs parked in the ready directions (both on hang-up or
//!   error) and records `pdReady` where no one waits.
//! - Reads try the syscall first and park only on `EAGAIN`.
//!
//! # This crate
//!
//! - [`Poller`]: [`register`](Poller::register) an fd once (Go's flags),
//!   [`deregister`](Poller::deregister),
//!   [`poll`](Poller::poll)`(&mut Events, timeout)`, [`wake`](Poller::wake)
//!   from any thread. `Poller` is `Sync`: share it in an `Arc`.
//! - [`PollDesc`]: the per-fd state, returned in an `Arc` by `register`, with
//!   a stable [`Token`]. Its read and write slots hold a waiter of the
//!   caller's type `W` (the scheduler stores a G handle; a plain event loop
//!   may use `()`), see *Waiter slots* in `poll_desc.rs`.
//! - [`Events`]: what a poll returns: the [`Event`]s (token + readiness) and
//!   the waiters made ready, each handed back exactly once.
//! - Descriptors live in a `slab` with a generation in every token, so an
//!   event for a closed fd never reaches the next owner of the fd number
//!   (see *Generations* in `poller.rs`).
//! - Backends are chosen at compile time into `sys` (contract in
//!   `sys/mod.rs`): native epoll (Linux), native kqueue (BSD, macOS), mio
//!   (everything else; forced on Linux by `--cfg burrow_force_mio` or the
//!   `force-mio` feature; the unit tests run epoll and mio both).
//!
//! # Driving the poller
//!
//! Two pictures of who calls `poll`. The simple one (the seeds draw it): a
//! dedicated poller thread blocks in `epoll_wait` forever and hands ready
//! goroutines to the scheduler. It costs a thread hop per event (the poller
//! wakes, then must wake an M to run the G: two context switches where one
//! would do) and the poller thread is a lone hot spot.
//!
//! Go's real design, which `burrow-sched` follows (DESIGN.md §4): there is
//! no poller thread. `schedule()`, when an M finds no local or global work,
//! calls `poll` **without blocking** and runs what it returns itself; only
//! the **last idle M** blocks in `poll`, with the time to the next timer as
//! timeout, and anyone who makes work (a new G, a timer moved earlier) calls
//! [`Poller::wake`] to pull it out; **sysmon** calls `poll` without blocking
//! when no one has for 10 ms, so a busy scheduler that never idles still
//! sees the network. The G that becomes ready runs on the M that polled:
//! no hop. At most one thread blocks in `poll` at a time (Go's
//! `sched.lastpoll == 0`); non-blocking polls from other Ms may run
//! alongside.
//!
//! A waiter parks in two steps, as Go's `netpollblock`: the G tries the
//! syscall; on `EAGAIN` it switches to the scheduler, whose commit hook
//! calls [`PollDesc::park`]. If readiness was recorded meanwhile, `park`
//! returns the waiter ([`Park::Ready`]) and the G is run again at once.
//! Deadlines are the scheduler's timers calling [`PollDesc::unblock`].
//!
//! # Alternatives rejected
//!
//! - *Only mio*: mio does not expose Go's pdReady slots, gives no control of
//!   the wake path, and needs `&mut` to poll, so two Ms cannot poll at
//!   once. We keep it as the portable backend (Windows IOCP).
//! - *The `polling` crate*: oneshot registration, so every wait re-arms with
//!   an `epoll_ctl` syscall; Go's edge-triggered register-once avoids it.
//! - *Slots that hold only a pointer* (Go's exact `rg`/`wg`: the G pointer
//!   is the word): would force `W` to be one word. We keep Go's two-phase
//!   CAS protocol on a state word and put the waiter in a cell beside it,
//!   owned by whoever the word names (see *Lock-free slots* in
//!   `poll_desc.rs`), so `W` stays anything `Send`.
//! - *A per-descriptor mutex around the slots* (this crate's first
//!   version): a lock and an unlock on every event even when no one waits,
//!   and a parker preempted inside the lock stalls the poller. The profile
//!   of `netpoll_events` showed the lock-free slots cut the poller's own
//!   user-space time by about a third (`docs/netpoll.md`).
//! - *Descriptors in dense blocks* (Go's `pollcache`), or a `repr(C)`
//!   layout with the token kept in the slab beside the pointer so one
//!   cache line serves each touch, or a first pass over each batch that
//!   touches every descriptor so the misses overlap: measured, no gain
//!   (the touch pass was worse). Per event the
//!   socket syscalls evict the descriptor's line wherever it lies, and the
//!   `Arc`s of descriptors registered in a row already sit one after
//!   another. Giving the bench's mio side our 64-byte footprint cost it
//!   only ~0.1 % of run time, which bounds what density could win; all of
//!   burrow's own per-event work is 0.16–0.5 % of `netpoll_events`, with
//!   the kernel doing the rest (`docs/netpoll.md`, *Round 3*).
//!
//! # Contract for callers
//!
//! Deregister an fd before closing it: closing first lets the kernel reuse
//! the number, and a later `deregister` would remove the new file's
//! registration. (Stale *events* are always safe: generations drop them.)

#[cfg(not(unix))]
compile_error!("burrow-netpoll takes raw unix fds; non-unix targets are not supported yet");

mod error;
mod event;
mod loom;
mod poll_desc;
mod poller;
mod sys;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, Result};
pub use event::{Direction, Event, Interest, Readiness, Token};
pub use poll_desc::{Park, PollDesc, Waiters};

use poller::{DEFAULT_EVENTS, EventsCore, PollerCore};
use sys::{DefaultRawEvents, DefaultSelector, RawEvents as _};

/// The netpoller: one kernel readiness queue and the table of registered
/// descriptors. `W` is the waiter type stored in descriptor slots.
///
/// All methods take `&self`; `Poller` is `Send + Sync` when `W: Send`.
pub struct Poller<W = ()> {
    core: PollerCore<W, DefaultSelector>,
}

/// The buffer [`Poller::poll`] fills: delivered events and ready waiters.
///
/// Reuse one per polling thread; its capacity bounds how many kernel events
/// one poll takes (more stay queued for the next poll).
pub struct Events<W = ()> {
    core: EventsCore<W, DefaultRawEvents>,
}

impl<W: Send> Poller<W> {
    /// Creates a poller (Go's `netpollinit`).
    pub fn new() -> Result<Poller<W>> {
        Ok(Poller {
            core: PollerCore::new()?,
        })
    }

    /// Registers `fd`, edge-triggered, for `interest` (Go's `netpollopen`;
    /// [`Interest::BOTH`] gives Go's exact flags). The fd must stay open
    /// until [`Poller::deregister`].
    ///
    /// Errors: [`Error::InvalidFd`] for a negative or closed fd,
    /// [`Error::AlreadyRegistered`], [`Error::NotPollable`] (a regular file
    /// under epoll).
    pub fn register(&self, fd: RawFd, interest: Interest) -> Result<Arc<PollDesc<W>>> {
        self.core.register(fd, interest)
    }

    /// Removes `pd` from the poller and marks it closing; returns the
    /// waiters that were parked on it so the caller can wake them (with an
    /// error: Go's `errClosing`). Call it before closing the fd.
    ///
    /// Errors: [`Error::NotRegistered`] if `pd` was already deregistered or
    /// belongs to another poller.
    pub fn deregister(&self, pd: &Arc<PollDesc<W>>) -> Result<Waiters<W>> {
        self.core.deregister(pd)
    }

    /// Waits up to `timeout` (`None`: forever; zero: do not block) and
    /// fills `events` (Go's `netpoll(delay)`). Returns the number of
    /// events delivered; zero on timeout, on a [`wake`](Poller::wake)
    /// ([`Events::is_woken`]) or on a signal.
    pub fn poll(&self, events: &mut Events<W>, timeout: Option<Duration>) -> Result<usize> {
        self.core.poll(&mut events.core, timeout)
    }

    /// `poll` without blocking: what `schedule()` and sysmon call.
    pub fn poll_now(&self, events: &mut Events<W>) -> Result<usize> {
        self.poll(events, Some(Duration::ZERO))
    }

    /// Makes a blocked `poll` return, or the next one if none is blocked
    /// (Go's `netpollBreak`). Callable from any thread; wakes that arrive
    /// while one is pending are coalesced into one syscall.
    pub fn wake(&self) -> Result<()> {
        self.core.wake()
    }

    /// The backend compiled in: `"epoll"`, `"kqueue"` or `"mio"`.
    pub fn backend(&self) -> &'static str {
        self.core.backend()
    }

    /// Number of registered descriptors.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no descriptor is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The epoll/kqueue fd, for diagnostics (`/proc/self/fdinfo`).
    pub fn as_raw_fd(&self) -> RawFd {
        self.core.raw_fd()
    }
}

impl<W> std::fmt::Debug for Poller<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("backend", &<DefaultSelector as sys::Selector>::NAME)
            .finish_non_exhaustive()
    }
}

impl<W> Events<W> {
    /// A buffer for up to 128 kernel events per poll (Go's batch size).
    pub fn new() -> Events<W> {
        Events::with_capacity(DEFAULT_EVENTS)
    }

    /// A buffer for up to `capacity` kernel events per poll.
    pub fn with_capacity(capacity: usize) -> Events<W> {
        Events {
            core: EventsCore::with_capacity(capacity),
        }
    }

    /// How many kernel events one poll can take.
    pub fn capacity(&self) -> usize {
        self.core.raw.capacity()
    }

    /// The events the last poll delivered (stale ones already dropped).
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.core.events.iter()
    }

    /// Number of events delivered by the last poll.
    pub fn len(&self) -> usize {
        self.core.events.len()
    }

    /// Whether the last poll delivered no event.
    pub fn is_empty(&self) -> bool {
        self.core.events.is_empty()
    }

    /// The waiters the last poll made ready, in event order.
    pub fn waiters(&self) -> &[W] {
        &self.core.waiters
    }

    /// Takes the waiters the last poll made ready (Go's `gList`): each is
    /// handed out once.
    pub fn drain_waiters(&mut self) -> std::vec::Drain<'_, W> {
        self.core.waiters.drain(..)
    }

    /// Whether the last poll saw a [`Poller::wake`].
    pub fn is_woken(&self) -> bool {
        self.core.woken
    }

    /// How many stale events (for a deregistered token) the last poll
    /// dropped.
    pub fn stale(&self) -> usize {
        self.core.stale
    }
}

impl<W> Default for Events<W> {
    fn default() -> Events<W> {
        Events::new()
    }
}

impl<'a, W> IntoIterator for &'a Events<W> {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<W> std::fmt::Debug for Events<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("events", &self.core.events)
            .field("waiters", &self.core.waiters.len())
            .field("woken", &self.core.woken)
            .field("stale", &self.core.stale)
            .finish()
    }
}
