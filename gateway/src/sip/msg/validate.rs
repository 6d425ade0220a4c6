//! Application-layer validation of a well-formed request (RFC 3261 8.2,
//! RFC 4475 section 3.3): the answer a B2BUA owes a request it cannot
//! process, in the order RFC 3261 inspects it.
//!
//! Contract: [`validate_request`] takes a request that passed
//! `Message::parse` and [`super::check`], and a [`Policy`] (what this
//! element implements), and returns `None` when the request may be
//! processed, or the [`Rejection`] to send. Responses are not judged here,
//! and neither is ACK: it is never answered (RFC 3261 17.2.3, 8.2 note),
//! so it is `None` whatever it holds.

use super::header::HeaderName;
use super::message::Message;
use super::method::Method;
use super::uri::Scheme;

/// What the element implements.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Methods processed (advertised in Allow).
    pub methods: &'static [Method],
    /// Option tags understood in Require.
    pub extensions: &'static [&'static str],
    /// Body types accepted (advertised in Accept).
    pub accept: &'static [&'static str],
}

/// The gateway's B2BUA policy.
pub const GATEWAY: Policy = Policy {
    methods: &[
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Options,
        Method::Update,
        Method::Prack,
        Method::Info,
        Method::Refer,
        Method::Notify,
    ],
    extensions: &["100rel", "timer", "replaces", "norefersub", "tdialog", "histinfo"],
    accept: &[
        "application/sdp",
        "multipart/mixed",
        "application/pidf+xml",
        "application/dtmf-relay",
        "application/dtmf",
        "audio/telephone-event",
        "message/sipfrag",
    ],
};

impl Policy {
    /// The Allow header value.
    pub fn allow(&self) -> String {
        self.methods.iter().filter_map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// The Warning of the 406 to an INVITE whose Accept excludes SDP.
pub const NOT_ACCEPTABLE_WARNING: &str = "399 bridgehead \"Accept offers neither application/sdp nor multipart/mixed\"";

/// An error response to send instead of processing the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: &'static str,
    /// Extra headers the response must carry (Allow, Unsupported, Accept ...).
    pub headers: Vec<(&'static str, String)>,
    /// Why, for logs and the support tool.
    pub detail: String,
}

fn reject(status: u16, reason: &'static str, detail: impl Into<String>) -> Option<Rejection> {
    Some(Rejection { status, reason, headers: Vec::new(), detail: detail.into() })
}

/// Validate a well-formed request as a UAS (the B2BUA's receiving leg).
pub fn validate_request(msg: &Message, policy: &Policy) -> Option<Rejection> {
    let method = msg.method()?;
    if method == Method::Ack {
        return None;
    }
    // Headers without which no response can be built or matched.
    for name in [HeaderName::To, HeaderName::From, HeaderName::CallId, HeaderName::CSeq, HeaderName::Via] {
        if msg.header(name).is_none() {
            return reject(400, "Bad Request", format!("missing {} header", name.canonical()));
        }
    }
    for name in HeaderName::ALL.iter().copied().filter(|n| n.is_single()) {
        if msg.headers_named(name).nth(1).is_some() {
            return reject(400, "Bad Request", format!("more than one {} header", name.canonical()));
        }
    }
    if let Ok(via) = msg.top_via() {
        if via.branch() == Some("z9hG4bK") {
            return reject(400, "Bad Request", "Via branch is the magic cookie alone");
        }
    }
    // 8.2.1 method inspection.
    if !policy.methods.contains(&method) {
        let mut r = if method == Method::Other {
            reject(501, "Not Implemented", "method not implemented")
        } else {
            reject(405, "Method Not Allowed", format!("{} is not served here", method.as_str().unwrap_or("")))
        }?;
        r.headers.push(("Allow", policy.allow()));
        return Some(r);
    }
    // 8.2.2.1 Request-URI scheme.
    if let Some(uri) = msg.request_uri_str() {
        if let Ok(u) = super::Uri::parse(uri) {
            if !matches!(u.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
                return reject(416, "Unsupported URI Scheme", format!("Request-URI scheme '{}'", u.scheme_str));
            }
        }
    }
    // 8.2.2.3 Require (not for CANCEL and ACK).
    if !matches!(method, Method::Cancel | Method::Ack) {
        let unknown: Vec<&str> = msg
            .option_tags(HeaderName::Require)
            .filter_map(Result::ok)
            .filter(|t| !policy.extensions.iter().any(|e| e.eq_ignore_ascii_case(t)))
            .collect();
        if !unknown.is_empty() {
            let mut r = reject(420, "Bad Extension", "unsupported option tags in Require")?;
            r.headers.push(("Unsupported", unknown.join(", ")));
            return Some(r);
        }
    }
    // 8.2.3 content processing.
    if !msg.body().is_empty() {
        if let Ok(Some(ct)) = msg.content_type() {
            let known = policy.accept.iter().any(|a| ct.is(a));
            if !known {
                let mut r = reject(415, "Unsupported Media Type", format!("body type {}/{}", ct.kind, ct.subtype))?;
                r.headers.push(("Accept", policy.accept.join(", ")));
                return Some(r);
            }
        }
        if let Some(enc) = msg.header_value(HeaderName::ContentEncoding) {
            if !enc.trim().eq_ignore_ascii_case("identity") {
                let mut r = reject(415, "Unsupported Media Type", format!("Content-Encoding {enc}"))?;
                r.headers.push(("Accept-Encoding", "identity".into()));
                return Some(r);
            }
        }
    }
    // 8.2.3/21.4.7: the answer to an INVITE carries SDP, alone or in a
    // multipart/mixed body; the request must accept one of them.
    if method == Method::Invite {
        let accepts: Vec<&str> = msg.list_values(HeaderName::Accept).map(|(_, v, _)| v).collect();
        if !accepts.is_empty() {
            let sdp_ok = accepts.iter().any(|a| {
                let t = a.split(';').next().unwrap_or("").trim();
                ["application/sdp", "application/*", "multipart/mixed", "multipart/*", "*/*"]
                    .iter()
                    .any(|ok| t.eq_ignore_ascii_case(ok))
            });
            if !sdp_ok {
                let mut r =
                    reject(406, "Not Acceptable", "Accept includes neither application/sdp nor multipart/mixed")?;
                r.headers.push(("Warning", NOT_ACCEPTABLE_WARNING.into()));
                return Some(r);
            }
        }
    }
    // 16.3 / 8.2: a request the B2BUA would relay with no hops left. Not
    // OPTIONS (answered here, RFC 4475 3.3.11), nor BYE and CANCEL: the
    // B2BUA ends those on the leg they arrived on and sends its own
    // request on the other leg (RFC 7092 3.1), with fresh Max-Forwards.
    if !matches!(method, Method::Options | Method::Bye | Method::Cancel) {
        if let Ok(Some(0)) = msg.max_forwards() {
            return reject(483, "Too Many Hops", "Max-Forwards is 0");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(method: &str, extra: &str) -> Message {
        let raw = format!(
            "{method} sip:a@gw.example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@gw.example.com>;tag=t\r\n\
From: <sip:b@op.example>;tag=f\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse_datagram(Bytes::from(raw)).unwrap()
    }

    #[test]
    fn ack_is_never_answered() {
        for extra in ["Max-Forwards: 0\r\n", "Require: nothingSupportsThis\r\nCSeq: 2 ACK\r\n", ""] {
            assert_eq!(validate_request(&req("ACK", extra), &GATEWAY), None, "{extra:?}");
        }
        // Even with no To, From or Call-ID.
        let bare =
            Message::parse_datagram(Bytes::from_static(b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n")).unwrap();
        assert_eq!(validate_request(&bare, &GATEWAY), None);
    }

    #[test]
    fn max_forwards_zero() {
        for m in ["BYE", "CANCEL", "OPTIONS"] {
            assert_eq!(validate_request(&req(m, "Max-Forwards: 0\r\n"), &GATEWAY), None, "{m}");
        }
        for m in ["INVITE", "UPDATE", "INFO"] {
            let r = validate_request(&req(m, "Max-Forwards: 0\r\n"), &GATEWAY);
            assert_eq!(r.map(|r| r.status), Some(483), "{m}");
        }
    }

    #[test]
    fn accept_multipart_alone_is_not_406() {
        for accept in ["multipart/mixed", "multipart/*", "application/sdp", "*/*", "text/plain, multipart/mixed;x=1"] {
            let r = validate_request(&req("INVITE", &format!("Accept: {accept}\r\n")), &GATEWAY);
            assert_eq!(r, None, "{accept}");
        }
        let r = validate_request(&req("INVITE", "Accept: text/nobodyKnowsThis\r\n"), &GATEWAY).unwrap();
        assert_eq!(r.status, 406);
        assert_eq!(r.headers, vec![("Warning", NOT_ACCEPTABLE_WARNING.to_owned())]);
    }
}
