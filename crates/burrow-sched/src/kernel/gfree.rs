//! The free lists of Gs (Go's `pp.gFree` and `sched.gFree`) and the
//! registry of every G (Go's `allgs`): where a G waits between
//! goroutines, and how idle ones decay. See *A goroutine's life* in
//! `g.rs` for where they fit.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::kernel::g::{G, GPtr, status};

/// Gs a P keeps in its free list before moving half to the global list
/// (Go: 64).
const GFREE_LOCAL_MAX: usize = 64;
/// Gs sysmon destroys per round when it reaps the global free list (see
/// *Idle Gs decay*), so one round stays short beside its other duties.
const GFREE_REAP_CHUNK: usize = 1024;

/// A P's free Gs (Go's `pp.gFree`), the most recently freed (warmest) at
/// the back. Part of the P's core: only its holder touches it.
#[derive(Default)]
pub(crate) struct GFree {
    list: Vec<GPtr>,
}

/// The global free list (Go's `sched.gFree`), for Gs spilled by Ps, and
/// the registry of every G ([`AllGs`]).
///
/// # Idle Gs decay
///
/// Go keeps every G it ever made and frees their stacks at the next
/// garbage collection. We have no collection, and a fixed bound on the
/// list does not fit every program: a burst of a hundred thousand
/// goroutines that sleep and exit while as many new ones start (a server
/// under load, `timers_1m`) frees and needs Gs in waves far larger than
/// any small bound, and each G destroyed at a wave's crest is made again
/// at its trough, at the cost of a stack slot trimmed by `madvise` (a TLB
/// flush on every CPU), a G and a coroutine to set up, and a page fault.
/// So the list is unbounded and idle Gs decay instead, as the stack
/// pool's slots do: sysmon looks at the list once per decay (the stack
/// pool's, default 1 s; [`GFreeGlobal::mark`]), and the Gs that sat at
/// its cold end through the whole period (the fewest it held since the
/// last look: takes are from the warm end) are destroyed, a chunk per
/// sysmon round ([`GFreeGlobal::reap`]). Their stacks then go back to the
/// pool, which trims and decommits them on its own decay.
#[derive(Default)]
pub(crate) struct GFreeGlobal {
    list: std::sync::Mutex<FreeGs>,
    /// `FreeGs::doomed`, written under the lock, read without it: lets
    /// sysmon's rounds skip the lock when there is nothing to reap.
    /// Relaxed: a hint; a stale value only delays a reap by a round.
    doomed_hint: AtomicUsize,
    /// Every G alive, free or not.
    pub(crate) all: AllGs,
}

/// The global free Gs, the coldest at the front.
#[derive(Default)]
struct FreeGs {
    gs: std::collections::VecDeque<GPtr>,
    /// The fewest Gs `gs` held since sysmon's last look: that many at the
    /// front were not touched since.
    low: usize,
    /// Gs at the front that sysmon found idle for a whole decay and has
    /// yet to destroy.
    doomed: usize,
}

impl FreeGs {
    /// Keeps `low` and `doomed` within the list after a take.
    fn taken(&mut self) {
        self.low = self.low.min(self.gs.len());
        self.doomed = self.doomed.min(self.gs.len());
    }
}

/// Every G of a runtime (Go's `allgs`), for the goroutine dump: a G is
/// added when it is allocated and removed when it is destroyed, both
/// under this lock, so a G seen under it is alive until the lock is
/// released. Each G keeps its index for an O(1) removal.
#[derive(Default)]
pub(crate) struct AllGs {
    list: std::sync::Mutex<Vec<GPtr>>,
}

impl AllGs {
    pub(crate) fn add(&self, g: GPtr) {
        let mut list = self.list.lock().expect("allgs lock poisoned");
        g.g().allg_index.store(list.len(), Ordering::Relaxed);
        list.push(g);
    }

    pub(crate) fn remove(&self, g: GPtr) {
        let mut list = self.list.lock().expect("allgs lock poisoned");
        let i = g.g().allg_index.load(Ordering::Relaxed);
        debug_assert!(
            list.get(i) == Some(&g),
            "a G is removed from its own registry"
        );
        list.swap_remove(i);
        if let Some(moved) = list.get(i) {
            moved.g().allg_index.store(i, Ordering::Relaxed);
        }
    }

    /// Calls `f` on the Gs from index `start`, at most `n` of them, under
    /// the lock (no G is destroyed meanwhile); returns where the next
    /// chunk starts, or None after the last. The lock is not held between
    /// chunks, so a G moved by a removal meanwhile may be skipped or seen
    /// twice: for sweeps that come round again.
    pub(crate) fn with_chunk(
        &self,
        start: usize,
        n: usize,
        f: impl FnOnce(&[GPtr]),
    ) -> Option<usize> {
        let list = self.list.lock().expect("allgs lock poisoned");
        let end = start.saturating_add(n).min(list.len());
        f(list.get(start..end).unwrap_or(&[]));
        (end < list.len()).then_some(end)
    }

    /// Calls `f` on every G, under the lock (no G is destroyed meanwhile).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&G)) {
        let list = self.list.lock().expect("allgs lock poisoned");
        for g in list.iter() {
            f(g.g());
        }
    }
}

impl GFree {
    /// Go's `gfget`: the warmest free G, refilled from `global` when
    /// empty, or a new G on a stack from `pool`.
    pub(crate) fn get(
        &mut self,
        global: &GFreeGlobal,
        pool: burrow_stack::Pool,
    ) -> Result<GPtr, burrow_stack::StackError> {
        if let Some(g) = self.list.pop() {
            // Its frames, and the next free G, are likely cold
            // (`prefetch.rs`).
            crate::prefetch::range(g.g().compact.saved_sp(), crate::prefetch::FRAMES);
            if let Some(next) = self.list.last() {
                crate::prefetch::line(next.0.as_ptr() as usize);
            }
            return Ok(g);
        }
        {
            let mut gl = global.lock();
            let n = gl.gs.len().min(GFREE_LOCAL_MAX / 2);
            let at = gl.gs.len() - n;
            self.list.extend(gl.gs.drain(at..));
            gl.taken();
            global.doomed_hint.store(gl.doomed, Ordering::Relaxed);
        }
        // Spilled by another P: cold here (`prefetch.rs`).
        for g in &self.list {
            crate::prefetch::line(g.0.as_ptr() as usize);
        }
        match self.list.pop() {
            Some(g) => Ok(g),
            None => G::allocate(pool, &global.all),
        }
    }

    /// Go's `gfput`: recycles `g`, whose task has finished, spilling the
    /// coldest half of a full list to `global` (which keeps every G until
    /// it decays: see *Idle Gs decay*).
    pub(crate) fn put(&mut self, global: &GFreeGlobal, g: GPtr) {
        g.g().goid.store(0, Ordering::Relaxed);
        g.g().status.store(status::IDLE, Ordering::Relaxed);
        crate::kernel::park::retire(g);
        self.list.push(g);
        if self.list.len() >= GFREE_LOCAL_MAX {
            // Spill the front half: the back is what ran here last, with
            // the stacks warmest in this core's cache.
            global
                .lock()
                .gs
                .extend(self.list.drain(..GFREE_LOCAL_MAX / 2));
        }
    }

    /// Takes every G (shutdown).
    pub(crate) fn drain(&mut self) -> Vec<GPtr> {
        std::mem::take(&mut self.list)
    }
}

impl GFreeGlobal {
    fn lock(&self) -> std::sync::MutexGuard<'_, FreeGs> {
        self.list.lock().expect("gfree lock poisoned")
    }

    /// sysmon's look once per decay (see *Idle Gs decay*): the Gs at the
    /// cold end that no take reached since the last look are doomed.
    pub(crate) fn mark(&self) {
        let mut gl = self.lock();
        gl.doomed = gl.doomed.max(gl.low);
        gl.low = gl.gs.len();
        self.doomed_hint.store(gl.doomed, Ordering::Relaxed);
        // Give back bookkeeping left over from a burst.
        let (len, cap) = (gl.gs.len(), gl.gs.capacity());
        if cap > 1024 && len * 4 < cap {
            gl.gs.shrink_to((len * 2).max(256));
        }
    }

    /// Destroys up to [`GFREE_REAP_CHUNK`] doomed Gs; true if it did any
    /// (sysmon then comes back soon for the rest).
    pub(crate) fn reap(&self) -> bool {
        if self.doomed_hint.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let doomed: Vec<GPtr> = {
            let mut gl = self.lock();
            let n = gl.doomed.min(GFREE_REAP_CHUNK);
            gl.doomed -= n;
            gl.low = gl.low.saturating_sub(n);
            self.doomed_hint.store(gl.doomed, Ordering::Relaxed);
            gl.gs.drain(..n).collect()
        };
        let any = !doomed.is_empty();
        for g in doomed {
            // SAFETY: a free G is held by its list alone; we took it out
            // and drop our only pointer to it.
            unsafe { G::destroy(g, &self.all) };
        }
        any
    }

    /// Takes every G (shutdown).
    pub(crate) fn drain(&self) -> Vec<GPtr> {
        let mut gl = self.lock();
        gl.doomed = 0;
        gl.low = 0;
        self.doomed_hint.store(0, Ordering::Relaxed);
        gl.gs.drain(..).collect()
    }
}
