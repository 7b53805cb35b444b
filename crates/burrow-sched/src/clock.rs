//! The runtime clock: instants as nanoseconds since a process-wide origin,
//! so that a timer's `when` fits one atomic word and 0 can mean "none".
//! Timers, the idle path and deadlines all use it.
//!
//! # The coarse clock
//!
//! A socket call checks its deadline first ([`passed`]), and a request
//! makes several calls; reading the precise clock for each shows in a
//! server's profile. Most checks are far from their deadline (seconds
//! away, while calls take microseconds), so [`passed`] first reads
//! `CLOCK_MONOTONIC_COARSE`: the time of the last tick, which the vDSO
//! hands back without reading the TSC. It lags the precise clock by at
//! most one tick, so a deadline more than [`Coarse::slack`] (two ticks
//! and a millisecond) after it has certainly not passed; only a check
//! closer than that reads the precise clock. The answer is exact either
//! way. Rejected: Go's way (the deadline timer marks the descriptor
//! expired and checks only read that mark), which needs a timer armed on
//! every set and lets a call through after its deadline until the timer
//! has run; a clock cached per M (stale by an unknown amount).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The runtime clock's origin: timer instants are stored as nanoseconds
/// since it (plus one, so that 0 can mean "no timer").
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// `t` on the runtime clock: never 0; instants before the origin map to 1
/// (already due).
pub(crate) fn nanos(t: Instant) -> u64 {
    let d = t.saturating_duration_since(base()).as_nanos();
    (d.min(u64::MAX as u128 - 1) as u64) + 1
}

/// Now on the runtime clock.
pub(crate) fn now_nanos() -> u64 {
    nanos(Instant::now())
}

/// The instant of runtime-clock time `n` (`n >= 1`).
pub(crate) fn instant_of(n: u64) -> Instant {
    base() + Duration::from_nanos(n.saturating_sub(1))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn passed_agrees_with_the_precise_clock() {
        let now = now_nanos();
        assert!(passed(now));
        assert!(passed(1));
        assert!(!passed(now + 10_000_000_000));
        // Near deadlines go to the precise clock and still come out right.
        assert!(!passed(now_nanos() + 2_000_000_000));
        let soon = Instant::now() + Duration::from_millis(3);
        assert!(!passed(nanos(soon)));
        std::thread::sleep(Duration::from_millis(4));
        assert!(passed(nanos(soon)));
    }

    #[test]
    fn clock_round_trips_and_never_returns_zero() {
        let t = Instant::now() + Duration::from_millis(3);
        let n = nanos(t);
        assert!(n >= 1);
        assert_eq!(instant_of(n), t);
        assert_eq!(nanos(base() - Duration::from_secs(1)), 1);
    }
}

/// The coarse clock's place on the runtime clock; see *The coarse clock*.
struct Coarse {
    /// `CLOCK_MONOTONIC_COARSE` nanoseconds minus runtime-clock nanoseconds
    /// (std's `Instant` is `CLOCK_MONOTONIC` on Linux, the same time base).
    offset: u64,
    /// How far the coarse clock may lag the precise one, with margin;
    /// `u64::MAX`: the coarse clock is not usable, always read the precise.
    slack: u64,
}

fn coarse_raw() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec on our stack for the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (r == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn coarse() -> &'static Coarse {
    static COARSE: OnceLock<Coarse> = OnceLock::new();
    COARSE.get_or_init(|| {
        const UNUSABLE: Coarse = Coarse {
            offset: 0,
            slack: u64::MAX,
        };
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `res` is a valid timespec on our stack for the call.
        if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } != 0 {
            return UNUSABLE;
        }
        let tick = res.tv_sec as u64 * 1_000_000_000 + res.tv_nsec as u64;
        // The coarse reading first: time that passes between the two
        // reads (a preemption, say) then makes the offset too small, so
        // the coarse clock's estimate of now runs early and `passed` only
        // reads the precise clock more often. The other order would make
        // it run late, and deadlines pass unseen by that much.
        let Some(raw) = coarse_raw() else {
            return UNUSABLE;
        };
        let precise = now_nanos();
        let slack = 2 * tick + 1_000_000;
        // The coarse clock must sit within a tick of the precise one; if
        // not, `Instant` is on another clock: do without.
        match raw.checked_sub(precise) {
            Some(offset) if tick > 0 && tick < 100_000_000 => Coarse { offset, slack },
            _ => UNUSABLE,
        }
    })
}

/// Whether runtime-clock time `d` (`d >= 1`) has passed: exact, but reads
/// the precise clock only when `d` is near (see *The coarse clock*).
pub(crate) fn passed(d: u64) -> bool {
    passed_at(d).is_some()
}

/// [`passed`], giving the precise time it read when `d` has passed (for a
/// caller that needs now, such as the timer run, without a second read).
pub(crate) fn passed_at(d: u64) -> Option<u64> {
    let c = coarse();
    if c.slack != u64::MAX
        && let Some(raw) = coarse_raw()
        && raw.saturating_sub(c.offset).saturating_add(c.slack) < d
    {
        return None;
    }
    let now = now_nanos();
    (now >= d).then_some(now)
}
