//! Blocking-style I/O on non-blocking descriptors: [`PollFd`], the part of
//! Go's `internal/poll.FD` and `pollDesc` that a socket type needs (what
//! `burrow-net` builds `TcpStream` and friends on).
//!
//! # The I/O loop
//!
//! A socket is non-blocking; its owner tries the system call first and
//! parks only when the kernel says `EAGAIN` (Go's `fd_unix.go`):
//!
//! ```text
//! loop {
//!     pfd.check(Direction::Read)?;            // closed? deadline passed?
//!     match read(fd, buf) {
//!         Err(e) if e.kind() == WouldBlock => pfd.wait(Direction::Read)?,
//!         r => return r,
//!     }
//! }
//! ```
//!
//! [`PollFd::wait`] parks the goroutine on the runtime's netpoller (see
//! `kernel/poller.rs`): its M runs other goroutines, and the goroutine
//! runs again when the descriptor becomes ready, its deadline passes, or
//! it is closed. `wait` returning `Ok` means "try again", not "ready": an
//! edge may be spurious, or the deadline may have moved, and the loop
//! above handles both. Outside a goroutine (a plain thread), `wait` blocks
//! the thread in `poll(2)` instead.
//!
//! # Deadlines (Go's semantics)
//!
//! Each direction has a deadline: an instant, not a duration. Once it has
//! passed, the pending call and every later one fail with
//! [`io::ErrorKind::TimedOut`] ("i/o timeout") until it is moved or
//! cleared. Moving it wakes a goroutine blocked in that direction, which
//! re-checks it. A waiting goroutine arms a runtime timer at its
//! deadline; the timer takes its handle out of the descriptor's slot
//! (`PollDesc::unblock`) and readies it.
//!
//! # The armed timer
//!
//! A server moves its deadlines on every request (Go's `conn.serve` sets
//! the read deadline for the idle wait, the head and the body, and the
//! write deadline for the response) and parks on every request too. Adding
//! a runtime timer on every park and deleting it after would cost two
//! allocations and a heap lock per request. Instead each direction keeps
//! at most one *armed* timer, at `armed.when`, and leaves it in place
//! after the wait, as Go's `pollDesc` keeps its `rt`/`wt` timers:
//!
//! - A wait whose deadline `d` is at or after `armed.when` adds nothing:
//!   the armed timer fires first and re-checks.
//! - A wait whose deadline is earlier (the deadline moved earlier)
//!   deletes the armed timer and arms one at `d`.
//! - When the timer fires it reads the *current* deadline (Go's timer
//!   compares its `seq`; we compare `when` under the lock): cleared, it
//!   does nothing; still in the future (moved later meanwhile), it re-arms
//!   itself there; passed, it wakes the waiter, whose check then fails
//!   with `TimedOut`.
//!
//! Setting a deadline therefore stays a store (plus the wake of a blocked
//! goroutine); no timer is touched until a goroutine waits. Rejected:
//! re-arming on every set (a timer per set, the cost we remove); a timer
//! that only wakes and never re-arms (a deadline moved later while
//! parked would then never fire). An armed timer with nobody waiting
//! counts as pending for deadlock detection, as Go's pollDesc timers do;
//! [`PollFd::close`] deletes it.
//!
//! # Registration
//!
//! The descriptor is registered with the netpoller of the runtime whose
//! goroutine first waits on it, once, for both directions,
//! edge-triggered (Go's `netpollopen`), and deregistered when the
//! `PollFd` is dropped or closed. Waiting on it from a goroutine of
//! another runtime blocks that goroutine's M in `poll(2)`, as a plain
//! thread does: share sockets between runtimes only if that is acceptable.
//!
//! Two goroutines waiting in the same direction at once (two readers of
//! one `&TcpStream`) is allowed; the second yields and retries until the
//! first is served (Go's runtime would throw "double wait").

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use burrow_netpoll::Direction;
use burrow_netpoll::{Interest, Park, PollDesc};

use crate::clock::{instant_of, nanos, now_nanos, passed};
use crate::kernel::m::current_g;
use crate::kernel::park::{Ready, WaitReason, park_commit};
use crate::kernel::sched::Shared;
use crate::time::add_timer;
use crate::timer::{TimerKey, del_timer};

/// How long a plain thread's `poll(2)` waits at a time, so that it sees a
/// close or a moved deadline from another thread within this bound.
const THREAD_POLL_SLICE: Duration = Duration::from_millis(20);

/// A non-blocking descriptor that goroutines wait on through the runtime's
/// netpoller, with Go's deadlines. See the module docs for the I/O loop.
///
/// The `PollFd` does not own the descriptor: its owner keeps it open for
/// the `PollFd`'s whole life and drops the `PollFd` *before* closing it
/// (deregistering after the close could remove the registration of a new
/// file that reused the number).
pub struct PollFd {
    fd: RawFd,
    reg: OnceLock<Registration>,
    /// Set by [`PollFd::close`]; waits and checks fail from then on.
    closed: AtomicBool,
    /// The deadlines and their armed timers, shared with those timers'
    /// callbacks (see *The armed timer*).
    deadlines: Arc<Deadlines>,
}

/// A descriptor's deadlines and armed timers.
struct Deadlines {
    /// Read and write deadlines on the runtime clock; 0: none. Stored by
    /// any thread in `set_deadline`, read by waiters and timer callbacks.
    deadline: [AtomicU64; 2],
    /// The armed timer of each direction; taken by the waiter arming it
    /// and by the timer's own callback, never across a park.
    armed: Mutex<[Armed; 2]>,
}

/// One direction's armed timer: due at runtime-clock time `when`
/// (0: none armed).
#[derive(Default)]
struct Armed {
    when: u64,
    key: Option<TimerKey>,
}

impl Deadlines {
    fn load(&self, dir: Direction) -> u64 {
        // Relaxed: the deadline is a value read by the waiter after it
        // wakes, and by the timer under the `armed` lock; the wake in
        // `set_deadline` (a ready through the run queue) orders it for
        // the waiter, and a timer that reads a stale value re-checks at
        // the next wait or firing.
        self.deadline[index(dir)].load(Ordering::Relaxed)
    }

    /// Makes sure a timer of `dir` fires at or before `d`: keeps the
    /// armed one if it is due no later, else replaces it. See *The armed
    /// timer*.
    fn arm(self: &Arc<Self>, desc: &Arc<PollDesc<Ready>>, dir: Direction, d: u64) {
        let mut armed = self.armed.lock().expect("deadline timers poisoned");
        let a = &mut armed[index(dir)];
        if a.when != 0 && a.when <= d {
            return;
        }
        if let Some(old) = a.key.take() {
            del_timer(&old);
        }
        let (me, desc2) = (self.clone(), desc.clone());
        a.key = Some(add_timer(
            instant_of(d),
            None,
            Box::new(move || me.fired(&desc2, dir, d)),
        ));
        a.when = d;
    }

    /// The callback of the timer armed at `when`: re-check the current
    /// deadline (see *The armed timer*).
    fn fired(self: &Arc<Self>, desc: &Arc<PollDesc<Ready>>, dir: Direction, when: u64) {
        {
            let mut armed = self.armed.lock().expect("deadline timers poisoned");
            let a = &mut armed[index(dir)];
            if a.when != when {
                return; // replaced by an earlier timer, or disarmed
            }
            *a = Armed::default();
        }
        let d = self.load(dir);
        if d == 0 {
            return; // cleared
        }
        if d > now_nanos() {
            // Moved later while this timer was armed: follow it.
            self.arm(desc, dir, d);
            return;
        }
        if let Some(w) = desc.unblock(dir) {
            w.ready();
        }
    }

    /// Deletes both armed timers (on close), so their callbacks no longer
    /// hold the descriptor.
    fn disarm(&self) {
        let mut armed = self.armed.lock().expect("deadline timers poisoned");
        for a in armed.iter_mut() {
            if let Some(k) = a.key.take() {
                del_timer(&k);
            }
            a.when = 0;
        }
    }
}

/// Where the descriptor is registered.
struct Registration {
    rt: &'static Shared,
    desc: Arc<PollDesc<Ready>>,
}

impl std::fmt::Debug for PollFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollFd")
            .field("fd", &self.fd)
            .field("registered", &self.reg.get().is_some())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::Read => 0,
        Direction::Write => 1,
    }
}

/// The error of a call on a closed `PollFd` (Go's `ErrNetClosing`).
pub fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}

/// The error of a call whose deadline has passed (Go's
/// `os.ErrDeadlineExceeded`).
pub fn timeout_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")
}

impl PollFd {
    /// Wraps `fd`, which the caller has put in non-blocking mode. Nothing
    /// is registered until a goroutine first waits on it.
    pub fn new(fd: RawFd) -> PollFd {
        PollFd {
            fd,
            reg: OnceLock::new(),
            closed: AtomicBool::new(false),
            deadlines: Arc::new(Deadlines {
                deadline: [AtomicU64::new(0), AtomicU64::new(0)],
                armed: Mutex::new([Armed::default(), Armed::default()]),
            }),
        }
    }

    /// The descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Sets (or with `None` clears) the deadline of `dir`; see *Deadlines*.
    /// A goroutine blocked in that direction wakes and re-checks it. No
    /// timer is touched here (see *The armed timer*).
    pub fn set_deadline(&self, dir: Direction, t: Option<Instant>) {
        // Relaxed: the deadline is a value read by the waiter after it
        // wakes; the wake below (a ready through the run queue) orders it.
        self.deadlines.deadline[index(dir)].store(t.map_or(0, nanos), Ordering::Relaxed);
        if let Some(reg) = self.reg.get()
            && let Some(w) = reg.desc.unblock(dir)
        {
            w.ready();
        }
    }

    /// Whether the runtime's netpoller has seen the read side of this
    /// descriptor end (the peer shut down its writing, hung up, or reset;
    /// see [`PollDesc::is_read_closed`]). False before the first wait
    /// registered it. For an owner that waits before a read on a hunch.
    pub fn read_closed(&self) -> bool {
        self.reg.get().is_some_and(|r| r.desc.is_read_closed())
    }

    /// The deadline of `dir`, if set.
    pub fn deadline(&self, dir: Direction) -> Option<Instant> {
        match self.deadlines.load(dir) {
            0 => None,
            n => Some(instant_of(n)),
        }
    }

    /// Go's `prepareRead`/`prepareWrite`: fails if the descriptor was
    /// closed or the deadline of `dir` has passed. Call it before each
    /// system call.
    pub fn check(&self, dir: Direction) -> io::Result<()> {
        // A socket call is a preemption point, as in Go (see `sysmon.rs`).
        crate::kernel::runtime::preempt_point();
        // Acquire: pairs with the Release in `close`.
        if self.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let d = self.deadlines.load(dir);
        if d != 0 && passed(d) {
            return Err(timeout_error());
        }
        Ok(())
    }

    /// Waits until `dir` may be ready, the deadline passes, or the
    /// descriptor is closed; call it after the system call said `EAGAIN`.
    /// `Ok` means "try the call again" (see the module docs).
    pub fn wait(&self, dir: Direction) -> io::Result<()> {
        self.check(dir)?;
        match current_g() {
            Some((rt, _)) => match self.registration(rt)? {
                Some(reg) => self.wait_goroutine(reg, dir)?,
                None => self.wait_thread(dir)?,
            },
            None => self.wait_thread(dir)?,
        }
        self.check(dir)
    }

    /// Go's `evict`: marks the descriptor closed, wakes the goroutines
    /// blocked on it (their calls fail with "use of closed network
    /// connection") and deregisters it. Idempotent. The caller still
    /// closes the descriptor itself, after this.
    pub fn close(&self) {
        // Release: pairs with the Acquire in `check`.
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.deadlines.disarm();
        if let Some(reg) = self.reg.get() {
            let waiters = match reg.rt.netpoll.poller() {
                Ok(p) => p.deregister(&reg.desc).unwrap_or_else(|_| reg.desc.close()),
                Err(_) => reg.desc.close(),
            };
            for w in waiters {
                w.ready();
            }
        }
    }

    /// The registration with `rt`'s poller, made on first use; None if the
    /// descriptor is registered with another runtime.
    fn registration(&self, rt: &'static Shared) -> io::Result<Option<&Registration>> {
        if let Some(reg) = self.reg.get() {
            return Ok(std::ptr::eq(reg.rt, rt).then_some(reg));
        }
        let desc = match rt.netpoll.poller()?.register(self.fd, Interest::BOTH) {
            Ok(desc) => desc,
            Err(e) => {
                // A reader and a writer racing to register: the loser's
                // `register` is refused (the fd is already in the poller),
                // and the winner's registration is the one to use.
                // The winner stores its registration right after its
                // `register` returns, so the loser waits for that store.
                if matches!(e, burrow_netpoll::Error::AlreadyRegistered { .. }) {
                    for _ in 0..10_000 {
                        if let Some(reg) = self.reg.get() {
                            return Ok(std::ptr::eq(reg.rt, rt).then_some(reg));
                        }
                        std::thread::yield_now();
                    }
                }
                return Err(io::Error::other(e));
            }
        };
        let reg = Registration { rt, desc };
        match self.reg.set(reg) {
            Ok(()) => {}
            Err(mine) => {
                // Another goroutine registered first (a reader and a
                // writer racing): ours is a duplicate registration of the
                // same fd, which `register` refuses, so this is only
                // reached if both succeeded on different runtimes.
                if let Ok(p) = mine.rt.netpoll.poller() {
                    let _ = p.deregister(&mine.desc);
                }
            }
        }
        let reg = self.reg.get().expect("set above");
        Ok(std::ptr::eq(reg.rt, rt).then_some(reg))
    }

    /// Parks the current goroutine on the descriptor (see *Parking on a
    /// descriptor* in `kernel/poller.rs`).
    fn wait_goroutine(&self, reg: &Registration, dir: Direction) -> io::Result<()> {
        let d = self.deadlines.load(dir);
        if d != 0 {
            self.deadlines.arm(&reg.desc, dir, d);
            // Acquire: pairs with the Release in `close`. A close that ran
            // between our `check` and the arm above has already disarmed;
            // disarm again so the new timer does not outlive the
            // descriptor.
            if self.closed.load(Ordering::Acquire) {
                self.deadlines.disarm();
            }
        }
        let netpoll = &reg.rt.netpoll;
        let desc = reg.desc.clone();
        let mut busy = false;
        park_commit(WaitReason::IoWait, |ready| {
            // Counted before the handle is published: see `NetPoll`.
            netpoll.add_waiter();
            match desc.park(dir, ready) {
                Park::Parked => true,
                // Not parked: the handle comes back unused (dropping it
                // readies nothing) and the goroutine runs on at once.
                Park::Ready(_) | Park::Closing(_) => false,
                Park::Busy(_) => {
                    busy = true;
                    false
                }
            }
        });
        netpoll.remove_waiter();
        if busy {
            // Another goroutine waits in this direction: let it run, then
            // the caller retries its call.
            crate::kernel::runtime::yield_now();
        }
        Ok(())
    }

    /// Blocks the thread in `poll(2)` until `dir` may be ready, in slices
    /// so that a close or a moved deadline is seen.
    fn wait_thread(&self, dir: Direction) -> io::Result<()> {
        let events = match dir {
            Direction::Read => libc::POLLIN,
            Direction::Write => libc::POLLOUT,
        };
        loop {
            self.check(dir)?;
            let mut slice = THREAD_POLL_SLICE;
            if let Some(d) = self.deadline(dir) {
                slice = slice.min(d.saturating_duration_since(Instant::now()));
            }
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events,
                revents: 0,
            };
            let ms = slice.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: `pfd` is one valid pollfd on our stack for the call.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r > 0 {
                return Ok(());
            }
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

impl Drop for PollFd {
    fn drop(&mut self) {
        self.close();
    }
}
