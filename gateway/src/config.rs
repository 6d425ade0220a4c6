//! The gateway's configuration file (TOML) and its validation.
//!
//! Contract: [`Config::from_toml`] reads the file and checks every field;
//! it returns either a complete configuration or every error found, each
//! naming the field (`teams.proxies[1].address`) and the reason. Nothing
//! is defaulted silently except the fields documented as optional in
//! `gateway/config.example.toml`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::b2bua::{GatewayConfig, MediaConfig, Target};
use crate::media::negotiate::{DtmfMode, LegPolicy};
use crate::media::relay::RelayConfig;
use crate::sip::msg::Limits;
use crate::sip::transaction::TimerConfig;
use crate::sip::transport::{Proto, TransportConfig};

/// One configuration fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), reason: reason.into() }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    sip: RawSip,
    operator: RawTarget,
    teams: RawTeams,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    timers: RawTimers,
    #[serde(default)]
    shutdown: RawShutdown,
    /// Media anchoring; absent: signalling only (SDP crosses unchanged).
    media: Option<RawMedia>,
    /// Failure statuses rewritten toward the caller: "503" = 480.
    #[serde(default)]
    failure_map: std::collections::BTreeMap<String, u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSip {
    fqdn: String,
    listen: String,
    seed: Option<u64>,
    sbc_header: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    /// The address written in SDP; default: the `sip.listen` address.
    address: Option<String>,
    #[serde(default = "default_port_min")]
    port_min: u16,
    #[serde(default = "default_port_max")]
    port_max: u16,
    /// Codec transcoders (one per direction) at once; G.711 law conversion is free.
    #[serde(default = "default_max_transcoders")]
    max_transcoders: usize,
    #[serde(default)]
    operator: RawLegPolicy,
    #[serde(default)]
    teams: RawLegPolicy,
    /// Connect a port's send socket to the destination it keeps sending to.
    connect: Option<bool>,
    /// The local address the media ports bind; default: sip.listen's.
    bind: Option<String>,
    /// Hang up an answered call after this long without RTP/RTCP (0: never).
    #[serde(default = "default_media_timeout")]
    timeout_s: u64,
    /// The same while the call is on hold (0: never).
    #[serde(default = "default_hold_timeout")]
    hold_timeout_s: u64,
}

fn default_media_timeout() -> u64 {
    60
}

fn default_hold_timeout() -> u64 {
    3600
}

/// The codec policy toward one side.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLegPolicy {
    #[serde(default)]
    codecs: Vec<String>,
    telephone_event_pt: Option<u8>,
    /// Offer SRTP (SDES) toward this side.
    #[serde(default)]
    srtp: bool,
    /// Ringback played toward this side when its call rings without early media.
    ringback: Option<String>,
    /// How this side carries DTMF: "rfc4733" (default), "info", "notify" or "inband".
    dtmf: Option<String>,
    /// Media attributes never sent toward this side ("x-*" for a prefix).
    #[serde(default)]
    drop_attributes: Vec<String>,
    /// Play comfort noise toward this side when the other is silent with CN.
    #[serde(default)]
    comfort_noise: bool,
    /// RTCP toward this side: "relay" (default) or "terminate".
    rtcp: Option<String>,
}

/// Voice codecs a policy may name (pass-through for all; the gateway
/// transcodes between PCMU, PCMA, G722, G729 and opus).
const KNOWN_CODECS: [&str; 8] = ["PCMU", "PCMA", "G722", "G729", "opus", "SILK", "AMR", "AMR-WB"];

fn leg_policy(field: &str, raw: &RawLegPolicy, errors: &mut Vec<ConfigError>) -> LegPolicy {
    for (i, c) in raw.codecs.iter().enumerate() {
        if !KNOWN_CODECS.iter().any(|k| k.eq_ignore_ascii_case(c)) {
            errors
                .push(err(format!("{field}.codecs[{i}]"), format!("'{c}' is not one of {}", KNOWN_CODECS.join(", "))));
        }
    }
    if let Some(pt) = raw.telephone_event_pt {
        if !(96..=127).contains(&pt) {
            errors.push(err(format!("{field}.telephone_event_pt"), "a dynamic payload type is 96-127"));
        }
    }
    if let Some(c) = &raw.ringback {
        if crate::media::tone::ringback(c, 8000).is_none() {
            errors.push(err(format!("{field}.ringback"), format!("'{c}' is not a known country (us, uk, de, fr ...)")));
        }
    }
    let dtmf = match raw.dtmf.as_deref() {
        None | Some("rfc4733") => DtmfMode::Rfc4733,
        Some("info") => DtmfMode::Info,
        Some("notify") => DtmfMode::Notify,
        Some("inband") => DtmfMode::InBand,
        Some(other) => {
            errors.push(err(format!("{field}.dtmf"), format!("'{other}' is not rfc4733, info, notify or inband")));
            DtmfMode::Rfc4733
        }
    };
    // In-band DTMF is detected and played in G.711: such a leg speaks it.
    let mut codecs = raw.codecs.clone();
    if dtmf == DtmfMode::InBand {
        let g711 = |c: &String| c.eq_ignore_ascii_case("PCMU") || c.eq_ignore_ascii_case("PCMA");
        if codecs.is_empty() {
            codecs = vec!["PCMU".into(), "PCMA".into()];
        } else if let Some((i, c)) = codecs.iter().enumerate().find(|(_, c)| !g711(c)) {
            errors.push(err(
                format!("{field}.codecs[{i}]"),
                format!("'{c}': with dtmf = \"inband\" only PCMU and PCMA (tones are detected and played in G.711)"),
            ));
        }
    }
    let rtcp_terminate = match raw.rtcp.as_deref() {
        None | Some("relay") => false,
        Some("terminate") => true,
        Some(other) => {
            errors.push(err(format!("{field}.rtcp"), format!("'{other}' is not relay or terminate")));
            false
        }
    };
    LegPolicy {
        codecs,
        telephone_event_pt: raw.telephone_event_pt,
        srtp: raw.srtp,
        ringback: raw.ringback.clone(),
        dtmf,
        drop_attributes: raw.drop_attributes.clone(),
        comfort_noise: raw.comfort_noise,
        rtcp_terminate,
    }
}

fn default_port_min() -> u16 {
    40_000
}
fn default_port_max() -> u16 {
    59_999
}
fn default_max_transcoders() -> usize {
    crate::media::relay::DEFAULT_MAX_TRANSCODERS
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    address: String,
    transport: String,
    host: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeams {
    proxies: Vec<RawTarget>,
    #[serde(default = "default_failover_ms")]
    failover_after_ms: u64,
    #[serde(default = "default_failover_statuses")]
    failover_statuses: Vec<u16>,
}

fn default_failover_ms() -> u64 {
    10_000
}
fn default_failover_statuses() -> Vec<u16> {
    vec![408, 503, 504]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_calls: usize,
    /// Default: [`TRANSACTIONS_PER_CALL`] per allowed call.
    max_transactions: Option<usize>,
    max_connections: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits { max_calls: 10_000, max_transactions: None, max_connections: 4096 }
    }
}

/// Transactions budgeted per allowed call when `limits.max_transactions`
/// is not given. A call holds up to four at once (INVITE on each leg, a
/// BYE or re-INVITE on each), and finished ones linger up to 64*T1 (32 s)
/// to absorb retransmissions, so the table must also cover calls that
/// ended in the last half minute: at 10,000 calls that is 160,000
/// transactions, enough for about 1,250 new calls per second sustained.
pub const TRANSACTIONS_PER_CALL: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTimers {
    t1_ms: u64,
    t2_ms: u64,
    t4_ms: u64,
}

impl Default for RawTimers {
    fn default() -> Self {
        RawTimers { t1_ms: 500, t2_ms: 4000, t4_ms: 5000 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawShutdown {
    drain_timeout_s: u64,
}

impl Default for RawShutdown {
    fn default() -> Self {
        RawShutdown { drain_timeout_s: 30 }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewayConfig,
    /// Where the SIP listeners bind (UDP and TCP on the same address).
    pub listen: SocketAddr,
    /// RNG seed; `None`: the shell draws one from the OS.
    pub seed: Option<u64>,
    /// SIGTERM: stop taking calls, wait this long for calls to end.
    pub drain_timeout: Duration,
    /// How the shell's media sockets use the kernel (`[media] connect`).
    pub media_io: crate::io::media::MediaIo,
    /// Where the media ports bind (`[media] bind`; default: the `listen`
    /// address, a wildcard binding every address).
    pub media_bind: std::net::IpAddr,
}

fn target(raw: &RawTarget, field: &str, errors: &mut Vec<ConfigError>) -> Option<Target> {
    let addr = match raw.address.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            errors.push(err(format!("{field}.address"), format!("'{}' is not an IP:port address", raw.address)));
            None
        }
    };
    let proto = match raw.transport.to_ascii_lowercase().as_str() {
        "udp" => Some(Proto::Udp),
        "tcp" => Some(Proto::Tcp),
        "tls" => {
            errors.push(err(
                format!("{field}.transport"),
                "tls is not available in this build yet (the shell carries udp and tcp)",
            ));
            None
        }
        other => {
            errors.push(err(format!("{field}.transport"), format!("'{other}' is not one of udp, tcp, tls")));
            None
        }
    };
    let host = raw.host.clone().or_else(|| addr.map(|a| a.to_string()));
    if let Some(h) = &host {
        if h.is_empty() || h.bytes().any(|b| b.is_ascii_whitespace() || b"<>\";@".contains(&b)) {
            errors.push(err(format!("{field}.host"), format!("'{h}' is not a host name")));
        }
    }
    Some(Target { proto: proto?, addr: addr?, host: host? })
}

impl Config {
    /// Parse and validate a TOML configuration.
    pub fn from_toml(text: &str) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let field = e.span().map_or_else(|| "file".to_owned(), |s| line_col(text, s.start));
            vec![err(field, e.message().to_owned())]
        })?;
        let mut errors = Vec::new();
        let fqdn = raw.sip.fqdn.trim().to_owned();
        if fqdn.is_empty() || crate::sip::msg::Host::parse(&fqdn).is_err() {
            errors.push(err("sip.fqdn", format!("'{fqdn}' is not a host name")));
        }
        let listen = raw.sip.listen.parse::<SocketAddr>().map_err(|_| {
            errors.push(err("sip.listen", format!("'{}' is not an IP:port address", raw.sip.listen)));
        });
        let operator = target(&raw.operator, "operator", &mut errors);
        if raw.teams.proxies.is_empty() {
            errors.push(err("teams.proxies", "at least one Teams SIP proxy is needed"));
        }
        if raw.teams.proxies.len() > 8 {
            errors.push(err("teams.proxies", "at most 8 proxies"));
        }
        let teams: Vec<Option<Target>> = raw
            .teams
            .proxies
            .iter()
            .enumerate()
            .map(|(i, p)| target(p, &format!("teams.proxies[{i}]"), &mut errors))
            .collect();
        for s in &raw.teams.failover_statuses {
            if !(400..=699).contains(s) {
                errors.push(err("teams.failover_statuses", format!("{s} is not a failure status (400-699)")));
            }
        }
        if !(1000..=120_000).contains(&raw.teams.failover_after_ms) {
            errors.push(err("teams.failover_after_ms", "must be between 1000 and 120000"));
        }
        let t = &raw.timers;
        if !(50..=10_000).contains(&t.t1_ms) {
            errors.push(err("timers.t1_ms", "must be between 50 and 10000"));
        }
        if t.t2_ms < t.t1_ms {
            errors.push(err("timers.t2_ms", "must not be below timers.t1_ms"));
        }
        if t.t4_ms == 0 || t.t4_ms > 60_000 {
            errors.push(err("timers.t4_ms", "must be between 1 and 60000"));
        }
        let l = &raw.limits;
        let max_transactions =
            l.max_transactions.unwrap_or(l.max_calls.saturating_mul(TRANSACTIONS_PER_CALL).min(10_000_000));
        for (name, v, max) in [
            ("limits.max_calls", l.max_calls, 1_000_000),
            ("limits.max_transactions", max_transactions, 10_000_000),
            ("limits.max_connections", l.max_connections, 1_000_000),
        ] {
            if v == 0 || v > max {
                errors.push(err(name, format!("must be between 1 and {max}")));
            }
        }
        if max_transactions < l.max_calls {
            errors.push(err("limits.max_transactions", "must be at least limits.max_calls"));
        }
        let mut failure_map = Vec::new();
        for (from, to) in &raw.failure_map {
            let field = format!("failure_map.{from}");
            match from.parse::<u16>() {
                Ok(f) if (300..=699).contains(&f) && f != 487 => {
                    if (300..=699).contains(to) {
                        failure_map.push((f, *to));
                    } else {
                        errors.push(err(field, format!("{to} is not a failure status (300-699)")));
                    }
                }
                _ => errors.push(err(field, "the key must be a failure status 300-699 other than 487")),
            }
        }
        if raw.shutdown.drain_timeout_s > 3600 {
            errors.push(err("shutdown.drain_timeout_s", "at most 3600"));
        }
        let sbc_header = raw.sip.sbc_header.unwrap_or_else(|| format!("Bridgehead/{}", env!("CARGO_PKG_VERSION")));
        if sbc_header.bytes().any(|b| b < 0x20) {
            errors.push(err("sip.sbc_header", "control characters are not allowed"));
        }
        let defaults = crate::io::media::MediaIo::default();
        let media_io = raw
            .media
            .as_ref()
            .map_or(defaults, |m| crate::io::media::MediaIo { connect: m.connect.unwrap_or(defaults.connect) });
        let media_bind = match raw.media.as_ref().and_then(|m| m.bind.as_deref()) {
            None => None,
            Some(b) => match b.parse::<std::net::IpAddr>() {
                Ok(ip) if !ip.is_multicast() => Some(ip),
                _ => {
                    errors.push(err("media.bind", format!("'{b}' is not a local unicast or wildcard IP address")));
                    None
                }
            },
        };
        let media = raw.media.as_ref().and_then(|m| {
            let address = match &m.address {
                Some(a) => match a.parse::<std::net::IpAddr>() {
                    Ok(ip) if !ip.is_unspecified() => Some(ip),
                    _ => {
                        errors.push(err("media.address", format!("'{a}' is not a unicast IP address")));
                        None
                    }
                },
                None => match (media_bind, &listen) {
                    (Some(b), _) if !b.is_unspecified() => Some(b),
                    (None, Ok(l)) if !l.ip().is_unspecified() => Some(l.ip()),
                    _ => {
                        errors
                            .push(err("media.address", "required when sip.listen or media.bind is a wildcard address"));
                        None
                    }
                },
            };
            if let (Some(a), Some(b)) = (address, media_bind) {
                if a.is_ipv4() != b.is_ipv4() {
                    errors.push(err("media.bind", format!("{b} and media.address {a} are not of the same IP family")));
                }
            }
            if m.port_min < 1024 || m.port_max <= m.port_min || m.port_max - m.port_min < 3 {
                errors.push(err("media.port_max", "the range must be port_min >= 1024 < port_max, 4 ports at least"));
                return None;
            }
            for (field, v) in [("media.timeout_s", m.timeout_s), ("media.hold_timeout_s", m.hold_timeout_s)] {
                if v > 86_400 {
                    errors.push(err(field, "at most 86400 (a day); 0 turns it off"));
                }
            }
            if m.max_transcoders > 100_000 {
                errors.push(err("media.max_transcoders", "at most 100000 (each holds codec state and buffers)"));
            }
            let operator = leg_policy("media.operator", &m.operator, &mut errors);
            let teams = leg_policy("media.teams", &m.teams, &mut errors);
            let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
            address.map(|address| MediaConfig {
                address,
                relay: RelayConfig { port_min: m.port_min, port_max: m.port_max, max_transcoders: m.max_transcoders },
                operator,
                teams,
                timeout: secs(m.timeout_s),
                hold_timeout: secs(m.hold_timeout_s),
            })
        });
        if let (Some(m), Ok(l)) = (&media, &listen) {
            if (m.relay.port_min..=m.relay.port_max).contains(&l.port()) {
                errors
                    .push(err("media.port_min", format!("the media range must not contain the SIP port {}", l.port())));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (Ok(listen), Some(operator)) = (listen, operator) else { return Err(errors) };
        let teams: Vec<Target> = teams.into_iter().flatten().collect();
        let timers = TimerConfig {
            t1: Duration::from_millis(t.t1_ms),
            t2: Duration::from_millis(t.t2_ms),
            t4: Duration::from_millis(t.t4_ms),
            ..TimerConfig::default()
        };
        Ok(Config {
            gateway: GatewayConfig {
                fqdn,
                port: listen.port(),
                operator,
                teams,
                timers,
                transport: TransportConfig {
                    limits: Limits::default(),
                    max_connections: l.max_connections,
                    ..TransportConfig::default()
                },
                max_calls: l.max_calls,
                max_transactions,
                failover_after: Duration::from_millis(raw.teams.failover_after_ms),
                failover_statuses: raw.teams.failover_statuses,
                sbc_header,
                failure_map,
                media,
            },
            listen,
            seed: raw.sip.seed,
            drain_timeout: Duration::from_secs(raw.shutdown.drain_timeout_s),
            media_io,
            media_bind: media_bind.unwrap_or(listen.ip()),
        })
    }
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |p| before.len() - p - 1) + 1;
    format!("line {line}, column {col}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../config.example.toml");

    #[test]
    fn the_example_is_valid() {
        let c = Config::from_toml(EXAMPLE).expect("example config");
        assert_eq!(c.gateway.teams.len(), 3);
        assert_eq!(c.gateway.failover_after, Duration::from_secs(10));
        let mapped = Config::from_toml(&EXAMPLE.replace("[failure_map]\n", "[failure_map]\n\"503\" = 480\n")).unwrap();
        assert_eq!(mapped.gateway.failure_map, [(503, 480)]);
    }

    #[test]
    fn media_anchoring_is_configured_or_refused_by_field() {
        let c = Config::from_toml(EXAMPLE).expect("example config");
        let m = c.gateway.media.expect("the example anchors media");
        assert_eq!(m.address.to_string(), "198.51.100.1");
        assert_eq!((m.relay.port_min, m.relay.port_max), (40_000, 59_999));
        let none = Config::from_toml(&EXAMPLE.replace("[media]", "[unused]")).unwrap_err();
        assert!(none[0].reason.contains("unused"), "{none:?}");
        let wildcard = EXAMPLE.replace("address = \"198.51.100.1\"", "# no address");
        let errs = Config::from_toml(&wildcard).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "media.address" && e.reason.contains("wildcard")), "{errs:?}");
        let bad = EXAMPLE.replace("port_max = 59999", "port_max = 40001");
        let errs = Config::from_toml(&bad).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "media.port_max"), "{errs:?}");
        assert_eq!(c.media_io, crate::io::media::MediaIo::default());
        // Media ports bind where SIP listens unless `bind` says otherwise;
        // `address` defaults to a specific `bind`.
        assert_eq!(c.media_bind.to_string(), "0.0.0.0");
        let bound = EXAMPLE.replace("address = \"198.51.100.1\"", "bind = \"10.0.0.5\"");
        let b = Config::from_toml(&bound).expect("bind");
        assert_eq!(
            (b.media_bind.to_string(), b.gateway.media.expect("media").address.to_string()),
            ("10.0.0.5".into(), "10.0.0.5".into())
        );
        let nat = EXAMPLE.replace("address = \"198.51.100.1\"", "address = \"198.51.100.1\"\nbind = \"10.0.0.5\"");
        let n = Config::from_toml(&nat).expect("bind behind 1:1 NAT");
        assert_eq!(
            (n.media_bind.to_string(), n.gateway.media.expect("media").address.to_string()),
            ("10.0.0.5".into(), "198.51.100.1".into())
        );
        for (bind, why) in
            [("eth0", "not a local unicast"), ("224.0.0.1", "not a local unicast"), ("::1", "same IP family")]
        {
            let bad = EXAMPLE
                .replace("address = \"198.51.100.1\"", &format!("address = \"198.51.100.1\"\nbind = \"{bind}\""));
            let errs = Config::from_toml(&bad).unwrap_err();
            assert!(errs.iter().any(|e| e.field == "media.bind" && e.reason.contains(why)), "{bind}: {errs:?}");
        }
        let off = EXAMPLE.replace("connect = true", "connect = false");
        assert_eq!(
            Config::from_toml(&off).expect("connect = false").media_io,
            crate::io::media::MediaIo { connect: false }
        );
        assert_eq!((m.timeout, m.hold_timeout), (Some(Duration::from_secs(60)), Some(Duration::from_secs(3600))));
        let off = EXAMPLE.replace("timeout_s = 60", "timeout_s = 0");
        assert_eq!(Config::from_toml(&off).expect("off").gateway.media.expect("media").timeout, None);
        let long = EXAMPLE.replace("hold_timeout_s = 3600", "hold_timeout_s = 90000");
        let errs = Config::from_toml(&long).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "media.hold_timeout_s" && e.reason.contains("86400")), "{errs:?}");
        assert_eq!(m.teams.codecs, ["PCMU", "PCMA"]);
        // An in-band DTMF side speaks G.711: by default, and by check.
        let inband = EXAMPLE.replace("# dtmf = \"info\"", "dtmf = \"inband\"");
        let c = Config::from_toml(&inband).expect("inband");
        assert_eq!(c.gateway.media.expect("media").operator.codecs, ["PCMU", "PCMA"]);
        let g722 = inband
            .replace("# dtmf = \"info\"", "")
            .replace("dtmf = \"inband\"", "dtmf = \"inband\"\ncodecs = [\"PCMA\", \"G722\"]");
        let errs = Config::from_toml(&g722).unwrap_err();
        assert!(
            errs.iter().any(|e| e.field == "media.operator.codecs[1]" && e.reason.contains("only PCMU and PCMA")),
            "{errs:?}"
        );
        assert_eq!(m.teams.telephone_event_pt, Some(101));
        assert!(m.teams.srtp && !m.operator.srtp, "SRTP toward Teams only");
        let codec = EXAMPLE.replace("codecs = [\"PCMU\", \"PCMA\"]", "codecs = [\"PCMU\", \"iLBC2\"]");
        let errs = Config::from_toml(&codec).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "media.teams.codecs[1]" && e.reason.contains("iLBC2")), "{errs:?}");
    }

    #[test]
    fn the_transaction_table_is_sized_from_the_call_limit_unless_given() {
        let c = Config::from_toml(EXAMPLE).expect("example config");
        assert_eq!(c.gateway.max_transactions, 10_000 * TRANSACTIONS_PER_CALL);
        let small = Config::from_toml(&EXAMPLE.replace("max_calls = 10000", "max_calls = 100")).expect("valid");
        assert_eq!(small.gateway.max_transactions, 1_600);
        let huge = Config::from_toml(&EXAMPLE.replace("max_calls = 10000", "max_calls = 1000000")).expect("valid");
        assert_eq!(huge.gateway.max_transactions, 10_000_000, "capped at the table's own bound");
        let given = EXAMPLE.replace("# max_transactions = 160000", "max_transactions = 5000");
        let errs = Config::from_toml(&given).unwrap_err();
        assert!(
            errs.iter().any(|e| e.field == "limits.max_transactions" && e.reason.contains("max_calls")),
            "{errs:?}"
        );
    }

    #[test]
    fn every_error_names_its_field() {
        let bad = EXAMPLE
            .replace("address = \"192.0.2.10:5060\"", "address = \"nowhere\"")
            .replace("t2_ms = 4000", "t2_ms = 100")
            .replace("max_calls = 10000", "max_calls = 0");
        let errs = Config::from_toml(&bad).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"operator.address"), "{errs:?}");
        assert!(fields.contains(&"timers.t2_ms"), "{errs:?}");
        assert!(fields.contains(&"limits.max_calls"), "{errs:?}");
        let unknown = Config::from_toml(&EXAMPLE.replace("[limits]", "[limits]\nmax_cals = 3")).unwrap_err();
        assert!(unknown[0].reason.contains("unknown field `max_cals`"), "{unknown:?}");
        assert!(unknown[0].field.starts_with("line "), "{unknown:?}");
        let map =
            Config::from_toml(&EXAMPLE.replace("[failure_map]\n", "[failure_map]\n\"487\" = 480\n\"503\" = 1000\n"))
                .unwrap_err();
        assert!(map.iter().any(|e| e.field == "failure_map.487"), "{map:?}");
        assert!(map.iter().any(|e| e.field == "failure_map.503" && e.reason.contains("1000")), "{map:?}");
        let tls = Config::from_toml(&EXAMPLE.replace("transport = \"udp\"", "transport = \"tls\"")).unwrap_err();
        assert!(tls.iter().any(|e| e.field.ends_with(".transport") && e.reason.contains("tls")));
    }
}
