//! URIs: `sip`, `sips` and `tel` parsed into parts; any other scheme kept
//! opaque (RFC 3261 19.1, RFC 3966).
//!
//! Contract: [`Uri::parse`] borrows from its input, never allocates and
//! rejects what the grammar forbids (white space, `<>"`, bad escapes, a
//! malformed host or port), naming the fault. [`unescape`] decodes `%HH`
//! escapes (allocating only when there are some).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::params::Params;

/// URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Not understood: the URI is kept as opaque text.
    Other,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other => "",
        }
    }
}

/// The host part of a SIP URI or Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Domain(&'a str),
    V4(Ipv4Addr),
    /// An IPv6 reference, written in brackets.
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// Parse a host: a domain name, an IPv4 address or a bracketed IPv6 reference.
    pub fn parse(s: &str) -> Result<Host<'_>, &'static str> {
        Host::parse_with(s, false)
    }

    /// [`Host::parse`], optionally accepting `_` in domain labels (not in
    /// the RFC 3261 grammar, but common in hostnames of deployed UAs; the
    /// gateway accepts it in From, To and Contact).
    pub fn parse_with(s: &str, underscore: bool) -> Result<Host<'_>, &'static str> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or("unterminated IPv6 reference")?;
            return inner.parse::<Ipv6Addr>().map(Host::V6).map_err(|_| "malformed IPv6 reference");
        }
        if s.is_empty() {
            return Err("empty host");
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            if let Ok(a) = s.parse::<Ipv4Addr>() {
                return Ok(Host::V4(a));
            }
        }
        let labels_ok = s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || (underscore && b == b'_'))
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
        if labels_ok {
            Ok(Host::Domain(s))
        } else {
            Err("malformed host")
        }
    }
}

impl std::fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A parsed URI view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The whole URI as written.
    pub raw: &'a str,
    pub scheme: Scheme,
    /// The scheme as written (for `Other`, the only way to know it).
    pub scheme_str: &'a str,
    /// SIP: userinfo before `:`/`@`, still escaped; tel: the subscriber number.
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// SIP: the host; tel and other schemes: `None`.
    pub host: Option<Host<'a>>,
    /// The host as written (`[...]` included for IPv6).
    pub host_str: &'a str,
    pub port: Option<u16>,
    /// `;` parameters (SIP and tel).
    pub params: Params<'a>,
    /// `?` headers (SIP), still escaped.
    pub headers: Option<&'a str>,
}

impl<'a> Uri<'a> {
    /// Parse a URI (no enclosing `<>`).
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, &'static str> {
        Uri::parse_with(raw, false)
    }

    /// [`Uri::parse`], optionally accepting `_` in the host (see [`Host::parse_with`]).
    pub fn parse_with(raw: &'a str, underscore_host: bool) -> Result<Uri<'a>, &'static str> {
        let colon = raw.find(':').ok_or("no scheme")?;
        let scheme_str = &raw[..colon];
        let b = scheme_str.as_bytes();
        if b.is_empty()
            || !b[0].is_ascii_alphabetic()
            || !b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err("malformed scheme");
        }
        let forbidden = |c: u8| {
            c <= 0x20 || c >= 0x7f || matches!(c, b'<' | b'>' | b'"' | b'\\' | b'{' | b'}' | b'|' | b'^' | b'`')
        };
        if raw.bytes().any(forbidden) {
            return Err("character not allowed in a URI");
        }
        check_escapes(raw)?;
        let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let rest = &raw[colon + 1..];
        let mut uri = Uri {
            raw,
            scheme,
            scheme_str,
            user: None,
            password: None,
            host: None,
            host_str: "",
            port: None,
            params: Params::default(),
            headers: None,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(rest, underscore_host)?,
            Scheme::Tel => {
                let (num, params) = match rest.find(';') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, ""),
                };
                let digits = num.strip_prefix('+').unwrap_or(num);
                if digits.is_empty()
                    || !digits.bytes().all(|c| {
                        c.is_ascii_hexdigit() || matches!(c, b'-' | b'.' | b'(' | b')' | b'*' | b'#' | b'p' | b'w')
                    })
                {
                    return Err("malformed telephone number");
                }
                uri.user = Some(num);
                uri.params = Params::new(params);
            }
            Scheme::Other => {
                if rest.is_empty() {
                    return Err("empty URI");
                }
            }
        }
        Ok(uri)
    }

    fn parse_sip(&mut self, rest: &'a str, underscore_host: bool) -> Result<(), &'static str> {
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if let Some(ui) = userinfo {
            if ui.is_empty() {
                return Err("empty userinfo");
            }
            match ui.find(':') {
                Some(c) => {
                    self.user = Some(&ui[..c]);
                    self.password = Some(&ui[c + 1..]);
                }
                None => self.user = Some(ui),
            }
        }
        let hp_end = hostpart.find([';', '?']).unwrap_or(hostpart.len());
        let hostport = &hostpart[..hp_end];
        let (host, port) = split_hostport(hostport)?;
        self.host = Some(Host::parse_with(host, underscore_host)?);
        self.host_str = host;
        self.port = port;
        let tail = &hostpart[hp_end..];
        let (params, headers) = match tail.find('?') {
            Some(q) => (&tail[..q], Some(&tail[q + 1..])),
            None => (tail, None),
        };
        let params = params.strip_prefix(';').unwrap_or(params);
        for p in Params::new(params).iter() {
            if p.name.is_empty() {
                return Err("empty URI parameter name");
            }
        }
        self.params = Params::new(params);
        if let Some(h) = headers {
            if h.is_empty() || h.split('&').any(|kv| !kv.contains('=')) {
                return Err("malformed URI headers");
            }
        }
        self.headers = headers;
        Ok(())
    }

    /// The `user=` URI parameter (e.g. `phone`).
    pub fn user_param(&self) -> Option<&'a str> {
        self.params.get("user").flatten()
    }

    /// The `transport=` URI parameter.
    pub fn transport(&self) -> Option<&'a str> {
        self.params.get("transport").flatten()
    }
}

/// Split `host[:port]`, with `[v6]:port` handled.
pub fn split_hostport(hp: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if hp.starts_with('[') {
        let close = hp.find(']').ok_or("unterminated IPv6 reference")?;
        let after = &hp[close + 1..];
        match after.strip_prefix(':') {
            Some(p) => (&hp[..=close], Some(p)),
            None if after.is_empty() => (&hp[..=close], None),
            None => return Err("junk after IPv6 reference"),
        }
    } else {
        match hp.rfind(':') {
            Some(c) => (&hp[..c], Some(&hp[c + 1..])),
            None => (hp, None),
        }
    };
    let port = match port {
        Some(p) => {
            let n = super::scan::parse_u32(p.as_bytes()).ok_or("malformed port")?;
            Some(u16::try_from(n).map_err(|_| "port out of range")?)
        }
        None => None,
    };
    Ok((host, port))
}

fn check_escapes(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() {
                return Err("truncated % escape");
            }
            if !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return Err("malformed % escape");
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Decode `%HH` escapes. Invalid escapes are left as written.
pub fn unescape(s: &str) -> Cow<'_, [u8]> {
    if !s.contains('%') {
        return Cow::Borrowed(s.as_bytes());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = (b[i + 1] as char).to_digit(16);
            let l = (b[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse("sip:+15551234567;x=1:pw@[2001:db8::1]:5061;transport=tls;user=phone?Subject=hi").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("+15551234567;x=1"));
        assert_eq!(u.password, Some("pw"));
        assert_eq!(u.host, Some(Host::V6("2001:db8::1".parse().unwrap())));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tls"));
        assert_eq!(u.user_param(), Some("phone"));
        assert_eq!(u.headers, Some("Subject=hi"));
    }

    #[test]
    fn tel_and_opaque() {
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.user, Some("+1-201-555-0123"));
        let o = Uri::parse("nobodyknowsthisscheme:totallyopaque").unwrap();
        assert_eq!(o.scheme, Scheme::Other);
        assert_eq!(o.scheme_str, "nobodyknowsthisscheme");
    }

    #[test]
    fn rejects() {
        assert!(Uri::parse("sip:user@example.com; lr").is_err());
        assert!(Uri::parse("sip:user@[2001:db8::1").is_err());
        assert!(Uri::parse("sip:user@host:99999").is_err());
        assert!(Uri::parse("sip:%zzuser@host").is_err());
        assert!(Uri::parse("sip:user@host%").is_err());
        assert!(Uri::parse("sip:user@my_host.example.com").is_err());
    }

    #[test]
    fn underscore_hosts_only_when_asked() {
        let u = Uri::parse_with("sip:user@my_host.example.com:5060", true).unwrap();
        assert_eq!(u.host, Some(Host::Domain("my_host.example.com")));
        assert!(Host::parse_with("_sip._udp.example.com", true).is_ok());
        assert!(Host::parse_with("a..b", true).is_err());
    }

    #[test]
    fn unescapes() {
        assert_eq!(&*unescape("sips%3Auser%40example.com"), b"sips:user@example.com");
        assert_eq!(&*unescape("plain"), b"plain");
    }
}
