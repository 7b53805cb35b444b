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
use std::io::{self, BufRead, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::body::{Body, BodyError, ContinueHook, ContinueState};
use crate::bufio::ConnReader;
use crate::conn::{Conn, Listener, Transport, TransportReader, Wire, is_timeout};
use crate::head::{Framing, HeadLimits, ReadHeadError, read_request_head};
use crate::response::ResponseWriter;
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

/// Limits and timeouts: the fields of Go's `http.Server` that govern a
/// connection. `None` means no limit, as a zero does in Go.
#[derive(Clone, Debug)]
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
    let wire = Wire::new(stream);
    let mut rd = ConnReader::new(TransportReader(&wire));
    let limits = HeadLimits {
        max_header_bytes: config.max_header_bytes,
        max_uri_bytes: config.max_uri_bytes,
    };
    let mut first = true;
    loop {
        if !first && rd.buffered().is_empty() {
            // Idle between requests: only the idle timeout applies.
            wire.set_read_deadline(deadline_after(config.idle_timeout.or(config.read_timeout)));
            match rd.fill_more() {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if is_timeout(&e) || is_disconnect(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        first = false;

        let t0 = Instant::now();
        let header_timeout = config.read_header_timeout.or(config.read_timeout);
        wire.set_read_deadline(header_timeout.map(|d| t0 + d));
        let head = match read_request_head(&mut rd, limits) {
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
        let mut w = ResponseWriter::new(&wire, &cont, &method, version, head.keep_alive);

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
            log_panic(&req, &*panic);
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
        let reusable = match w.finish() {
            Ok(r) => r,
            Err(e) if is_timeout(&e) || is_disconnect(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let body_done = reusable && req.body_mut().discard_rest(MAX_DISCARD_BYTES);
        let body_complete = req.body().is_complete();
        drop(req);
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

fn log_panic(req: &Request<'_>, panic: &(dyn std::any::Any + Send)) {
    let msg = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)");
    eprintln!(
        "burrow-http: panic serving {} {}: {msg}",
        req.method(),
        req.uri()
    );
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
pub struct Server<H> {
    shared: Arc<Shared<H>>,
}

struct Shared<H> {
    handler: H,
    config: ServerConfig,
}

/// A connection's work, handed to the spawner.
pub type ConnJob = Box<dyn FnOnce() + Send + 'static>;

/// First and longest wait after an accept error such as `EMFILE` (Go's
/// accept backoff, 5 ms doubling to 1 s).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

impl<H: Handler + 'static> Server<H> {
    /// A server with the default configuration.
    pub fn new(handler: H) -> Self {
        Self::with_config(handler, ServerConfig::default())
    }

    /// A server with `config`.
    pub fn with_config(handler: H, config: ServerConfig) -> Self {
        Server {
            shared: Arc::new(Shared { handler, config }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// Accepts connections forever, handing each to `spawn` as a job that
    /// serves it. Transient accept errors (aborted connections, `EMFILE`)
    /// are retried after a growing pause; the loop returns only on an error
    /// that says the listener itself is unusable.
    pub fn serve<L, F>(&self, listener: &L, mut spawn: F) -> io::Result<()>
    where
        L: Listener,
        F: FnMut(ConnJob),
    {
        let mut backoff = Duration::ZERO;
        loop {
            match listener.accept() {
                Ok(conn) => {
                    backoff = Duration::ZERO;
                    let shared = Arc::clone(&self.shared);
                    spawn(Box::new(move || {
                        if let Err(e) = serve_conn(conn, &shared.handler, &shared.config) {
                            eprintln!("burrow-http: connection failed: {e}");
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
                            eprintln!(
                                "burrow-http: accept error: {e}; retrying with backoff \
                                 (raise `ulimit -n` if it says too many open files)"
                            );
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
        self.serve(listener, |job| {
            if let Err(e) = std::thread::Builder::new()
                .name("burrow-http-conn".into())
                .spawn(job)
            {
                eprintln!("burrow-http: cannot start a connection thread: {e}");
            }
        })
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
