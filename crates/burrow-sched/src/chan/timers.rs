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
use crate::timer::{TimerKey, add_timer, del_timer};

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

/// A timer callback that offers `now` to `tx` without blocking.
fn send_time(tx: Sender<Instant>) -> crate::timer::TimerFn {
    Box::new(move || {
        let _ = tx.try_send(Instant::now());
    })
}

/// A receiver that gets the time once, after `d` (Go's `time.After`). Use
/// it as a `select!` timeout arm: `recv(after(d)) -> _ => ...`.
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
pub fn tick(d: Duration) -> Receiver<Instant> {
    assert!(!d.is_zero(), "non-positive interval for tick");
    let (tx, rx) = chan(1);
    let _forever = add_timer(Instant::now() + d, Some(d), send_time(tx));
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
    key: Mutex<Option<TimerKey>>,
}

impl Timer {
    /// A timer firing once after `d`.
    pub fn new(d: Duration) -> Timer {
        let (tx, rx) = chan(1);
        let key = add_timer(Instant::now() + d, None, send_time(tx.clone()));
        Timer {
            rx,
            tx,
            key: Mutex::new(Some(key)),
        }
    }

    /// The channel the time is sent on.
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// The channel, keeping the timer running (it cannot be stopped any
    /// more).
    pub fn into_receiver(self) -> Receiver<Instant> {
        self.rx
    }

    /// Stops the timer. True if this stopped it before it fired (Go's
    /// `Stop`); false if it had already fired or been stopped. As in Go,
    /// a value sent before the stop stays in the channel.
    pub fn stop(&self) -> bool {
        let key = self.key.lock().unwrap_or_else(|e| e.into_inner()).take();
        key.is_some_and(|k| del_timer(&k))
    }

    /// Re-arms the timer to fire after `d`; true if it was still active
    /// (Go's `Reset`). As in Go, drain the channel first if a stale value
    /// must not be seen.
    pub fn reset(&self, d: Duration) -> bool {
        let mut key = self.key.lock().unwrap_or_else(|e| e.into_inner());
        let was = key.take().is_some_and(|k| del_timer(&k));
        *key = Some(add_timer(
            Instant::now() + d,
            None,
            send_time(self.tx.clone()),
        ));
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
    key: Mutex<Option<TimerKey>>,
}

impl Ticker {
    /// A ticker firing every `d`, first after `d`.
    ///
    /// # Panics
    ///
    /// If `d` is zero (as Go's `NewTicker`).
    pub fn new(d: Duration) -> Ticker {
        assert!(!d.is_zero(), "non-positive interval for Ticker::new");
        let (tx, rx) = chan(1);
        let key = add_timer(Instant::now() + d, Some(d), send_time(tx.clone()));
        Ticker {
            rx,
            tx,
            key: Mutex::new(Some(key)),
        }
    }

    /// The channel the ticks are sent on.
    pub fn receiver(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the ticker; no more ticks are sent (one already being sent
    /// may still arrive).
    pub fn stop(&self) {
        if let Some(k) = self.key.lock().unwrap_or_else(|e| e.into_inner()).take() {
            del_timer(&k);
        }
    }

    /// Stops the ticker and restarts it with period `d`.
    ///
    /// # Panics
    ///
    /// If `d` is zero.
    pub fn reset(&self, d: Duration) {
        assert!(!d.is_zero(), "non-positive interval for Ticker::reset");
        let mut key = self.key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = key.take() {
            del_timer(&k);
        }
        *key = Some(add_timer(
            Instant::now() + d,
            Some(d),
            send_time(self.tx.clone()),
        ));
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}
