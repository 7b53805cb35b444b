//! The portable backend: mio, which covers Windows IOCP and every unix mio
//! supports. On Linux it is forced by `--cfg burrow_force_mio` or the
//! `force-mio` feature, and always compiled for the unit tests, so CI runs
//! the whole poller suite over it too.
//!
//! mio registers edge-triggered (on Linux with the same epoll flags as Go)
//! and reports readiness per event; its `Poll` needs `&mut self`, so it sits
//! behind a mutex and concurrent selects take turns (rule 4 of the contract
//! in `sys/mod.rs`). Registration goes through a cloned `Registry`, which
//! needs no lock. Waking uses `mio::Waker`.
//!
//! Registration takes a raw fd (`mio::unix::SourceFd`), so this backend is
//! for unix targets; on Windows mio can only register its own socket types,
//! and the crate's fd-based API would need a socket-based twin first.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::Duration;

use mio::unix::SourceFd;

use super::{RawEvents, Selector as SelectorContract, WAKE_TOKEN};
use crate::event::{Interest, Readiness};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("the mio backend needs 64-bit mio tokens (see sys/mod.rs)");

/// The mio selector.
#[derive(Debug)]
pub(crate) struct Selector {
    /// Held while selecting (by any thread, one at a time).
    poll: Mutex<mio::Poll>,
    registry: mio::Registry,
    waker: mio::Waker,
    /// The poll's epoll/kqueue fd, read once (the mutex may be held).
    raw_fd: RawFd,
}

/// A `mio::Events` buffer.
pub(crate) struct Events {
    inner: mio::Events,
}

fn mio_interest(interest: Interest) -> mio::Interest {
    match (interest.is_read(), interest.is_write()) {
        (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
        (false, true) => mio::Interest::WRITABLE,
        _ => mio::Interest::READABLE,
    }
}

impl SelectorContract for Selector {
    type Events = Events;
    const NAME: &'static str = "mio";

    fn new() -> io::Result<Selector> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(&registry, mio::Token(WAKE_TOKEN as usize))?;
        let raw_fd = poll.as_raw_fd();
        Ok(Selector {
            poll: Mutex::new(poll),
            registry,
            waker,
            raw_fd,
        })
    }

    fn register(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.registry.register(
            &mut SourceFd(&fd),
            mio::Token(token as usize),
            mio_interest(interest),
        )
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        self.registry.deregister(&mut SourceFd(&fd))
    }

    fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.inner.clear();
        let mut poll = if timeout == Some(Duration::ZERO) {
            match self.poll.try_lock() {
                Ok(p) => p,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // Another thread is selecting: a non-blocking select has
                // nothing to add (contract rule 4).
                Err(TryLockError::WouldBlock) => return Ok(()),
            }
        } else {
            self.poll.lock().unwrap_or_else(PoisonError::into_inner)
        };
        match poll.poll(&mut events.inner, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            other => other,
        }
    }

    fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }

    fn reset_wake(&self) {
        // mio's waker resets itself (edge-triggered eventfd / EVFILT_USER).
    }

    fn as_raw_fd(&self) -> RawFd {
        self.raw_fd
    }
}

impl RawEvents for Events {
    fn with_capacity(capacity: usize) -> Events {
        Events {
            inner: mio::Events::with_capacity(capacity.max(1)),
        }
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    fn iter(&self) -> impl Iterator<Item = (u64, Readiness)> + '_ {
        self.inner.iter().map(|ev| {
            let mut r = Readiness::EMPTY;
            if ev.is_readable() {
                r |= Readiness::READABLE;
            }
            if ev.is_writable() {
                r |= Readiness::WRITABLE;
            }
            if ev.is_read_closed() {
                r |= Readiness::READ_CLOSED;
            }
            if ev.is_write_closed() {
                r |= Readiness::WRITE_CLOSED;
            }
            if ev.is_error() {
                r |= Readiness::ERROR;
            }
            (ev.token().0 as u64, r)
        })
    }
}
