//! Splitting comma-separated header values (RFC 3261 7.3.1).
//!
//! Contract: commas inside double-quoted strings (with backslash escapes)
//! and inside `<...>` do not separate values; each value is returned
//! trimmed, with its offset in the input; empty elements are skipped.

use super::scan::is_lws;

/// Iterator over the elements of a list value.
pub struct Split<'a> {
    s: &'a str,
    pos: usize,
}

/// Split `s` into its comma-separated elements.
pub fn split(s: &str) -> Split<'_> {
    Split { s, pos: 0 }
}

impl<'a> Iterator for Split<'a> {
    /// (element, offset of the element in the input)
    type Item = (&'a str, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        loop {
            if self.pos >= b.len() {
                return None;
            }
            let start = self.pos;
            let mut i = start;
            let mut quoted = false;
            let mut angle = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    b'<' if !quoted => angle = true,
                    b'>' if !quoted => angle = false,
                    b',' if !quoted && !angle => break,
                    _ => {}
                }
                i += 1;
            }
            let end = i.min(b.len());
            self.pos = end + 1;
            let mut s0 = start;
            let mut e0 = end;
            while s0 < e0 && is_lws(b[s0]) {
                s0 += 1;
            }
            while e0 > s0 && is_lws(b[e0 - 1]) {
                e0 -= 1;
            }
            if s0 < e0 {
                return self.s.get(s0..e0).map(|v| (v, s0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn commas_in_quotes_and_brackets_do_not_split() {
        let v: Vec<_> = split(r#""Bell, A" <sip:a@x;p=1,2>, <sip:b@y> ,sip:c@z"#).map(|(s, _)| s).collect();
        assert_eq!(v, vec![r#""Bell, A" <sip:a@x;p=1,2>"#, "<sip:b@y>", "sip:c@z"]);
    }

    #[test]
    fn escaped_quote_keeps_string_open() {
        let v: Vec<_> = split(r#""a\", b" <sip:x>, y"#).map(|(s, _)| s).collect();
        assert_eq!(v, vec![r#""a\", b" <sip:x>"#, "y"]);
    }

    #[test]
    fn offsets_point_at_elements() {
        let s = "a ,  b,,c";
        for (v, off) in split(s) {
            assert_eq!(&s[off..off + v.len()], v);
        }
        assert_eq!(split(s).count(), 3);
    }
}
