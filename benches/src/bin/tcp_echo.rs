//! TCP echo over loopback, burrow-net's server against its peers in one
//! run: `tcp_echo_{64B,16KiB}_{1,100,1000}c`.
//!
//! Each server runs in a process of its own (this binary re-run with
//! `--serve IMPL`, or the Go peer `benches/go/tcp_echo.go`) and prints
//! `LISTEN addr`. The load generator is the same for every server: a
//! tokio client in this process with `procs()` workers, N connections,
//! each writing one message and reading its echo in a loop for a fixed
//! window. Two records per size and server:
//!
//! - `tcp_echo_*`: messages per second (echo round trips, all connections);
//! - `tcp_echo_cpu_*`: the server process's CPU time (user + system, from
//!   `/proc/PID/stat`) per message, in µs. On a 2-core box the load
//!   generator shares the CPU with the server, so throughput mostly
//!   measures the client; CPU per message is what separates servers.
//!
//! Servers: burrow (`burrow_net`, a goroutine per connection), tokio (a
//! task per connection), may (a coroutine per connection), std threads (a
//! thread per connection), Go (a goroutine per connection, `net`). All set
//! `TCP_NODELAY` and echo through a 16 KiB buffer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use burrow_benches::{Args, Better, burrow_rt, cpu_seconds, go_program, procs, report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUF: usize = 16 * 1024;

/// Message sizes and connection counts measured.
const SIZES: [(usize, &str); 2] = [(64, "64B"), (16 * 1024, "16KiB")];
const CONNS: [usize; 3] = [1, 100, 1000];

// ---- servers (each in its own process) ----

/// A multi-thread tokio runtime with [`procs`] workers, I/O and timers on.
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs())
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn announce(addr: SocketAddr) {
    println!("LISTEN {addr}");
    let _ = std::io::stdout().flush();
}

fn serve_burrow() {
    burrow_rt().run(|| {
        let l = burrow_net::TcpListener::bind("127.0.0.1:0").expect("bind");
        announce(l.local_addr().unwrap());
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            burrow_sched::go(move || {
                let mut buf = vec![0u8; BUF];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

fn serve_tokio() {
    tokio_rt().block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        announce(l.local_addr().unwrap());
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

fn serve_may() {
    may::config().set_workers(procs());
    let l = may::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(l.local_addr().unwrap());
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        let _ = s.set_nodelay(true);
        // SAFETY: may's spawn is unsafe because of thread-locals; the echo
        // loop uses none.
        unsafe {
            may::coroutine::spawn(move || {
                let mut buf = vec![0u8; BUF];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    }
}

fn serve_threads() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(l.local_addr().unwrap());
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        let _ = s.set_nodelay(true);
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut buf = vec![0u8; BUF];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("threads server: spawn: {e}");
        }
    }
}

// ---- the load generator ----

/// A running server process and its address.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(mut cmd: Command) -> std::io::Result<Server> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped")).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("LISTEN ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no LISTEN line, got {line:?}")))?;
        Ok(Server { child, addr })
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample: `conns` connections echoing `size`-byte messages for
/// `window`. Returns (messages per second, server CPU µs per message).
fn sample(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    conns: usize,
    size: usize,
    window: Duration,
) -> (f64, f64) {
    let addr = server.addr;
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let msgs = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(tokio::sync::Barrier::new(conns + 1));
        let mut tasks = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (stop, msgs, ready) = (stop.clone(), msgs.clone(), ready.clone());
            tasks.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
                s.set_nodelay(true).unwrap();
                let out = vec![0x5au8; size];
                let mut back = vec![0u8; size];
                ready.wait().await;
                while !stop.load(Ordering::Relaxed) {
                    s.write_all(&out).await.expect("write");
                    s.read_exact(&mut back).await.expect("read the echo");
                    msgs.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        ready.wait().await;
        let cpu0 = server.cpu();
        let n0 = msgs.load(Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(window).await;
        // Messages, time and server CPU are read together at the end of the
        // window, before the clients hang up: closing 1,000 connections is
        // server work that is not echoing.
        let n = (msgs.load(Ordering::Relaxed) - n0).max(1) as f64;
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = server.cpu() - cpu0;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("client task");
        }
        (n / elapsed, cpu * 1e6 / n)
    })
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--serve") {
        match argv.get(i + 1).map(String::as_str) {
            Some("burrow") => serve_burrow(),
            Some("tokio") => serve_tokio(),
            Some("may") => serve_may(),
            Some("threads") => serve_threads(),
            other => {
                eprintln!("tcp_echo: unknown server {other:?}");
                std::process::exit(2);
            }
        }
        return;
    }
    let args = Args::parse();
    let selected: Vec<(usize, &str, usize)> = SIZES
        .iter()
        .flat_map(|&(size, label)| CONNS.iter().map(move |&c| (size, label, c)))
        .filter(|&(_, label, c)| args.wants(&format!("tcp_echo_{label}_{c}c")))
        .filter(|&(size, _, c)| !args.quick || (c <= 100 && size == 64))
        .collect();
    if selected.is_empty() {
        return;
    }
    let window = args.pick(Duration::from_millis(1000), Duration::from_millis(200));
    let samples = args.samples(5);
    let client = tokio_rt();
    let exe = std::env::current_exe().expect("this binary");
    let mut impls: Vec<(&str, Option<Command>)> = ["burrow", "tokio", "may", "threads"]
        .into_iter()
        .map(|imp| {
            let mut c = Command::new(&exe);
            c.args(["--serve", imp]);
            (imp, Some(c))
        })
        .collect();
    let go = go_program("tcp_echo_64B_1c", "tcp_echo.go").map(|bin| {
        let mut c = Command::new(bin);
        c.arg("serve").env("GOMAXPROCS", procs().to_string());
        c
    });
    impls.push(("go", go));
    // `TCP_ECHO_SERVERS=burrow,go` measures only those (for profiling one).
    let only = std::env::var("TCP_ECHO_SERVERS").ok();
    for (imp, cmd) in impls {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|w| w == imp))
        {
            continue;
        }
        let Some(cmd) = cmd else { continue };
        let server = match Server::start(cmd) {
            Ok(s) => s,
            Err(e) => {
                for &(_, label, c) in &selected {
                    burrow_benches::skip(&format!("tcp_echo_{label}_{c}c"), imp, &e.to_string());
                }
                continue;
            }
        };
        for &(size, label, conns) in &selected {
            // One warm-up sample, discarded, then `samples`.
            let _ = sample(&client, &server, conns, size, window / 2);
            let (rates, cpus): (Vec<f64>, Vec<f64>) = (0..samples)
                .map(|_| sample(&client, &server, conns, size, window))
                .unzip();
            let what = format!("{conns} conns x {label} msgs");
            let k: Vec<f64> = rates.iter().map(|r| r / 1e3).collect();
            report(
                &format!("tcp_echo_{label}_{conns}c"),
                &what,
                "k msg/s",
                Better::Higher,
                imp,
                &k,
            );
            report(
                &format!("tcp_echo_cpu_{label}_{conns}c"),
                &what,
                "µs server CPU/msg",
                Better::Lower,
                imp,
                &cpus,
            );
        }
    }
}
