//! [`ResponseWriter`]: Go's `http.ResponseWriter` over one connection.
//!
//! # Committing the head
//!
//! A handler sets headers ([`header_mut`](ResponseWriter::header_mut)),
//! maybe a status ([`write_header`](ResponseWriter::write_header)), and
//! writes the body (`io::Write`). Nothing reaches the wire until the head is
//! *committed*, which happens at the first of:
//!
//! - the handler returns: the whole body is in the buffer, so the response
//!   gets `Content-Length` (Go does the same for bodies that fit its
//!   buffer);
//! - the buffered body passes [`BODY_BUFFER`] bytes, or the handler calls
//!   `flush`: the length is not known, so the body is sent chunked to an
//!   HTTP/1.1 client, or delimited by closing the connection for HTTP/1.0,
//!   unless the handler set `Content-Length` itself.
//!
//! At commit the writer fills in what the handler left out: status 200, a
//! sniffed `Content-Type` (`sniff.rs`), `Date` (`date.rs`), the framing
//! header, and `Connection: close` / `keep-alive`. After commit, headers
//! and status can no longer change; body bytes are still buffered up to
//! [`BODY_BUFFER`] so small writes do not become tiny chunks or syscalls.
//!
//! The two buffers (the body bytes and the bytes of one write to the
//! wire) belong to the connection, not the response: the server hands them
//! to each [`ResponseWriter`] in a [`WriteBufs`] and takes them back after
//! [`finish`](ResponseWriter::finish), so a keep-alive connection
//! allocates them once rather than per request (Go keeps its `bufio.Writer`
//! on the `conn` the same way). A buffer a large response grew past
//! [`KEEP_BUFFER`] is dropped instead of kept.
//!
//! HEAD responses are committed like GET ones (the same headers, including
//! a `Content-Length` when the handler's whole body was buffered), but no
//! body byte is sent. 1xx, 204 and 304 responses have no body at all, and a
//! write to them fails.

use std::cell::Cell;
use std::io::{self, Write};

use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use crate::body::ContinueState;
use crate::chunked::{put_chunk_header, put_last_chunk};
use crate::conn::Transport;
use crate::head::{connection_has, parse_content_length};
use crate::{date, sniff};

/// How many body bytes are buffered before the head is committed without
/// a known length, and between writes to the wire afterwards (Go buffers
/// 2 KiB before chunking and 4 KiB in its `bufio.Writer`).
pub const BODY_BUFFER: usize = 4096;

/// The largest buffer capacity a connection keeps between responses; a
/// larger one (a big unchunked body) is freed rather than held by an idle
/// connection.
const KEEP_BUFFER: usize = 4 * BODY_BUFFER;

/// A connection's response buffers, lent to one [`ResponseWriter`] at a
/// time (see *Committing the head*). Owner: the goroutine serving the
/// connection.
#[derive(Default)]
pub(crate) struct WriteBufs {
    /// Body bytes not yet on the wire.
    body: Vec<u8>,
    /// One write being assembled: the head (plus the body when it goes in
    /// the same write) or a chunk with its framing.
    out: Vec<u8>,
}

impl WriteBufs {
    /// Empties both buffers, freeing one that grew past [`KEEP_BUFFER`].
    fn reset(&mut self) {
        for b in [&mut self.body, &mut self.out] {
            if b.capacity() > KEEP_BUFFER {
                *b = Vec::new();
            } else {
                b.clear();
            }
        }
    }
}

/// How the body of a committed response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyMode {
    /// No body bytes go out (HEAD, 1xx, 204, 304).
    NoBody,
    /// `Content-Length`: this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0, length unknown).
    UntilClose,
}

/// Writes one response: Go's `http.ResponseWriter`. See *Committing the
/// head* in `response.rs`.
pub struct ResponseWriter<'c> {
    wire: &'c dyn Transport,
    cont: &'c Cell<ContinueState>,
    header: HeaderMap,
    status: Option<StatusCode>,
    /// Body bytes written by the handler and not yet on the wire (the
    /// connection's `WriteBufs::body`).
    buf: Vec<u8>,
    /// Scratch for one write (the connection's `WriteBufs::out`); empty
    /// between uses.
    out: Vec<u8>,
    /// `None` until the head is committed.
    mode: Option<BodyMode>,
    /// Body bytes sent (or, for HEAD, discarded) since the commit.
    sent: u64,
    is_head: bool,
    version: Version,
    /// Whether the connection may carry another request after this one.
    keep_alive: bool,
    /// A write to the wire failed: the connection is dead.
    broken: bool,
}

fn body_allowed(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

fn broken_pipe() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the connection failed")
}

impl<'c> ResponseWriter<'c> {
    pub(crate) fn new(
        wire: &'c dyn Transport,
        cont: &'c Cell<ContinueState>,
        method: &Method,
        version: Version,
        keep_alive: bool,
        mut bufs: WriteBufs,
    ) -> Self {
        bufs.reset();
        ResponseWriter {
            wire,
            cont,
            header: HeaderMap::new(),
            status: None,
            buf: bufs.body,
            out: bufs.out,
            mode: None,
            sent: 0,
            is_head: method == Method::HEAD,
            version,
            keep_alive,
            broken: false,
        }
    }

    /// The response headers (Go's `w.Header()`). Changes after the head is
    /// committed have no effect.
    pub fn header_mut(&mut self) -> &mut HeaderMap {
        &mut self.header
    }

    /// The response headers as they stand.
    pub fn header(&self) -> &HeaderMap {
        &self.header
    }

    /// Sets the status (Go's `WriteHeader`). The first call wins; a later
    /// one is ignored with a message on stderr, as in Go. An informational
    /// status (1xx other than 101) is sent at once with the current headers
    /// and does not count as the final one.
    pub fn write_header(&mut self, status: StatusCode) {
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            if status == StatusCode::CONTINUE {
                // Only where the client waits for it, and only once (the
                // body's first read would send it otherwise).
                if self.cont.get() != ContinueState::Pending {
                    return;
                }
                self.cont.set(ContinueState::Sent);
            }
            if self.mode.is_none() {
                let mut out = Vec::new();
                put_status_and_headers(&mut out, status, &self.header, &Extra::default());
                if self.wire.write_all(&out).is_err() {
                    self.broken = true;
                }
            }
            return;
        }
        if self.status.is_some() || self.mode.is_some() {
            eprintln!("burrow-http: superfluous write_header({status}) ignored");
            return;
        }
        self.status = Some(status);
    }

    /// The status the response has (or will have: 200 if none was set).
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }

    /// Whether the head has been committed (sent or handed to the wire).
    pub fn head_sent(&self) -> bool {
        self.mode.is_some()
    }

    /// Nothing was set or written: the server may still answer an error of
    /// its own instead.
    pub(crate) fn untouched(&self) -> bool {
        self.mode.is_none() && self.status.is_none() && self.buf.is_empty()
    }

    /// Hands the buffers back for the connection's next response.
    pub(crate) fn take_buffers(&mut self) -> WriteBufs {
        WriteBufs {
            body: std::mem::take(&mut self.buf),
            out: std::mem::take(&mut self.out),
        }
    }

    /// Makes this the last response on the connection.
    pub(crate) fn set_close(&mut self) {
        self.keep_alive = false;
    }

    /// Drops whatever the handler prepared and answers `status` with a
    /// plain-text `text` instead, then closes. Only before commit.
    pub(crate) fn replace_with_error(&mut self, status: StatusCode, text: &str) {
        debug_assert!(self.mode.is_none());
        self.header.clear();
        self.header.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.header.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        self.status = Some(status);
        self.buf.clear();
        self.buf.extend_from_slice(text.as_bytes());
        self.keep_alive = false;
    }

    /// Commits if needed, sends what is buffered and ends the body. Returns
    /// whether the connection may carry another request.
    pub(crate) fn finish(&mut self) -> io::Result<bool> {
        if self.mode.is_none() {
            self.commit(true)?;
        }
        self.send_buffered()?;
        match self.mode {
            Some(BodyMode::Chunked) => {
                let mut out = std::mem::take(&mut self.out);
                put_last_chunk(&mut out, &HeaderMap::new());
                let r = self.send(&out);
                out.clear();
                self.out = out;
                r?;
            }
            Some(BodyMode::Length(n)) if self.sent < n => {
                // The handler wrote less than it declared: the client
                // would wait for the rest; only closing tells it.
                self.keep_alive = false;
            }
            _ => {}
        }
        self.wire.flush().inspect_err(|_| self.broken = true)?;
        Ok(self.keep_alive && !self.broken && self.mode != Some(BodyMode::UntilClose))
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.broken {
            return Err(broken_pipe());
        }
        self.wire
            .write_all(bytes)
            .inspect_err(|_| self.broken = true)
    }

    /// Sends the buffered body bytes in the committed framing.
    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        self.sent += data.len() as u64;
        let r = match self.mode {
            Some(BodyMode::NoBody) | None => Ok(()),
            Some(BodyMode::Chunked) => {
                let mut out = std::mem::take(&mut self.out);
                put_chunk_header(&mut out, data.len());
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\r\n");
                let r = self.send(&out);
                out.clear();
                self.out = out;
                r
            }
            Some(BodyMode::Length(_) | BodyMode::UntilClose) => self.send(&data),
        };
        self.buf = data;
        self.buf.clear();
        r
    }

    /// Decides the framing, completes the headers and sends the head
    /// together with the buffered body. `finished`: the handler returned,
    /// so the buffer holds the whole body.
    fn commit(&mut self, finished: bool) -> io::Result<()> {
        let status = self.status();
        self.status = Some(status);
        if self.cont.get() == ContinueState::Pending {
            // The final response goes first; the client must not send the
            // body now (RFC 9110 §10.1.1), and we will not read it.
            self.cont.set(ContinueState::Skipped);
        }
        let h = &mut self.header;
        if connection_has(h, "close") {
            self.keep_alive = false;
        }
        let declared = match h.get(CONTENT_LENGTH) {
            Some(v) => match parse_content_length(v.as_bytes()) {
                Some(n) => Some(n),
                None => {
                    eprintln!("burrow-http: handler set an invalid Content-Length; dropped");
                    h.remove(CONTENT_LENGTH);
                    None
                }
            },
            None => None,
        };
        // The framing is ours to decide.
        h.remove(TRANSFER_ENCODING);
        let mut extra = Extra::default();
        let whole = self.buf.len() as u64;
        let mode = if !body_allowed(status) {
            if status != StatusCode::NOT_MODIFIED {
                h.remove(CONTENT_LENGTH);
            }
            BodyMode::NoBody
        } else if self.is_head {
            if declared.is_none() && finished && whole > 0 {
                extra.content_length = Some(whole);
            }
            BodyMode::NoBody
        } else if let Some(n) = declared {
            BodyMode::Length(n)
        } else if finished {
            extra.content_length = Some(whole);
            BodyMode::Length(whole)
        } else if self.version == Version::HTTP_11 {
            extra.chunked = true;
            BodyMode::Chunked
        } else {
            self.keep_alive = false;
            BodyMode::UntilClose
        };
        if body_allowed(status) && !h.contains_key(CONTENT_TYPE) && !self.buf.is_empty() {
            extra.content_type = Some(sniff::content_type(&self.buf));
        }
        if !h.contains_key(DATE) {
            extra.date = Some(date::now());
        }
        if !self.keep_alive {
            h.remove(CONNECTION);
            extra.connection = Some("close");
        } else if self.version == Version::HTTP_10 {
            h.remove(CONNECTION);
            extra.connection = Some("keep-alive");
        }
        if let BodyMode::Length(n) = mode {
            if whole > n {
                self.mode = Some(BodyMode::Length(n));
                self.buf.clear();
                return Err(too_much_body());
            }
        }
        self.mode = Some(mode);

        let mut out = std::mem::take(&mut self.out);
        put_status_and_headers(&mut out, status, &self.header, &extra);
        if mode == BodyMode::Length(whole) || mode == BodyMode::UntilClose {
            // Head and body in one write.
            out.extend_from_slice(&self.buf);
            self.sent += whole;
            self.buf.clear();
        }
        let r = self.send(&out);
        out.clear();
        self.out = out;
        r
    }
}

fn too_much_body() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "wrote more than the declared Content-Length",
    )
}

/// The fields the writer adds at commit (framing, sniffed type, `Date`,
/// `Connection`). They go straight to the wire after the handler's own
/// fields instead of into its `HeaderMap`, as Go's `extraHeader` does: a
/// handler that sets no header then costs no map at all, and
/// [`ResponseWriter::header`] keeps showing what the handler set.
#[derive(Default)]
struct Extra {
    content_type: Option<&'static str>,
    content_length: Option<u64>,
    chunked: bool,
    date: Option<date::Date>,
    connection: Option<&'static str>,
}

/// Appends `HTTP/1.1 <status> <reason>`, the header fields (names in the
/// conventional `Title-Case`; the `http` crate keeps them lower-case), the
/// writer's own fields and the blank line.
fn put_status_and_headers(
    out: &mut Vec<u8>,
    status: StatusCode,
    header: &HeaderMap,
    extra: &Extra,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    match status.canonical_reason() {
        Some(reason) => out.extend_from_slice(reason.as_bytes()),
        None => {
            out.extend_from_slice(b"status code ");
            out.extend_from_slice(status.as_str().as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    for (name, value) in header {
        let mut upper = true;
        for &b in name.as_str().as_bytes() {
            out.push(if upper { b.to_ascii_uppercase() } else { b });
            upper = b == b'-';
        }
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(t) = extra.content_type {
        put_field(out, b"Content-Type", t.as_bytes());
    }
    if let Some(n) = extra.content_length {
        put_field(out, b"Content-Length", decimal(n, &mut [0; 20]));
    }
    if extra.chunked {
        put_field(out, b"Transfer-Encoding", b"chunked");
    }
    if let Some(d) = &extra.date {
        put_field(out, b"Date", d);
    }
    if let Some(c) = extra.connection {
        put_field(out, b"Connection", c.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, written at the end of `buf` (`write!` goes through
/// the formatting machinery, several times the work for one number).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

impl Write for ResponseWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(broken_pipe());
        }
        if !body_allowed(self.status()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the response status does not allow a body",
            ));
        }
        if data.is_empty() {
            return Ok(0);
        }
        // As in Go, the first write fixes the status (200 if none was set).
        self.status.get_or_insert(StatusCode::OK);
        match self.mode {
            Some(BodyMode::NoBody) => {
                self.sent += data.len() as u64;
                return Ok(data.len());
            }
            Some(BodyMode::Length(n)) if self.sent + (self.buf.len() + data.len()) as u64 > n => {
                return Err(too_much_body());
            }
            _ => {}
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BODY_BUFFER {
            if self.mode.is_none() {
                self.commit(false)?;
            }
            self.send_buffered()?;
        }
        Ok(data.len())
    }

    /// Commits the head (without a known length, unless one was set) and
    /// sends everything written so far (Go's `Flusher`).
    fn flush(&mut self) -> io::Result<()> {
        if self.mode.is_none() {
            self.commit(false)?;
        }
        self.send_buffered()?;
        self.wire.flush().inspect_err(|_| self.broken = true)
    }
}

/// Go's `http.Error`: answers `status` with `text` (and a newline) as
/// plain text. The handler should write nothing more.
pub fn error(w: &mut ResponseWriter<'_>, text: &str, status: StatusCode) {
    let h = w.header_mut();
    h.remove(CONTENT_LENGTH);
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    w.write_header(status);
    // A failed write surfaces when the server finishes the response.
    let _ = writeln!(w, "{text}");
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        #[test]
        fn decimal_agrees_with_display(n: u64) {
            let ours = super::decimal(n, &mut [0; 20]).to_vec();
            proptest::prop_assert_eq!(ours, n.to_string().into_bytes());
        }
    }

    #[test]
    fn decimal_edges() {
        for n in [0, 9, 10, 99, 100, u64::MAX] {
            assert_eq!(super::decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }
}
