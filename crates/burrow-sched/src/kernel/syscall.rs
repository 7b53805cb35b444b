//! Blocking calls: [`blocking`] runs a call that may block its thread (a
//! file read, a DNS lookup, `std::thread::sleep`, a lock held by a plain
//! thread) without stopping the other goroutines of its P (Go's
//! `entersyscall`/`exitsyscall` and sysmon's `retake`/`handoffp`).
//!
//! # Blocking calls
//!
//! The seeds tell it (`004_*`): *the M stays with the blocked G, the P
//! moves on*.
//!
//! 1. **Enter** (Go's `entersyscall`, the fast path): the M takes its P's
//!    core out of its context and parks it in the P's `syscall` slot with
//!    the time; the G is marked `SYSCALL`. No thread is woken: most
//!    blocking calls are short, and then nothing else happens.
//! 2. **Sysmon** (`sysmon.rs`) looks at the slots every tick. A call that
//!    has lasted a tick (20 µs or more), when the P has work or nobody
//!    else is looking for work, or any call that has lasted 10 ms, loses
//!    its P: sysmon swaps the core out of the slot and hands it to another
//!    M (Go's `handoffp`), which runs the P's other goroutines.
//! 3. **Exit** (Go's `exitsyscall`): the M swaps the slot back. If the core
//!    is still there (the common case), it carries on with its P. If
//!    sysmon took it, the M tries an idle P; if there is none, the G goes
//!    to the global queue and the M goes to sleep.
//!
//! The swap on the slot decides who owns the core: whoever swaps a
//! non-null pointer out of it. That is the whole protocol between the M
//! and sysmon.
//!
//! While the call runs, the goroutine's M holds no P, so the call sees a
//! plain thread: a channel operation or a lock inside it parks the
//! thread, not the goroutine, and `go` queues on the global queue. That is
//! what a blocking call is: the thread is the goroutine's, for its
//! duration.
//!
//! # Waking sysmon early
//!
//! sysmon's sleep grows to 10 ms while its rounds find nothing to do, so a
//! blocking call that starts during a long sleep would keep its P's queue
//! waiting until that sleep ends. When the P has goroutines queued at
//! entry, `enter` wakes a dozing sysmon, which goes back to its 20 µs
//! rounds and retakes the P after the grace. The check costs one load
//! of the run queue and one of sysmon's `dozing` flag; nothing is woken
//! when the queue is empty or sysmon is already looking every tick. (Go's
//! sysmon has no such wake-up; its rounds only shorten after it has
//! retaken a P.)
//!
//! # The thread cap
//!
//! Every goroutine in a blocking call holds a thread. As Go's
//! `SetMaxThreads` (default 10,000), a runtime refuses a blocking call
//! that would need more threads than [`Builder::max_threads`] allows: the
//! call fails with [`ThreadLimit`], which names the knob, and the runtime
//! keeps serving the others.
//!
//! [`Builder::max_threads`]: crate::Builder::max_threads

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::Ordering;

use crate::clock::now_nanos;
use crate::kernel::g::{GPtr, Switch, status};
use crate::kernel::m::{current_g, switch_g_to_scheduler, with_m};
use crate::kernel::p::PCore;
use crate::kernel::sched::Shared;

/// Environment variable that sets the default thread cap (Go's
/// `debug.SetMaxThreads`).
pub const MAX_THREADS_ENV: &str = "BURROW_MAX_THREADS";

/// The default thread cap, Go's.
pub const DEFAULT_MAX_THREADS: usize = 10_000;

/// A blocking call refused because the runtime's threads are all in use:
/// the cap of [`Builder::max_threads`](crate::Builder::max_threads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "burrow: thread limit reached: {limit} threads (goroutines in blocking calls plus one per P); \
     raise it with Builder::max_threads or BURROW_MAX_THREADS"
)]
pub struct ThreadLimit {
    /// The cap in force.
    pub limit: usize,
}

impl From<ThreadLimit> for std::io::Error {
    fn from(e: ThreadLimit) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// Runs `f`, a call that may block its thread, so that the other
/// goroutines of this goroutine's P keep running (see *Blocking calls*).
/// Outside a goroutine it just runs `f`.
///
/// ```
/// let rt = burrow_sched::Runtime::builder().maxprocs(1).build().unwrap();
/// let n = rt.run(|| {
///     burrow_sched::blocking(|| std::fs::read("/proc/self/stat").map(|b| b.len()))
///         .unwrap()
///         .unwrap()
/// });
/// assert!(n > 0);
/// ```
///
/// # Errors
///
/// [`ThreadLimit`] when the runtime already has as many threads as its
/// cap allows; `f` is then not run.
pub fn blocking<F, T>(f: F) -> Result<T, ThreadLimit>
where
    F: FnOnce() -> T,
{
    let Some((rt, g)) = current_g() else {
        return Ok(f());
    };
    let Some(pid) = enter(rt, g)? else {
        // Already without a P (a blocking call inside a blocking call):
        // the thread is ours.
        return Ok(f());
    };
    let r = catch_unwind(AssertUnwindSafe(f));
    exit(rt, g, pid);
    match r {
        Ok(v) => Ok(v),
        Err(p) => resume_unwind(p),
    }
}

/// Go's `entersyscall`: parks this M's core in its P's slot. Returns the
/// P's id, or None if the M holds no P.
fn enter(rt: &'static Shared, g: GPtr) -> Result<Option<usize>, ThreadLimit> {
    // One thread per P plus one per goroutine in a blocking call.
    let n = rt.nsyscall.fetch_add(1, Ordering::Relaxed) + 1;
    if n + rt.maxprocs > rt.max_threads {
        rt.nsyscall.fetch_sub(1, Ordering::Relaxed);
        return Err(ThreadLimit {
            limit: rt.max_threads,
        });
    }
    let core = with_m(|m| {
        let m = m.expect("a goroutine runs on an M");
        let core = m.p.borrow_mut().take();
        if core.is_some() {
            // From here until `exit`, runtime calls on this thread see a
            // plain thread (see *Blocking calls*).
            m.curg.set(None);
            m.info.set_p(None);
            m.info.set_blocking(g.g().goid.load(Ordering::Relaxed));
        }
        core
    });
    let Some(core) = core else {
        rt.nsyscall.fetch_sub(1, Ordering::Relaxed);
        return Ok(None);
    };
    let pid = core.id;
    let p = &rt.ps[pid];
    let work_waits = !core.runq.is_empty();
    g.g().status.store(status::SYSCALL, Ordering::Relaxed);
    p.syscall_when.store(now_nanos(), Ordering::Relaxed);
    // Release: publishes the core (its run queue owner state, free list)
    // to whoever swaps it out: us in `exit`, or sysmon (Acquire there).
    p.syscall.store(Box::into_raw(core), Ordering::Release);
    if work_waits {
        // See *Waking sysmon early*.
        rt.sysmon.kick();
    }
    Ok(Some(pid))
}

/// Go's `exitsyscall`: takes the core back, or another P, or gives the G
/// to the global queue and lets the M sleep.
fn exit(rt: &'static Shared, g: GPtr, pid: usize) {
    rt.nsyscall.fetch_sub(1, Ordering::Relaxed);
    let p = &rt.ps[pid];
    // Acquire: pairs with the Release store in `enter` (ours) or in a
    // handoff that put it back; whoever swaps it out owns it.
    let mine = p.syscall.swap(std::ptr::null_mut(), Ordering::Acquire);
    let core = if mine.is_null() {
        // Sysmon handed our P to another M: any idle P will do (Go's
        // `exitsyscallfast_pidle`).
        rt.pidleget()
    } else {
        // SAFETY: a non-null slot holds a core leaked by `enter`, and our
        // swap made it ours alone.
        Some(unsafe { Box::from_raw(mine) })
    };
    g.g().status.store(status::RUNNING, Ordering::Relaxed);
    match core {
        Some(core) => resume_with(core, g),
        None => {
            // No P: the M gives the G to the global queue and sleeps
            // (Go's `exitsyscall0`); the G resumes wherever a P picks it
            // up. `execute` handles `Switch::Reacquire`.
            with_m(|m| {
                let m = m.expect("on an M");
                m.info.set_blocking(0);
                m.curg.set(Some(g));
            });
            switch_g_to_scheduler(g, Switch::Reacquire);
        }
    }
}

/// Back on a P after a blocking call: the M's context holds `core` again
/// and the goroutine is current.
fn resume_with(core: Box<PCore>, g: GPtr) {
    with_m(|m| {
        let m = m.expect("on an M");
        m.info.set_blocking(0);
        m.info.set_p(Some(core.id));
        *m.p.borrow_mut() = Some(core);
        m.curg.set(Some(g));
    });
}
