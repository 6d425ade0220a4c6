//! Typed accessors on [`Message`]: each parses the header's value on
//! demand and reports a fault as a [`ParseError`] naming the header and
//! the byte offset of the value. Absent optional headers are `Ok(None)`;
//! absent mandatory ones (`Call-ID`, `CSeq`, `From`, `To`, `Via`) are
//! `ErrorKind::Missing`. A value that is not UTF-8 is an error naming the
//! header (`not UTF-8`), never an empty value. Name-addr headers are read
//! with [`Leniency::for_header`]. A malformed Expires reads as absent.

use super::addr::{Leniency, NameAddr};
use super::error::{ErrorKind, ParseError};
use super::header::HeaderName;
use super::message::{Header, Message};
use super::method::Method;
use super::typed::{self, CSeq, MediaType, RAck, Reason, Replaces, SessionExpires, Via};

/// One Contact value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER with Expires: 0 only).
    Star,
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// The `expires` parameter of an address.
    pub fn expires(&self) -> Option<u64> {
        match self {
            Contact::Star => None,
            Contact::Addr(a) => a.params.get("expires").flatten().and_then(|e| e.parse().ok()),
        }
    }
}

/// What identifies a transaction (RFC 3261 17.2.3, with the RFC 2543
/// fallback when the branch lacks the magic cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionKey<'a> {
    pub branch: &'a str,
    pub sent_by_host: &'a str,
    pub sent_by_port: Option<u16>,
    /// CSeq method (ACK and CANCEL are matched against INVITE by the caller).
    pub method: Method,
    pub method_str: &'a str,
    /// Whether `branch` carries the RFC 3261 magic cookie; if not, the
    /// caller must match on the legacy fields too.
    pub rfc3261: bool,
    pub call_id: &'a str,
    pub cseq: u32,
}

fn err(h: &Header<'_>, kind: ErrorKind) -> ParseError {
    ParseError::in_header(kind, h.offset, h.canonical_name())
}

fn value_err(h: &Header<'_>, why: &'static str) -> ParseError {
    err(h, ErrorKind::Value(why))
}

fn missing(name: HeaderName) -> ParseError {
    ParseError::in_header(ErrorKind::Missing, 0, name.canonical())
}

pub(crate) const NOT_UTF8: ErrorKind = ErrorKind::Value("not UTF-8");

impl Message {
    /// The value of a header line as text; an error naming the header when
    /// it is not UTF-8 (its `value` is then `""`).
    pub fn text<'s>(&'s self, h: &Header<'s>) -> Result<&'s str, ParseError> {
        if h.value.is_empty() && !self.header_is_utf8(h.index) {
            return Err(err(h, NOT_UTF8));
        }
        Ok(h.value)
    }

    /// The elements of a list header across lines and commas, with their
    /// offsets; a line that is not UTF-8 yields one error.
    pub fn typed_list_values(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<(Header<'_>, &str, usize), ParseError>> + '_ {
        self.headers_named(name).flat_map(move |h| {
            let bad = self.text(&h).err().map(Err);
            let values = if bad.is_some() { "" } else { h.value };
            bad.into_iter().chain(super::list::split(values).map(move |(v, off)| Ok((h, v, h.offset + off))))
        })
    }

    /// The single line of a single-valued header; a second line is an error.
    pub fn single(&self, name: HeaderName) -> Result<Option<Header<'_>>, ParseError> {
        let mut it = self.headers_named(name);
        let first = it.next();
        if let Some(second) = it.next() {
            return Err(err(&second, ErrorKind::Duplicate));
        }
        Ok(first)
    }

    /// Parse the single line of an optional single-valued header with `parse`.
    fn single_typed<'s, T>(
        &'s self,
        name: HeaderName,
        parse: impl FnOnce(&'s str) -> Result<T, &'static str>,
    ) -> Result<Option<T>, ParseError> {
        match self.single(name)? {
            Some(h) => parse(self.text(&h)?).map(Some).map_err(|w| value_err(&h, w)),
            None => Ok(None),
        }
    }

    fn required(&self, name: HeaderName) -> Result<Header<'_>, ParseError> {
        self.single(name)?.ok_or_else(|| missing(name))
    }

    pub fn call_id(&self) -> Result<&str, ParseError> {
        let h = self.required(HeaderName::CallId)?;
        typed::call_id(self.text(&h)?).map_err(|w| value_err(&h, w))
    }

    pub fn cseq(&self) -> Result<CSeq<'_>, ParseError> {
        let h = self.required(HeaderName::CSeq)?;
        CSeq::parse(self.text(&h)?).map_err(|w| value_err(&h, w))
    }

    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        self.identity(HeaderName::From)
    }

    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        self.identity(HeaderName::To)
    }

    fn identity(&self, name: HeaderName) -> Result<NameAddr<'_>, ParseError> {
        let h = self.required(name)?;
        NameAddr::parse_with(self.text(&h)?, Leniency::for_header(name)).map_err(|w| value_err(&h, w))
    }

    /// Every Via value, top first, across lines and commas.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> + '_ {
        self.typed_list_values(HeaderName::Via).map(|r| {
            let (h, v, off) = r?;
            Via::parse(v).map_err(|w| ParseError::in_header(ErrorKind::Value(w), off, h.canonical_name()))
        })
    }

    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        self.vias().next().unwrap_or_else(|| Err(missing(HeaderName::Via)))
    }

    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.single_typed(HeaderName::MaxForwards, typed::max_forwards)
    }

    /// Contact values across lines and commas.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'_>, ParseError>> + '_ {
        let lenient = Leniency::for_header(HeaderName::Contact);
        self.typed_list_values(HeaderName::Contact).map(move |r| {
            let (h, v, off) = r?;
            if v == "*" {
                return Ok(Contact::Star);
            }
            NameAddr::parse_with(v, lenient)
                .map(Contact::Addr)
                .map_err(|w| ParseError::in_header(ErrorKind::Value(w), off, h.canonical_name()))
        })
    }

    /// Name-addr values of a list header (Route, Record-Route,
    /// P-Asserted-Identity, History-Info, Diversion ...).
    pub fn addresses(&self, name: HeaderName) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        let lenient = Leniency::for_header(name);
        self.typed_list_values(name).map(move |r| {
            let (h, v, off) = r?;
            NameAddr::parse_with(v, lenient)
                .map_err(|w| ParseError::in_header(ErrorKind::Value(w), off, h.canonical_name()))
        })
    }

    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.addresses(HeaderName::Route)
    }

    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.addresses(HeaderName::RecordRoute)
    }

    pub fn p_asserted_identities(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.addresses(HeaderName::PAssertedIdentity)
    }

    pub fn history_info(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.addresses(HeaderName::HistoryInfo)
    }

    pub fn diversions(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.addresses(HeaderName::Diversion)
    }

    /// Option tags of Require, Supported, Proxy-Require or Unsupported,
    /// each bounded by the default limits (32 B a tag).
    pub fn option_tags(&self, name: HeaderName) -> impl Iterator<Item = Result<&str, ParseError>> + '_ {
        let max = super::limits::Limits::default().max_option_tag;
        self.typed_list_values(name).map(move |r| {
            let (h, v, off) = r?;
            typed::option_tag(v, max).map_err(|w| {
                let kind =
                    if w == "option tag too long" { ErrorKind::OptionTagTooLong(max) } else { ErrorKind::Value(w) };
                ParseError::in_header(kind, off, h.canonical_name())
            })
        })
    }

    /// Whether `Supported` (or `k`) lists `tag`.
    pub fn supports(&self, tag: &str) -> bool {
        self.option_tags(HeaderName::Supported).any(|t| t.is_ok_and(|t| t.eq_ignore_ascii_case(tag)))
    }

    /// Whether `Require` lists `tag`.
    pub fn requires(&self, tag: &str) -> bool {
        self.option_tags(HeaderName::Require).any(|t| t.is_ok_and(|t| t.eq_ignore_ascii_case(tag)))
    }

    /// Methods listed in Allow.
    pub fn allow(&self) -> impl Iterator<Item = &str> + '_ {
        self.list_values(HeaderName::Allow).map(|(_, v, _)| v)
    }

    pub fn rseq(&self) -> Result<Option<u32>, ParseError> {
        self.single_typed(HeaderName::RSeq, |v| typed::parse_int(v, u64::from(u32::MAX)).map(|n| n as u32))
    }

    pub fn rack(&self) -> Result<Option<RAck<'_>>, ParseError> {
        self.single_typed(HeaderName::RAck, RAck::parse)
    }

    pub fn session_expires(&self) -> Result<Option<SessionExpires<'_>>, ParseError> {
        self.single_typed(HeaderName::SessionExpires, SessionExpires::parse)
    }

    /// Privacy values (`id`, `header`, `none` ...).
    pub fn privacy(&self) -> impl Iterator<Item = &str> + '_ {
        self.headers_named(HeaderName::Privacy).flat_map(|h| typed::privacy_values(h.value))
    }

    pub fn refer_to(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.single_addr(HeaderName::ReferTo)
    }

    pub fn referred_by(&self) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.single_addr(HeaderName::ReferredBy)
    }

    fn single_addr(&self, name: HeaderName) -> Result<Option<NameAddr<'_>>, ParseError> {
        self.single_typed(name, NameAddr::parse)
    }

    pub fn replaces(&self) -> Result<Option<Replaces<'_>>, ParseError> {
        self.single_typed(HeaderName::Replaces, Replaces::parse)
    }

    pub fn reasons(&self) -> impl Iterator<Item = Result<Reason<'_>, ParseError>> + '_ {
        self.typed_list_values(HeaderName::Reason).map(|r| {
            let (h, v, off) = r?;
            Reason::parse(v).map_err(|w| ParseError::in_header(ErrorKind::Value(w), off, h.canonical_name()))
        })
    }

    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        self.single_typed(HeaderName::ContentType, MediaType::parse)
    }

    /// Expires header value. A malformed value (not a number, over
    /// 2**32-1, not UTF-8) reads as absent, so the default applies (RFC
    /// 4475 3.1.2.4); a second Expires line is still an error.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        Ok(self.single(HeaderName::Expires)?.and_then(|h| {
            let v = self.text(&h).ok()?;
            typed::parse_int(v, u64::from(u32::MAX)).ok().map(|n| n as u32)
        }))
    }

    /// The transaction key: top Via branch and sent-by, CSeq, Call-ID.
    pub fn transaction_key(&self) -> Result<TransactionKey<'_>, ParseError> {
        let via = self.top_via()?;
        let cseq = self.cseq()?;
        let call_id = self.call_id()?;
        let branch = via.branch().unwrap_or("");
        Ok(TransactionKey {
            branch,
            sent_by_host: via.host_str,
            sent_by_port: via.port,
            method: cseq.method,
            method_str: cseq.method_str,
            rfc3261: branch.starts_with("z9hG4bK") && branch.len() > 7,
            call_id,
            cseq: cseq.seq,
        })
    }
}
