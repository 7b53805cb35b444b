//! The connection's read buffer: Go's `bufio.Reader` with one extra call,
//! [`ConnReader::fill_more`], that appends to what is buffered instead of
//! waiting for it to be consumed. A message head must be parsed from one
//! contiguous slice (httparse is zero-copy), so the head is read by growing
//! the buffer until the parser says it is complete; the body and the next
//! pipelined request are then read from the same buffer.

use std::io::{self, BufRead, Read};

/// The buffer's starting size, and the most read per call: one page-ish
/// read gets a typical request head and any pipelined ones behind it.
const READ_CHUNK: usize = 4096;

/// A buffered reader whose buffer can grow to hold a whole message head.
pub(crate) struct ConnReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[pos..end]` is read but not consumed.
    pos: usize,
    end: usize,
}

impl<R: Read> ConnReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        ConnReader {
            inner,
            buf: vec![0; READ_CHUNK],
            pos: 0,
            end: 0,
        }
    }

    /// The stream, for writing (a client writes requests on it).
    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The bytes read and not yet consumed.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Mutable view of [`buffered`](Self::buffered), for the parser's
    /// in-place version fix (see `head.rs`).
    pub(crate) fn buffered_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.pos..self.end]
    }

    /// Reads once more from the stream, appending to the buffered bytes
    /// (moving them to the front or growing the buffer first when needed).
    /// Returns the number of new bytes; 0 means end of stream.
    pub(crate) fn fill_more(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK / 4 {
            let grown = (self.buf.len() * 2).max(READ_CHUNK);
            self.buf.resize(grown, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.end += n;
        Ok(n)
    }

    /// Gives back memory a large head made us take, once it is consumed.
    pub(crate) fn shrink(&mut self) {
        if self.pos == self.end && self.buf.len() > 4 * READ_CHUNK {
            self.buf = vec![0; READ_CHUNK];
            self.pos = 0;
            self.end = 0;
        }
    }
}

impl<R: Read> Read for ConnReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end && out.len() >= self.buf.len() {
            // Large reads bypass the buffer, as bufio does.
            return self.inner.read(out);
        }
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for ConnReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
            self.fill_more()?;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns one byte per call, the worst case for a parser.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn fill_more_appends_and_grows_past_the_first_chunk() {
        let data: Vec<u8> = (0..3 * READ_CHUNK).map(|i| i as u8).collect();
        let mut r = ConnReader::new(&data[..]);
        while r.fill_more().unwrap() > 0 {}
        assert_eq!(r.buffered(), &data[..], "every byte is kept, in order");
    }

    #[test]
    fn one_byte_reads_accumulate_and_consume_moves_on() {
        let mut r = ConnReader::new(Trickle(b"hello world"));
        for _ in 0..5 {
            r.fill_more().unwrap();
        }
        assert_eq!(r.buffered(), b"hello");
        r.consume(2);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "llo world");
    }
}
