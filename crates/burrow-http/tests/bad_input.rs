//! Every bad-input case of the crate docs' table, over real loopback
//! sockets: each test asserts the status the server answers *and* whether
//! the connection stays open afterwards.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::sync::OnceLock;

use burrow_http::ServerConfig;
use burrow_http::client::ClientConn;
use burrow_http::http::Method;
use common::*;

/// One server for the whole file, with small limits so the tests stay
/// small: heads up to 8 KiB, targets up to 1 KiB, bodies up to 64 bytes.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        start(
            echo_handler(),
            ServerConfig {
                max_header_bytes: 8 << 10,
                max_uri_bytes: 1 << 10,
                max_body_bytes: Some(64),
                ..ServerConfig::default()
            },
        )
    })
}

/// Sends `raw` on a fresh connection and asserts the status and that the
/// server then closes the connection.
fn assert_rejected(raw: &[u8], status: u16) {
    let mut c = ClientConn::new(connect(server()));
    let what = format!("{:?}", String::from_utf8_lossy(&raw[..raw.len().min(80)]));
    let r = exchange(&mut c, raw, &Method::POST);
    assert_eq!(r.status(), status, "{what}");
    assert_eq!(r.headers()["connection"], "close", "{what}");
    assert_closed(&mut c, &what);
}

#[test]
fn a_good_request_keeps_the_connection_open() {
    let mut c = ClientConn::new(connect(server()));
    let r = exchange(
        &mut c,
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
        &Method::POST,
    );
    assert_eq!(r.body(), b"POST /x hi");
    assert_open(&mut c, "after a good request");
}

#[test]
fn malformed_request_lines_and_headers_are_400_and_close() {
    for raw in [
        &b"GET / HTTP/1.1\r\nHost : t\r\n\r\n"[..], // space before colon
        b"GET / HTTP/1.1\r\nHo\"st: t\r\n\r\n",     // invalid token char
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", // NUL
        b"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", // bare CR
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n  b\r\n\r\n", // obs-fold
        b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",    // space in target
        b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n",       // bad method
    ] {
        assert_rejected(raw, 400);
    }
}

#[test]
fn host_must_be_present_once_in_http11() {
    assert_rejected(b"GET / HTTP/1.1\r\n\r\n", 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

#[test]
fn an_oversized_header_section_is_431() {
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(16 << 10)
    );
    assert_rejected(raw.as_bytes(), 431);
}

#[test]
fn an_overlong_target_is_414() {
    let raw = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "u".repeat(2 << 10));
    assert_rejected(raw.as_bytes(), 414);
}

#[test]
fn an_unknown_transfer_coding_is_501() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    );
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    );
}

#[test]
fn another_major_version_is_505() {
    assert_rejected(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    assert_rejected(b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505);
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    );
}

#[test]
fn bad_content_lengths_are_400() {
    for cl in [
        "5\r\nContent-Length: 6",
        "-5",
        "five",
        "+5",
        "0x5",
        "99999999999999999999999",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {cl}\r\n\r\nhello");
        assert_rejected(raw.as_bytes(), 400);
    }
}

#[test]
fn repeated_equal_content_lengths_are_one() {
    let mut c = ClientConn::new(connect(server()));
    let raw = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi";
    assert_eq!(exchange(&mut c, raw, &Method::POST).body(), b"POST /x hi");
    assert_open(&mut c, "after repeated equal Content-Length");
}

#[test]
fn bad_chunk_sizes_are_400_and_what_follows_is_never_a_request() {
    for chunks in [
        "zz\r\n",                              // not hex
        "10000000000000000\r\nx\r\n0\r\n\r\n", // overflows u64
        "ffffffffffffffffff\r\n",              // overflows
        "3\nabc\r\n0\r\n\r\n",                 // bare LF
        "3\r\nabcX\r\n0\r\n\r\n",              // data longer than the size
    ] {
        let raw = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}\
             GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
        );
        let mut c = ClientConn::new(connect(server()));
        let r = exchange(&mut c, raw.as_bytes(), &Method::POST);
        assert_eq!(r.status(), 400, "{chunks:?}");
        assert_closed(&mut c, &format!("after chunks {chunks:?}"));
    }
}

#[test]
fn a_truncated_body_closes_only_that_connection() {
    let mut s = connect(server());
    s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let got = read_until_close(&mut s);
    assert!(
        got.is_empty(),
        "no response to a half request: {:?}",
        String::from_utf8_lossy(&got)
    );
    // The server goes on serving.
    let mut c = ClientConn::new(connect(server()));
    assert_open(&mut c, "a new connection after a truncated body");
}

#[test]
fn a_body_over_the_limit_is_413() {
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n{}",
        "a".repeat(65)
    );
    assert_rejected(raw.as_bytes(), 413);
    let chunk = "a".repeat(65);
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n{chunk}\r\n0\r\n\r\n"
    );
    // The echo handler reads, hits the limit and writes nothing: 413.
    assert_rejected(raw.as_bytes(), 413);
}

#[test]
fn an_unknown_expectation_is_417() {
    assert_rejected(
        b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n",
        417,
    );
}

#[test]
fn transfer_encoding_on_http10_is_400() {
    assert_rejected(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}
