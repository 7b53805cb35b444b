//! P: a processor, the right to run goroutines (Go's `p`), split by who
//! may touch it.
//!
//! # The P: a core that moves, and a shared face
//!
//! A P is split by who may touch it (tokio's `Core` and `Shared`):
//!
//! - [`PCore`]: what only the P's holder touches: the owner handle of its
//!   run queue (`runq::Local`), its schedule tick, its free Gs, its
//!   goroutine-id cache and live-goroutine count. It is one owned value
//!   (`Box<PCore>`) that moves between Ms: the idle list holds it while
//!   the P is idle, [`MNote`] carries it to the M that is handed the P,
//!   and that M keeps it in its context. Holding the value *is* owning the
//!   P, so the owner-only operations take `&mut PCore` and need no unsafe
//!   promise.
//! - [`P`]: what others touch: the steal handle of its run queue, the
//!   schedule tick and goroutine count as the owner last published them,
//!   and its timer heap (any thread, under its own lock). It stays in
//!   `Shared::ps` for the runtime's life.
//!

use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, Ordering,
};

use crate::kernel::g::{GFree, Runnable};
use crate::kernel::runq;
use crate::timer::PTimers;

/// The shared face of a P (Go's `p`, the fields others read): see *The P:
/// a core that moves, and a shared face*.
pub(crate) struct P {
    /// Index in `Shared::ps`.
    pub(crate) id: usize,
    /// The steal handle of this P's run queue (the owner handle is in its
    /// [`PCore`]).
    pub(crate) runq: runq::Steal<Runnable>,
    /// The owner's schedule tick as last published (one store per
    /// schedule), for a thief deciding whether the owner has run its
    /// `runnext` meanwhile (`grab_into` in `runq.rs`).
    pub(crate) schedtick: AtomicU32,
    /// Goroutines spawned minus goroutines exited on this P (may be
    /// negative: a G often exits on another P than the one that spawned
    /// it), as the owner last published it. Go keeps no global live-G
    /// counter either: a shared one is one contended cache line per spawn
    /// and per exit (`skynet_1m` with 16 Ps got slower than with 8 because
    /// of it).
    ngoroutine: AtomicI64,
    /// This P's timer heap (Go's `pp.timers`): any thread, under its own
    /// lock. See `timer/mod.rs`.
    pub(crate) timers: PTimers,
    /// The P's core while its M is in a blocking call (Go's `_Psyscall`),
    /// null otherwise: the M parks it here on entry and takes it back on
    /// exit; sysmon may take it first and hand it to another M. Whoever
    /// swaps it out owns it. See *Blocking calls* in `syscall.rs`.
    pub(crate) syscall: AtomicPtr<PCore>,
    /// When the blocking call began (runtime clock), for sysmon.
    pub(crate) syscall_when: AtomicU64,
    /// Set by sysmon when the goroutine on this P has run for
    /// `FORCE_PREEMPT` without a runtime call; runtime calls that can
    /// yield honour it (see *Starvation* in `sysmon.rs`).
    pub(crate) preempt: AtomicBool,
    /// A spare P: lent by sysmon to run the work of a P starved by a long
    /// goroutine, never on the idle list (see *Starvation* in `sysmon.rs`).
    pub(crate) spare: bool,
    /// Goroutine switches on this P (schedules), as the owner last
    /// published them; for [`crate::Stats::switches`].
    pub(crate) switches: AtomicU64,
    /// Successful steals by this P's M (a batch or a `runnext` each).
    pub(crate) steals: AtomicU64,
    /// Times a goroutine on this P yielded at a runtime call because
    /// sysmon asked it to (see *Starvation* in `sysmon.rs`).
    pub(crate) preemptions: AtomicU64,
}

/// The part of a P only its holder touches, moved between Ms as one value
/// (see *The P: a core that moves, and a shared face*).
pub(crate) struct PCore {
    /// Index in `Shared::ps` of this P's shared face.
    pub(crate) id: usize,
    /// The owner handle of the run queue and `runnext`.
    pub(crate) runq: runq::Local<Runnable>,
    /// Schedules so far; drives the 1-in-61 global check. Published to
    /// [`P::schedtick`] (low bits) and [`P::switches`].
    tick: u64,
    /// Free Gs with their stacks (see *Warm stacks* in `g.rs`).
    pub(crate) gfree: GFree,
    /// Goroutine id cache `[next, end)`.
    goid_next: u64,
    goid_end: u64,
    /// See [`P::ngoroutine`], published there.
    ngoroutine: i64,
}

/// Preemption requests outstanding in the process (Ps whose `preempt`
/// flag is set, give or take a request being set or cleared right now).
/// The preemption point reads this first: one load of a line that is
/// written only when sysmon finds a starved P, instead of a thread-local
/// lookup at every channel operation.
static PREEMPT_REQUESTS: AtomicIsize = AtomicIsize::new(0);

/// Whether any P may have a preemption request (the fast check of
/// `preempt_point`). Relaxed: a hint; a request seen late only delays the
/// yield to the next runtime call.
#[inline]
pub(crate) fn preempt_requested_anywhere() -> bool {
    PREEMPT_REQUESTS.load(Ordering::Relaxed) != 0
}

impl P {
    /// sysmon's request that the goroutine on this P yield at its next
    /// runtime call (see *Starvation* in `sysmon.rs`).
    pub(crate) fn request_preempt(&self) {
        // Relaxed: the flag and the count are hints (see
        // `PREEMPT_REQUESTS`); the swap keeps the count to one per flag.
        if !self.preempt.swap(true, Ordering::Relaxed) {
            PREEMPT_REQUESTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl PCore {
    /// Advances and publishes the schedule tick; returns the old value. A
    /// schedule also ends any preemption request (the long goroutine has
    /// switched out).
    pub(crate) fn tick(&mut self, p: &P) -> u64 {
        let t = self.tick;
        self.tick = t + 1;
        // Relaxed: a hint for thieves and sysmon (see `P::schedtick`); the
        // low 32 bits are enough to see that the owner has moved on.
        p.schedtick.store(self.tick as u32, Ordering::Relaxed);
        // Relaxed: a statistic; only this core's holder writes it.
        p.switches.store(self.tick, Ordering::Relaxed);
        if p.preempt.load(Ordering::Relaxed) && p.preempt.swap(false, Ordering::Relaxed) {
            PREEMPT_REQUESTS.fetch_sub(1, Ordering::Relaxed);
        }
        t
    }
}

impl P {
    /// A new P `id` (a spare one if `spare`): its shared face and its core.
    pub(crate) fn new(id: usize, spare: bool) -> (P, Box<PCore>) {
        let (steal, local) = runq::local();
        let p = P {
            id,
            runq: steal,
            schedtick: AtomicU32::new(0),
            ngoroutine: AtomicI64::new(0),
            timers: PTimers::default(),
            syscall: AtomicPtr::new(std::ptr::null_mut()),
            syscall_when: AtomicU64::new(0),
            preempt: AtomicBool::new(false),
            spare,
            switches: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            preemptions: AtomicU64::new(0),
        };
        let core = Box::new(PCore {
            id,
            runq: local,
            tick: 0,
            gfree: GFree::default(),
            goid_next: 0,
            goid_end: 0,
            ngoroutine: 0,
        });
        (p, core)
    }

    /// Live goroutines counted on this P, as its owner last published.
    pub(crate) fn ngoroutine(&self) -> i64 {
        // Relaxed: a count (see `Shared::num_goroutine`).
        self.ngoroutine.load(Ordering::Relaxed)
    }
}

impl PCore {
    /// Counts a goroutine started (`delta` 1) or exited (-1) here and
    /// publishes the count to `p`, this core's shared face.
    pub(crate) fn count_goroutine(&mut self, p: &P, delta: i64) {
        self.ngoroutine += delta;
        // Relaxed: a count; readers that need it exact read it after
        // taking the sched lock the owner released.
        p.ngoroutine.store(self.ngoroutine, Ordering::Relaxed);
    }

    /// The next id of this P's batch, if the batch is not used up.
    pub(crate) fn take_goid(&mut self) -> Option<u64> {
        (self.goid_next < self.goid_end).then(|| {
            self.goid_next += 1;
            self.goid_next - 1
        })
    }

    /// Starts a new batch of ids `[base + 1, base + n)` after handing out
    /// `base`.
    pub(crate) fn refill_goids(&mut self, base: u64, n: u64) {
        self.goid_next = base + 1;
        self.goid_end = base + n;
    }
}
