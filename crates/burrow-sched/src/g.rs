//! G: a goroutine. Its state constants, its coroutine on a burrow-stack
//! stack, and how Gs are created, reused and destroyed.
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
use std::sync::atomic::{AtomicU32, AtomicU64};

use corosensei::stack::StackPointer;
use corosensei::{Coroutine, Yielder};

use crate::job::JobRef;
use crate::local::LocalSlots;

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
    /// In a blocking call with its M (reserved for the blocking-call
    /// hand-off; nothing sets it yet).
    #[allow(dead_code)]
    pub(crate) const SYSCALL: u32 = 4;
    /// Finished; about to go to a free list.
    pub(crate) const DEAD: u32 = 5;
}

/// [`G::last_p`] of a G that has never run.
pub(crate) const NO_P: u32 = u32::MAX;

/// What a goroutine asks of its M when it switches back to the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Switch {
    /// `yield_now`: put me at the tail of the local queue.
    Yield,
    /// `park`: park me unless my [`crate::Ready`] already fired.
    Park,
    /// Go's `gopark` with an unlock function (`chanparkcommit`): park me,
    /// then, once my context is saved, release the spin lock whose flag
    /// this is (`Release` store of false). Whoever may wake me finds my
    /// handle only under that lock, so nobody can ready me before I am
    /// parked: no park-word handshake is needed (see
    /// `park::LockedPark`).
    // Under loom the channels park through loom's `Notify` instead.
    #[cfg_attr(loom, allow(dead_code))]
    ParkUnlock(*const std::sync::atomic::AtomicBool),
    /// The job finished: recycle me.
    Exit,
}

/// A goroutine stack: a burrow-stack [`burrow_stack::Stack`] boxed so that
/// its address stays put while the coroutine (which owns it) moves between
/// a G and its M. The G keeps a pointer to it to name its owner and check a
/// canary stack after each switch.
pub(crate) struct GStack(Box<burrow_stack::Stack>);

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
    /// The G.
    pub(crate) fn g(&self) -> &G {
        // SAFETY: Gs are freed only by `G::destroy`, which the holder of the
        // last GPtr calls; while a GPtr is in use the G is alive.
        unsafe { self.0.as_ref() }
    }
}

/// Owner-held part of a G (see *Who touches a G*).
pub(crate) struct GInner {
    /// The coroutine, while the G is not running. The M takes it out to
    /// resume it, so that no `&mut` to it overlaps the goroutine's own
    /// accesses to the other fields.
    pub(crate) co: Option<GCoroutine>,
    /// The goroutine to run next on this G.
    pub(crate) job: Option<JobRef>,
    /// Whether the job has started and not finished: the coroutine is then
    /// suspended inside user code, and must never be dropped (see
    /// `G::destroy`).
    pub(crate) in_job: bool,
    /// Set once when the coroutine starts; valid while it lives.
    pub(crate) yielder: *const Yielder<(), Switch>,
    /// Where the current goroutine was spawned.
    pub(crate) spawn_site: &'static Location<'static>,
    /// Goroutine-local values, indexed by key id (see `local.rs`).
    pub(crate) locals: LocalSlots,
    /// When this G was last freed, on [`G::last_p`]'s free clock
    /// ([`crate::sched::P`]'s `free_tick`); 0 if never. A later stamp on
    /// the same P means a more recently used, warmer stack. See *Warm
    /// stacks* in `sched.rs`.
    pub(crate) freed_at: u64,
}

/// A goroutine (Go's `g`).
pub(crate) struct G {
    /// Goroutine id of the current goroutine on this G (0 while idle).
    pub(crate) goid: AtomicU64,
    /// One of [`status`].
    pub(crate) status: AtomicU32,
    /// The park word: generation and park state (see `park.rs`).
    pub(crate) park: AtomicU64,
    /// [`crate::WaitReason`] as u8, while waiting.
    pub(crate) wait_reason: AtomicU32,
    /// The P that last ran this G (its stack is warm in that P's core's
    /// cache), or [`NO_P`]. Written and read by the G's holder only (an
    /// atomic just to be `Sync`). See *Warm stacks* in `sched.rs`.
    pub(crate) last_p: AtomicU32,
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
    /// A new G with a fresh coroutine on a stack from `pool`.
    pub(crate) fn allocate(pool: burrow_stack::Pool) -> Result<GPtr, burrow_stack::StackError> {
        let stack = Box::new(pool.alloc()?);
        let stack_ptr = NonNull::from(&*stack);
        let g = Box::new(G {
            goid: AtomicU64::new(0),
            status: AtomicU32::new(status::IDLE),
            park: AtomicU64::new(0),
            wait_reason: AtomicU32::new(0),
            last_p: AtomicU32::new(NO_P),
            stack: stack_ptr,
            inner: UnsafeCell::new(GInner {
                co: None,
                job: None,
                in_job: false,
                yielder: std::ptr::null(),
                spawn_site: Location::caller(),
                locals: LocalSlots::default(),
                freed_at: 0,
            }),
        });
        let gp = GPtr(NonNull::from(Box::leak(g)));
        let co = Coroutine::with_stack(GStack(stack), move |yielder, ()| g_loop(gp, yielder));
        // SAFETY: we just created the G; nobody else holds it.
        unsafe { gp.g().inner().co = Some(co) };
        Ok(gp)
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

    /// The stack this G runs on.
    pub(crate) fn stack(&self) -> &burrow_stack::Stack {
        // SAFETY: the stack is boxed inside the coroutine, which lives as
        // long as the G (it is only dropped in `destroy`, with the G).
        unsafe { self.stack.as_ref() }
    }

    /// Frees a G that no one else holds. If it is suspended in the middle
    /// of a goroutine (abandoned at shutdown) its coroutine and stack are
    /// leaked, never dropped: dropping would force-unwind user frames
    /// outside the runtime, and freeing the stack could leave pointers into
    /// it (a pinned waiter node) dangling. Otherwise its coroutine finishes
    /// its loop and the stack returns to the pool.
    ///
    /// # Safety
    ///
    /// The caller must hold the G and no other `GPtr` to it may be used
    /// again.
    pub(crate) unsafe fn destroy(gp: GPtr) {
        // SAFETY: we hold the G (caller's promise).
        let inner = unsafe { gp.g().inner() };
        // A job that never started is dropped here: its JoinHandle learns
        // that the goroutine was abandoned.
        drop(inner.job.take());
        let co = inner.co.take();
        let in_job = inner.in_job;
        if let Some(mut co) = co {
            if in_job {
                std::mem::forget(co);
            } else {
                if co.started() {
                    // No job: the loop returns.
                    let r = co.resume(());
                    debug_assert!(matches!(r, corosensei::CoroutineResult::Return(())));
                }
                drop(co);
            }
        }
        // SAFETY: allocated by Box::leak in `new`; the caller gives up all
        // other pointers.
        drop(unsafe { Box::from_raw(gp.0.as_ptr()) });
    }
}

/// The body of every G's coroutine.
fn g_loop(gp: GPtr, yielder: &Yielder<(), Switch>) {
    let g = gp.g();
    // SAFETY: the coroutine runs only while its M holds the G; the M does
    // not touch `inner` during the resume (it took `co` out first).
    unsafe { g.inner().yielder = yielder };
    loop {
        // SAFETY: as above.
        let job = unsafe { g.inner().job.take() };
        let Some(job) = job else { return };
        // SAFETY: as above.
        unsafe { g.inner().in_job = true };
        job.run();
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
        unsafe { g.inner().in_job = false };
        yielder.suspend(Switch::Exit);
    }
}
