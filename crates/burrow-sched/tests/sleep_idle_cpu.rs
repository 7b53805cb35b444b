//! An idle runtime sleeps until its next timer instead of polling: one
//! goroutine sleeping 300 ms on a 4-P runtime costs the process little CPU
//! (getrusage utime + stime), and it wakes on time.

mod common;
use common::{bounded, rt};

use std::time::{Duration, Instant};

fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[test]
fn idle_runtime_sleeps_until_the_timer() {
    let (slept, cpu) = bounded(60, "idle sleep", || {
        rt(4).run(|| {
            // Warm up: start the Ms, let them go idle.
            let hs: Vec<_> = (0..8).map(|_| burrow_sched::go(|| 1)).collect();
            for h in hs {
                h.join().unwrap();
            }
            let cpu0 = cpu_time();
            let t = Instant::now();
            burrow_sched::sleep(Duration::from_millis(300));
            (t.elapsed(), cpu_time() - cpu0)
        })
    });
    eprintln!("slept {slept:?}, process CPU {cpu:?}");
    assert!(slept >= Duration::from_millis(300), "woke early: {slept:?}");
    assert!(slept < Duration::from_millis(1000), "woke late: {slept:?}");
    // A busy-waiting M would burn ~300 ms; a sleeping runtime burns well
    // under a millisecond. Bounded generously (other tests share the
    // process in parallel only in their own binaries).
    assert!(
        cpu < Duration::from_millis(60),
        "the idle runtime burned {cpu:?} of CPU in 300 ms"
    );
}
