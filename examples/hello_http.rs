//! The seeds' program: Go's hello-world web server, on goroutines.
//!
//! ```go
//! mux := http.NewServeMux()
//! mux.HandleFunc("/", handler)           // fmt.Fprintln(w, "hello world")
//! mux.HandleFunc("/about", aboutHandler) // fmt.Fprintln(w, "About page")
//! http.ListenAndServe(":8080", mux)
//! ```
//!
//! `cargo run --release --example hello_http [-- --addr HOST:PORT] [-v]`
//! (or `ADDR=HOST:PORT`); then `curl localhost:8080/` and
//! `curl localhost:8080/about`. `-v` prints one access-log line per
//! request. `BURROW_MAXPROCS` sets the number of Ps.
//!
//! One goroutine accepts; each connection is served by a goroutine of its
//! own whose reads and writes park it on the runtime's netpoller (see
//! `docs/http.md` for a request's path through the code).

use std::io::Write;
use std::time::Instant;

use burrow::http::{Handler, Request, ResponseWriter, ServeMux, Server};

/// Go's `":8080"`: every interface, port 8080.
const DEFAULT_ADDR: &str = "0.0.0.0:8080";

fn handler(w: &mut ResponseWriter<'_>, _r: &mut Request<'_>) {
    // Fprintln: a failed write means the client went away; nothing to do.
    let _ = writeln!(w, "hello world");
}

fn about_handler(w: &mut ResponseWriter<'_>, _r: &mut Request<'_>) {
    let _ = writeln!(w, "About page");
}

/// Wraps a handler with one access-log line per request (`-v`).
struct AccessLog<H>(H);

impl<H: Handler> Handler for AccessLog<H> {
    fn serve_http(&self, w: &mut ResponseWriter<'_>, r: &mut Request<'_>) {
        let t = Instant::now();
        let (method, uri) = (r.method().clone(), r.uri().clone());
        self.0.serve_http(w, r);
        eprintln!(
            "{method} {uri} {} {:?} (goroutine {})",
            w.status().as_u16(),
            t.elapsed(),
            burrow::current_id().unwrap_or(0)
        );
    }
}

fn parse_args() -> (String, bool) {
    let mut addr = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string());
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => match args.next() {
                Some(v) => addr = v,
                None => usage("--addr needs HOST:PORT"),
            },
            "-v" | "--verbose" => verbose = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    // Go's ":8080" form.
    if addr.starts_with(':') {
        addr = format!("0.0.0.0{addr}");
    }
    (addr, verbose)
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("hello_http: {err}");
    }
    eprintln!("usage: hello_http [--addr HOST:PORT] [-v]   (or ADDR=HOST:PORT)");
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}

#[burrow::main]
fn main() {
    let (addr, verbose) = parse_args();
    let mut mux = ServeMux::new();
    mux.must_handle_func("/", handler);
    mux.must_handle_func("/about", about_handler);

    let listener = match burrow::net::TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello_http: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    let shown = if local.ip().is_unspecified() {
        format!("localhost:{}", local.port())
    } else {
        local.to_string()
    };
    println!("serving http://{shown}/ (and /about) on {local}; Ctrl-C to stop");
    let result = if verbose {
        Server::new(AccessLog(mux)).serve_goroutines(&listener)
    } else {
        Server::new(mux).serve_goroutines(&listener)
    };
    if let Err(e) = result {
        eprintln!("hello_http: {e}");
        std::process::exit(1);
    }
}
