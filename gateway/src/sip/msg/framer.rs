//! Cutting SIP messages out of a TCP/TLS byte stream (RFC 3261 18.3,
//! RFC 5626 keep-alives).
//!
//! Contract: feed bytes as they arrive with [`StreamFramer::push`], split
//! anywhere; drain [`StreamFramer::next_frame`] until it returns
//! `Ok(None)`. Each complete message comes out exactly once, in order,
//! whatever the split. Content-Length is mandatory. A framing fault (no or
//! bad Content-Length, headers or message over the limits) is returned as
//! `Err` and is final: the stream has lost sync and the connection must be
//! closed. A message that is framed correctly but malformed inside comes
//! out as [`Frame::Invalid`] and the stream goes on. The buffer is bounded
//! by `Limits::max_stream_message`.

use bytes::{Buf, Bytes, BytesMut};

use super::error::{ErrorKind, ParseError};
use super::limits::Limits;
use super::message::{Framing, Message};
use super::scan;

/// One unit cut from the stream. `Message` is held inline (no allocation
/// per frame); the enum is as large as a `Message` (about 2 KB).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Frame {
    Message(Message),
    /// Framed correctly, malformed inside: answer (400 ...) and go on.
    Invalid {
        error: ParseError,
        raw: Bytes,
    },
    /// RFC 5626 keep-alive ping (CRLF CRLF): answer with a pong (CRLF).
    Ping,
    /// RFC 5626 pong (a lone CRLF).
    Pong,
}

/// Incremental framer for one connection.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
    failed: Option<ParseError>,
}

impl StreamFramer {
    pub fn new(limits: Limits) -> Self {
        StreamFramer { buf: BytesMut::new(), limits, failed: None }
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Append received bytes. Fails (finally) when the buffer would exceed
    /// the largest message allowed plus one read.
    pub fn push(&mut self, data: &[u8]) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let max = self.limits.max_stream_message;
        if self.buf.len() + data.len() > 2 * max {
            let e = ParseError::new(ErrorKind::MessageTooLarge(max), self.buf.len());
            self.failed = Some(e.clone());
            self.buf.clear();
            return Err(e);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.frame() {
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf.clear();
                Err(e)
            }
            ok => ok,
        }
    }

    fn frame(&mut self) -> Result<Option<Frame>, ParseError> {
        // A loop, not recursion: a long run of stray CR/LF must not grow the stack.
        while let Some(b'\r' | b'\n') = self.buf.first() {
            let b = &self.buf[..];
            if b.starts_with(b"\r\n\r\n") {
                self.buf.advance(4);
                return Ok(Some(Frame::Ping));
            }
            if b.starts_with(b"\r\n") && b.len() >= 3 && b[2] != b'\r' {
                self.buf.advance(2);
                return Ok(Some(Frame::Pong));
            }
            if b == b"\r\n" || b == b"\r\n\r" || b == b"\r" {
                return Ok(None);
            }
            // A stray LF: skip it.
            let n = b.iter().take_while(|&&c| c == b'\n').count().max(1);
            self.buf.advance(n);
        }
        let b = &self.buf[..];
        let max = self.limits.max_stream_message;
        let Some((head_len, content_length)) = scan_head(b)? else {
            if b.len() > max {
                return Err(ParseError::new(ErrorKind::MessageTooLarge(max), max));
            }
            return Ok(None);
        };
        let Some(cl) = content_length else {
            return Err(ParseError::new(ErrorKind::NoContentLength, head_len));
        };
        if cl > self.limits.max_body {
            return Err(ParseError::in_header(
                ErrorKind::BodyTooLarge(self.limits.max_body),
                head_len,
                "Content-Length",
            ));
        }
        let total = head_len + cl;
        if total > max {
            return Err(ParseError::new(ErrorKind::MessageTooLarge(max), max));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let raw = self.buf.split_to(total).freeze();
        Ok(Some(match Message::parse(raw.clone(), Framing::Stream, &self.limits) {
            Ok(m) => Frame::Message(m),
            Err(error) => Frame::Invalid { error, raw },
        }))
    }
}

/// Find the end of the header section and the Content-Length value.
/// `Ok(None)`: the empty line has not arrived yet.
fn scan_head(b: &[u8]) -> Result<Option<(usize, Option<usize>)>, ParseError> {
    let mut pos = 0;
    let mut cl: Option<usize> = None;
    loop {
        let Some(lf) = memchr::memchr(b'\n', &b[pos..]) else { return Ok(None) };
        let lf = pos + lf;
        let content_end = if lf > pos && b[lf - 1] == b'\r' { lf - 1 } else { lf };
        if content_end == pos {
            return Ok(Some((lf + 1, cl)));
        }
        // Header lines (not the start line, not continuations) may carry Content-Length.
        if pos > 0 && !matches!(b[pos], b' ' | b'\t') {
            let line = &b[pos..content_end];
            if let Some(colon) = memchr::memchr(b':', line) {
                let name = scan::trim(&line[..colon]);
                if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
                    // The value may continue on folded lines.
                    let mut end = content_end;
                    let mut next = lf + 1;
                    while next < b.len() && matches!(b[next], b' ' | b'\t') {
                        let Some(l2) = memchr::memchr(b'\n', &b[next..]) else { return Ok(None) };
                        end = next + l2;
                        next = end + 1;
                    }
                    if next >= b.len() {
                        return Ok(None);
                    }
                    let v = scan::trim(&b[pos + colon + 1..end]);
                    let n = scan::parse_u64(v).and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
                        ParseError::in_header(ErrorKind::ContentLength, pos + colon + 1, "Content-Length")
                    })?;
                    if cl.is_some_and(|c| c != n) {
                        return Err(ParseError::in_header(ErrorKind::Duplicate, pos, "Content-Length"));
                    }
                    cl = Some(n);
                }
            }
        }
        pos = lf + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPT: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody";

    #[test]
    fn splits_anywhere_and_keepalives() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(OPT);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(OPT);
        for cut in 1..stream.len() {
            let mut f = StreamFramer::new(Limits::default());
            let mut out = Vec::new();
            for chunk in [&stream[..cut], &stream[cut..]] {
                f.push(chunk).unwrap();
                while let Some(fr) = f.next_frame().unwrap() {
                    out.push(fr);
                }
            }
            assert_eq!(out.len(), 4, "cut at {cut}");
            assert!(matches!(out[0], Frame::Ping));
            assert!(matches!(&out[1], Frame::Message(m) if m.body() == b"body"));
            assert!(matches!(out[2], Frame::Pong));
            assert!(matches!(&out[3], Frame::Message(m) if m.raw() == OPT));
        }
    }

    #[test]
    fn missing_content_length_is_fatal() {
        let mut f = StreamFramer::new(Limits::default());
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n").unwrap();
        assert_eq!(f.next_frame().unwrap_err().kind, ErrorKind::NoContentLength);
        assert!(f.push(b"x").is_err());
    }

    #[test]
    fn long_run_of_stray_line_ends_does_not_overflow_the_stack() {
        // Every stray CR used to cost a recursive call: 280 KB of them
        // overflowed an 8 MiB stack. Run on a small stack to keep it honest.
        let t = std::thread::Builder::new().stack_size(256 * 1024).spawn(|| {
            let mut f = StreamFramer::new(Limits::default());
            let max = Limits::default().max_stream_message;
            f.push(&vec![b'\r'; 2 * max - 1]).unwrap();
            assert!(f.next_frame().unwrap().is_none());
            f.push(b"\n\n\r").unwrap();
            f.push(OPT).unwrap();
            assert!(matches!(f.next_frame().unwrap(), Some(Frame::Pong)));
            let fr = f.next_frame().unwrap();
            assert!(matches!(&fr, Some(Frame::Message(m)) if m.raw() == OPT), "{fr:?}");
        });
        t.unwrap().join().unwrap();
    }

    #[test]
    fn oversized_head_is_fatal() {
        let mut f = StreamFramer::new(Limits { max_stream_message: 64, ..Limits::default() });
        f.push(&[b'a'; 100]).unwrap();
        assert!(matches!(f.next_frame().unwrap_err().kind, ErrorKind::MessageTooLarge(64)));
    }
}
