//! Transaction matching keys (RFC 3261 17.1.3 and 17.2.3).
//!
//! Contract: a client transaction is found by the top Via branch and the
//! CSeq method of a response. A server transaction is found by branch,
//! sent-by and method (ACK matches INVITE); a request whose branch lacks
//! the RFC 3261 magic cookie falls back to the RFC 2543 fields (Call-ID,
//! CSeq number, From tag, top Via). Keys are owned: they outlive the
//! message they were read from.

use crate::sip::msg::{Message, Method, ParseError};

/// A key in the transaction table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxKey {
    Client { branch: Box<str>, method: Box<str> },
    Server { branch: Box<str>, sent_by: Box<str>, method: Box<str> },
    Legacy { call_id: Box<str>, cseq: u32, from_tag: Box<str>, via: Box<str>, method: Box<str> },
}

/// The key of the client transaction a response belongs to.
pub fn client_key_of_response(resp: &Message) -> Result<TxKey, ParseError> {
    let via = resp.top_via()?;
    let cseq = resp.cseq()?;
    Ok(TxKey::Client { branch: via.branch().unwrap_or("").into(), method: cseq.method_str.into() })
}

/// The key of the client transaction for a request we send.
pub fn client_key_of_request(req: &Message) -> Result<TxKey, ParseError> {
    let via = req.top_via()?;
    let cseq = req.cseq()?;
    Ok(TxKey::Client { branch: via.branch().unwrap_or("").into(), method: cseq.method_str.into() })
}

/// The key of the server transaction a request belongs to. With
/// `as_method`, the method is replaced (CANCEL looks up its INVITE).
pub fn server_key(req: &Message, as_method: Option<&str>) -> Result<TxKey, ParseError> {
    let via = req.top_via()?;
    let cseq = req.cseq()?;
    let method: Box<str> = match (as_method, cseq.method) {
        (Some(m), _) => m.into(),
        (None, Method::Ack) => "INVITE".into(),
        (None, _) => cseq.method_str.into(),
    };
    let branch = via.branch().unwrap_or("");
    if branch.len() > 7 && branch.starts_with("z9hG4bK") {
        let sent_by = match via.port {
            Some(p) => format!("{}:{p}", via.host_str.to_ascii_lowercase()),
            None => via.host_str.to_ascii_lowercase(),
        };
        return Ok(TxKey::Server { branch: branch.into(), sent_by: sent_by.into(), method });
    }
    let from_tag = req.from()?.tag().unwrap_or("").into();
    let via_raw = format!("{}/{}:{}", via.transport, via.host_str, via.port.unwrap_or(0));
    Ok(TxKey::Legacy { call_id: req.call_id()?.into(), cseq: cseq.seq, from_tag, via: via_raw.into(), method })
}
