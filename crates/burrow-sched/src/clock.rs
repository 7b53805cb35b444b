//! The runtime clock: instants as nanoseconds since a process-wide origin,
//! so that a timer's `when` fits one atomic word and 0 can mean "none".
//! Timers, the idle path and deadlines all use it.

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
    fn clock_round_trips_and_never_returns_zero() {
        let t = Instant::now() + Duration::from_millis(3);
        let n = nanos(t);
        assert!(n >= 1);
        assert_eq!(instant_of(n), t);
        assert_eq!(nanos(base() - Duration::from_secs(1)), 1);
    }
}
