//! The connection state machine ([`serve_conn`]), the [`Handler`] trait,
//! the limits and timeouts ([`ServerConfig`]) and the accept loop
//! ([`Server`]).
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
use std::collections::HashMap;
use std::io::{self, BufRead, Read};
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::body::{Body, BodyError, ContinueHook, ContinueState};
use crate::bufio::ConnReader;
use crate::conn::{Closer, Conn, Listener, Transport, TransportReader, Wire, is_timeout};
use crate::head::{Framing, HeadLimits, ReadHeadError, read_request_head};
use crate::response::{ResponseWriter, WriteBufs};
use crate::{Request, date};

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
/// for shutdown (see *Shutdown*).
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

        wire.set_read_deadline(config.read_timeout.map(|d| t0 + d));
        wire.set_write_deadline(deadline_after(config.write_timeout));
        if let (Framing::Length(n), Some(max)) = (head.framing, config.max_body_bytes) {
            if n > max {
                return error_and_close(
                    &wire,
                    &mut rd,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                );
            }
        }

        let cont = Cell::new(if head.expect_continue {
            ContinueState::Pending
        } else {
            ContinueState::NotExpected
        });
        let hook = || {
            head.expect_continue.then_some(ContinueHook {
                wire: &wire as &dyn Transport,
                state: &cont,
            })
        };
        let method = head.parts.method.clone();
        let version = head.parts.version;
        let body = match head.framing {
            Framing::Empty => Body::empty(),
            Framing::Length(n) => Body::with_length(&mut rd, n, config.max_body_bytes, hook()),
            Framing::Chunked => Body::chunked(
                &mut rd,
                config.max_header_bytes,
                config.max_body_bytes,
                hook(),
            ),
        };
        let mut req = Request::from_parts(head.parts, body);
        let mut w = ResponseWriter::new(
            &wire,
            &cont,
            &method,
            version,
            head.keep_alive,
            std::mem::take(&mut write_bufs),
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
            log_panic(config, &wire, &req, &*panic);
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
                linger(&wire, &mut rd);
            }
            return Ok(());
        }

        if !w.head_sent() {
            match req.body().error() {
                Some(BodyError::Truncated) if w.untouched() => {
                    // The client closed mid-body: nobody to answer.
                    return Ok(());
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
            Err(e) if is_timeout(&e) || is_disconnect(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        write_bufs = w.take_buffers();
        let body_done = reusable && req.body_mut().discard_rest(MAX_DISCARD_BYTES);
        let body_complete = req.body().is_complete();
        let (parts, _) = req.into_parts();
        spare_headers = parts.headers;
        if spare_headers.capacity() > MAX_SPARE_HEADERS {
            // A request with many fields: do not keep its map's storage
            // on an idle connection.
            spare_headers = http::HeaderMap::new();
        } else {
            spare_headers.clear();
        }
        if !body_done {
            if !body_complete || !rd.buffered().is_empty() {
                // Unread input (a body, pipelined requests) must not turn
                // our close into a reset that destroys the response: see
                // *Closing*.
                linger(&wire, &mut rd);
            }
            return Ok(());
        }
        rd.shrink();
    }
}

/// The largest header map capacity a connection keeps for its next
/// request (a typical head has a dozen fields).
const MAX_SPARE_HEADERS: usize = 64;

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
        date::now().to_str().unwrap_or(""),
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

/// Go's `http.Server`: a handler, a configuration, and an accept loop.
///
/// [`serve_goroutines`](Self::serve_goroutines) is Go's `srv.Serve(l)`: the
/// calling goroutine accepts, and each connection is served by a goroutine
/// of its own, on burrow-net sockets that park only their goroutine.
/// [`serve`](Self::serve) is the same loop, generic over the [`Listener`]
/// and over how a connection is run (the caller passes a spawner), and
/// [`serve_threads`](Self::serve_threads) runs it with a thread per
/// connection for std's blocking listeners.
///
/// A `Server` is a cheap handle (an `Arc`): clone it to call
/// [`shutdown`](Self::shutdown) or [`close`](Self::close) from another
/// goroutine while one is serving.
///
/// # Shutdown
///
/// Go's `Shutdown` keeps a registry of connections with their state (new,
/// active, idle) and, once the listeners are closed, closes the idle ones
/// until none is left. So does this server: each connection publishes its
/// state in an atomic, and the registry holds a [`Closer`] per connection
/// (a duplicate of its socket, on which `shutdown(2)` wakes the goroutine
/// parked in a read with end-of-file; the goroutine still owns and closes
/// the descriptor). The races are settled by a compare-and-swap: a
/// connection leaves *idle* for *active* when a request's first byte
/// arrives, `shutdown` leaves it for *closing*, and only one of them wins.
/// A connection that is mid-request when the shutdown begins finishes it,
/// answers with `Connection: close`, and ends. A new connection that has
/// not sent a whole head is treated as busy for its first 5 seconds, as in
/// Go (it is most likely a request on its way).
///
/// As in Go, [`serve`](Self::serve) returns as soon as the shutdown
/// begins, not when the last connection ends. A program whose main
/// goroutine serves must wait for [`shutdown`](Self::shutdown) to return
/// before it returns itself: when the main goroutine returns the runtime
/// stops, and a connection goroutine still in a request (or coming back
/// from a blocking call) never runs again.
pub struct Server<H> {
    shared: Arc<Shared<H>>,
}

impl<H> Clone for Server<H> {
    fn clone(&self) -> Self {
        Server {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<H> {
    handler: H,
    config: ServerConfig,
    /// Set once by `shutdown` or `close`; never cleared.
    shutting_down: AtomicBool,
    /// The accept loops' listeners, to stop them.
    listeners: Mutex<Vec<Closer>>,
    /// The connections being served, by an id of ours.
    conns: Mutex<HashMap<u64, Arc<ConnTrack>>>,
    next_conn: AtomicU64,
}

const STATE_NEW: u8 = 0;
const STATE_ACTIVE: u8 = 1;
const STATE_IDLE: u8 = 2;
const STATE_CLOSING: u8 = 3;

/// How long a new connection that has not sent a whole head counts as
/// busy to a shutdown (Go's 5 seconds).
const NEW_CONN_GRACE: Duration = Duration::from_secs(5);

/// A connection as the registry sees it (Go's `conn.curState`).
struct ConnTrack {
    state: AtomicU8,
    born: Instant,
    closer: Option<Closer>,
}

impl ConnTrack {
    /// `from` → active; false when a shutdown got there first.
    fn activate(&self, from: u8) -> bool {
        self.state
            .compare_exchange(from, STATE_ACTIVE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Closes the connection if it is idle (or new past its grace); true
    /// if it did.
    fn close_if_idle(&self) -> bool {
        let Some(closer) = &self.closer else {
            return false;
        };
        let idle = self
            .state
            .compare_exchange(
                STATE_IDLE,
                STATE_CLOSING,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok();
        let stale_new = !idle
            && self.born.elapsed() >= NEW_CONN_GRACE
            && self
                .state
                .compare_exchange(STATE_NEW, STATE_CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
        if idle || stale_new {
            closer(Shutdown::Read);
        }
        idle || stale_new
    }
}

/// Removes a connection from the registry when its job ends, panics
/// included.
struct Registered<'a, H> {
    shared: &'a Shared<H>,
    id: u64,
}

impl<H> Drop for Registered<'_, H> {
    fn drop(&mut self) {
        lock(&self.shared.conns).remove(&self.id);
    }
}

/// The registry's mutexes guard plain maps whose every update is one
/// call, so a panic elsewhere cannot leave them half-changed.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection's work, handed to the spawner.
pub type ConnJob = Box<dyn FnOnce() + Send + 'static>;

/// First and longest wait after an accept error such as `EMFILE` (Go's
/// accept backoff, 5 ms doubling to 1 s).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The longest pause between two looks at the registry in
/// [`Server::shutdown`] (Go's `shutdownPollIntervalMax`); the first is
/// 1 ms, doubling.
const SHUTDOWN_POLL_MAX: Duration = Duration::from_millis(500);

impl<H: Handler + 'static> Server<H> {
    /// A server with the default configuration.
    pub fn new(handler: H) -> Self {
        Self::with_config(handler, ServerConfig::default())
    }

    /// A server with `config`.
    pub fn with_config(handler: H, config: ServerConfig) -> Self {
        Server {
            shared: Arc::new(Shared {
                handler,
                config,
                shutting_down: AtomicBool::new(false),
                listeners: Mutex::new(Vec::new()),
                conns: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Accepts connections until [`shutdown`](Self::shutdown) or
    /// [`close`](Self::close), handing each to `spawn` as a job that serves
    /// it; then returns `Ok` (Go returns `ErrServerClosed`). Transient
    /// accept errors (aborted connections, `EMFILE`) are retried after a
    /// growing pause; the loop returns `Err` only on an error that says the
    /// listener itself is unusable.
    pub fn serve<L, F>(&self, listener: &L, mut spawn: F) -> io::Result<()>
    where
        L: Listener,
        F: FnMut(ConnJob),
    {
        let shared = &*self.shared;
        {
            // Under the lock, so a shutdown either sees this listener or
            // we see its flag.
            let mut listeners = lock(&shared.listeners);
            if shared.shutting_down.load(Ordering::SeqCst) {
                return Ok(());
            }
            if let Some(closer) = listener.closer() {
                listeners.push(closer);
            }
        }
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = listener.accept();
            if shared.shutting_down.load(Ordering::SeqCst) {
                return Ok(());
            }
            match accepted {
                Ok(conn) => {
                    backoff = Duration::ZERO;
                    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                    let track = Arc::new(ConnTrack {
                        state: AtomicU8::new(STATE_NEW),
                        born: Instant::now(),
                        closer: conn.closer(),
                    });
                    lock(&shared.conns).insert(id, Arc::clone(&track));
                    let shared = Arc::clone(&self.shared);
                    spawn(Box::new(move || {
                        let _registered = Registered {
                            shared: &shared,
                            id,
                        };
                        let tracking = Some((&*track, &shared.shutting_down));
                        if let Err(e) =
                            serve_tracked(conn, &shared.handler, &shared.config, tracking)
                        {
                            shared.config.log(&format!("connection failed: {e}"));
                        }
                    }));
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::WouldBlock => {}
                    io::ErrorKind::InvalidInput | io::ErrorKind::NotConnected => return Err(e),
                    _ => {
                        // Out of descriptors or memory: wait for some to be
                        // freed (Go's server: 5 ms doubling to 1 s). In a
                        // goroutine this parks only the accepting
                        // goroutine; on a plain thread it sleeps the thread.
                        // Logged once per run of errors, not per retry.
                        if backoff.is_zero() {
                            shared.config.log(&format!(
                                "accept error: {e}; retrying with backoff \
                                 (raise `ulimit -n` if it says too many open files)"
                            ));
                        }
                        backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                        burrow_sched::sleep(backoff);
                    }
                },
            }
        }
    }

    /// Go's `srv.Serve(l)`: accepts on `listener` in the calling goroutine
    /// and serves each connection in a goroutine of its own. Call it from
    /// a goroutine of a running `burrow` runtime.
    ///
    /// # Panics
    ///
    /// Outside a goroutine (`burrow_sched::go` needs a runtime).
    pub fn serve_goroutines<L: Listener>(&self, listener: &L) -> io::Result<()> {
        self.serve(listener, |job| {
            // Detached: a connection's goroutine reports its own errors,
            // and a panic outside the handler is printed with its id.
            drop(burrow_sched::go(job));
        })
    }

    /// [`serve`](Self::serve) with one OS thread per connection, for std's
    /// blocking listeners (no runtime needed).
    pub fn serve_threads<L: Listener>(&self, listener: &L) -> io::Result<()> {
        let log = self.shared.config.clone();
        self.serve(listener, |job| {
            if let Err(e) = std::thread::Builder::new()
                .name("burrow-http-conn".into())
                .spawn(job)
            {
                log.log(&format!("cannot start a connection thread: {e}"));
            }
        })
    }

    /// Go's `srv.ListenAndServe()`: binds `addr` with burrow-net (with
    /// `SO_REUSEPORT` when [`ServerConfig::reuse_port`] is set) and serves
    /// it with a goroutine per connection until shutdown. Call it from a
    /// goroutine.
    pub fn listen_and_serve(&self, addr: impl std::net::ToSocketAddrs) -> io::Result<()> {
        let listener = if self.shared.config.reuse_port {
            burrow_net::TcpListener::bind_reuseport(addr)?
        } else {
            burrow_net::TcpListener::bind(addr)?
        };
        self.serve_goroutines(&listener)
    }

    /// Whether [`shutdown`](Self::shutdown) or [`close`](Self::close) has
    /// been called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// The number of connections being served.
    pub fn num_conns(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// Stops the accept loops and marks the server closing: no new
    /// connection is served and no connection is kept alive after its
    /// current response.
    fn begin_shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        for closer in lock(&self.shared.listeners).drain(..) {
            closer(Shutdown::Read);
        }
    }

    /// Go's `srv.Shutdown(ctx)`: stops accepting, closes idle connections,
    /// lets the in-flight requests finish (their responses say
    /// `Connection: close`), and returns once no connection is left, or
    /// with `ErrorKind::TimedOut` after `timeout` (the rest are left to
    /// finish; [`close`](Self::close) ends them). See *Shutdown*. It waits
    /// by sleeping: in a goroutine it parks only the caller.
    pub fn shutdown(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        self.begin_shutdown();
        let mut pause = Duration::from_millis(1);
        loop {
            // Closed connections leave the registry when their goroutine
            // ends, so "empty" means every one has finished.
            let left = {
                let conns = lock(&self.shared.conns);
                for track in conns.values() {
                    track.close_if_idle();
                }
                conns.len()
            };
            if left == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("shutdown: {left} connections still open"),
                ));
            }
            burrow_sched::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(SHUTDOWN_POLL_MAX);
        }
    }

    /// Go's `srv.Close()`: stops accepting and ends every connection at
    /// once, busy or not (a handler's next read sees end-of-file and its
    /// writes fail). It does not wait for the connection goroutines.
    pub fn close(&self) {
        self.begin_shutdown();
        for track in lock(&self.shared.conns).values() {
            track.state.store(STATE_CLOSING, Ordering::SeqCst);
            if let Some(closer) = &track.closer {
                closer(Shutdown::Both);
            }
        }
    }
}

/// Go's `http.ListenAndServe(addr, handler)`: listens on `addr` with
/// burrow-net and serves it with the default configuration, a goroutine
/// per connection, forever. Call it from a goroutine (for example in a
/// `#[burrow::main]` function).
///
/// ```no_run
/// use burrow_http::{ResponseWriter, Request, ServeMux};
/// # let rt = burrow_sched::Runtime::builder().build().unwrap();
/// # rt.run(|| {
/// let mut mux = ServeMux::new();
/// mux.must_handle_func("/", |w: &mut ResponseWriter, _r: &mut Request| {
///     let _ = std::io::Write::write_all(w, b"hello world\n");
/// });
/// burrow_http::listen_and_serve("127.0.0.1:8080", mux).unwrap();
/// # });
/// ```
pub fn listen_and_serve<H: Handler + 'static>(
    addr: impl std::net::ToSocketAddrs,
    handler: H,
) -> io::Result<()> {
    let listener = burrow_net::TcpListener::bind(addr)?;
    Server::new(handler).serve_goroutines(&listener)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
