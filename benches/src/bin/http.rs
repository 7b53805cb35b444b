//! HTTP benchmark: the seeds' hello-world server (`/` → `hello world`,
//! `/about` → `About page`) in burrow, Go's net/http, hyper on tokio and
//! may_minihttp, loaded in the same run by one load generator.
//!
//! - `http_hello`: requests/s over 128 keep-alive connections on loopback
//!   (`GET /`), with p50 and p99 latency as `http_hello_p50` and
//!   `http_hello_p99`.
//! - `http_conn_rss`, `http_conn_rss_idle`: the server's resident memory
//!   per keep-alive connection, right after each of 500 connections made
//!   one request and again after 3 s idle (a fresh server per sample; see
//!   [`bench_conn_memory`]).
//!
//! Each server runs in a process of its own (this binary with `--serve
//! IMPL`, or the Go program `benches/go/http.go`) with [`procs`] workers,
//! and prints `LISTEN <port>` once it accepts. The load comes from `wrk`
//! when it is installed (`apt-get install wrk`), else from the small
//! event-driven generator below (mio, the same 128 connections, one request
//! in flight per connection). Samples alternate between the servers
//! (burrow, go, hyper, may, burrow, …) so a busy machine's drift hits all
//! alike; every server has had one warm-up run first.
//!
//! The burrow and Go servers run with the same limits switched on (read
//! header, read, write and idle timeouts); hyper and may_minihttp run as
//! their hello-world examples do. The load generator shares the machine's
//! cores with the server, as wrk on one box always does.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use burrow_benches::{Args, Better, go_program, procs, report, rss_bytes_of, skip, which};

const BENCH: &str = "http_hello";
const CONN_BENCH: &str = "http_conn_rss";
/// The servers, in the order the table shows them.
const SERVERS: [&str; 4] = ["burrow", "go", "hyper", "may"];
const CONNS: usize = 128;
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
const HELLO: &[u8] = b"hello world\n";
const ABOUT: &[u8] = b"About page\n";

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--serve") {
        let imp = args.next().expect("--serve IMPL");
        serve(&imp);
        return;
    }
    let args = Args::parse();
    if args.wants(BENCH) {
        bench_hello(&args);
    }
    if args.wants(CONN_BENCH) {
        bench_conn_memory(&args);
    }
}

/// How `imp`'s server is started: its program and arguments (`None`: Go
/// is not installed, or its build failed; a `SKIP` line for `bench` says
/// so). Resolved once per server, so Go's program is built once.
fn server_program(bench: &str, imp: &'static str) -> Option<(PathBuf, Vec<&'static str>)> {
    if imp == "go" {
        return Some((go_program(bench, "http.go")?, Vec::new()));
    }
    let me = std::env::current_exe().expect("own path");
    Some((me, vec!["--serve", imp]))
}

/// A command that starts a server from [`server_program`]'s answer, with
/// [`procs`] workers for Go (the others read it from `procs` themselves).
fn server_cmd((program, args): &(PathBuf, Vec<&str>)) -> Command {
    let mut c = Command::new(program);
    c.args(args).env("GOMAXPROCS", procs().to_string());
    c
}

fn bench_hello(args: &Args) {
    let secs = args.pick(5, 1);
    let samples = args.samples(5);

    let mut servers: Vec<(&str, Child, SocketAddr)> = Vec::new();
    for imp in SERVERS {
        let Some(program) = server_program(BENCH, imp) else {
            continue;
        };
        match start(server_cmd(&program)) {
            Ok((child, addr)) => servers.push((imp, child, addr)),
            Err(e) => skip(BENCH, imp, &format!("server did not start: {e}")),
        }
    }

    let wrk = which("wrk");
    if wrk.is_none() {
        eprintln!("wrk not on PATH (apt-get install wrk): using the built-in load generator");
    }
    let size = format!(
        "{CONNS} keep-alive conns, {secs} s, {} Ps, load by {}",
        procs(),
        if wrk.is_some() {
            "wrk"
        } else {
            "built-in client"
        }
    );

    let mut results: Vec<Vec<Load>> = vec![Vec::new(); servers.len()];
    let mut failed = vec![false; servers.len()];
    for round in 0..=samples {
        for (i, (imp, _, addr)) in servers.iter().enumerate() {
            if failed[i] {
                continue;
            }
            // Round 0 warms every server up (connections, caches, the Go
            // and tokio pools) and is discarded.
            let d = if round == 0 { 1 } else { secs };
            let r = match &wrk {
                Some(w) => run_wrk(w, *addr, d),
                None => run_builtin(*addr, d),
            };
            match r {
                Ok(load) => {
                    eprintln!(
                        "{imp} round {round}: {:.0} req/s p50 {:.3} ms p99 {:.3} ms",
                        load.rps, load.p50_ms, load.p99_ms
                    );
                    if round > 0 {
                        results[i].push(load);
                    }
                }
                Err(e) => {
                    skip(BENCH, imp, &format!("load run failed: {e}"));
                    failed[i] = true;
                }
            }
        }
    }
    for (i, (imp, child, _)) in servers.iter_mut().enumerate() {
        let _ = child.kill();
        let _ = child.wait();
        let loads = &results[i];
        if failed[i] || loads.is_empty() {
            continue;
        }
        let k: Vec<f64> = loads.iter().map(|l| l.rps / 1e3).collect();
        let p50: Vec<f64> = loads.iter().map(|l| l.p50_ms).collect();
        let p99: Vec<f64> = loads.iter().map(|l| l.p99_ms).collect();
        report(BENCH, &size, "k req/s", Better::Higher, imp, &k);
        report(
            &format!("{BENCH}_p50"),
            &size,
            "ms",
            Better::Lower,
            imp,
            &p50,
        );
        report(
            &format!("{BENCH}_p99"),
            &size,
            "ms",
            Better::Lower,
            imp,
            &p99,
        );
    }
}

/// `http_conn_rss`: what a keep-alive connection costs the server in
/// memory. A fresh server process per sample; N connections each make one
/// `GET /` and stay open. The server's RSS growth per connection is taken
/// right after the last answer (`http_conn_rss`: the connections have just
/// been served) and again after [`CONN_IDLE`] with all of them idle
/// (`http_conn_rss_idle`: burrow has compacted the parked goroutines'
/// stacks by then; Go's goroutines keep theirs, its GC runs as it likes).
/// Kernel socket buffers are not in a process's RSS, so they are not
/// counted for anyone. A fresh process, because a server that has already
/// served a load reuses what that load left (stacks, buffers) and would
/// look smaller than a new server that meets the same connections.
fn bench_conn_memory(args: &Args) {
    let n = args.pick(500, 100);
    let size = format!("{n} keep-alive conns, one GET each");
    let idle_size = format!("{n} keep-alive conns, then {} s idle", CONN_IDLE.as_secs());
    for imp in SERVERS {
        let Some(program) = server_program(CONN_BENCH, imp) else {
            continue;
        };
        let mut rows: Vec<(f64, f64)> = Vec::new();
        for _ in 0..args.pick(3, 1) {
            match conn_memory(server_cmd(&program), n) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    skip(CONN_BENCH, imp, &format!("sample failed: {e}"));
                    break;
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        let now: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let idle: Vec<f64> = rows.iter().map(|r| r.1).collect();
        report(CONN_BENCH, &size, "bytes/conn", Better::Lower, imp, &now);
        report(
            &format!("{CONN_BENCH}_idle"),
            &idle_size,
            "bytes/conn",
            Better::Lower,
            imp,
            &idle,
        );
    }
}

/// How long `http_conn_rss_idle` leaves the connections idle: past burrow's
/// stack compaction decay (1 s) and the sweep that follows it.
const CONN_IDLE: Duration = Duration::from_secs(3);

/// One `http_conn_rss` sample on a fresh server: bytes of RSS per
/// connection after serving, and after [`CONN_IDLE`].
fn conn_memory(cmd: Command, n: usize) -> io::Result<(f64, f64)> {
    let (mut child, addr) = start(cmd)?;
    let result = (|| {
        let pid = child.id();
        let before = child_rss(pid)?;
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let s = std::net::TcpStream::connect(addr)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            conns.push(s);
        }
        for s in &mut conns {
            s.write_all(REQUEST)?;
        }
        for s in &mut conns {
            if !read_response(s)?.ends_with(HELLO) {
                return Err(io::Error::other("wrong or cut-short answer"));
            }
        }
        let served = child_rss(pid)?.saturating_sub(before) as f64 / n as f64;
        std::thread::sleep(CONN_IDLE);
        let idle = child_rss(pid)?.saturating_sub(before) as f64 / n as f64;
        drop(conns);
        Ok((served, idle))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// [`rss_bytes_of`] for a server that must still be running.
fn child_rss(pid: u32) -> io::Result<u64> {
    rss_bytes_of(pid).ok_or_else(|| io::Error::other("server process gone"))
}

#[derive(Clone, Copy, Debug)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Starts a server process and waits (bounded) for its `LISTEN` line.
fn start(mut cmd: Command) -> io::Result<(Child, SocketAddr)> {
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let port = lines.find_map(|l| {
            l.ok()?
                .strip_prefix("LISTEN ")
                .and_then(|p| p.trim().parse::<u16>().ok())
        });
        let _ = tx.send(port);
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(port)) => {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            // Check that it answers the seeds' two routes.
            check(addr, "/", HELLO)?;
            check(addr, "/about", ABOUT)?;
            Ok((child, addr))
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err(io::Error::other("no LISTEN line within 30 s"))
        }
    }
}

/// One `GET path` on a fresh connection; the body must be `want`.
fn check(addr: SocketAddr, path: &str, want: &[u8]) -> io::Result<()> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let resp = read_response(&mut s)?;
    if resp.starts_with(b"HTTP/1.1 200") && resp.ends_with(want) {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "GET {path} answered {:?}",
            String::from_utf8_lossy(&resp)
        )))
    }
}

/// Reads one response from `s`: until its `Content-Length` says it is
/// whole (not every server closes on `Connection: close`), or the server
/// closes first (then what came, cut short).
fn read_response(s: &mut std::net::TcpStream) -> io::Result<Vec<u8>> {
    let mut resp = Vec::new();
    let mut chunk = [0u8; 1024];
    while response_len(&resp).is_none() {
        match s.read(&mut chunk)? {
            0 => break,
            n => resp.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(resp)
}

/// `wrk -t<procs> -c128 -d<secs>s --latency`, parsed.
fn run_wrk(wrk: &std::path::Path, addr: SocketAddr, secs: u64) -> io::Result<Load> {
    let out = Command::new(wrk)
        .arg(format!("-t{}", procs().min(CONNS)))
        .arg(format!("-c{CONNS}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("--timeout")
        .arg("5s")
        .arg(format!("http://{addr}/"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!("wrk failed: {text}")));
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(io::Error::other(format!("wrk saw errors: {text}")));
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| io::Error::other(format!("no Requests/sec in {text}")))?;
    let p50 = field("50%").and_then(wrk_ms);
    let p99 = field("99%").and_then(wrk_ms);
    match (p50, p99) {
        (Some(p50_ms), Some(p99_ms)) => Ok(Load {
            rps,
            p50_ms,
            p99_ms,
        }),
        _ => Err(io::Error::other(format!(
            "no latency percentiles in {text}"
        ))),
    }
}

/// wrk's `1.23ms`, `456.00us`, `1.02s` in milliseconds.
fn wrk_ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|n| n * scale)
}

/// The built-in load generator: [`procs`] threads, each driving its share
/// of the 128 connections with mio, one request in flight per connection
/// (as wrk does), latency recorded per request.
fn run_builtin(addr: SocketAddr, secs: u64) -> io::Result<Load> {
    let threads = procs().clamp(1, CONNS);
    let end = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let conns = CONNS / threads + usize::from(t < CONNS % threads);
            std::thread::spawn(move || builtin_thread(addr, conns, end))
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(
            h.join()
                .map_err(|_| io::Error::other("a load thread panicked"))??,
        );
    }
    if lat.is_empty() {
        return Err(io::Error::other("no request completed"));
    }
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1e6;
    Ok(Load {
        rps: lat.len() as f64 / secs as f64,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// One load thread: returns the latencies (ns) of the requests it
/// completed before `end`.
fn builtin_thread(addr: SocketAddr, n: usize, end: Instant) -> io::Result<Vec<u64>> {
    use mio::net::TcpStream;
    use mio::{Events, Interest, Poll, Token};

    struct C {
        s: TcpStream,
        sent: Instant,
        buf: Vec<u8>,
    }
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let std = std::net::TcpStream::connect(addr)?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut s = TcpStream::from_std(std);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)?;
        conns.push(C {
            s,
            sent: Instant::now(),
            buf: Vec::with_capacity(512),
        });
    }
    for c in &mut conns {
        c.s.write_all(REQUEST)?;
        c.sent = Instant::now();
    }
    let mut lat = Vec::with_capacity(1 << 20);
    let mut events = Events::with_capacity(256);
    let mut chunk = [0u8; 4096];
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in &events {
            let c = &mut conns[ev.token().0];
            loop {
                match c.s.read(&mut chunk) {
                    Ok(0) => return Err(io::Error::other("the server closed a connection")),
                    Ok(k) => c.buf.extend_from_slice(&chunk[..k]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            // Responses are small and answered one at a time: the end of
            // one is its head's Content-Length past the blank line.
            while let Some(len) = response_len(&c.buf) {
                c.buf.drain(..len);
                lat.push(c.sent.elapsed().as_nanos() as u64);
                c.s.write_all(REQUEST)?;
                c.sent = Instant::now();
            }
        }
    }
    Ok(lat)
}

/// The length of the complete response at the start of `buf`, if there is
/// one (`Content-Length` framing only, which all four servers use here).
fn response_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let len: usize = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })?;
    (buf.len() >= head_end + len).then_some(head_end + len)
}

/// Runs server `imp` in this process until killed.
fn serve(imp: &str) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process:
    // the server dies with the benchmark that started it, even when that
    // one is killed by the xtask's watchdog.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    match imp {
        "burrow" => serve_burrow(),
        "hyper" => serve_hyper(),
        "may" => serve_may(),
        other => panic!("unknown server {other:?}"),
    }
}

fn listening(port: u16) {
    println!("LISTEN {port}");
    let _ = io::stdout().flush();
}

/// The seeds' program on burrow, as `examples/hello_http.rs` writes it,
/// with the limits the Go peer has too.
fn serve_burrow() {
    use burrow_http::{Request, ResponseWriter, ServeMux, Server, ServerConfig};
    burrow_benches::burrow_rt().run(|| {
        let mut mux = ServeMux::new();
        mux.must_handle_func("/", |w: &mut ResponseWriter<'_>, _: &mut Request<'_>| {
            let _ = writeln!(w, "hello world");
        });
        mux.must_handle_func(
            "/about",
            |w: &mut ResponseWriter<'_>, _: &mut Request<'_>| {
                let _ = writeln!(w, "About page");
            },
        );
        let config = ServerConfig {
            read_header_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            ..ServerConfig::default()
        };
        let listener = burrow_net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listening(listener.local_addr().expect("addr").port());
        Server::with_config(mux, config)
            .serve_goroutines(&listener)
            .expect("serve");
    });
}

fn serve_hyper() {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    // `tokio_rt` has only the timer on; a server needs the IO driver too.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs())
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        listening(listener.local_addr().expect("addr").port());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let body: &'static [u8] = if req.uri().path() == "/about" {
                        ABOUT
                    } else {
                        HELLO
                    };
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        body,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

fn serve_may() {
    use may_minihttp::{HttpServer, HttpService, Request, Response};

    #[derive(Clone)]
    struct Hello;
    impl HttpService for Hello {
        fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
            if req.path() == "/about" {
                rsp.body("About page\n");
            } else {
                rsp.body("hello world\n");
            }
            Ok(())
        }
    }

    may::config().set_workers(procs());
    // may_minihttp binds by address: pick a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let server = HttpServer(Hello)
        .start(("127.0.0.1", port))
        .expect("may_minihttp start");
    listening(port);
    let _ = server.join();
}
