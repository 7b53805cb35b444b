//! Sleeping: [`sleep`] and [`sleep_until`] (Go's `time.Sleep`). A
//! goroutine parks on a timer in its P's heap (wait reason
//! [`WaitReason::Sleep`]); a plain thread blocks. See `timer/mod.rs` for
//! how timers fire, and `docs/timers.md`.

use std::time::{Duration, Instant};

use crate::clock::{instant_of, nanos};
use crate::kernel::m::{current_g, with_m};
use crate::kernel::park::{Ready, WaitReason, park};
use crate::timer::{TimerFn, TimerKey, add_fallback};

/// Runs `f` at or after `when`, then every `period` if given: the timer
/// contract of `timer/mod.rs` (which also has [`crate::timer::del_timer`]).
/// On an M of a live runtime (a goroutine, or a timer callback) the timer
/// goes into the current P's heap and the runtime is told (Go's
/// `wakeNetPoller`: an idle runtime may have to wake earlier); anywhere
/// else into the fallback thread's.
pub(crate) fn add_timer(when: Instant, period: Option<Duration>, f: TimerFn) -> TimerKey {
    let period = period.filter(|p| !p.is_zero());
    let w = nanos(when);
    let home = with_m(|m| {
        m.filter(|m| !m.rt.is_shutdown())
            .map(|m| (m.rt, m.pid().unwrap_or(0)))
    });
    match home {
        Some((rt, pid)) => {
            let key = rt.ps[pid].timers.add(w, period, f);
            rt.timer_added(w);
            key
        }
        None => add_fallback(w, period, f),
    }
}

/// Pauses the current goroutine for at least `d` (Go's `time.Sleep`).
/// Other goroutines run meanwhile; the M is not blocked. Outside a
/// goroutine, blocks the calling thread. A zero duration returns at once.
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = burrow_sched::Runtime::builder().maxprocs(1).build().unwrap();
/// let slept = rt.run(|| {
///     let t = Instant::now();
///     burrow_sched::sleep(Duration::from_millis(5));
///     t.elapsed()
/// });
/// assert!(slept >= Duration::from_millis(5));
/// ```
///
/// A duration too long for [`Instant`] (`Duration::MAX`, "forever")
/// sleeps forever, as Go's `time.Sleep(math.MaxInt64)` does in practice:
/// the goroutine parks on a timer that never fires, which (as in Go)
/// counts as a pending timer, so deadlock detection does not report it.
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    let deadline = deadline_after(d).unwrap_or_else(never);
    if current_g().is_some() {
        // Just computed from the clock with `d > 0`: still ahead.
        sleep_goroutine(deadline, true);
    } else {
        sleep_until(deadline);
    }
}

/// `now + d`, or None when that overflows [`Instant`] (`Duration::MAX`):
/// the caller treats None as "no deadline". Every timeout the runtime
/// accepts from users goes through this (or `checked_add`), so a
/// "forever" duration never panics.
pub(crate) fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// The latest instant the runtime clock can name (about 584 years after
/// the process started): a timer set for it never fires.
pub(crate) fn never() -> Instant {
    instant_of(u64::MAX)
}

/// Pauses the current goroutine until `deadline` (at or after it, never
/// before). Outside a goroutine, blocks the calling thread. A deadline in
/// the past returns at once; one beyond the runtime clock's range (about
/// 584 years) never comes.
pub fn sleep_until(deadline: Instant) {
    if current_g().is_none() {
        // A plain thread (or an M's own stack): block the thread.
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::sleep(deadline - now);
        }
    }
    sleep_goroutine(deadline, false);
}

/// [`sleep_until`] in a goroutine: parks on a timer of the current P (or
/// of the fallback thread once the runtime is shutting down) until the
/// deadline has passed, reusing the G's timer (*A sleep's timer* in
/// `timer/mod.rs`). `ahead`: the caller knows the deadline is still
/// ahead (it just computed it from the clock), which saves a clock read.
fn sleep_goroutine(deadline: Instant, mut ahead: bool) {
    let when = nanos(deadline);
    // One pass in practice: the timer fires at or after `deadline`; the
    // loop only guards the "never early" promise.
    while ahead || Instant::now() < deadline {
        ahead = false;
        let ready = Ready::for_current();
        let here = with_m(|m| {
            let m = m.filter(|m| !m.rt.is_shutdown())?;
            Some((m.rt, m.pid().unwrap_or(0), m.curg.get()?))
        });
        match here {
            Some((rt, pid, g)) => {
                g.g()
                    .with_sleep_timer(|cache| rt.ps[pid].timers.add_wake(when, ready, cache));
                rt.timer_added(when);
            }
            None => {
                let mut ready = Some(ready);
                let _key = add_fallback(
                    when,
                    None,
                    Box::new(move || {
                        if let Some(r) = ready.take() {
                            r.ready();
                        }
                    }),
                );
            }
        }
        park(WaitReason::Sleep);
    }
}
