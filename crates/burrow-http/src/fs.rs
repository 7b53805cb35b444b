//! [`FileServer`]: Go's `http.FileServer(http.Dir(root))`, and
//! [`StripPrefix`] to mount it below a path.
//!
//! # What a request gets
//!
//! The request path is percent-decoded, cleaned (`//`, `.` and `..`
//! resolved as Go's `path.Clean` does, never above `/`) and joined to the
//! root. Then, as Go's `serveFile`:
//!
//! - a path ending in `/index.html` is redirected to `./` (301);
//! - a directory asked for without a trailing slash is redirected to
//!   `name/`, a file asked for with one to `../name`;
//! - a directory serves its `index.html` if it has one, else a listing
//!   (`<pre>` of links, sorted by name, sub-directories with a slash);
//! - a file gets `Content-Type` from its extension (Go's built-in table,
//!   plus `.txt`), else sniffed from its first 512 bytes; `Last-Modified`;
//!   `Accept-Ranges: bytes`; and its length.
//!
//! Conditional and partial requests follow Go's `serveContent`:
//! `If-Modified-Since` (GET and HEAD) answers 304 when the file is not
//! newer, at one-second resolution; `If-Unmodified-Since` answers 412 when
//! it is; a single `Range` answers 206 with `Content-Range`, a range past
//! the end or a malformed one 416 (with `Content-Range: bytes */size` when
//! it did not overlap the file); `If-Range` with a date other than the
//! file's modification time makes the range be ignored. Several ranges are
//! answered with the whole file (200): RFC 9110 §14.2 lets a server ignore
//! `Range`, and we do not write `multipart/byteranges` (Go does).
//!
//! Errors are Go's `toHTTPError`: a missing file 404, a permission error
//! 403, anything else 500. A request path holding NUL after decoding is a
//! 400.
//!
//! # Never outside the root
//!
//! Go's `http.Dir` cleans the path (so `..` cannot climb) but follows
//! symbolic links wherever they point. Here a link is followed only when
//! its target lies inside the root: the file's canonical path (every link
//! resolved) must start with the root's canonical path, or the answer is a
//! 404, the same as for a file that does not exist, so a probe learns
//! nothing. Percent-encoded dots and slashes (`%2e%2e%2f`) are decoded
//! *before* cleaning, so they are cleaned away like literal ones.
//!
//! The check and the open are two steps: someone who can rename
//! directories inside the root between them could swap in a link. The root
//! is assumed to be written only by people trusted with what it may point
//! to. Closing that window needs `openat2(RESOLVE_BENEATH)` per component,
//! Linux-only, which we have not needed.
//!
//! # Blocking calls
//!
//! Every filesystem call (`canonicalize`, `open`, `metadata`, `read_dir`,
//! each `read` of at most 32 KiB) runs inside [`burrow_sched::blocking`],
//! so a slow disk blocks a thread, not a P: the other goroutines of the P
//! keep running, as Go's `entersyscall` arranges for its file reads.
//! Between two reads the goroutine writes the chunk to the socket, where
//! it parks on the netpoller if the client is slow.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_RANGE, IF_UNMODIFIED_SINCE, LAST_MODIFIED, LOCATION, RANGE,
};
use http::{HeaderValue, Method, StatusCode, Uri};

use crate::mux::clean_path;
use crate::mux::pattern::unescape;
use crate::{Handler, Request, ResponseWriter, date, error, sniff};

/// How much of a file one blocking read takes (and one socket write sends).
const CHUNK: usize = 32 * 1024;

/// Serves the files under a directory: Go's
/// `http.FileServer(http.Dir(root))`. See the module docs for what each
/// request gets and why it never leaves the root.
///
/// ```no_run
/// use burrow_http::{FileServer, ServeMux, Server, StripPrefix};
///
/// let mut mux = ServeMux::new();
/// mux.must_handle("/static/", StripPrefix::new("/static", FileServer::new("./public")));
/// # let _ = Server::new(mux);
/// ```
#[derive(Clone, Debug)]
pub struct FileServer {
    root: PathBuf,
}

impl FileServer {
    /// A file server for the directory `root`. The directory is looked up
    /// per request, so it may be created (or replaced) later.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FileServer { root: root.into() }
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Runs a filesystem call off the P (see *Blocking calls*).
fn off_p<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    burrow_sched::blocking(f).map_err(io::Error::from)?
}

/// Go's `toHTTPError`.
fn fs_error(w: &mut ResponseWriter<'_>, e: &io::Error) {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            error(w, "404 page not found", StatusCode::NOT_FOUND)
        }
        io::ErrorKind::PermissionDenied => error(w, "403 Forbidden", StatusCode::FORBIDDEN),
        _ => error(
            w,
            "500 Internal Server Error",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    }
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "outside the root")
}

impl FileServer {
    /// The canonical path of `clean` (a cleaned, absolute URL path) under
    /// the root, if it exists and lies inside the root.
    fn resolve(&self, clean: &str) -> io::Result<PathBuf> {
        let root = self.root.clone();
        let rel: PathBuf = clean.split('/').filter(|s| !s.is_empty()).collect();
        off_p(move || {
            let root = root.canonicalize()?;
            let target = root.join(rel).canonicalize()?;
            if target.starts_with(&root) {
                Ok(target)
            } else {
                Err(not_found())
            }
        })
    }
}

impl Handler for FileServer {
    fn serve_http(&self, w: &mut ResponseWriter<'_>, r: &mut Request<'_>) {
        let mut upath = unescape(r.uri().path()).into_owned();
        if !upath.starts_with('/') {
            upath.insert(0, '/');
        }
        if upath.contains('\0') {
            error(w, "invalid URL path", StatusCode::BAD_REQUEST);
            return;
        }
        if upath.ends_with("/index.html") {
            local_redirect(w, r, "./");
            return;
        }
        let mut clean = clean_path(&upath);
        if clean.len() > 1 && clean.ends_with('/') {
            clean.pop();
        }
        let path = match self.resolve(&clean) {
            Ok(p) => p,
            Err(e) => return fs_error(w, &e),
        };
        let opened = {
            let path = path.clone();
            off_p(move || {
                let f = File::open(&path)?;
                let m = f.metadata()?;
                Ok((f, m))
            })
        };
        let (file, meta) = match opened {
            Ok(v) => v,
            Err(e) => return fs_error(w, &e),
        };
        if meta.is_dir() && !upath.ends_with('/') {
            local_redirect(w, r, &format!("{}/", escape(base(&upath))));
            return;
        }
        if !meta.is_dir() && upath.ends_with('/') {
            local_redirect(w, r, &format!("../{}", escape(base(&upath))));
            return;
        }
        if !meta.is_dir() {
            serve_content(w, r, &path, file, &meta);
            return;
        }
        // A directory: its index.html, else a listing.
        let index = clean.trim_end_matches('/').to_owned() + "/index.html";
        if let Ok(ipath) = self.resolve(&index) {
            let opened = off_p(move || {
                let f = File::open(&ipath)?;
                let m = f.metadata()?;
                Ok((f, m, ipath))
            });
            if let Ok((f, m, ipath)) = opened {
                if m.is_file() {
                    serve_content(w, r, &ipath, f, &m);
                    return;
                }
            }
        }
        let modified = mod_secs(&meta);
        if not_modified(r, modified) {
            write_not_modified(w, modified);
            return;
        }
        set_last_modified(w, modified);
        dir_list(w, r, &path);
    }
}

/// Go's `localRedirect`: a 301 to `to` (relative), keeping the query.
fn local_redirect(w: &mut ResponseWriter<'_>, r: &Request<'_>, to: &str) {
    let to = match r.uri().query() {
        Some(q) => format!("{to}?{q}"),
        None => to.to_owned(),
    };
    match HeaderValue::from_str(&to) {
        Ok(v) => {
            w.header_mut().insert(LOCATION, v);
            w.write_header(StatusCode::MOVED_PERMANENTLY);
        }
        Err(_) => error(w, "invalid URL path", StatusCode::BAD_REQUEST),
    }
}

/// The last segment of a URL path (Go's `path.Base`, trailing slashes
/// dropped).
fn base(p: &str) -> &str {
    let p = p.trim_end_matches('/');
    p.rsplit('/').next().unwrap_or("")
}

/// Percent-encodes everything in a path but unreserved bytes and `/`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Modification time in Unix seconds; None when unknown or at the epoch
/// (Go sends no `Last-Modified` for a zero time).
fn mod_secs(meta: &Metadata) -> Option<u64> {
    let secs = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs();
    (secs > 0).then_some(secs)
}

fn set_last_modified(w: &mut ResponseWriter<'_>, modified: Option<u64>) {
    if let Some(secs) = modified {
        if let Ok(v) = HeaderValue::from_str(&date::imf_fixdate(secs)) {
            w.header_mut().insert(LAST_MODIFIED, v);
        }
    }
}

fn header_date(r: &Request<'_>, name: http::header::HeaderName) -> Option<u64> {
    date::parse_imf_fixdate(r.headers().get(name)?.to_str().ok()?)
}

/// Go's `checkIfModifiedSince` answering "not modified".
fn not_modified(r: &Request<'_>, modified: Option<u64>) -> bool {
    if r.method() != Method::GET && r.method() != Method::HEAD {
        return false;
    }
    if r.headers().contains_key(IF_NONE_MATCH) {
        return false;
    }
    match (modified, header_date(r, IF_MODIFIED_SINCE)) {
        (Some(m), Some(since)) => m <= since,
        _ => false,
    }
}

/// Go's `writeNotModified`.
fn write_not_modified(w: &mut ResponseWriter<'_>, modified: Option<u64>) {
    set_last_modified(w, modified);
    let h = w.header_mut();
    h.remove(CONTENT_TYPE);
    h.remove(CONTENT_LENGTH);
    w.write_header(StatusCode::NOT_MODIFIED);
}

/// Go's `dirList`.
fn dir_list(w: &mut ResponseWriter<'_>, r: &Request<'_>, dir: &Path) {
    let dir = dir.to_owned();
    let names = off_p(move || {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let mut name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() {
                name.push('/');
            }
            names.push(name);
        }
        names.sort();
        Ok(names)
    });
    let names = match names {
        Ok(n) => n,
        Err(_) => {
            error(
                w,
                "Error reading directory",
                StatusCode::INTERNAL_SERVER_ERROR,
            );
            return;
        }
    };
    w.header_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if r.method() == Method::HEAD {
        return;
    }
    let mut page = String::from(
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for name in &names {
        page.push_str(&format!(
            "<a href=\"{}\">{}</a>\n",
            html_escape(&escape(name)),
            html_escape(name)
        ));
    }
    page.push_str("</pre>\n");
    // A failed write surfaces when the server finishes the response.
    let _ = w.write_all(page.as_bytes());
}

/// Go's built-in `mime` table (`mime.builtinTypesLower`), plus `.txt`,
/// which Go finds in the system's `mime.types`.
fn type_by_extension(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "avif" => "image/avif",
        "css" => "text/css; charset=utf-8",
        "gif" => "image/gif",
        "htm" | "html" => "text/html; charset=utf-8",
        "jpeg" | "jpg" => "image/jpeg",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        "webp" => "image/webp",
        "xml" => "text/xml; charset=utf-8",
        _ => return None,
    })
}

/// A `Range` header's verdict for a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Ranges {
    /// Serve the whole file (no header, or several ranges).
    Whole,
    /// Serve bytes `start..start + len`.
    One { start: u64, len: u64 },
    /// 416; `no_overlap`: the ranges were well-formed but all past the end.
    Unsatisfiable { no_overlap: bool },
}

/// Go's `parseRange`, keeping only what a single-range answer needs.
fn parse_range(s: &str, size: u64) -> Ranges {
    let Some(spec) = s.strip_prefix("bytes=") else {
        return Ranges::Unsatisfiable { no_overlap: false };
    };
    let mut found = Vec::new();
    let mut any = false;
    for part in spec.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        any = true;
        let Some((a, b)) = part.split_once('-') else {
            return Ranges::Unsatisfiable { no_overlap: false };
        };
        let (a, b) = (a.trim(), b.trim());
        let num = |t: &str| -> Option<u64> {
            (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
        };
        if a.is_empty() {
            // A suffix: the last `n` bytes.
            let Some(n) = num(b) else {
                return Ranges::Unsatisfiable { no_overlap: false };
            };
            if n == 0 || size == 0 {
                continue;
            }
            let n = n.min(size);
            found.push((size - n, n));
        } else {
            let Some(start) = num(a) else {
                return Ranges::Unsatisfiable { no_overlap: false };
            };
            if start >= size {
                // Past the end: skipped; all skipped is "no overlap".
                continue;
            }
            let end = if b.is_empty() {
                size - 1
            } else {
                match num(b) {
                    Some(e) if e >= start => e.min(size - 1),
                    _ => return Ranges::Unsatisfiable { no_overlap: false },
                }
            };
            found.push((start, end - start + 1));
        }
    }
    match found.as_slice() {
        [] if any => Ranges::Unsatisfiable { no_overlap: true },
        // `bytes=` with no range at all: Go serves the whole file.
        [] => Ranges::Whole,
        [(start, len)] => Ranges::One {
            start: *start,
            len: *len,
        },
        _ => Ranges::Whole,
    }
}

/// Go's `serveContent` for an open regular file.
fn serve_content(
    w: &mut ResponseWriter<'_>,
    r: &Request<'_>,
    path: &Path,
    mut file: File,
    meta: &Metadata,
) {
    let size = meta.len();
    let modified = mod_secs(meta);
    set_last_modified(w, modified);
    // Go's checkPreconditions: If-Unmodified-Since, then If-Modified-Since.
    if let (Some(m), Some(since)) = (modified, header_date(r, IF_UNMODIFIED_SINCE)) {
        if m > since {
            w.write_header(StatusCode::PRECONDITION_FAILED);
            return;
        }
    }
    if not_modified(r, modified) {
        write_not_modified(w, modified);
        return;
    }
    if !w.header().contains_key(CONTENT_TYPE) {
        let ctype = match type_by_extension(path) {
            Some(t) => t,
            None => {
                let sniffed = off_p(|| {
                    let mut head = Vec::with_capacity(512);
                    (&mut file).take(512).read_to_end(&mut head)?;
                    file.seek(SeekFrom::Start(0))?;
                    Ok(sniff::content_type(&head))
                });
                match sniffed {
                    Ok(t) => t,
                    Err(e) => return fs_error(w, &e),
                }
            }
        };
        w.header_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    }
    let mut range = r
        .headers()
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // If-Range: only a date equal to the file's time keeps the range.
    if let Some(v) = r.headers().get(IF_RANGE) {
        let same = v
            .to_str()
            .ok()
            .and_then(date::parse_imf_fixdate)
            .is_some_and(|d| Some(d) == modified);
        if !same {
            range = None;
        }
    }
    w.header_mut()
        .insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let (start, len) = match range.map(|s| parse_range(&s, size)) {
        None | Some(Ranges::Whole) => (0, size),
        Some(Ranges::One { start, len }) => {
            let v = format!("bytes {}-{}/{size}", start, start + len - 1);
            if let Ok(v) = HeaderValue::from_str(&v) {
                w.header_mut().insert(CONTENT_RANGE, v);
            }
            w.header_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
            w.write_header(StatusCode::PARTIAL_CONTENT);
            (start, len)
        }
        Some(Ranges::Unsatisfiable { no_overlap }) => {
            if no_overlap {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    w.header_mut().insert(CONTENT_RANGE, v);
                }
            }
            error(w, "invalid range", StatusCode::RANGE_NOT_SATISFIABLE);
            return;
        }
    };
    w.header_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    if r.method() == Method::HEAD || len == 0 {
        return;
    }
    copy_range(w, file, start, len);
}

/// Sends `len` bytes of `file` from `start`, one blocking read per chunk.
/// A file that shrank meanwhile leaves the response short, and the server
/// closes the connection (the client sees the cut).
fn copy_range(w: &mut ResponseWriter<'_>, mut file: File, start: u64, len: u64) {
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    if start > 0 {
        let sought = off_p(|| file.seek(SeekFrom::Start(start)));
        if sought.is_err() {
            return;
        }
    }
    while left > 0 {
        let want = left.min(CHUNK as u64) as usize;
        let n = match off_p(|| file.read(&mut buf[..want])) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if w.write_all(&buf[..n]).is_err() {
            return;
        }
        left -= n as u64;
    }
}

/// Go's `http.StripPrefix`: serves requests whose path starts with
/// `prefix` by `handler`, with the prefix removed from the path (and the
/// query kept); any other request gets a 404.
#[derive(Clone, Debug)]
pub struct StripPrefix<H> {
    prefix: String,
    handler: H,
}

impl<H: Handler> StripPrefix<H> {
    /// Wraps `handler`; `prefix` is matched against the raw (still
    /// percent-encoded) path, as Go matches `RawPath`.
    pub fn new(prefix: impl Into<String>, handler: H) -> Self {
        StripPrefix {
            prefix: prefix.into(),
            handler,
        }
    }
}

impl<H: Handler> Handler for StripPrefix<H> {
    fn serve_http(&self, w: &mut ResponseWriter<'_>, r: &mut Request<'_>) {
        let Some(rest) = r.uri().path().strip_prefix(self.prefix.as_str()) else {
            error(w, "404 page not found", StatusCode::NOT_FOUND);
            return;
        };
        let rest = if rest.starts_with('/') {
            rest.to_owned()
        } else {
            format!("/{rest}")
        };
        let target = match r.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        match target.parse::<Uri>() {
            Ok(uri) => *r.uri_mut() = uri,
            Err(_) => {
                error(w, "404 page not found", StatusCode::NOT_FOUND);
                return;
            }
        }
        self.handler.serve_http(w, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Ranges::*;
        assert_eq!(parse_range("bytes=0-4", 10), One { start: 0, len: 5 });
        assert_eq!(parse_range("bytes=5-", 10), One { start: 5, len: 5 });
        assert_eq!(parse_range("bytes=-3", 10), One { start: 7, len: 3 });
        assert_eq!(parse_range("bytes=-30", 10), One { start: 0, len: 10 });
        assert_eq!(parse_range("bytes=8-100", 10), One { start: 8, len: 2 });
        assert_eq!(parse_range("bytes=0-0,5-6", 10), Whole);
        assert_eq!(
            parse_range("bytes=10-", 10),
            Unsatisfiable { no_overlap: true }
        );
        assert_eq!(
            parse_range("bytes=-0", 10),
            Unsatisfiable { no_overlap: true }
        );
        assert_eq!(parse_range("bytes=", 10), Whole);
        for bad in [
            "bytes=5-2",
            "bytes=a-b",
            "items=0-1",
            "bytes=0",
            "bytes=--1",
        ] {
            assert_eq!(
                parse_range(bad, 10),
                Unsatisfiable { no_overlap: false },
                "{bad}"
            );
        }
    }

    #[test]
    fn base_and_escape() {
        assert_eq!(base("/a/b"), "b");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(escape("a b/ü?#"), "a%20b/%C3%BC%3F%23");
        assert_eq!(html_escape("<a&'\">"), "&lt;a&amp;&#39;&#34;&gt;");
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(
            type_by_extension(Path::new("x/INDEX.HTML")),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(type_by_extension(Path::new("a.png")), Some("image/png"));
        assert_eq!(type_by_extension(Path::new("a.unknown")), None);
        assert_eq!(type_by_extension(Path::new("noext")), None);
    }
}
