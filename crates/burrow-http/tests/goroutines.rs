//! The server as Go runs it: one goroutine accepting on a burrow-net
//! listener and one goroutine per connection, on a runtime of its own
//! (`Server::serve_goroutines`). The clients are plain std sockets on the
//! test thread. Slowloris, graceful shutdown and close, a panicking handler
//! reported through the error log, and `SO_REUSEPORT`.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use burrow_http::client::ClientConn;
use burrow_http::http::{Method, StatusCode};
use burrow_http::{Handler, Server, ServerConfig};
use common::{
    WAIT, assert_closed, assert_open, connect, exchange, join_bounded, serve_on_goroutines,
};

/// Serves `handler` from a goroutine runtime (2 Ps) on a thread of its
/// own; returns the address, a handle for shutdown, and the thread, whose
/// result is `serve_goroutines`' result. The thread ends once serving has
/// stopped and the last connection has ended.
fn start<H: Handler + 'static>(
    handler: H,
    config: ServerConfig,
) -> (SocketAddr, Server<H>, thread::JoinHandle<io::Result<()>>) {
    let listener = burrow_net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let server = Server::with_config(handler, config);
    let t = serve_on_goroutines(&server, listener, 2);
    (addr, server, t)
}

const GET_PING: &[u8] = b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n";

/// The soft limit on open descriptors, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn slowloris_does_not_starve_a_good_client_and_is_cut_at_read_header_timeout() {
    const SLOW: usize = 1000;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    // Each slow connection costs a descriptor on both ends.
    match open_file_limit() {
        Some(n) if n < 2 * SLOW as u64 + 100 => {
            eprintln!(
                "skipped: `ulimit -n` is {n}, this test needs {}",
                2 * SLOW + 100
            );
            return;
        }
        _ => {}
    }
    let config = ServerConfig {
        read_header_timeout: Some(HEADER_TIMEOUT),
        ..ServerConfig::default()
    };
    let (addr, server, t) = start(common::echo_handler(), config);

    // A thousand clients that each send half a head and then nothing.
    let mut slow = Vec::with_capacity(SLOW);
    for i in 0..SLOW {
        let mut s = TcpStream::connect(addr)
            .unwrap_or_else(|e| panic!("slow client {i} could not connect: {e}"));
        s.write_all(b"GET /ping HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .unwrap();
        slow.push((s, Instant::now()));
    }

    // A well-behaved client is still served at once.
    let t0 = Instant::now();
    let mut good = ClientConn::new(connect(addr));
    let resp = exchange(&mut good, GET_PING, &Method::GET);
    let took = t0.elapsed();
    assert_eq!(resp.body(), b"pong");
    assert!(
        took < Duration::from_secs(1),
        "the good client waited {took:?} behind {SLOW} slowloris connections"
    );

    // Every slow connection gets a 408 and is closed, no earlier than the
    // header timeout and not much later.
    let last_deadline = slow.last().unwrap().1 + HEADER_TIMEOUT + Duration::from_secs(5);
    for (i, (s, sent)) in slow.iter_mut().enumerate() {
        let left = last_deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut got = Vec::new();
        match s.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("slow client {i} was not closed in time: {e}"),
        }
        let after = sent.elapsed();
        assert!(
            after >= HEADER_TIMEOUT - Duration::from_millis(50),
            "slow client {i} was closed after {after:?}, before read_header_timeout"
        );
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408 "),
            "slow client {i} got {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    server.close();
    join_bounded(t, "serve after close").unwrap();
}

/// A handler for the shutdown tests: `/ping` answers at once, `/slow`
/// reports that it started and then waits for `release` (up to `WAIT`).
fn gated_handler(started: mpsc::Sender<()>, release: mpsc::Receiver<()>) -> impl Handler {
    let started = Mutex::new(started);
    let release = Arc::new(Mutex::new(release));
    burrow_http::handler_fn(move |w, r| {
        if r.uri().path() == "/slow" {
            started.lock().unwrap().send(()).unwrap();
            let release = Arc::clone(&release);
            // A blocking wait, so it runs on a thread of its own and parks
            // only this goroutine.
            let released =
                burrow_sched::blocking(move || release.lock().unwrap().recv_timeout(WAIT).is_ok())
                    .expect("a thread for the blocking wait");
            if !released {
                return;
            }
            let _ = w.write_all(b"slow done");
        } else {
            let _ = w.write_all(b"pong");
        }
    })
}

#[test]
fn shutdown_closes_idle_connections_and_lets_in_flight_requests_finish() {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let (addr, server, t) = start(
        gated_handler(started_tx, release_rx),
        ServerConfig::default(),
    );

    // An idle keep-alive connection, and one with a request in flight.
    let mut idle = ClientConn::new(connect(addr));
    assert_eq!(exchange(&mut idle, GET_PING, &Method::GET).body(), b"pong");
    let mut busy = ClientConn::new(connect(addr));
    busy.get_mut()
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    started
        .recv_timeout(WAIT)
        .expect("the slow handler did not start");

    let (done_tx, done) = mpsc::channel();
    let stopping = server.clone();
    thread::spawn(move || done_tx.send(stopping.shutdown(WAIT)).unwrap());

    // The idle connection is closed while the busy one still runs.
    assert_closed(&mut idle, "the idle connection after shutdown");
    assert!(
        matches!(done.try_recv(), Err(mpsc::TryRecvError::Empty)),
        "shutdown returned while a request was in flight"
    );
    // The listener no longer accepts: the connection is refused, or
    // closed without an answer.
    if let Ok(s) = TcpStream::connect(addr) {
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut c = ClientConn::new(s);
        let _ = c.get_mut().write_all(GET_PING);
        assert!(
            c.read_response(&Method::GET).is_err(),
            "a connection made after shutdown was served"
        );
    }

    // The in-flight request finishes, told that the connection closes.
    release.send(()).unwrap();
    let resp = common::read_one(&mut busy, &Method::GET);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.body(), b"slow done");
    assert_eq!(resp.headers()["connection"], "close");
    assert_closed(&mut busy, "the busy connection after its last response");

    let r = done.recv_timeout(WAIT).expect("shutdown did not return");
    r.expect("shutdown with every connection finished is Ok");
    assert_eq!(server.num_conns(), 0);
    join_bounded(t, "serve after shutdown").expect("serve returns Ok after shutdown");
}

#[test]
fn shutdown_times_out_on_a_stuck_request_and_close_ends_it() {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let (addr, server, t) = start(
        gated_handler(started_tx, release_rx),
        ServerConfig::default(),
    );
    let mut busy = ClientConn::new(connect(addr));
    busy.get_mut()
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    started
        .recv_timeout(WAIT)
        .expect("the slow handler did not start");

    let t0 = Instant::now();
    let err = server
        .shutdown(Duration::from_millis(200))
        .expect_err("shutdown cannot finish while a handler is stuck");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.num_conns(), 1);

    server.close();
    assert_closed(&mut busy, "the busy connection after close");
    let _ = release.send(());
    join_bounded(t, "serve after close").unwrap();
    // The stuck goroutine ends once released; the registry empties.
    let deadline = Instant::now() + WAIT;
    while server.num_conns() != 0 {
        assert!(
            Instant::now() < deadline,
            "the closed connection never ended"
        );
        thread::park_timeout(Duration::from_millis(5));
    }
}

#[test]
fn a_goroutine_panic_is_a_500_logged_with_its_goroutine_and_the_server_serves_on() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let config = ServerConfig {
        error_log: Some(Arc::new(move |line: &str| {
            sink.lock().unwrap().push(line.to_owned())
        })),
        ..ServerConfig::default()
    };
    let handler = burrow_http::handler_fn(|w, r| {
        if r.uri().path() == "/boom" {
            panic!("handler exploded");
        }
        let _ = w.write_all(b"pong");
    });
    let (addr, server, t) = start(handler, config);

    let mut c = ClientConn::new(connect(addr));
    let resp = exchange(
        &mut c,
        b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n",
        &Method::GET,
    );
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_closed(&mut c, "the connection whose handler panicked");

    let mut again = ClientConn::new(connect(addr));
    assert_open(&mut again, "a new connection after the panic");

    let logged = lines.lock().unwrap().clone();
    let line = logged
        .iter()
        .find(|l| l.contains("panic serving"))
        .unwrap_or_else(|| panic!("no panic line in the error log: {logged:?}"));
    assert!(line.contains("127.0.0.1:"), "no peer address: {line}");
    assert!(line.contains("GET /boom"), "no request: {line}");
    assert!(line.contains("handler exploded"), "no message: {line}");
    assert!(line.contains("(goroutine "), "no goroutine id: {line}");
    server.close();
    join_bounded(t, "serve after close").unwrap();
}

#[test]
fn reuse_port_lets_two_servers_share_a_port() {
    let first = burrow_net::TcpListener::bind_reuseport("127.0.0.1:0").expect("bind");
    let addr = first.local_addr().unwrap();
    let hits = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let server_for = |i: usize| {
        let hits = Arc::clone(&hits[i]);
        let config = ServerConfig {
            reuse_port: true,
            ..ServerConfig::default()
        };
        Server::with_config(
            burrow_http::handler_fn(move |w, _| {
                hits.fetch_add(1, Ordering::Relaxed);
                let _ = write!(w, "server {i}");
            }),
            config,
        )
    };
    let (a, b) = (server_for(0), server_for(1));
    let (sa, sb) = (a.clone(), b.clone());
    let rt = thread::spawn(move || {
        let rt = burrow_sched::Runtime::builder()
            .maxprocs(2)
            .build()
            .unwrap();
        rt.run(move || {
            let second = burrow_sched::go(move || sb.listen_and_serve(addr));
            let r = sa.serve_goroutines(&first);
            (r, second.join().expect("the second server panicked"))
        })
    });
    // The kernel spreads connections by their source port; within a few
    // hundred fresh connections both servers answer.
    let deadline = Instant::now() + WAIT;
    let mut tries = 0;
    while hits.iter().any(|h| h.load(Ordering::Relaxed) == 0) {
        assert!(
            tries < 500 && Instant::now() < deadline,
            "after {tries} connections one server never got one: {:?}",
            hits.iter()
                .map(|h| h.load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        );
        tries += 1;
        let Ok(s) = TcpStream::connect(addr) else {
            continue; // the second listener may not be bound yet
        };
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut c = ClientConn::new(s);
        let resp = exchange(&mut c, GET_PING, &Method::GET);
        assert!(resp.body().starts_with(b"server "));
    }
    a.close();
    b.close();
    let deadline = Instant::now() + WAIT;
    while !rt.is_finished() {
        assert!(Instant::now() < deadline, "the servers did not stop");
        thread::park_timeout(Duration::from_millis(5));
    }
    let (ra, rb) = rt.join().unwrap();
    ra.unwrap();
    rb.unwrap();
}

/// On burrow-net sockets the server gives each deadline to the socket once
/// per request phase and the socket keeps it (see *Deadlines, not
/// timeouts* in `conn.rs`; the socket's timer stays armed across waits,
/// see *The armed timer* in burrow-sched's `netpoll.rs`). Requests on one
/// keep-alive connection spread over longer than `idle_timeout`: each idle
/// wait moves the read deadline later while the timer armed by an earlier
/// one is still pending, and that timer's firing must not end the
/// connection. Once the requests stop, `idle_timeout` still closes it.
#[test]
fn deadlines_moved_per_request_outlive_earlier_timers_and_idle_still_closes() {
    const IDLE: Duration = Duration::from_millis(1500);
    const GAP: Duration = Duration::from_millis(200);
    let (addr, _server, _t) = start(
        burrow_http::handler_fn(|w, _| {
            let _ = w.write_all(b"pong");
        }),
        ServerConfig {
            read_header_timeout: Some(Duration::from_millis(300)),
            read_timeout: Some(WAIT),
            write_timeout: Some(WAIT),
            idle_timeout: Some(IDLE),
            ..ServerConfig::default()
        },
    );
    let mut c = ClientConn::new(connect(addr));
    let t0 = Instant::now();
    let mut n = 0;
    // At least twice the idle timeout in all, so the first idle wait's
    // timer fires while the connection is busy or freshly idle.
    while t0.elapsed() < 2 * IDLE {
        assert_eq!(exchange(&mut c, GET_PING, &Method::GET).body(), b"pong");
        n += 1;
        thread::sleep(GAP);
    }
    assert!(n >= 2, "only {n} requests in {:?}", t0.elapsed());
    let last = Instant::now() - GAP;
    assert_closed(&mut c, "the connection after idle_timeout");
    let after = last.elapsed();
    assert!(
        after >= IDLE - Duration::from_millis(100) && after < WAIT,
        "closed {after:?} after the last response, want about {IDLE:?}"
    );
}
