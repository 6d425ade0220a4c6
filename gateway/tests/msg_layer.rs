//! The message layer's contract, case by case: datagram framing, the size
//! limits and their answers, compact forms, typed accessors on the RFC
//! 4475 messages, and error positions.

use bytes::Bytes;
use gateway::sip::msg::check::check;
use gateway::sip::msg::{
    Contact, ErrorKind, Framing, HeaderName, Host, Limits, Message, Method, ParseError, Scheme, Uri,
};

fn torture(name: &str) -> Bytes {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance/rfc4475").join(name);
    Bytes::from(std::fs::read(p).expect("torture message"))
}

fn dgram(s: &str) -> Result<Message, ParseError> {
    Message::parse_datagram(Bytes::copy_from_slice(s.as_bytes()))
}

const HEAD: &str = "OPTIONS sip:gw.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\nTo: <sip:gw.example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n";

#[test]
fn datagram_content_length_bounds_the_body() {
    let m = dgram(&format!("{HEAD}Content-Length: 4\r\n\r\nbodyTRAILING")).unwrap();
    assert_eq!(m.body(), b"body");
    assert!(m.raw().ends_with(b"\r\n\r\nbody"), "trailing octets are not part of the message");
    let m = dgram(&format!("{HEAD}\r\nto the end")).unwrap();
    assert_eq!(m.body(), b"to the end", "no Content-Length: the body runs to the end of the datagram");
    let e = dgram(&format!("{HEAD}Content-Length: 40\r\n\r\nshort")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BodyShort { declared: 40, available: 5 });
    assert_eq!(e.header.as_deref(), Some("Content-Length"));
    assert_eq!(e.response(), (400, "Bad Request"));
}

#[test]
fn stream_framing_requires_content_length() {
    let e = Message::parse_stream(Bytes::from(format!("{HEAD}\r\n"))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoContentLength);
}

#[test]
fn every_limit_has_its_error_and_answer() {
    let l = Limits::default();
    // Whole UDP message over 10 KB: 513.
    let big = format!("{HEAD}X-Pad: {}\r\nContent-Length: 0\r\n\r\n", "p".repeat(10 * 1024));
    let e = dgram(&big).unwrap_err();
    assert_eq!((e.kind.clone(), e.response().0), (ErrorKind::MessageTooLarge(10 * 1024), 513));
    // Body over 128 KB on a stream: 413.
    let body = "v".repeat(128 * 1024 + 1);
    let e =
        Message::parse_stream(Bytes::from(format!("{HEAD}Content-Length: {}\r\n\r\n{body}", body.len()))).unwrap_err();
    assert_eq!((e.kind.clone(), e.response().0), (ErrorKind::BodyTooLarge(128 * 1024), 413));
    // Request-URI over 256 B: 414.
    let long_uri = format!("sip:{}@gw.example.com", "u".repeat(250));
    let e = dgram(&HEAD.replace("OPTIONS sip:gw.example.com", &format!("OPTIONS {long_uri}"))).unwrap_err();
    assert_eq!((e.kind.clone(), e.response().0), (ErrorKind::UriTooLong(256), 414));
    // Header name over 32 B: 400, pointing at the line.
    let e = dgram(&format!("{HEAD}X-{}: v\r\n\r\n", "n".repeat(31))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HeaderNameTooLong(32));
    assert_eq!(e.offset, HEAD.len());
    // Option tag over 32 B, and a Supported value over 256 B.
    let m = dgram(&format!("{HEAD}Require: {}\r\n\r\n", "t".repeat(33))).unwrap();
    let e = check(&m, &l).unwrap_err();
    assert_eq!((e.kind, e.header.as_deref()), (ErrorKind::OptionTagTooLong(32), Some("Require")));
    let tags = vec!["timer"; 50].join(", ");
    let m = dgram(&format!("{HEAD}k: {tags}\r\n\r\n")).unwrap();
    let e = check(&m, &l).unwrap_err();
    assert_eq!((e.kind, e.header.as_deref()), (ErrorKind::HeaderTooLong(256), Some("Supported")));
    // Contact URI over 256 B.
    let m = dgram(&format!("{HEAD}Contact: <sip:{}@h>\r\n\r\n", "c".repeat(260))).unwrap();
    assert_eq!(check(&m, &l).unwrap_err().kind, ErrorKind::UriTooLong(256));
    // Header count bound.
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(dgram(&format!("{HEAD}{many}\r\n")).unwrap_err().kind, ErrorKind::TooManyHeaders(128));
}

#[test]
fn longreq_parses_when_the_header_name_limit_allows_it() {
    let limits = Limits { max_header_name: 128, ..Limits::default() };
    let m = Message::parse(torture("longreq.dat"), Framing::Datagram, &limits).expect("valid per RFC 4475");
    check(&m, &limits).expect("well-formed");
    assert_eq!(m.vias().count(), 34);
    assert!(m.to().unwrap().display.is_some_and(|d| d.len() > 100));
}

#[test]
fn compact_forms_map_to_their_headers() {
    for (c, name) in [
        ("i", HeaderName::CallId),
        ("m", HeaderName::Contact),
        ("e", HeaderName::ContentEncoding),
        ("l", HeaderName::ContentLength),
        ("c", HeaderName::ContentType),
        ("f", HeaderName::From),
        ("s", HeaderName::Subject),
        ("k", HeaderName::Supported),
        ("t", HeaderName::To),
        ("v", HeaderName::Via),
        ("o", HeaderName::Event),
        ("r", HeaderName::ReferTo),
        ("b", HeaderName::ReferredBy),
        ("x", HeaderName::SessionExpires),
        ("u", HeaderName::AllowEvents),
        ("a", HeaderName::AcceptContact),
        ("j", HeaderName::RejectContact),
        ("d", HeaderName::RequestDisposition),
        ("y", HeaderName::Identity),
    ] {
        assert_eq!(HeaderName::from_bytes(c.as_bytes()), name, "{c}");
        assert_eq!(HeaderName::from_bytes(c.to_uppercase().as_bytes()), name, "{c} upper case");
        assert_eq!(name.compact(), Some(c.as_bytes()[0]));
        assert_eq!(HeaderName::from_bytes(name.canonical().to_lowercase().as_bytes()), name);
    }
    assert_eq!(HeaderName::from_bytes(b"X-MS-SBC"), HeaderName::Other);
}

#[test]
fn wsinv_typed_fields() {
    let m = Message::parse_datagram(torture("wsinv.dat")).unwrap();
    check(&m, &Limits::default()).unwrap();
    assert_eq!(m.method(), Some(Method::Invite));
    assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
    let from = m.from().unwrap();
    assert_eq!(from.display_name().unwrap(), "J Rosenberg \\\"");
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].host, Host::V4("192.0.2.2".parse().unwrap()));
    assert_eq!(vias[0].rport(), None);
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(
        (vias[1].transport, vias[1].host_str, vias[1].branch()),
        ("TCP", "spindle.example.com", Some("z9hG4bK9ikj8"))
    );
    assert_eq!((vias[2].host_str, vias[2].branch()), ("192.168.255.111", Some("z9hG4bK30239")));
    let key = m.transaction_key().unwrap();
    assert_eq!((key.branch, key.rfc3261), ("390skdjuw", false));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn escapes_and_opaque_schemes() {
    let m = Message::parse_datagram(torture("esc01.dat")).unwrap();
    let ruri = Uri::parse(m.request_uri_str().unwrap()).unwrap();
    assert_eq!(&*gateway::sip::msg::unescape(ruri.user.unwrap()), b"sips:user@example.com");
    let m = Message::parse_datagram(torture("escnull.dat")).unwrap();
    let contacts: Vec<_> = m.contacts().map(Result::unwrap).collect();
    assert_eq!(contacts.len(), 2);
    let m = Message::parse_datagram(torture("unksm2.dat")).unwrap();
    check(&m, &Limits::default()).unwrap();
    assert_eq!(m.to().unwrap().uri.scheme, Scheme::Other);
    assert_eq!(m.from().unwrap().uri.scheme_str, "http");
}

#[test]
fn contact_star_route_and_interop_headers() {
    let m = dgram(&format!(
        "{HEAD}Contact: *\r\nRoute: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\nRoute: <sip:[2001:db8::1]:5061;lr;transport=tls>\r\n\
RSeq: 988789\r\nRAck: 776656 1 INVITE\r\nx: 1800;refresher=uas\r\nP-Asserted-Identity: \"Alice\" <sip:+15551230000@example.com;user=phone>, <tel:+15551230000>\r\n\
Privacy: id;header\r\nHistory-Info: <sip:a@x>;index=1, <sip:b@y?Reason=SIP%3Bcause%3D302>;index=1.1\r\nDiversion: <sip:+15550001111@op.example>;reason=unconditional;counter=1\r\n\
r: <sip:c@z?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\nb: <sip:d@w>\r\nReplaces: abc@h;to-tag=1;from-tag=2;early-only\r\nReason: Q.850;cause=16;text=\"Normal\", SIP;cause=200\r\n\r\n"
    ))
    .unwrap();
    check(&m, &Limits::default()).unwrap();
    assert_eq!(m.contacts().next().unwrap().unwrap(), Contact::Star);
    let routes: Vec<_> = m.routes().map(Result::unwrap).collect();
    assert_eq!(routes.len(), 3);
    assert_eq!(routes[2].uri.host, Some(Host::V6("2001:db8::1".parse().unwrap())));
    assert_eq!(m.rseq().unwrap(), Some(988789));
    assert_eq!(m.rack().unwrap().unwrap().rseq, 776656);
    assert_eq!(m.session_expires().unwrap().unwrap().refresher, Some("uas"));
    assert_eq!(m.p_asserted_identities().count(), 2);
    assert_eq!(m.privacy().collect::<Vec<_>>(), ["id", "header"]);
    assert_eq!(
        m.history_info().map(|h| h.unwrap().params.get("index").flatten().unwrap()).collect::<Vec<_>>(),
        ["1", "1.1"]
    );
    assert_eq!(m.diversions().next().unwrap().unwrap().params.get("reason").flatten(), Some("unconditional"));
    assert!(m.refer_to().unwrap().unwrap().uri.headers.is_some());
    assert!(m.referred_by().unwrap().is_some());
    assert!(m.replaces().unwrap().unwrap().early_only);
    let reasons: Vec<_> = m.reasons().map(Result::unwrap).collect();
    assert_eq!((reasons[0].cause, reasons[1].protocol), (Some(16), "SIP"));
}

#[test]
fn errors_say_where() {
    let text = format!("{HEAD}Max-Forwards: 70\r\nContact: <sip:a@b> junk\r\n\r\n");
    let m = dgram(&text).unwrap();
    let e = check(&m, &Limits::default()).unwrap_err();
    assert_eq!(e.header.as_deref(), Some("Contact"));
    assert_eq!(&text[e.offset..e.offset + 10], "<sip:a@b> ");
    assert!(e.to_string().starts_with("Contact: malformed value"), "{e}");
    let e = dgram("INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n").unwrap_err();
    assert_eq!((e.kind, e.offset), (ErrorKind::HeaderLine, 24));
    let e = dgram("SIP/2.0 99 Too Small\r\n\r\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::StatusCode);
    let e = dgram("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Truncated);
}
