//! The crate's error type. Bad input (a closed or invalid fd, a descriptor
//! that is not registered) is an error value, never a panic.

use std::io;
use std::os::fd::RawFd;

/// What can go wrong in a [`crate::Poller`] call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The fd is negative or not open (`EBADF`).
    #[error("fd {fd} is not an open file descriptor")]
    InvalidFd {
        /// The fd passed in.
        fd: RawFd,
    },
    /// The fd is already registered with this poller (`EEXIST`).
    #[error("fd {fd} is already registered with this poller")]
    AlreadyRegistered {
        /// The fd passed in.
        fd: RawFd,
    },
    /// The OS cannot poll this kind of file (`EPERM`: a regular file or a
    /// directory under epoll).
    #[error("fd {fd} refers to a file that cannot be polled")]
    NotPollable {
        /// The fd passed in.
        fd: RawFd,
    },
    /// The descriptor was already deregistered, or belongs to another poller.
    #[error("poll descriptor {token:?} is not registered with this poller")]
    NotRegistered {
        /// The descriptor's token.
        token: crate::Token,
    },
    /// The slab of descriptors is full (2³² − 1 live registrations).
    #[error("too many registrations")]
    TooManyRegistrations,
    /// Any other OS error.
    #[error("{op} failed: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Maps an OS error from registering `fd`.
    pub(crate) fn from_register(fd: RawFd, source: io::Error) -> Error {
        match source.raw_os_error() {
            Some(libc::EBADF) => Error::InvalidFd { fd },
            Some(libc::EEXIST) => Error::AlreadyRegistered { fd },
            Some(libc::EPERM) => Error::NotPollable { fd },
            _ => Error::Io {
                op: "register",
                source,
            },
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
