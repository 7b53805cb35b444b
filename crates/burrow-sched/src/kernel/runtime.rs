//! The public face of the scheduler: [`Builder`], [`Runtime`], [`go`],
//! [`yield_now`], [`current_id`], [`num_goroutine`].

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};

use crate::kernel::g::{Runnable, Switch};
use crate::kernel::idle::MainState;
use crate::kernel::m::{current_g, switch_to_scheduler, with_m};
use crate::kernel::sched::Shared;
use crate::kernel::syscall::{DEFAULT_MAX_THREADS, MAX_THREADS_ENV};
use crate::kernel::task::{JoinHandle, new_task};

/// Environment variable that sets the default number of Ps (Go's
/// `GOMAXPROCS`). An explicit [`Builder::maxprocs`] wins over it.
pub const MAXPROCS_ENV: &str = "BURROW_MAXPROCS";

/// Why a runtime could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `maxprocs` was 0 or `BURROW_MAXPROCS` did not parse as a positive
    /// integer.
    #[error("invalid maxprocs: {0}")]
    Maxprocs(String),
    /// `BURROW_STACK_COMPACT` was neither `off` nor a number of
    /// milliseconds.
    #[error("invalid BURROW_STACK_COMPACT: {0:?} (use `off` or a decay in milliseconds)")]
    StackCompact(String),
    /// The stack pool refused the configuration.
    #[error("stack pool: {0}")]
    Stack(#[from] burrow_stack::StackError),
}

/// Why [`Runtime::try_run`] returned without a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Nothing inside the runtime could ever run again (every P idle, no
    /// runnable goroutine, no pending timer) for the whole
    /// [`Builder::deadlock_grace`], while goroutines were still parked.
    #[error("all goroutines are asleep - deadlock! ({parked} goroutines parked)\n\n{dump}")]
    Deadlock {
        /// Goroutines alive (parked) when the deadlock was reported.
        parked: usize,
        /// The goroutine dump taken then (see [`crate::dump`]): each
        /// goroutine's id, what it waits for and where it was spawned.
        dump: String,
    },
}

/// Default for [`Builder::deadlock_grace`].
pub const DEFAULT_DEADLOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Configures a [`Runtime`].
#[derive(Debug, Clone)]
pub struct Builder {
    maxprocs: Option<usize>,
    stack_size: Option<usize>,
    abort_on_panic: bool,
    deadlock_grace: Option<std::time::Duration>,
    max_threads: Option<usize>,
    stack_compaction: Option<Option<std::time::Duration>>,
}

/// Default for [`Builder::stack_compaction`]: a goroutine parked this
/// long has its stack compacted.
pub const DEFAULT_STACK_COMPACTION: std::time::Duration = std::time::Duration::from_secs(1);

/// Environment variable that sets the default of
/// [`Builder::stack_compaction`]: `off`, or the decay in milliseconds.
pub const STACK_COMPACT_ENV: &str = "BURROW_STACK_COMPACT";

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            maxprocs: None,
            stack_size: None,
            abort_on_panic: false,
            deadlock_grace: Some(DEFAULT_DEADLOCK_GRACE),
            max_threads: None,
            stack_compaction: None,
        }
    }
}

impl Builder {
    /// Number of Ps: goroutines running in parallel. Default:
    /// `BURROW_MAXPROCS`, else the number of CPUs. More Ps than cores
    /// works (the Ms share the cores).
    #[must_use = "a Builder method returns the changed builder"]
    pub fn maxprocs(mut self, n: usize) -> Builder {
        self.maxprocs = Some(n);
        self
    }

    /// Usable bytes per goroutine stack (default 256 KiB; rounded up to
    /// pages). Stacks are reserved address space: a goroutine pays only for
    /// the pages it touches.
    #[must_use = "a Builder method returns the changed builder"]
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Abort the process when any goroutine panics, as Go does. Default
    /// false: the panic goes to the goroutine's [`JoinHandle`], or is
    /// printed if the handle was dropped.
    #[must_use = "a Builder method returns the changed builder"]
    pub fn abort_on_panic(mut self, abort: bool) -> Builder {
        self.abort_on_panic = abort;
        self
    }

    /// How long "nothing can ever run again" must hold before it is
    /// reported as a deadlock (default [`DEFAULT_DEADLOCK_GRACE`], 1 s;
    /// `None` turns detection off). See [`Runtime::try_run`].
    ///
    /// The grace exists because plain OS threads can wake goroutines
    /// (through a [`crate::Ready`] or a channel) and the runtime cannot see
    /// which threads hold such handles: a program whose goroutines all wait
    /// for a thread that acts only after longer than the grace is reported
    /// as deadlocked. Raise the grace, or pass `None`, for such programs.
    /// A grace too long to add to [`std::time::Instant::now`]
    /// (`Duration::MAX`) is the same as `None`.
    #[must_use = "a Builder method returns the changed builder"]
    pub fn deadlock_grace(mut self, grace: Option<std::time::Duration>) -> Builder {
        self.deadlock_grace = grace;
        self
    }

    /// The most threads the runtime may use: one per P plus one per
    /// goroutine in a [`crate::blocking`] call (Go's
    /// `debug.SetMaxThreads`). A blocking call beyond it fails with
    /// [`crate::ThreadLimit`]. Default: `BURROW_MAX_THREADS`, else 10,000.
    #[must_use = "a Builder method returns the changed builder"]
    pub fn max_threads(mut self, n: usize) -> Builder {
        self.max_threads = Some(n);
        self
    }

    /// Stack compaction (see `docs/stack.md`, *Compaction*): a goroutine
    /// parked longer than `decay` has the used part of its stack (a few
    /// hundred bytes, typically) copied into a small buffer and its stack
    /// pages given back to the OS; the bytes are copied back before it
    /// runs again. `None` turns it off. Default:
    /// `BURROW_STACK_COMPACT` (`off`, or milliseconds), else
    /// [`DEFAULT_STACK_COMPACTION`] (1 s). Off where the kernel lacks
    /// `membarrier(2)` (said once on stderr).
    #[must_use = "a Builder method returns the changed builder"]
    pub fn stack_compaction(mut self, decay: Option<std::time::Duration>) -> Builder {
        self.stack_compaction = Some(decay);
        self
    }

    /// Builds the runtime. No thread starts until [`Runtime::run`].
    pub fn build(self) -> Result<Runtime, BuildError> {
        let maxprocs = match self.maxprocs {
            Some(0) => return Err(BuildError::Maxprocs("maxprocs must be at least 1".into())),
            Some(n) => n,
            None => default_maxprocs()?,
        };
        let pool = match self.stack_size {
            None => burrow_stack::Pool::global(),
            Some(bytes) => pool_for(bytes)?,
        };
        let max_threads = match self.max_threads {
            Some(n) => n,
            None => match std::env::var(MAX_THREADS_ENV) {
                Ok(v) => v.trim().parse::<usize>().map_err(|_| {
                    BuildError::Maxprocs(format!("{MAX_THREADS_ENV}={v:?} is not a number"))
                })?,
                Err(_) => DEFAULT_MAX_THREADS,
            },
        };
        let compaction = match self.stack_compaction {
            Some(d) => d,
            None => match std::env::var(STACK_COMPACT_ENV) {
                Ok(v) if v.trim() == "off" => None,
                Ok(v) => Some(std::time::Duration::from_millis(
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| BuildError::StackCompact(v.clone()))?,
                )),
                Err(_) => Some(DEFAULT_STACK_COMPACTION),
            },
        };
        let compaction = compaction.filter(|_| crate::kernel::compact::available());
        if compaction.is_some() {
            crate::kernel::compact::enable();
        }
        let shared = Shared::new(
            maxprocs,
            pool,
            self.abort_on_panic,
            self.deadlock_grace,
            max_threads,
        );
        shared.compact_decay.store(
            compaction.map_or(u64::MAX, |d| d.as_nanos().min(u64::MAX as u128 - 1) as u64),
            Ordering::Relaxed,
        );
        Ok(Runtime { shared })
    }
}

fn default_maxprocs() -> Result<usize, BuildError> {
    match std::env::var(MAXPROCS_ENV) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(BuildError::Maxprocs(format!("{MAXPROCS_ENV}={v:?}"))),
        },
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Stack pools live for the whole process; share one per size.
fn pool_for(bytes: usize) -> Result<burrow_stack::Pool, BuildError> {
    static POOLS: OnceLock<Mutex<HashMap<usize, burrow_stack::Pool>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .expect("pool map poisoned");
    if let Some(p) = pools.get(&bytes) {
        return Ok(*p);
    }
    let pool = burrow_stack::Pool::new(burrow_stack::StackConfig {
        usable_size: bytes,
        ..Default::default()
    })?;
    pools.insert(bytes, pool);
    Ok(pool)
}

/// A Go-style runtime: `maxprocs` Ps, Ms started on demand, goroutines on
/// their own stacks. See the crate docs.
pub struct Runtime {
    shared: &'static Shared,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("maxprocs", &self.shared.maxprocs)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A builder with the defaults.
    #[must_use]
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The number of Ps.
    pub fn maxprocs(&self) -> usize {
        self.shared.maxprocs
    }

    /// The stack compaction decay in effect: what
    /// [`Builder::stack_compaction`] asked for, or `None` if it is off (asked
    /// so, or the kernel lacks what it needs).
    pub fn stack_compaction(&self) -> Option<std::time::Duration> {
        let d = self.shared.compact_decay.load(Ordering::Relaxed);
        (d != u64::MAX).then(|| std::time::Duration::from_nanos(d))
    }

    /// Runs `main` as the main goroutine and returns its result; the
    /// calling thread waits (it is not one of the Ms). A panic in `main` is
    /// re-raised here.
    ///
    /// When `main` returns, the runtime shuts down, as a Go program exits
    /// when its `main` returns: sleeping Ms exit at once, busy Ms when their
    /// goroutine next enters the scheduler. Goroutines that never started
    /// are dropped (their [`JoinHandle::join`] returns an abandoned
    /// [`crate::Panic`]). Goroutines suspended mid-run (parked or yielded)
    /// are never resumed and their destructors never run; their stacks are
    /// leaked, never freed or reused, so no code can run on a freed stack
    /// and nothing pointing into one dangles. A goroutine still running
    /// when `main` returns runs on until it parks, yields or finishes.
    ///
    /// # Panics
    ///
    /// With Go's message "all goroutines are asleep - deadlock!" when the
    /// runtime deadlocks (see [`Runtime::try_run`]), and with `main`'s own
    /// panic.
    #[track_caller]
    pub fn run<F, T>(self, main: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_run(main).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Runtime::run`], but returns [`RunError::Deadlock`] instead of
    /// hanging when the runtime deadlocks: every P idle, no goroutine
    /// runnable or running, no live (not stopped) timer pending,
    /// goroutines still parked, for the whole [`Builder::deadlock_grace`]
    /// (read its caveat about plain threads). The runtime then shuts down
    /// as when `main` returns; the parked goroutines are never resumed. A
    /// panic in `main` is re-raised.
    ///
    /// Called from a goroutine of *another* runtime, this blocks that
    /// goroutine's M thread (its P runs nothing else) until this runtime's
    /// `main` ends: the wait is a plain condvar, not a goroutine park.
    /// Nesting runtimes that way works but costs the outer runtime a P for
    /// the duration; prefer running the inner runtime on its own thread.
    #[track_caller]
    pub fn try_run<F, T>(self, main: F) -> Result<T, RunError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let rt = self.shared;
        /// Tells `try_run` that `main` ended, even by a panic.
        struct Finish(&'static Shared);
        impl Drop for Finish {
            fn drop(&mut self) {
                self.0.main_wait.finish();
            }
        }
        let main = move || {
            let _finish = Finish(rt);
            main()
        };
        crate::kernel::sysmon::start(rt);
        let goid = rt.next_goid(None);
        let (task, handle) = new_task(goid, rt.abort_on_panic, Location::caller(), main);
        rt.count_goroutine(None, 1);
        rt.global.push(Runnable::Task(task));
        rt.wakep();
        if let MainState::Deadlock(parked, dump) = rt.main_wait.wait() {
            rt.begin_shutdown();
            drop(handle);
            return Err(RunError::Deadlock { parked, dump });
        }
        // `main` ended: its handle completes right after.
        let result = handle.join();
        rt.begin_shutdown();
        match result {
            Ok(v) => Ok(v),
            Err(p) => std::panic::resume_unwind(p.into_payload()),
        }
    }
}

/// Local run-queue length (ring plus `runnext`) at which [`go`] yields
/// after queuing its child: spawner back-pressure.
///
/// A goroutine spawning in a loop outruns the Ps that run its children
/// (queuing a G costs a few hundred ns; running one costs at least a
/// switch). Go lets the queue overflow into the global queue and the live
/// set grow: its Gs are cheap (2 KiB stacks, kept by the GC until the next
/// cycle). Ours are not: past the G free list every spawn took a fresh G on
/// a cold stack (page faults) and every exit destroyed one (`madvise`), so
/// spawn+join was several times dearer, and stack-heavy goroutines far
/// more. Yielding puts the spawner at the tail of its queue, behind its children:
/// they run (here or on a P that steals them), their Gs return to the free
/// list with their stacks warm and in cache, and the spawner resumes when
/// the queue has drained. The live set stays near this bound; the cost is
/// one yield per this many spawns.
///
/// Why 8 (the measurements are in `docs/scheduler.md`): 8 to 32 all keep
/// the live set small and the stacks warm; 128 lets the stacks in flight
/// outgrow L2 for stack-heavy goroutines (8 × 33 KiB fits). Smaller
/// bounds cost shallow goroutines a little (smaller steals, more idle-M
/// wake-ups) and save stack-heavy ones more; the stack-heavy case is the
/// one where we are furthest from free, so 8.
///
/// Rejected: running the child at once (work-first, the parent in
/// `runnext`): the queue never fills, so other Ps have nothing to steal
/// but the parent, and spawning loses its parallelism.
pub(crate) const SPAWN_YIELD_QUEUE: usize = 8;

/// Starts a goroutine running `f` and returns a handle to join it (Go's
/// `go` statement; see also the facade's `go!`). The new goroutine goes to
/// this P's `runnext`: it runs as soon as the caller yields or parks, and
/// an idle P is woken to take the caller's other work.
///
/// `go` itself yields when this P's run queue holds 8 or more goroutines
/// (back-pressure, so that a spawning loop does not keep hundreds of
/// thousands of goroutines alive at once): like `yield_now`, it may then
/// resume on another M, so the thread-local contract of the crate docs
/// applies to it as to any yield. A `go` that leaves the queue shorter
/// than that never yields, so a goroutine that spawns a few children and
/// then parks (joins them) keeps running until it parks.
///
/// # Panics
///
/// Outside a goroutine of a running [`Runtime`], or if no stack can be
/// allocated.
#[track_caller]
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let site = Location::caller();
    let (rt, yield_after, handle) = with_m(|m| {
        let m = m.expect("burrow_sched::go called outside a burrow runtime");
        let rt = m.rt;
        let mut core = m.p.borrow_mut();
        let Some(core) = core.as_deref_mut() else {
            // An M without a P: a goroutine inside a blocking call
            // (`syscall.rs`). The new goroutine goes to the global queue.
            let goid = rt.next_goid(None);
            let (task, handle) = new_task(goid, rt.abort_on_panic, site, f);
            rt.count_goroutine(None, 1);
            rt.global.push(Runnable::Task(task));
            return (rt, None, handle);
        };
        let goid = rt.next_goid(Some(&mut *core));
        let (task, handle) = new_task(goid, rt.abort_on_panic, site, f);
        rt.count_goroutine(Some(&mut *core), 1);
        rt.runqput(core, Runnable::Task(task), true);
        // `on_g`: called by a goroutine, not by the M's scheduler context
        // (runtime code holding a P, such as a timer firing, may spawn
        // too, but cannot yield).
        let on_g = m.curg.get().is_some();
        let yield_now = on_g
            && (core.runq.len() >= SPAWN_YIELD_QUEUE
                // Relaxed: sysmon's hint (see *Starvation* in `sysmon.rs`).
                || rt.ps[core.id].preempt.load(Ordering::Relaxed));
        (rt, Some(yield_now), handle)
    });
    match yield_after {
        // The global queue's push: `wakep` with its fence.
        None => rt.wakep(),
        Some(yield_now) => {
            // No fence: `runqput` into `runnext` is a SeqCst swap, the
            // submitter's half of the spinning-M Dekker pair by itself (as
            // in `ready_g`; see `Shared::wakep_after_sc_publish`).
            rt.wakep_after_sc_publish();
            if yield_now {
                // Back-pressure (see `SPAWN_YIELD_QUEUE`), or sysmon asked.
                switch_to_scheduler(Switch::Yield);
            }
        }
    }
    handle
}

/// A preemption point (Go's check of `stackguard0` at a function's
/// entry): if sysmon flagged this goroutine's P as starved (see
/// *Starvation* in `sysmon.rs`), yield. Channel operations, socket calls
/// (`PollFd::check`), `go`, `yield_now`, parks and blocking calls are the
/// points. While no P anywhere is flagged (the common case) it costs one
/// relaxed load of a process-wide count, no thread-local lookup.
#[inline]
pub(crate) fn preempt_point() {
    // The common case, no request anywhere: one load, no thread-local.
    if !crate::kernel::p::preempt_requested_anywhere() {
        return;
    }
    let asked = with_m(|m| {
        let m = m?;
        m.curg.get()?;
        let pid = m.pid()?;
        // Relaxed: sysmon's hint; a late sight only delays the yield.
        let p = &m.rt.ps[pid];
        let asked = p.preempt.load(Ordering::Relaxed);
        if asked {
            // Relaxed: a statistic.
            p.preemptions.fetch_add(1, Ordering::Relaxed);
        }
        Some(asked)
    });
    if asked == Some(true) {
        switch_to_scheduler(Switch::Yield);
    }
}

/// Lets other goroutines run: the current goroutine goes to the tail of
/// its P's local queue (Go's `Gosched` puts it on the global queue; the
/// local tail costs no lock, and the 1-in-61 rule still serves the global
/// queue). Outside a goroutine, yields the thread.
pub fn yield_now() {
    if current_g().is_some() {
        switch_to_scheduler(Switch::Yield);
    } else {
        std::thread::yield_now();
    }
}

/// The current goroutine's id (ids start at 1, the main goroutine's), or
/// None outside a goroutine.
pub fn current_id() -> Option<u64> {
    current_g().map(|(_, g)| g.g().goid.load(Ordering::Relaxed))
}

/// Live goroutines in the current runtime (Go's `runtime.NumGoroutine`),
/// or 0 outside a runtime.
pub fn num_goroutine() -> usize {
    with_m(|m| m.map_or(0, |m| m.rt.num_goroutine()))
}

/// GOMAXPROCS of the current runtime, or 0 outside a runtime.
pub fn maxprocs() -> usize {
    with_m(|m| m.map_or(0, |m| m.rt.maxprocs))
}
