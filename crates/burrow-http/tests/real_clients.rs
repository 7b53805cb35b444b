//! Real HTTP clients against the server: `curl` (keep-alive reuse,
//! chunked upload and download, `100 Continue`, HEAD) and python3's
//! `http.client` (keep-alive, bodies both ways, chunked upload, HEAD).
//! Each test is skipped, with the reason printed, when its client is not
//! installed.

mod common;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use burrow_http::{Listener, ServeMux, Server, ServerConfig};
use common::*;

/// A listener that counts accepted connections, to tell reuse from
/// reconnects.
struct Counting {
    inner: TcpListener,
    accepted: Arc<AtomicUsize>,
}

impl Listener for Counting {
    type Conn = TcpStream;

    fn accept(&self) -> io::Result<TcpStream> {
        let s = Listener::accept(&self.inner)?;
        // Relaxed: read by the test only after the client process exited,
        // which happens after this accept (the client got its responses).
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(s)
    }
}

/// `/big` → 20,000 bytes (sent chunked); anything else echoes.
fn start_counting() -> (SocketAddr, Arc<AtomicUsize>) {
    let mut mux = ServeMux::new();
    mux.must_handle_func("GET /big", |w, _| {
        for _ in 0..20 {
            w.write_all(&[b'b'; 1000]).unwrap();
        }
    });
    mux.must_handle("/", echo_handler());
    let inner = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = inner.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let listener = Counting {
        inner,
        accepted: Arc::clone(&accepted),
    };
    let server = Server::with_config(mux, ServerConfig::default());
    std::thread::spawn(move || server.serve_threads(&listener));
    (addr, accepted)
}

/// Whether `tool` runs; prints why a test is skipped when not.
fn have(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("skipping {test}: `{tool}` is not installed");
    }
    ok
}

/// Runs a client to completion with `stdin`, failing after twice [`WAIT`].
fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || input.write_all(&data));
    let deadline = Instant::now() + 2 * WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {:?}", 2 * WAIT);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    feeder.join().unwrap().expect("feed the client's stdin");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn curl(args: &[&str], stdin: &[u8]) -> Output {
    run(
        Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .args(args),
        stdin,
    )
}

#[test]
fn curl_reuses_one_connection_for_several_urls() {
    if !have("curl", "curl_reuses_one_connection_for_several_urls") {
        return;
    }
    let (addr, accepted) = start_counting();
    let urls: Vec<String> = ["a", "b", "big", "c"]
        .iter()
        .map(|p| format!("http://{addr}/{p}"))
        .collect();
    let out = curl(&urls.iter().map(String::as_str).collect::<Vec<_>>(), b"");
    let expected = format!("GET /a GET /b {}GET /c ", "b".repeat(20_000));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        1,
        "one connection for four requests"
    );
}

#[test]
fn curl_chunked_upload_is_read_whole() {
    if !have("curl", "curl_chunked_upload_is_read_whole") {
        return;
    }
    let (addr, _) = start_counting();
    let data: Vec<u8> = (0..50_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let url = format!("http://{addr}/up");
    let out = curl(
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "@-",
            &url,
        ],
        &data,
    );
    let mut expected = b"POST /up ".to_vec();
    expected.extend_from_slice(&data);
    assert!(out.stdout == expected, "echoed {} bytes", out.stdout.len());
}

#[test]
fn curl_gets_100_continue_before_sending_the_body() {
    if !have("curl", "curl_gets_100_continue_before_sending_the_body") {
        return;
    }
    let (addr, _) = start_counting();
    let url = format!("http://{addr}/up");
    let out = curl(
        &[
            "-v",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            "@-",
            &url,
        ],
        b"payload",
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("< HTTP/1.1 100 Continue"), "{log}");
    assert_eq!(out.stdout, b"POST /up payload");
}

#[test]
fn curl_head_gets_headers_only() {
    if !have("curl", "curl_head_gets_headers_only") {
        return;
    }
    let (addr, _) = start_counting();
    let url = format!("http://{addr}/abc");
    let out = curl(&["-I", &url], b"");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("content-length: 10\r\n"),
        "length of \"HEAD /abc \": {head}"
    );
    assert!(head.contains("date: "), "{head}");
}

const PYTHON_CLIENT: &str = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
out = []
c.request("GET", "/a")
out.append(c.getresponse().read().decode())
c.request("POST", "/b", body=b"xyz")
out.append(c.getresponse().read().decode())
c.request("GET", "/big")
r = c.getresponse()
out.append("%d %s" % (len(r.read()), r.getheader("Transfer-Encoding")))
c.request("HEAD", "/a")
r = c.getresponse()
out.append("HEAD %s" % r.getheader("Content-Length"))
r.read()
c.request("PUT", "/c", body=iter([b"ab", b"cd"]), encode_chunked=True)
out.append(c.getresponse().read().decode())
print("|".join(out))
"#;

#[test]
fn python_http_client_keeps_alive_across_bodies_chunks_and_head() {
    if !have(
        "python3",
        "python_http_client_keeps_alive_across_bodies_chunks_and_head",
    ) {
        return;
    }
    let (addr, accepted) = start_counting();
    let out = run(
        Command::new("python3").args(["-c", PYTHON_CLIENT, &addr.port().to_string()]),
        b"",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "GET /a |POST /b xyz|20000 chunked|HEAD 8|PUT /c abcd"
    );
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        1,
        "one connection for five requests"
    );
}
