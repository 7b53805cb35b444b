//! The backend-independent poller: the registration table, dispatch of
//! events to pollDescs, and wake coalescing. Generic over the backend so the
//! unit tests can run it over each one compiled here; the public
//! [`crate::Poller`] is this over [`crate::sys::DefaultSelector`].
//!
//! # Generations
//!
//! A descriptor lives in a `slab`; its [`Token`] is the slab key plus a
//! generation taken from a counter that grows with every registration. The
//! token is what the kernel carries back in each event. When an event is
//! dispatched, the slab entry at the key must exist *and* carry the same
//! generation, or the event is dropped as stale. This is what keeps an event
//! for a closed fd from reaching the next owner of the same fd number or
//! slab key:
//!
//! 1. Poller thread A gets an event for fd 7 (key 3, generation 10) from
//!    `epoll_wait`, and is preempted before dispatching it.
//! 2. Thread B deregisters and closes fd 7; thread C opens a socket, gets
//!    fd 7 again, registers it and gets key 3 again — with generation 11.
//! 3. A dispatches: key 3 holds generation 11, the event says 10: dropped.
//!
//! Go does the same with `fdseq` tagged into the pointer it stores in
//! `epoll_data` (newer Go versions, `taggedPointerPack`). The generation is 32 bits;
//! a stale event would have to wait in some poller's buffer across 2³²
//! registrations to be confused.
//!
//! # Locking
//!
//! The table is an `RwLock<Slab>`: `register` and `deregister` take it for
//! writing for a slab insert or remove (never across a syscall); dispatch
//! takes it for reading once per batch of events, so pollers on several
//! threads dispatch in parallel. Removal happens under the write lock
//! *before* the descriptor is closed, so once `deregister` returns no
//! dispatch can reach the descriptor. A descriptor is inserted *before* the
//! kernel learns of its fd, so no event can arrive for a token that is not
//! in the table yet.

use std::os::fd::RawFd;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use slab::Slab;

use crate::error::{Error, Result};
use crate::event::{Event, Interest, Token};
use crate::loom::{AtomicBool, Ordering, RwLock};
use crate::poll_desc::{PollDesc, Waiters};
use crate::sys::{RawEvents, Selector, WAKE_TOKEN};

/// Keys at or above this are never handed out (the key `u32::MAX` with
/// generation `u32::MAX` is [`WAKE_TOKEN`]).
const MAX_KEY: usize = u32::MAX as usize;

/// Default number of events one `poll` can return (Go uses 128).
pub(crate) const DEFAULT_EVENTS: usize = 128;

struct Table<W> {
    slab: Slab<Arc<PollDesc<W>>>,
    /// The next generation to hand out (see *Generations*). Starts at 1 so
    /// that a zeroed token is never valid.
    next_generation: u32,
}

/// The poller over backend `B` (see the module docs).
pub(crate) struct PollerCore<W, B> {
    selector: B,
    /// Who touches it: `register`/`deregister` write, dispatch reads.
    table: RwLock<Table<W>>,
    /// A wake is outstanding (Go's `netpollWakeSig`): set by `wake`, cleared
    /// by the poller that consumed it. Coalesces wakes to one syscall.
    wake_pending: AtomicBool,
}

/// The buffer a poll fills, over raw buffer `R` (see [`crate::Events`]).
pub(crate) struct EventsCore<W, R> {
    pub(crate) raw: R,
    pub(crate) events: Vec<Event>,
    pub(crate) waiters: Vec<W>,
    pub(crate) woken: bool,
    pub(crate) stale: usize,
}

impl<W, R: RawEvents> EventsCore<W, R> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        EventsCore {
            raw: R::with_capacity(capacity),
            events: Vec::with_capacity(capacity),
            waiters: Vec::with_capacity(capacity),
            woken: false,
            stale: 0,
        }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.waiters.clear();
        self.woken = false;
        self.stale = 0;
    }
}

impl<W: Send, B: Selector> PollerCore<W, B> {
    pub(crate) fn new() -> Result<Self> {
        let selector = B::new().map_err(|source| Error::Io {
            op: "create poller",
            source,
        })?;
        Ok(PollerCore {
            selector,
            table: RwLock::new(Table {
                slab: Slab::new(),
                next_generation: 1,
            }),
            wake_pending: AtomicBool::new(false),
        })
    }

    pub(crate) fn backend(&self) -> &'static str {
        B::NAME
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.selector.as_raw_fd()
    }

    pub(crate) fn len(&self) -> usize {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .slab
            .len()
    }

    pub(crate) fn register(&self, fd: RawFd, interest: Interest) -> Result<Arc<PollDesc<W>>> {
        if fd < 0 {
            return Err(Error::InvalidFd { fd });
        }
        let pd = {
            let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
            let generation = table.next_generation;
            let entry = table.slab.vacant_entry();
            let key = entry.key();
            if key >= MAX_KEY {
                return Err(Error::TooManyRegistrations);
            }
            let pd = Arc::new(PollDesc::new(
                fd,
                Token::new(key as u32, generation),
                interest,
            ));
            entry.insert(Arc::clone(&pd));
            table.next_generation = generation.wrapping_add(1).max(1);
            pd
        };
        // Inserted first, so an event cannot beat the insert (see *Locking*).
        if let Err(e) = self.selector.register(fd, pd.token().as_u64(), interest) {
            self.remove(&pd);
            return Err(Error::from_register(fd, e));
        }
        Ok(pd)
    }

    /// Removes `pd` from the table if it is there; true if it was.
    fn remove(&self, pd: &Arc<PollDesc<W>>) -> bool {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let key = pd.token().key() as usize;
        match table.slab.get(key) {
            Some(cur) if Arc::ptr_eq(cur, pd) => {
                table.slab.remove(key);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn deregister(&self, pd: &Arc<PollDesc<W>>) -> Result<Waiters<W>> {
        if !self.remove(pd) {
            return Err(Error::NotRegistered { token: pd.token() });
        }
        let waiters = pd.close();
        // An error here (the caller closed the fd first) is harmless: the
        // token is gone from the table, so any event still in flight for it
        // is dropped at dispatch (see *Generations*).
        let _ = self.selector.deregister(pd.fd());
        Ok(waiters)
    }

    pub(crate) fn poll(
        &self,
        events: &mut EventsCore<W, B::Events>,
        timeout: Option<Duration>,
    ) -> Result<usize> {
        self.select(events, timeout)?;
        Ok(self.dispatch(events))
    }

    /// The first half of `poll`: the syscall. Split out so the tests can
    /// deregister between the two halves (see *Generations*).
    pub(crate) fn select(
        &self,
        events: &mut EventsCore<W, B::Events>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        events.clear();
        self.selector
            .select(&mut events.raw, timeout)
            .map_err(|source| Error::Io { op: "poll", source })
    }

    /// The second half of `poll`: hands each event to its pollDesc (Go's
    /// `netpollready`), dropping stale ones. Returns the number of events
    /// delivered.
    pub(crate) fn dispatch(&self, events: &mut EventsCore<W, B::Events>) -> usize {
        let EventsCore {
            raw,
            events: list,
            waiters,
            woken,
            stale,
        } = events;
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        for (token, readiness) in raw.iter() {
            if token == WAKE_TOKEN {
                *woken = true;
                continue;
            }
            let token = Token(token);
            match table.slab.get(token.key() as usize) {
                Some(pd) if pd.token() == token => {
                    if pd.ready(readiness, waiters) {
                        list.push(Event { token, readiness });
                    }
                }
                _ => *stale += 1,
            }
        }
        drop(table);
        if *woken {
            self.selector.reset_wake();
            // Release: pairs with the AcqRel swap in `wake`; a waker that
            // then reads `false` knows this wake was consumed (the eventfd
            // was read above) and must signal again.
            self.wake_pending.store(false, Ordering::Release);
        }
        list.len()
    }

    pub(crate) fn wake(&self) -> Result<()> {
        // AcqRel: pairs with the Release store in `dispatch`. Only the waker
        // that turns the flag on pays the syscall (Go's netpollWakeSig).
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.selector.wake().map_err(|source| {
                self.wake_pending.store(false, Ordering::Relaxed);
                Error::Io { op: "wake", source }
            })?;
        }
        Ok(())
    }
}

impl<W, B> Drop for PollerCore<W, B> {
    fn drop(&mut self) {
        // Descriptors outlive the poller if the caller holds them; mark
        // them closing so a later `park` hands its waiter straight back
        // instead of stranding it where no event will ever come.
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        for (_, pd) in table.slab.iter() {
            // Waiters parked now would have been woken by no one; they are
            // dropped with the poller (the scheduler deregisters first).
            drop(pd.close());
        }
    }
}
