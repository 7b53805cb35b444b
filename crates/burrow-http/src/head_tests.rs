//! Unit tests for request-head parsing: one per rule in `head.rs`, each
//! asserting the status a bad head gets or the fields a good one yields.

use std::io::{self, Read};

use super::*;
use crate::bufio::ConnReader;

const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 1 << 20,
    max_uri_bytes: 8 << 10,
};

fn parse(raw: &str) -> Result<Option<(RequestHead, usize)>, Reject> {
    parse_request_head(&mut raw.as_bytes().to_vec(), LIMITS)
}

fn ok(raw: &str) -> RequestHead {
    match parse(raw) {
        Ok(Some((h, len))) => {
            assert_eq!(len, raw.len(), "the whole head is consumed");
            h
        }
        other => panic!("expected a complete head for {raw:?}, got {other:?}"),
    }
}

fn status(raw: &str) -> u16 {
    match parse(raw) {
        Err(r) => r.status.as_u16(),
        other => panic!("expected {raw:?} to be rejected, got {other:?}"),
    }
}

#[test]
fn a_simple_get_parses_to_http_types() {
    let h = ok("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Two: 1\r\nx-two: 2\r\n\r\n");
    assert_eq!(h.parts.method, Method::GET);
    assert_eq!(h.parts.uri.path(), "/a/b");
    assert_eq!(h.parts.uri.query(), Some("x=1"));
    assert_eq!(h.parts.version, Version::HTTP_11);
    assert_eq!(h.parts.headers.get_all("x-two").iter().count(), 2);
    assert_eq!(h.framing, Framing::Empty);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
}

#[test]
fn leading_empty_lines_are_skipped() {
    let h = ok("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.parts.uri.path(), "/");
}

#[test]
fn an_incomplete_head_asks_for_more() {
    assert!(matches!(parse("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None)));
    assert!(matches!(parse("GET / HTT"), Ok(None)));
    assert!(
        matches!(parse("GET / HTTP/2"), Ok(None)),
        "505 needs the whole line"
    );
}

#[test]
fn malformed_lines_are_400() {
    for raw in [
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n", // space before colon
        "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", // invalid token char
        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",  // invalid method char
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", // NUL in a value
        "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", // bare CR
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", // obs-fold
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", // two spaces
        "GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", // relative target
        "GET * HTTP/1.1\r\nHost: a\r\n\r\n",   // '*' only for OPTIONS
        "GET / HTTPS/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(status(raw), 400, "{raw:?}");
    }
}

#[test]
fn host_rules() {
    assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400, "1.1 without Host");
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
    ok("GET / HTTP/1.0\r\n\r\n");
    ok("GET / HTTP/1.1\r\nHost:\r\n\r\n");
}

#[test]
fn absolute_form_and_asterisk_targets() {
    let h = ok("GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(h.parts.uri.host(), Some("example.com"));
    assert_eq!(h.parts.uri.path(), "/p");
    let h = ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.parts.uri, "*");
    let h = ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(h.parts.uri.port_u16(), Some(443));
}

#[test]
fn header_section_over_the_limit_is_431() {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(2 << 20)
    );
    assert_eq!(status(&big), 431);
    let partial = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(2 << 20));
    assert_eq!(status(&partial), 431, "judged before the head is complete");
}

#[test]
fn request_target_over_the_limit_is_414() {
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9 << 10));
    assert_eq!(status(&long), 414);
    let partial = format!("GET /{}", "a".repeat(9 << 10));
    assert_eq!(status(&partial), 414, "judged before the line is complete");
}

#[test]
fn other_major_versions_are_505_and_higher_minors_are_1_1() {
    assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status("GET / HTTP/3\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
    let h = ok("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    assert_eq!(h.parts.version, Version::HTTP_11);
}

#[test]
fn transfer_encoding_rules() {
    let h = ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    for te in ["gzip", "gzip, chunked", "chunked, chunked", "identity", ""] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(status(&raw), 501, "{te:?}");
    }
    let two_lines = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status(two_lines), 501);
    let both =
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status(both), 400);
    assert_eq!(
        status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
}

#[test]
fn content_length_rules() {
    let h = ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(12));
    let h = ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.framing, Framing::Empty);
    let h = ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(
        h.framing,
        Framing::Length(5),
        "repeated equal values are one"
    );
    for cl in [
        "-1",
        "+5",
        "abc",
        "5, 5",
        "0x10",
        "",
        "18446744073709551616",
        "1 2",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\n");
        assert_eq!(status(&raw), 400, "{cl:?}");
    }
    let differing = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
    assert_eq!(status(differing), 400);
}

#[test]
fn connection_persistence() {
    assert!(!ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: x, Close\r\n\r\n").keep_alive);
    assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
}

#[test]
fn expectations() {
    let h = ok("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
    assert!(h.expect_continue);
    let h = ok("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
    assert!(!h.expect_continue, "no body, nothing to continue");
    assert_eq!(
        status("PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n"),
        417
    );
}

#[test]
fn many_headers_are_fine_until_the_byte_limit() {
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..500 {
        raw.push_str(&format!("X-{i}: {i}\r\n"));
    }
    raw.push_str("\r\n");
    assert_eq!(ok(&raw).parts.headers.len(), 501);
}

#[test]
fn heads_at_and_past_the_first_try_slots_parse_alike() {
    // The first try has FIRST_HEADER_SLOTS slots on the stack; one field
    // more goes to the heap and is parsed again.
    for n in [
        FIRST_HEADER_SLOTS - 1,
        FIRST_HEADER_SLOTS,
        FIRST_HEADER_SLOTS + 1,
    ] {
        let mut raw = String::from("GET /x HTTP/1.1\r\nHost: a\r\n");
        for i in 1..n {
            raw.push_str(&format!("X-{i}: {i}\r\n"));
        }
        raw.push_str("\r\n");
        let head = ok(&raw);
        assert_eq!(head.parts.headers.len(), n, "{n} fields");
        assert_eq!(head.parts.headers["x-1"], "1", "{n} fields");
    }
}

#[test]
fn more_fields_than_a_header_map_holds_is_431() {
    // Under the byte limit, but past what `http::HeaderMap` can hold
    // (reserving room for them would panic).
    let head = |n: usize| {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 1..n {
            raw.push_str(&format!("x{i}:1\r\n"));
        }
        raw + "\r\n"
    };
    assert_eq!(
        ok(&head(MAX_HEADER_SLOTS)).parts.headers.len(),
        MAX_HEADER_SLOTS
    );
    assert_eq!(status(&head(MAX_HEADER_SLOTS + 1)), 431);
    assert_eq!(status(&head(70_000)), 431);
}

#[test]
fn content_length_parser() {
    assert_eq!(parse_content_length(b" 42\t"), Some(42));
    assert_eq!(
        parse_content_length(b"18446744073709551615"),
        Some(u64::MAX)
    );
    assert_eq!(parse_content_length(b"18446744073709551616"), None);
    assert_eq!(parse_content_length(b"4 2"), None);
}

/// Returns one byte per read: the worst split a head can arrive in.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), out.first_mut()) {
            (Some((b, rest)), Some(o)) => {
                *o = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

fn read_trickled(raw: &[u8], limits: HeadLimits) -> Result<RequestHead, ReadHeadError> {
    read_request_head(
        &mut ConnReader::new(Trickle(raw)),
        limits,
        &mut http::HeaderMap::new(),
    )
}

#[test]
fn a_head_arriving_a_byte_at_a_time_is_read_once_complete() {
    let raw = b"\r\n\r\nPOST /t HTTP/1.1\r\nHost: a\r\nX: 1\r\nContent-Length: 2\r\n\r\nhi";
    let h = read_trickled(raw, LIMITS).expect("complete head");
    assert_eq!(h.parts.uri.path(), "/t");
    assert_eq!(h.framing, Framing::Length(2));
    let bare_lf = b"GET /lf HTTP/1.1\nHost: a\n\n";
    assert_eq!(
        read_trickled(bare_lf, LIMITS).unwrap().parts.uri.path(),
        "/lf"
    );
}

#[test]
fn trickled_heads_still_meet_the_limits() {
    let small = HeadLimits {
        max_header_bytes: 4096,
        max_uri_bytes: 256,
    };
    let status = |raw: &[u8]| match read_trickled(raw, small) {
        Err(ReadHeadError::Reject(r)) => r.status.as_u16(),
        other => panic!("expected a reject, got {other:?}"),
    };
    // Neither ever completes: the limits must fire on their own.
    assert_eq!(status(format!("GET /{}", "a".repeat(1000)).as_bytes()), 414);
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(1000));
    assert_eq!(status(long_line.as_bytes()), 414);
    let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(8000));
    assert_eq!(status(big.as_bytes()), 431);
    assert!(matches!(
        read_trickled(b"GET / HTTP/1.1\r\nHost: a\r\n", small),
        Err(ReadHeadError::Io { partial: true, .. })
    ));
}

/// A request line over its limit is a 414 whether the head arrives whole
/// or in pieces, even when the target itself is short (a long method).
#[test]
fn a_long_request_line_is_414_whole_or_trickled() {
    let small = HeadLimits {
        max_header_bytes: 4096,
        max_uri_bytes: 256,
    };
    let raw = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(400));
    let whole = parse_request_head(&mut raw.clone().into_bytes(), small);
    assert!(
        matches!(&whole, Err(r) if r.status.as_u16() == 414),
        "whole: {whole:?}"
    );
    let trickled = read_trickled(raw.as_bytes(), small);
    assert!(
        matches!(&trickled, Err(ReadHeadError::Reject(r)) if r.status.as_u16() == 414),
        "trickled: {trickled:?}"
    );
    // Just under the limit both ways: served.
    let fits = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(300));
    assert!(parse_request_head(&mut fits.clone().into_bytes(), small).is_ok_and(|h| h.is_some()));
    assert!(read_trickled(fits.as_bytes(), small).is_ok());
}
