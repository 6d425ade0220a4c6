//! Byte-level scanning shared by the parsers: character classes, linear
//! white space (including folded line ends), trimming.
//!
//! Contract: pure functions over byte slices; none allocates or panics.

/// RFC 3261 `token` character.
#[inline]
pub fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// Whether a whole slice is a non-empty token.
#[inline]
pub fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// White space inside a header value: SP, HTAB, and the CR/LF of a folded line
/// (a header value span only holds CR/LF where the line was folded).
#[inline]
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trim linear white space at both ends.
#[inline]
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |p| p + 1);
    &s[start..end.max(start)]
}

/// Offset of the first non-LWS byte at or after `i` (or `s.len()`).
#[inline]
pub fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

/// Parse a decimal number made of ASCII digits only, without overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// `parse_u64` bounded to `u32`.
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// Bytes as `&str` when they are UTF-8 (they are not always on the wire).
#[inline]
pub fn as_str(s: &[u8]) -> Option<&str> {
    std::str::from_utf8(s).ok()
}

/// Lossy `&str` view for display: the message layer only hands out `&str`
/// for spans it validated as UTF-8; this is for the rest.
pub fn lossy(s: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(s)
}

/// Unfold a header value for display: every run of LWS becomes one space.
pub fn unfold(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut ws = false;
    for ch in String::from_utf8_lossy(trim(s)).chars() {
        if matches!(ch, ' ' | '\t' | '\r' | '\n') {
            ws = true;
        } else {
            if ws {
                out.push(' ');
                ws = false;
            }
            out.push(ch);
        }
    }
    out
}

/// Position of the first `needle` in `s` outside double-quoted strings.
pub fn find_unquoted(s: &[u8], needle: u8) -> Option<usize> {
    let mut in_quote = false;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if in_quote {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}
