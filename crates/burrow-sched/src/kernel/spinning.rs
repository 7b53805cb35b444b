//! The spinning-M counters (see *Spinning Ms* in `sched.rs`): idle Ps and
//! spinning Ms, and the two halves of the Dekker pair that keeps work from
//! being stranded when the last spinning M gives up just as work is
//! submitted. Through the `loom` facade, so that `loom_idle.rs` checks
//! these very methods.

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicUsize, Ordering, fence};

/// The two counters of *Spinning Ms* (`sched.rs`): idle Ps and spinning
/// Ms, read without the sched lock by every `wakep`, and the operations
/// of the Dekker pair on them. They go through the `loom` facade so the
/// loom model `loom_idle.rs` checks these very methods.
pub(crate) struct Spinning {
    /// Number of idle Ps (mirrors `Idle::pidle.len()`; kept off the lines
    /// other counters write).
    npidle: CachePadded<AtomicUsize>,
    /// Number of spinning Ms.
    nmspinning: CachePadded<AtomicUsize>,
}

impl Spinning {
    /// All `maxprocs` Ps idle, no M spinning.
    pub(crate) fn new(maxprocs: usize) -> Spinning {
        Spinning {
            npidle: CachePadded::new(AtomicUsize::new(maxprocs)),
            nmspinning: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Idle Ps now.
    pub(crate) fn npidle(&self) -> usize {
        // SeqCst: part of the Dekker pair in *Spinning Ms*.
        self.npidle.load(Ordering::SeqCst)
    }

    /// Spinning Ms now.
    pub(crate) fn nmspinning(&self) -> usize {
        // SeqCst: part of the Dekker pair in *Spinning Ms*.
        self.nmspinning.load(Ordering::SeqCst)
    }

    /// A P went idle (under the sched lock): the M's store of the pair.
    pub(crate) fn p_idle(&self) {
        // SeqCst: the M's half of the Dekker pair in *Spinning Ms*.
        self.npidle.fetch_add(1, Ordering::SeqCst);
    }

    /// A P was taken from the idle list (under the sched lock).
    pub(crate) fn p_taken(&self) {
        // SeqCst: the same pair.
        self.npidle.fetch_sub(1, Ordering::SeqCst);
    }

    /// An M starts spinning.
    pub(crate) fn start_spinning(&self) {
        // SeqCst: the same pair.
        self.nmspinning.fetch_add(1, Ordering::SeqCst);
    }

    /// An M stops spinning (it found work, gave up its P, or a wake found
    /// no idle P after claiming a spinner).
    pub(crate) fn stop_spinning(&self) {
        // SeqCst: the M's store of the pair when it gives up.
        self.nmspinning.fetch_sub(1, Ordering::SeqCst);
    }

    /// Go's `wakep` decision, for a submitter that has published its work:
    /// true if an idle P exists and no M spins, in which case the caller
    /// has claimed the one spinner slot (0 → 1) and must start an M (or
    /// call [`Spinning::stop_spinning`] if none can start). The fence is
    /// the submitter's half of the Dekker pair.
    pub(crate) fn claim_spinner(&self) -> bool {
        fence(Ordering::SeqCst);
        self.claim_spinner_after_sc_publish()
    }

    /// [`Spinning::claim_spinner`] without its fence, for a submitter whose
    /// publish was itself a SeqCst read-modify-write (the runnext swap):
    /// see `Shared::wakep_after_sc_publish` for why that is enough under
    /// the C++20 model. loom models SeqCst fences but treats SeqCst
    /// accesses as AcqRel, so under loom the fence stays in.
    pub(crate) fn claim_spinner_after_sc_publish(&self) -> bool {
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        // SeqCst: the Dekker pair; see above.
        if self.npidle.load(Ordering::SeqCst) == 0 {
            return false;
        }
        // SeqCst: same pair; only one waker wins the 0 → 1 transition.
        self.nmspinning.load(Ordering::SeqCst) == 0
            && self
                .nmspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
    }
}
