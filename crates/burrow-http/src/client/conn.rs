//! One HTTP/1.1 client connection over any `Read + Write`: write a request
//! (with a `Content-Length` or chunked body), read a response
//! (`Content-Length`, chunked with trailers, delimited by close, or no body
//! for HEAD, 1xx, 204 and 304). One [`ClientConn`] is one connection; send
//! requests on it one after another to reuse it, or write several before
//! reading to pipeline.
//!
//! This is the layer under [`Client`](super::Client) (Go's `persistConn`
//! without its goroutines), and the tests' raw client (the round-trip
//! property test writes with it and parses with the server), so it is
//! strict where that finds bugs: a response it cannot frame is an
//! `InvalidData` error.

use std::io::{self, BufRead, Read, Write};

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use crate::bufio::ConnReader;
use crate::chunked::{ChunkedDecoder, DEFAULT_MAX_TRAILER_BYTES, put_chunk_header, put_last_chunk};
use crate::head::{parse_content_length, trim_ows};

/// The largest response head accepted.
const MAX_RESPONSE_HEAD: usize = 1 << 20;

/// Request extension: send the body chunked, cut into chunks of these
/// sizes (the rest in one last chunk). Implies `Transfer-Encoding: chunked`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunks(pub Vec<usize>);

/// Request extension: trailer fields for a chunked body. Response
/// extension: the trailers of a chunked response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trailers(pub HeaderMap);

/// Response extension: the informational (1xx) responses that came before
/// the final one, such as `100 Continue`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interim(pub Vec<StatusCode>);

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Writes `req`: request line, headers (adding `Host` from the URI when
/// missing), and the body, framed by `Content-Length` unless the request
/// says `Transfer-Encoding: chunked` or carries [`Chunks`].
pub fn write_request<W: Write>(w: &mut W, req: &http::Request<Vec<u8>>) -> io::Result<()> {
    let mut out = Vec::with_capacity(256 + req.body().len());
    let target = match req.uri().path_and_query() {
        Some(pq) if req.uri().scheme().is_none() => pq.as_str().to_owned(),
        _ => req.uri().to_string(),
    };
    let version = if req.version() == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    write!(out, "{} {} {}\r\n", req.method(), target, version)?;
    let headers = req.headers();
    if !headers.contains_key(HOST) {
        if let Some(a) = req.uri().authority() {
            write!(out, "Host: {a}\r\n")?;
        }
    }
    let chunks = req.extensions().get::<Chunks>();
    let chunked = chunks.is_some()
        || headers
            .get(TRANSFER_ENCODING)
            .is_some_and(|v| trim_ows(v.as_bytes()).eq_ignore_ascii_case(b"chunked"));
    for (name, value) in headers {
        if chunked && name == CONTENT_LENGTH {
            continue;
        }
        put_field(&mut out, name, value);
    }
    let body = req.body();
    if chunked {
        if !headers.contains_key(TRANSFER_ENCODING) {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        out.extend_from_slice(b"\r\n");
        let mut rest = &body[..];
        let sizes = chunks.map(|c| &c.0[..]).unwrap_or(&[]);
        for &size in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            if rest.is_empty() {
                break;
            }
            let n = size.clamp(1, rest.len());
            put_chunk_header(&mut out, n);
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        let empty = HeaderMap::new();
        let trailers = req.extensions().get::<Trailers>().map_or(&empty, |t| &t.0);
        put_last_chunk(&mut out, trailers);
    } else {
        let needs_length =
            !body.is_empty() || matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
        if needs_length && !headers.contains_key(CONTENT_LENGTH) {
            write!(out, "content-length: {}\r\n", body.len())?;
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }
    w.write_all(&out)?;
    w.flush()
}

fn put_field(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// One client connection over a stream.
pub struct ClientConn<S> {
    rd: ConnReader<S>,
    /// Whether a byte of the response being read (or last read) has
    /// arrived; see [`ClientConn::response_begun`].
    begun: bool,
}

impl<S: Read + Write> ClientConn<S> {
    /// A connection over `stream`.
    pub fn new(stream: S) -> Self {
        ClientConn {
            rd: ConnReader::new(stream),
            begun: false,
        }
    }

    /// The stream, e.g. to write raw bytes or set timeouts.
    pub fn get_mut(&mut self) -> &mut S {
        self.rd.get_mut()
    }

    /// Writes `req` and reads its response.
    pub fn send(&mut self, req: &http::Request<Vec<u8>>) -> io::Result<http::Response<Vec<u8>>> {
        write_request(self.rd.get_mut(), req)?;
        self.read_response(req.method())
    }

    /// Reads the next response, for a request with `method` (which decides
    /// whether a body follows). 1xx responses before it are collected in
    /// the [`Interim`] extension.
    pub fn read_response(&mut self, method: &Method) -> io::Result<http::Response<Vec<u8>>> {
        self.begun = !self.rd.buffered().is_empty();
        let mut interim = Vec::new();
        loop {
            let (mut resp, len) = self.read_head()?;
            self.rd.consume(len);
            let status = resp.status();
            if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
                interim.push(status);
                continue;
            }
            let body = self.read_body(&mut resp, method)?;
            *resp.body_mut() = body;
            resp.extensions_mut().insert(Interim(interim));
            return Ok(resp);
        }
    }

    /// Whether any byte of the response that [`read_response`] is reading,
    /// or last read, had arrived. After a failed read, `false` means the
    /// server closed or reset the connection without answering at all:
    /// the request may be sent again on another connection (see
    /// *Retrying* in `client/mod.rs`).
    ///
    /// [`read_response`]: ClientConn::read_response
    pub fn response_begun(&self) -> bool {
        self.begun
    }

    /// The number of bytes read from the stream and not yet consumed: more
    /// than zero between responses means the server sent something
    /// unasked, and the connection cannot be trusted with a new request.
    pub fn buffered_len(&self) -> usize {
        self.rd.buffered().len()
    }

    /// Whether the server has closed the connection: reads one byte and
    /// expects end of stream (an unexpected byte is an error).
    pub fn is_closed_by_peer(&mut self) -> io::Result<bool> {
        if !self.rd.buffered().is_empty() {
            return Ok(false);
        }
        match self.rd.fill_more() {
            Ok(0) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn read_head(&mut self) -> io::Result<(http::Response<Vec<u8>>, usize)> {
        loop {
            if !self.rd.buffered().is_empty() {
                let mut slots = [httparse::EMPTY_HEADER; 128];
                let mut r = httparse::Response::new(&mut slots);
                match r.parse(self.rd.buffered()) {
                    Ok(httparse::Status::Complete(len)) => {
                        let mut resp = http::Response::new(Vec::new());
                        *resp.status_mut() = StatusCode::from_u16(r.code.unwrap_or(0))
                            .map_err(|_| invalid("bad status code"))?;
                        *resp.version_mut() = if r.version == Some(0) {
                            Version::HTTP_10
                        } else {
                            Version::HTTP_11
                        };
                        for h in r.headers.iter() {
                            let name = HeaderName::from_bytes(h.name.as_bytes())
                                .map_err(|_| invalid("bad header name"))?;
                            let value = HeaderValue::from_bytes(h.value)
                                .map_err(|_| invalid("bad header value"))?;
                            resp.headers_mut().append(name, value);
                        }
                        return Ok((resp, len));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return Err(invalid("malformed response head")),
                }
                if self.rd.buffered().len() > MAX_RESPONSE_HEAD {
                    return Err(invalid("response head too large"));
                }
            }
            if self.rd.fill_more()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                ));
            }
            self.begun = true;
        }
    }

    /// Reads the body as RFC 9112 §6.3 frames it for a response.
    fn read_body(
        &mut self,
        resp: &mut http::Response<Vec<u8>>,
        method: &Method,
    ) -> io::Result<Vec<u8>> {
        let status = resp.status();
        let mut body = Vec::new();
        if *method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(body);
        }
        let h = resp.headers();
        let te = h.get(TRANSFER_ENCODING);
        if let Some(te) = te {
            let last = te.as_bytes().rsplit(|&b| b == b',').next().unwrap_or(b"");
            if !trim_ows(last).eq_ignore_ascii_case(b"chunked") {
                return Err(invalid("unsupported transfer coding"));
            }
            let mut dec = ChunkedDecoder::new(DEFAULT_MAX_TRAILER_BYTES);
            let mut buf = [0u8; 8192];
            loop {
                let n = dec.read(&mut self.rd, &mut buf)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
            resp.extensions_mut()
                .insert(Trailers(dec.trailers().clone()));
            return Ok(body);
        }
        let mut lengths = h.get_all(CONTENT_LENGTH).iter();
        if let Some(first) = lengths.next() {
            if lengths.any(|v| v != first) {
                return Err(invalid("differing Content-Length values"));
            }
            let n = parse_content_length(first.as_bytes())
                .ok_or_else(|| invalid("bad Content-Length"))?;
            (&mut self.rd).take(n).read_to_end(&mut body)?;
            if (body.len() as u64) < n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "response body cut short",
                ));
            }
            return Ok(body);
        }
        // Delimited by close: the connection cannot be reused.
        self.rd.read_to_end(&mut body)?;
        Ok(body)
    }
}
