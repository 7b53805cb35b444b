//! Unit tests for the connection loop and the response writer over an
//! in-memory connection: framing choices, keep-alive rules, pipelining,
//! HEAD, 100-continue, body limits and errors, panics.

use std::io::{Read, Write};

use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING};
use http::{Method, StatusCode};

use super::*;
use crate::testing::{parse_responses, serve_and_parse, serve_bytes};
use crate::{RequestExt, ResponseWriter, ServeMux};

const GET: Method = Method::GET;

fn config() -> ServerConfig {
    ServerConfig::default()
}

/// Echoes method, path and body: `"<METHOD> <path> <body>"`.
fn echo() -> impl Handler {
    handler_fn(|w, r| {
        let mut body = String::new();
        r.body_mut().read_to_string(&mut body).unwrap();
        write!(w, "{} {} {}", r.method(), r.uri().path(), body).unwrap();
    })
}

fn text(resp: &http::Response<Vec<u8>>) -> &str {
    std::str::from_utf8(resp.body()).unwrap()
}

fn header<'r>(resp: &'r http::Response<Vec<u8>>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn the_seeds_mux_answers_hello_world_and_about() {
    let mut mux = ServeMux::new();
    mux.must_handle_func("/", |w, _| {
        w.header_mut()
            .insert(CONTENT_TYPE, "application/json".parse().unwrap());
        writeln!(w, "hello world").unwrap();
    });
    mux.must_handle_func("/about", |w, _| writeln!(w, "About page").unwrap());
    let r = serve_and_parse(
        &mux,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /about HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET, GET],
    );
    assert_eq!(r[0].status(), 200);
    assert_eq!(text(&r[0]), "hello world\n");
    assert_eq!(header(&r[0], "content-length"), Some("12"));
    assert_eq!(header(&r[0], "content-type"), Some("application/json"));
    assert!(r[0].headers().contains_key(DATE));
    assert_eq!(text(&r[1]), "About page\n");
    assert_eq!(
        header(&r[1], "content-type"),
        Some("text/plain; charset=utf-8"),
        "sniffed"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut input = Vec::new();
    for i in 0..5 {
        write!(
            input,
            "POST /{i} HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n{i}"
        )
        .unwrap();
    }
    let r = serve_and_parse(&echo(), &config(), &input, &[Method::POST; 5]);
    for (i, resp) in r.iter().enumerate() {
        assert_eq!(text(resp), format!("POST /{i} {i}"));
    }
}

#[test]
fn http10_closes_by_default_and_keeps_alive_on_request() {
    let two = b"GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n\r\n";
    let r = serve_and_parse(&echo(), &config(), two, &[GET]);
    assert_eq!(header(&r[0], "connection"), Some("close"));

    let ka = b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n";
    let r = serve_and_parse(&echo(), &config(), ka, &[GET, GET]);
    assert_eq!(header(&r[0], "connection"), Some("keep-alive"));
    assert_eq!(text(&r[1]), "GET /2 ");
}

#[test]
fn connection_close_is_honoured_from_either_side() {
    let input = b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = serve_and_parse(&echo(), &config(), input, &[GET]);
    assert_eq!(header(&r[0], "connection"), Some("close"));

    let closing = handler_fn(|w, _| {
        w.header_mut().insert(CONNECTION, "close".parse().unwrap());
    });
    let input = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    serve_and_parse(&closing, &config(), input, &[GET]);
}

#[test]
fn large_bodies_are_chunked_for_1_1_and_close_delimited_for_1_0() {
    let big = handler_fn(|w, _| {
        for _ in 0..10 {
            w.write_all(&[b'x'; 1000]).unwrap();
        }
    });
    let r = serve_and_parse(
        &big,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET, GET],
    );
    assert_eq!(header(&r[0], "transfer-encoding"), Some("chunked"));
    assert!(!r[0].headers().contains_key(CONTENT_LENGTH));
    assert_eq!(r[1].body().len(), 10_000);

    let out = serve_bytes(
        &big,
        &config(),
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    let r = parse_responses(&out, &[GET]);
    assert_eq!(r[0].body().len(), 10_000);
    assert_eq!(header(&r[0], "connection"), Some("close"));
    assert!(!r[0].headers().contains_key(TRANSFER_ENCODING));
}

#[test]
fn flush_commits_without_a_length_and_a_declared_length_streams() {
    let flushing = handler_fn(|w, _| {
        w.write_all(b"part1").unwrap();
        w.flush().unwrap();
        assert!(w.head_sent());
        w.write_all(b"part2").unwrap();
    });
    let r = serve_and_parse(
        &flushing,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET],
    );
    assert_eq!(header(&r[0], "transfer-encoding"), Some("chunked"));
    assert_eq!(text(&r[0]), "part1part2");

    let declared = handler_fn(|w, _| {
        w.header_mut().insert(CONTENT_LENGTH, 6000.into());
        w.write_all(&[b'y'; 6000]).unwrap();
        assert!(w.write_all(b"z").is_err(), "more than declared is refused");
    });
    let r = serve_and_parse(
        &declared,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET, GET],
    );
    assert_eq!(header(&r[0], "content-length"), Some("6000"));
    assert_eq!(r[1].body().len(), 6000);
}

#[test]
fn a_short_declared_body_closes_the_connection() {
    let short = handler_fn(|w, _| {
        w.header_mut().insert(CONTENT_LENGTH, 10.into());
        w.write_all(b"abc").unwrap();
        w.flush().unwrap();
    });
    let out = serve_bytes(
        &short,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert!(
        out.ends_with(b"\r\n\r\nabc"),
        "one truncated response, then close"
    );
}

#[test]
fn head_gets_the_get_headers_and_no_body() {
    let page = handler_fn(|w, _| w.write_all(b"0123456789").unwrap());
    let input = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let out = serve_bytes(&page, &config(), input);
    let r = parse_responses(&out, &[Method::HEAD, GET]);
    assert_eq!(header(&r[0], "content-length"), Some("10"));
    assert!(r[0].body().is_empty());
    assert_eq!(
        text(&r[1]),
        "0123456789",
        "the HEAD response had no body bytes"
    );
}

#[test]
fn no_content_has_no_body_and_refuses_writes() {
    let nc = handler_fn(|w, _| {
        w.write_header(StatusCode::NO_CONTENT);
        assert!(w.write(b"x").is_err());
    });
    let r = serve_and_parse(
        &nc,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET, GET],
    );
    assert_eq!(r[0].status(), 204);
    assert!(!r[0].headers().contains_key(CONTENT_LENGTH));
    assert_eq!(r[1].status(), 204);
}

#[test]
fn chunked_request_bodies_and_trailers_reach_the_handler() {
    let h = handler_fn(|w, r| {
        assert!(r.body().trailers().is_none(), "not before the end");
        let mut body = Vec::new();
        r.body_mut().read_to_end(&mut body).unwrap();
        let t = r.body().trailers().expect("trailers after the end");
        write!(w, "{} {}", body.len(), t["x-sum"].to_str().unwrap()).unwrap();
    });
    let input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                  3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n\
                  GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = serve_and_parse(&h, &config(), input, &[Method::POST, GET]);
    assert_eq!(text(&r[0]), "5 5");
}

#[test]
fn an_unread_body_is_discarded_and_the_next_request_served() {
    let ignore = handler_fn(|w, r| write!(w, "{}", r.uri().path()).unwrap());
    let input = b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
                  POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
                  GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = serve_and_parse(
        &ignore,
        &config(),
        input,
        &[Method::POST, Method::POST, GET],
    );
    assert_eq!(text(&r[2]), "/3");
}

#[test]
fn continue_is_sent_only_when_the_handler_reads() {
    let input =
        b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nbody\
                  GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    let out = serve_bytes(&echo(), &config(), input);
    assert!(out.starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    let r = parse_responses(&out, &[Method::PUT, GET]);
    assert_eq!(
        r[0].extensions().get::<crate::client::Interim>().unwrap().0,
        [100]
    );
    assert_eq!(text(&r[0]), "PUT / body");

    let refuse = handler_fn(|w, _| w.write_header(StatusCode::UNAUTHORIZED));
    let out = serve_bytes(&refuse, &config(), input);
    let r = parse_responses(&out, &[Method::PUT]);
    assert_eq!(r[0].status(), 401);
    assert_eq!(
        header(&r[0], "connection"),
        Some("close"),
        "body never asked for"
    );
}

#[test]
fn a_bad_chunk_read_by_the_handler_is_400_and_closes() {
    let input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                  zz\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let reader = handler_fn(|_, r| {
        let e = r.body_mut().read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(
            BodyError::from_io(&e),
            Some(BodyError::Malformed(_))
        ));
    });
    let r = serve_and_parse(&reader, &config(), input, &[Method::POST]);
    assert_eq!(r[0].status(), 400);
    // A handler that does not read: the bad chunk is met while discarding.
    let r = serve_and_parse(&echo_path(), &config(), input, &[Method::POST]);
    assert_eq!(header(&r[0], "connection"), Some("close"));
}

fn echo_path() -> impl Handler {
    handler_fn(|w, r| write!(w, "{}", r.uri().path()).unwrap())
}

#[test]
fn body_limits_are_413() {
    let cfg = ServerConfig {
        max_body_bytes: Some(4),
        ..config()
    };
    let declared = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    let r = serve_and_parse(&echo(), &cfg, declared, &[Method::POST]);
    assert_eq!(r[0].status(), 413);

    let chunked =
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let reader = handler_fn(|_, r| {
        let e = r.body_mut().read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(
            BodyError::from_io(&e),
            Some(BodyError::TooLarge { limit: 4 })
        ));
    });
    let r = serve_and_parse(&reader, &cfg, chunked, &[Method::POST]);
    assert_eq!(r[0].status(), 413);
}

#[test]
fn a_panicking_handler_gets_500_and_the_connection_closes() {
    let boom = handler_fn(|w, _| {
        w.write_all(b"partial").unwrap();
        panic!("boom (expected by the test)");
    });
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = serve_and_parse(&boom, &config(), input, &[GET]);
    assert_eq!(r[0].status(), 500);
    assert_eq!(header(&r[0], "connection"), Some("close"));
    assert!(!text(&r[0]).contains("partial"));
}

#[test]
fn options_star_is_answered_by_the_server() {
    let never = handler_fn(|_, _| panic!("the handler must not see OPTIONS *"));
    let r = serve_and_parse(
        &never,
        &config(),
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        &[Method::OPTIONS],
    );
    assert_eq!(r[0].status(), 200);
    assert_eq!(header(&r[0], "content-length"), Some("0"));
}

#[test]
fn informational_statuses_go_out_before_the_final_one() {
    let hints = handler_fn(|w: &mut ResponseWriter<'_>, _| {
        w.header_mut()
            .insert("link", "</a.css>; rel=preload".parse().unwrap());
        w.write_header(StatusCode::from_u16(103).unwrap());
        w.write_all(b"ok").unwrap();
    });
    let r = serve_and_parse(
        &hints,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET],
    );
    assert_eq!(
        r[0].extensions().get::<crate::client::Interim>().unwrap().0,
        [103]
    );
    assert_eq!(text(&r[0]), "ok");
}

#[test]
fn path_values_reach_the_handler() {
    let mut mux = ServeMux::new();
    mux.must_handle_func("GET /items/{id}", |w, r| {
        write!(w, "{}", r.path_value("id").unwrap()).unwrap();
    });
    let r = serve_and_parse(
        &mux,
        &config(),
        b"GET /items/42 HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET],
    );
    assert_eq!(text(&r[0]), "42");
}

#[test]
fn the_first_write_fixes_the_status() {
    let late = handler_fn(|w, _| {
        w.write_all(b"body").unwrap();
        w.write_header(StatusCode::NOT_FOUND);
    });
    let r = serve_and_parse(
        &late,
        &config(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &[GET],
    );
    assert_eq!(
        r[0].status(),
        200,
        "write_header after a write is ignored, as in Go"
    );
}

#[test]
fn an_explicit_100_is_sent_once() {
    let h = handler_fn(|w, r| {
        w.write_header(StatusCode::CONTINUE);
        let mut body = String::new();
        r.body_mut().read_to_string(&mut body).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    });
    let input = b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok";
    let r = serve_and_parse(&h, &config(), input, &[Method::PUT]);
    assert_eq!(
        r[0].extensions().get::<crate::client::Interim>().unwrap().0,
        [100]
    );
    assert_eq!(text(&r[0]), "ok");
}

/// The connection reuses its emptied extensions map from one request to
/// the next: nothing a handler stored there reaches the next request, and
/// the mux's path values are the next request's own.
#[test]
fn extensions_do_not_leak_between_requests_on_a_connection() {
    #[derive(Clone)]
    struct Mark(u32);
    let mut mux = ServeMux::new();
    mux.must_handle_func(
        "/items/{id}",
        |w: &mut ResponseWriter<'_>, r: &mut Request<'_>| {
            let seen = r.extensions().get::<Mark>().map(|m| m.0);
            let id = r.path_value("id").unwrap_or("-").to_owned();
            r.extensions_mut().insert(Mark(7));
            let _ = write!(w, "{id} {seen:?} {}", r.pattern().unwrap_or("-"));
        },
    );
    let input = b"GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = serve_and_parse(&mux, &config(), input, &[Method::GET, Method::GET]);
    assert_eq!(text(&r[0]), "1 None /items/{id}");
    assert_eq!(text(&r[1]), "2 None /items/{id}");
}
