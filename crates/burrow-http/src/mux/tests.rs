//! Unit tests for the mux: pattern parsing, precedence, conflicts, 404,
//! 405 with `Allow`, redirects and path values. Requests are served over
//! an in-memory connection (`testing.rs`).

use std::io::Write;

use http::Method;

use super::pattern::{self, Pattern, Relationship};
use super::*;
use crate::ServerConfig;
use crate::head::plain_host;
use crate::testing::serve_and_parse;

/// A mux whose every handler answers with its own pattern and the path
/// values, as `"<pattern>|name=value|..."`.
fn mux(patterns: &[&str]) -> ServeMux {
    let mut m = ServeMux::new();
    for p in patterns {
        let name = p.to_string();
        m.handle_func(p, move |w, r| {
            let mut s = name.clone();
            assert_eq!(r.pattern(), Some(name.as_str()));
            for n in ["id", "rest", "x", "y"] {
                if let Some(v) = r.path_value(n) {
                    s.push_str(&format!("|{n}={v}"));
                }
            }
            w.write_all(s.as_bytes()).unwrap();
        })
        .unwrap_or_else(|e| panic!("registering {p}: {e}"));
    }
    m
}

fn request(m: &ServeMux, method: &str, target: &str, host: &str) -> http::Response<Vec<u8>> {
    let raw = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    serve_and_parse(m, &ServerConfig::default(), raw.as_bytes(), &[method])
        .pop()
        .unwrap()
}

/// The body of a GET for `target` on host `a`.
fn served_by(m: &ServeMux, target: &str) -> String {
    let r = request(m, "GET", target, "a");
    assert_eq!(r.status(), 200, "GET {target}: {:?}", r);
    String::from_utf8(r.into_body()).unwrap()
}

#[test]
fn invalid_patterns_are_refused_with_a_reason() {
    for p in [
        "",
        "GET",
        "a",
        "/{x",
        "/a{x}",
        "/{x}b",
        "/{x}/{x}",
        "/{$}/a",
        "/{a...}/b",
        "/{1a}",
        "/{}",
        "GET /a/../b",
        "G(T /",
        "host{x}/",
    ] {
        let e = ServeMux::new().handle_func(p, |_, _| {}).unwrap_err();
        assert!(
            matches!(&e, PatternError::Invalid { pattern, .. } if pattern == p),
            "{p:?}: {e}"
        );
    }
}

#[test]
fn the_seeds_patterns_route_exact_and_subtree() {
    let m = mux(&["/", "/about"]);
    assert_eq!(served_by(&m, "/"), "/");
    assert_eq!(served_by(&m, "/about"), "/about");
    assert_eq!(served_by(&m, "/about/more"), "/", "/about is exact");
    assert_eq!(served_by(&m, "/anything/else"), "/");
}

#[test]
fn most_specific_pattern_wins() {
    let m = mux(&[
        "/",
        "/items/",
        "/items/{id}",
        "GET /items/{id}",
        "HEAD /items/{id}",
        "/items/{id}/{rest...}",
        "/static/{$}",
        "/users/{id}",
        "/users/me",
    ]);
    assert_eq!(served_by(&m, "/users/me"), "/users/me");
    assert_eq!(served_by(&m, "/users/you"), "/users/{id}|id=you");
    assert_eq!(served_by(&m, "/items/7"), "GET /items/{id}|id=7");
    let post = request(&m, "POST", "/items/7", "a");
    assert_eq!(post.body(), b"/items/{id}|id=7");
    let head = request(&m, "HEAD", "/items/7", "a");
    assert_eq!(head.status(), 200, "HEAD pattern beats GET for HEAD");
    assert_eq!(
        served_by(&m, "/items/7/a/b"),
        "/items/{id}/{rest...}|id=7|rest=a/b"
    );
    assert_eq!(served_by(&m, "/items/"), "/items/");
    assert_eq!(served_by(&m, "/static/"), "/static/{$}");
    assert_eq!(
        served_by(&m, "/static/x"),
        "/",
        "{{$}} matches only the slash"
    );
}

#[test]
fn get_patterns_serve_head() {
    let m = mux(&["GET /page"]);
    let r = request(&m, "HEAD", "/page", "a");
    assert_eq!(r.status(), 200);
    assert!(r.body().is_empty());
    assert_eq!(
        r.headers()["content-length"],
        "9",
        "as for GET's \"GET /page\""
    );
}

#[test]
fn host_patterns_beat_pathless_hosts() {
    let m = mux(&["/", "example.com/", "example.com/a"]);
    assert_eq!(
        request(&m, "GET", "/x", "Example.COM:8080").body(),
        b"example.com/"
    );
    assert_eq!(
        request(&m, "GET", "/a", "example.com").body(),
        b"example.com/a"
    );
    assert_eq!(request(&m, "GET", "/a", "other.org").body(), b"/");
    assert_eq!(
        request(&m, "GET", "http://example.com/a", "ignored").body(),
        b"example.com/a",
        "absolute-form target's host"
    );
}

#[test]
fn conflicting_registrations_name_both_patterns() {
    for (first, second, example) in [
        ("/a/{x}", "/{y}/b", "/a/b"),
        ("GET /x", "GET /x", "GET /x"),
        ("GET /a/{x}", "/a/b", "GET /a/b"),
        ("/a/{x...}", "/{y}/b/", "/a/b/"),
        ("/{x}", "/{y}", "/x"),
    ] {
        let mut m = mux(&[first]);
        let e = m.handle_func(second, |_, _| {}).unwrap_err();
        assert_eq!(
            e,
            PatternError::Conflict {
                pattern: second.into(),
                existing: first.into(),
                example: example.into(),
            }
        );
        let msg = e.to_string();
        assert!(msg.contains(first) && msg.contains(second), "{msg}");
    }
    // Go rejects this pair too: "GET /items/new" matches both.
    let mut m = mux(&["GET /items/{id}"]);
    assert!(m.handle_func("/items/new", |_, _| {}).is_err());
    // Not conflicts: one is more specific, or they are disjoint, or the
    // hosts differ.
    mux(&[
        "/a/{x}",
        "/a/b",
        "GET /a/{x}/c",
        "POST /a/{x}/c",
        "h/a/{x}",
        "/{$}",
    ]);
}

#[test]
#[should_panic(expected = "conflicts with pattern")]
fn must_handle_panics_on_conflict() {
    let mut m = mux(&["/x"]);
    m.must_handle_func("/x", |_, _| {});
}

#[test]
fn not_found_and_method_not_allowed() {
    let m = mux(&["GET /r", "POST /r", "DELETE /other"]);
    let r = request(&m, "GET", "/nothing", "a");
    assert_eq!(r.status(), 404);
    assert_eq!(r.body(), b"404 page not found\n");
    let r = request(&m, "PUT", "/r", "a");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD, POST");
}

#[test]
fn unclean_paths_and_subtree_roots_redirect() {
    let m = mux(&["/tree/", "/a/c", "/"]);
    let r = request(&m, "GET", "/tree?q=1", "a");
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "/tree/?q=1");
    let r = request(&m, "GET", "/a//b/../c", "a");
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "/a/c");
    let r = request(&m, "GET", "/x/./y/", "a");
    assert_eq!(
        r.headers()["location"],
        "/x/y/",
        "the trailing slash is kept"
    );
    assert_eq!(served_by(&m, "/tree/leaf"), "/tree/");
}

#[test]
fn path_values_are_unescaped_per_segment() {
    let m = mux(&["/files/{id}", "/raw/{rest...}"]);
    assert_eq!(served_by(&m, "/files/a%2Fb"), "/files/{id}|id=a/b");
    assert_eq!(served_by(&m, "/raw/x%20y/z"), "/raw/{rest...}|rest=x y/z");
    assert_eq!(served_by(&m, "/raw/"), "/raw/{rest...}|rest=");
}

#[test]
fn relationships_follow_go() {
    let p = |s: &str| Pattern::parse(s).unwrap();
    use Relationship::*;
    let cases = [
        ("/a", "/a", Equivalent),
        ("/a", "/b", Disjoint),
        ("/", "/a", MoreGeneral),
        ("/a/", "/a/b/c", MoreGeneral),
        ("/{x}", "/a", MoreGeneral),
        ("/a/{x}", "/{y}/b", Overlaps),
        ("GET /a", "/a", MoreSpecific),
        ("GET /a", "HEAD /a", MoreGeneral),
        ("GET /a", "POST /a", Disjoint),
        ("/{x}/", "/{$}", Disjoint),
        ("/a/{$}", "/a/", MoreSpecific),
        ("/{x...}", "/", Equivalent),
    ];
    for (a, b, rel) in cases {
        assert_eq!(p(a).compare(&p(b)), rel, "{a} vs {b}");
    }
}

#[test]
fn clean_path_matches_go() {
    for (raw, clean) in [
        ("/", "/"),
        ("//", "/"),
        ("/a/b", "/a/b"),
        ("/a//b", "/a/b"),
        ("/a/./b/", "/a/b/"),
        ("/a/../b", "/b"),
        ("/../a", "/a"),
        ("/a/b/..", "/a"),
        ("/a/b/../", "/a/"),
    ] {
        assert_eq!(clean_path(raw), clean, "{raw}");
    }
}

proptest::proptest! {
    /// The fast check agrees with cleaning: a path is left borrowed exactly
    /// when cleaning would give it back unchanged.
    #[test]
    fn is_clean_path_agrees_with_clean_path(
        segs in proptest::collection::vec(
            proptest::sample::select(vec!["", ".", "..", "a", "b.c", "..d", ".e"]),
            0..8,
        )
    ) {
        let p = format!("/{}", segs.join("/"));
        proptest::prop_assert_eq!(is_clean_path(&p), clean_path(&p) == p, "{}", p);
    }

    /// The byte scans split and count as `str::split('/')` and
    /// `str::matches('/')` do, multi-byte characters included.
    #[test]
    fn split_slash_agrees_with_str_split(s in "[a/é%.]{0,12}") {
        let ours: Vec<&str> = pattern::split_slash(&s).collect();
        let std: Vec<&str> = s.split('/').collect();
        proptest::prop_assert_eq!(ours, std);
        proptest::prop_assert_eq!(pattern::slashes(&s), s.matches('/').count());
    }

    /// Every value of the plain form is taken by the fast path, with its
    /// name.
    #[test]
    fn plain_host_takes_every_plain_value(
        name in "[a-zA-Z0-9._~-]{1,10}",
        port in proptest::option::of("[0-9]{1,5}"),
    ) {
        let value = match &port {
            Some(p) => format!("{name}:{p}"),
            None => name.clone(),
        };
        proptest::prop_assert_eq!(plain_host(value.as_bytes()), Some(name.as_str()));
    }

    /// A `Host` value taken by the fast path is a valid authority whose
    /// host is what the fast path takes (the part before the colon); the
    /// rest (IPv6 literals, user info, escapes, empty ports, invalid
    /// values) go through `Authority` as before.
    #[test]
    fn plain_host_agrees_with_http(s in "[a-zA-Z0-9._~:\\[\\]@%-]{0,12}") {
        if let Some(host) = plain_host(s.as_bytes()) {
            let a = s.parse::<http::uri::Authority>();
            proptest::prop_assert!(a.is_ok(), "{} did not parse", s);
            let a = a.unwrap();
            proptest::prop_assert_eq!(a.host(), host);
        }
    }
}

#[test]
fn hosts_in_the_plain_form_and_others_route_alike() {
    let m = mux(&["example.com/", "/"]);
    // The first three take the fast path, the last through `Authority`.
    for host in [
        "example.com",
        "Example.COM:8080",
        "EXAMPLE.com:1",
        "example.com:",
    ] {
        assert_eq!(
            request(&m, "GET", "/x", host).body(),
            b"example.com/",
            "{host}"
        );
    }
    for host in ["example.org", "[::1]:80", "example.com.evil:80"] {
        assert_eq!(request(&m, "GET", "/x", host).body(), b"/", "{host}");
    }
}

/// `Pattern::match_path` as first written (the segments collected into a
/// vector), to check the lazy walk against.
fn match_path_collected(p: &Pattern, path: &str) -> Option<Vec<(String, String)>> {
    use super::pattern::{Segment, unescape};
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let mut values = Vec::new();
    for (k, seg) in p.segments.iter().enumerate() {
        match seg {
            Segment::Multi(name) => {
                if k >= segs.len() {
                    return None;
                }
                if let Some(n) = name {
                    values.push((n.clone(), unescape(&segs[k..].join("/")).into_owned()));
                }
                return Some(values);
            }
            Segment::End => {
                return (k + 1 == segs.len() && segs[k].is_empty()).then_some(values);
            }
            Segment::Lit(l) => {
                let s = segs.get(k)?;
                if s.is_empty() || unescape(s) != l.as_str() {
                    return None;
                }
            }
            Segment::Wild(n) => {
                let s = segs.get(k)?;
                if s.is_empty() {
                    return None;
                }
                values.push((n.clone(), unescape(s).into_owned()));
            }
        }
    }
    (segs.len() == p.segments.len()).then_some(values)
}

proptest::proptest! {
    /// The lazy walk matches, and extracts, exactly what the collected one
    /// does, for patterns of every segment kind and paths with empty,
    /// escaped and literal segments.
    #[test]
    fn match_path_agrees_with_collected_segments(
        pattern in proptest::sample::select(vec![
            "/", "/a", "/a/", "/{x}", "/a/{x}", "/a/{rest...}", "/{$}", "/a/{$}",
            "/a/{x}/c", "/{x}/{y}/", "/a/b/{rest...}", "/%61/{x}",
        ]),
        segs in proptest::collection::vec(
            proptest::sample::select(vec!["", "a", "b", "c", "%61", "x%2Fy", "%zz"]),
            0..6,
        )
    ) {
        let p = Pattern::parse(pattern).expect("pattern parses");
        let path = format!("/{}", segs.join("/"));
        proptest::prop_assert_eq!(p.match_path(&path), match_path_collected(&p, &path));
    }
}
