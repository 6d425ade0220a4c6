//! The RTP/RTCP relay: a sans-IO state machine that owns a pool of UDP
//! port pairs and forwards packets between the two legs of a stream.
//!
//! Contract: [`Relay::open`] takes one port pair (RTP on an even port,
//! RTCP on the next) for each leg of a new stream, or fails when the pool
//! is exhausted; [`Relay::close`] gives them back (to the end of the free
//! list, so a port is not reused while stray packets of the last call may
//! still arrive). [`Relay::handle_packet`] is given a packet received on
//! one of our ports and answers where to send it, from which of our ports,
//! without allocating: it checks the RTP/RTCP version, latches the leg to
//! the first source that sends to it (symmetric RTP, for NATed peers) and
//! drops packets from any other source, demultiplexes RTCP on an
//! rtcp-mux port (RFC 5761), and sends toward the other leg's latched
//! source or, before that, the address its SDP gave. Everything it drops
//! is counted. Same inputs, same decisions: no clock or randomness needed.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use crate::time::Time;

/// The port range and bounds of the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// First port of the range (rounded up to even).
    pub port_min: u16,
    /// Last port of the range (an RTCP port at most).
    pub port_max: u16,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig { port_min: 40_000, port_max: 59_999 }
    }
}

/// A stream through the relay (one m= line of one call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// Which leg of a stream: the caller's side (`A`) or the called side (`B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A = 0,
    B = 1,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Where a leg's peer wants media, from its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    pub rtp: SocketAddr,
    /// `a=rtcp`, else RTP port + 1; ignored with rtcp-mux.
    pub rtcp: SocketAddr,
    /// RTP and RTCP share the RTP port (RFC 5761).
    pub rtcp_mux: bool,
}

/// What to do with a packet: send it from our port `from_port` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub from_port: u16,
    pub to: SocketAddr,
}

/// Why the relay refused to open a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("media port pool exhausted")]
    PoolExhausted,
}

/// Packets the relay did not forward, by reason; and what it did forward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounters {
    pub rtp_forwarded: u64,
    pub rtcp_forwarded: u64,
    /// On a port no stream owns (a closed call's stray packets).
    pub dropped_unknown_port: u64,
    /// Not RTP/RTCP version 2, or shorter than a header.
    pub dropped_malformed: u64,
    /// From a source other than the one the leg latched to.
    pub dropped_wrong_source: u64,
    /// The other leg has no address yet (no SDP from it, nothing latched).
    pub dropped_no_destination: u64,
}

/// Per-leg packet counts (for CDRs and the transcript's stream summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub first_packet: Option<Time>,
    pub last_packet: Option<Time>,
}

#[derive(Debug, Clone)]
struct Leg {
    /// Our RTP port facing this leg's peer (RTCP is +1).
    port: u16,
    remote: Option<Remote>,
    latched: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    stats: LegStats,
}

impl Leg {
    fn new(port: u16) -> Leg {
        Leg { port, remote: None, latched: None, latched_rtcp: None, stats: LegStats::default() }
    }
}

#[derive(Debug, Clone)]
struct Stream {
    legs: [Leg; 2],
}

/// The pool of even RTP ports (RTCP is the next odd one).
#[derive(Debug, Clone)]
struct PortPool {
    free: VecDeque<u16>,
}

impl PortPool {
    fn new(cfg: &RelayConfig) -> PortPool {
        let first = cfg.port_min.saturating_add(cfg.port_min % 2);
        let free = (u32::from(first)..u32::from(cfg.port_max))
            .step_by(2)
            .filter_map(|p| u16::try_from(p).ok())
            .filter(|p| *p < cfg.port_max)
            .collect();
        PortPool { free }
    }
}

/// The relay.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: PortPool,
    streams: HashMap<StreamId, Stream>,
    /// Our RTP port -> (stream, leg).
    by_port: HashMap<u16, (StreamId, Side)>,
    next_id: u64,
    counters: RelayCounters,
}

/// RTP/RTCP version 2, and long enough for a header.
fn version_ok(packet: &[u8], min: usize) -> bool {
    packet.len() >= min && packet[0] >> 6 == 2
}

/// RFC 5761 section 4: on a muxed port, packet types 192-223 are RTCP.
fn is_rtcp(packet: &[u8]) -> bool {
    packet.get(1).is_some_and(|pt| (192..=223).contains(pt))
}

impl Relay {
    pub fn new(cfg: &RelayConfig) -> Relay {
        let pool = PortPool::new(cfg);
        let capacity = pool.free.len().min(65_536);
        Relay {
            pool,
            streams: HashMap::with_capacity(capacity / 2),
            by_port: HashMap::with_capacity(capacity),
            next_id: 1,
            counters: RelayCounters::default(),
        }
    }

    /// Port pairs still free.
    pub fn free_ports(&self) -> usize {
        self.pool.free.len()
    }

    /// Streams open.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    pub fn counters(&self) -> RelayCounters {
        self.counters
    }

    /// Open a stream: our RTP port facing A, and the one facing B.
    pub fn open(&mut self) -> Result<(StreamId, [u16; 2]), RelayError> {
        if self.pool.free.len() < 2 {
            return Err(RelayError::PoolExhausted);
        }
        let (Some(a), Some(b)) = (self.pool.free.pop_front(), self.pool.free.pop_front()) else {
            return Err(RelayError::PoolExhausted);
        };
        let id = StreamId(self.next_id);
        self.next_id += 1;
        self.streams.insert(id, Stream { legs: [Leg::new(a), Leg::new(b)] });
        self.by_port.insert(a, (id, Side::A));
        self.by_port.insert(b, (id, Side::B));
        Ok((id, [a, b]))
    }

    /// Our RTP port facing `side` of the stream.
    pub fn port(&self, id: StreamId, side: Side) -> Option<u16> {
        self.streams.get(&id).map(|s| s.legs[side as usize].port)
    }

    /// Where `side`'s peer wants media (its SDP). A new address also
    /// releases the latch, so the leg latches again to whoever sends first
    /// (a re-INVITE moving media, a different answering fork).
    pub fn set_remote(&mut self, id: StreamId, side: Side, remote: Remote) {
        if let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) {
            if leg.remote.map(|r| r.rtp) != Some(remote.rtp) {
                leg.latched = None;
                leg.latched_rtcp = None;
            }
            leg.remote = Some(remote);
        }
    }

    /// Packet counts of one leg (what its peer sent us).
    pub fn stats(&self, id: StreamId, side: Side) -> Option<LegStats> {
        self.streams.get(&id).map(|s| s.legs[side as usize].stats)
    }

    /// Close a stream and give its ports back.
    pub fn close(&mut self, id: StreamId) {
        if let Some(s) = self.streams.remove(&id) {
            for leg in &s.legs {
                self.by_port.remove(&leg.port);
                self.pool.free.push_back(leg.port);
            }
        }
    }

    /// Whether `port` (RTP or RTCP) belongs to an open stream.
    pub fn owns(&self, port: u16) -> bool {
        self.by_port.contains_key(&(port & !1))
    }

    /// A packet arrived on our `port` from `from`: where it goes, if anywhere.
    pub fn handle_packet(&mut self, now: Time, port: u16, from: SocketAddr, packet: &[u8]) -> Option<Forward> {
        let Some(&(id, side)) = self.by_port.get(&(port & !1)) else {
            self.counters.dropped_unknown_port += 1;
            return None;
        };
        let on_rtcp_port = port & 1 == 1;
        let Some(stream) = self.streams.get_mut(&id) else {
            self.counters.dropped_unknown_port += 1;
            return None;
        };
        let rtcp = on_rtcp_port || is_rtcp(packet);
        if !version_ok(packet, if rtcp { 8 } else { 12 }) {
            self.counters.dropped_malformed += 1;
            return None;
        }
        let leg = &mut stream.legs[side as usize];
        // Symmetric latching: the first source wins until the SDP moves.
        let latch = if rtcp && on_rtcp_port { &mut leg.latched_rtcp } else { &mut leg.latched };
        match latch {
            Some(l) if *l != from => {
                self.counters.dropped_wrong_source += 1;
                return None;
            }
            Some(_) => {}
            None => *latch = Some(from),
        }
        leg.stats.packets_in += 1;
        leg.stats.bytes_in += packet.len() as u64;
        leg.stats.first_packet.get_or_insert(now);
        leg.stats.last_packet = Some(now);
        let out = &stream.legs[side.other() as usize];
        let mux = out.remote.is_some_and(|r| r.rtcp_mux);
        let to = if rtcp && !mux {
            out.latched_rtcp.or(out.remote.map(|r| r.rtcp))
        } else {
            out.latched.or(out.remote.map(|r| r.rtp))
        };
        let Some(to) = to else {
            self.counters.dropped_no_destination += 1;
            return None;
        };
        let from_port = if rtcp && !mux { out.port + 1 } else { out.port };
        if rtcp {
            self.counters.rtcp_forwarded += 1;
        } else {
            self.counters.rtp_forwarded += 1;
        }
        Some(Forward { from_port, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    const RTCP_SR: [u8; 8] = [0x80, 200, 0, 1, 0xde, 0xad, 0xbe, 0xef];

    fn remote(a: &str, mux: bool) -> Remote {
        let rtp = addr(a);
        Remote { rtp, rtcp: SocketAddr::new(rtp.ip(), rtp.port() + 1), rtcp_mux: mux }
    }

    #[test]
    fn ports_come_in_even_pairs_and_return_to_the_back_of_the_pool() {
        let mut r = Relay::new(&RelayConfig { port_min: 40_001, port_max: 40_009 });
        assert_eq!(r.free_ports(), 4, "40002, 40004, 40006, 40008 (40009 is 40008's RTCP)");
        let (s1, p1) = r.open().expect("open");
        assert_eq!(p1, [40_002, 40_004]);
        let (_, p2) = r.open().expect("open");
        assert_eq!(p2, [40_006, 40_008]);
        assert_eq!(r.open(), Err(RelayError::PoolExhausted));
        r.close(s1);
        assert_eq!(r.free_ports(), 2);
        let (_, p3) = r.open().expect("open");
        assert_eq!(p3, [40_002, 40_004], "freed ports are reused only after the rest");
        assert!(!r.owns(40_010));
    }

    #[test]
    fn packets_cross_to_the_other_leg_and_latch_to_their_first_source() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, pb]) = r.open().expect("open");
        r.set_remote(s, Side::A, remote("192.0.2.10:30000", false));
        r.set_remote(s, Side::B, remote("52.114.1.1:50000", false));
        // A's peer sends from behind a NAT: a different port than its SDP said.
        let nat = addr("203.0.113.7:61000");
        let f = r.handle_packet(Time::ZERO, pa, nat, &rtp(1)).expect("forwarded");
        assert_eq!(f, Forward { from_port: pb, to: addr("52.114.1.1:50000") });
        // B answers: it goes to where A's packets came from, not to A's SDP address.
        let f = r.handle_packet(Time::from_millis(20), pb, addr("52.114.1.1:50000"), &rtp(1)).expect("forwarded");
        assert_eq!(f, Forward { from_port: pa, to: nat });
        // Someone else on A's port is dropped.
        assert_eq!(r.handle_packet(Time::from_millis(40), pa, addr("198.51.100.66:4000"), &rtp(2)), None);
        assert_eq!(r.counters().dropped_wrong_source, 1);
        // RTCP goes from our RTCP port to the peer's RTCP port.
        let f = r.handle_packet(Time::from_millis(60), pb + 1, addr("52.114.1.1:50001"), &RTCP_SR).expect("rtcp");
        assert_eq!(f, Forward { from_port: pa + 1, to: addr("192.0.2.10:30001") });
        assert_eq!(r.stats(s, Side::A).map(|s| s.packets_in), Some(1));
        assert_eq!((r.counters().rtp_forwarded, r.counters().rtcp_forwarded), (2, 1));
    }

    #[test]
    fn rtcp_mux_shares_the_rtp_port() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, pb]) = r.open().expect("open");
        r.set_remote(s, Side::A, remote("192.0.2.10:30000", false));
        r.set_remote(s, Side::B, remote("52.114.1.1:50000", true));
        // Muxed RTCP from B arrives on B's RTP port and goes to A's RTCP port.
        let f = r.handle_packet(Time::ZERO, pb, addr("52.114.1.1:50000"), &RTCP_SR).expect("rtcp");
        assert_eq!(f, Forward { from_port: pa + 1, to: addr("192.0.2.10:30001") });
        // A's RTCP goes to B's (muxed) RTP port, from our RTP port facing B.
        let f = r.handle_packet(Time::ZERO, pa + 1, addr("192.0.2.10:30001"), &RTCP_SR).expect("rtcp");
        assert_eq!(f, Forward { from_port: pb, to: addr("52.114.1.1:50000") });
    }

    #[test]
    fn garbage_unknown_ports_and_missing_destinations_are_counted() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, _]) = r.open().expect("open");
        assert_eq!(r.handle_packet(Time::ZERO, pa, addr("192.0.2.10:30000"), b"hello"), None);
        assert_eq!(r.handle_packet(Time::ZERO, pa, addr("192.0.2.10:30000"), &[0x40; 20]), None);
        assert_eq!(r.counters().dropped_malformed, 2);
        assert_eq!(r.handle_packet(Time::ZERO, pa, addr("192.0.2.10:30000"), &rtp(1)), None);
        assert_eq!(r.counters().dropped_no_destination, 1);
        r.close(s);
        assert_eq!(r.handle_packet(Time::ZERO, pa, addr("192.0.2.10:30000"), &rtp(2)), None);
        assert_eq!(r.counters().dropped_unknown_port, 1);
        assert_eq!(r.streams(), 0);
    }

    #[test]
    fn a_new_sdp_address_releases_the_latch() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [_, pb]) = r.open().expect("open");
        r.set_remote(s, Side::A, remote("192.0.2.10:30000", false));
        r.set_remote(s, Side::B, remote("52.114.1.1:50000", false));
        assert!(r.handle_packet(Time::ZERO, pb, addr("52.114.1.1:50000"), &rtp(1)).is_some());
        // The answer came from another fork with another address.
        r.set_remote(s, Side::B, remote("52.114.2.2:52000", false));
        assert!(r.handle_packet(Time::ZERO, pb, addr("52.114.2.2:52000"), &rtp(1)).is_some());
        assert_eq!(r.handle_packet(Time::ZERO, pb, addr("52.114.1.1:50000"), &rtp(2)), None);
    }
}
