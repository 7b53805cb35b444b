//! Go 1.22 routing patterns: parsing, matching one request, and the
//! *relationship* between two patterns that decides both precedence and
//! conflicts.
//!
//! # Syntax
//!
//! `[METHOD ][HOST]/[PATH]`, where each path segment is a literal, `{name}`
//! (one non-empty segment), `{name...}` (the rest of the path, last only) or
//! `{$}` (the end of a path that ends in `/`, last only). A path ending in
//! `/` without `{$}` matches everything below it (an anonymous `{...}`).
//!
//! # Precedence, by relationship
//!
//! Two patterns are compared on the sets of requests they match: one is
//! *more specific* than the other when it matches a strict subset;
//! *equivalent* when the sets are equal; *overlapping* when they share some
//! requests but neither contains the other; *disjoint* otherwise. Go
//! computes this segment by segment and method by method, without
//! enumerating requests, and so do we ([`Pattern::compare`]). A request is
//! served by the most specific matching pattern, a host pattern winning over
//! any pattern without host. Registering a pattern that is equivalent to or
//! overlaps an existing one (same host) is a conflict: no request could say
//! which should win.

use std::fmt;

use http::Method;

/// A piece of a pattern's path. See *Syntax*.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    /// A literal segment (unescaped).
    Lit(String),
    /// `{name}`: one non-empty segment.
    Wild(String),
    /// `{name...}` (`Some`) or a trailing `/` (`None`): the rest of the path.
    Multi(Option<String>),
    /// `{$}`: the empty segment after a trailing `/`, and nothing more.
    End,
}

/// A parsed pattern.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    /// The text it was registered with (shared: every request it matches
    /// carries it as its `pattern`, a reference-count bump, not a copy).
    pub(crate) text: std::sync::Arc<str>,
    /// `None` matches every method.
    pub(crate) method: Option<Method>,
    /// Lower-cased; `None` matches every host.
    pub(crate) host: Option<String>,
    pub(crate) segments: Vec<Segment>,
}

/// How the requests two patterns match relate. See *Precedence*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relationship {
    Equivalent,
    MoreGeneral,
    MoreSpecific,
    Overlaps,
    Disjoint,
}

use Relationship::*;

impl Relationship {
    fn inverse(self) -> Relationship {
        match self {
            MoreGeneral => MoreSpecific,
            MoreSpecific => MoreGeneral,
            r => r,
        }
    }

    /// The relationship of two patterns whose parts relate as `self` and
    /// then `next` (the same method and path rule Go applies).
    fn then(self, next: Relationship) -> Relationship {
        match self {
            Equivalent => next,
            Disjoint => Disjoint,
            Overlaps if next == Disjoint => Disjoint,
            Overlaps => Overlaps,
            MoreGeneral | MoreSpecific => match next {
                Equivalent => self,
                n if n == self.inverse() => Overlaps,
                n => n,
            },
        }
    }
}

/// `s.split('/')`, by a plain byte scan. The mux splits every request's
/// path once for each pattern it tries, and paths are short: the general
/// `char` searcher's setup (it looks for the whole UTF-8 encoding with
/// `memchr`) cost more than the scan itself.
pub(crate) fn split_slash(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == b'/') {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// The number of `/` in `s` (`s.matches('/').count()`, by a byte scan).
pub(crate) fn slashes(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'/').count()
}

/// Percent-decodes `s`; invalid escapes are kept as written (Go's
/// `pathUnescape` falls back the same way).
pub(crate) fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.as_bytes().contains(&b'%') {
        return std::borrow::Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| s.to_owned()))
}

/// A valid wildcard name: a Go identifier.
fn valid_wildcard_name(name: &str) -> bool {
    name.chars()
        .enumerate()
        .all(|(i, c)| c.is_alphabetic() || c == '_' || (i > 0 && c.is_numeric()))
        && !name.is_empty()
}

impl Pattern {
    /// Parses `text`; the error says what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() {
            return Err("empty pattern".into());
        }
        let (method, rest) = match text.split_once([' ', '\t']) {
            Some((m, rest)) => {
                let m = Method::from_bytes(m.as_bytes())
                    .map_err(|_| format!("invalid method {m:?}"))?;
                (Some(m), rest.trim_start_matches([' ', '\t']))
            }
            None => (None, text),
        };
        let slash = rest.find('/').ok_or("host/path missing /")?;
        let (host, path) = rest.split_at(slash);
        if host.contains('{') {
            return Err("host contains '{' (missing initial '/'?)".into());
        }
        if method.as_ref() != Some(&Method::CONNECT) && super::clean_path(path) != path {
            return Err("unclean path can never match (paths are cleaned before matching)".into());
        }
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut rest = path;
        while let Some(after) = rest.strip_prefix('/') {
            if after.is_empty() {
                segments.push(Segment::Multi(None));
                break;
            }
            let end = after.find('/').unwrap_or(after.len());
            let (seg, tail) = after.split_at(end);
            rest = tail;
            let Some(inner) = seg.strip_prefix('{') else {
                if seg.contains('{') {
                    return Err("bad wildcard segment (must start with '{')".into());
                }
                segments.push(Segment::Lit(unescape(seg).into_owned()));
                continue;
            };
            let name = inner
                .strip_suffix('}')
                .ok_or("bad wildcard segment (must end with '}')")?;
            if name == "$" {
                if !rest.is_empty() {
                    return Err("{$} not at end".into());
                }
                segments.push(Segment::End);
                break;
            }
            let (name, multi) = match name.strip_suffix("...") {
                Some(n) => (n, true),
                None => (name, false),
            };
            if multi && !rest.is_empty() {
                return Err("{...} wildcard not at end".into());
            }
            if !valid_wildcard_name(name) {
                return Err(format!("bad wildcard name {name:?}"));
            }
            if names.contains(&name) {
                return Err(format!("duplicate wildcard name {name:?}"));
            }
            names.push(name);
            segments.push(if multi {
                Segment::Multi(Some(name.to_owned()))
            } else {
                Segment::Wild(name.to_owned())
            });
        }
        Ok(Pattern {
            text: text.into(),
            method,
            host: (!host.is_empty()).then(|| host.to_ascii_lowercase()),
            segments,
        })
    }

    /// Whether the pattern accepts `method` (a `GET` pattern accepts HEAD).
    pub(crate) fn matches_method(&self, method: &Method) -> bool {
        match &self.method {
            None => true,
            Some(m) => m == method || (*m == Method::GET && *method == Method::HEAD),
        }
    }

    /// Matches an escaped, cleaned `path` (starting with `/`); on success,
    /// the wildcard values in pattern order. The path is split at `/`
    /// before unescaping, so `%2F` stays inside its segment.
    pub(crate) fn match_path(&self, path: &str) -> Option<Vec<(String, String)>> {
        // "/a/b" -> ["a", "b"]; "/a/" -> ["a", ""]; "/" -> [""]. Counted in
        // one pass and matched in a second, without collecting the
        // segments into a vector: the mux tries every pattern on every
        // request. `off` is where segment `k` starts.
        let rest = path.strip_prefix('/')?;
        let n = slashes(rest) + 1;
        let mut segs = split_slash(rest);
        let mut off = 0;
        let mut values = Vec::new();
        for (k, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Multi(name) => {
                    if k >= n {
                        return None;
                    }
                    if let Some(name) = name {
                        values.push((name.clone(), unescape(&rest[off..]).into_owned()));
                    }
                    return Some(values);
                }
                Segment::End => {
                    return (k + 1 == n && segs.next() == Some("")).then_some(values);
                }
                Segment::Lit(l) => {
                    let s = segs.next()?;
                    if s.is_empty() || unescape(s) != l.as_str() {
                        return None;
                    }
                    off += s.len() + 1;
                }
                Segment::Wild(name) => {
                    let s = segs.next()?;
                    if s.is_empty() {
                        return None;
                    }
                    values.push((name.clone(), unescape(s).into_owned()));
                    off += s.len() + 1;
                }
            }
        }
        (n == self.segments.len()).then_some(values)
    }

    /// How this pattern's methods relate to `other`'s.
    fn compare_methods(&self, other: &Pattern) -> Relationship {
        match (&self.method, &other.method) {
            (a, b) if a == b => Equivalent,
            (None, _) => MoreGeneral,
            (_, None) => MoreSpecific,
            (Some(a), Some(b)) if *a == Method::GET && *b == Method::HEAD => MoreGeneral,
            (Some(a), Some(b)) if *a == Method::HEAD && *b == Method::GET => MoreSpecific,
            _ => Disjoint,
        }
    }

    /// How this pattern's paths relate to `other`'s, segment by segment.
    fn compare_paths(&self, other: &Pattern) -> Relationship {
        let (s1, s2) = (&self.segments, &other.segments);
        let multi = |s: &[Segment]| matches!(s.last(), Some(Segment::Multi(_)));
        if s1.len() != s2.len() && !multi(s1) && !multi(s2) {
            return Disjoint;
        }
        let mut rel = Equivalent;
        for (a, b) in s1.iter().zip(s2) {
            rel = rel.then(compare_segments(a, b));
            if rel == Disjoint {
                return rel;
            }
        }
        match s1.len().cmp(&s2.len()) {
            std::cmp::Ordering::Equal => rel,
            // The shorter one ends in a multi, which takes the rest.
            std::cmp::Ordering::Less if multi(s1) => rel.then(MoreGeneral),
            std::cmp::Ordering::Greater if multi(s2) => rel.then(MoreSpecific),
            _ => Disjoint,
        }
    }

    /// The relationship of the requests `self` and `other` match, hosts
    /// aside (see *Precedence*).
    pub(crate) fn compare(&self, other: &Pattern) -> Relationship {
        let m = self.compare_methods(other);
        if m == Disjoint {
            return Disjoint;
        }
        m.then(self.compare_paths(other))
    }

    /// Whether `self` and `other` cannot both be registered.
    pub(crate) fn conflicts_with(&self, other: &Pattern) -> bool {
        self.host == other.host && matches!(self.compare(other), Equivalent | Overlaps)
    }

    /// A request both patterns match, for the conflict message.
    pub(crate) fn common_request(&self, other: &Pattern) -> String {
        let method = match (&self.method, &other.method) {
            (Some(a), Some(b)) if *a == Method::HEAD || *b == Method::HEAD => "HEAD ".to_owned(),
            (Some(a), _) | (None, Some(a)) => format!("{a} "),
            (None, None) => String::new(),
        };
        let mut path = String::new();
        let (mut i, mut j) = (0, 0);
        let (s1, s2) = (&self.segments, &other.segments);
        loop {
            use Segment::{End, Multi};
            let piece = match (s1.get(i), s2.get(j)) {
                (None, None) => break,
                // Both end in "the rest" or at a trailing slash: the
                // trailing slash is a request both match.
                (Some(Multi(_)) | None, Some(Multi(_)) | None)
                | (Some(End), _)
                | (_, Some(End)) => {
                    path.push('/');
                    break;
                }
                (Some(Multi(_)), Some(s)) => {
                    j += 1;
                    example_piece(s, None)
                }
                (Some(s), Some(Multi(_))) => {
                    i += 1;
                    example_piece(s, None)
                }
                (Some(x), Some(y)) => {
                    i += 1;
                    j += 1;
                    example_piece(x, Some(y))
                }
                // One ran out where the other needs more: not overlapping.
                _ => break,
            };
            path.push('/');
            path.push_str(&piece);
        }
        if path.is_empty() {
            path.push('/');
        }
        format!("{method}{path}")
    }
}

/// A path segment both `a` and (if given) `b` match.
fn example_piece(a: &Segment, b: Option<&Segment>) -> String {
    match (a, b) {
        (Segment::Lit(l), _) | (_, Some(Segment::Lit(l))) => l.clone(),
        _ => "x".to_owned(),
    }
}

/// How one segment's matches relate to another's (Go's `compareSegments`).
fn compare_segments(a: &Segment, b: &Segment) -> Relationship {
    match (a, b) {
        (Segment::Multi(_), Segment::Multi(_)) => Equivalent,
        (Segment::Multi(_), _) => MoreGeneral,
        (_, Segment::Multi(_)) => MoreSpecific,
        (Segment::Wild(_), Segment::Wild(_)) => Equivalent,
        // A single wildcard never matches the empty end segment.
        (Segment::Wild(_), Segment::End) | (Segment::End, Segment::Wild(_)) => Disjoint,
        (Segment::Wild(_), _) => MoreGeneral,
        (_, Segment::Wild(_)) => MoreSpecific,
        (x, y) if x == y => Equivalent,
        _ => Disjoint,
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
