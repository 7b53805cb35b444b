//! The small value types of the poller: [`Token`], [`Interest`],
//! [`Direction`], [`Readiness`] and [`Event`].

use std::fmt;

/// The stable name of one registration: its slab key and its generation.
///
/// A token is fixed when [`crate::Poller::register`] returns and never
/// changes. The slab key (low 32 bits) is reused after a deregistration, the
/// generation (high 32 bits) is not (until it wraps after 2³² registrations),
/// so an event carrying an old token can be told apart from one for the new
/// owner of the same key or fd number (see *Generations* in `poller.rs`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(crate) u64);

impl Token {
    /// Packs a slab key and a generation.
    pub(crate) const fn new(key: u32, generation: u32) -> Token {
        Token(((generation as u64) << 32) | key as u64)
    }

    /// The slab key: small, dense, reused after deregistration. Handy as an
    /// index into a table of the caller's own.
    pub const fn key(self) -> u32 {
        self.0 as u32
    }

    /// The generation: differs between two registrations that share a key.
    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The token as one integer (what the kernel carries in `epoll_data`).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}#{})", self.key(), self.generation())
    }
}

/// Which directions a registration watches.
///
/// Go registers every fd for both ([`Interest::BOTH`]), once, and never
/// changes it: edge-triggered events cost nothing while no one waits. Use
/// `BOTH` unless the fd can only go one way (a listener, a pipe end).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Readable (and read-side hang-up).
    pub const READ: Interest = Interest(1);
    /// Writable.
    pub const WRITE: Interest = Interest(2);
    /// Both directions: Go's `EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`.
    pub const BOTH: Interest = Interest(3);

    /// Whether the read direction is watched.
    pub const fn is_read(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether the write direction is watched.
    pub const fn is_write(self) -> bool {
        self.0 & 2 != 0
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.is_read(), self.is_write()) {
            (true, true) => "BOTH",
            (true, false) => "READ",
            _ => "WRITE",
        })
    }
}

/// One of the two waiter slots of a [`crate::PollDesc`] (Go's `'r'` and
/// `'w'` modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The read slot (Go's `pd.rg`).
    Read,
    /// The write slot (Go's `pd.wg`).
    Write,
}

/// What an event said about an fd, in the crate's own bits.
///
/// The backend bits map to the two directions as Go's `netpoll` maps epoll
/// bits to modes: `EPOLLIN|EPOLLRDHUP|EPOLLHUP|EPOLLERR` → read,
/// `EPOLLOUT|EPOLLHUP|EPOLLERR` → write. So a hang-up or an error wakes both
/// directions; a read-side hang-up (the peer's `shutdown(SHUT_WR)`) wakes
/// readers only, because writing to a half-closed socket is still allowed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u8);

impl Readiness {
    /// Data (or a connection, for a listener) can be read.
    pub const READABLE: Readiness = Readiness(1 << 0);
    /// Buffer space to write.
    pub const WRITABLE: Readiness = Readiness(1 << 1);
    /// The peer will send no more (`EPOLLRDHUP`, kqueue `EV_EOF`).
    pub const READ_CLOSED: Readiness = Readiness(1 << 2);
    /// Neither direction can go on (`EPOLLHUP`).
    pub const WRITE_CLOSED: Readiness = Readiness(1 << 3);
    /// An error is pending on the fd (`EPOLLERR`, kqueue `EV_ERROR`).
    pub const ERROR: Readiness = Readiness(1 << 4);

    /// No bits.
    pub const EMPTY: Readiness = Readiness(0);

    const READ_DIR: u8 = Self::READABLE.0 | Self::READ_CLOSED.0 | Self::ERROR.0;
    const WRITE_DIR: u8 = Self::WRITABLE.0 | Self::WRITE_CLOSED.0 | Self::ERROR.0;

    /// Union of two sets of bits.
    #[must_use]
    pub const fn union(self, other: Readiness) -> Readiness {
        Readiness(self.0 | other.0)
    }

    /// Whether all bits of `other` are set.
    pub const fn contains(self, other: Readiness) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether this wakes the read direction (Go's mode `'r'`).
    pub const fn wakes_read(self) -> bool {
        self.0 & Self::READ_DIR != 0
    }

    /// Whether this wakes the write direction (Go's mode `'w'`).
    pub const fn wakes_write(self) -> bool {
        self.0 & Self::WRITE_DIR != 0
    }

    /// Whether this wakes `dir`.
    pub const fn wakes(self, dir: Direction) -> bool {
        match dir {
            Direction::Read => self.wakes_read(),
            Direction::Write => self.wakes_write(),
        }
    }

    /// Whether an error is pending.
    pub const fn is_error(self) -> bool {
        self.contains(Self::ERROR)
    }

    /// Whether the read side is closed (or the whole connection hung up).
    pub const fn is_read_closed(self) -> bool {
        self.contains(Self::READ_CLOSED)
    }

    /// Whether the connection hung up (`EPOLLHUP`).
    pub const fn is_write_closed(self) -> bool {
        self.contains(Self::WRITE_CLOSED)
    }
}

impl std::ops::BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, rhs: Readiness) -> Readiness {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for Readiness {
    fn bitor_assign(&mut self, rhs: Readiness) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::READ_CLOSED, "READ_CLOSED"),
            (Self::WRITE_CLOSED, "WRITE_CLOSED"),
            (Self::ERROR, "ERROR"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("EMPTY")?;
        }
        Ok(())
    }
}

/// One delivered event: which registration, and what became ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The registration's token (never a stale one: see `poller.rs`).
    pub token: Token,
    /// What the kernel reported.
    pub readiness: Readiness,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn token_round_trips(key in any::<u32>(), generation in any::<u32>()) {
            let t = Token::new(key, generation);
            prop_assert_eq!(t.key(), key);
            prop_assert_eq!(t.generation(), generation);
        }
    }

    #[test]
    fn hangup_and_error_wake_both_rdhup_only_read() {
        assert!(Readiness::ERROR.wakes_read() && Readiness::ERROR.wakes_write());
        let hup = Readiness::READ_CLOSED | Readiness::WRITE_CLOSED;
        assert!(hup.wakes_read() && hup.wakes_write());
        assert!(Readiness::READ_CLOSED.wakes_read());
        assert!(!Readiness::READ_CLOSED.wakes_write());
        assert!(!Readiness::READABLE.wakes_write());
        assert!(!Readiness::WRITABLE.wakes_read());
        assert_eq!(format!("{:?}", Readiness::EMPTY), "EMPTY");
        assert_eq!(format!("{hup:?}"), "READ_CLOSED|WRITE_CLOSED");
    }
}
