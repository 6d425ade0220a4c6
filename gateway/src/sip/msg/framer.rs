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
//!
//! Keep-alives (RFC 5626 3.5.1): CRLF CRLF before a message is a
//! [`Frame::Ping`]; a lone CRLF is a [`Frame::Pong`], reported as soon as
//! it is in the buffer (it is not held to see whether a second CRLF
//! follows: a peer that sent a pong sends nothing more until we do). So a
//! ping split between its two CRLFs comes out as two pongs; a ping whose
//! four bytes are buffered together is a ping.
//!
//! Cost: the header section is scanned incrementally; each byte is looked
//! at a bounded number of times however the stream is split.

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
    /// How far the header section of the message at the front of `buf`
    /// has been scanned; reset whenever the front of `buf` moves.
    head: HeadScan,
}

/// The scan of one header section, resumable: bytes trickling in are
/// looked at once, not rescanned from the start at every push.
#[derive(Debug, Default)]
struct HeadScan {
    /// Start of the first line not yet handled (0: the start line).
    pos: usize,
    /// `buf[pos..searched]` holds no LF: the search for one resumes here.
    searched: usize,
    /// The Content-Length found so far.
    content_length: Option<usize>,
    /// A Content-Length line whose value may still continue on folded
    /// lines: (value start, value end so far, line start).
    pending: Option<(usize, usize, usize)>,
    /// The empty line was found: (header section length, Content-Length).
    done: Option<(usize, Option<usize>)>,
    /// Bytes looked at, to bound the work in tests.
    #[cfg(test)]
    work: usize,
}

impl StreamFramer {
    pub fn new(limits: Limits) -> Self {
        StreamFramer { buf: BytesMut::new(), limits, failed: None, head: HeadScan::default() }
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
            self.fail(e.clone());
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
                self.fail(e.clone());
                Err(e)
            }
            ok => ok,
        }
    }

    fn fail(&mut self, e: ParseError) {
        self.failed = Some(e);
        self.buf.clear();
        self.head = HeadScan::default();
    }

    /// Drop `n` bytes from the front; the scan restarts at the new front.
    fn advance(&mut self, n: usize) {
        self.buf.advance(n);
        self.head = HeadScan::default();
    }

    fn frame(&mut self) -> Result<Option<Frame>, ParseError> {
        // RFC 5626 keep-alives before a message. A loop, not recursion: a
        // long run of stray CR/LF must not grow the stack.
        while let Some(b'\r' | b'\n') = self.buf.first() {
            let b = &self.buf[..];
            if b.starts_with(b"\r\n\r\n") {
                self.advance(4);
                return Ok(Some(Frame::Ping));
            }
            if b.starts_with(b"\r\n") {
                // CRLF CR may become a ping with the next byte: wait for it.
                if b == b"\r\n\r" {
                    return Ok(None);
                }
                // A lone CRLF is a pong, reported at once: the peer sends
                // nothing after it until we do.
                self.advance(2);
                return Ok(Some(Frame::Pong));
            }
            if b == b"\r" {
                return Ok(None);
            }
            // A stray LF (or CR not followed by LF): skip it.
            let n = b.iter().take_while(|&&c| c == b'\n').count().max(1);
            self.advance(n);
        }
        let max = self.limits.max_stream_message;
        let Some((head_len, content_length)) = self.head.scan(&self.buf)? else {
            if self.buf.len() > max {
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
        self.head = HeadScan::default();
        Ok(Some(match Message::parse(raw.clone(), Framing::Stream, &self.limits) {
            Ok(m) => Frame::Message(m),
            Err(error) => Frame::Invalid { error, raw },
        }))
    }
}

impl HeadScan {
    /// Find the end of the header section of `b` and its Content-Length,
    /// resuming where the last call stopped (`b` only grew since, at the
    /// end). `Ok(None)`: the empty line has not arrived yet.
    fn scan(&mut self, b: &[u8]) -> Result<Option<(usize, Option<usize>)>, ParseError> {
        if let Some(done) = self.done {
            return Ok(Some(done));
        }
        loop {
            // A Content-Length value ends where a line not folded starts.
            if self.pending.is_some() && b.get(self.pos).is_some_and(|&c| !matches!(c, b' ' | b'\t')) {
                self.finish_content_length(b)?;
            }
            let from = self.pos.max(self.searched);
            let Some(lf) = memchr::memchr(b'\n', &b[from..]) else {
                self.count(b.len() - from);
                self.searched = b.len();
                return Ok(None);
            };
            let lf = from + lf;
            self.count(lf + 1 - from);
            let pos = self.pos;
            let content_end = if lf > pos && b[lf - 1] == b'\r' { lf - 1 } else { lf };
            if content_end == pos {
                self.finish_content_length(b)?;
                let done = (lf + 1, self.content_length);
                self.done = Some(done);
                return Ok(Some(done));
            }
            // Header lines (not the start line) may carry Content-Length;
            // its value may continue on folded lines.
            if matches!(b[pos], b' ' | b'\t') {
                if let Some(p) = &mut self.pending {
                    p.1 = content_end;
                }
            } else if pos > 0 {
                let line = &b[pos..content_end];
                let colon = memchr::memchr(b':', line);
                self.count(colon.unwrap_or(line.len()));
                if let Some(colon) = colon {
                    let name = scan::trim(&line[..colon]);
                    if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
                        self.pending = Some((pos + colon + 1, content_end, pos));
                    }
                }
            }
            self.pos = lf + 1;
            self.searched = lf + 1;
        }
    }

    fn finish_content_length(&mut self, b: &[u8]) -> Result<(), ParseError> {
        let Some((vs, ve, line)) = self.pending.take() else { return Ok(()) };
        let v = scan::trim(&b[vs..ve]);
        let n = scan::parse_u64(v)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ParseError::in_header(ErrorKind::ContentLength, vs, "Content-Length"))?;
        if self.content_length.is_some_and(|c| c != n) {
            return Err(ParseError::in_header(ErrorKind::Duplicate, line, "Content-Length"));
        }
        self.content_length = Some(n);
        Ok(())
    }

    #[inline]
    fn count(&mut self, _n: usize) {
        #[cfg(test)]
        {
            self.work += _n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPT: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody";

    /// A ping split between its CRLFs comes out as two pongs: compare
    /// with every ping counted as two pongs.
    fn pongs(frames: &[Frame]) -> Vec<String> {
        let mut out = Vec::new();
        for f in frames {
            match f {
                Frame::Ping => out.extend(["pong".to_owned(), "pong".to_owned()]),
                Frame::Pong => out.push("pong".to_owned()),
                Frame::Message(m) => out.push(String::from_utf8_lossy(m.raw()).into_owned()),
                Frame::Invalid { raw, .. } => out.push(format!("invalid {}", String::from_utf8_lossy(raw))),
            }
        }
        out
    }

    #[test]
    fn splits_anywhere_and_keepalives() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(OPT);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(OPT);
        let mut whole = StreamFramer::new(Limits::default());
        whole.push(&stream).unwrap();
        let expected: Vec<Frame> = std::iter::from_fn(|| whole.next_frame().unwrap()).collect();
        assert_eq!(expected.len(), 4);
        assert!(matches!(expected[0], Frame::Ping));
        assert!(matches!(&expected[1], Frame::Message(m) if m.body() == b"body"));
        assert!(matches!(expected[2], Frame::Pong));
        assert!(matches!(&expected[3], Frame::Message(m) if m.raw() == OPT));
        for cut in 1..stream.len() {
            let mut f = StreamFramer::new(Limits::default());
            let mut out = Vec::new();
            for chunk in [&stream[..cut], &stream[cut..]] {
                f.push(chunk).unwrap();
                while let Some(fr) = f.next_frame().unwrap() {
                    out.push(fr);
                }
            }
            assert_eq!(pongs(&out), pongs(&expected), "cut at {cut}");
            // The ping is a ping unless the cut falls between its CRLFs.
            assert_eq!(matches!(out[0], Frame::Ping), cut != 2, "cut at {cut}");
        }
    }

    #[test]
    fn a_lone_crlf_is_a_pong_at_once() {
        let mut f = StreamFramer::new(Limits::default());
        f.push(b"\r\n").unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Pong)));
        assert!(f.next_frame().unwrap().is_none());
        assert_eq!(f.buffered(), 0);
        // Both CRLFs buffered together: a ping.
        f.push(b"\r\n\r\n").unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Ping)));
        // CRLF CR may still become a ping.
        f.push(b"\r\n\r").unwrap();
        assert!(f.next_frame().unwrap().is_none());
        f.push(b"\n").unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Ping)));
        // ... or not: a pong, then a stray CR is skipped before the message.
        f.push(b"\r\n\r").unwrap();
        assert!(f.next_frame().unwrap().is_none());
        f.push(OPT).unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Pong)));
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Message(m)) if m.raw() == OPT));
        // A pong right after a message.
        f.push(OPT).unwrap();
        f.push(b"\r\n").unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Message(_))));
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Pong)));
    }

    /// A 100 KB header section fed one byte at a time: framed once, and each
    /// byte looked at a bounded number of times (it used to be rescanned
    /// from the start at every push: quadratic).
    #[test]
    fn trickled_header_section_is_scanned_once() {
        let mut head = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n".to_vec();
        for i in 0..100 {
            head.extend_from_slice(format!("X-Pad-{i:03}: {}\r\n", "p".repeat(1024)).as_bytes());
        }
        head.extend_from_slice(b"Content-Length:\r\n 4\r\n\r\nbody");
        assert!(head.len() > 100 * 1024);
        // One line of 100 KB too (over the value limit: framed, then Invalid).
        let mut long = b"OPTIONS sip:a@b SIP/2.0\r\nX-Long: ".to_vec();
        long.extend_from_slice(&vec![b'q'; 100 * 1024]);
        long.extend_from_slice(b"\r\nl: 0\r\n\r\n");
        for (msg, valid) in [(&head, true), (&long, false)] {
            let mut f = StreamFramer::new(Limits::default());
            let mut frames = Vec::new();
            let mut work = 0;
            for byte in msg.chunks(1) {
                f.push(byte).unwrap();
                work = work.max(f.head.work);
                while let Some(fr) = f.next_frame().unwrap() {
                    frames.push(fr);
                }
                work = work.max(f.head.work);
            }
            assert_eq!(frames.len(), 1);
            match &frames[0] {
                Frame::Message(m) if valid => {
                    assert_eq!(m.raw(), &msg[..]);
                    assert_eq!(m.body(), b"body");
                }
                Frame::Invalid { error, raw } if !valid => {
                    assert_eq!(&raw[..], &msg[..]);
                    assert!(matches!(error.kind, ErrorKind::HeaderTooLong(_)), "{error}");
                }
                other => panic!("{other:?}"),
            }
            assert!(work <= 2 * msg.len(), "scanned {work} bytes for a {}-byte message", msg.len());
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
