//! G: a goroutine. Its state constants, its coroutine on a burrow-stack
//! stack, and a goroutine's whole life on it: what a run queue holds,
//! how a task gets its G, the free lists, retire and destroy.
//!
//! # A goroutine's life
//!
//! 1. `go` makes a *task* (`task.rs`: the closure, its join slot, id and
//!    spawn site) and queues it as [`Runnable::Task`]: no G, no stack yet.
//! 2. The M that takes it from a run queue gives it a G ([`bind`]): the
//!    one its P freed last ([`GFree::get`]), whose stack is the warmest in
//!    this core's cache, or one from the global free list, or a new one.
//!    So goroutines that run back to back on a P all run on one stack,
//!    and a stolen goroutine runs on a stack of the thief's core (see
//!    *Warm stacks* below).
//! 3. The G runs the task. When it parks or yields it is queued again as
//!    [`Runnable::G`]: a started goroutine never changes G, its frames are
//!    on its stack.
//! 4. When the task returns the M retires the G (a new park generation,
//!    so no stale [`crate::Ready`] can wake its next goroutine) and puts
//!    it back on its P's free list ([`GFree::put`]).
//! 5. Gs idle on the global free list for a decay (*Idle Gs decay* in
//!    `gfree.rs`), and
//!    all of them at shutdown, are destroyed ([`G::destroy`]): their
//!    coroutines and stacks released, their structs kept for reuse (*G
//!    structs are never freed*).
//!
//! # Warm stacks
//!
//! A goroutine that uses its stack (`deepstack_32k` writes 32 KiB) pays
//! for every line of it not in its core's cache, so which G it runs on
//! matters more than anything else it does. Binding at spawn time would
//! give a spawning loop with eight children queued eight stacks (which do
//! not fit in a 48 KiB L1) although the children run one after another,
//! and a stolen child a stack warm in the spawner's core. Binding when the
//! goroutine first runs, to the G its P freed last (the free list is a
//! stack: last in, first out), gives each core one hot stack. The test
//! `goroutines_run_back_to_back_share_the_warm_stack` (`tests/api.rs`)
//! checks it. The coldest Gs (the front of the list) are the ones that
//! spill to the global list.
//!
//! # One coroutine per G, reused
//!
//! A G's coroutine does not run one closure and return: it runs a loop,
//! "take the job, run it, switch back with [`Switch::Exit`]", so a G and its
//! stack, once created, serve goroutine after goroutine without being
//! re-initialised (Go's `gfput`/`gfget` keep the G and its stack; we also
//! keep the coroutine's initial frames). Resuming a G with no job makes the
//! loop return, which is how a G is destroyed cleanly.
//!
//! # Who touches a G
//!
//! The atomic fields (`status`, `park`, `goid`) are read by anyone. The rest
//! (`GInner`) belongs to whoever *holds* the G: the M running it (and the
//! goroutine's own code, which runs on that M), or the run queue / free
//! list / [`crate::Ready`] that holds it while it is not running. Handing a
//! G over always goes through a Release/Acquire edge (a run queue publish,
//! the park word's CAS, a lock), so the next holder sees the last one's
//! writes.

use std::cell::UnsafeCell;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use corosensei::stack::StackPointer;
use corosensei::{Coroutine, Yielder};

use crate::kernel::compact::{COUNTERS, Compaction, sp_margin};
pub(crate) use crate::kernel::gfree::{AllGs, GFree, GFreeGlobal};
use crate::kernel::local::LocalSlots;
use crate::kernel::runq::RunItem;
use crate::kernel::task::TaskRef;

/// Goroutine states (Go's `_Grunnable`...). Stored in [`G::status`].
pub(crate) mod status {
    /// In a free list, no goroutine on it.
    pub(crate) const IDLE: u32 = 0;
    /// In a run queue (or about to be put in one).
    pub(crate) const RUNNABLE: u32 = 1;
    /// Running on an M.
    pub(crate) const RUNNING: u32 = 2;
    /// Parked, waiting for its [`crate::Ready`].
    pub(crate) const WAITING: u32 = 3;
    /// In a blocking call with its M, its P parked for sysmon to hand off
    /// (`syscall.rs`).
    pub(crate) const SYSCALL: u32 = 4;
    /// Finished; about to go to a free list.
    pub(crate) const DEAD: u32 = 5;
}

/// What a goroutine asks of its M when it switches back to the scheduler.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Switch {
    /// `yield_now`: put me at the tail of the local queue.
    Yield,
    /// Park me: once my context is saved, run this commit on the M (Go's
    /// `gopark(unlockf, lock)`). See [`ParkCommit`].
    Park(ParkCommit),
    /// Back from a blocking call and no P to be had: put me on the global
    /// queue; the M, which holds no P, goes to sleep (`syscall.rs`).
    Reacquire,
    /// The task finished: recycle me.
    Exit,
}

/// The second half of a park, run by the M after the parking goroutine's
/// context is saved (Go's `unlockf` in `gopark(unlockf, lock)`): it
/// publishes that the G is parked to whoever may wake it, so nobody can
/// resume the G before it has switched out. It returns whether the G stays
/// parked; false means "already woken, run it again at once".
///
/// Two commits exist: the park word's (`park::park`: `ARMED → PARKED`,
/// false if the handle fired first) and a spin lock's release
/// (`park::LockedPark`, channels: the waker finds the G only under that
/// lock; always true). A third runs a caller's closure
/// (`park::park_commit`): the netpoller's, which stores the handle in a
/// descriptor slot.
/// After a true return the M must not touch the G: its waker may already
/// be running it on another M.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParkCommit {
    f: unsafe fn(GPtr, *const ()) -> bool,
    arg: *const (),
}

impl ParkCommit {
    /// A commit that calls `f(g, arg)`.
    ///
    /// # Safety
    ///
    /// `f(g, arg)` must be safe to call on the parking goroutine's M, once,
    /// after its switch, with `arg` still valid then (it usually points
    /// into the parked goroutine's frame, alive until it resumes).
    pub(crate) const unsafe fn new(f: unsafe fn(GPtr, *const ()) -> bool, arg: *const ()) -> Self {
        ParkCommit { f, arg }
    }

    /// Runs the commit for `g`, which just switched out with it.
    pub(crate) fn commit(self, g: GPtr) -> bool {
        // SAFETY: the constructor's contract; the M calls this once, right
        // after the goroutine switched out with `Switch::Park(self)`.
        unsafe { (self.f)(g, self.arg) }
    }
}

/// A goroutine stack: a burrow-stack [`burrow_stack::Stack`] boxed so that
/// its address stays put while the coroutine (which owns it) moves between
/// a G and its M. The G keeps a pointer to it to name its owner and check a
/// canary stack after each switch.
pub(crate) struct GStack(pub(crate) Box<burrow_stack::Stack>);

// SAFETY: delegates to burrow_stack::Stack's implementation, whose
// guarantees (base/limit bounds, alignment, ownership of the memory) hold
// unchanged through the Box.
unsafe impl corosensei::stack::Stack for GStack {
    fn base(&self) -> StackPointer {
        corosensei::stack::Stack::base(&*self.0)
    }
    fn limit(&self) -> StackPointer {
        corosensei::stack::Stack::limit(&*self.0)
    }
}

/// The coroutine type every G runs on.
pub(crate) type GCoroutine = Coroutine<(), Switch, (), GStack>;

/// A pointer to a G. Gs are heap-allocated once and then recycled; a
/// `GPtr` is a plain pointer and owning one is a matter of protocol (see the
/// module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GPtr(pub(crate) NonNull<G>);

// SAFETY: Gs are handed between threads by protocol (see the module docs);
// the pointer itself is just an address.
unsafe impl Send for GPtr {}

impl GPtr {
    /// The G's park word, without a reference to the whole G: what a
    /// `Ready` reads, possibly after the G was destroyed and while it is
    /// being made anew (*G structs are never freed*).
    pub(crate) fn park_word(&self) -> &AtomicU64 {
        // SAFETY: G structs are never freed, and `park` is an atomic that
        // `G::reinit` never writes.
        unsafe { &*std::ptr::addr_of!((*self.0.as_ptr()).park) }
    }

    /// The G.
    pub(crate) fn g(&self) -> &G {
        // SAFETY: G structs are never freed (*G structs are never freed*);
        // a GPtr's holder, by protocol, holds a live G, and anyone else
        // touches only its atomics.
        unsafe { self.0.as_ref() }
    }
}

/// Owner-held part of a G (see *Who touches a G*).
pub(crate) struct GInner {
    /// The coroutine, while the G is not running. The M takes it out to
    /// resume it, so that no `&mut` to it overlaps the goroutine's own
    /// accesses to the other fields.
    pub(crate) co: Option<GCoroutine>,
    /// The task to run next on this G (set by [`bind`]).
    pub(crate) task: Option<TaskRef>,
    /// Whether the task has started and not finished: the coroutine is then
    /// suspended inside user code, and must never be dropped (see
    /// `G::destroy`).
    pub(crate) in_task: bool,
    /// Set once when the coroutine starts; valid while it lives.
    pub(crate) yielder: *const Yielder<(), Switch>,
    /// Goroutine-local values, indexed by key id (see `local.rs`).
    pub(crate) locals: LocalSlots,
    /// The timer of the last sleep on this G, for the next one to reuse
    /// (*A sleep's timer* in `timer/mod.rs`).
    sleep_timer: Option<std::sync::Arc<crate::timer::TimerInner>>,
}

/// A goroutine (Go's `g`).
pub(crate) struct G {
    /// One of [`status`]. Written by the G's holder; read by anyone (the
    /// goroutine dump).
    pub(crate) status: AtomicU32,
    /// [`crate::WaitReason`] as u8, while waiting. Written by the G
    /// before it parks; read by anyone (the goroutine dump).
    pub(crate) wait_reason: AtomicU32,
    /// The park word: generation and park state (see `park.rs`).
    pub(crate) park: AtomicU64,
    /// Goroutine id of the current goroutine on this G (0 while idle).
    pub(crate) goid: AtomicU64,
    /// Stack compaction's cell (`compact.rs`); its epoch also tells one
    /// wait from the next.
    pub(crate) compact: Compaction,
    /// The wait [`G::note_wait`] last saw (`epoch << 1 | 1`; 0: none) and
    /// when it first saw it (runtime clock): how long the goroutine has
    /// waited, to the sweep's precision, as Go's `gp.waitsince`.
    wait_key: AtomicU64,
    wait_since: AtomicU64,
    /// Where the current goroutine was spawned (a `&'static Location`).
    /// Written by [`bind`]; read by anyone (the goroutine dump).
    spawn_site: AtomicPtr<Location<'static>>,
    /// This G's index in [`AllGs`]; read and written under its lock only.
    pub(crate) allg_index: AtomicUsize,
    /// The stack, owned by the coroutine in `inner.co`.
    stack: NonNull<burrow_stack::Stack>,
    /// See *Who touches a G*.
    inner: UnsafeCell<GInner>,
}

// SAFETY: see *Who touches a G*: the non-atomic part is accessed only by
// the G's current holder, and holders change through happens-before edges.
// The coroutine is not `Send` because its stack may hold non-`Send` values;
// goroutine closures are `Send + 'static`, and the thread-local contract
// (DESIGN.md §3, docs in lib.rs) covers what they do with thread-locals.
unsafe impl Send for G {}
// SAFETY: shared access is only to the atomics; see above.
unsafe impl Sync for G {}

impl G {
    /// A new G with a fresh coroutine on a stack from `pool`, registered
    /// in `all`.
    pub(crate) fn allocate(
        pool: burrow_stack::Pool,
        all: &AllGs,
    ) -> Result<GPtr, burrow_stack::StackError> {
        let stack = Box::new(pool.alloc()?);
        let stack_ptr = NonNull::from(&*stack);
        let g = G {
            goid: AtomicU64::new(0),
            status: AtomicU32::new(status::IDLE),
            park: AtomicU64::new(0),
            wait_reason: AtomicU32::new(0),
            compact: Compaction::new(),
            wait_key: AtomicU64::new(0),
            wait_since: AtomicU64::new(0),
            spawn_site: AtomicPtr::new(std::ptr::from_ref(Location::caller()).cast_mut()),
            allg_index: AtomicUsize::new(usize::MAX),
            stack: stack_ptr,
            inner: UnsafeCell::new(GInner {
                co: None,
                task: None,
                in_task: false,
                yielder: std::ptr::null(),
                locals: LocalSlots::default(),
                sleep_timer: None,
            }),
        };
        let husk = HUSKS.lock().expect("husk lock poisoned").pop();
        let gp = match husk {
            // SAFETY: a husk is held by nobody but its list, which we took
            // it from; a stale `Ready` may still load its park word, which
            // `reinit` leaves alone (see *G structs are never freed*).
            Some(gp) => unsafe { G::reinit(gp, g) },
            None => GPtr(NonNull::from(Box::leak(Box::new(g)))),
        };
        let co = Coroutine::with_stack(GStack(stack), move |yielder, ()| g_loop(gp, yielder));
        // SAFETY: we just created the G; nobody else holds it.
        unsafe { gp.g().inner().co = Some(co) };
        all.add(gp);
        Ok(gp)
    }

    /// Marks the G waiting; every park's commit calls it, on the M the G
    /// has just switched out of.
    pub(crate) fn set_waiting(&self) {
        // A new epoch names this park (and publishes the stack to the
        // compactor: see `Compaction::parked`).
        self.compact.parked();
        self.status.store(status::WAITING, Ordering::Relaxed);
    }

    /// If the G is waiting, when it was first seen in this wait (runtime
    /// clock): `now` if this is the first look. sysmon looks every
    /// `WAIT_SWEEP` and the dump at each call, so a wait's start is known
    /// to that precision (Go stamps `waitsince` at garbage collections).
    /// Two lookers racing store nearly the same time; either is right.
    pub(crate) fn note_wait(&self, now: u64) -> Option<u64> {
        if self.status.load(Ordering::Relaxed) != status::WAITING {
            return None;
        }
        // Relaxed throughout: a statistic, and a torn pair only misdates
        // one wait by a sweep.
        let key = (u64::from(self.compact.epoch()) << 1) | 1;
        if self.wait_key.load(Ordering::Relaxed) != key {
            self.wait_since.store(now, Ordering::Relaxed);
            self.wait_key.store(key, Ordering::Relaxed);
            return Some(now);
        }
        Some(self.wait_since.load(Ordering::Relaxed))
    }

    /// The usable part of this G's stack, `[bottom, top)`.
    pub(crate) fn stack_range(&self) -> (usize, usize) {
        // SAFETY: callers reach the G through `AllGs::for_each`, under the
        // registry's lock; `destroy` removes a G from the registry (under
        // that lock) before it drops the coroutine that owns the stack, so
        // the stack is alive for the whole call. `Stack` is only read.
        let s = unsafe { self.stack.as_ref() };
        (s.bottom() as usize, s.top() as usize)
    }

    /// Where the goroutine on this G was spawned.
    pub(crate) fn spawn_site(&self) -> &'static Location<'static> {
        let p = self.spawn_site.load(Ordering::Relaxed);
        // SAFETY: only ever set from a `&'static Location` (`allocate`,
        // `bind`).
        unsafe { &*p }
    }

    /// The owner-held part.
    ///
    /// # Safety
    ///
    /// The caller must hold the G (see *Who touches a G*) and must not keep
    /// two results of this alive at once.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn inner(&self) -> &mut GInner {
        // SAFETY: forwarded to the caller.
        unsafe { &mut *self.inner.get() }
    }

    /// Calls `f` with this G's cached sleep timer (*A sleep's timer* in
    /// `timer/mod.rs`). For the goroutine running on this G only.
    pub(crate) fn with_sleep_timer<R>(
        &self,
        f: impl FnOnce(&mut Option<std::sync::Arc<crate::timer::TimerInner>>) -> R,
    ) -> R {
        // SAFETY: the running goroutine's M holds its G, and the goroutine
        // runs on that M; `f` (a timer push) does not reach `inner` again.
        f(unsafe { &mut self.inner().sleep_timer })
    }

    /// The stack this G runs on.
    pub(crate) fn stack(&self) -> &burrow_stack::Stack {
        // SAFETY: the stack is boxed inside the coroutine, which lives as
        // long as the G (it is only dropped in `destroy`, with the G).
        unsafe { self.stack.as_ref() }
    }

    /// The range of the stack that compaction saves for a goroutine that
    /// switched out with stack pointer `sp`: from `sp` less the switch's
    /// margin to the top.
    fn saved_range(&self, sp: usize) -> (usize, usize) {
        let (bottom, top) = (self.stack().bottom() as usize, self.stack().top() as usize);
        (sp.saturating_sub(sp_margin()).max(bottom), top)
    }

    /// Compaction's copy-out (sysmon's sweep, between `Compaction::begin`
    /// and `finish`): copies the used part of the parked goroutine's stack
    /// into a buffer from burrow-alloc; the caller then releases the
    /// stack's pages. None (nothing done) if `sp` is not in this stack or
    /// the buffer cannot be had.
    pub(crate) fn copy_out_stack(&self, sp: usize) -> Option<*mut u8> {
        let (low, top) = self.saved_range(sp);
        if sp < low || sp >= top {
            return None;
        }
        let buf = burrow_alloc::allocate(top - low, 16);
        if buf.is_null() {
            return None;
        }
        // SAFETY: `[low, top)` is inside this G's stack, which nobody runs
        // on or touches while the compactor holds it `COMPACTING` (see
        // *The protocol* in `compact.rs`); `buf` is a fresh allocation of
        // that many bytes.
        unsafe { std::ptr::copy_nonoverlapping(low as *const u8, buf, top - low) };
        COUNTERS.compacted(top - low);
        Some(buf)
    }

    /// Compaction's restore (a light party, `Compaction::make_resident`):
    /// copies the saved bytes back to the addresses they came from and
    /// frees the buffer.
    pub(crate) fn restore_stack(&self, sp: usize, buf: *mut u8) {
        let (low, top) = self.saved_range(sp);
        // SAFETY: `buf` holds `top - low` bytes copied from `[low, top)` by
        // `copy_out_stack` (same `sp`: the goroutine has not run since), and
        // the restorer holds the stack `RESTORING`, so nobody else touches
        // it; the pages fault back in as the copy writes them.
        unsafe {
            std::ptr::copy_nonoverlapping(buf, low as *mut u8, top - low);
            burrow_alloc::deallocate(buf);
        }
        COUNTERS.restored(top - low);
    }

    /// Destroys a G that no one else holds: releases what it owns and
    /// keeps its struct as a husk (*G structs are never freed*). If it is
    /// suspended in the middle of a goroutine (abandoned at shutdown) its
    /// coroutine and stack are leaked, never dropped: dropping would
    /// force-unwind user frames outside the runtime, and freeing the stack
    /// could leave pointers into it (a pinned waiter node) dangling.
    /// Otherwise its coroutine finishes its loop and the stack returns to
    /// the pool.
    ///
    /// # Safety
    ///
    /// The caller must hold the G and no other `GPtr` to it may be used
    /// again; `all` is the registry it was allocated in.
    pub(crate) unsafe fn destroy(gp: GPtr, all: &AllGs) {
        all.remove(gp);
        // SAFETY: we hold the G (caller's promise).
        let inner = unsafe { gp.g().inner() };
        // A task that never started is dropped here: its JoinHandle learns
        // that the goroutine was abandoned.
        drop(inner.task.take());
        let co = inner.co.take();
        let in_task = inner.in_task;
        if let Some(mut co) = co {
            if in_task {
                // A compacted stack's buffer is not needed any more either.
                if let Some((sp, buf)) = gp.g().compact.take_saved() {
                    let (low, top) = gp.g().saved_range(sp);
                    // SAFETY: the buffer came from burrow-alloc in
                    // `copy_out_stack` and nobody else holds it (we hold the
                    // G and it will never run again).
                    unsafe { burrow_alloc::deallocate(buf) };
                    COUNTERS.dropped(top - low);
                }
                std::mem::forget(co);
            } else {
                if co.started() {
                    // No task: the loop returns.
                    let r = co.resume(());
                    debug_assert!(matches!(r, corosensei::CoroutineResult::Return(())));
                }
                drop(co);
            }
        }
        // What else the G owns goes now; the struct itself is kept (see
        // *G structs are never freed*).
        drop(std::mem::take(&mut inner.locals));
        inner.sleep_timer = None;
        // A new generation: no `Ready` made before now can match the next
        // goroutine on this struct.
        crate::kernel::park::retire(gp);
        HUSKS.lock().expect("husk lock poisoned").push(gp);
    }

    /// Makes husk `gp` the G `g` describes, but for its park word, which
    /// keeps counting generations, so that a `Ready` made for any earlier
    /// goroutine on it stays stale.
    ///
    /// # Safety
    ///
    /// `gp` is a husk (destroyed, out of every list and registry) that the
    /// caller took from [`HUSKS`]: nobody else holds it, and the only
    /// access anyone else may still make is a stale `Ready`'s load (or
    /// failing CAS) of the park word.
    unsafe fn reinit(gp: GPtr, g: G) -> GPtr {
        let p = gp.0.as_ptr();
        let G {
            status,
            wait_reason,
            park: _,
            goid,
            compact,
            wait_key,
            wait_since,
            spawn_site,
            allg_index,
            stack,
            inner,
        } = g;
        // SAFETY: every field but `park` is ours alone (caller's promise);
        // the old values own nothing (`destroy` emptied `inner`), so
        // overwriting without dropping them leaks nothing.
        unsafe {
            std::ptr::addr_of_mut!((*p).status).write(status);
            std::ptr::addr_of_mut!((*p).wait_reason).write(wait_reason);
            std::ptr::addr_of_mut!((*p).goid).write(goid);
            std::ptr::addr_of_mut!((*p).compact).write(compact);
            std::ptr::addr_of_mut!((*p).wait_key).write(wait_key);
            std::ptr::addr_of_mut!((*p).wait_since).write(wait_since);
            std::ptr::addr_of_mut!((*p).spawn_site).write(spawn_site);
            std::ptr::addr_of_mut!((*p).allg_index).write(allg_index);
            std::ptr::addr_of_mut!((*p).stack).write(stack);
            std::ptr::addr_of_mut!((*p).inner).write(inner);
        }
        gp
    }
}

/// G structs whose goroutine machinery [`G::destroy`] has released.
///
/// # G structs are never freed
///
/// A [`crate::Ready`] holds a pointer to its goroutine's G and may outlive
/// the wait it was made for (a waker that lost a race, a handle a program
/// kept): readying it then must find its generation stale and do nothing,
/// which means reading the G's park word. So the struct (184 bytes) is
/// never given back to the allocator: destroying a G releases its
/// coroutine, stack and everything it owns, and keeps the struct here,
/// process-wide, for the next new G of any runtime, whose park word goes
/// on counting generations from where it was. Go never frees a G struct
/// either (`allgs`).
static HUSKS: std::sync::Mutex<Vec<GPtr>> = std::sync::Mutex::new(Vec::new());

/// The body of every G's coroutine.
fn g_loop(gp: GPtr, yielder: &Yielder<(), Switch>) {
    let g = gp.g();
    // SAFETY: the coroutine runs only while its M holds the G; the M does
    // not touch `inner` during the resume (it took `co` out first).
    unsafe { g.inner().yielder = yielder };
    loop {
        // SAFETY: as above.
        let task = unsafe { g.inner().task.take() };
        let Some(task) = task else { return };
        // SAFETY: as above.
        unsafe { g.inner().in_task = true };
        task.run();
        // Goroutine-locals die with the goroutine, in its context.
        // (A destructor may create a local again: repeat until empty.)
        loop {
            // SAFETY: as above.
            let locals = std::mem::take(unsafe { &mut g.inner().locals });
            if locals.is_empty() {
                break;
            }
            drop(locals);
        }
        // SAFETY: as above.
        unsafe { g.inner().in_task = false };
        // Noting where the stack ends lets the next taker of this G
        // prefetch the frames it resumes in (`GFree::get`).
        crate::kernel::m::suspend_noting_sp(&g.compact, yielder, Switch::Exit);
    }
}

/// What a run queue holds: a goroutine that has run (its G, parked or
/// yielded mid-task) or one that has not (its task, with no G yet). See
/// *A goroutine's life*.
pub(crate) enum Runnable {
    /// A started goroutine, resumed where it switched out.
    G(GPtr),
    /// An unstarted goroutine; [`bind`] gives it a G when it first runs.
    Task(TaskRef),
}

/// The low pointer bit that marks a [`Runnable::Task`] in a run queue slot
/// (Gs and task headers are at least 8-aligned).
const TASK_TAG: usize = 1;

// SAFETY: a G pointer (aligned, bit 0 clear) and a task pointer (aligned,
// stored with bit 0 set) never collide, and `from_raw` undoes `into_raw`
// exactly; each conversion moves the one reference there is.
unsafe impl RunItem for Runnable {
    fn into_raw(self) -> NonNull<()> {
        match self {
            Runnable::G(g) => g.0.cast(),
            Runnable::Task(t) => t.into_raw().map_addr(|a| a | TASK_TAG),
        }
    }

    unsafe fn from_raw(p: NonNull<()>) -> Runnable {
        if p.addr().get() & TASK_TAG != 0 {
            // SAFETY: tagged by `into_raw` from a task reference, once
            // (the caller's promise); the tag comes off here.
            let raw = p.map_addr(|a| {
                std::num::NonZeroUsize::new(a.get() & !TASK_TAG).expect("a task is never at 0")
            });
            // SAFETY: as above.
            Runnable::Task(unsafe { TaskRef::from_raw(raw) })
        } else {
            Runnable::G(GPtr(p.cast()))
        }
    }
}

/// Puts `task` on `g`, a G from a free list (or new), so that resuming `g`
/// runs it. See *A goroutine's life*.
pub(crate) fn bind(g: GPtr, task: TaskRef) {
    let goid = task.goid();
    g.g().goid.store(goid, Ordering::Relaxed);
    g.g().stack().set_owner(goid);
    // SAFETY: a G from a free list (or new) is held by its taker alone.
    let inner = unsafe { g.g().inner() };
    g.g().spawn_site.store(
        std::ptr::from_ref(task.spawn_site()).cast_mut(),
        Ordering::Relaxed,
    );
    inner.task = Some(task);
    g.g().status.store(status::RUNNABLE, Ordering::Relaxed);
}
