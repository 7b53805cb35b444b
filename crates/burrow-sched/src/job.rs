//! A goroutine's job and its join slot: the closure to run, where its result
//! goes, [`JoinHandle`] and [`Panic`].
//!
//! One allocation per goroutine holds both the closure and the slot for its
//! result (`Task`). The G holds a [`JobRef`] until it runs the job; the
//! [`JoinHandle`] holds the same task to read the result.
//!
//! # Panics at the G boundary
//!
//! The job runs under `catch_unwind`. A panic becomes `Err(Panic)` for
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

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::park::{Ready, WaitReason, park};

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

/// Where a goroutine's result goes.
struct Slot<T> {
    /// `WAITER | COMPLETE | DROPPED`, see the module docs.
    state: AtomicU8,
    /// Written once by the runner before `COMPLETE`; read by the joiner (or
    /// by whoever sets `DROPPED` last) after seeing `COMPLETE`.
    value: UnsafeCell<Option<Result<T, Panic>>>,
    /// Written by the joiner before `WAITER`; taken by the runner after
    /// seeing `WAITER`.
    waiter: UnsafeCell<Option<Ready>>,
}

/// The one allocation per goroutine: closure plus slot.
struct Task<F, T> {
    goid: u64,
    abort_on_panic: bool,
    /// Taken once by the runner.
    f: UnsafeCell<Option<F>>,
    slot: Slot<T>,
}

// SAFETY: `f` is touched only by the single runner, `value`/`waiter` follow
// the slot protocol in the module docs (each written by one side and read by
// the other after an AcqRel handshake). F and T cross threads: Send.
unsafe impl<F: Send, T: Send> Sync for Task<F, T> {}
// SAFETY: as above.
unsafe impl<F: Send, T: Send> Send for Task<F, T> {}

/// The runner's view of a task (type-erased).
trait Runnable: Send + Sync {
    /// Runs the closure and completes the slot.
    fn run(&self);
    /// Completes the slot as abandoned if the closure never ran.
    fn abandon(&self);
}

/// The joiner's view of a task.
trait Joinable<T>: Send + Sync {
    fn slot(&self) -> &Slot<T>;
    fn goid(&self) -> u64;
}

impl<F: FnOnce() -> T + Send, T: Send> Runnable for Task<F, T> {
    fn run(&self) {
        // SAFETY: only the runner touches `f`, once.
        let f = unsafe { (*self.f.get()).take() }.expect("a job runs once");
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Panic {
            goid: self.goid,
            kind: PanicKind::Panicked,
            payload,
        });
        if let Err(p) = &result
            && self.abort_on_panic
        {
            eprintln!("fatal: {p} (abort_on_panic is set)");
            std::process::abort();
        }
        self.slot.complete(result);
    }

    fn abandon(&self) {
        // SAFETY: only the runner touches `f`; this is the runner giving up.
        if unsafe { (*self.f.get()).take() }.is_some() {
            self.slot.complete(Err(Panic {
                goid: self.goid,
                kind: PanicKind::Abandoned,
                payload: Box::new("abandoned"),
            }));
        }
    }
}

impl<F: FnOnce() -> T + Send, T: Send> Joinable<T> for Task<F, T> {
    fn slot(&self) -> &Slot<T> {
        &self.slot
    }
    fn goid(&self) -> u64 {
        self.goid
    }
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            state: AtomicU8::new(0),
            value: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        }
    }

    fn complete(&self, result: Result<T, Panic>) {
        // SAFETY: only the runner writes `value`, before COMPLETE.
        unsafe { *self.value.get() = Some(result) };
        // AcqRel: Release publishes `value` to the joiner's Acquire; Acquire
        // pairs with the joiner's Release of WAITER so we see its `waiter`.
        let prev = self.state.fetch_or(COMPLETE, Ordering::AcqRel);
        if prev & WAITER != 0 {
            // SAFETY: the joiner wrote `waiter` before WAITER and will not
            // touch it again.
            let w = unsafe { (*self.waiter.get()).take() };
            if let Some(w) = w {
                w.ready();
            }
        }
        if prev & DROPPED != 0 {
            // Nobody will join: report an unobserved panic.
            // SAFETY: the handle is gone; we are the last to touch `value`.
            report_detached(unsafe { (*self.value.get()).take() });
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

/// The runner's reference to a task, held by a G until it runs it. Dropping
/// it without running completes the join slot as abandoned.
pub(crate) struct JobRef(Option<Arc<dyn Runnable>>);

impl JobRef {
    /// Runs the job on the current goroutine.
    pub(crate) fn run(mut self, _goid: u64) {
        if let Some(t) = self.0.take() {
            t.run();
        }
    }
}

impl Drop for JobRef {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abandon();
        }
    }
}

/// Creates the task for goroutine `goid` running `f`.
pub(crate) fn new_job<F, T>(goid: u64, abort_on_panic: bool, f: F) -> (JobRef, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = Arc::new(Task {
        goid,
        abort_on_panic,
        f: UnsafeCell::new(Some(f)),
        slot: Slot::new(),
    });
    let handle = JoinHandle {
        task: Some(task.clone()),
    };
    (JobRef(Some(task)), handle)
}

/// An owned permission to wait for a goroutine and take its result.
///
/// Dropping it detaches the goroutine: it runs on, and a panic in it is
/// printed (with its goroutine id) instead of returned.
pub struct JoinHandle<T> {
    task: Option<Arc<dyn Joinable<T>>>,
}

impl<T> JoinHandle<T> {
    /// The goroutine's id.
    pub fn id(&self) -> u64 {
        self.task.as_ref().map_or(0, |t| t.goid())
    }

    /// Whether the goroutine has finished (returned or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_some_and(|t| {
            // Acquire: pairs with the Release of COMPLETE.
            t.slot().state.load(Ordering::Acquire) & COMPLETE != 0
        })
    }

    /// Waits for the goroutine to finish and returns its result, or its
    /// panic. Inside a goroutine this parks the goroutine; on a plain
    /// thread it parks the thread.
    ///
    /// If the runtime shut down before the goroutine started, returns an
    /// `Err` whose [`Panic::is_abandoned`] is true. A goroutine abandoned
    /// in the middle of running never finishes (see `Runtime::run`); joining
    /// it waits forever, as it would in Go after `main` returned.
    pub fn join(mut self) -> Result<T, Panic> {
        let task = self.task.take().expect("join consumes the handle");
        let slot = task.slot();
        // Acquire: pairs with the Release of COMPLETE, making `value` ours.
        if slot.state.load(Ordering::Acquire) & COMPLETE == 0 {
            let ready = Ready::for_current();
            // SAFETY: only the joiner writes `waiter`, before WAITER.
            unsafe { *slot.waiter.get() = Some(ready) };
            // AcqRel: Release publishes `waiter` to the runner; Acquire
            // pairs with its Release of COMPLETE when it came first.
            let prev = slot.state.fetch_or(WAITER, Ordering::AcqRel);
            if prev & COMPLETE == 0 {
                park(WaitReason::Join);
            } else {
                // The runner will not look at `waiter`; take ours back.
                // SAFETY: the runner saw no WAITER bit, so it never reads it.
                drop(unsafe { (*slot.waiter.get()).take() });
            }
        }
        // Acquire: pairs with the runner's Release of COMPLETE (it happened
        // before our wake-up, but say so to the memory model too).
        let st = slot.state.load(Ordering::Acquire);
        assert!(
            st & COMPLETE != 0,
            "join woke before the goroutine finished"
        );
        // SAFETY: COMPLETE is set; the runner no longer touches `value`.
        unsafe { (*slot.value.get()).take() }.expect("a completed slot holds its result")
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            let slot = task.slot();
            // AcqRel: Release so the runner's later Acquire sees we are
            // gone; Acquire pairs with its Release of COMPLETE.
            let prev = slot.state.fetch_or(DROPPED, Ordering::AcqRel);
            if prev & COMPLETE != 0 {
                // SAFETY: COMPLETE is set and the handle is ours: the runner
                // no longer touches `value`.
                report_detached(unsafe { (*slot.value.get()).take() });
            }
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
