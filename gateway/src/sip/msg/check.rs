//! Full syntax check of a parsed message.
//!
//! Contract: [`check`] parses the Request-URI and the value of every
//! header line the gateway understands, and applies the value-level size
//! limits (Contact URI, option tags). It finds what `Message::parse` leaves
//! to on-demand parsing, so that a message that passes both is safe to
//! route on. The first fault is returned, naming the header and offset.
//! It does not judge semantics (missing or duplicated headers, methods,
//! extensions): that is [`super::validate`]; the exceptions are `Contact: *`
//! (valid only alone in a REGISTER) and the CSeq method.
//!
//! Ignored even by the full check, because a B2BUA does not use them and
//! RFC 4475 3.1.2.4/3.1.2.12 allow ignoring them: the values of Date,
//! Warning, Retry-After and Expires (a malformed Expires reads as absent,
//! see `Message::expires`).
//!
//! A response is judged only on what it is routed and matched on
//! ([`check_response`], [`Mode::Essential`]): a fault elsewhere must not
//! drop it. The receive path calls [`check_received`], which picks the
//! mode by the kind of message.
//!
//! The value of a checked header must be UTF-8 (else `not UTF-8`, naming
//! the header); other headers may carry any bytes but controls.

use super::addr::{Leniency, NameAddr};
use super::error::{ErrorKind, ParseError};
use super::header::HeaderName;
use super::limits::Limits;
use super::list;
use super::message::{Header, Message};
use super::method::Method;
use super::scan::is_token_str;
use super::typed::{self, CSeq, MediaType, RAck, Reason, Replaces, SessionExpires, Via};
use super::uri::Uri;

/// Which header faults are fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The Request-URI and every header the gateway understands: for requests.
    Full,
    /// What a response is routed and matched on: the top Via value, CSeq,
    /// Call-ID, From and To (each present, the single ones once), and on a
    /// 1xx/2xx to INVITE every Contact and Record-Route value (they make
    /// the dialog). Faults in any other header are ignored.
    Essential,
}

/// Check the Request-URI and every known header value ([`Mode::Full`]).
pub fn check(msg: &Message, limits: &Limits) -> Result<(), ParseError> {
    check_with(msg, limits, Mode::Full)
}

/// Check a response on what it is routed and matched on only ([`Mode::Essential`]).
pub fn check_response(msg: &Message, limits: &Limits) -> Result<(), ParseError> {
    check_with(msg, limits, Mode::Essential)
}

/// What the receive path applies to any message: [`check`] for a request,
/// [`check_response`] for a response.
pub fn check_received(msg: &Message, limits: &Limits) -> Result<(), ParseError> {
    check_with(msg, limits, if msg.is_request() { Mode::Full } else { Mode::Essential })
}

/// Check in the given mode.
pub fn check_with(msg: &Message, limits: &Limits, mode: Mode) -> Result<(), ParseError> {
    match mode {
        Mode::Full => check_full(msg, limits),
        Mode::Essential => check_essential(msg, limits),
    }
}

fn check_full(msg: &Message, limits: &Limits) -> Result<(), ParseError> {
    if let (Some(uri), Some(span)) = (msg.request_uri_str(), msg.request_uri_span()) {
        let at = span.start as usize;
        let u = Uri::parse(uri).map_err(|w| ParseError::new(ErrorKind::RequestUri(w), at))?;
        if u.headers.is_some() {
            return Err(ParseError::new(ErrorKind::RequestUri("headers are not allowed in a Request-URI"), at));
        }
        if u.user.is_some_and(|x| x.len() > limits.max_uri) {
            return Err(ParseError::new(ErrorKind::UriTooLong(limits.max_uri), at));
        }
    }
    for h in msg.headers() {
        check_header(msg, &h, limits)?;
    }
    Ok(())
}

fn check_essential(msg: &Message, limits: &Limits) -> Result<(), ParseError> {
    let missing = |name: HeaderName| ParseError::in_header(ErrorKind::Missing, 0, name.canonical());
    // The top Via value only: the one a response is matched on.
    let top = msg.headers_named(HeaderName::Via).next().ok_or_else(|| missing(HeaderName::Via))?;
    let v = msg.text(&top)?;
    let (e, off) = list::split(v).next().ok_or_else(|| fail(&top, top.offset, ErrorKind::Value("empty Via")))?;
    Via::parse(e).map_err(|w| fail(&top, top.offset + off, ErrorKind::Value(w)))?;
    for name in [HeaderName::CSeq, HeaderName::CallId, HeaderName::From, HeaderName::To] {
        let h = msg.single(name)?.ok_or_else(|| missing(name))?;
        check_header(msg, &h, limits)?;
    }
    let dialog = matches!(msg.status(), Some(100..=299)) && msg.cseq().is_ok_and(|c| c.method == Method::Invite);
    if dialog {
        for h in msg.headers().filter(|h| matches!(h.name, HeaderName::Contact | HeaderName::RecordRoute)) {
            check_header(msg, &h, limits)?;
        }
    }
    Ok(())
}

fn fail(h: &Header<'_>, at: usize, kind: ErrorKind) -> ParseError {
    ParseError::in_header(kind, at, h.canonical_name())
}

fn check_header(msg: &Message, h: &Header<'_>, limits: &Limits) -> Result<(), ParseError> {
    use HeaderName as N;
    let checked = matches!(
        h.name,
        N::Via
            | N::From
            | N::To
            | N::ReferTo
            | N::ReferredBy
            | N::ReplyTo
            | N::Route
            | N::RecordRoute
            | N::PAssertedIdentity
            | N::PPreferredIdentity
            | N::HistoryInfo
            | N::Diversion
            | N::Contact
            | N::CallId
            | N::CSeq
            | N::MaxForwards
            | N::MinExpires
            | N::MinSe
            | N::RSeq
            | N::SessionExpires
            | N::RAck
            | N::Replaces
            | N::Reason
            | N::ContentType
            | N::Require
            | N::Supported
            | N::ProxyRequire
            | N::Unsupported
            | N::Allow
    );
    if !checked {
        // Date, Warning, Retry-After, Expires and every header not listed
        // above: carried, never judged here.
        return Ok(());
    }
    let v = msg.text(h)?;
    let whole = |r: Result<(), &'static str>| r.map_err(|w| fail(h, h.offset, ErrorKind::Value(w)));
    // For list headers, each element is checked with its own offset.
    let each = |f: &dyn Fn(&str) -> Result<(), ErrorKind>| -> Result<(), ParseError> {
        for (e, off) in list::split(v) {
            f(e).map_err(|k| fail(h, h.offset + off, k))?;
        }
        Ok(())
    };
    let val = |w: &'static str| ErrorKind::Value(w);
    let lenient = Leniency::for_header(h.name);
    match h.name {
        N::Via => each(&|e| Via::parse(e).map(drop).map_err(val)),
        N::From | N::To | N::ReferTo | N::ReferredBy | N::ReplyTo => whole(NameAddr::parse_with(v, lenient).map(drop)),
        N::Route | N::RecordRoute | N::PAssertedIdentity | N::PPreferredIdentity | N::HistoryInfo | N::Diversion => {
            each(&|e| NameAddr::parse_with(e, lenient).map(drop).map_err(val))
        }
        N::Contact => each(&|e| {
            if e == "*" {
                return star_contact(msg);
            }
            let a = NameAddr::parse_with(e, lenient).map_err(val)?;
            if a.uri.raw.len() > limits.max_uri || a.uri.user.is_some_and(|u| u.len() > limits.max_uri) {
                return Err(ErrorKind::ContactTooLong(limits.max_uri));
            }
            if let Some(x) = a.params.get("expires") {
                typed::parse_int(x.unwrap_or(""), u64::from(u32::MAX)).map_err(val)?;
            }
            Ok(())
        }),
        N::CallId => whole(typed::call_id(v).map(drop)),
        N::CSeq => {
            let c = CSeq::parse(v).map_err(|w| fail(h, h.offset, ErrorKind::Value(w)))?;
            match msg.method_str() {
                Some(m) if m != c.method_str && !(msg.method() == Some(Method::Ack) && c.method_str == "ACK") => {
                    Err(fail(h, h.offset, ErrorKind::CSeqMethod))
                }
                _ => Ok(()),
            }
        }
        N::MaxForwards => whole(typed::max_forwards(v).map(drop)),
        N::MinExpires | N::MinSe | N::RSeq => whole(typed::parse_int(v, u64::from(u32::MAX)).map(drop)),
        N::SessionExpires => whole(SessionExpires::parse(v).map(drop)),
        N::RAck => whole(RAck::parse(v).map(drop)),
        N::Replaces => whole(Replaces::parse(v).map(drop)),
        N::Reason => each(&|e| Reason::parse(e).map(drop).map_err(val)),
        N::ContentType => whole(MediaType::parse(v).map(drop)),
        N::Require | N::Supported | N::ProxyRequire | N::Unsupported => {
            if v.len() > limits.max_option_list {
                return Err(fail(h, h.offset, ErrorKind::HeaderTooLong(limits.max_option_list)));
            }
            each(&|e| {
                typed::option_tag(e, limits.max_option_tag).map(drop).map_err(|w| {
                    if w == "option tag too long" {
                        ErrorKind::OptionTagTooLong(limits.max_option_tag)
                    } else {
                        ErrorKind::Value(w)
                    }
                })
            })
        }
        N::Allow => each(&|e| if is_token_str(e.as_bytes()) { Ok(()) } else { Err(val("malformed method")) }),
        _ => Ok(()),
    }
}

/// `Contact: *` (RFC 3261 10.2.2, 20.10): only in a REGISTER, and only as
/// the one Contact value.
fn star_contact(msg: &Message) -> Result<(), ErrorKind> {
    if msg.method() != Some(Method::Register) {
        return Err(ErrorKind::Value("'*' is only allowed in a REGISTER"));
    }
    if msg.list_values(HeaderName::Contact).nth(1).is_some() {
        return Err(ErrorKind::Value("'*' must be the only Contact value"));
    }
    Ok(())
}
