//! The I/O loop every socket call goes through (Go's `fd_unix.go`): check
//! the deadline and closed state, try the system call, park on `EAGAIN`.

use std::io;

use burrow_sched::netpoll::{Direction, PollFd};

/// Runs `op` until it does not fail with `WouldBlock`, parking the
/// goroutine (or blocking the thread) on `pfd` in direction `dir` between
/// tries. `EINTR` is retried.
pub(crate) fn io_loop<T>(
    pfd: &PollFd,
    dir: Direction,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    loop {
        pfd.check(dir)?;
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => pfd.wait(dir)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}
