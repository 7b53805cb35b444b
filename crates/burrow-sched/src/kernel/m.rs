//! M: an OS thread running the scheduler loop on its own native stack (Go's
//! `g0`), and `schedule()`: find a runnable G, switch into it, handle what
//! it asks for when it switches back.
//!
//! # schedule() order (Go's `findRunnable`)
//!
//! 0. The P's due timers run first (Go's `checkTimers`, see
//!    `timer/mod.rs`): a timer that readies a goroutine puts it in this
//!    P's `runnext`, so it is found below in the same pass.
//! 1. Every 61st tick of the P, the network without blocking when
//!    goroutines wait on I/O (*Who polls* in `poller.rs`), then the global
//!    queue first (fairness: a P whose local queue never empties must still
//!    serve the global queue and the sockets).
//! 2. `runnext`, then the local ring.
//! 3. The global queue (a fair-share batch).
//! 4. The netpoller, without blocking, readying into this P (Go's
//!    `netpoll(0)` and `injectglist`).
//! 5. Steal half of a random victim's queue, four rounds over all Ps in a
//!    random order; the last round may also take a victim's `runnext` and
//!    runs the victims' due timers (Go's `stealWork`).
//! 6. A spinning M, while another P runs goroutines, watches for work for
//!    up to 50 µs (*The idle spin* below).
//! 7. Release the P, fence, re-check (the M's half of the Dekker pair in
//!    *Spinning Ms*, `sched.rs`), and sleep ([`crate::kernel::idle::stopm`]):
//!    the first idle M while timers are pending or goroutines wait on I/O
//!    sleeps until the earliest timer of all Ps, blocking in the netpoller
//!    when goroutines wait on I/O (*The timer sleeper* in `idle.rs`). The
//!    same path watches for deadlocks (*Deadlock detection* in `idle.rs`).
//!
//! Deviation from Go: Go does not advance `schedtick` when a G runs from
//! `runnext` (it *inherits* its predecessor's time slice) and relies on
//! preemption to stop two goroutines ping-ponging through `runnext`
//! forever. We cannot preempt (*Starvation* in `sysmon.rs`), so every
//! schedule advances the tick and the 1-in-61 global check cannot be
//! starved.
//!
//! # The idle spin
//!
//! Deviation from Go: every time an M gives up its P and another is woken
//! (`wakep`) a little later, the kernel places the woken thread on a CPU;
//! when the other CPU is busy at that instant (often with the very M that
//! is going to sleep), it queues it behind the running M, and the two
//! then share one CPU for milliseconds while the other CPU idles (the
//! kernel balances a newly idle CPU only if it stays idle long on
//! average). On a 2-core VM that run-queue delay (seen in
//! `/proc/thread-self/schedstat`) was most of the time of a spawn+join
//! loop of stack-heavy goroutines on 2 Ps. So a spinning M that found
//! nothing watches the other Ps' rings and the global queue before it
//! gives up its P, for at most [`IDLE_SPIN`] per idle episode (the order
//! of Linux's migration cost; the deadline is kept in the M and cleared
//! only when it finds work or drops its P), and only while another P is
//! running goroutines (neither idle nor held by a spinning M, re-checked
//! as it watches): otherwise only a timer, a socket or a thread can make
//! work, and it sleeps at once. It does not watch at all when there are
//! more Ps than CPUs (it would take a CPU from a running M). At most half
//! the busy Ps have a spinning M (*Spinning Ms* in `sched.rs`). The
//! measurements behind it are in `docs/scheduler.md`.
//!
//! # Thread-locals of the runtime
//!
//! The current M lives in a thread-local read only through [`with_m`], a
//! non-inlined function: a goroutine may switch away inside any runtime
//! call and resume on another thread, and the compiler must never reuse a
//! thread-local address computed before the switch.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use corosensei::CoroutineResult;

use burrow_netpoll::Events;

use crate::kernel::g::{GPtr, Runnable, Switch, status};
use crate::kernel::idle::MNote;
use crate::kernel::p::PCore;
use crate::kernel::park::Ready;
use crate::kernel::sched::Shared;

/// Global-queue fairness period (Go: 61, a prime so that it does not
/// resonate with the program's own periods).
pub(crate) const GLOBAL_CHECK_PERIOD: u32 = 61;
/// Stealing rounds over all Ps before giving up (Go: 4).
const STEAL_ROUNDS: usize = 4;
/// How long a spinning M that found nothing watches for work before it
/// gives up its P, while another P runs goroutines. See *The idle spin*.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// What an M publishes about itself for `scheddetail` lines (Go's `allm`
/// walk): written only by the M, at its state changes (taking or dropping
/// a P, starting or stopping to spin, sleeping, entering a blocking call),
/// never per goroutine switch; read by sysmon. Relaxed throughout: a
/// snapshot for people, not a synchronisation.
pub(crate) struct MInfo {
    pub(crate) id: usize,
    /// The P held, or `usize::MAX`.
    p: AtomicUsize,
    spinning: AtomicBool,
    /// Asleep in `stopm`.
    idle: AtomicBool,
    /// The goroutine in a blocking call on this M, or 0.
    blocking: AtomicU64,
}

impl MInfo {
    pub(crate) fn set_p(&self, p: Option<usize>) {
        self.p.store(p.unwrap_or(usize::MAX), Ordering::Relaxed);
    }
    pub(crate) fn set_spinning(&self, on: bool) {
        self.spinning.store(on, Ordering::Relaxed);
    }
    pub(crate) fn set_idle(&self, on: bool) {
        self.idle.store(on, Ordering::Relaxed);
    }
    pub(crate) fn set_blocking(&self, goid: u64) {
        self.blocking.store(goid, Ordering::Relaxed);
    }

    /// Go's `scheddetail` M line, in our terms.
    pub(crate) fn line(&self) -> String {
        let p = self.p.load(Ordering::Relaxed);
        let p = if p == usize::MAX { -1 } else { p as i64 };
        let blocking = self.blocking.load(Ordering::Relaxed);
        format!(
            "  M{}: p={p} spinning={} idle={} blocking={}",
            self.id,
            self.spinning.load(Ordering::Relaxed),
            self.idle.load(Ordering::Relaxed),
            if blocking == 0 {
                "-".to_string()
            } else {
                format!("G{blocking}")
            },
        )
    }
}

/// Per-M state, on the M thread's native stack; reached via [`with_m`].
pub(crate) struct MCtx {
    /// The runtime this M belongs to.
    pub(crate) rt: &'static Shared,
    /// The P held, if any: its core, owned (see *The P: a core that moves,
    /// and a shared face* in `p.rs`). Borrowed briefly by the
    /// scheduler loop and by runtime calls on this thread (`go`, `ready`);
    /// never across a switch, nor while timers run (a timer's callback
    /// readies goroutines into this P).
    pub(crate) p: RefCell<Option<Box<PCore>>>,
    /// The G running now (None on g0, i.e. in the scheduler loop).
    pub(crate) curg: Cell<Option<GPtr>>,
    /// See *Spinning Ms* in `sched.rs`.
    spinning: Cell<bool>,
    /// When this spinning M's idle spin ends (see *The idle spin*): set
    /// when it starts, cleared when the M finds work or drops its P, so
    /// one idle episode spins at most [`IDLE_SPIN`] in all.
    spin_until: Cell<Option<std::time::Instant>>,
    /// xorshift state for victim order.
    rng: Cell<u64>,
    /// This M's netpoll buffer, made at its first poll.
    events: RefCell<Option<Events<Ready>>>,
    /// What this M publishes for `scheddetail`.
    pub(crate) info: Arc<MInfo>,
}

thread_local! {
    static CURRENT_M: Cell<*const MCtx> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with the current M, if this thread is an M. Not inlined: see
/// *Thread-locals of the runtime*. `f` must not switch goroutines.
#[inline(never)]
pub(crate) fn with_m<R>(f: impl FnOnce(Option<&MCtx>) -> R) -> R {
    let p = CURRENT_M.with(Cell::get);
    // SAFETY: the pointer is set by `mstart` to an MCtx on its own stack
    // and cleared before that frame returns; we are on the same thread.
    f(unsafe { p.as_ref() })
}

/// The current goroutine and its runtime, if called from a goroutine.
#[inline(never)]
pub(crate) fn current_g() -> Option<(&'static Shared, GPtr)> {
    with_m(|m| m.and_then(|m| m.curg.get().map(|g| (m.rt, g))))
}

/// Switches from the running goroutine to its M's scheduler loop. Returns
/// when the M (maybe another one) resumes the goroutine.
///
/// # Panics
///
/// Outside a goroutine.
pub(crate) fn switch_to_scheduler(sw: Switch) {
    let (_, g) = current_g().expect("switch_to_scheduler outside a goroutine");
    switch_g_to_scheduler(g, sw);
}

/// [`switch_to_scheduler`] for a caller that already looked up its G
/// (`park`), saving a second thread-local lookup on the hot path. `g`
/// must be the goroutine running on this thread now.
#[inline(never)]
pub(crate) fn switch_g_to_scheduler(g: GPtr, sw: Switch) {
    // SAFETY: we are the running goroutine: we hold our G; the M does not
    // touch `inner` while we run.
    let y = unsafe { g.g().inner().yielder };
    // SAFETY: the yielder lives on this coroutine's stack for as long as the
    // coroutine; we are running on it.
    suspend_noting_sp(&g.g().compact, unsafe { &*y }, sw);
}

/// Suspends the running coroutine with `sw`, first noting in `c` where its
/// frames end, for stack compaction: only the switch itself (`suspend`
/// and its pushes) lies below that point. Every goroutine switch goes
/// through here, and so does the probe that measures how deep the switch
/// reaches (`compact::sp_margin`), so the two agree in every build.
#[inline(never)]
pub(crate) fn suspend_noting_sp(
    c: &crate::kernel::compact::Compaction,
    y: &corosensei::Yielder<(), Switch>,
    sw: Switch,
) {
    c.note_sp(crate::kernel::compact::stack_pointer());
    y.suspend(sw);
}

/// The body of an M thread.
pub(crate) fn mstart(rt: &'static Shared, note: Arc<MNote>) {
    burrow_stack::install_overflow_handler();
    let ctx = MCtx {
        rt,
        p: RefCell::new(None),
        curg: Cell::new(None),
        spinning: Cell::new(false),
        spin_until: Cell::new(None),
        rng: Cell::new(seed()),
        events: RefCell::new(None),
        info: Arc::new(MInfo {
            id: rt.next_mid.fetch_add(1, Ordering::Relaxed),
            p: AtomicUsize::new(usize::MAX),
            spinning: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            blocking: AtomicU64::new(0),
        }),
    };
    rt.allm
        .lock()
        .expect("allm lock poisoned")
        .push(ctx.info.clone());
    CURRENT_M.with(|c| c.set(&ctx));
    let mut next = note.wait();
    while let Some((core, spinning)) = next {
        ctx.info.set_p(Some(core.id));
        ctx.info.set_spinning(spinning);
        *ctx.p.borrow_mut() = Some(core);
        ctx.spinning.set(spinning);
        while let Some(g) = find_runnable(&ctx) {
            if !execute(&ctx, g) {
                // The goroutine came back from a blocking call whose P
                // was handed off, and found none (`syscall.rs`).
                break;
            }
        }
        // find_runnable released the P (or a blocking call lost it). Go's
        // stopm: sleep until handed a P (or until the next timer), or exit
        // on shutdown.
        next = crate::kernel::idle::stopm(&ctx, &note);
    }
    CURRENT_M.with(|c| c.set(ptr::null()));
    rt.allm
        .lock()
        .expect("allm lock poisoned")
        .retain(|m| !Arc::ptr_eq(m, &ctx.info));
    rt.pool.flush_thread_cache();
    rt.m_exit();
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::thread::current().id()) | 1
}

impl MCtx {
    /// The id of the P this M holds, if any.
    pub(crate) fn pid(&self) -> Option<usize> {
        self.p.borrow().as_ref().map(|c| c.id)
    }

    /// Runs `f` with the P's core. Panics if the M holds no P (a bug) or
    /// if the core is already borrowed (a re-entrant use, also a bug).
    fn with_core<R>(&self, f: impl FnOnce(&mut PCore) -> R) -> R {
        f(self
            .p
            .borrow_mut()
            .as_deref_mut()
            .expect("the scheduler loop holds a P"))
    }

    /// Polls the runtime's netpoller (`timeout` as in
    /// [`NetPoll::poll_and_ready`]'s; `Some(ZERO)` does not block) into
    /// this M's buffer; returns whether goroutines became ready. They are
    /// readied by [`MCtx::ready_polled`].
    pub(crate) fn poll(&self, timeout: Option<std::time::Duration>) -> bool {
        let mut ev = self.events.borrow_mut();
        let ev = ev.get_or_insert_with(Events::new);
        self.rt.netpoll.poll(ev, timeout)
    }

    /// Readies the goroutines the last [`MCtx::poll`] found, into this M's
    /// P if it holds one (Go's `injectglist`). The P's core must not be
    /// borrowed.
    ///
    /// With `run_first`, the caller is about to schedule on this P with
    /// nothing else queued (an empty `find_runnable`, or the M back from a
    /// blocking poll): one goroutine is left for it to run and wakes no
    /// idle P, as Go's `findRunnable` returns the first G of a poll
    /// itself and injects only the rest. Waking a P for it would start a
    /// second M that finds nothing, spins and sleeps again, for every
    /// message of a lone connection (in the `tcp_echo_64B_1c` benchmark
    /// that nearly doubled the server's CPU time per message). The others
    /// wake Ps as usual.
    pub(crate) fn ready_polled(&self, run_first: bool) {
        let mut ev = self.events.borrow_mut();
        if let Some(ev) = ev.as_mut() {
            let mut first = run_first && self.p.borrow().is_some();
            for ready in ev.drain_waiters() {
                // Only a handle that really readied a goroutine uses up
                // the one left for this M (a stale one readies nothing).
                if first {
                    first = !ready.ready_for_this_m();
                } else {
                    ready.ready();
                }
            }
        }
    }

    fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    /// Go's `resetspinning`: we found work; stop spinning and, since we may
    /// have been the last spinner, wake another P to look for more.
    fn reset_spinning(&self) {
        self.spin_until.set(None);
        if self.spinning.replace(false) {
            self.info.set_spinning(false);
            self.rt.spin.stop_spinning();
            self.rt.wakep();
        }
    }
}

/// `runnext`, the local ring, then the global queue; with `global_first`
/// (the 1-in-61 tick) one goroutine of the global queue before all that.
fn local_then_global(rt: &Shared, core: &mut PCore, global_first: bool) -> Option<Runnable> {
    if global_first
        && rt.global.len() > 0
        && let Some(r) = rt.globrunqget(core, 1)
    {
        return Some(r);
    }
    if let Some((r, _)) = core.runq.pop() {
        return Some(r);
    }
    if rt.global.len() > 0 {
        return rt.globrunqget(core, 0);
    }
    None
}

/// Go's `findRunnable`: the next goroutine for this M's P, or None after
/// the P was released (nothing to do, or shutting down).
fn find_runnable(ctx: &MCtx) -> Option<Runnable> {
    let rt = ctx.rt;
    'top: loop {
        let pid = ctx.pid().expect("find_runnable needs a P");
        let p = &rt.ps[pid];
        if rt.is_shutdown() {
            drop_p(ctx);
            return None;
        }
        // Go's checkTimers: one relaxed load unless the P has timers. Not
        // under a borrow of the core: the callbacks ready goroutines into
        // this P.
        if let Some(now) = timers_due(p) {
            rt.run_timers(pid, now);
        }
        // One borrow of the core on the common path; the periodic tick
        // (1 in 61) polls the network between two.
        let (periodic, found) = ctx.with_core(|core| {
            if core.tick(p) % u64::from(GLOBAL_CHECK_PERIOD) == 0 {
                return (true, None);
            }
            (false, local_then_global(rt, core, false))
        });
        let found = if periodic {
            if rt.netpoll.should_poll() && ctx.poll(Some(std::time::Duration::ZERO)) {
                // The periodic poll (see *Who polls* in `poller.rs`): the
                // readied goroutines queue behind this P's work, and the
                // global-queue check below still runs on this tick.
                ctx.ready_polled(false);
            }
            ctx.with_core(|core| local_then_global(rt, core, true))
        } else {
            found
        };
        if let Some(r) = found {
            ctx.reset_spinning();
            return Some(r);
        }
        // The netpoller, without blocking (Go's findRunnable: after the
        // local and global queues, before stealing). What it readies lands
        // in this P's queue. (Due timers ran at the top of the loop.)
        if rt.netpoll.should_poll() && ctx.poll(Some(std::time::Duration::ZERO)) {
            ctx.ready_polled(true);
            if let Some((r, _)) = ctx.with_core(|core| core.runq.pop()) {
                ctx.reset_spinning();
                return Some(r);
            }
        }

        // Steal, if spinning is allowed (see *Spinning Ms*).
        let busy = rt.maxprocs - rt.npidle();
        if ctx.spinning.get() || 2 * rt.spin.nmspinning() < busy {
            if !ctx.spinning.replace(true) {
                ctx.info.set_spinning(true);
                rt.spin.start_spinning();
            }
            if let Some(r) = steal_work(ctx, pid) {
                ctx.reset_spinning();
                return Some(r);
            }
        }
        if ctx.spinning.get() && spin_for_work(ctx) {
            continue 'top;
        }
        // Give up the P. Check the global queue once more first.
        if rt.global.len() > 0 {
            continue 'top;
        }
        let was_spinning = ctx.spinning.get();
        // Publishes "one idle P more" (and "one spinner fewer") with SeqCst
        // before the re-check below: the M's half of the Dekker pair.
        drop_p(ctx);
        std::sync::atomic::fence(Ordering::SeqCst);
        // Go checks the global queue under the lock that also releases the
        // P; ours has its own lock, so re-check it after the fence (a
        // submitter that missed our idle P is seen here). Only a spinner
        // re-checks every P's queue, as in Go.
        let work =
            rt.global.len() > 0 || (was_spinning && rt.ps.iter().any(|p| !p.runq.is_empty()));
        if work && let Some(core) = rt.pidleget() {
            ctx.info.set_p(Some(core.id));
            *ctx.p.borrow_mut() = Some(core);
            if was_spinning {
                ctx.info.set_spinning(true);
                ctx.spinning.set(true);
                rt.spin.start_spinning();
            }
            continue 'top;
        }
        // The caller's `stopm` sleeps until the next timer, blocking in the
        // netpoller when goroutines wait on I/O (see `idle.rs`).
        return None;
    }
}

/// Releases the M's P to the idle list.
fn drop_p(ctx: &MCtx) {
    ctx.spin_until.set(None);
    let core = ctx.p.borrow_mut().take();
    ctx.info.set_p(None);
    if let Some(core) = core {
        ctx.rt.release_p(core);
    }
    if ctx.spinning.replace(false) {
        ctx.info.set_spinning(false);
        ctx.rt.spin.stop_spinning();
    }
}

/// Go's `stealWork`: steals half of a random victim's queue into ours.
fn steal_work(ctx: &MCtx, pid: usize) -> Option<Runnable> {
    let rt = ctx.rt;
    let n = rt.ps.len();
    if n < 2 {
        return None;
    }
    for round in 0..STEAL_ROUNDS {
        let steal_next = round == STEAL_ROUNDS - 1;
        // Each victim once, from a random one on (no division per step).
        let start = ctx.rand() as usize % n;
        for victim in rt.ps[start..].iter().chain(&rt.ps[..start]) {
            if victim.id == pid {
                continue;
            }
            // Go's stealWork: on the last round run the victim's due
            // timers (their goroutines land in our queues), so a P busy
            // with a long goroutine does not hold its timers back. Not
            // under a borrow of our core: the callbacks ready into it.
            if steal_next
                && let Some(now) = timers_due(victim)
                && rt.run_timers(victim.id, now)
                && let Some((r, _)) = ctx.with_core(|core| core.runq.pop())
            {
                return Some(r);
            }
            if victim.runq.is_empty() {
                continue;
            }
            if let Some(r) = ctx.with_core(|core| {
                core.runq
                    .steal_from(&victim.runq, steal_next, Some(&victim.schedtick))
            }) {
                // Relaxed: a statistic.
                rt.ps[pid].steals.fetch_add(1, Ordering::Relaxed);
                return Some(r);
            }
        }
    }
    None
}

/// Switches into the goroutine `r` (giving it a G first if it has none)
/// and handles how it switches back (Go's `execute` plus `park_m`,
/// `gosched_m`, `goexit0`).
///
/// Returns false when the M no longer holds a P: the goroutine came back
/// from a blocking call that lost it (`Switch::Reacquire`).
fn execute(ctx: &MCtx, r: Runnable) -> bool {
    let rt = ctx.rt;
    let g = match r {
        Runnable::G(g) => g,
        Runnable::Task(task) => match ctx.with_core(|core| rt.bind_task(core, task)) {
            Ok(g) => g,
            Err(task) => {
                // No stack: dropped outside the core's borrow (see
                // `bind_task`).
                drop(task);
                return true;
            }
        },
    };
    g.g().status.store(status::RUNNING, Ordering::Relaxed);
    // A compacted stack comes back before the switch writes it.
    g.g()
        .compact
        .before_run(|sp, buf| g.g().restore_stack(sp, buf));
    ctx.curg.set(Some(g));
    // SAFETY: we hold `g` (taken from a queue, or bound just now); the
    // goroutine is not running.
    let mut co = unsafe { g.g().inner().co.take() }.expect("a runnable G has its coroutine");
    loop {
        let r = co.resume(());
        g.g().stack().check_overflow();
        // SAFETY: the goroutine switched back to us; we hold it again.
        unsafe { g.g().inner().co = Some(co) };
        ctx.curg.set(None);
        match r {
            CoroutineResult::Yield(Switch::Yield) => {
                g.g().status.store(status::RUNNABLE, Ordering::Relaxed);
                ctx.with_core(|core| rt.runqput(core, Runnable::G(g), false));
                return true;
            }
            CoroutineResult::Yield(Switch::Park(commit)) => {
                if commit.commit(g) {
                    return true;
                }
                // Woken before it was parked: run it again at once.
                g.g().status.store(status::RUNNING, Ordering::Relaxed);
                g.g()
                    .compact
                    .before_run(|sp, buf| g.g().restore_stack(sp, buf));
                ctx.curg.set(Some(g));
                // SAFETY: as above; we still hold it.
                co = unsafe { g.g().inner().co.take() }.expect("coroutine put back above");
            }
            CoroutineResult::Yield(Switch::Reacquire) => {
                g.g().status.store(status::RUNNABLE, Ordering::Relaxed);
                rt.global.push(Runnable::G(g));
                rt.wakep();
                return false;
            }
            CoroutineResult::Yield(Switch::Exit) => {
                g.g().status.store(status::DEAD, Ordering::Relaxed);
                ctx.with_core(|core| {
                    rt.count_goroutine(Some(&mut *core), -1);
                    core.gfree.put(&rt.gfree, g);
                });
                return true;
            }
            CoroutineResult::Return(()) => {
                unreachable!("a G's loop returns only when resumed without a task")
            }
        }
    }
}

/// Now, if `p`'s earliest timer is due: one relaxed load unless it has
/// timers, then the coarse clock, and the precise one only when that
/// timer is near (`clock::passed_at`). A P serving sockets always has
/// timers (their deadlines'), mostly seconds away.
fn timers_due(p: &crate::kernel::p::P) -> Option<u64> {
    match p.timers.next_when_relaxed() {
        0 => None,
        next => crate::clock::passed_at(next),
    }
}

/// Go's spinning M gives up its P as soon as its steal rounds find
/// nothing; ours first watches the other Ps' rings (and the global queue)
/// while another P runs goroutines, for at most [`IDLE_SPIN`] per idle
/// episode. See *The idle spin* in the module docs. Returns whether work
/// appeared.
fn spin_for_work(ctx: &MCtx) -> bool {
    let rt = ctx.rt;
    if !rt.idle_spin {
        return false;
    }
    loop {
        // A P is running goroutines unless it is idle or held by a
        // spinning M (ours included): then it may queue work any moment.
        // With none running, only a timer or a thread can make work: stop
        // watching and sleep, as Go does.
        // The Dekker pair's counters; here only a hint.
        if rt.npidle() + rt.spin.nmspinning() >= rt.maxprocs {
            return false;
        }
        // `runnext` is not counted: a thief takes it only after a grace
        // (`RUNNEXT_STEAL_GRACE` in `runq.rs`), and a ping-pong pair keeps
        // it full all the time.
        if rt.global.len() > 0 || rt.ps.iter().any(|p| !p.runq.ring_is_empty()) {
            return true;
        }
        // The clock is read only once the M really watches (the checks
        // above end most calls with one P or work already queued).
        let now = std::time::Instant::now();
        let end = match ctx.spin_until.get() {
            Some(end) => end,
            None => {
                let end = now + IDLE_SPIN;
                ctx.spin_until.set(Some(end));
                end
            }
        };
        if now >= end {
            return false;
        }
        for _ in 0..8 {
            std::hint::spin_loop();
        }
    }
}
