//! Go's channel timers (`time.After`, `time.Tick`, `time.Timer`,
//! `time.Ticker`) on the internal timer contract (`crate::timer`): each is
//! a buffered channel of capacity 1 that the timer callback `try_send`s
//! the current [`Instant`] into, as Go's `sendTime` does; a tick that finds
//! the buffer full is dropped (a slow reader sees fewer ticks, never a
//! backlog). Also the deadline helpers of `send_timeout`, `recv_timeout`
//! and `select!`'s timeout arm: a timer that claims the waiter as
//! `TIMED_OUT` (see *The claim* in `chan/mod.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::handles::{Receiver, Sender, chan};
use super::waiter::{TIMED_OUT, Waiter};
use crate::loom::Ordering;
use crate::time::add_timer;
use crate::time::deadline_after;
use crate::timer::{TimerKey, del_timer};

/// A timer that claims `w` as `TIMED_OUT` at `when` and wakes it if it won.
pub(crate) fn claim_at(when: Instant, w: &Arc<Waiter>) -> TimerKey {
    let w = w.clone();
    add_timer(
        when,
        None,
        Box::new(move || {
            if w.try_claim(TIMED_OUT) {
                w.wake();
            }
        }),
    )
}

/// Removes a deadline timer whose waiter was claimed by someone else.
pub(crate) fn cancel(key: &TimerKey) {
    del_timer(key);
}

/// Adds a timer firing at `now + d` (every `period` if set), or nothing
/// if `now + d` overflows (it would never fire).
fn add_after(d: Duration, period: Option<Duration>, tx: Sender<Instant>) -> Arm {
    match deadline_after(d) {
        Some(when) => Arm::Armed(add_timer(when, period, send_time(tx))),
        None => Arm::Forever,
    }
}

/// A channel timer's state, under its lock.
#[derive(Debug)]
enum Arm {
    /// Stopped, fired (for a `Timer`, as far as `stop` can tell) or never
    /// started.
    Idle,
    /// Armed in the timer heap.
    Armed(TimerKey),
    /// Armed for a time past `Instant`'s range: it will never fire, and
    /// there is nothing to delete.
    Forever,
}

impl Arm {
    /// Disarms; true if it was armed and this stopped it before it fired.
    fn stop(&mut self) -> bool {
        match std::mem::replace(self, Arm::Idle) {
            Arm::Idle => false,
            Arm::Armed(k) => del_timer(&k),
            Arm::Forever => true,
        }
    }
}

/// Gives `rx`'s channel a phantom sender, so dropping the real ones does
/// not close it. For a receiver whose timer never fires (`Forever`): a
/// pending timer's callback would hold a sender, and the receiver must
/// wait forever, not see a close.
fn keep_open(rx: &Receiver<Instant>) {
    rx.chan.senders.fetch_add(1, Ordering::Relaxed);
}

/// A timer callback that offers `now` to `tx` without blocking.
fn send_time(tx: Sender<Instant>) -> crate::timer::TimerFn {
    Box::new(move || {
        let _ = tx.try_send(Instant::now());
    })
}

/// A receiver that gets the time once, after `d` (Go's `time.After`). Use
/// it as a `select!` timeout arm: `recv(after(d)) -> _ => ...`.
#[must_use = "the receiver is the only way to see the timer fire"]
pub fn after(d: Duration) -> Receiver<Instant> {
    Timer::new(d).into_receiver()
}

/// A receiver that gets the time every `d` (Go's `time.Tick`); ticks are
/// dropped while one is still unread. As with Go's `Tick` (before Go
/// 1.23), the underlying timer is never stopped, even after the receiver
/// is dropped: use a [`Ticker`] when it must stop.
///
/// # Panics
///
/// If `d` is zero.
#[must_use = "the receiver is the only way to see the ticks"]
pub fn tick(d: Duration) -> Receiver<Instant> {
    assert!(!d.is_zero(), "non-positive interval for tick");
    let (tx, rx) = chan(1);
    match deadline_after(d) {
        // Never stopped.
        Some(when) => drop(add_timer(when, Some(d), send_time(tx))),
        // Never fires: adds nothing; open before `tx` drops.
        None => keep_open(&rx),
    }
    rx
}

/// A one-shot timer whose channel receives the time when it fires (Go's
/// `time.Timer`).
///
/// ```
/// use std::time::Duration;
/// let t = burrow_sched::Timer::new(Duration::from_millis(1));
/// assert!(t.receiver().recv().is_some());
/// ```
#[derive(Debug)]
pub struct Timer {
    rx: Receiver<Instant>,
    tx: Sender<Instant>,
    /// The armed timer; replaced by `reset`. Any thread, under the lock.
    key: Mutex<Arm>,
}

impl Timer {
    /// A timer firing once after `d`; one whose time does not fit in an
    /// [`Instant`] (e.g. `Duration::MAX`) never fires.
    #[must_use = "a dropped Timer never delivers"]
    pub fn new(d: Duration) -> Timer {
        let (tx, rx) = chan(1);
        let key = add_after(d, None, tx.clone());
        Timer {
            rx,
            tx,
            key: Mutex::new(key),
        }
    }

    /// The channel the time is sent on.
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// The channel, keeping the timer running (it cannot be stopped any
    /// more).
    pub fn into_receiver(self) -> Receiver<Instant> {
        if let Arm::Forever = *self.key.lock().unwrap_or_else(|e| e.into_inner()) {
            keep_open(&self.rx);
        }
        self.rx
    }

    /// Stops the timer. True if this stopped it before it fired (Go's
    /// `Stop`); false if it had already fired or been stopped. As in Go,
    /// a value sent before the stop stays in the channel.
    pub fn stop(&self) -> bool {
        self.key.lock().unwrap_or_else(|e| e.into_inner()).stop()
    }

    /// Re-arms the timer to fire after `d`; true if it was still active
    /// (Go's `Reset`). As in Go, drain the channel first if a stale value
    /// must not be seen.
    pub fn reset(&self, d: Duration) -> bool {
        let mut key = self.key.lock().unwrap_or_else(|e| e.into_inner());
        let was = key.stop();
        *key = add_after(d, None, self.tx.clone());
        was
    }
}

/// A periodic timer whose channel receives the time every period (Go's
/// `time.Ticker`); ticks are dropped while one is unread.
#[derive(Debug)]
pub struct Ticker {
    rx: Receiver<Instant>,
    tx: Sender<Instant>,
    /// The running timer; replaced by `reset`, removed by `stop`. Any
    /// thread, under the lock.
    key: Mutex<Arm>,
}

impl Ticker {
    /// A ticker firing every `d`, first after `d` (never, if that time does
    /// not fit in an [`Instant`], e.g. `Duration::MAX`).
    ///
    /// # Panics
    ///
    /// If `d` is zero (as Go's `NewTicker`).
    #[must_use = "a dropped Ticker stops"]
    pub fn new(d: Duration) -> Ticker {
        assert!(!d.is_zero(), "non-positive interval for Ticker::new");
        let (tx, rx) = chan(1);
        let key = add_after(d, Some(d), tx.clone());
        Ticker {
            rx,
            tx,
            key: Mutex::new(key),
        }
    }

    /// The channel the ticks are sent on.
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the ticker; no more ticks are sent (one already being sent
    /// may still arrive).
    pub fn stop(&self) {
        self.key.lock().unwrap_or_else(|e| e.into_inner()).stop();
    }

    /// Stops the ticker and restarts it with period `d`.
    ///
    /// # Panics
    ///
    /// If `d` is zero.
    pub fn reset(&self, d: Duration) {
        assert!(!d.is_zero(), "non-positive interval for Ticker::reset");
        let mut key = self.key.lock().unwrap_or_else(|e| e.into_inner());
        key.stop();
        *key = add_after(d, Some(d), self.tx.clone());
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}
