//! Test helpers: serve bytes over an in-memory connection and parse what
//! the server wrote with the crate's own client.

use std::io::{self, Cursor, Read, Write};

use http::Method;

use crate::client::ClientConn;
use crate::{Conn, Handler, ServerConfig, serve_conn};

/// A connection whose input is fixed and whose output is collected.
pub(crate) struct MemConn<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) output: &'a mut Vec<u8>,
}

impl Read for MemConn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for MemConn<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Conn for MemConn<'_> {}

/// Serves `input` as one connection and returns everything written.
pub(crate) fn serve_bytes<H: Handler + ?Sized>(
    handler: &H,
    config: &ServerConfig,
    input: &[u8],
) -> Vec<u8> {
    let mut output = Vec::new();
    serve_conn(
        MemConn {
            input,
            output: &mut output,
        },
        handler,
        config,
    )
    .expect("serve_conn over memory failed");
    output
}

/// A read-only stream for the client (its writes go nowhere).
struct ReadOnly(Cursor<Vec<u8>>);

impl Read for ReadOnly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for ReadOnly {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Parses the responses in `output`, one per method, and asserts nothing
/// else follows.
pub(crate) fn parse_responses(output: &[u8], methods: &[Method]) -> Vec<http::Response<Vec<u8>>> {
    let mut c = ClientConn::new(ReadOnly(Cursor::new(output.to_vec())));
    let resps = methods
        .iter()
        .map(|m| {
            c.read_response(m).unwrap_or_else(|e| {
                panic!(
                    "cannot parse a response for {m}: {e}\nserver wrote:\n{}",
                    String::from_utf8_lossy(output)
                )
            })
        })
        .collect();
    assert!(
        c.is_closed_by_peer().unwrap(),
        "more output than expected:\n{}",
        String::from_utf8_lossy(output)
    );
    resps
}

/// Serves `input` and parses exactly `methods.len()` responses.
pub(crate) fn serve_and_parse<H: Handler + ?Sized>(
    handler: &H,
    config: &ServerConfig,
    input: &[u8],
    methods: &[Method],
) -> Vec<http::Response<Vec<u8>>> {
    parse_responses(&serve_bytes(handler, config, input), methods)
}
