//! The codecs the simulated parties speak, and the state to encode and
//! decode them.
//!
//! Contract: a [`Voice`] is one codec as a party's SDP names it (payload
//! type in the party's own numbering, rtpmap, fmtp) with the PCM rate it
//! works at. [`VoiceEncoder`] turns 20 ms of PCM at that rate into one RTP
//! payload, [`VoiceDecoder`] a payload back into PCM. G.711 is the
//! simulator's own ([`crate::audio::Law`]) and G.722 is spandsp's
//! ([`crate::spandsp`]): both independent of the gateway's codecs, so a
//! bug shared by encoder and decoder cannot hide. G.729 and Opus use the
//! reference libraries (bcg729, libopus) through the gateway's bindings:
//! there is no second implementation to check against, and what the
//! scenarios check is that the gateway's transcoding keeps the tone.

use gateway::media::codec::{Codec, Decoder, Encoder};

use crate::audio::Law;
use crate::spandsp::{SpandspG722Decoder, SpandspG722Encoder};

/// A codec a party offers and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Voice {
    Mu,
    A,
    G722,
    G729,
    Opus,
}

/// The dynamic payload type the parties give Opus.
const OPUS_PT: u8 = 111;

impl Voice {
    pub const ALL: [Voice; 5] = [Voice::Mu, Voice::A, Voice::G722, Voice::G729, Voice::Opus];

    /// By SDP name (`PCMU`, `PCMA`, `G722`, `G729`, `opus`), any case.
    pub fn by_name(name: &str) -> Option<Voice> {
        Voice::ALL.into_iter().find(|v| v.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Voice::Mu => "PCMU",
            Voice::A => "PCMA",
            Voice::G722 => "G722",
            Voice::G729 => "G729",
            Voice::Opus => "opus",
        }
    }

    /// The payload type in the parties' own numbering.
    pub fn pt(self) -> u8 {
        match self {
            Voice::Mu => 0,
            Voice::A => 8,
            Voice::G722 => 9,
            Voice::G729 => 18,
            Voice::Opus => OPUS_PT,
        }
    }

    pub fn of_pt(pt: u8) -> Option<Voice> {
        Voice::ALL.into_iter().find(|v| v.pt() == pt)
    }

    /// The rtpmap value after the payload type.
    pub fn rtpmap(self) -> &'static str {
        match self {
            Voice::Mu => "PCMU/8000",
            Voice::A => "PCMA/8000",
            Voice::G722 => "G722/8000",
            Voice::G729 => "G729/8000",
            Voice::Opus => "opus/48000/2",
        }
    }

    pub fn fmtp(self) -> Option<&'static str> {
        match self {
            Voice::G729 => Some("annexb=no"),
            Voice::Opus => Some("useinbandfec=1"),
            _ => None,
        }
    }

    /// PCM rate (Hz) of its samples.
    pub fn rate(self) -> u32 {
        match self {
            Voice::G722 => 16_000,
            Voice::Opus => 48_000,
            _ => 8000,
        }
    }

    /// RTP timestamp units per 20 ms.
    pub fn ts_step(self) -> u32 {
        match self {
            Voice::Opus => 960,
            _ => 160,
        }
    }

    /// The G.711 law, for G.711.
    pub fn law(self) -> Option<Law> {
        match self {
            Voice::Mu => Some(Law::Mu),
            Voice::A => Some(Law::A),
            _ => None,
        }
    }

    fn library(self) -> Option<Codec> {
        match self {
            Voice::G729 => Some(Codec::G729),
            Voice::Opus => Some(Codec::Opus),
            _ => None,
        }
    }
}

/// Encoding state of one stream.
pub enum VoiceEncoder {
    G711(Law),
    G722(SpandspG722Encoder),
    Library(Box<Encoder>),
}

impl VoiceEncoder {
    /// None when the codec library could not start.
    pub fn new(v: Voice) -> Option<VoiceEncoder> {
        Some(match (v.law(), v.library()) {
            (Some(law), _) => VoiceEncoder::G711(law),
            (None, Some(c)) => VoiceEncoder::Library(Box::new(Encoder::new(c).ok()?)),
            (None, None) => VoiceEncoder::G722(SpandspG722Encoder::new()?),
        })
    }

    /// One payload for `pcm` (20 ms at the codec's rate).
    pub fn encode(&mut self, pcm: &[i16]) -> Vec<u8> {
        let mut out = vec![0u8; 1500];
        let n = match self {
            VoiceEncoder::G711(law) => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = law.encode(s);
                }
                pcm.len()
            }
            VoiceEncoder::G722(e) => e.encode(pcm, &mut out),
            VoiceEncoder::Library(e) => e.encode(pcm, &mut out).unwrap_or(0),
        };
        out.truncate(n);
        out
    }
}

/// Decoding state of one stream.
pub enum VoiceDecoder {
    G711(Law),
    G722(SpandspG722Decoder),
    Library(Box<Decoder>),
}

impl VoiceDecoder {
    pub fn new(v: Voice) -> Option<VoiceDecoder> {
        Some(match (v.law(), v.library()) {
            (Some(law), _) => VoiceDecoder::G711(law),
            (None, Some(c)) => VoiceDecoder::Library(Box::new(Decoder::new(c).ok()?)),
            (None, None) => VoiceDecoder::G722(SpandspG722Decoder::new()?),
        })
    }

    /// The PCM of one payload; `None` when it does not decode.
    pub fn decode(&mut self, payload: &[u8]) -> Option<Vec<i16>> {
        match self {
            VoiceDecoder::G711(law) => Some(payload.iter().map(|&c| law.decode(c)).collect()),
            VoiceDecoder::G722(d) => {
                let mut pcm = vec![0i16; payload.len() * 2];
                let n = d.decode(payload, &mut pcm);
                pcm.truncate(n);
                Some(pcm)
            }
            VoiceDecoder::Library(d) => {
                let mut pcm = vec![0i16; 5760];
                let n = d.decode(payload, &mut pcm).ok()?;
                pcm.truncate(n);
                Some(pcm)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_voice_round_trips_a_tone_through_its_own_codec() {
        for v in Voice::ALL {
            let mut enc = VoiceEncoder::new(v).expect("encoder");
            let mut dec = VoiceDecoder::new(v).expect("decoder");
            let mut speaker = crate::audio::Speaker::new(1000.0);
            let mut listener = crate::audio::Listener::default();
            for _ in 0..50 {
                let pcm = speaker.pcm(v.rate());
                let payload = enc.encode(&pcm);
                assert!(!payload.is_empty(), "{v:?}");
                let back = dec.decode(&payload).expect("decodes");
                listener.hear_pcm(&back, v.rate());
            }
            let (hz, share) = listener.dominant().expect("heard");
            assert_eq!(hz, 1000, "{v:?}");
            assert!(share >= 95, "{v:?}: {share}%");
            assert_eq!(Voice::of_pt(v.pt()), Some(v));
            assert_eq!(Voice::by_name(&v.name().to_uppercase()), Some(v));
        }
    }
}
