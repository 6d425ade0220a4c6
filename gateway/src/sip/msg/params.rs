//! `;name[=value]` parameter lists of header values and URIs.
//!
//! Contract: iteration never fails; [`Params::check`] reports the first
//! malformed parameter. Names compare case-insensitively. Values are
//! returned as written (quoted strings keep their quotes).

use std::borrow::Cow;

use super::scan::{find_unquoted, is_lws, is_token};

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

/// A parameter list: the text after the first `;` (may be empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Wrap the text that follows the first `;` of a parameter list.
    pub fn new(raw: &'a str) -> Params<'a> {
        Params { raw }
    }

    pub fn raw(&self) -> &'a str {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.raw.trim().is_empty()
    }

    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.raw }
    }

    /// The parameter named `name` (any case): `Some(None)` when present without value.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| p.value)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Strict check of header-parameter syntax (`token [= token / host / quoted-string]`).
    /// Returns the offset (in `raw`) of the first bad parameter.
    pub fn check(&self) -> Result<(), (usize, &'static str)> {
        self.check_with(false)
    }

    /// [`Params::check`], optionally accepting one trailing `;` (an empty
    /// last parameter), which some UAs write after From/To parameters.
    pub fn check_with(&self, trailing_semicolon: bool) -> Result<(), (usize, &'static str)> {
        let base = self.raw.as_ptr() as usize;
        // Empty parameters (`;;`, a trailing `;`) are not in the grammar.
        let mut rest = self.raw;
        let mut off = 0;
        loop {
            let end = find_unquoted(rest.as_bytes(), b';').unwrap_or(rest.len());
            let last = end == rest.len();
            if trim_str(&rest[..end]).is_empty() && !(off == 0 && last) && !(trailing_semicolon && last) {
                return Err((off, "empty parameter"));
            }
            if end == rest.len() {
                break;
            }
            off += end + 1;
            rest = &rest[end + 1..];
        }
        for p in self.iter() {
            let at = p.name.as_ptr() as usize - base;
            if p.name.is_empty() || !p.name.bytes().all(is_token) {
                return Err((at, "malformed parameter name"));
            }
            if let Some(v) = p.value {
                let ok = if v.starts_with('"') {
                    quoted_ok(v)
                } else {
                    !v.is_empty() && v.bytes().all(|b| is_token(b) || matches!(b, b':' | b'[' | b']'))
                };
                if !ok {
                    return Err((at, "malformed parameter value"));
                }
            }
        }
        Ok(())
    }
}

/// A complete, well-terminated quoted string.
pub fn quoted_ok(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return false;
    }
    let mut i = 1;
    while i < b.len() - 1 {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return false,
            _ => i += 1,
        }
    }
    i == b.len() - 1
}

pub struct ParamIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let end = find_unquoted(self.rest.as_bytes(), b';').unwrap_or(self.rest.len());
            let item = &self.rest[..end];
            self.rest = self.rest.get(end + 1..).unwrap_or("");
            let item = trim_str(item);
            if item.is_empty() {
                continue;
            }
            return Some(match item.find('=') {
                Some(eq) => Param { name: trim_str(&item[..eq]), value: Some(trim_str(&item[eq + 1..])) },
                None => Param { name: item, value: None },
            });
        }
    }
}

/// Decode the quoted-pairs of the inside of a quoted string. Allocates
/// only when there is one.
pub fn unescape_pairs(inner: &str) -> Cow<'_, str> {
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut esc = false;
    for ch in inner.chars() {
        if esc || ch != '\\' {
            out.push(ch);
            esc = false;
        } else {
            esc = true;
        }
    }
    Cow::Owned(out)
}

/// Trim LWS (including folded line ends) from both ends.
pub fn trim_str(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_around_equals_and_semicolons() {
        let p = Params::new(" tag    = 1918181833n ;  x ; y=\"a;b\"");
        assert_eq!(p.get("TAG"), Some(Some("1918181833n")));
        assert_eq!(p.get("x"), Some(None));
        assert_eq!(p.get("y"), Some(Some("\"a;b\"")));
        assert!(p.check().is_ok());
    }

    #[test]
    fn bad_param_is_reported() {
        assert!(Params::new("a=b c").check().is_err());
        assert!(Params::new("a=\"open").check().is_err());
        assert!(Params::new("tag=1;").check().is_err());
        assert!(Params::new("tag=1; ").check_with(true).is_ok());
        assert!(Params::new("tag=1;;x").check_with(true).is_err());
    }
}
