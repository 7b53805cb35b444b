//! The URLs the client accepts (`http://host[:port]/path?query`), and the
//! resolution of a redirect's `Location` against the URL it answers
//! (RFC 3986 §5.2, Go's `URL.ResolveReference`).

use std::io;

use http::Uri;

/// An `http://` URL taken apart for dialling and for the request line.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The whole URL, absolute, without a fragment.
    pub(crate) uri: Uri,
    /// The host to resolve and dial: a name or an IP literal, without the
    /// brackets of an IPv6 literal.
    pub(crate) host: String,
    /// The port to dial: the URL's, or 80.
    pub(crate) port: u16,
    /// The `Host` field: the URL's authority as written (Go's `URL.Host`).
    pub(crate) authority: String,
    /// The request target in origin form: path (at least `/`) and query.
    pub(crate) path_and_query: String,
}

impl Target {
    /// Checks and takes apart an absolute URL. `https` is refused with
    /// `Unsupported` (no TLS here); any other scheme, a missing host, or
    /// user information with `InvalidInput`.
    pub(crate) fn parse(uri: &Uri) -> io::Result<Target> {
        match uri.scheme_str() {
            Some("http") => {}
            Some(s) if s.eq_ignore_ascii_case("https") => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("{uri}: https needs TLS, which burrow-http does not implement"),
                ));
            }
            Some(s) if s.eq_ignore_ascii_case("http") => {}
            Some(s) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{uri}: unsupported protocol scheme {s:?} (only http)"),
                ));
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{uri}: not an absolute URL (want http://host[:port]/path)"),
                ));
            }
        }
        let authority = uri.authority().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{uri}: no host"))
        })?;
        if authority.as_str().contains('@') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{uri}: user information in URLs is not supported"),
            ));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{uri}: no host"),
            ));
        }
        let path_and_query = match uri.path_and_query() {
            Some(pq) if pq.as_str().starts_with('/') => pq.as_str().to_owned(),
            Some(pq) => format!("/{}", pq.as_str()),
            None => "/".to_owned(),
        };
        Ok(Target {
            uri: uri.clone(),
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_owned(),
            path_and_query,
        })
    }

    /// Parses `url` (a fragment, if any, is dropped: it is never sent).
    pub(crate) fn parse_str(url: &str) -> io::Result<Target> {
        let url = url.split('#').next().unwrap_or("");
        let uri: Uri = url.parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{url:?}: bad URL: {e}"),
            )
        })?;
        Target::parse(&uri)
    }

    /// The connection pool's key: scheme, host and port (Go's
    /// `connectMethodKey` without proxies).
    pub(crate) fn pool_key(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Resolves a `Location` value against this URL (RFC 3986 §5.2): an
    /// absolute URL, `//host/path`, `/path`, `?query`, or a path relative
    /// to this URL's directory, with `.` and `..` segments removed.
    pub(crate) fn resolve(&self, location: &str) -> io::Result<Target> {
        let location = location.split('#').next().unwrap_or("");
        let bad = |e: &dyn std::fmt::Display| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("redirect to a bad Location {location:?}: {e}"),
            )
        };
        let origin = format!("http://{}", self.authority);
        let absolute = if has_scheme(location) {
            location.to_owned()
        } else if location.starts_with("//") {
            format!("http:{location}")
        } else if location.is_empty() {
            self.uri.to_string()
        } else if let Some(query) = location.strip_prefix('?') {
            let path = self.path_and_query.split('?').next().unwrap_or("/");
            format!("{origin}{path}?{query}")
        } else {
            let (path, query) = match location.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (location, None),
            };
            let merged = if path.starts_with('/') {
                path.to_owned()
            } else {
                let base = self.path_and_query.split('?').next().unwrap_or("/");
                let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
                format!("{dir}{path}")
            };
            let path = remove_dot_segments(&merged);
            match query {
                Some(q) => format!("{origin}{path}?{q}"),
                None => format!("{origin}{path}"),
            }
        };
        let uri: Uri = absolute.parse().map_err(|e| bad(&e))?;
        Target::parse(&uri)
    }
}

/// Whether a reference starts with a scheme (`ALPHA *( ALPHA / DIGIT /
/// "+" / "-" / "." ) ":"`), which makes it absolute.
fn has_scheme(r: &str) -> bool {
    let Some((scheme, _)) = r.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// RFC 3986 §5.2.4 on an absolute path: `.` segments go, `..` removes the
/// segment before it (never climbing above the root), and a path ending in
/// either keeps its trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                continue;
            }
        }
        if last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(base: &str, loc: &str) -> String {
        Target::parse_str(base)
            .unwrap()
            .resolve(loc)
            .unwrap()
            .uri
            .to_string()
    }

    #[test]
    fn references_resolve_as_rfc_3986_says() {
        let base = "http://a:8080/b/c/d;p?q";
        assert_eq!(resolve(base, "g"), "http://a:8080/b/c/g");
        assert_eq!(resolve(base, "./g"), "http://a:8080/b/c/g");
        assert_eq!(resolve(base, "g/"), "http://a:8080/b/c/g/");
        assert_eq!(resolve(base, "/g"), "http://a:8080/g");
        assert_eq!(resolve(base, "//h/g"), "http://h/g");
        assert_eq!(resolve(base, "?y"), "http://a:8080/b/c/d;p?y");
        assert_eq!(resolve(base, "g?y"), "http://a:8080/b/c/g?y");
        assert_eq!(resolve(base, "g#s"), "http://a:8080/b/c/g");
        assert_eq!(resolve(base, "."), "http://a:8080/b/c/");
        assert_eq!(resolve(base, ".."), "http://a:8080/b/");
        assert_eq!(resolve(base, "../g"), "http://a:8080/b/g");
        assert_eq!(resolve(base, "../../../g"), "http://a:8080/g");
        assert_eq!(resolve(base, "http://x/y"), "http://x/y");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        let e = Target::parse_str("https://example.com/").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("TLS"), "{e}");
        let e = Target::parse_str("ftp://example.com/").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = Target::parse_str("/relative").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let t = Target::parse_str("http://[::1]:81").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("::1", 81, "/")
        );
        assert_eq!(t.authority, "[::1]:81");
    }
}
