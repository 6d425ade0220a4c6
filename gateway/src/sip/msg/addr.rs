//! `name-addr` / `addr-spec` values: From, To, Contact, Route,
//! Record-Route, P-Asserted-Identity, Refer-To, Referred-By, Diversion,
//! History-Info, Reply-To (RFC 3261 20.10, 25.1).
//!
//! Contract: [`NameAddr::parse`] borrows, never allocates, and rejects an
//! unbalanced quote, an unquoted display name that is not tokens, white
//! space inside `<...>`, a `tag` parameter that is not a token, and a
//! malformed URI, with a reason. Without angle brackets the `;` parameters
//! belong to the header, not the URI. [`NameAddr::parse_with`] relaxes
//! what deployed UAs get wrong in identity headers ([`Leniency`]); the
//! gateway reads each header with [`Leniency::for_header`].

use std::borrow::Cow;

use super::header::HeaderName;
use super::params::{quoted_ok, trim_str, unescape_pairs, Params};
use super::scan::{find_unquoted, is_lws, is_token, is_token_str};
use super::uri::Uri;

/// What a name-addr may get wrong and still be read (all `false`: the
/// RFC 3261 grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leniency {
    /// An unquoted display name that is not tokens (`Jürgen <sip:..>`,
    /// `Anonymous (blocked) <sip:..>`) is the text before `<`, trimmed.
    /// One holding a comma or a double quote is still rejected: a comma
    /// makes the value a list, a quote means a broken quoted string.
    pub display_name: bool,
    /// `_` in the host of a SIP URI (`sip:a@my_host.example.com`).
    pub underscore_host: bool,
    /// One trailing `;` after the header parameters (`;tag=1;`).
    pub trailing_semicolon: bool,
}

impl Leniency {
    /// The grammar, nothing relaxed.
    pub const STRICT: Leniency = Leniency { display_name: false, underscore_host: false, trailing_semicolon: false };

    /// How the gateway reads each name-addr header (Kamailio and pjsip
    /// accept the same): From and To everything above, Contact `_` hosts,
    /// P-Asserted-Identity and Diversion display names; the rest strictly.
    pub fn for_header(name: HeaderName) -> Leniency {
        match name {
            HeaderName::From | HeaderName::To => {
                Leniency { display_name: true, underscore_host: true, trailing_semicolon: true }
            }
            HeaderName::Contact => Leniency { underscore_host: true, ..Leniency::STRICT },
            HeaderName::PAssertedIdentity | HeaderName::Diversion => {
                Leniency { display_name: true, ..Leniency::STRICT }
            }
            _ => Leniency::STRICT,
        }
    }
}

/// A parsed `name-addr` or `addr-spec` with its header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written (quotes kept), if any.
    pub display: Option<&'a str>,
    pub uri: Uri<'a>,
    /// Whether the URI was written in `<...>`.
    pub bracketed: bool,
    /// Header parameters after the address (`tag`, `expires`, `index` ...).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parse by the RFC 3261 grammar.
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, &'static str> {
        NameAddr::parse_with(s, Leniency::STRICT)
    }

    /// Parse, relaxing what `lenient` allows.
    pub fn parse_with(s: &'a str, lenient: Leniency) -> Result<NameAddr<'a>, &'static str> {
        let s = trim_str(s);
        let b = s.as_bytes();
        let lt = find_unquoted(b, b'<');
        if let Some(lt) = lt {
            let display = trim_str(&s[..lt]);
            let display = if display.is_empty() {
                None
            } else {
                if display.starts_with('"') {
                    if !quoted_ok(display) {
                        return Err("malformed quoted display name");
                    }
                } else {
                    let tokens = display
                        .split(|c: char| c.is_ascii() && is_lws(c as u8))
                        .filter(|t| !t.is_empty())
                        .all(|t| t.bytes().all(is_token));
                    let tolerated = lenient.display_name && !display.contains([',', '"']);
                    if !tokens && !tolerated {
                        return Err("display name is neither tokens nor a quoted string");
                    }
                }
                Some(display)
            };
            let rest = &s[lt + 1..];
            let gt = rest.find('>').ok_or("missing '>'")?;
            let inner = &rest[..gt];
            if inner.bytes().any(is_lws) {
                return Err("white space inside <...>");
            }
            let uri = Uri::parse_with(inner, lenient.underscore_host)?;
            let after = trim_str(&rest[gt + 1..]);
            let params = if after.is_empty() { "" } else { after.strip_prefix(';').ok_or("junk after '>'")? };
            let params = header_params(params, lenient)?;
            return Ok(NameAddr { display, uri, bracketed: true, params });
        }
        let (u, p) = match s.find(';') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        // A quote may only open a quoted parameter value, checked with the params.
        if u.contains('"') {
            return Err("unbalanced or misplaced quote");
        }
        let u = trim_str(u);
        if u.bytes().any(is_lws) {
            return Err("white space in address");
        }
        let uri = Uri::parse_with(u, lenient.underscore_host)?;
        if uri.headers.is_some() || u.contains(',') {
            return Err("URI with headers or commas must be enclosed in <...>");
        }
        let params = header_params(p, lenient)?;
        Ok(NameAddr { display: None, uri, bracketed: false, params })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }

    /// Display name without quotes and escapes.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        let d = self.display?;
        Some(match d.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
            Some(inner) => unescape_pairs(inner),
            None => Cow::Borrowed(d),
        })
    }
}

/// Header parameters after the address; `tag` must be a token (RFC 3261
/// 25.1 `tag-param`), so a quoted or empty tag is an error.
fn header_params(raw: &str, lenient: Leniency) -> Result<Params<'_>, &'static str> {
    let params = Params::new(raw);
    params.check_with(lenient.trailing_semicolon).map_err(|(_, why)| why)?;
    match params.get("tag") {
        Some(Some(t)) if is_token_str(t.as_bytes()) => Ok(params),
        Some(_) => Err("tag is not a token"),
        None => Ok(params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = NameAddr::parse("\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n    ;\r\n  tag = 98asjd8")
            .unwrap();
        assert_eq!(a.tag(), Some("98asjd8"));
        assert_eq!(a.display_name().unwrap(), "J Rosenberg \\\"");
        let b = NameAddr::parse("sip:user@example.com;tag=1").unwrap();
        assert!(!b.bracketed);
        assert!(b.uri.params.is_empty());
        assert_eq!(b.tag(), Some("1"));
        let c = NameAddr::parse("Bob Smith <tel:+15551234567>").unwrap();
        assert_eq!(c.display_name().unwrap(), "Bob Smith");
    }

    #[test]
    fn rejects_torture_faults() {
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("Watson, Thomas <sip:t.watson@example.org>").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E").is_err());
        assert!(NameAddr::parse("sip:a@b;x=\"unterminated").is_err());
    }

    #[test]
    fn tag_must_be_a_token() {
        assert!(NameAddr::parse("<sip:a@b>;tag=\"abc\"").is_err());
        assert!(NameAddr::parse("sip:a@b;tag=\"abc\"").is_err());
        assert!(NameAddr::parse("<sip:a@b>;tag").is_err());
        assert_eq!(NameAddr::parse("<sip:a@b>;tag=a.b-c_d!").unwrap().tag(), Some("a.b-c_d!"));
    }

    #[test]
    fn lenient_identity_headers() {
        let from = Leniency::for_header(HeaderName::From);
        for (v, display) in [
            ("J\u{fc}rgen <sip:a@b>;tag=1", "J\u{fc}rgen"),
            ("Anonymous (blocked) <sip:anonymous@anonymous.invalid>", "Anonymous (blocked)"),
            ("  Ms. O'Brien & Co  <sip:a@b>", "Ms. O'Brien & Co"),
        ] {
            assert!(NameAddr::parse(v).is_err(), "strict: {v}");
            let a = NameAddr::parse_with(v, from).unwrap();
            assert_eq!(a.display_name().unwrap(), display);
        }
        // A comma or a quote in an unquoted display name stays an error (RFC 4475 3.1.2.15).
        assert!(NameAddr::parse_with("Bell, Alexander <sip:a.g.bell@example.com>;tag=43", from).is_err());
        assert!(NameAddr::parse_with("Bob \"the\" Builder <sip:a@b>", from).is_err());
        // `_` hosts and a trailing `;`.
        assert!(NameAddr::parse("<sip:a@my_host>;tag=1").is_err());
        assert!(NameAddr::parse("<sip:a@b>;tag=1;").is_err());
        let a = NameAddr::parse_with("<sip:a@my_host.example.com>;tag=1;", from).unwrap();
        assert_eq!((a.uri.host_str, a.tag()), ("my_host.example.com", Some("1")));
        let contact = Leniency::for_header(HeaderName::Contact);
        assert!(NameAddr::parse_with("sip:a@my_host:5060;expires=60", contact).is_ok());
        assert!(NameAddr::parse_with("J\u{fc}rgen <sip:a@b>", contact).is_err());
        let pai = Leniency::for_header(HeaderName::PAssertedIdentity);
        assert!(NameAddr::parse_with("J\u{fc}rgen <sip:a@b>", pai).is_ok());
        assert!(NameAddr::parse_with("<sip:a@my_host>", pai).is_err());
    }

    #[test]
    fn addr_spec_with_quoted_param() {
        // contact-params = generic-param, whose value may be a quoted string
        // (RFC 3261 25.1), also after an addr-spec written without <...>.
        let a = NameAddr::parse("sip:a@b;+sip.instance=\"<urn:uuid:1>\";expires=60").unwrap();
        assert!(!a.bracketed);
        assert_eq!(a.params.get("+sip.instance"), Some(Some("\"<urn:uuid:1>\"")));
        assert_eq!(a.params.get("expires"), Some(Some("60")));
    }
}
