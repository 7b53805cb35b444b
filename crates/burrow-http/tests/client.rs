//! The client (`burrow_http::Client`) against real sockets: a burrow-http
//! server on goroutines where the server's behaviour is ordinary, and a
//! plain `std::net::TcpListener` thread where a test needs to script the
//! server byte by byte (close an idle connection, drop a request, never
//! answer, answer garbage). Keep-alive reuse and the pool bound are
//! counted in accepted connections.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use burrow_http::client::Trailers;
use burrow_http::http::{self, StatusCode};
use burrow_http::{Client, Closer, FinalUrl, Handler, Listener, Server, ServerConfig};
use common::{WAIT, join_bounded};

/// A listener that counts the connections it accepted.
struct Counting<L> {
    inner: L,
    accepted: Arc<AtomicUsize>,
}

impl<L: Listener> Listener for Counting<L> {
    type Conn = L::Conn;

    fn accept(&self) -> io::Result<L::Conn> {
        let c = self.inner.accept()?;
        // SeqCst: the count is read by the test thread after the response
        // that this connection carried; nothing else is ordered by it.
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(c)
    }

    fn closer(&self) -> Option<Closer> {
        self.inner.closer()
    }
}

/// Serves `handler` from goroutines (a runtime of 2 Ps on a thread of its
/// own, Go's `srv.Serve(l)`) for the rest of the test process. Returns the
/// base URL and the count of accepted connections.
fn go_server<H: Handler + 'static>(handler: H) -> (String, Arc<AtomicUsize>) {
    let listener = burrow_net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counting = Counting {
        inner: listener,
        accepted: accepted.clone(),
    };
    let server = Server::with_config(handler, ServerConfig::default());
    thread::Builder::new()
        .name("test-server-runtime".into())
        .spawn(move || {
            let rt = burrow_sched::Runtime::builder()
                .maxprocs(2)
                .build()
                .unwrap();
            rt.run(move || server.serve_goroutines(&counting))
        })
        .unwrap();
    (format!("http://{addr}"), accepted)
}

/// Serves `handler` with a thread per connection (handlers may block
/// their thread, e.g. on a `Condvar`).
fn thread_server<H: Handler + 'static>(handler: H) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counting = Counting {
        inner: listener,
        accepted: accepted.clone(),
    };
    let server = Server::with_config(handler, ServerConfig::default());
    thread::Builder::new()
        .name("test-server-threads".into())
        .spawn(move || server.serve_threads(&counting))
        .unwrap();
    (format!("http://{addr}"), accepted)
}

/// The application the burrow-http server runs:
///
/// - `/echo…`: `METHOD target body`, with `x-method`, `x-content-type`
///   and `x-referer` response fields saying what arrived;
/// - `/redirect/CODE?to=LOCATION`: answers CODE with that `Location`;
/// - `/chain/N`: 302 to `/chain/N-1`, and `end` at 0;
/// - `/loop/N`: 302 to `/loop/N+1`, forever;
/// - `/big`: 100 000 bytes, which the server sends chunked.
fn app() -> impl Handler {
    burrow_http::handler_fn(|w, r| {
        let path = r.uri().path().to_owned();
        let query = r.uri().query().unwrap_or("").to_owned();
        if path.starts_with("/echo") {
            let mut body = Vec::new();
            if r.body_mut().read_to_end(&mut body).is_err() {
                return;
            }
            let h = w.header_mut();
            h.insert("x-method", r.method().as_str().parse().unwrap());
            for (from, to) in [("content-type", "x-content-type"), ("referer", "x-referer")] {
                if let Some(v) = r.headers().get(from) {
                    h.insert(to, v.clone());
                }
            }
            write!(w, "{} {} ", r.method(), r.uri()).unwrap();
            w.write_all(&body).unwrap();
        } else if let Some(code) = path.strip_prefix("/redirect/") {
            let to = query.strip_prefix("to=").unwrap_or("/echo");
            w.header_mut().insert("location", to.parse().unwrap());
            w.write_header(StatusCode::from_u16(code.parse().unwrap()).unwrap());
        } else if let Some(n) = path.strip_prefix("/chain/") {
            let n: u32 = n.parse().unwrap();
            if n == 0 {
                w.write_all(b"end").unwrap();
                return;
            }
            let to = format!("/chain/{}", n - 1);
            w.header_mut().insert("location", to.parse().unwrap());
            w.write_header(StatusCode::FOUND);
        } else if let Some(n) = path.strip_prefix("/loop/") {
            let n: u32 = n.parse().unwrap();
            let to = format!("/loop/{}", n + 1);
            w.header_mut().insert("location", to.parse().unwrap());
            w.write_header(StatusCode::FOUND);
        } else if path == "/big" {
            for i in 0..100_000u32 {
                w.write_all(&[b'a' + (i % 26) as u8]).unwrap();
            }
        } else {
            w.write_header(StatusCode::NOT_FOUND);
        }
    })
}

/// A client whose every request is bounded by [`WAIT`], so a test that
/// goes wrong fails with `TimedOut` instead of hanging.
fn client() -> Client {
    Client::builder().timeout(WAIT).build()
}

fn body(resp: &http::Response<Vec<u8>>) -> &str {
    std::str::from_utf8(resp.body()).expect("a UTF-8 body")
}

fn final_path(resp: &http::Response<Vec<u8>>) -> String {
    let url = resp
        .extensions()
        .get::<FinalUrl>()
        .expect("FinalUrl is set");
    url.0.path().to_owned()
}

// ---------------------------------------------------------------------------
// A scripted server on a std listener.

/// One accepted connection of a scripted server, with bounded reads.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// A request as the scripted server saw it.
struct Seen {
    request_line: String,
    body: Vec<u8>,
}

impl Raw {
    fn accept(l: &TcpListener) -> Raw {
        let (s, _) = l.accept().expect("accept a client connection");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        Raw {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    /// Reads one request (head, and a `Content-Length` body); `None` at
    /// the end of the stream. Fails after [`WAIT`].
    fn read_request(&mut self) -> Option<Seen> {
        let mut request_line = String::new();
        if self
            .r
            .read_line(&mut request_line)
            .expect("read a request line")
            == 0
        {
            return None;
        }
        let mut len = 0;
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).expect("read a header line");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    len = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        self.r.read_exact(&mut body).expect("read the request body");
        Some(Seen {
            request_line: request_line.trim_end().to_owned(),
            body,
        })
    }

    fn send(&mut self, raw: &str) {
        self.w.write_all(raw.as_bytes()).expect("write a response");
    }

    /// Closes the connection (both directions, so the client sees the
    /// end of the stream at once).
    fn close(self) {
        let _ = self.w.shutdown(std::net::Shutdown::Both);
    }
}

/// Runs `script` on a std listener in a thread of its own; returns the
/// base URL and the thread, whose result is the script's.
fn raw_server<T: Send + 'static>(
    script: impl FnOnce(TcpListener) -> T + Send + 'static,
) -> (String, thread::JoinHandle<T>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr: SocketAddr = l.local_addr().unwrap();
    let t = thread::Builder::new()
        .name("test-raw-server".into())
        .spawn(move || script(l))
        .unwrap();
    (format!("http://{addr}"), t)
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

// ---------------------------------------------------------------------------
// The pool.

#[test]
fn ten_sequential_gets_use_one_connection() {
    let (base, accepted) = go_server(app());
    let c = client();
    for i in 0..10 {
        let resp = c.get(&format!("{base}/echo/{i}")).unwrap();
        assert_eq!(body(&resp), format!("GET /echo/{i} "));
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for all ten"
    );
    assert_eq!(c.idle_connections(&base).unwrap(), 1);
    c.close_idle_connections();
    assert_eq!(c.idle_connections(&base).unwrap(), 0);
}

/// A handler that holds each request until `n` are in it at once, so
/// that `n` concurrent requests need `n` connections.
fn gate(n: usize) -> impl Handler {
    let inside = Arc::new((Mutex::new(0usize), Condvar::new()));
    burrow_http::handler_fn(move |w, _| {
        let (count, cv) = &*inside;
        let mut c = count.lock().unwrap();
        *c += 1;
        cv.notify_all();
        let (c, timeout) = cv.wait_timeout_while(c, WAIT, |c| *c % n != 0).unwrap();
        assert!(
            !timeout.timed_out(),
            "only {} of {n} requests arrived",
            *c % n
        );
        w.write_all(b"through").unwrap();
    })
}

#[test]
fn the_pool_keeps_at_most_max_idle_per_host() {
    const N: usize = 4;
    let (base, accepted) = thread_server(gate(N));
    let c = client(); // max_idle_per_host: 2, Go's default
    let round = || {
        let threads: Vec<_> = (0..N)
            .map(|_| {
                let (c, url) = (c.clone(), format!("{base}/"));
                thread::spawn(move || c.get(&url).map(|r| r.into_body()))
            })
            .collect();
        for t in threads {
            assert_eq!(join_bounded(t, "a gated GET").unwrap(), b"through");
        }
    };
    round();
    assert_eq!(accepted.load(Ordering::SeqCst), N);
    assert_eq!(c.idle_connections(&base).unwrap(), 2, "two of four kept");
    round();
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        N + N - 2,
        "the second round reuses the two idle connections"
    );
    assert_eq!(c.idle_connections(&base).unwrap(), 2);
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced() {
    let (closed_tx, closed_rx) = mpsc::channel();
    let (base, t) = raw_server(move |l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        a.send(&ok("one"));
        a.close();
        closed_tx.send(()).unwrap();
        let mut b = Raw::accept(&l);
        let seen = b.read_request().unwrap();
        b.send(&ok("two"));
        seen
    });
    let c = client();
    assert_eq!(body(&c.get(&base).unwrap()), "one");
    closed_rx
        .recv_timeout(WAIT)
        .expect("the server closes the first connection");
    // A POST is never retried, so its success shows the dead connection
    // was seen before the request was written to it.
    let resp = c.post(&base, "text/plain", "payload").unwrap();
    assert_eq!(body(&resp), "two");
    let seen = join_bounded(t, "the scripted server");
    assert_eq!(seen.request_line, "POST / HTTP/1.1");
    assert_eq!(seen.body, b"payload");
}

#[test]
fn an_idempotent_request_is_retried_once_on_a_fresh_connection() {
    let (base, t) = raw_server(|l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        a.send(&ok("one"));
        // The request on the reused connection arrives, and the server
        // closes without a byte of answer (its idle timer won the race).
        let dropped = a.read_request().unwrap();
        a.close();
        let mut b = Raw::accept(&l);
        let retried = b.read_request().unwrap();
        b.send(&ok("two"));
        (dropped.request_line, retried.request_line)
    });
    let c = client();
    assert_eq!(body(&c.get(&format!("{base}/a")).unwrap()), "one");
    let resp = c.get(&format!("{base}/b")).unwrap();
    assert_eq!(body(&resp), "two");
    let (dropped, retried) = join_bounded(t, "the scripted server");
    assert_eq!(dropped, "GET /b HTTP/1.1");
    assert_eq!(retried, "GET /b HTTP/1.1");
}

#[test]
fn a_post_on_a_connection_that_dies_is_not_retried() {
    let (base, t) = raw_server(|l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        a.send(&ok("one"));
        a.read_request().unwrap();
        a.close();
        // The next connection must carry the GET the test sends after
        // the failure, not a second copy of the POST.
        let mut b = Raw::accept(&l);
        let next = b.read_request().unwrap();
        b.send(&ok("two"));
        next.request_line
    });
    let c = client();
    assert_eq!(body(&c.get(&base).unwrap()), "one");
    let e = c.post(&base, "text/plain", "once").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert!(e.to_string().starts_with("POST http://"), "{e}");
    assert_eq!(body(&c.get(&format!("{base}/after")).unwrap()), "two");
    assert_eq!(
        join_bounded(t, "the scripted server"),
        "GET /after HTTP/1.1"
    );
}

#[test]
fn a_response_that_says_close_or_is_http_1_0_is_not_pooled() {
    let (base, t) = raw_server(|l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        a.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na");
        let mut b = Raw::accept(&l);
        b.read_request().unwrap();
        b.send("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb");
        let mut c = Raw::accept(&l);
        c.read_request().unwrap();
        c.send("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nc");
        // Held open: the keep-alive connection stays in the pool.
        c
    });
    let c = client();
    assert_eq!(body(&c.get(&base).unwrap()), "a");
    assert_eq!(c.idle_connections(&base).unwrap(), 0);
    assert_eq!(body(&c.get(&base).unwrap()), "b");
    assert_eq!(c.idle_connections(&base).unwrap(), 0);
    assert_eq!(body(&c.get(&base).unwrap()), "c");
    assert_eq!(c.idle_connections(&base).unwrap(), 1);
    drop(join_bounded(t, "the scripted server"));
}

// ---------------------------------------------------------------------------
// Redirects.

#[test]
fn redirects_301_302_303_turn_a_post_into_a_get_without_body() {
    let (base, _) = go_server(app());
    let c = client();
    for code in [301, 302, 303] {
        let url = format!("{base}/redirect/{code}?to=/echo/after");
        let resp = c.post(&url, "text/plain", "the body").unwrap();
        assert_eq!(resp.status(), 200, "after a {code}");
        assert_eq!(body(&resp), "GET /echo/after ", "after a {code}");
        assert!(
            resp.headers().get("x-content-type").is_none(),
            "after a {code}"
        );
        assert_eq!(resp.headers()["x-referer"], url.as_str(), "after a {code}");
        assert_eq!(final_path(&resp), "/echo/after");
    }
}

#[test]
fn head_stays_head_across_a_302() {
    let (base, _) = go_server(app());
    let resp = client()
        .head(&format!("{base}/redirect/302?to=/echo/h"))
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-method"], "HEAD");
    assert!(resp.body().is_empty());
    assert_eq!(final_path(&resp), "/echo/h");
}

#[test]
fn redirects_307_308_keep_method_and_body() {
    let (base, _) = go_server(app());
    let c = client();
    for code in [307, 308] {
        let url = format!("{base}/redirect/{code}?to=/echo/kept");
        let resp = c.post(&url, "text/plain", "the body").unwrap();
        assert_eq!(body(&resp), "POST /echo/kept the body", "after a {code}");
        assert_eq!(resp.headers()["x-content-type"], "text/plain");
        let put = http::Request::put(&url).body(b"put body".to_vec()).unwrap();
        let resp = c.send(put).unwrap();
        assert_eq!(body(&resp), "PUT /echo/kept put body", "after a {code}");
    }
}

#[test]
fn relative_and_absolute_locations_resolve_against_the_request_url() {
    let (base, _) = go_server(app());
    let c = client();
    let cases = [
        ("../echo/rel?x=1", "/echo/rel"),
        ("sibling", "/redirect/sibling"),
        ("/echo/abs-path", "/echo/abs-path"),
        (&format!("{base}/echo/full"), "/echo/full"),
    ];
    for (location, want) in cases {
        let resp = c
            .get(&format!("{base}/redirect/302?to={location}"))
            .unwrap();
        assert_eq!(final_path(&resp), want, "Location {location}");
    }
    let resp = c
        .get(&format!("{base}/redirect/302?to=../echo/rel?x=1"))
        .unwrap();
    assert_eq!(body(&resp), "GET /echo/rel?x=1 ");
}

#[test]
fn redirects_stop_at_max_redirects_as_go_counts_them() {
    let (base, _) = go_server(app());
    let c = client();
    // Nine redirects, ten requests: within Go's bound of 10.
    let resp = c.get(&format!("{base}/chain/9")).unwrap();
    assert_eq!(body(&resp), "end");
    assert_eq!(final_path(&resp), "/chain/0");
    // The tenth redirect response ends the request.
    let e = c.get(&format!("{base}/chain/10")).unwrap_err();
    assert!(e.to_string().contains("stopped after 10 redirects"), "{e}");
    let e = c.get(&format!("{base}/loop/0")).unwrap_err();
    assert!(e.to_string().contains("stopped after 10 redirects"), "{e}");
    let few = Client::builder().timeout(WAIT).max_redirects(3).build();
    let e = few.get(&format!("{base}/loop/0")).unwrap_err();
    assert!(e.to_string().contains("stopped after 3 redirects"), "{e}");
    // 0: redirects are not followed; the 3xx is the response.
    let none = Client::builder().timeout(WAIT).max_redirects(0).build();
    let resp = none.get(&format!("{base}/loop/0")).unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], "/loop/1");
}

// ---------------------------------------------------------------------------
// Timeouts and errors.

#[test]
fn the_timeout_fires_when_the_server_never_answers() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    const SLACK: Duration = Duration::from_secs(2);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (base, t) = raw_server(move |l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        // Never answers; holds the connection until the test is done.
        let _ = release_rx.recv_timeout(WAIT);
    });
    let c = Client::builder().timeout(TIMEOUT).build();
    let t0 = Instant::now();
    let e = c.get(&base).unwrap_err();
    let took = t0.elapsed();
    release_tx.send(()).unwrap();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains("client timeout of 300ms"), "{e}");
    assert!(
        took >= TIMEOUT,
        "gave up after {took:?}, before {TIMEOUT:?}"
    );
    assert!(
        took < TIMEOUT + SLACK,
        "gave up after {took:?}, {TIMEOUT:?} + {SLACK:?} allowed"
    );
    join_bounded(t, "the scripted server");
}

#[test]
fn the_timeout_covers_the_body() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (base, t) = raw_server(move |l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        a.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b");
        let _ = release_rx.recv_timeout(WAIT);
    });
    let c = Client::builder()
        .timeout(Duration::from_millis(300))
        .build();
    let t0 = Instant::now();
    let e = c.get(&base).unwrap_err();
    let took = t0.elapsed();
    release_tx.send(()).unwrap();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(
        took < Duration::from_millis(300) + Duration::from_secs(2),
        "{took:?}"
    );
    join_bounded(t, "the scripted server");
}

#[test]
fn a_refused_connection_is_a_clear_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = client().get(&format!("http://{addr}/")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    assert!(e.to_string().contains(&format!("dial {addr}")), "{e}");
}

#[test]
fn a_malformed_response_is_invalid_data() {
    let (base, t) = raw_server(|l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        a.send("SPDY/3 banana\r\n\r\n");
        a
    });
    let e = client().get(&base).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("malformed response head"), "{e}");
    drop(join_bounded(t, "the scripted server"));
}

#[test]
fn https_and_other_schemes_are_refused_before_dialling() {
    let e = client().get("https://127.0.0.1:1/").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("TLS"), "{e}");
    let e = client().get("ftp://127.0.0.1:1/").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
}

// ---------------------------------------------------------------------------
// Bodies.

#[test]
fn a_chunked_response_with_trailers_is_decoded_and_the_connection_reused() {
    let (base, t) = raw_server(|l| {
        let mut a = Raw::accept(&l);
        a.read_request().unwrap();
        a.send(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n",
        );
        a.read_request().unwrap();
        a.send(&ok("again"));
        a
    });
    let c = client();
    let resp = c.get(&base).unwrap();
    assert_eq!(body(&resp), "hello, world");
    let trailers = resp.extensions().get::<Trailers>().expect("trailers");
    assert_eq!(trailers.0["x-sum"], "12");
    assert_eq!(body(&c.get(&base).unwrap()), "again", "same connection");
    drop(join_bounded(t, "the scripted server"));
}

#[test]
fn a_large_chunked_body_from_the_server_arrives_whole() {
    let (base, accepted) = go_server(app());
    let c = client();
    for _ in 0..2 {
        let resp = c.get(&format!("{base}/big")).unwrap();
        assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        assert_eq!(resp.body().len(), 100_000);
        assert!(
            resp.body()
                .iter()
                .enumerate()
                .all(|(i, &b)| b == b'a' + (i % 26) as u8)
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn a_post_body_arrives_with_its_type_and_length() {
    let (base, _) = go_server(app());
    let resp = client()
        .post(
            &format!("{base}/echo/post"),
            "application/json",
            r#"{"a":1}"#,
        )
        .unwrap();
    assert_eq!(body(&resp), r#"POST /echo/post {"a":1}"#);
    assert_eq!(resp.headers()["x-content-type"], "application/json");
    // The module functions use the process-wide default client.
    let resp = burrow_http::post(&format!("{base}/echo/p2"), "text/plain", "x").unwrap();
    assert_eq!(body(&resp), "POST /echo/p2 x");
    let resp = burrow_http::get(&format!("{base}/echo/g")).unwrap();
    assert_eq!(body(&resp), "GET /echo/g ");
}

// ---------------------------------------------------------------------------
// Goroutines.

#[test]
fn fifty_goroutines_share_one_client() {
    const GOROUTINES: usize = 50;
    const EACH: usize = 4;
    let (base, accepted) = go_server(app());
    let c = client();
    let rt = burrow_sched::Runtime::builder()
        .maxprocs(2)
        .build()
        .unwrap();
    let (shared, url) = (c.clone(), base.clone());
    let failures = rt.run(move || {
        let handles: Vec<_> = (0..GOROUTINES)
            .map(|g| {
                let (c, base) = (shared.clone(), base.clone());
                burrow_sched::go(move || -> Result<(), String> {
                    for i in 0..EACH {
                        let url = format!("{base}/echo/{g}/{i}");
                        let resp = c.get(&url).map_err(|e| e.to_string())?;
                        let want = format!("GET /echo/{g}/{i} ");
                        if resp.body() != want.as_bytes() {
                            return Err(format!("{url}: got {:?}", resp.body()));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        // Each request is bounded by the client's timeout, so each join is.
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("a client goroutine panicked").err())
            .collect::<Vec<_>>()
    });
    assert_eq!(failures, Vec::<String>::new());
    let conns = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=GOROUTINES).contains(&conns),
        "{conns} connections for {GOROUTINES} goroutines"
    );
    let idle = c.idle_connections(&url).unwrap();
    assert!(idle <= 2, "{idle} idle connections kept, at most 2 allowed");
}
