//! The keep-alive pool: idle connections per host, Go's
//! `Transport.idleConn`, and the two decisions around it — may this
//! connection go back after this response ([`keep_alive`]), and is this
//! idle connection still usable ([`still_open`]). See *The pool* in
//! `client/mod.rs`.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use super::ClientConn;

/// A connection the client owns: one TCP stream to one host.
pub(crate) type PersistConn = ClientConn<burrow_net::TcpStream>;

/// An idle connection and when it went idle.
struct Idle {
    conn: PersistConn,
    since: Instant,
}

/// Idle connections by pool key (scheme, host, port).
///
/// Any goroutine may touch `idle`, under its lock; the lock is held only
/// to move connections in and out, never across I/O or a `close` (the
/// connections taken out are checked and dropped after it is released).
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

impl Pool {
    /// Takes the most recently used idle connection for `key` that is
    /// younger than `idle_timeout` and still open (Go takes the newest,
    /// the one least likely to have been closed by the server's own idle
    /// timer). Expired and dead connections are dropped on the way.
    pub(crate) fn take(&self, key: &str, idle_timeout: Duration) -> Option<PersistConn> {
        loop {
            let mut expired = Vec::new();
            let candidate = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(key)?;
                let now = Instant::now();
                let (keep, old): (Vec<Idle>, Vec<Idle>) = std::mem::take(list)
                    .into_iter()
                    .partition(|c| now.duration_since(c.since) < idle_timeout);
                *list = keep;
                expired.extend(old);
                let c = list.pop();
                if list.is_empty() {
                    idle.remove(key);
                }
                c
            };
            drop(expired);
            let mut c = candidate?;
            if still_open(&mut c.conn) {
                return Some(c.conn);
            }
        }
    }

    /// Returns `conn` to the pool for `key`, or closes it if the host
    /// already has `max_idle` idle connections.
    pub(crate) fn put(&self, key: &str, conn: PersistConn, max_idle: usize) {
        let mut refused = None;
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let list = idle.entry(key.to_owned()).or_default();
            if list.len() < max_idle {
                list.push(Idle {
                    conn,
                    since: Instant::now(),
                });
            } else {
                refused = Some(conn);
            }
        }
        drop(refused);
    }

    /// The number of idle connections for `key`.
    pub(crate) fn idle_count(&self, key: &str) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.get(key).map_or(0, Vec::len)
    }

    /// Closes every idle connection.
    pub(crate) fn clear(&self) {
        let all = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        drop(all);
    }
}

/// Whether an idle connection can carry another request: nothing unasked
/// is buffered, and the socket shows neither the end of the stream nor
/// data nor an error. The look is a non-blocking `MSG_PEEK` (the socket is
/// non-blocking from birth, see burrow-net), so a live connection costs
/// one system call that says "would block" and no wait. Go learns the
/// same from the read loop goroutine each idle connection keeps.
pub(crate) fn still_open(conn: &mut PersistConn) -> bool {
    if conn.buffered_len() > 0 {
        return false;
    }
    peek_would_block(conn.get_mut())
}

#[cfg(unix)]
fn peek_would_block(stream: &burrow_net::TcpStream) -> bool {
    use std::mem::ManuallyDrop;
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: the descriptor is open for as long as `stream` is borrowed,
    // which outlives `probe`; `ManuallyDrop` keeps `probe` from closing a
    // descriptor it does not own. `peek` does not change the descriptor's
    // flags, so it stays non-blocking as burrow-net made it.
    let probe = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(stream.as_raw_fd()) });
    let mut byte = [0u8; 1];
    matches!(probe.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(not(unix))]
fn peek_would_block(_stream: &burrow_net::TcpStream) -> bool {
    true
}

/// Whether the connection may carry another request after `resp`, the
/// answer to a `method` request whose headers were `req_headers`: the body
/// was framed by length or chunks (not by the close), neither side said
/// `Connection: close`, and an HTTP/1.0 response said `keep-alive`
/// (Go's `persistConn.readLoop` and `Response.Close`).
pub(crate) fn keep_alive(
    method: &Method,
    req_headers: &HeaderMap,
    resp: &http::Response<Vec<u8>>,
) -> bool {
    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS
        || has_token(req_headers, "close")
        || has_token(resp.headers(), "close")
    {
        return false;
    }
    if resp.version() == Version::HTTP_10 && !has_token(resp.headers(), "keep-alive") {
        return false;
    }
    *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || resp.headers().contains_key(TRANSFER_ENCODING)
        || resp.headers().contains_key(CONTENT_LENGTH)
}

/// Whether a `Connection` field lists `token`.
fn has_token(headers: &HeaderMap, token: &str) -> bool {
    headers.get_all(CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}
