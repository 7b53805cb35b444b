//! `FileServer` over real sockets: files, types, the root as a wall (`..`,
//! percent-encoded dots and slashes, symbolic links out), conditional and
//! range requests, directories (index, listing, redirects), HEAD,
//! `StripPrefix` under a mux, and the same server on goroutines.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;

use burrow_http::client::ClientConn;
use burrow_http::http::{self, Method, StatusCode};
use burrow_http::{FileServer, ServeMux, Server, ServerConfig, StripPrefix};
use common::{WAIT, connect, exchange, join_bounded, serve_on_goroutines, start};

const HELLO: &[u8] = b"hello, file\n";
const SECRET: &[u8] = b"the secret outside the root\n";

/// A directory tree under the temp dir, removed when dropped:
///
/// ```text
/// <base>/secret.txt            outside the root
/// <base>/root/hello.txt
/// <base>/root/page.html
/// <base>/root/noext            HTML without an extension (sniffed)
/// <base>/root/big.bin          100 KiB + 7 bytes
/// <base>/root/sub/a.txt
/// <base>/root/withindex/index.html
/// <base>/root/link_in      ->  hello.txt
/// <base>/root/link_out     ->  ../secret.txt
/// <base>/root/dir_out      ->  ..
/// ```
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let base =
            std::env::temp_dir().join(format!("burrow-http-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("withindex")).unwrap();
        std::fs::write(base.join("secret.txt"), SECRET).unwrap();
        std::fs::write(root.join("hello.txt"), HELLO).unwrap();
        std::fs::write(root.join("page.html"), b"<p>page</p>\n").unwrap();
        std::fs::write(root.join("noext"), b"<html><body>sniff me").unwrap();
        std::fs::write(root.join("big.bin"), big()).unwrap();
        std::fs::write(root.join("sub/a.txt"), b"a\n").unwrap();
        std::fs::write(root.join("withindex/index.html"), b"<p>index</p>\n").unwrap();
        std::os::unix::fs::symlink("hello.txt", root.join("link_in")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("link_out")).unwrap();
        std::os::unix::fs::symlink("..", root.join("dir_out")).unwrap();
        Tree { base }
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn big() -> Vec<u8> {
    (0..100 * 1024 + 7)
        .map(|i: u32| (i * 7 % 251) as u8)
        .collect()
}

fn serve(tree: &Tree) -> SocketAddr {
    start(FileServer::new(tree.root()), ServerConfig::default())
}

/// One request (`extra` header lines, each ending in CRLF) on a fresh
/// connection.
fn request(addr: SocketAddr, method: Method, target: &str, extra: &str) -> http::Response<Vec<u8>> {
    let mut conn = ClientConn::new(connect(addr));
    let raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
    exchange(&mut conn, raw.as_bytes(), &method)
}

fn get(addr: SocketAddr, target: &str) -> http::Response<Vec<u8>> {
    request(addr, Method::GET, target, "")
}

fn header<'r>(r: &'r http::Response<Vec<u8>>, name: &str) -> &'r str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

#[test]
fn serves_a_file_with_type_length_and_time() {
    let tree = Tree::new("file");
    let addr = serve(&tree);
    let r = get(addr, "/hello.txt");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), HELLO);
    assert_eq!(header(&r, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(header(&r, "content-length"), HELLO.len().to_string());
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    assert!(header(&r, "last-modified").ends_with(" GMT"));

    let r = get(addr, "/page.html");
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    let r = get(addr, "/noext");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");

    // Larger than the read chunk and the response buffer.
    let r = get(addr, "/big.bin");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.body() == &big(), "big.bin came back different");

    let r = get(addr, "/missing.txt");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[test]
fn head_has_the_length_and_no_body() {
    let tree = Tree::new("head");
    let addr = serve(&tree);
    let r = request(addr, Method::HEAD, "/big.bin", "");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length"), big().len().to_string());
    assert!(r.body().is_empty());
}

#[test]
fn never_serves_outside_the_root() {
    let tree = Tree::new("escape");
    let addr = serve(&tree);
    for target in [
        "/../secret.txt",
        "/../../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/./../root/../secret.txt",
        "/link_out",
        "/dir_out/secret.txt",
        "/dir_out/root/hello.txt/../../secret.txt",
    ] {
        let r = get(addr, target);
        assert!(
            !r.body().windows(SECRET.len()).any(|w| w == SECRET),
            "{target} leaked the secret: {r:?}"
        );
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{target}: {r:?}");
    }
    // Cleaning keeps a climb that ends inside the root working.
    let r = get(addr, "/sub/../hello.txt");
    assert_eq!(r.body(), HELLO);
    let r = get(addr, "/%2e%2e/hello.txt");
    assert_eq!(r.body(), HELLO);
    // A link that stays inside is followed.
    let r = get(addr, "/link_in");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), HELLO);
    // NUL cannot name a file.
    let r = get(addr, "/hello.txt%00.png");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn if_modified_since_answers_304() {
    let tree = Tree::new("ims");
    let addr = serve(&tree);
    let first = get(addr, "/hello.txt");
    let lm = header(&first, "last-modified").to_owned();
    let r = request(
        addr,
        Method::GET,
        "/hello.txt",
        &format!("If-Modified-Since: {lm}\r\n"),
    );
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.body().is_empty());
    assert_eq!(header(&r, "last-modified"), lm);
    assert!(r.headers().get("content-type").is_none(), "{r:?}");

    let old = "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n";
    let r = request(addr, Method::GET, "/hello.txt", old);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), HELLO);

    // Not for other methods, and not with If-None-Match.
    let both = format!("If-Modified-Since: {lm}\r\nIf-None-Match: \"x\"\r\n");
    let r = request(addr, Method::GET, "/hello.txt", &both);
    assert_eq!(r.status(), StatusCode::OK);

    // If-Unmodified-Since in the past: 412.
    let ius = "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n";
    let r = request(addr, Method::GET, "/hello.txt", ius);
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
}

#[test]
fn single_ranges_answer_206_and_bad_ones_416() {
    let tree = Tree::new("range");
    let addr = serve(&tree);
    let size = HELLO.len();
    let range = |spec: &str| {
        request(
            addr,
            Method::GET,
            "/hello.txt",
            &format!("Range: {spec}\r\n"),
        )
    };

    let r = range("bytes=0-4");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body(), b"hello");
    assert_eq!(header(&r, "content-range"), format!("bytes 0-4/{size}"));
    assert_eq!(header(&r, "content-length"), "5");

    let r = range("bytes=-5");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body(), &HELLO[size - 5..]);

    let r = range("bytes=7-");
    assert_eq!(r.body(), &HELLO[7..]);

    let r = range("bytes=100-");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "content-range"), format!("bytes */{size}"));

    let r = range("bytes=5-2");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Several ranges: the whole file.
    let r = range("bytes=0-1,4-5");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), HELLO);

    // A range deep in a large file crosses read chunks.
    let r = request(
        addr,
        Method::GET,
        "/big.bin",
        "Range: bytes=30000-70000\r\n",
    );
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert!(r.body() == &big()[30000..=70000]);

    // If-Range with another date: the range is ignored.
    let r = request(
        addr,
        Method::GET,
        "/hello.txt",
        "Range: bytes=0-4\r\nIf-Range: Thu, 01 Jan 1970 00:00:01 GMT\r\n",
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), HELLO);
}

#[test]
fn directories_redirect_index_and_list() {
    let tree = Tree::new("dirs");
    let addr = serve(&tree);

    let r = get(addr, "/sub");
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&r, "location"), "sub/");
    let r = get(addr, "/sub?x=1");
    assert_eq!(header(&r, "location"), "sub/?x=1");

    let r = get(addr, "/hello.txt/");
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&r, "location"), "../hello.txt");

    let r = get(addr, "/withindex/");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), b"<p>index</p>\n");
    let r = get(addr, "/withindex/index.html");
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&r, "location"), "./");

    let r = get(addr, "/sub/");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    let page = String::from_utf8_lossy(r.body());
    assert!(page.contains("<a href=\"a.txt\">a.txt</a>"), "{page}");

    let r = get(addr, "/");
    let page = String::from_utf8_lossy(r.body()).into_owned();
    let at = |s: &str| page.find(s).unwrap_or_else(|| panic!("{s} not in {page}"));
    // Sorted by name, directories with a slash.
    assert!(at("big.bin") < at("hello.txt"));
    assert!(at("hello.txt") < at("sub/"));
    assert!(at("sub/") < at("withindex/"));
}

#[test]
fn strip_prefix_mounts_it_under_a_mux() {
    let tree = Tree::new("strip");
    let mut mux = ServeMux::new();
    mux.must_handle(
        "/static/",
        StripPrefix::new("/static", FileServer::new(tree.root())),
    );
    let addr = start(mux, ServerConfig::default());
    let r = get(addr, "/static/hello.txt");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body(), HELLO);
    let r = get(addr, "/static/sub/a.txt?q=1");
    assert_eq!(r.body(), b"a\n");
    // The mux cleans the path first: this is a redirect, not an escape.
    let r = get(addr, "/static/../secret.txt");
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&r, "location"), "/secret.txt");
}

/// The same server on a goroutine runtime with one P: file reads go
/// through `blocking`, so the P keeps serving while they run; a big file
/// and a ping on a second connection both complete.
#[test]
fn serves_files_from_goroutines() {
    let tree = Tree::new("goroutines");
    let listener = burrow_net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().unwrap();
    let server = Server::new(FileServer::new(tree.root()));
    let t = serve_on_goroutines(&server, listener, 1);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let r = get(addr, "/big.bin");
                assert_eq!(r.status(), StatusCode::OK);
                assert!(r.body() == &big(), "big.bin came back different");
                get(addr, "/hello.txt").into_body()
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().expect("a client failed"), HELLO);
    }
    server.shutdown(WAIT).expect("shutdown");
    join_bounded(t, "serving").expect("serve_goroutines");
}
