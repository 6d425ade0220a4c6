//! Inspection of one raw message, as the receive path judges it: parse,
//! full syntax check, then (for requests) the UAS validation. Used by the
//! `gateway sip parse` support tool and the conformance suite.
//!
//! Contract: [`inspect`] never panics on any input. `valid` is true when
//! the message is well-formed (parse and check pass; a response is checked
//! only on what it is routed on, `check::check_response`); `response` is
//! what the gateway answers instead of processing it (a malformed
//! request's 400/413/414/505/513, a well-formed request's 4xx/5xx), `None`
//! when it processes it normally or drops it silently: responses, ACKs
//! (never answered, malformed or not) and keep-alive or garbage datagrams
//! (only CR/LF/NUL/SP/HTAB, or no parseable start line and no Via: there
//! is nowhere to send an answer). `disposition` sums it up.

use bytes::Bytes;
use serde_json::{json, Value};

use super::msg::validate::{self, Policy, Rejection};
use super::msg::{self, scan, ErrorKind, Frame, Framing, Limits, Message, NameAddr, ParseError, StreamFramer};

/// What the receive path does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Well-formed and handed up (a request to the transaction layer, a
    /// response to its client transaction).
    Process,
    /// Answered with [`Inspection::response`] instead of being processed.
    Answer,
    /// Discarded without an answer (and counted): a malformed response, a
    /// malformed ACK, a keep-alive or garbage.
    Drop,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Process => "process",
            Disposition::Answer => "answer",
            Disposition::Drop => "drop",
        }
    }
}

/// The verdict on one message.
#[derive(Debug)]
pub struct Inspection {
    /// The parsed message, when framing and indexing succeeded.
    pub message: Option<Message>,
    pub valid: bool,
    pub error: Option<ParseError>,
    /// The answer owed instead of normal processing.
    pub response: Option<Rejection>,
    /// Process, answer or drop: follows from `valid` and `response`.
    pub disposition: Disposition,
}

impl Inspection {
    fn new(message: Option<Message>, error: Option<ParseError>, response: Option<Rejection>) -> Self {
        let valid = error.is_none();
        let disposition = match (&response, valid) {
            (Some(_), _) => Disposition::Answer,
            (None, true) => Disposition::Process,
            (None, false) => Disposition::Drop,
        };
        Inspection { message, valid, error, response, disposition }
    }
}

/// Judge `raw` received with `framing`.
pub fn inspect(raw: Bytes, framing: Framing, limits: &Limits, policy: &Policy) -> Inspection {
    let start = raw.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(raw.len());
    let looks_like_request = !raw[start..].starts_with(b"SIP/");
    // ACK is never answered (RFC 3261 17.1.1.3, 17.2.3).
    let looks_like_ack = raw[start..].starts_with(b"ACK ");
    let keepalive = is_keepalive(&raw);
    let parsed = match framing {
        Framing::Datagram => Message::parse(raw.clone(), framing, limits),
        Framing::Stream => frame_one(raw.clone(), limits),
    };
    let message = match parsed {
        Ok(m) => m,
        Err(error) => {
            // Garbage (no start line, no Via) has nowhere to be answered.
            let garbage = start_line_failed(&error, &raw, limits) && !has_via_line(&raw);
            let answerable = looks_like_request && !looks_like_ack && !keepalive && !garbage;
            let response = answerable.then(|| from_error(&error));
            return Inspection::new(None, Some(error), response);
        }
    };
    if !message.is_request() {
        let error = msg::check::check_response(&message, limits).err();
        return Inspection::new(Some(message), error, None);
    }
    if let Err(error) = msg::check::check(&message, limits) {
        let response = if message.method() == Some(msg::Method::Ack) {
            None
        } else {
            Some(method_first(&message, policy).unwrap_or_else(|| from_error(&error)))
        };
        return Inspection::new(Some(message), Some(error), response);
    }
    let response = validate::validate_request(&message, policy);
    Inspection::new(Some(message), None, response)
}

/// A keep-alive datagram (RFC 5626 CRLF, NAT pinholes): empty or only
/// CR, LF, NUL, SP and HTAB.
fn is_keepalive(raw: &[u8]) -> bool {
    raw.iter().all(|&b| matches!(b, b'\r' | b'\n' | 0 | b' ' | b'\t'))
}

/// There is no start line that parses (the parse failed on it, or failed
/// earlier, e.g. framing, and the first line does not parse either).
fn start_line_failed(e: &ParseError, raw: &[u8], limits: &Limits) -> bool {
    let on_start_line = e.header.is_none()
        && matches!(
            e.kind,
            ErrorKind::Empty
                | ErrorKind::StartLine(_)
                | ErrorKind::Method
                | ErrorKind::RequestUri(_)
                | ErrorKind::UriTooLong(_)
                | ErrorKind::Version
                | ErrorKind::StatusCode
        );
    on_start_line || !msg::has_start_line(raw, limits)
}

/// Whether some line of `raw` looks like a Via header (`Via:` or `v:`, any
/// case, white space before the colon allowed).
fn has_via_line(raw: &[u8]) -> bool {
    raw.split(|&b| b == b'\n').any(|line| {
        let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
        let name = scan::trim(&line[..name_end]);
        name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v")
    })
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
        // Values that are not UTF-8 are shown with U+FFFD for the bad bytes.
        let headers: Vec<Value> = m
            .map(|m| m.headers().map(|h| json!([h.canonical_name(), scan::unfold(m.header_bytes(h.index))])).collect())
            .unwrap_or_default();
        json!({
            "valid": self.valid,
            "disposition": self.disposition.as_str(),
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
