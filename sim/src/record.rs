//! What a run leaves behind, shared by both harnesses (the in-memory
//! world and the turmoil world): the transcript, the ladder, the captured
//! datagrams for the pcap, the gateway's call events, and the facts the
//! expectations are checked against.
//!
//! Contract: [`Recorder`] turns every message at the gateway's boundary
//! into one transcript line with roles for addresses (by IP, so ephemeral
//! TCP ports map to their host) and ordinal tokens for Call-IDs, tags and
//! branches on first sight; stream bytes are framed per direction first,
//! so a message split across reads is one line. Same inputs in the same
//! order, same transcript.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use gateway::b2bua::GatewayEvent;
use gateway::sip::msg::{Frame, HeaderName, Limits, Message, StreamFramer};
use gateway::sip::transport::Proto;
use gateway::time::Time;

use crate::peer::Peer;

/// A captured message (for the pcap).
#[derive(Debug, Clone)]
pub struct Captured {
    pub at: Time,
    /// UDP, or TCP for stream bytes (TLS is written as TCP: the capture
    /// holds the plaintext the gateway saw).
    pub proto: Proto,
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

/// Media packets of one direction: delivered, lost, delivered by payload type.
/// One direction of media: packets delivered and lost, the delivered ones
/// by payload type (RTCP under 255), and the RFC 4733 digits in it.
#[derive(Debug, Default)]
struct MediaTally {
    delivered: u64,
    lost: u64,
    by_pt: BTreeMap<u8, u64>,
    digits: String,
    /// Timestamp of the last event whose end was counted (an event ends once).
    last_end: Option<u32>,
}

/// The codec names an SDP gives its payload types (rtpmap, or RFC 3551's
/// static types), as the receiver of the RTP it describes numbers them.
fn sdp_names(body: &[u8]) -> Option<BTreeMap<u8, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let m = text.lines().find_map(|l| l.trim_end().strip_prefix("m=audio "))?;
    let mut names: BTreeMap<u8, String> = m
        .split_whitespace()
        .skip(2)
        .filter_map(|pt| pt.parse::<u8>().ok())
        .filter_map(|pt| {
            let name = match pt {
                0 => "PCMU",
                8 => "PCMA",
                9 => "G722",
                13 => "CN",
                18 => "G729",
                _ => return None,
            };
            Some((pt, name.to_owned()))
        })
        .collect();
    for (pt, enc) in crate::peer::rtpmaps(body) {
        if let Some(name) = enc.split('/').next() {
            names.insert(pt, name.to_owned());
        }
    }
    Some(names)
}

/// The gateway's tables at the end of a run, for the facts.
#[derive(Debug, Clone, Copy, Default)]
pub struct GatewayState {
    pub active_calls: usize,
    pub transactions: usize,
    pub media_streams: usize,
    pub media: gateway::media::relay::RelayCounters,
}

impl GatewayState {
    pub fn of(gw: &gateway::b2bua::Gateway) -> GatewayState {
        GatewayState {
            active_calls: gw.active_calls(),
            transactions: gw.transactions(),
            media_streams: gw.media_streams(),
            media: gw.media_counters(),
        }
    }
}

/// Builds the transcript, ladder and capture of one run.
pub struct Recorder {
    roles: HashMap<IpAddr, String>,
    tokens: Tokens,
    transcript: String,
    ladder: String,
    captured: Vec<Captured>,
    events: Vec<GatewayEvent>,
    framers: HashMap<(SocketAddr, SocketAddr), StreamFramer>,
    /// Media packets per (from role, to role).
    media: BTreeMap<(String, String), MediaTally>,
    /// Payload type names from the last SDP each (sender, receiver) pair
    /// exchanged: RTP from X to Y is named by the SDP Y sent X.
    pt_names: HashMap<(String, String), BTreeMap<u8, String>>,
}

impl Recorder {
    /// `roles`: the role of each host, in ladder order.
    pub fn new(roles: &[(IpAddr, &str)]) -> Recorder {
        let mut ladder = String::from("sequenceDiagram\n");
        for (_, r) in roles {
            ladder.push_str(&format!("    participant {r}\n"));
        }
        Recorder {
            roles: roles.iter().map(|(ip, r)| (*ip, (*r).to_owned())).collect(),
            tokens: Tokens::default(),
            transcript: String::new(),
            ladder,
            captured: Vec::new(),
            events: Vec::new(),
            framers: HashMap::new(),
            media: BTreeMap::new(),
            pt_names: HashMap::new(),
        }
    }

    pub fn role(&self, a: &SocketAddr) -> String {
        self.roles.get(&a.ip()).cloned().unwrap_or_else(|| "unknown".to_owned())
    }

    /// A one-line summary of a SIP message with tokens for identifiers.
    fn summary(&mut self, m: &Message) -> (String, String) {
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

    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        now: Time,
        proto: Proto,
        from: SocketAddr,
        to: SocketAddr,
        m: Option<&Message>,
        data: &Bytes,
        lost: bool,
    ) {
        let (line, head) = match m {
            Some(m) => self.summary(m),
            None => ("(not SIP)".to_owned(), "?".to_owned()),
        };
        let (f, t) = (self.role(&from), self.role(&to));
        if let Some(names) = m.filter(|_| !lost).and_then(|m| sdp_names(m.body())) {
            self.pt_names.insert((f.clone(), t.clone()), names);
        }
        let mark = if lost { "  (lost)" } else { "" };
        self.transcript.push_str(&format!("{:>9}  {f:>8} -> {t:<8}  {line}{mark}\n", now.to_string()));
        let arrow = if lost { "-x" } else { "->>" };
        self.ladder.push_str(&format!("    {f}{arrow}{t}: {head}\n"));
        if !lost {
            self.captured.push(Captured { at: now, proto, from, to, data: data.clone() });
        }
    }

    /// A datagram at the gateway's boundary (`lost`: the network dropped it).
    pub fn datagram(&mut self, now: Time, from: SocketAddr, to: SocketAddr, data: &Bytes, lost: bool) {
        let m = Message::parse_datagram(data.clone()).ok();
        self.line(now, Proto::Udp, from, to, m.as_ref(), data, lost);
    }

    /// Stream bytes from `from` to `to`: one line per complete message.
    pub fn stream(&mut self, now: Time, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let framer = self.framers.entry((from, to)).or_insert_with(|| StreamFramer::new(Limits::default()));
        if framer.push(data).is_err() {
            return;
        }
        let mut frames = Vec::new();
        while let Ok(Some(f)) = framer.next_frame() {
            frames.push(f);
        }
        for f in frames {
            match f {
                Frame::Message(m) => {
                    let raw = Bytes::copy_from_slice(m.raw());
                    self.line(now, Proto::Tcp, from, to, Some(&m), &raw, false);
                }
                Frame::Invalid { raw, .. } => self.line(now, Proto::Tcp, from, to, None, &raw, false),
                _ => {}
            }
        }
    }

    /// A media packet at the gateway's boundary: counted per direction, not
    /// written line by line (the transcript ends with a summary).
    pub fn media(&mut self, from: SocketAddr, to: SocketAddr, data: &[u8], lost: bool) {
        let (f, t) = (self.role(&from), self.role(&to));
        let event_pt = self
            .pt_names
            .get(&(t.clone(), f.clone()))
            .and_then(|n| n.iter().find(|(_, name)| name.eq_ignore_ascii_case("telephone-event")).map(|(pt, _)| *pt));
        let e = self.media.entry((f, t)).or_default();
        if lost {
            e.lost += 1;
            return;
        }
        e.delivered += 1;
        let pt = match data.get(1) {
            Some(b) if (192..=223).contains(b) => 255,
            Some(b) => b & 0x7f,
            None => 254,
        };
        *e.by_pt.entry(pt).or_insert(0) += 1;
        // RFC 4733: a digit at its first end packet (plain RTP only: an
        // SRTP payload is not readable here).
        if Some(pt) == event_pt && data.len() == 16 && data[13] & 0x80 != 0 {
            let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            if e.last_end != Some(ts) {
                e.last_end = Some(ts);
                e.digits.push(crate::audio::key_of_event(data[12]));
            }
        }
    }

    /// A free-form line (a scenario step, a fault).
    pub fn note(&mut self, now: Time, text: &str) {
        self.transcript.push_str(&format!("{:>9}  {text}\n", now.to_string()));
    }

    /// A call event of the gateway.
    pub fn event(&mut self, now: Time, e: GatewayEvent) {
        let line = match &e {
            GatewayEvent::CallStarted { call, from } => format!("call {} started from {from:?}", call.0),
            GatewayEvent::CallAnswered { call } => format!("call {} answered", call.0),
            GatewayEvent::CallEnded { call, status, reason } => format!("call {} ended: {status} ({reason})", call.0),
            GatewayEvent::Failover { call, from, to, why } => {
                format!("call {} fails over from teams-{} to teams-{} ({why})", call.0, from + 1, to + 1)
            }
        };
        self.note(now, &format!("gw: {line}"));
        self.events.push(e);
    }

    /// The facts of the run, from the gateway's events and tables and what
    /// each peer observed.
    pub fn facts(&self, gw: &GatewayState, peers: &[&Peer]) -> BTreeMap<String, Vec<i64>> {
        let (gw_active_calls, gw_transactions) = (gw.active_calls, gw.transactions);
        let mut facts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        facts.insert("gateway.media_streams".into(), vec![gw.media_streams as i64]);
        facts.insert("gateway.rtp_forwarded".into(), vec![gw.media.rtp_forwarded as i64]);
        facts.insert("gateway.rtp_transcoded".into(), vec![gw.media.transcoded as i64]);
        facts.insert("gateway.rtp_comfort_noise".into(), vec![gw.media.comfort_noise as i64]);
        facts.insert("gateway.rtcp_terminated".into(), vec![gw.media.rtcp_terminated as i64]);
        facts.insert("gateway.rtcp_generated".into(), vec![gw.media.rtcp_generated as i64]);
        facts.insert("gateway.dtmf_events_converted".into(), vec![gw.media.events_to_signalling as i64]);
        facts.insert(
            "gateway.srtp_dropped".into(),
            vec![(gw.media.dropped_srtp_auth + gw.media.dropped_srtp_replay) as i64],
        );
        let m = gw.media;
        facts.insert(
            "gateway.media_dropped".into(),
            vec![
                (m.dropped_malformed + m.dropped_no_destination + m.dropped_unknown_port + m.dropped_wrong_source)
                    as i64,
            ],
        );
        let count = |f: &dyn Fn(&GatewayEvent) -> bool| self.events.iter().filter(|e| f(e)).count() as i64;
        facts.insert("gateway.calls_started".into(), vec![count(&|e| matches!(e, GatewayEvent::CallStarted { .. }))]);
        facts.insert("gateway.calls_answered".into(), vec![count(&|e| matches!(e, GatewayEvent::CallAnswered { .. }))]);
        facts.insert("gateway.calls_ended".into(), vec![count(&|e| matches!(e, GatewayEvent::CallEnded { .. }))]);
        facts.insert("gateway.failovers".into(), vec![count(&|e| matches!(e, GatewayEvent::Failover { .. }))]);
        facts.insert(
            "gateway.ended_statuses".into(),
            self.events
                .iter()
                .filter_map(|e| match e {
                    GatewayEvent::CallEnded { status, .. } => Some(i64::from(*status)),
                    _ => None,
                })
                .collect(),
        );
        facts.insert("gateway.active_calls".into(), vec![gw_active_calls as i64]);
        facts.insert("gateway.open_transactions".into(), vec![gw_transactions as i64]);
        let mut teams_invites = 0;
        for p in peers {
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
            facts.insert(format!("{r}.rtp_sent"), vec![i64::from(o.rtp_sent)]);
            facts.insert(format!("{r}.rtp_received"), vec![i64::from(o.rtp_received)]);
            facts.insert(format!("{r}.rtp_unexpected_source"), vec![i64::from(o.rtp_unexpected_source)]);
            facts.insert(format!("{r}.rtp_undecodable"), vec![i64::from(o.rtp_undecodable)]);
            facts.insert(format!("{r}.srtp_failures"), vec![i64::from(o.srtp_failures)]);
            facts.insert(format!("{r}.rtp_ssrc_changes"), vec![i64::from(o.rtp_ssrc_changes)]);
            facts.insert(format!("{r}.rtp_seq_jumps"), vec![i64::from(o.rtp_seq_jumps)]);
            facts.insert(format!("{r}.noise_frames"), vec![i64::from(o.noise_frames)]);
            facts.insert(format!("{r}.cn_received"), vec![i64::from(o.cn_received)]);
            facts.insert(format!("{r}.cn_sent"), vec![i64::from(o.cn_sent)]);
            facts.insert(format!("{r}.rtcp_sent"), vec![i64::from(o.rtcp_sent)]);
            facts.insert(format!("{r}.rtcp_received"), vec![i64::from(o.rtcp_received)]);
            facts.insert(format!("{r}.rtcp_ssrc_mismatch"), vec![i64::from(o.rtcp_ssrc_mismatch)]);
            facts.insert(format!("{r}.rtcp_undecodable"), vec![i64::from(o.rtcp_undecodable)]);
            // DTMF digits as numbers (RFC 4733 event codes: * = 10, # = 11).
            let code = |d: &char| crate::audio::event_of_key(*d).map_or(99, i64::from);
            facts.insert(format!("{r}.dtmf_sent"), o.dtmf_sent.iter().map(code).collect());
            facts.insert(format!("{r}.dtmf_received"), o.dtmf_received.iter().map(code).collect());
            // Listening: the tone it heard (Hz) and its share of the power (%).
            let (hz, share) = p.listener.dominant().unwrap_or((0, 0));
            facts.insert(format!("{r}.heard_hz"), vec![i64::from(hz)]);
            facts.insert(format!("{r}.heard_share_pct"), vec![i64::from(share)]);
            // Before the answer: how much it heard, and how much of it was ringback's 480 Hz.
            facts.insert(format!("{r}.early_frames"), vec![i64::from(p.early_listener.frames)]);
            facts.insert(format!("{r}.early_480hz_pct"), vec![i64::from(p.early_listener.share_pct(480.0))]);
            if r.starts_with("teams") {
                teams_invites += i64::from(o.invites_received);
            }
        }
        facts.insert("teams.invites_received".into(), vec![teams_invites]);
        facts
    }

    /// Close the record: the media summary ends the transcript.
    pub fn finish(mut self, facts: BTreeMap<String, Vec<i64>>, ended_at: Time) -> Outcome {
        for ((f, t), tally) in &self.media {
            let lost = if tally.lost > 0 { format!(", {} lost", tally.lost) } else { String::new() };
            let names = self.pt_names.get(&(t.clone(), f.clone()));
            let pts: Vec<String> = tally
                .by_pt
                .iter()
                .map(|(pt, n)| match (pt, names.and_then(|m| m.get(pt))) {
                    (255, _) => format!("RTCP x{n}"),
                    (254, _) => format!("empty x{n}"),
                    (pt, Some(name)) => format!("PT {pt} {name} x{n}"),
                    (pt, None) => format!("PT {pt} x{n}"),
                })
                .collect();
            let digits = if tally.digits.is_empty() { String::new() } else { format!(", digits {}", tally.digits) };
            self.transcript.push_str(&format!(
                "    media  {f:>8} -> {t:<8}  {} packets ({}){lost}{digits}\n",
                tally.delivered,
                pts.join(", ")
            ));
        }
        Outcome { transcript: self.transcript, facts, captured: self.captured, ladder: self.ladder, ended_at }
    }
}
