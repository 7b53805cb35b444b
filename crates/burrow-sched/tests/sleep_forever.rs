//! `sleep(Duration::MAX)` ("forever", `time.rs`) must not panic with
//! "overflow when adding duration to instant"; it sleeps forever, in a
//! goroutine and on a plain thread.

mod common;
use common::bounded;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use burrow_sched::{Runtime, go, sleep};

#[test]
fn goroutine_sleeping_duration_max_neither_panics_nor_wakes() {
    let (entered, panicked, woke) = bounded(10, "sleep forever in a goroutine", || {
        // One P: the goroutine runs until it parks (or has caught its
        // panic) before main runs again, whatever the timing.
        Runtime::builder().maxprocs(1).build().unwrap().run(|| {
            let flags: Arc<[AtomicBool; 3]> = Arc::new(Default::default());
            let f = flags.clone();
            let _h = go(move || {
                f[0].store(true, Ordering::SeqCst);
                let r = std::panic::catch_unwind(|| sleep(Duration::MAX));
                let i = if r.is_err() { 1 } else { 2 };
                f[i].store(true, Ordering::SeqCst);
            });
            sleep(Duration::from_millis(50));
            let get = |i: usize| flags[i].load(Ordering::SeqCst);
            (get(0), get(1), get(2))
        })
    });
    assert!(entered, "the goroutine never ran: the test tests nothing");
    assert!(!panicked, "sleep(Duration::MAX) panicked");
    assert!(!woke, "slept less than forever");
}

#[test]
fn thread_sleeping_duration_max_neither_panics_nor_wakes() {
    let th = std::thread::spawn(|| sleep(Duration::MAX));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!th.is_finished(), "the sleeping thread ended (panicked?)");
}

#[test]
fn sleep_until_far_future_does_not_panic() {
    let far = std::time::Instant::now() + Duration::from_secs(1000 * 365 * 24 * 3600);
    let th = std::thread::spawn(move || burrow_sched::sleep_until(far));
    let r = bounded(10, "sleep_until far future in a goroutine", move || {
        Runtime::builder()
            .maxprocs(1)
            .build()
            .unwrap()
            .run(move || {
                let h = go(move || burrow_sched::sleep_until(far));
                sleep(Duration::from_millis(50));
                h.is_finished()
            })
    });
    assert!(!r, "goroutine sleeping until a far deadline ended");
    assert!(!th.is_finished());
}
