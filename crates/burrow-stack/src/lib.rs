//! Goroutine stacks: guarded arenas, warm pools and overflow reports.
//!
//! # The problem
//!
//! A goroutine needs a stack of its own, and a runtime with a million of them
//! needs a million stacks that cost almost nothing until used. Go starts each
//! goroutine on a 2 KiB stack and *copies* it to a bigger one when it grows,
//! rewriting the pointers into it; it can, because its compiler knows where
//! every pointer is. Rust cannot move a stack: references into it would
//! dangle. Measured on our 2-core box, Go pays ~15 µs per goroutine that
//! grows to 32 KiB, against ~0.33 µs for one that stays small — stack copying.
//!
//! # The design
//!
//! We **reserve** address space instead of copying. Each stack is a fixed
//! slot (default 256 KiB usable, configurable) carved from a 4 GiB arena
//! mapped with `MAP_NORESERVE` and `MADV_NOHUGEPAGE`; the kernel commits a
//! page only on first touch, so a goroutine that stays shallow costs one
//! 4 KiB page, and one that goes deep costs what it touched — once. Freed
//! stacks keep their pages (see *Temperatures* in `pool.rs`), so the next
//! goroutine runs on a warm stack at no cost, and a scavenger trims idle
//! stacks after a decay so a burst's memory goes back to the OS.
//!
//! # Guard modes
//!
//! Every slot has a guard region below its usable part. How the guard is
//! made decides how many stacks a default Linux box can have:
//!
//! 1. **madvise** (default where the kernel has it, Linux ≥ 6.13):
//!    `madvise(MADV_GUARD_INSTALL)` puts guard markers in the page tables
//!    without splitting the mapping. A million guarded stacks are a few
//!    dozen lines of `/proc/self/maps`.
//! 2. **mprotect**: a `PROT_NONE` guard per slot. Each splits the mapping,
//!    costing VMAs, and Linux allows 65,530 by default
//!    (`vm.max_map_count`). We spend at most three quarters of that budget,
//!    then fall to mode 3 with one log line naming the sysctl to raise.
//!    (may, the Rust stackful peer, fails at this point instead.)
//! 3. **canary**: no guard; 64 bytes of a known pattern at the bottom of the
//!    usable region, checked by the owner at every switch
//!    ([`Stack::check_overflow`]) and at release. The guard region is kept
//!    as an unprotected cushion so a small overflow does not reach the next
//!    slot before it is noticed. This is a degraded mode: an overflow deeper
//!    than the cushion corrupts a neighbour before anyone can see it.
//!
//! `BURROW_STACK_GUARD=madvise|mprotect|canary` forces the starting mode so
//! tests cover all three on any kernel (`auto`, the default, starts at
//! madvise and falls back on `EINVAL`).
//!
//! # Overflow reports
//!
//! A guard hit raises SIGSEGV; our handler (on a `sigaltstack`) recognises
//! the address as a guard of a slot and prints
//! `goroutine stack overflow: goroutine G overflowed stack S (stack size N bytes; …)`
//! before aborting. Other faults go to the previous handler. See
//! `overflow.rs`.
//!
//! # Alternatives rejected
//!
//! - *Growable, copied stacks* (Go): impossible without moving references.
//! - *Segmented stacks* (early Go, early Rust): the hot-split problem, and
//!   every function prologue must check the limit.
//! - *One `mmap` per stack* (may, `corosensei::DefaultStack`): a VMA or two
//!   each, so 65,530 is the ceiling and every spawn is a syscall.
//!
//! # Using it
//!
//! ```
//! use burrow_stack::Pool;
//! use corosensei::{Coroutine, CoroutineResult};
//!
//! let stack = Pool::global().alloc()?;
//! let mut co = Coroutine::with_stack(stack, |yielder, x: u32| {
//!     let y = yielder.suspend(x + 1);
//!     y * 2
//! });
//! assert!(matches!(co.resume(1), CoroutineResult::Yield(2)));
//! assert!(matches!(co.resume(5), CoroutineResult::Return(10)));
//! # Ok::<(), burrow_stack::StackError>(())
//! ```

mod arena;
mod overflow;
mod pool;

use std::sync::OnceLock;
use std::time::Duration;

pub use arena::GuardKind;
pub use overflow::install_overflow_handler;
pub use pool::PoolStats;

use pool::{PoolInner, Slot};

/// Why a stack could not be had.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// `mmap` refused to reserve address space for an arena.
    #[error(
        "cannot reserve {bytes} bytes of address space for goroutine stacks: {source}; \
         raise `ulimit -v` or use a smaller stack size"
    )]
    Reserve {
        /// Bytes asked for.
        bytes: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// Every arena slot of the registry is in use.
    #[error("too many stack arenas ({max} of {bytes} bytes each): use a smaller stack size")]
    TooManyArenas {
        /// The registry's size.
        max: usize,
        /// Bytes per arena.
        bytes: usize,
    },
    /// The configuration cannot work.
    #[error("invalid stack configuration: {0}")]
    Config(&'static str),
}

/// How a [`Pool`] sizes and keeps its stacks.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Usable bytes per stack; rounded up to whole pages. Default 256 KiB.
    pub usable_size: usize,
    /// Guard bytes below each stack; rounded up to whole pages, at least
    /// one. Default 16 KiB (guard markers cost no memory, and a wide guard
    /// also catches C frames built without stack-clash probes).
    pub guard_size: usize,
    /// How long a free stack stays warm, then tepid, before the scavenger
    /// trims it (see *Temperatures* in `pool.rs`). Default 1 s.
    pub decay: Duration,
    /// Most warm stacks the global pool keeps; beyond it a released stack
    /// is trimmed to its top page at once. Default 4096.
    pub pool_bound: usize,
    /// Most stacks each thread caches per pool, in front of the global
    /// pool's lock. Default 16.
    pub thread_cache: usize,
}

impl Default for StackConfig {
    fn default() -> StackConfig {
        StackConfig {
            usable_size: 256 * 1024,
            guard_size: 16 * 1024,
            decay: Duration::from_secs(1),
            pool_bound: 4096,
            thread_cache: 16,
        }
    }
}

/// A source of stacks of one configuration. Cheap to copy: pools live for
/// the rest of the process (their arenas are never unmapped, which is what
/// lets the overflow handler read them without locks), so create a pool
/// once per configuration, not per stack.
#[derive(Clone, Copy)]
pub struct Pool {
    inner: &'static PoolInner,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool with `config`, after rounding its sizes to whole pages.
    pub fn new(mut config: StackConfig) -> Result<Pool, StackError> {
        let page = page_size();
        let round = |x: usize| {
            x.max(1)
                .checked_next_multiple_of(page)
                .ok_or(StackError::Config("stack or guard size overflows"))
        };
        config.usable_size = round(config.usable_size)?;
        config.guard_size = round(config.guard_size)?;
        if config.usable_size < 4 * page {
            return Err(StackError::Config("usable_size must be at least 4 pages"));
        }
        config
            .usable_size
            .checked_add(config.guard_size)
            .filter(|&slot| slot <= arena::ARENA_BYTES / 4)
            .ok_or(StackError::Config(
                "stack too large: at most 1 GiB including the guard",
            ))?;
        config.thread_cache = config.thread_cache.max(1);
        Ok(Pool {
            inner: PoolInner::new(config),
        })
    }

    /// The process-wide pool with the default configuration.
    pub fn global() -> Pool {
        static GLOBAL: OnceLock<Pool> = OnceLock::new();
        *GLOBAL.get_or_init(|| {
            Pool::new(StackConfig::default()).expect("the default stack config is valid")
        })
    }

    /// Hands out a stack, warm if one is free. Also makes sure this thread
    /// can report an overflow ([`install_overflow_handler`]).
    ///
    /// Check [`Stack::guard`]: in the degraded canary mode (no
    /// `MADV_GUARD_INSTALL` and the `vm.max_map_count` budget spent) the
    /// stack has no guard page, so an overflow deeper than the 16 KiB
    /// cushion can write into a neighbouring stack before
    /// [`Stack::check_overflow`] sees it. See *Guard modes*.
    pub fn alloc(&self) -> Result<Stack, StackError> {
        install_overflow_handler();
        let slot = self.inner.alloc()?;
        Ok(Stack {
            pool: self.inner,
            slot,
        })
    }

    /// This pool's configuration, with sizes rounded as used.
    pub fn config(&self) -> &'static StackConfig {
        &self.inner.config
    }

    /// A snapshot of the pool's counters.
    pub fn stats(&self) -> PoolStats {
        self.inner.stats()
    }

    /// Takes over this pool's scavenging for a runtime's housekeeping
    /// thread (the scheduler's sysmon): while the returned driver lives,
    /// the pool starts no thread of its own (and its thread, if running,
    /// stands aside) and the driver's owner calls
    /// [`PoolDriver::scavenge`] from time to time. Dropping the last driver
    /// gives the work back to the pool's own thread.
    pub fn drive(&self) -> PoolDriver {
        self.inner.attach_driver();
        PoolDriver { inner: self.inner }
    }

    /// Gives this thread's cached stacks back to the global pool, where the
    /// scavenger can trim them, with the fresh slots it had carved ahead
    /// (see *Fresh slots* in the pool's docs). Threads do this when they
    /// exit; a thread that goes idle for long may call it.
    pub fn flush_thread_cache(&self) {
        self.inner.flush_thread_cache();
    }
}

/// The right to scavenge a pool from another thread (see [`Pool::drive`]).
pub struct PoolDriver {
    inner: &'static PoolInner,
}

impl std::fmt::Debug for PoolDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolDriver").finish_non_exhaustive()
    }
}

impl PoolDriver {
    /// One scavenging round: free slots idle longer than the decay are
    /// trimmed (see *Temperatures* in the pool's docs). Returns how long
    /// until the next slot's decay passes, or None when no free slot
    /// waits (a slot freed later is due a decay after its release).
    pub fn scavenge(&self) -> Option<std::time::Duration> {
        self.inner
            .scavenge()
            .map(|t| t.saturating_duration_since(std::time::Instant::now()))
    }
}

impl Drop for PoolDriver {
    fn drop(&mut self) {
        self.inner.detach_driver();
    }
}

/// A goroutine stack, owned. Dropping it gives it back to its pool with its
/// pages still resident.
pub struct Stack {
    pool: &'static PoolInner,
    slot: Slot,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("id", &self.id())
            .field("base", &format_args!("{:#x}", self.slot.base()))
            .field("usable_size", &self.usable_size())
            .field("guard", &self.slot.kind)
            .finish()
    }
}

impl Stack {
    /// Stable id of the slot, unique in the process: the arena's index in
    /// the high 32 bits, the slot's index in the low 32. The same slot keeps
    /// its id across reuse.
    pub fn id(&self) -> u64 {
        self.slot.id()
    }

    /// Usable bytes, excluding the guard.
    pub fn usable_size(&self) -> usize {
        self.pool.config.usable_size
    }

    /// How this stack's overflow is caught.
    pub fn guard(&self) -> GuardKind {
        self.slot.kind
    }

    /// Highest address (exclusive): the stack grows down from here.
    pub fn top(&self) -> *mut u8 {
        self.slot.base() as *mut u8
    }

    /// Lowest usable address (just above the guard).
    pub fn bottom(&self) -> *mut u8 {
        self.slot.usable_low() as *mut u8
    }

    /// Records which goroutine runs on this stack, for the overflow report.
    /// 0 means none.
    pub fn set_owner(&self, goroutine_id: u64) {
        self.slot.arena.owners[self.slot.index as usize]
            .store(goroutine_id, std::sync::atomic::Ordering::Relaxed);
    }

    /// Releases every page of the usable region to the OS (`MADV_DONTNEED`;
    /// the canary page of an unguarded stack excepted), keeping the
    /// address range reserved and the guard in place: the memory reads
    /// back as zeros and costs nothing until touched again. A runtime that
    /// copies a parked coroutine's live frames out first can release its
    /// stack this way and copy them back before it resumes (burrow-sched's
    /// stack compaction).
    ///
    /// # Safety
    ///
    /// Nothing may run on the stack or hold a reference into it while it
    /// is discarded, and whatever the owner still needs from it must have
    /// been copied out: every byte of it becomes zero.
    pub unsafe fn discard(&self) {
        self.slot.decommit();
    }

    /// [`Stack::discard`] for many stacks at once: one
    /// `process_madvise(MADV_DONTNEED)` (one TLB flush) per 64 stacks
    /// where the kernel has it, as the pool's batched trims.
    ///
    /// # Safety
    ///
    /// As for [`Stack::discard`], for every stack given.
    pub unsafe fn discard_all<'a>(stacks: impl IntoIterator<Item = &'a Stack>) {
        let slots: Vec<Slot> = stacks.into_iter().map(|s| s.slot).collect();
        pool::discard_all(&slots, false);
    }

    /// For an unguarded (canary) stack: if the canary was overwritten,
    /// prints `goroutine stack overflow` and aborts. A no-op for guarded
    /// stacks. Call it whenever the code on the stack has switched away.
    pub fn check_overflow(&self) {
        if !self.slot.canary_intact() {
            let owner = self.slot.arena.owners[self.slot.index as usize]
                .load(std::sync::atomic::Ordering::Relaxed);
            overflow::report_overflow(
                owner,
                self.id(),
                self.usable_size(),
                0,
                "canary overwritten",
            );
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.check_overflow();
        self.set_owner(0);
        self.pool.release(self.slot);
    }
}

// SAFETY: base() is the slot's top and limit() its bottom including the
// guard, both page-aligned (so STACK_ALIGNMENT-aligned) and non-zero, and
// the memory between is ours until the Stack drops. Guarded slots meet the
// trait's guard-page requirement. Canary slots do not: that mode exists
// only when the kernel or vm.max_map_count leaves no other choice, and is
// documented as degraded (see *Guard modes*).
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.slot.base()).expect("slot addresses are non-zero")
    }

    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.slot.limit())
            .expect("slot addresses are non-zero")
    }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize)
}

/// The guard mode new stacks currently get (it only degrades).
pub fn current_guard_mode() -> GuardKind {
    arena::mode()
}
