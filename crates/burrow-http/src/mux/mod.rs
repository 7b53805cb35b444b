//! [`ServeMux`]: Go 1.22's request router.
//!
//! # Serving a request
//!
//! 1. The path is cleaned (`//`, `.` and `..` removed, a trailing slash
//!    kept); CONNECT requests are routed as they are.
//! 2. The most specific pattern matching method, host and cleaned path is
//!    looked up (see *Precedence, by relationship* in `pattern.rs`).
//! 3. If that match is only a subtree pattern taking the path's parent, or
//!    nothing, while `path + "/"` is matched exactly, the client is sent
//!    there with a 301 (`/tree` → `/tree/`).
//! 4. If the path needed cleaning, the client is sent to the clean path
//!    with a 301.
//! 5. No match: 405 with `Allow` if some pattern matches the path with
//!    another method, else 404.
//! 6. Otherwise the wildcard values are stored in the request's extensions
//!    ([`RequestExt::path_value`]) and the pattern's handler runs.
//!
//! # Why a list and not Go's routing tree
//!
//! Go indexes patterns in a tree (host, then segments, then method) so that
//! a lookup costs the path's depth. Ours is a list scanned in full,
//! keeping the most specific match: O(patterns) per request, and plainly
//! the same answer, because registration rejects every pair of patterns
//! for which the answer could depend on order. A server with hundreds of
//! routes would want the tree; the seeds' mux has two.
//!
//! Patterns are registered through `&mut self` before the mux is handed to
//! a server (Go allows registration while serving, under a lock; Rust's
//! ownership makes the lock unnecessary for the usual build-then-serve).

pub(crate) mod pattern;

use std::borrow::Cow;
use std::fmt;

use http::header::{ALLOW, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};

use crate::response::error;
use crate::{Handler, Request, ResponseWriter};
use pattern::Pattern;

/// A registration the mux refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern does not parse.
    Invalid {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The pattern matches some request an existing pattern also matches,
    /// and neither is more specific.
    Conflict {
        /// The pattern being registered.
        pattern: String,
        /// The pattern already registered.
        existing: String,
        /// A request both match.
        example: String,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Invalid { pattern, reason } => {
                write!(f, "invalid pattern {pattern:?}: {reason}")
            }
            PatternError::Conflict {
                pattern,
                existing,
                example,
            } => write!(
                f,
                "pattern {pattern:?} conflicts with pattern {existing:?}: both match \
                 requests like \"{example}\", and neither is more specific"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

/// What the mux stores in a request's extensions for the handler.
#[derive(Clone, Debug, Default)]
struct PathValues {
    /// The pattern that matched (Go's `r.Pattern`).
    pattern: std::sync::Arc<str>,
    values: Vec<(String, String)>,
}

/// Access to what [`ServeMux`] matched: Go's `r.PathValue` and
/// `r.Pattern`.
pub trait RequestExt {
    /// The value of wildcard `name` in the matched pattern, unescaped.
    fn path_value(&self, name: &str) -> Option<&str>;
    /// Sets a path value (Go's `r.SetPathValue`), e.g. in tests.
    fn set_path_value(&mut self, name: &str, value: String);
    /// The pattern that matched, as it was registered.
    fn pattern(&self) -> Option<&str>;
}

impl<B> RequestExt for http::Request<B> {
    fn path_value(&self, name: &str) -> Option<&str> {
        let pv = self.extensions().get::<PathValues>()?;
        pv.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn set_path_value(&mut self, name: &str, value: String) {
        let pv = self.extensions_mut().get_or_insert_default::<PathValues>();
        match pv.values.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => pv.values.push((name.to_owned(), value)),
        }
    }

    fn pattern(&self) -> Option<&str> {
        let pv = self.extensions().get::<PathValues>()?;
        (!pv.pattern.is_empty()).then_some(&*pv.pattern)
    }
}

struct Entry {
    pattern: Pattern,
    handler: Box<dyn Handler>,
}

/// Go 1.22's `http.ServeMux`. See *Serving a request*.
#[derive(Default)]
pub struct ServeMux {
    entries: Vec<Entry>,
    /// Whether some pattern names a host: only then is a request's host
    /// worked out (most muxes route on the path alone).
    host_patterns: bool,
}

impl fmt::Debug for ServeMux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.pattern.text))
            .finish()
    }
}

/// A match: the entry and its wildcard values.
type Found<'m> = (&'m Entry, Vec<(String, String)>);

impl ServeMux {
    /// An empty mux (every request gets 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `pattern`, refusing an invalid pattern or one
    /// that conflicts with a registered pattern (the error names both).
    pub fn handle<H: Handler + 'static>(
        &mut self,
        pattern: &str,
        handler: H,
    ) -> Result<(), PatternError> {
        let p = Pattern::parse(pattern).map_err(|reason| PatternError::Invalid {
            pattern: pattern.to_owned(),
            reason,
        })?;
        if let Some(e) = self.entries.iter().find(|e| p.conflicts_with(&e.pattern)) {
            return Err(PatternError::Conflict {
                pattern: pattern.to_owned(),
                existing: e.pattern.text.to_string(),
                example: p.common_request(&e.pattern),
            });
        }
        self.host_patterns |= p.host.is_some();
        self.entries.push(Entry {
            pattern: p,
            handler: Box::new(handler),
        });
        Ok(())
    }

    /// [`handle`](Self::handle) for a closure (Go's `HandleFunc`).
    pub fn handle_func<F>(&mut self, pattern: &str, f: F) -> Result<(), PatternError>
    where
        F: Fn(&mut ResponseWriter<'_>, &mut Request<'_>) + Send + Sync + 'static,
    {
        self.handle(pattern, f)
    }

    /// [`handle`](Self::handle) that panics on error, as Go's `Handle`
    /// does: for registrations fixed in the program's text.
    #[track_caller]
    pub fn must_handle<H: Handler + 'static>(&mut self, pattern: &str, handler: H) {
        if let Err(e) = self.handle(pattern, handler) {
            panic!("{e}");
        }
    }

    /// [`handle_func`](Self::handle_func) that panics on error.
    #[track_caller]
    pub fn must_handle_func<F>(&mut self, pattern: &str, f: F)
    where
        F: Fn(&mut ResponseWriter<'_>, &mut Request<'_>) + Send + Sync + 'static,
    {
        self.must_handle(pattern, f)
    }

    /// The most specific entry matching the request (host patterns first).
    fn find(&self, host: &str, method: &Method, path: &str) -> Option<Found<'_>> {
        let mut best: Option<Found<'_>> = None;
        for e in &self.entries {
            let p = &e.pattern;
            if p.host.as_deref().is_some_and(|h| h != host) || !p.matches_method(method) {
                continue;
            }
            let Some(values) = p.match_path(path) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((cur, _)) => match (&p.host, &cur.pattern.host) {
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    _ => p.compare(&cur.pattern) == pattern::Relationship::MoreSpecific,
                },
            };
            if better {
                best = Some((e, values));
            }
        }
        best
    }

    /// The methods some pattern allows for this host and path (for `Allow`).
    fn allowed_methods(&self, host: &str, path: &str) -> Vec<String> {
        let mut methods: Vec<String> = Vec::new();
        for e in &self.entries {
            let p = &e.pattern;
            if p.host.as_deref().is_some_and(|h| h != host) || p.match_path(path).is_none() {
                continue;
            }
            if let Some(m) = &p.method {
                methods.push(m.to_string());
                if *m == Method::GET {
                    methods.push(Method::HEAD.to_string());
                }
            }
        }
        methods.sort();
        methods.dedup();
        methods
    }

    /// Routes `r` (see *Serving a request*): the handler to run, or the
    /// response the mux gives itself.
    fn route(&self, r: &Request<'_>) -> Route<'_> {
        let method = r.method();
        // With no host pattern every host compares alike: skip the work.
        let host = if self.host_patterns {
            request_host(r)
        } else {
            Cow::Borrowed("")
        };
        let raw = r.uri().path();
        if !raw.starts_with('/') {
            return Route::Status(StatusCode::BAD_REQUEST);
        }
        // Most paths are clean already: borrowed, not rebuilt.
        let path: Cow<'_, str> = if method == Method::CONNECT || is_clean_path(raw) {
            Cow::Borrowed(raw)
        } else {
            Cow::Owned(clean_path(raw))
        };
        let found = self.find(&host, method, &path);
        if !found
            .as_ref()
            .is_some_and(|(e, _)| exact_match(&e.pattern, &path))
            && !path.ends_with('/')
        {
            let with_slash = format!("{path}/");
            if let Some((e, _)) = self.find(&host, method, &with_slash) {
                if exact_match(&e.pattern, &with_slash) {
                    return Route::Redirect(with_query(with_slash, r));
                }
            }
        }
        if path != raw {
            return Route::Redirect(with_query(path.into_owned(), r));
        }
        match found {
            Some((e, values)) => Route::Handler(e, values),
            None => {
                let allowed = self.allowed_methods(&host, &path);
                if allowed.is_empty() {
                    Route::Status(StatusCode::NOT_FOUND)
                } else {
                    Route::NotAllowed(allowed.join(", "))
                }
            }
        }
    }
}

enum Route<'m> {
    Handler(&'m Entry, Vec<(String, String)>),
    Redirect(String),
    NotAllowed(String),
    Status(StatusCode),
}

impl Handler for ServeMux {
    fn serve_http(&self, w: &mut ResponseWriter<'_>, r: &mut Request<'_>) {
        match self.route(r) {
            Route::Handler(e, values) => {
                r.extensions_mut().insert(PathValues {
                    pattern: e.pattern.text.clone(),
                    values,
                });
                e.handler.serve_http(w, r);
            }
            Route::Redirect(to) => redirect(w, r, &to),
            Route::NotAllowed(allow) => {
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    w.header_mut().insert(ALLOW, v);
                }
                error(w, "Method Not Allowed", StatusCode::METHOD_NOT_ALLOWED);
            }
            Route::Status(StatusCode::NOT_FOUND) => {
                error(w, "404 page not found", StatusCode::NOT_FOUND);
            }
            Route::Status(s) => error(w, s.canonical_reason().unwrap_or(""), s),
        }
    }
}

/// The host a request is for, lower-cased, without port: from an
/// absolute-form target, else the `Host` header.
fn request_host<'r>(r: &'r Request<'_>) -> Cow<'r, str> {
    let host: Cow<'r, str> = match r.uri().host() {
        Some(h) => Cow::Borrowed(h),
        None => match r.headers().get(http::header::HOST) {
            None => Cow::Borrowed(""),
            // The common `name` or `name:port` needs no `Authority` (a
            // copy of the field) to find the name.
            Some(h) => match crate::head::plain_host(h.as_bytes()) {
                Some(name) => Cow::Borrowed(name),
                None => Cow::Owned(
                    h.to_str()
                        .ok()
                        .and_then(|h| h.parse::<http::uri::Authority>().ok())
                        .map(|a| a.host().to_owned())
                        .unwrap_or_default(),
                ),
            },
        },
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        host
    }
}

/// Whether a match of `p` on `path` is exact: anything but a subtree
/// pattern taking more than the empty rest after a trailing slash.
fn exact_match(p: &Pattern, path: &str) -> bool {
    if !matches!(p.segments.last(), Some(pattern::Segment::Multi(_))) {
        return true;
    }
    path.ends_with('/') && p.segments.len() == pattern::slashes(path)
}

fn with_query(path: String, r: &Request<'_>) -> String {
    match r.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

/// A 301 to `to`, with Go's small HTML body for GET.
fn redirect(w: &mut ResponseWriter<'_>, r: &Request<'_>, to: &str) {
    use std::io::Write;
    let Ok(location) = HeaderValue::from_str(to) else {
        error(w, "Bad Request", StatusCode::BAD_REQUEST);
        return;
    };
    w.header_mut().insert(LOCATION, location);
    let get = r.method() == Method::GET || r.method() == Method::HEAD;
    if get {
        w.header_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    w.write_header(StatusCode::MOVED_PERMANENTLY);
    if get {
        let escaped = to
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;");
        // A failed write surfaces when the server finishes the response.
        let _ = writeln!(w, "<a href=\"{escaped}\">Moved Permanently</a>.\n");
    }
}

/// Whether `p` (which starts with `/`) is what [`clean_path`] makes of it:
/// no empty segment but a trailing one, no `.` or `..` segment.
pub(crate) fn is_clean_path(p: &str) -> bool {
    let mut segs = pattern::split_slash(p).skip(1).peekable();
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        if seg == "." || seg == ".." || (seg.is_empty() && !last) {
            return false;
        }
    }
    p.starts_with('/')
}

/// Go's `cleanPath`: the canonical form of a URL path, with `//`, `.` and
/// `..` resolved and a trailing slash kept.
pub(crate) fn clean_path(p: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(p.len() + 1);
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || p.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
