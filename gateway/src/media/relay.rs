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
//!
//! Per direction it also follows the plan [`Relay::set_plan`] gives:
//! payload types renumbered, G.711 laws converted in place, or a codec
//! [`Transcoder`] (frames beyond the first of one input go to
//! [`Relay::poll_extra`]; transcoders bounded by `max_transcoders`), CN
//! turned into noise for a leg without it. Toward each leg one RTP stream
//! ([`crate::media::sequencer`]); what the relay plays itself (ringback,
//! digits, noise) comes out of [`Relay::handle_timeout`], as do the RTCP
//! reports of a leg whose RTCP it terminates ([`crate::media::rtcp`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use crate::media::codec::{Codec, Transcoder};
use crate::media::goertzel::{DtmfConfig, DtmfDetector, DtmfEvent};
use crate::media::negotiate::{DirectionPlan, Transcode};
use crate::media::noise::ComfortNoise;
use crate::media::rtcp::{self as rtcp_end, Reception, SenderInfo};
use crate::media::sequencer::{rename_rtcp, Sequencer};
use crate::media::srtp::{Context, MasterKey, SrtpError, Suite};
use crate::media::tone::{Cadence, Tone, ToneGenerator};
use crate::time::Time;

/// The port range and bounds of the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// First port of the range (rounded up to even).
    pub port_min: u16,
    /// Last port of the range (an RTCP port at most).
    pub port_max: u16,
    /// Directions transcoding through a codec (decode, resample, encode)
    /// at once; G.711 law conversion is not counted (it is a table lookup).
    pub max_transcoders: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig { port_min: 40_000, port_max: 59_999, max_transcoders: DEFAULT_MAX_TRANSCODERS }
    }
}

/// Default bound on codec transcoders (both directions of a call count):
/// what one core sustains for the costliest pair (see benches/transcode.rs).
pub const DEFAULT_MAX_TRANSCODERS: usize = 400;

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("media port pool exhausted")]
    PoolExhausted,
    #[error("transcoder limit reached ({0} in use)")]
    TranscoderLimit(usize),
    #[error("cannot transcode {from:?} to {to:?}: {why}")]
    Transcoder { from: Codec, to: Codec, why: String },
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
    /// A payload type the negotiation did not allow on the other leg.
    pub dropped_unmapped_pt: u64,
    /// Packets whose payload was transcoded.
    pub transcoded: u64,
    /// Voice payloads the transcoder's decoder refused (malformed).
    pub dropped_undecodable: u64,
    /// Packets that left a transcoder (frames re-packetized may differ in count).
    pub transcoded_out: u64,
    /// SRTP/SRTCP that did not authenticate (or was malformed).
    pub dropped_srtp_auth: u64,
    /// SRTP/SRTCP replayed or older than the replay window.
    pub dropped_srtp_replay: u64,
    /// Could not be protected (no room, key exhausted).
    pub dropped_srtp_protect: u64,
    /// Packets the gateway generated (ringback, RFC 4733 from SIP INFO).
    pub injected: u64,
    /// telephone-event packets taken out for SIP INFO.
    pub events_to_signalling: u64,
    /// Comfort-noise packets turned into noise toward a leg without CN.
    pub comfort_noise: u64,
    /// RTCP the gateway terminated (read, or not relayed to a leg whose
    /// RTCP is its own), and RTCP it generated.
    pub rtcp_terminated: u64,
    pub rtcp_generated: u64,
}

/// Write the in-band digit due into `payload` (G.711, one sample a byte);
/// true when it did.
fn play_inband(o: &mut InbandOut, payload: &mut [u8]) -> bool {
    if o.tone.is_none() && o.gap == 0 {
        if let Some((event, ms)) = o.queue.pop_front() {
            let tone = Tone::dtmf(dtmf_char(event), -10.0, 8000).map(|t| ToneGenerator::new(t, Cadence::continuous()));
            o.tone = tone.map(|g| (g, ms * 8));
        }
    }
    if let Some((gen, left)) = o.tone.as_mut() {
        let mut pcm = [0i16; 480];
        let n = payload.len().min(pcm.len());
        gen.fill(&mut pcm[..n]);
        match o.law {
            Law::Ulaw => crate::media::g711::encode_ulaw(&pcm[..n], &mut payload[..n]),
            Law::Alaw => crate::media::g711::encode_alaw(&pcm[..n], &mut payload[..n]),
        };
        *left = left.saturating_sub(n as u32);
        if *left == 0 {
            o.tone = None;
            o.gap = 480; // 60 ms between digits
        }
        return true;
    }
    if o.gap > 0 {
        let n = payload.len().min(o.gap as usize);
        o.gap -= n as u32;
        payload[..n].fill(silence(o.law));
        return true;
    }
    false
}

/// Protect a packet for a leg that speaks SRTP (no-op for plain RTP).
fn protect(
    srtp: &mut Option<Srtp>,
    rtcp: bool,
    buf: &mut [u8],
    len: usize,
    counters: &mut RelayCounters,
) -> Option<usize> {
    let Some(s) = srtp.as_mut() else { return Some(len) };
    let r = if rtcp { s.ctx.protect_rtcp(buf, len) } else { s.ctx.protect_rtp(buf, len) };
    match r {
        Ok(n) => Some(n),
        Err(_) => {
            counters.dropped_srtp_protect += 1;
            None
        }
    }
}

/// Convert a payload in place (same-size conversions only, so far).
fn transcode_in_place(t: Transcode, payload: &mut [u8]) {
    match (t.from, t.to) {
        (Codec::Pcmu, Codec::Pcma) => crate::media::g711::transcode_ulaw_to_alaw(payload),
        (Codec::Pcma, Codec::Pcmu) => crate::media::g711::transcode_alaw_to_ulaw(payload),
        _ => {}
    }
}

/// Per-leg packet counts (for CDRs and the transcript's stream summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub first_packet: Option<Time>,
    pub last_packet: Option<Time>,
}

/// One direction of SRTP on a leg: its key, and the crypto context keyed by it.
struct Srtp {
    suite: Suite,
    key: MasterKey,
    ctx: Box<Context>,
}

impl std::fmt::Debug for Srtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Srtp({:?})", self.suite)
    }
}

impl Clone for Srtp {
    fn clone(&self) -> Self {
        Srtp { suite: self.suite, key: self.key.clone(), ctx: Box::new(Context::new(self.suite, &self.key)) }
    }
}

impl Srtp {
    fn new(suite: Suite, key: MasterKey) -> Srtp {
        Srtp { suite, ctx: Box::new(Context::new(suite, &key)), key }
    }
}

/// Replace an SRTP direction only if the key changed (a re-INVITE that
/// repeats the key keeps the rollover counter and replay window).
fn rekey(slot: &mut Option<Srtp>, want: Option<(Suite, MasterKey)>) {
    match (slot.as_ref(), want) {
        (Some(cur), Some((suite, key))) if cur.suite == suite && cur.key == key => {}
        (_, Some((suite, key))) => *slot = Some(Srtp::new(suite, key)),
        (_, None) => *slot = None,
    }
}

/// The G.711 law of injected audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    Ulaw,
    Alaw,
}

/// Audio the gateway itself plays toward a leg's peer (ringback, comfort
/// noise): 20 ms frames of the leg's codec from a generator.
#[derive(Debug)]
struct Injector {
    gen: Signal,
    enc: InjectCodec,
    pt: u8,
    /// Names the stream when it is the first thing sent toward the leg.
    ssrc: u32,
    next: Time,
}

/// How an injector encodes: G.711 by table, any other codec by its encoder.
enum InjectCodec {
    G711(Law),
    Encoder(Codec, Box<crate::media::codec::Encoder>),
}

impl std::fmt::Debug for InjectCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InjectCodec::G711(l) => write!(f, "G711({l:?})"),
            InjectCodec::Encoder(c, _) => write!(f, "Encoder({c:?})"),
        }
    }
}

impl InjectCodec {
    /// The encoder for `codec` (`None` if its library cannot start).
    fn new(codec: Codec) -> Option<InjectCodec> {
        Some(match codec {
            Codec::Pcmu => InjectCodec::G711(Law::Ulaw),
            Codec::Pcma => InjectCodec::G711(Law::Alaw),
            c => InjectCodec::Encoder(c, Box::new(crate::media::codec::Encoder::new(c).ok()?)),
        })
    }

    /// PCM samples in 20 ms, and the RTP timestamp step.
    fn frame(&self) -> (usize, u32) {
        match self {
            InjectCodec::G711(_) => (INJECT_FRAME, INJECT_FRAME as u32),
            InjectCodec::Encoder(c, _) => (c.samples(20), c.rtp_clock() / 50),
        }
    }

    /// Encode `pcm` after `out`'s header; false when it cannot.
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> bool {
        let at = out.len();
        match self {
            InjectCodec::G711(law) => {
                out.resize(at + pcm.len(), 0);
                match law {
                    Law::Ulaw => crate::media::g711::encode_ulaw(pcm, &mut out[at..]),
                    Law::Alaw => crate::media::g711::encode_alaw(pcm, &mut out[at..]),
                };
                true
            }
            InjectCodec::Encoder(_, e) => {
                out.resize(at + 1500, 0);
                match e.encode(pcm, &mut out[at..]) {
                    Ok(n) => {
                        out.truncate(at + n);
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }
}

/// What an injector plays.
#[derive(Debug, Clone)]
enum Signal {
    Tone(Box<ToneGenerator>),
    /// Comfort noise while the other leg is silent (it sent CN).
    Noise(ComfortNoise),
}

impl Signal {
    fn fill(&mut self, out: &mut [i16]) {
        match self {
            Signal::Tone(g) => g.fill(out),
            Signal::Noise(n) => n.fill(out),
        }
    }
}

/// What to play toward a leg: a tone (made at `codec`'s sample rate), as
/// `codec` at payload type `pt`, in an RTP stream of its own (`ssrc`).
#[derive(Debug, Clone)]
pub struct Playback {
    pub gen: ToneGenerator,
    pub codec: Codec,
    pub pt: u8,
    pub ssrc: u32,
}

/// Digits played as tones into the audio toward a leg (in-band DTMF).
#[derive(Debug, Clone)]
struct InbandOut {
    law: Law,
    /// The tone playing and the samples it has left; then a gap.
    tone: Option<(ToneGenerator, u32)>,
    gap: u32,
    queue: VecDeque<(u8, u32)>,
}

/// DTMF detection in the audio a leg sends (in-band DTMF).
#[derive(Debug, Clone)]
struct InbandIn {
    law: Law,
    detector: Box<DtmfDetector>,
    /// A digit is sounding: its audio is muted toward the other leg.
    in_digit: bool,
}

/// The key of an RFC 4733 event code (0-9, 10 = *, 11 = #, 12-15 = A-D).
pub fn dtmf_char(event: u8) -> char {
    match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        e => char::from(b'A' + (e.min(15) - 12)),
    }
}

/// The RFC 4733 event code of a key (`0`-`9`, `*`, `#`, `A`-`D`).
pub fn dtmf_event(c: char) -> Option<u8> {
    match c {
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(12 + (c as u8 - b'A')),
        c => c.to_digit(10).map(|d| d as u8),
    }
}

fn silence(law: Law) -> u8 {
    match law {
        Law::Ulaw => 0xff,
        Law::Alaw => 0xd5,
    }
}

/// A digit reported from RFC 4733 events (for SIP INFO on the other leg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    pub stream: StreamId,
    /// The leg the events came from.
    pub from: Side,
    /// RFC 4733 event code (0-9, 10 = *, 11 = #, 12-15 = A-D).
    pub event: u8,
    pub duration_ms: u32,
}

/// RFC 4733 events the gateway plays toward a leg: one update per 20 ms
/// for the digit's duration, three end packets, 40 ms between digits.
#[derive(Debug, Clone)]
struct DigitPlayer {
    pt: u8,
    /// Names the stream when it is the first thing sent toward the leg.
    ssrc: u32,
    /// The timestamp of the digit playing (its start).
    ts: u32,
    next: Time,
    queue: VecDeque<(u8, u32)>,
    /// The digit playing: event, its length in samples, samples sent, end packets sent.
    current: Option<(u8, u32, u32, u8)>,
}

impl DigitPlayer {
    /// The packets due by `now` (payloads with their marker bit), advancing.
    /// Sequence numbers and timestamps come from the leg's stream (`out`).
    fn due(&mut self, now: Time, out: &mut Sequencer, mut emit: impl FnMut(Vec<u8>)) {
        while self.next <= now {
            if self.current.is_none() {
                let Some((event, ms)) = self.queue.pop_front() else { return };
                self.current = Some((event, ms * 8, 0, 0));
                self.ts = out.event_ts(self.next, self.ssrc);
            }
            let Some((event, total, sent, ends)) = self.current.as_mut() else { return };
            let start = *sent == 0;
            *sent = (*sent + 160).min(*total);
            let end = *sent >= *total;
            if end {
                *ends += 1;
            }
            let (ssrc, seq) = out.injected_event();
            let mut p = Vec::with_capacity(16 + 16);
            p.extend_from_slice(&[0x80, self.pt | if start { 0x80 } else { 0 }]);
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&self.ts.to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(&[*event, if end { 0x80 | 10 } else { 10 }]);
            p.extend_from_slice(&(u16::try_from(*sent).unwrap_or(u16::MAX)).to_be_bytes());
            emit(p);
            if *ends >= 3 {
                self.current = None;
                self.next = self.next + INJECT_PTIME + INJECT_PTIME;
            } else if end {
                // End packets go out together, as RFC 4733 2.5.1.4 allows.
                continue;
            } else {
                self.next = self.next + INJECT_PTIME;
            }
        }
    }

    fn idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }
}

/// One 20 ms frame at 8 kHz.
const INJECT_FRAME: usize = 160;
const INJECT_PTIME: std::time::Duration = std::time::Duration::from_millis(20);

#[derive(Debug)]
struct Leg {
    /// Our RTP port facing this leg's peer (RTCP is +1).
    port: u16,
    remote: Option<Remote>,
    latched: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    stats: LegStats,
    /// SRTP from this leg's peer (unprotected on arrival).
    srtp_in: Option<Srtp>,
    /// SRTP toward this leg's peer (protected before sending).
    srtp_out: Option<Srtp>,
    /// The tag of the crypto line `srtp_in` came from (answers reuse it).
    srtp_in_tag: Option<u32>,
    /// Audio played toward this leg's peer, until real media comes.
    inject: Option<Injector>,
    /// RFC 4733 digits played toward this leg's peer (from SIP INFO).
    digits: Option<DigitPlayer>,
    /// telephone-event payload type this leg's peer sends with (the SDP
    /// the gateway gave it) and receives (its own SDP).
    te_sends: Option<u8>,
    te_receives: Option<u8>,
    /// In-band DTMF toward and from this leg's peer.
    inband_out: Option<InbandOut>,
    inband_in: Option<InbandIn>,
    /// The one RTP stream sent toward this leg's peer.
    out: Sequencer,
    /// RTCP with this leg's peer is the gateway's own (not relayed).
    rtcp: Option<Box<RtcpEnd>>,
}

/// The gateway's end of RTCP on a leg (RFC 3550).
#[derive(Debug, Clone, Default)]
struct RtcpEnd {
    /// The RTP the peer sends.
    reception: Reception,
    /// RTP sent toward the peer (for the SR).
    packets: u32,
    octets: u32,
    /// When the next report is due (scheduled from the first RTP either way).
    next: Option<Time>,
    /// What the peer last reported of the stream it receives: fraction
    /// lost (1/256) and jitter (RTP clock units).
    peer_report: Option<(u8, u32)>,
}

impl RtcpEnd {
    /// An SR from the peer: kept when it is about the stream followed.
    fn reception_sr(&mut self, ssrc: u32, ntp: u64, now: Time) {
        if self.reception.ssrc() == Some(ssrc) {
            self.reception.on_sender_report(ntp, now);
        }
    }
}

/// RTCP report interval of a terminated leg (RFC 3550's 5 s minimum).
const RTCP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

impl Leg {
    fn new(port: u16) -> Leg {
        Leg {
            port,
            remote: None,
            latched: None,
            latched_rtcp: None,
            stats: LegStats::default(),
            srtp_in: None,
            srtp_out: None,
            srtp_in_tag: None,
            inject: None,
            digits: None,
            te_sends: None,
            te_receives: None,
            inband_out: None,
            inband_in: None,
            out: Sequencer::new(8000),
            rtcp: None,
        }
    }
}

/// How packets received on one leg are rewritten before they go out on
/// the other (from [`crate::media::negotiate::DirectionPlan`]).
#[derive(Debug)]
struct Rewrite {
    /// Payload type in -> out; `NO_PT`: dropped. Inactive: identity.
    pt_map: [u8; 128],
    active: bool,
    /// Transcoding of the voice payload type (`voice_pt`, as received).
    transcode: Option<Transcode>,
    voice_pt: u8,
    /// Events are taken out of the stream and reported (the other leg
    /// speaks SIP INFO), instead of relayed.
    events_to_signalling: bool,
    /// Timestamp of the last event reported (an event ends once).
    last_event_ts: Option<u32>,
    /// A codec transcoder (when `transcode` is not in place), with the
    /// sequence number and timestamp of the next frame it sends.
    codec: Option<CodecPath>,
    /// Comfort noise (RFC 3389) received at this payload type is played as
    /// noise in `noise_codec` toward the other leg, which has no CN.
    cn_pt: u8,
    noise_codec: Option<Codec>,
}

/// One direction through a codec transcoder.
struct CodecPath {
    tc: Box<Transcoder>,
    ptime_ms: u32,
    seq: u16,
    ts: Option<u32>,
}

impl std::fmt::Debug for CodecPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodecPath({:?} -> {:?}, {} ms)", self.tc.from(), self.tc.to(), self.ptime_ms)
    }
}

const NO_PT: u8 = 0xff;

impl Default for Rewrite {
    fn default() -> Self {
        Rewrite {
            pt_map: [NO_PT; 128],
            active: false,
            transcode: None,
            voice_pt: NO_PT,
            events_to_signalling: false,
            last_event_ts: None,
            codec: None,
            cn_pt: NO_PT,
            noise_codec: None,
        }
    }
}

#[derive(Debug)]
struct Stream {
    legs: [Leg; 2],
    /// Indexed by the leg packets arrive on.
    rewrite: [Rewrite; 2],
}

/// The offset of an RTP payload (after CSRCs and a header extension), if
/// the packet is long enough to have one.
fn payload_offset(p: &[u8]) -> Option<usize> {
    let cc = usize::from(p.first()? & 0x0f);
    let mut off = 12 + 4 * cc;
    if p.first()? & 0x10 != 0 {
        let words = u16::from_be_bytes([*p.get(off + 2)?, *p.get(off + 3)?]);
        off += 4 + 4 * usize::from(words);
    }
    (off <= p.len()).then_some(off)
}

/// The buffer a shell hands to [`Relay::handle_packet`] (and
/// `Gateway::handle_media`): the packet, and room for what the relay may
/// write in its place: a less compressed codec after transcoding (60 ms of
/// G.711 from 60 ms of G.729 is 480 bytes) and SRTP's tag.
pub const MEDIA_BUFFER: usize = 2048;

/// The SSRC a leg's stream starts with when the gateway's own packets
/// (digits, reports) come before any relayed ones.
fn leg_seed(id: StreamId, side: u8) -> u32 {
    0x5eed_0000 ^ (id.0 as u32).wrapping_mul(2_654_435_761) ^ u32::from(side)
}

/// Transcoded audio is its own source toward the sequencer: the source's
/// SSRC with these bits flipped.
const TRANSCODED_SSRC: u32 = 0x7c0d_ec00;

/// Room kept at the end of a packet buffer for SRTP's authentication tag.
const SRTP_TAG_ROOM: usize = 16;

/// A voice packet (`buf[..len]`, payload at `off`) through a codec
/// transcoder: decoded into its FIFO; each complete frame of the other
/// codec leaves as a packet of its own (a plain 12-byte header: the
/// source's SSRC, the transcoder's own sequence and timestamp, renamed by
/// the out leg's sequencer). The first is written over `buf`, later ones
/// (a shorter packetization time) go to `extra`.
#[allow(clippy::too_many_arguments)]
fn through_codec(
    c: &mut CodecPath,
    now: Time,
    buf: &mut [u8],
    off: usize,
    len: usize,
    fwd: Forward,
    out: &mut Leg,
    counters: &mut RelayCounters,
    extra: &mut VecDeque<(u16, SocketAddr, Vec<u8>)>,
) -> Option<(Forward, usize)> {
    if c.tc.push(&buf[off..len]).is_err() {
        counters.dropped_undecodable += 1;
        return None;
    }
    counters.transcoded += 1;
    let mut hdr = [0u8; 12];
    hdr.copy_from_slice(&buf[..12]);
    hdr[0] = 0x80;
    let in_ts = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    // A source of its own for the sequencer: a switch between transcoded
    // and relayed audio (a re-INVITE changing codecs) is rebased, not a jump.
    let ssrc = u32::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) ^ TRANSCODED_SSRC;
    hdr[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let scale = c.tc.to().rtp_clock() / c.tc.from().rtp_clock().max(1);
    let mut first = None;
    while c.tc.ready() {
        // The first frame is encoded in place (the payload it came in has
        // been decoded); later ones (rare: the out packetization time is
        // shorter than the in one) into packets of their own, queued only
        // once complete and protected.
        let mut own = Vec::new();
        let target: &mut [u8] = if first.is_none() {
            &mut buf[..]
        } else {
            own.resize(MEDIA_BUFFER, 0);
            &mut own[..]
        };
        let room = target.len().saturating_sub(12 + SRTP_TAG_ROOM);
        if room == 0 {
            break;
        }
        // A frame that cannot be encoded is dropped (and counted) by the transcoder.
        let Some((n, step)) = c.tc.pop(&mut target[12..12 + room]) else { continue };
        // In-band DTMF toward this leg (which speaks G.711): over the audio.
        if let (Some(o), Codec::Pcmu | Codec::Pcma) = (out.inband_out.as_mut(), c.tc.to()) {
            play_inband(o, &mut target[12..12 + n]);
        }
        let ts = *c.ts.get_or_insert(in_ts.wrapping_mul(scale.max(1)));
        hdr[2..4].copy_from_slice(&c.seq.to_be_bytes());
        hdr[4..8].copy_from_slice(&ts.to_be_bytes());
        c.seq = c.seq.wrapping_add(1);
        c.ts = Some(ts.wrapping_add(step));
        hdr[1] &= 0x7f;
        out.out.relayed(&mut hdr, now);
        let len = 12 + n;
        target[..12].copy_from_slice(&hdr);
        let Some(sent) = protect(&mut out.srtp_out, false, target, len, counters) else { continue };
        if let Some(end) = out.rtcp.as_mut() {
            end.packets = end.packets.wrapping_add(1);
            end.octets = end.octets.wrapping_add(n as u32);
        }
        counters.transcoded_out += 1;
        counters.rtp_forwarded += 1;
        if first.is_none() {
            first = Some((fwd, sent));
        } else {
            own.truncate(sent);
            extra.push_back((fwd.from_port, fwd.to, own));
        }
    }
    first
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
#[derive(Debug)]
pub struct Relay {
    pool: PortPool,
    streams: HashMap<StreamId, Stream>,
    /// Our RTP port -> (stream, leg).
    by_port: HashMap<u16, (StreamId, Side)>,
    next_id: u64,
    counters: RelayCounters,
    /// Legs with an injector running (few: ringing calls).
    injecting: std::collections::BTreeSet<(StreamId, u8)>,
    /// Digits taken out of streams, for SIP INFO.
    dtmf: VecDeque<DtmfDigit>,
    /// Codec transcoders alive, and their bound.
    transcoders: usize,
    max_transcoders: usize,
    /// Packets beyond the first that a transcoder produced for one input
    /// (a shorter packetization time toward the other leg).
    extra: VecDeque<(u16, SocketAddr, Vec<u8>)>,
    /// Terminated-RTCP legs by when their next report is due.
    rtcp_due: std::collections::BTreeSet<(Time, StreamId, u8)>,
    /// Unix time (ns) at `Time::ZERO`, for the NTP timestamps of SRs.
    wall_at_zero: u64,
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
            injecting: std::collections::BTreeSet::new(),
            dtmf: VecDeque::new(),
            transcoders: 0,
            max_transcoders: cfg.max_transcoders,
            extra: VecDeque::new(),
            rtcp_due: std::collections::BTreeSet::new(),
            wall_at_zero: 0,
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
        self.streams.insert(id, Stream { legs: [Leg::new(a), Leg::new(b)], rewrite: Default::default() });
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

    /// Unix time (ns) at `Time::ZERO`: SRs carry wall-clock NTP
    /// timestamps (0, the default, keeps a simulation deterministic).
    pub fn set_wall_clock(&mut self, unix_ns_at_zero: u64) {
        self.wall_at_zero = unix_ns_at_zero;
    }

    /// RTCP with `side`'s peer is the gateway's own (`true`: its RTCP is
    /// read and not relayed, the other leg's is not relayed to it, and the
    /// gateway reports every 5 s) or relayed (`false`, the default).
    pub fn set_rtcp_terminate(&mut self, id: StreamId, side: Side, on: bool) {
        let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) else { return };
        match (on, leg.rtcp.take()) {
            (true, Some(r)) => leg.rtcp = Some(r),
            (true, None) => leg.rtcp = Some(Box::default()),
            (false, Some(r)) => {
                if let Some(t) = r.next {
                    self.rtcp_due.remove(&(t, id, side as u8));
                }
            }
            (false, None) => {}
        }
    }

    /// What `side`'s peer last reported (RTCP terminated on that leg) of
    /// the stream the gateway sends it: fraction lost (1/256), jitter.
    pub fn peer_report(&self, id: StreamId, side: Side) -> Option<(u8, u32)> {
        self.streams.get(&id)?.legs[side as usize].rtcp.as_ref()?.peer_report
    }

    /// Codec transcoders in use.
    pub fn transcoders(&self) -> usize {
        self.transcoders
    }

    /// When a stream last accepted a packet (RTP or RTCP, relayed or
    /// terminated) from `side`'s peer; `None` if never.
    pub fn last_activity(&self, id: StreamId, side: Side) -> Option<Time> {
        self.streams.get(&id)?.legs[side as usize].stats.last_packet
    }

    /// Whether a stream runs a codec transcoder in either direction (G.711
    /// law conversion in place does not count: it keeps clock, packets and
    /// sizes, so relayed RTCP still describes the stream).
    pub fn transcodes(&self, id: StreamId) -> bool {
        self.streams.get(&id).is_some_and(|s| s.rewrite.iter().any(|r| r.codec.is_some()))
    }

    /// Whether `n` more codec transcoders fit under the bound.
    pub fn can_transcode(&self, n: usize) -> bool {
        self.transcoders + n <= self.max_transcoders
    }

    /// How packets arriving on `from` are rewritten toward the other leg
    /// (payload types, transcoding, re-packetized to `out_ptime_ms` when a
    /// codec transcoder is needed); replaces the previous plan. A
    /// transcoder for the same conversion is kept (its codec state goes
    /// on); a new one counts against `max_transcoders` and is refused
    /// beyond it, leaving the previous plan in place.
    pub fn set_plan(
        &mut self,
        id: StreamId,
        from: Side,
        plan: &DirectionPlan,
        out_ptime_ms: u32,
    ) -> Result<(), RelayError> {
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let old = &mut stream.rewrite[from as usize];
        let ptime = out_ptime_ms.clamp(10, 60) / 10 * 10;
        let codec = match plan.transcode.filter(|t| !t.in_place()) {
            None => None,
            Some(t) => match old.codec.take() {
                Some(c) if c.tc.from() == t.from && c.tc.to() == t.to && c.ptime_ms == ptime => Some(c),
                previous => {
                    let kept = usize::from(previous.is_some());
                    if self.transcoders + 1 > self.max_transcoders + kept {
                        old.codec = previous;
                        return Err(RelayError::TranscoderLimit(self.transcoders));
                    }
                    let tc = Transcoder::new(t.from, t.to, ptime).map_err(|e| RelayError::Transcoder {
                        from: t.from,
                        to: t.to,
                        why: e.to_string(),
                    });
                    let tc = match tc {
                        Ok(tc) => tc,
                        Err(e) => {
                            old.codec = previous;
                            return Err(e);
                        }
                    };
                    self.transcoders = self.transcoders + 1 - kept;
                    let (seq, ts) = previous.map_or((0, None), |p| (p.seq, p.ts));
                    Some(CodecPath { tc: Box::new(tc), ptime_ms: ptime, seq, ts })
                }
            },
        };
        if codec.is_none() && old.codec.take().is_some() {
            self.transcoders -= 1;
        }
        let mut r = Rewrite {
            active: true,
            transcode: plan.transcode,
            events_to_signalling: old.events_to_signalling,
            last_event_ts: old.last_event_ts,
            codec,
            cn_pt: plan.comfort_noise.filter(|pt| *pt < 128).unwrap_or(NO_PT),
            noise_codec: plan.codec,
            ..Rewrite::default()
        };
        for &(pt_in, pt_out) in &plan.pt_map {
            if pt_in < 128 && pt_out < 128 {
                r.pt_map[usize::from(pt_in)] = pt_out;
            }
        }
        r.voice_pt = plan.pt_map.first().map_or(NO_PT, |(pt, _)| *pt);
        stream.rewrite[from as usize] = r;
        if plan.clock > 0 {
            stream.legs[from.other() as usize].out.set_clock(plan.clock);
        }
        Ok(())
    }

    /// A packet a transcoder produced beyond the one `handle_packet`
    /// returned: (our port, destination, packet).
    pub fn poll_extra(&mut self) -> Option<(u16, SocketAddr, Vec<u8>)> {
        self.extra.pop_front()
    }

    /// SRTP from `side`'s peer: the suite and key its SDP's crypto line
    /// `tag` gave (`None`: plain RTP). An unchanged key keeps its context
    /// (rollover counter, replay window).
    pub fn set_srtp_inbound(&mut self, id: StreamId, side: Side, crypto: Option<(u32, Suite, MasterKey)>) {
        if let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) {
            leg.srtp_in_tag = crypto.as_ref().map(|(t, _, _)| *t);
            rekey(&mut leg.srtp_in, crypto.map(|(_, s, k)| (s, k)));
        }
    }

    /// SRTP toward `side`'s peer with our key (`None`: plain RTP).
    pub fn set_srtp_outbound(&mut self, id: StreamId, side: Side, key: Option<(Suite, MasterKey)>) {
        if let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) {
            rekey(&mut leg.srtp_out, key);
        }
    }

    /// The crypto line (tag, suite) `side`'s peer offered, if it speaks SRTP.
    pub fn inbound_crypto(&self, id: StreamId, side: Side) -> Option<(u32, Suite)> {
        let leg = &self.streams.get(&id)?.legs[side as usize];
        Some((leg.srtp_in_tag?, leg.srtp_in.as_ref()?.suite))
    }

    /// The key we send to `side` with, if that leg is SRTP.
    pub fn outbound_key(&self, id: StreamId, side: Side) -> Option<(Suite, MasterKey)> {
        let leg = &self.streams.get(&id)?.legs[side as usize];
        leg.srtp_out.as_ref().map(|s| (s.suite, s.key.clone()))
    }

    /// Packet counts of one leg (what its peer sent us).
    pub fn stats(&self, id: StreamId, side: Side) -> Option<LegStats> {
        self.streams.get(&id).map(|s| s.legs[side as usize].stats)
    }

    /// Play a tone toward `side`'s peer from `now`, as its own RTP stream; it stops when real media is forwarded to
    /// that leg, on [`Relay::stop_tone`], or when the stream closes.
    pub fn start_tone(&mut self, id: StreamId, side: Side, play: Playback, now: Time) {
        if let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) {
            let Playback { gen, codec, pt, ssrc } = play;
            let Some(enc) = InjectCodec::new(codec) else { return };
            leg.inject = Some(Injector { gen: Signal::Tone(Box::new(gen)), enc, pt, ssrc, next: now });
            self.injecting.insert((id, side as u8));
        }
    }

    /// Stop what is played toward `side`.
    pub fn stop_tone(&mut self, id: StreamId, side: Side) {
        if let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) {
            leg.inject = None;
        }
        self.injecting.remove(&(id, side as u8));
    }

    /// The telephone-event payload type `side`'s peer sends with (`Some`
    /// sets it) and receives with (`Some` sets it).
    pub fn set_telephone_event(&mut self, id: StreamId, side: Side, sends: Option<u8>, receives: Option<u8>) {
        if let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) {
            if sends.is_some() {
                leg.te_sends = sends;
            }
            if receives.is_some() {
                leg.te_receives = receives;
            }
        }
    }

    /// In-band DTMF on `side`: `toward` = the law of the audio sent to it
    /// (digits are played into it), `from` = the law of the audio it sends
    /// (digits are detected in it, reported by [`Relay::poll_dtmf`], and
    /// muted toward the other leg). `None` turns either off.
    pub fn set_inband(&mut self, id: StreamId, side: Side, toward: Option<Law>, from: Option<Law>) {
        let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[side as usize]) else { return };
        match toward {
            Some(law) => match leg.inband_out.as_mut() {
                Some(o) => o.law = law,
                None => leg.inband_out = Some(InbandOut { law, tone: None, gap: 0, queue: VecDeque::new() }),
            },
            None => leg.inband_out = None,
        }
        match from {
            Some(law) => match leg.inband_in.as_mut() {
                Some(i) => i.law = law,
                None => {
                    let detector = Box::new(DtmfDetector::new(DtmfConfig::default()));
                    leg.inband_in = Some(InbandIn { law, detector, in_digit: false });
                }
            },
            None => leg.inband_in = None,
        }
    }

    /// Play `event` as a tone into the audio toward `side` (after any
    /// queued); false when in-band DTMF is not on toward it.
    pub fn queue_inband(&mut self, id: StreamId, side: Side, event: u8, duration_ms: u32) -> bool {
        let Some(o) = self.streams.get_mut(&id).and_then(|s| s.legs[side as usize].inband_out.as_mut()) else {
            return false;
        };
        o.queue.push_back((event.min(15), duration_ms.clamp(40, 5000)));
        true
    }

    /// Take telephone-events arriving from `side` out of the stream and
    /// report them ([`Relay::poll_dtmf`]): the other leg speaks SIP INFO.
    pub fn set_events_to_signalling(&mut self, id: StreamId, side: Side, on: bool) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.rewrite[side as usize].events_to_signalling = on;
        }
    }

    /// Whether digits wait in [`Relay::poll_dtmf`].
    pub fn has_dtmf(&self) -> bool {
        !self.dtmf.is_empty()
    }

    /// A digit that ended on a stream whose events go to signalling.
    pub fn poll_dtmf(&mut self) -> Option<DtmfDigit> {
        self.dtmf.pop_front()
    }

    /// Play RFC 4733 events for `digit` toward `side`'s peer (after any
    /// queued before), at the telephone-event payload type that leg
    /// receives. False when that leg has no telephone-event.
    pub fn queue_digit(&mut self, id: StreamId, side: Side, event: u8, duration_ms: u32, now: Time) -> bool {
        let Some(stream) = self.streams.get_mut(&id) else { return false };
        let leg = &mut stream.legs[side as usize];
        let Some(pt) = leg.te_receives else { return false };
        let ssrc = leg_seed(id, side as u8);
        let player = leg.digits.get_or_insert_with(|| DigitPlayer {
            pt,
            ssrc,
            ts: 0,
            next: now,
            queue: VecDeque::new(),
            current: None,
        });
        player.pt = pt;
        if player.queue.is_empty() && player.current.is_none() {
            player.next = player.next.max(now);
        }
        player.queue.push_back((event.min(15), duration_ms.clamp(40, 5000)));
        self.injecting.insert((id, side as u8));
        true
    }

    /// Whether something is played toward `side`.
    pub fn playing(&self, id: StreamId, side: Side) -> bool {
        self.injecting.contains(&(id, side as u8))
    }

    /// When the next injected frame or RTCP report is due.
    pub fn poll_timeout(&self) -> Option<Time> {
        let rtcp = self.rtcp_due.first().map(|(t, _, _)| *t);
        let injected = self
            .injecting
            .iter()
            .filter_map(|(id, side)| {
                let leg = &self.streams.get(id)?.legs[usize::from(*side)];
                let tone = leg.inject.as_ref().map(|i| i.next);
                let digits = leg.digits.as_ref().filter(|d| !d.idle()).map(|d| d.next);
                [tone, digits].into_iter().flatten().min()
            })
            .min();
        [rtcp, injected].into_iter().flatten().min()
    }

    /// The RTCP reports due by `now` on terminated legs.
    fn rtcp_reports(&mut self, now: Time, out: &mut Vec<(u16, SocketAddr, Vec<u8>)>) {
        while let Some(&(due, id, side)) = self.rtcp_due.first().filter(|(t, _, _)| *t <= now) {
            self.rtcp_due.remove(&(due, id, side));
            let Some(leg) = self.streams.get_mut(&id).map(|s| &mut s.legs[usize::from(side)]) else { continue };
            let Some(end) = leg.rtcp.as_mut() else { continue };
            let next = due + RTCP_INTERVAL;
            end.next = Some(next);
            self.rtcp_due.insert((next, id, side));
            let mux = leg.remote.is_some_and(|r| r.rtcp_mux);
            let to = if mux {
                leg.latched.or(leg.remote.map(|r| r.rtp))
            } else {
                leg.latched_rtcp.or(leg.remote.map(|r| r.rtcp))
            };
            let Some(to) = to else { continue };
            let unix = self.wall_at_zero.saturating_add(now.as_nanos());
            let secs = unix / 1_000_000_000 + NTP_UNIX_OFFSET;
            let frac = ((unix % 1_000_000_000) << 32) / 1_000_000_000;
            let sender = match (leg.out.ssrc(), leg.out.ts_now(now)) {
                (Some(_), Some(rtp_ts)) if end.packets > 0 => {
                    Some(SenderInfo { ntp: secs << 32 | frac, rtp_ts, packets: end.packets, octets: end.octets })
                }
                _ => None,
            };
            let ssrc = leg.out.ssrc().unwrap_or_else(|| leg_seed(id, side));
            let mut p = Vec::with_capacity(128);
            rtcp_end::compound(ssrc, sender, end.reception.report_block(now), &mut p);
            let len = p.len();
            p.resize(len + SRTP_TAG_ROOM, 0);
            if let Some(len) = protect(&mut leg.srtp_out, true, &mut p, len, &mut self.counters) {
                p.truncate(len);
                self.counters.rtcp_generated += 1;
                out.push((if mux { leg.port } else { leg.port + 1 }, to, p));
            }
        }
    }

    /// Schedule a terminated leg's first report, half an interval after
    /// its first RTP either way.
    fn schedule_rtcp(
        due: &mut std::collections::BTreeSet<(Time, StreamId, u8)>,
        end: &mut RtcpEnd,
        now: Time,
        key: (StreamId, u8),
    ) {
        if end.next.is_none() {
            let t = now + RTCP_INTERVAL / 2;
            end.next = Some(t);
            due.insert((t, key.0, key.1));
        }
    }

    /// Produce the injected frames due by `now`: (our port, destination, packet).
    pub fn handle_timeout(&mut self, now: Time, out: &mut Vec<(u16, SocketAddr, Vec<u8>)>) {
        self.rtcp_reports(now, out);
        let mut finished = Vec::new();
        for &(id, side) in &self.injecting {
            let Some(stream) = self.streams.get_mut(&id) else { continue };
            let leg = &mut stream.legs[usize::from(side)];
            let to = leg.latched.or(leg.remote.map(|r| r.rtp));
            let Some(to) = to else { continue };
            if let Some(inj) = leg.inject.as_mut() {
                while inj.next <= now {
                    let (samples, step) = inj.enc.frame();
                    let mut pcm = [0i16; 960];
                    let pcm = &mut pcm[..samples.min(960)];
                    inj.gen.fill(pcm);
                    let h = leg.out.injected_audio(inj.next, step, inj.ssrc);
                    let mut p = Vec::with_capacity(12 + INJECT_FRAME + 16);
                    p.extend_from_slice(&[0x80, inj.pt | if h.marker { 0x80 } else { 0 }]);
                    p.extend_from_slice(&h.seq.to_be_bytes());
                    p.extend_from_slice(&h.ts.to_be_bytes());
                    p.extend_from_slice(&h.ssrc.to_be_bytes());
                    inj.next = inj.next + INJECT_PTIME;
                    if !inj.enc.encode(pcm, &mut p) {
                        continue;
                    }
                    let len = p.len();
                    p.resize(len + 16, 0);
                    if let Some(len) = protect(&mut leg.srtp_out, false, &mut p, len, &mut self.counters) {
                        p.truncate(len);
                        self.counters.injected += 1;
                        out.push((leg.port, to, p));
                    }
                }
            }
            if let Some(d) = leg.digits.as_mut() {
                let (srtp, counters, port) = (&mut leg.srtp_out, &mut self.counters, leg.port);
                d.due(now, &mut leg.out, |mut p| {
                    let len = p.len();
                    p.resize(len + 16, 0);
                    if let Some(len) = protect(srtp, false, &mut p, len, counters) {
                        p.truncate(len);
                        counters.injected += 1;
                        out.push((port, to, p));
                    }
                });
            }
            let busy = leg.inject.is_some() || leg.digits.as_ref().is_some_and(|d| !d.idle());
            if !busy {
                finished.push((id, side));
            }
        }
        for k in finished {
            self.injecting.remove(&k);
        }
    }

    /// Close a stream and give its ports back.
    pub fn close(&mut self, id: StreamId) {
        self.injecting.remove(&(id, 0));
        self.injecting.remove(&(id, 1));
        if let Some(s) = self.streams.remove(&id) {
            for (i, leg) in s.legs.iter().enumerate() {
                if let Some(t) = leg.rtcp.as_ref().and_then(|r| r.next) {
                    self.rtcp_due.remove(&(t, id, i as u8));
                }
            }
            self.transcoders -= s.rewrite.iter().filter(|r| r.codec.is_some()).count();
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

    /// A packet arrived on our `port` from `from`, in `buf[..len]`: where it
    /// goes, if anywhere, and its new length (rewritten in place; `buf`
    /// may be longer than `len`, for what protection adds).
    pub fn handle_packet(
        &mut self,
        now: Time,
        port: u16,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<(Forward, usize)> {
        let len = len.min(buf.len());
        let packet = &buf[..len];
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
        let received = len;
        // SRTP: authenticate before anything (a forged packet must not latch).
        let len = match leg.srtp_in.as_mut() {
            None => len,
            Some(s) => {
                let r = if rtcp { s.ctx.unprotect_rtcp(buf, len) } else { s.ctx.unprotect_rtp(buf, len) };
                match r {
                    Ok(n) => n,
                    Err(SrtpError::Replayed) => {
                        self.counters.dropped_srtp_replay += 1;
                        return None;
                    }
                    Err(_) => {
                        self.counters.dropped_srtp_auth += 1;
                        return None;
                    }
                }
            }
        };
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
        // Accepted (authenticated, from the latched source): the leg is alive.
        leg.stats.last_packet = Some(now);
        if let Some(end) = leg.rtcp.as_mut() {
            if rtcp {
                // Terminated: read for what the peer says, not relayed.
                let reports = rtcp_end::read_reports(&buf[..len]);
                for (ssrc, ntp) in reports.sender_reports {
                    end.reception_sr(ssrc, ntp, now);
                }
                if let Some(own) = leg.out.ssrc() {
                    if let Some(&(_, fraction, jitter)) = reports.blocks.iter().find(|b| b.0 == own) {
                        end.peer_report = Some((fraction, jitter));
                    }
                }
                self.counters.rtcp_terminated += 1;
                return None;
            }
            if len >= 12 {
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                end.reception.on_rtp(ssrc, seq, ts, now, leg.out.clock());
                Self::schedule_rtcp(&mut self.rtcp_due, end, now, (id, side as u8));
            }
        }
        leg.stats.packets_in += 1;
        leg.stats.bytes_in += received as u64;
        leg.stats.first_packet.get_or_insert(now);
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
        let out_side = side.other() as usize;
        if rtcp && stream.legs[out_side].rtcp.is_some() {
            // That leg's RTCP is the gateway's own.
            self.counters.rtcp_terminated += 1;
            return None;
        }
        if rtcp {
            let (to_peer, back) = (&stream.legs[out_side].out, &stream.legs[side as usize].out);
            rename_rtcp(&mut buf[..len], |s| to_peer.to_peer(s), |s| back.from_peer(s));
            let len = protect(&mut stream.legs[out_side].srtp_out, true, buf, len, &mut self.counters)?;
            self.counters.rtcp_forwarded += 1;
            return Some((Forward { from_port, to }, len));
        }
        let te_in = stream.legs[side as usize].te_sends;
        let rw = &mut stream.rewrite[side as usize];
        if let (true, Some(te_in)) = (rw.events_to_signalling, te_in) {
            if buf[1] & 0x7f == te_in {
                // RFC 4733: the digit is reported at its first end packet.
                if len >= 16 && buf[13] & 0x80 != 0 {
                    let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    if rw.last_event_ts != Some(ts) {
                        rw.last_event_ts = Some(ts);
                        let duration_ms = u32::from(u16::from_be_bytes([buf[14], buf[15]])) / 8;
                        self.dtmf.push_back(DtmfDigit { stream: id, from: side, event: buf[12], duration_ms });
                    }
                }
                self.counters.events_to_signalling += 1;
                return None;
            }
        }
        let pt_in = buf[1] & 0x7f;
        if pt_in == rw.cn_pt {
            // RFC 3389: the sender went silent; the other leg hears noise at
            // the level it names until real media comes again.
            self.counters.comfort_noise += 1;
            let level = payload_offset(&buf[..len]).and_then(|off| buf[..len].get(off)).copied().unwrap_or(127);
            let out_pt = rw.pt_map.get(usize::from(rw.voice_pt)).copied().unwrap_or(NO_PT);
            if let (Some(codec), true) = (rw.noise_codec, out_pt != NO_PT) {
                let out_leg = &mut stream.legs[out_side];
                match out_leg.inject.as_mut() {
                    Some(Injector { gen: Signal::Noise(n), .. }) => n.set_level(level),
                    // A tone (ringback) keeps playing.
                    Some(_) => {}
                    None => {
                        let seed = id.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ out_side as u64;
                        let gen = Signal::Noise(ComfortNoise::new(level, seed));
                        if let Some(enc) = InjectCodec::new(codec) {
                            out_leg.inject = Some(Injector { gen, enc, pt: out_pt, ssrc: seed as u32, next: now });
                            self.injecting.insert((id, out_side as u8));
                        }
                    }
                }
            }
            return None;
        }
        let voice_in = !rw.active || pt_in == rw.voice_pt;
        let mut mute = false;
        if let (Some(inb), true) = (stream.legs[side as usize].inband_in.as_mut(), voice_in) {
            if let Some(off) = payload_offset(&buf[..len]) {
                let mut pcm = [0i16; 480];
                let n = (len - off).min(pcm.len());
                match inb.law {
                    Law::Ulaw => crate::media::g711::decode_ulaw(&buf[off..off + n], &mut pcm[..n]),
                    Law::Alaw => crate::media::g711::decode_alaw(&buf[off..off + n], &mut pcm[..n]),
                };
                let mut events: arrayvec::ArrayVec<DtmfEvent, 8> = arrayvec::ArrayVec::new();
                inb.detector.push(&pcm[..n], &mut events);
                for e in events {
                    match e {
                        DtmfEvent::Start { .. } => inb.in_digit = true,
                        DtmfEvent::End { digit, duration_ms, .. } => {
                            inb.in_digit = false;
                            self.dtmf.push_back(DtmfDigit {
                                stream: id,
                                from: side,
                                event: dtmf_event(digit).unwrap_or(0),
                                duration_ms,
                            });
                        }
                    }
                }
                mute = inb.in_digit;
            }
        }
        let rw = &mut stream.rewrite[side as usize];
        if rw.active {
            let pt = buf[1] & 0x7f;
            let mapped = rw.pt_map[usize::from(pt)];
            if mapped == NO_PT {
                self.counters.dropped_unmapped_pt += 1;
                return None;
            }
            buf[1] = (buf[1] & 0x80) | mapped;
            if let (Some(t), true) = (rw.transcode, pt == rw.voice_pt) {
                let Some(off) = payload_offset(&buf[..len]) else {
                    self.counters.dropped_malformed += 1;
                    return None;
                };
                match rw.codec.as_mut() {
                    None => transcode_in_place(t, &mut buf[off..len]),
                    Some(c) => {
                        // A digit detected in this G.711 audio is not heard
                        // on the other side: silence goes into the codec.
                        if let (true, Some(inb)) = (mute, stream.legs[side as usize].inband_in.as_ref()) {
                            buf[off..len].fill(silence(inb.law));
                        }
                        let out_leg = &mut stream.legs[out_side];
                        let fwd = Forward { from_port, to };
                        let r = through_codec(c, now, buf, off, len, fwd, out_leg, &mut self.counters, &mut self.extra);
                        // Real media for that leg: whatever was played to it stops.
                        if r.is_some() && out_leg.inject.take().is_some() {
                            self.injecting.remove(&(id, out_side as u8));
                        }
                        return r;
                    }
                }
                self.counters.transcoded += 1;
            }
        }
        // In-band DTMF: a detected digit is not heard on the other side;
        // a digit for this leg is played over the audio.
        if voice_in {
            let out_leg = &mut stream.legs[out_side];
            if let (Some(o), Some(off)) = (out_leg.inband_out.as_mut(), payload_offset(&buf[..len])) {
                if play_inband(o, &mut buf[off..len]) {
                    mute = false;
                }
            }
            if mute {
                let law = match stream.rewrite[side as usize].transcode.map(|t| t.to) {
                    Some(Codec::Pcma) => Law::Alaw,
                    Some(_) => Law::Ulaw,
                    None => stream.legs[side as usize].inband_in.as_ref().map_or(Law::Ulaw, |i| i.law),
                };
                if let Some(off) = payload_offset(&buf[..len]) {
                    buf[off..len].fill(silence(law));
                }
            }
        }
        stream.legs[out_side].out.relayed(&mut buf[..12], now);
        if let Some(end) = stream.legs[out_side].rtcp.as_mut() {
            end.packets = end.packets.wrapping_add(1);
            end.octets = end.octets.wrapping_add(len.saturating_sub(12) as u32);
            Self::schedule_rtcp(&mut self.rtcp_due, end, now, (id, out_side as u8));
        }
        let len = protect(&mut stream.legs[out_side].srtp_out, false, buf, len, &mut self.counters)?;
        // Real media for that leg: whatever was played to it stops.
        if stream.legs[out_side].inject.take().is_some() {
            self.injecting.remove(&(id, out_side as u8));
        }
        self.counters.rtp_forwarded += 1;
        Some((Forward { from_port, to }, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    /// `handle_packet` on a copy of `p`, giving just the forward.
    fn relay(r: &mut Relay, now: Time, port: u16, from: SocketAddr, p: &[u8]) -> Option<Forward> {
        let mut buf = p.to_vec();
        let len = buf.len();
        r.handle_packet(now, port, from, &mut buf, len).map(|(f, _)| f)
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    const RTCP_SR: [u8; 8] = [0x80, 200, 0, 1, 0xde, 0xad, 0xbe, 0xef];

    /// A stream with A's peer at 192.0.2.10:30000 and B's at 52.114.1.1:50000.
    fn open_stream(r: &mut Relay) -> (StreamId, [u16; 2]) {
        let (s, ports) = r.open().expect("open");
        r.set_remote(s, Side::A, remote("192.0.2.10:30000", false));
        r.set_remote(s, Side::B, remote("52.114.1.1:50000", false));
        (s, ports)
    }

    fn remote(a: &str, mux: bool) -> Remote {
        let rtp = addr(a);
        Remote { rtp, rtcp: SocketAddr::new(rtp.ip(), rtp.port() + 1), rtcp_mux: mux }
    }

    #[test]
    fn ports_come_in_even_pairs_and_return_to_the_back_of_the_pool() {
        let mut r = Relay::new(&RelayConfig { port_min: 40_001, port_max: 40_009, max_transcoders: 2 });
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

    fn plan(from: Codec, to: Codec, pt_map: (u8, u8)) -> DirectionPlan {
        let t = Transcode { from, to };
        DirectionPlan {
            pt_map: vec![pt_map],
            transcode: Some(t),
            clock: to.rtp_clock(),
            codec: Some(to),
            ..DirectionPlan::default()
        }
    }

    #[test]
    fn codec_transcoding_repacketizes_and_is_bounded() {
        let mut r = Relay::new(&RelayConfig { port_min: 40_000, port_max: 40_099, max_transcoders: 2 });
        let (s, [pa, pb]) = open_stream(&mut r);
        // PCMU 20 ms from A -> G.722 10 ms toward B: two packets per input.
        r.set_plan(s, Side::A, &plan(Codec::Pcmu, Codec::G722, (0, 9)), 10).expect("plan");
        assert_eq!(r.transcoders(), 1);
        let from = addr("192.0.2.10:30000");
        let mut seqs = Vec::new();
        for i in 0..3u16 {
            let mut buf = rtp(i);
            buf.resize(2048, 0);
            let (f, n) = r.handle_packet(Time::from_millis(20 * u64::from(i)), pa, from, &mut buf, 172).expect("fwd");
            assert_eq!((f.from_port, n, buf[1] & 0x7f), (pb, 12 + 80, 9), "10 ms of G.722 is 80 bytes");
            seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
            let (port, to, extra) = r.poll_extra().expect("the second 10 ms");
            assert_eq!((port, to, extra.len(), extra[1] & 0x7f), (pb, addr("52.114.1.1:50000"), 92, 9));
            seqs.push(u16::from_be_bytes([extra[2], extra[3]]));
            assert!(r.poll_extra().is_none());
        }
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{seqs:?}");
        // Garbage toward a G.729 decoder is dropped and counted.
        r.set_plan(s, Side::B, &plan(Codec::G729, Codec::Pcmu, (18, 0)), 20).expect("plan");
        let mut buf = vec![0x80, 18, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9];
        buf.resize(2048, 0);
        assert!(r.handle_packet(Time::ZERO, pb, addr("52.114.1.1:50000"), &mut buf, 15).is_none());
        assert_eq!(r.counters().dropped_undecodable, 1);
        // The bound: a third transcoder is refused, the plan left as it was.
        let (s2, _) = r.open().expect("open");
        let refused = r.set_plan(s2, Side::A, &plan(Codec::Pcma, Codec::Opus, (8, 96)), 20);
        assert_eq!(refused, Err(RelayError::TranscoderLimit(2)));
        // Re-planning the same conversion keeps its transcoder; dropping it frees one.
        r.set_plan(s, Side::A, &plan(Codec::Pcmu, Codec::G722, (0, 9)), 10).expect("same");
        assert_eq!(r.transcoders(), 2);
        r.set_plan(s, Side::B, &DirectionPlan { pt_map: vec![(0, 0)], ..DirectionPlan::default() }, 20).expect("g711");
        assert_eq!(r.transcoders(), 1);
        r.close(s);
        assert_eq!(r.transcoders(), 0);
    }

    #[test]
    fn a_re_invite_from_transcoded_to_relayed_audio_keeps_one_stream() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, _]) = open_stream(&mut r);
        r.set_plan(s, Side::A, &plan(Codec::Pcmu, Codec::G722, (0, 9)), 20).expect("plan");
        let from = addr("192.0.2.10:30000");
        let mut seen = Vec::new();
        for i in 0..6u16 {
            if i == 3 {
                // The far end now takes PCMU: relayed as is.
                let same = DirectionPlan { pt_map: vec![(0, 0)], clock: 8000, ..DirectionPlan::default() };
                r.set_plan(s, Side::A, &same, 20).expect("plan");
            }
            let mut buf = rtp(500 + i);
            buf.resize(MEDIA_BUFFER, 0);
            r.handle_packet(Time::from_millis(20 * u64::from(i)), pa, from, &mut buf, 172).expect("fwd");
            seen.push((u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]), u16::from_be_bytes([buf[2], buf[3]])));
        }
        assert!(seen.iter().all(|(ssrc, _)| *ssrc == seen[0].0), "one SSRC: {seen:?}");
        assert!(seen.windows(2).all(|w| w[1].1 == w[0].1.wrapping_add(1)), "sequence +1: {seen:?}");
        assert_eq!(r.transcoders(), 0);
    }

    #[test]
    fn terminated_rtcp_is_read_not_relayed_and_the_gateway_reports_itself() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, pb]) = open_stream(&mut r);
        r.set_rtcp_terminate(s, Side::B, true);
        let (a, b) = (addr("192.0.2.10:30000"), addr("52.114.1.1:50000"));
        for i in 0..10u16 {
            let t = Time::from_millis(20 * u64::from(i));
            assert!(relay(&mut r, t, pa, a, &rtp(i)).is_some());
            assert!(relay(&mut r, t, pb, b, &rtp(100 + i)).is_some());
        }
        // B's report and A's toward B both end here.
        assert_eq!(relay(&mut r, Time::from_millis(300), pb + 1, addr("52.114.1.1:50001"), &RTCP_SR), None);
        assert_eq!(relay(&mut r, Time::from_millis(300), pa + 1, addr("192.0.2.10:30001"), &RTCP_SR), None);
        assert_eq!(r.counters().rtcp_terminated, 2);
        // 2.5 s after the first RTP: an SR + SDES toward B's RTCP port, from ours.
        assert_eq!(r.poll_timeout(), Some(Time::from_millis(2500)));
        let mut out = Vec::new();
        r.handle_timeout(Time::from_millis(2500), &mut out);
        assert_eq!(out.len(), 1);
        let (port, to, p) = &out[0];
        assert_eq!((*port, *to), (pb + 1, addr("52.114.1.1:50001")));
        let reports = crate::media::rtcp::read_reports(p);
        assert_eq!(reports.sender_reports.len(), 1);
        assert_eq!(reports.sender_reports[0].0, 0xdead_beef, "the SSRC of the RTP B hears");
        // About what B sends: nothing lost (its timestamps stand still here: jitter).
        assert_eq!(reports.blocks.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(), vec![(0xdead_beef, 0)]);
        assert!(reports.blocks[0].2 > 0);
        assert_eq!(r.poll_timeout(), Some(Time::from_millis(7500)));
        r.close(s);
        assert_eq!(r.poll_timeout(), None, "nothing due for a closed stream");
    }

    #[test]
    fn packets_cross_to_the_other_leg_and_latch_to_their_first_source() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, pb]) = open_stream(&mut r);
        // A's peer sends from behind a NAT: a different port than its SDP said.
        let nat = addr("203.0.113.7:61000");
        let f = relay(&mut r, Time::ZERO, pa, nat, &rtp(1)).expect("forwarded");
        assert_eq!(f, Forward { from_port: pb, to: addr("52.114.1.1:50000") });
        // B answers: it goes to where A's packets came from, not to A's SDP address.
        let f = relay(&mut r, Time::from_millis(20), pb, addr("52.114.1.1:50000"), &rtp(1)).expect("forwarded");
        assert_eq!(f, Forward { from_port: pa, to: nat });
        // Someone else on A's port is dropped.
        assert_eq!(relay(&mut r, Time::from_millis(40), pa, addr("198.51.100.66:4000"), &rtp(2)), None);
        assert_eq!(r.counters().dropped_wrong_source, 1);
        // RTCP goes from our RTCP port to the peer's RTCP port.
        let f = relay(&mut r, Time::from_millis(60), pb + 1, addr("52.114.1.1:50001"), &RTCP_SR).expect("rtcp");
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
        let f = relay(&mut r, Time::ZERO, pb, addr("52.114.1.1:50000"), &RTCP_SR).expect("rtcp");
        assert_eq!(f, Forward { from_port: pa + 1, to: addr("192.0.2.10:30001") });
        // A's RTCP goes to B's (muxed) RTP port, from our RTP port facing B.
        let f = relay(&mut r, Time::ZERO, pa + 1, addr("192.0.2.10:30001"), &RTCP_SR).expect("rtcp");
        assert_eq!(f, Forward { from_port: pb, to: addr("52.114.1.1:50000") });
    }

    #[test]
    fn garbage_unknown_ports_and_missing_destinations_are_counted() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, _]) = r.open().expect("open");
        assert_eq!(relay(&mut r, Time::ZERO, pa, addr("192.0.2.10:30000"), b"hello"), None);
        assert_eq!(relay(&mut r, Time::ZERO, pa, addr("192.0.2.10:30000"), &[0x40; 20]), None);
        assert_eq!(r.counters().dropped_malformed, 2);
        assert_eq!(relay(&mut r, Time::ZERO, pa, addr("192.0.2.10:30000"), &rtp(1)), None);
        assert_eq!(r.counters().dropped_no_destination, 1);
        r.close(s);
        assert_eq!(relay(&mut r, Time::ZERO, pa, addr("192.0.2.10:30000"), &rtp(2)), None);
        assert_eq!(r.counters().dropped_unknown_port, 1);
        assert_eq!(r.streams(), 0);
    }

    #[test]
    fn payload_types_are_renumbered_and_unknown_ones_dropped() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, _]) = open_stream(&mut r);
        r.set_plan(
            s,
            Side::A,
            &DirectionPlan {
                pt_map: vec![(0, 0), (96, 101)],
                transcode: None,
                clock: 8000,
                ..DirectionPlan::default()
            },
            20,
        )
        .expect("plan");
        let mut dtmf = rtp(1);
        dtmf[1] = 0x80 | 96; // marker + telephone-event 96
        let mut buf = dtmf.clone();
        let (_, len) = r.handle_packet(Time::ZERO, pa, addr("192.0.2.10:30000"), &mut buf, dtmf.len()).expect("fwd");
        assert_eq!((buf[1], len), (0x80 | 101, dtmf.len()), "marker kept, 96 -> 101");
        let mut cn = rtp(2);
        cn[1] = 13;
        assert_eq!(relay(&mut r, Time::ZERO, pa, addr("192.0.2.10:30000"), &cn), None);
        assert_eq!(r.counters().dropped_unmapped_pt, 1);
    }

    #[test]
    fn the_voice_payload_is_transcoded_in_place_after_csrcs_and_extensions() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, _]) = open_stream(&mut r);
        r.set_plan(
            s,
            Side::A,
            &DirectionPlan {
                pt_map: vec![(8, 0)],
                transcode: Some(Transcode::ALAW_TO_ULAW),
                clock: 8000,
                ..DirectionPlan::default()
            },
            20,
        )
        .expect("plan");
        // One CSRC and a one-word header extension before 4 bytes of A-law.
        let mut p = vec![0x91, 8, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 0xbe, 0xde, 0, 1, 7, 7, 7, 7];
        let payload = [0xd5, 0x55, 0x2a, 0xaa];
        p.extend_from_slice(&payload);
        let len = p.len();
        let (_, n) = r.handle_packet(Time::ZERO, pa, addr("192.0.2.10:30000"), &mut p, len).expect("fwd");
        assert_eq!(n, len);
        assert_eq!(p[1], 0);
        let want: Vec<u8> = payload.iter().map(|&c| crate::media::g711::alaw_to_ulaw(c)).collect();
        assert_eq!(&p[24..], &want[..], "only the payload changes");
        assert_eq!(&p[12..24], &[9, 9, 9, 9, 0xbe, 0xde, 0, 1, 7, 7, 7, 7]);
        assert_eq!(r.counters().transcoded, 1);
    }

    #[test]
    fn rtp_from_the_operator_leaves_as_srtp_toward_teams_and_back() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, pb]) = r.open().expect("open");
        r.set_remote(s, Side::A, remote("192.0.2.10:30000", false));
        r.set_remote(s, Side::B, remote("52.114.1.1:50000", true));
        let (ours, theirs) = (MasterKey::from_bytes([7; 30]), MasterKey::from_bytes([9; 30]));
        let suite = Suite::AesCm128HmacSha1_80;
        r.set_srtp_inbound(s, Side::B, Some((1, suite, theirs.clone())));
        r.set_srtp_outbound(s, Side::B, Some((suite, ours.clone())));
        // Operator RTP in, SRTP out: the far end decrypts it with our key.
        let plain = rtp(7);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 16, 0);
        let (f, n) = r.handle_packet(Time::ZERO, pa, addr("192.0.2.10:30000"), &mut buf, plain.len()).expect("fwd");
        assert_eq!((f.from_port, n), (pb, plain.len() + 10));
        assert_ne!(&buf[12..plain.len()], &plain[12..], "the payload is encrypted");
        let mut teams_rx = Context::new(suite, &ours);
        assert_eq!(teams_rx.unprotect_rtp(&mut buf, n), Ok(plain.len()));
        assert_eq!(&buf[..plain.len()], &plain[..]);
        // Teams SRTP in, plain RTP out toward the operator.
        let mut teams_tx = Context::new(suite, &theirs);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 16, 0);
        let n = teams_tx.protect_rtp(&mut buf, plain.len()).expect("protect");
        let mut forged = buf.clone();
        forged[20] ^= 1;
        assert_eq!(r.handle_packet(Time::ZERO, pb, addr("52.114.1.1:50000"), &mut forged, n), None);
        assert_eq!(r.counters().dropped_srtp_auth, 1, "a forged packet is dropped and counted");
        let (f, m) = r.handle_packet(Time::ZERO, pb, addr("52.114.1.1:50000"), &mut buf.clone(), n).expect("fwd");
        assert_eq!((f.to, m), (addr("192.0.2.10:30000"), plain.len()), "decrypted toward the operator's SDP address");
        assert_eq!(r.handle_packet(Time::ZERO, pb, addr("52.114.1.1:50000"), &mut buf, n), None);
        assert_eq!(r.counters().dropped_srtp_replay, 1, "the same packet twice is a replay");
        // Re-keying with the same key keeps the context (no replay reset).
        r.set_srtp_inbound(s, Side::B, Some((1, suite, theirs)));
        assert_eq!(r.inbound_crypto(s, Side::B), Some((1, suite)));
        assert!(r.outbound_key(s, Side::B).is_some());
    }

    #[test]
    fn injected_ringback_is_paced_and_stops_when_real_media_arrives() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [pa, pb]) = open_stream(&mut r);
        let gen = crate::media::tone::ringback("us", 8000).expect("us ringback");
        r.start_tone(s, Side::A, Playback { gen, codec: Codec::Pcmu, pt: 0, ssrc: 0x1234_5678 }, Time::ZERO);
        assert_eq!(r.poll_timeout(), Some(Time::ZERO));
        let mut out = Vec::new();
        r.handle_timeout(Time::from_millis(40), &mut out);
        assert_eq!(out.len(), 3, "frames at 0, 20 and 40 ms");
        assert!(out.iter().all(|(port, to, p)| *port == pa && *to == addr("192.0.2.10:30000") && p.len() == 172));
        let seqs: Vec<u16> = out.iter().map(|(_, _, p)| u16::from_be_bytes([p[2], p[3]])).collect();
        assert_eq!(seqs[1], seqs[0].wrapping_add(1));
        assert_eq!(r.poll_timeout(), Some(Time::from_millis(60)));
        // Teams' first packet toward A ends the ringback.
        assert!(relay(&mut r, Time::from_millis(50), pb, addr("52.114.1.1:50000"), &rtp(1)).is_some());
        assert!(!r.playing(s, Side::A));
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.counters().injected, 3);
    }

    #[test]
    fn a_new_sdp_address_releases_the_latch() {
        let mut r = Relay::new(&RelayConfig::default());
        let (s, [_, pb]) = open_stream(&mut r);
        assert!(relay(&mut r, Time::ZERO, pb, addr("52.114.1.1:50000"), &rtp(1)).is_some());
        // The answer came from another fork with another address.
        r.set_remote(s, Side::B, remote("52.114.2.2:52000", false));
        assert!(relay(&mut r, Time::ZERO, pb, addr("52.114.2.2:52000"), &rtp(1)).is_some());
        assert_eq!(relay(&mut r, Time::ZERO, pb, addr("52.114.1.1:50000"), &rtp(2)), None);
    }
}
