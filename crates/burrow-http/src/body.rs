//! The request body a handler reads: Go's `r.Body` as an `io::Read` that
//! stops at the message boundary, whatever the framing.
//!
//! A [`Body`] served from a connection borrows the connection's read buffer
//! for the duration of the handler (`Body<'c>`), reads exactly the
//! `Content-Length` bytes or the chunked body and its trailers, enforces
//! the server's `max_body_bytes`, and sends `100 Continue` on the first
//! read when the client asked for it (see *Expect: 100-continue* in
//! `server.rs`). A framing error is remembered: every later read returns it
//! again and the server closes the connection after the response.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Cursor, Read};

use http::HeaderMap;

use crate::chunked::ChunkedDecoder;
use crate::conn::Transport;

/// Why a body could not be read to its end. Carried inside the
/// `io::Error` that `Read::read` returns; get it back with
/// [`BodyError::from_io`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The chunked framing is invalid (the reason says where).
    Malformed(&'static str),
    /// The stream ended before the body did.
    Truncated,
    /// The body is longer than the server's `max_body_bytes`.
    TooLarge {
        /// The limit that was passed.
        limit: u64,
    },
}

impl BodyError {
    /// The `BodyError` inside an `io::Error` from a body read, if any.
    pub fn from_io(e: &io::Error) -> Option<&BodyError> {
        e.get_ref()?.downcast_ref()
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Malformed(why) => write!(f, "malformed chunked body: {why}"),
            BodyError::Truncated => f.write_str("body ended early"),
            BodyError::TooLarge { limit } => write!(f, "body larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for BodyError {}

impl From<BodyError> for io::Error {
    fn from(e: BodyError) -> io::Error {
        let kind = match e {
            BodyError::Truncated => io::ErrorKind::UnexpectedEof,
            BodyError::Malformed(_) | BodyError::TooLarge { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Where `Expect: 100-continue` stands on the current request. Shared by
/// the body (which sends the interim response on its first read) and the
/// response writer (whose first output makes it too late to send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContinueState {
    /// The client did not ask, or the request has no body.
    NotExpected,
    /// The client waits for `100 Continue` before sending the body.
    Pending,
    /// Sent; the body is on its way.
    Sent,
    /// The final response started first; no `100 Continue` will be sent.
    Skipped,
}

/// What the body needs to send `100 Continue`.
pub(crate) struct ContinueHook<'c> {
    pub(crate) wire: &'c dyn Transport,
    pub(crate) state: &'c Cell<ContinueState>,
}

/// How a body served from a connection is delimited.
enum WireFraming {
    /// This many bytes are left.
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// A body read from a connection.
struct WireBody<'c> {
    rd: &'c mut dyn BufRead,
    framing: WireFraming,
    /// `max_body_bytes`, and how much has been read.
    limit: Option<u64>,
    read: u64,
    cont: Option<ContinueHook<'c>>,
    /// Set on the first error; the connection cannot be reused after it.
    failed: Option<io::ErrorKind>,
    error: Option<BodyError>,
}

enum Source<'c> {
    Empty,
    Bytes(Cursor<Vec<u8>>),
    Wire(Box<WireBody<'c>>),
}

/// A request body: `io::Read` up to the end of the message.
///
/// Handlers get it as `req.body_mut()`; tests and callers that build
/// requests by hand use [`Body::empty`] or [`Body::from_bytes`].
pub struct Body<'c> {
    src: Source<'c>,
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.src {
            Source::Empty => "empty",
            Source::Bytes(_) => "bytes",
            Source::Wire(w) => match w.framing {
                WireFraming::Length(_) => "content-length",
                WireFraming::Chunked(_) => "chunked",
            },
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

impl Default for Body<'_> {
    fn default() -> Self {
        Body::empty()
    }
}

impl<'c> Body<'c> {
    /// No body.
    pub fn empty() -> Self {
        Body { src: Source::Empty }
    }

    /// A body held in memory.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Body {
            src: Source::Bytes(Cursor::new(bytes.into())),
        }
    }

    /// A body of exactly `len` bytes from `rd` (`len` > 0).
    pub(crate) fn with_length(
        rd: &'c mut dyn BufRead,
        len: u64,
        limit: Option<u64>,
        cont: Option<ContinueHook<'c>>,
    ) -> Self {
        Self::wire(rd, WireFraming::Length(len), limit, cont)
    }

    /// A chunked body from `rd`.
    pub(crate) fn chunked(
        rd: &'c mut dyn BufRead,
        max_trailer_bytes: usize,
        limit: Option<u64>,
        cont: Option<ContinueHook<'c>>,
    ) -> Self {
        let framing = WireFraming::Chunked(ChunkedDecoder::new(max_trailer_bytes));
        Self::wire(rd, framing, limit, cont)
    }

    fn wire(
        rd: &'c mut dyn BufRead,
        framing: WireFraming,
        limit: Option<u64>,
        cont: Option<ContinueHook<'c>>,
    ) -> Self {
        Body {
            src: Source::Wire(Box::new(WireBody {
                rd,
                framing,
                limit,
                read: 0,
                cont,
                failed: None,
                error: None,
            })),
        }
    }

    /// The body's length when the request declared it (`Content-Length`),
    /// or when it is held in memory; `None` for a chunked body.
    pub fn content_length(&self) -> Option<u64> {
        match &self.src {
            Source::Empty => Some(0),
            Source::Bytes(c) => Some(c.get_ref().len() as u64),
            Source::Wire(w) => match w.framing {
                WireFraming::Length(left) => Some(left + w.read),
                WireFraming::Chunked(_) => None,
            },
        }
    }

    /// The trailer fields of a chunked body, once it has been read to its
    /// end (Go fills `r.Trailer` at the same moment); `None` before that
    /// and for other framings.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        match &self.src {
            Source::Wire(w) => match &w.framing {
                WireFraming::Chunked(d) if d.is_done() => Some(d.trailers()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The body error seen so far, if any (the server answers 400 or 413
    /// with it when the handler wrote nothing).
    pub(crate) fn error(&self) -> Option<&BodyError> {
        match &self.src {
            Source::Wire(w) => w.error.as_ref(),
            _ => None,
        }
    }

    /// Whether the whole body has been read without error.
    pub(crate) fn is_complete(&self) -> bool {
        match &self.src {
            Source::Empty => true,
            Source::Bytes(c) => c.position() as usize >= c.get_ref().len(),
            Source::Wire(w) => {
                w.failed.is_none()
                    && match &w.framing {
                        WireFraming::Length(left) => *left == 0,
                        WireFraming::Chunked(d) => d.is_done(),
                    }
            }
        }
    }

    /// Reads and discards what is left of the body, at most `max` bytes, so
    /// the next request can be read. Returns whether the body ended.
    ///
    /// A client still waiting for `100 Continue` is not asked for the body:
    /// it may or may not send it, so the connection cannot be reused.
    #[inline]
    pub(crate) fn discard_rest(&mut self, max: u64) -> bool {
        // The common case, a body already read to its end (or none): no
        // scratch buffer. The server calls this twice per request.
        self.is_complete() || self.discard_unread(max)
    }

    /// [`Body::discard_rest`] for a body with bytes left. Out of line, and
    /// kept so: its 8 KiB scratch buffer makes the compiler probe the
    /// stack page by page on entry, which would otherwise touch two pages
    /// below every connection's frames on each request, complete body or
    /// not, and keep them resident.
    #[cold]
    #[inline(never)]
    fn discard_unread(&mut self, max: u64) -> bool {
        if let Source::Wire(w) = &self.src {
            if w.cont
                .as_ref()
                .is_some_and(|c| c.state.get() != ContinueState::Sent)
            {
                return false;
            }
        }
        let mut scratch = [0u8; 8192];
        let mut total = 0u64;
        loop {
            match self.read(&mut scratch) {
                Ok(0) => return self.is_complete(),
                Ok(n) => {
                    total += n as u64;
                    if total > max {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

impl WireBody<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(match &self.error {
                Some(e) => e.clone().into(),
                None => io::Error::new(kind, "an earlier body read failed"),
            });
        }
        if out.is_empty() {
            return Ok(0);
        }
        if let Some(c) = &self.cont {
            if c.state.get() == ContinueState::Pending {
                c.state.set(ContinueState::Sent);
                c.wire.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                c.wire.flush()?;
            }
        }
        let got = match &mut self.framing {
            WireFraming::Length(0) => Ok(0),
            WireFraming::Length(left) => {
                let want = out.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                match self.rd.read(&mut out[..want]) {
                    Ok(0) => Err(BodyError::Truncated.into()),
                    Ok(n) => {
                        *left -= n as u64;
                        Ok(n)
                    }
                    Err(e) => Err(e),
                }
            }
            WireFraming::Chunked(d) => d.read(&mut *self.rd, out),
        };
        let got = got.and_then(|n| {
            self.read += n as u64;
            match self.limit {
                Some(limit) if self.read > limit => Err(BodyError::TooLarge { limit }.into()),
                _ => Ok(n),
            }
        });
        if let Err(e) = &got {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = Some(e.kind());
                self.error = BodyError::from_io(e).cloned();
            }
        }
        got
    }
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.src {
            Source::Empty => Ok(0),
            Source::Bytes(c) => c.read(out),
            Source::Wire(w) => w.read(out),
        }
    }
}
