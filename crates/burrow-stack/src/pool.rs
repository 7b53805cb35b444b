//! Stack pools: a per-thread cache in front of a global pool, and the
//! scavenger that gives idle stack memory back to the OS.
//!
//! # Temperatures
//!
//! A free slot is in one of three states, and only moves down the list
//! unless it is handed out again:
//!
//! - **warm**: all pages it touched are still resident. The next goroutine
//!   gets it for free (no page faults, no stack copying: Go's growth cost).
//! - **tepid**: trimmed to its top page with `MADV_DONTNEED`. A slot becomes
//!   tepid after `decay` in the warm list, or at once when the warm list is
//!   longer than `pool_bound`. A fresh goroutine only touches the top page,
//!   so a tepid slot is still almost free to reuse.
//! - **cold**: fully decommitted, after `decay` more in the tepid list. It
//!   costs nothing but address space, so a burst of a million goroutines
//!   gives all its memory back once they are gone.
//!
//! Allocation takes warm before tepid before cold before carving a new slot,
//! newest first (LIFO: the most recently used pages are most likely cached).
//!
//! # Who touches what
//!
//! - The thread cache (`CACHE`) is touched only by its thread. It holds at
//!   most `thread_cache` warm slots per pool and is never trimmed; it is
//!   flushed to the global pool when it overflows and when the thread exits.
//! - `Global` is touched by any thread under `PoolInner::global`.
//! - The scavenger thread (one per pool, started at the first release to the
//!   global pool) sleeps on `PoolInner::wake` until the oldest warm or tepid
//!   slot is due, takes due slots out under the lock, and calls `madvise`
//!   with the lock released.
//! - A *driver* ([`crate::Pool::drive`]) replaces that thread: a runtime's
//!   housekeeping thread (the scheduler's sysmon, Go's one background
//!   thread) runs the same rounds itself, so a program has one
//!   housekeeping thread, not one per subsystem. While a driver lives the
//!   pool's own thread is not started, or waits; dropping the last driver
//!   wakes (or starts) it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::arena::{Arena, CANARY, CANARY_BYTES, GuardKind};
use crate::{StackConfig, StackError};

/// A slot of an arena: the unit the pool hands out.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub arena: &'static Arena,
    pub index: u32,
    pub kind: GuardKind,
}

impl Slot {
    /// Lowest address, including the guard.
    pub(crate) fn limit(&self) -> usize {
        self.arena.slot_start(self.index as usize)
    }

    /// Highest address (exclusive): where the stack starts growing down.
    pub(crate) fn base(&self) -> usize {
        self.limit() + self.arena.slot_size
    }

    /// Lowest usable address (just above the guard).
    pub(crate) fn usable_low(&self) -> usize {
        self.limit() + self.arena.guard_size
    }

    /// Stable id: see `Stack::id`.
    pub(crate) fn id(&self) -> u64 {
        crate::arena::stack_id(self.arena.index, self.index as usize)
    }

    /// Whether the canary of an unguarded slot is intact (always true for
    /// guarded slots).
    pub(crate) fn canary_intact(&self) -> bool {
        if self.kind != GuardKind::Canary {
            return true;
        }
        let low = self.usable_low();
        (0..CANARY_BYTES / 8).all(|k| {
            // SAFETY: the canary words lie at the bottom of this slot's
            // usable region, inside our read-write arena, 8-aligned. A
            // volatile read because an overflow may have written them
            // behind the compiler's back.
            unsafe { ((low + k * 8) as *const u64).read_volatile() == CANARY }
        })
    }

    /// Lowest address that trimming may discard: the usable region, minus
    /// the canary page of unguarded slots (it must survive).
    fn trim_low(&self) -> usize {
        match self.kind {
            GuardKind::Canary => self.usable_low() + crate::page_size(),
            _ => self.usable_low(),
        }
    }

    /// Drops every page but the top one (warm → tepid).
    fn trim_to_top(&self) {
        discard(self.trim_low(), self.base() - crate::page_size());
    }

    /// Drops every page (tepid → cold; also a compacted goroutine's
    /// stack, `Stack::discard`).
    pub(crate) fn decommit(&self) {
        discard(self.trim_low(), self.base());
    }
}

fn discard(low: usize, high: usize) {
    if high <= low {
        return;
    }
    // SAFETY: [low, high) lies inside a free slot of our own arena; nobody
    // runs on it, so dropping its pages (they read back as zeros) is
    // unobservable. Guard markers survive MADV_DONTNEED.
    let rc = unsafe { libc::madvise(low as *mut libc::c_void, high - low, libc::MADV_DONTNEED) };
    debug_assert_eq!(rc, 0, "madvise(MADV_DONTNEED) on a stack slot failed");
}

/// The shared part of a pool; leaked, so `&'static`.
pub(crate) struct PoolInner {
    pub config: StackConfig,
    slot_size: usize,
    global: Mutex<Global>,
    /// Wakes the scavenger when the global pool gets work for it.
    wake: Condvar,
    scavenger_started: AtomicBool,
    /// Housekeeping threads that drive the scavenging (`PoolDriver`);
    /// while there is one, the pool's own thread stands aside.
    drivers: AtomicUsize,
    /// Stacks handed out, ever (statistics only).
    allocs: AtomicU64,
    /// Stacks given back, ever (statistics only).
    frees: AtomicU64,
}

#[derive(Default)]
struct Global {
    arena: Option<&'static Arena>,
    /// Next uncarved slot of `arena`.
    next: usize,
    carved: u64,
    warm: VecDeque<(Slot, Instant)>,
    tepid: VecDeque<(Slot, Instant)>,
    cold: Vec<Slot>,
    by_kind: [u64; 3],
}

impl Global {
    /// Gives back list capacity left over from a burst (a million
    /// goroutines would otherwise pin tens of MiB of bookkeeping).
    fn shrink_lists(&mut self) {
        fn shrink(len: usize, cap: usize, f: impl FnOnce(usize)) {
            if cap > 256 && len * 4 < cap {
                f((len * 2).max(64));
            }
        }
        shrink(self.warm.len(), self.warm.capacity(), |c| {
            self.warm.shrink_to(c)
        });
        shrink(self.tepid.len(), self.tepid.capacity(), |c| {
            self.tepid.shrink_to(c)
        });
        shrink(self.cold.len(), self.cold.capacity(), |c| {
            self.cold.shrink_to(c)
        });
    }
}

/// A snapshot of a pool's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Slots carved from arenas so far.
    pub carved: u64,
    /// Stacks currently handed out.
    pub in_use: u64,
    /// Free slots in the global pool with their pages resident.
    pub warm: usize,
    /// Free slots trimmed to their top page.
    pub tepid: usize,
    /// Free slots with no resident pages.
    pub cold: usize,
    /// Carved slots guarded by `MADV_GUARD_INSTALL`.
    pub guarded_madvise: u64,
    /// Carved slots guarded by `mprotect`.
    pub guarded_mprotect: u64,
    /// Carved slots with a canary and no guard.
    pub canary: u64,
}

impl PoolInner {
    pub(crate) fn new(config: StackConfig) -> &'static PoolInner {
        let slot_size = config.guard_size + config.usable_size;
        Box::leak(Box::new(PoolInner {
            config,
            slot_size,
            global: Mutex::new(Global::default()),
            wake: Condvar::new(),
            scavenger_started: AtomicBool::new(false),
            drivers: AtomicUsize::new(0),
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Global> {
        // A panic while holding the lock leaves the lists consistent (every
        // mutation is a single push or pop), so poisoning is ignored.
        self.global.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands out a slot: thread cache, then warm, tepid, cold, then carve.
    pub(crate) fn alloc(&'static self) -> Result<Slot, StackError> {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = with_cache(self, |c| c.pop()).flatten() {
            return Ok(s);
        }
        let mut g = self.lock();
        if let Some((s, _)) = g.warm.pop_back() {
            return Ok(s);
        }
        if let Some((s, _)) = g.tepid.pop_back() {
            return Ok(s);
        }
        if let Some(s) = g.cold.pop() {
            return Ok(s);
        }
        self.carve(&mut g).inspect_err(|_| {
            self.allocs.fetch_sub(1, Ordering::Relaxed);
        })
    }

    fn carve(&self, g: &mut Global) -> Result<Slot, StackError> {
        let arena = match g.arena {
            Some(a) if g.next < a.slots => a,
            _ => {
                let a = Arena::reserve(self.slot_size, self.config.guard_size)?;
                g.arena = Some(a);
                g.next = 0;
                a
            }
        };
        let index = g.next;
        g.next += 1;
        g.carved += 1;
        let kind = arena.guard_slot(index);
        g.by_kind[kind as usize] += 1;
        Ok(Slot {
            arena,
            index: index as u32,
            kind,
        })
    }

    /// Takes a slot back: into the thread cache, or the global pool.
    pub(crate) fn release(&'static self, slot: Slot) {
        self.frees.fetch_add(1, Ordering::Relaxed);
        let cap = self.config.thread_cache;
        let spill = with_cache(self, |c| {
            if c.len() < cap {
                c.push(slot);
                None
            } else {
                // Move the older half out with this one, in one lock.
                let mut out: Vec<Slot> = c.drain(..cap / 2).collect();
                out.push(slot);
                Some(out)
            }
        });
        match spill {
            Some(None) => {}
            Some(Some(out)) => self.release_global(out),
            // Thread is exiting: its cache is gone.
            None => self.release_global(vec![slot]),
        }
    }

    /// Puts slots in the warm list; trims what exceeds `pool_bound`.
    fn release_global(&'static self, slots: Vec<Slot>) {
        let now = Instant::now();
        let mut over = Vec::new();
        {
            let mut g = self.lock();
            g.warm.extend(slots.into_iter().map(|s| (s, now)));
            while g.warm.len() > self.config.pool_bound {
                if let Some((s, _)) = g.warm.pop_front() {
                    over.push(s);
                }
            }
        }
        for s in &over {
            s.trim_to_top();
        }
        if !over.is_empty() {
            self.lock().tepid.extend(over.into_iter().map(|s| (s, now)));
        }
        self.start_scavenger();
        self.wake.notify_one();
    }

    fn start_scavenger(&'static self) {
        if self.drivers.load(Ordering::Relaxed) > 0
            || self.scavenger_started.load(Ordering::Relaxed)
            || self.scavenger_started.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("burrow-stack-scavenger".into())
            .spawn(move || self.scavenge_loop());
        if let Err(e) = spawned {
            // Memory is then only returned when slots are reused; say so.
            eprintln!(
                "burrow-stack: cannot start the stack scavenger thread ({e}); idle stacks keep their memory"
            );
        }
    }

    /// The pool's own scavenger thread: see *Temperatures* above. It
    /// stands aside while a driver (`PoolDriver`) does the work.
    fn scavenge_loop(&'static self) {
        let mut g = self.lock();
        loop {
            if self.drivers.load(Ordering::Relaxed) > 0 {
                // The driver's drop wakes us.
                g = self.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let (g2, next) = self.scavenge_locked(g, Instant::now());
            g = g2;
            g = match next {
                None => self.wake.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(next) => {
                    let d = next.saturating_duration_since(Instant::now());
                    self.wake
                        .wait_timeout(g, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// One scavenging round: cools the slots whose decay has passed at
    /// `now` (warm → tepid, tepid → cold) and returns when the next one
    /// is due (None: nothing waits). Takes and gives back the lock.
    fn scavenge_locked<'a>(
        &'a self,
        mut g: MutexGuard<'a, Global>,
        now: Instant,
    ) -> (MutexGuard<'a, Global>, Option<Instant>) {
        let decay = self.config.decay;
        // `checked_add`: a decay too large to add means "never".
        let due =
            |q: &VecDeque<(Slot, Instant)>| q.front().and_then(|&(_, t)| t.checked_add(decay));
        let take = |q: &mut VecDeque<(Slot, Instant)>| {
            let n = q
                .iter()
                .take_while(|&&(_, t)| t.checked_add(decay).is_some_and(|d| d <= now))
                .count();
            q.drain(..n).map(|(s, _)| s).collect::<Vec<_>>()
        };
        let to_tepid = take(&mut g.warm);
        let to_cold = take(&mut g.tepid);
        if !to_tepid.is_empty() || !to_cold.is_empty() {
            drop(g);
            to_tepid.iter().for_each(Slot::trim_to_top);
            to_cold.iter().for_each(Slot::decommit);
            g = self.lock();
            let t = Instant::now();
            g.tepid.extend(to_tepid.into_iter().map(|s| (s, t)));
            g.cold.extend(to_cold);
        }
        g.shrink_lists();
        let next = match (due(&g.warm), due(&g.tepid)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (g, next)
    }

    /// See [`crate::PoolDriver::scavenge`].
    pub(crate) fn scavenge(&self) -> Option<Instant> {
        self.scavenge_locked(self.lock(), Instant::now()).1
    }

    /// A driver takes over the scavenging.
    pub(crate) fn attach_driver(&self) {
        self.drivers.fetch_add(1, Ordering::Relaxed);
    }

    /// A driver leaves; the last one hands the work back to the pool's own
    /// thread.
    pub(crate) fn detach_driver(&'static self) {
        if self.drivers.fetch_sub(1, Ordering::Relaxed) == 1 {
            let waiting = {
                let g = self.lock();
                !g.warm.is_empty() || !g.tepid.is_empty()
            };
            if waiting {
                self.start_scavenger();
            }
            self.wake.notify_one();
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let g = self.lock();
        PoolStats {
            carved: g.carved,
            in_use: self
                .allocs
                .load(Ordering::Relaxed)
                .saturating_sub(self.frees.load(Ordering::Relaxed)),
            warm: g.warm.len(),
            tepid: g.tepid.len(),
            cold: g.cold.len(),
            guarded_madvise: g.by_kind[GuardKind::Madvise as usize],
            guarded_mprotect: g.by_kind[GuardKind::Mprotect as usize],
            canary: g.by_kind[GuardKind::Canary as usize],
        }
    }

    /// Moves this thread's cached slots of this pool to the global pool.
    pub(crate) fn flush_thread_cache(&'static self) {
        if let Some(slots) = with_cache(self, std::mem::take) {
            if !slots.is_empty() {
                self.release_global(slots);
            }
        }
    }
}

/// Per-thread caches, one per pool used on this thread.
struct ThreadCache {
    pools: Vec<(&'static PoolInner, Vec<Slot>)>,
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        for (pool, slots) in self.pools.drain(..) {
            if !slots.is_empty() {
                pool.release_global(slots);
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<ThreadCache> = const { RefCell::new(ThreadCache { pools: Vec::new() }) };
}

/// Runs `f` on this thread's cache for `pool`; `None` if the thread is
/// being torn down (its cache already dropped).
///
/// Never inlined: a goroutine spawning in a loop reaches this (`go` →
/// a new G → `Pool::alloc`) and may resume on another thread between two
/// calls; inlined, the compiler could keep the first thread's cache address
/// across the switch and two threads would share one cache.
#[inline(never)]
fn with_cache<R>(pool: &'static PoolInner, f: impl FnOnce(&mut Vec<Slot>) -> R) -> Option<R> {
    CACHE
        .try_with(|c| {
            let mut c = c.borrow_mut();
            let i = match c.pools.iter().position(|(p, _)| std::ptr::eq(*p, pool)) {
                Some(i) => i,
                None => {
                    c.pools
                        .push((pool, Vec::with_capacity(pool.config.thread_cache)));
                    c.pools.len() - 1
                }
            };
            f(&mut c.pools[i].1)
        })
        .ok()
}
