//! A small subset of Go's `DetectContentType` (the WHATWG MIME sniffing
//! algorithm): the `Content-Type` a response gets when the handler set none
//! and wrote a body. It knows HTML, XML, PDF, PNG, GIF and JPEG by their
//! first bytes, and otherwise says UTF-8 text unless the first 512 bytes
//! hold a byte that never appears in text.

/// How much of the body is looked at (Go's `sniffLen`).
const SNIFF_LEN: usize = 512;

/// HTML tags that open a document, matched case-insensitively and followed
/// by a space or `>` (the WHATWG list, shortened).
const HTML_TAGS: &[&[u8]] = &[
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
];

/// Magic prefixes of binary formats.
const MAGIC: &[(&[u8], &str)] = &[
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xff\xd8\xff", "image/jpeg"),
];

/// The content type of a body that starts with `data`.
pub(crate) fn content_type(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(SNIFF_LEN)];
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .unwrap_or(data.len());
    let text = &data[start..];
    // Every markup signature starts with `<`: most bodies skip the list.
    if text.first() == Some(&b'<') {
        for tag in HTML_TAGS {
            if text.len() > tag.len()
                && text[..tag.len()].eq_ignore_ascii_case(tag)
                && matches!(text[tag.len()], b' ' | b'>')
            {
                return "text/html; charset=utf-8";
            }
        }
        if text.starts_with(b"<?xml") {
            return "text/xml; charset=utf-8";
        }
    }
    if let Some((_, ct)) = MAGIC.iter().find(|(magic, _)| data.starts_with(magic)) {
        return ct;
    }
    let binary = |b: &u8| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f);
    if data.iter().any(binary) {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn sniffs_the_common_cases() {
        assert_eq!(content_type(b"hello world\n"), "text/plain; charset=utf-8");
        assert_eq!(
            content_type(b"  <!DOCTYPE HTML><p>x"),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(b"<p>hi</p>"), "text/html; charset=utf-8");
        assert_eq!(content_type(b"<pre>"), "text/plain; charset=utf-8");
        assert_eq!(content_type(b"<?xml version"), "text/xml; charset=utf-8");
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(content_type(b"\x00\x01\x02"), "application/octet-stream");
        assert_eq!(
            content_type("héllo".as_bytes()),
            "text/plain; charset=utf-8"
        );
    }
}
