//! Building responses from a request (RFC 3261 8.2.6.2).
//!
//! Contract: [`response`] copies every Via value (in order), From, To,
//! Call-ID, CSeq and Timestamp from the request, adds the To tag when one
//! is given and the request's To has none, appends the extra headers and
//! the body, and always writes a correct Content-Length. It works on any
//! request that parsed, so a malformed one can still be answered; copied
//! values keep their bytes even when they are not UTF-8.

use super::header::HeaderName;
use super::message::Message;

/// Append one header line, `Name: value` and CRLF; the value is written as given.
pub fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Print a response to `req`.
pub fn response(
    req: &Message,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"SIP/2.0 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    let line = push_header;
    for h in req.headers() {
        let value = req.header_bytes(h.index);
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq | HeaderName::Timestamp => {
                line(&mut out, h.name.canonical(), value);
            }
            HeaderName::To => match to_tag {
                Some(tag) if !has_tag(value) => {
                    out.extend_from_slice(b"To: ");
                    out.extend_from_slice(value);
                    out.extend_from_slice(b";tag=");
                    out.extend_from_slice(tag.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                _ => line(&mut out, "To", value),
            },
            _ => {}
        }
    }
    for (n, v) in extra {
        line(&mut out, n, v.as_bytes());
    }
    let (ctype, body) = body.unwrap_or(("", b""));
    if !body.is_empty() {
        line(&mut out, "Content-Type", ctype.as_bytes());
    }
    line(&mut out, "Content-Length", itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn has_tag(to: &[u8]) -> bool {
    let lenient = super::Leniency::for_header(HeaderName::To);
    match std::str::from_utf8(to).ok().and_then(|t| super::NameAddr::parse_with(t, lenient).ok()) {
        Some(a) => a.tag().is_some(),
        None => memchr::memmem::find(to, b";tag=").is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn copies_the_transaction_headers_and_adds_the_tag() {
        let req = Message::parse_datagram(Bytes::from_static(
            b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK0\r\nVia: SIP/2.0/TCP c;branch=z9hG4bKc\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>\r\nCall-ID: x@y\r\nCSeq: 7 INVITE\r\nTimestamp: 54\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let r = response(&req, 180, "Ringing", Some("t1"), &[("Allow", "INVITE, ACK")], None);
        let m = Message::parse_datagram(Bytes::from(r)).unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.vias().count(), 3);
        assert_eq!(m.to().unwrap().tag(), Some("t1"));
        assert_eq!(m.from().unwrap().tag(), Some("f"));
        assert_eq!(m.cseq().unwrap().seq, 7);
        assert_eq!(m.header_value(HeaderName::Timestamp), Some("54"));
        assert_eq!(m.header_value(HeaderName::Allow), Some("INVITE, ACK"));
        assert!(m.header(HeaderName::MaxForwards).is_none());
        assert_eq!(m.content_length(), Some(0));
        // A To that already has a tag keeps it.
        let r = response(&m, 200, "OK", Some("other"), &[], Some(("application/sdp", b"v=0\r\n")));
        let m2 = Message::parse_datagram(Bytes::from(r)).unwrap();
        assert_eq!(m2.to().unwrap().tag(), Some("t1"));
        assert_eq!(m2.body(), b"v=0\r\n");
    }

    #[test]
    fn copies_values_that_are_not_utf8_byte_for_byte() {
        let req = Message::parse_datagram(Bytes::from_static(
            b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: \"M\xfcller\" <sip:a@h>;tag=f\r\n\
To: \"J\xf6rg\" <sip:b@h>\r\nCall-ID: x@y\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let r = response(&req, 400, "Bad Request", Some("t9"), &[], None);
        let m = Message::parse_datagram(Bytes::from(r)).unwrap();
        let from = m.header(HeaderName::From).unwrap();
        assert_eq!(m.header_bytes(from.index), b"\"M\xfcller\" <sip:a@h>;tag=f");
        let to = m.header(HeaderName::To).unwrap();
        assert_eq!(m.header_bytes(to.index), b"\"J\xf6rg\" <sip:b@h>;tag=t9");
    }
}
