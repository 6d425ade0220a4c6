//! Typed header values a B2BUA routes on. Each `parse` borrows from the
//! header value, never allocates, and returns a short reason on failure
//! (the caller adds the header name and the offset).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};

use super::method::Method;
use super::params::{trim_str, unescape_pairs, Params};
use super::scan::{is_lws, is_token_str, parse_u32, parse_u64};
use super::uri::{split_hostport, Host};

/// A Via value (RFC 3261 20.42).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// `SIP/2.0` protocol name and version, as written.
    pub protocol: &'a str,
    pub version: &'a str,
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS` ...).
    pub transport: &'a str,
    pub host: Host<'a>,
    pub host_str: &'a str,
    pub port: Option<u16>,
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    pub fn parse(s: &'a str) -> Result<Via<'a>, &'static str> {
        let s = trim_str(s);
        let mut parts = [""; 3];
        let mut rest = s;
        for (i, part) in parts.iter_mut().enumerate() {
            let rest_t = trim_str(rest);
            let end = if i < 2 {
                rest_t.find('/').ok_or("malformed sent-protocol")?
            } else {
                rest_t.find(|c: char| c.is_ascii() && is_lws(c as u8)).ok_or("no sent-by")?
            };
            *part = trim_str(&rest_t[..end]);
            rest = &rest_t[end + usize::from(i < 2)..];
            if !is_token_str(part.as_bytes()) {
                return Err("malformed sent-protocol");
            }
        }
        let rest = trim_str(rest);
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (trim_str(&rest[..i]), &rest[i + 1..]),
            None => (rest, ""),
        };
        // COLON may be surrounded by LWS.
        let compact: &str = sent_by;
        let (host_str, port) = if compact.bytes().any(is_lws) {
            let c = compact.rfind(':').ok_or("white space in sent-by")?;
            let h = trim_str(&compact[..c]);
            let p = trim_str(&compact[c + 1..]);
            if h.bytes().any(is_lws) || p.bytes().any(is_lws) {
                return Err("white space in sent-by");
            }
            let port = parse_u32(p.as_bytes()).and_then(|n| u16::try_from(n).ok()).ok_or("malformed port")?;
            (h, Some(port))
        } else {
            split_hostport(compact)?
        };
        let host = Host::parse(host_str)?;
        let params = Params::new(params);
        params.check().map_err(|(_, why)| why)?;
        if let Some(Some(ttl)) = params.get("ttl") {
            if parse_u32(ttl.as_bytes()).is_none_or(|t| t > 255) {
                return Err("ttl out of range");
            }
        }
        // RFC 3261 25.1: via-received = "received" EQUAL (IPv4address /
        // IPv6address), the IPv6 address unbracketed; the bracketed form
        // (RFC 5118 4.5) and a host name are accepted too.
        if let Some(Some(r)) = params.get("received") {
            if Host::parse(r).is_err() && r.parse::<Ipv6Addr>().is_err() {
                return Err("malformed received");
            }
        }
        // RFC 3581: response-port = "rport" [EQUAL 1*DIGIT], a port number.
        if let Some(Some(p)) = params.get("rport") {
            if parse_u32(p.as_bytes()).and_then(|n| u16::try_from(n).ok()).is_none() {
                return Err("malformed rport");
            }
        }
        Ok(Via { protocol: parts[0], version: parts[1], transport: parts[2], host, host_str, port, params })
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }
    /// The `received` parameter as written (an IPv6 address bracketed or not).
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received").flatten()
    }
    /// The `received` address, either IPv6 form (`None` for a host name).
    pub fn received_ip(&self) -> Option<IpAddr> {
        let r = self.received()?;
        let bare = r.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(r);
        bare.parse().ok()
    }
    /// `None`: no rport; `Some(None)`: rport requested; `Some(Some(p))`:
    /// filled in. A parsed Via never holds a malformed rport value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr").flatten()
    }
    pub fn ttl(&self) -> Option<u8> {
        self.params.get("ttl").flatten().and_then(|t| t.parse().ok())
    }
    /// Branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }
}

/// CSeq (RFC 3261 20.16): a 32-bit sequence number and a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: Method,
    pub method_str: &'a str,
}

impl<'a> CSeq<'a> {
    pub fn parse(s: &'a str) -> Result<CSeq<'a>, &'static str> {
        let s = trim_str(s);
        let sp = s.find(|c: char| c.is_ascii() && is_lws(c as u8)).ok_or("missing method")?;
        let seq = parse_u64(&s.as_bytes()[..sp]).ok_or("malformed sequence number")?;
        let seq = u32::try_from(seq).map_err(|_| "sequence number above 2**32-1")?;
        let m = trim_str(&s[sp..]);
        if !is_token_str(m.as_bytes()) {
            return Err("malformed method");
        }
        Ok(CSeq { seq, method: Method::from_bytes(m.as_bytes()), method_str: m })
    }
}

/// A non-negative integer header (Max-Forwards, Expires, Min-SE, RSeq ...),
/// bounded by `max`.
pub fn parse_int(s: &str, max: u64) -> Result<u64, &'static str> {
    let s = trim_str(s);
    let v = parse_u64(s.as_bytes()).ok_or("not a non-negative integer")?;
    if v > max {
        return Err("integer out of range");
    }
    Ok(v)
}

/// Max-Forwards: 0..=255 (RFC 3261 25.1, "1*DIGIT", bounded by practice).
pub fn max_forwards(s: &str) -> Result<u8, &'static str> {
    parse_int(s, 255).map(|v| v as u8)
}

/// RAck (RFC 3262): response number, CSeq number, method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RAck<'a> {
    pub rseq: u32,
    pub cseq: u32,
    pub method: Method,
    pub method_str: &'a str,
}

impl<'a> RAck<'a> {
    pub fn parse(s: &'a str) -> Result<RAck<'a>, &'static str> {
        let mut it = trim_str(s).split(|c: char| c.is_ascii() && is_lws(c as u8)).filter(|t| !t.is_empty());
        let rseq = it.next().and_then(|t| parse_u32(t.as_bytes())).ok_or("malformed response-num")?;
        let cseq = it.next().and_then(|t| parse_u32(t.as_bytes())).ok_or("malformed CSeq-num")?;
        let m = it.next().ok_or("missing method")?;
        if !is_token_str(m.as_bytes()) || it.next().is_some() {
            return Err("malformed method");
        }
        Ok(RAck { rseq, cseq, method: Method::from_bytes(m.as_bytes()), method_str: m })
    }
}

/// Session-Expires (RFC 4028): delta-seconds and an optional refresher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires<'a> {
    pub delta: u32,
    /// `uac` or `uas` as written (any case): compare with
    /// [`SessionExpires::refresher_role`], not as text.
    pub refresher: Option<&'a str>,
    pub params: Params<'a>,
}

/// Who refreshes a session (RFC 4028 `refresher` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    /// The parameter value, normalised to lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

impl<'a> SessionExpires<'a> {
    pub fn parse(s: &'a str) -> Result<SessionExpires<'a>, &'static str> {
        let (d, p) = split_params(s);
        let delta = parse_int(d, u64::from(u32::MAX))? as u32;
        let params = Params::new(p);
        params.check().map_err(|(_, w)| w)?;
        let refresher = params.get("refresher").flatten();
        if refresher.is_some_and(|r| !r.eq_ignore_ascii_case("uac") && !r.eq_ignore_ascii_case("uas")) {
            return Err("refresher is neither uac nor uas");
        }
        Ok(SessionExpires { delta, refresher, params })
    }

    /// The refresher, compared case-insensitively (`UAC`, `Uas` ...).
    pub fn refresher_role(&self) -> Option<Refresher> {
        match self.refresher? {
            r if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            r if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => None,
        }
    }
}

/// Replaces (RFC 3891): call-id with to-tag, from-tag and early-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces<'a> {
    pub call_id: &'a str,
    pub to_tag: &'a str,
    pub from_tag: &'a str,
    pub early_only: bool,
}

impl<'a> Replaces<'a> {
    pub fn parse(s: &'a str) -> Result<Replaces<'a>, &'static str> {
        let (cid, p) = split_params(s);
        if cid.is_empty() || cid.bytes().any(is_lws) {
            return Err("malformed call-id");
        }
        let params = Params::new(p);
        params.check().map_err(|(_, w)| w)?;
        let to_tag = params.get("to-tag").flatten().ok_or("missing to-tag")?;
        let from_tag = params.get("from-tag").flatten().ok_or("missing from-tag")?;
        Ok(Replaces { call_id: cid, to_tag, from_tag, early_only: params.has("early-only") })
    }
}

/// One Reason value (RFC 3326): protocol with cause and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    pub protocol: &'a str,
    pub cause: Option<u32>,
    /// The `text` parameter between its quotes, escapes kept as written;
    /// [`Reason::text_unescaped`] decodes them.
    pub text: Option<&'a str>,
    pub params: Params<'a>,
}

impl<'a> Reason<'a> {
    pub fn parse(s: &'a str) -> Result<Reason<'a>, &'static str> {
        let (proto, p) = split_params(s);
        if !is_token_str(proto.as_bytes()) {
            return Err("malformed protocol");
        }
        let params = Params::new(p);
        params.check().map_err(|(_, w)| w)?;
        let cause = match params.get("cause") {
            Some(Some(c)) => Some(parse_u32(c.as_bytes()).ok_or("malformed cause")?),
            _ => None,
        };
        let text =
            params.get("text").flatten().map(|t| t.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(t));
        Ok(Reason { protocol: proto, cause, text, params })
    }

    /// The `text` parameter with its quoted-pairs decoded (`\"` -> `"`).
    pub fn text_unescaped(&self) -> Option<Cow<'a, str>> {
        self.text.map(unescape_pairs)
    }
}

/// Content-Type (RFC 3261 20.15): `type/subtype;params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    pub kind: &'a str,
    pub subtype: &'a str,
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    pub fn parse(s: &'a str) -> Result<MediaType<'a>, &'static str> {
        let (mt, p) = split_params(s);
        let slash = mt.find('/').ok_or("media type without '/'")?;
        let kind = trim_str(&mt[..slash]);
        let subtype = trim_str(&mt[slash + 1..]);
        if !is_token_str(kind.as_bytes()) || !is_token_str(subtype.as_bytes()) {
            return Err("malformed media type");
        }
        let params = Params::new(p);
        params.check().map_err(|(_, w)| w)?;
        Ok(MediaType { kind, subtype, params })
    }

    /// `type/subtype` equals `t` (case-insensitive).
    pub fn is(&self, t: &str) -> bool {
        match t.split_once('/') {
            Some((k, s)) => self.kind.eq_ignore_ascii_case(k) && self.subtype.eq_ignore_ascii_case(s),
            None => false,
        }
    }

    /// `boundary` parameter of a multipart type, unquoted.
    pub fn boundary(&self) -> Option<&'a str> {
        self.params.get("boundary").flatten().map(|b| b.trim_matches('"'))
    }
}

/// An option tag (Require/Supported/Proxy-Require/Unsupported element).
pub fn option_tag(s: &str, max: usize) -> Result<&str, &'static str> {
    let t = trim_str(s);
    if !is_token_str(t.as_bytes()) {
        return Err("malformed option tag");
    }
    if t.len() > max {
        return Err("option tag too long");
    }
    Ok(t)
}

/// Privacy (RFC 3323): `priv-value *(";" priv-value)`.
pub fn privacy_values(s: &str) -> impl Iterator<Item = &str> {
    s.split(';').map(trim_str).filter(|v| !v.is_empty())
}

/// Call-ID: RFC 3261 25.1 says `word [ "@" word ]`; like Kamailio and
/// pjsip, any non-empty run of visible ASCII (0x21-0x7E) without white
/// space is accepted (several `@`, `;`, `,`, `=` are seen in the field).
pub fn call_id(s: &str) -> Result<&str, &'static str> {
    let s = trim_str(s);
    if !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Ok(s)
    } else {
        Err("malformed Call-ID")
    }
}

/// Date (RFC 3261 20.17): RFC 1123 date, always GMT.
pub fn date(s: &str) -> Result<&str, &'static str> {
    let s = trim_str(s);
    // wkday "," SP date1 SP time SP "GMT"
    let b = s.as_bytes();
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let bad = "not an RFC 1123 date in GMT";
    // ASCII only: the fixed offsets below must fall on char boundaries.
    if b.len() != 29 || !s.is_ascii() || b[3] != b',' || b[4] != b' ' || &s[25..] != " GMT" {
        return Err(bad);
    }
    if !days.contains(&&s[..3]) || !months.contains(&&s[8..11]) {
        return Err(bad);
    }
    let digits = |r: std::ops::Range<usize>| s[r].bytes().all(|c| c.is_ascii_digit());
    if !(digits(5..7) && b[7] == b' ' && b[11] == b' ' && digits(12..16) && b[16] == b' ') {
        return Err(bad);
    }
    if !(digits(17..19) && b[19] == b':' && digits(20..22) && b[22] == b':' && digits(23..25)) {
        return Err(bad);
    }
    Ok(s)
}

/// Split `value;params` at the first `;` outside quotes.
pub fn split_params(s: &str) -> (&str, &str) {
    let s = trim_str(s);
    match super::scan::find_unquoted(s.as_bytes(), b';') {
        Some(i) => (trim_str(&s[..i]), &s[i + 1..]),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_folds_and_lws() {
        let v = Via::parse("SIP  /   2.0\r\n  /UDP\r\n    192.0.2.2;rport;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.branch(), Some("390skdjuw"));
        let v6 =
            Via::parse("SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bK1;received=[2001:db8::10];rport=5062").unwrap();
        assert_eq!(v6.port, Some(5061));
        assert_eq!(v6.rport(), Some(Some(5062)));
        assert!(v6.is_rfc3261());
        let sp = Via::parse("SIP/2.0/UDP host.example.com : 5060;branch=z9hG4bKx").unwrap();
        assert_eq!(sp.port, Some(5060));
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(CSeq::parse("0009\r\n INVITE").unwrap().seq, 9);
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("4294967296 INVITE").is_err());
        assert_eq!(CSeq::parse("4294967295 INVITE").unwrap().seq, u32::MAX);
    }

    #[test]
    fn misc() {
        assert_eq!(max_forwards("0068").unwrap(), 68);
        assert!(max_forwards("300").is_err());
        let r = RAck::parse("776656 1 INVITE").unwrap();
        assert_eq!((r.rseq, r.cseq, r.method), (776656, 1, Method::Invite));
        let se = SessionExpires::parse("1800;refresher=uac").unwrap();
        assert_eq!((se.delta, se.refresher), (1800, Some("uac")));
        let rp = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only").unwrap();
        assert!(rp.early_only);
        let re = Reason::parse("Q.850;cause=16;text=\"Terminated\"").unwrap();
        assert_eq!((re.cause, re.text), (Some(16), Some("Terminated")));
        let mt = MediaType::parse("multipart/mixed;boundary=\"unique-boundary-1\"").unwrap();
        assert_eq!(mt.boundary(), Some("unique-boundary-1"));
        assert!(date("Sat, 13 Nov 2010 23:29:00 GMT").is_ok());
        assert!(date("Fri, 01 Jan 2010 16:00:00 EST").is_err());
        // Non-ASCII at a fixed offset is an error, not a char-boundary panic.
        assert!(date("Sat, 13 Nov 2010 23:29:0\u{e9}GMT").is_err());
        assert!(date("Sat, 13 N\u{e9}\u{e9}2010 23:29:00 GMT").is_err());
        assert!(call_id("abc@[2001:db8::1]").is_ok());
        assert!(call_id("a b").is_err());
    }

    #[test]
    fn call_id_is_visible_ascii_without_white_space() {
        for ok in ["a@b@c", "x;y=1,z", "=%&$#|^", "~!"] {
            assert_eq!(call_id(ok), Ok(ok));
        }
        for bad in ["", "a b", "a\tb", "a\r\n b", "caf\u{e9}", "a\u{7f}"] {
            assert!(call_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn via_received_and_rport() {
        let v = Via::parse("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;received=2001:db8::9;rport=5062").unwrap();
        assert_eq!(v.received(), Some("2001:db8::9"));
        assert_eq!(v.received_ip(), Some("2001:db8::9".parse().unwrap()));
        assert_eq!(v.rport(), Some(Some(5062)));
        let b = Via::parse("SIP/2.0/UDP h;branch=z9hG4bK1;received=[2001:db8::9]").unwrap();
        assert_eq!(b.received_ip(), Some("2001:db8::9".parse().unwrap()));
        assert!(Via::parse("SIP/2.0/UDP h;received=192.0.2.1").unwrap().received_ip().is_some());
        assert!(Via::parse("SIP/2.0/UDP h;received=2001:db8::zz").is_err());
        assert_eq!(Via::parse("SIP/2.0/UDP h;rport=99999"), Err("malformed rport"));
        assert_eq!(Via::parse("SIP/2.0/UDP h;rport=abc"), Err("malformed rport"));
        assert_eq!(Via::parse("SIP/2.0/UDP h;rport").unwrap().rport(), Some(None));
    }

    #[test]
    fn refresher_and_reason_text() {
        let se = SessionExpires::parse("90;Refresher=UAS").unwrap();
        assert_eq!(se.refresher_role(), Some(Refresher::Uas));
        assert_eq!(se.refresher_role().map(Refresher::as_str), Some("uas"));
        assert_eq!(SessionExpires::parse("90").unwrap().refresher_role(), None);
        assert!(SessionExpires::parse("90;refresher=both").is_err());
        let r = Reason::parse(r#"SIP;cause=480;text="Say \"hi\" \\ bye""#).unwrap();
        assert_eq!(r.text, Some(r#"Say \"hi\" \\ bye"#));
        assert_eq!(r.text_unescaped().unwrap(), r#"Say "hi" \ bye"#);
        let plain = Reason::parse("Q.850;cause=16;text=\"Normal\"").unwrap();
        assert!(matches!(plain.text_unescaped(), Some(Cow::Borrowed("Normal"))));
    }
}
