//! An echo server, Go style: one goroutine accepts, one goroutine per
//! connection copies what it reads back to the writer; every read and
//! write parks only its goroutine.
//!
//! `cargo run --release --example echo_server [-- --addr HOST:PORT]`
//! (default `127.0.0.1:7007`), then `cargo run --release --example
//! echo_client` or `nc 127.0.0.1 7007`. `BURROW_MAXPROCS` sets the
//! number of Ps.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use burrow::net::{TcpListener, TcpStream};

const DEFAULT_ADDR: &str = "127.0.0.1:7007";

/// A connection silent this long is closed (Go servers set such a
/// deadline so idle peers do not hold a goroutine forever).
const IDLE: Duration = Duration::from_secs(300);

fn parse_args() -> String {
    let mut addr = DEFAULT_ADDR.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => match args.next() {
                Some(v) => addr = v,
                None => usage("--addr needs HOST:PORT"),
            },
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    addr
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("echo_server: {err}");
    }
    eprintln!("usage: echo_server [--addr HOST:PORT]");
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}

/// Copies `conn` back to itself until the peer closes, an error, or
/// `IDLE` of silence; returns the bytes echoed.
fn echo(mut conn: TcpStream) -> std::io::Result<u64> {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        conn.set_read_deadline(Some(Instant::now() + IDLE));
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        conn.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn serve(conn: TcpStream, peer: SocketAddr) {
    let id = burrow::current_id().unwrap_or(0);
    println!("{peer}: connected (goroutine {id})");
    match echo(conn) {
        Ok(n) => println!("{peer}: closed after echoing {n} bytes"),
        Err(e) => println!("{peer}: {e}"),
    }
}

#[burrow::main]
fn main() {
    let addr = parse_args();
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "echo_server: listening on {} with {} Ps; Ctrl-C to stop",
        listener
            .local_addr()
            .expect("a bound listener has an address"),
        burrow::maxprocs()
    );
    loop {
        // `accept` itself backs off when descriptors run out; any other
        // error is reported and the loop goes on, as Go servers do.
        match listener.accept() {
            Ok((conn, peer)) => {
                burrow::go(move || serve(conn, peer));
            }
            Err(e) => eprintln!("echo_server: accept: {e}"),
        }
    }
}
