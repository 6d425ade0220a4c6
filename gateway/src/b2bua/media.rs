//! Media anchoring for a call: every SDP crossing the B2BUA is parsed, the
//! sender's media address is given to the relay, and the SDP the other
//! leg receives names the gateway's media address and the relay port that
//! faces it (topology hiding: `o=`, `c=`, `m=` ports, `a=rtcp`; ICE
//! attributes of the far network are dropped, as the gateway terminates
//! the media path).
//!
//! Contract: [`Gateway::media_body`] takes a body received on one leg and
//! returns the body to send on the other: unchanged when it is not SDP or
//! media anchoring is off; rewritten when it is SDP; or a refusal (488
//! with a Warning naming the reason, 503 when the port pool is empty) that
//! the caller turns into a SIP answer. The gateway does offer/answer with
//! each leg ([`crate::media::negotiate`]): an offer is re-offered to the
//! other leg under that leg's codec policy and remembered; the answer to
//! it sets the relay's plan for both directions (payload-type renumbering,
//! transcoding) and is answered to the offering leg in its own terms.
//! Streams are opened per m= line on first sight and closed with the
//! call; a rejected m= line (port 0) stays rejected and opens nothing.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use super::call::Leg;
use super::{CallId, Gateway, MediaControl};
use crate::media::codec::Codec;
use crate::media::negotiate::{self, DtmfMode, Format, LegPolicy};
use crate::media::relay::{dtmf_char, dtmf_event, Law, Playback, RelayError, Remote, Side, StreamId};
use crate::media::sdp::{Connection, Sdp};
use crate::media::srtp::{MasterKey, Suite};
use crate::time::Time;

/// Attributes of the far network's ICE, dropped when the gateway anchors
/// media (a=crypto lines are replaced: each leg gets the gateway's own key).
const ICE_ATTRIBUTES: [&str; 7] =
    ["ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "candidate", "remote-candidates", "end-of-candidates"];

/// Why an SDP cannot cross.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MediaReject {
    pub status: u16,
    pub warning: String,
}

impl MediaReject {
    fn not_acceptable(why: impl std::fmt::Display) -> MediaReject {
        MediaReject { status: 488, warning: format!("305 bridgehead \"{}\"", why.to_string().replace('"', "'")) }
    }
}

fn side(leg: Leg) -> Side {
    match leg {
        Leg::A => Side::A,
        Leg::B => Side::B,
    }
}

fn is_sdp(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
}

/// An offer the gateway relayed (rewritten) and whose answer it awaits.
#[derive(Debug, Clone, Default)]
pub(super) struct PendingOffer {
    /// The leg the offer came from.
    from: Option<Leg>,
    /// Per m= line: what was offered, and what the gateway offered the other leg.
    lines: Vec<Option<(Vec<Format>, Vec<Format>)>>,
    /// Per m= line: the packetization time the offerer asked for (a=ptime).
    ptimes: Vec<Option<u32>>,
}

impl Gateway {
    /// The codec policy of the leg `leg` of call `id`.
    fn leg_policy(&self, id: CallId, leg: Leg) -> LegPolicy {
        let (Some(m), Some(call)) = (self.cfg.media.as_ref(), self.calls.get(&id)) else { return LegPolicy::default() };
        let b_is_teams = call.b_side == crate::routing::Side::Teams;
        let teams = (leg == Leg::B) == b_is_teams;
        if teams {
            m.teams.clone()
        } else {
            m.operator.clone()
        }
    }

    /// The body to send on the leg opposite `from`, for `body` received on
    /// `from`. `offer`: the body is an offer (a request's SDP, or a
    /// response's when no offer of the other leg awaits its answer).
    pub(super) fn media_body<'a>(
        &mut self,
        now: Time,
        id: CallId,
        from: Leg,
        content_type: &str,
        body: &'a [u8],
        request: bool,
    ) -> Result<Cow<'a, [u8]>, MediaReject> {
        if self.cfg.media.is_none() || body.is_empty() || !is_sdp(content_type) {
            return Ok(Cow::Borrowed(body));
        }
        let mut opened = Vec::new();
        let r = self.rewrite_sdp(now, id, from, body, request, &mut opened);
        if r.is_err() {
            // Nothing half-set-up: streams opened for a refused SDP go back.
            self.close_media(&opened);
        }
        r.map(Cow::Owned)
    }

    /// `body` anchored at the media address (as is without `[media]`).
    fn rewrite_sdp(
        &mut self,
        now: Time,
        id: CallId,
        from: Leg,
        body: &[u8],
        request: bool,
        opened: &mut Vec<StreamId>,
    ) -> Result<Vec<u8>, MediaReject> {
        let Some(media_ip) = self.cfg.media.as_ref().map(|m| m.address) else { return Ok(body.to_vec()) };
        let mut sdp = Sdp::parse(body).map_err(MediaReject::not_acceptable)?;
        // Hold (for the media timeout), as the answer settles it: its first
        // stream not sendrecv (an offer the far side refuses changes nothing).
        let held = sdp.media_direction(0).is_some_and(|d| d != crate::media::sdp::Direction::SendRecv);
        let to = from.other();
        let pending = self.calls.get(&id).map(|c| c.media_offer.clone()).unwrap_or_default();
        let answering = !request && pending.from == Some(to);
        let policy = self.leg_policy(id, to);
        let session_ip = sdp.connection().and_then(Connection::ip);
        let mut streams: Vec<StreamId> = self.calls.get(&id).map(|c| c.media_streams.clone()).unwrap_or_default();
        let mut lines = Vec::new();
        let mut ptimes = Vec::new();
        for (i, m) in sdp.media_mut().iter_mut().enumerate() {
            if m.port == 0 {
                lines.push(None);
                ptimes.push(None);
                continue;
            }
            let ip: Option<IpAddr> = m.connection.as_ref().and_then(Connection::ip).or(session_ip);
            let Some(ip) = ip else {
                return Err(MediaReject::not_acceptable(format!("m= line {} has no connection address", i + 1)));
            };
            let stream = match streams.get(i) {
                Some(s) => *s,
                None => {
                    let (s, ports) = self
                        .relay
                        .open()
                        .map_err(|e| MediaReject { status: 503, warning: format!("399 bridgehead \"{e}\"") })?;
                    self.media_control.extend(ports.map(|port| MediaControl::Open { port }));
                    opened.push(s);
                    streams.push(s);
                    s
                }
            };
            let offered = negotiate::formats(m);
            let te =
                |list: &[Format]| list.iter().find(|f| f.name.eq_ignore_ascii_case("telephone-event")).map(|f| f.pt);
            let from_receives = te(&offered);
            if answering {
                if let Some(Some((their_offer, our_offer))) = pending.lines.get(i) {
                    // The answer ends any ringback the gateway played; an
                    // early answer it gave the caller is kept.
                    self.relay.stop_tone(stream, side(to));
                    let early = if i == 0 { self.calls.get(&id).and_then(|c| c.media_early.clone()) } else { None };
                    let (mut reply, mut plan) = match &early {
                        Some(fixed) => negotiate::plan_fixed(their_offer, our_offer, &offered, fixed),
                        None => negotiate::plan(their_offer, our_offer, &offered),
                    }
                    .map_err(MediaReject::not_acceptable)?;
                    if early.is_none() {
                        let noise = self.leg_policy(id, from).comfort_noise;
                        negotiate::interwork_comfort_noise(
                            their_offer,
                            our_offer,
                            &offered,
                            noise,
                            &mut reply,
                            &mut plan,
                        );
                    }
                    // Each direction is packetized as its receiver asked (a=ptime).
                    let (to_ptime, from_ptime) = (pending.ptimes.get(i).copied().flatten(), m.ptime());
                    let limit = |e: RelayError| MediaReject { status: 503, warning: format!("399 bridgehead \"{e}\"") };
                    self.relay
                        .set_plan(stream, side(to), &plan.offerer_to_answerer, from_ptime.unwrap_or(20))
                        .map_err(limit)?;
                    self.relay
                        .set_plan(stream, side(from), &plan.answerer_to_offerer, to_ptime.unwrap_or(20))
                        .map_err(limit)?;
                    // In-band DTMF: the G.711 law each in-band leg speaks.
                    let law = |list: &[Format]| {
                        list.iter().find_map(|f| match f.name.to_ascii_uppercase().as_str() {
                            "PCMU" => Some(Law::Ulaw),
                            "PCMA" => Some(Law::Alaw),
                            _ => None,
                        })
                    };
                    for (leg, l) in [(to, law(&reply)), (from, law(&offered))] {
                        let on = self.leg_policy(id, leg).dtmf == DtmfMode::InBand;
                        let l = l.filter(|_| on);
                        self.relay.set_inband(stream, side(leg), l, l);
                    }
                    negotiate::set_formats(m, &reply);
                }
            } else if m.proto.contains("RTP") {
                // An in-band DTMF leg is taken at its G.711 only: the gateway
                // detects its tones in G.711 (if it offered none, as is).
                let inband_from = self.leg_policy(id, from).dtmf == DtmfMode::InBand;
                let offered = if inband_from { negotiate::only_g711(offered) } else { offered };
                let mut ours = negotiate::offer_for(&offered, &policy).map_err(MediaReject::not_acceptable)?;
                // The offerer has no CN but wants noise: the other leg may send CN.
                if self.leg_policy(id, from).comfort_noise {
                    negotiate::offer_comfort_noise(&offered, &mut ours);
                }
                // A call that needs transcoders (one per direction) is
                // refused before it is offered on, when they are all taken.
                if negotiate::needs_transcoding(&offered, &ours) && !self.relay.can_transcode(2) {
                    let e = RelayError::TranscoderLimit(self.relay.transcoders());
                    return Err(MediaReject { status: 503, warning: format!("399 bridgehead \"{e}\"") });
                }
                negotiate::set_formats(m, &ours);
                lines.push(Some((offered, ours)));
                ptimes.push(m.ptime());
            } else {
                lines.push(None);
                ptimes.push(None);
            }
            // SRTP: the sender's key (its crypto line), then ours for the receiver.
            let inbound = if m.proto.contains("SAVP") {
                let chosen = m.cryptos().find_map(|c| {
                    let suite = Suite::from_sdes(c.suite)?;
                    MasterKey::from_inline(c.key_params).ok().map(|k| (c.tag, suite, k))
                });
                if chosen.is_none() {
                    return Err(MediaReject::not_acceptable(format!("m= line {}: no usable a=crypto", i + 1)));
                }
                chosen
            } else {
                None
            };
            self.relay.set_srtp_inbound(stream, side(from), inbound);
            let answer_crypto = self.relay.inbound_crypto(stream, side(to));
            // Offering: SRTP if the side's policy says so, or if that side
            // already speaks it (its re-offers keep SRTP: an SRTP caller is
            // never re-offered plain RTP, whatever the policy).
            let to_srtp = if answering { answer_crypto.is_some() } else { policy.srtp || answer_crypto.is_some() };
            m.remove_attributes("crypto");
            if to_srtp {
                let (tag, suite) = match (answering, answer_crypto) {
                    (true, Some(tc)) => tc,
                    _ => (1, Suite::AesCm128HmacSha1_80),
                };
                let key = match self.relay.outbound_key(stream, side(to)) {
                    Some((s, k)) if s == suite => k,
                    _ => self.new_srtp_key(),
                };
                m.push_attribute("crypto", Some(&format!("{tag} {} {}", suite.sdes_name(), key.to_inline())));
                self.relay.set_srtp_outbound(stream, side(to), Some((suite, key)));
                if !m.proto.contains("SAVP") {
                    m.proto = m.proto.replacen("AVP", "SAVP", 1);
                }
            } else {
                self.relay.set_srtp_outbound(stream, side(to), None);
                m.proto = m.proto.replacen("SAVP", "AVP", 1);
            }
            // telephone-event: `from` receives with its own SDP's number;
            // `to` will send with the number of the SDP it is given now.
            let to_sends = te(&negotiate::formats(m));
            // A transcoded stream's reports describe another codec's clock,
            // packets and sizes: the gateway reports on each leg itself.
            let own = self.relay.transcodes(stream);
            self.relay.set_rtcp_terminate(stream, side(to), own || policy.rtcp_terminate);
            self.relay.set_rtcp_terminate(stream, side(from), own || self.leg_policy(id, from).rtcp_terminate);
            self.relay.set_telephone_event(stream, side(from), None, from_receives);
            self.relay.set_telephone_event(stream, side(to), to_sends, None);
            // DTMF interworking: events from a 4733 leg are taken out of the
            // stream when the other leg speaks INFO or in-band.
            let (from_mode, to_mode) = (self.leg_policy(id, from).dtmf, policy.dtmf);
            let convert = |a: DtmfMode, b: DtmfMode| a == DtmfMode::Rfc4733 && b != DtmfMode::Rfc4733;
            self.relay.set_events_to_signalling(stream, side(from), convert(from_mode, to_mode));
            self.relay.set_events_to_signalling(stream, side(to), convert(to_mode, from_mode));
            let rtp = SocketAddr::new(ip, m.port);
            let rtcp = match m.rtcp() {
                Some((port, conn)) => SocketAddr::new(conn.and_then(|c| c.ip()).unwrap_or(ip), port),
                None => SocketAddr::new(ip, m.port.saturating_add(1)),
            };
            self.relay.set_remote(stream, side(from), Remote { rtp, rtcp, rtcp_mux: m.rtcp_mux() });
            let Some(ours) = self.relay.port(stream, side(to)) else { continue };
            m.port = ours;
            if m.connection.is_some() {
                m.connection = Some(Connection::from_ip(media_ip));
            }
            m.set_rtcp_port(ours.saturating_add(1), Some(Connection::from_ip(media_ip)));
            for name in ICE_ATTRIBUTES {
                m.remove_attributes(name);
            }
            if !policy.drop_attributes.is_empty() {
                m.attributes.retain(|a| a.name().is_none_or(|n| policy.allows_attribute(n)));
            }
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.media_streams = streams;
            if !answering {
                c.media_offer = PendingOffer { from: Some(from), lines, ptimes };
            } else if c.media_hold != held {
                // On a change the quiet time counts from now (a resumed side
                // may take a moment to send), and the due check is looked at
                // again at once.
                c.media_hold = held;
                c.media_since = c.media_since.max(now);
                c.media_check = c.media_watched(self.cfg.media.as_ref()).then_some(now);
            }
        }
        self.schedule(id);
        sdp.set_connection(Connection::from_ip(media_ip));
        let o = sdp.origin_mut();
        let c = Connection::from_ip(media_ip);
        o.addrtype = c.addrtype;
        o.address = c.address;
        Ok(sdp.print().into_bytes())
    }

    /// Answer the caller's pending offer itself and start ringback toward
    /// it: the SDP for a 183, or `None` when ringback is not configured for
    /// the caller's side, was already started, or no codec the gateway can encode was offered.
    pub(super) fn early_ringback(&mut self, id: CallId, now: Time) -> Option<Vec<u8>> {
        let media_ip = self.cfg.media.as_ref()?.address;
        let country = self.leg_policy(id, Leg::A).ringback?;
        let call = self.calls.get(&id)?;
        if call.media_early.is_some() || call.media_offer.from != Some(Leg::A) {
            return None;
        }
        let stream = *call.media_streams.first()?;
        let (offered, _) = call.media_offer.lines.first()?.as_ref()?;
        // The caller's first codec the gateway can encode (G.711 preferred:
        // the cheapest, and what the final answer most likely keeps).
        let g711 = offered.iter().find(|f| matches!(negotiate::codec_of(f), Some(Codec::Pcmu | Codec::Pcma)));
        let voice = g711.or_else(|| offered.iter().find(|f| negotiate::codec_of(f).is_some()))?.clone();
        let codec = negotiate::codec_of(&voice)?;
        let te = offered.iter().find(|f| f.name.eq_ignore_ascii_case("telephone-event")).cloned();
        let gen = crate::media::tone::ringback(&country, codec.sample_rate())?;
        let port = self.relay.port(stream, Side::A)?;
        let mut formats = vec![voice.clone()];
        formats.extend(te);
        let pts: Vec<String> = formats.iter().map(|f| f.pt.to_string()).collect();
        let crypto = self.relay.inbound_crypto(stream, Side::A);
        let proto = if crypto.is_some() { "RTP/SAVP" } else { "RTP/AVP" };
        let mut sdp = format!(
            "v=0\r\no=- {} 1 IN {ip_type} {media_ip}\r\ns=-\r\nc=IN {ip_type} {media_ip}\r\nt=0 0\r\nm=audio {port} {proto} {}\r\n",
            stream.0,
            pts.join(" "),
            ip_type = if media_ip.is_ipv4() { "IP4" } else { "IP6" },
        );
        for f in &formats {
            let channels = f.channels.map(|c| format!("/{c}")).unwrap_or_default();
            sdp.push_str(&format!("a=rtpmap:{} {}/{}{channels}\r\n", f.pt, f.name, f.clock));
            if let Some(p) = &f.fmtp {
                sdp.push_str(&format!("a=fmtp:{} {p}\r\n", f.pt));
            }
        }
        if let Some((tag, suite)) = crypto {
            let key = match self.relay.outbound_key(stream, Side::A) {
                Some((s, k)) if s == suite => k,
                _ => self.new_srtp_key(),
            };
            sdp.push_str(&format!("a=crypto:{tag} {} {}\r\n", suite.sdes_name(), key.to_inline()));
            self.relay.set_srtp_outbound(stream, Side::A, Some((suite, key)));
        }
        sdp.push_str("a=sendrecv\r\n");
        let ssrc = (self.rng.next_u64() >> 32) as u32;
        self.relay.start_tone(stream, Side::A, Playback { gen, codec, pt: voice.pt, ssrc }, now);
        if let Some(c) = self.calls.get_mut(&id) {
            c.media_early = Some(voice.clone());
            let _in = c.span.enter();
            tracing::debug!(%country, codec = %voice.name, "ringback toward the caller");
        }
        Some(sdp.into_bytes())
    }

    /// A fresh SRTP master key and salt from the seeded RNG.
    fn new_srtp_key(&mut self) -> MasterKey {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_be_bytes());
        }
        let mut key = [0u8; 30];
        key.copy_from_slice(&bytes[..30]);
        MasterKey::from_bytes(key)
    }

    /// Give a call's media ports back.
    pub(super) fn close_media(&mut self, streams: &[StreamId]) {
        for s in streams {
            for side in [Side::A, Side::B] {
                if let Some(port) = self.relay.port(*s, side) {
                    self.media_control.push_back(MediaControl::Close { port });
                }
            }
            self.relay.close(*s);
        }
    }
}

/// The RFC 4733 event of a DTMF signal as SIP INFO writes it (`5`, `*`,
/// `#`, `A`-`D`, or the event number `10`/`11`).
fn event_of(signal: &str) -> Option<u8> {
    match signal.trim() {
        "*" => Some(10),
        "#" => Some(11),
        s if s.len() == 1 => dtmf_event(s.chars().next()?.to_ascii_uppercase()),
        s => s.parse::<u8>().ok().filter(|e| *e <= 15),
    }
}

/// A digit from an INFO body: `application/dtmf-relay` (`Signal=`,
/// `Duration=` in ms) or `application/dtmf` (the digit alone).
pub(super) fn info_digit(content_type: &str, body: &[u8]) -> Option<(u8, u32)> {
    let ct = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?;
    match ct.as_str() {
        "application/dtmf-relay" => {
            let mut event = None;
            let mut duration = 250;
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "signal" => event = event_of(v),
                        "duration" => duration = v.trim().parse().unwrap_or(250),
                        _ => {}
                    }
                }
            }
            event.map(|e| (e, duration))
        }
        "application/dtmf" => event_of(text).map(|e| (e, 250)),
        _ => None,
    }
}

/// The body of a telephone-event NOTIFY: the RFC 4733 payload (event,
/// end bit and volume, duration; at `rate=1000` the duration is in ms).
pub(super) fn notify_body(event: u8, duration_ms: u32) -> [u8; 4] {
    let d = u16::try_from(duration_ms).unwrap_or(u16::MAX).to_be_bytes();
    [event.min(15), 0x80 | 10, d[0], d[1]]
}

/// A key press from a telephone-event NOTIFY: (event, duration ms, ended).
/// The duration is in ms at `rate=1000` (what these NOTIFYs use), in
/// 8 kHz samples when the Event header names `rate=8000`.
pub(super) fn notify_digit(event_header: &str, content_type: &str, body: &[u8]) -> Option<(u8, u32, bool)> {
    let mut params = event_header.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("telephone-event") {
        return None;
    }
    let ct = content_type.split(';').next()?.trim();
    if !ct.eq_ignore_ascii_case("audio/telephone-event") || body.len() < 4 || body[0] > 15 {
        return None;
    }
    let rate = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("rate"))
        .and_then(|(_, v)| v.trim().parse::<u32>().ok())
        .filter(|r| *r > 0)
        .unwrap_or(1000);
    let duration = u32::from(u16::from_be_bytes([body[2], body[3]]));
    Some((body[0], duration * 1000 / rate, body[1] & 0x80 != 0))
}

impl Gateway {
    /// A digit signalled in SIP (INFO or NOTIFY, the way the leg it came
    /// from carries DTMF) toward a leg that carries DTMF another way:
    /// delivered that way instead of relayed. True when it was taken (the
    /// caller answers 200). A NOTIFY that starts a key press (no end bit)
    /// is taken and remembered; its end gives the one digit.
    pub(super) fn signalled_digit(&mut self, now: Time, id: CallId, from: Leg, req: &crate::sip::msg::Message) -> bool {
        use crate::sip::msg::{HeaderName, Method};
        let mode = self.leg_policy(id, from).dtmf;
        let ct = req.header_value(HeaderName::ContentType).unwrap_or("");
        let digit = match (req.method(), mode) {
            (Some(Method::Info), DtmfMode::Info) => info_digit(ct, req.body()).map(|(e, d)| (e, d, true)),
            (Some(Method::Notify), DtmfMode::Notify) => {
                notify_digit(req.header_value(HeaderName::Event).unwrap_or(""), ct, req.body())
            }
            _ => None,
        };
        let Some((event, duration, ended)) = digit else { return false };
        if self.leg_policy(id, from.other()).dtmf == mode {
            return false;
        }
        let Some(stream) = self.calls.get(&id).and_then(|c| c.media_streams.first().copied()) else { return false };
        let Some(call) = self.calls.get_mut(&id) else { return false };
        let pending = &mut call.notify_key[from as usize];
        if !ended {
            // The start of a key press: a press still open ends here.
            let open = pending.replace(event);
            if let Some(e) = open {
                self.deliver_digit(now, id, stream, from.other(), e, duration.max(40));
            }
            return true;
        }
        *pending = None;
        self.deliver_digit(now, id, stream, from.other(), event, duration);
        true
    }

    /// Give a digit to leg `to` the way it carries DTMF.
    fn deliver_digit(&mut self, now: Time, id: CallId, stream: StreamId, to: Leg, event: u8, duration_ms: u32) {
        match self.leg_policy(id, to).dtmf {
            DtmfMode::Info => {
                let body = format!("Signal={}\r\nDuration={}\r\n", dtmf_char(event), duration_ms);
                self.send_in_dialog(now, id, to, "INFO", &[], "application/dtmf-relay", body.as_bytes());
            }
            DtmfMode::Notify => {
                let body = notify_body(event, duration_ms);
                let headers = [("Event", "telephone-event;rate=1000"), ("Subscription-State", "active")];
                self.send_in_dialog(now, id, to, "NOTIFY", &headers, "audio/telephone-event", &body);
            }
            DtmfMode::Rfc4733 => {
                self.relay.queue_digit(stream, side(to), event, duration_ms, now);
            }
            DtmfMode::InBand => {
                self.relay.queue_inband(stream, side(to), event, duration_ms);
            }
        }
    }

    /// Digits the relay took out of a stream (RFC 4733 events, or tones
    /// detected in-band) go to the other leg the way it carries DTMF: SIP
    /// INFO (`application/dtmf-relay`), RFC 4733 events, or tones.
    pub(super) fn events_to_info(&mut self, now: Time) {
        while let Some(d) = self.relay.poll_dtmf() {
            let Some(id) = self.calls.iter().find(|(_, c)| c.media_streams.contains(&d.stream)).map(|(id, _)| *id)
            else {
                continue;
            };
            let to = match d.from {
                Side::A => Leg::B,
                Side::B => Leg::A,
            };
            self.deliver_digit(now, id, d.stream, to, d.event, d.duration_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_bodies_give_their_digit_and_duration() {
        assert_eq!(info_digit("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"), Some((5, 160)));
        assert_eq!(info_digit("Application/DTMF-Relay", b"signal= #\nduration=100"), Some((11, 100)));
        assert_eq!(info_digit("application/dtmf-relay", b"Signal=11\r\n"), Some((11, 250)));
        assert_eq!(info_digit("application/dtmf", b"*"), Some((10, 250)));
        assert_eq!(info_digit("application/dtmf-relay", b"Signal=B\r\nDuration=90\r\n"), Some((13, 90)));
        assert_eq!(info_digit("application/dtmf-relay", b"Signal=X\r\n"), None);
    }

    #[test]
    fn telephone_event_notify_bodies() {
        let ct = "audio/telephone-event";
        assert_eq!(notify_digit("telephone-event;rate=1000", ct, &notify_body(11, 160)), Some((11, 160, true)));
        assert_eq!(notify_digit("telephone-event", ct, &[5, 10, 0, 0]), Some((5, 0, false)));
        // rate=8000: the duration is in samples.
        assert_eq!(notify_digit("telephone-event;rate=8000", ct, &[1, 0x8a, 0x05, 0x00]), Some((1, 160, true)));
        assert_eq!(notify_digit("dialog", ct, &[1, 0x8a, 0, 0]), None);
        assert_eq!(notify_digit("telephone-event", "text/plain", &[1, 0x8a, 0, 0]), None);
        assert_eq!(notify_digit("telephone-event", ct, &[16, 0x8a, 0, 0]), None);
        assert_eq!(notify_digit("telephone-event", ct, &[1, 0x8a]), None);
        assert_eq!(notify_body(3, 100_000), [3, 0x8a, 0xff, 0xff]);
        assert_eq!(info_digit("application/sdp", b"Signal=5\r\n"), None);
        assert_eq!((dtmf_char(10), dtmf_char(11), dtmf_char(15), dtmf_char(7)), ('*', '#', 'D', '7'));
    }
}
