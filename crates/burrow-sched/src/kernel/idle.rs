//! The idle path of an M (Go's `stopm` and the tail of `findRunnable`):
//! who sleeps until the next timer, and how a runtime in which nothing can
//! ever run again is detected and reported.
//!
//! # The timer sleeper
//!
//! Go's last idle M blocks in `netpoll(delay)` with `delay` the time to the
//! earliest timer of all Ps; `addtimer` calls `wakeNetPoller(when)`, which
//! breaks that poll if `when` is earlier, or calls `wakep` if nobody is
//! polling. Ours blocks in the netpoller only while goroutines wait on I/O
//! (see `poller.rs`); otherwise the same role is played by an M waiting
//! on its note with a timeout:
//!
//! - An M with nothing to do ([`stopm`]) reads the earliest timer of every
//!   P (`PTimers::next_when`). If there is one and no M holds the role, it
//!   becomes the *sleeper*: it records its deadline in
//!   `Shared::sleeper_until`, is *not* put in `midle` (so `startm` never
//!   hands it a P), and waits on its note until the deadline. Other idle
//!   Ms sleep in `midle` without a timeout, as before.
//! - When it wakes it gives up the role, takes an idle P if there is one
//!   and runs every P's due timers with it (the readied goroutines land in
//!   its P's queues and `wakep` brings more Ms), then schedules as usual.
//!   If every P is busy it runs the due timers without a P (the goroutines
//!   go to the global queue): a P stuck in a long goroutine cannot hold
//!   its timers back. Go leaves that case to sysmon.
//! - `add_timer` ([`Shared::timer_added`]) publishes the heap's new
//!   earliest time, then reads `sleeper_until`: if a sleeper waits past the
//!   new timer it kicks the sleeper's note; if none waits it calls `wakep`,
//!   and the M it starts, finding nothing to run, becomes the sleeper. The
//!   idle M publishes its role (under the sched lock) and then reads the
//!   heaps' earliest times; both sides use SeqCst with a fence between the
//!   store and the load (a Dekker pair, as in *Spinning Ms* in `sched.rs`),
//!   so a timer is never added unseen by every M.
//!
//! - A periodic timer re-armed by `run_expired` is an added timer too and
//!   goes through `timer_added`. An idle M picks its deadline from live
//!   timers only (deleted entries at the heaps' tops are popped first), and
//!   the last M to go idle while another sleeps kicks the sleeper if the
//!   earliest live timer is now later than its deadline (its timer was
//!   deleted): deletes themselves stay one CAS and never kick.
//!
//! So an idle runtime makes no system call until its next timer, and one
//! goroutine sleeping 300 ms costs a handful of context switches.
//!
//! # Deadlock detection
//!
//! Go's `checkdead` reports "all goroutines are asleep - deadlock!" when no
//! M is running Go code and no timer is pending. Go can be exact because
//! only goroutines can wake goroutines. Ours can also be woken by plain
//! threads (channels and `Ready` work between threads and goroutines), and
//! we cannot see which thread holds a `Ready`. So we report only after the
//! condition has held for a *grace period* (`Builder::deadlock_grace`,
//! default 1 s; `None` turns detection off):
//!
//! 1. The M about to sleep finds that every P is idle, no run queue holds a
//!    G, no live timer is pending (in a P heap or on the fallback thread;
//!    deleted entries are popped or swept first, so a stopped timer does
//!    not count, but a live fallback timer, even a plain thread's
//!    `tick()`, does: it might wake a goroutine) and goroutines are alive. It becomes the sleeper with a deadline of now
//!    plus the grace, remembering `Idle::ptakes`, the count of Ps ever
//!    taken from the idle list.
//!    A grace so long that now plus it overflows `Instant`
//!    (`Duration::MAX`) means never: no M watches.
//! 2. At the deadline it re-checks the condition under the sched lock and
//!    that `ptakes` did not move: any goroutine that ran in between (woken
//!    by a thread, or by anything else) needed a P, so the condition held
//!    the whole time. Only then is the deadlock reported to
//!    `Runtime::try_run` (which returns `RunError::Deadlock`; `run`
//!    panics with the message). A watch that ends before its deadline
//!    (the note was kicked: an earlier timer was added, or a kick meant
//!    for an earlier sleeper role of the same M arrived late) reports
//!    nothing and the M decides again, with a fresh grace; a kick left
//!    from an earlier role is also cleared when the M takes the role.
//!
//! The caveat, documented on the builder: a program whose goroutines all
//! wait for a plain thread that will act only after more than the grace
//! period is reported as deadlocked. Raise the grace or turn it off for
//! such programs.

use std::sync::atomic::{Ordering, fence};
use std::sync::{Arc, Condvar, Mutex};

use crate::clock::{instant_of, nanos, now_nanos};
use crate::kernel::m::MCtx;
use crate::kernel::p::PCore;
use crate::kernel::sched::Shared;
use crate::timer::fallback_live;

/// A sleeping M's mailbox (Go's `m.park` note plus `m.nextp`).
pub(crate) struct MNote {
    state: Mutex<MWake>,
    cv: Condvar,
}

#[derive(Default)]
struct MWake {
    /// The P handed to this M, and whether it starts spinning.
    nextp: Option<(Box<PCore>, bool)>,
    /// Shut down: exit the thread.
    exit: bool,
    /// The timer sleeper was kicked: an earlier timer was added.
    kicked: bool,
}

/// How [`MNote::wait_until`] ended.
pub(crate) enum NoteWake {
    /// Handed a P (and whether to spin).
    P(Box<PCore>, bool),
    /// Shut down: exit the thread.
    Exit,
    /// Kicked ([`MNote::kick`]) or the deadline passed: the caller must
    /// look at the clock to tell which.
    Woken,
}

impl MNote {
    pub(crate) fn new(nextp: Option<(Box<PCore>, bool)>) -> Arc<MNote> {
        Arc::new(MNote {
            state: Mutex::new(MWake {
                nextp,
                ..MWake::default()
            }),
            cv: Condvar::new(),
        })
    }

    /// Sleeps until handed a P (`Some`) or told to exit (`None`).
    pub(crate) fn wait(&self) -> Option<(Box<PCore>, bool)> {
        let mut s = self.state.lock().expect("M note poisoned");
        loop {
            if let Some(p) = s.nextp.take() {
                return Some(p);
            }
            if s.exit {
                return None;
            }
            s = self.cv.wait(s).expect("M note poisoned");
        }
    }

    /// Sleeps until handed a P, told to exit, kicked, or `deadline`.
    pub(crate) fn wait_until(&self, deadline: std::time::Instant) -> NoteWake {
        let mut s = self.state.lock().expect("M note poisoned");
        loop {
            if let Some((p, spinning)) = s.nextp.take() {
                return NoteWake::P(p, spinning);
            }
            if s.exit {
                return NoteWake::Exit;
            }
            if std::mem::take(&mut s.kicked) {
                return NoteWake::Woken;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return NoteWake::Woken;
            }
            s = self
                .cv
                .wait_timeout(s, deadline - now)
                .expect("M note poisoned")
                .0;
        }
    }

    /// What a wait would return now, without waiting (for the sleeper
    /// that blocked in the netpoller instead of on the note).
    pub(crate) fn check(&self) -> NoteWake {
        let mut s = self.state.lock().expect("M note poisoned");
        if let Some((p, spinning)) = s.nextp.take() {
            return NoteWake::P(p, spinning);
        }
        if s.exit {
            return NoteWake::Exit;
        }
        s.kicked = false;
        NoteWake::Woken
    }

    /// Forgets a kick meant for an earlier sleeper role of this M. Called
    /// under the sched lock when the M takes the role, so a kick that
    /// arrives after the previous role ended (`sleeper_done`) cannot cut
    /// the new wait short (`tests/deadlock_stale_kick.rs`). A kick that
    /// arrives after this, for the new role, still wakes it.
    pub(crate) fn clear_kick(&self) {
        self.state.lock().expect("M note poisoned").kicked = false;
    }

    /// Wakes a [`MNote::wait_until`] early. A stale kick (one that lands
    /// after the wait it was meant for ended) can still wake a later wait
    /// early: callers of `wait_until` must check the clock, not trust
    /// `NoteWake::Woken` to mean the deadline passed.
    pub(crate) fn kick(&self) {
        self.state.lock().expect("M note poisoned").kicked = true;
        self.cv.notify_one();
    }

    pub(crate) fn give(&self, p: Box<PCore>, spinning: bool) {
        self.state.lock().expect("M note poisoned").nextp = Some((p, spinning));
        self.cv.notify_one();
    }

    pub(crate) fn exit(&self) {
        self.state.lock().expect("M note poisoned").exit = true;
        self.cv.notify_one();
    }
}

/// Under `Shared::sched`.
pub(crate) struct Idle {
    /// Idle Ps, their cores held here (Go's `sched.pidle`).
    // Boxed: a core moves between this list, an M's note and an M's
    // context as one pointer, at every idle transition.
    #[allow(clippy::vec_box)]
    pub(crate) pidle: Vec<Box<PCore>>,
    /// Spare Ps not lent out (see *Starvation* in `sysmon.rs`).
    #[allow(clippy::vec_box)]
    pub(crate) spare: Vec<Box<PCore>>,
    /// Sleeping Ms (Go's `sched.midle`).
    pub(crate) midle: Vec<Arc<MNote>>,
    /// The M sleeping until the next timer or the deadlock grace, not in
    /// `midle` (see *The timer sleeper* in `idle.rs`).
    pub(crate) sleeper: Option<Arc<MNote>>,
    /// Whether the sleeper blocks in the netpoller (a kick must then
    /// also break its poll).
    pub(crate) sleeper_polls: bool,
    /// Ps ever taken from `pidle`: the deadlock detector's change counter.
    pub(crate) ptakes: u64,
    /// A deadlock was reported; do not watch for another.
    pub(crate) deadlock_reported: bool,
}

/// How the main goroutine ended, as seen by `Runtime::try_run`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum MainState {
    /// Still running (or parked).
    #[default]
    Running,
    /// Its closure returned or panicked; its join handle completes next.
    Done,
    /// A deadlock was detected with this many goroutines alive, and this
    /// goroutine dump.
    Deadlock(usize, String),
}

/// Where `Runtime::try_run` waits: set once, by the main goroutine's
/// closure ending or by the deadlock detector, whichever comes first.
#[derive(Default)]
pub(crate) struct MainWait {
    state: Mutex<MainState>,
    cv: Condvar,
}

impl MainWait {
    fn set(&self, to: MainState) {
        let mut s = self.state.lock().expect("main wait poisoned");
        if *s == MainState::Running {
            *s = to;
            self.cv.notify_all();
        }
    }

    /// The main goroutine's closure ended.
    pub(crate) fn finish(&self) {
        self.set(MainState::Done);
    }

    /// Waits for `Done` or `Deadlock`.
    pub(crate) fn wait(&self) -> MainState {
        let mut s = self.state.lock().expect("main wait poisoned");
        while *s == MainState::Running {
            s = self.cv.wait(s).expect("main wait poisoned");
        }
        s.clone()
    }
}

/// What an idle M does next.
enum IdleAction {
    /// The runtime shuts down: exit the thread.
    Exit,
    /// Sleep in `midle` until handed a P.
    Park,
    /// Be the sleeper until `until` (runtime clock); with `Some(ptakes)`,
    /// watching for a deadlock rather than a timer.
    /// With `poll`, block in the netpoller instead of on the note
    /// (goroutines wait on I/O; see `poller.rs`); `until == u64::MAX`
    /// then means no timer: poll until an event or a wake.
    Sleep {
        until: u64,
        watch: Option<u64>,
        poll: bool,
    },
}

impl Shared {
    /// The earliest pending timer of all Ps (runtime clock). Deleted
    /// entries count until removed: see `live_next_timer`.
    pub(crate) fn next_timer(&self) -> Option<u64> {
        self.ps.iter().filter_map(|p| p.timers.next_when()).min()
    }

    /// `next_timer` after popping the deleted entries at the top of every
    /// heap: the earliest *live* timer (for the idle path, where a
    /// deleted timer must neither set the sleep nor hold back a deadlock
    /// report). Takes each heap's lock that has timers.
    fn live_next_timer(&self) -> Option<u64> {
        for p in self.ps.iter() {
            p.timers.clean_top();
        }
        self.next_timer()
    }

    /// Go's `wakeNetPoller`: called after a timer due at `when` was added
    /// to a P heap. See *The timer sleeper*.
    pub(crate) fn timer_added(&'static self, when: u64) {
        // SeqCst fence: the adder's half of the Dekker pair (its store is
        // the SeqCst `when0` store in `PTimers::push`).
        fence(Ordering::SeqCst);
        let until = self.sleeper_until.load(Ordering::SeqCst);
        if until == 0 {
            self.wakep();
        } else if when < until {
            let idle = self.sched.lock().expect("sched lock poisoned");
            self.kick_sleeper(&idle);
        }
    }

    /// Wakes the sleeper early (an earlier timer, or its timer gone):
    /// its note, and its poll if it blocks in one. Under the sched lock.
    fn kick_sleeper(&self, idle: &Idle) {
        if let Some(note) = &idle.sleeper {
            note.kick();
            if idle.sleeper_polls {
                self.netpoll.wake();
            }
        }
    }

    /// True when nothing inside the runtime can ever run again: every P
    /// idle, no queued G, no pending timer, and goroutines alive. Called
    /// under the sched lock (`idle`).
    ///
    /// Goroutines parked on I/O make this false (Go: an M blocked in
    /// netpoll counts as running, so `checkdead` stays quiet): an idle
    /// server is not deadlocked.
    fn nothing_can_run(&self, idle: &Idle) -> bool {
        // SeqCst fence: order the reads below after whatever the caller
        // published (its P release, its sleeper role).
        fence(Ordering::SeqCst);
        idle.pidle.len() == self.maxprocs
            && idle.spare.len() == self.maxprocs
            && self.nsyscall.load(Ordering::Relaxed) == 0
            && self.global.len() == 0
            && self.ps.iter().all(|p| p.runq.is_empty())
            && self.live_next_timer().is_none()
            && fallback_live() == 0
            && !self.netpoll.has_waiters()
            && self.num_goroutine() > 0
    }

    fn idle_decide(&self, note: &Arc<MNote>) -> IdleAction {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        if self.is_shutdown() {
            return IdleAction::Exit;
        }
        if idle.sleeper.is_none() {
            // SeqCst fence: the idle M's half of the Dekker pair with
            // `timer_added` (our earlier store: the P release).
            fence(Ordering::SeqCst);
            let mut action = None;
            let poll = self.netpoll.has_waiters();
            if let Some(until) = self.live_next_timer() {
                action = Some(IdleAction::Sleep {
                    until,
                    watch: None,
                    poll,
                });
            } else if poll {
                action = Some(IdleAction::Sleep {
                    until: u64::MAX,
                    watch: None,
                    poll,
                });
            } else if let Some(grace) = self.deadlock_grace
                && !idle.deadlock_reported
                && self.nothing_can_run(&idle)
                // A grace too long for the clock (`Duration::MAX`) means
                // "never report": do not watch.
                && let Some(end) = std::time::Instant::now().checked_add(grace)
            {
                let until = nanos(end);
                action = Some(IdleAction::Sleep {
                    until,
                    watch: Some(idle.ptakes),
                    poll: false,
                });
            }
            if let Some(IdleAction::Sleep { until, poll, .. }) = action {
                // A kick left over from this M's previous role must not
                // cut this wait short (under the sched lock, as kicks are).
                note.clear_kick();
                idle.sleeper = Some(note.clone());
                idle.sleeper_polls = poll;
                // SeqCst: read by `timer_added` (Dekker pair).
                self.sleeper_until.store(until, Ordering::SeqCst);
                // Re-read the heaps after publishing the role: an adder
                // that read `sleeper_until == 0` before our store (and so
                // did not kick us) published its timer before that read,
                // so we see it here and shorten our deadline.
                if let Some(now_first) = self.next_timer()
                    && now_first < until
                {
                    self.sleeper_until.store(now_first, Ordering::SeqCst);
                    return IdleAction::Sleep {
                        until: now_first,
                        watch: None,
                        poll,
                    };
                }
                return action.expect("matched above");
            }
        }
        // The last M going idle while another sleeps: if the sleeper's
        // timer was deleted meanwhile (the earliest live timer is later,
        // or gone), kick it so it decides again: it may sleep less long,
        // or start the deadlock watch. A delete itself
        // never kicks (it stays one CAS); this M is the one that ran the
        // deleting goroutine, or a later one.
        if idle.sleeper.is_some() && idle.pidle.len() == self.maxprocs {
            // SeqCst: written under the sched lock, which we hold.
            let until = self.sleeper_until.load(Ordering::SeqCst);
            // A sleeper polling with no timer is where it should be while
            // goroutines wait on I/O.
            let polls_for_io =
                idle.sleeper_polls && until == u64::MAX && self.netpoll.has_waiters();
            if !polls_for_io && self.live_next_timer().is_none_or(|w| w > until) {
                self.kick_sleeper(&idle);
            }
        }
        idle.midle.push(note.clone());
        IdleAction::Park
    }

    /// The sleeper gives up its role.
    fn sleeper_done(&self, note: &Arc<MNote>) {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        if idle.sleeper.as_ref().is_some_and(|s| Arc::ptr_eq(s, note)) {
            idle.sleeper = None;
            // SeqCst: see `timer_added`.
            self.sleeper_until.store(0, Ordering::SeqCst);
        }
    }

    /// Step 2 of *Deadlock detection*.
    fn check_deadlock(&self, ptakes: u64) {
        let mut idle = self.sched.lock().expect("sched lock poisoned");
        if idle.ptakes != ptakes
            || idle.deadlock_reported
            || self.is_shutdown()
            || !self.nothing_can_run(&idle)
        {
            return;
        }
        idle.deadlock_reported = true;
        let n = self.num_goroutine();
        drop(idle);
        // Go prints every goroutine's state with the report.
        let dump = self.dump(None);
        self.main_wait.set(MainState::Deadlock(n, dump));
    }

    /// Runs the due timers of every P (the caller's P, if any, receives the
    /// goroutines they ready).
    pub(crate) fn run_all_timers(&'static self, now: u64) -> bool {
        let mut ran = false;
        for p in self.ps.iter() {
            ran |= self.run_timers(p.id, now);
        }
        ran
    }
}

/// Go's `stopm` with the timer sleeper and the deadlock watch: the M has
/// released its P and found nothing to do. Returns the next P to run
/// (and whether to spin), or None when the M must exit.
pub(crate) fn stopm(ctx: &MCtx, note: &Arc<MNote>) -> Option<(Box<PCore>, bool)> {
    ctx.info.set_idle(true);
    let next = stopm_inner(ctx, note);
    ctx.info.set_idle(false);
    next
}

fn stopm_inner(ctx: &MCtx, note: &Arc<MNote>) -> Option<(Box<PCore>, bool)> {
    let rt = ctx.rt;
    loop {
        match rt.idle_decide(note) {
            IdleAction::Exit => return None,
            IdleAction::Park => return note.wait(),
            IdleAction::Sleep { until, watch, poll } => {
                let woke = if poll {
                    let got = poll_blocking(ctx, until);
                    let woke = note.check();
                    if got {
                        // Go's findRunnable after `netpoll(delay)`: take an
                        // idle P and run what the poll readied on it, or
                        // hand it to the global queue (and a woken M).
                        rt.sleeper_done(note);
                        let core = match woke {
                            NoteWake::Exit => return None,
                            NoteWake::P(core, _) => Some(core),
                            NoteWake::Woken => rt.pidleget(),
                        };
                        if let Some(core) = core {
                            *ctx.p.borrow_mut() = Some(core);
                            ctx.ready_polled(true);
                            let core = ctx.p.borrow_mut().take().expect("set above");
                            return Some((core, false));
                        }
                        ctx.ready_polled(false);
                        continue;
                    }
                    woke
                } else {
                    note.wait_until(instant_of(until))
                };
                rt.sleeper_done(note);
                match woke {
                    NoteWake::Exit => return None,
                    NoteWake::P(core, spinning) => return Some((core, spinning)),
                    NoteWake::Woken => {}
                }
                let now = now_nanos();
                if let Some(ptakes) = watch {
                    // Only a watch that lasted the whole grace may report:
                    // a kick (an earlier timer, or a stale one) ends it
                    // early, and we just decide again.
                    if now >= until {
                        rt.check_deadlock(ptakes);
                    }
                    continue;
                }
                if rt.ps.iter().any(|p| p.timers.due(now)) {
                    if let Some(core) = rt.pidleget() {
                        *ctx.p.borrow_mut() = Some(core);
                        rt.run_all_timers(now);
                        // We gave up the sleeper role and may now run a
                        // long goroutine: if timers remain, start an M that
                        // will take the role when it finds nothing to do.
                        if rt.next_timer().is_some() {
                            rt.wakep();
                        }
                        let core = ctx.p.borrow_mut().take().expect("set above");
                        return Some((core, false));
                    }
                    rt.run_all_timers(now);
                }
            }
        }
    }
}

/// The sleeper's blocking poll, until runtime-clock time `until`
/// (`u64::MAX`: no timer). Returns whether goroutines became ready (left
/// in the M's events buffer for [`MCtx::ready_polled`]).
fn poll_blocking(ctx: &MCtx, until: u64) -> bool {
    let timeout = (until != u64::MAX)
        .then(|| instant_of(until).saturating_duration_since(std::time::Instant::now()));
    ctx.poll(timeout)
}
