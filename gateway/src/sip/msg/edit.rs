//! Printing a message back, with edits.
//!
//! Contract: an [`Editor`] records edits against a parsed [`Message`]
//! without touching it. [`Editor::print`] of an editor with no edits is
//! the received bytes, byte for byte. With edits, untouched header lines
//! keep their exact bytes (names, folding, spacing), edited ones are
//! written `Name: value`, and Content-Length always states the length of
//! the body printed (added if the original had none).
//!
//! A value given to `set`, `push_front`, `push_back`, `insert_before`,
//! `replace_index` (and a Content-Type given to `set_body`) can never
//! start a new header line: a CR or LF in it that is not part of a fold
//! (CRLF or LF followed by SP or HTAB) is printed as a space. In a start
//! line or Request-URI every CR and LF is printed as a space.

use std::borrow::Cow;

use bytes::Bytes;

use super::header::HeaderName;
use super::message::{Message, StartLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before header line `i` of the original.
    Before(usize),
    /// After every original line.
    End,
}

/// Edits to apply to a message when printing it.
#[derive(Debug, Clone)]
pub struct Editor<'m> {
    msg: &'m Message,
    start_line: Option<String>,
    removed: u128,
    replaced: Vec<(usize, String)>,
    inserted: Vec<(At, String, String)>,
    body: Option<(Option<String>, Bytes)>,
}

const _: () = assert!(super::limits::HEADER_CAPACITY <= 128);

impl<'m> Editor<'m> {
    pub fn new(msg: &'m Message) -> Self {
        Editor { msg, start_line: None, removed: 0, replaced: Vec::new(), inserted: Vec::new(), body: None }
    }

    pub fn is_unchanged(&self) -> bool {
        self.start_line.is_none()
            && self.removed == 0
            && self.replaced.is_empty()
            && self.inserted.is_empty()
            && self.body.is_none()
    }

    /// Replace the Request-URI (requests only; ignored on a response).
    /// CR and LF are printed as spaces.
    pub fn set_request_uri(&mut self, uri: &str) -> &mut Self {
        if let StartLine::Request { .. } = self.msg.start_line() {
            let m = self.msg.method_str().unwrap_or("");
            self.start_line = Some(format!("{m} {} SIP/2.0", one_line(uri)));
        }
        self
    }

    /// Replace the whole start line (without its line end). CR and LF are
    /// printed as spaces.
    pub fn set_start_line(&mut self, line: &str) -> &mut Self {
        self.start_line = Some(one_line(line).into_owned());
        self
    }

    /// Remove header line `index`.
    pub fn remove_index(&mut self, index: usize) -> &mut Self {
        if index < 128 {
            self.removed |= 1u128 << index;
        }
        self
    }

    /// Remove every line of a header (by any spelling).
    pub fn remove(&mut self, name: &str) -> &mut Self {
        let idx: Vec<usize> = self.msg.headers_by_name(name).map(|h| h.index).collect();
        for i in idx {
            self.remove_index(i);
        }
        self
    }

    /// Replace the value of header line `index` (CR/LF outside folds
    /// become spaces, see the module documentation).
    pub fn replace_index(&mut self, index: usize, value: &str) -> &mut Self {
        self.replaced.retain(|(i, _)| *i != index);
        self.replaced.push((index, header_value(value)));
        self
    }

    /// Set a header to one value: the first line is rewritten, the others
    /// removed; added at the end when absent.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        let idx: Vec<usize> = self.msg.headers_by_name(name).map(|h| h.index).collect();
        match idx.split_first() {
            Some((first, rest)) => {
                self.replace_index(*first, value);
                for i in rest {
                    self.remove_index(*i);
                }
            }
            None => {
                self.push_back(name, value);
            }
        }
        self
    }

    /// Add a header line above all others (e.g. a Via).
    pub fn push_front(&mut self, name: &str, value: &str) -> &mut Self {
        // Without header lines there is no line 0 to print it before.
        let at = if self.msg.header_entries().is_empty() { At::End } else { At::Before(0) };
        self.inserted.push((at, name.to_owned(), header_value(value)));
        self
    }

    /// Add a header line above the first line of `before` (or at the end).
    pub fn insert_before(&mut self, before: HeaderName, name: &str, value: &str) -> &mut Self {
        let at = self.msg.header(before).map_or(At::End, |h| At::Before(h.index));
        self.inserted.push((at, name.to_owned(), header_value(value)));
        self
    }

    /// Add a header line after all others.
    pub fn push_back(&mut self, name: &str, value: &str) -> &mut Self {
        self.inserted.push((At::End, name.to_owned(), header_value(value)));
        self
    }

    /// Replace the body; `content_type` `Some` sets Content-Type, and an
    /// empty body removes Content-Type.
    pub fn set_body(&mut self, content_type: Option<&str>, body: impl Into<Bytes>) -> &mut Self {
        self.body = Some((content_type.map(header_value), body.into()));
        self
    }

    /// Print the message with the edits.
    pub fn print(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.msg.raw().len() + 256);
        self.write_to(&mut out);
        out
    }

    /// Append the printed message to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if self.is_unchanged() {
            out.extend_from_slice(self.msg.raw());
            return;
        }
        let raw = self.msg.buffer();
        let body: &[u8] = match &self.body {
            Some((_, b)) => b,
            None => self.msg.body(),
        };
        let new_type = self.body.as_ref().map(|(t, b)| (t.as_deref(), b.is_empty()));
        match &self.start_line {
            Some(l) => out.extend_from_slice(l.as_bytes()),
            None => out.extend_from_slice(&raw[self.msg.start_line_span().range()]),
        }
        out.extend_from_slice(b"\r\n");
        let mut wrote_cl = false;
        let mut wrote_ct = false;
        let line = |out: &mut Vec<u8>, name: &str, value: &str| super::build::push_header(out, name, value.as_bytes());
        // An inserted Content-Length states the printed body's length, once.
        let inserted = |out: &mut Vec<u8>, wrote_cl: &mut bool, name: &str, value: &str| {
            if HeaderName::from_bytes(name.as_bytes()) != HeaderName::ContentLength {
                line(out, name, value);
            } else if !*wrote_cl {
                line(out, name, itoa::Buffer::new().format(body.len()));
                *wrote_cl = true;
            }
        };
        for h in self.msg.headers() {
            for (_, n, v) in self.inserted.iter().filter(|(at, _, _)| *at == At::Before(h.index)) {
                inserted(out, &mut wrote_cl, n, v);
            }
            if self.removed & (1u128 << h.index) != 0 {
                continue;
            }
            match h.name {
                HeaderName::ContentLength => {
                    if !wrote_cl {
                        line(out, h.raw_name, itoa::Buffer::new().format(body.len()));
                        wrote_cl = true;
                    }
                    continue;
                }
                HeaderName::ContentType if new_type.is_some() => {
                    if let Some((Some(t), false)) = new_type {
                        if !wrote_ct {
                            line(out, h.raw_name, t);
                            wrote_ct = true;
                        }
                    } else if let Some((None, false)) = new_type {
                        out.extend_from_slice(&raw[self.msg.header_entries()[h.index].line().range()]);
                        wrote_ct = true;
                    }
                    continue;
                }
                _ => {}
            }
            if let Some((_, v)) = self.replaced.iter().find(|(i, _)| *i == h.index) {
                line(out, h.raw_name, v);
            } else {
                let l = &raw[self.msg.header_entries()[h.index].line().range()];
                out.extend_from_slice(l);
                if !l.ends_with(b"\n") {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        for (_, n, v) in self.inserted.iter().filter(|(at, _, _)| *at == At::End) {
            inserted(out, &mut wrote_cl, n, v);
        }
        if let Some((Some(t), false)) = new_type {
            if !wrote_ct {
                line(out, "Content-Type", t);
            }
        }
        if !wrote_cl {
            line(out, "Content-Length", itoa::Buffer::new().format(body.len()));
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }
}

/// A header value as printed: each CR or LF that is not part of a fold
/// (CRLF or LF followed by SP/HTAB) becomes a space.
fn header_value(v: &str) -> String {
    let b = v.as_bytes();
    let ws = |i: usize| matches!(b.get(i), Some(b' ' | b'\t'));
    if !b.iter().any(|&c| c == b'\r' || c == b'\n') {
        return v.to_owned();
    }
    let mut out = String::with_capacity(v.len());
    for (i, ch) in v.char_indices() {
        let keep = match ch {
            '\r' => b.get(i + 1) == Some(&b'\n') && ws(i + 2),
            '\n' => ws(i + 1),
            _ => true,
        };
        out.push(if keep { ch } else { ' ' });
    }
    out
}

/// A start line as printed: every CR and LF becomes a space.
fn one_line(v: &str) -> Cow<'_, str> {
    if v.contains(['\r', '\n']) {
        Cow::Owned(v.replace(['\r', '\n'], " "))
    } else {
        Cow::Borrowed(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYE: &[u8] = b"BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=1\r\nFrom: <sip:c@d>;tag=2\r\ni: x@y\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn unchanged_is_identical() {
        let m = Message::parse_datagram(Bytes::from_static(BYE)).unwrap();
        assert_eq!(Editor::new(&m).print(), BYE);
    }

    #[test]
    fn edits_keep_content_length_true() {
        let m = Message::parse_datagram(Bytes::from_static(BYE)).unwrap();
        let mut e = Editor::new(&m);
        e.push_front("Via", "SIP/2.0/TLS gw.example.com;branch=z9hG4bKnew")
            .set("Call-ID", "new@gw")
            .remove("From")
            .set_body(Some("application/sdp"), Bytes::from_static(b"v=0\r\n"))
            .set_request_uri("sip:+15551234567@teams.example;user=phone");
        let out = e.print();
        let p = Message::parse_datagram(Bytes::from(out)).unwrap();
        assert_eq!(p.request_uri_str(), Some("sip:+15551234567@teams.example;user=phone"));
        assert_eq!(p.top_via().unwrap().branch(), Some("z9hG4bKnew"));
        assert_eq!(p.call_id().unwrap(), "new@gw");
        assert!(p.header(HeaderName::From).is_none());
        assert_eq!(p.body(), b"v=0\r\n");
        assert_eq!(p.content_length(), Some(5));
        assert_eq!(p.header_value(HeaderName::ContentType), Some("application/sdp"));
    }

    #[test]
    fn push_front_on_a_message_without_headers() {
        let m = Message::parse_datagram(Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n")).unwrap();
        let mut e = Editor::new(&m);
        e.push_front("Via", "SIP/2.0/UDP gw;branch=z9hG4bKx").push_front("Max-Forwards", "70");
        let p = Message::parse_datagram(Bytes::from(e.print())).unwrap();
        let names: Vec<&str> = p.headers().map(|h| h.raw_name).collect();
        assert_eq!(names, ["Via", "Max-Forwards", "Content-Length"]);
        assert_eq!(p.top_via().unwrap().branch(), Some("z9hG4bKx"));
    }

    #[test]
    fn content_length_set_on_a_message_without_one_is_written_once() {
        let raw = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\nhello";
        let m = Message::parse_datagram(Bytes::from_static(raw)).unwrap();
        for name in ["Content-Length", "l"] {
            let mut e = Editor::new(&m);
            e.set(name, "99").push_front("content-length", "7");
            let p = Message::parse_datagram(Bytes::from(e.print())).unwrap();
            assert_eq!(p.headers_named(HeaderName::ContentLength).count(), 1);
            assert_eq!(p.content_length(), Some(5));
            assert_eq!(p.body(), b"hello");
        }
    }

    #[test]
    fn values_cannot_inject_header_lines() {
        let m = Message::parse_datagram(Bytes::from_static(BYE)).unwrap();
        let mut e = Editor::new(&m);
        e.set("Subject", "hi\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKevil")
            .push_front("X-A", "a\rb\nc")
            .push_back("X-B", "end\r\n")
            .insert_before(HeaderName::CSeq, "X-C", "\r\n\r\nINVITE sip:x SIP/2.0")
            .replace_index(0, "SIP/2.0/UDP h;branch=z9hG4bK1\n")
            .set("X-Fold", "one,\r\n two,\n\tthree");
        let out = e.print();
        let p = Message::parse_datagram(Bytes::from(out.clone())).unwrap();
        assert_eq!(p.vias().count(), 1, "{}", String::from_utf8_lossy(&out));
        assert!(p.headers_by_name("X-Evil").next().is_none());
        assert_eq!(p.headers_by_name("Subject").next().unwrap().value, "hi  Via: SIP/2.0/UDP evil;branch=z9hG4bKevil");
        assert_eq!(p.headers_by_name("X-A").next().unwrap().value, "a b c");
        assert_eq!(p.headers_by_name("X-B").next().unwrap().value, "end");
        assert_eq!(p.headers_by_name("X-C").next().unwrap().value, "INVITE sip:x SIP/2.0");
        // Folds are kept.
        assert_eq!(p.headers_by_name("X-Fold").next().unwrap().value, "one,\r\n two,\n\tthree");
        assert_eq!(p.header_entries().len(), m.header_entries().len() + 5);
        // A start line stays one line (malformed, so it is refused, but
        // it never smuggles a header in).
        let mut e = Editor::new(&m);
        e.set_request_uri("sip:a@b SIP/2.0\r\nX-Evil: 1\r\n");
        let out = e.print();
        assert!(
            out.starts_with(b"BYE sip:a@b SIP/2.0  X-Evil: 1   SIP/2.0\r\nv: "),
            "{}",
            String::from_utf8_lossy(&out)
        );
        let mut e = Editor::new(&m);
        e.set_start_line("SIP/2.0 200 OK\nX-Evil: 1");
        assert!(e.print().starts_with(b"SIP/2.0 200 OK X-Evil: 1\r\nv: "));
    }

    #[test]
    fn lines_that_are_not_utf8_print_unchanged() {
        let raw: &[u8] = b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: Gr\xfc\xdfe\r\n\
From: \"M\xfcller\" <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse_datagram(Bytes::from_static(raw)).unwrap();
        assert_eq!(Editor::new(&m).print(), raw);
        let mut e = Editor::new(&m);
        e.set("Max-Forwards", "70");
        let out = e.print();
        assert!(memchr::memmem::find(&out, b"Subject: Gr\xfc\xdfe\r\n").is_some());
        assert!(memchr::memmem::find(&out, b"From: \"M\xfcller\" <sip:c@d>;tag=2\r\n").is_some());
    }
}
