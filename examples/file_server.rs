//! Go's one-line file server, on goroutines:
//!
//! ```go
//! http.ListenAndServe(":8080", http.FileServer(http.Dir(".")))
//! ```
//!
//! `cargo run --release --example file_server [-- --addr HOST:PORT] [--dir DIR]`
//! (defaults `0.0.0.0:8080` and `.`); then `curl localhost:8080/`,
//! `curl -r 0-99 localhost:8080/Cargo.toml`, or open it in a browser.
//!
//! Each connection is a goroutine; its file reads run through
//! `burrow::blocking`, so a slow disk takes a thread, not a P (see
//! `docs/http.md`, *FileServer*).

use std::path::PathBuf;

use burrow::http::{FileServer, Server};

fn parse_args() -> (String, PathBuf) {
    let mut addr = "0.0.0.0:8080".to_string();
    let mut dir = PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => match args.next() {
                Some(v) => addr = v,
                None => usage("--addr needs HOST:PORT"),
            },
            "--dir" => match args.next() {
                Some(v) => dir = PathBuf::from(v),
                None => usage("--dir needs a directory"),
            },
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    // Go's ":8080" form.
    if addr.starts_with(':') {
        addr = format!("0.0.0.0{addr}");
    }
    (addr, dir)
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("file_server: {err}");
    }
    eprintln!("usage: file_server [--addr HOST:PORT] [--dir DIR]");
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}

#[burrow::main]
fn main() {
    let (addr, dir) = parse_args();
    if !dir.is_dir() {
        eprintln!("file_server: {} is not a directory", dir.display());
        std::process::exit(2);
    }
    let listener = match burrow::net::TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("file_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!(
        "serving {} on http://{local}/; Ctrl-C to stop",
        dir.display()
    );
    if let Err(e) = Server::new(FileServer::new(dir)).serve_goroutines(&listener) {
        eprintln!("file_server: {e}");
        std::process::exit(1);
    }
}
