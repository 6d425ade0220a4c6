//! Offer/answer across the two legs of an anchored stream (RFC 3264),
//! with a codec policy per leg, and the per-direction plan the relay
//! follows (payload-type renumbering, transcoding).
//!
//! Contract: the gateway answers each leg itself and offers the other leg
//! its own list. [`offer_for`] turns what one leg offered into the list
//! offered to the other, under that leg's [`LegPolicy`]: the codecs both
//! accept, in the receiving leg's order; when they share none, the
//! receiving leg's codecs the gateway can transcode to from an offered
//! one; telephone-event at the receiving leg's payload type. [`plan`]
//! takes the other leg's answer and gives the answer for the offering leg
//! and the [`StreamPlan`]: for each direction, which payload type in
//! becomes which out and whether the payload is transcoded. Payload type
//! numbers follow RFC 3264 5.1: a leg sends with the numbers of the SDP it
//! was given, and receives with the numbers of its own. Pure functions,
//! no state.

use crate::media::codec::Codec;
use crate::media::sdp::Media;

/// One RTP payload format of an m= line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub pt: u8,
    /// Encoding name as written in rtpmap (compared case-insensitively).
    pub name: String,
    pub clock: u32,
    pub channels: Option<u8>,
    pub fmtp: Option<String>,
}

impl Format {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// telephone-event or comfort noise: not a voice codec.
    fn is_auxiliary(&self) -> bool {
        self.is("telephone-event") || self.is("CN")
    }

    fn same_codec(&self, other: &Format) -> bool {
        self.name.eq_ignore_ascii_case(&other.name) && self.clock == other.clock
    }
}

/// A codec the gateway can name without an rtpmap (RFC 3551 static types).
fn static_format(pt: u8) -> Option<(&'static str, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    })
}

/// The formats of an m= line, in order (static types without rtpmap get
/// their RFC 3551 names; a dynamic type without rtpmap is skipped).
pub fn formats(m: &Media) -> Vec<Format> {
    let maps: Vec<_> = m.rtpmaps().collect();
    m.formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .filter_map(|pt| {
            let fmtp = m.fmtp(pt).map(str::to_owned);
            if let Some(r) = maps.iter().find(|r| r.pt == pt) {
                return Some(Format { pt, name: r.encoding.to_owned(), clock: r.clock, channels: r.channels, fmtp });
            }
            static_format(pt).map(|(name, clock)| Format { pt, name: name.to_owned(), clock, channels: None, fmtp })
        })
        .collect()
}

/// Replace an m= line's formats and their rtpmap/fmtp lines with `list`.
pub fn set_formats(m: &mut Media, list: &[Format]) {
    m.retain_formats(|_| false);
    m.remove_attributes("rtpmap");
    m.remove_attributes("fmtp");
    m.formats = list.iter().map(|f| f.pt.to_string()).collect();
    for f in list {
        let channels = f.channels.map(|c| format!("/{c}")).unwrap_or_default();
        m.push_attribute("rtpmap", Some(&format!("{} {}/{}{channels}", f.pt, f.name, f.clock)));
        if let Some(p) = &f.fmtp {
            m.push_attribute("fmtp", Some(&format!("{} {p}", f.pt)));
        }
    }
}

/// What one leg accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegPolicy {
    /// Voice codecs allowed on this leg, in preference order (rtpmap
    /// names: PCMU, PCMA, G722, ...). Empty: whatever the other leg offers.
    pub codecs: Vec<String>,
    /// Payload type for telephone-event when the gateway offers it on this
    /// leg; `None`: keep the other leg's number.
    pub telephone_event_pt: Option<u8>,
    /// Offer SRTP (RTP/SAVP, SDES keys) on this leg. Answers follow the offer.
    pub srtp: bool,
    /// Ringback played toward this leg when its call rings without early
    /// media (a country: us, uk, de, fr ...; see `media::tone::ringback`).
    pub ringback: Option<String>,
    /// How this leg carries DTMF: RFC 4733 events in RTP, or SIP INFO.
    pub dtmf: DtmfMode,
    /// Media attributes never sent toward this leg (names; `x-*` matches
    /// a prefix), e.g. vendor attributes a Teams proxy should not see.
    pub drop_attributes: Vec<String>,
    /// This leg hears comfort noise the gateway makes when the other leg
    /// is silent and sends CN (RFC 3389) that this leg does not take.
    pub comfort_noise: bool,
    /// RTCP with this leg is the gateway's own (RFC 3550 reports every
    /// 5 s, the peer's read, nothing relayed) instead of relayed.
    pub rtcp_terminate: bool,
}

impl LegPolicy {
    /// Whether an attribute named `name` may be sent toward this leg.
    pub fn allows_attribute(&self, name: &str) -> bool {
        !self.drop_attributes.iter().any(|d| match d.strip_suffix('*') {
            Some(prefix) => name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix),
            None => d.eq_ignore_ascii_case(name),
        })
    }
}

/// How a leg carries DTMF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfMode {
    /// RFC 4733 telephone-event in the RTP stream.
    #[default]
    Rfc4733,
    /// SIP INFO, `application/dtmf-relay` (`Signal=`, `Duration=`);
    /// `application/dtmf` is understood on the way in.
    Info,
    /// Unsolicited SIP NOTIFY, `Event: telephone-event`, the RFC 4733
    /// event payload as the body (`audio/telephone-event`, duration in ms).
    Notify,
    /// Tones in the audio (G.711): detected on the way in, generated on the way out.
    InBand,
}

/// A payload conversion the relay does: decode `from`, encode `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcode {
    pub from: Codec,
    pub to: Codec,
}

impl Transcode {
    pub const ULAW_TO_ALAW: Transcode = Transcode { from: Codec::Pcmu, to: Codec::Pcma };
    pub const ALAW_TO_ULAW: Transcode = Transcode { from: Codec::Pcma, to: Codec::Pcmu };

    /// Between the two G.711 laws: byte for byte, in place, no state.
    pub fn in_place(self) -> bool {
        matches!((self.from, self.to), (Codec::Pcmu, Codec::Pcma) | (Codec::Pcma, Codec::Pcmu))
    }
}

/// The codec a format names, if the gateway can transcode it.
pub fn codec_of(f: &Format) -> Option<Codec> {
    Codec::from_rtpmap(&f.name, f.clock, f.channels)
}

fn transcode_between(from: &Format, to: &Format) -> Option<Transcode> {
    let (from, to) = (codec_of(from)?, codec_of(to)?);
    (from != to).then_some(Transcode { from, to })
}

/// The format the gateway offers for a codec of a leg's policy (`name` as
/// in the config): its static payload type, or the first dynamic one not
/// in `taken`.
fn policy_format(name: &str, taken: &[u8]) -> Option<Format> {
    let codec = Codec::ALL.into_iter().find(|c| c.rtpmap_name().eq_ignore_ascii_case(name))?;
    let pt = codec.static_pt().or_else(|| (96..=127).find(|pt| !taken.contains(pt)))?;
    let fmtp = match codec {
        // No Annex B: the gateway's G.729 encoder sends no SID frames.
        Codec::G729 => Some("annexb=no".to_owned()),
        Codec::Opus => Some("useinbandfec=1".to_owned()),
        _ => None,
    };
    Some(Format {
        pt,
        name: codec.rtpmap_name().to_owned(),
        clock: codec.rtp_clock(),
        channels: codec.channels(),
        fmtp,
    })
}

/// Whether the list offered to a leg (`ours`, from [`offer_for`]) shares
/// no voice codec with what was `offered`: the call needs a transcoder.
pub fn needs_transcoding(offered: &[Format], ours: &[Format]) -> bool {
    let voice = |f: &&Format| !f.is_auxiliary();
    !ours.iter().filter(voice).any(|o| offered.iter().filter(voice).any(|f| f.same_codec(o)))
}

/// How packets of one direction are rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectionPlan {
    /// (payload type received, payload type sent); others are dropped.
    pub pt_map: Vec<(u8, u8)>,
    /// Applied to packets of the voice payload type (the first entry).
    pub transcode: Option<Transcode>,
    /// RTP clock rate of the voice codec sent (0: unknown, 8000 assumed).
    pub clock: u32,
    /// The voice codec sent, when the gateway knows it.
    pub codec: Option<Codec>,
    /// A comfort-noise payload type (as received) the gateway turns into
    /// noise in the voice codec: the receiving leg has no CN (RFC 3389).
    /// (telephone-event crosses as an entry of `pt_map`.)
    pub comfort_noise: Option<u8>,
}

/// Both directions of an anchored stream: `offerer` is the leg whose
/// offer was answered, `answerer` the other.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamPlan {
    pub offerer_to_answerer: DirectionPlan,
    pub answerer_to_offerer: DirectionPlan,
}

/// No codec can cross (488 to the offer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no common codec: offered {offered}, accepted {accepted}")]
pub struct NoCommonCodec {
    pub offered: String,
    pub accepted: String,
}

fn names(list: &[Format]) -> String {
    list.iter().filter(|f| !f.is_auxiliary()).map(|f| f.name.as_str()).collect::<Vec<_>>().join(" ")
}

/// `offered` without its voice codecs other than G.711 (PCMU, PCMA),
/// auxiliaries kept; unchanged if it has no G.711 at all.
pub fn only_g711(offered: Vec<Format>) -> Vec<Format> {
    let g711 = |f: &Format| f.is("PCMU") || f.is("PCMA");
    if !offered.iter().any(g711) {
        return offered;
    }
    offered.into_iter().filter(|f| f.is_auxiliary() || g711(f)).collect()
}

/// The list offered to a leg with `policy`, for what the other leg offered.
pub fn offer_for(offered: &[Format], policy: &LegPolicy) -> Result<Vec<Format>, NoCommonCodec> {
    let voice: Vec<&Format> = offered.iter().filter(|f| !f.is_auxiliary()).collect();
    let mut out: Vec<Format> = if policy.codecs.is_empty() {
        voice.iter().map(|f| (*f).clone()).collect()
    } else {
        let common: Vec<Format> =
            policy.codecs.iter().filter_map(|name| voice.iter().find(|f| f.is(name)).map(|f| (*f).clone())).collect();
        if common.is_empty() {
            // Transcoding: the leg's own codecs reachable from an offered one.
            let mut taken: Vec<u8> = offered.iter().map(|f| f.pt).collect();
            taken.extend(policy.telephone_event_pt);
            let mut list: Vec<Format> = Vec::new();
            for name in &policy.codecs {
                let Some(f) = policy_format(name, &taken) else { continue };
                if voice.iter().any(|o| transcode_between(o, &f).is_some()) {
                    taken.push(f.pt);
                    list.push(f);
                }
            }
            list
        } else {
            common
        }
    };
    if out.is_empty() {
        let accepted = if policy.codecs.is_empty() { "any".to_owned() } else { policy.codecs.join(" ") };
        return Err(NoCommonCodec { offered: names(offered), accepted });
    }
    if let Some(te) = offered.iter().find(|f| f.is("telephone-event")) {
        let pt = policy.telephone_event_pt.unwrap_or(te.pt);
        if !out.iter().any(|f| f.pt == pt) {
            out.push(Format { pt, ..te.clone() });
        }
    }
    if let Some(cn) = offered.iter().find(|f| f.is("CN")) {
        if !out.iter().any(|f| f.pt == cn.pt) {
            out.push(cn.clone());
        }
    }
    Ok(out)
}

/// The answer for the offering leg, and the relay's plan, once the other
/// leg answered `our_offer` with `answer`.
pub fn plan(
    offered: &[Format],
    our_offer: &[Format],
    answer: &[Format],
) -> Result<(Vec<Format>, StreamPlan), NoCommonCodec> {
    let fail = || NoCommonCodec { offered: names(offered), accepted: names(answer) };
    let mut reply = Vec::new();
    let mut forward = DirectionPlan::default();
    let mut backward = DirectionPlan::default();
    // Every answered codec both legs have crosses as is (a sender may switch
    // among them); the first is the voice codec.
    for a in answer.iter().filter(|f| !f.is_auxiliary()) {
        let (Some(o), Some(us)) =
            (offered.iter().find(|f| f.same_codec(a)), our_offer.iter().find(|f| f.same_codec(a)))
        else {
            continue;
        };
        if reply.is_empty() {
            forward.clock = a.clock;
            backward.clock = o.clock;
            forward.codec = codec_of(a);
            backward.codec = codec_of(o);
        }
        reply.push(o.clone());
        forward.pt_map.push((o.pt, a.pt));
        backward.pt_map.push((us.pt, o.pt));
    }
    if reply.is_empty() {
        // No shared codec: the answerer's first codec we offered, transcoded
        // from one the offerer has.
        let chosen =
            answer.iter().find(|f| !f.is_auxiliary() && our_offer.iter().any(|o| o.same_codec(f))).ok_or_else(fail)?;
        let us = our_offer.iter().find(|o| o.same_codec(chosen)).ok_or_else(fail)?;
        let (o, t) = offered
            .iter()
            .filter(|f| !f.is_auxiliary())
            .find_map(|f| transcode_between(f, chosen).map(|t| (f, t)))
            .ok_or_else(fail)?;
        reply.push(o.clone());
        forward = DirectionPlan {
            pt_map: vec![(o.pt, chosen.pt)],
            transcode: Some(t),
            clock: chosen.clock,
            codec: codec_of(chosen),
            comfort_noise: None,
        };
        backward = DirectionPlan {
            pt_map: vec![(us.pt, o.pt)],
            transcode: transcode_between(chosen, o),
            clock: o.clock,
            codec: codec_of(o),
            comfort_noise: None,
        };
    }
    for aux in ["telephone-event", "CN"] {
        let (Some(o), Some(a), Some(us)) = (
            offered.iter().find(|f| f.is(aux)),
            answer.iter().find(|f| f.is(aux)),
            our_offer.iter().find(|f| f.is(aux)),
        ) else {
            continue;
        };
        reply.push(o.clone());
        forward.pt_map.push((o.pt, a.pt));
        backward.pt_map.push((us.pt, o.pt));
    }
    Ok((reply, StreamPlan { offerer_to_answerer: forward, answerer_to_offerer: backward }))
}

/// Like [`plan`], when the offerer was already answered with `fixed` (the
/// gateway answered it early to play ringback): the reply keeps `fixed`,
/// transcoding to the answerer's codec if they differ.
pub fn plan_fixed(
    offered: &[Format],
    our_offer: &[Format],
    answer: &[Format],
    fixed: &Format,
) -> Result<(Vec<Format>, StreamPlan), NoCommonCodec> {
    let fail = || NoCommonCodec { offered: fixed.name.clone(), accepted: names(answer) };
    let chosen =
        answer.iter().find(|f| !f.is_auxiliary() && our_offer.iter().any(|o| o.same_codec(f))).ok_or_else(fail)?;
    let us = our_offer.iter().find(|o| o.same_codec(chosen)).ok_or_else(fail)?;
    let (t_fwd, t_back) = if fixed.same_codec(chosen) {
        (None, None)
    } else {
        (Some(transcode_between(fixed, chosen).ok_or_else(fail)?), transcode_between(chosen, fixed))
    };
    let mut reply = vec![fixed.clone()];
    let mut forward = DirectionPlan {
        pt_map: vec![(fixed.pt, chosen.pt)],
        transcode: t_fwd,
        clock: chosen.clock,
        codec: codec_of(chosen),
        ..DirectionPlan::default()
    };
    let mut backward = DirectionPlan {
        pt_map: vec![(us.pt, fixed.pt)],
        transcode: t_back,
        clock: fixed.clock,
        codec: codec_of(fixed),
        ..DirectionPlan::default()
    };
    if let (Some(o), Some(a), Some(u)) = (
        offered.iter().find(|f| f.is("telephone-event")),
        answer.iter().find(|f| f.is("telephone-event")),
        our_offer.iter().find(|f| f.is("telephone-event")),
    ) {
        reply.push(o.clone());
        forward.pt_map.push((o.pt, a.pt));
        backward.pt_map.push((u.pt, o.pt));
    }
    Ok((reply, StreamPlan { offerer_to_answerer: forward, answerer_to_offerer: backward }))
}

/// Comfort noise across legs where only one has CN (RFC 3389): after
/// [`plan`], when the answerer has no CN and wants noise
/// (`noise_to_answerer`), the offerer's CN is accepted in the reply and
/// turned into noise toward the answerer; when the answerer answered a CN
/// the gateway added to its offer (the offerer had none), its CN packets
/// are turned into noise toward the offerer.
pub fn interwork_comfort_noise(
    offered: &[Format],
    our_offer: &[Format],
    answer: &[Format],
    noise_to_answerer: bool,
    reply: &mut Vec<Format>,
    plan: &mut StreamPlan,
) {
    let cn = |list: &[Format]| list.iter().find(|f| f.is("CN") && f.clock == 8000).cloned();
    match (cn(offered), cn(answer)) {
        (Some(o), None) if noise_to_answerer => {
            plan.offerer_to_answerer.comfort_noise = Some(o.pt);
            reply.push(o);
        }
        (None, Some(_)) => {
            if let Some(us) = cn(our_offer) {
                plan.answerer_to_offerer.comfort_noise = Some(us.pt);
            }
        }
        _ => {}
    }
}

/// CN/8000 added to an offer toward a leg, so that it may send comfort
/// noise the gateway turns into noise for the other leg, which has none.
pub fn offer_comfort_noise(offered: &[Format], ours: &mut Vec<Format>) {
    let has = |list: &[Format]| list.iter().any(|f| f.is("CN"));
    if !has(offered) && !has(ours) && !ours.iter().any(|f| f.pt == 13) {
        ours.push(Format { pt: 13, name: "CN".into(), clock: 8000, channels: None, fmtp: None });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pt: u8, name: &str) -> Format {
        let clock = if name.eq_ignore_ascii_case("opus") { 48_000 } else { 8000 };
        Format { pt, name: name.into(), clock, channels: None, fmtp: None }
    }

    fn policy(codecs: &[&str], te: Option<u8>) -> LegPolicy {
        LegPolicy {
            codecs: codecs.iter().map(|c| (*c).to_owned()).collect(),
            telephone_event_pt: te,
            srtp: false,
            ringback: None,
            dtmf: DtmfMode::Rfc4733,
            drop_attributes: Vec::new(),
            comfort_noise: false,
            rtcp_terminate: false,
        }
    }

    #[test]
    fn pass_through_keeps_the_offer_and_maps_identically() {
        let offered = vec![f(0, "PCMU"), f(8, "PCMA"), f(101, "telephone-event")];
        let ours = offer_for(&offered, &LegPolicy::default()).expect("offer");
        assert_eq!(ours, offered);
        let answer = vec![f(0, "PCMU"), f(101, "telephone-event")];
        let (reply, p) = plan(&offered, &ours, &answer).expect("plan");
        assert_eq!(reply, answer);
        let same = DirectionPlan {
            pt_map: vec![(0, 0), (101, 101)],
            transcode: None,
            clock: 8000,
            codec: Some(Codec::Pcmu),
            comfort_noise: None,
        };
        assert_eq!(p.offerer_to_answerer, same);
        assert_eq!(p.answerer_to_offerer, same);
    }

    #[test]
    fn telephone_event_is_renumbered_per_leg() {
        // The operator uses 96 for DTMF events; the Teams leg is offered 101.
        let offered = vec![f(0, "PCMU"), f(96, "telephone-event")];
        let ours = offer_for(&offered, &policy(&["PCMU"], Some(101))).expect("offer");
        assert_eq!(ours, vec![f(0, "PCMU"), f(101, "telephone-event")]);
        let (reply, p) = plan(&offered, &ours, &[f(0, "PCMU"), f(101, "telephone-event")]).expect("plan");
        assert_eq!(reply, offered, "the operator is answered in its own numbering");
        assert_eq!(p.offerer_to_answerer.pt_map, vec![(0, 0), (96, 101)]);
        assert_eq!(p.answerer_to_offerer.pt_map, vec![(0, 0), (101, 96)]);
    }

    #[test]
    fn attributes_are_filtered_by_name_or_prefix() {
        let p = LegPolicy { drop_attributes: vec!["x-*".into(), "label".into()], ..LegPolicy::default() };
        assert!(!p.allows_attribute("x-ssrc-range") && !p.allows_attribute("X-Foo") && !p.allows_attribute("LABEL"));
        assert!(p.allows_attribute("rtpmap") && p.allows_attribute("x") && p.allows_attribute("labels"));
    }

    #[test]
    fn every_shared_answered_codec_crosses() {
        let offered = vec![f(0, "PCMU"), f(8, "PCMA")];
        let ours = offer_for(&offered, &LegPolicy::default()).expect("offer");
        let (reply, p) = plan(&offered, &ours, &[f(8, "PCMA"), f(0, "PCMU")]).expect("plan");
        assert_eq!(reply, vec![f(8, "PCMA"), f(0, "PCMU")], "in the answerer's order");
        assert_eq!(p.offerer_to_answerer.pt_map, vec![(8, 8), (0, 0)]);
        assert_eq!(p.offerer_to_answerer.transcode, None);
    }

    #[test]
    fn the_receiving_legs_order_wins_and_codecs_outside_it_are_dropped() {
        let offered = vec![f(18, "G729"), f(8, "PCMA"), f(0, "PCMU")];
        let ours = offer_for(&offered, &policy(&["PCMU", "PCMA"], None)).expect("offer");
        assert_eq!(ours, vec![f(0, "PCMU"), f(8, "PCMA")]);
    }

    #[test]
    fn transcoding_only_when_no_codec_is_shared() {
        let offered = vec![f(8, "PCMA"), f(101, "telephone-event")];
        let ours = offer_for(&offered, &policy(&["PCMU"], None)).expect("offer");
        assert_eq!(ours, vec![f(0, "PCMU"), f(101, "telephone-event")]);
        let (reply, p) = plan(&offered, &ours, &[f(0, "PCMU"), f(101, "telephone-event")]).expect("plan");
        assert_eq!(reply[0], f(8, "PCMA"), "the offerer keeps its codec");
        assert_eq!(p.offerer_to_answerer.transcode, Some(Transcode::ALAW_TO_ULAW));
        assert_eq!(p.offerer_to_answerer.pt_map[0], (8, 0));
        assert_eq!(p.answerer_to_offerer.transcode, Some(Transcode::ULAW_TO_ALAW));
        assert_eq!(p.answerer_to_offerer.pt_map[0], (0, 8));
    }

    #[test]
    fn wideband_and_compressed_codecs_are_offered_for_transcoding_with_their_own_numbers() {
        // The operator offers PCMU and events at 96; Teams takes only Opus and G.722.
        let offered = vec![f(0, "PCMU"), f(96, "telephone-event")];
        let ours = offer_for(&offered, &policy(&["opus", "G722"], Some(101))).expect("offer");
        let opus = Format {
            pt: 97,
            name: "opus".into(),
            clock: 48_000,
            channels: Some(2),
            fmtp: Some("useinbandfec=1".into()),
        };
        assert_eq!(ours, vec![opus.clone(), f(9, "G722"), f(101, "telephone-event")]);
        assert!(needs_transcoding(&offered, &ours));
        let (reply, p) = plan(&offered, &ours, &[opus, f(101, "telephone-event")]).expect("plan");
        assert_eq!(reply[0], f(0, "PCMU"));
        assert_eq!(p.offerer_to_answerer.transcode, Some(Transcode { from: Codec::Pcmu, to: Codec::Opus }));
        assert_eq!((p.offerer_to_answerer.pt_map[0], p.offerer_to_answerer.clock), ((0, 97), 48_000));
        assert_eq!(p.answerer_to_offerer.transcode, Some(Transcode { from: Codec::Opus, to: Codec::Pcmu }));
        assert_eq!((p.answerer_to_offerer.pt_map[0], p.answerer_to_offerer.clock), ((97, 0), 8000));
        // G.729 is offered without Annex B.
        let ours = offer_for(&[f(8, "PCMA")], &policy(&["G729"], None)).expect("offer");
        assert_eq!(ours[0].fmtp.as_deref(), Some("annexb=no"));
        assert!(!needs_transcoding(&offered, &offer_for(&offered, &LegPolicy::default()).expect("offer")));
    }

    #[test]
    fn comfort_noise_is_taken_for_a_leg_without_cn_that_wants_noise() {
        // The offerer has CN, the answerer not: accepted and turned into noise.
        let offered = vec![f(0, "PCMU"), f(13, "CN")];
        let ours = offer_for(&offered, &LegPolicy::default()).expect("offer");
        let answer = vec![f(0, "PCMU")];
        let (mut reply, mut p) = plan(&offered, &ours, &answer).expect("plan");
        interwork_comfort_noise(&offered, &ours, &answer, true, &mut reply, &mut p);
        assert_eq!(reply, offered);
        assert_eq!(p.offerer_to_answerer.comfort_noise, Some(13));
        let (mut reply, mut p) = plan(&offered, &ours, &answer).expect("plan");
        interwork_comfort_noise(&offered, &ours, &answer, false, &mut reply, &mut p);
        assert_eq!((reply, p.offerer_to_answerer.comfort_noise), (answer.clone(), None), "not wanted: as RFC 3264");
        // The offerer has none and wants noise: CN is offered on its behalf.
        let offered = vec![f(0, "PCMU")];
        let mut ours = offer_for(&offered, &LegPolicy::default()).expect("offer");
        offer_comfort_noise(&offered, &mut ours);
        assert_eq!(ours, vec![f(0, "PCMU"), f(13, "CN")]);
        let answer = vec![f(0, "PCMU"), f(13, "CN")];
        let (mut reply, mut p) = plan(&offered, &ours, &answer).expect("plan");
        interwork_comfort_noise(&offered, &ours, &answer, false, &mut reply, &mut p);
        assert_eq!(reply, offered, "the offerer is not given CN");
        assert_eq!(p.answerer_to_offerer.comfort_noise, Some(13));
    }

    #[test]
    fn an_early_answer_is_kept_and_transcoded_to_when_the_final_answer_differs() {
        let offered = vec![f(8, "PCMA"), f(0, "PCMU"), f(101, "telephone-event")];
        let ours = offer_for(&offered, &LegPolicy::default()).expect("offer");
        let (reply, p) = plan_fixed(&offered, &ours, &[f(0, "PCMU")], &f(8, "PCMA")).expect("plan");
        assert_eq!(reply, vec![f(8, "PCMA")], "the caller keeps the codec it was answered with");
        assert_eq!(
            p.offerer_to_answerer,
            DirectionPlan {
                pt_map: vec![(8, 0)],
                transcode: Some(Transcode::ALAW_TO_ULAW),
                clock: 8000,
                codec: Some(Codec::Pcmu),
                ..DirectionPlan::default()
            }
        );
        assert_eq!(
            p.answerer_to_offerer,
            DirectionPlan {
                pt_map: vec![(0, 8)],
                transcode: Some(Transcode::ULAW_TO_ALAW),
                clock: 8000,
                codec: Some(Codec::Pcma),
                ..DirectionPlan::default()
            }
        );
        let (_, same) = plan_fixed(&offered, &ours, &[f(8, "PCMA")], &f(8, "PCMA")).expect("plan");
        assert_eq!(same.offerer_to_answerer.transcode, None);
    }

    #[test]
    fn nothing_in_common_and_nothing_to_transcode_is_refused() {
        // AMR-WB passes through but is not transcoded.
        let e = offer_for(&[f(18, "G729")], &policy(&["AMR-WB"], None)).unwrap_err();
        assert_eq!(e.to_string(), "no common codec: offered G729, accepted AMR-WB");
        let e = plan(&[f(0, "PCMU")], &[f(0, "PCMU")], &[f(9, "G722")]).unwrap_err();
        assert!(e.to_string().contains("accepted G722"), "{e}");
    }

    #[test]
    fn formats_are_read_and_written_with_their_rtpmaps() {
        let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 96 97\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:20\r\n";
        let mut sdp = crate::media::sdp::Sdp::parse(text.as_bytes()).expect("sdp");
        let list = formats(&sdp.media()[0]);
        assert_eq!(list.len(), 2, "97 has no rtpmap and is not static: skipped");
        assert_eq!((list[0].name.as_str(), list[1].fmtp.as_deref()), ("PCMU", Some("0-15")));
        let m = &mut sdp.media_mut()[0];
        set_formats(m, &[f(8, "PCMA"), Format { fmtp: Some("0-16".into()), ..f(101, "telephone-event") }]);
        let printed = sdp.print();
        assert!(printed.contains("m=audio 4000 RTP/AVP 8 101\r\n"), "{printed}");
        assert!(printed.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"), "{printed}");
        assert!(printed.contains("a=ptime:20"), "other attributes stay: {printed}");
        assert!(!printed.contains("a=rtpmap:96"), "{printed}");
    }

    #[test]
    fn only_g711_keeps_g711_and_auxiliaries_or_everything() {
        let offer = vec![f(9, "G722"), f(0, "PCMU"), f(101, "telephone-event"), f(13, "CN")];
        let pts = |v: Vec<Format>| v.iter().map(|f| f.pt).collect::<Vec<_>>();
        assert_eq!(pts(only_g711(offer)), vec![0, 101, 13]);
        assert_eq!(pts(only_g711(vec![f(9, "G722"), f(101, "telephone-event")])), vec![9, 101], "no G.711: as is");
    }
}
