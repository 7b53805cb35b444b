//! The echo server's client: connects, sends numbered lines, and checks
//! that each comes back unchanged, printing what it sends and receives.
//! Exits with status 1 on the first wrong or missing echo.
//!
//! `cargo run --release --example echo_client [-- --addr HOST:PORT]
//! [--lines N]` (defaults `127.0.0.1:7007`, 5 lines).

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use burrow::net::TcpStream;

const DEFAULT_ADDR: &str = "127.0.0.1:7007";

/// How long to wait for the connection and for each echo.
const WAIT: Duration = Duration::from_secs(5);

fn parse_args() -> (String, usize) {
    let mut addr = DEFAULT_ADDR.to_string();
    let mut lines = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => match args.next() {
                Some(v) => addr = v,
                None => usage("--addr needs HOST:PORT"),
            },
            "--lines" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => lines = n,
                None => usage("--lines needs a number"),
            },
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    (addr, lines)
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("echo_client: {err}");
    }
    eprintln!("usage: echo_client [--addr HOST:PORT] [--lines N]");
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}

fn fail(msg: &str) -> ! {
    eprintln!("echo_client: {msg}");
    std::process::exit(1);
}

#[burrow::main]
fn main() {
    let (addr, lines) = parse_args();
    let conn = match TcpStream::connect(&addr) {
        Ok(c) => c,
        Err(e) => fail(&format!("cannot connect to {addr}: {e}")),
    };
    println!(
        "echo_client: connected to {} from {}",
        conn.peer_addr().expect("a connected stream has a peer"),
        conn.local_addr()
            .expect("a connected stream has an address")
    );
    let mut reader = BufReader::new(&conn);
    let mut back = String::new();
    for i in 1..=lines {
        let line = format!("line {i} of {lines}\n");
        print!("sent:     {line}");
        if let Err(e) = (&conn).write_all(line.as_bytes()) {
            fail(&format!("write: {e}"));
        }
        conn.set_read_deadline(Some(Instant::now() + WAIT));
        back.clear();
        match reader.read_line(&mut back) {
            Ok(0) => fail("the server closed the connection before echoing"),
            Ok(_) => print!("received: {back}"),
            Err(e) => fail(&format!("read: {e}")),
        }
        if back != line {
            fail(&format!("echo mismatch: sent {line:?}, got {back:?}"));
        }
    }
    println!("echo_client: all {lines} lines echoed intact");
}
