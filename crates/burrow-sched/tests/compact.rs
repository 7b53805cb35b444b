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
            // Wait for the receiver itself: with a zero decay this
            // goroutine's own 2 ms sleeps are compacted too, so the count
            // of compactions alone could move first.
            wait_until("compaction", 20, || {
                stats().unwrap().compacted_goroutines >= 1
            });
            let s = stats().unwrap();
            assert!(s.stack_compactions > before.stack_compactions, "{s:?}");
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

#[test]
fn a_park_shorter_than_the_decay_is_never_compacted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(rt) = runtime(Duration::from_millis(400)) else {
        return;
    };
    let (short, long) = bounded(60, "decay", move || {
        rt.run(|| {
            use std::sync::Arc;
            use std::sync::atomic::{AtomicUsize, Ordering};
            let before = stats().unwrap().stack_compactions;
            // 50 goroutines park on timers and channels for 10–90 ms at a
            // time, for about 1.5 s: several sysmon sweeps see them parked,
            // none for the decay.
            let done = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = chan::<u64>(0);
            for k in 0..50u64 {
                let (done, rx) = (done.clone(), rx.clone());
                go(move || {
                    for round in 0..20 {
                        burrow_sched::sleep(Duration::from_millis(10 + (k * 7 + round * 3) % 60));
                        if k % 2 == 0 {
                            rx.recv().unwrap();
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
            // Main parks only briefly too: it feeds the receivers and
            // polls for the end.
            let end = Instant::now() + Duration::from_secs(30);
            while done.load(Ordering::Relaxed) < 50 {
                assert!(Instant::now() < end, "the short parkers did not finish");
                let _ = tx.send_timeout(1, Duration::from_millis(20));
            }
            let short = stats().unwrap().stack_compactions - before;
            // Control: a goroutine parked past the decay is compacted.
            let (ltx, lrx) = chan::<()>(0);
            let h = go(move || lrx.recv());
            wait_until("a long park's compaction", 20, || {
                stats().unwrap().stack_compactions > before + short
            });
            let long = stats().unwrap().stack_compactions - before - short;
            ltx.send(()).unwrap();
            h.join().unwrap();
            (short, long)
        })
    });
    assert_eq!(
        short, 0,
        "a goroutine parked less than the decay was compacted"
    );
    assert!(long >= 1, "the control goroutine was never compacted");
}

/// A channel's queue holds compacted plain receivers (their waiter records
/// in their released frames) and `select!` entries that go stale in the
/// middle; the lazy clean-up of stale entries must not mistake a compacted
/// waiter (its frame reads as zeros) for a claimed one and drop it.
#[test]
fn compacted_waiters_survive_the_queue_clean_up() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(rt) = runtime(Duration::ZERO) else {
        return;
    };
    let got = bounded(60, "queue clean-up", move || {
        rt.run(|| {
            let (x_tx, x_rx) = chan::<u64>(0);
            let (out_tx, out_rx) = chan::<u64>(64);
            for _ in 0..20 {
                let (x_rx, out) = (x_rx.clone(), out_tx.clone());
                go(move || out.send(x_rx.recv().unwrap()).unwrap());
            }
            let mut ys = Vec::new();
            for _ in 0..30 {
                let (y_tx, y_rx) = chan::<u64>(0);
                let x_rx = x_rx.clone();
                go(move || {
                    burrow_sched::select! {
                        recv(x_rx) -> v => panic!("no value goes to the selects: {v:?}"),
                        recv(y_rx) -> _ => {}
                    }
                });
                ys.push(y_tx);
            }
            drop((x_rx, out_tx));
            wait_until("compaction of the parked receivers", 20, || {
                stats().unwrap().compacted_goroutines >= 45
            });
            // Wake the selects but the last (the queue's back): their
            // entries in x's queue go stale in the middle, and the clean-up
            // runs once they outnumber half the queue.
            let last = ys.pop().unwrap();
            for y in &ys {
                y.send(0).unwrap();
            }
            last.send(0).unwrap();
            let mut got = Vec::new();
            for v in 0..20u64 {
                x_tx.send_timeout(v, Duration::from_secs(10))
                    .expect("a parked receiver was dropped from the queue");
                got.push(out_rx.recv().unwrap());
            }
            got.sort_unstable();
            got
        })
    });
    assert_eq!(got, (0..20).collect::<Vec<u64>>());
}
