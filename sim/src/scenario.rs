//! Scenario files: the parties, the flow to drive, the faults and the
//! expectations of one certification scenario, as TOML data.
//!
//! Contract: [`Scenario::load`] rejects unknown fields and malformed
//! actions with the file and the field named; [`run`] executes it in the
//! simulated world and checks every expectation from outside the gateway,
//! plus the invariants every scenario has (no call or transaction left in
//! the gateway or the peers once the run has settled).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use gateway::sip::transport::Proto;

use crate::peer::Behaviour;
use crate::world::{Outcome, World};

/// How a party answers calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartySpec {
    pub forks: u32,
    pub ring_after_ms: u64,
    pub early_media: bool,
    pub answer_after_ms: u64,
    /// The clients ring and never answer.
    pub never_answers: bool,
    pub answering_fork: u32,
    /// Reject every INVITE with this status.
    pub reject: Option<u16>,
    /// Teams only: per proxy `up`, `silent` or a status it answers with.
    pub proxies: Vec<String>,
    /// `udp` (default) or `tcp` between this party and the gateway.
    pub transport: String,
    /// The gateway's codec policy toward this party (empty: pass-through).
    pub gateway_codecs: Vec<String>,
    /// The payload type the gateway offers telephone-event at toward this party.
    pub gateway_telephone_event_pt: Option<u8>,
    /// The codecs this party offers and accepts, in order (default PCMU).
    pub codecs: Vec<String>,
    /// This party's telephone-event payload type (default 101).
    pub telephone_event_pt: u8,
    /// This party speaks SRTP (RTP/SAVP with an SDES key); Teams does.
    pub srtp: bool,
    /// The gateway offers SRTP toward this party.
    pub gateway_srtp: bool,
    /// The gateway plays this country's ringback toward this party.
    pub gateway_ringback: Option<String>,
    /// How this party (and the gateway toward it) carries DTMF: `rfc4733` or `info`.
    pub dtmf: String,
    /// The codecs of the client that answers (Teams forks), if not `codecs`.
    pub answer_codecs: Vec<String>,
    /// This party offers CN (RFC 3389) and sends it when silent.
    pub comfort_noise: bool,
    /// The gateway plays comfort noise toward this party (it has no CN).
    pub gateway_comfort_noise: bool,
    /// This party's packetization time, ms (10-60 by 10; default 20).
    pub ptime_ms: u32,
    /// RTCP between the gateway and this party: `relay` (default) or `terminate`.
    pub gateway_rtcp: String,
    /// This party sends RTCP sender reports (every 5 s).
    pub rtcp: bool,
    /// This party's INVITEs carry no SDP (late offer, answered in the ACK).
    pub late_offer: bool,
}

impl Default for PartySpec {
    fn default() -> Self {
        PartySpec {
            forks: 1,
            ring_after_ms: 100,
            early_media: false,
            answer_after_ms: 2000,
            never_answers: false,
            answering_fork: 0,
            reject: None,
            proxies: Vec::new(),
            transport: "udp".into(),
            gateway_codecs: Vec::new(),
            gateway_telephone_event_pt: None,
            codecs: vec!["PCMU".into()],
            telephone_event_pt: 101,
            srtp: false,
            gateway_srtp: false,
            gateway_ringback: None,
            dtmf: "rfc4733".into(),
            answer_codecs: Vec::new(),
            comfort_noise: false,
            gateway_comfort_noise: false,
            ptime_ms: 20,
            gateway_rtcp: "relay".into(),
            rtcp: false,
            late_offer: false,
        }
    }
}

/// The simulated parties' codecs by name.
fn laws(names: &[String]) -> Vec<crate::voice::Voice> {
    names.iter().filter_map(|c| crate::voice::Voice::by_name(c)).collect()
}

impl PartySpec {
    /// The gateway's codec policy toward this party.
    pub fn codec_policy(&self) -> gateway::media::negotiate::LegPolicy {
        gateway::media::negotiate::LegPolicy {
            codecs: self.gateway_codecs.clone(),
            telephone_event_pt: self.gateway_telephone_event_pt,
            srtp: self.gateway_srtp,
            ringback: self.gateway_ringback.clone(),
            dtmf: match self.dtmf.as_str() {
                "info" => gateway::media::negotiate::DtmfMode::Info,
                "notify" => gateway::media::negotiate::DtmfMode::Notify,
                "inband" => gateway::media::negotiate::DtmfMode::InBand,
                _ => gateway::media::negotiate::DtmfMode::Rfc4733,
            },
            drop_attributes: Vec::new(),
            comfort_noise: self.gateway_comfort_noise,
            rtcp_terminate: self.gateway_rtcp == "terminate",
        }
    }

    /// The transport this party uses toward the gateway.
    pub fn proto(&self) -> Proto {
        if self.transport == "tcp" {
            Proto::Tcp
        } else {
            Proto::Udp
        }
    }

    pub fn behaviour(&self) -> Behaviour {
        Behaviour {
            reject: self.reject,
            silent: false,
            forks: self.forks,
            ring_after: Duration::from_millis(self.ring_after_ms),
            early_media: self.early_media,
            answer_after: (!self.never_answers).then(|| Duration::from_millis(self.answer_after_ms)),
            answering_fork: self.answering_fork,
            codecs: laws(&self.codecs),
            answer_codecs: (!self.answer_codecs.is_empty()).then(|| laws(&self.answer_codecs)),
            telephone_event_pt: self.telephone_event_pt,
            srtp: self.srtp,
            dtmf_info: self.dtmf == "info",
            dtmf_notify: self.dtmf == "notify",
            dtmf_inband: self.dtmf == "inband",
            comfort_noise: self.comfort_noise,
            ptime_ms: self.ptime_ms,
            rtcp: self.rtcp,
            late_offer: self.late_offer,
        }
    }
}

/// Network faults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    pub latency_ms: u64,
    /// Probability that a datagram on a lossy link is lost.
    pub loss: f64,
    /// Roles whose links lose datagrams (`operator`, `teams`, `teams-2` ...).
    pub loss_between: Vec<String>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec { latency_ms: 5, loss: 0.0, loss_between: Vec::new() }
    }
}

/// Gateway settings a scenario may change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySpec {
    pub failover_after_ms: u64,
    pub max_calls: usize,
    /// `[media] timeout_s` and `hold_timeout_s` (0: never).
    pub media_timeout_s: u64,
    pub hold_timeout_s: u64,
}

impl Default for GatewaySpec {
    fn default() -> Self {
        GatewaySpec { failover_after_ms: 10_000, max_calls: 100, media_timeout_s: 60, hold_timeout_s: 3600 }
    }
}

/// One step of the flow: at a time, a party does something.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub at_ms: u64,
    #[serde(rename = "do")]
    pub action: Action,
}

/// `"<party> <verb> [argument]"`, e.g. `operator call +14255550100`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub party: String,
    pub verb: String,
    pub arg: Option<String>,
}

const PARTIES: [&str; 6] = ["operator", "teams", "teams-1", "teams-2", "teams-3", "net"];
const VERBS: [&str; 7] = ["call", "hangup", "cancel", "reinvite", "dtmf", "silence", "vanish"];
/// Faults (party `net`, network harness only): `partition a,b`, `repair a,b`,
/// `hold a,b` (messages wait), `release a,b`, `crash gw`, `restart gw`.
const FAULTS: [&str; 6] = ["partition", "repair", "hold", "release", "crash", "restart"];
/// Hosts a fault can name.
const HOSTS: [&str; 5] = ["operator", "gw", "teams-1", "teams-2", "teams-3"];

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut it = s.split_whitespace();
        let (Some(party), Some(verb)) = (it.next(), it.next()) else {
            return Err(serde::de::Error::custom(format!("'{s}': expected '<party> <verb> [argument]'")));
        };
        if !PARTIES.contains(&party) {
            return Err(serde::de::Error::custom(format!("unknown party '{party}' (one of {})", PARTIES.join(", "))));
        }
        let arg = it.next().map(str::to_owned);
        if party == "net" {
            if !FAULTS.contains(&verb) {
                return Err(serde::de::Error::custom(format!("unknown fault '{verb}' (one of {})", FAULTS.join(", "))));
            }
            let hosts: Vec<&str> = arg.as_deref().unwrap_or("").split(',').collect();
            let want = if matches!(verb, "crash" | "restart") { 1 } else { 2 };
            if hosts.len() != want || hosts.iter().any(|h| !HOSTS.contains(h)) || (want == 1 && hosts[0] != "gw") {
                let form = if want == 1 { "gw" } else { "HOST,HOST" };
                return Err(serde::de::Error::custom(format!(
                    "'{s}': expected 'net {verb} {form}' with hosts among {}",
                    HOSTS.join(", ")
                )));
            }
        } else if !VERBS.contains(&verb) {
            return Err(serde::de::Error::custom(format!("unknown action '{verb}' (one of {})", VERBS.join(", "))));
        }
        Ok(Action { party: party.to_owned(), verb: verb.to_owned(), arg })
    }
}

/// An expected value: one integer or a list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Expected {
    One(i64),
    Many(Vec<i64>),
    /// `"<= N"` or `">= N"` against every measured value.
    Bound(String),
}

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub title: String,
    /// `memory` (default): the in-memory world driving the sans-IO core;
    /// `network`: the turmoil world running the production driver loop
    /// (TCP, faults, gateway crash and restart).
    #[serde(default = "default_harness")]
    pub harness: String,
    /// Overrides the run's seed.
    pub seed: Option<u64>,
    #[serde(default)]
    pub operator: PartySpec,
    #[serde(default)]
    pub teams: PartySpec,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub gateway: GatewaySpec,
    pub steps: Vec<Step>,
    /// Fact name -> expected value(s).
    #[serde(default)]
    pub expect: BTreeMap<String, Expected>,
}

/// A scenario that cannot be loaded.
fn default_harness() -> String {
    "memory".into()
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{path}: {why}")]
    Invalid { path: PathBuf, why: String },
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.into(), source })?;
        let sc: Scenario =
            toml::from_str(&text).map_err(|source| ScenarioError::Parse { path: path.into(), source })?;
        let bad = |why: String| ScenarioError::Invalid { path: path.into(), why };
        if !(0.0..=0.5).contains(&sc.network.loss) {
            return Err(bad("network.loss must be between 0 and 0.5".into()));
        }
        if sc.teams.proxies.len() > 3 {
            return Err(bad("teams.proxies: the world has three Teams proxies".into()));
        }
        for p in &sc.teams.proxies {
            if !(p == "up" || p == "silent" || p.parse::<u16>().is_ok_and(|c| (300..700).contains(&c))) {
                return Err(bad(format!("teams.proxies: '{p}' is not up, silent or a status 300-699")));
            }
        }
        for (field, r) in
            [("operator.gateway_rtcp", &sc.operator.gateway_rtcp), ("teams.gateway_rtcp", &sc.teams.gateway_rtcp)]
        {
            if !matches!(r.as_str(), "relay" | "terminate") {
                return Err(bad(format!("{field}: '{r}' is not relay or terminate")));
            }
        }
        for (field, p) in [("operator.ptime_ms", sc.operator.ptime_ms), ("teams.ptime_ms", sc.teams.ptime_ms)] {
            if !(10..=60).contains(&p) || p % 10 != 0 {
                return Err(bad(format!("{field}: {p} is not 10, 20, 30, 40, 50 or 60")));
            }
        }
        for (field, mode) in [("operator.dtmf", &sc.operator.dtmf), ("teams.dtmf", &sc.teams.dtmf)] {
            if !matches!(mode.as_str(), "rfc4733" | "info" | "notify" | "inband") {
                return Err(bad(format!("{field}: '{mode}' is not rfc4733, info, notify or inband")));
            }
        }
        for (field, list) in [
            ("operator.codecs", &sc.operator.codecs),
            ("teams.codecs", &sc.teams.codecs),
            ("teams.answer_codecs", &sc.teams.answer_codecs),
        ] {
            let empty_ok = field.ends_with("answer_codecs");
            if (list.is_empty() && !empty_ok) || list.iter().any(|c| crate::voice::Voice::by_name(c).is_none()) {
                return Err(bad(format!(
                    "{field}: the simulated parties speak PCMU, PCMA, G722, G729 and opus (at least one)"
                )));
            }
        }
        if !matches!(sc.harness.as_str(), "memory" | "network") {
            return Err(bad(format!("harness: '{}' is not memory or network", sc.harness)));
        }
        for (field, t) in [("operator.transport", &sc.operator.transport), ("teams.transport", &sc.teams.transport)] {
            if !matches!(t.as_str(), "udp" | "tcp") {
                return Err(bad(format!("{field}: '{t}' is not udp or tcp")));
            }
            if t == "tcp" && sc.harness != "network" {
                return Err(bad(format!("{field}: tcp needs harness = \"network\"")));
            }
        }
        if sc.harness == "network" {
            if sc.network.loss > 0.0 {
                return Err(bad(
                    "network.loss: random loss is modelled by the memory harness; use partitions here".into()
                ));
            }
            if sc.network.latency_ms >= 1000 {
                return Err(bad("network.latency_ms: must be under 1000 in the network harness".into()));
            }
        } else if let Some(s) = sc.steps.iter().find(|s| s.action.party == "net") {
            return Err(bad(format!("steps: '{} {}' needs harness = \"network\"", s.action.party, s.action.verb)));
        }
        if sc.steps.is_empty() {
            return Err(bad("steps: a scenario needs at least one step".into()));
        }
        Ok(sc)
    }
}

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub name: String,
    pub title: String,
    pub problems: Vec<String>,
    pub outcome: Outcome,
}

fn check(name: &str, want: &Expected, got: Option<&Vec<i64>>) -> Option<String> {
    let Some(got) = got else { return Some(format!("{name}: no such fact")) };
    let ok = match want {
        Expected::One(v) => got.len() == 1 && got[0] == *v || got.is_empty() && *v == 0,
        Expected::Many(v) => got == v,
        Expected::Bound(b) => {
            let b = b.trim();
            let (op, n) = b.split_at(2.min(b.len()));
            match (op, n.trim().parse::<i64>()) {
                ("<=", Ok(n)) => !got.is_empty() && got.iter().all(|g| *g <= n),
                (">=", Ok(n)) => !got.is_empty() && got.iter().all(|g| *g >= n),
                _ => return Some(format!("{name}: '{b}' is not '<= N' or '>= N'")),
            }
        }
    };
    (!ok).then(|| format!("{name}: expected {want:?}, got {got:?}"))
}

/// Run a scenario with `seed` (unless the file fixes one).
pub fn run(name: &str, sc: &Scenario, seed: u64) -> ScenarioRun {
    let seed = sc.seed.unwrap_or(seed);
    let outcome = if sc.harness == "network" { crate::net_world::run(sc, seed) } else { World::new(sc, seed).run(sc) };
    let mut problems: Vec<String> = sc.expect.iter().filter_map(|(k, v)| check(k, v, outcome.facts.get(k))).collect();
    // Invariants of every scenario: nothing leaks once the run settles.
    for (k, v) in &outcome.facts {
        let leak = k.ends_with("open_transactions") || k == "gateway.active_calls" || k == "gateway.media_streams";
        if leak && v.iter().any(|&n| n != 0) {
            problems.push(format!("{k}: {v:?} left at the end (leak)"));
        }
        // Media anchoring: a party only ever hears the address its SDP named.
        if k.ends_with("rtp_unexpected_source") && v.iter().any(|&n| n != 0) {
            problems.push(format!("{k}: {v:?} RTP packets from an address the SDP did not name"));
        }
        // One stream per call toward each party: one SSRC, whatever fed it
        // (forks, re-INVITEs, the gateway's own ringback and digits).
        if k.ends_with("rtp_ssrc_changes") && v.iter().any(|&n| n != 0) {
            problems.push(format!("{k}: {v:?} SSRC changes within a call"));
        }
    }
    ScenarioRun { name: name.to_owned(), title: sc.title.clone(), problems, outcome }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Scenario, String> {
        let dir = std::env::temp_dir().join(format!("bridgehead-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{:x}.toml", text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()));
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let r = Scenario::load(&path).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        r
    }

    const STEP: &str = "[[steps]]\nat_ms = 0\ndo = \"operator call\"\n";

    #[test]
    fn faults_and_tcp_need_the_network_harness() {
        let e = load(&format!("title = \"t\"\n[operator]\ntransport = \"tcp\"\n{STEP}")).unwrap_err();
        assert!(e.contains("operator.transport: tcp needs harness"), "{e}");
        let e = load(&format!("title = \"t\"\n{STEP}[[steps]]\nat_ms = 1\ndo = \"net crash gw\"\n")).unwrap_err();
        assert!(e.contains("'net crash' needs harness"), "{e}");
        let ok =
            load(&format!("title = \"t\"\nharness = \"network\"\n{STEP}[[steps]]\nat_ms = 1\ndo = \"net crash gw\"\n"));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn malformed_faults_name_the_expected_form() {
        for (step, want) in [
            ("net partition gw", "expected 'net partition HOST,HOST'"),
            ("net partition gw,pbx", "expected 'net partition HOST,HOST'"),
            ("net crash teams-1", "expected 'net crash gw'"),
            ("net flood gw", "unknown fault 'flood'"),
        ] {
            let text = format!("title = \"t\"\nharness = \"network\"\n[[steps]]\nat_ms = 0\ndo = \"{step}\"\n");
            let e = load(&text).unwrap_err();
            assert!(e.contains(want), "{step}: {e}");
        }
    }

    #[test]
    fn the_network_harness_refuses_random_loss_and_unknown_harnesses() {
        let e = load(&format!("title = \"t\"\nharness = \"network\"\n[network]\nloss = 0.1\n{STEP}")).unwrap_err();
        assert!(e.contains("network.loss"), "{e}");
        let e = load(&format!("title = \"t\"\nharness = \"lab\"\n{STEP}")).unwrap_err();
        assert!(e.contains("harness: 'lab'"), "{e}");
    }
}
