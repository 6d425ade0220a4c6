//! Inspection of one raw message, as the receive path judges it: parse,
//! full syntax check, then (for requests) the UAS validation. Used by the
//! `gateway sip parse` support tool and the conformance suite.
//!
//! Contract: [`inspect`] never panics on any input. `valid` is true when
//! the message is well-formed (parse and check pass); `response` is what
//! the gateway answers instead of processing it (a malformed request's
//! 400/413/414/505/513, a well-formed request's 4xx/5xx), `None` when it
//! processes it normally or, for responses, drops it silently.

use bytes::Bytes;
use serde_json::{json, Value};

use super::msg::validate::{self, Policy, Rejection};
use super::msg::{self, scan, Frame, Framing, Limits, Message, NameAddr, ParseError, StreamFramer};

/// The verdict on one message.
#[derive(Debug)]
pub struct Inspection {
    /// The parsed message, when framing and indexing succeeded.
    pub message: Option<Message>,
    pub valid: bool,
    pub error: Option<ParseError>,
    /// The answer owed instead of normal processing.
    pub response: Option<Rejection>,
}

/// Judge `raw` received with `framing`.
pub fn inspect(raw: Bytes, framing: Framing, limits: &Limits, policy: &Policy) -> Inspection {
    let looks_like_request = !raw.iter().skip_while(|b| matches!(b, b'\r' | b'\n')).take(4).eq(b"SIP/".iter());
    let parsed = match framing {
        Framing::Datagram => Message::parse(raw, framing, limits),
        Framing::Stream => frame_one(raw, limits),
    };
    let message = match parsed {
        Ok(m) => m,
        Err(error) => {
            let response = looks_like_request.then(|| from_error(&error));
            return Inspection { message: None, valid: false, error: Some(error), response };
        }
    };
    if let Err(error) = msg::check::check(&message, limits) {
        let response = if message.is_request() {
            Some(method_first(&message, policy).unwrap_or_else(|| from_error(&error)))
        } else {
            None
        };
        return Inspection { message: Some(message), valid: false, error: Some(error), response };
    }
    let response = validate::validate_request(&message, policy);
    Inspection { message: Some(message), valid: true, error: None, response }
}

fn frame_one(raw: Bytes, limits: &Limits) -> Result<Message, ParseError> {
    let mut framer = StreamFramer::new(*limits);
    framer.push(&raw)?;
    loop {
        match framer.next_frame()? {
            Some(Frame::Message(m)) => return Ok(m),
            Some(Frame::Invalid { error, .. }) => return Err(error),
            Some(Frame::Ping | Frame::Pong) => continue,
            None => return Err(ParseError { kind: msg::ErrorKind::Truncated, offset: raw.len(), header: None }),
        }
    }
}

fn from_error(e: &ParseError) -> Rejection {
    let (status, reason) = e.response();
    Rejection { status, reason, headers: Vec::new(), detail: e.to_string() }
}

/// RFC 3261 8.2.1 inspects the method before the headers: a malformed
/// request with a method nobody here knows gets 501 (RFC 4475 3.1.2.18);
/// a known method with malformed headers gets the parse error's answer.
fn method_first(m: &Message, policy: &Policy) -> Option<Rejection> {
    if m.method()? != msg::Method::Other {
        return None;
    }
    let detail = "method not implemented".into();
    Some(Rejection { status: 501, reason: "Not Implemented", headers: vec![("Allow", policy.allow())], detail })
}

fn addr_json(a: Result<NameAddr<'_>, ParseError>) -> Value {
    match a {
        Ok(a) => json!({
            "display": a.display_name().map(|d| d.into_owned()),
            "uri": a.uri.raw,
            "tag": a.tag(),
        }),
        Err(_) => Value::Null,
    }
}

impl Inspection {
    /// The support tool's JSON object.
    pub fn to_json(&self) -> Value {
        let m = self.message.as_ref();
        let kind = m.map(|m| if m.is_request() { "request" } else { "response" });
        let cseq = m.and_then(|m| m.cseq().ok()).map(|c| json!({"seq": c.seq, "method": c.method_str}));
        let vias: Vec<Value> = m
            .map(|m| {
                m.vias()
                    .filter_map(Result::ok)
                    .map(|v| {
                        json!({
                            "transport": v.transport,
                            "host": v.host_str,
                            "port": v.port,
                            "branch": v.branch(),
                            "received": v.received(),
                            "rport": v.rport().map(|p| p.map_or(Value::Bool(true), |p| json!(p))),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let headers: Vec<Value> = m
            .map(|m| m.headers().map(|h| json!([h.canonical_name(), scan::unfold(h.value.as_bytes())])).collect())
            .unwrap_or_default();
        json!({
            "valid": self.valid,
            "kind": kind,
            "method": m.and_then(Message::method_str),
            "uri": m.and_then(Message::request_uri_str),
            "status": m.and_then(Message::status),
            "reason": m.and_then(Message::reason),
            "call_id": m.and_then(|m| m.call_id().ok()),
            "cseq": cseq,
            "from": m.map_or(Value::Null, |m| addr_json(m.from())),
            "to": m.map_or(Value::Null, |m| addr_json(m.to())),
            "via": vias,
            "headers": headers,
            "body_len": m.map(|m| m.body().len()),
            "response": self.response.as_ref().map(|r| {
                let hs: Vec<Value> = r.headers.iter().map(|(n, v)| json!([n, v])).collect();
                json!({"status": r.status, "reason": r.reason, "headers": hs, "detail": r.detail})
            }),
            "error": self.error.as_ref().map(ToString::to_string),
        })
    }
}

/// Inspect with the gateway's default limits and policy.
pub fn inspect_default(raw: Bytes, framing: Framing) -> Inspection {
    inspect(raw, framing, &Limits::default(), &validate::GATEWAY)
}
