//! Helpers shared by the fuzz targets: drive every read-only API of a
//! parsed message, check the printer's round trips, and reduce stream
//! frames to comparable values.

use bytes::Bytes;
use gateway::sip::msg::validate::{self, GATEWAY};
use gateway::sip::msg::{
    check, multipart, split_list, unescape, Contact, Editor, ErrorKind, Frame, Framing, HeaderName, Limits, Message,
    NameAddr, StreamFramer, Uri,
};

fn touch_uri(u: &Uri<'_>) {
    let _ = (u.user_param(), u.transport(), u.port, u.password, u.headers, u.scheme.as_str());
    if let Some(h) = u.host {
        let _ = h.to_string();
    }
    if let Some(user) = u.user {
        let _ = unescape(user);
    }
    for p in u.params.iter() {
        let _ = (p.name, p.value);
    }
}

fn touch_addr(a: &NameAddr<'_>) {
    let _ = (a.display_name(), a.tag(), a.params.check());
    touch_uri(&a.uri);
    for p in a.params.iter() {
        let _ = (p.name, p.value);
    }
}

/// Call every typed accessor and check the unchanged print.
pub fn touch(m: &Message) {
    let limits = Limits::default();
    let full = check::check(m, &limits);
    let essential = check::check_response(m, &limits);
    let received = check::check_received(m, &limits);
    // The receive path's check is the full one for requests, the essential one for responses.
    assert_eq!(received, if m.is_request() { full } else { essential });
    let _ = validate::validate_request(m, &GATEWAY);
    let _ = (m.method(), m.method_str(), m.request_uri_str(), m.status(), m.reason(), m.content_length());
    let _ = (m.body(), m.body_span(), m.head_end(), m.start_line(), m.is_request());
    if let Some(u) = m.request_uri_str() {
        if let Ok(u) = Uri::parse(u) {
            touch_uri(&u);
        }
    }
    for v in m.vias().flatten() {
        let _ = (v.branch(), v.received(), v.received_ip(), v.rport(), v.maddr(), v.ttl(), v.is_rfc3261(), v.host.to_string());
        let _ = (v.protocol, v.version, v.transport, v.port, v.params.check());
    }
    let _ = m.top_via();
    for a in [m.from(), m.to()].into_iter().flatten() {
        touch_addr(&a);
    }
    for c in m.contacts().flatten() {
        if let Contact::Addr(a) = c {
            touch_addr(&a);
        }
    }
    let lists = m.routes().chain(m.record_routes()).chain(m.p_asserted_identities());
    for a in lists.chain(m.history_info()).chain(m.diversions()).flatten() {
        touch_addr(&a);
    }
    for name in [HeaderName::Require, HeaderName::Supported, HeaderName::ProxyRequire, HeaderName::Unsupported] {
        let _ = m.option_tags(name).count();
    }
    let _ = (m.supports("timer"), m.requires("100rel"), m.allow().count(), m.privacy().count());
    let _ = (m.rseq(), m.rack(), m.session_expires(), m.replaces(), m.expires(), m.max_forwards());
    for a in [m.refer_to(), m.referred_by()].into_iter().flatten().flatten() {
        touch_addr(&a);
    }
    for r in m.reasons().flatten() {
        let _ = (r.protocol, r.cause, r.text, r.text_unescaped());
    }
    if let Ok(Some(se)) = m.session_expires() {
        let _ = se.refresher_role();
    }
    let _ = (m.call_id(), m.cseq(), m.transaction_key());
    if let Ok(Some(ct)) = m.content_type() {
        let _ = (ct.is("multipart/mixed"), ct.kind, ct.subtype);
        if let Some(b) = ct.boundary() {
            if let Ok(parts) = multipart::parts(m.body(), b) {
                for p in parts {
                    let _ = (p.content_type(), p.header("Content-ID"), p.body.len());
                }
            }
        }
    }
    let _ = multipart::parts(m.body(), "boundary1");
    for h in m.headers() {
        let _ = (h.canonical_name(), split_list(h.value).count(), m.headers_by_name(h.raw_name).count());
        // A value that is not UTF-8 reads as "" and keeps its bytes.
        let bytes = m.header_bytes(h.index);
        assert!(h.value.as_bytes() == bytes || (h.value.is_empty() && std::str::from_utf8(bytes).is_err()));
    }
    for &name in HeaderName::ALL {
        let _ = (m.single(name), m.list_values(name).count(), m.header_value(name));
    }
    // An unmodified message prints back exactly as received.
    assert_eq!(Editor::new(m).print(), m.raw(), "unchanged print differs from raw()");
}

/// Edit a parsed message the way a B2BUA does and check that the result
/// parses again, with the edits in place and a true Content-Length.
pub fn edit_round_trip(m: &Message) {
    let body: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
    let mut e = Editor::new(m);
    e.push_front("Via", "SIP/2.0/TLS gw.example.com;branch=z9hG4bKfuzz")
        .set("Max-Forwards", "69")
        .set_body(Some("application/sdp"), Bytes::from_static(body));
    if m.is_request() {
        e.set_request_uri("sip:+15551234567@teams.example.com;user=phone");
    }
    let out = e.print();
    // Inserted lines may push a message over the header or size limits.
    let relaxed = Limits { max_datagram: usize::MAX / 4, ..Limits::default() };
    let p = match Message::parse(Bytes::from(out), Framing::Datagram, &relaxed) {
        Ok(p) => p,
        Err(err) if matches!(err.kind, ErrorKind::TooManyHeaders(_)) => return,
        Err(err) => panic!("edited message does not parse: {err}"),
    };
    assert_eq!(p.body(), body);
    assert_eq!(p.content_length(), Some(body.len() as u32));
    assert_eq!(p.headers_named(HeaderName::ContentLength).count(), 1);
    assert_eq!(p.header_value(HeaderName::ContentType), Some("application/sdp"));
    let top = p.headers_named(HeaderName::Via).next().map(|h| h.value);
    assert_eq!(top, Some("SIP/2.0/TLS gw.example.com;branch=z9hG4bKfuzz"));
    assert_eq!(p.headers_named(HeaderName::MaxForwards).map(|h| h.value).collect::<Vec<_>>(), ["69"]);
    if m.is_request() {
        assert_eq!(p.request_uri_str(), Some("sip:+15551234567@teams.example.com;user=phone"));
    } else {
        assert_eq!(p.status(), m.status());
    }
}

/// A frame reduced to comparable values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum F {
    Message(Vec<u8>),
    Invalid(Vec<u8>),
    Ping,
    Pong,
    /// A fatal framing error (the stream is closed).
    Failed,
}

/// Frames with every ping counted as two pongs: a ping cut between its
/// CRLFs comes out as two pongs (a lone CRLF is a pong at once), so only
/// this view of a stream is the same however it is split.
pub fn pongs(frames: &[F]) -> Vec<F> {
    frames
        .iter()
        .flat_map(|f| match f {
            F::Ping => vec![F::Pong, F::Pong],
            other => vec![other.clone()],
        })
        .collect()
}

/// Feed `chunks` in order, draining frames after each.
pub fn frames(chunks: &[&[u8]], limits: Limits) -> Vec<F> {
    let mut f = StreamFramer::new(limits);
    let mut out = Vec::new();
    for c in chunks {
        if f.push(c).is_err() {
            out.push(F::Failed);
            return out;
        }
        loop {
            match f.next_frame() {
                Ok(Some(Frame::Message(m))) => out.push(F::Message(m.raw().to_vec())),
                Ok(Some(Frame::Invalid { raw, .. })) => out.push(F::Invalid(raw.to_vec())),
                Ok(Some(Frame::Ping)) => out.push(F::Ping),
                Ok(Some(Frame::Pong)) => out.push(F::Pong),
                Ok(None) => break,
                Err(_) => {
                    out.push(F::Failed);
                    return out;
                }
            }
        }
    }
    out
}
