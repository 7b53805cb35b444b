//! Property: any requests our client writes (any method, target, header
//! fields, body, `Content-Length` or chunked with any chunk sizes and
//! trailers, pipelined back to back), our server parses to the same
//! method, target, headers, body and trailers, in order.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use burrow_http::client::{Chunks, Trailers, write_request};
use burrow_http::http::{self, HeaderMap, HeaderName, HeaderValue, Method, Version};
use burrow_http::{Conn, ServerConfig, handler_fn, serve_conn};
use proptest::prelude::*;

/// What the server's handler saw of one request.
#[derive(Debug, PartialEq)]
struct Seen {
    method: Method,
    target: String,
    version: Version,
    headers: HeaderMap,
    body: Vec<u8>,
    trailers: HeaderMap,
}

/// Fixed input, discarded output.
struct Replay<'a>(&'a [u8]);

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Replay<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Conn for Replay<'_> {}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::PATCH),
        "[A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,11}"
            .prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

fn target() -> impl Strategy<Value = String> {
    let segment = "([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-F]{2}){0,12}";
    (
        proptest::collection::vec(segment, 0..5),
        proptest::option::of("([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-F]{2}){0,20}"),
    )
        .prop_map(|(segs, query)| {
            let mut t = format!("/{}", segs.join("/"));
            if let Some(q) = query {
                t.push('?');
                t.push_str(&q);
            }
            t
        })
}

/// Field names the framing owns are left out; the rest is any token.
fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = "[a-z0-9!#$%&'*+.^_`|~-]{1,16}".prop_filter("framing fields", |n| {
        !matches!(
            n.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection" | "expect" | "trailer"
        )
    });
    // Visible ASCII and obs-text inside, no whitespace at either end
    // (optional whitespace around a value is not part of it).
    let value = "([!-~\u{80}-\u{ff}]([ \t!-~\u{80}-\u{ff}]{0,30}[!-~\u{80}-\u{ff}])?)?";
    proptest::collection::vec((name, value), 0..8)
}

fn header_map(fields: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in fields {
        // obs-text: each char of the strategy's \u{80}..\u{ff} is one byte.
        let bytes: Vec<u8> = v.chars().map(|c| c as u32 as u8).collect();
        map.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_bytes(&bytes).unwrap(),
        );
    }
    map
}

#[derive(Debug, Clone)]
struct Spec {
    method: Method,
    target: String,
    http10: bool,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
    chunks: Option<Vec<usize>>,
    trailers: Vec<(String, String)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        method(),
        target(),
        any::<bool>(),
        fields(),
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::option::of(proptest::collection::vec(1usize..700, 0..8)),
        fields(),
    )
        .prop_map(
            |(method, target, http10, fields, body, chunks, trailers)| Spec {
                method,
                target,
                // Chunked bodies are HTTP/1.1 only.
                http10: http10 && chunks.is_none(),
                fields,
                body,
                trailers: if chunks.is_some() {
                    trailers
                } else {
                    Vec::new()
                },
                chunks,
            },
        )
}

fn build(s: &Spec) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder()
        .method(s.method.clone())
        .uri(&s.target)
        .version(if s.http10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        })
        .header("host", "example.test");
    if s.http10 {
        b = b.header("connection", "keep-alive");
    }
    let mut req = b.body(s.body.clone()).unwrap();
    req.headers_mut().extend(header_map(&s.fields));
    if let Some(c) = &s.chunks {
        req.extensions_mut().insert(Chunks(c.clone()));
        req.extensions_mut()
            .insert(Trailers(header_map(&s.trailers)));
    }
    req
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn what_the_client_writes_the_server_reads(specs in proptest::collection::vec(spec(), 1..4)) {
        let mut wire = Vec::new();
        for s in &specs {
            write_request(&mut wire, &build(s)).unwrap();
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let handler = handler_fn(move |_, r| {
            let mut body = Vec::new();
            r.body_mut().read_to_end(&mut body).unwrap();
            let trailers = r.body().trailers().cloned().unwrap_or_default();
            record.lock().unwrap().push(Seen {
                method: r.method().clone(),
                target: r.uri().to_string(),
                version: r.version(),
                headers: r.headers().clone(),
                body,
                trailers,
            });
        });
        serve_conn(Replay(&wire), &handler, &ServerConfig::default()).unwrap();

        let seen = seen.lock().unwrap();
        prop_assert_eq!(seen.len(), specs.len(), "every request was served");
        for (s, got) in specs.iter().zip(seen.iter()) {
            let sent = build(s);
            let mut expect_headers = sent.headers().clone();
            if s.chunks.is_some() {
                expect_headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
            } else if !s.body.is_empty()
                || matches!(s.method, Method::POST | Method::PUT | Method::PATCH)
            {
                expect_headers.insert("content-length", HeaderValue::from(s.body.len()));
            }
            prop_assert_eq!(&got.method, &s.method);
            prop_assert_eq!(&got.target, &s.target);
            prop_assert_eq!(got.version, sent.version());
            prop_assert_eq!(&got.headers, &expect_headers);
            prop_assert_eq!(&got.body, &s.body);
            prop_assert_eq!(&got.trailers, &header_map(&s.trailers));
        }
    }
}
