//! Building the messages of the outgoing leg from the incoming one, with
//! topology hiding: the new leg gets its own Call-ID, tags, branch and
//! Contact; only what the far side needs crosses (user parts, display
//! names, identity and privacy headers, the body).

use super::Target;
use crate::sip::msg::build::push_header;
use crate::sip::msg::{HeaderName, Message, NameAddr, Scheme, Uri};

/// Header values copied from the incoming INVITE to the outgoing one.
const COPIED: [HeaderName; 6] = [
    HeaderName::PAssertedIdentity,
    HeaderName::Privacy,
    HeaderName::SessionExpires,
    HeaderName::MinSe,
    HeaderName::Subject,
    HeaderName::Priority,
];

/// What the new leg's INVITE needs.
pub struct OutInvite<'a> {
    pub incoming: &'a Message,
    pub target: &'a Target,
    pub via: &'a str,
    pub call_id: &'a str,
    pub from_tag: &'a str,
    pub contact: &'a str,
    pub fqdn: &'a str,
    /// Extra headers for this side (X-MS-SBC toward Teams).
    pub extra: &'a [(&'a str, String)],
    /// The body for this side (the incoming SDP, rewritten for media anchoring).
    pub body: &'a [u8],
}

/// The user part of a URI (sip user or tel number), if any.
pub fn user_of(uri: &str) -> Option<String> {
    let u = Uri::parse(uri).ok()?;
    match u.scheme {
        Scheme::Sip | Scheme::Sips | Scheme::Tel => u.user.map(|s| s.split(';').next().unwrap_or(s).to_owned()),
        Scheme::Other => None,
    }
}

/// `"Display" <sip:user@host>` keeping the display name, with the host
/// replaced (topology hiding) and a tag.
fn rewrite_addr(value: &str, host: &str, tag: Option<&str>, user_phone: bool) -> String {
    let (display, user) = match NameAddr::parse(value) {
        Ok(a) => (a.display.map(str::to_owned), user_of(a.uri.raw)),
        Err(_) => (None, None),
    };
    let mut out = String::new();
    if let Some(d) = display {
        out.push_str(&d);
        out.push(' ');
    }
    out.push_str("<sip:");
    if let Some(u) = user {
        out.push_str(&u);
        out.push('@');
    }
    out.push_str(host);
    if user_phone {
        out.push_str(";user=phone");
    }
    out.push('>');
    if let Some(t) = tag {
        out.push_str(";tag=");
        out.push_str(t);
    }
    out
}

/// The outgoing INVITE.
pub fn invite(o: &OutInvite<'_>) -> Vec<u8> {
    let req = o.incoming;
    let user = req.request_uri_str().and_then(user_of).unwrap_or_default();
    let phone = user.starts_with('+');
    let mut ruri = format!("sip:{user}@{}", o.target.host);
    if phone {
        ruri.push_str(";user=phone");
    }
    if o.target.proto == crate::sip::transport::Proto::Tls {
        ruri.push_str(";transport=tls");
    }
    let mut out = Vec::with_capacity(req.raw().len() + 256);
    let mut line = |name: &str, value: &[u8]| push_header(&mut out, name, value);
    let start = format!("INVITE {ruri} SIP/2.0");
    let mf = req.max_forwards().ok().flatten().unwrap_or(70).saturating_sub(1);
    let from = req
        .header_value(HeaderName::From)
        .map_or_else(String::new, |f| rewrite_addr(f, o.fqdn, Some(o.from_tag), phone));
    let to =
        req.header_value(HeaderName::To).map_or_else(String::new, |t| rewrite_addr(t, &o.target.host, None, phone));
    let seq = req.cseq().map_or(1, |c| c.seq);
    line("Via", o.via.as_bytes());
    line("Max-Forwards", mf.to_string().as_bytes());
    line("From", from.as_bytes());
    line("To", to.as_bytes());
    line("Call-ID", o.call_id.as_bytes());
    line("CSeq", format!("{seq} INVITE").as_bytes());
    line("Contact", o.contact.as_bytes());
    line("Allow", super::ALLOW.as_bytes());
    let supported: Vec<&str> = req
        .option_tags(HeaderName::Supported)
        .filter_map(Result::ok)
        .filter(|t| !t.eq_ignore_ascii_case("100rel"))
        .collect();
    if !supported.is_empty() {
        line("Supported", supported.join(", ").as_bytes());
    }
    for name in COPIED {
        for h in req.headers_named(name) {
            line(name.canonical(), req.header_bytes(h.index));
        }
    }
    for (n, v) in o.extra {
        line(n, v.as_bytes());
    }
    let body = o.body;
    if !body.is_empty() {
        if let Some(ct) = req.header_value(HeaderName::ContentType) {
            line("Content-Type", ct.as_bytes());
        }
    }
    line("Content-Length", body.len().to_string().as_bytes());
    let mut msg = start.into_bytes();
    msg.extend_from_slice(b"\r\n");
    msg.extend_from_slice(&out);
    msg.extend_from_slice(b"\r\n");
    msg.extend_from_slice(body);
    msg
}

/// CANCEL for an INVITE we sent (RFC 3261 9.1): same Request-URI, top
/// Via, Call-ID, From, To, CSeq number and Route.
pub fn cancel(invite: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"CANCEL ");
    out.extend_from_slice(invite.request_uri_str().unwrap_or("").as_bytes());
    out.extend_from_slice(b" SIP/2.0\r\n");
    let mut line = |name: &str, value: &[u8]| push_header(&mut out, name, value);
    if let Some((_, top, _)) = invite.list_values(HeaderName::Via).next() {
        line("Via", top.as_bytes());
    }
    line("Max-Forwards", b"70");
    for name in [HeaderName::Route, HeaderName::From, HeaderName::To, HeaderName::CallId] {
        for h in invite.headers_named(name) {
            line(name.canonical(), invite.header_bytes(h.index));
        }
    }
    line("CSeq", format!("{} CANCEL", invite.cseq().map_or(1, |c| c.seq)).as_bytes());
    line("Content-Length", b"0");
    out.extend_from_slice(b"\r\n");
    out
}
