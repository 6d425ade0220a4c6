//! multipart/mixed bodies (RFC 2046 5.1), e.g. SDP + PIDF-LO on an
//! emergency INVITE (RFC 6442).
//!
//! Contract: [`parts`] borrows the body and yields each part's headers and
//! content, never allocating; a missing boundary, a missing close
//! delimiter or a part without its blank line is an error naming the
//! fault. [`build`] writes a multipart body back from parts.

use super::error::ErrorKind;

/// One body part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    /// The part's header block (MIME headers), as written.
    pub headers: &'a [u8],
    pub body: &'a [u8],
}

impl<'a> Part<'a> {
    /// A MIME header of the part, by name (case-insensitive), trimmed. A
    /// header folded over several lines (continuation lines start with SP
    /// or HTAB, RFC 5322 2.2.3) is returned whole, its folds kept as in a
    /// SIP header value (`scan::unfold` joins them).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        let text = std::str::from_utf8(self.headers).ok()?;
        let b = text.as_bytes();
        let mut pos = 0;
        while pos < b.len() {
            // The logical line: up to an LF not followed by SP/HTAB.
            let mut end = pos;
            let next = loop {
                match memchr::memchr(b'\n', &b[end..]) {
                    Some(lf) if matches!(b.get(end + lf + 1), Some(b' ' | b'\t')) => end += lf + 1,
                    Some(lf) => break end + lf + 1,
                    None => break b.len(),
                }
            };
            let line = &text[pos..next];
            if !line.starts_with([' ', '\t']) {
                if let Some((n, v)) = line.split_once(':') {
                    if n.trim().eq_ignore_ascii_case(name) {
                        return Some(super::params::trim_str(v));
                    }
                }
            }
            pos = next;
        }
        None
    }

    /// The part's Content-Type (`text/plain` when absent, RFC 2046).
    pub fn content_type(&self) -> &'a str {
        self.header("Content-Type").unwrap_or("text/plain")
    }
}

/// Split a multipart body on `boundary`.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, ErrorKind> {
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(ErrorKind::Multipart("missing or overlong boundary"));
    }
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary.as_bytes());
    let finder = memchr::memmem::Finder::new(&delim);
    // Delimiters must start a line (or the body).
    let mut positions = finder.find_iter(body).filter(|&p| p == 0 || body[p - 1] == b'\n');
    let mut cur = positions.next().ok_or(ErrorKind::Multipart("no boundary delimiter"))?;
    let mut out = Vec::new();
    loop {
        let after = cur + delim.len();
        if body[after..].starts_with(b"--") {
            return Ok(out);
        }
        let line_end =
            memchr::memchr(b'\n', &body[after..]).ok_or(ErrorKind::Multipart("unterminated delimiter line"))?;
        let start = after + line_end + 1;
        let next = positions.next().ok_or(ErrorKind::Multipart("no close delimiter"))?;
        // The CRLF before a delimiter belongs to the delimiter.
        let mut end = next;
        if end > start && body[end - 1] == b'\n' {
            end -= 1;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        let content = &body[start..end.max(start)];
        let (headers, part_body) = if content.starts_with(b"\r\n") {
            (&content[..0], &content[2..])
        } else if content.starts_with(b"\n") {
            (&content[..0], &content[1..])
        } else {
            match memchr::memmem::find(content, b"\r\n\r\n") {
                Some(i) => (&content[..i], &content[i + 4..]),
                None => match memchr::memmem::find(content, b"\n\n") {
                    Some(i) => (&content[..i], &content[i + 2..]),
                    None => return Err(ErrorKind::Multipart("part without a blank line after its headers")),
                },
            }
        };
        out.push(Part { headers, body: part_body });
        if out.len() > 64 {
            return Err(ErrorKind::Multipart("more than 64 parts"));
        }
        cur = next;
    }
}

/// A part to write: its Content-Type, extra MIME header lines, and content.
#[derive(Debug, Clone, Copy)]
pub struct NewPart<'a> {
    pub content_type: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Write a multipart body from parts, closed by the final delimiter.
pub fn build(boundary: &str, parts: &[NewPart<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for NewPart { content_type: ct, headers: extra, body } in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in extra.iter() {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_and_pidf_round_trip() {
        let sdp: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
        let pidf: &[u8] = b"<?xml version=\"1.0\"?>\r\n<presence/>";
        let body = build(
            "b1",
            &[
                NewPart { content_type: "application/sdp", headers: &[], body: sdp },
                NewPart { content_type: "application/pidf+xml", headers: &[("Content-ID", "<loc@x>")], body: pidf },
            ],
        );
        let p = parts(&body, "b1").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].content_type(), "application/sdp");
        assert_eq!(p[0].body, sdp);
        assert_eq!(p[1].header("content-id"), Some("<loc@x>"));
        assert_eq!(p[1].body, pidf);
    }

    #[test]
    fn folded_part_headers() {
        let body = b"--b\r\nContent-Type: application/pidf+xml;\r\n  charset=UTF-8\r\nContent-ID:\r\n\t<loc@x>\r\n \
 X-Not-A-Header: no\r\ncontent-disposition: render\r\n\r\n<presence/>\r\n--b--\r\n";
        let p = parts(body, "b").unwrap();
        assert_eq!(p[0].content_type(), "application/pidf+xml;\r\n  charset=UTF-8");
        assert_eq!(p[0].header("Content-ID"), Some("<loc@x>\r\n X-Not-A-Header: no"));
        assert_eq!(p[0].header("X-Not-A-Header"), None);
        assert_eq!(p[0].header("Content-Disposition"), Some("render"));
        assert_eq!(p[0].body, b"<presence/>");
    }

    #[test]
    fn missing_close_is_error() {
        assert!(parts(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n", "b").is_err());
        assert!(parts(b"no delimiter", "b").is_err());
    }
}
