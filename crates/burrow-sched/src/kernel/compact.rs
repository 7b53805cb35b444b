//! Stack compaction: the memory of a long-parked goroutine, given back.
//!
//! A parked goroutine keeps the pages its stack touched, at least one
//! 4 KiB page, although the frames it needs again are typically a few
//! hundred bytes at the top. Go shrinks such stacks by copying them to a
//! smaller allocation, which it can because it knows every pointer into a
//! stack; we cannot move a stack (references into it would dangle), so we
//! move its *contents* out and back: when a goroutine has been parked
//! longer than a decay (1 s by default, [`crate::Builder::stack_compaction`]),
//! sysmon copies the used part of its stack (from the stack pointer it
//! saved when it switched out, less a small margin for the switch's own
//! pushes, up to the top) into a buffer from burrow-alloc and releases the
//! stack's pages with `MADV_DONTNEED`, keeping the address range and the
//! guard. Before anything touches the stack again, the bytes are copied
//! back to the same addresses, so every reference into the stack is valid
//! again before it can be used.
//!
//! # Who touches a parked goroutine's stack
//!
//! 1. The M that resumes it (the switch itself writes the stack).
//! 2. A channel operation that claims its waiter: a blocked plain
//!    `send`/`recv` keeps its waiter record and its value cell in its own
//!    frame (Go's `sudog.elem` points into the stack too), and the claimer
//!    writes the cell and the record before it readies the goroutine.
//!
//! Nothing else does: timers, the netpoller, sync's waiters and
//! `JoinHandle` keep their wake handles on the heap, and a select's or a
//! deadline's waiter record is an `Arc`. So there are two *light* parties,
//! and both go through this module first ([`Compaction::before_run`],
//! [`Compaction::before_touch`]).
//!
//! # The protocol
//!
//! Each G has a [`Compaction`] cell: a state word (`RESIDENT`, `CLAIMED`,
//! `COMPACTING`, `COMPACTED`, `RESTORING`), an *epoch* bumped by every
//! resume and every park (so it names one park), and a *touch* flag a
//! claimer raises before it touches the stack and the next resume lowers.
//!
//! The compactor (sysmon) claims `RESIDENT → CLAIMED` (a CAS) and then
//! confirms that the goroutine is still in the same park and untouched
//! (epoch unchanged, touch clear). A light party announces itself (a
//! store: the epoch bump, or the touch flag) and then loads the state word.
//! That is the Dekker pattern: each side stores, then loads what the other
//! stored, and at least one must see the other. To keep the light side's
//! cost at two plain stores and a load (it runs at every goroutine switch),
//! the fence it needs is moved to the compactor: the light side has only a
//! compiler fence, and the compactor issues `membarrier(2)`
//! (`MEMBARRIER_CMD_PRIVATE_EXPEDITED`) between its claims and its
//! confirmations, which runs a full memory barrier on every CPU that is
//! running one of our threads at that moment (a thread not running passed
//! through one at its context switch). One barrier serves a whole batch
//! of claims. Without `membarrier` (other kernels, seccomp) compaction is
//! off. The loom model (`loom_compact.rs`) checks the protocol with the
//! barrier as what it amounts to, a `SeqCst` fence on each side.
//!
//! Then either the compactor sees the announcement (and releases its
//! claim), or the light party sees `CLAIMED` or later and takes the slow
//! path: `CLAIMED` it cancels with a CAS back to `RESIDENT` (the
//! compactor's `CLAIMED → COMPACTING` then fails and it touches nothing);
//! `COMPACTING` it waits out (a copy and one `madvise`, microseconds);
//! `COMPACTED` it restores itself (`COMPACTED → RESTORING`, copy back,
//! `RESIDENT`). So a woken goroutine never waits for sysmon's next round,
//! and whoever wakes it pays the copy and the page fault.
//!
//! # Where the saved stack pointer comes from
//!
//! The goroutine reads its stack pointer just before it switches out
//! (`m::switch_g_to_scheduler`) and stores it here. Below that point only
//! the switch runs (corosensei's `suspend` and its three pushes), well
//! within [`sp_margin`], which a probe measures once per process by running
//! the same switch on a stack filled with a pattern (the depth differs
//! between optimised and unoptimised builds). If the margin were too
//! small, the restored goroutine would return through zeroed memory and
//! crash at once, so the compaction tests (`tests/compact.rs`, the
//! facade's `compact_stress.rs`) would catch it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as StdOrdering};

use crate::kernel::g::{AllGs, GPtr};
use crate::loom::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// State: the stack is in place. The only state a light party passes
/// through without a read-modify-write.
const RESIDENT: u32 = 0;
/// State: the compactor has claimed the goroutine and is about to confirm
/// that it is still parked.
const CLAIMED: u32 = 1;
/// State: the compactor is copying the stack out and releasing it.
const COMPACTING: u32 = 2;
/// State: the used part is in the buffer (`saved`); the pages are gone.
const COMPACTED: u32 = 3;
/// State: a light party is copying the bytes back.
const RESTORING: u32 = 4;

/// Bytes below the saved stack pointer that are copied too: the frames of
/// the switch itself (corosensei's `suspend`, and the return address and
/// two registers its switch pushes), which lie below the point where the
/// pointer was read. Measured once per process ([`probe_switch_depth`]):
/// a few dozen bytes in an optimised build, several hundred without
/// optimisation.
pub(crate) fn sp_margin() -> usize {
    static MARGIN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MARGIN.get_or_init(|| probe_switch_depth().unwrap_or(usize::MAX))
}

/// Headroom added to the measured depth of the switch.
#[cfg(not(loom))]
const MARGIN_SLACK: usize = 64;

/// The word the probe fills its stack with.
#[cfg(not(loom))]
const PROBE_FILL: u64 = 0xa5c3_5a3c_96e1_1e69;

/// Measures how far below the noted stack pointer a goroutine switch
/// writes: runs a coroutine of the goroutines' own type through the same
/// `m::suspend_noting_sp` on a stack prefilled with a pattern, and finds
/// the deepest word the switch changed. None if no stack can be had.
#[cfg(not(loom))]
fn probe_switch_depth() -> Option<usize> {
    use crate::kernel::g::{GCoroutine, GStack, Switch};
    let stack = Box::new(burrow_stack::Pool::global().alloc().ok()?);
    let (bottom, top) = (stack.bottom() as usize, stack.top() as usize);
    let low = top.saturating_sub(64 * 1024).max(bottom);
    for w in (low..top).step_by(8) {
        // SAFETY: `[low, top)` is inside a stack we own and nothing runs on
        // yet; 8-aligned (stack tops are page-aligned).
        unsafe { (w as *mut u64).write_volatile(PROBE_FILL) };
    }
    let cell = std::sync::Arc::new(Compaction::new());
    let c = cell.clone();
    let mut co: GCoroutine = corosensei::Coroutine::with_stack(GStack(stack), move |y, ()| {
        crate::kernel::m::suspend_noting_sp(&c, y, Switch::Yield);
    });
    let _ = co.resume(());
    let sp = cell.sp.load(Ordering::Relaxed);
    // SAFETY: the coroutine is suspended: nothing runs on its stack, which
    // it still owns, and we only read inside it.
    let deepest = (low..top)
        .step_by(8)
        .find(|&w| unsafe { (w as *const u64).read_volatile() } != PROBE_FILL)?;
    let _ = co.resume(()); // it returns; its stack goes back to the pool
    Some(sp.saturating_sub(deepest).next_multiple_of(16) + MARGIN_SLACK)
}

#[cfg(loom)]
fn probe_switch_depth() -> Option<usize> {
    Some(256)
}

/// A G's compaction cell (see the module docs): 32 bytes.
pub(crate) struct Compaction {
    state: AtomicU32,
    /// Raised by a claimer before it touches the parked stack; lowered by
    /// the next resume ([`Compaction::before_run`]).
    touch: AtomicU32,
    /// Moved to the next odd value at every resume (running) and to the
    /// next even one at every park (parked; a yield or an exit switches
    /// out without a park, so resumes may follow each other); written only
    /// by the G's holder.
    epoch: AtomicU32,
    /// The stack pointer the goroutine saved at its last switch out.
    sp: AtomicUsize,
    /// The buffer holding the stack's used part while `COMPACTED`.
    saved: AtomicPtr<u8>,
}

impl Compaction {
    /// A cell for a new G: resident, epoch 0.
    pub(crate) fn new() -> Compaction {
        Compaction {
            state: AtomicU32::new(RESIDENT),
            touch: AtomicU32::new(0),
            epoch: AtomicU32::new(0),
            sp: AtomicUsize::new(0),
            saved: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The goroutine, switching out: where its stack ends. Relaxed: the
    /// park's epoch bump (Release, [`Compaction::parked`]) publishes it.
    pub(crate) fn note_sp(&self, sp: usize) {
        self.sp.store(sp, Ordering::Relaxed);
    }

    /// The M, in a park's commit, right after the goroutine switched out:
    /// a new even epoch names this park. New even if no resume moved the
    /// epoch since the last park (`before_run` skips the protocol while no
    /// runtime compacts), so `G::note_wait` still tells one wait from the
    /// next.
    pub(crate) fn parked(&self) {
        // Release: publishes the goroutine's stack contents and `sp` to a
        // compactor whose Acquire load reads this epoch ([`Compaction::
        // try_claim`], [`Compaction::begin`]). Only the holder writes the
        // epoch, so a load and a store suffice.
        let e = self.epoch.load(Ordering::Relaxed);
        self.epoch.store((e | 1).wrapping_add(1), Ordering::Release);
    }

    /// The current epoch (a key for one park, `G::note_wait`).
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Whether the stack is compacted now (for the dump).
    pub(crate) fn is_compacted(&self) -> bool {
        self.state.load(Ordering::Relaxed) == COMPACTED
    }

    /// The M, before it resumes the goroutine (a light party): announces
    /// the resume (a new, odd epoch), lowers the touch flag (every claimer
    /// finished before it readied the goroutine), and makes the stack
    /// resident if it is not, calling `restore(sp, saved)`.
    #[inline]
    pub(crate) fn before_run(&self, restore: impl FnOnce(usize, *mut u8)) {
        if !in_use() {
            return;
        }
        // The Dekker pair with the compactor's claim: its ordering comes
        // from `light_barrier` and the compactor's `membarrier`. The touch
        // store is also Release, pairing with the compactor's Acquire load
        // in `begin`: a compactor that reads this 0 (rather than an
        // earlier claimer's 1) must also see the new epoch, and whatever
        // that claimer wrote before the goroutine was readied.
        let e = self.epoch.load(Ordering::Relaxed);
        self.epoch.store(e.wrapping_add(1) | 1, Ordering::Relaxed);
        self.touch.store(0, Ordering::Release);
        light_barrier();
        if self.state.load(Ordering::Relaxed) != RESIDENT {
            self.make_resident(restore);
        }
    }

    /// A claimer, before it touches the parked goroutine's stack (a light
    /// party): raises the touch flag and makes the stack resident if it is
    /// not, calling `restore(sp, saved)`.
    #[inline]
    pub(crate) fn before_touch(&self, restore: impl FnOnce(usize, *mut u8)) {
        if !in_use() {
            return;
        }
        // Relaxed: as in `before_run`.
        self.touch.store(1, Ordering::Relaxed);
        light_barrier();
        if self.state.load(Ordering::Relaxed) != RESIDENT {
            self.make_resident(restore);
        }
    }

    /// The light side's slow path (see *The protocol*).
    #[cold]
    #[inline(never)]
    fn make_resident(&self, restore: impl FnOnce(usize, *mut u8)) {
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the compactor's Release store of
            // `COMPACTED` (the buffer is filled, the pages released) and a
            // restorer's of `RESIDENT`.
            match self.state.load(Ordering::Acquire) {
                RESIDENT => return,
                CLAIMED => {
                    // Cancel the claim. Relaxed: the compactor's CAS from
                    // `CLAIMED` then fails and it touches nothing.
                    if self
                        .state
                        .compare_exchange(CLAIMED, RESIDENT, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        return;
                    }
                }
                COMPACTED => {
                    // Acquire: as the load above.
                    if self
                        .state
                        .compare_exchange(
                            COMPACTED,
                            RESTORING,
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        let saved = self.saved.swap(std::ptr::null_mut(), Ordering::Relaxed);
                        restore(self.sp.load(Ordering::Relaxed), saved);
                        // Release: the restored bytes happen before the
                        // next claim's Acquire CAS.
                        self.state.store(RESIDENT, Ordering::Release);
                        return;
                    }
                }
                _ => {
                    // COMPACTING or RESTORING: a copy and a syscall away.
                    spins += 1;
                    if spins < 64 {
                        crate::loom::spin_loop();
                    } else {
                        crate::loom::yield_now();
                    }
                }
            }
        }
    }

    /// The compactor, first step: claims the goroutine if it is parked
    /// (even epoch), resident and untouched. Returns the epoch to confirm
    /// after the barrier.
    pub(crate) fn try_claim(&self) -> Option<u32> {
        // Acquire: pairs with `parked`'s Release (the park's stack
        // contents and `sp`).
        let e = self.epoch.load(Ordering::Acquire);
        if e % 2 != 0 || self.touch.load(Ordering::Relaxed) != 0 {
            return None;
        }
        // Acquire: pairs with a restorer's Release store of `RESIDENT`.
        self.state
            .compare_exchange(RESIDENT, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| e)
    }

    /// The compactor's confirmation (after [`heavy_barrier`]): true if the
    /// goroutine is still in park `epoch`, untouched, and the claim was not
    /// cancelled; the cell is then `COMPACTING` (light parties wait) until
    /// [`Compaction::finish`]. False: the claim is dropped.
    pub(crate) fn begin(&self, epoch: u32) -> bool {
        // The barrier orders these loads after our claim, and after any
        // light party's announcement made before it. Acquire, and touch
        // first: pairs with `before_run`'s Release store of 0 (see there),
        // so that reading a resume's 0 brings the resume's epoch with it.
        let touched = self.touch.load(Ordering::Acquire) != 0;
        let moved = touched || self.epoch.load(Ordering::Acquire) != epoch;
        if moved {
            // Relaxed: if a light party cancelled first, this fails and the
            // state is theirs.
            let _ = self.state.compare_exchange(
                CLAIMED,
                RESIDENT,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return false;
        }
        // Acquire: as for the claim. A failure means a light party
        // cancelled the claim.
        self.state
            .compare_exchange(CLAIMED, COMPACTING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// The stack pointer the goroutine saved (for the compactor's copy,
    /// between [`Compaction::begin`] and [`Compaction::finish`]).
    pub(crate) fn saved_sp(&self) -> usize {
        self.sp.load(Ordering::Relaxed)
    }

    /// Ends a compaction begun with [`Compaction::begin`]: with the buffer
    /// holding the used part (the pages already released), `COMPACTED`;
    /// with None (nothing was changed), `RESIDENT` again.
    pub(crate) fn finish(&self, buf: Option<*mut u8>) {
        if let Some(buf) = buf {
            self.saved.store(buf, Ordering::Relaxed);
        }
        // Release: pairs with the light side's Acquire load; the buffer and
        // the released pages are visible first.
        let state = if buf.is_some() { COMPACTED } else { RESIDENT };
        self.state.store(state, Ordering::Release);
    }

    /// For a G being destroyed with its goroutine abandoned mid-park
    /// (shutdown): the buffer, if compacted, to free.
    pub(crate) fn take_saved(&self) -> Option<(usize, *mut u8)> {
        let p = self.saved.swap(std::ptr::null_mut(), Ordering::Relaxed);
        (!p.is_null()).then(|| (self.sp.load(Ordering::Relaxed), p))
    }
}

/// The goroutine whose stack a channel's waiter record points into (none
/// for a plain thread): what a claimer tells [`StackOwner::before_touch`]
/// about before it writes the record or the value cell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackOwner(Option<GPtr>);

impl StackOwner {
    /// No goroutine: a plain thread's record.
    pub(crate) const NONE: StackOwner = StackOwner(None);

    /// The current goroutine, or none on a plain thread.
    pub(crate) fn current() -> StackOwner {
        #[cfg(loom)]
        return StackOwner(None);
        #[cfg(not(loom))]
        StackOwner(crate::kernel::m::current_g().map(|(_, g)| g))
    }

    /// The goroutine `g`.
    pub(crate) fn of(g: GPtr) -> StackOwner {
        StackOwner(Some(g))
    }

    /// Before a claimer touches the owner's stack: see
    /// [`Compaction::before_touch`]. Only the flag test is inlined: with
    /// the protocol inlined, the channels' claim loop (`claim_first`) grew
    /// too big to be inlined into send and receive, which cost a ping-pong
    /// round trip about 200 instructions (callgrind).
    #[inline(always)]
    pub(crate) fn before_touch(self) {
        if in_use()
            && let Some(g) = self.0
        {
            touch_slow(g);
        }
    }
}

/// [`StackOwner::before_touch`]'s protocol, out of line.
#[inline(never)]
fn touch_slow(g: GPtr) {
    g.g()
        .compact
        .before_touch(|sp, buf| g.g().restore_stack(sp, buf));
}

/// Set (once, never cleared) when a runtime with compaction on is built:
/// until then no goroutine can be compacted, and the light side skips the
/// protocol (a load of a read-mostly flag). A runtime's goroutines all
/// start after its build, so they see the flag set if their runtime
/// compacts; goroutines of runtimes without compaction are never
/// compacted, whatever they see.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// Whether any runtime of the process compacts stacks.
#[inline(always)]
fn in_use() -> bool {
    // The loom model checks the protocol itself.
    cfg!(loom) || IN_USE.load(StdOrdering::Relaxed)
}

/// Called by `Builder::build` for a runtime that compacts.
pub(crate) fn enable() {
    IN_USE.store(true, StdOrdering::Relaxed);
}

/// The light side's half of the barrier: a compiler fence, promoted to a
/// full fence by the compactor's `membarrier` whenever it matters.
#[inline(always)]
fn light_barrier() {
    #[cfg(loom)]
    crate::loom::fence(Ordering::SeqCst);
    #[cfg(not(loom))]
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// The compactor's half: a full barrier on every CPU running one of our
/// threads. Call only when [`available`] said yes.
pub(crate) fn heavy_barrier() {
    #[cfg(loom)]
    crate::loom::fence(Ordering::SeqCst);
    #[cfg(all(not(loom), target_os = "linux"))]
    {
        // SAFETY: membarrier takes no pointers; the process registered for
        // the command in `available`.
        let rc =
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
        // It cannot fail once registered; if it ever did, the protocol
        // would be unsound, so stop rather than compact on.
        assert_eq!(
            rc, 0,
            "membarrier(PRIVATE_EXPEDITED) failed after registration"
        );
    }
}

/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (linux/membarrier.h).
#[cfg(all(not(loom), target_os = "linux"))]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED` (linux/membarrier.h).
#[cfg(target_os = "linux")]
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Whether compaction can work in this process: the kernel has
/// `membarrier`'s private expedited command (Linux ≥ 4.14) and we know how
/// to read the stack pointer on this architecture. Registers for the
/// command on first call; says why not once on stderr.
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let why = registration_error().or_else(|| {
            (sp_margin() == usize::MAX)
                .then(|| "no stack for the probe that measures the switch".to_string())
        });
        if let Some(why) = &why {
            eprintln!("burrow: stack compaction is off: {why}");
        }
        why.is_none()
    })
}

fn registration_error() -> Option<String> {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return Some("not implemented on this architecture".into());
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: membarrier takes no pointers.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                0,
                0,
            )
        };
        if rc == 0 {
            None
        } else {
            Some(format!(
                "membarrier(2) private expedited is unavailable ({})",
                std::io::Error::last_os_error()
            ))
        }
    }
    #[cfg(not(target_os = "linux"))]
    Some("it needs Linux's membarrier(2)".into())
}

/// The stack pointer of the caller (the frame it is inlined into).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register; touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register; touches no memory.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // Unused: compaction is off here (`available`).
        sp = 0;
    }
    sp
}

/// Process-wide compaction counters (all runtimes share the stacks' pool
/// and allocator, so they are counted together).
pub(crate) struct Counters {
    /// Goroutines compacted now.
    pub(crate) goroutines: AtomicU64,
    /// Bytes in compaction buffers now.
    pub(crate) bytes: AtomicU64,
    /// Compactions so far.
    pub(crate) compactions: AtomicU64,
    /// Restores so far.
    pub(crate) restores: AtomicU64,
}

/// The counters (Relaxed throughout: statistics).
pub(crate) static COUNTERS: Counters = Counters {
    goroutines: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
    compactions: AtomicU64::new(0),
    restores: AtomicU64::new(0),
};

impl Counters {
    pub(crate) fn compacted(&self, bytes: usize) {
        self.goroutines.fetch_add(1, StdOrdering::Relaxed);
        self.bytes.fetch_add(bytes as u64, StdOrdering::Relaxed);
        self.compactions.fetch_add(1, StdOrdering::Relaxed);
    }

    pub(crate) fn restored(&self, bytes: usize) {
        self.dropped(bytes);
        self.restores.fetch_add(1, StdOrdering::Relaxed);
    }

    /// A buffer freed without a restore (its goroutine was abandoned).
    pub(crate) fn dropped(&self, bytes: usize) {
        self.goroutines.fetch_sub(1, StdOrdering::Relaxed);
        self.bytes.fetch_sub(bytes as u64, StdOrdering::Relaxed);
    }
}

/// Gs a sweep looks at under one hold of the registry's lock; at most this
/// many are compacted per `membarrier`. A light party that meets one of
/// them `COMPACTING` waits for the chunk's copies and its batched release
/// (tens of microseconds); one that meets a mere claim cancels it.
const SWEEP_CHUNK: usize = 256;

/// sysmon's sweep of every G (every `WAIT_SWEEP`, or more often while
/// compaction is on; see `sysmon.rs`): notes when each wait began (for the
/// dump's `N minutes`) and, with `decay` (nanoseconds), compacts the
/// goroutines seen waiting in the same park for at least that long. A
/// wait's start is when a sweep first saw it, never earlier than the park,
/// so no goroutine is compacted before it has been parked for the decay.
/// It stops compacting (but walks on) once compacting has taken `budget`
/// nanoseconds: sysmon sizes that so a burst of a million long parks is
/// worked off over a few sweeps without taking a whole core. Returns how
/// many it compacted and the nanoseconds it spent compacting (the rest of
/// its time is the walk).
pub(crate) fn sweep(all: &AllGs, now: u64, decay: Option<u64>, budget: u64) -> (usize, u64) {
    let mut compacted = 0;
    let mut spent = 0u64;
    let mut claimed: Vec<(GPtr, u32)> = Vec::new();
    let mut batch: Vec<(GPtr, *mut u8)> = Vec::new();
    let mut start = 0;
    loop {
        let next = all.with_chunk(start, SWEEP_CHUNK, |gs| {
            for &g in gs {
                let Some(since) = g.g().note_wait(now) else {
                    continue;
                };
                let Some(decay) = decay else { continue };
                if now.saturating_sub(since) < decay || spent >= budget {
                    continue;
                }
                if let Some(epoch) = g.g().compact.try_claim() {
                    claimed.push((g, epoch));
                }
            }
            if claimed.is_empty() {
                return;
            }
            let t = crate::clock::now_nanos();
            heavy_barrier();
            // Still under the registry's lock: no claimed G can be
            // destroyed before we are done with it. Copy out every
            // confirmed goroutine, release all their stacks in one batch
            // (one TLB flush per 64), then publish them compacted.
            for (g, epoch) in claimed.drain(..) {
                if !g.g().compact.begin(epoch) {
                    continue;
                }
                match g.g().copy_out_stack(g.g().compact.saved_sp()) {
                    Some(buf) => batch.push((g, buf)),
                    None => g.g().compact.finish(None),
                }
            }
            if !batch.is_empty() {
                // SAFETY: every stack in the batch belongs to a parked
                // goroutine held `COMPACTING` (nobody runs on it or touches
                // it until `finish`), and its used part is saved in its
                // buffer.
                unsafe {
                    burrow_stack::Stack::discard_all(batch.iter().map(|(g, _)| g.g().stack()));
                }
            }
            for (g, buf) in batch.drain(..) {
                g.g().compact.finish(Some(buf));
                compacted += 1;
            }
            spent += crate::clock::now_nanos().saturating_sub(t);
        });
        match next {
            Some(n) => start = n,
            None => return (compacted, spent),
        }
    }
}
