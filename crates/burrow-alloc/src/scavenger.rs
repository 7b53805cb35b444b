//! The scavenger: gives idle pages back to the OS after a decay, so RSS
//! falls after a burst.
//!
//! Go's background scavenger paces itself to keep RSS near a goal computed
//! from the GC's heap goal. We have no GC cycle to hang a goal on, so we use
//! the rule the issue asks for and mimalloc uses: a free span whose pages
//! have been idle longer than the *decay* (default 1 s,
//! `BURROW_ALLOC_DECAY_MS` or [`crate::set_scavenger_decay`]) is released
//! with `MADV_DONTNEED`. Released pages still belong to the heap and are
//! reused first-come like any other; touching them again costs a page fault.
//!
//! It runs in two ways:
//!
//! - **inline**, at the heap's slow paths (span allocation and free): at most
//!   once per half decay, checked with one clock read (`tick`);
//! - **background**, a thread that wakes every half decay, so memory
//!   returns while the program is idle and calls no allocator at all (a
//!   server after a burst, waiting for its next request).
//!
//! # Background by default
//!
//! Inline scavenging alone leaves a burst's pages resident for as long as
//! the program stays idle: redis kept 269 MB after `FLUSHALL` until the next
//! commands came (jemalloc: 21 MB). So the background thread is on by
//! default, for the C library as for Rust's [`crate::BurrowAlloc`], and
//! `BURROW_ALLOC_SCAVENGER=0` turns it off for the whole process (then
//! only inline scavenging runs). An allocator that passes `bg = false`
//! ([`crate::BurrowAlloc::without_background_scavenger`]) never starts it.
//!
//! *When it starts.* Lazily, at an allocation slow path (`maybe_start`),
//! once the heap holds [`START_BYTES`] resident: a small program (a shell's
//! children, `ls`) never gets a thread, and a program whose heap grew
//! large has one before it frees the bulk. Only allocation paths start it,
//! never `free`: `pthread_create` allocates (the new thread's DTV) and
//! takes glibc's stack-cache lock, and glibc calls `free` while holding
//! that lock (freeing cached stacks' DTVs), so a start from `free` could
//! deadlock. At an allocation slow path the thread's cache is consistent
//! and glibc holds no non-recursive lock that `pthread_create` needs.
//!
//! The thread is named `burrow-scavenge` (see `top -H`).
//!
//! *fork.* The thread does not survive `fork`; the child handler marks it
//! stopped (`forget_background`) and the child starts its own at its first
//! allocation slow path, by the same rule. A child that execs at once never
//! starts one.
//!
//! What the background thread cannot return: spans still held by an
//! mcache or parked in an mcentral (a few per class), and spans with one
//! live object; only free spans in the page heap are released.
//!
//! Releasing happens with the heap lock dropped: the scavenger takes spans
//! out of the free lists (state `SPAN_BUSY`), unlocks, calls `madvise`,
//! relocks and puts them back, so allocators never wait on the syscall.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use crate::heap::HEAP;
use crate::sizeclass::PAGE_SHIFT;
use crate::span::{MSpan, SPAN_BUSY, SPAN_FREE};
use crate::{stats, sys};

/// Decay in nanoseconds; 0 until first read from the environment.
static DECAY_NS: AtomicU64 = AtomicU64::new(0);
/// When the inline scavenger last ran.
static LAST_RUN: AtomicU64 = AtomicU64::new(0);

/// Background thread states.
const BG_OFF: u8 = 0;
const BG_STARTING: u8 = 1;
const BG_RUNNING: u8 = 2;
static BG_STATE: AtomicU8 = AtomicU8::new(BG_OFF);

/// Whether the environment allows the background thread: unknown until
/// first read, then allowed (`BURROW_ALLOC_SCAVENGER` unset or not `0`) or
/// not.
const ENV_UNKNOWN: u8 = 0;
const ENV_ALLOWED: u8 = 1;
const ENV_DENIED: u8 = 2;
static ENV: AtomicU8 = AtomicU8::new(ENV_UNKNOWN);

/// Resident heap bytes (in use plus idle, not released) at which an
/// allocation slow path starts the background thread (see *Background by
/// default*). Below this a thread (its stack, two wake-ups a second) costs
/// more than it could return.
pub(crate) const START_BYTES: u64 = 4 << 20;

const DEFAULT_DECAY_NS: u64 = 1_000_000_000;
/// Spans released per lock hold.
const BATCH: usize = 64;

/// The decay in nanoseconds.
pub(crate) fn decay_ns() -> u64 {
    let d = DECAY_NS.load(Ordering::Relaxed);
    if d != 0 {
        return d;
    }
    let d = sys::env_u64(c"BURROW_ALLOC_DECAY_MS")
        .map_or(DEFAULT_DECAY_NS, |ms| ms.saturating_mul(1_000_000).max(1));
    DECAY_NS.store(d, Ordering::Relaxed);
    d
}

/// Sets the decay.
pub(crate) fn set_decay_ns(ns: u64) {
    DECAY_NS.store(ns.max(1), Ordering::Relaxed);
}

/// Inline scavenging: runs a pass if half a decay went by since the last.
pub(crate) fn tick() {
    let now = sys::now_ns();
    let last = LAST_RUN.load(Ordering::Relaxed);
    if now.saturating_sub(last) < decay_ns() / 2 {
        return;
    }
    if LAST_RUN
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        scavenge(false);
    }
}

/// Releases free spans idle longer than the decay (all free spans when
/// `force`). Returns the bytes released.
pub(crate) fn scavenge(force: bool) -> u64 {
    let decay = decay_ns();
    let mut total = 0u64;
    loop {
        let now = sys::now_ns();
        let mut batch: [*mut MSpan; BATCH] = [core::ptr::null_mut(); BATCH];
        let mut n = 0;
        {
            let mut h = HEAP.lock();
            let mut picked: [*mut MSpan; BATCH] = [core::ptr::null_mut(); BATCH];
            for list in h.lists() {
                let mut s = list.head;
                while !s.is_null() && n < BATCH {
                    // SAFETY: spans on heap lists are live; we hold the lock.
                    unsafe {
                        if (*s).released < (*s).npages
                            && (force || now.saturating_sub((*s).freed_at) >= decay)
                        {
                            picked[n] = s;
                            n += 1;
                        }
                        s = (*s).next;
                    }
                }
            }
            for &s in &picked[..n] {
                // SAFETY: each picked span is on a heap list; we hold the lock.
                unsafe {
                    h.take(s);
                    (*s).state = SPAN_BUSY;
                }
            }
            batch[..n].copy_from_slice(&picked[..n]);
        }
        if n == 0 {
            return total;
        }
        for &s in &batch[..n] {
            // SAFETY: BUSY spans are ours alone: nobody allocates or merges
            // them, and their memory holds no live object.
            unsafe { sys::release((*s).base, (*s).bytes()) };
        }
        {
            let mut h = HEAP.lock();
            for &s in &batch[..n] {
                // SAFETY: we took these spans out above; we hold the lock.
                unsafe {
                    let newly = ((*s).npages - (*s).released) << PAGE_SHIFT;
                    total += newly as u64;
                    stats::locked_add(&stats::HEAP_RELEASED, newly as u64);
                    (*s).released = (*s).npages;
                    (*s).needzero = false;
                    (*s).state = SPAN_FREE;
                    h.insert_free(s);
                }
            }
        }
        stats::SCAVENGED_BYTES.fetch_add(total, Ordering::Relaxed);
        if n < BATCH {
            return total;
        }
    }
}

/// Whether `BURROW_ALLOC_SCAVENGER` allows the background thread (read
/// once, without allocating).
fn env_allows() -> bool {
    match ENV.load(Ordering::Relaxed) {
        ENV_ALLOWED => true,
        ENV_DENIED => false,
        _ => {
            let allowed = sys::env_u64(c"BURROW_ALLOC_SCAVENGER") != Some(0);
            ENV.store(
                if allowed { ENV_ALLOWED } else { ENV_DENIED },
                Ordering::Relaxed,
            );
            allowed
        }
    }
}

/// Whether the program allows the thread (`set_background_scavenger`).
static BG_ALLOWED: AtomicBool = AtomicBool::new(true);

/// Allows or forbids the background thread; a running one exits at its
/// next wake-up when forbidden.
pub(crate) fn set_background_allowed(on: bool) {
    BG_ALLOWED.store(on, Ordering::Relaxed);
}

/// At an allocation slow path of a caller that allows background
/// scavenging (`bg`): starts the thread if it is not running, the
/// environment allows it and the heap holds [`START_BYTES`] resident. The
/// same rules as [`start_background`] for where it may be called.
#[inline]
pub(crate) fn maybe_start(bg: bool) {
    if !bg || background_running() || !BG_ALLOWED.load(Ordering::Relaxed) {
        return;
    }
    let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let resident = r(&stats::HEAP_SYS).saturating_sub(r(&stats::HEAP_RELEASED));
    if resident >= START_BYTES && env_allows() {
        start_background();
    }
}

/// Starts the background scavenger thread if it is not running. Call only
/// where the allocator holds no lock and no thread cache is mid-update: the
/// thread start allocates.
pub(crate) fn start_background() {
    if BG_STATE
        .compare_exchange(BG_OFF, BG_STARTING, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // SAFETY: plain pthread calls on valid locals. All signals are blocked
    // while creating the thread so it inherits a full mask and never runs a
    // program's signal handler.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut tid: libc::pthread_t = core::mem::zeroed();
        let rc = libc::pthread_create(
            &mut tid,
            core::ptr::null(),
            background,
            core::ptr::null_mut(),
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        if rc == 0 {
            libc::pthread_detach(tid);
            BG_STATE.store(BG_RUNNING, Ordering::Relaxed);
        } else {
            BG_STATE.store(BG_OFF, Ordering::Relaxed);
        }
    }
}

/// Whether the background scavenger thread runs.
pub(crate) fn background_running() -> bool {
    BG_STATE.load(Ordering::Relaxed) == BG_RUNNING
}

/// After `fork`, the child has no scavenger thread; its next allocation
/// slow path starts one (see *Background by default*).
pub(crate) fn forget_background() {
    BG_STATE.store(BG_OFF, Ordering::Relaxed);
}

/// The background thread's name (`/proc/PID/task/TID/comm`, `top -H`).
const THREAD_NAME: &core::ffi::CStr = c"burrow-scavenge";

extern "C" fn background(_: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: PR_SET_NAME reads a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, THREAD_NAME.as_ptr()) };
    loop {
        let half = decay_ns() / 2;
        let ts = libc::timespec {
            tv_sec: (half / 1_000_000_000) as libc::time_t,
            tv_nsec: (half % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: a valid timespec; the remainder is not needed.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        if !BG_ALLOWED.load(Ordering::Relaxed) {
            // Forbidden meanwhile: a later allocation may start a new
            // thread once allowed again.
            BG_STATE.store(BG_OFF, Ordering::Relaxed);
            return core::ptr::null_mut();
        }
        LAST_RUN.store(sys::now_ns(), Ordering::Relaxed);
        scavenge(false);
    }
}
