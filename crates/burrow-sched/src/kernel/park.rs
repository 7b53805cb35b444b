//! Park and ready: how a goroutine (or a plain thread) waits for an event,
//! and how any thread wakes it exactly once. Channels, timers, the
//! netpoller and `JoinHandle::join` are built on this.
//!
//! # The protocol
//!
//! ```text
//! let ready = Ready::for_current();   // 1. arm: a handle for my next park
//! waiters.lock().push(ready);         // 2. publish it where the event will find it
//! drop(lock);
//! park(WaitReason::ChanReceive);      // 3. sleep until someone calls ready.ready()
//! ```
//!
//! `ready()` may run at any moment after step 1, on any thread, even before
//! step 3 has switched away; nothing is lost. Each waiter (a G, or a thread
//! outside the runtime) has a *park word*: a generation counter and a
//! two-bit state:
//!
//! | state      | meaning                                                     |
//! |------------|-------------------------------------------------------------|
//! | `IDLE`     | no handle outstanding                                       |
//! | `ARMED`    | a handle for generation `gen` exists; not parked yet        |
//! | `NOTIFIED` | the handle fired before the park; `park` returns at once    |
//! | `PARKED`   | switched away (G) or sleeping (thread); the handle wakes it |
//!
//! `for_current` bumps the generation and sets `ARMED`; a handle fires only
//! if the word still holds its generation, so a stale handle (from an
//! earlier wait, e.g. a timer that lost a race) can never wake a later
//! wait: `ready` returns false. For a G, `ARMED → PARKED` is done by the M
//! *after* the G's context is saved (Go's `park_m`), so the readier that
//! sees `PARKED` may run the G at once on another M.
//!
//! [`LockedPark`] is the cheaper variant for a waiter whose handle is
//! published only under a spin lock it holds (a channel's plain blocking
//! `send`/`recv`): the G switches out still holding the lock and its M
//! releases it after saving the G (Go's `gopark(unlockf, lock)`), so no
//! handle can fire before the G is parked and neither side needs the park
//! word.
//!
//! A readied G goes to the `runnext` slot of the readier's P when the
//! readier is a goroutine of the same runtime (it runs next: Go's
//! `ready(gp, traceskip, next=true)`), else to the global queue; either
//! way an idle P is woken if no M is spinning (`Shared::wakep`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::kernel::g::{GPtr, ParkCommit, Switch, status};
use crate::kernel::m;
use crate::kernel::sched::Shared;

/// Park word state: no handle outstanding.
const IDLE: u64 = 0;
/// Park word state: a handle exists, not parked yet.
const ARMED: u64 = 1;
/// Park word state: the handle fired before the park.
const NOTIFIED: u64 = 2;
/// Park word state: parked; the handle wakes it.
const PARKED: u64 = 3;
/// Low bits of the park word holding the state.
const STATE_MASK: u64 = 3;
/// One generation step (the generation lives above the state bits).
const GEN_ONE: u64 = 4;

/// Why a goroutine is parked (Go's `waitReason`). Each G records it when it
/// parks (`G::wait_reason`), for the goroutine dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u8)]
pub enum WaitReason {
    /// Not specified.
    Other = 0,
    /// In `JoinHandle::join`.
    Join,
    /// Sending on a channel.
    ChanSend,
    /// Receiving from a channel.
    ChanReceive,
    /// In `select`.
    Select,
    /// Sleeping on a timer.
    Sleep,
    /// Waiting for network I/O.
    IoWait,
    /// Acquiring a mutex.
    SyncMutex,
    /// Waiting on a condition variable.
    SyncCond,
    /// Waiting on a wait group.
    WaitGroup,
    /// Read-locking an `RwLock` while a writer holds or waits for it.
    SyncRWMutexRLock,
    /// Write-locking an `RwLock` while readers are inside.
    SyncRWMutexLock,
    /// Acquiring a weighted semaphore.
    Semacquire,
}

impl WaitReason {
    /// All reasons, in discriminant order.
    const ALL: [WaitReason; 13] = [
        WaitReason::Other,
        WaitReason::Join,
        WaitReason::ChanSend,
        WaitReason::ChanReceive,
        WaitReason::Select,
        WaitReason::Sleep,
        WaitReason::IoWait,
        WaitReason::SyncMutex,
        WaitReason::SyncCond,
        WaitReason::WaitGroup,
        WaitReason::SyncRWMutexRLock,
        WaitReason::SyncRWMutexLock,
        WaitReason::Semacquire,
    ];

    /// The reason stored as `G::wait_reason`.
    pub(crate) fn from_u32(v: u32) -> WaitReason {
        Self::ALL
            .get(v as usize)
            .copied()
            .unwrap_or(WaitReason::Other)
    }

    /// Go's spelling, as in a goroutine dump.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Other => "waiting",
            WaitReason::Join => "join",
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::Select => "select",
            WaitReason::Sleep => "sleep",
            WaitReason::IoWait => "IO wait",
            WaitReason::SyncMutex => "sync.Mutex.Lock",
            WaitReason::SyncCond => "sync.Cond.Wait",
            WaitReason::WaitGroup => "sync.WaitGroup.Wait",
            WaitReason::SyncRWMutexRLock => "sync.RWMutex.RLock",
            WaitReason::SyncRWMutexLock => "sync.RWMutex.Lock",
            WaitReason::Semacquire => "semacquire",
        }
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A one-shot handle that wakes one particular wait of one goroutine (or
/// thread). Obtain it with [`Ready::for_current`] before [`park`]; call
/// [`Ready::ready`] from anywhere. Dropping it unused wakes nothing.
pub struct Ready {
    target: Target,
    /// The generation this handle belongs to (state bits clear).
    generation: u64,
}

enum Target {
    /// A goroutine of runtime `rt`.
    G { rt: &'static Shared, g: GPtr },
    /// A goroutine that parks with [`LockedPark::park`] or
    /// [`park_commit`]: by the time anyone can hold this handle, the G is
    /// parked, so `ready` needs no park-word handshake.
    Locked { rt: &'static Shared, g: GPtr },
    /// A thread outside any runtime (or a runtime's own thread outside a
    /// goroutine).
    Thread(Arc<ThreadParker>),
}

impl Ready {
    /// The address of the G it readies (0 for a thread): a prefetch hint
    /// for a timer that will ready it (`prefetch.rs`).
    pub(crate) fn g_addr(&self) -> usize {
        match &self.target {
            Target::G { g, .. } | Target::Locked { g, .. } => g.0.as_ptr() as usize,
            Target::Thread(_) => 0,
        }
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match &self.target {
            Target::G { g, .. } | Target::Locked { g, .. } => {
                format!("goroutine {}", g.g().goid.load(Ordering::Relaxed))
            }
            Target::Thread(_) => "thread".to_string(),
        };
        f.debug_struct("Ready")
            .field("target", &who)
            .field("generation", &(self.generation / GEN_ONE))
            .finish()
    }
}

/// Bumps the generation and arms the word; returns the new generation.
///
/// Only the waiter itself arms its word, so a load and a store suffice
/// (no locked read-modify-write on the hot path). The only other writers
/// are readiers, and each CASes from a word holding *its own* generation:
/// a readier of an older generation that CASes between our load and our
/// store (`ARMED → NOTIFIED` of a handle we abandoned without parking) is
/// overwritten, exactly as if its CAS had come before a read-modify-write
/// here; one that comes after our store fails (the generation moved on).
/// No readier can be in flight for a *finished* wait (`IDLE`): its handle
/// fired and was consumed. `retire` (the other read-modify-write) runs
/// only on a G that no longer runs, never concurrently with its `arm`.
fn arm(word: &AtomicU64) -> u64 {
    // Relaxed: the waiter's own earlier writes to the word are ordered by
    // program order; a readier's CAS that made the word `IDLE` was already
    // acquired by the waiter (park's Acquire load, or the run queue's
    // hand-off of a `PARKED` G). The new generation reaches a readier only
    // inside the handle, which is published through a lock or a Release
    // (the channel lock, the timer heap), so the store needs no ordering
    // of its own.
    let w = word.load(Ordering::Relaxed);
    let generation = (w & !STATE_MASK).wrapping_add(GEN_ONE);
    word.store(generation | ARMED, Ordering::Relaxed);
    generation
}

impl Ready {
    /// A handle for the *next* [`park`] of the current goroutine, or of the
    /// current thread when called outside a goroutine. Any earlier handle
    /// of the same waiter becomes stale.
    #[must_use = "a park with no handle outstanding can never wake"]
    pub fn for_current() -> Ready {
        match m::current_g() {
            Some((rt, g)) => Ready {
                generation: arm(&g.g().park),
                target: Target::G { rt, g },
            },
            None => {
                let p = ThreadParker::current();
                Ready {
                    generation: arm(&p.word),
                    target: Target::Thread(p),
                }
            }
        }
    }

    /// Wakes the wait this handle was made for. Returns true if this call
    /// woke it (or will make its `park` return at once); false if the
    /// handle is stale (the waiter has since armed a newer one).
    pub fn ready(self) -> bool {
        self.ready_with(true, false)
    }

    /// [`Ready::ready`] for a wait the waker knows was long (a sleep's
    /// timer): the goroutine's top frames are likely out of the cache, so
    /// they are prefetched before it is queued (`prefetch.rs`). Not for
    /// every wake: for a goroutine that parked a moment ago (a channel
    /// ping-pong) the prefetches only cost.
    pub(crate) fn ready_cold(self) -> bool {
        self.ready_with(true, true)
    }

    /// [`Ready::ready`] for the M that will look for work on its own P
    /// right after (the netpoller's first goroutine, Go's `findRunnable`
    /// returning the first G of a poll): the goroutine goes to this M's P
    /// as usual, but no idle P is woken for it.
    pub(crate) fn ready_for_this_m(self) -> bool {
        self.ready_with(false, false)
    }

    fn ready_with(self, wakep: bool, cold: bool) -> bool {
        match &self.target {
            Target::G { rt, g } => {
                let word = g.park_word();
                loop {
                    // Acquire: pairs with the M's Release CAS to PARKED, so
                    // the G's saved state is visible before we queue it.
                    let w = word.load(Ordering::Acquire);
                    if w & !STATE_MASK != self.generation {
                        return false;
                    }
                    let new = match w & STATE_MASK {
                        ARMED => self.generation | NOTIFIED,
                        PARKED => self.generation | IDLE,
                        _ => return false,
                    };
                    // AcqRel: Release publishes the event's effects to the
                    // G (it reads them after waking); Acquire as above.
                    if word
                        .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        if w & STATE_MASK == PARKED {
                            g.g().status.store(status::RUNNABLE, Ordering::Relaxed);
                            if cold {
                                crate::prefetch::range(
                                    g.g().compact.saved_sp(),
                                    crate::prefetch::FRAMES,
                                );
                            }
                            rt.ready_g(*g, wakep);
                        }
                        return true;
                    }
                }
            }
            Target::Locked { rt, g } => {
                // The G switched out before the lock its handle was found
                // under was released (`LockedPark::park`'s commit), and our
                // acquisition of that lock is the Acquire that makes its
                // saved context visible; the run queue hands it on with
                // its own Release/Acquire.
                g.g().status.store(status::RUNNABLE, Ordering::Relaxed);
                rt.ready_g(*g, wakep);
                true
            }
            Target::Thread(p) => p.ready(self.generation),
        }
    }
}

/// A park that releases a spin lock after the goroutine has switched out
/// (Go's `gopark(unlockf, lock)`, as channels use it): the waiter's
/// handle is published only under that lock, so whoever finds it finds a
/// goroutine that is already parked. That saves both locked
/// read-modify-writes of the park word (the readier's and the M's
/// `commit_park`) per blocking channel operation.
#[cfg_attr(loom, allow(dead_code))] // channels park through loom's `Notify` there
pub(crate) struct LockedPark {
    g: GPtr,
}

#[cfg_attr(loom, allow(dead_code))]
impl LockedPark {
    /// For the current goroutine: its wake handle and its park. None on a
    /// plain thread (which uses [`Ready::for_current`] and [`park`]).
    ///
    /// # Safety
    ///
    /// The caller must publish the returned [`Ready`] only under one spin
    /// lock it holds, must not release that lock itself, and must call
    /// [`LockedPark::park`] with that lock's flag; nothing may call the
    /// `Ready` before then (it would queue a running goroutine).
    pub(crate) unsafe fn for_current() -> Option<(Ready, LockedPark)> {
        let (rt, g) = m::current_g()?;
        Some((
            Ready {
                target: Target::Locked { rt, g },
                generation: 0,
            },
            LockedPark { g },
        ))
    }

    /// The parking goroutine, for the waiter records that point into its
    /// stack (see `compact.rs`).
    pub(crate) fn owner(&self) -> crate::kernel::compact::StackOwner {
        crate::kernel::compact::StackOwner::of(self.g)
    }

    /// Parks the goroutine; its M releases the lock (stores false to
    /// `locked`, Release) once the goroutine's context is saved. Returns
    /// when the handle's `ready` ran.
    ///
    /// # Safety
    ///
    /// `locked` is the flag of the spin lock the caller holds (and
    /// forgot its guard of), and the `Ready` of [`LockedPark::for_current`]
    /// was published only under it.
    pub(crate) unsafe fn park(self, reason: WaitReason, locked: &std::sync::atomic::AtomicBool) {
        self.g
            .g()
            .wait_reason
            .store(reason as u32, Ordering::Relaxed);
        // SAFETY: `unlock_after_park` runs once on our M after the switch;
        // `locked` is the flag of a lock inside the channel our frame
        // borrows, alive until we resume (which needs that unlock first).
        let commit =
            unsafe { ParkCommit::new(unlock_after_park, std::ptr::from_ref(locked).cast()) };
        m::switch_g_to_scheduler(self.g, Switch::Park(commit));
    }
}

#[cfg_attr(loom, allow(dead_code))]
/// [`LockedPark`]'s commit (Go's `chanparkcommit`): marks the G waiting and
/// releases the spin lock whose flag `locked` is.
///
/// # Safety
///
/// `locked` points to the `AtomicBool` of a spin lock held (and
/// forgotten) by the goroutine `g`, which has just switched out.
unsafe fn unlock_after_park(g: GPtr, locked: *const ()) -> bool {
    g.g().set_waiting();
    // Release: publishes the G's saved context and status to whoever takes
    // the lock next, the only thread that can find and ready it. From this
    // store on we must not touch `g`.
    // SAFETY: the caller's promise: the flag outlives the park.
    unsafe { (*locked.cast::<std::sync::atomic::AtomicBool>()).store(false, Ordering::Release) };
    true
}

/// Parks the current goroutine and, once it has switched out, calls
/// `commit` on its M with the handle that wakes it (Go's
/// `gopark(unlockf, lock)` for a caller-defined `unlockf`). `commit`
/// publishes the handle where the event will find it and returns true, or
/// returns false (dropping the handle unused) when the goroutine must not
/// stay parked: it then resumes at once. Returns when woken (or at once
/// after a false commit).
///
/// Whoever takes the handle from where `commit` put it finds a goroutine
/// that is already parked, so [`Ready::ready`] on it only queues it. The
/// netpoller's park (`netpoll.rs`) is the user: its commit stores the
/// handle in a descriptor slot.
///
/// `commit` runs on the M, on the M's stack; it must not block, and once
/// it has published the handle it must not touch anything the goroutine
/// may free when it runs again (it may already be running on another M).
/// What it captures is moved onto the M's stack before it is called, so
/// owned captures (an `Arc`) stay valid to its end.
///
/// # Panics
///
/// Outside a goroutine.
pub(crate) fn park_commit<F>(reason: WaitReason, commit: F)
where
    F: FnOnce(Ready) -> bool,
{
    let (_, g) = m::current_g().expect("park_commit outside a goroutine");
    let mut slot = Some(commit);
    // SAFETY: `run_commit::<F>` runs once on our M after the switch; `slot`
    // lives in this frame, which cannot be left before the commit ran (we
    // resume only after it, or after a `ready` it published).
    let pc = unsafe {
        ParkCommit::new(
            run_commit::<F>,
            std::ptr::from_mut(&mut slot).cast::<()>().cast_const(),
        )
    };
    g.g().wait_reason.store(reason as u32, Ordering::Relaxed);
    m::switch_g_to_scheduler(g, Switch::Park(pc));
}

/// [`park_commit`]'s commit: takes the closure out of the parked frame
/// (onto the M's stack) and calls it with the goroutine's handle.
///
/// # Safety
///
/// `slot` points to the `Option<F>` in `park_commit`'s frame of the
/// goroutine `g`, which has just switched out and has not been readied.
unsafe fn run_commit<F: FnOnce(Ready) -> bool>(g: GPtr, slot: *const ()) -> bool {
    // SAFETY: the caller's promise; nothing else touches the slot until the
    // goroutine resumes, which needs the handle we are about to hand out.
    let f = unsafe { (*slot.cast::<Option<F>>().cast_mut()).take() }.expect("commit runs once");
    let rt = m::with_m(|m| m.map(|m| m.rt)).expect("a commit runs on an M");
    g.g().set_waiting();
    f(Ready {
        target: Target::Locked { rt, g },
        generation: 0,
    })
}

/// Parks the current goroutine until the [`Ready`] most recently made by
/// [`Ready::for_current`] fires; returns at once if it already has. On a
/// thread outside any goroutine, parks the thread the same way.
///
/// # Panics
///
/// If no `Ready` is outstanding: the park could never end.
pub fn park(reason: WaitReason) {
    match m::current_g() {
        Some((_, g)) => {
            // Acquire: pairs with the readier's Release CAS to NOTIFIED in
            // `Ready::ready`, so what it published before firing is visible.
            let w = g.g().park.load(Ordering::Acquire);
            match w & STATE_MASK {
                NOTIFIED => {
                    // Fired already; consume it. Only we move out of
                    // NOTIFIED, so a plain store is enough.
                    g.g().park.store(w & !STATE_MASK, Ordering::Relaxed);
                    return;
                }
                ARMED => {}
                _ => panic!("park() without an outstanding Ready: it could never wake"),
            }
            g.g().wait_reason.store(reason as u32, Ordering::Relaxed);
            // SAFETY: `commit_park` takes no argument and may run on any M.
            let commit = unsafe { ParkCommit::new(commit_park, std::ptr::null()) };
            m::switch_g_to_scheduler(g, Switch::Park(commit));
        }
        None => ThreadParker::current().park(),
    }
}

/// [`park`]'s commit, run by the M after the G switched out: moves the
/// park word `ARMED → PARKED`. Returns false (and consumes the
/// notification) if the handle already fired: the G must run again.
///
/// After a true return the caller must not touch the G: its readier may
/// already be running it elsewhere.
///
/// # Safety
///
/// `g` has just switched out with this commit; `_arg` is unused.
unsafe fn commit_park(g: GPtr, _arg: *const ()) -> bool {
    let word = &g.g().park;
    g.g().set_waiting();
    // Relaxed load; the CAS below carries the ordering.
    let w = word.load(Ordering::Relaxed);
    if w & STATE_MASK == ARMED
        // AcqRel: Release publishes the G's saved context to the readier's
        // Acquire; Acquire pairs with a readier's CAS if it raced us.
        && word
            .compare_exchange(w, (w & !STATE_MASK) | PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    {
        return true;
    }
    // NOTIFIED (only a readier moves ARMED → NOTIFIED): consume it.
    // Acquire: pairs with the readier's Release so the G sees its effects.
    let w = word.load(Ordering::Acquire);
    debug_assert_eq!(w & STATE_MASK, NOTIFIED);
    word.store(w & !STATE_MASK, Ordering::Relaxed);
    false
}

/// A thread's park word with a lock and condvar to sleep on.
pub(crate) struct ThreadParker {
    word: AtomicU64,
    lock: Mutex<()>,
    cv: Condvar,
}

impl ThreadParker {
    /// This thread's parker.
    #[inline(never)]
    fn current() -> Arc<ThreadParker> {
        thread_local! {
            static PARKER: Arc<ThreadParker> = Arc::new(ThreadParker {
                word: AtomicU64::new(0),
                lock: Mutex::new(()),
                cv: Condvar::new(),
            });
        }
        PARKER.with(Arc::clone)
    }

    fn park(&self) {
        // Acquire: pairs with a readier's Release CAS.
        let w = self.word.load(Ordering::Acquire);
        match w & STATE_MASK {
            NOTIFIED => {
                self.word.store(w & !STATE_MASK, Ordering::Relaxed);
                return;
            }
            ARMED => {}
            _ => panic!("park() without an outstanding Ready: it could never wake"),
        }
        let mut guard = self.lock.lock().expect("parker lock poisoned");
        // AcqRel: see `commit_park`.
        if self
            .word
            .compare_exchange(
                w,
                (w & !STATE_MASK) | PARKED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // Notified meanwhile. Acquire: pairs with the readier's Release
            // CAS to NOTIFIED in `ready`.
            let w = self.word.load(Ordering::Acquire);
            self.word.store(w & !STATE_MASK, Ordering::Relaxed);
            return;
        }
        // Acquire: pairs with the readier's Release CAS PARKED → IDLE.
        while self.word.load(Ordering::Acquire) & STATE_MASK == PARKED {
            guard = self.cv.wait(guard).expect("parker lock poisoned");
        }
    }

    fn ready(&self, generation: u64) -> bool {
        loop {
            // Acquire: pairs with the parker's Release CAS to PARKED; the CAS
            // below re-checks, so this load only picks the transition.
            let w = self.word.load(Ordering::Acquire);
            if w & !STATE_MASK != generation {
                return false;
            }
            let (new, wake) = match w & STATE_MASK {
                ARMED => (generation | NOTIFIED, false),
                PARKED => (generation | IDLE, true),
                _ => return false,
            };
            // AcqRel: Release publishes the event to the woken thread;
            // Acquire pairs with its CAS to PARKED.
            if self
                .word
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if wake {
                    // Taking the lock orders our notify after the parker's
                    // wait began (it holds the lock from its CAS to wait).
                    drop(self.lock.lock().expect("parker lock poisoned"));
                    self.cv.notify_one();
                }
                return true;
            }
        }
    }
}

/// Called when a G is recycled: bumps its generation and clears the state,
/// so a handle left over from the finished goroutine can never wake the
/// next goroutine on this G.
///
/// A load and a store, not a read-modify-write (this runs at every
/// goroutine exit, and a locked instruction drains the store buffer of all
/// the goroutine's last writes). The only other writer of a dead G's word
/// is a stale handle of the current generation, and it can only turn
/// `ARMED` into `NOTIFIED` (the G is not parked, so no handle finds
/// `PARKED` and enqueues it): such a CAS landing between our load and
/// store is overwritten, which ends exactly as if it had landed before the
/// load (the handle returned true, and the word holds the next generation,
/// `IDLE`). Handles never change the generation, so ours stays monotonic.
pub(crate) fn retire(g: GPtr) {
    let park = &g.g().park;
    // Acquire: orders after a stale readier's CAS that we read.
    let w = park.load(Ordering::Acquire);
    // Release: publishes the new generation before the G is reused (its
    // next holder takes it through a run-queue or free-list edge).
    park.store((w & !STATE_MASK).wrapping_add(GEN_ONE), Ordering::Release);
}
