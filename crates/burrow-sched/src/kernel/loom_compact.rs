//! Loom model of stack compaction against wake-ups (*The protocol* in
//! `compact.rs`): the compactor (sysmon) claims a parked goroutine, passes
//! the barrier and copies its stack out, while a channel claimer writes
//! into the stack and an M resumes the goroutine. The "stack" and the
//! "buffer" are loom cells, so any access the protocol fails to order is
//! a reported race; the assertions check that no write is lost and that
//! the goroutine always resumes on its own bytes.
//!
//! `membarrier` is modelled as what it amounts to, a `SeqCst` fence on
//! the light side (`light_barrier`) and on the compactor's
//! (`heavy_barrier`).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p burrow-sched --lib --release loom_`.

use std::ptr::NonNull;
use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::thread;

use crate::kernel::compact::{Compaction, heavy_barrier};

/// A parked goroutine's stack (one word of it) and compaction's buffer.
struct Mem {
    stack: UnsafeCell<u64>,
    saved: UnsafeCell<u64>,
}

impl Mem {
    fn new(v: u64) -> Arc<Mem> {
        Arc::new(Mem {
            stack: UnsafeCell::new(v),
            saved: UnsafeCell::new(0),
        })
    }

    /// `G::copy_out_stack` and the batched release: copy out, zero.
    fn copy_out(&self) -> Option<*mut u8> {
        self.stack.with_mut(|s| {
            // SAFETY: loom checks that the protocol gives us the stack
            // alone (`COMPACTING`); any racing access is reported.
            self.saved.with_mut(|b| unsafe {
                *b = *s;
                *s = 0;
            })
        });
        Some(NonNull::<u8>::dangling().as_ptr())
    }

    /// `G::restore_stack`: copy back.
    fn restore(&self) {
        self.stack.with_mut(|s| {
            // SAFETY: as above, under `RESTORING`.
            self.saved.with(|b| unsafe { *s = *b })
        });
    }

    fn read(&self) -> u64 {
        // SAFETY: as above: the caller made the stack its own.
        self.stack.with(|s| unsafe { *s })
    }

    fn write(&self, v: u64) {
        // SAFETY: as above.
        self.stack.with_mut(|s| unsafe { *s = v });
    }
}

/// sysmon's part on its own thread, as its sweep does it: claim, barrier,
/// confirm, copy out and release, publish.
fn spawn_compactor(c: &Arc<Compaction>, m: &Arc<Mem>) -> thread::JoinHandle<()> {
    let (c, m) = (c.clone(), m.clone());
    thread::spawn(move || {
        if let Some(epoch) = c.try_claim() {
            heavy_barrier();
            if c.begin(epoch) {
                c.finish(m.copy_out());
            }
        }
    })
}

/// A channel claimer writes into the parked goroutine's frame and readies
/// it, while sysmon may compact it; the M then resumes it. The write
/// survives and the goroutine sees it.
#[test]
fn loom_compaction_never_loses_a_claimers_write() {
    loom::model(|| {
        let c = Arc::new(Compaction::new()); // epoch 0: parked
        let m = Mem::new(42);

        let sysmon = spawn_compactor(&c, &m);
        let claimer = {
            let (c, m) = (c.clone(), m.clone());
            thread::spawn(move || {
                c.before_touch(|_, _| m.restore());
                m.write(m.read() + 1);
            })
        };

        // The M: takes the readied G from its queue (the join stands for
        // the run queue's Release/Acquire hand-off) and resumes it, while
        // sysmon may still be at work.
        claimer.join().unwrap();
        c.before_run(|_, _| m.restore());
        assert_eq!(
            m.read(),
            43,
            "the goroutine resumed without the claimer's write"
        );
        sysmon.join().unwrap();
    });
}

/// A goroutine readied without a claimer (a timer, the netpoller) runs,
/// writes its stack and parks again while a compactor holds a claim from
/// its first park: the stale claim never compacts the second park, a
/// fresh one may, and either way the goroutine's bytes survive.
#[test]
fn loom_a_stale_claim_never_compacts_a_later_park() {
    loom::model(|| {
        let c = Arc::new(Compaction::new()); // epoch 0: parked
        let m = Mem::new(42);

        let sysmon = spawn_compactor(&c, &m);

        // The M resumes the goroutine; it runs and parks again.
        c.before_run(|_, _| m.restore());
        assert_eq!(m.read(), 42, "resumed on its own bytes");
        m.write(50);
        c.parked();

        sysmon.join().unwrap();
        // Woken once more: whatever sysmon did, the bytes come back.
        c.before_run(|_, _| m.restore());
        assert_eq!(m.read(), 50, "the second park's bytes were lost");
    });
}
