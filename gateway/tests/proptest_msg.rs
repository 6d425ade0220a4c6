//! Property tests of the zero-copy SIP message layer (`gateway::sip::msg`).
//!
//! - Well-formed messages (requests and responses, long and compact header
//!   names in any case, odd spacing around colons, folded lines, IPv4/IPv6/
//!   domain Via hosts, quoted display names, bodies with or without
//!   Content-Length) parse, pass `check`, print back byte for byte, and
//!   expose the Call-ID, CSeq, method and status they were generated with.
//! - Arbitrary bytes, and valid messages with random mutations, never make
//!   the parser, `check`, `inspect`, `to_json`, a typed accessor or the
//!   multipart splitter panic.
//! - The stream framer yields the same frames however the stream is cut
//!   (valid streams with keep-alives, and mutated ones; a ping cut between
//!   its CRLFs counts as two pongs), and skips any run of stray CR/LF
//!   without growing the stack.
//! - An edited message re-parses and its Content-Length is its body length.
//!
//! Each property runs `PROPTEST_CASES` cases (256 by default); set the
//! variable to run more, e.g. `PROPTEST_CASES=20000 cargo test -p gateway
//! --test proptest_msg --release`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use gateway::sip::inspect::inspect_default;
use gateway::sip::msg::validate::{self, GATEWAY};
use gateway::sip::msg::{
    check, multipart, split_list, Contact, Editor, Frame, Framing, HeaderName, Limits, Message, Method, NameAddr,
    StreamFramer, Uri,
};
use proptest::prelude::*;
use proptest::sample::{select, Index};

// ---------------------------------------------------------------------------
// Generators of well-formed pieces
// ---------------------------------------------------------------------------

const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "UPDATE",
    "INFO",
    "REFER",
    "NOTIFY",
    "SUBSCRIBE",
    "MESSAGE",
    "PUBLISH",
];

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(METHODS).prop_map(str::to_owned),
        1 => "[A-Z][A-Z0-9-]{2,10}",
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

/// Linear white space between the parts of a value: spaces, tabs, folds.
fn lws() -> impl Strategy<Value = &'static str> {
    select(&[" ", "  ", "\t", " \t", "\r\n ", "\r\n\t", " \r\n  "][..])
}

fn domain() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,7}(\\.[a-z][a-z0-9]{0,7}){0,3}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => domain(),
        2 => any::<[u8; 4]>().prop_map(|a| Ipv4Addr::from(a).to_string()),
        1 => any::<[u16; 8]>().prop_map(|a| format!("[{}]", Ipv6Addr::from(a))),
        1 => Just("[::1]".to_owned()),
        1 => Just("[2001:db8::9]".to_owned()),
    ]
}

fn port() -> impl Strategy<Value = String> {
    proptest::option::of(1u16..).prop_map(|p| p.map(|p| format!(":{p}")).unwrap_or_default())
}

/// A `sip:`/`sips:` URI (no headers) or a `tel:` URI.
fn uri() -> impl Strategy<Value = String> {
    let user = proptest::option::of("[a-zA-Z0-9+_.!~*'-]{1,12}");
    let params =
        proptest::collection::vec(select(&[";lr", ";transport=tcp", ";user=phone", ";ob", ";x-p=1"][..]), 0..3);
    prop_oneof![
        5 => (select(&["sip", "sips", "SIP"][..]), user, host(), port(), params).prop_map(|(s, u, h, p, ps)| {
            let u = u.map(|u| format!("{u}@")).unwrap_or_default();
            format!("{s}:{u}{h}{p}{}", ps.concat())
        }),
        1 => "\\+[0-9]{4,12}".prop_map(|n| format!("tel:{n}")),
    ]
}

/// A display name: tokens, a quoted string (with escapes, commas, UTF-8), or none.
fn display() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => "[A-Za-z][A-Za-z0-9.]{0,7}( [A-Za-z][A-Za-z0-9]{0,7}){0,2} ",
        2 => ("[ !#-\\[\\]-~éü€]{0,16}", any::<bool>(), select(&["", " ", "\r\n "][..])).prop_map(|(s, esc, sp)| {
            let esc = if esc { "\\\"\\\\" } else { "" };
            format!("\"{s}{esc}\"{sp}")
        }),
    ]
}

/// A name-addr (`"Name" <uri>;params`) or an addr-spec (`uri;params`).
fn name_addr(extra: &'static [&'static str]) -> impl Strategy<Value = String> {
    let params = proptest::collection::vec(
        prop_oneof![token().prop_map(|t| format!(";tag={t}")), select(extra).prop_map(str::to_owned)],
        0..3,
    );
    prop_oneof![
        4 => (display(), uri(), params.clone()).prop_map(|(d, u, p)| format!("{d}<{u}>{}", p.concat())),
        1 => (uri(), params).prop_map(|(u, p)| format!("{u}{}", p.concat())),
    ]
}

fn list_sep() -> impl Strategy<Value = &'static str> {
    select(&[",", ", ", " ,", " , ", ",\r\n ", ",\r\n\t"][..])
}

/// Join list elements with random separators.
fn list(elem: impl Strategy<Value = String>, n: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec((elem, list_sep()), n).prop_map(|v| {
        let mut out = String::new();
        for (i, (e, sep)) in v.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(e);
        }
        out
    })
}

fn via_value() -> impl Strategy<Value = String> {
    let transport = select(&["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp"][..]);
    let params = (
        token(),
        any::<bool>(),
        proptest::option::of(any::<[u8; 4]>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
    );
    (transport, lws(), host(), port(), params).prop_map(|(t, sp, h, p, (br, rport, recv, ttl, tcookie))| {
        let cookie = if tcookie { "z9hG4bK" } else { "" };
        let mut v = format!("SIP/2.0/{t}{sp}{h}{p};branch={cookie}{br}");
        if rport {
            v.push_str(";rport");
        }
        if let Some(r) = recv {
            v.push_str(&format!(";received={}", Ipv4Addr::from(r)));
        }
        if let Some(ttl) = ttl {
            v.push_str(&format!(";ttl={ttl}"));
        }
        v
    })
}

fn call_id_word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.!%*_+`'~()<>:/?{}\\[\\]-]{1,16}"
}

fn call_id_value() -> impl Strategy<Value = String> {
    (call_id_word(), proptest::option::of(call_id_word())).prop_map(|(a, b)| match b {
        Some(b) => format!("{a}@{b}"),
        None => a,
    })
}

/// How a header name is written: which spelling, letter case, spacing
/// around the colon, trailing white space.
#[derive(Debug, Clone)]
struct Style {
    spelling: Index,
    case_mask: u32,
    before: &'static str,
    after: &'static str,
    trailing: &'static str,
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<Index>(),
        any::<u32>(),
        select(&["", "", "", " ", "\t", "  "][..]),
        select(&[" ", " ", "", "\t", "   ", "\r\n ", " \r\n\t"][..]),
        select(&["", "", "", " ", "\t"][..]),
    )
        .prop_map(|(spelling, case_mask, before, after, trailing)| Style {
            spelling,
            case_mask,
            before,
            after,
            trailing,
        })
}

fn recase(name: &str, mask: u32) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| if mask & (1 << (i % 32)) != 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
        .collect()
}

fn render<S: AsRef<str>>(spellings: &[S], s: &Style, value: &str) -> String {
    let name = recase(s.spelling.get(spellings).as_ref(), s.case_mask);
    format!("{name}{}:{}{value}{}\r\n", s.before, s.after, s.trailing)
}

/// Optional headers: (spellings, value).
fn extra_header() -> impl Strategy<Value = (Vec<String>, String)> {
    let h = |names: &[&str], v: String| (names.iter().map(|n| n.to_string()).collect::<Vec<_>>(), v);
    prop_oneof![
        (list(name_addr(&[";expires=3600", ";q=0.5", ";+sip.instance=\"<urn:x>\""]), 1..3))
            .prop_map(move |v| h(&["Contact", "m"], v)),
        (list(uri().prop_map(|u| format!("<{u};lr>")), 1..4)).prop_map(move |v| h(&["Route"], v)),
        (list(uri().prop_map(|u| format!("<{u};lr>")), 1..4)).prop_map(move |v| h(&["Record-Route"], v)),
        any::<u8>().prop_map(move |n| h(&["Max-Forwards"], n.to_string())),
        any::<u32>().prop_map(move |n| h(&["Expires"], n.to_string())),
        "[ -~éü€]{0,30}".prop_map(move |v| h(&["Subject", "s"], v.trim().to_owned())),
        "[a-zA-Z0-9/.() -]{1,30}".prop_map(move |v| h(&["User-Agent", "Server"], v.trim().to_owned())),
        (list(select(&["timer", "100rel", "replaces", "path", "gruu"][..]).prop_map(str::to_owned), 1..4))
            .prop_map(move |v| h(&["Supported", "k", "Require"], v)),
        (list(select(METHODS).prop_map(str::to_owned), 1..6)).prop_map(move |v| h(&["Allow"], v)),
        (token(), lws(), "[!-~]{1,12}")
            .prop_map(move |(a, sp, b)| h(&["Subscription-State", "X-Custom"], format!("{a}{sp}{b}"))),
        ("X-[A-Za-z0-9-]{1,12}", "[!-~]([ -~]{0,30}[!-~])?").prop_map(|(n, v)| (vec![n], v)),
    ]
}

#[derive(Debug, Clone)]
enum Start {
    Request { method: String, uri: String },
    Response { status: u16, reason: String },
}

/// A generated message and what it was generated with.
#[derive(Clone)]
struct Gen {
    start: Start,
    call_id: String,
    cseq: u32,
    cseq_method: String,
    body: Vec<u8>,
    has_cl: bool,
    header_lines: usize,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Gen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.bytes))
    }
}

/// A shuffle driven by a seed (a small LCG), so it shrinks with the seed.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let j = ((seed >> 33) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// A well-formed message. With `stream`, Content-Length is always present
/// (RFC 3261 18.3); otherwise it may be missing (the body runs to the end
/// of the datagram).
fn message(stream: bool) -> impl Strategy<Value = Gen> {
    let start = prop_oneof![
        3 => (method(), uri()).prop_map(|(method, uri)| Start::Request { method, uri }),
        2 => (100u16..700, "([A-Za-z][A-Za-z ]{0,19}|Très bien|)")
            .prop_map(|(status, reason)| Start::Response { status, reason }),
    ];
    let vias = proptest::collection::vec((style(), list(via_value(), 1..3)), 1..4);
    let from_to = (style(), name_addr(&[";x-from=1"]), style(), name_addr(&[";x-to"]));
    let ids = (style(), call_id_value(), style(), any::<u32>(), lws(), method(), any::<bool>());
    let extras = proptest::collection::vec((style(), extra_header()), 0..8);
    let body = prop_oneof![
        2 => Just(Vec::new()),
        3 => proptest::collection::vec(any::<u8>(), 1..300),
        1 => Just(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n".to_vec()),
    ];
    let tail = (body, any::<bool>(), style(), any::<bool>(), style(), any::<u64>());
    (start, vias, from_to, ids, extras, tail).prop_map(
        move |(start, vias, (sf, from, st, to), (sc, call_id, ss, seq, seq_sp, cm, zero_pad), extras, tail)| {
            let (body, cl_flag, scl, leading_zero, sct, seed) = tail;
            let has_cl = stream || cl_flag;
            let cseq_method = match &start {
                Start::Request { method, .. } => method.clone(),
                Start::Response { .. } => cm,
            };
            let mut lines = Vec::new();
            for (s, v) in &vias {
                lines.push(render(&["Via", "v"], s, v));
            }
            lines.push(render(&["From", "f"], &sf, &from));
            lines.push(render(&["To", "t"], &st, &to));
            lines.push(render(&["Call-ID", "i"], &sc, &call_id));
            let seq_text = if zero_pad { format!("{seq:010}") } else { seq.to_string() };
            lines.push(render(&["CSeq"], &ss, &format!("{seq_text}{seq_sp}{cseq_method}")));
            for (s, (names, v)) in &extras {
                lines.push(render(names, s, v));
            }
            if !body.is_empty() {
                lines.push(render(&["Content-Type", "c"], &sct, "application/sdp"));
            }
            if has_cl {
                let n = if leading_zero { format!("0{}", body.len()) } else { body.len().to_string() };
                lines.push(render(&["Content-Length", "l"], &scl, &n));
            }
            shuffle(&mut lines, seed);
            let mut bytes = match &start {
                Start::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
                Start::Response { status, reason } => format!("SIP/2.0 {status} {reason}\r\n"),
            }
            .into_bytes();
            for l in &lines {
                bytes.extend_from_slice(l.as_bytes());
            }
            bytes.extend_from_slice(b"\r\n");
            bytes.extend_from_slice(&body);
            Gen { start, call_id, cseq: seq, cseq_method, body, has_cl, header_lines: lines.len(), bytes }
        },
    )
}

// ---------------------------------------------------------------------------
// Exercising every accessor (the no-panic properties)
// ---------------------------------------------------------------------------

fn touch_addr(a: &NameAddr<'_>) {
    let _ = a.display_name();
    let _ = a.tag();
    touch_uri(&a.uri);
    for p in a.params.iter() {
        let _ = (p.name, p.value);
    }
}

fn touch_uri(u: &Uri<'_>) {
    let _ = (u.user_param(), u.transport(), u.host.map(|h| h.to_string()), u.port);
    if let Some(user) = u.user {
        let _ = gateway::sip::msg::unescape(user);
    }
}

/// Call every read-only API on a parsed message.
fn touch(m: &Message) {
    let limits = Limits::default();
    let _ = check::check(m, &limits);
    let _ = validate::validate_request(m, &GATEWAY);
    let _ = (m.method(), m.method_str(), m.request_uri_str(), m.status(), m.reason(), m.body(), m.content_length());
    for v in m.vias().flatten() {
        let _ = (v.branch(), v.received(), v.rport(), v.maddr(), v.ttl(), v.is_rfc3261(), v.host.to_string());
    }
    let _ = m.top_via();
    if let Ok(a) = m.from() {
        touch_addr(&a);
    }
    if let Ok(a) = m.to() {
        touch_addr(&a);
    }
    for c in m.contacts().flatten() {
        if let Contact::Addr(a) = c {
            touch_addr(&a);
        }
    }
    for a in m
        .routes()
        .chain(m.record_routes())
        .chain(m.p_asserted_identities())
        .chain(m.history_info())
        .chain(m.diversions())
        .flatten()
    {
        touch_addr(&a);
    }
    for name in [HeaderName::Require, HeaderName::Supported, HeaderName::ProxyRequire, HeaderName::Unsupported] {
        let _ = m.option_tags(name).count();
    }
    let _ = (m.supports("timer"), m.requires("100rel"), m.allow().count(), m.privacy().count());
    let _ = (m.rseq(), m.rack(), m.session_expires(), m.replaces(), m.expires(), m.max_forwards());
    let _ = (m.refer_to().map(|a| a.map(|a| touch_addr(&a))), m.referred_by());
    let _ = m.reasons().count();
    let _ = (m.call_id(), m.cseq(), m.transaction_key());
    if let Ok(Some(ct)) = m.content_type() {
        let _ = ct.is("multipart/mixed");
        if let Some(b) = ct.boundary() {
            if let Ok(parts) = multipart::parts(m.body(), b) {
                for p in parts {
                    let _ = (p.content_type(), p.header("Content-ID"));
                }
            }
        }
    }
    let _ = multipart::parts(m.body(), "boundary1");
    for h in m.headers() {
        let _ = (h.canonical_name(), split_list(h.value).count());
        let _ = m.headers_by_name(h.raw_name).count();
    }
    for &name in HeaderName::ALL {
        let _ = (m.single(name), m.list_values(name).count());
    }
    assert_eq!(Editor::new(m).print(), m.raw(), "unchanged message prints as received");
}

/// Feed `data` to every entry point that takes raw bytes.
fn exercise(data: &[u8]) {
    let b = Bytes::copy_from_slice(data);
    if let Ok(m) = Message::parse_datagram(b.clone()) {
        touch(&m);
    }
    if let Ok(m) = Message::parse(b.clone(), Framing::Stream, &Limits::default()) {
        touch(&m);
    }
    for framing in [Framing::Datagram, Framing::Stream] {
        let i = inspect_default(b.clone(), framing);
        let _ = i.to_json();
    }
    let mut f = StreamFramer::new(Limits::default());
    if f.push(data).is_ok() {
        while let Ok(Some(fr)) = f.next_frame() {
            if let Frame::Message(m) = fr {
                touch(&m);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Splice(Index, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = select(
        &[
            "\r\n",
            "\r\n ",
            "\n",
            "\r",
            ":",
            ";",
            ",",
            "<",
            ">",
            "\"",
            "\\",
            "%",
            "%4",
            "[",
            "]",
            "@",
            "=",
            "/",
            " ",
            "\t",
            "\0",
            "é",
            "€",
            "\u{7f}",
            "0",
            "4294967296",
            "99999999999999999999999",
            "sip:",
            "tel:",
            "SIP/2.0",
            "Content-Length: 10\r\n",
            "l: 0\r\n",
            "Content-Type: multipart/mixed;boundary=b\r\n",
            "--b\r\n\r\n",
            "--b--",
            "Date: Sat, 13 Nov 2010 23:29:0é GMT\r\n",
            "Via: SIP/2.0/UDP [::1;branch=z9hG4bK\r\n",
        ][..],
    );
    prop_oneof![
        (any::<Index>(), 1u8..).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, x)| Mutation::Set(i, x)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), interesting).prop_map(|(i, s)| Mutation::Splice(i, s)),
    ]
}

fn mutate(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::Flip(i, x) if !b.is_empty() => {
                let p = i.index(b.len());
                b[p] ^= x;
            }
            Mutation::Set(i, x) if !b.is_empty() => {
                let p = i.index(b.len());
                b[p] = *x;
            }
            Mutation::Truncate(i) => b.truncate(at(i, b.len())),
            Mutation::Delete(i, n) => {
                let p = at(i, b.len()).min(b.len());
                let e = (p + n).min(b.len());
                b.drain(p..e);
            }
            Mutation::Insert(i, x) => {
                let p = at(i, b.len());
                b.splice(p..p, x.iter().copied());
            }
            Mutation::Splice(i, s) => {
                let p = at(i, b.len());
                b.splice(p..p, s.bytes());
            }
            _ => {}
        }
    }
    b
}

/// Valid values of the typed headers, with their header, to be damaged a little.
const SAMPLES: &[(&str, &str)] = &[
    ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
    ("Via", "SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK1;received=192.0.2.1;rport=5062;ttl=1"),
    ("v", "SIP/2.0/TCP host.example.com : 5060;maddr=239.255.255.1"),
    ("From", "\"Bob \\\"B\\\"\" <sips:bob@example.com:5061;transport=tls>;tag=1"),
    ("To", "sip:+15551234567;x=1:pw@[2001:db8::1]:5061;user=phone;tag=9"),
    ("Contact", "<sip:a@b;lr>;expires=60, \"A, B\" <tel:+1-201-555-0123>, *"),
    ("Session-Expires", "1800;refresher=uac"),
    ("RAck", "776656 1 INVITE"),
    ("Replaces", "425928@bob.example.org;to-tag=7743;from-tag=6472;early-only"),
    ("Reason", "Q.850;cause=16;text=\"Terminated\""),
    ("Content-Type", "multipart/mixed;boundary=\"b1\""),
    ("CSeq", "4294967295 INVITE"),
    ("Supported", "timer, 100rel"),
    ("Retry-After", "120 (busy);duration=60"),
    ("Warning", "399 bridgehead \"text\""),
    ("Call-ID", "a84b4c76e66710@pc33.atlanta.com"),
    ("Privacy", "id;header;user"),
    ("Route", "<sip:p1.example.com;lr>, <sips:[::1]:5061;lr>"),
];

#[derive(Debug, Clone)]
enum Damage {
    /// Replace as many characters as `char` has UTF-8 bytes: an ASCII value
    /// keeps its byte length, so fixed-offset parsers see a multi-byte
    /// character straddling their offsets.
    Overwrite(Index, char),
    /// Replace up to two characters with up to two arbitrary ones.
    Splice(Index, usize, Vec<char>),
}

/// A sample value (under its own header, or any other) with a few
/// characters replaced by arbitrary ones.
fn damaged_header() -> impl Strategy<Value = (&'static str, String)> {
    let ch = || prop_oneof![any::<char>(), select(&['é', '€', '\u{1F600}', ' ', '"', '<', ';', ',', '%', '0'][..])];
    let damage = prop_oneof![
        (any::<Index>(), ch()).prop_map(|(i, c)| Damage::Overwrite(i, c)),
        (any::<Index>(), 0usize..3, proptest::collection::vec(ch(), 0..3))
            .prop_map(|(i, d, v)| Damage::Splice(i, d, v)),
    ];
    let names: Vec<&'static str> = HeaderName::ALL.iter().map(|n| n.canonical()).collect();
    (select(SAMPLES), proptest::option::weighted(0.2, select(names)), proptest::collection::vec(damage, 1..3)).prop_map(
        |((name, v), other, damage)| {
            let mut chars: Vec<char> = v.chars().collect();
            for d in damage {
                let (p, del, ins) = match d {
                    Damage::Overwrite(i, c) => (i.index(chars.len()), c.len_utf8(), vec![c]),
                    Damage::Splice(i, del, ins) => (i.index(chars.len() + 1), del, ins),
                };
                let e = (p + del).min(chars.len());
                chars.splice(p..e, ins.into_iter().filter(|c| !matches!(c, '\r' | '\n')));
            }
            (other.unwrap_or(name), chars.into_iter().collect())
        },
    )
}

/// Bytes shown as (lossy) text when a case fails.
#[derive(Clone)]
struct Text(Vec<u8>);

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Header lines of every known name with arbitrary or damaged values.
fn random_headers() -> impl Strategy<Value = Text> {
    let names: Vec<&'static str> = HeaderName::ALL.iter().map(|n| n.canonical()).collect();
    let value = prop_oneof![
        "[ -~]{0,40}",
        "[ -~éü€\u{1F600}]{0,40}",
        any::<String>().prop_map(|s| s.replace(['\r', '\n'], " ")),
        "[a-zA-Z0-9:;,<>\"@. =/\\[\\]-]{0,40}",
    ];
    let start = select(&["INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "BYE sip:x@[::1]:5060 SIP/2.0"][..]);
    let header = prop_oneof![3 => damaged_header(), 2 => (select(names), value)];
    let body = proptest::collection::vec(any::<u8>(), 0..64);
    (start, proptest::collection::vec(header, 0..12), body).prop_map(|(s, hs, body)| {
        let mut out = format!("{s}\r\n").into_bytes();
        for (n, v) in hs {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
        Text(out)
    })
}

// ---------------------------------------------------------------------------
// The stream framer
// ---------------------------------------------------------------------------

/// A frame reduced to comparable values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum F {
    Message(Vec<u8>),
    Invalid(Vec<u8>),
    Ping,
    Pong,
}

fn frames(chunks: &[&[u8]]) -> (Vec<F>, bool) {
    let mut f = StreamFramer::new(Limits::default());
    let mut out = Vec::new();
    for c in chunks {
        if f.push(c).is_err() {
            return (out, true);
        }
        loop {
            match f.next_frame() {
                Ok(Some(Frame::Message(m))) => out.push(F::Message(m.raw().to_vec())),
                Ok(Some(Frame::Invalid { raw, .. })) => out.push(F::Invalid(raw.to_vec())),
                Ok(Some(Frame::Ping)) => out.push(F::Ping),
                Ok(Some(Frame::Pong)) => out.push(F::Pong),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

/// A ping (CRLF CRLF) split between its CRLFs comes out as two pongs (a
/// lone CRLF is a pong at once, RFC 5626): compare streams with every
/// ping counted as two pongs.
fn pongs(frames: &[F]) -> Vec<F> {
    frames
        .iter()
        .flat_map(|f| match f {
            F::Ping => vec![F::Pong, F::Pong],
            other => vec![other.clone()],
        })
        .collect()
}

fn split_at_cuts<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut pos: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    pos.sort_unstable();
    pos.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for p in pos {
        out.push(&data[last..p]);
        last = p;
    }
    out.push(&data[last..]);
    out
}

// ---------------------------------------------------------------------------
// Edits
// ---------------------------------------------------------------------------

/// Headers an edit may touch: (canonical name, spellings).
const EDITABLE: &[(&str, &[&str])] = &[
    ("Call-ID", &["Call-ID", "i", "call-id"]),
    ("Subject", &["Subject", "s"]),
    ("Max-Forwards", &["Max-Forwards"]),
    ("Contact", &["Contact", "m"]),
    ("Route", &["Route"]),
    ("User-Agent", &["User-Agent"]),
    ("Supported", &["Supported", "k"]),
    ("X-Test", &["X-Test", "x-test"]),
    ("X-Other", &["X-Other"]),
    ("Content-Length", &["Content-Length", "l"]),
];

#[derive(Debug, Clone)]
enum Op {
    Set(Index, String),
    Remove(Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<Index>(), "[a-zA-Z0-9][a-zA-Z0-9@.-]{0,15}").prop_map(|(i, v)| Op::Set(i, v)),
        any::<Index>().prop_map(Op::Remove),
    ]
}

#[derive(Debug, Clone)]
struct Edits {
    /// At most one operation per editable header.
    ops: BTreeMap<usize, Op>,
    via: Option<String>,
    body: Option<(Option<&'static str>, Vec<u8>)>,
    uri: Option<String>,
}

fn edits() -> impl Strategy<Value = Edits> {
    let body = proptest::option::of((
        proptest::option::of(select(&["text/plain", "application/sdp", "application/x-test;a=b"][..])),
        proptest::collection::vec(any::<u8>(), 0..100),
    ));
    (
        proptest::collection::btree_map(0..EDITABLE.len(), op(), 0..5),
        proptest::option::of(token()),
        body,
        proptest::option::of(uri()),
    )
        .prop_map(|(ops, via, body, uri)| Edits { ops, via, body, uri })
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2048,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Well-formed messages parse, pass check, print back byte for byte
    /// and expose what they were generated with.
    #[test]
    fn well_formed_round_trip(g in message(false)) {
        let text = String::from_utf8_lossy(&g.bytes).into_owned();
        let m = Message::parse_datagram(Bytes::from(g.bytes.clone()))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert_eq!(Editor::new(&m).print(), g.bytes.clone());
        prop_assert_eq!(m.raw(), &g.bytes[..]);
        prop_assert_eq!(m.header_entries().len(), g.header_lines);
        if let Err(e) = check::check(&m, &Limits::default()) {
            panic!("check: {e}\n{text}");
        }
        prop_assert_eq!(m.call_id().unwrap(), g.call_id.as_str());
        let cseq = m.cseq().unwrap();
        prop_assert_eq!(cseq.seq, g.cseq);
        prop_assert_eq!(cseq.method_str, g.cseq_method.as_str());
        prop_assert_eq!(m.body(), &g.body[..]);
        prop_assert_eq!(m.content_length(), g.has_cl.then_some(g.body.len() as u32));
        match &g.start {
            Start::Request { method, uri } => {
                prop_assert_eq!(m.method_str(), Some(method.as_str()));
                prop_assert_eq!(m.method(), Some(Method::from_bytes(method.as_bytes())));
                prop_assert_eq!(m.request_uri_str(), Some(uri.as_str()));
                prop_assert_eq!(m.status(), None);
            }
            Start::Response { status, reason } => {
                prop_assert_eq!(m.status(), Some(*status));
                prop_assert_eq!(m.reason(), Some(reason.as_str()));
                prop_assert_eq!(m.method(), None);
            }
        }
        prop_assert!(m.vias().all(|v| v.is_ok()));
        prop_assert!(m.from().is_ok() && m.to().is_ok());
        prop_assert!(m.transaction_key().is_ok());
        // Leading CRLFs are skipped; the message is what follows them.
        let mut padded = b"\r\n\r\n".to_vec();
        padded.extend_from_slice(&g.bytes);
        let p = Message::parse_datagram(Bytes::from(padded)).unwrap();
        prop_assert_eq!(p.raw(), &g.bytes[..]);
        // With a Content-Length the same bytes are a valid stream message.
        if g.has_cl {
            let s = Message::parse_stream(Bytes::from(g.bytes.clone())).unwrap();
            prop_assert_eq!(s.raw(), &g.bytes[..]);
            let i = inspect_default(Bytes::from(g.bytes.clone()), Framing::Stream);
            prop_assert!(i.valid, "{:?}", i.error);
        }
        let i = inspect_default(Bytes::from(g.bytes.clone()), Framing::Datagram);
        prop_assert!(i.valid, "{:?}", i.error);
        touch(&m);
    }

    /// Arbitrary bytes never panic, bare or behind a valid start line.
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in select(&["", "INVITE sip:a@b SIP/2.0\r\n", "SIP/2.0 200 OK\r\n", "\r\n"][..]),
        data in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut b = prefix.as_bytes().to_vec();
        b.extend_from_slice(&data);
        exercise(&b);
    }

    /// Known headers with arbitrary values never panic the typed parsers.
    #[test]
    fn arbitrary_header_values_never_panic(b in random_headers()) {
        exercise(&b.0);
    }

    /// Valid messages with byte flips, truncation, deletion and insertion never panic.
    #[test]
    fn mutated_messages_never_panic(
        g in message(false),
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        exercise(&mutate(g.bytes, &muts));
    }

    /// The framer yields the same frames however the stream is cut.
    #[test]
    fn framer_is_split_invariant(
        msgs in proptest::collection::vec((select(&["", "\r\n", "\r\n\r\n"][..]), message(true)), 1..5),
        ping_at_end in any::<bool>(),
        cuts in proptest::collection::vec(any::<Index>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (keepalive, g) in &msgs {
            stream.extend_from_slice(keepalive.as_bytes());
            match *keepalive {
                "\r\n" => expected.push(F::Pong),
                "\r\n\r\n" => expected.push(F::Ping),
                _ => {}
            }
            stream.extend_from_slice(&g.bytes);
            expected.push(F::Message(g.bytes.clone()));
        }
        if ping_at_end {
            stream.extend_from_slice(b"\r\n\r\n");
            expected.push(F::Ping);
        }
        let (whole, failed) = frames(&[stream.as_slice()]);
        prop_assert!(!failed);
        prop_assert_eq!(&whole, &expected);
        let chunks = split_at_cuts(&stream, &cuts);
        let (split, failed) = frames(&chunks);
        prop_assert!(!failed);
        prop_assert_eq!(pongs(&split), pongs(&expected));
        // Byte by byte, the slowest reader of all: every ping is two pongs.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (single, _) = frames(&bytes);
        prop_assert_eq!(&single, &pongs(&expected));
    }

    /// Any run of stray CR and LF before a message is skipped, without
    /// growing the stack (a long run of stray CRs once overflowed it).
    #[test]
    fn framer_skips_stray_line_ends(
        unit in select(&["\r", "\r\r", "\n", "\r\n\r", "\r\r\n\n"][..]),
        n in 0usize..40_000,
        g in message(true),
    ) {
        let mut stream = unit.repeat(n).into_bytes();
        stream.extend_from_slice(&g.bytes);
        let (out, failed) = frames(&[stream.as_slice()]);
        prop_assert!(!failed);
        prop_assert_eq!(out.last(), Some(&F::Message(g.bytes.clone())));
        prop_assert!(out[..out.len() - 1].iter().all(|f| matches!(f, F::Ping | F::Pong)));
    }

    /// The framer is split-invariant on arbitrary (mostly broken) streams too.
    #[test]
    fn framer_split_invariant_on_garbage(
        g in proptest::collection::vec(message(true), 1..3),
        muts in proptest::collection::vec(mutation(), 0..4),
        cuts in proptest::collection::vec(any::<Index>(), 1..8),
    ) {
        let stream = mutate(g.iter().flat_map(|g| g.bytes.clone()).collect(), &muts);
        let (whole, whole_failed) = frames(&[stream.as_slice()]);
        let chunks = split_at_cuts(&stream, &cuts);
        let (split, split_failed) = frames(&chunks);
        prop_assert_eq!(pongs(&whole), pongs(&split));
        prop_assert_eq!(whole_failed, split_failed);
    }

    /// Edited messages re-parse, with a Content-Length equal to the body length.
    #[test]
    fn edited_message_reparses(g in message(false), e in edits()) {
        let m = Message::parse_datagram(Bytes::from(g.bytes.clone())).unwrap();
        let mut ed = Editor::new(&m);
        for (&slot, op) in &e.ops {
            let (_, spellings) = EDITABLE[slot];
            match op {
                Op::Set(i, v) => ed.set(i.get::<&str>(spellings), v),
                Op::Remove(i) => ed.remove(i.get::<&str>(spellings)),
            };
        }
        if let Some(b) = &e.via {
            ed.push_front("Via", &format!("SIP/2.0/TLS gw.example.com;branch=z9hG4bK{b}"));
        }
        if let Some((ct, body)) = &e.body {
            ed.set_body(*ct, Bytes::from(body.clone()));
        }
        if let Some(u) = &e.uri {
            ed.set_request_uri(u);
        }
        let out = ed.print();
        if ed.is_unchanged() {
            prop_assert_eq!(&out, &g.bytes);
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        let p = Message::parse_datagram(Bytes::from(out.clone())).unwrap_or_else(|err| panic!("{err}\n{text}"));
        let body = e.body.as_ref().map_or(&g.body[..], |(_, b)| &b[..]);
        prop_assert_eq!(p.body(), body);
        prop_assert_eq!(p.content_length(), Some(body.len() as u32), "{}", text);
        prop_assert_eq!(p.headers_named(HeaderName::ContentLength).count(), 1, "{}", text);
        // With a Content-Length, it is a valid stream message as well.
        prop_assert!(Message::parse_stream(Bytes::from(out)).is_ok());
        for (&slot, op) in &e.ops {
            let (canonical, _) = EDITABLE[slot];
            if canonical == "Content-Length" {
                continue;
            }
            let values: Vec<&str> = p.headers_by_name(canonical).map(|h| h.value).collect();
            match op {
                Op::Set(_, v) => prop_assert_eq!(values, vec![v.as_str()], "{}", text),
                Op::Remove(_) => {
                    // Removal acts on the lines of the original message.
                    prop_assert!(values.is_empty(), "{} still present\n{}", canonical, text);
                }
            }
        }
        if let Some(b) = &e.via {
            let top = p.top_via().unwrap();
            let want = format!("z9hG4bK{b}");
            prop_assert_eq!(top.branch(), Some(want.as_str()));
        }
        match (&e.uri, m.is_request()) {
            (Some(u), true) => prop_assert_eq!(p.request_uri_str(), Some(u.as_str())),
            _ => {
                prop_assert_eq!(p.request_uri_str(), m.request_uri_str());
                prop_assert_eq!(p.status(), m.status());
            }
        }
        if let Some((Some(ct), b)) = &e.body {
            if !b.is_empty() {
                prop_assert_eq!(p.header_value(HeaderName::ContentType), Some(*ct));
            } else {
                prop_assert!(p.header(HeaderName::ContentType).is_none());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Fixed cases worth keeping
// ---------------------------------------------------------------------------

#[test]
fn rfc4475_fixtures_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance/rfc4475");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    for e in entries.flatten() {
        let data = std::fs::read(e.path()).unwrap();
        exercise(&data);
    }
}
