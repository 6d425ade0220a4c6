//! Dialogs (RFC 3261 section 12): identity, route set, CSeq spaces,
//! remote target, early and confirmed state.
//!
//! Contract: a [`Dialog`] is plain data built from the message that
//! creates it ([`Dialog::uac`] from a response with a To tag,
//! [`Dialog::uas`] from a request and our tag); it prints in-dialog
//! requests ([`Dialog::request`]) with the right Request-URI and Route
//! set (loose or strict routing), tags and CSeq, and judges in-dialog
//! requests it receives ([`Dialog::receive`]: CSeq order, target
//! refresh). An INVITE may create several early dialogs (one per To tag
//! of a forked response); they share Call-ID and local tag and differ by
//! remote tag. All owned strings are bounded by the message limits.

use super::msg::{HeaderName, Message, Method, NameAddr, ParseError};

/// Dialog identity (RFC 3261 12: Call-ID, local tag, remote tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

/// Early (from a provisional) or confirmed (from a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// Why a message cannot create or continue a dialog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("malformed: {0}")]
    Malformed(#[from] ParseError),
    #[error("the response has no To tag")]
    NoRemoteTag,
    #[error("no Contact to use as the remote target")]
    NoContact,
    #[error("CSeq {got} is not above {last}: answer 500")]
    CSeqOrder { got: u32, last: u32 },
    #[error("the request does not belong to this dialog")]
    NotThisDialog,
}

/// One dialog's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub id: DialogId,
    pub state: DialogState,
    /// Our From (UAC) or To (UAS) value, with our tag.
    pub local: String,
    /// The peer's address, with its tag.
    pub remote: String,
    /// Where in-dialog requests go (the peer's Contact URI).
    pub remote_target: String,
    /// Route set, in the order requests carry it.
    pub route_set: Vec<String>,
    pub local_seq: u32,
    pub remote_seq: Option<u32>,
    /// Our Contact for requests we send.
    pub local_contact: String,
}

fn contact_uri(msg: &Message) -> Result<Option<String>, DialogError> {
    match msg.contacts().next() {
        Some(Ok(super::msg::Contact::Addr(a))) => Ok(Some(a.uri.raw.to_owned())),
        Some(Ok(super::msg::Contact::Star)) | None => Ok(None),
        Some(Err(e)) => Err(e.into()),
    }
}

fn record_route(msg: &Message) -> Result<Vec<String>, DialogError> {
    let mut out = Vec::new();
    for r in msg.record_routes() {
        let r = r?;
        out.push(format!("<{}>", r.uri.raw));
    }
    Ok(out)
}

impl Dialog {
    /// The UAC's dialog from a response (1xx with To tag or 2xx) to our
    /// `invite`. The route set is the Record-Route of the response, reversed.
    pub fn uac(invite: &Message, resp: &Message, local_contact: &str) -> Result<Dialog, DialogError> {
        let to = resp.to()?;
        let remote_tag = to.tag().ok_or(DialogError::NoRemoteTag)?;
        let from = invite.from()?;
        let status = resp.status().unwrap_or(0);
        let remote_target = match contact_uri(resp)? {
            Some(c) => c,
            // A 1xx may lack Contact; the target comes with a later response.
            None if status < 200 => invite.request_uri_str().unwrap_or("").to_owned(),
            None => return Err(DialogError::NoContact),
        };
        let mut route_set = record_route(resp)?;
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: invite.call_id()?.to_owned(),
                local_tag: from.tag().unwrap_or("").to_owned(),
                remote_tag: remote_tag.to_owned(),
            },
            state: if (200..300).contains(&status) { DialogState::Confirmed } else { DialogState::Early },
            local: invite.header_value(HeaderName::From).unwrap_or("").to_owned(),
            remote: resp.header_value(HeaderName::To).unwrap_or("").to_owned(),
            remote_target,
            route_set,
            local_seq: invite.cseq()?.seq,
            remote_seq: None,
            local_contact: local_contact.to_owned(),
        })
    }

    /// The UAS's dialog for `req`, answered with our `local_tag`.
    pub fn uas(req: &Message, local_tag: &str, local_contact: &str, confirmed: bool) -> Result<Dialog, DialogError> {
        let to = req.header_value(HeaderName::To).unwrap_or("");
        let local = if NameAddr::parse(to).ok().and_then(|a| a.tag()).is_some() {
            to.to_owned()
        } else {
            format!("{to};tag={local_tag}")
        };
        let remote_tag = req.from()?.tag().unwrap_or("").to_owned();
        Ok(Dialog {
            id: DialogId { call_id: req.call_id()?.to_owned(), local_tag: local_tag.to_owned(), remote_tag },
            state: if confirmed { DialogState::Confirmed } else { DialogState::Early },
            local,
            remote: req.header_value(HeaderName::From).unwrap_or("").to_owned(),
            remote_target: contact_uri(req)?.ok_or(DialogError::NoContact)?,
            route_set: record_route(req)?,
            local_seq: 0,
            remote_seq: Some(req.cseq()?.seq),
            local_contact: local_contact.to_owned(),
        })
    }

    /// A later response in the same dialog (e.g. the 2xx after a 1xx):
    /// confirms it and refreshes the remote target (and, for the UAC, the
    /// route set, which a 2xx fixes).
    pub fn update_from_response(&mut self, resp: &Message) -> Result<(), DialogError> {
        let status = resp.status().unwrap_or(0);
        if let Some(c) = contact_uri(resp)? {
            self.remote_target = c;
        }
        if (200..300).contains(&status) && self.state == DialogState::Early {
            let mut rs = record_route(resp)?;
            rs.reverse();
            self.route_set = rs;
            self.state = DialogState::Confirmed;
        }
        Ok(())
    }

    /// Judge an in-dialog request: CSeq must grow (RFC 3261 12.2.2; ACK
    /// and CANCEL reuse their INVITE's), target refresh on re-INVITE and
    /// UPDATE.
    pub fn receive(&mut self, req: &Message) -> Result<(), DialogError> {
        if req.call_id()? != self.id.call_id
            || req.from()?.tag().unwrap_or("") != self.id.remote_tag
            || req.to()?.tag().unwrap_or("") != self.id.local_tag
        {
            return Err(DialogError::NotThisDialog);
        }
        let cseq = req.cseq()?;
        let method = req.method().unwrap_or(Method::Other);
        if !matches!(method, Method::Ack | Method::Cancel) {
            if let Some(last) = self.remote_seq {
                if cseq.seq <= last {
                    return Err(DialogError::CSeqOrder { got: cseq.seq, last });
                }
            }
            self.remote_seq = Some(cseq.seq);
        }
        if matches!(method, Method::Invite | Method::Update) {
            if let Some(c) = contact_uri(req)? {
                self.remote_target = c;
            }
        }
        Ok(())
    }

    /// Print the head of an in-dialog request (without Via, which the
    /// transaction layer's caller adds with its branch, and without a body):
    /// Request-URI and Route per loose or strict routing (RFC 3261
    /// 12.2.1.1), From/To with tags, Call-ID, CSeq, Max-Forwards, Contact.
    /// `seq` overrides the CSeq number (ACK and CANCEL reuse the INVITE's);
    /// otherwise the local CSeq is incremented.
    pub fn request(&mut self, method: &str, seq: Option<u32>) -> InDialogRequest {
        let seq = seq.unwrap_or_else(|| {
            self.local_seq = self.local_seq.wrapping_add(1);
            self.local_seq
        });
        let strict = self.route_set.first().is_some_and(|r| !r.contains(";lr"));
        let (request_uri, routes) = if strict {
            let first = self.route_set[0].trim_start_matches('<').trim_end_matches('>').to_owned();
            let mut rest: Vec<String> = self.route_set[1..].to_vec();
            rest.push(format!("<{}>", self.remote_target));
            (first, rest)
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        };
        let mut headers = Vec::with_capacity(routes.len() + 6);
        for r in routes {
            headers.push(("Route", r));
        }
        headers.push(("Max-Forwards", "70".to_owned()));
        headers.push(("From", self.local.clone()));
        headers.push(("To", self.remote.clone()));
        headers.push(("Call-ID", self.id.call_id.clone()));
        headers.push(("CSeq", format!("{seq} {method}")));
        if !matches!(method, "ACK" | "CANCEL" | "BYE") {
            headers.push(("Contact", format!("<{}>", self.local_contact)));
        }
        InDialogRequest { start_line: format!("{method} {request_uri} SIP/2.0"), headers }
    }
}

/// An in-dialog request to complete (Via on top, body at the end) and print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InDialogRequest {
    pub start_line: String,
    pub headers: Vec<(&'static str, String)>,
}

impl InDialogRequest {
    /// Print with `via` on top and an optional body.
    pub fn print(&self, via: &str, body: Option<(&str, &[u8])>) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(self.start_line.as_bytes());
        out.extend_from_slice(b"\r\nVia: ");
        out.extend_from_slice(via.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            super::msg::build::push_header(&mut out, n, v.as_bytes());
        }
        let (ct, body) = body.unwrap_or(("", b""));
        if !body.is_empty() {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(s: &str) -> Message {
        Message::parse_datagram(Bytes::copy_from_slice(s.as_bytes())).unwrap()
    }

    const INVITE: &str = "INVITE sip:+15551230000@teams.example;user=phone SIP/2.0\r\nVia: SIP/2.0/TLS gw.example.com;branch=z9hG4bK1\r\n\
From: <sip:+15559870000@gw.example.com>;tag=gw1\r\nTo: <sip:+15551230000@teams.example>\r\nCall-ID: d1\r\nCSeq: 10 INVITE\r\n\
Contact: <sip:gw.example.com:5061;transport=tls>\r\nContent-Length: 0\r\n\r\n";

    fn resp(status: u16, tag: &str, contact: &str) -> Message {
        msg(&format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/TLS gw.example.com;branch=z9hG4bK1\r\n\
Record-Route: <sip:p1.teams.example;transport=tls;lr>\r\nRecord-Route: <sip:p2.teams.example;transport=tls;lr>\r\n\
From: <sip:+15559870000@gw.example.com>;tag=gw1\r\nTo: <sip:+15551230000@teams.example>;tag={tag}\r\nCall-ID: d1\r\nCSeq: 10 INVITE\r\n{contact}Content-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn forked_early_dialogs_then_confirmation() {
        let inv = msg(INVITE);
        let a = Dialog::uac(&inv, &resp(180, "fork-a", ""), "sip:gw.example.com:5061;transport=tls").unwrap();
        let b = Dialog::uac(&inv, &resp(180, "fork-b", "Contact: <sip:client-b@teams.example>\r\n"), "sip:gw").unwrap();
        assert_ne!(a.id, b.id, "one early dialog per To tag");
        assert_eq!((a.state, a.id.call_id.as_str(), a.id.local_tag.as_str()), (DialogState::Early, "d1", "gw1"));
        let mut a = a;
        a.update_from_response(&resp(200, "fork-a", "Contact: <sip:client-a@teams.example;transport=tls>\r\n"))
            .unwrap();
        assert_eq!(a.state, DialogState::Confirmed);
        assert_eq!(a.remote_target, "sip:client-a@teams.example;transport=tls");
        assert_eq!(a.route_set, ["<sip:p2.teams.example;transport=tls;lr>", "<sip:p1.teams.example;transport=tls;lr>"]);
        let bye = a.request("BYE", None);
        assert_eq!(bye.start_line, "BYE sip:client-a@teams.example;transport=tls SIP/2.0");
        let printed = msg(std::str::from_utf8(&bye.print("SIP/2.0/TLS gw.example.com;branch=z9hG4bK2", None)).unwrap());
        assert_eq!(printed.cseq().unwrap().seq, 11);
        assert_eq!(printed.to().unwrap().tag(), Some("fork-a"));
        assert_eq!(printed.from().unwrap().tag(), Some("gw1"));
        assert_eq!(printed.routes().count(), 2);
        assert!(printed.header(HeaderName::Contact).is_none());
        let ack = a.request("ACK", Some(10));
        assert!(ack.headers.contains(&("CSeq", "10 ACK".to_owned())));
    }

    #[test]
    fn strict_route_puts_the_first_hop_in_the_request_uri() {
        let inv = msg(INVITE);
        let r = resp(200, "x", "Contact: <sip:peer@h>\r\n").raw().to_vec();
        let r = String::from_utf8(r).unwrap().replace("p1.teams.example;transport=tls;lr", "strict.example");
        let mut d = Dialog::uac(&inv, &msg(&r), "sip:gw").unwrap();
        // Reversed: p2 (loose) first... make the first hop the strict one.
        d.route_set.reverse();
        let req = d.request("INFO", None);
        assert_eq!(req.start_line, "INFO sip:strict.example SIP/2.0");
        assert_eq!(req.headers.iter().rfind(|(n, _)| *n == "Route").unwrap().1, "<sip:peer@h>");
    }

    #[test]
    fn uas_dialog_orders_cseq_and_refreshes_target() {
        let req = msg(&INVITE.replace(
            "Contact: <sip:gw.example.com:5061;transport=tls>",
            "Contact: <sip:op@192.0.2.10>\r\nRecord-Route: <sip:sbc.op.example;lr>",
        ));
        let mut d = Dialog::uas(&req, "uas1", "sip:gw.example.com", true).unwrap();
        assert_eq!(d.remote_seq, Some(10));
        assert_eq!(d.route_set, ["<sip:sbc.op.example;lr>"]);
        assert!(d.local.ends_with(";tag=uas1"));
        let reinvite = msg(&INVITE
            .replace("To: <sip:+15551230000@teams.example>", "To: <sip:+15551230000@teams.example>;tag=uas1")
            .replace("CSeq: 10", "CSeq: 11")
            .replace("Contact: <sip:gw.example.com:5061;transport=tls>", "Contact: <sip:op@192.0.2.99>"));
        d.receive(&reinvite).unwrap();
        assert_eq!(d.remote_target, "sip:op@192.0.2.99");
        assert_eq!(d.receive(&reinvite), Err(DialogError::CSeqOrder { got: 11, last: 11 }));
        let other = msg(&INVITE.replace("To: <sip:+15551230000@teams.example>", "To: <sip:x@y>;tag=zzz"));
        assert_eq!(d.receive(&other), Err(DialogError::NotThisDialog));
    }

    #[test]
    fn a_2xx_without_tag_or_contact_cannot_make_a_dialog() {
        let inv = msg(INVITE);
        let notag = String::from_utf8(resp(200, "x", "").raw().to_vec()).unwrap().replace(";tag=x", "");
        assert_eq!(Dialog::uac(&inv, &msg(&notag), "sip:gw"), Err(DialogError::NoRemoteTag));
        assert_eq!(Dialog::uac(&inv, &resp(200, "x", ""), "sip:gw"), Err(DialogError::NoContact));
    }
}
