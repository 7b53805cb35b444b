//! The scheduler's shared state (Go's `schedt` and `p`): the Ps with their
//! run queues and free lists, the global queue, the idle P and M lists and
//! the spinning-M counter, and the operations on them that any M (or an
//! outside thread) performs: put a G in a queue, wake an idle P, recycle a
//! G, shut down.
//!
//! The P itself (its shared face and its core) is in `p.rs`; the idle
//! lists and the M's note in `idle.rs`.
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
//! # Locks
//!
//! `sched` (Go's `sched.lock`) guards the idle P and M lists and the
//! shutdown transition. The global run queue and the global G free list
//! have their own locks; no code holds two of these at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use crate::kernel::g::{G, GFreeGlobal, GPtr, Runnable};
use crate::kernel::idle::{Idle, MNote, MainWait};
use crate::kernel::m::{self, with_m};
use crate::kernel::p::{P, PCore};
use crate::kernel::poller::NetPoll;
use crate::kernel::runq::{GlobalQueue, RUNQ_CAP};
use crate::kernel::spinning::Spinning;
use crate::kernel::sysmon::SysmonNote;

/// Goroutine ids a P takes from the global counter at a time (Go: 16).
const GOID_BATCH: u64 = 16;

/// One runtime's scheduler (Go's `schedt` plus `allp`). Leaked on creation:
/// handles ([`crate::Ready`]) and Ms refer to it as `&'static`, so a late
/// `ready` after shutdown can never touch freed memory (it only queues a G
/// that no M will run).
pub(crate) struct Shared {
    /// All Ps; `maxprocs` of them.
    pub(crate) ps: Box<[P]>,
    /// The global run queue.
    pub(crate) global: GlobalQueue<Runnable>,
    /// Go's `sched.lock`: idle lists and shutdown.
    pub(crate) sched: Mutex<Idle>,
    /// Idle Ps and spinning Ms, read without the lock by every `wakep`.
    /// See *Spinning Ms*.
    pub(crate) spin: Spinning,
    /// Global G free list.
    pub(crate) gfree: GFreeGlobal,
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
    /// The runtime's netpoller (see `poller.rs`).
    pub(crate) netpoll: NetPoll,
    /// Goroutines in blocking calls (`syscall.rs`): each holds a thread.
    pub(crate) nsyscall: AtomicUsize,
    /// The thread cap (`Builder::max_threads`).
    pub(crate) max_threads: usize,
    /// Where sysmon sleeps (`sysmon.rs`).
    pub(crate) sysmon: SysmonNote,
    /// Every live M's published state, for `scheddetail` (Go's `allm`).
    pub(crate) allm: Mutex<Vec<std::sync::Arc<crate::kernel::m::MInfo>>>,
    /// The next M's id.
    pub(crate) next_mid: AtomicUsize,
    /// Stack compaction's decay in nanoseconds, `u64::MAX` when off (see
    /// `compact.rs`); set once by `Builder::build`.
    pub(crate) compact_decay: AtomicU64,
}

impl Shared {
    /// A new runtime's state, leaked (see the type docs).
    pub(crate) fn new(
        maxprocs: usize,
        pool: burrow_stack::Pool,
        abort_on_panic: bool,
        deadlock_grace: Option<std::time::Duration>,
        max_threads: usize,
    ) -> &'static Shared {
        // Ps `0..maxprocs`, then as many spares (see *Starvation* in
        // `sysmon.rs`).
        let (ps, mut cores): (Vec<P>, Vec<Box<PCore>>) = (0..2 * maxprocs)
            .map(|id| P::new(id, id >= maxprocs))
            .unzip();
        let spares = cores.split_off(maxprocs);
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            ps: ps.into_boxed_slice(),
            global: GlobalQueue::new(),
            sched: Mutex::new(Idle {
                pidle: cores.into_iter().rev().collect(),
                spare: spares,
                midle: Vec::new(),
                sleeper: None,
                ptakes: 0,
                deadlock_reported: false,
                sleeper_polls: false,
            }),
            spin: Spinning::new(maxprocs),
            gfree: GFreeGlobal::default(),
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
            netpoll: NetPoll::default(),
            nsyscall: AtomicUsize::new(0),
            max_threads,
            sysmon: SysmonNote::default(),
            allm: Mutex::new(Vec::new()),
            next_mid: AtomicUsize::new(0),
            compact_decay: AtomicU64::new(u64::MAX),
        }));
        shared
    }

    /// Live M threads.
    pub(crate) fn threads(&self) -> usize {
        self.nm_alive.load(Ordering::Relaxed)
    }

    /// Whether the runtime is shutting down.
    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire: pairs with the Release store in `begin_shutdown`.
        self.shutdown.load(Ordering::Acquire)
    }

    /// Number of idle Ps now.
    pub(crate) fn npidle(&self) -> usize {
        self.spin.npidle()
    }

    /// Live goroutines (Go's `gcount`): exact when no P is running
    /// goroutines (as when the deadlock check reads it under the sched
    /// lock with every P idle), a snapshot otherwise.
    pub(crate) fn num_goroutine(&self) -> usize {
        let n = self.ngoroutine.load(Ordering::Relaxed)
            + self.ps.iter().map(P::ngoroutine).sum::<i64>();
        n.max(0) as usize
    }

    /// Counts a goroutine started (`delta` 1) or exited (-1) on the P of
    /// `core`, or without a P (`None`).
    pub(crate) fn count_goroutine(&self, core: Option<&mut PCore>, delta: i64) {
        match core {
            Some(core) => core.count_goroutine(&self.ps[core.id], delta),
            None => {
                self.ngoroutine.fetch_add(delta, Ordering::Relaxed);
            }
        }
    }

    /// A goroutine id (ids start at 1, as in Go), from `core`'s batch if
    /// given.
    pub(crate) fn next_goid(&self, core: Option<&mut PCore>) -> u64 {
        match core {
            Some(c) => c.take_goid().unwrap_or_else(|| {
                let base = self.goid_gen.fetch_add(GOID_BATCH, Ordering::Relaxed);
                c.refill_goids(base, GOID_BATCH);
                base
            }),
            None => self.goid_gen.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Go's `runqput`: queues `r` on `core`'s P (in `runnext` if `next`),
    /// moving an overflow batch to the global queue.
    pub(crate) fn runqput(&self, core: &mut PCore, r: Runnable, next: bool) {
        if let Some(batch) = core.runq.push(r, next) {
            self.spill(batch);
        }
    }

    /// `runqput`'s overflow, out of line so that the common path stays a
    /// leaf without a stack frame (this runs in every `ready`).
    #[cold]
    #[inline(never)]
    fn spill(&self, batch: Vec<Runnable>) {
        self.global.push_batch(batch);
    }

    /// Go's `globrunqget`: takes a batch from the global queue into
    /// `core`'s P and returns its first entry. `max == 0` means "a fair
    /// share".
    pub(crate) fn globrunqget(&self, core: &mut PCore, max: usize) -> Option<Runnable> {
        let max = if max == 0 { RUNQ_CAP / 2 + 1 } else { max };
        let mut batch = self.global.pop_batch(self.maxprocs, max).into_iter();
        let first = batch.next()?;
        for r in batch {
            self.runqput(core, r, false);
        }
        Some(first)
    }

    /// Makes a readied G runnable: into the `runnext` of the current P if
    /// the caller is a goroutine (or the scheduler) of this runtime holding
    /// a P, else the global queue; then wakes an idle P if no M is
    /// spinning. With `wakep` false a G that lands in the caller's P wakes
    /// no idle P: the caller is an M about to schedule on that P (see
    /// [`crate::kernel::m::MCtx::ready_polled`]). A G that goes to the
    /// global queue always wakes one.
    pub(crate) fn ready_g(&'static self, g: GPtr, wakep: bool) {
        let r = Runnable::G(g);
        let left = with_m(|m| match m {
            Some(m) if std::ptr::eq(m.rt, self) => match m.p.borrow_mut().as_deref_mut() {
                Some(core) => {
                    self.runqput(core, r, true);
                    None
                }
                None => Some(r),
            },
            _ => Some(r),
        });
        match left {
            // The runnext swap in `Local::push` is a SeqCst read-modify-write:
            // it is the submitter's half of the Dekker pair by itself, no
            // fence needed (see `wakep_after_sc_publish`).
            None if wakep => self.wakep_after_sc_publish(),
            None => {}
            Some(r) => self.ready_global(r),
        }
    }

    /// `ready_g` from outside this runtime's Ms: the global queue. Out of
    /// line (a lock and a fence) to keep `ready_g` small.
    #[cold]
    #[inline(never)]
    fn ready_global(&'static self, r: Runnable) {
        self.global.push(r);
        self.wakep();
    }

    /// Go's `wakep`: if there is an idle P and no spinning M, starts an M
    /// spinning on it. See *Spinning Ms*.
    pub(crate) fn wakep(&'static self) {
        if self.spin.claim_spinner() {
            self.startm(true);
        }
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
        if self.spin.claim_spinner_after_sc_publish() {
            self.startm(true);
        }
    }

    /// Go's `startm`: gives an idle P to an idle (or new) M. With
    /// `spinning`, the caller already counted the M in `nmspinning`. Out of
    /// line: `wakep`'s common path is two loads.
    #[cold]
    #[inline(never)]
    fn startm(&'static self, spinning: bool) {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        let core = if self.is_shutdown() {
            None
        } else {
            idle.pidle.pop()
        };
        let Some(core) = core else {
            drop(idle);
            if spinning {
                // Undoes the caller's claim of the spinner slot.
                self.spin.stop_spinning();
            }
            return;
        };
        self.spin.p_taken();
        idle.ptakes += 1;
        self.startm_with(idle, core, spinning);
    }

    /// Runs `core`'s P on an idle M, or a new one (Go's `startm(pp, ..)`).
    /// Takes the sched lock guard to pop an idle M under it.
    pub(crate) fn startm_with(
        &'static self,
        mut idle: std::sync::MutexGuard<'_, Idle>,
        core: Box<PCore>,
        spinning: bool,
    ) {
        let note = idle.midle.pop();
        drop(idle);
        match note {
            Some(note) => note.give(core, spinning),
            None => self.newm(core, spinning),
        }
    }

    /// Starts an M thread that begins with the P of `core`.
    fn newm(&'static self, core: Box<PCore>, spinning: bool) {
        self.nm_alive.fetch_add(1, Ordering::Relaxed);
        let n = self.nm_started.fetch_add(1, Ordering::Relaxed);
        let note = MNote::new(Some((core, spinning)));
        std::thread::Builder::new()
            .name(format!("burrow-m{n}"))
            .spawn(move || m::mstart(self, note))
            .expect("cannot start an M thread");
    }

    /// Go's `pidleput`: puts the P of `core` on the idle list and counts it
    /// in `npidle` (the M's store of the Dekker pair in *Spinning Ms*); a
    /// spare P goes back to sysmon's reserve instead, uncounted. It does
    /// not stop the M spinning or re-check for work: the caller does both
    /// (`drop_p` and the end of `find_runnable` in `m.rs`).
    pub(crate) fn release_p(&self, core: Box<PCore>) {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        if self.ps[core.id].spare {
            // A spare goes back to sysmon's reserve, never to the idle
            // list (see *Starvation* in `sysmon.rs`).
            idle.spare.push(core);
            return;
        }
        idle.pidle.push(core);
        self.spin.p_idle();
    }

    /// Takes an idle P (for an M that found work while re-checking).
    pub(crate) fn pidleget(&self) -> Option<Box<PCore>> {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        if self.is_shutdown() {
            return None;
        }
        let core = idle.pidle.pop()?;
        self.spin.p_taken();
        idle.ptakes += 1;
        Some(core)
    }

    /// A G for `task` on `core`'s P (the warmest free one, see *A
    /// goroutine's life* in `g.rs`), or, if no stack could be had, the
    /// task back, uncounted, with the failure reported on stderr: the
    /// caller drops it once it no longer borrows the core (dropping
    /// completes its `JoinHandle` as abandoned, which may ready a joiner).
    pub(crate) fn bind_task(
        &self,
        core: &mut PCore,
        task: crate::kernel::task::TaskRef,
    ) -> Result<GPtr, crate::kernel::task::TaskRef> {
        match core.gfree.get(&self.gfree, self.pool) {
            Ok(g) => {
                crate::kernel::g::bind(g, task);
                Ok(g)
            }
            Err(e) => {
                eprintln!(
                    "burrow: cannot allocate a stack for goroutine {}: {e}; the goroutine is \
                     dropped (its JoinHandle reports it as abandoned)",
                    task.goid()
                );
                self.count_goroutine(Some(core), -1);
                Err(task)
            }
        }
    }

    /// Runs the due timers of P `pid` (on the calling M, whose P, if any,
    /// receives the goroutines they ready) and tells the idle path about
    /// periodic timers they re-armed. Returns whether any ran.
    pub(crate) fn run_timers(&'static self, pid: usize, now: u64) -> bool {
        let e = self.ps[pid].timers.run_expired(now);
        if let Some(next) = e.rearmed {
            self.timer_added(next);
        }
        e.ran
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
        // A sleeper blocked in the netpoller does not see its note.
        self.netpoll.wake();
        self.sysmon.stop();
        for note in midle {
            note.exit();
        }
    }

    /// Called by each exiting M, after releasing its P. The last one frees
    /// what is left: queued goroutines (a task that never started
    /// completes its handle as abandoned; a G suspended mid-run is leaked,
    /// see `G::destroy`) and the free lists.
    pub(crate) fn m_exit(&self) {
        // AcqRel: the last M must see every other M's writes to the Ps it
        // released (they also went through the sched lock).
        if self.nm_alive.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut cores = {
            let mut idle = self.sched.lock().expect("sched lock poisoned");
            debug_assert_eq!(
                idle.pidle.len(),
                self.maxprocs,
                "an exiting runtime owns all Ps"
            );
            let mut cores = std::mem::take(&mut idle.pidle);
            cores.append(&mut idle.spare);
            cores
        };
        let mut queued = Vec::new();
        let mut gs = Vec::new();
        for p in self.ps.iter() {
            // Timers outlive the runtime's Ms: a plain thread may wait on
            // one (see the fallback in `timer/thread.rs`).
            p.timers.move_to_fallback();
        }
        for core in cores.iter_mut() {
            queued.extend(core.runq.drain());
            gs.extend(core.gfree.drain());
        }
        while self.global.len() > 0 {
            queued.extend(self.global.pop_batch(1, usize::MAX));
        }
        gs.extend(self.gfree.drain());
        for r in queued {
            match r {
                Runnable::G(g) => gs.push(g),
                // Dropping an unstarted task completes its handle as
                // abandoned.
                Runnable::Task(t) => drop(t),
            }
        }
        for g in gs {
            // SAFETY: the queues and lists held these Gs; we took them all.
            unsafe { G::destroy(g, &self.gfree.all) };
        }
    }
}
