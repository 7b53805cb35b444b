//! Shared helpers for the socket tests: a server on a loopback port (a
//! thread per connection, `Server::serve_threads`), raw client sockets with
//! bounded waits, and checks for "answered with X" and "closed / open".

#![allow(dead_code)] // each test file uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use burrow_http::client::ClientConn;
use burrow_http::http::{self, Method};
use burrow_http::{Handler, Server, ServerConfig};

/// Every blocking socket call in the tests gives up after this long, and
/// the test fails saying what it waited for.
pub const WAIT: Duration = Duration::from_secs(10);

/// Starts a server for `handler` on 127.0.0.1 and returns its address. The
/// accept thread lives until the test process ends.
pub fn start<H: Handler + 'static>(handler: H, config: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let server = Server::with_config(handler, config);
    std::thread::Builder::new()
        .name("test-accept".into())
        .spawn(move || server.serve_threads(&listener))
        .unwrap();
    addr
}

/// A client socket with bounded reads and writes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the test server");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// A handler for the "is the connection still open" probe and simple
/// bodies: `GET /ping` → `pong`; anything else echoes method, path and
/// the body it read. Like a careful handler, it writes nothing when the
/// body cannot be read, leaving the answer (400, 413) to the server.
pub fn echo_handler() -> impl Handler {
    burrow_http::handler_fn(|w, r| {
        if r.uri().path() == "/ping" {
            w.write_all(b"pong").unwrap();
            return;
        }
        let mut body = Vec::new();
        if r.body_mut().read_to_end(&mut body).is_err() {
            return;
        }
        write!(w, "{} {} ", r.method(), r.uri().path()).unwrap();
        w.write_all(&body).unwrap();
    })
}

/// Sends `raw` and reads one response for `method`.
pub fn exchange(
    conn: &mut ClientConn<TcpStream>,
    raw: &[u8],
    method: &Method,
) -> http::Response<Vec<u8>> {
    conn.get_mut().write_all(raw).expect("send the request");
    read_one(conn, method)
}

/// Reads one response, failing the test with a clear message on timeout.
pub fn read_one(conn: &mut ClientConn<TcpStream>, method: &Method) -> http::Response<Vec<u8>> {
    conn.read_response(method)
        .unwrap_or_else(|e| panic!("no response within {WAIT:?} (or malformed): {e}"))
}

/// Asserts the server closed the connection (EOF, or a reset) and sent
/// nothing more.
pub fn assert_closed(conn: &mut ClientConn<TcpStream>, what: &str) {
    match conn.is_closed_by_peer() {
        Ok(true) => {}
        Ok(false) => panic!("{what}: the server sent more bytes instead of closing"),
        Err(e) => panic!("{what}: the connection stayed open ({e})"),
    }
}

/// Asserts the connection is still usable: a `GET /ping` on it gets `pong`.
pub fn assert_open(conn: &mut ClientConn<TcpStream>, what: &str) {
    let raw = b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n";
    conn.get_mut().write_all(raw).expect("send the probe");
    match conn.read_response(&Method::GET) {
        Ok(r) if r.body() == b"pong" => {}
        Ok(r) => panic!("{what}: the probe got {:?}", r),
        Err(e) => panic!("{what}: the connection is not open any more ({e})"),
    }
}

/// Reads everything until the server closes, bounded by [`WAIT`].
pub fn read_until_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "the server did not close within {WAIT:?}: {e}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Serves `listener` with `server` from a goroutine runtime of `maxprocs`
/// Ps on a thread of its own; the thread's result is `serve_goroutines`'.
/// `serve` returns when the shutdown begins, and the runtime must outlive
/// the connections still in a request (see *Shutdown* on `Server`), as
/// Go's main must wait for `Shutdown`, so the thread ends once the last
/// connection has ended. Bounded: a connection stuck past `2 × WAIT` is
/// the test's failure to report, not a hang.
pub fn serve_on_goroutines<H: Handler + 'static>(
    server: &Server<H>,
    listener: burrow_net::TcpListener,
    maxprocs: usize,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    let serving = server.clone();
    std::thread::Builder::new()
        .name("test-runtime".into())
        .spawn(move || {
            let rt = burrow_sched::Runtime::builder()
                .maxprocs(maxprocs)
                .build()
                .expect("build a runtime");
            rt.run(move || {
                let served = serving.serve_goroutines(&listener);
                let deadline = std::time::Instant::now() + 2 * WAIT;
                while serving.num_conns() > 0 && std::time::Instant::now() < deadline {
                    burrow_sched::sleep(Duration::from_millis(1));
                }
                served
            })
        })
        .expect("start the runtime thread")
}

/// Waits (bounded by `WAIT`) for thread `t` to return and gives its
/// result; `what` names it in the failure.
pub fn join_bounded<T>(t: std::thread::JoinHandle<T>, what: &str) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    while !t.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not done within {WAIT:?}"
        );
        std::thread::park_timeout(Duration::from_millis(5));
    }
    t.join()
        .unwrap_or_else(|_| panic!("{what}: the thread panicked"))
}
