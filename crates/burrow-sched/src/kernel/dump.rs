//! Seeing into a running runtime: the goroutine dump (Go's traceback on
//! `SIGQUIT` or a deadlock, `runtime.Stack(buf, true)`), [`Stats`] (Go's
//! `runtime.NumGoroutine` and the counts `GODEBUG=schedtrace` prints) and
//! the schedtrace lines themselves.
//!
//! # The goroutine dump
//!
//! Every G a runtime ever allocated is in its registry (`AllGs` in
//! `g.rs`), added at allocation and removed at destruction under one
//! lock, so the dump can walk them while goroutines run. For each G that
//! holds a goroutine it prints Go's header line, the goroutine id and its
//! state (`running`, `runnable`, `syscall`, or why it waits: `chan
//! receive`, `IO wait`, `sync.Mutex.Lock`, ...), then where it was
//! spawned. A goroutine that has waited a minute or more says so, as
//! Go's does (`[chan receive, 3 minutes]`): sysmon notes when it first
//! sees each wait (every `WAIT_SWEEP`, 10 s; the dump looks too), so the
//! figure is good to that precision. The calling goroutine also gets its
//! stack trace.
//!
//! What Go prints and we do not: the stack of a goroutine other than the
//! caller. Go's garbage collector must walk every stack anyway, so its
//! compiler emits the tables to unwind a stopped goroutine from its saved
//! registers; unwinding a parked coroutine's stack from outside would need
//! a remote unwinder fed with its saved stack pointer, which Rust's
//! `std::backtrace` does not offer. The spawn site and the wait reason are
//! what names a goroutine in practice.
//!
//! The dump is a snapshot, not a stop-the-world: Go stops every P first;
//! here goroutines keep running, so a line may be a moment out of date. A
//! goroutine that has not started yet (a task in a run queue, with no G)
//! is counted, not listed.
//!
//! # SIGQUIT
//!
//! As in Go, `kill -QUIT` prints the dump and exits with status 2. The
//! handler only sets a flag (nothing else is async-signal-safe); sysmon,
//! which wakes at least every 10 ms, sees it and prints. It is installed
//! when the first runtime starts, and only if the signal still has its
//! default disposition, so a program that handles `SIGQUIT` itself keeps
//! its handler.

use std::fmt::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::now_nanos;
use crate::kernel::compact::COUNTERS;
use crate::kernel::g::{G, status};
use crate::kernel::m::current_g;
use crate::kernel::park::WaitReason;
use crate::kernel::sched::Shared;

/// A snapshot of a runtime's scheduler, as [`stats`] returns it: the
/// numbers of Go's `GODEBUG=schedtrace` line and a few of its `runtime`
/// package's. Each field is read on its own, without stopping anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live goroutines (Go's `runtime.NumGoroutine`).
    pub goroutines: usize,
    /// Ps (GOMAXPROCS).
    pub maxprocs: usize,
    /// Ps idle now.
    pub idle_procs: usize,
    /// Threads: the Ms plus sysmon, as Go counts them.
    pub threads: usize,
    /// Ms asleep on the idle list.
    pub idle_threads: usize,
    /// Ms looking for work.
    pub spinning_threads: usize,
    /// Goroutines in a blocking call (`blocking`), each holding a thread.
    pub in_blocking_call: usize,
    /// Goroutines in the global run queue.
    pub global_queue: usize,
    /// Goroutines in each P's local run queue.
    pub local_queues: Vec<usize>,
    /// Ps sysmon took from blocking calls and handed to another M.
    pub handoffs: u64,
    /// Times sysmon found a P starved by a long-running goroutine.
    pub starved: u64,
    /// Goroutine switches so far, all Ps (each time a P's M switched into
    /// a goroutine).
    pub switches: u64,
    /// Successful steals so far (each takes half a victim's queue, or its
    /// `runnext`).
    pub steals: u64,
    /// Times a goroutine yielded at a runtime call because sysmon flagged
    /// it as running too long (see *Starvation* in `docs/sysmon.md`).
    pub preemptions: u64,
    /// Stack memory resident in RAM, summed over the goroutines listed in
    /// [`Stats::stack_histogram`] (the kernel's count, `mincore(2)`: the
    /// pages a goroutine has touched and nobody has released).
    pub stack_resident_bytes: u64,
    /// Goroutines by resident stack: `(limit, count)` pairs, ascending,
    /// each counting the goroutines whose resident stack is at most
    /// `limit` bytes and above the previous pair's (4 KiB, 8 KiB, ... up
    /// to the stack size). Only goroutines that have started (have a G)
    /// are counted; [`Stats::goroutines`] also counts those queued to run.
    pub stack_histogram: Vec<(usize, usize)>,
    /// Goroutines whose stack is compacted now (see
    /// [`crate::Builder::stack_compaction`]), counted over the process.
    pub compacted_goroutines: u64,
    /// Bytes held in their compaction buffers now (the used parts of their
    /// stacks; their stack pages are released).
    pub compacted_bytes: u64,
    /// Stack compactions so far, process-wide.
    pub stack_compactions: u64,
    /// Compacted stacks copied back so far (their goroutine was woken).
    pub stack_restores: u64,
}

impl Stats {
    /// Average resident stack bytes per started goroutine, or 0 with none.
    pub fn stack_bytes_per_goroutine(&self) -> u64 {
        let n: usize = self.stack_histogram.iter().map(|&(_, c)| c).sum();
        self.stack_resident_bytes.checked_div(n as u64).unwrap_or(0)
    }
}

/// Bytes of `[lo, hi)` resident in RAM, by `mincore(2)`; 0 if the kernel
/// refuses (the range is not mapped).
fn resident_bytes(lo: usize, hi: usize) -> usize {
    let page = page_size();
    let lo = lo & !(page - 1);
    let pages = (hi - lo).div_ceil(page);
    let mut vec = vec![0u8; pages];
    // SAFETY: `vec` has one byte per page of the range, as mincore
    // requires; the range is this G's stack mapping, and mincore only
    // reads the page tables.
    let r = unsafe { libc::mincore(lo as *mut libc::c_void, hi - lo, vec.as_mut_ptr()) };
    if r != 0 {
        return 0;
    }
    vec.iter().filter(|&&b| b & 1 != 0).count() * page
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).unwrap_or(4096)
}

/// A snapshot of the scheduler of the runtime the caller runs in, or
/// `None` outside a goroutine.
///
/// ```
/// let rt = burrow_sched::Runtime::builder().maxprocs(2).build().unwrap();
/// let s = rt.run(|| burrow_sched::stats().unwrap());
/// assert_eq!(s.maxprocs, 2);
/// assert!(s.goroutines >= 1);
/// ```
pub fn stats() -> Option<Stats> {
    current_g().map(|(rt, _)| rt.stats())
}

/// The goroutine dump of the runtime the caller runs in (see the module
/// docs of the same name in `docs/sysmon.md`), or `None` outside a
/// goroutine. Go's `runtime.Stack(buf, true)`.
///
/// ```
/// let rt = burrow_sched::Runtime::builder().build().unwrap();
/// let d = rt.run(|| {
///     let (_tx, rx) = burrow_sched::chan::<()>(0);
///     let _h = burrow_sched::go(move || rx.recv());
///     // Let it park.
///     while !burrow_sched::dump().unwrap().contains("[chan receive]") {
///         burrow_sched::yield_now();
///     }
///     burrow_sched::dump().unwrap()
/// });
/// assert!(d.contains("[running]"), "{d}");
/// ```
pub fn dump() -> Option<String> {
    current_g().map(|(rt, g)| rt.dump(Some(g.g().goid.load(Ordering::Relaxed))))
}

/// Writes the goroutine dump (see [`dump`]) to `w`, as Go's
/// `pprof.Lookup("goroutine").WriteTo(w, 2)` does; returns `Ok(false)`,
/// writing nothing, outside a goroutine.
///
/// ```
/// let rt = burrow_sched::Runtime::builder().build().unwrap();
/// let out = rt.run(|| {
///     let mut out = Vec::new();
///     assert!(burrow_sched::write_dump(&mut out).unwrap());
///     out
/// });
/// assert!(String::from_utf8(out).unwrap().starts_with("goroutine 1 [running]:"));
/// ```
pub fn write_dump(w: &mut impl std::io::Write) -> std::io::Result<bool> {
    match dump() {
        Some(d) => w.write_all(d.as_bytes()).map(|()| true),
        None => Ok(false),
    }
}

/// The calling goroutine's stack trace, from the caller of [`dump`] down
/// to the goroutine's entry, as `function\n\tat file:line` pairs (Go's
/// shape). Frames are whatever `std::backtrace` can symbolize.
fn caller_trace() -> String {
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    // Display gives "  N: symbol" lines, each followed by "at file:line"
    // lines for its inlined locations.
    let mut frames: Vec<(String, Vec<String>)> = Vec::new();
    for line in bt.lines() {
        let t = line.trim_start();
        if let Some(loc) = t.strip_prefix("at ") {
            if let Some(f) = frames.last_mut() {
                f.1.push(loc.to_string());
            }
        } else if let Some((_, sym)) = t.split_once(": ") {
            frames.push((sym.to_string(), Vec::new()));
        }
    }
    // Below the public `dump` are the dump's own frames; above the task's
    // entry, the runtime's.
    let start = frames
        .iter()
        .position(|(sym, _)| sym == "burrow_sched::kernel::dump::dump")
        .map_or(0, |i| i + 1);
    let mut out = String::new();
    for (sym, locs) in &frames[start.min(frames.len())..] {
        if sym.starts_with("burrow_sched::kernel::")
            || sym.starts_with("std::panicking::")
            || sym.starts_with("<core::panic::")
        {
            break;
        }
        if sym.starts_with("core::ops::function::") || sym.starts_with("core::option::") {
            continue;
        }
        let _ = writeln!(out, "{sym}");
        for loc in locs {
            let _ = writeln!(out, "\tat {loc}");
        }
    }
    out
}

/// A G's state as the dump prints it, or None for a G with no goroutine.
/// Go's `, N minutes` after a wait reason, for waits of a minute or more
/// (Go's exact words, plural even for one); empty below.
pub(crate) fn wait_minutes(waited_nanos: u64) -> String {
    let minutes = waited_nanos / 60_000_000_000;
    if minutes == 0 {
        String::new()
    } else {
        format!(", {minutes} minutes")
    }
}

fn state(g: &G) -> Option<&'static str> {
    Some(match g.status.load(Ordering::Relaxed) {
        status::RUNNABLE => "runnable",
        status::RUNNING => "running",
        status::SYSCALL => "syscall",
        status::WAITING => WaitReason::from_u32(g.wait_reason.load(Ordering::Relaxed)).as_str(),
        _ => return None,
    })
}

impl Shared {
    /// See [`Stats`].
    pub(crate) fn stats(&self) -> Stats {
        // Goroutines by resident stack, in power-of-two buckets from 4 KiB.
        let mut stack_histogram: Vec<(usize, usize)> = Vec::new();
        let mut stack_resident_bytes = 0u64;
        self.gfree.all.for_each(|g| {
            if state(g).is_none() || g.goid.load(Ordering::Relaxed) == 0 {
                return;
            }
            let (lo, hi) = g.stack_range();
            let r = resident_bytes(lo, hi);
            stack_resident_bytes += r as u64;
            let mut limit = 4096usize;
            while limit < r && limit < hi - lo {
                limit *= 2;
            }
            match stack_histogram.iter_mut().find(|(l, _)| *l == limit) {
                Some((_, c)) => *c += 1,
                None => stack_histogram.push((limit, 1)),
            }
        });
        stack_histogram.sort_unstable();
        let (idle_procs, idle_threads) = {
            let idle = self.sched.lock().expect("sched lock poisoned");
            (idle.pidle.len(), idle.midle.len())
        };
        Stats {
            goroutines: self.num_goroutine(),
            maxprocs: self.maxprocs,
            idle_procs,
            // The Ms plus sysmon.
            threads: self.threads() + 1,
            idle_threads,
            spinning_threads: self.spin.nmspinning(),
            in_blocking_call: self.nsyscall.load(Ordering::Relaxed),
            global_queue: self.global.len(),
            local_queues: self
                .ps
                .iter()
                .filter(|p| !p.spare)
                .map(|p| p.runq.len())
                .collect(),
            handoffs: self.sysmon.handoffs.load(Ordering::Relaxed),
            starved: self.sysmon.starved.load(Ordering::Relaxed),
            switches: self
                .ps
                .iter()
                .map(|p| p.switches.load(Ordering::Relaxed))
                .sum(),
            steals: self
                .ps
                .iter()
                .map(|p| p.steals.load(Ordering::Relaxed))
                .sum(),
            preemptions: self
                .ps
                .iter()
                .map(|p| p.preemptions.load(Ordering::Relaxed))
                .sum(),
            stack_resident_bytes,
            stack_histogram,
            compacted_goroutines: COUNTERS.goroutines.load(Ordering::Relaxed),
            compacted_bytes: COUNTERS.bytes.load(Ordering::Relaxed),
            stack_compactions: COUNTERS.compactions.load(Ordering::Relaxed),
            stack_restores: COUNTERS.restores.load(Ordering::Relaxed),
        }
    }

    /// The goroutine dump (see the module docs); `current` is the calling
    /// goroutine's id, whose stack trace is included.
    pub(crate) fn dump(&self, current: Option<u64>) -> String {
        let mut out = String::new();
        let mut listed = 0usize;
        let mut lines: Vec<(u64, String)> = Vec::new();
        let now = now_nanos();
        self.gfree.all.for_each(|g| {
            let goid = g.goid.load(Ordering::Relaxed);
            let Some(state) = state(g) else { return };
            if goid == 0 {
                return;
            }
            let site = g.spawn_site();
            let waited = g
                .note_wait(now)
                .map_or(0, |since| now.saturating_sub(since));
            let compacted = if g.compact.is_compacted() {
                ", stack compacted"
            } else {
                ""
            };
            let mut s = format!(
                "goroutine {goid} [{state}{}{compacted}]:\n",
                wait_minutes(waited)
            );
            if Some(goid) == current {
                s.push_str(&caller_trace());
            }
            let _ = writeln!(
                s,
                "created at {}:{}:{}",
                site.file(),
                site.line(),
                site.column()
            );
            lines.push((goid, s));
            listed += 1;
        });
        lines.sort_unstable_by_key(|(goid, _)| *goid);
        for (_, s) in lines {
            out.push_str(&s);
            out.push('\n');
        }
        let unstarted = self.num_goroutine().saturating_sub(listed);
        if unstarted > 0 {
            let _ = writeln!(out, "({unstarted} more goroutines queued, not yet started)");
        }
        out
    }

    /// One `GODEBUG=schedtrace` line, Go's format; with `detail`
    /// (`scheddetail=1`), a line per P and per goroutine after it.
    pub(crate) fn schedtrace(&self, ms: u64, detail: bool) -> String {
        let s = self.stats();
        let queues: Vec<String> = s.local_queues.iter().map(usize::to_string).collect();
        let mut out = format!(
            "SCHED {ms}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} \
             idlethreads={} runqueue={} [{}]\n",
            s.maxprocs,
            s.idle_procs,
            s.threads,
            s.spinning_threads,
            s.idle_threads,
            s.global_queue,
            queues.join(" "),
        );
        if detail {
            for p in self.ps.iter().filter(|p| !p.spare) {
                let _ = writeln!(
                    out,
                    "  P{}: schedtick={} syscall={} runqsize={} preempt={}",
                    p.id,
                    p.schedtick.load(Ordering::Relaxed),
                    !p.syscall.load(Ordering::Relaxed).is_null(),
                    p.runq.len(),
                    p.preempt.load(Ordering::Relaxed),
                );
            }
            for m in self.allm.lock().expect("allm lock poisoned").iter() {
                out.push_str(&m.line());
                out.push('\n');
            }
            self.gfree.all.for_each(|g| {
                let goid = g.goid.load(Ordering::Relaxed);
                if let (Some(state), true) = (state(g), goid != 0) {
                    let _ = writeln!(out, "  G{goid}: status=({state})");
                }
            });
        }
        out
    }
}

/// Set by the `SIGQUIT` handler; read by sysmon.
static QUIT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigquit(_: libc::c_int) {
    // Relaxed: sysmon polls it; nothing else is published with it.
    QUIT.store(true, Ordering::Relaxed);
}

/// Installs the `SIGQUIT` handler once per process, if the signal has its
/// default disposition (see *SIGQUIT*).
pub(crate) fn install_sigquit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sigaction with a null new action only reads the current
        // one into `old`, a zeroed (valid) sigaction.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::sigaction(libc::SIGQUIT, std::ptr::null(), &mut old) } != 0
            || old.sa_sigaction != libc::SIG_DFL
        {
            return;
        }
        // SAFETY: a zeroed sigaction is valid; we fill in a handler that
        // only stores to an atomic (async-signal-safe) and an empty mask.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_sigquit as *const () as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        // SAFETY: `act.sa_mask` is ours to initialise.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        // SAFETY: installs a valid action for SIGQUIT.
        unsafe { libc::sigaction(libc::SIGQUIT, &act, std::ptr::null_mut()) };
    });
}

/// Called by sysmon every round: on a `SIGQUIT`, prints the dump and exits
/// with status 2, as Go does.
pub(crate) fn check_sigquit(rt: &Shared) {
    // Relaxed: see `on_sigquit`.
    if QUIT.swap(false, Ordering::Relaxed) {
        let mut msg = String::from("SIGQUIT: quit\n\n");
        msg.push_str(&rt.dump(None));
        {
            use std::io::Write;
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(msg.as_bytes());
            let _ = e.flush();
        }
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::wait_minutes;

    #[test]
    fn waits_under_a_minute_say_nothing_and_longer_ones_say_minutes_as_go_does() {
        assert_eq!(wait_minutes(0), "");
        assert_eq!(wait_minutes(59_999_999_999), "");
        assert_eq!(wait_minutes(60_000_000_000), ", 1 minutes");
        assert_eq!(wait_minutes(3 * 60_000_000_000 + 5), ", 3 minutes");
    }
}
