//! One call's two legs and the B2BUA logic between them.

use std::time::Duration;

use bytes::Bytes;

use super::{build, Gateway, GatewayEvent, Side, ALLOW};
use crate::media::relay::StreamId;
use crate::routing::{Refusal, Route};
use crate::sip::dialog::{Dialog, DialogError};
use crate::sip::msg::{build as mbuild, HeaderName, Message, Method};
use crate::sip::transaction::TxId;
use crate::sip::transport::{Peer, Proto};
use crate::time::Time;

/// A call's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// The leg a message belongs to: `A` sent us the INVITE, `B` we called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Leg {
    A,
    B,
}

/// What a client transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientPurpose {
    Invite,
    Cancel,
    Bye,
    /// A request of the gateway's own (INFO for DTMF): its answer ends there.
    Own,
    /// An in-dialog request relayed from the other leg's server transaction.
    Relay {
        server_tx: TxId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Answered,
    Ending,
}

/// A 2xx to an INVITE we answered, retransmitted until its ACK (RFC 3261 13.3.1.4).
#[derive(Debug, Clone)]
struct Pending2xx {
    leg: Leg,
    seq: u32,
    data: Bytes,
    next: Time,
    interval: Duration,
    give_up: Time,
}

pub(super) struct Call {
    /// The call's log span: every line logged for it carries its fields.
    pub(super) span: tracing::Span,
    /// Client transactions of this call still in `by_client`.
    client_txs: Vec<TxId>,
    /// Relay streams, one per anchored m= line (index = m= line).
    pub(super) media_streams: Vec<StreamId>,
    /// A key press a leg started by NOTIFY (no end bit yet), by leg.
    pub(super) notify_key: [Option<u8>; 2],
    /// Late offer (the caller's INVITE had no SDP; B's 2xx carried the
    /// offer): B's answered dialog, whose ACK waits for the caller's answer.
    late_offer_ack: Option<usize>,
    /// A re-INVITE without SDP we relayed: the far leg whose 2xx carried
    /// the offer, and that 2xx's CSeq; its ACK waits for the answer in the
    /// requester's ACK.
    reinvite_ack: Option<(Leg, u32)>,
    /// The last SDP offer relayed, awaiting its answer.
    pub(super) media_offer: super::media::PendingOffer,
    /// The format the gateway answered the caller with itself (ringback),
    /// which the final answer must keep.
    pub(super) media_early: Option<crate::media::negotiate::Format>,
    a_tx: TxId,
    a_req: Message,
    a_peer: Peer,
    a_tag: String,
    a_dialog: Option<Dialog>,
    pub(super) b_side: Side,
    /// The routed next hops, and which one the current attempt uses.
    b_route: Route,
    b_target: usize,
    b_peer: Peer,
    b_tx: Option<TxId>,
    b_invite: Option<Message>,
    b_call_id: String,
    b_tag: String,
    /// Early dialogs by To tag; the answered one is `b_answered`.
    b_dialogs: Vec<Dialog>,
    b_answered: Option<usize>,
    b_ack: Option<Bytes>,
    b_any_response: bool,
    b_provisional: bool,
    cancel_pending: bool,
    canceled: bool,
    phase: Phase,
    failover_at: Option<Time>,
    pending_2xx: Vec<Pending2xx>,
    /// Media inactivity: when to look at the relay next (answered calls
    /// with anchored media and a `[media] timeout`), and since when media
    /// is expected (the answer).
    pub(super) media_check: Option<Time>,
    pub(super) media_since: Time,
    /// The last settled answer's first stream is not sendrecv (hold).
    pub(super) media_hold: bool,
    /// This call's entry in `Gateway::call_deadlines`, if any.
    pub(super) timer_key: Option<Time>,
}

impl Leg {
    pub(super) fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }
}

impl Call {
    /// Where a leg's messages go.
    fn peer(&self, leg: Leg) -> Peer {
        match leg {
            Leg::A => self.a_peer,
            Leg::B => self.b_peer,
        }
    }

    /// A leg's established dialog (B: the answered fork's).
    fn dialog(&self, leg: Leg) -> Option<&Dialog> {
        match leg {
            Leg::A => self.a_dialog.as_ref(),
            Leg::B => self.b_answered.and_then(|i| self.b_dialogs.get(i)),
        }
    }

    /// A leg's established dialog, to send on.
    fn dialog_mut(&mut self, leg: Leg) -> Option<&mut Dialog> {
        match leg {
            Leg::A => self.a_dialog.as_mut(),
            Leg::B => self.b_answered.and_then(|i| self.b_dialogs.get_mut(i)),
        }
    }

    /// Repeat a 2xx we sent on `leg` until its ACK (RFC 3261 13.3.1.4);
    /// reliable transports need no repetition.
    fn repeat_2xx(&mut self, leg: Leg, seq: u32, data: Bytes, now: Time, t1: Duration, t64: Duration) {
        if !is_reliable(&self.peer(leg)) {
            self.pending_2xx.push(Pending2xx { leg, seq, data, next: now + t1, interval: t1, give_up: now + t64 });
        }
    }

    /// Whether its media is watched for inactivity: answered, with anchored
    /// media, and a media or hold timeout configured (`media`).
    pub(super) fn media_watched(&self, media: Option<&super::MediaConfig>) -> bool {
        let timeouts = media.is_some_and(|m| m.timeout.or(m.hold_timeout).is_some());
        timeouts && self.phase == Phase::Answered && !self.media_streams.is_empty()
    }

    pub(super) fn next_deadline(&self) -> Option<Time> {
        let r = self.pending_2xx.iter().map(|p| p.next.min(p.give_up)).min();
        [self.failover_at, r, self.media_check].into_iter().flatten().min()
    }
}

/// One structured log line per call event, inside the call's span (id,
/// direction, number and both legs' Call-IDs).
fn log_event(span: &tracing::Span, e: &GatewayEvent) {
    let _in = span.enter();
    match e {
        GatewayEvent::CallStarted { .. } => tracing::info!("call started"),
        GatewayEvent::CallAnswered { .. } => tracing::info!("call answered"),
        GatewayEvent::CallEnded { status, reason, .. } => tracing::info!(status, %reason, "call ended"),
        GatewayEvent::Failover { from, to, why, .. } => tracing::warn!(from, to, %why, "Teams proxy failover"),
    }
}

fn is_reliable(p: &Peer) -> bool {
    p.proto.is_reliable()
}

impl Gateway {
    fn via(&mut self, proto: Proto) -> String {
        let rport = if proto == Proto::Udp { ";rport" } else { "" };
        format!("SIP/2.0/{} {}:{};branch={}{rport}", proto.via_token(), self.cfg.fqdn, self.cfg.port, self.rng.branch())
    }

    fn contact(&self, proto: Proto) -> String {
        let t = match proto {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
        };
        format!("sip:{}:{};transport={t}", self.cfg.fqdn, self.cfg.port)
    }

    pub(super) fn new_call(&mut self, now: Time, tx: TxId, req: Message, source: Peer) {
        if self.calls.len() >= self.cfg.max_calls || self.draining {
            self.shedding.calls_refused += 1;
            let tag = self.rng.tag();
            self.respond(now, tx, 503, "Service Unavailable", Some(&tag), &[("Retry-After", "5")]);
            return;
        }
        if self.is_looped(&req) {
            let tag = self.rng.tag();
            self.respond(now, tx, 482, "Loop Detected", Some(&tag), &[]);
            return;
        }
        let a_side = self.side_of(&source);
        let route = self.router.route(&req, a_side);
        let Some((route, b_peer)) = route.as_ref().ok().and_then(|r| Some((r.clone(), r.targets.first()?.peer())))
        else {
            let refusal = route.err().unwrap_or(Refusal { status: 503, retry_after: Some(30), why: "no route" });
            let tag = self.rng.tag();
            let retry = refusal.retry_after.map(|s| s.to_string());
            let extra: Vec<(&str, &str)> = retry.iter().map(|r| ("Retry-After", r.as_str())).collect();
            self.respond(now, tx, refusal.status, super::reason_phrase(refusal.status), Some(&tag), &extra);
            return;
        };
        let b_side = route.side;
        self.respond(now, tx, 100, "Trying", None, &[]);
        let id = CallId(self.next_call);
        self.next_call += 1;
        let call = Call {
            a_tx: tx,
            a_peer: source,
            a_tag: self.rng.tag(),
            a_dialog: None,
            b_side,
            b_route: route,
            b_target: 0,
            b_peer,
            b_tx: None,
            b_invite: None,
            b_call_id: self.rng.call_id(),
            b_tag: self.rng.tag(),
            b_dialogs: Vec::new(),
            b_answered: None,
            b_ack: None,
            b_any_response: false,
            b_provisional: false,
            cancel_pending: false,
            canceled: false,
            phase: Phase::Setup,
            failover_at: None,
            pending_2xx: Vec::new(),
            media_check: None,
            media_since: Time::ZERO,
            media_hold: false,
            timer_key: None,
            span: tracing::Span::none(),
            client_txs: Vec::new(),
            media_streams: Vec::new(),
            notify_key: [None, None],
            late_offer_ack: None,
            reinvite_ack: None,
            media_offer: Default::default(),
            media_early: None,
            a_req: req,
        };
        let mut call = call;
        call.span = tracing::info_span!(
            "call",
            id = id.0,
            from = ?a_side,
            number = call.a_req.request_uri_str().and_then(|u| crate::sip::msg::Uri::parse(u).ok()).and_then(|u| u.user).unwrap_or(""),
            a_call_id = call.a_req.call_id().unwrap_or(""),
            b_call_id = %call.b_call_id,
        );
        let a_key = (call.a_req.call_id().unwrap_or("").to_owned(), call.a_tag.clone());
        let b_key = (call.b_call_id.clone(), call.b_tag.clone());
        self.by_dialog.insert(a_key, (id, Leg::A));
        self.by_dialog.insert(b_key, (id, Leg::B));
        self.by_server_invite.insert(tx, id);
        self.calls.insert(id, call);
        self.emit(GatewayEvent::CallStarted { call: id, from: a_side });
        self.send_b_invite(now, id);
    }

    /// Send (or re-send, after a failover) the B leg's INVITE.
    fn send_b_invite(&mut self, now: Time, id: CallId) {
        let Some(call) = self.calls.get(&id) else { return };
        let (b_side, b_peer, failover) = (call.b_side, call.b_peer, call.b_route.failover);
        let Some(target) = call.b_route.targets.get(call.b_target).cloned() else { return };
        let via = self.via(b_peer.proto);
        let contact = format!("<{}>", self.contact(b_peer.proto));
        let extra: Vec<(&str, String)> =
            if b_side == Side::Teams { vec![("X-MS-SBC", self.cfg.sbc_header.clone())] } else { Vec::new() };
        let Some(call) = self.calls.get(&id) else { return };
        let ct = call.a_req.header_value(HeaderName::ContentType).unwrap_or("").to_owned();
        let a_body = call.a_req.body().to_vec();
        let body = match self.media_body(now, id, Leg::A, &ct, &a_body, true) {
            Ok(b) => b.into_owned(),
            Err(r) => {
                if let Some(call) = self.calls.get(&id) {
                    let (a_tx, tag) = (call.a_tx, call.a_tag.clone());
                    self.respond(
                        now,
                        a_tx,
                        r.status,
                        super::reason_phrase(r.status),
                        Some(&tag),
                        &[("Warning", &r.warning)],
                    );
                }
                return self.end_call(id, r.status, &r.warning);
            }
        };
        let Some(call) = self.calls.get(&id) else { return };
        let data = build::invite(&build::OutInvite {
            incoming: &call.a_req,
            target: &target,
            via: &via,
            call_id: &call.b_call_id,
            from_tag: &call.b_tag,
            contact: &contact,
            fqdn: &self.cfg.fqdn,
            extra: &extra,
            body: &body,
        });
        let Ok(msg) = Message::parse_stream(Bytes::from(data)) else {
            return self.fail_call(now, id, 500, "Server Internal Error", "outgoing INVITE did not parse");
        };
        if let Some(call) = self.calls.get(&id) {
            let _in = call.span.enter();
            tracing::debug!(attempt = call.b_target + 1, to = %b_peer.addr, proto = ?b_peer.proto, host = %target.host, "INVITE out");
        }
        match self.txs.send_request(now, msg.clone(), b_peer, is_reliable(&b_peer)) {
            Ok(tx) => {
                self.track_client(tx, id, ClientPurpose::Invite);
                let failover = failover.then(|| now + self.cfg.failover_after);
                if let Some(call) = self.calls.get_mut(&id) {
                    call.b_tx = Some(tx);
                    call.b_invite = Some(msg);
                    call.b_any_response = false;
                    call.failover_at = failover;
                }
                self.schedule(id);
            }
            Err(_) => {
                self.shedding.requests_shed += 1;
                self.fail_call(now, id, 503, "Service Unavailable", "transaction table full")
            }
        }
    }

    /// Remember a client transaction of a call (and forget it with the call).
    fn track_client(&mut self, tx: TxId, id: CallId, purpose: ClientPurpose) {
        self.by_client.insert(tx, (id, purpose));
        if let Some(c) = self.calls.get_mut(&id) {
            // Finished ones are dropped as they go; the list stays short.
            c.client_txs.retain(|t| self.by_client.contains_key(t));
            c.client_txs.push(tx);
        }
    }

    /// Note a call's next deadline in the timer index: one entry per call
    /// (`timer_key`), replaced when the deadline moves and removed with
    /// the call, so that a deadline cleared or moved leaves nothing behind.
    pub(super) fn schedule(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let next = call.next_deadline();
        if next == call.timer_key {
            return;
        }
        if let Some(old) = call.timer_key.take() {
            self.call_deadlines.remove(&(old, id));
        }
        if let Some(t) = next {
            self.call_deadlines.insert((t, id));
            call.timer_key = Some(t);
        }
    }

    /// Log a call event inside the call's span, and queue it.
    fn emit(&mut self, e: GatewayEvent) {
        if let Some(call) = self.calls.get(&e.call()) {
            log_event(&call.span, &e);
        }
        self.events.push_back(e);
    }

    /// Whether an initial INVITE is one of our own coming back: a Via with
    /// our sent-by whose branch is a live client INVITE of ours (RFC 3261
    /// 16.3 item 4, as a B2BUA sees it; loops through other B2BUAs, which
    /// strip Vias, end on Max-Forwards with 483).
    fn is_looped(&self, req: &Message) -> bool {
        let (fqdn, port) = (self.cfg.fqdn.as_str(), self.cfg.port);
        req.vias().flatten().any(|v| {
            v.host_str.eq_ignore_ascii_case(fqdn)
                && v.port.unwrap_or(5060) == port
                && v.branch().is_some_and(|b| self.txs.has_client(b, "INVITE"))
        })
    }

    /// Move the call to the next routed hop if there is one; false if not.
    fn failover(&mut self, now: Time, id: CallId, why: &str) -> bool {
        let Some(call) = self.calls.get_mut(&id) else { return false };
        if !call.b_route.failover
            || call.b_provisional
            || call.canceled
            || call.b_target + 1 >= call.b_route.targets.len()
        {
            return false;
        }
        let from = call.b_target;
        call.b_target += 1;
        if let Some(t) = call.b_route.targets.get(call.b_target) {
            call.b_peer = t.peer();
        }
        // The abandoned attempt no longer belongs to the call: a proxy that
        // never answered is not retransmitted to any more; one that sent a
        // provisional was sent a CANCEL (call_timers) and finishes on its own.
        let answered_at_all = call.b_any_response;
        if let Some(old) = call.b_tx.take() {
            self.by_client.remove(&old);
            if !answered_at_all {
                self.txs.abandon(old);
            }
        }
        let to = from + 1;
        self.emit(GatewayEvent::Failover { call: id, from, to, why: why.to_owned() });
        self.send_b_invite(now, id);
        true
    }

    fn fail_call(&mut self, now: Time, id: CallId, status: u16, reason: &str, detail: &str) {
        if let Some(call) = self.calls.get(&id) {
            let (a_tx, tag) = (call.a_tx, call.a_tag.clone());
            self.respond(now, a_tx, status, reason, Some(&tag), &[]);
        }
        self.end_call(id, status, detail);
    }

    pub(super) fn end_call(&mut self, id: CallId, status: u16, reason: &str) {
        if let Some(call) = self.calls.remove(&id) {
            if let Some(t) = call.timer_key {
                self.call_deadlines.remove(&(t, id));
            }
            self.by_dialog.remove(&(call.a_req.call_id().unwrap_or("").to_owned(), call.a_tag.clone()));
            self.by_dialog.remove(&(call.b_call_id.clone(), call.b_tag.clone()));
            self.by_server_invite.remove(&call.a_tx);
            for tx in &call.client_txs {
                self.by_client.remove(tx);
            }
            self.close_media(&call.media_streams);
            let e = GatewayEvent::CallEnded { call: id, status, reason: reason.to_owned() };
            log_event(&call.span, &e);
            self.events.push_back(e);
        }
    }

    /// Relay a response from B onto A's INVITE transaction.
    fn relay_to_a(&mut self, now: Time, id: CallId, resp: &Message) {
        let ct = resp.header_value(HeaderName::ContentType).unwrap_or("application/sdp").to_owned();
        // An SDP that cannot be anchored is not relayed (the caller hears
        // nothing rather than the far side's addresses).
        let media = self.media_body(now, id, Leg::B, &ct, resp.body(), false).map(|b| b.into_owned());
        let mut received = resp.status().unwrap_or(500);
        if let (Err(r), true) = (&media, (200..300).contains(&received)) {
            // An answer the gateway cannot take (no codec can cross, no
            // transcoder left): the caller gets the refusal, the answering
            // side a BYE; nothing half set up stays.
            if let Some(call) = self.calls.get(&id) {
                let (a_tx, tag) = (call.a_tx, call.a_tag.clone());
                let warning = [("Warning", r.warning.as_str())];
                self.respond(now, a_tx, r.status, super::reason_phrase(r.status), Some(&tag), &warning);
            }
            let reason = format!("SIP;cause={};text=\"unusable answer\"", r.status);
            self.send_bye_with(now, id, Leg::B, None, Some(&reason));
            return self.end_call(id, r.status, &r.warning);
        }
        let mut sdp = media.unwrap_or_default();
        // Ringing without early media: the gateway answers the caller's
        // offer itself and plays ringback (a 183 with its SDP).
        if received == 180 && sdp.is_empty() {
            if let Some(early) = self.early_ringback(id, now) {
                (sdp, received) = (early, 183);
            }
        }
        let ct = if received == 183 && !sdp.is_empty() { "application/sdp".to_owned() } else { ct };
        let Some(call) = self.calls.get(&id) else { return };
        let status = self.map_failure(received);
        let contact = format!("<{}>", self.contact(call.a_peer.proto));
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if (101..300).contains(&status) {
            extra.push(("Contact", &contact));
            extra.push(("Allow", ALLOW));
        }
        let body = (!sdp.is_empty()).then_some((ct.as_str(), sdp.as_slice()));
        let reason = if status == resp.status().unwrap_or(500) {
            resp.reason().unwrap_or("").to_owned()
        } else if status == 183 {
            "Session Progress".to_owned()
        } else {
            super::reason_phrase(status).to_owned()
        };
        let data = mbuild::response(&call.a_req, status, &reason, Some(&call.a_tag), &extra, body);
        let (a_tx, a_peer) = (call.a_tx, call.a_peer);
        if (200..300).contains(&status) {
            let seq = call.a_req.cseq().map_or(0, |c| c.seq);
            let dialog = Dialog::uas(&call.a_req, &call.a_tag, &self.contact(a_peer.proto), true).ok();
            let t1 = self.cfg.timers.t1;
            let t64 = self.cfg.timers.t64();
            if let Some(call) = self.calls.get_mut(&id) {
                call.a_dialog = dialog;
                call.repeat_2xx(Leg::A, seq, Bytes::from(data.clone()), now, t1, t64);
            }
            self.schedule(id);
        }
        let _ = self.txs.send_response(now, a_tx, status, Bytes::from(data));
    }

    /// The status shown to leg A for a failure received on leg B
    /// (the configurable failure map; unmapped statuses pass unchanged).
    fn map_failure(&self, status: u16) -> u16 {
        self.cfg.failure_map.iter().find(|(from, _)| *from == status).map_or(status, |(_, to)| *to)
    }

    fn send_b_cancel(&mut self, now: Time, id: CallId) {
        let Some(call) = self.calls.get(&id) else { return };
        let (Some(inv), peer) = (call.b_invite.as_ref(), call.b_peer) else { return };
        if let Ok(msg) = Message::parse_stream(Bytes::from(build::cancel(inv))) {
            if let Ok(tx) = self.txs.send_request(now, msg, peer, is_reliable(&peer)) {
                self.track_client(tx, id, ClientPurpose::Cancel);
            }
        }
    }

    /// ACK a 2xx on B (and remember the ACK for retransmitted 2xx).
    /// ACK B's 2xx on one of its dialogs (with the answer, for a late offer).
    fn ack_b(&mut self, id: CallId, dialog_index: usize, sdp: Option<&[u8]>) {
        let Some(call) = self.calls.get(&id) else { return };
        let peer = call.b_peer;
        let seq = call.b_invite.as_ref().and_then(|m| m.cseq().ok()).map_or(1, |c| c.seq);
        let via = self.via(peer.proto);
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(d) = call.b_dialogs.get_mut(dialog_index) else { return };
        let body = sdp.filter(|b| !b.is_empty()).map(|b| ("application/sdp", b));
        let ack = Bytes::from(d.request("ACK", Some(seq)).print(&via, body));
        call.b_ack = Some(ack.clone());
        self.transport.send(peer, ack);
    }

    /// Send BYE on a leg's dialog through a client transaction.
    fn send_bye(&mut self, now: Time, id: CallId, leg: Leg, dialog_index: Option<usize>) {
        self.send_bye_with(now, id, leg, dialog_index, None);
    }

    /// [`Self::send_bye`] with a `Reason` header (RFC 3326).
    fn send_bye_with(&mut self, now: Time, id: CallId, leg: Leg, dialog_index: Option<usize>, reason: Option<&str>) {
        let Some(call) = self.calls.get(&id) else { return };
        let peer = call.peer(leg);
        let via = self.via(peer.proto);
        let Some(call) = self.calls.get_mut(&id) else { return };
        let d = match leg {
            Leg::A => call.a_dialog.as_mut(),
            Leg::B => dialog_index.or(call.b_answered).and_then(|i| call.b_dialogs.get_mut(i)),
        };
        let Some(d) = d else { return };
        let mut req = d.request("BYE", None);
        if let Some(r) = reason {
            req.headers.push(("Reason", r.to_owned()));
        }
        let bye = req.print(&via, None);
        if let Ok(msg) = Message::parse_stream(Bytes::from(bye)) {
            if let Ok(tx) = self.txs.send_request(now, msg, peer, is_reliable(&peer)) {
                self.track_client(tx, id, ClientPurpose::Bye);
            }
        }
    }

    /// Send an in-dialog request of the gateway's own on `leg` (INFO or
    /// NOTIFY carrying a digit; its answer is not relayed).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_in_dialog(
        &mut self,
        now: Time,
        id: CallId,
        leg: Leg,
        method: &str,
        headers: &[(&'static str, &str)],
        content_type: &str,
        body: &[u8],
    ) {
        let Some(call) = self.calls.get(&id) else { return };
        let peer = call.peer(leg);
        let via = self.via(peer.proto);
        let Some(d) = self.calls.get_mut(&id).and_then(|c| c.dialog_mut(leg)) else { return };
        let mut req = d.request(method, None);
        req.headers.extend(headers.iter().map(|(n, v)| (*n, (*v).to_owned())));
        let info = req.print(&via, Some((content_type, body)));
        if let Ok(msg) = Message::parse_stream(Bytes::from(info)) {
            if let Ok(tx) = self.txs.send_request(now, msg, peer, is_reliable(&peer)) {
                self.track_client(tx, id, ClientPurpose::Own);
            }
        }
    }

    fn b_dialog_index(&mut self, id: CallId, resp: &Message) -> Result<Option<usize>, DialogError> {
        let Some(call) = self.calls.get_mut(&id) else { return Ok(None) };
        let Some(tag) = resp.to().ok().and_then(|t| t.tag().map(str::to_owned)) else { return Ok(None) };
        if let Some(i) = call.b_dialogs.iter().position(|d| d.id.remote_tag == tag) {
            call.b_dialogs[i].update_from_response(resp)?;
            return Ok(Some(i));
        }
        let Some(inv) = call.b_invite.as_ref() else { return Ok(None) };
        let contact = format!("sip:{}:{}", self.cfg.fqdn, self.cfg.port);
        let d = Dialog::uac(inv, resp, &contact)?;
        if call.b_dialogs.len() >= 16 {
            return Ok(None);
        }
        call.b_dialogs.push(d);
        Ok(Some(call.b_dialogs.len() - 1))
    }

    pub(super) fn on_response(&mut self, now: Time, tx: TxId, resp: Message) {
        let Some(&(id, purpose)) = self.by_client.get(&tx) else { return };
        let status = resp.status().unwrap_or(500);
        match purpose {
            ClientPurpose::Invite => self.on_b_invite_response(now, id, tx, status, resp),
            ClientPurpose::Cancel | ClientPurpose::Own => {}
            ClientPurpose::Bye => {
                if status >= 200 {
                    self.end_call(id, 200, "hung up");
                }
            }
            ClientPurpose::Relay { server_tx } => {
                let Some(req) = self.txs.request(server_tx).cloned() else { return };
                let ct = resp.header_value(HeaderName::ContentType).unwrap_or("application/sdp").to_owned();
                let from_leg = self.client_leg(id, tx).unwrap_or(Leg::B);
                let media = self.media_body(now, id, from_leg, &ct, resp.body(), false).map(|b| b.into_owned());
                let is_invite = req.method() == Some(Method::Invite);
                if let (Err(r), true) = (&media, is_invite && (200..300).contains(&status)) {
                    // The far side accepted a re-INVITE with an answer the
                    // gateway cannot take (outside its offer): the media of
                    // the call is gone; the requester gets the refusal, then
                    // both sides are hung up rather than left silent.
                    let warning = [("Warning", r.warning.as_str())];
                    self.respond(now, server_tx, r.status, super::reason_phrase(r.status), None, &warning);
                    self.ack_relayed_reinvite(id, tx, &resp);
                    let reason = format!("SIP;cause={};text=\"unusable answer to a re-INVITE\"", r.status);
                    self.send_bye_with(now, id, from_leg, None, Some(&reason));
                    self.send_bye_with(now, id, from_leg.other(), None, Some(&reason));
                    return self.end_call(id, r.status, &r.warning);
                }
                let sdp = media.unwrap_or_default();
                let body = (!sdp.is_empty()).then_some((ct.as_str(), sdp.as_slice()));
                let reason = resp.reason().unwrap_or("").to_owned();
                let peer_proto = self.calls.get(&id).map_or(Proto::Udp, |c| c.a_peer.proto);
                let contact = format!("<{}>", self.contact(peer_proto));
                let extra: Vec<(&str, &str)> =
                    if is_invite && (200..300).contains(&status) { vec![("Contact", &contact)] } else { Vec::new() };
                let data = mbuild::response(&req, status, &reason, None, &extra, body);
                // A re-INVITE without SDP answered with an offer: the far
                // leg's ACK carries the answer, which comes in the
                // requester's ACK; it waits for it.
                let late = is_invite && (200..300).contains(&status) && req.body().is_empty() && !sdp.is_empty();
                if late {
                    let far = self.relayed_leg(id, tx);
                    let seq = req.cseq().map_or(0, |c| c.seq);
                    let (t1, t64) = (self.cfg.timers.t1, self.cfg.timers.t64());
                    if let (Some(far), Some(c)) = (far, self.calls.get_mut(&id)) {
                        c.reinvite_ack = Some((far, resp.cseq().map_or(0, |c| c.seq)));
                        c.repeat_2xx(far.other(), seq, Bytes::from(data.clone()), now, t1, t64);
                    }
                    self.schedule(id);
                } else if is_invite && (200..300).contains(&status) {
                    // ACK the far leg at once; repeat the 2xx on the near leg
                    // until its own ACK comes (RFC 3261 13.3.1.4).
                    if let Some(client_leg) = self.ack_relayed_reinvite(id, tx, &resp) {
                        let seq = req.cseq().map_or(0, |c| c.seq);
                        let (t1, t64) = (self.cfg.timers.t1, self.cfg.timers.t64());
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.repeat_2xx(client_leg.other(), seq, Bytes::from(data.clone()), now, t1, t64);
                        }
                        self.schedule(id);
                    }
                }
                let _ = self.txs.send_response(now, server_tx, status, Bytes::from(data));
            }
        }
    }

    /// A re-INVITE we relayed got a 2xx: ACK it on its leg at once.
    /// Returns the leg the re-INVITE was relayed on.
    /// The leg a client transaction of the call was sent on.
    fn client_leg(&self, id: CallId, tx: TxId) -> Option<Leg> {
        let req = self.txs.request(tx)?;
        let call = self.calls.get(&id)?;
        Some(if req.call_id().ok() == Some(call.b_call_id.as_str()) { Leg::B } else { Leg::A })
    }

    fn ack_relayed_reinvite(&mut self, id: CallId, tx: TxId, resp: &Message) -> Option<Leg> {
        let leg = self.relayed_leg(id, tx)?;
        self.ack_leg(id, leg, resp.cseq().map_or(0, |c| c.seq), None);
        Some(leg)
    }

    /// The leg a request we relayed (client transaction `tx`) went out on.
    fn relayed_leg(&self, id: CallId, tx: TxId) -> Option<Leg> {
        let req = self.txs.request(tx)?;
        let call = self.calls.get(&id)?;
        Some(if req.call_id().ok() == Some(call.b_call_id.as_str()) { Leg::B } else { Leg::A })
    }

    /// ACK a 2xx (CSeq `seq`) on `leg`'s dialog, with an SDP answer if given.
    fn ack_leg(&mut self, id: CallId, leg: Leg, seq: u32, sdp: Option<&[u8]>) {
        let Some(call) = self.calls.get(&id) else { return };
        let peer = call.peer(leg);
        let via = self.via(peer.proto);
        let Some(d) = self.calls.get_mut(&id).and_then(|c| c.dialog_mut(leg)) else { return };
        let body = sdp.filter(|b| !b.is_empty()).map(|b| ("application/sdp", b));
        let ack = d.request("ACK", Some(seq)).print(&via, body);
        self.transport.send(peer, Bytes::from(ack));
    }

    fn on_b_invite_response(&mut self, now: Time, id: CallId, tx: TxId, status: u16, resp: Message) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.b_tx != Some(tx) {
            return;
        }
        call.b_any_response = true;
        let (canceled, cancel_pending, phase) = (call.canceled, call.cancel_pending, call.phase);
        if cancel_pending {
            if let Some(c) = self.calls.get_mut(&id) {
                c.cancel_pending = false;
            }
            self.send_b_cancel(now, id);
        }
        match status {
            100 => {}
            101..=199 => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.b_provisional = true;
                    c.failover_at = None;
                }
                let _ = self.b_dialog_index(id, &resp);
                if !canceled {
                    self.relay_to_a(now, id, &resp);
                }
            }
            200..=299 => {
                let idx = match self.b_dialog_index(id, &resp) {
                    Ok(Some(i)) => i,
                    _ => return,
                };
                let answered_other = self.calls.get(&id).and_then(|c| c.b_answered).is_some_and(|a| a != idx);
                let settled = canceled || answered_other || phase != Phase::Setup;
                // A late offer: the caller sent no SDP, B offers in its 2xx;
                // B's ACK carries the caller's answer, so it waits for it.
                let late = !settled
                    && self.cfg.media.is_some()
                    && !resp.body().is_empty()
                    && self.calls.get(&id).is_some_and(|c| c.a_req.body().is_empty());
                if late {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.late_offer_ack = Some(idx);
                    }
                } else if self.calls.get(&id).and_then(|c| c.late_offer_ack) != Some(idx) {
                    // (A retransmitted 2xx whose ACK waits for the caller's
                    // answer is not ACKed without it.)
                    self.ack_b(id, idx, None);
                }
                if settled {
                    // CANCEL/200 race, or a second fork answering: end that fork.
                    if phase != Phase::Answered || answered_other {
                        self.send_bye(now, id, Leg::B, Some(idx));
                    }
                    return;
                }
                if let Some(c) = self.calls.get_mut(&id) {
                    c.b_answered = Some(idx);
                    c.phase = Phase::Answered;
                    c.failover_at = None;
                    c.media_since = now;
                    // Looked at once now, which sets the real deadline.
                    c.media_check = c.media_watched(self.cfg.media.as_ref()).then_some(now);
                }
                self.relay_to_a(now, id, &resp);
                // (Unless the answer could not be taken and the call ended.)
                if self.calls.contains_key(&id) {
                    self.emit(GatewayEvent::CallAnswered { call: id });
                }
            }
            _ => {
                if !canceled
                    && self.cfg.failover_statuses.contains(&status)
                    && self.failover(now, id, &format!("{status}"))
                {
                    return;
                }
                let shown = if canceled { 487 } else { self.map_failure(status) };
                if !canceled {
                    self.relay_to_a(now, id, &resp);
                }
                self.end_call(id, shown, &format!("{} {}", status, resp.reason().unwrap_or("")));
            }
        }
    }

    /// A client transaction timed out (`unreachable`: the transport could
    /// not deliver it).
    pub(super) fn on_client_failure(&mut self, now: Time, tx: TxId, unreachable: bool) {
        let Some(&(id, purpose)) = self.by_client.get(&tx) else { return };
        match purpose {
            ClientPurpose::Invite => {
                if self.calls.get(&id).is_some_and(|c| c.b_tx == Some(tx)) {
                    let why = if unreachable { "unreachable" } else { "no answer" };
                    if self.failover(now, id, why) {
                        return;
                    }
                    let canceled = self.calls.get(&id).is_some_and(|c| c.canceled);
                    if canceled {
                        self.end_call(id, 487, "cancelled");
                    } else {
                        let status = self.map_failure(408);
                        self.fail_call(now, id, status, super::reason_phrase(status), "no final answer");
                    }
                }
            }
            ClientPurpose::Bye => self.end_call(id, 200, "hung up (BYE unanswered)"),
            ClientPurpose::Cancel | ClientPurpose::Own => {}
            ClientPurpose::Relay { server_tx } => {
                if let Some(req) = self.txs.request(server_tx).cloned() {
                    let data = mbuild::response(&req, 408, "Request Timeout", None, &[], None);
                    let _ = self.txs.send_response(now, server_tx, 408, Bytes::from(data));
                }
            }
        }
    }

    pub(super) fn on_cancel(&mut self, now: Time, tx: TxId, cancel: &Message) {
        let invite_tx = self.txs.invite_for_cancel(cancel);
        let call = invite_tx.and_then(|t| self.by_server_invite.get(&t).copied());
        let Some(id) = call else {
            self.respond(now, tx, 481, "Call/Transaction Does Not Exist", None, &[]);
            return;
        };
        let tag = self.calls.get(&id).map(|c| c.a_tag.clone());
        self.respond(now, tx, 200, "OK", tag.as_deref(), &[]);
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.phase != Phase::Setup || call.canceled {
            return;
        }
        call.canceled = true;
        call.failover_at = None;
        let (a_tx, a_tag, any) = (call.a_tx, call.a_tag.clone(), call.b_any_response);
        self.respond(now, a_tx, 487, "Request Terminated", Some(&a_tag), &[]);
        if any {
            self.send_b_cancel(now, id);
        } else if let Some(c) = self.calls.get_mut(&id) {
            c.cancel_pending = true;
        }
    }

    pub(super) fn on_ack(&mut self, now: Time, ack: &Message) {
        let (Ok(call_id), Ok(to)) = (ack.call_id(), ack.to()) else { return };
        let Some(tag) = to.tag() else { return };
        let Some(&(id, leg)) = self.by_dialog.get(&(call_id.to_owned(), tag.to_owned())) else { return };
        let seq = ack.cseq().map_or(0, |c| c.seq);
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.pending_2xx.retain(|p| !(p.leg == leg && p.seq == seq));
        // A re-INVITE without SDP: the requester's answer, anchored, goes in
        // the far leg's ACK.
        if let Some((far, far_seq)) = call.reinvite_ack.filter(|(far, _)| *far == leg.other()) {
            call.reinvite_ack = None;
            let ct = ack.header_value(HeaderName::ContentType).unwrap_or("application/sdp").to_owned();
            match self.media_body(now, id, leg, &ct, ack.body(), false) {
                Ok(answer) if !answer.is_empty() => {
                    let answer = answer.into_owned();
                    self.ack_leg(id, far, far_seq, Some(&answer));
                }
                Ok(_) | Err(_) => {
                    // No answer to the far side's offer, or one that cannot
                    // be taken: the media of the call is gone.
                    self.ack_leg(id, far, far_seq, None);
                    let reason = "SIP;cause=488;text=\"no usable answer to the re-INVITE's offer\"";
                    self.send_bye_with(now, id, far, None, Some(reason));
                    self.send_bye_with(now, id, leg, None, Some(reason));
                    self.end_call(id, 488, "no usable answer to the re-INVITE's offer");
                }
            }
            return;
        }
        // A late offer: the caller's answer, anchored, goes in B's ACK.
        if leg != Leg::A {
            return;
        }
        let Some(idx) = call.late_offer_ack.take() else { return };
        let ct = ack.header_value(HeaderName::ContentType).unwrap_or("application/sdp").to_owned();
        match self.media_body(now, id, Leg::A, &ct, ack.body(), false) {
            Ok(answer) if !answer.is_empty() => {
                let answer = answer.into_owned();
                self.ack_b(id, idx, Some(&answer));
            }
            Ok(_) | Err(_) => {
                // No answer, or one that cannot be taken: the call cannot
                // have media; both sides are hung up.
                self.ack_b(id, idx, None);
                let reason = "SIP;cause=488;text=\"no usable answer to the late offer\"";
                self.send_bye_with(now, id, Leg::B, Some(idx), Some(reason));
                self.send_bye_with(now, id, Leg::A, None, Some(reason));
                self.end_call(id, 488, "no usable answer to the late offer");
            }
        }
    }

    /// A call's media check is due: hang it up if one of its legs sent
    /// the relay nothing (RTP or RTCP, on any of the call's streams) for
    /// the timeout (the hold timeout on hold) since the answer; else look
    /// again when that would be. Whether the call ended.
    fn media_timed_out(&mut self, now: Time, id: CallId) -> bool {
        let Some(m) = self.cfg.media.as_ref() else { return false };
        let Some(call) = self.calls.get(&id) else { return false };
        // The quieter leg: the later of the answer and its last packet.
        let heard = |side: crate::media::relay::Side| {
            let last = call.media_streams.iter().filter_map(|s| self.relay.last_activity(*s, side)).max();
            last.map_or(call.media_since, |l| l.max(call.media_since))
        };
        use crate::media::relay::Side as S;
        let since = heard(S::A).min(heard(S::B));
        let Some(limit) = (if call.media_hold { m.hold_timeout } else { m.timeout }) else {
            // No timeout in this state (on hold or not): nothing to look at
            // until the state changes (which looks again at once).
            if let Some(c) = self.calls.get_mut(&id) {
                c.media_check = None;
            }
            return false;
        };
        if since + limit > now || call.phase != Phase::Answered {
            let next = (since + limit).max(now + Duration::from_millis(1));
            if let Some(c) = self.calls.get_mut(&id) {
                c.media_check = (c.phase == Phase::Answered).then_some(next);
            }
            return false;
        }
        let why = format!("media timeout: no RTP or RTCP from a side for {} s", limit.as_secs());
        call.span.in_scope(|| tracing::warn!("{why}"));
        let reason = format!("Q.850;cause=41;text=\"{why}\"");
        self.send_bye_with(now, id, Leg::B, None, Some(&reason));
        self.send_bye_with(now, id, Leg::A, None, Some(&reason));
        self.end_call(id, 200, &why);
        true
    }

    pub(super) fn on_stray(&mut self, resp: &Message) {
        // A retransmitted 2xx after the INVITE transaction ended: ACK it again.
        let (Ok(call_id), Ok(from)) = (resp.call_id(), resp.from()) else { return };
        let Some(tag) = from.tag() else { return };
        let Some(&(id, Leg::B)) = self.by_dialog.get(&(call_id.to_owned(), tag.to_owned())) else { return };
        if let Some(call) = self.calls.get(&id) {
            if let (Some(ack), true) = (call.b_ack.clone(), resp.status().is_some_and(|s| (200..300).contains(&s))) {
                self.transport.send(call.b_peer, ack);
            }
        }
    }

    pub(super) fn in_dialog(&mut self, now: Time, id: CallId, leg: Leg, tx: TxId, req: Message) {
        let method = req.method().unwrap_or(Method::Other);
        let Some(call) = self.calls.get_mut(&id) else { return };
        let d = call.dialog_mut(leg);
        let Some(d) = d else {
            self.respond(now, tx, 481, "Call/Transaction Does Not Exist", None, &[]);
            return;
        };
        match d.receive(&req) {
            Ok(()) => {}
            Err(DialogError::CSeqOrder { .. }) => {
                self.respond(now, tx, 500, "Server Internal Error", None, &[("Retry-After", "1")]);
                return;
            }
            Err(_) => {
                self.respond(now, tx, 481, "Call/Transaction Does Not Exist", None, &[]);
                return;
            }
        }
        let other = leg.other();
        if method == Method::Bye {
            self.respond(now, tx, 200, "OK", None, &[]);
            let (mut late, mut reinvite) = (None, None);
            if let Some(c) = self.calls.get_mut(&id) {
                c.phase = Phase::Ending;
                c.pending_2xx.clear();
                (late, reinvite) = (c.late_offer_ack.take(), c.reinvite_ack.take());
            }
            // A 2xx still waiting for an answer is ACKed before the BYE.
            if let Some(idx) = late {
                self.ack_b(id, idx, None);
            }
            if let Some((far, far_seq)) = reinvite {
                self.ack_leg(id, far, far_seq, None);
            }
            let has_other = self.calls.get(&id).is_some_and(|c| match other {
                Leg::A => c.a_dialog.is_some(),
                Leg::B => c.b_answered.is_some(),
            });
            if has_other {
                // The hanging-up side's reason (RFC 3326) goes on with it.
                // (A folded value is unfolded: one header line out.)
                let reasons: Vec<String> =
                    req.headers_by_name("Reason").map(|h| h.value.replace(['\r', '\n'], " ")).collect();
                let reason = (!reasons.is_empty()).then(|| reasons.join(", "));
                self.send_bye_with(now, id, other, None, reason.as_deref());
            } else {
                self.end_call(id, 200, "hung up");
            }
            return;
        }
        // DTMF interworking: a digit in INFO/NOTIFY toward a leg that
        // carries DTMF another way is delivered that way.
        if matches!(method, Method::Info | Method::Notify) && self.signalled_digit(now, id, leg, &req) {
            self.respond(now, tx, 200, "OK", None, &[]);
            return;
        }
        // Relay any other in-dialog request to the other leg.
        let Some(call) = self.calls.get(&id) else { return };
        let (peer, has_dialog) = (call.peer(other), call.dialog(other).is_some());
        let via = self.via(peer.proto);
        if !has_dialog {
            self.respond(now, tx, 481, "Call/Transaction Does Not Exist", None, &[]);
            return;
        }
        let name = req.method_str().unwrap_or("INFO").to_owned();
        let ct = req.header_value(HeaderName::ContentType).unwrap_or("application/sdp").to_owned();
        let body = match self.media_body(now, id, leg, &ct, req.body(), true) {
            Ok(b) => b.into_owned(),
            Err(r) => {
                self.respond(now, tx, r.status, super::reason_phrase(r.status), None, &[("Warning", &r.warning)]);
                return;
            }
        };
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Some(d) = call.dialog_mut(other) else { return };
        let out = d.request(&name, None).print(&via, (!body.is_empty()).then_some((ct.as_str(), body.as_slice())));
        match Message::parse_stream(Bytes::from(out)).map(|m| self.txs.send_request(now, m, peer, is_reliable(&peer))) {
            Ok(Ok(ctx)) => {
                self.track_client(ctx, id, ClientPurpose::Relay { server_tx: tx });
            }
            _ => self.respond(now, tx, 500, "Server Internal Error", None, &[]),
        }
    }

    /// Failover, 2xx retransmission and media inactivity timers of one call.
    pub(super) fn call_timers(&mut self, now: Time, id: CallId) {
        if self.calls.get(&id).and_then(|c| c.media_check).is_some_and(|t| t <= now) && self.media_timed_out(now, id) {
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.failover_at.is_some_and(|t| t <= now) {
            call.failover_at = None;
            let any = call.b_any_response;
            if any {
                self.send_b_cancel(now, id);
            }
            if !self.failover(now, id, "no answer in time") {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.failover_at = None;
                }
            }
        }
        let t2 = self.cfg.timers.t2;
        let Some(call) = self.calls.get_mut(&id) else { return };
        let mut resend = Vec::new();
        let mut gave_up = false;
        let (a_peer, b_peer) = (call.a_peer, call.b_peer);
        for p in &mut call.pending_2xx {
            if p.give_up <= now {
                gave_up = true;
            } else if p.next <= now {
                resend.push((if p.leg == Leg::A { a_peer } else { b_peer }, p.data.clone()));
                p.interval = (p.interval * 2).min(t2);
                p.next = now + p.interval;
            }
        }
        if gave_up {
            // No ACK for our 2xx (RFC 3261 13.3.1.4): end the call both ways.
            call.pending_2xx.clear();
            call.phase = Phase::Ending;
            // A late offer's 2xx from B still waits for the caller's answer,
            // which will not come: ACK it (without one) before the BYE, or
            // B would retransmit it for 32 s more.
            let reason = Some("SIP;cause=408;text=\"no ACK for the 2xx\"");
            if let Some((far, far_seq)) = call.reinvite_ack.take() {
                self.ack_leg(id, far, far_seq, None);
            }
            let Some(call) = self.calls.get_mut(&id) else { return };
            if let Some(idx) = call.late_offer_ack.take() {
                self.ack_b(id, idx, None);
                self.send_bye_with(now, id, Leg::B, Some(idx), reason);
                self.send_bye_with(now, id, Leg::A, None, reason);
                return;
            }
            self.send_bye_with(now, id, Leg::B, None, reason);
            self.send_bye_with(now, id, Leg::A, None, reason);
            return;
        }
        for (peer, data) in resend {
            self.transport.send(peer, data);
        }
    }
}
