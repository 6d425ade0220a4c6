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

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gateway::b2bua::{Gateway, GatewayConfig, GatewayEvent, Target};
use gateway::rng::Rng;
use gateway::sip::msg::{HeaderName, Message};
use gateway::sip::transaction::TimerConfig;
use gateway::sip::transport::{Output, Proto, TransportConfig};
use gateway::time::Time;

use crate::peer::Peer;
use crate::scenario::{Action, Scenario};

/// The gateway's address in the simulated network.
pub const GW: &str = "198.51.100.1:5060";
/// The operator's SIP core.
pub const OPERATOR: &str = "192.0.2.10:5060";
/// The three Teams SIP proxies.
pub const TEAMS: [&str; 3] = ["192.0.2.101:5061", "192.0.2.102:5061", "192.0.2.103:5061"];

/// Simulated time never runs past this (a scenario that does not settle fails).
const HORIZON: Duration = Duration::from_secs(600);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("built-in address")
}

/// One datagram in flight.
#[derive(Debug, Clone)]
struct Packet {
    from: SocketAddr,
    to: SocketAddr,
    data: Bytes,
}

/// A captured datagram (for the pcap).
#[derive(Debug, Clone)]
pub struct Captured {
    pub at: Time,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Bytes,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub transcript: String,
    /// Measured facts, by name, for the expectations.
    pub facts: BTreeMap<String, Vec<i64>>,
    pub captured: Vec<Captured>,
    /// Mermaid sequence diagram of the SIP messages.
    pub ladder: String,
    /// Simulated time at the end.
    pub ended_at: Time,
}

/// Replaces identifiers with ordinal tokens on first sight.
#[derive(Default)]
struct Tokens {
    map: HashMap<(char, String), usize>,
    next: HashMap<char, usize>,
}

impl Tokens {
    fn token(&mut self, kind: char, value: &str, name: &str) -> String {
        let n = match self.map.get(&(kind, value.to_owned())) {
            Some(n) => *n,
            None => {
                let n = self.next.entry(kind).or_insert(0);
                *n += 1;
                self.map.insert((kind, value.to_owned()), *n);
                *n
            }
        };
        format!("[{name}-{n}]")
    }
}

/// The world of one scenario run.
pub struct World {
    now: Time,
    seq: u64,
    queue: BTreeMap<(Time, u64), Packet>,
    gw: Gateway,
    peers: Vec<Peer>,
    roles: HashMap<SocketAddr, String>,
    loss_rng: Rng,
    loss: f64,
    loss_roles: Vec<String>,
    latency: Duration,
    tokens: Tokens,
    transcript: String,
    ladder: String,
    captured: Vec<Captured>,
    events: Vec<GatewayEvent>,
}

impl World {
    /// Build the world a scenario describes.
    pub fn new(sc: &Scenario, seed: u64) -> World {
        let teams_targets: Vec<Target> = TEAMS
            .iter()
            .enumerate()
            .map(|(i, a)| Target { proto: Proto::Udp, addr: addr(a), host: format!("sip{}.pstnhub.example", i + 1) })
            .collect();
        let cfg = GatewayConfig {
            fqdn: "sbc1.example.com".into(),
            port: 5060,
            operator: Target { proto: Proto::Udp, addr: addr(OPERATOR), host: "core.operator.example".into() },
            teams: teams_targets,
            timers: TimerConfig::default(),
            transport: TransportConfig::default(),
            max_calls: sc.gateway.max_calls,
            max_transactions: 10_000,
            failover_after: Duration::from_millis(sc.gateway.failover_after_ms),
            failover_statuses: vec![408, 503, 504],
            sbc_header: "Bridgehead/sim".into(),
            failure_map: Vec::new(),
        };
        let mut roles = HashMap::new();
        roles.insert(addr(GW), "gw".to_owned());
        roles.insert(addr(OPERATOR), "operator".to_owned());
        let mut peers = vec![Peer::new("operator", addr(OPERATOR), addr(GW), sc.operator.behaviour(), seed ^ 0x0b)];
        for (i, a) in TEAMS.iter().enumerate() {
            let role = format!("teams-{}", i + 1);
            roles.insert(addr(a), role.clone());
            let mut b = sc.teams.behaviour();
            match sc.teams.proxies.get(i).map(String::as_str) {
                Some("silent") => b.silent = true,
                Some(code) if code.parse::<u16>().is_ok() => b.reject = code.parse().ok(),
                _ => {}
            }
            peers.push(Peer::new(&role, addr(a), addr(GW), b, seed ^ (0x7e + i as u64)));
        }
        World {
            now: Time::ZERO,
            seq: 0,
            queue: BTreeMap::new(),
            gw: Gateway::new(cfg, seed),
            peers,
            roles,
            loss_rng: Rng::seeded(seed ^ 0x1055),
            loss: sc.network.loss,
            loss_roles: sc.network.loss_between.clone(),
            latency: Duration::from_millis(sc.network.latency_ms),
            tokens: Tokens::default(),
            transcript: String::new(),
            ladder: String::from("sequenceDiagram\n    participant operator\n    participant gw\n    participant teams-1\n    participant teams-2\n    participant teams-3\n"),
            captured: Vec::new(),
            events: Vec::new(),
        }
    }

    fn role(&self, a: &SocketAddr) -> String {
        self.roles.get(a).cloned().unwrap_or_else(|| "unknown".to_owned())
    }

    /// A one-line summary of a SIP message with tokens for identifiers.
    fn summary(&mut self, data: &Bytes) -> (String, String) {
        let Ok(m) = Message::parse_datagram(data.clone()) else {
            return ("(not SIP)".to_owned(), "?".to_owned());
        };
        let call = m.call_id().map(|c| self.tokens.token('c', c, "call")).unwrap_or_default();
        let ftag = m.from().ok().and_then(|f| f.tag().map(str::to_owned)).map(|t| self.tokens.token('t', &t, "tag"));
        let ttag = m.to().ok().and_then(|f| f.tag().map(str::to_owned)).map(|t| self.tokens.token('t', &t, "tag"));
        let branch =
            m.top_via().ok().and_then(|v| v.branch().map(str::to_owned)).map(|b| self.tokens.token('b', &b, "branch"));
        let cseq = m.cseq().map(|c| format!("{} {}", c.seq, c.method_str)).unwrap_or_default();
        let head = match (m.method_str(), m.status()) {
            (Some(method), _) => {
                let user = m
                    .request_uri_str()
                    .and_then(|u| gateway::sip::msg::Uri::parse(u).ok())
                    .and_then(|u| u.user.map(str::to_owned));
                format!("{method} {}", user.unwrap_or_else(|| "-".to_owned()))
            }
            (_, Some(s)) => format!("{s} {}", m.reason().unwrap_or("")),
            _ => "?".to_owned(),
        };
        let body = if m.body().is_empty() {
            String::new()
        } else {
            format!(" +{}", m.header_value(HeaderName::ContentType).unwrap_or("body"))
        };
        let line = format!(
            "{head:<26} {call} f{} t{} {} cseq {cseq}{body}",
            ftag.unwrap_or_else(|| "-".into()),
            ttag.unwrap_or_else(|| "-".into()),
            branch.unwrap_or_else(|| "-".into()),
        );
        (line, head)
    }

    fn log(&mut self, from: SocketAddr, to: SocketAddr, data: &Bytes, lost: bool) {
        let (line, head) = self.summary(data);
        let (f, t) = (self.role(&from), self.role(&to));
        let mark = if lost { "  (lost)" } else { "" };
        self.transcript.push_str(&format!("{:>9}  {f:>8} -> {t:<8}  {line}{mark}\n", self.now.to_string()));
        let arrow = if lost { "-x" } else { "->>" };
        self.ladder.push_str(&format!("    {f}{arrow}{t}: {head}\n"));
        if !lost {
            self.captured.push(Captured { at: self.now, from, to, data: data.clone() });
        }
    }

    /// Put a datagram on the network (with loss on the configured links).
    fn send(&mut self, from: SocketAddr, to: SocketAddr, data: Bytes) {
        let on_lossy_link = self.loss > 0.0 && {
            let (f, t) = (self.role(&from), self.role(&to));
            self.loss_roles
                .iter()
                .any(|r| *r == f || *r == t || (r == "teams" && (f.starts_with("teams") || t.starts_with("teams"))))
        };
        let lost = on_lossy_link && (self.loss_rng.next_u64() as f64 / u64::MAX as f64) < self.loss;
        self.log(from, to, &data, lost);
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
        }
        while let Some(e) = self.gw.poll_event() {
            let line = match &e {
                GatewayEvent::CallStarted { call, from } => format!("call {} started from {from:?}", call.0),
                GatewayEvent::CallAnswered { call } => format!("call {} answered", call.0),
                GatewayEvent::CallEnded { call, status, reason } => {
                    format!("call {} ended: {status} ({reason})", call.0)
                }
                GatewayEvent::Failover { call, from, to, why } => {
                    format!("call {} fails over from teams-{} to teams-{} ({why})", call.0, from + 1, to + 1)
                }
            };
            self.transcript.push_str(&format!("{:>9}  gw: {line}\n", self.now.to_string()));
            self.events.push(e);
        }
    }

    fn peer_mut(&mut self, role: &str) -> Option<&mut Peer> {
        let role = if role == "teams" { "teams-1" } else { role };
        self.peers.iter_mut().find(|p| p.role == role)
    }

    fn act(&mut self, action: &Action) {
        let now = self.now;
        let arg = action.arg.as_deref().map(|a| format!(" {a}")).unwrap_or_default();
        self.transcript.push_str(&format!("{:>9}  -- {} {}{arg}\n", now.to_string(), action.party, action.verb));
        let Some(p) = self.peer_mut(&action.party) else { return };
        match action.verb.as_str() {
            "call" => p.call(now, action.arg.as_deref().unwrap_or("+14255550100")),
            "hangup" => p.in_dialog_request(now, "BYE", ""),
            "cancel" => p.cancel(now),
            "reinvite" => p.in_dialog_request(now, "INVITE", action.arg.as_deref().unwrap_or("sendrecv")),
            _ => {}
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
                self.transcript.push_str("  horizon reached: the scenario did not settle\n");
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
                    } else if let Some(peer) = self.peers.iter_mut().find(|x| x.addr == p.to) {
                        peer.handle_datagram(self.now, p.from, p.data);
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
        let mut facts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let count = |f: &dyn Fn(&GatewayEvent) -> bool| self.events.iter().filter(|e| f(e)).count() as i64;
        facts.insert("gateway.calls_started".into(), vec![count(&|e| matches!(e, GatewayEvent::CallStarted { .. }))]);
        facts.insert("gateway.calls_answered".into(), vec![count(&|e| matches!(e, GatewayEvent::CallAnswered { .. }))]);
        facts.insert("gateway.calls_ended".into(), vec![count(&|e| matches!(e, GatewayEvent::CallEnded { .. }))]);
        facts.insert("gateway.failovers".into(), vec![count(&|e| matches!(e, GatewayEvent::Failover { .. }))]);
        facts.insert(
            "gateway.ended_statuses".into(),
            self.events
                .iter()
                .filter_map(|e| {
                    if let GatewayEvent::CallEnded { status, .. } = e {
                        Some(i64::from(*status))
                    } else {
                        None
                    }
                })
                .collect(),
        );
        facts.insert("gateway.active_calls".into(), vec![self.gw.active_calls() as i64]);
        facts.insert("gateway.open_transactions".into(), vec![self.gw.transactions() as i64]);
        let mut teams_invites = 0;
        for p in &self.peers {
            let o = &p.observed;
            let r = &p.role;
            facts.insert(format!("{r}.finals"), o.finals.iter().map(|&s| i64::from(s)).collect());
            facts.insert(format!("{r}.invites_received"), vec![i64::from(o.invites_received)]);
            facts.insert(format!("{r}.byes_received"), vec![i64::from(o.byes_received)]);
            facts.insert(format!("{r}.cancels_received"), vec![i64::from(o.cancels_received)]);
            facts.insert(format!("{r}.reinvites_received"), vec![i64::from(o.reinvites_received)]);
            facts.insert(format!("{r}.ringing_tags"), vec![o.provisional_tags.len() as i64]);
            facts.insert(
                format!("{r}.in_dialog_finals"),
                o.in_dialog_finals.iter().map(|(_, s)| i64::from(*s)).collect(),
            );
            facts.insert(format!("{r}.pdd_ms"), o.pdd_ms.iter().map(|&d| d as i64).collect());
            facts.insert(format!("{r}.open_transactions"), vec![p.open_transactions() as i64]);
            if r.starts_with("teams") {
                teams_invites += i64::from(o.invites_received);
            }
        }
        facts.insert("teams.invites_received".into(), vec![teams_invites]);
        Outcome { transcript: self.transcript, facts, captured: self.captured, ladder: self.ladder, ended_at: self.now }
    }
}
