//! The user-facing channel handles: [`chan`], [`Sender`], [`Receiver`],
//! their errors and iterators. The protocol lives in `chan/mod.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::waiter::Slot;
use super::{Chan, Try};
use crate::loom::Ordering;

/// Makes a channel with room for `cap` values (`0`: unbuffered, every send
/// waits for its receiver, Go's `make(chan T, cap)`).
///
/// ```
/// let rt = burrow_sched::Runtime::builder().maxprocs(2).build().unwrap();
/// let got = rt.run(|| {
///     let (tx, rx) = burrow_sched::chan::<u32>(0);
///     burrow_sched::go(move || {
///         for i in 0..3 {
///             tx.send(i).unwrap();
///         }
///         // dropping the last Sender closes the channel
///     });
///     rx.iter().collect::<Vec<_>>()
/// });
/// assert_eq!(got, [0, 1, 2]);
/// ```
#[must_use = "a channel is used through its two ends"]
pub fn chan<T: Send>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let c = Arc::new(Chan::new(cap));
    (Sender { chan: c.clone() }, Receiver { chan: c })
}

/// The sending half of a channel; clone it for more senders. Dropping the
/// last one closes the channel.
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// The receiving half of a channel; clone it for more receivers (each
/// value goes to one of them). Dropping the last one closes the channel.
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

/// The channel was closed: the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why [`Sender::try_send`] failed; the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No room and no receiver waiting.
    Full(T),
    /// The channel is closed.
    Closed(T),
}

/// Why [`Sender::send_timeout`] failed; the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendTimeoutError<T> {
    /// The timeout passed first.
    Timeout(T),
    /// The channel is closed.
    Closed(T),
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing there yet.
    Empty,
    /// Closed and drained.
    Closed,
}

/// Why [`Receiver::recv_timeout`] returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The timeout passed first.
    Timeout,
    /// Closed and drained.
    Closed,
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}
impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "Full(..)",
            TrySendError::Closed(_) => "Closed(..)",
        })
    }
}
impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendTimeoutError::Timeout(_) => "Timeout(..)",
            SendTimeoutError::Closed(_) => "Closed(..)",
        })
    }
}
impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("send on a closed channel")
    }
}
impl<T> std::error::Error for SendError<T> {}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}
impl<T> SendTimeoutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Closed(v) => v,
        }
    }
}

impl<T: Send> Sender<T> {
    /// Sends `v`, parking until a receiver takes it (unbuffered) or there
    /// is room. Fails, giving `v` back, if the channel is or gets closed.
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        self.send_deadline(v, None).map_err(|e| match e {
            SendTimeoutError::Closed(v) => SendError(v),
            SendTimeoutError::Timeout(_) => unreachable!("no deadline"),
        })
    }

    /// Sends `v` if that needs no waiting.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        crate::kernel::runtime::preempt_point();
        let c = &*self.chan;
        let mut s = c.lock();
        match c.try_send_locked(&mut s, v) {
            Try::Done(w) => {
                drop(s);
                if let Some(w) = w {
                    w.unpark();
                }
                Ok(())
            }
            Try::Closed(v) => Err(TrySendError::Closed(v)),
            Try::Block(v) => Err(TrySendError::Full(v.expect("send keeps its value"))),
            Try::Got(..) => unreachable!("send never receives"),
        }
    }

    /// Sends `v`, waiting at most `d`. A `d` too large to add to now
    /// (e.g. `Duration::MAX`) means no deadline: it waits like `send`.
    pub fn send_timeout(&self, v: T, d: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline(v, Instant::now().checked_add(d))
    }

    fn send_deadline(&self, v: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        crate::kernel::runtime::preempt_point();
        let c = &*self.chan;
        let mut s = c.lock();
        match c.try_send_locked(&mut s, v) {
            Try::Done(w) => {
                drop(s);
                if let Some(w) = w {
                    w.unpark();
                }
                Ok(())
            }
            Try::Closed(v) => Err(SendTimeoutError::Closed(v)),
            Try::Block(v) => {
                if deadline.is_some_and(|d| d <= Instant::now()) {
                    return Err(SendTimeoutError::Timeout(v.expect("send keeps its value")));
                }
                let slot = Slot::new(v);
                let delivered = c.block(s, &slot, true, deadline);
                // SAFETY: our entry was claimed and popped, or retired
                // after the timeout: nobody else touches the slot now.
                match unsafe { slot.take() } {
                    None => Ok(()),
                    Some(v) if delivered => Err(SendTimeoutError::Closed(v)),
                    Some(v) => Err(SendTimeoutError::Timeout(v)),
                }
            }
            Try::Got(..) => unreachable!("send never receives"),
        }
    }

    /// Closes the channel (Go's `close`): receivers drain what is buffered
    /// and then get `None`; blocked and later senders get their value
    /// back. Returns false if it was already closed (Go panics), or if
    /// this is a [`Sender::never`] (Go panics on closing a nil channel; it
    /// stays a channel that never fires).
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// A sender whose sends never complete (Go's nil channel): a `select!`
    /// send arm on it never fires; a plain `send` parks forever.
    /// [`Sender::close`] on it does nothing and returns false.
    pub fn never() -> Sender<T> {
        // Its one receiver count is a phantom: never closed by drops, and
        // `never` makes `close` a no-op.
        Sender {
            chan: Arc::new(Chan::with_never(0, true)),
        }
    }
}

impl<T> Sender<T> {
    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }
    /// True if nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The buffer's capacity (0: unbuffered).
    pub fn cap(&self) -> usize {
        self.chan.cap
    }
    /// True once the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }
}

impl<T: Send> Receiver<T> {
    /// Receives a value, parking until there is one. `None` once the
    /// channel is closed and drained.
    pub fn recv(&self) -> Option<T> {
        self.recv_deadline(None).ok()
    }

    /// Receives a value if that needs no waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        crate::kernel::runtime::preempt_point();
        let c = &*self.chan;
        let mut s = c.lock();
        match c.try_recv_locked(&mut s) {
            Try::Got(v, w) => {
                drop(s);
                if let Some(w) = w {
                    w.unpark();
                }
                v.ok_or(TryRecvError::Closed)
            }
            Try::Block(_) => Err(TryRecvError::Empty),
            Try::Done(_) | Try::Closed(_) => unreachable!("receive only gets or blocks"),
        }
    }

    /// Receives a value, waiting at most `d`. A `d` too large to add to
    /// now (e.g. `Duration::MAX`) means no deadline: it waits like `recv`.
    pub fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(Instant::now().checked_add(d))
    }

    fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        crate::kernel::runtime::preempt_point();
        let c = &*self.chan;
        let mut s = c.lock();
        match c.try_recv_locked(&mut s) {
            Try::Got(v, w) => {
                drop(s);
                if let Some(w) = w {
                    w.unpark();
                }
                v.ok_or(RecvTimeoutError::Closed)
            }
            Try::Block(_) => {
                if deadline.is_some_and(|d| d <= Instant::now()) {
                    return Err(RecvTimeoutError::Timeout);
                }
                let slot = Slot::new(None);
                let claimed = c.block(s, &slot, false, deadline);
                // SAFETY: our entry was popped or retired (as above).
                match unsafe { slot.take() } {
                    Some(v) => Ok(v),
                    None if claimed => Err(RecvTimeoutError::Closed),
                    None => Err(RecvTimeoutError::Timeout),
                }
            }
            Try::Done(_) | Try::Closed(_) => unreachable!("receive only gets or blocks"),
        }
    }

    /// A blocking iterator: yields until the channel is closed and
    /// drained (`for v in &rx`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator over what can be received right now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// A receiver that never receives (Go's nil channel): a `select!` arm
    /// on it never fires; a plain `recv` parks forever.
    pub fn never() -> Receiver<T> {
        // Its one sender count is a phantom: never closed by drops.
        Receiver {
            chan: Arc::new(Chan::with_never(0, true)),
        }
    }
}

impl<T> Receiver<T> {
    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }
    /// True if nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The buffer's capacity (0: unbuffered).
    pub fn cap(&self) -> usize {
        self.chan.cap
    }
    /// True once the channel is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// Operations (receives, sends, select arms) parked on this channel
    /// now. For tests ("every waiter is blocked before the close"); not a
    /// stable API.
    #[doc(hidden)]
    pub fn __waiters(&self) -> usize {
        self.chan.waiters()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}
impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}
impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: the last dropper sees every other handle's work
        // (pairs with their Release decrements) before it closes.
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}
impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // AcqRel: as in `Sender::drop`.
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}
impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("cap", &self.chan.cap)
            .finish()
    }
}
impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("cap", &self.chan.cap)
            .finish()
    }
}

/// Blocking iterator of [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}
impl<T: Send> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

/// Non-blocking iterator of [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}
impl<T: Send> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator (`for v in rx`).
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}
impl<T: Send> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}
impl<T: Send> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
impl<'a, T: Send> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
