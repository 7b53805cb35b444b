//! Go's `net/http` server and client for burrow: HTTP/1.1 over any
//! `Read + Write` stream, and over burrow-net's goroutine-parking sockets.
//!
//! # The problem
//!
//! The seeds' program is Go's five-line web server: a `ServeMux` with `/`
//! and `/about`, and `http.ListenAndServe`, which accepts in one goroutine
//! and serves each connection in a goroutine of its own. Everything a
//! handler sees (`w http.ResponseWriter`, `r *http.Request`) hides HTTP/1.1:
//! request parsing, body framing, keep-alive, pipelining, `100 Continue`,
//! the `Date` header, the choice between `Content-Length` and chunked
//! output, and the defences against malformed and malicious input. This
//! crate is that layer.
//!
//! # Go's shape, in Rust types
//!
//! | Go                           | here                                          |
//! |------------------------------|-----------------------------------------------|
//! | `http.Handler`, `HandlerFunc` | [`Handler`], closures, [`handler_fn`]        |
//! | `http.ResponseWriter`        | [`ResponseWriter`] (`header_mut`, `write_header`, `io::Write`) |
//! | `*http.Request`, `r.Body`    | `&mut` [`Request`] = `http::Request<`[`Body`]`>` |
//! | `r.PathValue("id")`          | [`RequestExt::path_value`]                    |
//! | `http.ServeMux` (Go 1.22)    | [`ServeMux`]                                  |
//! | `http.FileServer`, `StripPrefix` | [`FileServer`], [`StripPrefix`]           |
//! | `http.Server`, `Serve(l)`    | [`Server`], [`Server::serve`]                 |
//! | `c.serve()` (one connection) | [`serve_conn`]                                |
//! | `net.Conn`, `net.Listener`   | [`Conn`], [`Listener`]                        |
//! | `http.Client`, `Transport`   | [`Client`], [`ClientBuilder`]                 |
//! | `http.Get`, `Post`, `Head`   | [`get`], [`post`], [`head`]                   |
//! | `resp.Request.URL`           | the [`FinalUrl`] response extension           |
//!
//! The request is `&mut` because its body is a reader (Go passes a pointer
//! to a struct holding an `io.ReadCloser`; Rust needs `&mut` to read) and
//! because the mux stores the matched path values in its extensions.
//!
//! # Why httparse and the `http` types
//!
//! The request head is parsed by `httparse`: zero-copy, strict by default
//! (no obs-fold, no space before the colon, no bare CR, no control bytes in
//! values, tokens checked), fuzzed for years under hyper. What it leaves to
//! us is HTTP semantics, and those are exactly the rules that matter for
//! smuggling: which of `Content-Length`/`Transfer-Encoding` frames the body,
//! `Host`, versions, limits (`head.rs`). The vocabulary types come from the
//! `http` crate, so handlers use the same `Method`, `StatusCode`,
//! `HeaderMap` and `Uri` as the rest of the Rust ecosystem and the crate
//! adds no types of its own for them.
//!
//! # The connection state machine
//!
//! [`serve_conn`] owns one stream and loops: wait for the first byte of a
//! request (idle timeout), read and judge the head (header timeout, limits),
//! run the handler (read and write timeouts), finish the response, discard
//! what the handler left of the body, and go round again if both sides
//! allow it. The diagram and the rules for `100 Continue` and the lingering
//! close are in `server.rs`; when the head is committed and how the body
//! is framed, in `response.rs`.
//!
//! # Alternatives we rejected
//!
//! - *Handlers as `Fn(&mut ResponseWriter, &Request)`* with the body behind
//!   interior mutability, so a shared reference could read it: it hides a
//!   mutation behind `&` and buys nothing; `&mut Request` says "this reads".
//! - *Async handlers* (hyper's model): the runtime's point is Go's model,
//!   blocking-style code on goroutines whose sockets park. Handlers here
//!   call `read` and `write` and never see a future.
//! - *Splitting the stream into a reader and a writer* (`try_clone`): not
//!   every `Read + Write` can be cloned. One connection is served by one
//!   goroutine, so the body and the response writer share the stream
//!   through a `RefCell` borrowed per call (`Wire` in `conn.rs`).
//! - *Our own head parser*: httparse already is the strict, fuzzed one.
//! - *Always chunked, or always buffered*: small bodies are buffered to get
//!   a `Content-Length` (HTTP/1.0 keep-alive needs it, clients prefer it);
//!   large or flushed ones stream, as Go's `chunkWriter` decides.
//!
//! # Bad input
//!
//! Every malformed or ambiguous head is answered and the connection closed:
//! after it we cannot know where the next request would start, and a guess
//! that differs from a proxy's is request smuggling. Closing is *lingering*
//! (half-close, then discard input for up to [`LINGER`]) so the answer is
//! not destroyed by a reset. The full table, with the tests that check it,
//! is in `docs/http.md`; in short:
//!
//! | input                                                  | status | connection |
//! |--------------------------------------------------------|--------|------------|
//! | malformed request line or header (space before colon, bad token, NUL, bare CR, obs-fold) | 400 | closed |
//! | HTTP/1.1 without `Host`, or several `Host`            | 400    | closed     |
//! | head larger than `max_header_bytes`                    | 431    | closed     |
//! | request target longer than `max_uri_bytes`             | 414    | closed     |
//! | `Transfer-Encoding` other than exactly `chunked`       | 501    | closed     |
//! | HTTP major version other than 1                        | 505    | closed     |
//! | `Content-Length` with `Transfer-Encoding`              | 400    | closed     |
//! | differing, negative or non-numeric `Content-Length`    | 400    | closed     |
//! | `Transfer-Encoding` on HTTP/1.0                        | 400    | closed     |
//! | `Expect` other than `100-continue`                     | 417    | closed     |
//! | `Content-Length` over `max_body_bytes`                 | 413    | closed     |
//! | bad chunk size or framing, seen by the handler's read  | 400 if the handler wrote nothing | closed |
//! | chunked body over `max_body_bytes`                     | 413 if the handler wrote nothing | closed |
//! | bad chunk framing met while discarding an unread body | the handler's response | closed |
//! | body cut short by the client closing                   | none   | closed     |
//! | head incomplete at `read_header_timeout`               | 408    | closed     |
//! | no request within `idle_timeout`                       | none   | closed     |
//! | handler panic                                          | 500 if nothing sent | closed |
//! | 404, 405, redirects from [`ServeMux`]                  | as is  | open       |
//! | handler left at most 256 KiB of body unread            | as is  | open       |
//!
//! Go closes silently on every read timeout; we answer 408 when part of a
//! head had arrived (RFC 9110 §15.5.9) and close silently when none had.
//!
//! # On goroutines
//!
//! Nothing in the connection loop blocks in a way the runtime must know
//! about: it only calls `Read`, `Write` and the [`Conn`] deadline methods.
//! burrow-net's `TcpStream` implements [`Conn`] (its reads and writes park
//! the goroutine on the netpoller, its deadlines are native) and its
//! listener implements [`Listener`], so [`Server::serve_goroutines`] is Go's
//! `srv.Serve(l)`: one goroutine accepts, each connection gets a goroutine.
//! [`Server::serve_threads`] serves std sockets from a thread per
//! connection, for tests and programs without a runtime. [`FileServer`]
//! reads files through `burrow_sched::blocking`, so a slow disk takes a
//! thread, not a P. See `docs/http.md`.
//!
//! # The client
//!
//! [`Client`] is Go's `http.Client` with its `Transport`: `http://` URLs,
//! a keep-alive pool per host (idle connections checked before reuse, an
//! idempotent request retried once when a reused connection turns out
//! dead), Go's redirect rules and bound, and one timeout over the whole
//! request including its body. Bodies are read whole into the response.
//! There is no TLS: an `https://` URL is an `Unsupported` error. The
//! design essay is in `client/mod.rs`; [`client::ClientConn`] is the
//! one-connection layer under it, which the tests also use raw.
//!
//! ```no_run
//! let resp = burrow_http::get("http://127.0.0.1:8080/about")?;
//! assert_eq!(resp.status(), 200);
//! let client = burrow_http::Client::builder()
//!     .timeout(std::time::Duration::from_secs(2))
//!     .build();
//! let resp = client.post("http://127.0.0.1:8080/echo", "text/plain", "hi")?;
//! # let _ = resp;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Example: the seeds' program
//!
//! ```no_run
//! use std::io::Write;
//! use burrow_http::{ServeMux, Server};
//!
//! let mut mux = ServeMux::new();
//! mux.must_handle_func("/", |w, _| {
//!     writeln!(w, "hello world").unwrap();
//! });
//! mux.must_handle_func("/about", |w, _| {
//!     writeln!(w, "About page").unwrap();
//! });
//! let rt = burrow_sched::Runtime::builder().build().unwrap();
//! rt.run(move || Server::new(mux).listen_and_serve("127.0.0.1:8080"))?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Dependencies
//!
//! `http` (the shared vocabulary types) and `httparse` (the head parser),
//! both explained above; burrow-sched and burrow-net for goroutines,
//! parking sockets and blocking hand-off; `crossbeam-utils` for the
//! `AtomicCell` that caches the `Date` header (a sequence lock every
//! response reads, rather than one of our own; already in the runtime
//! through burrow-sched). The `Date` header is formatted here (`date.rs`,
//! thirty lines) rather than with another crate.

mod body;
mod bufio;
pub mod chunked;
pub mod client;
mod conn;
mod date;
mod fs;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod head;
pub mod mux;
mod response;
mod server;
mod sniff;
#[cfg(test)]
mod testing;

pub use body::{Body, BodyError};
pub use client::{Client, ClientBuilder, FinalUrl, get, head, post};
pub use conn::{Closer, Conn, Listener};
pub use fs::{FileServer, StripPrefix};
pub use mux::{PatternError, RequestExt, ServeMux};
pub use response::{BODY_BUFFER, ResponseWriter, error};
pub use server::{
    ConnJob, ErrorLog, Handler, LINGER, MAX_DISCARD_BYTES, Server, ServerConfig, handler_fn,
    listen_and_serve, serve_conn,
};

/// A request as a handler sees it: the `http` crate's request with a
/// [`Body`] that reads from the connection (`'c`).
pub type Request<'c> = http::Request<Body<'c>>;

pub use http;
