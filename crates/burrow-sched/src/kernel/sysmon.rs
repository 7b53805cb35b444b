//! sysmon: the runtime's monitor thread (Go's `sysmon` in `proc.go`). It
//! runs without a P, wakes every 20 µs while it finds things to do and
//! backs off to 10 ms when it does not (Go's rule: after 50 idle rounds,
//! double the sleep), and:
//!
//! - **retakes Ps from blocking calls** (*Blocking calls* in `syscall.rs`):
//!   a call that has lasted a tick, when its P has work or nobody else is
//!   looking for work, or any call past 10 ms, loses its P to another M;
//! - **relieves Ps starved by a long goroutine** (*Starvation* below);
//! - **polls the network** when nobody has for 10 ms, so a runtime whose
//!   Ps never run out of work still sees its sockets;
//! - prints **schedtrace** lines (`BURROW_DEBUG=schedtrace=MS`, with a
//!   line per P and goroutine under `scheddetail=1`);
//! - prints the **goroutine dump** on `SIGQUIT` (`dump.rs`);
//! - does the runtime's **housekeeping** (below).
//!
//! # Housekeeping
//!
//! Go has one background thread; so do we while a runtime is up. The
//! stack pool's scavenger (which trims the stacks of goroutines long gone,
//! `burrow-stack`'s *Temperatures*) runs its rounds from sysmon through a
//! `PoolDriver`; the pool's own thread starts only when no runtime drives
//! it (the crate used alone, or after the runtime ends). The allocator's
//! scavenger (which returns pages free for its decay to the OS) likewise:
//! while any runtime is up, burrow-alloc's own thread is forbidden
//! (`set_background_scavenger(false)`) and sysmon calls
//! `scavenge_decayed` every half decay; when the last runtime ends, the
//! thread is allowed again and starts as burrow-alloc decides. And the
//! global G free list decays here: Gs idle in it for a whole decay are
//! destroyed, a chunk a round (*Idle Gs decay* in `gfree.rs`).
//!
//! # Starvation
//!
//! Go preempts a goroutine that has run 10 ms: first by a flag checked at
//! function entry, then (since 1.14) by a signal. We have neither: Rust
//! code has no safe points the runtime can insert, and a signal handler
//! cannot switch stacks under Rust code that may hold a thread-local
//! borrow, an allocator's per-thread cache or a lock (none of which is
//! async-signal-safe). A signal design would need every such state to be
//! re-entrant or masked, and goroutine code compiled with checks at loop
//! back-edges; see `docs/sysmon.md`.
//!
//! What we do instead: when a P's schedule tick has not moved for 10 ms
//! (one goroutine has run that long) and the P has work waiting (its run
//! queue, the global queue, or due timers), sysmon
//!
//! 1. sets the P's `preempt` flag, which the runtime calls that may yield
//!    (`go`, `yield_now`, parks, socket I/O, blocking calls) honour by
//!    yielding, and
//! 2. lends a *spare P* to a new (or idle) M, which steals the starved P's
//!    queue and runs its due timers, so its other goroutines run while the
//!    long one keeps its M.
//!
//! There is one spare per P, never on the idle list; a spare M that finds
//! nothing gives its spare back. So while a goroutine computes without
//! runtime calls, the runtime may run up to twice `maxprocs` goroutines at
//! once, as Go runs more threads than Ps while goroutines are in system
//! calls: a long computation is treated like a blocking call.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use burrow_netpoll::Events;

use crate::clock::now_nanos;
use crate::kernel::p::PCore;
use crate::kernel::park::Ready;
use crate::kernel::sched::Shared;

/// sysmon's shortest sleep (Go: 20 µs).
const SYSMON_MIN: Duration = Duration::from_micros(20);
/// sysmon's longest sleep (Go: 10 ms).
const SYSMON_MAX: Duration = Duration::from_millis(10);
/// Idle rounds before sysmon starts doubling its sleep (Go: 50).
const SYSMON_IDLE_ROUNDS: u32 = 50;
/// How long a goroutine may run before its P counts as starved, and how
/// long a blocking call may last before its P is retaken even when others
/// are looking for work (Go's `forcePreemptNS`: 10 ms).
pub(crate) const FORCE_PREEMPT: Duration = Duration::from_millis(10);
/// How long a blocking call must have lasted before sysmon may retake its
/// P at all: one sysmon tick.
const SYSCALL_GRACE: Duration = SYSMON_MIN;
/// How long the network may go unpolled before sysmon polls it.
const NETPOLL_MAX_GAP: Duration = Duration::from_millis(10);

/// How often sysmon notes which goroutines wait, for the dump's `N
/// minutes` (see `dump.rs`), when stack compaction is off (with it, the
/// same sweep runs more often: `sweep_period`). A sweep walks every G,
/// under the registry's lock a chunk at a time, so it is rare.
const WAIT_SWEEP: Duration = Duration::from_secs(10);

/// The longest sysmon waits between two looks at the stack pool: a slot
/// freed meanwhile is due a decay after its release, so it is trimmed at
/// most this late.
const SCAVENGE_MAX: Duration = Duration::from_millis(100);

/// Where sysmon sleeps between rounds; shutdown wakes it, and so does a
/// blocking call that leaves work waiting while sysmon dozes (*Waking
/// sysmon early* in `syscall.rs`).
#[derive(Default)]
pub(crate) struct SysmonNote {
    state: Mutex<NoteState>,
    cv: Condvar,
    /// Set while sysmon is in a sleep longer than [`SYSMON_MIN`]: a
    /// blocking call that leaves work queued then wakes it.
    dozing: AtomicBool,
    /// Ps taken from blocking calls (`Stats::handoffs`).
    pub(crate) handoffs: AtomicU64,
    /// Starved Ps found (`Stats::starved`).
    pub(crate) starved: AtomicU64,
}

#[derive(Default)]
struct NoteState {
    stop: bool,
    kicked: bool,
}

/// How a sysmon sleep ended.
#[derive(PartialEq, Eq)]
enum Woke {
    /// Its time was up.
    Timeout,
    /// A blocking call woke it (see [`SysmonNote::kick`]).
    Kicked,
    /// The runtime is shutting down.
    Stop,
}

impl SysmonNote {
    /// Sleeps up to `d`.
    fn sleep(&self, d: Duration) -> Woke {
        let long = d > SYSMON_MIN;
        let mut st = self.state.lock().expect("sysmon note poisoned");
        if long {
            // Relaxed: a hint for `kick`. A kick that reads it late sets
            // `kicked` under this lock, so it cannot be lost: it ends this
            // sleep, or makes the next one return at once.
            self.dozing.store(true, Ordering::Relaxed);
        }
        if !st.stop && !st.kicked {
            st = self
                .cv
                .wait_timeout_while(st, d, |s| !s.stop && !s.kicked)
                .expect("sysmon note poisoned")
                .0;
        }
        self.dozing.store(false, Ordering::Relaxed);
        if st.stop {
            Woke::Stop
        } else if std::mem::take(&mut st.kicked) {
            Woke::Kicked
        } else {
            Woke::Timeout
        }
    }

    /// Wakes sysmon if it is in a long sleep: a blocking call has just
    /// left work queued on its P, and sysmon should look at it within a
    /// tick rather than at the end of a sleep of up to 10 ms. One relaxed
    /// load when sysmon is awake or in a short sleep.
    pub(crate) fn kick(&self) {
        if !self.dozing.load(Ordering::Relaxed) {
            return;
        }
        self.state.lock().expect("sysmon note poisoned").kicked = true;
        self.cv.notify_one();
    }

    /// Tells sysmon to exit.
    pub(crate) fn stop(&self) {
        self.state.lock().expect("sysmon note poisoned").stop = true;
        self.cv.notify_all();
    }
}

/// A `BURROW_DEBUG` setting (`name=value`, comma-separated, as Go's
/// `GODEBUG`) as a number, if set and non-zero.
fn debug_setting(name: &str) -> Option<u64> {
    let v = std::env::var("BURROW_DEBUG").ok()?;
    v.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == name)
            .then(|| v.trim().parse::<u64>().ok())
            .flatten()
            .filter(|&n| n > 0)
    })
}

/// Starts the runtime's sysmon thread.
pub(crate) fn start(rt: &'static Shared) {
    crate::kernel::dump::install_sigquit();
    let started = std::thread::Builder::new()
        .name("burrow-sysmon".into())
        .spawn(move || sysmon(rt));
    if let Err(e) = started {
        // The runtime works without it, as before it existed: blocking
        // calls then keep their P and long goroutines their P's work.
        eprintln!("burrow: cannot start the sysmon thread: {e}; running without it");
    }
}

/// What sysmon remembers of a P between rounds.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// The P's schedule tick last time.
    tick: u32,
    /// When that tick was first seen (runtime clock).
    since: u64,
}

/// Runtimes whose sysmon drives the allocator's scavenging (see
/// *Housekeeping*): the first forbids burrow-alloc's own thread, the last
/// to end allows it again.
static ALLOC_DRIVERS: Mutex<usize> = Mutex::new(0);

/// One sysmon's share of the allocator's scavenging.
struct AllocDriver;

impl AllocDriver {
    fn new() -> AllocDriver {
        let mut n = ALLOC_DRIVERS.lock().unwrap_or_else(|e| e.into_inner());
        if *n == 0 {
            burrow_alloc::set_background_scavenger(false);
        }
        *n += 1;
        AllocDriver
    }

    /// Releases the pages free for the decay; returns when to come back.
    fn scavenge(&self) -> Duration {
        burrow_alloc::scavenge_decayed();
        (burrow_alloc::scavenger_decay() / 2).max(SYSMON_MAX)
    }
}

impl Drop for AllocDriver {
    fn drop(&mut self) {
        let mut n = ALLOC_DRIVERS.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            burrow_alloc::set_background_scavenger(true);
        }
    }
}

fn sysmon(rt: &'static Shared) {
    let mut delay = SYSMON_MIN;
    let mut idle_rounds = 0u32;
    let mut seen = vec![Seen::default(); rt.maxprocs];
    let mut events: Events<Ready> = Events::new();
    let trace = debug_setting("schedtrace").map(Duration::from_millis);
    let detail = debug_setting("scheddetail").is_some();
    let start = now_nanos();
    let mut next_trace = trace.map(|t| start + t.as_nanos() as u64);
    // The stack pool's scavenging runs here while the runtime is up (see
    // *Housekeeping*).
    let stacks = rt.pool.drive();
    let mut next_scavenge = start;
    let heap = AllocDriver::new();
    let mut next_heap_scavenge = start;
    let mut next_wait_sweep = start;
    let mut sweep_goroutines = 0usize;
    // The global G free list decays on the stack pool's clock (*Idle Gs
    // decay* in `gfree.rs`).
    let g_decay = (rt.pool.config().decay.as_nanos() as u64).max(1);
    let mut next_g_mark = start + g_decay;
    loop {
        let woke = rt.sysmon.sleep(delay);
        if woke == Woke::Stop || rt.is_shutdown() {
            break;
        }
        if woke == Woke::Kicked {
            // A blocking call left work waiting: look every tick again.
            idle_rounds = 0;
            delay = SYSMON_MIN;
        }
        crate::kernel::dump::check_sigquit(rt);
        let now = now_nanos();
        let mut acted = retake_syscalls(rt, now);
        acted |= relieve_starved(rt, now, &mut seen);
        if rt.netpoll.should_poll()
            && now.saturating_sub(rt.netpoll.last_poll()) >= NETPOLL_MAX_GAP.as_nanos() as u64
            && rt.netpoll.poll(&mut events, Some(Duration::ZERO))
        {
            // No P here: the goroutines go to the global queue and an
            // idle P is woken for them (`ready_g`).
            for r in events.drain_waiters() {
                r.ready();
            }
            acted = true;
        }
        if now >= next_scavenge {
            let wait = stacks.scavenge().unwrap_or(SCAVENGE_MAX).min(SCAVENGE_MAX);
            next_scavenge = now + wait.as_nanos() as u64;
        }
        if now >= next_wait_sweep {
            let decay = rt.compact_decay.load(Ordering::Relaxed);
            let decay = (decay != u64::MAX).then_some(decay);
            // Compacting waits while goroutines are being made fast (the
            // count grew by more than a twentieth since the last sweep):
            // a burst of spawns wants the CPU, and its goroutines are
            // compacted once it is over.
            let goroutines = rt.num_goroutine();
            let climbing = goroutines > sweep_goroutines + sweep_goroutines / 20 + 64;
            sweep_goroutines = goroutines;
            let budget = if climbing {
                0
            } else {
                sweep_period(decay, 0) / 2
            };
            let (_, compacting) = crate::kernel::compact::sweep(&rt.gfree.all, now, decay, budget);
            let end = now_nanos();
            let walk = end.saturating_sub(now).saturating_sub(compacting);
            next_wait_sweep = end + sweep_period(decay, walk);
        }
        if now >= next_g_mark {
            rt.gfree.mark();
            next_g_mark = now + g_decay;
        }
        if rt.gfree.reap() {
            // The reaped stacks went to this thread's cache, which nothing
            // here would ever take or trim: hand them to the pool.
            rt.pool.flush_thread_cache();
            acted = true;
        }
        if now >= next_heap_scavenge {
            next_heap_scavenge = now + heap.scavenge().as_nanos() as u64;
        }
        if let (Some(period), Some(at)) = (trace, next_trace)
            && now >= at
        {
            let line = rt.schedtrace((now - start) / 1_000_000, detail);
            let _ = std::io::stderr().write_all(line.as_bytes());
            next_trace = Some(at + period.as_nanos() as u64);
        }
        if acted {
            idle_rounds = 0;
            delay = SYSMON_MIN;
        } else {
            idle_rounds += 1;
            if idle_rounds > SYSMON_IDLE_ROUNDS {
                delay = (delay * 2).min(SYSMON_MAX);
            }
        }
    }
}

/// How long from the end of one sweep of every G (`compact::sweep`) to
/// the next: [`WAIT_SWEEP`] without compaction; with it, half the decay
/// (so a goroutine is compacted between one and two decays after it
/// parked, or later while a burst of long parks is worked off at most
/// half this period of compacting per sweep), at least [`SYSMON_MAX`], and
/// at least 10 times what the last walk took (the sweep's time less its
/// compacting), so that walking a million parked goroutines costs sysmon
/// no more than a tenth of a core.
fn sweep_period(decay: Option<u64>, walk: u64) -> u64 {
    match decay {
        None => WAIT_SWEEP.as_nanos() as u64,
        Some(d) => (d / 2)
            .clamp(SYSMON_MAX.as_nanos() as u64, WAIT_SWEEP.as_nanos() as u64)
            .max(walk.saturating_mul(10)),
    }
}

/// Go's `retake` for Ps in blocking calls. Returns whether it retook one.
fn retake_syscalls(rt: &'static Shared, now: u64) -> bool {
    let mut retook = false;
    for p in rt.ps.iter().filter(|p| !p.spare) {
        // Relaxed: a hint; the swap below decides.
        if p.syscall.load(Ordering::Relaxed).is_null() {
            continue;
        }
        let lasted = now.saturating_sub(p.syscall_when.load(Ordering::Relaxed));
        if lasted < SYSCALL_GRACE.as_nanos() as u64 {
            continue;
        }
        // Go: leave a P without local work alone while others look for
        // work (they will find the global work), unless the call is long.
        let others_look = rt.spin.nmspinning() + rt.npidle() > 0;
        if p.runq.is_empty()
            && rt.global.len() == 0
            && others_look
            && lasted < FORCE_PREEMPT.as_nanos() as u64
        {
            continue;
        }
        // Acquire: pairs with the Release store in `syscall::enter`.
        let core = p.syscall.swap(std::ptr::null_mut(), Ordering::Acquire);
        if core.is_null() {
            continue; // the M came back first
        }
        // SAFETY: a non-null slot holds a core leaked by `syscall::enter`;
        // our swap made it ours.
        let core = unsafe { Box::from_raw(core) };
        rt.sysmon.handoffs.fetch_add(1, Ordering::Relaxed);
        rt.handoff_p(core);
        retook = true;
    }
    retook
}

/// *Starvation*: lends a spare P where a goroutine has run for
/// [`FORCE_PREEMPT`] while work waits. Returns whether it lent one.
fn relieve_starved(rt: &'static Shared, now: u64, seen: &mut [Seen]) -> bool {
    let mut lent = false;
    for (p, s) in rt.ps.iter().zip(seen.iter_mut()) {
        // Relaxed: a hint (the owner publishes it at every schedule).
        let tick = p.schedtick.load(Ordering::Relaxed);
        if tick != s.tick || s.since == 0 {
            *s = Seen { tick, since: now };
            continue;
        }
        if now.saturating_sub(s.since) < FORCE_PREEMPT.as_nanos() as u64
            || !p.syscall.load(Ordering::Relaxed).is_null()
        {
            continue;
        }
        let waiting = !p.runq.is_empty() || rt.global.len() > 0 || p.timers.due(now);
        if !waiting {
            continue;
        }
        let mut idle = rt.sched.lock().expect("sched lock poisoned");
        if rt.is_shutdown() || idle.pidle.iter().any(|c| c.id == p.id) {
            continue; // an idle P: nothing runs long on it
        }
        p.request_preempt();
        rt.sysmon.starved.fetch_add(1, Ordering::Relaxed);
        // Once per starvation period: look again only after another one.
        s.since = now;
        let Some(spare) = idle.spare.pop() else {
            continue;
        };
        idle.ptakes += 1;
        rt.spin.start_spinning();
        rt.startm_with(idle, spare, true);
        lent = true;
    }
    lent
}

impl Shared {
    /// Go's `handoffp`: the P of `core` was taken from a goroutine in a
    /// blocking call; run its work on another M, or put it on the idle
    /// list.
    pub(crate) fn handoff_p(&'static self, core: Box<PCore>) {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        if self.is_shutdown() {
            drop(idle);
            self.release_p(core);
            return;
        }
        let has_work = !core.runq.is_empty() || self.global.len() > 0;
        if has_work {
            idle.ptakes += 1;
            self.startm_with(idle, core, false);
            return;
        }
        // Nobody looks for work: start a spinning M on it, which will also
        // take the timer sleeper's role if the P's timers need one.
        if self.spin.nmspinning() + self.npidle() == 0 {
            idle.ptakes += 1;
            self.spin.start_spinning();
            self.startm_with(idle, core, true);
            return;
        }
        drop(idle);
        self.release_p(core);
        // The Dekker pair of *Spinning Ms*, as an M giving up its P does:
        // work queued before our release must not be stranded.
        fence(Ordering::SeqCst);
        if self.global.len() > 0 {
            self.wakep();
        }
    }
}
