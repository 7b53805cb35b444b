//! The scheduler's shared state (Go's `schedt` and `p`): the Ps with their
//! run queues and free lists, the global queue, the idle P and M lists and
//! the spinning-M counter, and the operations on them that any M (or an
//! outside thread) performs: put a G in a queue, wake an idle P, recycle a
//! G, shut down.
//!
//! # Spinning Ms
//!
//! This is Go's "Worker thread parking/unparking" rule (runtime/proc.go):
//! an M is *spinning* while it has a P, no G, and is looking for work
//! (checking the global queue, stealing). We wake an idle P (and an M to
//! run it) only when work appears **and no M is spinning**, and an M may
//! start spinning only while fewer than half the busy Ps have a spinning M.
//! So a burst of `go` calls wakes Ms one by one (each woken M that finds
//! work calls `wakep` for the next: `reset_spinning`), rather than all at
//! once, and idle Ms sleep instead of burning CPU.
//!
//! The race to avoid is "work is submitted while the last spinning M gives
//! up": the submitter publishes the G and then reads `nmspinning`/`npidle`
//! (`wakep`), the M publishes `npidle + 1`/`nmspinning - 1` and then
//! re-checks every run queue (`find_runnable`'s last step). Both sides put
//! a SeqCst fence between their store and their loads (a Dekker pair), so
//! at least one of them sees the other: the work is never stranded.
//!
//! # Warm stacks
//!
//! A G owns its stack, and `go` takes the G from the spawner's P's free
//! list. A goroutine that uses its stack (`deepstack_32k` writes 32 KiB)
//! pays for every line of it that is not in its core's cache, so which G
//! it runs on matters more than anything else it does:
//!
//! - When another P steals the child, its frames land on a stack whose
//!   lines sit in the spawner's core's cache (or in nobody's), and the G
//!   then exits into the thief's free list, so stacks keep crossing cores.
//! - Even on one P, a spawning loop that has eight children queued holds
//!   eight Gs, each with its own stack, although the children run one
//!   after another and one stack would do: eight stacks of 32 KiB do not
//!   fit in a 48 KiB L1, one does.
//!
//! So a G's goroutine is bound late. `execute` first calls
//! [`Shared::rebind_to_warm_g`]: if the G has not started its goroutine
//! (its coroutine waits at the top of its loop, so its stack holds
//! nothing) and the back of this P's free list is a G that last ran here
//! and was freed after `g`'s own stack last ran here (or `g` last ran
//! elsewhere), the goroutine (job, id, spawn site) moves to that warm G
//! and the cold one goes to the front of the list. Each P stamps the Gs it
//! frees from its own clock (`P::free_tick`, `GInner::freed_at`), so
//! "warmer" is a comparison of two stamps. `gfget` (for `go`) takes from
//! the *front*, the coldest end: the G a new goroutine is queued with is
//! only a carrier until it runs, and the warm Gs stay at the back for
//! `execute` to pick. So goroutines that run back to back on a P all run
//! on the stack the last one left warm (`tests/api.rs`,
//! `goroutines_run_back_to_back_share_the_warm_stack`). A started
//! goroutine never moves: its frames are on its stack. `gfput` spills the
//! front half of a full list to the global list, the coldest first.
//!
//! Measured on the 2-core box, 32 KiB-deep spawn+join: rebinding stolen
//! goroutines only took CPU per goroutine from 780–850 to 640–700 ns with
//! 2 Ps; binding every goroutine late took it from 1,090 to 520 ns with
//! 1 P (pure work of `deep(32)` in a loop there: 420 ns) and the bench's
//! wall time from 1,040–1,090 to 535–600 ns with 2 Ps (see
//! `docs/scheduler.md`).
//!
//! # Locks
//!
//! `sched` (Go's `sched.lock`) guards the idle P and M lists and the
//! shutdown transition. The global run queue and the global G free list
//! have their own locks; no code holds two of these at once.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_utils::CachePadded;

use crate::g::{G, GPtr, status};
use crate::idle::MainWait;
use crate::m::{self, with_m};
use crate::runq::{GlobalQueue, RUNQ_CAP, Runq};
use crate::timer::PTimers;

/// Gs a P keeps in its free list before moving half to the global list
/// (Go: 64).
const GFREE_LOCAL_MAX: usize = 64;
/// Gs (with their warm stacks) the global free list keeps; beyond this a
/// freed G is destroyed and its stack goes back to the stack pool, which
/// trims memory after a burst. Go keeps every G struct forever and frees
/// the stacks at the next GC; we bound both.
const GFREE_GLOBAL_MAX: usize = 16 * 1024;
/// Goroutine ids a P takes from the global counter at a time (Go: 16).
const GOID_BATCH: u64 = 16;

/// A P: the right to run goroutines, with its local work (Go's `p`).
///
/// Owned by at most one M at a time (taken from and returned to the idle
/// list under `Shared::sched`); only the owner touches `gfree` and the
/// goid cache, and pushes or pops `runq`. Thieves only steal from `runq`.
pub(crate) struct P {
    /// Index in `Shared::ps`.
    pub(crate) id: usize,
    /// Local run queue and runnext.
    pub(crate) runq: Runq<G>,
    /// Incremented at every schedule; drives the 1-in-61 global check.
    /// Owner only (atomic just to be `Sync`).
    pub(crate) schedtick: AtomicU32,
    /// Free Gs with their stacks, the most recently freed (warmest) at the
    /// back. Owner only.
    gfree: UnsafeCell<VecDeque<GPtr>>,
    /// Counts `gfput`s on this P: the clock of [`crate::g::GInner::freed_at`].
    /// Owner only (atomic just to be `Sync`).
    free_tick: AtomicU64,
    /// Goroutines spawned minus goroutines exited on this P (may be
    /// negative: a G often exits on another P than the one that spawned
    /// it). Written by the owner only, by load and store; read by anyone
    /// for [`Shared::num_goroutine`]. Go keeps no global live-G counter
    /// either: a shared one is one contended cache line per spawn and per
    /// exit (`skynet_1m` with 16 Ps got slower than with 8 because of it).
    ngoroutine: AtomicI64,
    /// Goroutine id cache `[next, end)`. Owner only.
    goid_next: AtomicU64,
    goid_end: AtomicU64,
    /// This P's timer heap (Go's `pp.timers`): any thread, under its own
    /// lock. See `timer/mod.rs`.
    pub(crate) timers: PTimers,
}

// SAFETY: `gfree` is touched only by the P's owner (see the type docs); the
// rest is atomic or `Runq`, which is `Sync`.
unsafe impl Sync for P {}

/// A sleeping M's mailbox (Go's `m.park` note plus `m.nextp`).
pub(crate) struct MNote {
    state: Mutex<MWake>,
    cv: Condvar,
}

#[derive(Default)]
struct MWake {
    /// The P handed to this M, and whether it starts spinning.
    nextp: Option<(usize, bool)>,
    /// Shut down: exit the thread.
    exit: bool,
    /// The timer sleeper was kicked: an earlier timer was added.
    kicked: bool,
}

/// How [`MNote::wait_until`] ended.
pub(crate) enum NoteWake {
    /// Handed a P (and whether to spin).
    P(usize, bool),
    /// Shut down: exit the thread.
    Exit,
    /// Kicked ([`MNote::kick`]) or the deadline passed: the caller must
    /// look at the clock to tell which.
    Woken,
}

impl MNote {
    pub(crate) fn new(nextp: Option<(usize, bool)>) -> Arc<MNote> {
        Arc::new(MNote {
            state: Mutex::new(MWake {
                nextp,
                ..MWake::default()
            }),
            cv: Condvar::new(),
        })
    }

    /// Sleeps until handed a P (`Some`) or told to exit (`None`).
    pub(crate) fn wait(&self) -> Option<(usize, bool)> {
        let mut s = self.state.lock().expect("M note poisoned");
        loop {
            if let Some(p) = s.nextp.take() {
                return Some(p);
            }
            if s.exit {
                return None;
            }
            s = self.cv.wait(s).expect("M note poisoned");
        }
    }

    /// Sleeps until handed a P, told to exit, kicked, or `deadline`.
    pub(crate) fn wait_until(&self, deadline: std::time::Instant) -> NoteWake {
        let mut s = self.state.lock().expect("M note poisoned");
        loop {
            if let Some((p, spinning)) = s.nextp.take() {
                return NoteWake::P(p, spinning);
            }
            if s.exit {
                return NoteWake::Exit;
            }
            if std::mem::take(&mut s.kicked) {
                return NoteWake::Woken;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return NoteWake::Woken;
            }
            s = self
                .cv
                .wait_timeout(s, deadline - now)
                .expect("M note poisoned")
                .0;
        }
    }

    /// Forgets a kick meant for an earlier sleeper role of this M. Called
    /// under the sched lock when the M takes the role, so a kick that
    /// arrives after the previous role ended (`sleeper_done`) cannot cut
    /// the new wait short (review finding 1). A kick that arrives after
    /// this, for the new role, still wakes it.
    pub(crate) fn clear_kick(&self) {
        self.state.lock().expect("M note poisoned").kicked = false;
    }

    /// Wakes a [`MNote::wait_until`] early. A stale kick (one that lands
    /// after the wait it was meant for ended) can still wake a later wait
    /// early: callers of `wait_until` must check the clock, not trust
    /// `NoteWake::Woken` to mean the deadline passed.
    pub(crate) fn kick(&self) {
        self.state.lock().expect("M note poisoned").kicked = true;
        self.cv.notify_one();
    }

    fn give(&self, p: usize, spinning: bool) {
        self.state.lock().expect("M note poisoned").nextp = Some((p, spinning));
        self.cv.notify_one();
    }

    pub(crate) fn exit(&self) {
        self.state.lock().expect("M note poisoned").exit = true;
        self.cv.notify_one();
    }
}

/// Under `Shared::sched`.
pub(crate) struct Idle {
    /// Idle Ps (Go's `sched.pidle`).
    pub(crate) pidle: Vec<usize>,
    /// Sleeping Ms (Go's `sched.midle`).
    pub(crate) midle: Vec<Arc<MNote>>,
    /// The M sleeping until the next timer or the deadlock grace, not in
    /// `midle` (see *The timer sleeper* in `idle.rs`).
    pub(crate) sleeper: Option<Arc<MNote>>,
    /// Ps ever taken from `pidle`: the deadlock detector's change counter.
    pub(crate) ptakes: u64,
    /// A deadlock was reported; do not watch for another.
    pub(crate) deadlock_reported: bool,
}

/// One runtime's scheduler (Go's `schedt` plus `allp`). Leaked on creation:
/// handles ([`crate::Ready`]) and Ms refer to it as `&'static`, so a late
/// `ready` after shutdown can never touch freed memory (it only queues a G
/// that no M will run).
pub(crate) struct Shared {
    /// All Ps; `maxprocs` of them.
    pub(crate) ps: Box<[P]>,
    /// The global run queue.
    pub(crate) global: GlobalQueue<G>,
    /// Go's `sched.lock`: idle lists and shutdown.
    pub(crate) sched: Mutex<Idle>,
    /// Number of idle Ps (mirrors `pidle.len()`; read without the lock by
    /// every `wakep`, so kept off the lines other counters write).
    npidle: CachePadded<AtomicUsize>,
    /// Number of spinning Ms. See *Spinning Ms*.
    pub(crate) nmspinning: CachePadded<AtomicUsize>,
    /// Global G free list.
    gfree: Mutex<Vec<GPtr>>,
    /// Goroutines started without a P (the main goroutine); the rest are
    /// counted per P (`P::ngoroutine`).
    ngoroutine: AtomicI64,
    /// Goroutine id source (taken `GOID_BATCH` at a time by Ps).
    goid_gen: CachePadded<AtomicU64>,
    /// Set once the main goroutine returned.
    shutdown: AtomicBool,
    /// Live M threads.
    nm_alive: AtomicUsize,
    /// Ms ever started (for thread names).
    nm_started: AtomicUsize,
    /// GOMAXPROCS.
    pub(crate) maxprocs: usize,
    /// Whether spinning Ms may watch for work before giving up their P
    /// (*The idle spin* in `m.rs`): only when there are no more Ps than
    /// CPUs, so that a watching M never takes a CPU from a running one.
    pub(crate) idle_spin: bool,
    /// Where G stacks come from.
    pub(crate) pool: burrow_stack::Pool,
    /// Abort the process on any goroutine panic.
    pub(crate) abort_on_panic: bool,
    /// The timer sleeper's deadline (runtime clock), 0 when no M sleeps on
    /// timers. See *The timer sleeper* in `idle.rs`.
    pub(crate) sleeper_until: AtomicU64,
    /// How long "nothing can ever run" must hold before it is reported
    /// (None: never). See *Deadlock detection* in `idle.rs`.
    pub(crate) deadlock_grace: Option<std::time::Duration>,
    /// Where `Runtime::try_run` waits for its main goroutine.
    pub(crate) main_wait: MainWait,
}

impl Shared {
    /// A new runtime's state, leaked (see the type docs).
    pub(crate) fn new(
        maxprocs: usize,
        pool: burrow_stack::Pool,
        abort_on_panic: bool,
        deadlock_grace: Option<std::time::Duration>,
    ) -> &'static Shared {
        let ps = (0..maxprocs)
            .map(|id| P {
                id,
                runq: Runq::new(),
                schedtick: AtomicU32::new(0),
                gfree: UnsafeCell::new(VecDeque::new()),
                free_tick: AtomicU64::new(0),
                ngoroutine: AtomicI64::new(0),
                goid_next: AtomicU64::new(0),
                goid_end: AtomicU64::new(0),
                timers: PTimers::default(),
            })
            .collect();
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            ps,
            global: GlobalQueue::new(),
            sched: Mutex::new(Idle {
                pidle: (0..maxprocs).rev().collect(),
                midle: Vec::new(),
                sleeper: None,
                ptakes: 0,
                deadlock_reported: false,
            }),
            npidle: CachePadded::new(AtomicUsize::new(maxprocs)),
            nmspinning: CachePadded::new(AtomicUsize::new(0)),
            gfree: Mutex::new(Vec::new()),
            ngoroutine: AtomicI64::new(0),
            goid_gen: CachePadded::new(AtomicU64::new(1)),
            shutdown: AtomicBool::new(false),
            nm_alive: AtomicUsize::new(0),
            nm_started: AtomicUsize::new(0),
            maxprocs,
            idle_spin: std::thread::available_parallelism().is_ok_and(|n| maxprocs <= n.get()),
            pool,
            abort_on_panic,
            sleeper_until: AtomicU64::new(0),
            deadlock_grace,
            main_wait: MainWait::default(),
        }));
        for p in shared.ps.iter() {
            p.timers.set_runtime(shared);
        }
        shared
    }

    /// Whether the runtime is shutting down.
    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire: pairs with the Release store in `begin_shutdown`.
        self.shutdown.load(Ordering::Acquire)
    }

    /// Number of idle Ps now.
    pub(crate) fn npidle(&self) -> usize {
        // SeqCst: part of the Dekker pair in *Spinning Ms*.
        self.npidle.load(Ordering::SeqCst)
    }

    /// Live goroutines (Go's `gcount`): exact when no P is running
    /// goroutines (as when the deadlock check reads it under the sched
    /// lock with every P idle), a snapshot otherwise.
    pub(crate) fn num_goroutine(&self) -> usize {
        let n = self.ngoroutine.load(Ordering::Relaxed)
            + self
                .ps
                .iter()
                .map(|p| p.ngoroutine.load(Ordering::Relaxed))
                .sum::<i64>();
        n.max(0) as usize
    }

    /// Counts a goroutine started (`delta` 1) or exited (-1) on `p`, or
    /// without a P (`None`).
    ///
    /// # Safety
    ///
    /// With `Some(p)` the caller owns `p` (the counter has one writer).
    pub(crate) unsafe fn count_goroutine(&self, p: Option<&P>, delta: i64) {
        match p {
            // A load and a store, no RMW: only the owner writes.
            Some(p) => p.ngoroutine.store(
                p.ngoroutine.load(Ordering::Relaxed) + delta,
                Ordering::Relaxed,
            ),
            None => {
                self.ngoroutine.fetch_add(delta, Ordering::Relaxed);
            }
        }
    }

    /// A goroutine id (ids start at 1, as in Go).
    pub(crate) fn next_goid(&self, p: Option<&P>) -> u64 {
        match p {
            Some(p) => {
                let (n, e) = (
                    p.goid_next.load(Ordering::Relaxed),
                    p.goid_end.load(Ordering::Relaxed),
                );
                if n < e {
                    p.goid_next.store(n + 1, Ordering::Relaxed);
                    return n;
                }
                let base = self.goid_gen.fetch_add(GOID_BATCH, Ordering::Relaxed);
                p.goid_next.store(base + 1, Ordering::Relaxed);
                p.goid_end.store(base + GOID_BATCH, Ordering::Relaxed);
                base
            }
            None => self.goid_gen.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Go's `runqput`: queues `g` on `p` (in `runnext` if `next`), moving an
    /// overflow batch to the global queue.
    ///
    /// # Safety
    ///
    /// The caller must own `p`.
    pub(crate) unsafe fn runqput(&self, p: &P, g: GPtr, next: bool) {
        // SAFETY: forwarded from the caller.
        if let Some(batch) = unsafe { p.runq.push(g.0, next) } {
            self.spill(batch);
        }
    }

    /// `runqput`'s overflow, out of line so that the common path stays a
    /// leaf without a stack frame (this runs in every `ready`).
    #[cold]
    #[inline(never)]
    fn spill(&self, batch: Vec<std::ptr::NonNull<G>>) {
        self.global.push_batch(batch);
    }

    /// Go's `globrunqget`: takes a batch from the global queue into `p` and
    /// returns its first G. `max == 0` means "a fair share".
    ///
    /// # Safety
    ///
    /// The caller must own `p`.
    pub(crate) unsafe fn globrunqget(&self, p: &P, max: usize) -> Option<GPtr> {
        let max = if max == 0 { RUNQ_CAP / 2 + 1 } else { max };
        let mut batch = self.global.pop_batch(self.maxprocs, max).into_iter();
        let first = batch.next()?;
        for g in batch {
            // SAFETY: forwarded from the caller.
            unsafe { self.runqput(p, GPtr(g), false) };
        }
        Some(GPtr(first))
    }

    /// Makes a readied G runnable: into the `runnext` of the current P if
    /// the caller is a goroutine of this runtime, else the global queue;
    /// then wakes an idle P if no M is spinning.
    pub(crate) fn ready_g(&'static self, g: GPtr) {
        let queued = with_m(|m| match m {
            Some(m) if std::ptr::eq(m.rt, self) => match m.p.get() {
                Some(pid) => {
                    // SAFETY: the current M owns its P.
                    unsafe { self.runqput(&self.ps[pid], g, true) };
                    true
                }
                None => false,
            },
            _ => false,
        });
        if queued {
            // The runnext swap in `Runq::push` is a SeqCst read-modify-write:
            // it is the submitter's half of the Dekker pair by itself, no
            // fence needed (see `wakep_after_sc_publish`).
            self.wakep_after_sc_publish();
        } else {
            self.ready_global(g);
        }
    }

    /// `ready_g` from outside this runtime's goroutines: the global queue.
    /// Out of line (a lock and a fence) to keep `ready_g` small.
    #[cold]
    #[inline(never)]
    fn ready_global(&'static self, g: GPtr) {
        self.global.push(g.0);
        self.wakep();
    }

    /// Go's `wakep`: if there is an idle P and no spinning M, starts an M
    /// spinning on it. See *Spinning Ms*.
    pub(crate) fn wakep(&'static self) {
        // SeqCst fence: the submitter's half of the Dekker pair; orders the
        // queue publish before the reads below.
        fence(Ordering::SeqCst);
        self.wakep_after_sc_publish();
    }

    /// [`Shared::wakep`] without its fence, for a caller whose publish of
    /// the work was itself a SeqCst read-modify-write (the runnext swap).
    ///
    /// Why that is enough (C++20 [atomics.order], the coherence rules of
    /// the single total order S): let X be our SeqCst swap of runnext and
    /// L our SeqCst load of `npidle` (or `nmspinning`) below, sequenced
    /// after it, so X precedes L in S. The M that gives up does Y (SeqCst
    /// RMW of `npidle`/`nmspinning`), then a SeqCst fence F, then reads
    /// the run queues (R). If both sides missed each other, R read a value
    /// before X, so (F happens before R, X is SeqCst) F precedes X in S;
    /// and L read a value before Y, so (L SeqCst, Y happens before F) L
    /// precedes F in S: L < F < X < L, impossible. On x86 this drops an
    /// `mfence` per `ready` (the swap is an `xchg`, a full barrier anyway,
    /// and SeqCst loads are plain loads), which is Go's cost too: its
    /// `runqput` CASes runnext and `wakep` only loads.
    pub(crate) fn wakep_after_sc_publish(&'static self) {
        // SeqCst: see above; the Dekker pair in *Spinning Ms*.
        if self.npidle.load(Ordering::SeqCst) == 0 {
            return;
        }
        // SeqCst: same pair; only one waker wins the 0 → 1 transition.
        if self.nmspinning.load(Ordering::SeqCst) != 0
            || self
                .nmspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.startm(true);
    }

    /// Go's `startm`: gives an idle P to an idle (or new) M. With
    /// `spinning`, the caller already counted the M in `nmspinning`. Out of
    /// line: `wakep`'s common path is two loads.
    #[cold]
    #[inline(never)]
    fn startm(&'static self, spinning: bool) {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        let pid = if self.is_shutdown() {
            None
        } else {
            idle.pidle.pop()
        };
        let Some(pid) = pid else {
            drop(idle);
            if spinning {
                // SeqCst: undoes our increment; part of the Dekker pair.
                self.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        };
        // SeqCst: see `npidle()`.
        self.npidle.fetch_sub(1, Ordering::SeqCst);
        idle.ptakes += 1;
        let note = idle.midle.pop();
        drop(idle);
        match note {
            Some(note) => note.give(pid, spinning),
            None => self.newm(pid, spinning),
        }
    }

    /// Starts an M thread that begins with P `pid`.
    fn newm(&'static self, pid: usize, spinning: bool) {
        self.nm_alive.fetch_add(1, Ordering::Relaxed);
        let n = self.nm_started.fetch_add(1, Ordering::Relaxed);
        let note = MNote::new(Some((pid, spinning)));
        std::thread::Builder::new()
            .name(format!("burrow-m{n}"))
            .spawn(move || m::mstart(self, note))
            .expect("cannot start an M thread");
    }

    /// Go's `pidleput`, then (unless shutting down) puts the M to sleep in
    /// `midle`. Returns false if the M should exit instead.
    pub(crate) fn release_p(&self, pid: usize) {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        idle.pidle.push(pid);
        // SeqCst: the M's half of the Dekker pair in *Spinning Ms*.
        self.npidle.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes an idle P (for an M that found work while re-checking).
    pub(crate) fn pidleget(&self) -> Option<usize> {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        if self.is_shutdown() {
            return None;
        }
        let pid = idle.pidle.pop()?;
        // SeqCst: see `npidle()`.
        self.npidle.fetch_sub(1, Ordering::SeqCst);
        idle.ptakes += 1;
        Some(pid)
    }

    /// Go's `gfget`: a free G from `p`'s list (refilled from the global
    /// list), or a new one. Takes the coldest (the front): the new
    /// goroutine moves to a warm G when it runs (see *Warm stacks*).
    ///
    /// # Safety
    ///
    /// The caller must own `p`.
    pub(crate) unsafe fn gfget(&self, p: &P) -> Result<GPtr, burrow_stack::StackError> {
        // SAFETY: owner only (caller's promise).
        let local = unsafe { &mut *p.gfree.get() };
        if local.is_empty() {
            let mut global = self.gfree.lock().expect("gfree lock poisoned");
            let n = global.len().min(GFREE_LOCAL_MAX / 2);
            let at = global.len() - n;
            local.extend(global.drain(at..));
        }
        match local.pop_front() {
            Some(g) => Ok(g),
            None => G::allocate(self.pool),
        }
    }

    /// Runs the unstarted goroutine `g` on the warmest free G of `p`
    /// instead, if that one's stack is warmer here than `g`'s own; returns
    /// the G to run. See *Warm stacks*.
    ///
    /// # Safety
    ///
    /// The caller must own `p` and hold `g` (taken from a run queue, about
    /// to be executed on `p`).
    pub(crate) unsafe fn rebind_to_warm_g(&self, p: &P, g: GPtr) -> GPtr {
        let here = p.id as u32;
        // SAFETY: owner only (caller's promise).
        let local = unsafe { &mut *p.gfree.get() };
        let Some(&warm) = local.back() else {
            return g;
        };
        if warm.g().last_p.load(Ordering::Relaxed) != here {
            return g;
        }
        // SAFETY: we hold `g` (caller's promise).
        let inner = unsafe { g.g().inner() };
        if inner.in_job || inner.job.is_none() {
            // Started (its frames are on its stack) or not a goroutine.
            return g;
        }
        if g.g().last_p.load(Ordering::Relaxed) == here {
            // SAFETY: a G in our free list is ours alone.
            let warm_at = unsafe { warm.g().inner() }.freed_at;
            if warm_at <= inner.freed_at {
                // `g`'s own stack ran here at least as recently.
                return g;
            }
        }
        local.pop_back();
        // SAFETY: a G from our free list is ours alone; both coroutines
        // wait at the top of their loops for a job (`g_loop`), so moving
        // the job between them is moving what the G will run.
        let winner = unsafe { warm.g().inner() };
        winner.job = inner.job.take();
        winner.spawn_site = inner.spawn_site;
        let goid = g.g().goid.load(Ordering::Relaxed);
        warm.g().goid.store(goid, Ordering::Relaxed);
        warm.g().stack().set_owner(goid);
        g.g().goid.store(0, Ordering::Relaxed);
        g.g().stack().set_owner(0);
        g.g().status.store(status::IDLE, Ordering::Relaxed);
        // `g` never ran this goroutine, so no handle for it exists and its
        // park word needs no new generation. It goes to the front of the
        // list, the coldest end, which is what spills to the global list
        // first and what `gfget` takes last.
        local.push_front(g);
        warm
    }

    /// Go's `gfput`: recycles a finished G (and its stack) into `p`'s list,
    /// spilling half to the global list, destroying Gs beyond its bound.
    ///
    /// # Safety
    ///
    /// The caller must own `p` and hold `g`.
    pub(crate) unsafe fn gfput(&self, p: &P, g: GPtr) {
        g.g().goid.store(0, Ordering::Relaxed);
        g.g().status.store(status::IDLE, Ordering::Relaxed);
        crate::park::retire(g);
        // SAFETY: owner only (caller's promise).
        let local = unsafe { &mut *p.gfree.get() };
        let tick = p.free_tick.load(Ordering::Relaxed) + 1;
        p.free_tick.store(tick, Ordering::Relaxed);
        // SAFETY: we hold `g` (caller's promise).
        unsafe { g.g().inner() }.freed_at = tick;
        local.push_back(g);
        if local.len() >= GFREE_LOCAL_MAX {
            // Spill the front half: the back is what ran here last, with
            // the stacks warmest in this core's cache (see *Warm stacks*).
            let mut spill: Vec<GPtr> = local.drain(..GFREE_LOCAL_MAX / 2).collect();
            let mut global = self.gfree.lock().expect("gfree lock poisoned");
            let room = GFREE_GLOBAL_MAX.saturating_sub(global.len());
            // Past the global bound, the coldest (the spill's front) are
            // destroyed and the warmer kept.
            let keep = spill.split_off(spill.len().saturating_sub(room));
            global.extend(keep);
            drop(global);
            for g in spill {
                // SAFETY: we hold `g` and drop our only pointer to it.
                unsafe { G::destroy(g) };
            }
        }
    }

    /// Marks the runtime as shutting down and tells sleeping Ms to exit.
    /// Busy Ms exit when their goroutine next switches to the scheduler.
    pub(crate) fn begin_shutdown(&self) {
        let midle = {
            let mut idle = self.sched.lock().expect("sched lock poisoned");
            // Release: pairs with the Acquire in `is_shutdown`.
            self.shutdown.store(true, Ordering::Release);
            let mut notes = std::mem::take(&mut idle.midle);
            notes.extend(idle.sleeper.take());
            notes
        };
        for note in midle {
            note.exit();
        }
    }

    /// Called by each exiting M, after releasing its P. The last one frees
    /// what is left: queued Gs (a job that never started completes its
    /// handle as abandoned; one suspended mid-run is leaked, see
    /// `G::destroy`) and the free lists.
    pub(crate) fn m_exit(&self) {
        // AcqRel: the last M must see every other M's writes to the Ps it
        // released (they also went through the sched lock).
        if self.nm_alive.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut gs = Vec::new();
        {
            let idle = self.sched.lock().expect("sched lock poisoned");
            debug_assert_eq!(
                idle.pidle.len(),
                self.maxprocs,
                "an exiting runtime owns all Ps"
            );
        }
        for p in self.ps.iter() {
            // Timers outlive the runtime's Ms: a plain thread may wait on
            // one (see the fallback in `timer/thread.rs`).
            p.timers.move_to_fallback();
            // SAFETY: every M has exited, so no one else owns any P.
            gs.extend(unsafe { p.runq.drain() }.into_iter().map(GPtr));
            // SAFETY: as above.
            gs.extend(unsafe { &mut *p.gfree.get() }.drain(..));
        }
        while self.global.len() > 0 {
            gs.extend(self.global.pop_batch(1, usize::MAX).into_iter().map(GPtr));
        }
        gs.append(&mut self.gfree.lock().expect("gfree lock poisoned"));
        for g in gs {
            // SAFETY: the queues and lists held these Gs; we took them all.
            unsafe { G::destroy(g) };
        }
    }
}
