//! The netpoller inside the scheduler (Go's `netpoll` as `findRunnable`
//! and `stopm` drive it): each runtime owns one [`burrow_netpoll::Poller`]
//! whose descriptor slots hold the [`Ready`] handles of goroutines parked
//! on sockets.
//!
//! # Who polls
//!
//! There is no poller thread (see *Driving the poller* in burrow-netpoll's
//! crate docs for the two pictures and why Go's wins):
//!
//! - `find_runnable` polls **without blocking** when its P has no local
//!   or global work, before it steals, and readies what the poll returns
//!   into its own P (Go's `findRunnable`: `netpoll(0)` then
//!   `injectglist`). The goroutine whose socket became ready runs on the
//!   M that saw the event: no thread hop, and no idle P is woken for the
//!   one goroutine this M runs next (`MCtx::ready_polled`; the others
//!   wake Ps as any readied goroutine does).
//! - Every [`GLOBAL_CHECK_PERIOD`](crate::consts::GLOBAL_CHECK_PERIOD)th
//!   schedule also polls without blocking when goroutines wait on I/O, so
//!   Ps that never run out of work still see the network within 61
//!   schedules. Go leaves that to sysmon's 10 ms poll, which we have too
//!   (`sysmon.rs`), for a P held by one long goroutine.
//! - The **last idle M** blocks in the poll, with the time to the next
//!   timer as its timeout (the *timer sleeper* of `idle.rs` becomes the
//!   poll sleeper when goroutines wait on I/O). An earlier timer, the last
//!   I/O waiter leaving, or shutdown break the poll with
//!   [`Poller::wake`] (Go's `netpollBreak`). At most one M blocks in the
//!   poll at a time; non-blocking polls skip while one does (Go's
//!   `sched.lastpoll == 0`), since the blocked one will see the events.
//!
//! # Parking on a descriptor
//!
//! A goroutine whose I/O returned `EAGAIN` parks with a commit
//! ([`crate::kernel::park::park_commit`], Go's `gopark(netpollblockcommit)`)
//! that stores its `Ready` in the descriptor's slot only after it has
//! switched out, so whoever takes it from the slot (a poll, a deadline
//! timer, a close) finds a parked goroutine and readies it with no park
//! word handshake. `waiters` counts such goroutines: the deadlock detector
//! treats them as alive (an idle server is not deadlocked), and the idle
//! path polls only while there are some.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use burrow_netpoll::{Events, Poller};

use crate::kernel::park::Ready;

/// One runtime's poller and the counters the scheduler reads.
#[derive(Default)]
pub(crate) struct NetPoll {
    /// Made on the first registration: a runtime that never touches a
    /// socket has no epoll fd.
    poller: OnceLock<Poller<Ready>>,
    /// Serialises the poller's creation (so a failure is an error for the
    /// caller, not a panic, and two creators never race).
    init: Mutex<()>,
    /// Goroutines parked on I/O, counted by their park commit before the
    /// park is published and uncounted by themselves when they run again.
    waiters: AtomicUsize,
    /// An M is blocked in `poll` (Go's `sched.lastpoll == 0`).
    blocked: AtomicBool,
    /// When a poll last returned (runtime clock), for sysmon.
    last_poll: AtomicU64,
}

impl NetPoll {
    /// The poller, made on first use.
    pub(crate) fn poller(&self) -> io::Result<&Poller<Ready>> {
        if let Some(p) = self.poller.get() {
            return Ok(p);
        }
        let _g = self.init.lock().expect("poller init lock poisoned");
        if let Some(p) = self.poller.get() {
            return Ok(p);
        }
        let p = Poller::new().map_err(|e| {
            io::Error::other(format!(
                "cannot create the runtime's network poller: {e} (raise the open-file limit, \
                 `ulimit -n`, if it says too many open files)"
            ))
        })?;
        Ok(self.poller.get_or_init(|| p))
    }

    /// Whether goroutines are parked on I/O.
    pub(crate) fn has_waiters(&self) -> bool {
        // Relaxed: a hint; the idle path re-reads it under the sched lock
        // after its fences, and a waiter that arrives later wakes nobody
        // (it is parked; the poll that will serve it is started by the
        // next idle M).
        self.waiters.load(Ordering::Relaxed) != 0
    }

    /// Counts a goroutine about to park on a descriptor.
    pub(crate) fn add_waiter(&self) {
        self.waiters.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts a goroutine that parked on a descriptor and runs again. The
    /// last one leaving breaks a blocked poll, so that the M in it decides
    /// again (it may have to watch for a deadlock instead).
    pub(crate) fn remove_waiter(&self) {
        if self.waiters.fetch_sub(1, Ordering::Relaxed) == 1 && self.is_blocked() {
            self.wake();
        }
    }

    /// When a poll last returned (runtime clock; 0: never).
    pub(crate) fn last_poll(&self) -> u64 {
        self.last_poll.load(Ordering::Relaxed)
    }

    /// Whether an M is blocked in `poll` now.
    pub(crate) fn is_blocked(&self) -> bool {
        // Relaxed: a hint (a non-blocking poll that runs beside a blocking
        // one is harmless, only wasted).
        self.blocked.load(Ordering::Relaxed)
    }

    /// Whether a non-blocking poll is worth a system call now.
    pub(crate) fn should_poll(&self) -> bool {
        self.has_waiters() && !self.is_blocked()
    }

    /// Breaks a blocked `poll` (Go's `netpollBreak`); a no-op before the
    /// poller exists.
    pub(crate) fn wake(&self) {
        if let Some(p) = self.poller.get() {
            // A failed wake (the eventfd write) cannot be acted on here;
            // the poll's timeout still ends it.
            let _ = p.wake();
        }
    }

    /// Polls (blocking up to `timeout`; `None`: until an event or a
    /// wake; `Some(ZERO)`: not at all) into `events`. Returns whether
    /// goroutines became ready: their handles are in `events`, for the
    /// caller to ready (Go's `injectglist`) once it knows where they go.
    pub(crate) fn poll(&self, events: &mut Events<Ready>, timeout: Option<Duration>) -> bool {
        let Some(p) = self.poller.get() else {
            return false;
        };
        let blocking = timeout != Some(Duration::ZERO);
        if blocking {
            self.blocked.store(true, Ordering::Relaxed);
        }
        let r = p.poll(events, timeout);
        if blocking {
            self.blocked.store(false, Ordering::Relaxed);
        }
        // Relaxed: a hint for sysmon.
        self.last_poll
            .store(crate::clock::now_nanos(), Ordering::Relaxed);
        // An error (EINTR) delivers nothing; the caller decides again.
        r.is_ok() && !events.waiters().is_empty()
    }
}
