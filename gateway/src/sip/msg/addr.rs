//! `name-addr` / `addr-spec` values: From, To, Contact, Route,
//! Record-Route, P-Asserted-Identity, Refer-To, Referred-By, Diversion,
//! History-Info, Reply-To (RFC 3261 20.10, 25.1).
//!
//! Contract: [`NameAddr::parse`] borrows, never allocates, and rejects an
//! unbalanced quote, an unquoted display name that is not tokens, white
//! space inside `<...>`, and a malformed URI, with a reason. Without angle
//! brackets the `;` parameters belong to the header, not the URI.

use std::borrow::Cow;

use super::params::{quoted_ok, trim_str, Params};
use super::scan::{find_unquoted, is_lws, is_token};
use super::uri::Uri;

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
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, &'static str> {
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
                } else if !display
                    .split(|c: char| c.is_ascii() && is_lws(c as u8))
                    .filter(|t| !t.is_empty())
                    .all(|t| t.bytes().all(is_token))
                {
                    return Err("display name is neither tokens nor a quoted string");
                }
                Some(display)
            };
            let rest = &s[lt + 1..];
            let gt = rest.find('>').ok_or("missing '>'")?;
            let inner = &rest[..gt];
            if inner.bytes().any(is_lws) {
                return Err("white space inside <...>");
            }
            let uri = Uri::parse(inner)?;
            let after = trim_str(&rest[gt + 1..]);
            let params = if after.is_empty() { "" } else { after.strip_prefix(';').ok_or("junk after '>'")? };
            let params = Params::new(params);
            params.check().map_err(|(_, why)| why)?;
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
        let uri = Uri::parse(u)?;
        if uri.headers.is_some() || u.contains(',') {
            return Err("URI with headers or commas must be enclosed in <...>");
        }
        let params = Params::new(p);
        params.check().map_err(|(_, why)| why)?;
        Ok(NameAddr { display: None, uri, bracketed: false, params })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }

    /// Display name without quotes and escapes.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        let d = self.display?;
        match d.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
            Some(inner) if inner.contains('\\') => {
                let mut out = String::with_capacity(inner.len());
                let mut esc = false;
                for ch in inner.chars() {
                    if esc {
                        out.push(ch);
                        esc = false;
                    } else if ch == '\\' {
                        esc = true;
                    } else {
                        out.push(ch);
                    }
                }
                Some(Cow::Owned(out))
            }
            Some(inner) => Some(Cow::Borrowed(inner)),
            None => Some(Cow::Borrowed(d)),
        }
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
    fn addr_spec_with_quoted_param() {
        // contact-params = generic-param, whose value may be a quoted string
        // (RFC 3261 25.1), also after an addr-spec written without <...>.
        let a = NameAddr::parse("sip:a@b;+sip.instance=\"<urn:uuid:1>\";expires=60").unwrap();
        assert!(!a.bracketed);
        assert_eq!(a.params.get("+sip.instance"), Some(Some("\"<urn:uuid:1>\"")));
        assert_eq!(a.params.get("expires"), Some(Some("60")));
    }
}
