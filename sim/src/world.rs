//! The in-memory simulated world: the sans-IO gateway, the emulated
//! operator and Teams proxies, and a datagram network between them with
//! latency and seeded loss, all driven by one simulated clock.
//!
//! Contract: [`World::run`] executes a [`Scenario`] deterministically:
//! the same scenario and seed give the same transcript, byte for byte.
//! The transcript records every datagram at the gateway's boundary (sent,
//! delivered or lost) with roles for addresses and ordinal tokens for
//! Call-IDs, tags and branches, plus the gateway's call events. The run
//! ends when nothing is left to do (or at a hard bound of simulated time),
//! after which the leak checks read the tables from outside.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use gateway::b2bua::{Gateway, GatewayConfig, MediaConfig, Target};
use gateway::media::relay::RelayConfig;
use gateway::rng::Rng;
use gateway::sip::transaction::TimerConfig;
use gateway::sip::transport::{Output, TransportConfig};
use gateway::time::Time;

use crate::peer::Peer;
pub use crate::record::{Captured, Outcome};
use crate::record::{GatewayState, Recorder};
use crate::scenario::{Action, Scenario};

/// The gateway's address in the simulated network.
pub const GW: &str = "198.51.100.1:5060";
/// The operator's SIP core.
pub const OPERATOR: &str = "192.0.2.10:5060";
/// The three Teams SIP proxies.
pub const TEAMS: [&str; 3] = ["192.0.2.101:5061", "192.0.2.102:5061", "192.0.2.103:5061"];

/// Simulated time never runs past this (a scenario that does not settle fails).
const HORIZON: Duration = Duration::from_secs(600);

/// A built-in address of the world.
pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("built-in address")
}

/// One datagram in flight.
#[derive(Debug, Clone)]
struct Packet {
    from: SocketAddr,
    to: SocketAddr,
    data: Bytes,
}

/// The world of one scenario run.
pub struct World {
    now: Time,
    seq: u64,
    queue: BTreeMap<(Time, u64), Packet>,
    gw: Gateway,
    peers: Vec<Peer>,
    loss_rng: Rng,
    loss: f64,
    loss_roles: Vec<String>,
    latency: Duration,
    rec: Recorder,
}

/// The roles of the world's hosts, in ladder order.
pub fn roles() -> Vec<(IpAddr, &'static str)> {
    vec![
        (addr(OPERATOR).ip(), "operator"),
        (addr(GW).ip(), "gw"),
        (addr(TEAMS[0]).ip(), "teams-1"),
        (addr(TEAMS[1]).ip(), "teams-2"),
        (addr(TEAMS[2]).ip(), "teams-3"),
    ]
}

/// The gateway's configuration in the world a scenario describes.
pub fn gateway_config(sc: &Scenario) -> GatewayConfig {
    let teams_proto = sc.teams.proto();
    let teams_targets: Vec<Target> = TEAMS
        .iter()
        .enumerate()
        .map(|(i, a)| Target { proto: teams_proto, addr: addr(a), host: format!("sip{}.pstnhub.example", i + 1) })
        .collect();
    GatewayConfig {
        fqdn: "sbc1.example.com".into(),
        port: 5060,
        operator: Target { proto: sc.operator.proto(), addr: addr(OPERATOR), host: "core.operator.example".into() },
        teams: teams_targets,
        timers: TimerConfig::default(),
        transport: TransportConfig::default(),
        max_calls: sc.gateway.max_calls,
        max_transactions: 10_000,
        failover_after: Duration::from_millis(sc.gateway.failover_after_ms),
        failover_statuses: vec![408, 503, 504],
        sbc_header: "Bridgehead/sim".into(),
        failure_map: Vec::new(),
        media: Some(MediaConfig {
            address: addr(GW).ip(),
            relay: RelayConfig { port_min: 20_000, port_max: 20_999, max_transcoders: 64 },
            operator: sc.operator.codec_policy(),
            teams: sc.teams.codec_policy(),
            timeout: (sc.gateway.media_timeout_s > 0).then(|| Duration::from_secs(sc.gateway.media_timeout_s)),
            hold_timeout: (sc.gateway.hold_timeout_s > 0).then(|| Duration::from_secs(sc.gateway.hold_timeout_s)),
        }),
    }
}

/// The emulated parties a scenario describes: the operator, then the three Teams proxies.
pub fn peers(sc: &Scenario, seed: u64) -> Vec<Peer> {
    let mut peers = vec![Peer::new("operator", addr(OPERATOR), addr(GW), sc.operator.behaviour(), seed ^ 0x0b)
        .with_transport(sc.operator.proto())];
    for (i, a) in TEAMS.iter().enumerate() {
        let role = format!("teams-{}", i + 1);
        let mut b = sc.teams.behaviour();
        match sc.teams.proxies.get(i).map(String::as_str) {
            Some("silent") => b.silent = true,
            Some(code) if code.parse::<u16>().is_ok() => b.reject = code.parse().ok(),
            _ => {}
        }
        peers.push(Peer::new(&role, addr(a), addr(GW), b, seed ^ (0x7e + i as u64)).with_transport(sc.teams.proto()));
    }
    peers
}

/// The peer a scenario step names (`teams` is `teams-1`).
pub fn party_index(peers: &[Peer], party: &str) -> Option<usize> {
    let role = if party == "teams" { "teams-1" } else { party };
    peers.iter().position(|p| p.role == role)
}

/// The transcript line of a step.
pub fn step_line(action: &Action) -> String {
    let arg = action.arg.as_deref().map(|a| format!(" {a}")).unwrap_or_default();
    format!("-- {} {}{arg}", action.party, action.verb)
}

impl World {
    /// Build the world a scenario describes.
    pub fn new(sc: &Scenario, seed: u64) -> World {
        World {
            now: Time::ZERO,
            seq: 0,
            queue: BTreeMap::new(),
            gw: Gateway::new(gateway_config(sc), seed),
            peers: peers(sc, seed),
            loss_rng: Rng::seeded(seed ^ 0x1055),
            loss: sc.network.loss,
            loss_roles: sc.network.loss_between.clone(),
            latency: Duration::from_millis(sc.network.latency_ms),
            rec: Recorder::new(&roles()),
        }
    }

    /// Put a datagram on the network (with loss on the configured links).
    fn send(&mut self, from: SocketAddr, to: SocketAddr, data: Bytes) {
        let sip = |a: &SocketAddr| a.port() == 5060 || a.port() == 5061;
        let media = !sip(&from) && !sip(&to);
        let on_lossy_link = self.loss > 0.0 && {
            let (f, t) = (self.rec.role(&from), self.rec.role(&to));
            self.loss_roles
                .iter()
                .any(|r| *r == f || *r == t || (r == "teams" && (f.starts_with("teams") || t.starts_with("teams"))))
        };
        let lost = on_lossy_link && (self.loss_rng.next_u64() as f64 / u64::MAX as f64) < self.loss;
        let gw_side = from.ip() == addr(GW).ip() || to.ip() == addr(GW).ip();
        if media {
            if gw_side {
                self.rec.media(from, to, &data, lost);
            }
        } else {
            self.rec.datagram(self.now, from, to, &data, lost);
        }
        if lost {
            return;
        }
        self.seq += 1;
        self.queue.insert((self.now + self.latency, self.seq), Packet { from, to, data });
    }

    fn flush(&mut self) {
        while let Some(o) = self.gw.poll_output() {
            if let Output::Datagram { to, data } = o {
                self.send(addr(GW), to, data);
            }
        }
        for i in 0..self.peers.len() {
            let from = self.peers[i].addr;
            for (to, data) in self.peers[i].take_output() {
                self.send(from, to, data);
            }
            let from = self.peers[i].media_addr();
            for (to, data) in self.peers[i].take_media_output() {
                self.send(from, to, data);
            }
        }
        while let Some(e) = self.gw.poll_event() {
            self.rec.event(self.now, e);
        }
        while let Some((port, to, data)) = self.gw.poll_media_packet() {
            self.send(SocketAddr::new(addr(GW).ip(), port), to, Bytes::from(data));
        }
    }

    fn act(&mut self, action: &Action) {
        self.rec.note(self.now, &step_line(action));
        if let Some(i) = party_index(&self.peers, &action.party) {
            self.peers[i].act(self.now, &action.verb, action.arg.as_deref());
        }
    }

    /// Run the scenario to its end.
    pub fn run(mut self, sc: &Scenario) -> Outcome {
        let mut steps: Vec<(Time, &Action)> =
            sc.steps.iter().map(|s| (Time::from_millis(s.at_ms), &s.action)).collect();
        steps.sort_by_key(|(t, _)| *t);
        let mut next_step = 0;
        loop {
            let step_at = steps.get(next_step).map(|(t, _)| *t);
            let packet_at = self.queue.keys().next().map(|(t, _)| *t);
            let peer_at = self.peers.iter().filter_map(Peer::next_deadline).min();
            let gw_at = self.gw.poll_timeout();
            let Some(next) = [step_at, packet_at, peer_at, gw_at].into_iter().flatten().min() else { break };
            if next > Time::ZERO + HORIZON {
                self.rec.note(self.now, "horizon reached: the scenario did not settle");
                break;
            }
            self.now = self.now.max(next);
            if step_at == Some(next) {
                let action = steps[next_step].1;
                next_step += 1;
                self.act(action);
            } else if packet_at == Some(next) {
                if let Some((_, p)) = self.queue.pop_first() {
                    if p.to == addr(GW) {
                        self.gw.handle_datagram(self.now, p.from, p.data);
                    } else if p.to.ip() == addr(GW).ip() {
                        let mut buf = p.data.to_vec();
                        let len = buf.len();
                        buf.resize(gateway::media::relay::MEDIA_BUFFER.max(len + 16), 0);
                        if let Some((f, n)) = self.gw.handle_media(self.now, p.to.port(), p.from, &mut buf, len) {
                            buf.truncate(n);
                            self.send(SocketAddr::new(p.to.ip(), f.from_port), f.to, Bytes::from(buf));
                        }
                    } else if let Some(peer) = self.peers.iter_mut().find(|x| x.addr == p.to) {
                        peer.handle_datagram(self.now, p.from, p.data);
                    } else if let Some(peer) = self.peers.iter_mut().find(|x| x.media_addr() == p.to) {
                        peer.handle_media(p.from, &p.data);
                    } else if let Some(peer) = self.peers.iter_mut().find(|x| {
                        let m = x.media_addr();
                        (m.ip(), m.port() + 1) == (p.to.ip(), p.to.port())
                    }) {
                        peer.handle_rtcp(&p.data);
                    }
                }
            } else if gw_at == Some(next) {
                self.gw.handle_timeout(self.now);
            } else {
                for p in &mut self.peers {
                    if p.next_deadline() == Some(next) {
                        p.handle_timeout(next);
                    }
                }
            }
            self.flush();
        }
        let peers: Vec<&Peer> = self.peers.iter().collect();
        let facts = self.rec.facts(&GatewayState::of(&self.gw), &peers);
        self.rec.finish(facts, self.now)
    }
}
