//! `PollDesc`: the per-fd state (Go's `pollDesc` in `runtime/netpoll.go`).
//!
//! # Waiter slots
//!
//! Each descriptor has a read slot and a write slot (Go's `rg` and `wg`).
//! A slot is in one of three states, Go's `pdNil`, `pdReady` and "a G":
//!
//! ```text
//!              park(w)                     event for the direction
//!   Empty ─────────────────▶ Waiting(w) ─────────────────────────▶ Empty   (w handed back)
//!     │  ▲                        │
//!     │  │ park(w): returns       │ unblock / close
//!     │  │ Ready(w), not parked   ▼
//!     │  └──────── Ready        Empty  (w handed back, no readiness)
//!     └──────────────▲
//!        event with no waiter (Go's pdReady: readiness is recorded)
//! ```
//!
//! - An event for a direction hands back the waiter parked there, **exactly
//!   once** (the waiter is moved out of the slot), or, if no one waits,
//!   records `Ready` so that the next `park` returns at once instead of
//!   sleeping through an edge that already happened (edge-triggered polling
//!   never repeats it).
//! - Go leaves `pdReady` in the slot when it hands a G back and the G clears
//!   it when it runs; handing the waiter back *is* the readiness, so we go
//!   straight to `Empty`. The two are equivalent.
//! - `unblock` (a deadline fired) hands the waiter back without readiness:
//!   the scheduler's timer decides the G's fate (`TimedOut`), as in Go's
//!   `netpollunblock(pd, mode, ioready=false)`.
//! - `close` sets `closing` and hands back both waiters; `park` on a closing
//!   descriptor refuses (`Park::Closing`), so no waiter can be stranded in a
//!   descriptor no event will ever reach.
//!
//! # Locking
//!
//! Go makes the slots lock-free (CAS on a `uintptr` holding a G pointer or a
//! sentinel), which needs the waiter to fit a word and a two-phase park
//! (`pdWait`, then commit). Our waiter is any `W: Send` the caller chooses,
//! so the slots sit behind one small mutex per descriptor: uncontended in
//! the common case (a goroutine parks, later one poller delivers), a handful
//! of nanoseconds, and a one-phase `park` the scheduler calls from its park
//! commit hook (on g0, after the G is off its stack — Go's
//! `netpollblockcommit`). Who touches what: the owner's goroutine calls
//! `park`; pollers call `ready` (under the table's read lock, see
//! `poller.rs`); timers call `unblock`; `deregister` calls `close`. All of
//! it goes through `state`.

use std::fmt;
use std::os::fd::RawFd;
use std::sync::PoisonError;

use crate::event::{Direction, Interest, Readiness, Token};
use crate::loom::Mutex;

/// One registered fd: its token, and its waiter slots.
///
/// Returned (in an `Arc`) by [`crate::Poller::register`]. The scheduler
/// keeps it next to its socket and parks goroutines on it.
pub struct PollDesc<W> {
    fd: RawFd,
    token: Token,
    interest: Interest,
    state: Mutex<PdState<W>>,
}

/// A waiter slot (see *Waiter slots*).
enum Slot<W> {
    /// No waiter, no recorded readiness (Go's `pdNil`).
    Empty,
    /// Readiness arrived while no one waited (Go's `pdReady`).
    Ready,
    /// A parked waiter (Go's G pointer).
    Waiting(W),
}

struct PdState<W> {
    rg: Slot<W>,
    wg: Slot<W>,
    /// Set by `close`; never cleared (a descriptor is not reused: the slab
    /// makes a new one).
    closing: bool,
    /// Readiness edges seen per direction (Go's `rseq`/`wseq` role: tell
    /// whether something happened since a given moment).
    rseq: u64,
    wseq: u64,
    /// An event carried only an error (Go's `setEventErr`).
    event_err: bool,
}

/// The outcome of [`PollDesc::park`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a waiter that did not park must be run by the caller"]
pub enum Park<W> {
    /// The waiter is stored; a later event, `unblock` or `close` hands it
    /// back.
    Parked,
    /// Readiness was recorded before anyone waited (Go's `pdReady`); it is
    /// consumed now. The waiter is handed back: retry the I/O.
    Ready(W),
    /// The descriptor is closing (deregistered); the waiter is handed back.
    Closing(W),
    /// Another waiter already waits in this direction (Go throws "double
    /// wait"); this one is handed back.
    Busy(W),
}

/// Waiters handed back by [`crate::Poller::deregister`] or
/// [`PollDesc::close`]: whoever was parked in each direction.
#[derive(Debug, PartialEq, Eq)]
pub struct Waiters<W> {
    /// The waiter parked for reading, if any.
    pub read: Option<W>,
    /// The waiter parked for writing, if any.
    pub write: Option<W>,
}

impl<W> IntoIterator for Waiters<W> {
    type Item = W;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<W>, 2>>;
    fn into_iter(self) -> Self::IntoIter {
        [self.read, self.write].into_iter().flatten()
    }
}

impl<W> PdState<W> {
    fn slot(&mut self, dir: Direction) -> &mut Slot<W> {
        match dir {
            Direction::Read => &mut self.rg,
            Direction::Write => &mut self.wg,
        }
    }
}

impl<W> PollDesc<W> {
    pub(crate) fn new(fd: RawFd, token: Token, interest: Interest) -> PollDesc<W> {
        PollDesc {
            fd,
            token,
            interest,
            state: Mutex::new(PdState {
                rg: Slot::Empty,
                wg: Slot::Empty,
                closing: false,
                rseq: 0,
                wseq: 0,
                event_err: false,
            }),
        }
    }

    fn lock(&self) -> crate::loom::MutexGuard<'_, PdState<W>> {
        // Nothing panics while the lock is held; if something ever did, the
        // slots are still consistent (each change is one assignment).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The registered fd.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The stable token of this registration.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The interest it was registered with.
    pub fn interest(&self) -> Interest {
        self.interest
    }

    /// Parks `waiter` in direction `dir`, unless readiness was already
    /// recorded (see *Waiter slots*). Call it after the I/O returned
    /// `EAGAIN`.
    pub fn park(&self, dir: Direction, waiter: W) -> Park<W> {
        let mut st = self.lock();
        if st.closing {
            return Park::Closing(waiter);
        }
        let slot = st.slot(dir);
        match slot {
            Slot::Ready => {
                *slot = Slot::Empty;
                Park::Ready(waiter)
            }
            Slot::Empty => {
                *slot = Slot::Waiting(waiter);
                Park::Parked
            }
            Slot::Waiting(_) => Park::Busy(waiter),
        }
    }

    /// Takes the waiter parked in `dir` without readiness (a deadline
    /// fired: Go's `netpollunblock(pd, mode, false)`). `None` if no one
    /// waits.
    pub fn unblock(&self, dir: Direction) -> Option<W> {
        let mut st = self.lock();
        let slot = st.slot(dir);
        match std::mem::replace(slot, Slot::Empty) {
            Slot::Waiting(w) => Some(w),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Marks the descriptor closing and hands back both waiters (Go's
    /// `poll_runtime_pollUnblock`). Later `park`s return `Closing`; later
    /// events are ignored. [`crate::Poller::deregister`] calls this.
    pub fn close(&self) -> Waiters<W> {
        let mut st = self.lock();
        st.closing = true;
        // Like Go's `netpollunblock(pd, mode, false)`: take a waiter, leave
        // a recorded `Ready` alone.
        let take = |s: &mut Slot<W>| match std::mem::replace(s, Slot::Empty) {
            Slot::Waiting(w) => Some(w),
            other => {
                *s = other;
                None
            }
        };
        let read = take(&mut st.rg);
        let write = take(&mut st.wg);
        Waiters { read, write }
    }

    /// Whether [`PollDesc::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// Whether readiness is recorded for `dir` and not yet consumed.
    pub fn is_ready(&self, dir: Direction) -> bool {
        matches!(self.lock().slot(dir), Slot::Ready)
    }

    /// Whether a waiter is parked in `dir`.
    pub fn has_waiter(&self, dir: Direction) -> bool {
        matches!(self.lock().slot(dir), Slot::Waiting(_))
    }

    /// How many readiness events reached direction `dir` so far.
    pub fn ready_seq(&self, dir: Direction) -> u64 {
        let st = self.lock();
        match dir {
            Direction::Read => st.rseq,
            Direction::Write => st.wseq,
        }
    }

    /// Whether an event reported only an error (Go's `pd.info` event-error
    /// bit: the next I/O will return it).
    pub fn event_err(&self) -> bool {
        self.lock().event_err
    }

    /// Applies one event (Go's `netpollready`): hands waiters of the ready
    /// directions to `out`, or records readiness. Returns false if the
    /// descriptor is closing and the event was dropped.
    pub(crate) fn ready(&self, readiness: Readiness, out: &mut Vec<W>) -> bool {
        let mut st = self.lock();
        if st.closing {
            return false;
        }
        if readiness == Readiness::ERROR {
            st.event_err = true;
        }
        for dir in [Direction::Read, Direction::Write] {
            if !readiness.wakes(dir) {
                continue;
            }
            match dir {
                Direction::Read => st.rseq += 1,
                Direction::Write => st.wseq += 1,
            }
            let slot = st.slot(dir);
            match std::mem::replace(slot, Slot::Ready) {
                Slot::Waiting(w) => {
                    *slot = Slot::Empty;
                    out.push(w);
                }
                Slot::Ready | Slot::Empty => {}
            }
        }
        true
    }
}

impl<W> fmt::Debug for PollDesc<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        let name = |s: &Slot<W>| match s {
            Slot::Empty => "empty",
            Slot::Ready => "ready",
            Slot::Waiting(_) => "waiting",
        };
        f.debug_struct("PollDesc")
            .field("fd", &self.fd)
            .field("token", &self.token)
            .field("interest", &self.interest)
            .field("rg", &name(&st.rg))
            .field("wg", &name(&st.wg))
            .field("closing", &st.closing)
            .field("rseq", &st.rseq)
            .field("wseq", &st.wseq)
            .finish()
    }
}
