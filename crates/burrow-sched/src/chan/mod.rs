//! Channels and `select!`: Go's `hchan` with Rust's types.
//!
//! # The problem
//!
//! Goroutines talk over channels: a sender blocks until a receiver takes
//! the value (unbuffered) or until the buffer has room; a receiver blocks
//! until a value is there. Blocking must park the goroutine, not the
//! thread, and must work from a plain OS thread too (it parks the thread),
//! so that goroutines and threads can talk. `select` waits on several
//! operations at once and performs exactly one.
//!
//! # The design (Go's `runtime/chan.go`, see `docs/channels.md`)
//!
//! One lock per channel (a spin lock, see `chan/lock.rs`) guards a ring
//! buffer (`VecDeque` with capacity `cap`), a `closed` flag and two FIFO
//! queues of waiters, `sendq` and `recvq`. A blocked operation enqueues a
//! [`Sudog`](waiter::Sudog) that points at a value slot in its own frame
//! and at its [`Waiter`], then parks through the park/ready API
//! ([`crate::Ready`]); a goroutine's plain blocking `send`/`recv` parks
//! still holding the lock, which its M releases after the switch
//! (`park::LockedPark`, Go's `chanparkcommit`).
//!
//! - **Direct hand-off.** A sender that finds a receiver waiting writes the
//!   value straight into the receiver's slot and readies it (into the
//!   sender's `runnext`, so it runs next: ping-pong costs two switches, no
//!   queueing). A receiver that finds a sender waiting on a full buffer
//!   takes the head of the buffer and moves the sender's value to the tail
//!   (FIFO is kept); on an unbuffered channel it takes the sender's value
//!   directly. This is Go's `send`/`recv`.
//! - **Close** marks the channel and claims every waiter: receivers wake
//!   with nothing (after the buffer drains they return `None`), senders
//!   wake with their value still in their slot and get it back in the
//!   error.
//!
//! # The claim
//!
//! Every wake-up goes through one CAS on the waiter's claim word
//! ([`waiter::Waiter::try_claim`], Go's `selectDone` / `sudog.success`):
//! `WAITING` → the arm index that fires, `TIMED_OUT` (its timer fired) or
//! `ABORTED` (a select retracting itself). Whoever wins the CAS finishes
//! the operation and wakes the waiter; every loser leaves it alone, and a
//! channel that meets an entry whose waiter is already claimed drops that
//! entry and looks at the next one. So a value can be neither lost nor
//! delivered twice when a timeout races a hand-off, or when several of a
//! select's channels become ready at once.
//!
//! # Select without a global lock order
//!
//! Go's `selectgo` locks all the select's channels at once, in address
//! order, to poll them and to enqueue on all of them atomically. We never
//! hold two channel locks: the select first polls each channel in a random
//! order under its own lock (pass 1). If none is ready it makes a waiter
//! and registers on each channel in turn (pass 2), re-checking readiness
//! under that channel's lock; a counterpart that arrives on an
//! already-registered channel claims the waiter by CAS, which is all the
//! atomicity needed. If pass 2 meets a ready channel it stops and tries to
//! claim its own waiter as `ABORTED`: on success it unregisters and starts
//! again at pass 1, on failure someone already claimed it and it parks to
//! take the result. Each channel is under its own lock when it is checked
//! or registered on, so no wake-up is lost: a counterpart either came
//! before the registration (and the re-check saw it) or finds the entry.
//! No ordering means no sort and no deadlock between selects that name
//! the same channels in different orders.
//!
//! # Rejected alternatives
//!
//! - *A lock-free queue* (crossbeam's array channel) is faster under heavy
//!   multi-producer contention but makes the unbuffered hand-off, close
//!   and select a good deal harder to get right; Go's one lock is short and
//!   uncontended in the common cases. Revisit with measurements.
//! - *Go's lock ordering* needs locks of different channel types to be
//!   taken and released through type-erased raw locks; the claim word
//!   makes it unnecessary.
//! - *Panic on send to a closed channel* (Go): Rust returns errors for
//!   recoverable conditions, and dropping the last `Receiver` closes the
//!   channel (below), so a send on a closed channel is ordinary: the value
//!   comes back in [`SendError`].
//!
//! # Dropping handles
//!
//! Go has only explicit `close`. Rust users expect `for v in &rx` to end
//! when every `Sender` is gone, and a send to fail when nobody can ever
//! receive. So dropping the last `Sender` closes the channel (receivers
//! drain the buffer, then get `None`), and dropping the last `Receiver`
//! closes it too (blocked and later senders get their value back).
//! [`Sender::close`] closes it explicitly, as Go's `close`.
//! [`Receiver::never`] and [`Sender::never`] are Go's nil channel: they
//! never fire, so a `select!` arm on them is switched off.

mod handles;
mod lock;
pub(crate) mod parker;
mod select;
mod timers;
pub(crate) mod waiter;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::kernel::compact::StackOwner;
use crate::loom::AtomicUsize;
use lock::{Guard, Lock};
use parker::Unparker;
use waiter::{Slot, Sudog, Waiter};

pub use handles::{
    IntoIter, Iter, Receiver, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryIter,
    TryRecvError, TrySendError, chan,
};
#[doc(hidden)]
pub use select::{RecvCase, SelectCase, Selected, SendCase, select_impl};
pub use timers::{Ticker, Timer, after, tick};

/// The shared channel (Go's `hchan`).
pub(crate) struct Chan<T> {
    /// Buffer capacity; 0 is unbuffered. Immutable.
    cap: usize,
    /// Everything mutable; any thread, under this lock.
    state: Lock<State<T>>,
    /// Live `Sender`s (+1 for a `Receiver::never` channel); the last drop
    /// closes. Changed atomically by clones and drops.
    senders: AtomicUsize,
    /// Live `Receiver`s (+1 for a `Sender::never` channel); the last drop
    /// closes.
    receivers: AtomicUsize,
    /// A `Sender::never` / `Receiver::never` channel (Go's nil channel):
    /// `close` is a no-op on it. Immutable after construction.
    never: bool,
}

/// The channel's mutable state, under `Chan::state`.
pub(crate) struct State<T> {
    /// The ring buffer (never longer than `cap`).
    buf: VecDeque<T>,
    /// Set once by close (or the last handle's drop); never cleared.
    closed: bool,
    /// Blocked receivers, FIFO; entries of claimed waiters may linger
    /// until someone pops or unregisters them.
    recvq: VecDeque<Sudog<T>>,
    /// Blocked senders (their value in their slot), FIFO; as `recvq`.
    sendq: VecDeque<Sudog<T>>,
    /// Entries retired by [`Chan::unregister`] without being removed
    /// since the last compaction (an upper bound: some may have been
    /// popped since). When it exceeds half the queued entries the queues
    /// are compacted, so lingering entries cost amortised O(1) each.
    stale: usize,
}

/// Outcome of a non-blocking attempt under the lock.
pub(crate) enum Try<T> {
    /// Done; wake this waiter (a counterpart) after unlocking, if any.
    Done(Option<Unparker>),
    /// Received this value (or `None`: closed and drained); wake this
    /// waiter after unlocking, if any.
    Got(Option<T>, Option<Unparker>),
    /// Would block; the value comes back for a send.
    Block(Option<T>),
    /// Send on a closed channel: the value comes back.
    Closed(T),
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        Self::with_never(cap, false)
    }

    /// A channel; `never` marks Go's nil channel (see [`Chan::close`]).
    pub(crate) fn with_never(cap: usize, never: bool) -> Chan<T> {
        Chan {
            cap,
            state: Lock::new(State {
                buf: VecDeque::with_capacity(cap),
                closed: false,
                recvq: VecDeque::new(),
                sendq: VecDeque::new(),
                stale: 0,
            }),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            never,
        }
    }

    pub(crate) fn lock(&self) -> Guard<'_, State<T>> {
        self.state.lock()
    }

    /// Pops the first waiter of `q` that this call manages to claim with
    /// its own arm; drops entries of already-claimed waiters.
    // Inlined: out of line, its call and the move of the entry it
    // returns cost a ping-pong round trip about 100 instructions.
    #[inline(always)]
    fn claim_first(q: &mut VecDeque<Sudog<T>>) -> Option<Sudog<T>> {
        while let Some(sg) = q.pop_front() {
            if sg.try_claim() {
                return Some(sg);
            }
        }
        None
    }

    /// Go's `chansend` fast part: a non-blocking send under the lock.
    pub(crate) fn try_send_locked(&self, s: &mut State<T>, v: T) -> Try<T> {
        if s.closed {
            return Try::Closed(v);
        }
        if let Some(sg) = Self::claim_first(&mut s.recvq) {
            // SAFETY: we won the claim under the lock; the receiver's frame
            // is alive (parked, or unwinding and blocked in its guard on
            // this lock) and waits for our wake (`Sudog::slot`).
            unsafe { sg.slot().put(v) };
            return Try::Done(sg.waiter().take_unparker());
        }
        if s.buf.len() < self.cap {
            s.buf.push_back(v);
            return Try::Done(None);
        }
        Try::Block(Some(v))
    }

    /// Go's `chanrecv` fast part: a non-blocking receive under the lock.
    pub(crate) fn try_recv_locked(&self, s: &mut State<T>) -> Try<T> {
        if let Some(v) = s.buf.pop_front() {
            // Room now: move the first waiting sender's value to the tail.
            let mut wake = None;
            if let Some(sg) = Self::claim_first(&mut s.sendq) {
                // SAFETY: claim won, entry was queued (see try_send_locked).
                let sv = unsafe { sg.slot().take() }.expect("a blocked sender holds its value");
                s.buf.push_back(sv);
                wake = sg.waiter().take_unparker();
            }
            return Try::Got(Some(v), wake);
        }
        if let Some(sg) = Self::claim_first(&mut s.sendq) {
            // SAFETY: as above. Unbuffered (or cap reached 0): direct.
            let v = unsafe { sg.slot().take() }.expect("a blocked sender holds its value");
            return Try::Got(Some(v), sg.waiter().take_unparker());
        }
        if s.closed {
            return Try::Got(None, None);
        }
        Try::Block(None)
    }

    /// Could a receive by `me` complete now? Drops stale `sendq` entries;
    /// ignores `me`'s own entries (a select sending on the same channel).
    pub(crate) fn recv_ready(s: &mut State<T>, me: &Waiter) -> bool {
        while s.sendq.front().is_some_and(|sg| !sg.is_waiting()) {
            s.sendq.pop_front();
        }
        !s.buf.is_empty() || s.closed || s.sendq.iter().any(|sg| !sg.is_of(me) && sg.is_waiting())
    }

    /// Could a send by `me` complete now? As [`Chan::recv_ready`].
    pub(crate) fn send_ready(&self, s: &mut State<T>, me: &Waiter) -> bool {
        while s.recvq.front().is_some_and(|sg| !sg.is_waiting()) {
            s.recvq.pop_front();
        }
        s.closed
            || s.buf.len() < self.cap
            || s.recvq.iter().any(|sg| !sg.is_of(me) && sg.is_waiting())
    }

    /// Enqueues a blocked operation's or a select's (pass 2) entry.
    // Inlined so that the entry is built in place in the queue: passed by
    // pointer, its fields (stored one by one by the caller) were re-read
    // as two 16-byte loads straddling those stores, which x86 cannot
    // forward: about 16 % of a ping-pong round trip stalled here.
    #[inline(always)]
    pub(crate) fn enqueue(s: &mut State<T>, sg: Sudog<T>, is_send: bool) {
        if is_send {
            s.sendq.push_back(sg);
        } else {
            s.recvq.push_back(sg);
        }
    }

    /// Retires `w`'s entry in `sendq` (`is_send`) or `recvq`. `w` must
    /// already be claimed, so no counterpart will use the entry again
    /// (claiming fails; stale entries are skipped and dropped by
    /// `claim_first`, the readiness checks and compaction). Taking the lock
    /// waits out a claimer that is still writing into the slot under it;
    /// after this returns, nothing touches the slot, and the entry (whose
    /// slot pointer may then dangle) is never dereferenced again.
    ///
    /// The entry is removed at once if it is at either end of its queue
    /// (the common case: few waiters, and it lets the waiter be recycled);
    /// otherwise it lingers and counts as stale until a compaction. Go's
    /// `dequeueSudoG` unlinks in O(1) from a doubly linked list; a
    /// `retain` over both queues here made every select completion
    /// O(waiters) (20k workers selecting on a shared `done`: quadratic).
    pub(crate) fn unregister(&self, w: &Waiter, is_send: bool) {
        debug_assert!(!w.is_waiting(), "unregister of an unclaimed waiter");
        let mut s = self.lock();
        let q = if is_send { &mut s.sendq } else { &mut s.recvq };
        if q.back().is_some_and(|sg| sg.is_of(w)) {
            q.pop_back();
        } else if q.front().is_some_and(|sg| sg.is_of(w)) {
            q.pop_front();
        } else {
            s.stale += 1;
            if s.stale * 2 > s.recvq.len() + s.sendq.len() {
                s.recvq.retain(|sg| sg.is_waiting());
                s.sendq.retain(|sg| sg.is_waiting());
                s.stale = 0;
            }
        }
    }

    /// Waiters still waiting in either queue (claimed entries that linger
    /// are not counted). For tests: "every waiter is parked".
    pub(crate) fn waiters(&self) -> usize {
        let s = self.lock();
        (s.recvq.iter().chain(s.sendq.iter()))
            .filter(|sg| sg.is_waiting())
            .count()
    }

    /// Entries in either queue, claimed or not (unit tests: a waiter in
    /// the frame must leave no entry behind, not even a claimed one).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn entries(&self) -> usize {
        let s = self.lock();
        s.recvq.len() + s.sendq.len()
    }

    /// Go's `closechan`: marks the channel closed and wakes every waiter.
    /// Returns false if it was already closed, or if it is a `never`
    /// channel (Go's `close(nil)` panics; a nil channel stays nil, so a
    /// select arm on it stays switched off).
    pub(crate) fn close(&self) -> bool {
        if self.never {
            return false;
        }
        let mut wake = Vec::new();
        {
            let mut s = self.lock();
            if s.closed {
                return false;
            }
            s.closed = true;
            // Receivers wake with an empty slot (closed); senders with
            // their value still in it (returned in the error).
            while let Some(sg) = Self::claim_first(&mut s.recvq) {
                wake.extend(sg.waiter().take_unparker());
            }
            while let Some(sg) = Self::claim_first(&mut s.sendq) {
                wake.extend(sg.waiter().take_unparker());
            }
        }
        wake.into_iter().for_each(Unparker::unpark);
        true
    }

    /// Blocking send or receive, with an optional deadline. `slot` holds
    /// the value to send (`Some`) or receives one (`None` in it). Returns
    /// false if the deadline passed first (the slot keeps what it had).
    /// Called with the lock held (`s`) after the fast path failed.
    pub(crate) fn block(
        &self,
        s: Guard<'_, State<T>>,
        slot: &Slot<T>,
        is_send: bool,
        deadline: Option<std::time::Instant>,
    ) -> bool {
        match deadline {
            None => {
                self.block_local(s, slot, is_send);
                true
            }
            Some(d) => self.block_until(s, slot, is_send, d),
        }
    }

    /// [`Chan::block`] without a deadline, the hot path (ping-pong, every
    /// blocked `send`/`recv`): only a counterpart or a close can claim the
    /// waiter, each under this channel's lock and popping the entry before
    /// it claims, so the waiter lives in this frame and the entry points at
    /// it without reference counting (see [`Sudog::local`]).
    fn block_local(&self, mut s: Guard<'_, State<T>>, slot: &Slot<T>, is_send: bool) {
        let reason = wait_reason(is_send);
        // A goroutine parks holding the lock; its M releases it once the
        // goroutine has switched out (Go's `chanparkcommit`), so a
        // counterpart that claims us finds us parked and readies us with
        // no park-word handshake. Nothing runs between the enqueue and the
        // switch, so no unwind guard is needed on this path. (A parked
        // coroutine is never force-unwound: `G::destroy` forgets one that
        // is mid-job, so its frame and this entry are never torn down
        // while the entry is queued.)
        #[cfg(not(loom))]
        // SAFETY: the handle goes only into our entry, under the lock we
        // hold, and `park` gets that lock's flag.
        if let Some((ready, lp)) = unsafe { crate::kernel::park::LockedPark::for_current() } {
            let w = Waiter::new_local_with(Unparker::from_ready(ready));
            // SAFETY: `w` and `slot` outlive the entry: we resume only
            // after a claimer popped it under the lock and woke us.
            let sg = unsafe { Sudog::local(&w, slot, lp.owner()) };
            Self::enqueue(&mut s, sg, is_send);
            let flag = s.into_flag();
            // SAFETY: `flag` is the lock we held and no longer guard; the
            // handle was published only under it.
            unsafe { lp.park(reason, flag) };
            debug_assert!(!w.is_waiting(), "woken unclaimed");
            return;
        }
        let (w, parker) = Waiter::new_local();
        // SAFETY: `w` and `slot` outlive the entry: we return only after
        // the wake, which comes after the claimer popped the entry under
        // the lock; if we unwind first, `guard` removes the entry exactly.
        let sg = unsafe { Sudog::local(&w, slot, StackOwner::NONE) };
        Self::enqueue(&mut s, sg, is_send);
        drop(s);
        // As in `block_until`: retracts the entry if this frame unwinds
        // before its park returned (nothing below is expected to panic,
        // but the guarantee must not depend on that).
        let guard = Local {
            chan: self,
            w: &w,
            is_send,
        };
        #[cfg(all(test, not(loom)))]
        tests::inject_panic_before_park();
        parker.park(reason);
        std::mem::forget(guard);
        debug_assert!(!w.is_waiting(), "woken unclaimed");
    }

    /// [`Chan::block`] with a deadline: the waiter is shared with the
    /// timer that may claim it, so it is an `Arc` and its entry may linger
    /// (lazily unregistered) after a timeout.
    fn block_until(
        &self,
        mut s: Guard<'_, State<T>>,
        slot: &Slot<T>,
        is_send: bool,
        deadline: std::time::Instant,
    ) -> bool {
        let (w, parker) = Waiter::new();
        Self::enqueue(&mut s, Sudog::shared(&w, 0, slot), is_send);
        drop(s);
        // From here until the park returns, an entry pointing at `slot`
        // (in the caller's frame) is queued. If anything panics meanwhile
        // (`add_timer` can: starting an M, a poisoned lock), the guard
        // retracts it before the frame unwinds; see `Enqueued`.
        let guard = Enqueued {
            chan: self,
            w: &w,
            is_send,
        };
        let timer = timers::claim_at(deadline, &w);
        parker.park(wait_reason(is_send));
        // Disarmed: no code, the guard only borrows.
        std::mem::forget(guard);
        let out = w.outcome();
        if out == waiter::TIMED_OUT {
            // The timer claimed us: our entry is still queued; retire it
            // before the slot's frame goes away.
            self.unregister(&w, is_send);
            return false;
        }
        timers::cancel(&timer);
        Waiter::recycle(w);
        true
    }
}

/// What a goroutine blocked in `send` (`is_send`) or `recv` waits for.
fn wait_reason(is_send: bool) -> crate::WaitReason {
    if is_send {
        crate::WaitReason::ChanSend
    } else {
        crate::WaitReason::ChanReceive
    }
}

/// Unwind guard of [`Chan::block_until`]: armed while an entry pointing at
/// the parking frame's slot is queued. It runs only if that frame unwinds
/// before its park returned (the normal path `mem::forget`s it, which
/// costs nothing). It claims the waiter as `ABORTED`, so no counterpart
/// can claim the entry any more, and retires the entry under the channel
/// lock, which also waits out a counterpart that claimed first and is
/// still writing into the slot. Only then may the slot die with the frame;
/// without this a later sender would write its value into a dead frame
/// (another goroutine's reused stack) and report success. A value that a
/// counterpart delivered just before the unwind is dropped with the slot
/// (a receiver) or was taken from it (a sender): the panic loses it, as a
/// panic between a `recv` and the use of its value would.
struct Enqueued<'a, T> {
    chan: &'a Chan<T>,
    w: &'a Arc<Waiter>,
    is_send: bool,
}

impl<T> Drop for Enqueued<'_, T> {
    fn drop(&mut self) {
        // Won or lost, the waiter is claimed after this.
        self.w.try_claim(waiter::ABORTED);
        self.chan.unregister(self.w, self.is_send);
    }
}

/// Unwind guard of [`Chan::block_local`], as [`Enqueued`] but for a
/// waiter in the frame: its entry must not linger (nothing would keep the
/// waiter alive for whoever meets it later), so the guard claims and
/// removes it exactly, both under the channel lock. Under the lock, the
/// claim fails only if a counterpart (or close) already claimed the waiter,
/// and then it already popped the entry (claimers pop before they claim)
/// and is done with the slot; if the claim succeeds the entry is still
/// queued and is removed here, whatever its position (O(queue), but only
/// on unwind).
struct Local<'a, T> {
    chan: &'a Chan<T>,
    w: &'a Waiter,
    is_send: bool,
}

impl<T> Drop for Local<'_, T> {
    fn drop(&mut self) {
        let mut s = self.chan.lock();
        if self.w.try_claim(waiter::ABORTED) {
            let q = if self.is_send {
                &mut s.sendq
            } else {
                &mut s.recvq
            };
            q.retain(|sg| !sg.is_of(self.w));
        }
    }
}
