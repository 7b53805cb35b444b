//! The chunked transfer coding (RFC 9112 §7.1), both ways: a decoder that
//! reads a chunked body and its trailers from a `BufRead`, and an encoder
//! that writes one.
//!
//! # Strictness
//!
//! Chunk framing is where request smuggling hides, so the decoder accepts
//! exactly the grammar and nothing a lenient peer might read differently:
//! a chunk size is 1 to 16 hex digits (more would overflow `u64`, and a
//! size that overflows must never wrap to a small one), optionally followed
//! by whitespace and `;extensions`; every line ends in CRLF (a bare LF or
//! CR is an error, as it is in Go since it closed the same hole); the data
//! is followed by CRLF; trailers are header fields ending in an empty line.
//! Any violation is [`BodyError::Malformed`] and the server closes the
//! connection without reading on: the bytes after a bad chunk are never
//! taken for a new request.

use std::io::{self, BufRead, Read, Write};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::body::BodyError;

/// The longest chunk-size line (digits, extensions and CRLF) accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// The trailer section's size limit when the caller gives none.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 64 << 10;

/// Where the decoder is in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left (never 0).
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last (zero) chunk: trailer lines until an empty one.
    Trailers,
    /// The body is complete.
    Done,
}

/// The chunked decoder's state machine, driven by whoever owns the reader
/// (the server's [`Body`](crate::Body) borrows the connection's reader, so
/// the decoder cannot own it).
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// The line being assembled (a line can arrive in several reads).
    line: Vec<u8>,
    /// The trailer section so far, for `httparse::parse_headers`.
    trailer_block: Vec<u8>,
    max_trailer_bytes: usize,
    trailers: HeaderMap,
}

fn malformed(reason: &'static str) -> io::Error {
    BodyError::Malformed(reason).into()
}

impl ChunkedDecoder {
    pub(crate) fn new(max_trailer_bytes: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            trailer_block: Vec::new(),
            max_trailer_bytes,
            trailers: HeaderMap::new(),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The trailers, complete once the body has been read to its end.
    pub(crate) fn trailers(&self) -> &HeaderMap {
        &self.trailers
    }

    /// Reads decoded body bytes into `out`; `Ok(0)` at the end of the body
    /// (or when `out` is empty).
    pub(crate) fn read<R: BufRead + ?Sized>(
        &mut self,
        rd: &mut R,
        out: &mut [u8],
    ) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::Size => {
                    self.read_line(rd, MAX_CHUNK_LINE)?;
                    let size = parse_chunk_size(&self.line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    let avail = rd.fill_buf()?;
                    if avail.is_empty() {
                        return Err(BodyError::Truncated.into());
                    }
                    let n = avail.len().min(out.len()).min(clamp(left));
                    out[..n].copy_from_slice(&avail[..n]);
                    rd.consume(n);
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(n);
                }
                State::DataEnd => {
                    self.read_line(rd, 2)?;
                    if self.line != b"\r\n" {
                        return Err(malformed("missing CRLF after chunk data"));
                    }
                    self.state = State::Size;
                }
                State::Trailers => {
                    let room = self
                        .max_trailer_bytes
                        .saturating_sub(self.trailer_block.len());
                    self.read_line(rd, room.max(2))?;
                    self.trailer_block.extend_from_slice(&self.line);
                    if self.line == b"\r\n" {
                        self.trailers = parse_trailers(&self.trailer_block)?;
                        self.trailer_block = Vec::new();
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    /// Reads one CRLF-terminated line (at most `max` bytes) into
    /// `self.line`, which keeps a partial line across `WouldBlock` or
    /// timeout errors.
    fn read_line<R: BufRead + ?Sized>(&mut self, rd: &mut R, max: usize) -> io::Result<()> {
        if self.line.last() == Some(&b'\n') {
            self.line.clear();
        }
        loop {
            let avail = rd.fill_buf()?;
            if avail.is_empty() {
                return Err(BodyError::Truncated.into());
            }
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if self.line.len() + take > max {
                return Err(malformed("chunk line too long"));
            }
            self.line.extend_from_slice(&avail[..take]);
            rd.consume(take);
            if done {
                let body = &self.line[..self.line.len() - 1];
                if body.last() != Some(&b'\r') || body[..body.len() - 1].contains(&b'\r') {
                    return Err(malformed("chunk line not ended by CRLF"));
                }
                return Ok(());
            }
        }
    }
}

/// A `u64` count as a `usize` bound (saturating on 32-bit targets).
fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `1*16HEXDIG [ OWS ";" ext ] CRLF` → the size.
fn parse_chunk_size(line: &[u8]) -> io::Result<u64> {
    let line = &line[..line.len() - 2];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(malformed("invalid chunk size"));
    }
    if digits > 16 {
        return Err(malformed("chunk size overflows"));
    }
    let rest = crate::head::trim_ows(&line[digits..]);
    if !rest.is_empty()
        && (rest[0] != b';' || rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f))
    {
        return Err(malformed("invalid chunk extension"));
    }
    let size = line[..digits].iter().fold(0u64, |n, &b| {
        // At most 16 hex digits: cannot overflow.
        (n << 4) | u64::from((b as char).to_digit(16).unwrap_or(0))
    });
    Ok(size)
}

/// The trailer section (ending in its empty line) as a header map.
fn parse_trailers(block: &[u8]) -> io::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    if block == b"\r\n" {
        return Ok(map);
    }
    let mut slots = vec![httparse::EMPTY_HEADER; 64];
    loop {
        let capacity = slots.len();
        match httparse::parse_headers(block, &mut slots) {
            Ok(httparse::Status::Complete((_, fields))) => {
                for f in fields {
                    let name = HeaderName::from_bytes(f.name.as_bytes())
                        .map_err(|_| malformed("invalid trailer name"))?;
                    let value = HeaderValue::from_bytes(f.value)
                        .map_err(|_| malformed("invalid trailer value"))?;
                    map.append(name, value);
                }
                return Ok(map);
            }
            Err(httparse::Error::TooManyHeaders) if capacity < 16 * 1024 => {
                slots = vec![httparse::EMPTY_HEADER; capacity * 4];
            }
            _ => return Err(malformed("invalid trailer section")),
        }
    }
}

/// A chunked body read from any `BufRead`: `Read` yields the decoded bytes,
/// then [`trailers`](Self::trailers) holds the trailer fields.
#[derive(Debug)]
pub struct ChunkedReader<R> {
    inner: R,
    decoder: ChunkedDecoder,
}

impl<R: BufRead> ChunkedReader<R> {
    /// Decodes the chunked body at the start of `inner`.
    pub fn new(inner: R) -> Self {
        ChunkedReader {
            inner,
            decoder: ChunkedDecoder::new(DEFAULT_MAX_TRAILER_BYTES),
        }
    }

    /// The trailer fields; empty until the body has been read to its end.
    pub fn trailers(&self) -> &HeaderMap {
        self.decoder.trailers()
    }

    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.decoder.is_done()
    }

    /// The underlying reader, positioned after the body once it is done.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(&mut self.inner, out)
    }
}

/// Appends a chunk's size line for `len` bytes of data.
pub(crate) fn put_chunk_header(out: &mut Vec<u8>, len: usize) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{len:x}\r\n");
}

/// Appends the last chunk, the trailers and the final CRLF.
pub(crate) fn put_last_chunk(out: &mut Vec<u8>, trailers: &HeaderMap) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a chunked body to any `Write`: each non-empty `write` is one
/// chunk; [`finish`](Self::finish) writes the last chunk and trailers.
#[derive(Debug)]
pub struct ChunkedWriter<W: Write> {
    inner: W,
    scratch: Vec<u8>,
}

impl<W: Write> ChunkedWriter<W> {
    /// Encodes onto `inner`.
    pub fn new(inner: W) -> Self {
        ChunkedWriter {
            inner,
            scratch: Vec::new(),
        }
    }

    /// Ends the body with `trailers` (empty for none) and returns the writer.
    pub fn finish(mut self, trailers: &HeaderMap) -> io::Result<W> {
        self.scratch.clear();
        put_last_chunk(&mut self.scratch, trailers);
        self.inner.write_all(&self.scratch)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            // A zero-size chunk would end the body.
            return Ok(0);
        }
        self.scratch.clear();
        put_chunk_header(&mut self.scratch, data.len());
        self.scratch.extend_from_slice(data);
        self.scratch.extend_from_slice(b"\r\n");
        self.inner.write_all(&self.scratch)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
