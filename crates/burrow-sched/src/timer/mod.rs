//! Timers: Go's per-P 4-ary timer heaps, run by the scheduler itself, and
//! the internal timer API that channels (`send_timeout`, `recv_timeout`,
//! `after`, `tick`, `select!`'s timeout arm), [`crate::sleep`] and the
//! sync primitives build on.
//!
//! # Contract
//!
//! - [`add_timer`] schedules `f` to run at or after `when`, then every
//!   `period` after that if one is given, until [`del_timer`].
//! - `f` runs on a scheduler thread (an M between goroutines, or a timer
//!   thread), never inside a goroutine, and never while a scheduler lock is
//!   held. It must be short and must not block: it may call
//!   [`crate::Ready::ready`], `try_send` on a channel, or take a
//!   short-held lock.
//! - [`del_timer`] returns true if it removed the timer before its
//!   (next) firing began: then `f` will never run again. It returns false
//!   if a one-shot timer already fired or is firing now. After
//!   `del_timer` returns, a periodic timer fires no more (a firing already
//!   under way may still complete).
//!
//! # The problem
//!
//! A Go program may have a million goroutines asleep in `time.Sleep`, each
//! a timer, plus a timer per `select` timeout and per I/O deadline, most of
//! them deleted before they fire. Adding and deleting must be cheap and
//! must not contend on one lock; firing must be on time without a thread
//! that wakes up for every timer; and an idle program must sleep, not poll.
//!
//! # The design (Go 1.14+, runtime/time.go)
//!
//! - **A 4-ary min-heap per P** ([`PTimers`], in the `P` of
//!   `kernel/p.rs`, heap in `heap.rs`). A timer added by a goroutine goes into the heap of the P
//!   that runs it, so adds from different Ps never share a lock or a cache
//!   line. Each heap has its own lock (Go's `pp.timersLock`) because other
//!   Ms may run its expired timers and any thread may delete.
//! - **`timer0When`** ([`PTimers::next_when`]): the earliest `when` of each
//!   heap, an atomic readable without the lock, so `schedule()` and idle
//!   Ms find the next timer across all Ps in a few loads.
//! - **checkTimers** ([`PTimers::run_expired`]): at the top of every
//!   `find_runnable` the M runs its P's expired timers; a timer that
//!   readies a goroutine puts it in this P's `runnext`. Stealing Ms run the
//!   expired timers of the Ps they steal from (Go's `stealWork`), so a P
//!   busy with a long goroutine does not hold its timers back.
//! - **Lazy deletion** (Go's `timerDeleted`): [`del_timer`] only flips the
//!   timer's state word (`PENDING → DONE`) and drops the callback (and with
//!   it whatever the callback captured); the heap entry stays until it
//!   reaches the top, or until deleted entries exceed a quarter of the heap,
//!   when the owner sweeps them (Go's `clearDeletedTimers`). So deleting is
//!   one CAS and never takes a lock: a `select` whose timeout did not fire
//!   pays almost nothing.
//! - **The idle runtime sleeps until the next timer** (Go: the last idle M
//!   blocks in `netpoll(delay)`): the first M to go idle while timers are
//!   pending becomes the *timer sleeper*: it waits on its note with a
//!   timeout at the earliest timer of all Ps, then runs them. Adding a timer
//!   earlier than the sleeper's deadline kicks it (Go's `wakeNetPoller`);
//!   adding one while no M sleeps on timers wakes an idle P (`wakep`), whose
//!   M will become the sleeper if it finds nothing else to do. See
//!   `idle.rs`.
//! - **A fallback timer thread** (`thread.rs`) serves timers added outside
//!   any runtime (a plain thread's `recv_timeout`), and the timers left in
//!   the heaps of a runtime whose Ms have all exited.
//!
//! # What differs from Go, and why
//!
//! - Go's timer status machine has ten states (`timerModifiedEarlier`,
//!   `timerMoving`...) because `time.Timer.Reset` modifies a timer in place
//!   in another P's heap. Our contract has no modify: a reset is a delete
//!   plus an add, so three states suffice (`PENDING`, `RUNNING`, `DONE`)
//!   and a timer never moves between heaps.
//! - Go's idle M always blocks in epoll with the timer as timeout; ours
//!   does so only while goroutines wait on I/O (the kick then also breaks
//!   the poll, Go's `netpollBreak`). Otherwise the sleeper waits on its
//!   note (a condvar) with a timeout, and a runtime that never touches a
//!   socket has no epoll descriptor.
//! - Go runs timer functions with the P held; our sleeper may run them
//!   without a P when every P is busy (the readied goroutines then go to
//!   the global queue). Go leaves such timers to sysmon.
//! - Entries are `Arc`s holding a boxed callback: two allocations per timer
//!   where Go's `timer` is embedded in the `Timer` or the `sudog`. The
//!   contract (a boxed `FnMut`) fixes this for the timers behind channels
//!   and deadlines; a sleep's timer has neither allocation (below).
//!
//! # A sleep's timer
//!
//! Go's `time.Sleep` uses a timer embedded in the G (`gp.timer`), made
//! once and reset by every sleep. Ours is the same in spirit: a sleep's
//! timer only readies its goroutine, so its callback is
//! [`Callback::Wake`] (no box), and the G keeps the `Arc` of its last
//! sleep's timer; the next sleep reuses it in place when nobody else
//! holds it any more (the firing M dropped its heap entry), and makes a
//! new one only when the last firing is still finishing on another M.
//! A million goroutines that each sleep once (`timers_1m`) then allocate
//! no timer at all once their Gs are warm: the allocations and the frees
//! from the firing M (a cross-thread free for the allocator) were a tenth
//! of that benchmark's time.
//!
//! # Who touches what
//!
//! A heap: any thread, under its P's timer lock. `when0`: written under the
//! lock, read by anyone. A timer's `state`: CAS by whoever fires or deletes
//! it (the winner owns the outcome); its callback: the firing thread, or
//! the deleting thread that won `PENDING → DONE` (which drops it).

pub(crate) mod heap;
mod thread;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

// A timer's own synchronisation is loom-modelled (`loom_timer.rs`); the
// heaps are plain `std` (threads and clocks cannot run inside loom).
use crate::loom::{AtomicBool, AtomicU8, Mutex, Ordering, fence};
use std::time::Duration;

use heap::{Entry, TimerHeap};

use crate::clock::now_nanos;
use crate::kernel::park::Ready;

/// A timer's callback.
pub(crate) type TimerFn = Box<dyn FnMut() + Send>;

/// What a timer runs when it fires. Most timers wake one goroutine
/// ([`crate::sleep`]), which needs no box (see *A sleep's timer*).
pub(crate) enum Callback {
    /// Ready this goroutine (once).
    Wake(Option<Ready>),
    /// Call this.
    Call(TimerFn),
}

impl Callback {
    fn run(&mut self) {
        match self {
            Callback::Wake(r) => {
                if let Some(r) = r.take() {
                    // A sleep: the goroutine's frames went cold meanwhile.
                    r.ready_cold();
                }
            }
            Callback::Call(f) => f(),
        }
    }
}

/// Timer state: waiting in a heap.
const PENDING: u8 = 0;
/// Timer state: the callback is running.
const RUNNING: u8 = 1;
/// Timer state: fired (one-shot) or deleted; never runs again.
const DONE: u8 = 2;

/// Heaps smaller than this are never swept of deleted entries: popping
/// them when they reach the top is cheap enough.
const SWEEP_MIN_LEN: usize = 64;

/// One timer, shared by its heap entry and its [`TimerKey`]s.
pub(crate) struct TimerInner {
    /// `PENDING`, `RUNNING` or `DONE`; see *Who touches what*.
    state: AtomicU8,
    /// Set by `del_timer`; a periodic timer checks it before re-arming.
    deleted: AtomicBool,
    /// Re-arm period in nanoseconds; 0 for a one-shot timer.
    period: u64,
    /// The callback. Locked only by the firing thread, or by the deleter
    /// after it won `PENDING → DONE`: never contended.
    f: Mutex<Callback>,
    /// The P heap holding the entry (None: the fallback thread), so a
    /// delete can count itself there (see *Lazy deletion*).
    home: Option<&'static PTimers>,
}

impl TimerInner {
    fn new(period: Option<Duration>, f: TimerFn, home: Option<&'static PTimers>) -> Arc<Self> {
        Arc::new(TimerInner {
            state: AtomicU8::new(PENDING),
            deleted: AtomicBool::new(false),
            period: period.map_or(0, |p| p.as_nanos().min(u64::MAX as u128) as u64),
            f: Mutex::new(Callback::Call(f)),
            home,
        })
    }

    /// A one-shot timer that readies `ready`, in `cache` if the timer
    /// there is no longer shared (its last firing is over and its heap
    /// entry gone), else in a new one left in `cache` for next time. See
    /// *A sleep's timer*.
    fn wake(
        ready: Ready,
        home: Option<&'static PTimers>,
        cache: &mut Option<Arc<TimerInner>>,
    ) -> Arc<Self> {
        let fresh = TimerInner {
            state: AtomicU8::new(PENDING),
            deleted: AtomicBool::new(false),
            period: 0,
            f: Mutex::new(Callback::Wake(Some(ready))),
            home,
        };
        match cache.as_mut().and_then(Arc::get_mut) {
            // Unshared: nobody else can see the old state.
            Some(t) => *t = fresh,
            None => *cache = Some(Arc::new(fresh)),
        }
        cache.clone().expect("just filled")
    }

    /// A timer that does nothing, for the heap's tests.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn new_for_test() -> Arc<Self> {
        Self::new(None, Box::new(|| {}), None)
    }

    fn is_done(&self) -> bool {
        self.state.load(Ordering::Relaxed) == DONE
    }
}

/// Names one timer for [`del_timer`].
#[derive(Clone)]
pub(crate) struct TimerKey(Arc<TimerInner>);

impl std::fmt::Debug for TimerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerKey")
            .field("state", &self.0.state.load(Ordering::Relaxed))
            .field("periodic", &(self.0.period != 0))
            .finish_non_exhaustive()
    }
}

/// What [`fire`] left to do.
pub(crate) enum Fired {
    /// Nothing: the timer is done (fired once, or was deleted).
    Done,
    /// Re-arm a periodic timer at this runtime-clock time.
    Again(u64),
}

/// Runs one due timer, unless it was deleted. `when` is the time it was
/// due (the next period counts from it, as Go's tickers do, but never
/// starts in the past by more than one period).
pub(crate) fn fire(t: &Arc<TimerInner>, when: u64) -> Fired {
    // Acquire: pairs with the Release store of PENDING when a periodic
    // timer is re-armed (a new timer reaches us through the heap lock),
    // so the previous firing's effects are visible.
    if t.state
        .compare_exchange(PENDING, RUNNING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Fired::Done; // deleted
    }
    t.f.lock().expect("timer callback poisoned").run();
    // Acquire: pairs with the SeqCst store in `del_timer` (a delete
    // seen here stops the re-arm early; the re-check below is the one
    // that must not miss it).
    if t.period != 0 && !t.deleted.load(Ordering::Acquire) {
        // Release: pairs with the Acquire CAS above on the next firing.
        t.state.store(PENDING, Ordering::Release);
        // SeqCst fence: our half of a Dekker pair with `del_timer` (which
        // stores `deleted`, fences, then CASes `state`): either its CAS
        // sees PENDING and wins, or our re-check below sees `deleted`.
        // Without the fences both could miss each other (store buffering)
        // and a deleted periodic timer would fire on; the loom model
        // `loom_periodic_fire_vs_delete` checks this (loom models SeqCst
        // fences, not SeqCst accesses).
        fence(Ordering::SeqCst);
        // Acquire: pairs with the Release store in `del_timer`.
        if t.deleted.load(Ordering::Acquire) {
            t.state.store(DONE, Ordering::Release);
            return Fired::Done;
        }
        let now = now_nanos();
        let next = when.max(now.saturating_sub(t.period)) + t.period;
        return Fired::Again(next);
    }
    // Release: publishes the callback's effects to a later `del_timer`.
    t.state.store(DONE, Ordering::Release);
    Fired::Done
}

/// What [`PTimers::run_expired`] did.
#[derive(Debug, Default, Clone, Copy)]
#[must_use]
pub(crate) struct Expired {
    /// Whether any timer ran.
    pub(crate) ran: bool,
    /// The earliest `when` of the periodic timers it re-armed. A re-armed
    /// timer is an added timer: while its entry was out of the heap
    /// another M may have become the timer sleeper with a later deadline,
    /// and must be kicked (Go's `wakeNetPoller` in `modtimer`), which the
    /// caller does.
    pub(crate) rearmed: Option<u64>,
}

/// A P's timers (Go's `pp.timers`, `pp.timersLock`, `pp.timer0When`,
/// `pp.deletedTimers`). See *The design*.
pub(crate) struct PTimers {
    /// The heap. Any thread, under this lock.
    heap: std::sync::Mutex<TimerHeap>,
    /// The heap's earliest `when`, 0 if empty (Go's `timer0When`). Written
    /// under `heap`; read by anyone without it.
    when0: AtomicU64,
    /// Deleted entries still in `heap` (an estimate: see `del_timer`).
    ndeleted: AtomicUsize,
}

impl Default for PTimers {
    fn default() -> Self {
        PTimers {
            heap: std::sync::Mutex::new(TimerHeap::default()),
            when0: AtomicU64::new(0),
            ndeleted: AtomicUsize::new(0),
        }
    }
}

impl PTimers {
    /// The earliest timer's `when` (runtime clock), if any; deleted
    /// entries count until removed, so this may be early, never late.
    pub(crate) fn next_when(&self) -> Option<u64> {
        // SeqCst: the idle M's half of the Dekker pair with `add_timer`
        // (see *The timer sleeper* in `idle.rs`).
        match self.when0.load(Ordering::SeqCst) {
            0 => None,
            w => Some(w),
        }
    }

    /// The earliest `when`, 0 if none, read relaxed (a hint for the hot
    /// path of `schedule()`).
    pub(crate) fn next_when_relaxed(&self) -> u64 {
        // Relaxed: see `due`.
        self.when0.load(Ordering::Relaxed)
    }

    /// Whether a timer is due at `now`. Cheap (one load): the hot path of
    /// `schedule()`.
    pub(crate) fn due(&self, now: u64) -> bool {
        // Relaxed: a stale value only delays the check to the next
        // schedule; the idle path re-reads with SeqCst.
        let w = self.when0.load(Ordering::Relaxed);
        w != 0 && w <= now
    }

    fn publish_when0(&self, h: &TimerHeap) {
        // SeqCst: the adder's half of the Dekker pair with the idle M (see
        // `next_when`).
        self.when0
            .store(h.peek_when().unwrap_or(0), Ordering::SeqCst);
    }

    fn push(&self, when: u64, timer: Arc<TimerInner>, touches: usize) {
        let mut h = self.heap.lock().expect("timer heap poisoned");
        self.sweep(&mut h);
        h.push(Entry {
            when,
            timer,
            touches,
        });
        self.publish_when0(&h);
    }

    /// Go's `clearDeletedTimers`: when deleted entries exceed a quarter of
    /// the heap, drop them all.
    fn sweep(&self, h: &mut TimerHeap) {
        let nd = self.ndeleted.load(Ordering::Relaxed);
        if h.len() >= SWEEP_MIN_LEN && nd > h.len() / 4 {
            let gone = h.retain(|e| !e.timer.is_done());
            self.forget_deleted(gone);
        }
    }

    fn forget_deleted(&self, n: usize) {
        let _ = self
            .ndeleted
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(n))
            });
    }

    /// Go's `checkTimers`/`runtimer`: runs the timers due at `now`, with
    /// the heap unlocked while the callbacks run. Any thread may call it
    /// (the owner of the P, a stealing M, the timer sleeper); callbacks
    /// that ready goroutines put them on the caller's P, or the global
    /// queue if it holds none. The runtime calls it through
    /// `Shared::run_timers`, which tells the idle path about re-armed
    /// periodic timers (see [`Expired`]).
    pub(crate) fn run_expired(&self, now: u64) -> Expired {
        if !self.due(now) {
            return Expired::default();
        }
        let mut batch = Vec::new();
        {
            let mut h = self.heap.lock().expect("timer heap poisoned");
            while h.peek_when().is_some_and(|w| w <= now) {
                let e = h.pop().expect("peeked");
                if e.timer.is_done() {
                    self.forget_deleted(1);
                } else {
                    batch.push(e);
                }
            }
            self.sweep(&mut h);
            self.publish_when0(&h);
            // The next timer to fire was added long ago: warm it now, so
            // the next call's pop does not stall on it (`prefetch.rs`).
            if let Some(e) = h.peek() {
                crate::prefetch::range(
                    Arc::as_ptr(&e.timer) as usize,
                    std::mem::size_of::<TimerInner>(),
                );
                if e.touches != 0 {
                    crate::prefetch::line(e.touches);
                }
            }
        }
        let ran = !batch.is_empty();
        let mut rearmed: Option<u64> = None;
        for e in batch {
            if let Fired::Again(next) = fire(&e.timer, e.when) {
                self.push(next, e.timer, e.touches);
                rearmed = Some(rearmed.map_or(next, |r| r.min(next)));
            }
        }
        Expired { ran, rearmed }
    }

    /// Pops the deleted entries at the top of the heap (Go's
    /// `cleantimers`), so that `next_when` names a live timer, or none.
    /// For the idle path: a deleted timer must not make an idle M sleep
    /// until its time, nor hold back a deadlock report.
    pub(crate) fn clean_top(&self) {
        if self.next_when_relaxed() == 0 {
            return;
        }
        let mut h = self.heap.lock().expect("timer heap poisoned");
        let mut n = 0;
        while h.peek().is_some_and(|e| e.timer.is_done()) {
            h.pop();
            n += 1;
        }
        if n > 0 {
            self.forget_deleted(n);
            self.publish_when0(&h);
        }
    }

    /// Moves every entry to the fallback timer thread (the runtime's last
    /// M is exiting; see `Shared::m_exit`).
    pub(crate) fn move_to_fallback(&self) {
        let entries: Vec<Entry> = {
            let mut h = self.heap.lock().expect("timer heap poisoned");
            let v = h.drain().collect();
            self.publish_when0(&h);
            v
        };
        for e in entries {
            if !e.timer.is_done() {
                thread::push(e.when, e.timer);
            }
        }
    }
}

/// Live (not deleted) timers on the fallback thread, for the deadlock
/// detector; sweeps the deleted ones (see `thread::live`).
pub(crate) fn fallback_live() -> usize {
    thread::live()
}

impl PTimers {
    /// Schedules `f` on this heap at runtime-clock time `when`, then every
    /// `period` if given. The caller (`time::add_timer`) then tells the
    /// runtime (`Shared::timer_added`).
    pub(crate) fn add(&'static self, when: u64, period: Option<Duration>, f: TimerFn) -> TimerKey {
        let t = TimerInner::new(period, f, Some(self));
        self.push(when, t.clone(), 0);
        TimerKey(t)
    }
}

impl PTimers {
    /// Schedules a one-shot timer on this heap at runtime-clock time
    /// `when` that readies `ready`, reusing the timer in `cache` when it
    /// can (see *A sleep's timer*). The caller then tells the runtime, as
    /// for [`PTimers::add`].
    pub(crate) fn add_wake(
        &'static self,
        when: u64,
        ready: Ready,
        cache: &mut Option<Arc<TimerInner>>,
    ) {
        let touches = ready.g_addr();
        self.push(when, TimerInner::wake(ready, Some(self), cache), touches);
    }
}

/// Schedules `f` on the fallback thread (a timer added outside any
/// runtime) at runtime-clock time `when`, then every `period` if given.
pub(crate) fn add_fallback(when: u64, period: Option<Duration>, f: TimerFn) -> TimerKey {
    let t = TimerInner::new(period, f, None);
    thread::push(when, t.clone());
    TimerKey(t)
}

/// Stops the timer. True if it was removed before its next firing began
/// (its callback will never run again). See the module docs.
pub(crate) fn del_timer(key: &TimerKey) -> bool {
    let t = &key.0;
    // Release: pairs with the Acquire loads of `deleted` in `fire`.
    t.deleted.store(true, Ordering::Release);
    // SeqCst fence: our half of the Dekker pair with a periodic re-arm in
    // `fire` (we store `deleted`, then read `state`; it stores `state`,
    // then reads `deleted`).
    fence(Ordering::SeqCst);
    // AcqRel: the winner of PENDING → DONE owns the outcome; pairs with
    // the firing thread's CAS PENDING → RUNNING and its re-arm store.
    let won = t
        .state
        .compare_exchange(PENDING, DONE, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if won {
        // Drop what the callback captured now, not when the entry leaves
        // the heap. Nobody else locks `f` once the timer is DONE.
        drop(std::mem::replace(
            &mut *t.f.lock().expect("timer callback poisoned"),
            Callback::Wake(None),
        ));
        match t.home {
            Some(home) => {
                home.ndeleted.fetch_add(1, Ordering::Relaxed);
            }
            None => thread::note_deleted(),
        }
    }
    won
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::time::add_timer;
    use std::sync::mpsc;
    use std::time::Instant;

    #[test]
    fn one_shot_fires_once_not_early() {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let when = start + Duration::from_millis(20);
        let _k = add_timer(
            when,
            None,
            Box::new(move || {
                let _ = tx.send(Instant::now());
            }),
        );
        let at = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("timer never fired");
        assert!(at >= when, "fired early");
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }

    #[test]
    fn deleted_timer_never_fires() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let k = add_timer(
            Instant::now() + Duration::from_millis(30),
            None,
            Box::new(move || {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert!(del_timer(&k));
        let (tx, rx) = mpsc::channel();
        let _probe = add_timer(
            Instant::now() + Duration::from_millis(60),
            None,
            Box::new(move || {
                let _ = tx.send(());
            }),
        );
        rx.recv_timeout(Duration::from_secs(5))
            .expect("probe timer never fired");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert!(!del_timer(&k));
    }

    #[test]
    fn periodic_fires_until_deleted() {
        let (tx, rx) = mpsc::channel();
        let k = add_timer(
            Instant::now(),
            Some(Duration::from_millis(5)),
            Box::new(move || {
                let _ = tx.send(());
            }),
        );
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(5))
                .expect("tick missing");
        }
        del_timer(&k);
        // At most one firing already under way may still arrive.
        let _ = rx.recv_timeout(Duration::from_millis(50));
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }

    /// The fallback heap is swept of deleted entries,
    /// so a plain thread adding and deleting long timers in a loop (a
    /// `recv_timeout(long)` that succeeds) does not grow it without bound.
    #[test]
    fn fallback_heap_is_swept_of_deleted_timers() {
        for _ in 0..10_000 {
            let k = add_timer(
                Instant::now() + Duration::from_secs(3600),
                None,
                Box::new(|| {}),
            );
            assert!(del_timer(&k));
        }
        // Other tests of this binary add a few fallback timers too.
        let len = thread::len_for_test();
        assert!(len < 1_000, "fallback heap holds {len} entries");
    }
}

#[cfg(all(test, not(loom)))]
mod runtime_tests;

#[cfg(all(test, loom))]
mod loom_timer;
