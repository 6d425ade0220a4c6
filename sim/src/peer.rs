//! Emulated SIP parties: the operator's network and the Teams proxies
//! with the clients behind them.
//!
//! Contract: a [`Peer`] is a scripted user agent written independently of
//! the gateway's B2BUA: it shares only the message layer (bytes on the
//! wire) and the RFC 3261 transaction layer (retransmissions) with it. It
//! answers INVITEs as its [`Behaviour`] says (a Teams proxy forks to
//! several clients: one 180 per client with its own To tag, one 183 with
//! SDP, the 200 from the client that answers), places calls, hangs up,
//! cancels and re-INVITEs when the scenario tells it to, and records what
//! it observed in [`Observed`] for the scenario's expectations.
//! Its SRTP is libsrtp2 ([`crate::libsrtp`]), not the gateway's: only the key
//! type (`MasterKey`, the SDES inline base64) comes from the gateway.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gateway::rng::Rng;
use gateway::sip::msg::{build, HeaderName, Message, Method};
use gateway::sip::transaction::{TimerConfig, Transactions, TxEvent, TxId};
use gateway::sip::transport::Proto;
use gateway::time::Time;

use gateway::media::srtp::{MasterKey, Suite};

use crate::audio::{
    event_of_key, key_of_event, KeyListener, KeyPad, Listener, Speaker, FRAME, OPERATOR_TONE, TEAMS_TONE,
};
use crate::libsrtp::SrtpSession;
use crate::voice::{Voice, VoiceDecoder, VoiceEncoder};

/// How a party answers an INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// `None`: answers normally; `Some(code)`: rejects with it at once.
    pub reject: Option<u16>,
    /// Never answers anything (a dead proxy).
    pub silent: bool,
    /// Clients rung (Teams forks to every client of the user).
    pub forks: u32,
    pub ring_after: Duration,
    /// One 183 with SDP (early media) from the first client.
    pub early_media: bool,
    /// When the answering client answers; `None`: never (no answer).
    pub answer_after: Option<Duration>,
    /// Which fork answers (0-based).
    pub answering_fork: u32,
    /// Codecs it offers and accepts, in order.
    pub codecs: Vec<Voice>,
    /// Its telephone-event payload type.
    pub telephone_event_pt: u8,
    /// It speaks SRTP (RTP/SAVP, an SDES key of its own).
    pub srtp: bool,
    /// It sends and expects DTMF as SIP INFO (application/dtmf-relay).
    pub dtmf_info: bool,
    /// It sends and expects DTMF as NOTIFY (Event: telephone-event).
    pub dtmf_notify: bool,
    /// It sends and hears DTMF as tones in the audio.
    pub dtmf_inband: bool,
    /// The codecs of the client that answers, if not `codecs`.
    pub answer_codecs: Option<Vec<Voice>>,
    /// It offers CN (RFC 3389, payload type 13) and sends it when silent.
    pub comfort_noise: bool,
    /// Its packetization time (ms; a=ptime when not 20).
    pub ptime_ms: u32,
    /// It sends an RTCP sender report every 5 s while it sends media.
    pub rtcp: bool,
    /// Its INVITEs carry no SDP (a late offer): it answers the 2xx's offer in its ACK.
    pub late_offer: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            reject: None,
            silent: false,
            forks: 1,
            ring_after: Duration::from_millis(100),
            early_media: false,
            answer_after: Some(Duration::from_secs(2)),
            answering_fork: 0,
            codecs: vec![Voice::Mu],
            telephone_event_pt: 101,
            srtp: false,
            dtmf_info: false,
            dtmf_notify: false,
            dtmf_inband: false,
            answer_codecs: None,
            comfort_noise: false,
            ptime_ms: 20,
            rtcp: false,
            late_offer: false,
        }
    }
}

/// What a party saw, for the expectations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Final status of each call it placed, in order.
    pub finals: Vec<u16>,
    /// Post-dial delay of each call it placed (INVITE to first 18x), in ms.
    pub pdd_ms: Vec<u64>,
    /// Calls it received (INVITEs that created a transaction).
    pub invites_received: u32,
    /// Distinct To tags seen in provisionals of its calls.
    pub provisional_tags: Vec<String>,
    /// BYEs it received and answered.
    pub byes_received: u32,
    /// CANCELs it received.
    pub cancels_received: u32,
    /// re-INVITEs it received and answered.
    pub reinvites_received: u32,
    /// Final statuses of in-dialog requests it sent (BYE, re-INVITE).
    pub in_dialog_finals: Vec<(String, u16)>,
    /// RTP packets it sent and received.
    pub rtp_sent: u32,
    pub rtp_received: u32,
    /// RTP packets that came from another address than the SDP it was
    /// given names (symmetric RTP broken, or a topology leak).
    pub rtp_unexpected_source: u32,
    /// RTP packets with a payload type it did not offer or accept.
    pub rtp_undecodable: u32,
    /// DTMF digits it sent and received as RFC 4733 events.
    pub dtmf_sent: Vec<char>,
    pub dtmf_received: Vec<char>,
    /// SRTP packets that did not decrypt and authenticate.
    pub srtp_failures: u32,
    /// Within one call, RTP packets whose SSRC differs from the previous
    /// packet's (the gateway should present one stream per call), and
    /// packets whose sequence number is not the previous one + 1.
    pub rtp_ssrc_changes: u32,
    pub rtp_seq_jumps: u32,
    /// Voice frames heard that were noise-like: neither silence nor a
    /// party's tone (RMS between -64 and -21 dBov).
    pub noise_frames: u32,
    /// CN packets it received and sent.
    pub cn_received: u32,
    pub cn_sent: u32,
    /// RTCP it sent and received; received RTCP whose sender SSRC is not
    /// the SSRC of the RTP it receives, or that does not read as SR/RR.
    pub rtcp_sent: u32,
    pub rtcp_received: u32,
    pub rtcp_ssrc_mismatch: u32,
    pub rtcp_undecodable: u32,
}

/// The media port every party offers (on its own IP).
pub const MEDIA_PORT: u16 = 40000;

/// The party's one active media stream.
#[derive(Debug, Clone)]
struct Flow {
    /// Where the SDP it was given says to send.
    remote: SocketAddr,
    sending: bool,
    next: Time,
    ssrc: u32,
    seq: u16,
    ts: u32,
    /// The codec it sends, the first of its codecs the SDP it was given
    /// lists, at the payload type that SDP gives it.
    voice: Voice,
    pt: u8,
    /// The telephone-event payload type the SDP it was given names.
    te_pt: Option<u8>,
    /// Digits to send (RFC 4733), one per 100 ms.
    digits: std::collections::VecDeque<char>,
    /// Silent until then (sending CN when the SDP it was given has it).
    silent_until: Option<Time>,
    /// CN's payload type in the SDP it was given, when it offers CN itself.
    cn_pt: Option<u8>,
    /// When the next CN packet is due while silent.
    cn_next: Time,
    /// When its next RTCP sender report is due, and what it sent so far.
    rtcp_next: Time,
    sent_packets: u32,
    sent_octets: u32,
}

/// Where an SDP says to send media, and its direction (an independent,
/// minimal reading: `c=IN IP4`, the first `m=audio` port, `a=<direction>`).
fn sdp_target(body: &[u8]) -> Option<(SocketAddr, String)> {
    sdp_read(body).map(|(a, d, _)| (a, d))
}

/// The telephone-event payload type an SDP names, if any.
fn sdp_telephone_event(body: &[u8]) -> Option<u8> {
    rtpmaps(body).find(|(_, enc)| enc.to_ascii_lowercase().starts_with("telephone-event/")).map(|(pt, _)| pt)
}

/// An SDP's rtpmap lines: (payload type, `encoding/clock[/channels]`).
pub(crate) fn rtpmaps(body: &[u8]) -> impl Iterator<Item = (u8, &str)> {
    std::str::from_utf8(body).unwrap_or("").lines().filter_map(|l| {
        let (pt, enc) = l.trim_end().strip_prefix("a=rtpmap:")?.split_once(' ')?;
        Some((pt.parse().ok()?, enc))
    })
}

/// The codecs an SDP's first m=audio line names, with their payload types, in order.
fn sdp_voices(body: &[u8]) -> Vec<(u8, Voice)> {
    let Some((_, _, pts)) = sdp_read(body) else { return Vec::new() };
    let named =
        |pt: u8| rtpmaps(body).find(|(p, _)| *p == pt).and_then(|(_, enc)| Voice::by_name(enc.split('/').next()?));
    pts.into_iter()
        .filter_map(|pt| named(pt).or(if pt < 96 { Voice::of_pt(pt) } else { None }).map(|v| (pt, v)))
        .collect()
}

/// The target, direction and payload types of an SDP's first m=audio line.
fn sdp_read(body: &[u8]) -> Option<(SocketAddr, String, Vec<u8>)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut ip = None;
    let mut port = None;
    let mut pts = Vec::new();
    let mut dir = "sendrecv".to_owned();
    for line in text.lines().map(str::trim_end) {
        if let Some(a) = line.strip_prefix("c=IN IP4 ") {
            ip = a.split('/').next().and_then(|a| a.parse::<std::net::Ipv4Addr>().ok());
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            let mut f = m.split_whitespace();
            port = f.next().and_then(|p| p.parse::<u16>().ok());
            pts = f.skip(1).filter_map(|p| p.parse::<u8>().ok()).collect();
        } else if let Some(d) = line.strip_prefix("a=") {
            if matches!(d, "sendrecv" | "sendonly" | "recvonly" | "inactive") {
                dir = d.to_owned();
            }
        }
    }
    Some((SocketAddr::new(ip?.into(), port?), dir, pts))
}

/// Protect an RTP packet when the party speaks SRTP (libsrtp; on error it goes as it is).
fn seal(ctx: &mut Option<SrtpSession>, mut p: Vec<u8>) -> Vec<u8> {
    if let Some(c) = ctx {
        let _ = c.protect_rtp(&mut p);
    }
    p
}

/// The direction that answers an offered one.
fn answer_direction(offered: &str) -> &'static str {
    match offered {
        "sendonly" => "recvonly",
        "recvonly" => "sendonly",
        "inactive" => "inactive",
        _ => "sendrecv",
    }
}

/// This party's SDP: its codecs, telephone-event, a direction, its SRTP key.
fn sdp(ip: &str, dir: &str, codecs: &[Voice], te: u8, cn: bool, ptime: u32, key: Option<&MasterKey>) -> String {
    let cn = cn.then_some(13u8);
    let pts: Vec<String> = codecs.iter().map(|l| l.pt()).chain([te]).chain(cn).map(|pt| pt.to_string()).collect();
    let proto = if key.is_some() { "RTP/SAVP" } else { "RTP/AVP" };
    let mut s = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {MEDIA_PORT} {proto} {}\r\n",
        pts.join(" ")
    );
    if let Some(k) = key {
        s.push_str(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 {}\r\n", k.to_inline()));
    }
    for v in codecs {
        s.push_str(&format!("a=rtpmap:{} {}\r\n", v.pt(), v.rtpmap()));
        if let Some(f) = v.fmtp() {
            s.push_str(&format!("a=fmtp:{} {f}\r\n", v.pt()));
        }
    }
    s.push_str(&format!("a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"));
    if let Some(cn) = cn {
        s.push_str(&format!("a=rtpmap:{cn} CN/8000\r\n"));
    }
    if ptime != 20 {
        s.push_str(&format!("a=ptime:{ptime}\r\n"));
    }
    s.push_str(&format!("a={dir}\r\n"));
    s
}

/// The comfort-noise payload type an SDP names (rtpmap CN/8000, or static 13 listed).
fn sdp_cn(body: &[u8]) -> Option<u8> {
    let mapped = rtpmaps(body).find(|(_, enc)| enc.eq_ignore_ascii_case("CN/8000")).map(|(pt, _)| pt);
    mapped.or_else(|| sdp_read(body).and_then(|(_, _, pts)| pts.contains(&13).then_some(13)))
}

/// A call this party placed.
struct Outgoing {
    invite: Message,
    tx: TxId,
    sent_at: Time,
    first_provisional: bool,
    /// To header of the answer (with tag) and the Contact URI to send to.
    dialog: Option<(String, String)>,
    next_cseq: u32,
    done: bool,
}

/// A call this party received.
struct Incoming {
    tx: TxId,
    invite: Message,
    tags: Vec<String>,
    answered_tag: Option<String>,
    canceled: bool,
    next_cseq: u32,
}

#[derive(Debug, Clone)]
enum Timed {
    Provisional { call: usize, fork: u32, status: u16 },
    Answer { call: usize },
}

/// One emulated party.
pub struct Peer {
    /// `vanish`: it sends no more media (RTP or RTCP), whatever SDP comes,
    /// and still answers SIP: a client whose media path died.
    vanished: bool,
    pub role: String,
    pub addr: SocketAddr,
    /// The gateway's address: where this party sends its requests.
    pub gateway: SocketAddr,
    pub behaviour: Behaviour,
    pub observed: Observed,
    txs: Transactions<SocketAddr>,
    rng: Rng,
    outgoing: Vec<Outgoing>,
    incoming: Vec<Incoming>,
    timers: BTreeMap<(Time, u64), Timed>,
    seq: u64,
    out: Vec<(SocketAddr, Bytes)>,
    /// In-dialog client transactions: tx -> method.
    in_dialog: BTreeMap<TxId, String>,
    proto: Proto,
    media: Option<Flow>,
    media_out: Vec<(SocketAddr, Bytes)>,
    speaker: Speaker,
    /// What it heard, for the listening checks.
    pub listener: Listener,
    /// What it heard before its call was answered (ringback, early media).
    pub early_listener: Listener,
    /// Keys pressed in-band, and keys heard in-band.
    keypad: KeyPad,
    key_listener: KeyListener,
    /// Timestamp of the last telephone-event completed.
    last_event_ts: Option<u32>,
    /// SSRC and sequence number of the last RTP packet of this call.
    last_rtp: Option<(u32, u16)>,
    /// Its SRTP key (it sends with it), and the contexts of its stream.
    srtp_key: MasterKey,
    srtp_tx: Option<SrtpSession>,
    srtp_rx: Option<SrtpSession>,
    srtp_rx_key: Option<MasterKey>,
    /// The direction of our last re-INVITE offer (applied when answered).
    offered_direction: Option<String>,
    /// The body of the INFO being sent.
    /// Headers (Content-Type on) and body of the next in-dialog INFO/NOTIFY.
    info_body: Option<(String, Vec<u8>)>,
    /// The encoder of the codec it sends (not G.711), and a decoder per codec heard.
    encoder: Option<(Voice, VoiceEncoder)>,
    decoders: Vec<(Voice, VoiceDecoder)>,
}

impl Peer {
    pub fn new(role: &str, addr: SocketAddr, gateway: SocketAddr, behaviour: Behaviour, seed: u64) -> Peer {
        Peer {
            role: role.to_owned(),
            addr,
            gateway,
            behaviour,
            observed: Observed::default(),
            txs: Transactions::new(TimerConfig::default(), 10_000),
            rng: Rng::seeded(seed),
            outgoing: Vec::new(),
            incoming: Vec::new(),
            timers: BTreeMap::new(),
            seq: 0,
            out: Vec::new(),
            in_dialog: BTreeMap::new(),
            proto: Proto::Udp,
            media: None,
            media_out: Vec::new(),
            speaker: Speaker::new(if role == "operator" { OPERATOR_TONE } else { TEAMS_TONE }),
            listener: Listener::default(),
            early_listener: Listener::default(),
            keypad: KeyPad::default(),
            key_listener: KeyListener::default(),
            last_event_ts: None,
            last_rtp: None,
            srtp_key: MasterKey::from_bytes(std::array::from_fn(|i| {
                (seed as u8).wrapping_mul(31).wrapping_add(i as u8)
            })),
            srtp_tx: None,
            srtp_rx: None,
            srtp_rx_key: None,
            offered_direction: None,
            vanished: false,
            info_body: None,
            encoder: None,
            decoders: Vec::new(),
        }
    }

    /// Use `proto` toward the gateway (Via, and no retransmission on a reliable transport).
    pub fn with_transport(mut self, proto: Proto) -> Peer {
        self.proto = proto;
        self
    }

    /// Carry out a scenario step: `call [number]`, `hangup`, `cancel`,
    /// `reinvite [direction]`, `dtmf DIGITS` (RFC 4733 events, one per 100 ms),
    /// `silence MS`, `vanish` (no more media, SIP still answered).
    pub fn act(&mut self, now: Time, verb: &str, arg: Option<&str>) {
        match verb {
            "call" => self.call(now, arg.unwrap_or("+14255550100")),
            "hangup" => self.in_dialog_request(now, "BYE", ""),
            "cancel" => self.cancel(now),
            "reinvite" => self.in_dialog_request(now, "INVITE", arg.unwrap_or("sendrecv")),
            "vanish" => {
                self.vanished = true;
                if let Some(f) = self.media.as_mut() {
                    f.sending = false;
                }
            }
            "silence" => {
                let ms = arg.and_then(|a| a.parse::<u64>().ok()).unwrap_or(1000);
                if let Some(f) = self.media.as_mut() {
                    f.silent_until = Some(now + Duration::from_millis(ms));
                    f.cn_next = now;
                }
            }
            "dtmf" => {
                let digits = arg.unwrap_or("").chars().filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#');
                if self.behaviour.dtmf_inband {
                    let keys: Vec<char> = digits.collect();
                    self.observed.dtmf_sent.extend(keys.iter().copied());
                    self.keypad.press(keys);
                } else if self.behaviour.dtmf_info {
                    for d in digits.collect::<Vec<_>>() {
                        self.observed.dtmf_sent.push(d);
                        self.in_dialog_info(now, d);
                    }
                } else if self.behaviour.dtmf_notify {
                    for d in digits.collect::<Vec<_>>() {
                        self.observed.dtmf_sent.push(d);
                        self.in_dialog_notify(now, d);
                    }
                } else if let Some(f) = self.media.as_mut() {
                    f.digits.extend(digits);
                }
            }
            _ => {}
        }
        self.drain(now);
    }

    /// The transport this party uses toward the gateway.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    fn reliable(&self) -> bool {
        self.proto.is_reliable()
    }

    fn ip(&self) -> String {
        self.addr.ip().to_string()
    }

    fn via(&mut self) -> String {
        format!("SIP/2.0/{} {};branch={}", self.proto.via_token(), self.addr, self.rng.branch())
    }

    /// Datagrams to send.
    pub fn take_output(&mut self) -> Vec<(SocketAddr, Bytes)> {
        while let Some(t) = self.txs.poll_transmit() {
            self.out.push((t.dest, t.data));
        }
        std::mem::take(&mut self.out)
    }

    pub fn next_deadline(&self) -> Option<Time> {
        let own = self.timers.keys().next().map(|(t, _)| *t);
        let media = self.media.as_ref().filter(|f| f.sending).map(|f| f.next);
        [own, self.txs.poll_timeout(), media].into_iter().flatten().min()
    }

    /// Our media address (RTP is sent from and received on it).
    pub fn media_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr.ip(), MEDIA_PORT)
    }

    /// RTP packets to send from [`Peer::media_addr`].
    pub fn take_media_output(&mut self) -> Vec<(SocketAddr, Bytes)> {
        std::mem::take(&mut self.media_out)
    }

    /// This party's own SDP with a direction.
    fn own_sdp(&self, dir: &str) -> String {
        let key = self.behaviour.srtp.then_some(&self.srtp_key);
        let b = &self.behaviour;
        sdp(&self.ip(), dir, &b.codecs, b.telephone_event_pt, b.comfort_noise, b.ptime_ms, key)
    }

    /// The decoder for `v` (made on first use).
    fn decoder(&mut self, v: Voice) -> Option<&mut VoiceDecoder> {
        if !self.decoders.iter().any(|(d, _)| *d == v) {
            self.decoders.push((v, VoiceDecoder::new(v)?));
        }
        self.decoders.iter_mut().find(|(d, _)| *d == v).map(|(_, d)| d)
    }

    /// An RTCP packet arrived (on our media port + 1, or muxed).
    pub fn handle_rtcp(&mut self, data: &[u8]) {
        let mut p = data.to_vec();
        if self.behaviour.srtp {
            let ok = self.srtp_rx.as_mut().is_some_and(|s| s.unprotect_rtcp(&mut p).is_ok());
            if !ok {
                self.observed.srtp_failures += 1;
                return;
            }
        }
        self.observed.rtcp_received += 1;
        // An independent minimal reading: the first packet is an SR or RR;
        // its sender is the stream this party hears.
        if p.len() < 8 || p[0] >> 6 != 2 || !matches!(p[1], 200 | 201) {
            self.observed.rtcp_undecodable += 1;
            return;
        }
        let sender = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        if self.last_rtp.is_some_and(|(ssrc, _)| ssrc != sender) {
            self.observed.rtcp_ssrc_mismatch += 1;
        }
    }

    /// An RTP packet arrived on our media port.
    pub fn handle_media(&mut self, from: SocketAddr, data: &[u8]) {
        if data.get(1).is_some_and(|pt| (200..=204).contains(pt)) {
            self.handle_rtcp(data);
            return;
        }
        self.observed.rtp_received += 1;
        let mut plain;
        let data = if self.behaviour.srtp {
            plain = data.to_vec();
            let Some(ctx) = self.srtp_rx.as_mut() else {
                self.observed.srtp_failures += 1;
                return;
            };
            match ctx.unprotect_rtp(&mut plain) {
                Ok(()) => &plain[..],
                Err(_) => {
                    self.observed.srtp_failures += 1;
                    return;
                }
            }
        } else {
            data
        };
        if data.len() >= 12 {
            let seq = u16::from_be_bytes([data[2], data[3]]);
            let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
            match self.last_rtp {
                Some((s, _)) if s != ssrc => self.observed.rtp_ssrc_changes += 1,
                Some((_, q)) if q.wrapping_add(1) != seq => self.observed.rtp_seq_jumps += 1,
                _ => {}
            }
            self.last_rtp = Some((ssrc, seq));
        }
        // Listen: the payload type names the law in our own numbering.
        let pt = data.get(1).map(|b| b & 0x7f);
        if pt == Some(self.behaviour.telephone_event_pt) && data.len() >= 16 {
            // RFC 4733: a digit is complete at its first end packet.
            let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            if data[13] & 0x80 != 0 && self.last_event_ts != Some(ts) {
                self.last_event_ts = Some(ts);
                self.observed.dtmf_received.push(key_of_event(data[12]));
            }
            return;
        }
        if pt == Some(13) {
            self.observed.cn_received += 1;
            return;
        }
        let early = self.media.is_none();
        let voice = pt.and_then(Voice::of_pt).filter(|v| self.behaviour.codecs.contains(v));
        // G.711 shorter than 10 ms is not what a party sends.
        let g711_short = voice.is_some_and(|v| v.law().is_some() && data.len() < 12 + FRAME / 2);
        let pcm = match voice {
            Some(v) if !g711_short && data.len() > 12 => self.decoder(v).and_then(|d| d.decode(&data[12..])),
            _ => None,
        };
        match (voice, pcm) {
            (Some(v), Some(pcm)) if early => self.early_listener.hear_pcm(&pcm, v.rate()),
            (Some(v), Some(pcm)) => {
                self.listener.hear_pcm(&pcm, v.rate());
                let power = pcm.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / pcm.len().max(1) as f64;
                if (20.0..3000.0).contains(&power.sqrt()) {
                    self.observed.noise_frames += 1;
                }
                if let (true, Some(law)) = (self.behaviour.dtmf_inband, v.law()) {
                    let before = self.key_listener.keys.len();
                    self.key_listener.hear(law, &data[12..]);
                    self.observed.dtmf_received.extend(self.key_listener.keys[before..].iter().copied());
                }
            }
            _ => self.observed.rtp_undecodable += 1,
        }
        // (Packets still in flight when the call ended are not counted as strays.)
        if self.media.as_ref().is_some_and(|f| f.remote != from) {
            self.observed.rtp_unexpected_source += 1;
        }
    }

    /// What it receives over SRTP is keyed by the crypto line of the SDP
    /// it was given (`body`); the same key keeps the receiving context.
    fn srtp_receive_with(&mut self, body: &[u8]) {
        let theirs = std::str::from_utf8(body).ok().and_then(|t| {
            t.lines().find_map(|l| {
                let rest = l.trim_end().strip_prefix("a=crypto:")?;
                let mut f = rest.split_whitespace();
                let (_, suite, key) = (f.next()?, f.next()?, f.next()?);
                let suite = Suite::from_sdes(suite)?;
                MasterKey::from_inline(key).ok().map(|k| (suite, k))
            })
        });
        let same = self.srtp_rx_key.as_ref() == theirs.as_ref().map(|(_, k)| k);
        if !same {
            self.srtp_rx = theirs.as_ref().and_then(|(s, k)| SrtpSession::receiver(*s, k).ok());
            self.srtp_rx_key = theirs.map(|(_, k)| k);
        }
    }

    /// Start (or move) our media toward what `body` names.
    fn start_media(&mut self, now: Time, body: &[u8], our_direction: &str) {
        let Some((remote, _, _)) = sdp_read(body) else { return };
        let given = sdp_voices(body);
        let first = self.behaviour.codecs.first().copied().unwrap_or(Voice::Mu);
        let (pt, voice) =
            given.into_iter().find(|(_, v)| self.behaviour.codecs.contains(v)).unwrap_or((first.pt(), first));
        let sending = matches!(our_direction, "sendrecv" | "sendonly") && !self.vanished;
        let te_pt = sdp_telephone_event(body);
        if self.behaviour.srtp {
            // It sends with its own key.
            if self.srtp_tx.is_none() {
                self.srtp_tx = SrtpSession::sender(Suite::AesCm128HmacSha1_80, &self.srtp_key).ok();
            }
            self.srtp_receive_with(body);
        }
        match &mut self.media {
            Some(f) => {
                f.remote = remote;
                f.voice = voice;
                f.pt = pt;
                f.cn_pt = sdp_cn(body).filter(|_| self.behaviour.comfort_noise);
                f.te_pt = te_pt;
                if sending && !f.sending {
                    f.next = now;
                }
                f.sending = sending;
            }
            None => {
                let ssrc = (self.rng.next_u64() >> 32) as u32;
                let digits = Default::default();
                let cn_pt = sdp_cn(body).filter(|_| self.behaviour.comfort_noise);
                self.media = Some(Flow {
                    remote,
                    sending,
                    next: now,
                    ssrc,
                    seq: 1,
                    ts: 0,
                    voice,
                    pt,
                    te_pt,
                    digits,
                    silent_until: None,
                    cn_pt,
                    cn_next: now,
                    rtcp_next: now + Duration::from_millis(2500),
                    sent_packets: 0,
                    sent_octets: 0,
                });
            }
        }
    }

    fn send_media(&mut self, now: Time) {
        let ptime = self.behaviour.ptime_ms;
        let Some(f) = self.media.as_mut() else { return };
        while f.sending && f.next <= now {
            let te = f.te_pt.filter(|_| f.ts % 800 == 0).and_then(|pt| f.digits.pop_front().map(|d| (pt, d)));
            if let Some((pt, d)) = te {
                // RFC 4733: three updates then three end packets, one timestamp.
                let event = event_of_key(d).unwrap_or(0);
                for (i, (end, dur)) in
                    [(false, 160u16), (false, 320), (false, 480), (true, 640), (true, 640), (true, 640)]
                        .into_iter()
                        .enumerate()
                {
                    let mut p = Vec::with_capacity(16);
                    p.extend_from_slice(&[0x80, pt | if i == 0 { 0x80 } else { 0 }]);
                    p.extend_from_slice(&f.seq.to_be_bytes());
                    p.extend_from_slice(&f.ts.to_be_bytes());
                    p.extend_from_slice(&f.ssrc.to_be_bytes());
                    p.extend_from_slice(&[event, if end { 0x8a } else { 0x0a }]);
                    p.extend_from_slice(&dur.to_be_bytes());
                    self.media_out.push((f.remote, Bytes::from(seal(&mut self.srtp_tx, p))));
                    f.seq = f.seq.wrapping_add(1);
                }
                self.observed.dtmf_sent.push(d);
            }
            if f.silent_until.is_some_and(|t| f.next < t) {
                // Silent: with CN negotiated, a CN packet (level 40 -dBov) at
                // the start and every second after; nothing otherwise.
                if let (Some(cn), true) = (f.cn_pt, f.cn_next <= f.next) {
                    f.cn_next = f.next + Duration::from_secs(1);
                    let mut p = vec![0x80, cn];
                    p.extend_from_slice(&f.seq.to_be_bytes());
                    p.extend_from_slice(&f.ts.to_be_bytes());
                    p.extend_from_slice(&f.ssrc.to_be_bytes());
                    p.push(40);
                    self.media_out.push((f.remote, Bytes::from(seal(&mut self.srtp_tx, p))));
                    f.seq = f.seq.wrapping_add(1);
                    self.observed.cn_sent += 1;
                }
                let _ = self.speaker.pcm_ms(f.voice.rate(), ptime);
                f.ts = f.ts.wrapping_add(f.voice.ts_step() * ptime / 20);
                f.next = f.next + Duration::from_millis(u64::from(ptime));
                continue;
            }
            let mut p = Vec::with_capacity(172);
            p.extend_from_slice(&[0x80, f.pt]);
            p.extend_from_slice(&f.seq.to_be_bytes());
            p.extend_from_slice(&f.ts.to_be_bytes());
            p.extend_from_slice(&f.ssrc.to_be_bytes());
            match f.voice.law() {
                Some(law) if ptime == 20 => {
                    let frame = self.keypad.frame(law).unwrap_or_else(|| self.speaker.frame(law));
                    p.extend_from_slice(&frame);
                }
                _ => {
                    let pcm = self.speaker.pcm_ms(f.voice.rate(), ptime);
                    if self.encoder.as_ref().is_none_or(|(v, _)| *v != f.voice) {
                        self.encoder = VoiceEncoder::new(f.voice).map(|e| (f.voice, e));
                    }
                    if let Some((_, e)) = self.encoder.as_mut() {
                        p.extend_from_slice(&e.encode(&pcm));
                    }
                }
            }
            f.sent_packets = f.sent_packets.wrapping_add(1);
            f.sent_octets = f.sent_octets.wrapping_add(p.len() as u32 - 12);
            self.media_out.push((f.remote, Bytes::from(seal(&mut self.srtp_tx, p))));
            if self.behaviour.rtcp && f.rtcp_next <= f.next {
                // An SR (NTP time from the simulated clock) to the RTCP port.
                f.rtcp_next = f.rtcp_next + Duration::from_secs(5);
                let ns = f.next.as_nanos();
                let ntp = ((ns / 1_000_000_000) << 32) | (((ns % 1_000_000_000) << 32) / 1_000_000_000);
                let mut r = vec![0x80, 200, 0, 6];
                r.extend_from_slice(&f.ssrc.to_be_bytes());
                r.extend_from_slice(&ntp.to_be_bytes());
                r.extend_from_slice(&f.ts.to_be_bytes());
                r.extend_from_slice(&f.sent_packets.to_be_bytes());
                r.extend_from_slice(&f.sent_octets.to_be_bytes());
                if let Some(s) = self.srtp_tx.as_mut() {
                    let _ = s.protect_rtcp(&mut r);
                }
                let to = SocketAddr::new(f.remote.ip(), f.remote.port().wrapping_add(1));
                self.media_out.push((to, Bytes::from(r)));
                self.observed.rtcp_sent += 1;
            }
            f.seq = f.seq.wrapping_add(1);
            f.ts = f.ts.wrapping_add(f.voice.ts_step() * ptime / 20);
            f.next = f.next + Duration::from_millis(u64::from(ptime));
            self.observed.rtp_sent += 1;
        }
    }

    /// Calls and transactions still open (for the end-of-run leak check).
    pub fn open_transactions(&self) -> usize {
        self.txs.len()
    }

    fn at(&mut self, when: Time, what: Timed) {
        self.seq += 1;
        self.timers.insert((when, self.seq), what);
    }

    fn send_request(&mut self, now: Time, text: impl Into<Bytes>) -> Option<TxId> {
        let msg = Message::parse_datagram(text.into()).ok()?;
        self.txs.send_request(now, msg, self.gateway, self.reliable()).ok()
    }

    /// Place a call to `number`.
    pub fn call(&mut self, now: Time, number: &str) {
        self.last_rtp = None;
        let (tag, call_id, via) = (self.rng.tag(), self.rng.call_id(), self.via());
        let body = if self.behaviour.late_offer { String::new() } else { self.own_sdp("sendrecv") };
        let ct = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
        let text = format!(
            "INVITE sip:{number}@{gw};user=phone SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
From: <sip:+14255550199@{me}>;tag={tag}\r\nTo: <sip:{number}@{gw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:{role}@{me}>\r\nSupported: timer\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            gw = self.gateway,
            me = self.addr,
            role = self.role,
        );
        let Ok(invite) = Message::parse_datagram(Bytes::from(text)) else { return };
        if let Ok(tx) = self.txs.send_request(now, invite.clone(), self.gateway, self.reliable()) {
            self.outgoing.push(Outgoing {
                invite,
                tx,
                sent_at: now,
                first_provisional: false,
                dialog: None,
                next_cseq: 2,
                done: false,
            });
        }
    }

    /// CANCEL the last call placed.
    pub fn cancel(&mut self, now: Time) {
        let Some(c) = self.outgoing.last() else { return };
        let inv = &c.invite;
        let via = inv.header_value(HeaderName::Via).unwrap_or("").to_owned();
        let text = format!(
            "CANCEL {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
            inv.request_uri_str().unwrap_or(""),
            inv.header_value(HeaderName::From).unwrap_or(""),
            inv.header_value(HeaderName::To).unwrap_or(""),
            inv.call_id().unwrap_or(""),
        );
        self.send_request(now, text);
    }

    /// Send an in-dialog request on the last answered call (placed or received).
    /// One DTMF digit as SIP INFO (application/dtmf-relay, 160 ms).
    fn in_dialog_info(&mut self, now: Time, digit: char) {
        let body = format!("Signal={digit}\r\nDuration=160\r\n").into_bytes();
        self.info_body = Some(("Content-Type: application/dtmf-relay\r\n".into(), body));
        self.in_dialog_request(now, "INFO", "");
        self.info_body = None;
    }

    /// One DTMF digit as two NOTIFYs (Event: telephone-event): the key
    /// press starts (no end bit), then ends after 160 ms.
    fn in_dialog_notify(&mut self, now: Time, digit: char) {
        let event = event_of_key(digit).unwrap_or(0);
        let headers = "Event: telephone-event;rate=1000\r\nContent-Type: audio/telephone-event\r\n";
        for body in [[event, 10, 0, 0], [event, 0x80 | 10, 0, 160]] {
            self.info_body = Some((headers.into(), body.to_vec()));
            self.in_dialog_request(now, "NOTIFY", "");
        }
        self.info_body = None;
    }

    pub fn in_dialog_request(&mut self, now: Time, method: &str, direction: &str) {
        match method {
            "BYE" => {
                self.media = None;
                self.last_rtp = None;
            }
            "INVITE" => self.offered_direction = Some(direction.to_owned()),
            _ => {}
        }
        let via = self.via();
        // `reinvite nosdp`: a re-INVITE without an offer (the far side
        // offers in its 200, the answer goes in the ACK).
        let body = (method == "INVITE" && direction != "nosdp").then(|| self.own_sdp(direction));
        let ct = match (&body, &self.info_body) {
            (Some(b), _) => format!("Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}", b.len()).into(),
            (None, Some((h, b))) if matches!(method, "INFO" | "NOTIFY") => {
                [format!("{h}Content-Length: {}\r\n\r\n", b.len()).as_bytes(), b].concat()
            }
            _ => b"Content-Length: 0\r\n\r\n".to_vec(),
        };
        let contact = format!("<sip:{}@{}>", self.role, self.addr);
        let text = if let Some(c) = self.outgoing.iter_mut().rev().find(|c| c.dialog.is_some() && !c.done) {
            let Some((to, target)) = c.dialog.clone() else { return };
            let seq = c.next_cseq;
            c.next_cseq += 1;
            if method == "BYE" {
                c.done = true;
            }
            format!(
                "{method} {target} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {seq} {method}\r\nContact: {contact}\r\n",
                c.invite.header_value(HeaderName::From).unwrap_or(""),
                c.invite.call_id().unwrap_or(""),
            )
        } else if let Some(c) = self.incoming.iter_mut().rev().find(|c| c.answered_tag.is_some()) {
            let tag = c.answered_tag.clone().unwrap_or_default();
            let target = match c.invite.contacts().next() {
                Some(Ok(gateway::sip::msg::Contact::Addr(a))) => a.uri.raw.to_owned(),
                _ => return,
            };
            let seq = c.next_cseq;
            c.next_cseq += 1;
            if method == "BYE" {
                c.answered_tag = None;
            }
            format!(
                "{method} {target} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {};tag={tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} {method}\r\nContact: {contact}\r\n",
                c.invite.header_value(HeaderName::To).unwrap_or(""),
                c.invite.header_value(HeaderName::From).unwrap_or(""),
                c.invite.call_id().unwrap_or(""),
            )
        } else {
            return;
        };
        if let Some(tx) = self.send_request(now, [text.into_bytes(), ct].concat()) {
            self.in_dialog.insert(tx, method.to_owned());
        }
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, data: Bytes) {
        let Ok(msg) = Message::parse_datagram(data) else { return };
        if msg.is_request() {
            if self.behaviour.silent {
                return;
            }
            // A full table leaves the request unanswered: the gateway retransmits.
            let reliable = self.reliable();
            let _ = self.txs.handle_request(now, msg, from, reliable);
        } else {
            self.txs.handle_response(now, msg);
        }
        self.drain(now);
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.txs.handle_timeout(now);
        self.send_media(now);
        while let Some((&(t, s), _)) = self.timers.iter().next() {
            if t > now {
                break;
            }
            if let Some(what) = self.timers.remove(&(t, s)) {
                self.fire(now, what);
            }
        }
        self.drain(now);
    }

    fn drain(&mut self, now: Time) {
        while let Some(e) = self.txs.poll_event() {
            match e {
                TxEvent::Request { tx, msg, .. } => self.on_request(now, tx, msg),
                TxEvent::Response { tx, msg } => self.on_response(now, tx, &msg),
                TxEvent::Stray { msg } => self.on_stray(&msg),
                TxEvent::Timeout { tx, .. } | TxEvent::TransportError { tx } => {
                    if let Some(c) = self.outgoing.iter_mut().find(|c| c.tx == tx) {
                        if !c.done {
                            c.done = true;
                            self.observed.finals.push(408);
                        }
                    }
                    if let Some(m) = self.in_dialog.remove(&tx) {
                        self.observed.in_dialog_finals.push((m, 408));
                    }
                }
                // An answer in the ACK (to the offer of our 2xx: a late offer).
                TxEvent::Ack { msg, .. } => {
                    if !msg.body().is_empty() {
                        let body = msg.body().to_vec();
                        self.start_media(now, &body, "sendrecv");
                    }
                }
                TxEvent::Terminated { .. } => {}
            }
        }
    }

    fn respond(&mut self, now: Time, tx: TxId, status: u16, tag: Option<&str>, body: Option<String>) {
        let Some(req) = self.txs.request(tx).cloned() else { return };
        let contact = format!("<sip:{}@{}>", self.role, self.addr);
        let extra: Vec<(&str, &str)> = if (101..300).contains(&status) { vec![("Contact", &contact)] } else { vec![] };
        let reason = match status {
            100 => "Trying",
            180 => "Ringing",
            183 => "Session Progress",
            200 => "OK",
            486 => "Busy Here",
            487 => "Request Terminated",
            503 => "Service Unavailable",
            _ => "Response",
        };
        let resp = build::response(
            &req,
            status,
            reason,
            tag,
            &extra,
            body.as_deref().map(|b| ("application/sdp", b.as_bytes())),
        );
        let _ = self.txs.send_response(now, tx, status, Bytes::from(resp));
    }

    fn on_request(&mut self, now: Time, tx: TxId, msg: Message) {
        let in_dialog = msg.to().ok().and_then(|t| t.tag().map(str::to_owned)).is_some();
        match msg.method() {
            Some(Method::Invite) if !in_dialog => {
                self.observed.invites_received += 1;
                self.last_rtp = None;
                if let Some(code) = self.behaviour.reject {
                    let tag = self.rng.tag();
                    self.respond(now, tx, code, Some(&tag), None);
                    return;
                }
                // An offer of voice codecs of which it speaks none: 488, as
                // a real endpoint answers (it never answers outside an offer).
                let offered = sdp_voices(msg.body());
                let b = &self.behaviour;
                let speaks =
                    |v: &Voice| b.codecs.contains(v) || b.answer_codecs.as_ref().is_some_and(|a| a.contains(v));
                if !offered.is_empty() && !offered.iter().any(|(_, v)| speaks(v)) {
                    let tag = self.rng.tag();
                    self.respond(now, tx, 488, Some(&tag), None);
                    return;
                }
                self.respond(now, tx, 100, None, None);
                let idx = self.incoming.len();
                let tags = (0..self.behaviour.forks.max(1)).map(|_| self.rng.tag()).collect();
                self.incoming.push(Incoming {
                    tx,
                    invite: msg,
                    tags,
                    answered_tag: None,
                    canceled: false,
                    next_cseq: 1,
                });
                let b = self.behaviour.clone();
                for fork in 0..b.forks.max(1) {
                    self.at(
                        now + b.ring_after + Duration::from_millis(u64::from(fork) * 20),
                        Timed::Provisional { call: idx, fork, status: 180 },
                    );
                }
                if b.early_media {
                    self.at(
                        now + b.ring_after + Duration::from_millis(200),
                        Timed::Provisional { call: idx, fork: 0, status: 183 },
                    );
                }
                if let Some(a) = b.answer_after {
                    self.at(now + a, Timed::Answer { call: idx });
                }
            }
            Some(Method::Invite) => {
                self.observed.reinvites_received += 1;
                let offered = sdp_target(msg.body()).map(|(_, d)| d).unwrap_or_else(|| "sendrecv".to_owned());
                let dir = answer_direction(&offered);
                if self.media.is_some() {
                    self.start_media(now, msg.body(), dir);
                }
                let body = self.own_sdp(dir);
                self.respond(now, tx, 200, None, Some(body));
            }
            Some(Method::Cancel) => {
                self.observed.cancels_received += 1;
                self.respond(now, tx, 200, None, None);
                if let Some(inv_tx) = self.txs.invite_for_cancel(&msg) {
                    if let Some(c) = self.incoming.iter_mut().find(|c| c.tx == inv_tx) {
                        c.canceled = true;
                        let tag = c.tags.first().cloned();
                        self.respond(now, inv_tx, 487, tag.as_deref(), None);
                    }
                }
            }
            Some(Method::Bye) => {
                self.observed.byes_received += 1;
                self.media = None;
                self.last_rtp = None;
                let call_id = msg.call_id().unwrap_or("").to_owned();
                for c in self.outgoing.iter_mut().filter(|c| c.invite.call_id().ok() == Some(call_id.as_str())) {
                    c.done = true;
                }
                for c in self.incoming.iter_mut().filter(|c| c.invite.call_id().ok() == Some(call_id.as_str())) {
                    c.answered_tag = None;
                }
                self.respond(now, tx, 200, None, None);
            }
            Some(Method::Info) => {
                let text = String::from_utf8_lossy(msg.body()).into_owned();
                let digit =
                    text.lines().find_map(|l| l.trim().strip_prefix("Signal=").and_then(|v| v.trim().chars().next()));
                if let Some(d) = digit {
                    self.observed.dtmf_received.push(d);
                }
                self.respond(now, tx, 200, None, None);
            }
            Some(Method::Notify)
                if msg.header_value(HeaderName::Event).is_some_and(|e| e.starts_with("telephone-event")) =>
            {
                // The key press ends with the end bit set: one digit.
                let b = msg.body();
                if b.len() >= 4 && b[1] & 0x80 != 0 {
                    self.observed.dtmf_received.push(key_of_event(b[0]));
                }
                self.respond(now, tx, 200, None, None);
            }
            _ => self.respond(now, tx, 200, None, None),
        }
    }

    fn fire(&mut self, now: Time, what: Timed) {
        match what {
            Timed::Provisional { call, fork, status } => {
                let Some(c) = self.incoming.get(call) else { return };
                if c.canceled || c.answered_tag.is_some() {
                    return;
                }
                let (tx, tag) = (c.tx, c.tags.get(fork as usize).cloned());
                let body = (status == 183).then(|| self.own_sdp("sendrecv"));
                self.respond(now, tx, status, tag.as_deref(), body);
            }
            Timed::Answer { call } => {
                let fork = self.behaviour.answering_fork as usize;
                let Some(c) = self.incoming.get_mut(call) else { return };
                if c.canceled {
                    return;
                }
                let tag = c.tags.get(fork).or(c.tags.first()).cloned().unwrap_or_default();
                c.answered_tag = Some(tag.clone());
                let tx = c.tx;
                let offer = c.invite.body().to_vec();
                // The answering client may speak other codecs than the one
                // that sent early media.
                if let Some(codecs) = self.behaviour.answer_codecs.clone() {
                    self.behaviour.codecs = codecs;
                }
                let body = self.own_sdp("sendrecv");
                self.respond(now, tx, 200, Some(&tag), Some(body));
                self.start_media(now, &offer, "sendrecv");
            }
        }
    }

    fn on_response(&mut self, now: Time, tx: TxId, msg: &Message) {
        let status = msg.status().unwrap_or(0);
        if let Some(m) = self.in_dialog.get(&tx).cloned() {
            if status >= 200 {
                self.in_dialog.remove(&tx);
                self.observed.in_dialog_finals.push((m.clone(), status));
                if m == "INVITE" && status < 300 && self.offered_direction.as_deref() == Some("nosdp") {
                    // Our re-INVITE had no offer: the 200 has one; answer in the ACK.
                    self.offered_direction = None;
                    let answer = self.own_sdp("sendrecv");
                    self.ack_with(msg, msg.cseq().map_or(1, |c| c.seq), Some(&answer));
                    if self.media.is_some() {
                        self.start_media(now, msg.body(), "sendrecv");
                    }
                } else if m == "INVITE" && status < 300 {
                    self.ack(msg, msg.cseq().map_or(1, |c| c.seq));
                    let dir = self.offered_direction.take().unwrap_or_else(|| "sendrecv".to_owned());
                    if self.media.is_some() {
                        self.start_media(now, msg.body(), &dir);
                    }
                }
            }
            return;
        }
        let Some(i) = self.outgoing.iter().position(|c| c.tx == tx) else { return };
        if (180..200).contains(&status) {
            if let Some(tag) = msg.to().ok().and_then(|t| t.tag().map(str::to_owned)) {
                if !self.observed.provisional_tags.contains(&tag) {
                    self.observed.provisional_tags.push(tag);
                }
            }
            let c = &mut self.outgoing[i];
            if !c.first_provisional {
                c.first_provisional = true;
                self.observed.pdd_ms.push(now.since(c.sent_at).as_millis() as u64);
            }
            // Early media over SRTP: keyed by the provisional's SDP.
            if self.behaviour.srtp && !msg.body().is_empty() {
                self.srtp_receive_with(msg.body());
            }
        }
        if status >= 200 {
            let c = &mut self.outgoing[i];
            if c.dialog.is_none() && !c.done {
                self.observed.finals.push(status);
            }
            if (200..300).contains(&status) {
                let target = match msg.contacts().next() {
                    Some(Ok(gateway::sip::msg::Contact::Addr(a))) => a.uri.raw.to_owned(),
                    _ => self.gateway.to_string(),
                };
                let to = msg.header_value(HeaderName::To).unwrap_or("").to_owned();
                let mut answer = None;
                if self.outgoing[i].dialog.is_none() {
                    self.outgoing[i].dialog = Some((to, target));
                    if !self.outgoing[i].done {
                        self.start_media(now, msg.body(), "sendrecv");
                        // A late offer is answered in the ACK.
                        answer = self.behaviour.late_offer.then(|| self.own_sdp("sendrecv"));
                    }
                }
                self.ack_with(msg, 1, answer.as_deref());
            } else {
                self.outgoing[i].done = true;
            }
        }
    }

    /// ACK a 2xx (a new transaction-less request, RFC 3261 13.2.2.4).
    fn ack(&mut self, resp: &Message, seq: u32) {
        self.ack_with(resp, seq, None);
    }

    /// ACK a 2xx, with an SDP answer when given.
    fn ack_with(&mut self, resp: &Message, seq: u32, sdp: Option<&str>) {
        let target = match resp.contacts().next() {
            Some(Ok(gateway::sip::msg::Contact::Addr(a))) => a.uri.raw.to_owned(),
            _ => format!("sip:{}", self.gateway),
        };
        let via = self.via();
        let text = format!(
            "ACK {target} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} ACK\r\n{}",
            resp.header_value(HeaderName::From).unwrap_or(""),
            resp.header_value(HeaderName::To).unwrap_or(""),
            resp.call_id().unwrap_or(""),
            match sdp {
                Some(b) => format!("Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}", b.len()),
                None => "Content-Length: 0\r\n\r\n".to_owned(),
            },
        );
        self.out.push((self.gateway, Bytes::from(text)));
    }

    fn on_stray(&mut self, msg: &Message) {
        if msg.status().is_some_and(|s| (200..300).contains(&s)) {
            self.ack(msg, msg.cseq().map_or(1, |c| c.seq));
        }
    }
}
