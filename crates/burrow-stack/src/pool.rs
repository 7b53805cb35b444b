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
//! # Batched trims
//!
//! Dropping a slot's pages (`MADV_DONTNEED`) makes the kernel flush the
//! TLB of every CPU that runs one of our threads: an inter-processor
//! interrupt, and a wait for the other CPU to answer, for every slot
//! trimmed. When a burst ends, the pool trims thousands of slots at once
//! (past `pool_bound`, and each decay), and one `madvise` per slot then
//! cost ~10 µs a slot on this VM, most of it in those interrupts. So
//! trims go to the kernel in batches of up to 64 slots, one
//! `process_madvise` call each (as guards do: *Batched guards* in
//! `arena.rs`), in which the kernel gathers the batch's TLB flushes into
//! one (as this box's Linux 6.18 does); ~1 µs a slot. Where the kernel
//! refuses the call, each slot gets its own `madvise`.
//!
//! Allocation takes warm before tepid before cold before a fresh slot,
//! newest first (LIFO: the most recently used pages are most likely cached).
//!
//! # Fresh slots
//!
//! A slot that has never been handed out is *fresh*: carved from an arena
//! and guarded, with no page of its own yet. A burst of new goroutines
//! (a server accepting connections, `spawn_million`) takes nothing but
//! fresh slots, so their cost is the burst's cost. Each costs a guard
//! (a system call) and, when its goroutine first runs, a page fault for its
//! top page. Carving one slot at a time under the global lock would also
//! make every new goroutine take that lock and hold it across the guard's
//! system call, so two threads spawning at once would queue on it and
//! sleep in the kernel (measured: a futex call for every seventh
//! goroutine, and a tenth of the burst's time).
//!
//! So fresh slots are carved in *runs* of [`FRESH_RUN`] consecutive slots:
//! the global lock is taken once per run, only to move the arena's carving
//! cursor; the run's guards are installed after the lock is released, in
//! one `process_madvise` call where the kernel allows it (*Batched guards*
//! in `arena.rs`); the thread keeps the rest of the run beside its cache
//! (`CacheEntry::fresh`) and hands its slots out without any lock. A run is
//! short (16 slots, 4.25 MiB of address space at the default size, no
//! memory but its page-table entries), so a program that starts one
//! goroutine reserves little it does not use. An exiting thread gives its
//! unused run back to the global pool (`Global::runs`), and the next
//! refill takes it before carving more.
//!
//! The top page is left to the first page fault rather than pre-faulted in
//! batches (`MADV_POPULATE_WRITE`): measured here, populating costs the
//! kernel as much per page as the fault it saves (the page's allocation,
//! zeroing and accounting are the cost, not the trap), and a slot whose
//! goroutine never runs would pin a page for nothing.
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

use crate::arena::{ADVISE_BATCH, Arena, Batcher, CANARY, CANARY_BYTES, GuardKind};
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

/// Trims and decommits many slots at once (see *Batched trims*).
static DISCARD_BATCHER: Batcher = Batcher::new(libc::MADV_DONTNEED);

/// Drops the pages of many free slots: all but the top one (`keep_top`,
/// warm → tepid) or all (tepid → cold). See *Batched trims*.
pub(crate) fn discard_all(slots: &[Slot], keep_top: bool) {
    let page = crate::page_size();
    for chunk in slots.chunks(ADVISE_BATCH) {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; ADVISE_BATCH];
        // The slot of each range (a slot with nothing to drop has none).
        let mut of = [0usize; ADVISE_BATCH];
        let mut n = 0;
        for (k, s) in chunk.iter().enumerate() {
            let (low, high) = (s.trim_low(), s.base() - if keep_top { page } else { 0 });
            if high > low {
                iov[n] = libc::iovec {
                    iov_base: low as *mut libc::c_void,
                    iov_len: high - low,
                };
                of[n] = k;
                n += 1;
            }
        }
        // SAFETY: each range lies inside a free slot of our own arena;
        // nobody runs on it, so dropping its pages (they read back as
        // zeros) is unobservable. Guard markers survive MADV_DONTNEED.
        let done = unsafe { DISCARD_BATCHER.advise(&iov[..n]) };
        for &k in &of[done..n] {
            if keep_top {
                chunk[k].trim_to_top();
            } else {
                chunk[k].decommit();
            }
        }
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

/// Slots carved per fresh run (see *Fresh slots*).
pub(crate) const FRESH_RUN: usize = 16;

/// Consecutive fresh slots of one arena, `next..end`, carved and guarded
/// and never handed out (see *Fresh slots*). Held by one thread's cache,
/// or by the global pool once that thread has exited.
#[derive(Clone, Copy)]
struct FreshRun {
    arena: &'static Arena,
    next: usize,
    end: usize,
}

impl FreshRun {
    /// The run's next slot, with the kind its guard got.
    fn pop(&mut self) -> Option<Slot> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        self.next += 1;
        Some(Slot {
            arena: self.arena,
            index: index as u32,
            kind: self.arena.kind(index),
        })
    }

    fn is_empty(&self) -> bool {
        self.next >= self.end
    }
}

/// The shared part of a pool; leaked, so `&'static`.
pub(crate) struct PoolInner {
    pub config: StackConfig,
    slot_size: usize,
    global: Mutex<Global>,
    /// Free slots in the global pool's lists (warm, tepid and cold),
    /// written under `global`'s lock: lets a thread with a fresh run skip
    /// the lock when there is nothing to reuse. Relaxed: a hint; a stale 0
    /// only means one fresh slot is used where a free one could have been.
    free_hint: AtomicUsize,
    /// Slots handed out fresh so far, by the kind of guard they got
    /// (statistics only).
    fresh_by_kind: [AtomicU64; 3],
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
    warm: VecDeque<(Slot, Instant)>,
    tepid: VecDeque<(Slot, Instant)>,
    cold: Vec<Slot>,
    /// Fresh runs given back by exiting threads (see *Fresh slots*).
    runs: Vec<FreshRun>,
}

impl Global {
    /// Free slots in the lists, for [`PoolInner::free_hint`].
    fn free(&self) -> usize {
        self.warm.len() + self.tepid.len() + self.cold.len()
    }

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
    /// Slots carved from arenas and handed out so far: every slot the
    /// pool has ever handed out counts once. (Slots carved ahead in a
    /// thread's fresh run count when they are first handed out.)
    pub carved: u64,
    /// Stacks currently handed out.
    pub in_use: u64,
    /// Free slots in the global pool with their pages resident.
    pub warm: usize,
    /// Free slots trimmed to their top page.
    pub tepid: usize,
    /// Free slots with no resident pages.
    pub cold: usize,
    /// Of the carved slots, those guarded by `MADV_GUARD_INSTALL`.
    pub guarded_madvise: u64,
    /// Of the carved slots, those guarded by `mprotect`.
    pub guarded_mprotect: u64,
    /// Of the carved slots, those with a canary and no guard.
    pub canary: u64,
}

impl PoolInner {
    pub(crate) fn new(config: StackConfig) -> &'static PoolInner {
        let slot_size = config.guard_size + config.usable_size;
        Box::leak(Box::new(PoolInner {
            config,
            slot_size,
            global: Mutex::new(Global::default()),
            free_hint: AtomicUsize::new(0),
            fresh_by_kind: [const { AtomicU64::new(0) }; 3],
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

    /// Hands out a slot: thread cache, then warm, tepid, cold, then a fresh
    /// one (see *Fresh slots*).
    pub(crate) fn alloc(&'static self) -> Result<Slot, StackError> {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        // One visit to the thread's cache: a warm slot, or, when the global
        // lists are (as far as we can tell) empty, the fresh run's next.
        let cached = with_cache(self, |c| {
            if let Some(s) = c.warm.pop() {
                return Some(s);
            }
            if self.free_hint.load(Ordering::Relaxed) > 0 {
                return None;
            }
            c.fresh
                .as_mut()
                .and_then(FreshRun::pop)
                .map(|s| self.count_fresh(s))
        })
        .flatten();
        match cached {
            Some(s) => Ok(s),
            None => self.alloc_slow().inspect_err(|_| {
                self.allocs.fetch_sub(1, Ordering::Relaxed);
            }),
        }
    }

    /// `alloc` past the thread's warm slots: the global lists if they may
    /// hold a slot, else the thread's fresh run, else a new run.
    ///
    /// The fresh run is tried here whatever the hint says now: `alloc`
    /// skipped it because it read a non-zero hint, and another thread may
    /// have taken the last free slot since, so this read can be zero with
    /// the run still holding slots. A new run must only replace an empty
    /// one, or the old run's slots would never be handed out.
    #[inline(never)]
    fn alloc_slow(&'static self) -> Result<Slot, StackError> {
        if self.free_hint.load(Ordering::Relaxed) > 0 {
            let mut g = self.lock();
            let s = g
                .warm
                .pop_back()
                .map(|(s, _)| s)
                .or_else(|| g.tepid.pop_back().map(|(s, _)| s))
                .or_else(|| g.cold.pop());
            self.free_hint.store(g.free(), Ordering::Relaxed);
            drop(g);
            if let Some(s) = s {
                return Ok(s);
            }
        }
        if let Some(s) = with_cache(self, |c| c.fresh.as_mut().and_then(FreshRun::pop)).flatten() {
            return Ok(self.count_fresh(s));
        }
        self.refill().map(|s| self.count_fresh(s))
    }

    /// Counts a fresh slot as it is first handed out.
    fn count_fresh(&self, s: Slot) -> Slot {
        self.fresh_by_kind[s.kind as usize].fetch_add(1, Ordering::Relaxed);
        s
    }

    /// Gets the thread a new fresh run (one given back by an exited thread,
    /// or [`FRESH_RUN`] slots carved and guarded now) and hands out its
    /// first slot. The lock is held only to move the carving cursor.
    fn refill(&'static self) -> Result<Slot, StackError> {
        let mut run = {
            let mut g = self.lock();
            match g.runs.pop() {
                Some(run) => run,
                None => {
                    let run = self.carve_run(&mut g)?;
                    drop(g);
                    run.arena.guard_run(run.next, run.end);
                    run
                }
            }
        };
        let first = run.pop().expect("a fresh run is never empty");
        if !run.is_empty() {
            // The thread's run was empty (that is why we are here); if the
            // thread is exiting, its cache is gone and the run goes back.
            let kept = with_cache(self, |c| {
                debug_assert!(
                    c.fresh.is_none_or(|r| r.is_empty()),
                    "a new fresh run replaces a run that still has slots"
                );
                c.fresh = Some(run);
            });
            if kept.is_none() {
                self.lock().runs.push(run);
            }
        }
        Ok(first)
    }

    /// Reserves the next [`FRESH_RUN`] slots of the current arena (fewer
    /// at its end), reserving a new arena when it is full. Guarding them
    /// is the caller's, after the lock is released.
    fn carve_run(&self, g: &mut Global) -> Result<FreshRun, StackError> {
        let arena = match g.arena {
            Some(a) if g.next < a.slots => a,
            _ => {
                let a = Arena::reserve(self.slot_size, self.config.guard_size)?;
                g.arena = Some(a);
                g.next = 0;
                a
            }
        };
        let next = g.next;
        let end = (next + FRESH_RUN).min(arena.slots);
        g.next = end;
        Ok(FreshRun { arena, next, end })
    }

    /// Takes a slot back: into the thread cache, or the global pool.
    pub(crate) fn release(&'static self, slot: Slot) {
        self.frees.fetch_add(1, Ordering::Relaxed);
        let cap = self.config.thread_cache;
        let spill = with_cache(self, |c| {
            if c.warm.len() < cap {
                c.warm.push(slot);
                None
            } else {
                // Move the older half out with this one, in one lock.
                let mut out: Vec<Slot> = c.warm.drain(..cap / 2).collect();
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
            self.free_hint
                .store(g.free() + over.len(), Ordering::Relaxed);
        }
        discard_all(&over, true);
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
            discard_all(&to_tepid, true);
            discard_all(&to_cold, false);
            g = self.lock();
            let t = Instant::now();
            g.tepid.extend(to_tepid.into_iter().map(|s| (s, t)));
            g.cold.extend(to_cold);
            // An `alloc` meanwhile saw the lists without these slots.
            self.free_hint.store(g.free(), Ordering::Relaxed);
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
        let fresh = |k: GuardKind| self.fresh_by_kind[k as usize].load(Ordering::Relaxed);
        PoolStats {
            carved: self
                .fresh_by_kind
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum(),
            in_use: self
                .allocs
                .load(Ordering::Relaxed)
                .saturating_sub(self.frees.load(Ordering::Relaxed)),
            warm: g.warm.len(),
            tepid: g.tepid.len(),
            cold: g.cold.len(),
            guarded_madvise: fresh(GuardKind::Madvise),
            guarded_mprotect: fresh(GuardKind::Mprotect),
            canary: fresh(GuardKind::Canary),
        }
    }

    /// Moves this thread's cached slots of this pool, and its fresh run, to
    /// the global pool.
    pub(crate) fn flush_thread_cache(&'static self) {
        if let Some(entry) = with_cache(self, std::mem::take) {
            entry.give_back(self);
        }
    }

    /// Keeps a fresh run an exiting thread did not use, for the next
    /// refill.
    fn give_back_run(&self, run: FreshRun) {
        if !run.is_empty() {
            self.lock().runs.push(run);
        }
    }
}

/// One pool's part of a thread's cache.
#[derive(Default)]
struct CacheEntry {
    /// Warm slots this thread freed, at most `thread_cache`.
    warm: Vec<Slot>,
    /// The rest of this thread's fresh run (see *Fresh slots*).
    fresh: Option<FreshRun>,
}

impl CacheEntry {
    /// Gives the warm slots and the fresh run to `pool`'s global part.
    fn give_back(self, pool: &'static PoolInner) {
        if !self.warm.is_empty() {
            pool.release_global(self.warm);
        }
        if let Some(run) = self.fresh {
            pool.give_back_run(run);
        }
    }
}

/// Per-thread caches, one per pool used on this thread.
struct ThreadCache {
    pools: Vec<(&'static PoolInner, CacheEntry)>,
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        for (pool, entry) in self.pools.drain(..) {
            entry.give_back(pool);
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
fn with_cache<R>(pool: &'static PoolInner, f: impl FnOnce(&mut CacheEntry) -> R) -> Option<R> {
    CACHE
        .try_with(|c| {
            let mut c = c.borrow_mut();
            let i = match c.pools.iter().position(|(p, _)| std::ptr::eq(*p, pool)) {
                Some(i) => i,
                None => {
                    c.pools.push((
                        pool,
                        CacheEntry {
                            warm: Vec::with_capacity(pool.config.thread_cache),
                            fresh: None,
                        },
                    ));
                    c.pools.len() - 1
                }
            };
            f(&mut c.pools[i].1)
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use crate::{Pool, StackConfig};

    /// The interleaving that `alloc_slow` must survive: `alloc` read a
    /// non-zero free hint and skipped the thread's fresh run, then another
    /// thread took the last free slot and the hint read zero. The slow
    /// path must hand out the run's next slot, not carve a new run over
    /// a run that still has slots.
    #[test]
    fn slow_path_uses_the_fresh_run_after_the_hint_drops() {
        let pool = Pool::new(StackConfig::default()).expect("default config");
        let inner = pool.inner;
        let first = inner.alloc().expect("first slot");
        let second = inner.alloc_slow().expect("second slot");
        assert!(
            std::ptr::eq(first.arena, second.arena) && second.index == first.index + 1,
            "the slow path carved a new run (slot {}) over the thread's fresh run (next {})",
            second.index,
            first.index + 1
        );
        assert_eq!(pool.stats().carved, 2, "each slot counts once as carved");
        // (`in_use` is not checked: `alloc_slow` alone does not count the
        // allocation, `alloc` does.)
        inner.release(first);
        inner.release(second);
    }
}
