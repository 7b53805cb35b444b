//! `select!`: waits on several channel operations and performs exactly
//! one. The algorithm (two passes, a claim CAS instead of Go's lock order)
//! is described in *Select without a global lock order* in `chan/mod.rs`.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use super::handles::{Receiver, SendError, Sender};
use super::waiter::{ABORTED, Slot, Sudog, TIMED_OUT, Waiter};
use super::{Chan, Try, timers};
use crate::WaitReason;

/// Which arm a select took.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selected {
    /// The case at this index.
    Case(usize),
    /// The timeout arm.
    Timeout,
    /// The default arm.
    Default,
}

/// A waiter as seen by a select case (opaque outside the crate).
#[doc(hidden)]
pub struct SelectWaiter(Arc<Waiter>);

impl std::fmt::Debug for SelectWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelectWaiter")
    }
}

/// One arm of a `select!` (used by the macro; not a stable API).
#[doc(hidden)]
pub trait SelectCase {
    /// Pass 1: performs the operation if it can complete now.
    fn poll(&mut self) -> bool;
    /// Pass 2: true if the operation could complete now (nothing is
    /// registered then); else enqueues `w` with index `arm`.
    fn register(&mut self, w: &SelectWaiter, arm: usize) -> bool;
    /// Retires `w`'s entry from the channel (`w` is claimed by then).
    fn unregister(&mut self, w: &SelectWaiter);
    /// `w` was claimed for this arm: collects the result from the slot.
    fn complete(&mut self);
}

/// A receive arm.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: &'a Chan<T>,
    slot: Slot<T>,
    fired: Option<Option<T>>,
}

impl<'a, T: Send> RecvCase<'a, T> {
    /// An arm receiving from `rx`.
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvCase {
            chan: &rx.chan,
            slot: Slot::new(None),
            fired: None,
        }
    }

    /// The result if this arm fired: `Some(None)` means closed.
    pub fn take_fired(&mut self) -> Option<Option<T>> {
        self.fired.take()
    }
}

impl<T: Send> SelectCase for RecvCase<'_, T> {
    fn poll(&mut self) -> bool {
        let mut s = self.chan.lock();
        match self.chan.try_recv_locked(&mut s) {
            Try::Got(v, w) => {
                drop(s);
                if let Some(w) = w {
                    w.unpark();
                }
                self.fired = Some(v);
                true
            }
            _ => false,
        }
    }

    fn register(&mut self, w: &SelectWaiter, arm: usize) -> bool {
        let mut s = self.chan.lock();
        if Chan::recv_ready(&mut s, &w.0) {
            return true;
        }
        let sg = Sudog::shared(&w.0, arm, &self.slot);
        Chan::enqueue(&mut s, sg, false);
        false
    }

    fn unregister(&mut self, w: &SelectWaiter) {
        self.chan.unregister(&w.0, false);
    }

    fn complete(&mut self) {
        // SAFETY: the waiter is claimed and the select retired every
        // entry (under its lock) before completing: the slot is ours.
        self.fired = Some(unsafe { self.slot.take() });
    }
}

/// A send arm.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    slot: Slot<T>,
    fired: Option<Result<(), SendError<T>>>,
}

impl<'a, T: Send> SendCase<'a, T> {
    /// An arm sending `v` on `tx`.
    pub fn new(tx: &'a Sender<T>, v: T) -> Self {
        SendCase {
            chan: &tx.chan,
            slot: Slot::new(Some(v)),
            fired: None,
        }
    }

    /// The result if this arm fired (`Err`: closed, value returned).
    pub fn take_fired(&mut self) -> Option<Result<(), SendError<T>>> {
        self.fired.take()
    }
}

impl<T: Send> SelectCase for SendCase<'_, T> {
    fn poll(&mut self) -> bool {
        // SAFETY: not registered anywhere in pass 1: the slot is ours.
        let v = unsafe { self.slot.take() }.expect("a send arm holds its value");
        let mut s = self.chan.lock();
        match self.chan.try_send_locked(&mut s, v) {
            Try::Done(w) => {
                drop(s);
                if let Some(w) = w {
                    w.unpark();
                }
                self.fired = Some(Ok(()));
                true
            }
            Try::Closed(v) => {
                self.fired = Some(Err(SendError(v)));
                true
            }
            Try::Block(v) => {
                // SAFETY: as above.
                unsafe { self.slot.put(v.expect("send keeps its value")) };
                false
            }
            Try::Got(..) => unreachable!("send never receives"),
        }
    }

    fn register(&mut self, w: &SelectWaiter, arm: usize) -> bool {
        let mut s = self.chan.lock();
        if self.chan.send_ready(&mut s, &w.0) {
            return true;
        }
        let sg = Sudog::shared(&w.0, arm, &self.slot);
        Chan::enqueue(&mut s, sg, true);
        false
    }

    fn unregister(&mut self, w: &SelectWaiter) {
        self.chan.unregister(&w.0, true);
    }

    fn complete(&mut self) {
        // SAFETY: the waiter is claimed and the select retired every
        // entry (under its lock) before completing: the slot is ours.
        self.fired = Some(match unsafe { self.slot.take() } {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        });
    }
}

/// A cheap per-thread random number (xorshift64*), for the random start.
/// Not inlined: the thread-local is never held across a park. Under loom
/// it is 0: a model must be deterministic to be explored.
#[inline(never)]
fn fastrand() -> u64 {
    if cfg!(loom) {
        return 0;
    }
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let x = &STATE as *const _ as u64;
            (x ^ 0x9E37_79B9_7F4A_7C15) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Most cases one `select_impl` takes (the macro allows 32).
const MAX_CASES: usize = 64;

/// A uniformly random permutation of `0..n` (Go's `pollorder`: an
/// inside-out Fisher-Yates shuffle), on the stack. Under loom it is the
/// identity (`fastrand` is 0 there).
fn poll_order(n: usize) -> [u8; MAX_CASES] {
    let mut order = [0u8; MAX_CASES];
    for i in 1..n {
        let j = (fastrand() % (i as u64 + 1)) as usize;
        order[i] = order[j];
        order[j] = i as u8;
    }
    order
}

/// The cases of a select with its entries registered on the first `count`
/// of them in `order`. Dropping it with `count > 0` happens only on an
/// unwind during pass 2 or the park (`register`, `add_timer` and the park
/// can panic; the normal path unregisters first, leaving `count == 0`, so
/// the drop is one compare): it claims the waiter as `ABORTED` and
/// retires every entry under its channel's lock, so no counterpart can
/// write into a slot of the dying frame (see `Enqueued` in `chan/mod.rs`).
struct Registered<'c, 'a> {
    cases: &'c mut [&'a mut dyn SelectCase],
    order: &'c [u8],
    sw: &'c SelectWaiter,
    count: usize,
}

impl Registered<'_, '_> {
    /// Retires every registered entry (the waiter is claimed).
    fn unregister_all(&mut self) {
        for &i in &self.order[..self.count] {
            self.cases[i as usize].unregister(self.sw);
        }
        self.count = 0;
    }
}

impl Drop for Registered<'_, '_> {
    fn drop(&mut self) {
        if self.count > 0 {
            // Won or lost, the waiter is claimed after this.
            self.sw.0.try_claim(ABORTED);
            self.unregister_all();
        }
    }
}

/// Runs a select over `cases` (Go's `selectgo`): returns the arm taken,
/// `Default` at once if `has_default` and nothing is ready, `Timeout` if
/// `deadline` passes first. With no cases, no default and no deadline it
/// parks forever (Go's `select {}`).
///
/// # Panics
///
/// With more than 64 cases.
#[doc(hidden)]
pub fn select_impl(
    cases: &mut [&mut dyn SelectCase],
    deadline: Option<Instant>,
    has_default: bool,
) -> Selected {
    let n = cases.len();
    assert!(n <= MAX_CASES, "select: at most {MAX_CASES} cases");
    // Poll (and register) in a random order: of several ready arms each
    // is equally likely to win (Go's `pollorder`).
    let order = poll_order(n);
    let order = &order[..n];
    loop {
        // Pass 1: poll in the random order.
        for &i in order {
            if cases[i as usize].poll() {
                return Selected::Case(i as usize);
            }
        }
        if has_default {
            return Selected::Default;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Selected::Timeout;
        }
        // Pass 2: register everywhere, unless something became ready.
        let (w, parker) = Waiter::new();
        let sw = SelectWaiter(w);
        let mut reg = Registered {
            cases: &mut *cases,
            order,
            sw: &sw,
            count: 0,
        };
        let mut ready = false;
        for &i in order {
            if reg.cases[i as usize].register(reg.sw, i as usize) {
                ready = true;
                break;
            }
            reg.count += 1;
        }
        if ready && sw.0.try_claim(ABORTED) {
            reg.unregister_all();
            continue;
        }
        let timer = match deadline {
            Some(d) if !ready => Some(timers::claim_at(d, &sw.0)),
            _ => None,
        };
        parker.park(WaitReason::Select);
        let out = sw.0.outcome();
        if out != TIMED_OUT {
            if let Some(t) = timer {
                timers::cancel(&t);
            }
        }
        reg.unregister_all();
        drop(reg);
        Waiter::recycle(sw.0);
        if out == TIMED_OUT {
            return Selected::Timeout;
        }
        cases[out].complete();
        return Selected::Case(out);
    }
}

/// Waits on several channel operations and runs the arm of the one that
/// completes (Go's `select`).
///
/// Arms, separated by commas (optional after a `{ block }` body):
///
/// - `recv(rx) -> v => body`: receive from `rx` (a `Receiver<T>`, or an
///   expression making one, e.g. `after(d)`); `v: Option<T>` is `None`
///   when the channel is closed and drained (a closed channel is always
///   ready, as in Go).
/// - `send(tx, value) -> r => body`: send `value` on `tx`; `r:
///   Result<(), SendError<T>>` is `Err` (with the value) if it is closed.
///   `value` is evaluated once, before the select waits.
/// - `timeout(duration) => body`: runs if nothing completed within
///   `duration` (at most one). A duration too large to add to now (e.g.
///   `Duration::MAX`) never times out.
/// - `default => body`: runs at once if nothing is ready (at most one).
///
/// If several arms are ready, one is chosen uniformly at random (the arms
/// are polled in a freshly shuffled order, as Go's `pollorder`). An arm on
/// [`Receiver::never`] / [`Sender::never`] never fires (Go's nil channel).
/// Works in goroutines and on plain threads. `break`, `continue` and
/// `return` in a body act on the enclosing code.
///
/// ```
/// use std::time::Duration;
/// use burrow_sched::{after, chan, select};
///
/// let (tx, rx) = chan::<i32>(1);
/// let (dtx, done) = chan::<()>(0);
/// tx.send(7).unwrap();
/// let got = select! {
///     recv(rx) -> v => v,
///     recv(done) -> _ => None,
///     recv(after(Duration::from_secs(5))) -> _ => None,
/// };
/// assert_eq!(got, Some(7));
///
/// // Nothing ready: default.
/// let r = select! {
///     recv(rx) -> v => v.map(|_| "value"),
///     default => Some("nothing"),
/// };
/// assert_eq!(r, Some("nothing"));
///
/// // A timeout arm.
/// let r = select! {
///     send(tx, 1) -> r => { r.unwrap(); "sent" }
///     timeout(Duration::from_millis(1)) => "late",
/// };
/// assert_eq!(r, "sent");
/// let r = select! {
///     send(tx, 2) -> _ => "sent",
///     timeout(Duration::from_millis(1)) => "full",
/// };
/// assert_eq!(r, "full");
/// drop(dtx);
/// ```
#[macro_export]
macro_rules! select {
    ($($arms:tt)*) => {
        $crate::__select_parse!(
            @pool (__c0 __c1 __c2 __c3 __c4 __c5 __c6 __c7 __c8 __c9 __c10 __c11
                   __c12 __c13 __c14 __c15 __c16 __c17 __c18 __c19 __c20 __c21
                   __c22 __c23 __c24 __c25 __c26 __c27 __c28 __c29 __c30 __c31)
            @cases ()
            @timeout ()
            @default ()
            @rest ($($arms)*)
        )
    };
}

/// Parses `select!` arms (implementation detail).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    (@pool $pool:tt @cases ($($cases:tt)*) @timeout $t:tt @default $d:tt @rest ()) => {
        $crate::__select_gen!(@nest ($($cases)*) @all ($($cases)*) @timeout $t @default $d)
    };
    (@pool $pool:tt @cases $cases:tt @timeout $t:tt @default $d:tt @rest (, $($rest:tt)*)) => {
        $crate::__select_parse!(@pool $pool @cases $cases @timeout $t @default $d @rest ($($rest)*))
    };
    (@pool ($id:ident $($pool:ident)*) @cases ($($cases:tt)*) @timeout $t:tt @default $d:tt
     @rest (recv($rx:expr) -> $p:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@pool ($($pool)*)
            @cases ($($cases)* [$id recv ($rx) $p => $body])
            @timeout $t @default $d @rest ($($rest)*))
    };
    (@pool ($id:ident $($pool:ident)*) @cases ($($cases:tt)*) @timeout $t:tt @default $d:tt
     @rest (recv($rx:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?)) => {
        $crate::__select_parse!(@pool ($($pool)*)
            @cases ($($cases)* [$id recv ($rx) $p => { $body }])
            @timeout $t @default $d @rest ($($($rest)*)?))
    };
    (@pool ($id:ident $($pool:ident)*) @cases ($($cases:tt)*) @timeout $t:tt @default $d:tt
     @rest (send($tx:expr, $v:expr) -> $p:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@pool ($($pool)*)
            @cases ($($cases)* [$id send ($tx, $v) $p => $body])
            @timeout $t @default $d @rest ($($rest)*))
    };
    (@pool ($id:ident $($pool:ident)*) @cases ($($cases:tt)*) @timeout $t:tt @default $d:tt
     @rest (send($tx:expr, $v:expr) -> $p:pat => $body:expr $(, $($rest:tt)*)?)) => {
        $crate::__select_parse!(@pool ($($pool)*)
            @cases ($($cases)* [$id send ($tx, $v) $p => { $body }])
            @timeout $t @default $d @rest ($($($rest)*)?))
    };
    (@pool $pool:tt @cases $cases:tt @timeout () @default $d:tt
     @rest (timeout($dur:expr) => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@pool $pool @cases $cases
            @timeout (($dur) $body) @default $d @rest ($($rest)*))
    };
    (@pool $pool:tt @cases $cases:tt @timeout () @default $d:tt
     @rest (timeout($dur:expr) => $body:expr $(, $($rest:tt)*)?)) => {
        $crate::__select_parse!(@pool $pool @cases $cases
            @timeout (($dur) { $body }) @default $d @rest ($($($rest)*)?))
    };
    (@pool $pool:tt @cases $cases:tt @timeout $t:tt @default ()
     @rest (default => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@pool $pool @cases $cases
            @timeout $t @default ($body) @rest ($($rest)*))
    };
    (@pool $pool:tt @cases $cases:tt @timeout $t:tt @default ()
     @rest (default => $body:expr $(, $($rest:tt)*)?)) => {
        $crate::__select_parse!(@pool $pool @cases $cases
            @timeout $t @default ({ $body }) @rest ($($($rest)*)?))
    };
    (@pool () $($x:tt)*) => {
        compile_error!("select!: too many arms (at most 32)")
    };
}

/// Generates a `select!` (implementation detail): binds each channel by
/// reference (a temporary such as `after(d)` lives to the end of the
/// select), builds the cases, runs `select_impl`, runs the arm.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_gen {
    (@nest ([$id:ident recv ($rx:expr) $p:pat => $body:block] $($more:tt)*)
     @all $all:tt @timeout $t:tt @default $d:tt) => {
        match $rx {
            ref $id => {
                let mut $id = $crate::__private::RecvCase::new($id);
                $crate::__select_gen!(@nest ($($more)*) @all $all @timeout $t @default $d)
            }
        }
    };
    (@nest ([$id:ident send ($tx:expr, $v:expr) $p:pat => $body:block] $($more:tt)*)
     @all $all:tt @timeout $t:tt @default $d:tt) => {
        match $tx {
            ref $id => {
                let mut $id = $crate::__private::SendCase::new($id, $v);
                $crate::__select_gen!(@nest ($($more)*) @all $all @timeout $t @default $d)
            }
        }
    };
    (@nest () @all ($([$id:ident $kind:ident $args:tt $p:pat => $body:block])*)
     @timeout $t:tt @default $d:tt) => {{
        let __selected = $crate::__private::select_impl(
            &mut [$(&mut $id as &mut dyn $crate::__private::SelectCase),*],
            $crate::__select_deadline!($t),
            $crate::__select_has_default!($d),
        );
        match __selected {
            $crate::__private::Selected::Case(_) => {
                $(
                    if let Some(__r) = $id.take_fired() {
                        let $p = __r;
                        $body
                    } else
                )* {
                    unreachable!("select!: the chosen arm has no result")
                }
            }
            $crate::__private::Selected::Timeout => $crate::__select_timeout_body!($t),
            $crate::__private::Selected::Default => $crate::__select_default_body!($d),
        }
    }};
}

/// The deadline of a `select!` timeout arm (implementation detail).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_deadline {
    (()) => {
        None
    };
    // A duration too large to add to now (`Duration::MAX`) is no deadline.
    ((($dur:expr) $body:block)) => {
        ::std::time::Instant::now().checked_add($dur)
    };
}

/// Whether a `select!` has a default arm (implementation detail).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_has_default {
    (()) => {
        false
    };
    (($body:block)) => {
        true
    };
}

/// The body of a `select!` timeout arm (implementation detail).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_timeout_body {
    (()) => {
        unreachable!("select!: timed out without a timeout arm")
    };
    ((($dur:expr) $body:block)) => {
        $body
    };
}

/// The body of a `select!` default arm (implementation detail).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_default_body {
    (()) => {
        unreachable!("select!: default without a default arm")
    };
    (($body:block)) => {
        $body
    };
}
