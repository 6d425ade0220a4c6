//! Full syntax check of a parsed message.
//!
//! Contract: [`check`] parses the Request-URI and the value of every
//! header line the gateway understands, and applies the value-level size
//! limits (Contact URI, option tags). It finds what `Message::parse` leaves
//! to on-demand parsing, so that a message that passes both is safe to
//! route on. The first fault is returned, naming the header and offset.
//! It does not judge semantics (missing or duplicated headers, methods,
//! extensions): that is [`super::validate`].

use super::addr::NameAddr;
use super::error::{ErrorKind, ParseError};
use super::header::HeaderName;
use super::limits::Limits;
use super::list;
use super::message::{Header, Message};
use super::scan::is_token_str;
use super::typed::{self, CSeq, MediaType, RAck, Reason, Replaces, SessionExpires, Via};
use super::uri::Uri;

/// Check the Request-URI and every known header value.
pub fn check(msg: &Message, limits: &Limits) -> Result<(), ParseError> {
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

fn fail(h: &Header<'_>, at: usize, kind: ErrorKind) -> ParseError {
    ParseError::in_header(kind, at, h.canonical_name())
}

fn check_header(msg: &Message, h: &Header<'_>, limits: &Limits) -> Result<(), ParseError> {
    let v = h.value;
    let whole = |r: Result<(), &'static str>| r.map_err(|w| fail(h, h.offset, ErrorKind::Value(w)));
    // For list headers, each element is checked with its own offset.
    let each = |f: &dyn Fn(&str) -> Result<(), ErrorKind>| -> Result<(), ParseError> {
        for (e, off) in list::split(v) {
            f(e).map_err(|k| fail(h, h.offset + off, k))?;
        }
        Ok(())
    };
    let val = |w: &'static str| ErrorKind::Value(w);
    match h.name {
        HeaderName::Via => each(&|e| Via::parse(e).map(drop).map_err(val)),
        HeaderName::From | HeaderName::To | HeaderName::ReferTo | HeaderName::ReferredBy | HeaderName::ReplyTo => {
            whole(NameAddr::parse(v).map(drop))
        }
        HeaderName::Route
        | HeaderName::RecordRoute
        | HeaderName::PAssertedIdentity
        | HeaderName::PPreferredIdentity
        | HeaderName::HistoryInfo
        | HeaderName::Diversion => each(&|e| NameAddr::parse(e).map(drop).map_err(val)),
        HeaderName::Contact => each(&|e| {
            if e == "*" {
                return Ok(());
            }
            let a = NameAddr::parse(e).map_err(val)?;
            if a.uri.raw.len() > limits.max_uri || a.uri.user.is_some_and(|u| u.len() > limits.max_uri) {
                return Err(ErrorKind::UriTooLong(limits.max_uri));
            }
            if let Some(x) = a.params.get("expires") {
                typed::parse_int(x.unwrap_or(""), u64::from(u32::MAX)).map_err(val)?;
            }
            Ok(())
        }),
        HeaderName::CallId => whole(typed::call_id(v).map(drop)),
        HeaderName::CSeq => {
            let c = CSeq::parse(v).map_err(|w| fail(h, h.offset, ErrorKind::Value(w)))?;
            match msg.method_str() {
                Some(m)
                    if m != c.method_str && !(msg.method() == Some(super::Method::Ack) && c.method_str == "ACK") =>
                {
                    Err(fail(h, h.offset, ErrorKind::CSeqMethod))
                }
                _ => Ok(()),
            }
        }
        HeaderName::MaxForwards => whole(typed::max_forwards(v).map(drop)),
        HeaderName::Expires | HeaderName::MinExpires | HeaderName::MinSe | HeaderName::RSeq => {
            whole(typed::parse_int(v, u64::from(u32::MAX)).map(drop))
        }
        HeaderName::SessionExpires => whole(SessionExpires::parse(v).map(drop)),
        HeaderName::RAck => whole(RAck::parse(v).map(drop)),
        HeaderName::Replaces => whole(Replaces::parse(v).map(drop)),
        HeaderName::Reason => each(&|e| Reason::parse(e).map(drop).map_err(val)),
        HeaderName::ContentType => whole(MediaType::parse(v).map(drop)),
        HeaderName::Date => whole(typed::date(v).map(drop)),
        HeaderName::RetryAfter => {
            let (d, _) = typed::split_params(v);
            let d = d.split('(').next().unwrap_or("");
            whole(typed::parse_int(d, u64::from(u32::MAX)).map(drop))
        }
        HeaderName::Require | HeaderName::Supported | HeaderName::ProxyRequire | HeaderName::Unsupported => {
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
        HeaderName::Allow => each(&|e| if is_token_str(e.as_bytes()) { Ok(()) } else { Err(val("malformed method")) }),
        HeaderName::Warning => each(&|e| {
            let code = e.split(' ').next().unwrap_or("");
            if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(val("warn-code is not three digits"))
            }
        }),
        _ => Ok(()),
    }
}
