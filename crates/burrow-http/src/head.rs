//! Reading and judging a request head: the request line and header section
//! parsed by httparse, then the message-framing rules of RFC 9112 §6 that
//! httparse leaves to us (`Host`, `Content-Length`, `Transfer-Encoding`,
//! `Connection`, `Expect`).
//!
//! # What is refused, and why the connection then closes
//!
//! Every [`Reject`] ends the connection after its response: once a head is
//! malformed or its framing is in doubt we no longer know where the next
//! request starts, and guessing is how request smuggling works (a proxy in
//! front of us and this server must never disagree on message boundaries).
//! The full table, with what stays open, is in `docs/http.md` and the crate
//! docs (*Bad input*).

use std::io::{self, BufRead, Read};
use std::mem::MaybeUninit;

use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use crate::bufio::ConnReader;

/// How many header slots httparse gets on the first try; a request with
/// more is parsed again with four times as many (see [`MAX_HEADER_SLOTS`]).
/// 32 (1 KiB of stack) covers what browsers send (15–20 fields); 64 made
/// the parser's frame deep enough that every busy connection's goroutine
/// kept a second stack page (see *Memory per keep-alive connection* in
/// `docs/http.md`).
const FIRST_HEADER_SLOTS: usize = 32;

/// The most header fields a head may have; more is a 431. It is what an
/// `http::HeaderMap` can hold (its table is at most 2^15 slots, filled to
/// three quarters: reserving room for more panics). Each field is at
/// least `a:\r\n`, so the default byte limit allows about 200,000.
const MAX_HEADER_SLOTS: usize = 24 * 1024;

/// Room for the method, spaces and version around a request target when an
/// incomplete request line is judged against `max_uri_bytes`.
const REQUEST_LINE_SLACK: usize = 64;

/// The limits a head is read under (from [`ServerConfig`](crate::ServerConfig)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadLimits {
    pub(crate) max_header_bytes: usize,
    pub(crate) max_uri_bytes: usize,
}

/// How the body after a head is delimited (RFC 9112 §6.3). Requests are
/// never delimited by the connection closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes (never 0: that is `Empty`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed and accepted request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) parts: http::request::Parts,
    pub(crate) framing: Framing,
    /// The client allows another request on this connection after this one
    /// (HTTP/1.1 without `Connection: close`, or HTTP/1.0 with
    /// `Connection: keep-alive`).
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request with a body.
    pub(crate) expect_continue: bool,
}

/// A request the server answers with an error status and then closes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    /// Short text for the response body; never echoes the request.
    pub(crate) reason: &'static str,
}

const fn reject(status: StatusCode, reason: &'static str) -> Reject {
    Reject { status, reason }
}

const fn bad(reason: &'static str) -> Reject {
    reject(StatusCode::BAD_REQUEST, reason)
}

/// Why no head was read.
#[derive(Debug)]
pub(crate) enum ReadHeadError {
    /// End of stream before any byte of a request: the client is done.
    Eof,
    /// The stream failed (or timed out). `partial` says whether some bytes
    /// of a request had arrived (a timeout then earns a 408).
    Io { err: io::Error, partial: bool },
    /// A bad request; answer `status` and close.
    Reject(Reject),
}

/// Reads one request head from `rd`, growing its buffer until the head is
/// complete, and consumes it. The body (if any) is left in `rd`.
///
/// Most heads arrive whole in one read, so the first bytes are parsed at
/// once. After that httparse is only run again once the bytes may hold a
/// whole head (see [`HeadScan`]): a client trickling a 1 MiB head a byte
/// per packet must not cost a parse of everything so far per byte.
///
/// `spare` is an empty header map whose storage the head's fields go into
/// (the previous request's, handed back by the server so that a keep-alive
/// connection does not allocate a map per request); it is left empty.
pub(crate) fn read_request_head<R: Read>(
    rd: &mut ConnReader<R>,
    limits: HeadLimits,
    spare: &mut HeaderMap,
) -> Result<RequestHead, ReadHeadError> {
    let mut scan = HeadScan::default();
    let mut first_try = true;
    loop {
        if !rd.buffered().is_empty() {
            // The scan starts from the buffer's start whenever it first
            // runs, so skipping it on the first try loses nothing.
            let may_be_complete = std::mem::take(&mut first_try)
                || scan
                    .advance(rd.buffered(), limits)
                    .map_err(ReadHeadError::Reject)?;
            if may_be_complete {
                match parse_request_head_into(rd.buffered_mut(), limits, spare) {
                    Ok(Some((head, len))) => {
                        rd.consume(len);
                        return Ok(head);
                    }
                    // Only empty lines so far: keep reading.
                    Ok(None) => {}
                    Err(r) => return Err(ReadHeadError::Reject(r)),
                }
            }
        }
        let partial = !rd.buffered().is_empty();
        match rd.fill_more() {
            Ok(0) if partial => {
                return Err(ReadHeadError::Io {
                    err: io::ErrorKind::UnexpectedEof.into(),
                    partial,
                });
            }
            Ok(0) => return Err(ReadHeadError::Eof),
            Ok(_) => {}
            Err(err) => return Err(ReadHeadError::Io { err, partial }),
        }
    }
}

/// What is known about a head still arriving, so each byte is examined a
/// bounded number of times however the head is split across reads.
/// Offsets are into `ConnReader::buffered()`, whose start does not move
/// while a head is read (nothing is consumed before it is complete).
#[derive(Debug, Default)]
struct HeadScan {
    /// Bytes already searched for the blank line that ends a head.
    searched: usize,
    /// Bytes already scanned for the end of the request line.
    line_scanned: usize,
    /// Where the request line starts (after any leading empty lines).
    line_start: Option<usize>,
    /// The request line is complete and within the limit.
    line_done: bool,
}

impl HeadScan {
    /// Looks at the bytes that arrived since the last call. `Ok(true)`:
    /// the head may be complete (worth parsing); `Ok(false)`: more is
    /// needed; `Err`: a limit is already passed (414 or 431).
    fn advance(&mut self, buf: &[u8], limits: HeadLimits) -> Result<bool, Reject> {
        let line_limit = limits.max_uri_bytes + REQUEST_LINE_SLACK;
        while !self.line_done && self.line_scanned < buf.len() {
            let (i, b) = (self.line_scanned, buf[self.line_scanned]);
            match self.line_start {
                None if b != b'\r' && b != b'\n' => self.line_start = Some(i),
                Some(start) if b == b'\n' => {
                    if i - start > line_limit {
                        return Err(uri_too_long());
                    }
                    self.line_done = true;
                }
                _ => {}
            }
            self.line_scanned += 1;
        }
        if let (false, Some(start)) = (self.line_done, self.line_start) {
            if buf.len() - start > line_limit {
                return Err(uri_too_long());
            }
        }
        // A blank line ends the head: "\n\r\n" or "\n\n" (httparse also
        // takes bare LF line ends). Look back 2 bytes for one split by a read.
        let from = self.searched.saturating_sub(2);
        let tail = &buf[from..];
        let found =
            tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n");
        self.searched = buf.len();
        if found {
            return Ok(true);
        }
        if buf.len() > limits.max_header_bytes {
            return Err(too_large());
        }
        Ok(false)
    }
}

/// Parses a request head from the start of `buf`. `Ok(None)`: incomplete
/// (and still within the limits); `Ok(Some((head, len)))`: the head was the
/// first `len` bytes. `buf` is mutable only for the `HTTP/1.x` version fix.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse_request_head(
    buf: &mut [u8],
    limits: HeadLimits,
) -> Result<Option<(RequestHead, usize)>, Reject> {
    parse_request_head_into(buf, limits, &mut HeaderMap::new())
}

/// [`parse_request_head`] with the fields going into `spare`'s storage
/// (see [`read_request_head`]).
///
/// Never inlined: its header slots (1 KiB) would otherwise sit in the
/// connection loop's frame, under which the goroutine parks between
/// requests, and every idle connection would keep them (resident, or
/// in its compacted copy). Out of line they are below the frame only
/// while a head is parsed.
#[inline(never)]
fn parse_request_head_into(
    buf: &mut [u8],
    limits: HeadLimits,
    spare: &mut HeaderMap,
) -> Result<Option<(RequestHead, usize)>, Reject> {
    let mut minor_fixed = false;
    let mut slots = FIRST_HEADER_SLOTS;
    loop {
        // The first try parses into slots on the stack, left uninitialised
        // (httparse writes each before reading it): no allocation and no
        // zeroing of 1 KiB per request. Only a head with more fields than
        // that goes to the heap.
        let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); FIRST_HEADER_SLOTS];
        let mut heap = Vec::new();
        let headers: &mut [MaybeUninit<httparse::Header<'_>>] = if slots == FIRST_HEADER_SLOTS {
            &mut stack
        } else {
            heap.resize(slots, MaybeUninit::uninit());
            &mut heap
        };
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(buf, headers) {
            Ok(httparse::Status::Complete(len)) => {
                if len > limits.max_header_bytes {
                    return Err(too_large());
                }
                // A request line over its limit (a long method, say) gets
                // the 414 that a head arriving in pieces gets from the
                // scan; only a head this long can hold one.
                if len > limits.max_uri_bytes + REQUEST_LINE_SLACK {
                    check_partial(&buf[..len], limits)?;
                }
                if req.path.is_some_and(|p| p.len() > limits.max_uri_bytes) {
                    return Err(uri_too_long());
                }
                return accept_head(&req, spare).map(|h| Some((h, len)));
            }
            Ok(httparse::Status::Partial) => {
                check_partial(buf, limits)?;
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) if slots < MAX_HEADER_SLOTS => {
                slots = (slots * 4).min(MAX_HEADER_SLOTS);
            }
            Err(httparse::Error::TooManyHeaders) => return Err(too_large()),
            Err(httparse::Error::Version) if !minor_fixed => {
                if !fix_version(buf)? {
                    check_partial(buf, limits)?;
                    return Ok(None);
                }
                minor_fixed = true;
            }
            Err(e) => {
                // A malformed line may just be a truncated one that is
                // already over a limit: report the limit (414/431) first.
                check_partial(buf, limits)?;
                return Err(bad(match e {
                    httparse::Error::HeaderName => "malformed header name",
                    httparse::Error::HeaderValue => "malformed header value",
                    httparse::Error::NewLine => "malformed line ending",
                    httparse::Error::Version => "malformed HTTP version",
                    _ => "malformed request line",
                }));
            }
        }
    }
}

fn too_large() -> Reject {
    reject(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request header fields too large",
    )
}

fn uri_too_long() -> Reject {
    reject(StatusCode::URI_TOO_LONG, "request URI too long")
}

/// Limits on a head that is not complete yet: a request line longer than
/// any acceptable one is a 414, a head past `max_header_bytes` a 431.
fn check_partial(buf: &[u8], limits: HeadLimits) -> Result<(), Reject> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let line_len = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    if line_len > limits.max_uri_bytes + REQUEST_LINE_SLACK {
        return Err(uri_too_long());
    }
    if buf.len() > limits.max_header_bytes {
        return Err(too_large());
    }
    Ok(())
}

/// httparse knows only `HTTP/1.0` and `HTTP/1.1`. A request line ending in
/// another well-formed version gets 505 when the major version is not 1;
/// `HTTP/1.x` with x > 1 is served as HTTP/1.1 (RFC 9110 §6.2: a recipient
/// treats a higher minor version as the highest it supports), by rewriting
/// the minor digit in place and parsing again. `Ok(false)`: the request
/// line is not complete yet.
fn fix_version(buf: &mut [u8]) -> Result<bool, Reject> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') else {
        return Ok(false);
    };
    let mut line_end = start + nl;
    if line_end > start && buf[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    let line = &buf[start..line_end];
    let Some(sp) = line.iter().rposition(|&b| b == b' ') else {
        return Err(bad("malformed request line"));
    };
    let version = &line[sp + 1..];
    let Some(num) = version.strip_prefix(b"HTTP/") else {
        return Err(bad("malformed HTTP version"));
    };
    let (major, minor) = match num.iter().position(|&b| b == b'.') {
        Some(dot) => (&num[..dot], Some(&num[dot + 1..])),
        None => (num, None),
    };
    let digits = |s: &[u8]| !s.is_empty() && s.len() <= 3 && s.iter().all(u8::is_ascii_digit);
    if !digits(major) || minor.is_some_and(|m| !digits(m)) {
        return Err(bad("malformed HTTP version"));
    }
    if major != b"1" {
        return Err(reject(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "unsupported HTTP version",
        ));
    }
    match minor {
        Some(m) if m.len() == 1 => {
            // "HTTP/1.x": the digit sits at the end of the line.
            buf[start + sp + 1 + b"HTTP/1.".len()] = b'1';
            Ok(true)
        }
        _ => Err(bad("malformed HTTP version")),
    }
}

/// Builds the `http` types from a complete parse and applies the framing
/// rules (RFC 9112 §3.2, §6, §9.3; RFC 9110 §10.1.1).
fn accept_head(
    req: &httparse::Request<'_, '_>,
    spare: &mut HeaderMap,
) -> Result<RequestHead, Reject> {
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| bad("malformed method"))?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let uri = parse_target(&method, req.path.unwrap_or(""))?;

    let mut headers = std::mem::take(spare);
    headers.clear();
    headers
        .try_reserve(req.headers.len())
        .map_err(|_| too_large())?;
    // The fields the framing rules read are noted as they go in, so that
    // a head without them (most: a `Host` and nothing that frames a body)
    // is checked without looking anything up in the map.
    let mut seen = Seen::default();
    for h in req.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad("malformed header name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| bad("malformed header value"))?;
        seen.note(&name, h.value);
        headers.append(name, value);
    }

    check_host(seen.hosts, version)?;
    let framing = if seen.framing {
        body_framing(&headers, version)?
    } else {
        Framing::Empty
    };
    let keep_alive = if seen.connection {
        wants_keep_alive(&headers, version)
    } else {
        version == Version::HTTP_11
    };
    let expect = if seen.expect {
        headers.get(EXPECT)
    } else {
        None
    };
    let expect_continue = match expect {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"100-continue") => {
            version == Version::HTTP_11 && framing != Framing::Empty
        }
        Some(_) => {
            return Err(reject(
                StatusCode::EXPECTATION_FAILED,
                "unsupported expectation",
            ));
        }
    };

    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(RequestHead {
        parts: request.into_parts().0,
        framing,
        keep_alive,
        expect_continue,
    })
}

/// The four request-target forms (RFC 9112 §3.2): origin (`/path?q`),
/// absolute (`http://host/path`), authority (`host:port`, CONNECT only) and
/// asterisk (`*`, OPTIONS only).
fn parse_target(method: &Method, target: &str) -> Result<Uri, Reject> {
    let malformed = || bad("malformed request target");
    if target == "*" {
        return if method == Method::OPTIONS {
            Ok(Uri::from_static("*"))
        } else {
            Err(malformed())
        };
    }
    let uri: Uri = target.parse().map_err(|_| malformed())?;
    let form_ok = if target.starts_with('/') {
        true
    } else if method == Method::CONNECT {
        uri.authority().is_some() && uri.scheme().is_none()
    } else {
        uri.scheme().is_some() && uri.authority().is_some()
    };
    if form_ok { Ok(uri) } else { Err(malformed()) }
}

/// What [`accept_head`] noted of a head's fields as it copied them: the
/// `Host` values (the first, and whether there were more) and whether any
/// field that frames the body, lists connection options or states an
/// expectation is present.
#[derive(Default)]
struct Seen<'b> {
    hosts: Hosts<'b>,
    framing: bool,
    connection: bool,
    expect: bool,
}

/// The `Host` fields of a head.
#[derive(Default, Clone, Copy)]
enum Hosts<'b> {
    #[default]
    None,
    One(&'b [u8]),
    Several,
}

impl<'b> Seen<'b> {
    fn note(&mut self, name: &HeaderName, value: &'b [u8]) {
        if *name == HOST {
            self.hosts = match self.hosts {
                Hosts::None => Hosts::One(value),
                _ => Hosts::Several,
            };
        } else if *name == CONTENT_LENGTH || *name == TRANSFER_ENCODING {
            self.framing = true;
        } else if *name == CONNECTION {
            self.connection = true;
        } else if *name == EXPECT {
            self.expect = true;
        }
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`; more than one
/// (or an invalid one) is a 400 in any version.
fn check_host(hosts: Hosts<'_>, version: Version) -> Result<(), Reject> {
    match hosts {
        Hosts::Several => Err(bad("more than one Host header")),
        Hosts::None if version == Version::HTTP_11 => Err(bad("missing required Host header")),
        Hosts::None => Ok(()),
        Hosts::One(h) if h.is_empty() || plain_host_name(h).is_some() => Ok(()),
        Hosts::One(h) => http::uri::Authority::try_from(h)
            .map(|_| ())
            .map_err(|_| bad("malformed Host header")),
    }
}

/// The host of a `Host` value of the plain form `name` or `name:port` (a
/// non-empty name of letters, digits, `-`, `.`, `_` and `~`; a port of one
/// to five digits), or `None` for any other form. Every such value is a
/// valid authority whose host is that name; the others (IPv6 literals,
/// user info, percent escapes, an empty port, invalid values) go through
/// `http::uri::Authority` (which copies the value to check it).
pub(crate) fn plain_host(a: &[u8]) -> Option<&str> {
    let name = plain_host_name(a)?;
    // ASCII, so UTF-8.
    std::str::from_utf8(name).ok()
}

/// The name part of a plain `Host` value (see [`plain_host`]), as bytes:
/// the head's check needs no `str`. One pass over a byte table: every
/// request's `Host` goes through it.
fn plain_host_name(a: &[u8]) -> Option<&[u8]> {
    /// The bytes of a plain host name.
    const NAME: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
            b += 1;
        }
        t
    };
    let end = a.iter().position(|&b| !NAME[b as usize]).unwrap_or(a.len());
    if end == 0 {
        return None;
    }
    match a.get(end) {
        None => Some(a),
        Some(b':') => {
            let port = &a[end + 1..];
            ((1..=5).contains(&port.len()) && port.iter().all(u8::is_ascii_digit))
                .then_some(&a[..end])
        }
        Some(_) => None,
    }
}

/// RFC 9112 §6.1–§6.3 for requests, strictly: `Transfer-Encoding` must be
/// exactly `chunked`, must not come with `Content-Length`, and is refused
/// on HTTP/1.0; every `Content-Length` must be the same plain decimal.
fn body_framing(headers: &HeaderMap, version: Version) -> Result<Framing, Reject> {
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let has_cl = headers.contains_key(CONTENT_LENGTH);
    if has_te {
        if has_cl {
            return Err(bad("both Transfer-Encoding and Content-Length"));
        }
        if version == Version::HTTP_10 {
            return Err(bad("Transfer-Encoding on an HTTP/1.0 request"));
        }
        let mut codings = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(trim_ows);
        return match (codings.next(), codings.next()) {
            (Some(c), None) if c.eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
            _ => Err(reject(
                StatusCode::NOT_IMPLEMENTED,
                "unsupported transfer encoding",
            )),
        };
    }
    let mut length = None;
    for v in headers.get_all(CONTENT_LENGTH) {
        let n = parse_content_length(v.as_bytes()).ok_or(bad("malformed Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(bad("differing Content-Length values"));
        }
        length = Some(n);
    }
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

/// `1*DIGIT` around optional whitespace, without overflow: no sign, no
/// comma list, no hex.
pub(crate) fn parse_content_length(v: &[u8]) -> Option<u64> {
    let digits = trim_ows(v);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Strips optional whitespace (spaces and tabs) from both ends.
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// Whether a `Connection` header (all its lines) lists `token`.
pub(crate) fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// RFC 9112 §9.3: HTTP/1.1 is persistent unless `close`; HTTP/1.0 only with
/// `keep-alive`.
fn wants_keep_alive(headers: &HeaderMap, version: Version) -> bool {
    if connection_has(headers, "close") {
        return false;
    }
    version == Version::HTTP_11 || connection_has(headers, "keep-alive")
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
