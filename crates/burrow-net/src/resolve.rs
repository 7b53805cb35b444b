//! Name resolution: [`ToSocketAddrs`] through the runtime's blocking
//! hand-off, so that a slow resolver holds a thread, not a P.
//!
//! std's resolver (`getaddrinfo`) blocks its thread, for as long as the
//! DNS server takes. Go has its own resolver in Go for that reason, and
//! falls back to cgo's `getaddrinfo` on a thread of its own when it must.
//! We keep std's resolver (it reads `/etc/nsswitch.conf`, `/etc/hosts`
//! and the system's configuration, as users expect) and run it inside
//! [`burrow_sched::blocking`]: the goroutine's P moves on to the other
//! goroutines if the lookup is slow, and a literal address costs two
//! atomic swaps more than calling it directly.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr`, failing if it names nothing. Inside a goroutine the
/// lookup runs as a blocking call; the runtime's thread cap
/// ([`burrow_sched::ThreadLimit`]) is reported as an `io::Error`.
pub(crate) fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs = burrow_sched::blocking(|| {
        addr.to_socket_addrs()
            .map(|it| it.collect::<Vec<SocketAddr>>())
    })??;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        ));
    }
    Ok(addrs)
}

/// Tries `f` on each address `addr` resolves to, returning the first
/// success or the last error (std's and Go's dialling order).
pub(crate) fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}
