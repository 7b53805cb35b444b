//! The connection state machine ([`serve_conn`]), the [`Handler`] trait
//! and the limits and timeouts ([`ServerConfig`]). The accept loop
//! ([`Server`]), its registry of connections and shutdown are in
//! `server/accept.rs`.
//!
//! # One connection
//!
//! ```text
//!        ┌──────────── keep-alive ◄──────────────────────────┐
//!        ▼                                                   │
//!   wait for a byte ──EOF/idle timeout──► close              │
//!   (idle_timeout)                                           │
//!        ▼                                                   │
//!   read head ──bad head──► error status, lingering close    │
//!   (read_header_timeout) ──timeout, partial head──► 408     │
//!        ▼                                                   │
//!   handler(w, req) ──panic──► 500 if nothing sent, close    │
//!   (read_timeout on the body, write_timeout on the reply)   │
//!        ▼                                                   │
//!   finish reply, discard unread body ──can't──► close       │
//!        └───── client and reply allow another request ──────┘
//! ```
//!
//! Requests on a connection are served one after another by the goroutine
//! (for now, thread) that owns it, so pipelined requests are answered in
//! order by construction: the next head is parsed from the read buffer only
//! after the previous response was written.
//!
//! # Expect: 100-continue
//!
//! The client waits before sending the body. We send `100 Continue` only
//! when the handler first reads the body (Go's `expectContinueReader`): a
//! handler that answers without reading (an auth failure, a 413) saves
//! the client the upload. If the response starts first, no `100 Continue` is
//! sent, the unread body is not waited for, and the connection closes.
//!
//! # Closing
//!
//! After an error the server answers itself (a bad head, 413, 408), it does
//! not drop the socket at once: closing with unread request bytes makes the
//! kernel send RST, which can destroy the response before the client reads
//! it. It half-closes (`shutdown_write`, the client reads EOF after the
//! response) and discards input for up to [`LINGER`], as Go's
//! `closeWriteAndWait` does.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::body::{Body, BodyError, ContinueHook, ContinueState};
use crate::bufio::ConnReader;
use crate::conn::{Conn, Transport, TransportReader, Wire, is_timeout};
use crate::head::{Framing, HeadLimits, ReadHeadError, RequestHead, read_request_head};
use crate::response::{ResponseWriter, WriteBufs};
use crate::{Request, date};

mod accept;

pub use accept::{ConnJob, Server, listen_and_serve};
use accept::{ConnTrack, STATE_IDLE, STATE_NEW};

/// How much unread request body the server reads and discards after the
/// handler returns, to keep the connection (Go's
/// `maxPostHandlerReadBytes`); a longer rest closes it instead.
pub const MAX_DISCARD_BYTES: u64 = 256 << 10;

/// How long a closing connection keeps reading (and discarding) after an
/// error response, so the response is not lost to a reset (Go's
/// `rstAvoidanceDelay`). See *Closing*.
pub const LINGER: Duration = Duration::from_millis(500);

/// Responds to HTTP requests: Go's `http.Handler`.
///
/// Implemented for closures `Fn(&mut ResponseWriter, &mut Request)` (Go's
/// `HandlerFunc`) and for [`ServeMux`](crate::ServeMux). The request is
/// `&mut` because its body is a reader; a handler reads it with
/// `r.body_mut().read_to_end(..)`, and the mux stores path values in its
/// extensions.
///
/// A panic in `serve_http` is caught: the client gets a 500 (if nothing was
/// sent yet), the connection closes, and the server goes on serving.
pub trait Handler: Send + Sync {
    /// Writes the response to `r` into `w`.
    fn serve_http(&self, w: &mut ResponseWriter<'_>, r: &mut Request<'_>);
}

impl<F> Handler for F
where
    F: Fn(&mut ResponseWriter<'_>, &mut Request<'_>) + Send + Sync,
{
    fn serve_http(&self, w: &mut ResponseWriter<'_>, r: &mut Request<'_>) {
        self(w, r)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn serve_http(&self, w: &mut ResponseWriter<'_>, r: &mut Request<'_>) {
        (**self).serve_http(w, r)
    }
}

/// Turns a closure into a [`Handler`], fixing its argument types so they
/// need no annotation (Go's `http.HandlerFunc`).
pub fn handler_fn<F>(f: F) -> F
where
    F: Fn(&mut ResponseWriter<'_>, &mut Request<'_>) + Send + Sync,
{
    f
}

/// Where a server reports what it cannot tell a client: handler panics,
/// failed connections, accept errors (Go's `Server.ErrorLog`). Each call
/// is one line without a trailing newline.
pub type ErrorLog = Arc<dyn Fn(&str) + Send + Sync>;

/// Limits, timeouts and options: the fields of Go's `http.Server` that
/// govern a connection. `None` means no limit, as a zero does in Go.
#[derive(Clone)]
pub struct ServerConfig {
    /// The most bytes a request head (line and header fields) may have;
    /// more is a 431. Also bounds chunked trailers. Default 1 MiB.
    pub max_header_bytes: usize,
    /// The longest request target; longer is a 414. Default 8 KiB.
    pub max_uri_bytes: usize,
    /// The largest request body: a larger `Content-Length` is a 413 before
    /// the handler runs; a chunked body that grows past it fails the
    /// handler's read (and is a 413 if the handler then writes nothing).
    /// Default none (Go has no default either).
    pub max_body_bytes: Option<u64>,
    /// Time to read a request head, from the moment it is awaited (after
    /// the idle wait on a reused connection). Falls back to `read_timeout`.
    pub read_header_timeout: Option<Duration>,
    /// Time to read a whole request, head and body.
    pub read_timeout: Option<Duration>,
    /// Time from the end of the request head to the end of the response.
    pub write_timeout: Option<Duration>,
    /// Time a kept-alive connection may wait for its next request. Falls
    /// back to `read_timeout`.
    pub idle_timeout: Option<Duration>,
    /// Where errors go; `None` (the default) prints them to stderr.
    pub error_log: Option<ErrorLog>,
    /// Bind with `SO_REUSEPORT` in [`Server::listen_and_serve`], so several
    /// processes (or listeners) can serve one port and the kernel spreads
    /// connections among them. Default off.
    pub reuse_port: bool,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_uri_bytes", &self.max_uri_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("read_header_timeout", &self.read_header_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("error_log", &self.error_log.as_ref().map(|_| "hook"))
            .field("reuse_port", &self.reuse_port)
            .finish()
    }
}

impl ServerConfig {
    /// Reports `msg` to [`error_log`](Self::error_log), or to stderr.
    pub fn log(&self, msg: &str) {
        match &self.error_log {
            Some(log) => log(msg),
            None => eprintln!("http: {msg}"),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_header_bytes: 1 << 20,
            max_uri_bytes: 8 << 10,
            max_body_bytes: None,
            read_header_timeout: None,
            read_timeout: None,
            write_timeout: None,
            idle_timeout: None,
            error_log: None,
            reuse_port: false,
        }
    }
}

fn deadline_after(d: Option<Duration>) -> Option<Instant> {
    d.map(|d| Instant::now() + d)
}

/// Serves HTTP/1.x requests on one connection until either side ends it;
/// see *One connection*. Returns `Ok` for every ordinary end (the client
/// closed, a timeout, a bad request answered); `Err` only when the stream
/// itself failed.
pub fn serve_conn<S, H>(stream: S, handler: &H, config: &ServerConfig) -> io::Result<()>
where
    S: Conn,
    H: Handler + ?Sized,
{
    serve_tracked(stream, handler, config, None)
}

/// [`serve_conn`] for a [`Server`], which tracks the connection's state
/// for shutdown (see *Shutdown* on [`Server`], in `server/accept.rs`).
fn serve_tracked<S, H>(
    stream: S,
    handler: &H,
    config: &ServerConfig,
    tracking: Option<(&ConnTrack, &AtomicBool)>,
) -> io::Result<()>
where
    S: Conn,
    H: Handler + ?Sized,
{
    let shutting_down = || tracking.is_some_and(|(_, flag)| flag.load(Ordering::SeqCst));
    let wire = Wire::new(stream);
    let mut rd = ConnReader::new(TransportReader(&wire));
    let limits = HeadLimits {
        max_header_bytes: config.max_header_bytes,
        max_uri_bytes: config.max_uri_bytes,
    };
    let mut first = true;
    // The response buffers, kept across requests (see *Committing the
    // head* in `response.rs`).
    let mut write_bufs = WriteBufs::default();
    // The previous request's header map, emptied, for the next head's
    // fields (see `read_request_head`).
    let mut spare_headers = http::HeaderMap::new();
    // And its extensions, emptied: the mux stores what it matched there,
    // and an emptied map keeps its storage for the next request's.
    let mut spare_extensions = http::Extensions::new();
    loop {
        if !first && rd.buffered().is_empty() {
            // Idle between requests: only the idle timeout applies. Idle
            // first, then the shutdown check: a shutdown that began after
            // the check finds this connection idle and closes it.
            if let Some((track, _)) = tracking {
                track.state.store(STATE_IDLE, Ordering::SeqCst);
            }
            if shutting_down() {
                return Ok(());
            }
            wire.set_read_deadline(deadline_after(config.idle_timeout.or(config.read_timeout)));
            match rd.fill_more() {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if is_timeout(&e) || is_disconnect(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
            if let Some((track, _)) = tracking {
                if !track.activate(STATE_IDLE) {
                    return Ok(()); // a shutdown is closing us
                }
            }
        }

        let t0 = Instant::now();
        let header_timeout = config.read_header_timeout.or(config.read_timeout);
        wire.set_read_deadline(header_timeout.map(|d| t0 + d));
        let head = match read_request_head(&mut rd, limits, &mut spare_headers) {
            Ok(head) => head,
            Err(ReadHeadError::Eof) => return Ok(()),
            Err(ReadHeadError::Io { err, partial }) => {
                if partial && is_timeout(&err) {
                    error_and_close(&wire, &mut rd, StatusCode::REQUEST_TIMEOUT, "")?;
                }
                return if is_timeout(&err) || is_disconnect(&err) {
                    Ok(())
                } else {
                    Err(err)
                };
            }
            Err(ReadHeadError::Reject(r)) => {
                return error_and_close(&wire, &mut rd, r.status, r.reason);
            }
        };
        if first {
            if let Some((track, _)) = tracking {
                if !track.activate(STATE_NEW) {
                    return Ok(()); // a shutdown is closing us
                }
            }
            first = false;
        }

        let more = serve_request(
            head,
            t0,
            &wire,
            &mut rd,
            handler,
            config,
            &shutting_down,
            &mut write_bufs,
            &mut spare_headers,
            &mut spare_extensions,
        )?;
        if !more {
            return Ok(());
        }
    }
}

/// One request, from a complete head to the end of its response: the
/// body, the handler, the reply and what it leaves for the next request.
/// Returns whether the connection serves another one; `Err` only when the
/// stream failed.
///
/// Never inlined: its locals (the request, the writer, the body's state:
/// about a kilobyte) then take stack only while a request is being
/// answered, and are not under the head parser's frame while it parses the
/// next head, nor under the connection's wait for it. Together the two
/// would cross a second stack page on every request, which then stays
/// resident for each busy connection.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn serve_request<S, H>(
    mut head: RequestHead,
    t0: Instant,
    wire: &Wire<S>,
    rd: &mut ConnReader<TransportReader<'_>>,
    handler: &H,
    config: &ServerConfig,
    shutting_down: &dyn Fn() -> bool,
    write_bufs: &mut WriteBufs,
    spare_headers: &mut http::HeaderMap,
    spare_extensions: &mut http::Extensions,
) -> io::Result<bool>
where
    S: Conn,
    H: Handler + ?Sized,
{
    wire.set_read_deadline(config.read_timeout.map(|d| t0 + d));
    wire.set_write_deadline(deadline_after(config.write_timeout));
    if let (Framing::Length(n), Some(max)) = (head.framing, config.max_body_bytes) {
        if n > max {
            return error_and_close(
                wire,
                rd,
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            )
            .map(|()| false);
        }
    }

    let cont = Cell::new(if head.expect_continue {
        ContinueState::Pending
    } else {
        ContinueState::NotExpected
    });
    let hook = || {
        head.expect_continue.then_some(ContinueHook {
            wire: wire as &dyn Transport,
            state: &cont,
        })
    };
    debug_assert!(
        head.parts.extensions.is_empty(),
        "the head parser adds none"
    );
    head.parts.extensions = std::mem::take(spare_extensions);
    let method = head.parts.method.clone();
    let version = head.parts.version;
    let body = match head.framing {
        Framing::Empty => Body::empty(),
        Framing::Length(n) => Body::with_length(rd, n, config.max_body_bytes, hook()),
        Framing::Chunked => {
            Body::chunked(rd, config.max_header_bytes, config.max_body_bytes, hook())
        }
    };
    let mut req = Request::from_parts(head.parts, body);
    let mut w = ResponseWriter::new(
        wire,
        &cont,
        &method,
        version,
        head.keep_alive,
        std::mem::take(write_bufs),
    );

    let options_star = method == http::Method::OPTIONS && req.uri() == "*";
    let served = if options_star {
        // `OPTIONS *` asks about the server, not a resource: answered
        // here, as Go's `serverHandler` does, with an empty 200.
        w.header_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(0));
        Ok(())
    } else {
        catch_unwind(AssertUnwindSafe(|| handler.serve_http(&mut w, &mut req)))
    };
    if let Err(panic) = served {
        log_panic(config, wire, &req, &*panic);
        if !w.head_sent() {
            w.replace_with_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            );
            let _ = w.finish();
        }
        let body_complete = req.body().is_complete();
        drop(req);
        if !body_complete || !rd.buffered().is_empty() {
            linger(wire, rd);
        }
        return Ok(false);
    }

    if !w.head_sent() {
        match req.body().error() {
            Some(BodyError::Truncated) if w.untouched() => {
                // The client closed mid-body: nobody to answer.
                return Ok(false);
            }
            Some(e) if w.untouched() => {
                let (status, text) = match e {
                    BodyError::TooLarge { .. } => (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "413 Request Entity Too Large",
                    ),
                    _ => (StatusCode::BAD_REQUEST, "400 Bad Request: malformed body"),
                };
                w.replace_with_error(status, text);
            }
            _ => {
                // Discard the rest now, so the response can say
                // whether the connection stays open.
                if !req.body_mut().discard_rest(MAX_DISCARD_BYTES) {
                    w.set_close();
                }
            }
        }
    }
    if shutting_down() {
        // Go's `doKeepAlives() == false`: this response is the last.
        w.set_close();
    }
    let reusable = match w.finish() {
        Ok(r) => r,
        Err(e) if is_timeout(&e) || is_disconnect(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    *write_bufs = w.take_buffers();
    let body_done = reusable && req.body_mut().discard_rest(MAX_DISCARD_BYTES);
    let body_complete = req.body().is_complete();
    let (parts, _) = req.into_parts();
    *spare_headers = parts.headers;
    if parts.extensions.len() <= MAX_SPARE_EXTENSIONS {
        *spare_extensions = parts.extensions;
        spare_extensions.clear();
    }
    if spare_headers.capacity() > MAX_SPARE_HEADERS {
        // A request with many fields: do not keep its map's storage
        // on an idle connection.
        *spare_headers = http::HeaderMap::new();
    } else {
        spare_headers.clear();
    }
    if !body_done {
        if !body_complete || !rd.buffered().is_empty() {
            // Unread input (a body, pipelined requests) must not turn
            // our close into a reset that destroys the response: see
            // *Closing*.
            linger(wire, rd);
        }
        return Ok(false);
    }
    rd.shrink();
    Ok(true)
}

/// The largest header map capacity a connection keeps for its next
/// request (a typical head has a dozen fields).
const MAX_SPARE_HEADERS: usize = 64;

/// The most extensions a request may have had at its end for its emptied
/// map to be kept for the next request on the connection, so that a
/// handler that stored many does not leave a large table behind on an
/// idle connection. (Judged by count: `http::Extensions` does not tell
/// its capacity, so a handler that stored many and removed them again
/// leaves its table; the next request that ends with more drops it.)
const MAX_SPARE_EXTENSIONS: usize = 8;

/// Errors that mean the peer went away: an ordinary end, not a failure.
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Go's `http: panic serving 1.2.3.4:5678: ...`, with the request and the
/// goroutine that ran the handler (the default panic hook has already
/// printed where it panicked).
fn log_panic<S: Conn>(
    config: &ServerConfig,
    wire: &Wire<S>,
    req: &Request<'_>,
    panic: &(dyn std::any::Any + Send),
) {
    let msg = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)");
    let peer = wire
        .peer_addr()
        .map_or_else(|| "(unknown peer)".to_owned(), |a| a.to_string());
    let goroutine = burrow_sched::current_id()
        .map_or_else(|| "a thread".to_owned(), |id| format!("goroutine {id}"));
    config.log(&format!(
        "panic serving {peer}: {} {}: {msg} ({goroutine})",
        req.method(),
        req.uri()
    ));
}

/// Answers `status` with `Connection: close` and closes gracefully (see
/// *Closing*). The reason text never echoes the request.
fn error_and_close<S: Conn, R: Read>(
    wire: &Wire<S>,
    rd: &mut ConnReader<R>,
    status: StatusCode,
    reason: &str,
) -> io::Result<()> {
    let mut text = format!(
        "{} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    if !reason.is_empty() {
        text.push_str(": ");
        text.push_str(reason);
    }
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nDate: {}\r\n\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        text.len(),
        std::str::from_utf8(&date::now()).unwrap_or(""),
    );
    wire.set_write_deadline(Some(Instant::now() + LINGER));
    if wire
        .write_all(&[head.as_bytes(), text.as_bytes()].concat())
        .and_then(|()| wire.flush())
        .is_err()
    {
        return Ok(());
    }
    linger(wire, rd);
    Ok(())
}

/// The lingering close (see *Closing*): half-close, then read and discard
/// until EOF, [`MAX_DISCARD_BYTES`] or [`LINGER`], whichever comes first.
fn linger<S: Conn, R: Read>(wire: &Wire<S>, rd: &mut ConnReader<R>) {
    if wire.shutdown_write().is_err() {
        return;
    }
    wire.set_read_deadline(Some(Instant::now() + LINGER));
    let mut discarded = 0u64;
    rd.consume(rd.buffered().len());
    while discarded < MAX_DISCARD_BYTES {
        match rd.fill_more() {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                discarded += n as u64;
                rd.consume(n);
            }
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
