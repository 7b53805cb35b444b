//! `PollDesc`: the per-fd state (Go's `pollDesc` in `runtime/netpoll.go`).
//!
//! # Waiter slots
//!
//! Each descriptor has a read slot and a write slot (Go's `rg` and `wg`).
//! Seen from outside, a slot is in one of three states, Go's `pdNil`,
//! `pdReady` and "a G":
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
//! # Lock-free slots
//!
//! Go makes each slot one word, CAS'd between `pdNil`, `pdReady`, `pdWait`
//! and a G pointer. Our waiter is any `W: Send` the caller chooses, not
//! necessarily a word, so a slot is two parts: a **state word**
//! (`AtomicU64`) and a **cell** beside it that holds the waiter while one
//! is parked. All coordination is CAS on the state word; the cell is only
//! ever touched by the one thread the state word names as its owner. The
//! word packs (bit layout in the `ST_*`/`CLOSING`/`SEQ_ONE` constants):
//!
//! - the slot state (3 bits): `EMPTY`, `READY`, `CLAIMED` (Go's `pdWait`:
//!   a parker owns the cell and is writing its waiter), `CLAIMED_READY`
//!   (an event came meanwhile), `WAITING` (a waiter is in the cell),
//!   `TAKING` (someone owns the cell and is moving the waiter out),
//!   `TAKING_READY` (an event came meanwhile);
//! - `CLOSING`, set in both words by `close` and never cleared;
//! - the readiness sequence number (Go's `rseq`/`wseq` role), bumped by the
//!   same CAS that records the event, so counting costs nothing extra.
//!
//! ```text
//!   park:    EMPTY ─CAS─▶ CLAIMED ─(write cell)─CAS─▶ WAITING        Parked
//!                              └─ an event or close got in: CLAIMED_READY /
//!                                 CLOSING → take the cell back, Ready / Closing
//!   event:   EMPTY|READY ─CAS─▶ READY                      (one CAS: no waiter)
//!            CLAIMED ─CAS─▶ CLAIMED_READY   TAKING ─CAS─▶ TAKING_READY
//!            WAITING ─CAS─▶ TAKING ─(read cell)─CAS─▶ EMPTY, or READY if
//!                                               TAKING_READY
//!   unblock, close: WAITING ─CAS─▶ TAKING ─(read cell)─CAS─▶ as above
//! ```
//!
//! Two-phase park is Go's `pdWait` trick: nobody ever waits for a parker.
//! An event that finds a slot `CLAIMED` records its readiness in the word
//! and moves on; the parker's commit CAS then fails and the parker returns
//! `Ready(w)` itself. Likewise an event finding `TAKING` leaves
//! `TAKING_READY` for the taker to turn into `READY`. No state makes
//! another thread spin, so a parker preempted mid-park never stalls a
//! poller (a per-slot spinlock would). A second `park` in the same
//! direction while the slot is `CLAIMED`, `WAITING` or `TAKING` is refused
//! (`Busy`) without touching the cell.
//!
//! Per event with no waiter (the common case for a busy server, where the
//! goroutine reads before it ever parks) this is one CAS; with a waiter,
//! two (take + finish); a `park` is two (claim + commit). The mutex it
//! replaced cost a lock and an unlock — two atomic read-modify-writes — on
//! every path, plus moving an enum slot in and out.
//!
//! Who touches what: the owner's goroutine calls `park`; pollers call
//! `ready` (under the table's read lock, see `poller.rs`); timers call
//! `unblock`; `deregister` calls `close`. The cell belongs to whoever moved
//! the state word to `CLAIMED`/`CLAIMED_READY` (to write it) or to
//! `TAKING`/`TAKING_READY` (to read it), until that thread's next CAS on the
//! word; in `WAITING` it belongs to nobody and holds an initialised `W`.
//! The loom models in `loom_tests.rs` check these races, cell accesses
//! included.

use std::fmt;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

use crate::event::{Direction, Interest, Readiness, Token};
use crate::loom::{AtomicBool, AtomicU64, Ordering, UnsafeCell};

/// Mask of the slot-state bits of a state word.
const ST_MASK: u64 = 0b111;
/// No waiter, no recorded readiness (Go's `pdNil`).
const EMPTY: u64 = 0;
/// Readiness arrived while no one waited (Go's `pdReady`).
const READY: u64 = 1;
/// A parker owns the cell and is writing its waiter (Go's `pdWait`).
const CLAIMED: u64 = 2;
/// `CLAIMED`, and an event came meanwhile: the parker will not park.
const CLAIMED_READY: u64 = 3;
/// A waiter is in the cell (Go's G pointer).
const WAITING: u64 = 4;
/// Someone owns the cell and is moving the waiter out.
const TAKING: u64 = 5;
/// `TAKING`, and an event came meanwhile: the slot ends `READY`.
const TAKING_READY: u64 = 6;
/// Set by `close` in both state words; never cleared.
const CLOSING: u64 = 1 << 3;
/// One step of the readiness sequence number (the bits above `CLOSING`).
const SEQ_ONE: u64 = 1 << 4;

/// One waiter slot: its state word and the cell for the parked waiter (see
/// *Lock-free slots*).
struct Slot<W> {
    state: AtomicU64,
    cell: UnsafeCell<MaybeUninit<W>>,
}

/// What [`Slot::event`] did.
enum Applied<W> {
    /// The descriptor is closing: the event was dropped for this slot.
    Closing,
    /// Readiness recorded (no waiter to hand back).
    Recorded,
    /// The parked waiter, handed back.
    Woke(W),
}

impl<W> Slot<W> {
    fn new() -> Slot<W> {
        Slot {
            state: AtomicU64::new(EMPTY),
            cell: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// A snapshot of the state word. Acquire: pairs with the AcqRel CASes
    /// below, so a reader that sees a state sees what led to it.
    fn load(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// Tries to move the word from `cur` to `new`. AcqRel on success: every
    /// transition both publishes this thread's cell access (Release) and
    /// sees the previous owner's (Acquire); these CASes pair with each
    /// other and with `load`. Returns the word found on failure.
    fn cas(&self, cur: u64, new: u64) -> Result<(), u64> {
        self.state
            .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
    }

    fn park(&self, waiter: W) -> Park<W> {
        let mut s = self.load();
        loop {
            if s & CLOSING != 0 {
                return Park::Closing(waiter);
            }
            match s & ST_MASK {
                READY => match self.cas(s, s & !ST_MASK | EMPTY) {
                    Ok(()) => return Park::Ready(waiter),
                    Err(now) => s = now,
                },
                EMPTY => match self.cas(s, s | CLAIMED) {
                    Ok(()) => break,
                    Err(now) => s = now,
                },
                _ => return Park::Busy(waiter),
            }
        }
        // SAFETY: the claim CAS made this thread the cell's owner (see
        // *Lock-free slots*); no one else touches the cell until our next
        // CAS on the word.
        self.cell.with_mut(|p| unsafe { (*p).write(waiter) });
        let mut s = s | CLAIMED;
        loop {
            if s & ST_MASK == CLAIMED && s & CLOSING == 0 {
                match self.cas(s, s & !ST_MASK | WAITING) {
                    Ok(()) => return Park::Parked,
                    Err(now) => s = now,
                }
                continue;
            }
            // An event (CLAIMED_READY) or a close got in: do not park. We
            // still own the cell; take the waiter back, then release it.
            let closing = s & CLOSING != 0;
            let end = if s & ST_MASK == CLAIMED_READY && closing {
                READY // close leaves recorded readiness alone
            } else {
                EMPTY // our Ready(w) consumes it
            };
            if let Err(now) = self.cas(s, s & !ST_MASK | end) {
                s = now;
                continue;
            }
            // SAFETY: we wrote the cell above and, having moved the word out
            // of CLAIMED only now, no one else can have read it.
            let w = self.cell.with_mut(|p| unsafe { (*p).assume_init_read() });
            return if closing {
                Park::Closing(w)
            } else {
                Park::Ready(w)
            };
        }
    }

    /// Moves the waiter out of the cell and ends the `TAKING` phase. The
    /// caller moved the word from `WAITING` to `TAKING` and owns the cell.
    fn finish_take(&self) -> W {
        // SAFETY: the caller's WAITING → TAKING CAS (Acquire) made it the
        // cell's owner and synchronised with the parker's commit (Release),
        // so the cell holds an initialised waiter that no one else reads.
        let w = self.cell.with_mut(|p| unsafe { (*p).assume_init_read() });
        let mut s = self.load();
        loop {
            let end = if s & ST_MASK == TAKING_READY {
                READY
            } else {
                EMPTY
            };
            match self.cas(s, s & !ST_MASK | end) {
                Ok(()) => return w,
                Err(now) => s = now,
            }
        }
    }

    /// Applies an event to this slot (Go's `netpollunblock(pd, mode, true)`).
    #[inline]
    fn event(&self) -> Applied<W> {
        let mut s = self.load();
        loop {
            if s & CLOSING != 0 {
                return Applied::Closing;
            }
            let seq = s.wrapping_add(SEQ_ONE) & !ST_MASK;
            let (new, take) = match s & ST_MASK {
                EMPTY | READY => (seq | READY, false),
                CLAIMED | CLAIMED_READY => (seq | CLAIMED_READY, false),
                TAKING | TAKING_READY => (seq | TAKING_READY, false),
                _ => (seq | TAKING, true), // WAITING
            };
            match self.cas(s, new) {
                Ok(()) if take => return Applied::Woke(self.finish_take()),
                Ok(()) => return Applied::Recorded,
                Err(now) => s = now,
            }
        }
    }

    /// Takes the waiter without readiness; with `close`, also sets
    /// `CLOSING` in the same CAS.
    fn take(&self, close: bool) -> Option<W> {
        let flag = if close { CLOSING } else { 0 };
        let mut s = self.load();
        loop {
            let waiting = s & ST_MASK == WAITING;
            let new = if waiting {
                s & !ST_MASK | TAKING | flag
            } else if s & flag != flag {
                s | flag
            } else {
                return None;
            };
            match self.cas(s, new) {
                Ok(()) if waiting => return Some(self.finish_take()),
                Ok(()) => return None,
                Err(now) => s = now,
            }
        }
    }

    fn state_name(&self) -> &'static str {
        match self.load() & ST_MASK {
            EMPTY => "empty",
            READY => "ready",
            CLAIMED | CLAIMED_READY => "parking",
            WAITING => "waiting",
            _ => "waking",
        }
    }
}

impl<W> Drop for Slot<W> {
    fn drop(&mut self) {
        if self.load() & ST_MASK == WAITING {
            // SAFETY: `&mut self`: no other thread can touch the slot, and
            // WAITING means the cell holds an initialised waiter.
            self.cell.with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }
}

/// One registered fd: its token, and its waiter slots.
///
/// Returned (in an `Arc`) by [`crate::Poller::register`]. The scheduler
/// keeps it next to its socket and parks goroutines on it.
pub struct PollDesc<W> {
    fd: RawFd,
    token: Token,
    interest: Interest,
    rg: Slot<W>,
    wg: Slot<W>,
    /// An event carried only an error (Go's `setEventErr`). Written by
    /// pollers, read by the owner; a hint, so Relaxed.
    event_err: AtomicBool,
    /// An event said the read side will see no more data: the peer shut
    /// its writing down, hung up, or reset (`READ_CLOSED`, `WRITE_CLOSED`
    /// or `ERROR`). Terminal, as in tokio's readiness. Written by pollers,
    /// read by the owner; a hint, so Relaxed.
    read_closed: AtomicBool,
}

// SAFETY: the waiter cells are only accessed by the thread the state word
// names as owner (see *Lock-free slots*); a waiter moves between threads,
// hence `W: Send`, exactly as behind the `Mutex` this replaced. (`Send`
// is automatic: the cells are `Send` when `W` is.)
unsafe impl<W: Send> Sync for PollDesc<W> {}

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

impl<W> PollDesc<W> {
    pub(crate) fn new(fd: RawFd, token: Token, interest: Interest) -> PollDesc<W> {
        PollDesc {
            fd,
            token,
            interest,
            rg: Slot::new(),
            wg: Slot::new(),
            event_err: AtomicBool::new(false),
            read_closed: AtomicBool::new(false),
        }
    }

    fn slot(&self, dir: Direction) -> &Slot<W> {
        match dir {
            Direction::Read => &self.rg,
            Direction::Write => &self.wg,
        }
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
        self.slot(dir).park(waiter)
    }

    /// Takes the waiter parked in `dir` without readiness (a deadline
    /// fired: Go's `netpollunblock(pd, mode, false)`). `None` if no one
    /// waits.
    pub fn unblock(&self, dir: Direction) -> Option<W> {
        self.slot(dir).take(false)
    }

    /// Marks the descriptor closing and hands back both waiters (Go's
    /// `poll_runtime_pollUnblock`). Later `park`s return `Closing`; later
    /// events are ignored. [`crate::Poller::deregister`] calls this.
    pub fn close(&self) -> Waiters<W> {
        // Like Go's `netpollunblock(pd, mode, false)`: take a waiter, leave
        // a recorded `Ready` alone.
        let read = self.rg.take(true);
        let write = self.wg.take(true);
        Waiters { read, write }
    }

    /// Whether [`PollDesc::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.rg.load() & CLOSING != 0
    }

    /// Whether readiness is recorded for `dir` and not yet consumed.
    pub fn is_ready(&self, dir: Direction) -> bool {
        self.slot(dir).load() & ST_MASK == READY
    }

    /// Whether a waiter is parked in `dir`.
    pub fn has_waiter(&self, dir: Direction) -> bool {
        self.slot(dir).load() & ST_MASK == WAITING
    }

    /// How many readiness events reached direction `dir` so far.
    pub fn ready_seq(&self, dir: Direction) -> u64 {
        self.slot(dir).load() / SEQ_ONE
    }

    /// Whether an event reported only an error (Go's `pd.info` event-error
    /// bit: the next I/O will return it).
    pub fn event_err(&self) -> bool {
        self.event_err.load(Ordering::Relaxed)
    }

    /// Whether an event said the read side is done (the peer shut down
    /// its writing, hung up or reset): a read will return at once, with
    /// end of stream or an error, and no later edge will say so again.
    /// Once true it stays true. An owner that skips a read on a hunch
    /// (after a short read on a stream: the buffer was drained) must not
    /// skip it then.
    pub fn is_read_closed(&self) -> bool {
        self.read_closed.load(Ordering::Relaxed)
    }

    /// Applies one event (Go's `netpollready`): hands waiters of the ready
    /// directions to `out`, or records readiness. Returns false if the
    /// descriptor is closing and the event was dropped.
    ///
    /// Each direction is applied on its own word, so an event racing a
    /// `close` may reach the read slot and miss the write slot; each
    /// waiter still comes back exactly once (from the event or from the
    /// close), which is all a slot promises.
    #[inline]
    pub(crate) fn ready(&self, readiness: Readiness, out: &mut Vec<W>) -> bool {
        if readiness == Readiness::ERROR {
            // Before the slot CASes (AcqRel), so a waiter they hand back
            // sees it.
            self.event_err.store(true, Ordering::Relaxed);
        }
        if readiness.is_read_closed()
            || readiness.is_write_closed()
            || readiness.contains(Readiness::ERROR)
        {
            // Before the slot CASes, as `event_err`.
            self.read_closed.store(true, Ordering::Relaxed);
        }
        let mut delivered = false;
        let mut dropped = false;
        for (wakes, slot) in [
            (readiness.wakes_read(), &self.rg),
            (readiness.wakes_write(), &self.wg),
        ] {
            if !wakes {
                continue;
            }
            match slot.event() {
                Applied::Woke(w) => {
                    out.push(w);
                    delivered = true;
                }
                Applied::Recorded => delivered = true,
                Applied::Closing => dropped = true,
            }
        }
        delivered || (!dropped && !self.is_closing())
    }
}

impl<W> fmt::Debug for PollDesc<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollDesc")
            .field("fd", &self.fd)
            .field("token", &self.token)
            .field("interest", &self.interest)
            .field("rg", &self.rg.state_name())
            .field("wg", &self.wg.state_name())
            .field("closing", &self.is_closing())
            .field("rseq", &self.ready_seq(Direction::Read))
            .field("wseq", &self.ready_seq(Direction::Write))
            .finish()
    }
}
