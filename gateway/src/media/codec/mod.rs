//! The transcoding codecs of the media plane: PCMU, PCMA, G.722, G.729 and
//! Opus, resampling between their rates (8, 16, 48 kHz) and re-framing to
//! another packetization time. The relay calls it for a direction whose
//! `DirectionPlan` says transcode; it sees payloads, never RTP headers.
//!
//! Contract:
//! - [`Codec`] names a codec as SDP does (rtpmap name, RTP clock, channels,
//!   static payload type) and says at which PCM rate it works.
//! - [`Encoder::encode`] takes one frame of 16-bit mono PCM at the codec's
//!   [`Codec::sample_rate`] and writes one RTP payload; [`Decoder::decode`]
//!   takes one payload and writes the PCM; [`Decoder::conceal`] writes one
//!   frame (the duration of the last payload, 20 ms before any) of loss
//!   concealment. Malformed payloads (empty, wrong length, what libopus
//!   refuses) are a [`CodecError`] naming the codec and why; nothing panics
//!   on input, and none of these allocate (library states are created once
//!   in `new`).
//! - [`Transcoder`] is one direction: `push` decodes a payload of `from`,
//!   resamples it to `to`'s rate and appends it to a PCM FIFO bounded to
//!   [`FIFO_MS`] (beyond it the oldest samples are dropped and counted);
//!   `pop` encodes the next `out_ptime_ms` of it as a payload of `to` and
//!   gives its duration in `to`'s RTP clock (the RTP timestamp step). All
//!   buffers are fixed arrays boxed once at creation.
//!
//! Implementations (choices measured in `gateway/benches/transcode.rs` and the tests):
//! - G.711: [`crate::media::g711`]'s tables.
//! - G.722: [`g722`], our own SB-ADPCM (64 kbit/s, 1 byte per 2 samples at
//!   16 kHz), bit-exact with spandsp's (checked in `sim/tests/g722_spandsp.rs`).
//! - G.729: Debian's bcg729 (Annex A encoder, VAD off; the decoder takes
//!   N x 10-byte frames plus an optional 2-byte Annex B SID, decoded as
//!   comfort noise); binding in `ffi`.
//! - Opus: Debian's libopus, mono, 48 kHz, VOIP application, voice signal,
//!   [`OPUS_BITRATE`] and complexity [`OPUS_COMPLEXITY`]; a 30 ms (or 50 ms)
//!   packet is 10 ms frames joined by libopus' repacketizer (Opus has no
//!   30 ms frame). The decoder is mono: libopus downmixes stereo packets
//!   (SDP says opus/48000/2 whatever is sent, RFC 7587).
//! - [`resample`]: our own polyphase windowed-sinc FIR (ratios 2, 3, 6).
//!
//! Cost of one 20 ms frame through a `Transcoder` (push + pop), release build
//! on the 2-core development VM shared with other jobs (`cargo bench -p gateway --bench transcode`;
//! baselines in the same run: 160-byte copy 1.9 ns, G.711 in-place table 40 ns), and
//! bidirectional channels per core = 1 / ((t(a->b) + t(b->a)) x 50 frames/s):
//!
//! | pair | a->b | b->a | channels/core |
//! |---|---:|---:|---:|
//! | PCMU <-> PCMA | 0.41 us | 0.52 us | ~21,500 |
//! | PCMU <-> G.722 | 10.6 us | 8.6 us | ~1,040 (target >= 500) |
//! | PCMA <-> G.729 | 35.6 us | 7.4 us | ~465 |
//! | PCMU <-> Opus | 42.9 us | 15.9 us | ~340 |
//!
//! (Same run, after Opus moved to the other side's PCM rate: before, at
//! 48 kHz with our resampler, PCMU <-> Opus took 167 + 27 us, ~100
//! channels.) Opus' encoder still dominates its pair; complexity and
//! bitrate are the knobs ([`OPUS_COMPLEXITY`], [`OPUS_BITRATE`]).

mod ffi;
pub mod g722;
pub mod resample;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testsig;

use ffi::{G729Frame, G729_BYTES, G729_FRAME};
use g722::{G722Decoder, G722Encoder};
use resample::Resampler;

use crate::media::g711;

/// Opus encoder bitrate (bit/s): wideband speech is transparent-ish from 24k.
pub const OPUS_BITRATE: i32 = 24_000;
/// Opus encoder complexity (0-10): 5 costs about half of 10 (see the bench).
pub const OPUS_COMPLEXITY: i32 = 5;
/// The longest payload accepted and the FIFO bound (ms).
pub const MAX_PACKET_MS: u32 = 120;
pub const FIFO_MS: u32 = 120;
/// PCM samples in [`MAX_PACKET_MS`] at 48 kHz: every buffer's size.
const MAX_PCM: usize = 5760;

/// A codec the media plane can transcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    G722,
    G729,
    Opus,
}

impl Codec {
    pub const ALL: [Codec; 5] = [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::G729, Codec::Opus];

    /// The codec of an rtpmap (`name/clock[/channels]`), case-insensitively.
    pub fn from_rtpmap(name: &str, clock: u32, channels: Option<u8>) -> Option<Codec> {
        let codec = Codec::ALL.into_iter().find(|c| c.rtpmap_name().eq_ignore_ascii_case(name))?;
        let channels_ok = match codec {
            // RFC 7587 always says /2; accept mono and a missing count too.
            Codec::Opus => matches!(channels, None | Some(1 | 2)),
            _ => matches!(channels, None | Some(1)),
        };
        (clock == codec.rtp_clock() && channels_ok).then_some(codec)
    }

    pub fn rtpmap_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::G729 => "G729",
            Codec::Opus => "opus",
        }
    }

    /// The RTP clock rate (G.722's is 8000 though it samples at 16 kHz: RFC 3551 4.5.2).
    pub fn rtp_clock(self) -> u32 {
        match self {
            Codec::Opus => 48000,
            _ => 8000,
        }
    }

    /// The channel count an rtpmap states (only Opus states one).
    pub fn channels(self) -> Option<u8> {
        match self {
            Codec::Opus => Some(2),
            _ => None,
        }
    }

    /// The PCM rate the encoder takes and the decoder gives.
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::G722 => 16000,
            Codec::Opus => 48000,
            _ => 8000,
        }
    }

    /// The RFC 3551 static payload type.
    pub fn static_pt(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            Codec::G729 => Some(18),
            Codec::Opus => None,
        }
    }

    /// PCM samples in `ms` milliseconds at [`sample_rate`](Self::sample_rate).
    pub fn samples(self, ms: u32) -> usize {
        (self.sample_rate() / 1000 * ms) as usize
    }
}

/// What can go wrong in the codec layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("malformed {} payload: {why}", codec.rtpmap_name())]
    Malformed { codec: Codec, why: &'static str },
    #[error("{} cannot encode a frame of {samples} samples", codec.rtpmap_name())]
    FrameSize { codec: Codec, samples: usize },
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("output buffer too small: {need} needed, {have} given")]
    BufferTooSmall { need: usize, have: usize },
    #[error("{library} initialisation failed with code {code}")]
    Init { library: &'static str, code: i32 },
    #[error("{library} {op} failed with code {code}")]
    Library { library: &'static str, op: &'static str, code: i32 },
}

fn need(need: usize, have: usize) -> Result<(), CodecError> {
    if have < need {
        Err(CodecError::BufferTooSmall { need, have })
    } else {
        Ok(())
    }
}

/// A bcg729 channel, or the error saying it could not be created (bcg729 gives no code).
fn bcg729<T>(channel: Option<T>) -> Result<T, CodecError> {
    channel.ok_or(CodecError::Init { library: "bcg729", code: 0 })
}

/// A libopus state, or the error with libopus' code.
fn libopus<T>(state: Result<T, i32>) -> Result<T, CodecError> {
    state.map_err(|code| CodecError::Init { library: "libopus", code })
}

/// libopus' encoder with the scratch space to join 10 ms frames.
struct OpusEnc {
    lib: ffi::OpusEncoder,
    /// Samples in 2.5 ms at its PCM rate (Opus' frames are 1-24 of them).
    quantum: usize,
    scratch: [u8; 1500],
    lens: [usize; 12],
}

enum EncoderKind {
    Pcmu,
    Pcma,
    G722(Box<G722Encoder>),
    G729(ffi::G729Encoder),
    Opus(Box<OpusEnc>),
}

/// One codec's encoder with its state.
pub struct Encoder {
    codec: Codec,
    kind: EncoderKind,
    rate: u32,
}

/// The PCM rates libopus takes and gives.
const OPUS_RATES: [u32; 5] = [8000, 12_000, 16_000, 24_000, 48_000];

/// Whether `codec` can work at PCM `rate`: its own, or (Opus) any libopus takes.
fn rate_ok(codec: Codec, rate: u32) -> Result<(), CodecError> {
    let ok = rate == codec.sample_rate() || (codec == Codec::Opus && OPUS_RATES.contains(&rate));
    ok.then_some(())
        .ok_or(CodecError::Unsupported("Opus works at 8, 12, 16, 24 or 48 kHz; the others at their own rate"))
}

impl Encoder {
    /// An encoder taking PCM at the codec's [`Codec::sample_rate`].
    pub fn new(codec: Codec) -> Result<Encoder, CodecError> {
        Encoder::with_rate(codec, codec.sample_rate())
    }

    /// An encoder taking PCM at `rate`: Opus at 8, 12, 16, 24 or 48 kHz (a
    /// narrowband source needs no resampling: libopus codes what it gets;
    /// RTP timestamps stay at 48 kHz, RFC 7587), the others at their own.
    pub fn with_rate(codec: Codec, rate: u32) -> Result<Encoder, CodecError> {
        rate_ok(codec, rate)?;
        let kind = match codec {
            Codec::Pcmu => EncoderKind::Pcmu,
            Codec::Pcma => EncoderKind::Pcma,
            Codec::G722 => EncoderKind::G722(Box::default()),
            Codec::G729 => EncoderKind::G729(bcg729(ffi::G729Encoder::new())?),
            Codec::Opus => {
                let lib = libopus(ffi::OpusEncoder::new(rate as i32, OPUS_BITRATE, OPUS_COMPLEXITY))?;
                let quantum = (rate / 400) as usize;
                EncoderKind::Opus(Box::new(OpusEnc { lib, quantum, scratch: [0; 1500], lens: [0; 12] }))
            }
        };
        Ok(Encoder { codec, kind, rate })
    }

    /// The PCM rate it takes.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Encode one frame of PCM at the codec's rate into `out`; returns the
    /// payload length. Frame sizes: any for G.711, even for G.722, a
    /// multiple of 80 for G.729, 2.5/5/10/20/40/60 ms or a multiple of 10 ms
    /// up to 120 ms for Opus.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let codec = self.codec;
        let bad_size = CodecError::FrameSize { codec, samples: pcm.len() };
        match &mut self.kind {
            EncoderKind::Pcmu => {
                need(pcm.len(), out.len())?;
                Ok(g711::encode_ulaw(pcm, out))
            }
            EncoderKind::Pcma => {
                need(pcm.len(), out.len())?;
                Ok(g711::encode_alaw(pcm, out))
            }
            EncoderKind::G722(enc) => {
                if pcm.len() % 2 != 0 {
                    return Err(bad_size);
                }
                need(pcm.len() / 2, out.len())?;
                Ok(enc.encode(pcm, out))
            }
            EncoderKind::G729(enc) => {
                if pcm.is_empty() || pcm.len() % G729_FRAME != 0 {
                    return Err(bad_size);
                }
                need(pcm.len() / G729_FRAME * G729_BYTES, out.len())?;
                let mut w = 0;
                for (frame, bits) in pcm.chunks_exact(G729_FRAME).zip(out.chunks_exact_mut(G729_BYTES)) {
                    if let (Ok(frame), Ok(bits)) = (frame.try_into(), bits.try_into()) {
                        w += enc.encode(frame, bits);
                    }
                }
                Ok(w)
            }
            EncoderKind::Opus(enc) => encode_opus(enc, pcm, out).map_err(|e| match e {
                ffi::OPUS_BAD_ARG => bad_size,
                code => CodecError::Library { library: "libopus", op: "opus_encode", code },
            }),
        }
    }
}

/// One Opus packet from `pcm`: a single frame when Opus has that size, else
/// 20 ms (or 10 ms) frames joined.
fn encode_opus(enc: &mut OpusEnc, pcm: &[i16], out: &mut [u8]) -> Result<usize, i32> {
    let q = enc.quantum.max(1);
    if pcm.len() % q == 0 && matches!(pcm.len() / q, 1 | 2 | 4 | 8 | 16 | 24) {
        return enc.lib.encode(pcm, out);
    }
    let (ten, twenty) = (4 * q, 8 * q);
    if pcm.is_empty() || pcm.len() % ten != 0 || pcm.len() > MAX_PCM {
        return Err(ffi::OPUS_BAD_ARG);
    }
    let sub = if pcm.len() % twenty == 0 { twenty } else { ten };
    let (mut at, mut count) = (0, 0);
    for frame in pcm.chunks_exact(sub) {
        let n = enc.lib.encode(frame, &mut enc.scratch[at..])?;
        enc.lens[count] = n;
        at += n;
        count += 1;
    }
    let OpusEnc { lib, scratch, lens, .. } = enc;
    lib.join(&scratch[..at], &lens[..count], out)
}

enum DecoderKind {
    Pcmu,
    Pcma,
    G722(Box<G722Decoder>),
    G729(ffi::G729Decoder),
    Opus(ffi::OpusDecoder),
}

/// One codec's decoder with its state.
pub struct Decoder {
    codec: Codec,
    kind: DecoderKind,
    /// Samples of the last decoded payload: the length of a concealed frame.
    last: usize,
    rate: u32,
}

impl Decoder {
    /// A decoder giving PCM at the codec's [`Codec::sample_rate`].
    pub fn new(codec: Codec) -> Result<Decoder, CodecError> {
        Decoder::with_rate(codec, codec.sample_rate())
    }

    /// A decoder giving PCM at `rate` (Opus: 8, 12, 16, 24 or 48 kHz, decoded
    /// there by libopus; the others at their own rate).
    pub fn with_rate(codec: Codec, rate: u32) -> Result<Decoder, CodecError> {
        rate_ok(codec, rate)?;
        let kind = match codec {
            Codec::Pcmu => DecoderKind::Pcmu,
            Codec::Pcma => DecoderKind::Pcma,
            Codec::G722 => DecoderKind::G722(Box::default()),
            Codec::G729 => DecoderKind::G729(bcg729(ffi::G729Decoder::new())?),
            Codec::Opus => DecoderKind::Opus(libopus(ffi::OpusDecoder::new(rate as i32))?),
        };
        Ok(Decoder { codec, kind, last: (rate / 50) as usize, rate })
    }

    /// The PCM rate it gives.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Decode one RTP payload into `pcm`; returns the samples written.
    pub fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, CodecError> {
        let codec = self.codec;
        if payload.is_empty() {
            return Err(CodecError::Malformed { codec, why: "empty payload" });
        }
        let n = match &mut self.kind {
            DecoderKind::Pcmu => {
                need(payload.len(), pcm.len())?;
                g711::decode_ulaw(payload, pcm)
            }
            DecoderKind::Pcma => {
                need(payload.len(), pcm.len())?;
                g711::decode_alaw(payload, pcm)
            }
            DecoderKind::G722(dec) => {
                need(payload.len() * 2, pcm.len())?;
                dec.decode(payload, pcm)
            }
            DecoderKind::G729(dec) => decode_g729(dec, payload, pcm)?,
            DecoderKind::Opus(dec) => {
                let max = pcm.len().min(MAX_PCM);
                dec.decode(Some(payload), &mut pcm[..max]).map_err(|code| CodecError::Malformed {
                    codec,
                    why: match code {
                        ffi::OPUS_INVALID_PACKET => "libopus: invalid packet",
                        ffi::OPUS_BUFFER_TOO_SMALL => "libopus: longer than the output buffer",
                        _ => "libopus: decoder error",
                    },
                })?
            }
        };
        self.last = n;
        Ok(n)
    }

    /// One frame of loss concealment (the last payload's duration, at most
    /// `pcm.len()`): G.729 and Opus run their PLC, G.711 and G.722 give
    /// silence. Returns the samples written.
    pub fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        let n = self.last.min(pcm.len());
        match &mut self.kind {
            DecoderKind::Pcmu | DecoderKind::Pcma | DecoderKind::G722(_) => {
                pcm[..n].fill(0);
                n
            }
            DecoderKind::G729(dec) => {
                let mut w = 0;
                for frame in pcm[..n].chunks_exact_mut(G729_FRAME) {
                    if let Ok(frame) = frame.try_into() {
                        dec.decode(G729Frame::Erased, frame);
                        w += G729_FRAME;
                    }
                }
                w
            }
            DecoderKind::Opus(dec) => {
                // PLC lengths are whole 2.5 ms blocks.
                let q = (self.rate / 400).max(1) as usize;
                let n = n / q * q;
                dec.decode(None, &mut pcm[..n]).unwrap_or(0)
            }
        }
    }
}

/// N x 10-byte speech frames, optionally followed by one 2-byte SID frame.
fn decode_g729(dec: &mut ffi::G729Decoder, payload: &[u8], pcm: &mut [i16]) -> Result<usize, CodecError> {
    let codec = Codec::G729;
    let sid = match payload.len() % G729_BYTES {
        0 => false,
        2 => true,
        _ => return Err(CodecError::Malformed { codec, why: "length is not N x 10 bytes (+ 2 for a SID frame)" }),
    };
    let frames = payload.len() / G729_BYTES + usize::from(sid);
    need(frames * G729_FRAME, pcm.len())?;
    let mut out = pcm.chunks_exact_mut(G729_FRAME);
    let bits = payload.chunks_exact(G729_BYTES);
    let tail = bits.remainder();
    for (bits, frame) in bits.zip(&mut out) {
        if let (Ok(bits), Ok(frame)) = (bits.try_into(), frame.try_into()) {
            dec.decode(G729Frame::Speech(bits), frame);
        }
    }
    if let (Ok(bits), Some(Ok(frame))) = (tail.try_into(), out.next().map(<&mut [i16; G729_FRAME]>::try_from)) {
        dec.decode(G729Frame::Sid(bits), frame);
    }
    Ok(frames * G729_FRAME)
}

/// The fixed buffers of a [`Transcoder`] (boxed once: ~35 KB).
struct Buffers {
    /// Decoder output at `from`'s rate.
    decoded: [i16; MAX_PCM],
    /// Resampler output at `to`'s rate.
    resampled: [i16; MAX_PCM],
    /// The PCM FIFO at `to`'s rate (a ring; `cap` <= its length is used).
    fifo: [i16; MAX_PCM],
    /// One out frame, contiguous.
    frame: [i16; MAX_PCM],
}

/// One direction of transcoding: decode `from`, resample to `to`'s rate,
/// re-frame to `ptime_ms` of `to`, encode. Opus on one side works at the
/// other side's PCM rate (libopus decodes to and encodes from 8 or 16 kHz
/// itself): no resampling, and far cheaper than coding 48 kHz audio that
/// G.711 or G.722 could never carry anyway.
pub struct Transcoder {
    from: Codec,
    to: Codec,
    dec: Decoder,
    rs: Resampler,
    enc: Encoder,
    buf: Box<Buffers>,
    /// Samples per out frame, its RTP timestamp step.
    frame: usize,
    ts_step: u32,
    /// The FIFO: oldest sample at `head`, `len` samples, bound `cap`.
    head: usize,
    len: usize,
    cap: usize,
    dropped: u64,
    encode_errors: u64,
}

impl Transcoder {
    /// `out_ptime_ms`: 10 to 60 in steps of 10.
    pub fn new(from: Codec, to: Codec, out_ptime_ms: u32) -> Result<Transcoder, CodecError> {
        if !(10..=60).contains(&out_ptime_ms) || out_ptime_ms % 10 != 0 {
            return Err(CodecError::Unsupported("ptime must be 10, 20, 30, 40, 50 or 60 ms"));
        }
        let dec_rate = if from == Codec::Opus && to != Codec::Opus { to.sample_rate() } else { from.sample_rate() };
        let enc_rate = if to == Codec::Opus && from != Codec::Opus { from.sample_rate() } else { to.sample_rate() };
        let rs = Resampler::new(dec_rate, enc_rate)
            .map_err(|_| CodecError::Unsupported("no resampler between these rates"))?;
        let samples = |ms: u32| (enc_rate / 1000 * ms) as usize;
        Ok(Transcoder {
            from,
            to,
            dec: Decoder::with_rate(from, dec_rate)?,
            rs,
            enc: Encoder::with_rate(to, enc_rate)?,
            buf: Box::new(Buffers {
                decoded: [0; MAX_PCM],
                resampled: [0; MAX_PCM],
                fifo: [0; MAX_PCM],
                frame: [0; MAX_PCM],
            }),
            frame: samples(out_ptime_ms),
            ts_step: to.rtp_clock() / 1000 * out_ptime_ms,
            head: 0,
            len: 0,
            cap: samples(FIFO_MS),
            dropped: 0,
            encode_errors: 0,
        })
    }

    pub fn from(&self) -> Codec {
        self.from
    }

    pub fn to(&self) -> Codec {
        self.to
    }

    /// Whether the FIFO holds a whole out frame (`pop` gives one).
    pub fn ready(&self) -> bool {
        self.len >= self.frame
    }

    /// Samples (at `to`'s rate) waiting in the FIFO.
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// Samples dropped because the FIFO was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Frames that `pop` consumed but could not encode (output buffer too small).
    pub fn encode_errors(&self) -> u64 {
        self.encode_errors
    }

    /// Decode one RTP payload of `from` into the FIFO.
    pub fn push(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        let max = (self.dec.rate() / 1000 * MAX_PACKET_MS) as usize;
        let n = self.dec.decode(payload, &mut self.buf.decoded[..max]).map_err(|e| match e {
            CodecError::BufferTooSmall { .. } => CodecError::Malformed { codec: self.from, why: "longer than 120 ms" },
            e => e,
        })?;
        self.resample_in(n);
        Ok(())
    }

    /// A lost input frame: push one frame of the decoder's concealment.
    pub fn conceal(&mut self) {
        let max = (self.dec.rate() / 1000 * MAX_PACKET_MS) as usize;
        let n = self.dec.conceal(&mut self.buf.decoded[..max]);
        self.resample_in(n);
    }

    /// Resample `n` decoded samples and append them to the FIFO.
    fn resample_in(&mut self, n: usize) {
        let Buffers { decoded, resampled, fifo, .. } = &mut *self.buf;
        let m = self.rs.process(&decoded[..n], resampled);
        let mut src = &resampled[..m];
        if src.len() > self.cap {
            self.dropped += (src.len() - self.cap) as u64;
            src = &src[src.len() - self.cap..];
        }
        let over = (self.len + src.len()).saturating_sub(self.cap);
        if over > 0 {
            self.dropped += over as u64;
            self.head = (self.head + over) % self.cap;
            self.len -= over;
        }
        let tail = (self.head + self.len) % self.cap;
        let first = src.len().min(self.cap - tail);
        fifo[tail..tail + first].copy_from_slice(&src[..first]);
        fifo[..src.len() - first].copy_from_slice(&src[first..]);
        self.len += src.len();
    }

    /// Encode the next out frame if the FIFO holds one: the payload length
    /// written to `out` and the frame's duration in `to`'s RTP clock. A
    /// frame that cannot be encoded (`out` too small) is dropped and counted.
    pub fn pop(&mut self, out: &mut [u8]) -> Option<(usize, u32)> {
        if self.len < self.frame {
            return None;
        }
        let Buffers { fifo, frame, .. } = &mut *self.buf;
        let first = self.frame.min(self.cap - self.head);
        frame[..first].copy_from_slice(&fifo[self.head..self.head + first]);
        frame[first..self.frame].copy_from_slice(&fifo[..self.frame - first]);
        self.head = (self.head + self.frame) % self.cap;
        self.len -= self.frame;
        match self.enc.encode(&frame[..self.frame], out) {
            Ok(n) => Some((n, self.ts_step)),
            Err(_) => {
                self.encode_errors += 1;
                None
            }
        }
    }
}
