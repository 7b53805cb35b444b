//! Stack compaction (`kernel/compact.rs`): a goroutine parked longer than
//! the decay has its stack's used part copied out and its pages released;
//! it comes back intact when woken, by whichever path wakes it.

mod common;
use common::bounded;

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use burrow_sched::{Runtime, chan, go, stats};

/// The counters are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn runtime(decay: Duration) -> Option<Runtime> {
    let rt = Runtime::builder()
        .maxprocs(2)
        .stack_compaction(Some(decay))
        .build()
        .expect("runtime builds");
    if rt.stack_compaction().is_none() {
        eprintln!("skipped: stack compaction is unavailable here (no membarrier(2))");
        return None;
    }
    Some(rt)
}

/// Waits (bounded) until `f` holds, yielding to the runtime meanwhile.
fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "{what}: not within {secs} s");
        burrow_sched::sleep(Duration::from_millis(2));
    }
}

/// A pattern for goroutine `k`'s stack array.
fn pattern(k: u64, buf: &mut [u64]) {
    for (i, w) in buf.iter_mut().enumerate() {
        *w = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64).rotate_left(17);
    }
}

fn checksum(buf: &[u64]) -> u64 {
    buf.iter()
        .fold(0u64, |a, &w| a.rotate_left(5) ^ w.wrapping_mul(31))
}

#[test]
fn a_parked_goroutine_is_compacted_and_resumes_intact() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(rt) = runtime(Duration::ZERO) else {
        return;
    };
    let (value, intact, resident_while_compacted) = bounded(60, "compact one", move || {
        rt.run(|| {
            let before = stats().unwrap();
            let (tx, rx) = chan::<u64>(0);
            let (ready_tx, ready_rx) = chan::<()>(0);
            let h = go(move || {
                let mut buf = [0u64; 128];
                pattern(7, &mut buf);
                let sum = checksum(black_box(&buf));
                ready_tx.send(()).unwrap();
                let v = rx.recv().unwrap();
                (v, checksum(black_box(&buf)) == sum)
            });
            ready_rx.recv().unwrap();
            wait_until("compaction", 20, || {
                stats().unwrap().stack_compactions > before.stack_compactions
            });
            let s = stats().unwrap();
            assert!(s.compacted_goroutines >= 1, "{s:?}");
            assert!(
                burrow_sched::dump()
                    .unwrap()
                    .contains("chan receive, stack compacted"),
                "the dump shows the compacted goroutine"
            );
            tx.send(42).unwrap();
            let (v, intact) = h.join().unwrap();
            let after = stats().unwrap();
            assert!(after.stack_restores > before.stack_restores, "{after:?}");
            (v, intact, s.stack_resident_bytes)
        })
    });
    assert_eq!(value, 42);
    assert!(intact, "the stack bytes survived compaction");
    let _ = resident_while_compacted;
}
