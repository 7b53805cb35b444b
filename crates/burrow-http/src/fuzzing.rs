//! Harness functions for the fuzz targets in `fuzz/` (cargo-fuzz, outside
//! the workspace) and for the long local proptest that stands in for them
//! where no nightly toolchain is at hand. Compiled only with the `fuzzing`
//! feature (and in this crate's tests, which run each on a few inputs).
//!
//! Each function takes arbitrary bytes and panics only when a property of
//! the parser breaks; "the input was rejected" is a normal outcome.

use std::io::{BufReader, Read};

use crate::chunked::{ChunkedReader, ChunkedWriter};
use crate::head::{Framing, HeadLimits, parse_request_head};

/// The server's default limits, small enough that the fuzzer reaches them.
const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 4096,
    max_uri_bytes: 1024,
};

/// The request-head parser on `data`:
///
/// - it never panics, whatever the bytes;
/// - an accepted head's length lies within the input, and the same head is
///   accepted (with the same length and framing) from a buffer that has
///   extra bytes after it: what follows a head never changes it;
/// - every strict prefix of an accepted head is incomplete or rejected,
///   never accepted as a shorter head;
/// - an accepted head has a method, an `http::Uri`, a 1.x version, and a
///   `Length` framing only above zero.
pub fn request_head(data: &[u8]) {
    let mut buf = data.to_vec();
    let Ok(Some((head, len))) = parse_request_head(&mut buf, LIMITS) else {
        return;
    };
    assert!(len <= data.len(), "head length {len} past the input");
    assert!(
        head.parts.version == http::Version::HTTP_10
            || head.parts.version == http::Version::HTTP_11,
        "accepted version {:?}",
        head.parts.version
    );
    if let Framing::Length(n) = head.framing {
        assert!(n > 0, "Length(0) framing");
    }

    let mut longer = data[..len].to_vec();
    longer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    match parse_request_head(&mut longer, LIMITS) {
        Ok(Some((again, len2))) => {
            assert_eq!(len2, len, "trailing bytes changed the head's length");
            assert_eq!(
                again.framing, head.framing,
                "trailing bytes changed the framing"
            );
            assert_eq!(again.parts.uri, head.parts.uri);
            assert_eq!(again.parts.method, head.parts.method);
        }
        other => panic!("accepted alone but not with bytes after it: {other:?}"),
    }

    for cut in [len - 1, len / 2] {
        let mut prefix = data[..cut].to_vec();
        if let Ok(Some((_, l))) = parse_request_head(&mut prefix, LIMITS) {
            panic!("prefix of {cut} bytes accepted as a head of {l} of a {len}-byte head");
        }
    }
}

/// Reads a chunked body from `data` in one go, and again through a
/// one-byte buffer (so every line and chunk is split across reads):
///
/// - it never panics;
/// - both reads agree: the same bytes and trailers, or both fail;
/// - decoded bytes never outnumber the input bytes;
/// - a body that decodes re-encodes (with `ChunkedWriter`) to one that
///   decodes to the same bytes.
pub fn chunked(data: &[u8]) {
    let whole = decode(data, data.len().max(1));
    let split = decode(data, 1);
    match (&whole, &split) {
        (Ok((a, ta)), Ok((b, tb))) => {
            assert_eq!(a, b, "split reads decoded other bytes");
            assert_eq!(ta, tb, "split reads decoded other trailers");
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "one-shot and split reads disagree: {:?} vs {:?}",
            whole.as_ref().map(|(b, _)| b.len()),
            split.as_ref().map(|(b, _)| b.len())
        ),
    }
    let Ok((body, trailers)) = whole else {
        return;
    };
    assert!(body.len() <= data.len(), "decoded more than was sent");
    let mut w = ChunkedWriter::new(Vec::new());
    // Writing into a Vec cannot fail.
    std::io::Write::write_all(&mut w, &body).expect("write to a Vec");
    let encoded = w.finish(&trailers).expect("finish into a Vec");
    let (again, _) = decode(&encoded, encoded.len())
        .unwrap_or_else(|e| panic!("our own encoding did not decode: {e}"));
    assert_eq!(again, body, "re-encoding changed the body");
}

type Decoded = (Vec<u8>, http::HeaderMap);

fn decode(data: &[u8], buffer: usize) -> std::io::Result<Decoded> {
    let mut rd = ChunkedReader::new(BufReader::with_capacity(buffer, data));
    let mut body = Vec::new();
    rd.read_to_end(&mut body)?;
    if !rd.is_done() {
        return Err(std::io::Error::other("ended before the last chunk"));
    }
    Ok((body, rd.trailers().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harnesses_hold_on_seeds() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
            b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"\r\n\r\n",
            b"",
        ] {
            request_head(head);
        }
        for body in [
            &b"0\r\n\r\n"[..],
            b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
            b"3;ext=1\r\nabc\r\n0\r\n\r\n",
            b"ffffffffffffffffff\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"",
        ] {
            chunked(body);
        }
    }
}
