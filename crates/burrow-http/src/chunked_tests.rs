//! Unit and property tests for the chunked coding: good bodies decode with
//! their trailers, every malformed framing is refused, and any chunk split
//! of any body, read through any read sizes, decodes to the same bytes.

use std::io::{BufReader, Read};

use proptest::prelude::*;

use super::*;

fn decode(raw: &[u8]) -> io::Result<(Vec<u8>, HeaderMap, Vec<u8>)> {
    let mut r = ChunkedReader::new(raw);
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    let trailers = r.trailers().clone();
    Ok((out, trailers, r.into_inner().to_vec()))
}

fn decode_err(raw: &[u8]) -> BodyError {
    let e = decode(raw).expect_err("malformed body accepted");
    BodyError::from_io(&e)
        .unwrap_or_else(|| panic!("not a BodyError: {e}"))
        .clone()
}

#[test]
fn decodes_chunks_extensions_and_trailers_and_stops_at_the_end() {
    let raw = b"5\r\nhello\r\n6;name=val\r\n world\r\n0\r\nX-Sum: 1\r\nX-Sum: 2\r\n\r\nNEXT";
    let (body, trailers, rest) = decode(raw).unwrap();
    assert_eq!(body, b"hello world");
    assert_eq!(trailers.get_all("x-sum").iter().count(), 2);
    assert_eq!(rest, b"NEXT", "the next message is left unread");
}

#[test]
fn uppercase_hex_and_leading_zeros_are_sizes() {
    let (body, ..) = decode(b"0000A\r\n0123456789\r\n0\r\n\r\n").unwrap();
    assert_eq!(body, b"0123456789");
}

#[test]
fn malformed_framing_is_refused() {
    for raw in [
        &b"x\r\nabc\r\n0\r\n\r\n"[..],
        b"-1\r\n",
        b"\r\n",
        b"10000000000000000\r\n", // 17 hex digits: would overflow
        b"3 x\r\nabc\r\n0\r\n\r\n",
        b"3\nabc\r\n0\r\n\r\n",    // bare LF
        b"3\r\nabcd\r\n0\r\n\r\n", // data longer than the size
        b"3\r\nabc\n0\r\n\r\n",    // bare LF after data
        b"3\r\nabc\r\n0\r\nX : y\r\n\r\n",
        b"3\r\nabc\r\n0\r\nX: y\n\r\n",
    ] {
        assert!(
            matches!(decode_err(raw), BodyError::Malformed(_)),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn a_body_cut_short_is_truncated() {
    for raw in [
        &b"5\r\nhel"[..],
        b"5\r\nhello\r\n",
        b"5\r\nhello\r\n0\r\n",
        b"5",
    ] {
        assert_eq!(decode_err(raw), BodyError::Truncated, "{raw:?}");
    }
}

#[test]
fn an_overlong_trailer_section_is_refused() {
    let mut raw = b"0\r\n".to_vec();
    for _ in 0..(DEFAULT_MAX_TRAILER_BYTES / 8) {
        raw.extend_from_slice(b"X: yyy\r\n");
    }
    raw.extend_from_slice(b"X: yyy\r\n\r\n");
    assert!(matches!(decode_err(&raw), BodyError::Malformed(_)));
}

#[test]
fn writer_output_decodes_back() {
    let mut w = ChunkedWriter::new(Vec::new());
    w.write_all(b"abc").unwrap();
    w.write_all(b"").unwrap();
    w.write_all(&[7u8; 300]).unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("42"));
    let wire = w.finish(&trailers).unwrap();
    assert!(wire.starts_with(b"3\r\nabc\r\n12c\r\n"));
    let (body, got, _) = decode(&wire).unwrap();
    assert_eq!(body.len(), 303);
    assert_eq!(got, trailers);
}

proptest! {
    /// Any body, cut into any chunks, with the decoder fed through a tiny
    /// buffer and asked for any read sizes, decodes to the same bytes.
    #[test]
    fn any_chunk_split_decodes_to_the_same_body(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(1usize..300, 0..20),
        buf_cap in 1usize..64,
        read_size in 1usize..100,
    ) {
        let mut wire = Vec::new();
        let mut rest = &body[..];
        for c in cuts.iter().copied().chain(std::iter::repeat(usize::MAX)) {
            if rest.is_empty() {
                break;
            }
            let n = c.min(rest.len());
            put_chunk_header(&mut wire, n);
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        put_last_chunk(&mut wire, &HeaderMap::new());
        wire.extend_from_slice(b"GET /next");

        let mut r = ChunkedReader::new(BufReader::with_capacity(buf_cap, &wire[..]));
        let mut out = Vec::new();
        let mut buf = vec![0; read_size];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        prop_assert_eq!(&out, &body);
        prop_assert!(r.is_done());
        let mut next = Vec::new();
        r.into_inner().read_to_end(&mut next).unwrap();
        prop_assert_eq!(next, b"GET /next".to_vec());
    }
}
