//! Loom model of the spinning-M Dekker pair (*Spinning Ms* in `sched.rs`,
//! the counters in `spinning.rs`): work submitted while the last spinning
//! M gives up its P is never stranded: either the submitter's `wakep`
//! claims a spinner (and would start an M), or the M's re-check after its
//! fence sees the work (and takes its P back).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p burrow-sched --lib --release loom_`.

use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering, fence};
use loom::thread;

use crate::kernel::spinning::Spinning;

/// One P, held by a spinning M that found nothing; a submitter publishes
/// one unit of work with a SeqCst read-modify-write (as the runnext swap
/// does), then runs `claim`.
fn model(claim: fn(&Spinning) -> bool) {
    loom::model(move || {
        let spin = Arc::new(Spinning::new(1));
        // The M holds the only P and spins.
        spin.p_taken();
        spin.start_spinning();
        let work = Arc::new(AtomicUsize::new(0));

        let submitter = {
            let (spin, work) = (spin.clone(), work.clone());
            thread::spawn(move || {
                // SeqCst RMW: the publish of the work.
                work.swap(1, Ordering::SeqCst);
                claim(&spin)
            })
        };

        // The M gives up: P idle, spinner gone, fence, re-check the queue
        // (`find_runnable`'s last step).
        spin.p_idle();
        spin.stop_spinning();
        fence(Ordering::SeqCst);
        let m_sees_work = work.load(Ordering::SeqCst) != 0;

        let woke = submitter.join().unwrap();
        assert!(
            woke || m_sees_work,
            "work stranded: no spinner claimed and the giving-up M missed it"
        );
    });
}

#[test]
fn loom_wakep_never_strands_work() {
    model(Spinning::claim_spinner);
}

#[test]
fn loom_wakep_after_sc_publish_never_strands_work() {
    model(Spinning::claim_spinner_after_sc_publish);
}

/// Two submitters race for the one spinner slot: at most one claims it.
#[test]
fn loom_one_spinner_claim_at_a_time() {
    loom::model(|| {
        let spin = Arc::new(Spinning::new(2));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let spin = spin.clone();
                thread::spawn(move || spin.claim_spinner())
            })
            .collect();
        let claimed = ts
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&c| c)
            .count();
        assert_eq!(claimed, 1, "exactly one submitter claims the spinner");
        assert_eq!(spin.nmspinning(), 1);
    });
}
