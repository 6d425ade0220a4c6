//! The SIP transport layer, sans-IO (RFC 3261 section 18, RFC 3581).
//!
//! Contract:
//! - inputs: datagrams with their source, stream bytes per connection,
//!   connection opened/closed, each with the current [`Time`]; outputs:
//!   [`Output`] (datagrams, stream bytes, connections to open or close)
//!   and [`Received`] messages, drained with `poll_output`/`poll_received`;
//! - a received request gets `received=` when its top Via sent-by is not
//!   the source address, and `rport=` filled when asked (RFC 3581), so the
//!   responses built from it route back through NATs;
//! - a message that fails to parse or to pass `check` never reaches the
//!   layers above: a request that can still be answered (it has Via, From,
//!   To, Call-ID and CSeq) gets the error response statelessly; everything
//!   else is dropped and counted in [`Counters`];
//! - a stream framing fault closes the connection; a connection idle
//!   longer than `idle_timeout` is closed; at most `max_connections`
//!   streams are kept (a new one beyond it is closed at once).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::msg::{build, check, Editor, Frame, Framing, HeaderName, Limits, Message, ParseError, StreamFramer};
use crate::time::Time;

/// Transport protocol of a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Udp,
    Tcp,
    Tls,
}

impl Proto {
    pub fn is_reliable(self) -> bool {
        !matches!(self, Proto::Udp)
    }

    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
            Proto::Tls => "TLS",
        }
    }
}

/// A stream connection's handle: chosen by the shell for accepted
/// connections, by the transport for outbound ones (top bit set, see
/// [`ConnId::OUTBOUND`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// The bit that marks connections the transport opens.
    pub const OUTBOUND: u64 = 1 << 63;
}

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    pub proto: Proto,
    pub addr: SocketAddr,
    /// The connection it arrived on (streams).
    pub conn: Option<ConnId>,
}

/// Something for the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Datagram {
        to: SocketAddr,
        data: Bytes,
    },
    Stream {
        conn: ConnId,
        data: Bytes,
    },
    /// Open connection `conn` to `to` and send `data` on it once open
    /// (later `Stream` outputs for `conn` queue behind it). The shell
    /// reports success with `handle_stream_opened(conn)`, failure with
    /// `handle_stream_closed(conn)`: the transactions waiting on it then
    /// fail at once (RFC 3261 18.4) instead of timing out.
    Connect {
        proto: Proto,
        to: SocketAddr,
        conn: ConnId,
        data: Bytes,
    },
    Close {
        conn: ConnId,
    },
}

/// A message for the layers above.
#[derive(Debug, Clone)]
pub struct Received {
    pub msg: Message,
    pub from: Peer,
    pub at: Time,
}

/// What was dropped or answered below the transaction layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Malformed requests answered statelessly (400, 413, 414, 505, 513 ...).
    pub malformed_answered: u64,
    /// Malformed messages dropped (unanswerable requests, bad responses).
    pub malformed_dropped: u64,
    /// Keep-alives seen (UDP CRLF, RFC 5626 pings).
    pub keepalives: u64,
    /// Connections closed for a framing fault.
    pub framing_closed: u64,
    /// Connections refused or closed for the connection bound or idleness.
    pub connections_shed: u64,
}

/// Transport configuration.
#[derive(Debug, Clone, Copy)]
pub struct TransportConfig {
    pub limits: Limits,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    /// Bytes queued for a connection that is still opening.
    pub max_pending_per_connect: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            limits: Limits::default(),
            max_connections: 4096,
            idle_timeout: Duration::from_secs(600),
            max_pending_per_connect: 256 * 1024,
        }
    }
}

struct Conn {
    proto: Proto,
    peer: SocketAddr,
    framer: StreamFramer,
    last_activity: Time,
    /// False while an outbound connection is being opened.
    opened: bool,
}

/// The transport state: connections, framers, output queues.
pub struct Transport {
    cfg: TransportConfig,
    conns: BTreeMap<ConnId, Conn>,
    by_addr: HashMap<(Proto, SocketAddr), ConnId>,
    next_outbound: u64,
    /// The latest time an input carried.
    now: Time,
    /// Peers a connection to could not be opened (for the transactions).
    failed: VecDeque<(Proto, SocketAddr)>,
    out: VecDeque<Output>,
    received: VecDeque<Received>,
    counters: Counters,
}

impl Transport {
    pub fn new(cfg: TransportConfig) -> Self {
        Transport {
            cfg,
            conns: BTreeMap::new(),
            by_addr: HashMap::new(),
            next_outbound: 1,
            now: Time::ZERO,
            failed: VecDeque::new(),
            out: VecDeque::new(),
            received: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_received(&mut self) -> Option<Received> {
        self.received.pop_front()
    }

    /// A peer that could not be reached: a connection to it failed to
    /// open, or the connection bound refused one.
    pub fn poll_failed(&mut self) -> Option<(Proto, SocketAddr)> {
        self.failed.pop_front()
    }

    /// When the next idle connection should be checked.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.conns.values().map(|c| c.last_activity + self.cfg.idle_timeout).min()
    }

    /// Close connections idle for `idle_timeout`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.now = self.now.max(now);
        let idle: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| now.since(c.last_activity) >= self.cfg.idle_timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            self.counters.connections_shed += 1;
            self.close(id);
        }
    }

    /// A UDP datagram arrived.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, data: Bytes) {
        self.now = self.now.max(now);
        if data.iter().all(|&b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0)) {
            self.counters.keepalives += 1;
            return;
        }
        let peer = Peer { proto: Proto::Udp, addr: from, conn: None };
        let parsed = Message::parse(data, Framing::Datagram, &self.cfg.limits);
        self.accept(now, peer, parsed);
    }

    /// A connection opened: inbound (accepted) or one we asked for.
    /// Returns false when the connection bound refuses it (a Close follows).
    pub fn handle_stream_opened(&mut self, now: Time, conn: ConnId, proto: Proto, peer: SocketAddr) -> bool {
        self.now = self.now.max(now);
        if let Some(c) = self.conns.get_mut(&conn) {
            // One we asked for (counted against the bound when asked).
            c.opened = true;
            c.last_activity = now;
            return true;
        }
        if self.conns.len() >= self.cfg.max_connections {
            self.counters.connections_shed += 1;
            self.out.push_back(Output::Close { conn });
            return false;
        }
        let c = Conn { proto, peer, framer: StreamFramer::new(self.cfg.limits), last_activity: now, opened: true };
        self.conns.insert(conn, c);
        self.by_addr.insert((proto, peer), conn);
        true
    }

    /// Bytes arrived on a connection.
    pub fn handle_stream_data(&mut self, now: Time, conn: ConnId, data: &[u8]) {
        self.now = self.now.max(now);
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.last_activity = now;
        let peer = Peer { proto: c.proto, addr: c.peer, conn: Some(conn) };
        if c.framer.push(data).is_err() {
            self.counters.framing_closed += 1;
            self.close(conn);
            return;
        }
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return };
            match c.framer.next_frame() {
                Ok(None) => return,
                Ok(Some(Frame::Ping)) => {
                    self.counters.keepalives += 1;
                    self.out.push_back(Output::Stream { conn, data: Bytes::from_static(b"\r\n") });
                }
                Ok(Some(Frame::Pong)) => self.counters.keepalives += 1,
                Ok(Some(Frame::Message(m))) => self.accept(now, peer, Ok(m)),
                Ok(Some(Frame::Invalid { error, raw })) => {
                    // Framed correctly: answer it if we can, and go on.
                    let lenient =
                        Message::parse(raw, Framing::Datagram, &Limits { max_datagram: usize::MAX, ..self.cfg.limits });
                    self.reject(peer, lenient.ok().as_ref(), &error);
                }
                Err(_) => {
                    self.counters.framing_closed += 1;
                    self.close(conn);
                    return;
                }
            }
        }
    }

    /// The shell saw a connection close, or fail to open.
    pub fn handle_stream_closed(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.by_addr.get(&(c.proto, c.peer)) == Some(&conn) {
                self.by_addr.remove(&(c.proto, c.peer));
            }
            if !c.opened {
                self.failed.push_back((c.proto, c.peer));
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        self.handle_stream_closed(conn);
        self.out.push_back(Output::Close { conn });
    }

    fn accept(&mut self, now: Time, peer: Peer, parsed: Result<Message, ParseError>) {
        let msg = match parsed {
            Ok(m) => m,
            Err(_) => {
                // Without an index there is nothing to build an answer from.
                self.counters.malformed_dropped += 1;
                return;
            }
        };
        if let Err(e) = check::check_received(&msg, &self.cfg.limits) {
            self.reject(peer, Some(&msg), &e);
            return;
        }
        let msg = if msg.is_request() { stamp_via(msg, &peer) } else { msg };
        self.received.push_back(Received { msg, from: peer, at: now });
    }

    /// Answer a malformed request statelessly when it carries what a
    /// response needs; count and drop the rest.
    fn reject(&mut self, peer: Peer, msg: Option<&Message>, error: &ParseError) {
        let answerable = msg.filter(|m| {
            m.is_request()
                && m.method() != Some(super::msg::Method::Ack)
                && [HeaderName::Via, HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq]
                    .iter()
                    .all(|&h| m.header(h).is_some())
                && m.top_via().is_ok()
        });
        let Some(m) = answerable else {
            self.counters.malformed_dropped += 1;
            return;
        };
        let (status, reason) = error.response();
        let warning = format!("399 bridgehead \"{}\"", error.to_string().replace(['"', '\\'], "'"));
        let resp = build::response(m, status, reason, None, &[("Warning", &warning)], None);
        self.counters.malformed_answered += 1;
        let target = response_target(m, &peer);
        self.send(target, Bytes::from(resp));
    }

    /// Send bytes to a peer: on its connection if it has one (or one to
    /// the same address), over UDP for UDP, else by opening a connection.
    pub fn send(&mut self, to: Peer, data: Bytes) {
        if to.proto == Proto::Udp {
            self.out.push_back(Output::Datagram { to: to.addr, data });
            return;
        }
        let conn =
            to.conn.filter(|c| self.conns.contains_key(c)).or_else(|| self.by_addr.get(&(to.proto, to.addr)).copied());
        match conn {
            Some(conn) => self.out.push_back(Output::Stream { conn, data }),
            None => {
                if self.conns.len() >= self.cfg.max_connections || data.len() > self.cfg.max_pending_per_connect {
                    self.counters.connections_shed += 1;
                    self.failed.push_back((to.proto, to.addr));
                    return;
                }
                let conn = ConnId(ConnId::OUTBOUND | self.next_outbound);
                self.next_outbound += 1;
                let framer = StreamFramer::new(self.cfg.limits);
                let c = Conn { proto: to.proto, peer: to.addr, framer, last_activity: self.now, opened: false };
                self.conns.insert(conn, c);
                self.by_addr.insert((to.proto, to.addr), conn);
                self.out.push_back(Output::Connect { proto: to.proto, to: to.addr, conn, data });
            }
        }
    }
}

/// Where the responses to `req`, received from `from`, go (RFC 3261
/// 18.2.2, RFC 3581): the same connection for streams; for UDP the
/// `received`/`rport` address stamped on the top Via, else its sent-by.
pub fn response_target(req: &Message, from: &Peer) -> Peer {
    if from.proto.is_reliable() {
        return *from;
    }
    let Ok(via) = req.top_via() else { return *from };
    if let Some(maddr) = via.maddr() {
        if let Ok(ip) = maddr.parse() {
            return Peer { proto: Proto::Udp, addr: SocketAddr::new(ip, via.port.unwrap_or(5060)), conn: None };
        }
    }
    let ip = via
        .received()
        .and_then(|r| r.trim_start_matches('[').trim_end_matches(']').parse().ok())
        .or_else(|| via.host_str.trim_start_matches('[').trim_end_matches(']').parse().ok())
        .unwrap_or(from.addr.ip());
    let port = match via.rport() {
        Some(Some(p)) => p,
        _ => via.port.unwrap_or(5060),
    };
    Peer { proto: Proto::Udp, addr: SocketAddr::new(ip, port), conn: None }
}

/// RFC 3261 18.2.1 and RFC 3581: add `received` when the sent-by host is
/// not the source address, fill in an empty `rport`.
fn stamp_via(msg: Message, from: &Peer) -> Message {
    let Some(top) = msg.header(HeaderName::Via) else { return msg };
    let Ok(via) = msg.top_via() else { return msg };
    let src_ip = from.addr.ip();
    let sent_by_ip = via.host_str.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok();
    let need_received = sent_by_ip != Some(src_ip) && via.received().is_none();
    let need_rport = via.rport() == Some(None);
    if !need_received && !need_rport {
        return msg;
    }
    let mut first = String::with_capacity(top.value.len() + 48);
    let mut values = super::msg::split_list(top.value);
    let Some((v0, _)) = values.next() else { return msg };
    // Rebuild the first value's parameters, keeping their order.
    let (head, params) = v0.split_once(';').unwrap_or((v0, ""));
    first.push_str(head.trim_end());
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        first.push(';');
        if p.eq_ignore_ascii_case("rport") && need_rport {
            first.push_str(&format!("rport={}", from.addr.port()));
        } else {
            first.push_str(p);
        }
    }
    if need_received {
        let ip = match src_ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        first.push_str(";received=");
        first.push_str(&ip);
    }
    for (rest, _) in values {
        first.push_str(", ");
        first.push_str(rest);
    }
    let mut e = Editor::new(&msg);
    e.replace_index(top.index, &first);
    match Message::parse(
        Bytes::from(e.print()),
        Framing::Stream,
        &Limits { max_stream_message: usize::MAX, max_datagram: usize::MAX, ..Limits::default() },
    ) {
        Ok(m) => m,
        Err(_) => msg,
    }
}

#[cfg(test)]
mod tests;
