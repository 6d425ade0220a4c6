//! The parsed message: the raw bytes plus an index of spans into them.
//!
//! Contract: [`Message::parse_datagram`] and [`Message::parse_stream`] take
//! ownership of the received bytes (`Bytes`, reference-counted, never
//! copied), check the framing, the start line, the header lines and the
//! size limits, and build a fixed-capacity index of header spans. A
//! well-formed message is parsed without heap allocation. The start line
//! must be UTF-8; header values need not be (a Latin-1 display name or
//! Subject is kept as received): spans are handed out as `&str` when they
//! are UTF-8 and as `""` otherwise, and [`Message::header_bytes`] gives the
//! bytes of any value. The typed views of the headers the gateway routes
//! on require UTF-8 and name the header when it is not. No byte below 0x20
//! other than HTAB may appear in a header line, except the CRLF of a fold
//! and a quoted-pair inside a quoted string (RFC 3261 25.1); a CR must be
//! followed by LF. The body stays bytes. Typed views of header values are
//! parsed on demand from the spans (see `typed`, `via`, `uri`).

use arrayvec::ArrayVec;
use bytes::Bytes;

use super::error::{ErrorKind, ParseError};
use super::header::HeaderName;
use super::limits::{Limits, HEADER_CAPACITY};
use super::method::Method;
use super::scan::{self, is_token};

/// A byte range `[start, end)` of the received buffer ([`Message::buffer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    #[inline]
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Messages are bounded far below 4 GiB by `Limits`.
        Span { start: start as u32, end: end as u32 }
    }
    #[inline]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
    #[inline]
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }
    #[inline]
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// How the message arrived: framing rules differ (RFC 3261 18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// UDP: Content-Length bounds the body, extra octets are ignored, and a
    /// missing Content-Length means "to the end of the datagram".
    Datagram,
    /// TCP/TLS: the framer cut exactly one message; Content-Length is mandatory.
    Stream,
}

/// The first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, method_span: Span, uri: Span, version: Span },
    Response { version: Span, status: u16, reason: Span },
}

/// One header line in the index (16 bytes: offsets, not pointers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEntry {
    pub name: HeaderName,
    name_len: u8,
    value_off: u16,
    value_len: u16,
    line_start: u32,
    line_end: u32,
}

impl HeaderEntry {
    /// The name as written (compact or long, any case).
    pub fn name_span(&self) -> Span {
        Span { start: self.line_start, end: self.line_start + u32::from(self.name_len) }
    }
    /// The value with surrounding white space trimmed; interior folds kept.
    pub fn value(&self) -> Span {
        let start = self.line_start + u32::from(self.value_off);
        Span { start, end: start + u32::from(self.value_len) }
    }
    /// The whole line including its line end (and folded continuations).
    pub fn line(&self) -> Span {
        Span { start: self.line_start, end: self.line_end }
    }
}

/// A parsed SIP message.
#[derive(Clone)]
pub struct Message {
    buf: Bytes,
    /// End of the message inside `buf` (a datagram may carry trailing octets).
    end: u32,
    start: StartLine,
    /// End of the header section, before the empty line.
    head_end: u32,
    body: Span,
    content_length: Option<u32>,
    /// Offset of the start line (CRLFs before it are ignored, RFC 3261 7.5).
    begin: u32,
    headers: ArrayVec<HeaderEntry, HEADER_CAPACITY>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("start", &self.start)
            .field("headers", &self.header_entries())
            .field("body", &self.body)
            .finish()
    }
}

/// A header as seen through the index.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub name: HeaderName,
    /// The name as written.
    pub raw_name: &'a str,
    /// Trimmed value (may contain folded line ends); `""` when the value is
    /// not UTF-8 (see [`Message::header_bytes`] for its bytes).
    pub value: &'a str,
    /// Offset of the value in the message.
    pub offset: usize,
    /// Position of the line in the header index.
    pub index: usize,
}

impl<'a> Header<'a> {
    /// The canonical name: the known spelling, or the name as written.
    pub fn canonical_name(&self) -> &'a str {
        match self.name {
            HeaderName::Other => self.raw_name,
            n => n.canonical(),
        }
    }
}

impl Message {
    /// Parse one UDP datagram with the default limits.
    pub fn parse_datagram(buf: Bytes) -> Result<Message, ParseError> {
        Self::parse(buf, Framing::Datagram, &Limits::default())
    }

    /// Parse one message cut by the stream framer with the default limits.
    pub fn parse_stream(buf: Bytes) -> Result<Message, ParseError> {
        Self::parse(buf, Framing::Stream, &Limits::default())
    }

    /// Parse with explicit framing and limits.
    pub fn parse(buf: Bytes, framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
        let max = match framing {
            Framing::Datagram => limits.max_datagram,
            Framing::Stream => limits.max_stream_message,
        };
        if buf.len() > max {
            return Err(ParseError::new(ErrorKind::MessageTooLarge(max), max));
        }
        let mut msg = Message {
            buf,
            end: 0,
            start: StartLine::Response { version: Span::default(), status: 0, reason: Span::default() },
            head_end: 0,
            body: Span::default(),
            content_length: None,
            begin: 0,
            headers: ArrayVec::new(),
        };
        msg.index(framing, limits)?;
        Ok(msg)
    }

    fn index(&mut self, framing: Framing, limits: &Limits) -> Result<(), ParseError> {
        let buf: &[u8] = &self.buf;
        // RFC 3261 7.5: CRLFs before the start line are ignored.
        let first = buf.iter().position(|&b| b != b'\r' && b != b'\n');
        let Some(first) = first else {
            return Err(ParseError::new(ErrorKind::Empty, 0));
        };
        let (first_end, next) = line_end(buf, first).ok_or(ParseError::new(ErrorKind::Truncated, buf.len()))?;
        if let Err(e) = std::str::from_utf8(&buf[first..first_end]) {
            return Err(ParseError::new(ErrorKind::StartLine("not UTF-8"), first + e.valid_up_to()));
        }
        self.start = if first == 0 {
            start_line(buf, first_end, limits)?
        } else {
            let shifted = start_line(&buf[first..], first_end - first, limits).map_err(|mut e| {
                e.offset += first;
                e
            })?;
            shift(shifted, first)
        };
        self.begin = first as u32;

        let max_headers = limits.max_headers.min(HEADER_CAPACITY);
        // The index stores a name's length in a u8 (see `Limits::max_header_name`).
        let max_name = limits.max_header_name.min(MAX_HEADER_NAME);
        let mut pos = next;
        let mut count = 0usize;
        let mut content_length: Option<(u32, usize)> = None;
        let head_end;
        loop {
            if pos >= buf.len() {
                return Err(ParseError::new(ErrorKind::Truncated, buf.len()));
            }
            let (mut end, mut after) = line_end(buf, pos).ok_or(ParseError::new(ErrorKind::Truncated, buf.len()))?;
            if end == pos {
                head_end = pos;
                pos = after;
                break;
            }
            if matches!(buf[pos], b' ' | b'\t') {
                return Err(ParseError::new(ErrorKind::HeaderLine, pos));
            }
            // Folded continuation lines belong to this header.
            while after < buf.len() && matches!(buf[after], b' ' | b'\t') {
                let (e, a) = line_end(buf, after).ok_or(ParseError::new(ErrorKind::Truncated, buf.len()))?;
                end = e;
                after = a;
            }
            let line = &buf[pos..end];
            let colon = memchr::memchr(b':', line).ok_or(ParseError::new(ErrorKind::HeaderLine, pos))?;
            let mut name_end = colon;
            while name_end > 0 && matches!(line[name_end - 1], b' ' | b'\t') {
                name_end -= 1;
            }
            let raw_name = &line[..name_end];
            if raw_name.is_empty() || !raw_name.iter().all(|&b| is_token(b)) {
                return Err(ParseError::new(ErrorKind::HeaderName, pos));
            }
            if raw_name.len() > max_name {
                return Err(ParseError::new(ErrorKind::HeaderNameTooLong(max_name), pos));
            }
            let name = HeaderName::from_bytes(raw_name);
            if end - pos > u16::MAX as usize {
                return Err(header_err(ErrorKind::HeaderTooLong(u16::MAX as usize), pos, name, raw_name));
            }
            if let Err((at, why)) = check_controls(&line[colon + 1..]) {
                return Err(header_err(ErrorKind::Value(why), pos + colon + 1 + at, name, raw_name));
            }
            let mut vs = pos + colon + 1;
            let mut ve = end;
            while vs < ve && scan::is_lws(buf[vs]) {
                vs += 1;
            }
            while ve > vs && scan::is_lws(buf[ve - 1]) {
                ve -= 1;
            }
            if ve - vs > limits.max_header_value {
                return Err(header_err(ErrorKind::HeaderTooLong(limits.max_header_value), vs, name, raw_name));
            }
            if count == max_headers {
                return Err(ParseError::new(ErrorKind::TooManyHeaders(max_headers), pos));
            }
            if name == HeaderName::ContentLength {
                let v = &buf[vs..ve];
                let n = scan::parse_u64(v)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| header_err(ErrorKind::ContentLength, vs, name, raw_name))?;
                if content_length.is_some() {
                    return Err(header_err(ErrorKind::Duplicate, pos, name, raw_name));
                }
                content_length = Some((n, vs));
            }
            // Bounded above: name_end <= max_name <= 255 and the line is
            // shorter than 64 KiB, so the narrowing casts are exact.
            self.headers.push(HeaderEntry {
                name,
                name_len: name_end as u8,
                value_off: (vs - pos) as u16,
                value_len: (ve - vs) as u16,
                line_start: pos as u32,
                line_end: after as u32,
            });
            count += 1;
            pos = after;
        }
        let available = buf.len() - pos;
        let body_len = match (content_length, framing) {
            (Some((n, at)), _) => {
                let n = n as usize;
                if n > available {
                    let e = ErrorKind::BodyShort { declared: n, available };
                    return Err(ParseError::in_header(e, at, "Content-Length"));
                }
                n
            }
            (None, Framing::Datagram) => available,
            (None, Framing::Stream) => return Err(ParseError::new(ErrorKind::NoContentLength, head_end)),
        };
        if body_len > limits.max_body {
            return Err(ParseError::new(ErrorKind::BodyTooLarge(limits.max_body), pos));
        }
        self.head_end = head_end as u32;
        self.body = Span::new(pos, pos + body_len);
        self.end = (pos + body_len) as u32;
        self.content_length = content_length.map(|(n, _)| n);
        Ok(())
    }

    // ---- raw access ----

    /// The message bytes exactly as received, from its start line (CRLFs
    /// before it excluded) to the end of its body (trailing datagram octets
    /// excluded).
    pub fn raw(&self) -> &[u8] {
        &self.buf[self.begin as usize..self.end as usize]
    }

    /// The received bytes up to the end of the message: what every [`Span`]
    /// of this message indexes.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[..self.end as usize]
    }

    /// The message as a cheap reference-counted handle.
    pub fn bytes(&self) -> Bytes {
        self.buf.slice(self.begin as usize..self.end as usize)
    }

    /// Text of a span inside the header section, or `""` when the span is
    /// not UTF-8 (header values may hold other bytes, e.g. a Latin-1
    /// display name; the start line and header names are always UTF-8).
    /// Checking the span alone keeps the cost proportional to its length.
    pub fn span_str(&self, span: Span) -> &str {
        let head = &self.buf[..self.head_end as usize];
        head.get(span.range()).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }

    /// The bytes of a span inside the header section (empty when out of range).
    pub fn span_bytes(&self, span: Span) -> &[u8] {
        self.buf[..self.head_end as usize].get(span.range()).unwrap_or(&[])
    }

    /// The value of header line `index` as received (trimmed, folds kept),
    /// whether or not it is UTF-8; empty when there is no such line.
    pub fn header_bytes(&self, index: usize) -> &[u8] {
        self.headers.get(index).map_or(&[][..], |e| self.span_bytes(e.value()))
    }

    /// Whether the value of header line `index` is UTF-8 (so that
    /// [`Header::value`] is its text, not `""`).
    pub fn header_is_utf8(&self, index: usize) -> bool {
        std::str::from_utf8(self.header_bytes(index)).is_ok()
    }

    /// The start line, without its line end.
    pub fn start_line_span(&self) -> Span {
        let first = self.header_entries().first().map_or(self.head_end, |e| e.line().start);
        let mut end = first as usize;
        let raw = &self.buf[..end];
        while end > self.begin as usize && matches!(raw[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        Span::new(self.begin as usize, end)
    }

    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// Request method (`None` for a response).
    pub fn method(&self) -> Option<Method> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// Request method token as written.
    pub fn method_str(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { method_span, .. } => Some(self.span_str(method_span)),
            StartLine::Response { .. } => None,
        }
    }

    /// Request-URI text.
    pub fn request_uri_str(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(self.span_str(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// Request-URI span.
    pub fn request_uri_span(&self) -> Option<Span> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// Status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// Reason phrase of a response.
    pub fn reason(&self) -> Option<&str> {
        match self.start {
            StartLine::Response { reason, .. } => Some(self.span_str(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// The body (exactly Content-Length bytes when the header is present).
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.range()]
    }

    pub fn body_span(&self) -> Span {
        self.body
    }

    /// Declared Content-Length.
    pub fn content_length(&self) -> Option<u32> {
        self.content_length
    }

    /// End of the header section (offset of the empty line).
    pub fn head_end(&self) -> usize {
        self.head_end as usize
    }

    // ---- headers ----

    /// The index entries in order.
    pub fn header_entries(&self) -> &[HeaderEntry] {
        &self.headers
    }

    fn view(&self, index: usize, e: &HeaderEntry) -> Header<'_> {
        Header {
            name: e.name,
            raw_name: self.span_str(e.name_span()),
            value: self.span_str(e.value()),
            offset: e.value().start as usize,
            index,
        }
    }

    /// All header lines in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        self.header_entries().iter().enumerate().map(move |(i, e)| self.view(i, e))
    }

    /// All lines of one known header, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = Header<'_>> + '_ {
        // Filter on the index first: building a view costs two UTF-8 checks.
        self.header_entries().iter().enumerate().filter(move |(_, e)| e.name == name).map(move |(i, e)| self.view(i, e))
    }

    /// All lines of a header by name (any spelling, compact forms included).
    pub fn headers_by_name<'s>(&'s self, name: &'s str) -> impl Iterator<Item = Header<'s>> + 's {
        let known = HeaderName::from_bytes(name.as_bytes());
        self.headers().filter(move |h| {
            if known == HeaderName::Other {
                h.name == HeaderName::Other && h.raw_name.eq_ignore_ascii_case(name)
            } else {
                h.name == known
            }
        })
    }

    /// The first line of a known header.
    pub fn header(&self, name: HeaderName) -> Option<Header<'_>> {
        self.headers_named(name).next()
    }

    /// Value of the first line of a known header.
    pub fn header_value(&self, name: HeaderName) -> Option<&str> {
        self.header(name).map(|h| h.value)
    }

    /// Every value of a list header, across lines and commas, with offsets.
    pub fn list_values(&self, name: HeaderName) -> impl Iterator<Item = (Header<'_>, &str, usize)> + '_ {
        self.headers_named(name).flat_map(|h| super::list::split(h.value).map(move |(v, off)| (h, v, h.offset + off)))
    }
}

/// The longest header name the index can hold (its length is a `u8`).
pub(crate) const MAX_HEADER_NAME: usize = u8::MAX as usize;

/// Bytes after a header's colon (folded continuations included): no byte
/// below 0x20 but HTAB, except the CRLF (or LF) of a fold and a quoted-pair
/// inside a quoted string (`\` then any byte but CR/LF, RFC 3261 25.1); a
/// CR must be followed by LF. Returns the offset of the first bad byte.
fn check_controls(v: &[u8]) -> Result<(), (usize, &'static str)> {
    if !v.iter().any(|&b| b < 0x20 && b != b'\t') {
        return Ok(());
    }
    let mut quoted = false;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            // `line_end` cut the line at its last LF, so any LF left here
            // starts a continuation line (a fold).
            b'\r' if v.get(i + 1) != Some(&b'\n') => return Err((i, "CR not followed by LF")),
            b'\r' | b'\n' | b'\t' => {}
            b'"' => quoted = !quoted,
            b'\\' if quoted && v.get(i + 1).is_some_and(|&n| n != b'\r' && n != b'\n') => i += 1,
            b if b < 0x20 => return Err((i, "control character in header value")),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn header_err(kind: ErrorKind, at: usize, name: HeaderName, raw: &[u8]) -> ParseError {
    let n = match name {
        HeaderName::Other => scan::lossy(raw).into_owned(),
        n => n.canonical().to_owned(),
    };
    ParseError { kind, offset: at, header: Some(n) }
}

/// End of the line starting at `from`: (offset of CR or LF, offset after LF).
/// A CR must be followed by LF; a line without LF is unterminated (`None`).
#[inline]
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let rest = buf.get(from..)?;
    let lf = memchr::memchr(b'\n', rest)? + from;
    if lf > from && buf[lf - 1] == b'\r' {
        Some((lf - 1, lf + 1))
    } else {
        Some((lf, lf + 1))
    }
}

fn start_line(buf: &[u8], end: usize, limits: &Limits) -> Result<StartLine, ParseError> {
    let line = &buf[..end];
    if let Some(cr) = memchr::memchr(b'\r', line) {
        return Err(ParseError::new(ErrorKind::StartLine("stray CR"), cr));
    }
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = memchr::memchr(b' ', line).ok_or(ParseError::new(ErrorKind::StartLine("no status code"), end))?;
        check_version(line, 0, sp)?;
        let rest = &line[sp + 1..];
        let code_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let code = &rest[..code_end];
        let status = if code.len() == 3 { scan::parse_u32(code) } else { None };
        let status = match status {
            Some(s) if (100..=699).contains(&s) => s as u16,
            _ => return Err(ParseError::new(ErrorKind::StatusCode, sp + 1)),
        };
        let rs = (sp + 1 + code_end + 1).min(end);
        if line[rs..].iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err(ParseError::new(ErrorKind::StartLine("control character in reason phrase"), rs));
        }
        let version = Span::new(0, sp);
        return Ok(StartLine::Response { version, status, reason: Span::new(rs, end) });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::new(ErrorKind::StartLine("no Request-URI"), end))?;
    let method = &line[..sp1];
    if !scan::is_token_str(method) {
        return Err(ParseError::new(ErrorKind::Method, 0));
    }
    let rest = &line[sp1 + 1..];
    if rest.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(ParseError::new(
            ErrorKind::StartLine("more than one space between method and Request-URI"),
            sp1 + 1,
        ));
    }
    let Some(sp2) = memchr::memchr(b' ', rest).map(|p| sp1 + 1 + p) else {
        return Err(ParseError::new(ErrorKind::StartLine("no SIP version"), end));
    };
    let uri = &line[sp1 + 1..sp2];
    if uri.is_empty() {
        return Err(ParseError::new(ErrorKind::StartLine("empty Request-URI"), sp1 + 1));
    }
    let tail = &line[sp2 + 1..];
    if tail.is_empty() {
        return Err(ParseError::new(ErrorKind::StartLine("no SIP version"), end));
    }
    if tail[0] == b' ' || tail[0] == b'\t' {
        return Err(ParseError::new(
            ErrorKind::StartLine("more than one space between Request-URI and SIP version"),
            sp2 + 1,
        ));
    }
    if let Some(p) = tail.iter().position(|&b| b == b' ' || b == b'\t') {
        if tail[p..].iter().all(|&b| b == b' ' || b == b'\t') {
            return Err(ParseError::new(ErrorKind::StartLine("white space after the SIP version"), sp2 + 1 + p));
        }
        return Err(ParseError::new(ErrorKind::RequestUri("white space inside the Request-URI"), sp2));
    }
    check_version(line, sp2 + 1, end)?;
    if uri.len() > limits.max_uri {
        return Err(ParseError::new(ErrorKind::UriTooLong(limits.max_uri), sp1 + 1));
    }
    let scheme_end = uri.iter().position(|&b| b == b':');
    let scheme_ok = match scheme_end {
        Some(n) if n > 0 => {
            uri[0].is_ascii_alphabetic()
                && uri[..n].iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        _ => false,
    };
    if !scheme_ok {
        return Err(ParseError::new(ErrorKind::RequestUri("no valid scheme"), sp1 + 1));
    }
    if let Some(p) = uri.iter().position(|&b| b <= 0x20 || b == 0x7f || matches!(b, b'<' | b'>' | b'"')) {
        return Err(ParseError::new(ErrorKind::RequestUri("character not allowed in a URI"), sp1 + 1 + p));
    }
    Ok(StartLine::Request {
        method: Method::from_bytes(method),
        method_span: Span::new(0, sp1),
        uri: Span::new(sp1 + 1, sp2),
        version: Span::new(sp2 + 1, end),
    })
}

/// Whether `raw` begins (after CRLFs) with a start line that parses,
/// whatever follows it.
pub(crate) fn has_start_line(raw: &[u8], limits: &Limits) -> bool {
    let first = raw.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(raw.len());
    let raw = &raw[first..];
    let Some((end, _)) = line_end(raw, 0) else { return false };
    std::str::from_utf8(&raw[..end]).is_ok() && start_line(raw, end, limits).is_ok()
}

/// Move the spans of a start line parsed from `buf[by..]` to offsets in `buf`.
fn shift(l: StartLine, by: usize) -> StartLine {
    let sh = |s: Span| Span::new(s.start as usize + by, s.end as usize + by);
    match l {
        StartLine::Request { method, method_span, uri, version } => {
            StartLine::Request { method, method_span: sh(method_span), uri: sh(uri), version: sh(version) }
        }
        StartLine::Response { version, status, reason } => {
            StartLine::Response { version: sh(version), status, reason: sh(reason) }
        }
    }
}

/// `SIP/<digits>.<digits>`: 2.0 is accepted, another version is a 505,
/// anything else a malformed start line.
fn check_version(line: &[u8], from: usize, to: usize) -> Result<(), ParseError> {
    let v = &line[from..to];
    if v.len() < 4 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(ParseError::new(ErrorKind::StartLine("malformed SIP version"), from));
    }
    let num = &v[4..];
    let dot = num.iter().position(|&b| b == b'.');
    let well_formed = match dot {
        Some(d) => {
            d > 0
                && d + 1 < num.len()
                && num[..d].iter().all(u8::is_ascii_digit)
                && num[d + 1..].iter().all(u8::is_ascii_digit)
        }
        None => false,
    };
    if !well_formed {
        return Err(ParseError::new(ErrorKind::StartLine("malformed SIP version"), from));
    }
    if num != b"2.0" {
        return Err(ParseError::new(ErrorKind::Version, from));
    }
    Ok(())
}
