//! A goroutine's task and its join slot: the closure to run, where its
//! result goes, [`JoinHandle`] and [`Panic`].
//!
//! One allocation per goroutine holds the closure and the slot for its
//! result (`Task`). `go` makes it; a run queue carries it as a
//! [`TaskRef`] until an M takes it, gives it a G and runs it (see *A
//! goroutine's life* in `g.rs`); the
//! [`JoinHandle`] holds the same task to read the result. Both views are
//! type-erased pointers to one `#[repr(C)]` block: the header (state, id, a
//! vtable for the runner), the result slot (all a `JoinHandle<T>` needs to
//! know), then the closure (known only to the runner, through the vtable).
//!
//! # Where tasks live
//!
//! Tasks come from burrow-alloc (Go's mcache → mcentral → mheap), not from
//! the global allocator, as Go's runtime allocates its own objects from its
//! own heap. A task is often made on one M and freed on another, and a
//! spawn+join loop keeps up to a million of them alive at once (the
//! handles). Under glibc that meant a lock-free per-thread cache defeated
//! by cross-thread frees, fastbin consolidation, and the top of the heap
//! trimmed after each burst and faulted back in on the next: a large part
//! of spawn+join's time went to `malloc`/`free`, much of it in the kernel.
//! burrow-alloc frees across threads with one CAS onto the span's remote
//! list and keeps idle pages for a decay (1 s) before its scavenger returns
//! them (the measured difference is in `docs/scheduler.md`). The mcache is a
//! thread-local and a goroutine may change threads at a park: see
//! [`heap_alloc`] for why that is safe.
//!
//! # Panics at the G boundary
//!
//! The task runs under `catch_unwind`. A panic becomes `Err(Panic)` for
//! `join`. If nobody will join (the handle was dropped, before or after the
//! goroutine finished), the panic is printed with the goroutine id and the
//! other goroutines go on; with `Builder::abort_on_panic(true)` any
//! goroutine panic aborts the process instead, as in Go. Our coroutines are
//! never force-unwound (see `G::destroy`), so the payload caught here is
//! always the goroutine's own panic, never corosensei's forced-unwind
//! marker that would have to be re-thrown.
//!
//! # The slot protocol
//!
//! `state` bits: `WAITER` (a joiner stored its [`Ready`] and will park),
//! `COMPLETE` (the result is written), `DROPPED` (the handle is gone). The
//! runner writes the result and sets `COMPLETE`; the joiner stores its
//! `Ready` and sets `WAITER`; whoever sets its bit second knows the other's
//! write is visible (AcqRel on both) and acts: the runner readies the
//! joiner, or the joiner does not park.
//!
//! Each bit is set once, by one side (a join consumes the handle, so
//! `WAITER` and `DROPPED` are never both set), so setting one is a
//! `fetch_add`: one `lock xadd`, where a `fetch_or` whose old value is
//! used compiles to a `cmpxchg` loop on x86.
//!
//! The same bits say who frees the task; there is no reference count. The
//! joiner frees it after it has seen `COMPLETE` (and, if it parked, after
//! the runner readied it: the runner takes the `Ready` out before calling
//! it and never touches the task again). A dropped handle frees it if
//! `COMPLETE` was already set; otherwise the runner frees it when its
//! `COMPLETE` finds `DROPPED`. `WAITER` and `DROPPED` never meet (a join
//! consumes the handle without dropping it).

use std::alloc::Layout;
use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::kernel::park::{Ready, WaitReason, park};

/// Slot state bit: a joiner's `Ready` is stored.
const WAITER: u8 = 1;
/// Slot state bit: the result is written.
const COMPLETE: u8 = 2;
/// Slot state bit: the `JoinHandle` was dropped.
const DROPPED: u8 = 4;

/// Why a goroutine did not return a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PanicKind {
    /// It panicked.
    Panicked,
    /// The runtime shut down (its main goroutine returned) before it ran.
    Abandoned,
}

/// A goroutine's panic, returned by [`JoinHandle::join`].
pub struct Panic {
    goid: u64,
    kind: PanicKind,
    payload: Box<dyn Any + Send>,
}

impl Panic {
    /// The id of the goroutine that panicked.
    pub fn goroutine_id(&self) -> u64 {
        self.goid
    }

    /// The panic message, if the payload was a `&str` or `String`.
    pub fn message(&self) -> Option<&str> {
        self.payload
            .downcast_ref::<&'static str>()
            .copied()
            .or_else(|| self.payload.downcast_ref::<String>().map(String::as_str))
    }

    /// True if the goroutine never ran because its runtime shut down first.
    pub fn is_abandoned(&self) -> bool {
        self.kind == PanicKind::Abandoned
    }

    /// The payload, to re-raise with `std::panic::resume_unwind`.
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        self.payload
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panic")
            .field("goroutine", &self.goid)
            .field("abandoned", &self.is_abandoned())
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PanicKind::Abandoned => write!(
                f,
                "goroutine {} was abandoned: its runtime shut down before it ran",
                self.goid
            ),
            PanicKind::Panicked => match self.message() {
                Some(m) => write!(f, "goroutine {} panicked: {m}", self.goid),
                None => write!(f, "goroutine {} panicked (non-string payload)", self.goid),
            },
        }
    }
}

impl std::error::Error for Panic {}

/// The part of a task every view shares (`#[repr(C)]`: it is the first
/// field of [`Head`], which is the first field of [`Task`], so a pointer to
/// any of them is a pointer to all three).
#[repr(C)]
struct Header {
    /// `WAITER | COMPLETE | DROPPED`, see *The slot protocol*.
    state: AtomicU8,
    /// Abort the process instead of reporting a panic (`Builder`).
    abort_on_panic: bool,
    /// The goroutine's id, for `JoinHandle::id` and panic reports.
    goid: u64,
    /// Where `go` was called, for the goroutine dump.
    spawn_site: &'static Location<'static>,
    /// How the runner (who knows `F`) runs or abandons the closure.
    vtable: &'static VTable,
}

/// The runner's type-erased operations on a [`Task`].
struct VTable {
    /// Runs the closure and completes the slot.
    run: unsafe fn(NonNull<Header>),
    /// Drops the closure unrun and completes the slot as abandoned.
    abandon: unsafe fn(NonNull<Header>),
}

/// The [`VTable`] of `Task<F, T>`, as a constant so `&` of it is `'static`.
struct VTableOf<F, T>(PhantomData<(F, T)>);

impl<F: FnOnce() -> T, T> VTableOf<F, T> {
    const VTABLE: VTable = VTable {
        run: run_task::<F, T>,
        abandon: abandon_task::<F, T>,
    };
}

/// What a [`JoinHandle<T>`] sees of a task: the header and the result slot
/// (not the closure, whose type it does not know).
#[repr(C)]
struct Head<T> {
    header: Header,
    /// Written once by the runner before `COMPLETE`; read by the joiner (or
    /// by whoever sets `DROPPED` last) after seeing `COMPLETE`.
    value: UnsafeCell<Option<Result<T, Panic>>>,
    /// Written by the joiner before `WAITER`; taken by the runner after
    /// seeing `WAITER`.
    waiter: UnsafeCell<Option<Ready>>,
}

/// The one allocation per goroutine: header, result slot, closure.
#[repr(C)]
struct Task<F, T> {
    head: Head<T>,
    /// Taken (or dropped, if abandoned) once by the runner, before it sets
    /// `COMPLETE`; dead afterwards.
    f: UnsafeCell<ManuallyDrop<F>>,
}

/// Allocates a task from burrow-alloc (see *Where tasks live*).
fn alloc_task<F, T>(task: Task<F, T>) -> NonNull<Header> {
    let layout = Layout::new::<Task<F, T>>();
    let p = heap_alloc(layout).cast::<Task<F, T>>();
    let Some(p) = NonNull::new(p) else {
        std::alloc::handle_alloc_error(layout)
    };
    // SAFETY: `p` is a fresh block of `Task<F, T>`'s size and alignment.
    unsafe { p.as_ptr().write(task) };
    p.cast()
}

/// Frees a task whose closure is gone (taken or dropped) and whose last
/// owner (see *The slot protocol*) is the caller.
///
/// # Safety
///
/// `head` came from [`alloc_task`] with this `T`, its closure was taken or
/// dropped, and nobody touches it again.
unsafe fn free_task<T>(head: NonNull<Head<T>>) {
    // SAFETY: the caller's promises: we own the task; the closure (the only
    // other field with a destructor) is already gone, and `Head<T>` is its
    // prefix (`repr(C)`).
    unsafe {
        std::ptr::drop_in_place(head.as_ptr());
        heap_free(head.as_ptr().cast());
    }
}

/// `burrow_alloc::allocate` for a task. burrow-alloc's mcache is a
/// thread-local and a goroutine may resume on another M after any park:
/// inlined into a caller that parks (a `join` in a loop), a thread-local
/// address computed on the old thread could be reused after the switch,
/// and two threads would share one mcache (seen: a crash in skynet, in
/// release builds). burrow-alloc therefore looks its mcache up in a
/// non-inlined function (`mcache()` in its `mcache.rs`), the rule
/// `m::with_m` follows here; `tests/skynet_tasks.rs` (in a release build)
/// catches a regression.
#[inline]
fn heap_alloc(layout: Layout) -> *mut u8 {
    burrow_alloc::allocate(layout.size(), layout.align())
}

/// `burrow_alloc::deallocate` (see [`heap_alloc`]).
///
/// # Safety
///
/// `p` came from [`heap_alloc`] and is freed once.
#[inline]
unsafe fn heap_free(p: *mut u8) {
    // SAFETY: forwarded to the caller.
    unsafe { burrow_alloc::deallocate(p) }
}

/// The runner's side of a task: runs the closure.
///
/// # Safety
///
/// `h` is a live `Task<F, T>` whose closure is still there, run once.
unsafe fn run_task<F: FnOnce() -> T, T>(h: NonNull<Header>) {
    let task = h.cast::<Task<F, T>>();
    // SAFETY: only the runner touches `f`, once (caller's promise).
    let f = unsafe { ManuallyDrop::take(&mut *(*task.as_ptr()).f.get()) };
    let result = catch_unwind(AssertUnwindSafe(f));
    // SAFETY: the task is live until we complete it.
    let header = unsafe { h.as_ref() };
    let result = result.map_err(|payload| Panic {
        goid: header.goid,
        kind: PanicKind::Panicked,
        payload,
    });
    if let Err(p) = &result
        && header.abort_on_panic
    {
        eprintln!("fatal: {p} (abort_on_panic is set)");
        std::process::abort();
    }
    // SAFETY: the closure is gone; we are the runner, completing once.
    unsafe { complete::<T>(h.cast(), result) };
}

/// The runner's side of a task that will never run: drops the closure.
///
/// # Safety
///
/// As [`run_task`].
unsafe fn abandon_task<F, T>(h: NonNull<Header>) {
    let task = h.cast::<Task<F, T>>();
    // SAFETY: only the runner touches `f`, once (caller's promise).
    unsafe { ManuallyDrop::drop(&mut *(*task.as_ptr()).f.get()) };
    // SAFETY: live until completed.
    let goid = unsafe { h.as_ref() }.goid;
    let abandoned = Panic {
        goid,
        kind: PanicKind::Abandoned,
        payload: Box::new("abandoned"),
    };
    // SAFETY: the closure is gone; we are the runner, completing once.
    unsafe { complete::<T>(h.cast(), Err(abandoned)) };
}

/// Writes the result and hands it to the joiner (see *The slot protocol*).
/// Frees the task if the handle is gone; never touches it after the
/// `COMPLETE` bit otherwise (the joiner may free it at once).
///
/// # Safety
///
/// The runner calls this once, after taking or dropping the closure.
unsafe fn complete<T>(head: NonNull<Head<T>>, result: Result<T, Panic>) {
    // SAFETY: live until COMPLETE is published (the joiner frees it only
    // after seeing COMPLETE, the runner only below).
    let h = unsafe { head.as_ref() };
    // SAFETY: only the runner writes `value`, before COMPLETE.
    unsafe { *h.value.get() = Some(result) };
    // AcqRel: Release publishes `value` to the joiner's Acquire; Acquire
    // pairs with the joiner's Release of WAITER (so we see its `waiter`) or
    // of DROPPED.
    let prev = h.header.state.fetch_add(COMPLETE, Ordering::AcqRel);
    debug_assert_eq!(prev & COMPLETE, 0, "a task completes once");
    if prev & WAITER != 0 {
        // SAFETY: the joiner wrote `waiter` before WAITER and is parked (or
        // parking) until we ready it: the task is alive until then.
        let w = unsafe { (*h.waiter.get()).take() };
        if let Some(w) = w {
            w.ready();
        }
    } else if prev & DROPPED != 0 {
        // Nobody will join: free the task (we are its last owner), then
        // report an unobserved panic and drop the value. Freeing first and
        // dropping under `catch_unwind` means a panicking destructor of `T`
        // (or of a panic payload) neither leaks the task nor unwinds out
        // of the goroutine's loop into its M.
        // SAFETY: the handle is gone; we are the last to touch the task.
        let value = unsafe {
            let v = (*h.value.get()).take();
            free_task(head);
            v
        };
        if catch_unwind(AssertUnwindSafe(|| report_detached(value))).is_err() {
            eprintln!(
                "a destructor panicked while dropping the result of a detached goroutine; \
                 the other goroutines go on"
            );
        }
    }
}

fn report_detached<T>(value: Option<Result<T, Panic>>) {
    if let Some(Err(p)) = value
        && p.kind == PanicKind::Panicked
    {
        eprintln!("{p} (its JoinHandle was dropped; the other goroutines go on)");
    }
}

/// The runner's reference to a task, held by a run queue (as a
/// [`crate::kernel::g::Runnable::Task`]) and then by the G that runs it. Dropping it
/// without running completes the join slot as abandoned.
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: the task's closure is `Send` (checked by `new_task`); the runner
// side may run it on any thread.
unsafe impl Send for TaskRef {}

impl TaskRef {
    /// Runs the task on the current goroutine.
    pub(crate) fn run(self) {
        let h = self.0;
        std::mem::forget(self);
        // SAFETY: a TaskRef is the runner's unique reference; it runs once
        // (we forgot `self`, so `Drop` will not abandon it).
        unsafe { (h.as_ref().vtable.run)(h) }
    }

    fn header(&self) -> &Header {
        // SAFETY: the task lives until completed, which only the holder of
        // this reference does (by `run` or `Drop`).
        unsafe { self.0.as_ref() }
    }

    /// The goroutine id given by `go`.
    pub(crate) fn goid(&self) -> u64 {
        self.header().goid
    }

    /// Where `go` was called.
    pub(crate) fn spawn_site(&self) -> &'static Location<'static> {
        self.header().spawn_site
    }

    /// The reference as a pointer (at least 8-aligned), for a run queue.
    pub(crate) fn into_raw(self) -> NonNull<()> {
        let p = self.0.cast();
        std::mem::forget(self);
        p
    }

    /// The reference back from [`TaskRef::into_raw`].
    ///
    /// # Safety
    ///
    /// `p` came from `into_raw` and is converted back once.
    pub(crate) unsafe fn from_raw(p: NonNull<()>) -> TaskRef {
        TaskRef(p.cast())
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: a TaskRef dropped unrun is the runner giving up, once.
        unsafe { (self.0.as_ref().vtable.abandon)(self.0) }
    }
}

/// Creates the task for goroutine `goid` running `f`, spawned at `site`.
pub(crate) fn new_task<F, T>(
    goid: u64,
    abort_on_panic: bool,
    site: &'static Location<'static>,
    f: F,
) -> (TaskRef, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let h = alloc_task::<F, T>(Task {
        head: Head {
            header: Header {
                state: AtomicU8::new(0),
                abort_on_panic,
                goid,
                spawn_site: site,
                vtable: &VTableOf::<F, T>::VTABLE,
            },
            value: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        },
        f: UnsafeCell::new(ManuallyDrop::new(f)),
    });
    let handle = JoinHandle {
        head: h.cast(),
        _result: PhantomData,
    };
    (TaskRef(h), handle)
}

/// An owned permission to wait for a goroutine and take its result.
///
/// Dropping it detaches the goroutine: it runs on, and a panic in it is
/// printed (with its goroutine id) instead of returned.
pub struct JoinHandle<T> {
    /// The task; the handle owns it jointly with the runner (see *The slot
    /// protocol*).
    head: NonNull<Head<T>>,
    _result: PhantomData<T>,
}

// SAFETY: the handle only takes a `T` out (after the runner's Release) and
// stores a `Ready` (Send); moving it to another thread moves that right.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the id and the atomic state.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    fn head(&self) -> &Head<T> {
        // SAFETY: the task lives at least as long as the handle (the runner
        // frees it only after the handle set DROPPED).
        unsafe { self.head.as_ref() }
    }

    /// The goroutine's id.
    pub fn id(&self) -> u64 {
        self.head().header.goid
    }

    /// Whether the goroutine has finished (returned or panicked).
    pub fn is_finished(&self) -> bool {
        // Acquire: pairs with the Release of COMPLETE.
        self.head().header.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// Waits for the goroutine to finish and returns its result, or its
    /// panic. Inside a goroutine this parks the goroutine; on a plain
    /// thread it parks the thread.
    ///
    /// If the runtime shut down before the goroutine started, returns an
    /// `Err` whose [`Panic::is_abandoned`] is true. A goroutine abandoned
    /// in the middle of running never finishes (see `Runtime::run`); joining
    /// it waits forever, as it would in Go after `main` returned.
    pub fn join(self) -> Result<T, Panic> {
        let head = self.head;
        // The handle's Drop (DROPPED) must not run: joining is the other
        // way to give the task up.
        std::mem::forget(self);
        // SAFETY: as in `head()`; the runner frees the task only after
        // DROPPED, which we never set.
        let h = unsafe { head.as_ref() };
        // Acquire: pairs with the Release of COMPLETE, making `value` ours.
        if h.header.state.load(Ordering::Acquire) & COMPLETE == 0 {
            let ready = Ready::for_current();
            // SAFETY: only the joiner writes `waiter`, before WAITER.
            unsafe { *h.waiter.get() = Some(ready) };
            // AcqRel: Release publishes `waiter` to the runner; Acquire
            // pairs with its Release of COMPLETE when it came first.
            let prev = h.header.state.fetch_add(WAITER, Ordering::AcqRel);
            debug_assert_eq!(prev & (WAITER | DROPPED), 0, "one join per task");
            if prev & COMPLETE == 0 {
                park(WaitReason::Join);
            } else {
                // The runner will not look at `waiter`; take ours back.
                // SAFETY: the runner saw no WAITER bit, so it never reads it.
                drop(unsafe { (*h.waiter.get()).take() });
            }
        }
        // Acquire: pairs with the runner's Release of COMPLETE (it happened
        // before our wake-up, but say so to the memory model too).
        let st = h.header.state.load(Ordering::Acquire);
        assert!(
            st & COMPLETE != 0,
            "join woke before the goroutine finished"
        );
        // SAFETY: COMPLETE is set; the runner no longer touches `value`.
        let result = unsafe { (*h.value.get()).take() };
        // SAFETY: COMPLETE is set and the runner readied us (or saw no
        // WAITER) before we got here: it never touches the task again, and
        // we never set DROPPED, so we are its last owner.
        unsafe { free_task(head) };
        result.expect("a completed slot holds its result")
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let h = self.head();
        // AcqRel: Release so the runner's later Acquire sees we are gone;
        // Acquire pairs with its Release of COMPLETE.
        let prev = h.header.state.fetch_add(DROPPED, Ordering::AcqRel);
        debug_assert_eq!(prev & (WAITER | DROPPED), 0, "one handle per task");
        if prev & COMPLETE != 0 {
            // SAFETY: COMPLETE is set and the handle is ours: the runner no
            // longer touches the task, and we are its last owner. The value
            // leaves the block before it is freed, so a panicking
            // destructor (in the caller's context) cannot leak it.
            let value = unsafe {
                let v = (*h.value.get()).take();
                free_task(self.head);
                v
            };
            report_detached(value);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("goroutine", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
