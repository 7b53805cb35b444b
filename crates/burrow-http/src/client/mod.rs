//! Go's `net/http` client: [`Client`] with a keep-alive pool, timeouts and
//! redirects, over burrow-net's `TcpStream`; [`get`], [`post`] and
//! [`head`] on a process-wide default client (Go's `http.Get`); and the
//! one-connection layer under it, [`ClientConn`].
//!
//! # The problem
//!
//! A program that talks to HTTP servers wants one call per request —
//! `client.get(url)` — and the plumbing Go's `http.Client` and `Transport`
//! hide behind it: connections reused across requests (a TCP handshake per
//! request costs more than a small request itself), one bound on the
//! whole request including its body, redirects followed by the rules
//! browsers agreed on, and clear errors when the server is gone, slow or
//! speaking something that is not HTTP. On burrow the call must also park
//! only its goroutine, so that a thousand goroutines can each wait on a
//! slow server.
//!
//! # The design
//!
//! Three layers, each in its own file:
//!
//! - [`ClientConn`] (`conn.rs`) writes one request and reads one response
//!   on one stream. It knows framing and nothing of URLs or pools.
//! - The pool (`pool.rs`, see *The pool*) keeps idle connections per
//!   host and decides whether a connection may go back after a response.
//! - [`Client`] (this file) turns a URL into a connection (dial or pool),
//!   runs one exchange with the deadline set (see *Timeouts*), retries
//!   once when that is safe (see *Retrying*), and follows redirects (see
//!   *Redirects*; URL resolution is in `url.rs`).
//!
//! Response bodies are read whole into the `Vec<u8>` of the
//! `http::Response`, so by the time [`Client::send`] returns, the
//! connection is either back in the pool or closed: there is no body
//! reader to forget to close (Go's most common client leak), and the
//! timeout covers the body by construction.
//!
//! The sockets are burrow-net's: on a goroutine a wait parks the
//! goroutine on the netpoller, on a plain thread it blocks the thread, so
//! the same `Client` serves both. Host names are resolved through
//! `burrow_sched::blocking`, which holds a thread rather than a P.
//!
//! # The pool
//!
//! Idle connections are kept per key, scheme + host + port (Go's
//! `connectMethodKey`), at most [`ClientBuilder::max_idle_per_host`] each
//! (2, Go's `DefaultMaxIdleConnsPerHost`); one more is closed instead of
//! kept. A connection returns after a response whose body was framed by
//! length or chunks (a body delimited by the close ends the connection),
//! when neither the request nor the response said `Connection: close`, and
//! for HTTP/1.0 only when the response said `keep-alive`.
//!
//! A request takes the newest idle connection (Go's choice: the one least
//! likely to have met the server's idle timer), drops those idle longer
//! than [`ClientBuilder::idle_timeout`] (90 s), and checks the one it took
//! with a non-blocking peek: end of stream, an error, or bytes nobody
//! asked for mean the server has closed it or broken it, and the next one
//! is tried, then a fresh dial. Go learns the same from a read-loop
//! goroutine per connection; the peek costs one system call per reuse and
//! no goroutine per idle connection.
//!
//! The pool is an `Arc<Mutex<HashMap>>` shared by all clones of a
//! [`Client`]. The lock is held only to move a connection in or out:
//! checks, closes and all I/O happen outside it.
//!
//! A socket joins the netpoller of the first runtime that waits on it. A
//! pooled connection reused from another runtime, or from a plain thread,
//! still works, but its waits block the thread (burrow-net's fallback)
//! instead of parking the goroutine. Go has one runtime per process and
//! never meets this; a program with several runtimes should give each its
//! own `Client`.
//!
//! # Retrying
//!
//! The peek cannot see a close that crosses the request on the wire: the
//! server's idle timer fires just as the request leaves. The request then
//! fails before any byte of a response arrived. Go retries such a request
//! on a new connection when it was sent on a reused one and is idempotent
//! (GET, HEAD, PUT, DELETE, OPTIONS, TRACE), because the server cannot have
//! acted on it twice in a way that matters. We do the same, once, on a
//! freshly dialled connection. A POST is never retried: the server may
//! have acted on it before closing. A timeout is never retried either.
//!
//! # Redirects
//!
//! Go's rules (`redirectBehavior`): 301, 302 and 303 repeat the request as
//! GET without a body (HEAD stays HEAD, and GET stays GET); 307 and 308
//! repeat it with the same method and body. `Location` may be relative and
//! is resolved against the URL it answers (RFC 3986 §5.2). A 3xx without a
//! `Location` is returned as the response. Headers are carried over except
//! the body's (`Content-Type`, `Content-Length`) when the body is dropped,
//! and the credentials (`Authorization`, `Cookie`) when the host changes;
//! `Referer` is set to the previous URL. The response carries the URL that
//! answered it in its [`FinalUrl`] extension (Go's `resp.Request.URL`).
//!
//! The bound is Go's: with [`ClientBuilder::max_redirects`] at `n` (10),
//! the `n`th redirect response ends the request with the error "stopped
//! after n redirects", so at most `n` requests are sent. `0` turns
//! following off: a 3xx response is returned as it is (Go's
//! `ErrUseLastResponse`).
//!
//! # Timeouts
//!
//! [`ClientBuilder::timeout`] is Go's `Client.Timeout`: one deadline for
//! everything from the first dial to the last byte of the final body,
//! redirects included. It is set on each connection as a burrow-net
//! deadline (both directions), so a wait past it fails with `TimedOut`
//! wherever it is, and cleared before the connection goes back to the
//! pool. [`ClientBuilder::connect_timeout`] bounds each dial (Go's
//! `Dialer.Timeout`), within what is left of the whole.
//!
//! # Alternatives we rejected
//!
//! - *A streaming body* (`Response<impl Read>`, as Go's): it needs the
//!   caller to read to the end or close before the connection can be
//!   reused, and Go programs get it wrong often enough that linters check
//!   for it. The crate's callers are tests, examples and small programs;
//!   whole bodies keep the pool simple and correct. A streaming variant
//!   can be added beside `send` without changing the pool.
//! - *A read-loop goroutine per connection* (Go's `persistConn.readLoop`):
//!   it notices a close while idle and lets requests be cancelled, at the
//!   cost of a goroutine and a channel hand-off per request. The peek
//!   gives the first; the deadline gives the bound we need of the second.
//! - *No retry at all*: then every server's idle timeout racing a request
//!   surfaces as a spurious error; Go's rule is the known-safe subset.

mod conn;
mod pool;
mod url;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION, REFERER,
    TRANSFER_ENCODING, USER_AGENT, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};

pub use conn::{Chunks, ClientConn, Interim, Trailers, write_request};

use pool::{PersistConn, Pool, keep_alive};
use url::Target;

/// The `User-Agent` sent when the request sets none.
pub const USER_AGENT_VALUE: &str = "burrow-http";

/// Response extension: the URL of the request this response answers —
/// after redirects, the last one (Go's `resp.Request.URL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalUrl(pub Uri);

/// Settings of a [`Client`]; see [`Client::builder`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
    max_redirects: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            timeout: None,
            connect_timeout: None,
            max_idle_per_host: 2,
            idle_timeout: Duration::from_secs(90),
            max_redirects: 10,
        }
    }
}

impl ClientBuilder {
    /// The bound on a whole request: dials, writes, redirects and the
    /// final body (Go's `Client.Timeout`; default none). Past it the
    /// request fails with `TimedOut`. See *Timeouts* in `client/mod.rs`.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// The bound on each TCP connect (Go's `Dialer.Timeout`; default none
    /// beyond [`timeout`](Self::timeout) and the system's own).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }

    /// How many idle connections to keep per host (default 2, Go's
    /// `DefaultMaxIdleConnsPerHost`); 0 keeps none. See *The pool*.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// How long an idle connection is kept (default 90 s, Go's
    /// `IdleConnTimeout`).
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = t;
        self
    }

    /// The redirect bound (default 10, Go's): the `n`th redirect response
    /// is an error; 0 returns 3xx responses as they are. See *Redirects*.
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }

    /// A client with these settings and an empty pool of its own.
    pub fn build(self) -> Client {
        Client {
            shared: Arc::new(Shared {
                config: self,
                pool: Pool::default(),
            }),
        }
    }
}

/// Go's `http.Client` (with its `Transport`): sends requests over pooled
/// keep-alive connections, follows redirects, bounds each request by a
/// timeout. Clones share the settings and the pool, so one client can be
/// handed to many goroutines. See the module docs for the design.
///
/// ```no_run
/// let client = burrow_http::Client::builder()
///     .timeout(std::time::Duration::from_secs(5))
///     .build();
/// let resp = client.get("http://127.0.0.1:8080/about")?;
/// assert_eq!(resp.status(), 200);
/// println!("{}", String::from_utf8_lossy(resp.body()));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    config: ClientBuilder,
    pool: Pool,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

// A client is shared between goroutines by cloning it (see *The pool*).
const _: () = {
    const fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Client>();
};

/// What a redirect does to the next request.
struct Redirect {
    method: Method,
    keep_body: bool,
}

/// Go's `redirectBehavior`: which statuses redirect, and how.
fn redirect_behavior(status: StatusCode, method: &Method) -> Option<Redirect> {
    match status.as_u16() {
        301..=303 => Some(Redirect {
            method: if *method == Method::GET || *method == Method::HEAD {
                method.clone()
            } else {
                Method::GET
            },
            keep_body: false,
        }),
        307 | 308 => Some(Redirect {
            method: method.clone(),
            keep_body: true,
        }),
        _ => None,
    }
}

/// Methods whose repetition the server cannot tell from one request (RFC
/// 9110 §9.2.2), so a failed send may be retried; see *Retrying*.
fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Errors that mean the connection was dead before the server answered.
fn is_dead_conn(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

impl Client {
    /// A client with Go's defaults: no overall timeout, 2 idle connections
    /// per host for 90 s, 10 redirects.
    pub fn new() -> Client {
        ClientBuilder::default().build()
    }

    /// Settings for a new client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> io::Result<Response<Vec<u8>>> {
        self.send(new_request(Method::GET, url, None, Vec::new())?)
    }

    /// `HEAD url`.
    pub fn head(&self, url: &str) -> io::Result<Response<Vec<u8>>> {
        self.send(new_request(Method::HEAD, url, None, Vec::new())?)
    }

    /// `POST url` with `body` of type `content_type`.
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> io::Result<Response<Vec<u8>>> {
        self.send(new_request(
            Method::POST,
            url,
            Some(content_type),
            body.into(),
        )?)
    }

    /// Sends `req` to the absolute `http://` URL in its URI and returns the
    /// final response, body read whole, with the URL that answered in its
    /// [`FinalUrl`] extension. `Host`, `User-Agent` and `Content-Length`
    /// are added when the request has none.
    ///
    /// # Errors
    ///
    /// `Unsupported` for https; `InvalidInput` for other URLs it cannot
    /// use; `TimedOut` past the [timeout](ClientBuilder::timeout); the
    /// dial's error (e.g. `ConnectionRefused`); `InvalidData` for a
    /// response that is not HTTP/1.x or cannot be framed; `UnexpectedEof`
    /// when the server closes mid-response; `Other` past the redirect
    /// bound. Every message names the method and the URL.
    pub fn send(&self, req: Request<Vec<u8>>) -> io::Result<Response<Vec<u8>>> {
        let config = &self.shared.config;
        let deadline = config.timeout.and_then(|t| Instant::now().checked_add(t));
        let (parts, mut body) = req.into_parts();
        let mut target = Target::parse(&parts.uri)?;
        let mut method = parts.method;
        let mut headers = parts.headers;
        let mut redirects = 0;
        loop {
            let resp = self
                .round_trip(&method, &target, &headers, &body, deadline)
                .map_err(|e| self.explain(e, &method, &target, deadline))?;
            let location = match (
                redirect_behavior(resp.status(), &method),
                config.max_redirects,
            ) {
                (Some(r), 1..) => resp.headers().get(LOCATION).map(|l| (r, l)),
                _ => None,
            };
            let Some((redirect, location)) = location else {
                return Ok(finish(resp, target));
            };
            redirects += 1;
            if redirects >= config.max_redirects {
                return Err(io::Error::other(format!(
                    "{method} {}: stopped after {redirects} redirects",
                    target.uri
                )));
            }
            let location = location.to_str().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{method} {}: Location is not ASCII", target.uri),
                )
            })?;
            let next = target.resolve(location)?;
            if !redirect.keep_body {
                body = Vec::new();
                for h in [CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING] {
                    headers.remove(h);
                }
            }
            if next.host != target.host {
                for h in [AUTHORIZATION, WWW_AUTHENTICATE, COOKIE] {
                    headers.remove(h);
                }
                headers.remove("cookie2");
            }
            // A `Host` the caller set names the first URL's server only.
            headers.remove(HOST);
            if let Ok(v) = HeaderValue::try_from(target.uri.to_string()) {
                headers.insert(REFERER, v);
            }
            method = redirect.method;
            target = next;
        }
    }

    /// The number of idle connections pooled for the host of `url`.
    pub fn idle_connections(&self, url: &str) -> io::Result<usize> {
        let t = Target::parse_str(url)?;
        Ok(self.shared.pool.idle_count(&t.pool_key()))
    }

    /// Closes every idle connection (Go's `CloseIdleConnections`).
    pub fn close_idle_connections(&self) {
        self.shared.pool.clear();
    }

    /// One exchange: a pooled or new connection, the request, the
    /// response; the connection back to the pool when it may be reused;
    /// one retry on a fresh connection when *Retrying* allows it.
    fn round_trip(
        &self,
        method: &Method,
        target: &Target,
        headers: &HeaderMap,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<Response<Vec<u8>>> {
        let config = &self.shared.config;
        let pool = &self.shared.pool;
        let wire = wire_request(method, target, headers, body)?;
        let key = target.pool_key();
        let mut retried = false;
        loop {
            let pooled = if retried {
                None
            } else {
                pool.take(&key, config.idle_timeout)
            };
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(c) => c,
                None => self.dial(target, deadline)?,
            };
            conn.get_mut().set_deadline(deadline);
            let result = match write_request(conn.get_mut(), &wire) {
                Err(e) => Err((e, false)),
                Ok(()) => conn
                    .read_response(method)
                    .map_err(|e| (e, conn.response_begun())),
            };
            match result {
                Ok(resp) => {
                    if config.max_idle_per_host > 0 && keep_alive(method, wire.headers(), &resp) {
                        conn.get_mut().set_deadline(None);
                        pool.put(&key, conn, config.max_idle_per_host);
                    }
                    return Ok(resp);
                }
                Err((e, begun)) => {
                    if reused
                        && !retried
                        && !begun
                        && is_idempotent(method)
                        && is_dead_conn(e.kind())
                    {
                        retried = true;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Resolves the target's host and connects to each address in turn
    /// within the connect timeout and what is left of the deadline.
    fn dial(&self, target: &Target, deadline: Option<Instant>) -> io::Result<PersistConn> {
        let addrs = resolve(&target.host, target.port)?;
        let mut last = None;
        for addr in addrs {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed")),
                },
                None => None,
            };
            let limit = match (left, self.shared.config.connect_timeout) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let dialled = match limit {
                Some(t) => burrow_net::TcpStream::connect_timeout(&addr, t),
                None => burrow_net::TcpStream::connect(addr),
            };
            match dialled {
                Ok(s) => return Ok(ClientConn::new(s)),
                Err(e) => last = Some(io::Error::new(e.kind(), format!("dial {addr}: {e}"))),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "host resolved to no address")
        }))
    }

    /// Prefixes an error with the request it ended, and says so when the
    /// client's timeout is what ended it.
    fn explain(
        &self,
        e: io::Error,
        method: &Method,
        target: &Target,
        deadline: Option<Instant>,
    ) -> io::Error {
        let url = &target.uri;
        match (self.shared.config.timeout, deadline) {
            (Some(t), Some(d)) if e.kind() == io::ErrorKind::TimedOut && Instant::now() >= d => {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{method} {url}: client timeout of {t:?} exceeded ({e})"),
                )
            }
            _ => io::Error::new(e.kind(), format!("{method} {url}: {e}")),
        }
    }
}

/// The request as it goes on the wire: origin-form target, and `Host`,
/// `User-Agent` added when missing.
fn wire_request(
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    body: &[u8],
) -> io::Result<Request<Vec<u8>>> {
    let bad = |e: http::Error| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
    let mut req = Request::builder()
        .method(method.clone())
        .uri(target.path_and_query.as_str())
        .body(body.to_vec())
        .map_err(bad)?;
    *req.headers_mut() = headers.clone();
    let h = req.headers_mut();
    if !h.contains_key(HOST) {
        let v = HeaderValue::try_from(target.authority.as_str())
            .map_err(|e| bad(http::Error::from(e)))?;
        h.insert(HOST, v);
    }
    if !h.contains_key(USER_AGENT) {
        h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    Ok(req)
}

/// Resolves `host` (an IP literal directly, a name through the blocking
/// hand-off so that a slow resolver holds a thread, not a P).
fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs = burrow_sched::blocking(|| {
        (host, port)
            .to_socket_addrs()
            .map(|it| it.collect::<Vec<_>>())
    })?
    .map_err(|e| io::Error::new(e.kind(), format!("lookup {host}: {e}")))?;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("lookup {host}: no address"),
        ));
    }
    Ok(addrs)
}

fn finish(mut resp: Response<Vec<u8>>, target: Target) -> Response<Vec<u8>> {
    resp.extensions_mut().insert(FinalUrl(target.uri));
    resp
}

fn new_request(
    method: Method,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> io::Result<Request<Vec<u8>>> {
    let target = Target::parse_str(url)?;
    let mut b = Request::builder().method(method).uri(target.uri);
    if let Some(ct) = content_type {
        b = b.header(CONTENT_TYPE, ct);
    }
    b.body(body)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {e}")))
}

/// The client behind [`get`], [`post`] and [`head`] (Go's
/// `http.DefaultClient`): Go's defaults, one pool for the process.
pub fn default_client() -> &'static Client {
    static DEFAULT: OnceLock<Client> = OnceLock::new();
    DEFAULT.get_or_init(Client::new)
}

/// `GET url` on the [`default_client`] (Go's `http.Get`).
pub fn get(url: &str) -> io::Result<Response<Vec<u8>>> {
    default_client().get(url)
}

/// `HEAD url` on the [`default_client`] (Go's `http.Head`).
pub fn head(url: &str) -> io::Result<Response<Vec<u8>>> {
    default_client().head(url)
}

/// `POST url` on the [`default_client`] (Go's `http.Post`).
pub fn post(
    url: &str,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> io::Result<Response<Vec<u8>>> {
    default_client().post(url, content_type, body)
}
