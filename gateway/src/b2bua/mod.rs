//! The B2BUA and the endpoint that drives it: basic calls in both
//! directions between the operator trunk and the Teams proxies.
//!
//! Contract (sans-IO, like the layers below): feed datagrams, stream
//! events and timer firings with the current [`Time`]; drain
//! [`Gateway::poll_output`] (what the shell sends) and
//! [`Gateway::poll_event`] (call events), then sleep until
//! [`Gateway::poll_timeout`]. Identifiers come from the seeded [`Rng`], so
//! a seed and a sequence of inputs give one transcript.
//!
//! A call owns two legs: `a` (the side the INVITE came from, answered
//! through a server transaction and a UAS dialog) and `b` (the side we
//! call, through client transactions and UAC dialogs, one per To tag while
//! early). Nothing of one leg's Call-ID, tags, branches or Contact appears
//! on the other. Provisionals and the final answer are relayed; a 2xx is
//! ACKed on `b` and retransmitted on `a` until its ACK; CANCEL, BYE and
//! in-dialog requests (re-INVITE, UPDATE, INFO, ...) cross over. Toward
//! Teams, 408/503/504, a timeout or a transport error before any
//! provisional moves the call to the next proxy, and so does no answer
//! within `failover_after`. Bounds: `max_calls` (503 with Retry-After
//! beyond it), the transaction table, the transport's connections.

mod build;
mod call;
mod media;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::media::negotiate::LegPolicy;
use crate::media::relay::{Forward, Relay, RelayConfig, RelayCounters};
use crate::rng::Rng;
use crate::routing::{Router, TrunkRouter};
use crate::sip::msg::{build as mbuild, validate, Message, Method};
use crate::sip::transaction::{RequestOutcome, TimerConfig, Transactions, TxEvent, TxId};
use crate::sip::transport::{self, ConnId, Output, Peer, Proto, Transport, TransportConfig};
use crate::time::Time;

use call::Call;
pub use call::CallId;

/// Methods the gateway serves (its Allow header).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, NOTIFY";

pub use crate::routing::{Side, Target};

/// What the gateway needs to route basic calls.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Our FQDN (Contact, Via, From host toward Teams).
    pub fqdn: String,
    /// Our SIP port (Via, Contact).
    pub port: u16,
    pub operator: Target,
    /// Teams SIP proxies, tried in order.
    pub teams: Vec<Target>,
    pub timers: TimerConfig,
    pub transport: TransportConfig,
    pub max_calls: usize,
    pub max_transactions: usize,
    /// Toward Teams: no provisional within this time moves to the next proxy.
    pub failover_after: Duration,
    /// Statuses that move a call to the next proxy.
    pub failover_statuses: Vec<u16>,
    /// The X-MS-SBC value sent toward Teams.
    pub sbc_header: String,
    /// Failure statuses rewritten across legs (received -> shown), e.g.
    /// (503, 480); 487 after a CANCEL and 2xx are never mapped.
    pub failure_map: Vec<(u16, u16)>,
    /// Media anchoring; `None`: SDP crosses unchanged (signalling only).
    pub media: Option<MediaConfig>,
}

/// Media anchoring: where the relay's ports are, and the address SDP names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// The gateway's media address written in SDP (`c=`, `o=`).
    pub address: std::net::IpAddr,
    pub relay: RelayConfig,
    /// Codec policy toward the operator trunk and toward Teams.
    pub operator: LegPolicy,
    pub teams: LegPolicy,
    /// An answered call whose relay received nothing (RTP or RTCP, from
    /// either leg) for this long is hung up (`None`: never).
    pub timeout: Option<Duration>,
    /// The same while the call is on hold (the last settled answer's first stream
    /// not sendrecv: the held side, often both, may send nothing).
    pub hold_timeout: Option<Duration>,
}

/// Media sockets the shell opens and closes (RTP port; RTCP is port + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaControl {
    Open { port: u16 },
    Close { port: u16 },
}

/// The RFC 3261 reason phrase of a status (for statuses the gateway writes).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        s if s < 400 => "Redirection",
        s if s < 500 => "Client Error",
        s if s < 600 => "Server Error",
        _ => "Global Failure",
    }
}

/// What happened to calls (for logs, CDRs and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    CallStarted {
        call: CallId,
        from: Side,
    },
    CallAnswered {
        call: CallId,
    },
    /// The call is gone; `status` is the final status the caller saw (200
    /// for an answered call that was hung up).
    CallEnded {
        call: CallId,
        status: u16,
        reason: String,
    },
    /// A Teams proxy failed for a call and the next one was tried.
    Failover {
        call: CallId,
        from: usize,
        to: usize,
        why: String,
    },
}

/// Work refused because a bound was hit (monotonic counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shedding {
    /// New calls answered 503 + Retry-After: `max_calls` reached, or draining.
    pub calls_refused: u64,
    /// Requests answered 503 (or calls failed) because the transaction
    /// table was full (`max_transactions`).
    pub requests_shed: u64,
}

impl GatewayEvent {
    /// The call the event is about.
    pub fn call(&self) -> CallId {
        match self {
            GatewayEvent::CallStarted { call, .. }
            | GatewayEvent::CallAnswered { call }
            | GatewayEvent::CallEnded { call, .. }
            | GatewayEvent::Failover { call, .. } => *call,
        }
    }
}

/// The gateway core.
pub struct Gateway {
    shedding: Shedding,
    relay: Relay,
    /// Ports opened and closed since the shell last asked.
    media_control: VecDeque<MediaControl>,
    /// Generated media packets for the shell to send.
    media_out: VecDeque<(u16, SocketAddr, Vec<u8>)>,

    cfg: GatewayConfig,
    router: Box<dyn Router>,
    rng: Rng,
    transport: Transport,
    txs: Transactions<Peer>,
    calls: BTreeMap<CallId, Call>,
    next_call: u64,
    /// Server INVITE transaction -> call.
    by_server_invite: HashMap<TxId, CallId>,
    /// Calls' deadlines (failover, 2xx repetition), earliest first; may
    /// hold stale entries, never misses a live one.
    call_deadlines: std::collections::BTreeSet<(Time, CallId)>,
    /// Client transaction -> (call, what it is for).
    by_client: HashMap<TxId, (CallId, call::ClientPurpose)>,
    /// (Call-ID, our tag) of either leg -> call.
    by_dialog: HashMap<(String, String), (CallId, call::Leg)>,
    events: VecDeque<GatewayEvent>,
    /// Refusing new calls (SIGTERM drain).
    draining: bool,
}

impl Gateway {
    /// A gateway routing with [`TrunkRouter`] over `cfg`'s operator and Teams proxies.
    pub fn new(cfg: GatewayConfig, seed: u64) -> Self {
        let router = TrunkRouter { operator: cfg.operator.clone(), teams: cfg.teams.clone() };
        Self::with_router(cfg, seed, Box::new(router))
    }

    /// A gateway with its own routing policy.
    pub fn with_router(cfg: GatewayConfig, seed: u64, router: Box<dyn Router>) -> Self {
        Gateway {
            shedding: Shedding::default(),
            relay: Relay::new(&cfg.media.as_ref().map(|m| m.relay.clone()).unwrap_or_default()),
            media_control: VecDeque::new(),
            media_out: VecDeque::new(),

            router,
            rng: Rng::seeded(seed),
            transport: Transport::new(cfg.transport),
            txs: Transactions::new(cfg.timers, cfg.max_transactions),
            calls: BTreeMap::new(),
            next_call: 1,
            by_server_invite: HashMap::new(),
            call_deadlines: std::collections::BTreeSet::new(),
            by_client: HashMap::new(),
            by_dialog: HashMap::new(),
            events: VecDeque::new(),
            draining: false,
            cfg,
        }
    }

    /// Unix time (ns) at `Time::ZERO`, for the wall-clock timestamps of the
    /// RTCP the gateway sends (left 0 in simulation: deterministic).
    pub fn set_wall_clock(&mut self, unix_ns_at_zero: u64) {
        self.relay.set_wall_clock(unix_ns_at_zero);
    }

    /// Stop taking new calls (they get 503 with Retry-After); calls in
    /// progress go on.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Transactions in progress.
    pub fn transactions(&self) -> usize {
        self.txs.len()
    }

    /// A media packet arrived on our `port`, in `buf[..len]`: where to send
    /// it (from which of our ports) and its length once rewritten in place,
    /// if it goes anywhere. Never allocates (but for the rare extra packets
    /// of a transcoder re-framing to a shorter ptime, queued for
    /// [`Gateway::poll_media_packet`]). `buf` should be
    /// [`crate::media::relay::MEDIA_BUFFER`] long: room for a less
    /// compressed codec and SRTP's tag.
    pub fn handle_media(
        &mut self,
        now: Time,
        port: u16,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<(Forward, usize)> {
        let fwd = self.relay.handle_packet(now, port, from, buf, len);
        // A transcoder re-packetizing to a shorter ptime: the packets beyond the first.
        while let Some(p) = self.relay.poll_extra() {
            self.media_out.push_back(p);
        }
        // A digit taken out of the stream (rare: not per packet).
        if self.relay.has_dtmf() {
            self.events_to_info(now);
            self.pump(now);
        }
        fwd
    }

    /// The media address SDP names, when media is anchored.
    pub fn media_address(&self) -> Option<std::net::IpAddr> {
        self.cfg.media.as_ref().map(|m| m.address)
    }

    /// A media packet the gateway generated (ringback): sent from our
    /// `from_port` to the address given.
    pub fn poll_media_packet(&mut self) -> Option<(u16, SocketAddr, Vec<u8>)> {
        self.media_out.pop_front()
    }

    /// Media sockets to open or close.
    pub fn poll_media_control(&mut self) -> Option<MediaControl> {
        self.media_control.pop_front()
    }

    /// The relay's counters (forwarded, dropped by reason).
    pub fn media_counters(&self) -> RelayCounters {
        self.relay.counters()
    }

    /// Media streams open (one per anchored m= line).
    pub fn media_streams(&self) -> usize {
        self.relay.streams()
    }

    /// What was refused for a bound (for the overload warning and metrics).
    pub fn shedding(&self) -> Shedding {
        self.shedding
    }

    pub fn counters(&self) -> transport::Counters {
        self.transport.counters()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.transport.poll_output()
    }

    pub fn poll_event(&mut self) -> Option<GatewayEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of the transport, the transactions and the calls.
    pub fn poll_timeout(&self) -> Option<Time> {
        let calls = self.call_deadlines.first().map(|(t, _)| *t);
        let media = self.relay.poll_timeout();
        [self.transport.poll_timeout(), self.txs.poll_timeout(), calls, media].into_iter().flatten().min()
    }

    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, data: Bytes) {
        self.transport.handle_datagram(now, from, data);
        self.pump(now);
    }

    pub fn handle_stream_opened(&mut self, now: Time, conn: ConnId, proto: Proto, peer: SocketAddr) -> bool {
        self.transport.handle_stream_opened(now, conn, proto, peer)
    }

    pub fn handle_stream_data(&mut self, now: Time, conn: ConnId, data: &[u8]) {
        self.transport.handle_stream_data(now, conn, data);
        self.pump(now);
    }

    /// A connection closed, or failed to open: requests that were
    /// waiting on a failed connection fail at once (Teams failover).
    pub fn handle_stream_closed(&mut self, now: Time, conn: ConnId) {
        self.transport.handle_stream_closed(conn);
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.transport.handle_timeout(now);
        self.txs.handle_timeout(now);
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.call_deadlines.first() {
            if t > now {
                break;
            }
            self.call_deadlines.pop_first();
            if let Some(c) = self.calls.get_mut(&id) {
                c.timer_key = None;
            }
            due.push(id);
        }
        due.dedup();
        for id in due {
            if self.calls.get(&id).and_then(Call::next_deadline).is_some_and(|d| d <= now) {
                self.call_timers(now, id);
            }
            self.schedule(id);
        }
        let mut generated = Vec::new();
        self.relay.handle_timeout(now, &mut generated);
        self.media_out.extend(generated);
        self.pump(now);
    }

    /// Move messages between the layers until nothing moves.
    fn pump(&mut self, now: Time) {
        loop {
            let mut moved = false;
            while let Some(r) = self.transport.poll_received() {
                moved = true;
                if r.msg.is_request() {
                    match self.txs.handle_request(now, r.msg.clone(), r.from, r.from.proto.is_reliable()) {
                        RequestOutcome::Overloaded => {
                            self.shedding.requests_shed += 1;
                            self.stateless(&r.msg, &r.from, 503, "Service Unavailable")
                        }
                        RequestOutcome::New(_)
                        | RequestOutcome::Absorbed(_)
                        | RequestOutcome::AckToTu
                        | RequestOutcome::Unmatchable => {}
                    }
                } else {
                    self.txs.handle_response(now, r.msg);
                }
            }
            while let Some(e) = self.txs.poll_event() {
                moved = true;
                self.on_tx_event(now, e);
            }
            while let Some(t) = self.txs.poll_transmit() {
                moved = true;
                self.transport.send(t.dest, t.data);
            }
            while let Some((proto, addr)) = self.transport.poll_failed() {
                moved = true;
                for tx in self.txs.pending_clients(|d| d.proto == proto && d.addr == addr) {
                    self.txs.handle_transport_error(tx);
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn stateless(&mut self, req: &Message, from: &Peer, status: u16, reason: &str) {
        if req.method() == Some(Method::Ack) {
            return;
        }
        let extra: &[(&str, &str)] = if status == 503 { &[("Retry-After", "5")] } else { &[] };
        let resp = mbuild::response(req, status, reason, Some(&self.rng.tag()), extra, None);
        self.transport.send(transport::response_target(req, from), Bytes::from(resp));
    }

    /// Which side a message came from (the router knows).
    fn side_of(&self, from: &Peer) -> Side {
        self.router.classify(from)
    }

    fn on_tx_event(&mut self, now: Time, e: TxEvent<Peer>) {
        match e {
            TxEvent::Request { tx, msg, source } => self.on_request(now, tx, msg, source),
            TxEvent::Ack { msg, .. } => self.on_ack(now, &msg),
            TxEvent::Response { tx, msg } => self.on_response(now, tx, msg),
            TxEvent::Stray { msg } => self.on_stray(&msg),
            TxEvent::Timeout { tx, .. } => self.on_client_failure(now, tx, false),
            TxEvent::TransportError { tx } => self.on_client_failure(now, tx, true),
            TxEvent::Terminated { tx } => {
                self.by_server_invite.remove(&tx);
                self.by_client.remove(&tx);
            }
        }
    }

    fn respond(&mut self, now: Time, tx: TxId, status: u16, reason: &str, tag: Option<&str>, extra: &[(&str, &str)]) {
        if let Some(req) = self.txs.request(tx).cloned() {
            let resp = mbuild::response(&req, status, reason, tag, extra, None);
            let _ = self.txs.send_response(now, tx, status, Bytes::from(resp));
        }
    }

    fn on_request(&mut self, now: Time, tx: TxId, msg: Message, source: Peer) {
        if let Some(r) = validate::validate_request(&msg, &validate::GATEWAY) {
            let extra: Vec<(&str, &str)> = r.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let tag = self.rng.tag();
            self.respond(now, tx, r.status, r.reason, Some(&tag), &extra);
            return;
        }
        let method = msg.method().unwrap_or(Method::Other);
        let to_tag = msg.to().ok().and_then(|t| t.tag().map(str::to_owned));
        if method == Method::Cancel {
            return self.on_cancel(now, tx, &msg);
        }
        if let Some(tag) = to_tag {
            let key = (msg.call_id().unwrap_or("").to_owned(), tag);
            match self.by_dialog.get(&key).copied() {
                Some((call, leg)) => self.in_dialog(now, call, leg, tx, msg),
                None => self.respond(now, tx, 481, "Call/Transaction Does Not Exist", None, &[]),
            }
            return;
        }
        match method {
            Method::Options => {
                let tag = self.rng.tag();
                let accept = validate::GATEWAY.accept.join(", ");
                let extra = [("Allow", ALLOW), ("Accept", accept.as_str()), ("Supported", "timer, replaces")];
                self.respond(now, tx, 200, "OK", Some(&tag), &extra);
            }
            Method::Invite => self.new_call(now, tx, msg, source),
            _ => {
                let tag = self.rng.tag();
                self.respond(now, tx, 481, "Call/Transaction Does Not Exist", Some(&tag), &[]);
            }
        }
    }
}

#[cfg(test)]
mod tests;
