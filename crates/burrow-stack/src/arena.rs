//! Arenas: large reservations carved into fixed-size stack slots, and the
//! three ways a slot gets its guard.
//!
//! # Slot layout
//!
//! An arena is one anonymous private mapping of [`ARENA_BYTES`] made with
//! `MAP_NORESERVE` and marked `MADV_NOHUGEPAGE`. It is cut into slots of
//! `guard + usable` bytes; slot `i` starts at `start + i * slot_size`:
//!
//! ```text
//!  low addresses                                          high addresses
//!  | guard | usable ............ | guard | usable ............ | …
//!  ^ limit()                     ^ base() of slot 0 = limit() of slot 1
//! ```
//!
//! The stack grows down from `base()` towards the guard. A stack never
//! touches its guard, so a fault inside a guard is an overflow — this is what
//! the signal handler in `overflow.rs` tests for, using the registry below.
//!
//! # Guard modes
//!
//! See *Guard modes* in lib.rs. `GuardMode` is chosen once per process from
//! `BURROW_STACK_GUARD` (or probed) and can only move down the list
//! madvise → mprotect → canary, each step logged once.
//!
//! # Batched guards
//!
//! The simplest guard is one `madvise(MADV_GUARD_INSTALL)` per slot: a
//! system call, the mm's lock, a VMA lookup and a TLB gather for every new
//! goroutine. The pool carves *runs* of consecutive slots instead (see
//! *Fresh slots* in `pool.rs`) and guards a run with
//! [`Arena::guard_run`]: one `process_madvise(2)` call on our own process
//! (`PIDFD_SELF_THREAD_GROUP`, Linux ≥ 6.15) takes the run's guard regions
//! as a vector, so the kernel takes the mm's lock, finds the VMA and
//! gathers TLB work once per run instead of once per slot. The guard
//! regions of a run are not contiguous (each lies below its own stack, and
//! a stack grows down), so one plain `madvise` over the run cannot do it:
//! it would put markers over the stacks too. Where the kernel refuses the
//! vector call (older kernels), each slot gets its own `madvise`, exactly
//! as before; a partial batch is finished slot by slot (installing a
//! marker twice is harmless). Either way, every slot is guarded before
//! anyone can have it.
//!
//! # Registry
//!
//! Arenas are never unmapped, so `&'static Arena` is sound and the SIGSEGV
//! handler can walk [`ARENAS`] without locks: a slot of the array is written
//! once (Release) before `ARENA_COUNT` is bumped (Release); the handler loads
//! the count (Acquire) and then only slots below it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use crate::StackError;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("burrow-stack reserves 4 GiB arenas and needs a 64-bit target");

/// Bytes reserved per arena (4 GiB): 1M stacks of 256 KiB need ~68 arenas,
/// so `/proc/self/maps` stays short however many stacks exist.
pub(crate) const ARENA_BYTES: usize = 4 << 30;

/// Most arenas a process can have (32 TiB of reservations).
pub(crate) const MAX_ARENAS: usize = 8192;

/// `MADV_GUARD_INSTALL` (Linux ≥ 6.13): install guard markers in page
/// tables, inside one VMA. Not yet in every libc release, hence spelled here.
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// `PIDFD_SELF_THREAD_GROUP` (Linux ≥ 6.15): a pidfd that names the calling
/// process without opening one, so `process_madvise` can advise our own
/// address space; not yet in libc. See *Batched guards*.
#[cfg(target_os = "linux")]
const PIDFD_SELF_THREAD_GROUP: libc::c_int = -10001;

/// Most ranges one `process_madvise` call takes here (the kernel takes at
/// most `IOV_MAX`, 1024; runs and trim batches are shorter).
pub(crate) const ADVISE_BATCH: usize = 64;

/// Advice given to many ranges of our own address space in one
/// `process_madvise(PIDFD_SELF_THREAD_GROUP, …)` call, where the kernel
/// allows it (see *Batched guards*). Remembers, per advice, whether it
/// does: [`BATCH_UNKNOWN`] until first tried, then [`BATCH_WORKS`] or
/// [`BATCH_REFUSED`] for good. Relaxed throughout: a hint; a thread that
/// sees a stale value makes one call more or batches once less.
pub(crate) struct Batcher {
    advice: libc::c_int,
    state: AtomicU8,
}
/// Not tried yet.
const BATCH_UNKNOWN: u8 = 0;
/// The kernel took a batch: keep batching.
const BATCH_WORKS: u8 = 1;
/// The kernel refused (too old for `PIDFD_SELF_THREAD_GROUP`, or for this
/// advice through `process_madvise`): one `madvise` per range.
const BATCH_REFUSED: u8 = 2;

impl Batcher {
    /// A batcher for `advice`.
    pub(crate) const fn new(advice: libc::c_int) -> Batcher {
        Batcher {
            advice,
            state: AtomicU8::new(BATCH_UNKNOWN),
        }
    }

    /// Gives the advice to every range of `ranges` (at most
    /// [`ADVISE_BATCH`]) in one system call, and returns how many leading
    /// ranges got it whole: all of them, or fewer (0 where this kernel
    /// cannot batch), and then the caller advises the rest one at a time.
    ///
    /// # Safety
    ///
    /// Every range must lie in memory this crate owns (an arena), and the
    /// advice must be harmless to whatever may use the range: nobody runs
    /// on a stack whose pages it discards, or on a slot being guarded.
    #[cfg(target_os = "linux")]
    pub(crate) unsafe fn advise(&self, ranges: &[libc::iovec]) -> usize {
        if ranges.len() < 2
            || ranges.len() > ADVISE_BATCH
            || self.state.load(Ordering::Relaxed) == BATCH_REFUSED
        {
            return 0;
        }
        // SAFETY: the caller's promise covers every range; the kernel only
        // reads `ranges`, which outlives the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_process_madvise,
                PIDFD_SELF_THREAD_GROUP,
                ranges.as_ptr(),
                ranges.len(),
                self.advice,
                0,
            )
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error().raw_os_error();
            if matches!(
                e,
                Some(libc::EBADF | libc::EINVAL | libc::ENOSYS | libc::EPERM | libc::ESRCH)
            ) {
                // This kernel cannot batch this advice (or, for guards, has
                // no guard markers, which `guard_slot` finds out and
                // degrades the mode for).
                self.state.store(BATCH_REFUSED, Ordering::Relaxed);
            }
            return 0;
        }
        self.state.store(BATCH_WORKS, Ordering::Relaxed);
        // The kernel advises the ranges in order and returns the bytes
        // done: count the ranges it finished.
        let mut left = rc as usize;
        ranges
            .iter()
            .take_while(|r| {
                let whole = left >= r.iov_len;
                left = left.saturating_sub(r.iov_len);
                whole
            })
            .count()
    }

    /// No batching off Linux.
    ///
    /// # Safety
    ///
    /// As on Linux; this does nothing.
    #[cfg(not(target_os = "linux"))]
    pub(crate) unsafe fn advise(&self, _ranges: &[libc::iovec]) -> usize {
        0
    }
}

/// Installs guard markers for runs of fresh slots (*Batched guards*).
#[cfg(target_os = "linux")]
static GUARD_BATCHER: Batcher = Batcher::new(MADV_GUARD_INSTALL);

/// Bytes at the bottom of an unguarded stack that hold the canary.
pub(crate) const CANARY_BYTES: usize = 64;

/// The canary word repeated over [`CANARY_BYTES`].
pub(crate) const CANARY: u64 = 0xB0_77_0C_AA_57_AC_4B_01;

/// How a slot's overflow is caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum GuardKind {
    /// Guard markers from `madvise(MADV_GUARD_INSTALL)`: no extra VMA.
    Madvise = 0,
    /// A `PROT_NONE` region from `mprotect`: costs VMAs, counted against
    /// `vm.max_map_count`.
    Mprotect = 1,
    /// No guard: a canary at the bottom of the usable region, checked by the
    /// owner (`Stack::check_overflow`) and at release.
    Canary = 2,
}

impl GuardKind {
    fn from_u8(v: u8) -> GuardKind {
        match v {
            0 => GuardKind::Madvise,
            1 => GuardKind::Mprotect,
            _ => GuardKind::Canary,
        }
    }

    /// The name used by `BURROW_STACK_GUARD`.
    pub fn name(self) -> &'static str {
        match self {
            GuardKind::Madvise => "madvise",
            GuardKind::Mprotect => "mprotect",
            GuardKind::Canary => "canary",
        }
    }
}

/// Process-wide guard mode: `MODE_UNSET` until first use, then a
/// `GuardKind` that only ever increases (madvise → mprotect → canary).
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
const MODE_UNSET: u8 = u8::MAX;

/// VMAs the mprotect mode may still spend (two per guard: the guard itself
/// and the split it causes). Initialised with the mode.
static VMA_BUDGET: AtomicUsize = AtomicUsize::new(0);

/// Serialises the first choice of mode.
static MODE_INIT: Mutex<()> = Mutex::new(());

/// The current guard mode, choosing it on first call.
pub(crate) fn mode() -> GuardKind {
    let m = MODE.load(Ordering::Relaxed);
    if m != MODE_UNSET {
        return GuardKind::from_u8(m);
    }
    let _g = MODE_INIT.lock().unwrap_or_else(|e| e.into_inner());
    let m = MODE.load(Ordering::Relaxed);
    if m != MODE_UNSET {
        return GuardKind::from_u8(m);
    }
    let forced = std::env::var("BURROW_STACK_GUARD").ok();
    let chosen = match forced.as_deref() {
        Some("mprotect") => GuardKind::Mprotect,
        Some("canary") => GuardKind::Canary,
        Some("madvise") => GuardKind::Madvise,
        Some("auto") | Some("") | None => probe_madvise_guards(),
        Some(other) => {
            eprintln!(
                "burrow-stack: BURROW_STACK_GUARD={other:?} is not one of auto, madvise, mprotect, canary; using auto"
            );
            probe_madvise_guards()
        }
    };
    VMA_BUDGET.store(vma_budget(), Ordering::Relaxed);
    // Relaxed: the mode is a hint that only moves one way; every reader
    // copes with any value it may see.
    MODE.store(chosen as u8, Ordering::Relaxed);
    chosen
}

/// `Madvise` if this kernel installs guard markers (tried on a scratch
/// mapping), else `Mprotect`.
fn probe_madvise_guards() -> GuardKind {
    let page = crate::page_size();
    // SAFETY: a fresh anonymous mapping aliases nothing; checked below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return GuardKind::Mprotect;
    }
    let ok = install_guard_markers(p as usize, page).is_ok();
    // SAFETY: unmapping the scratch mapping made above, used by no one.
    unsafe { libc::munmap(p, 2 * page) };
    if ok {
        GuardKind::Madvise
    } else {
        GuardKind::Mprotect
    }
}

/// Moves the mode down to `to` (never up), logging once why.
fn degrade(to: GuardKind, why: &str) {
    let prev = MODE.fetch_max(to as u8, Ordering::Relaxed);
    if prev < to as u8 {
        eprintln!("burrow-stack: {why}");
    }
}

/// How many VMAs mprotect guards may use: three quarters of
/// `vm.max_map_count`, minus what the process already maps.
fn vma_budget() -> usize {
    // A test knob: pretend the budget is this small, so the canary fallback
    // can be reached quickly on any box.
    if let Some(b) = std::env::var("BURROW_STACK_VMA_BUDGET")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return b;
    }
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65530);
    let used = std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count());
    (max / 4 * 3).saturating_sub(used)
}

/// One reservation and the per-slot data the signal handler needs.
pub(crate) struct Arena {
    /// Lowest address of the reservation.
    pub start: usize,
    /// Bytes per slot (guard + usable), page-aligned.
    pub slot_size: usize,
    /// Guard bytes at the bottom of each slot.
    pub guard_size: usize,
    /// Number of slots.
    pub slots: usize,
    /// Index of this arena in [`ARENAS`] (the high half of stack ids).
    pub index: usize,
    /// Goroutine id owning each slot (0: none), for the overflow report.
    /// Written by the owner with `set_owner`, read by the signal handler.
    pub owners: Box<[AtomicU64]>,
    /// `GuardKind` of each carved slot, fixed at carve time.
    pub kinds: Box<[AtomicU8]>,
}

/// Registered arenas; see *Registry* above.
pub(crate) static ARENAS: [AtomicPtr<Arena>; MAX_ARENAS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_ARENAS];
/// Number of initialised entries of [`ARENAS`].
pub(crate) static ARENA_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Serialises arena creation so `ARENAS` fills densely.
static ARENA_CREATE: Mutex<()> = Mutex::new(());

impl Arena {
    /// Reserves a new arena for slots of `slot_size` bytes and registers it.
    pub(crate) fn reserve(
        slot_size: usize,
        guard_size: usize,
    ) -> Result<&'static Arena, StackError> {
        let _g = ARENA_CREATE.lock().unwrap_or_else(|e| e.into_inner());
        let index = ARENA_COUNT.load(Ordering::Relaxed);
        if index >= MAX_ARENAS {
            return Err(StackError::TooManyArenas {
                max: MAX_ARENAS,
                bytes: ARENA_BYTES,
            });
        }
        // SAFETY: an anonymous mapping at an address of the kernel's
        // choosing aliases nothing; the result is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ARENA_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(StackError::Reserve {
                bytes: ARENA_BYTES,
                source: std::io::Error::last_os_error(),
            });
        }
        #[cfg(target_os = "linux")]
        // SAFETY: the range is the mapping just made and owned by us. A
        // failure only leaves huge pages possible, which costs memory, not
        // correctness, so the result is ignored.
        unsafe {
            libc::madvise(p, ARENA_BYTES, libc::MADV_NOHUGEPAGE);
        }
        let slots = ARENA_BYTES / slot_size;
        let arena = Box::leak(Box::new(Arena {
            start: p as usize,
            slot_size,
            guard_size,
            slots,
            index,
            owners: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            kinds: (0..slots)
                .map(|_| AtomicU8::new(GuardKind::Canary as u8))
                .collect(),
        }));
        // Release: pairs with the Acquire load of ARENA_COUNT in
        // `find_slot` (and the Acquire load of the pointer itself there),
        // so the handler sees a fully built Arena.
        ARENAS[index].store(arena, Ordering::Release);
        ARENA_COUNT.store(index + 1, Ordering::Release);
        Ok(arena)
    }

    /// Lowest address of slot `i` (its guard).
    pub(crate) fn slot_start(&self, i: usize) -> usize {
        self.start + i * self.slot_size
    }

    /// Gives slot `i` its guard, in the best mode still available, and
    /// returns the kind it got. Called once per slot, when it is carved.
    pub(crate) fn guard_slot(&self, i: usize) -> GuardKind {
        let low = self.slot_start(i);
        let mut kind = mode();
        if kind == GuardKind::Madvise {
            match install_guard_markers(low, self.guard_size) {
                Ok(()) => return self.set_kind(i, GuardKind::Madvise),
                // The kernel does not have guard markers: switch for good.
                Err(libc::EINVAL | libc::ENOSYS | libc::EPERM) => {
                    degrade(
                        GuardKind::Mprotect,
                        "kernel refused MADV_GUARD_INSTALL (needs Linux >= 6.13); using mprotect guards, which cost VMAs",
                    );
                    kind = mode();
                }
                // A transient failure (ENOMEM for page tables, …): guard
                // this slot the next way down without changing the mode.
                Err(_) => kind = GuardKind::Mprotect,
            }
        }
        if kind == GuardKind::Mprotect {
            if take_vma_budget() && protect(low, self.guard_size) {
                return self.set_kind(i, GuardKind::Mprotect);
            }
            degrade(
                GuardKind::Canary,
                "vm.max_map_count budget for stack guards is spent: new stacks are unguarded and checked \
                 with a canary; raise it with `sysctl -w vm.max_map_count=2000000` for guard pages",
            );
        }
        // Canary: the guard region stays ordinary memory (a cushion that a
        // small overflow lands in without harming the next slot); the canary
        // sits at the bottom of the usable region.
        let bottom = low + self.guard_size;
        for k in 0..CANARY_BYTES / 8 {
            let w = (bottom + k * 8) as *mut u64;
            // SAFETY: `bottom` is the start of this slot's usable region,
            // inside our read-write arena, 8-aligned (page-aligned base),
            // and nobody uses the slot yet.
            unsafe { w.write(CANARY) };
        }
        self.set_kind(i, GuardKind::Canary)
    }

    /// Gives slots `first..end` their guards, in as few system calls as the
    /// kernel allows (see *Batched guards*); each slot's kind is recorded
    /// as [`Arena::guard_slot`] records it. The slots must be carved and
    /// unused.
    pub(crate) fn guard_run(&self, first: usize, end: usize) {
        let mut i = first;
        if mode() == GuardKind::Madvise {
            while i < end {
                let n = (end - i).min(ADVISE_BATCH);
                let done = self.install_guard_batch(i, n);
                i += done;
                if done < n {
                    break;
                }
            }
        }
        for j in i..end {
            self.guard_slot(j);
        }
    }

    /// Installs guard markers on slots `first..first + n` with one
    /// `process_madvise` call; returns how many slots are now guarded
    /// (the rest, if any, are left to [`Arena::guard_slot`]).
    #[cfg(target_os = "linux")]
    fn install_guard_batch(&self, first: usize, n: usize) -> usize {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; ADVISE_BATCH];
        let n = n.min(ADVISE_BATCH);
        for (k, v) in iov[..n].iter_mut().enumerate() {
            v.iov_base = self.slot_start(first + k) as *mut libc::c_void;
            v.iov_len = self.guard_size;
        }
        // SAFETY: every range is the guard region of a slot of our own
        // arena, carved and not yet handed out; guard markers only make it
        // fault on access.
        let done = unsafe { GUARD_BATCHER.advise(&iov[..n]) };
        for k in 0..done {
            self.set_kind(first + k, GuardKind::Madvise);
        }
        done
    }

    #[cfg(not(target_os = "linux"))]
    fn install_guard_batch(&self, _first: usize, _n: usize) -> usize {
        0
    }

    /// The kind of guard slot `i` got when it was carved.
    pub(crate) fn kind(&self, i: usize) -> GuardKind {
        GuardKind::from_u8(self.kinds[i].load(Ordering::Relaxed))
    }

    fn set_kind(&self, i: usize, k: GuardKind) -> GuardKind {
        self.kinds[i].store(k as u8, Ordering::Relaxed);
        k
    }
}

fn take_vma_budget() -> bool {
    VMA_BUDGET
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(2))
        .is_ok()
}

/// Installs guard markers, retrying interrupted calls; the errno on failure.
#[cfg(target_os = "linux")]
fn install_guard_markers(low: usize, len: usize) -> Result<(), libc::c_int> {
    loop {
        // SAFETY: [low, low+len) is a guard region of a slot in our own
        // arena (or our scratch probe mapping) that no one uses; guard
        // markers only make it fault on access.
        let rc = unsafe { libc::madvise(low as *mut libc::c_void, len, MADV_GUARD_INSTALL) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL);
        if e != libc::EINTR && e != libc::EAGAIN {
            return Err(e);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn install_guard_markers(_low: usize, _len: usize) -> Result<(), libc::c_int> {
    Err(libc::EINVAL)
}

/// A stack id: arena index in the high 32 bits, slot in the low 32, so ids
/// are unique across pools of different slot sizes.
pub(crate) fn stack_id(arena: usize, slot: usize) -> u64 {
    ((arena as u64) << 32) | slot as u64
}

fn protect(low: usize, len: usize) -> bool {
    // SAFETY: [low, low+len) is a guard region of a slot in our own arena
    // that no one uses; making it inaccessible affects nothing else.
    unsafe { libc::mprotect(low as *mut libc::c_void, len, libc::PROT_NONE) == 0 }
}

/// What the signal handler learns about an address inside an arena.
pub(crate) struct SlotHit {
    /// Stack id of the slot.
    pub id: u64,
    /// Owner set with `set_owner` (0 if none).
    pub owner: u64,
    /// Usable bytes of the slot.
    pub usable: usize,
    /// Whether the address is inside the slot's guard region.
    pub in_guard: bool,
}

/// Finds the slot containing `addr`. Async-signal-safe: atomics only.
pub(crate) fn find_slot(addr: usize) -> Option<SlotHit> {
    // Acquire: pairs with the Release stores in `Arena::reserve`.
    let n = ARENA_COUNT.load(Ordering::Acquire);
    for entry in &ARENAS[..n] {
        let p = entry.load(Ordering::Acquire);
        // SAFETY: non-null entries point at leaked, never-freed Arenas that
        // were fully written before publication (see *Registry*).
        let Some(a) = (unsafe { p.as_ref() }) else {
            continue;
        };
        if addr < a.start || addr >= a.start + a.slots * a.slot_size {
            continue;
        }
        let i = (addr - a.start) / a.slot_size;
        let off = addr - a.slot_start(i);
        let kind = GuardKind::from_u8(a.kinds[i].load(Ordering::Relaxed));
        return Some(SlotHit {
            id: stack_id(a.index, i),
            owner: a.owners[i].load(Ordering::Relaxed),
            usable: a.slot_size - a.guard_size,
            in_guard: off < a.guard_size && kind != GuardKind::Canary,
        });
    }
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::Batcher;

    /// A batch advises each of its ranges and nothing between them (or,
    /// on a kernel that cannot batch, nothing at all).
    #[test]
    fn a_batch_advises_its_ranges_and_nothing_else() {
        let page = crate::page_size();
        // SAFETY: a fresh anonymous mapping aliases nothing; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let at = |k: usize| (p as usize + k * page) as *mut u8;
        for k in 0..4 {
            // SAFETY: inside the mapping made above.
            unsafe { at(k).write(7) };
        }
        let range = |k: usize| libc::iovec {
            iov_base: at(k).cast(),
            iov_len: page,
        };
        let batcher = Batcher::new(libc::MADV_DONTNEED);
        // SAFETY: the ranges are pages of our own scratch mapping, which
        // nothing else uses.
        let done = unsafe { batcher.advise(&[range(0), range(2)]) };
        // SAFETY: reading inside the mapping.
        let left: Vec<u8> = (0..4).map(|k| unsafe { at(k).read() }).collect();
        match done {
            2 => assert_eq!(left, [0, 7, 0, 7], "advised pages read back as zeros"),
            0 => assert_eq!(left, [7; 4], "a refused batch changes nothing"),
            n => panic!("{n} of 2 ranges advised"),
        }
        // SAFETY: unmapping the scratch mapping made above.
        unsafe { libc::munmap(p, 4 * page) };
    }
}
