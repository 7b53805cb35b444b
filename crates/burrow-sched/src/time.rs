//! Sleeping: [`sleep`] and [`sleep_until`] (Go's `time.Sleep`). A
//! goroutine parks on a timer in its P's heap (wait reason
//! [`WaitReason::Sleep`]); a plain thread blocks. See `timer/mod.rs` for
//! how timers fire, and `docs/timers.md`.

use std::time::{Duration, Instant};

use crate::m::current_g;
use crate::park::{Ready, WaitReason, park};
use crate::timer::add_timer;

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
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    sleep_until(Instant::now() + d);
}

/// Pauses the current goroutine until `deadline` (at or after it, never
/// before). Outside a goroutine, blocks the calling thread. A deadline in
/// the past returns at once.
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
    // One pass in practice: the timer fires at or after `deadline`; the
    // loop only guards the "never early" promise.
    while Instant::now() < deadline {
        let mut ready = Some(Ready::for_current());
        let _key = add_timer(
            deadline,
            None,
            Box::new(move || {
                if let Some(r) = ready.take() {
                    r.ready();
                }
            }),
        );
        park(WaitReason::Sleep);
    }
}
