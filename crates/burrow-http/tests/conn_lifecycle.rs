//! A connection's life over real loopback sockets: keep-alive reuse,
//! pipelining order, HEAD, `100 Continue`, a panicking handler, and the
//! four timeouts.

mod common;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burrow_http::client::{ClientConn, Interim};
use burrow_http::http::{Method, StatusCode};
use burrow_http::{ServeMux, ServerConfig, handler_fn};
use common::*;

#[test]
fn keep_alive_reuses_one_connection() {
    let addr = start(echo_handler(), ServerConfig::default());
    let mut c = ClientConn::new(connect(addr));
    for i in 0..20 {
        let raw = format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = exchange(&mut c, raw.as_bytes(), &Method::GET);
        assert_eq!(r.body(), format!("GET /{i} ").as_bytes());
        assert!(!r.headers().contains_key("connection"));
    }
}

#[test]
fn pipelined_responses_come_back_in_order() {
    // The handler for /slow/ takes longer than the others: order must
    // still be request order.
    let mut mux = ServeMux::new();
    mux.must_handle_func("/slow/", |w, r| {
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        w.write_all(r.uri().path().as_bytes()).unwrap();
    });
    mux.must_handle_func("/", |w, r| w.write_all(r.uri().path().as_bytes()).unwrap());
    let addr = start(mux, ServerConfig::default());
    let mut c = ClientConn::new(connect(addr));
    let mut batch = Vec::new();
    let paths: Vec<String> = (0..10)
        .map(|i| {
            if i % 3 == 0 {
                format!("/slow/{i}")
            } else {
                format!("/{i}")
            }
        })
        .collect();
    for p in &paths {
        write!(batch, "GET {p} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    }
    c.get_mut().write_all(&batch).unwrap();
    for p in &paths {
        assert_eq!(read_one(&mut c, &Method::GET).body(), p.as_bytes());
    }
}

#[test]
fn head_has_the_headers_and_no_body() {
    let addr = start(echo_handler(), ServerConfig::default());
    let mut c = ClientConn::new(connect(addr));
    let r = exchange(
        &mut c,
        b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n",
        &Method::HEAD,
    );
    assert_eq!(
        r.headers()["content-length"],
        "8",
        "the length GET would have"
    );
    // Had the HEAD response carried a body, this would read it as a head.
    assert_open(&mut c, "after HEAD");
}

#[test]
fn continue_is_sent_when_the_handler_reads_the_body() {
    let addr = start(echo_handler(), ServerConfig::default());
    let mut c = ClientConn::new(connect(addr));
    c.get_mut()
        .write_all(
            b"PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    // The body is withheld until the interim response arrives.
    let mut interim = [0u8; 25];
    c.get_mut()
        .read_exact(&mut interim)
        .expect("100 Continue before the body was sent");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.get_mut().write_all(b"data").unwrap();
    let r = read_one(&mut c, &Method::PUT);
    assert_eq!(r.body(), b"PUT /up data");
    assert_open(&mut c, "after 100-continue");
}

#[test]
fn no_continue_when_the_handler_answers_without_reading() {
    let deny = handler_fn(|w, _| w.write_header(StatusCode::FORBIDDEN));
    let addr = start(deny, ServerConfig::default());
    let mut c = ClientConn::new(connect(addr));
    let raw = b"PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    let r = exchange(&mut c, raw, &Method::PUT);
    assert_eq!(r.status(), 403);
    assert!(r.extensions().get::<Interim>().unwrap().0.is_empty());
    assert_eq!(r.headers()["connection"], "close");
    assert_closed(&mut c, "the body was never asked for");
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_lives_on() {
    let mut mux = ServeMux::new();
    mux.must_handle_func("/panic", |_, _| {
        panic!("handler panic (expected by the test)")
    });
    mux.must_handle_func("/ping", |w, _| w.write_all(b"pong").unwrap());
    let addr = start(mux, ServerConfig::default());
    let mut c = ClientConn::new(connect(addr));
    let r = exchange(
        &mut c,
        b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n",
        &Method::GET,
    );
    assert_eq!(r.status(), 500);
    assert_closed(&mut c, "after a panic");
    let mut next = ClientConn::new(connect(addr));
    assert_open(&mut next, "a new connection after a panic");
}

#[test]
fn a_partial_head_past_read_header_timeout_gets_408() {
    let cfg = ServerConfig {
        read_header_timeout: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    let addr = start(echo_handler(), cfg);
    let mut c = ClientConn::new(connect(addr));
    let started = Instant::now();
    // Never finished: the server must give up by itself.
    c.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let r = read_one(&mut c, &Method::GET);
    assert_eq!(r.status(), 408);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not before the timeout"
    );
    assert_closed(&mut c, "after 408");
}

#[test]
fn a_slow_trickle_cannot_outlast_the_header_deadline() {
    let cfg = ServerConfig {
        read_header_timeout: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let addr = start(echo_handler(), cfg);
    let mut s = connect(addr);
    // One byte every 50 ms: each read is quick, the sum is not. The
    // bytes go out until the server answers or closes.
    let started = Instant::now();
    let mut sent = 0;
    s.set_nonblocking(true).unwrap();
    let mut answer = Vec::new();
    let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    while started.elapsed() < WAIT && sent < head.len() {
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        if !answer.is_empty() {
            break;
        }
        if s.write(&head[sent..sent + 1]).is_err() {
            break;
        }
        sent += 1;
        // Pacing the client, not synchronising with the server.
        std::thread::sleep(Duration::from_millis(50));
    }
    s.set_nonblocking(false).unwrap();
    answer.extend(read_until_close(&mut s));
    assert!(
        answer.starts_with(b"HTTP/1.1 408 "),
        "after {sent} bytes in {:?}: {:?}",
        started.elapsed(),
        String::from_utf8_lossy(&answer)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline held"
    );
}

#[test]
fn an_idle_connection_is_closed_silently() {
    let cfg = ServerConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    let addr = start(echo_handler(), cfg);
    let mut c = ClientConn::new(connect(addr));
    assert_open(&mut c, "first request");
    let idle = Instant::now();
    assert_closed(&mut c, "after the idle timeout");
    assert!(
        idle.elapsed() >= Duration::from_millis(150),
        "{:?}",
        idle.elapsed()
    );
}

#[test]
fn a_body_slower_than_read_timeout_fails_the_handlers_read() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let h = handler_fn(move |_, r| {
        let e = r.body_mut().read_to_end(&mut Vec::new()).unwrap_err();
        tx.lock().unwrap().send(e.kind()).unwrap();
    });
    let cfg = ServerConfig {
        read_timeout: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    let addr = start(h, cfg);
    let mut s = connect(addr);
    s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let kind = rx
        .recv_timeout(WAIT)
        .expect("the handler's read never failed");
    assert_eq!(kind, std::io::ErrorKind::TimedOut);
    let got = read_until_close(&mut s);
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn a_client_that_stops_reading_hits_write_timeout() {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let h = handler_fn(move |w, _| {
        let chunk = vec![b'z'; 64 << 10];
        let mut sent = 0usize;
        let outcome = loop {
            if let Err(e) = w.write_all(&chunk) {
                break Err(e.kind());
            }
            sent += chunk.len();
            if sent > 1 << 30 {
                break Ok(sent);
            }
        };
        tx.lock().unwrap().send(outcome).unwrap();
    });
    let cfg = ServerConfig {
        write_timeout: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let addr = start(h, cfg);
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    // Not reading: the socket buffers fill and the server's write blocks.
    let outcome = rx
        .recv_timeout(WAIT)
        .expect("the handler's write never returned");
    assert_eq!(outcome, Err(std::io::ErrorKind::TimedOut));
}
