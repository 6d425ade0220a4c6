//! The only unsafe code of the codec layer: minimal bindings to Debian's
//! libopus (1.3) and bcg729 (1.1.1), and safe owners of their states.
//!
//! Contract: each wrapper owns one library state, created once (the library
//! allocates it; nothing is allocated per call) and freed on Drop. Every call
//! passes pointers to live Rust buffers together with their true lengths, so
//! the libraries never read or write beyond them. The states hold no
//! references to Rust memory between calls and no thread-local data, so a
//! wrapper may move between threads (`Send`), never be shared (`!Sync`).
//!
//! Why our own binding: the `opus` crate depends on `opusic-sys`/`audiopus_sys`,
//! which compile their own copy of libopus at build time; we link the
//! system library (security updates from Debian) and need a dozen symbols.
//! bcg729 has no maintained crate.

use std::ffi::c_int;
use std::ptr::NonNull;

/// Samples in one G.729 frame (10 ms at 8 kHz) and bytes in its bitstream.
pub const G729_FRAME: usize = 80;
pub const G729_BYTES: usize = 10;

/// Opaque library states, only ever behind pointers.
macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name {
            _opaque: [u8; 0],
        }
    )*};
}
opaque!(Bcg729Enc, Bcg729Dec, OpusEnc, OpusDec, OpusRepacketizer);

#[link(name = "bcg729")]
extern "C" {
    fn initBcg729EncoderChannel(enable_vad: u8) -> *mut Bcg729Enc;
    fn closeBcg729EncoderChannel(ctx: *mut Bcg729Enc);
    fn bcg729Encoder(ctx: *mut Bcg729Enc, input: *const i16, bitstream: *mut u8, len: *mut u8);
    fn initBcg729DecoderChannel() -> *mut Bcg729Dec;
    fn closeBcg729DecoderChannel(ctx: *mut Bcg729Dec);
    fn bcg729Decoder(
        ctx: *mut Bcg729Dec,
        bitstream: *const u8,
        len: u8,
        erasure: u8,
        sid: u8,
        rfc3389: u8,
        signal: *mut i16,
    );
}

#[link(name = "opus")]
extern "C" {
    fn opus_encoder_create(fs: i32, channels: c_int, application: c_int, error: *mut c_int) -> *mut OpusEnc;
    fn opus_encoder_destroy(st: *mut OpusEnc);
    fn opus_encode(st: *mut OpusEnc, pcm: *const i16, frame_size: c_int, data: *mut u8, max_bytes: i32) -> i32;
    fn opus_encoder_ctl(st: *mut OpusEnc, request: c_int, ...) -> c_int;
    fn opus_decoder_create(fs: i32, channels: c_int, error: *mut c_int) -> *mut OpusDec;
    fn opus_decoder_destroy(st: *mut OpusDec);
    fn opus_decode(st: *mut OpusDec, data: *const u8, len: i32, pcm: *mut i16, frame_size: c_int, fec: c_int) -> c_int;
    fn opus_repacketizer_create() -> *mut OpusRepacketizer;
    fn opus_repacketizer_destroy(rp: *mut OpusRepacketizer);
    fn opus_repacketizer_init(rp: *mut OpusRepacketizer) -> *mut OpusRepacketizer;
    fn opus_repacketizer_cat(rp: *mut OpusRepacketizer, data: *const u8, len: i32) -> c_int;
    fn opus_repacketizer_out(rp: *mut OpusRepacketizer, data: *mut u8, max_len: i32) -> i32;
}

/// opus_defines.h values.
pub const OPUS_OK: c_int = 0;
pub const OPUS_BAD_ARG: c_int = -1;
pub const OPUS_BUFFER_TOO_SMALL: c_int = -2;
pub const OPUS_INVALID_PACKET: c_int = -4;
const OPUS_APPLICATION_VOIP: c_int = 2048;
const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
const OPUS_SET_SIGNAL_REQUEST: c_int = 4024;
const OPUS_SIGNAL_VOICE: c_int = 3001;

/// A bcg729 encoder channel (VAD off: every frame is 10 bytes).
pub struct G729Encoder(NonNull<Bcg729Enc>);

// SAFETY: the channel context is heap memory owned only by this value; bcg729
// keeps no thread-local or global state tied to it.
unsafe impl Send for G729Encoder {}

impl G729Encoder {
    pub fn new() -> Option<G729Encoder> {
        // SAFETY: plain constructor; a null return is handled.
        NonNull::new(unsafe { initBcg729EncoderChannel(0) }).map(G729Encoder)
    }

    /// Encode one 10 ms frame; returns the bitstream length (10 without VAD).
    pub fn encode(&mut self, pcm: &[i16; G729_FRAME], out: &mut [u8; G729_BYTES]) -> usize {
        let mut len = 0u8;
        // SAFETY: the context is live; bcg729 reads 80 samples and writes at
        // most 10 bytes (2 for a SID frame, only with VAD on) and the length.
        unsafe { bcg729Encoder(self.0.as_ptr(), pcm.as_ptr(), out.as_mut_ptr(), &mut len) };
        usize::from(len).min(G729_BYTES)
    }
}

impl Drop for G729Encoder {
    fn drop(&mut self) {
        // SAFETY: created by initBcg729EncoderChannel, closed once.
        unsafe { closeBcg729EncoderChannel(self.0.as_ptr()) }
    }
}

/// What the G.729 decoder is given for one 10 ms frame.
#[derive(Debug, Clone, Copy)]
pub enum G729Frame<'a> {
    Speech(&'a [u8; G729_BYTES]),
    /// An Annex B SID frame (2 bytes): comfort noise.
    Sid(&'a [u8; 2]),
    /// A lost frame: the decoder's concealment.
    Erased,
}

/// A bcg729 decoder channel.
pub struct G729Decoder(NonNull<Bcg729Dec>);

// SAFETY: as for the encoder.
unsafe impl Send for G729Decoder {}

impl G729Decoder {
    pub fn new() -> Option<G729Decoder> {
        // SAFETY: plain constructor; a null return is handled.
        NonNull::new(unsafe { initBcg729DecoderChannel() }).map(G729Decoder)
    }

    /// Decode one 10 ms frame (80 samples).
    pub fn decode(&mut self, frame: G729Frame<'_>, pcm: &mut [i16; G729_FRAME]) {
        const NONE: [u8; G729_BYTES] = [0; G729_BYTES];
        let (bits, len, erasure, sid): (&[u8], u8, u8, u8) = match frame {
            G729Frame::Speech(b) => (b, 10, 0, 0),
            G729Frame::Sid(b) => (b, 2, 0, 1),
            G729Frame::Erased => (&NONE, 10, 1, 0),
        };
        // SAFETY: the context is live; bcg729 reads at most `len` bytes (never
        // more than `bits.len()`) and writes exactly 80 samples.
        unsafe { bcg729Decoder(self.0.as_ptr(), bits.as_ptr(), len, erasure, sid, 0, pcm.as_mut_ptr()) }
    }
}

impl Drop for G729Decoder {
    fn drop(&mut self) {
        // SAFETY: created by initBcg729DecoderChannel, closed once.
        unsafe { closeBcg729DecoderChannel(self.0.as_ptr()) }
    }
}

/// A mono libopus encoder at 48 kHz, VOIP application, voice signal.
pub struct OpusEncoder {
    st: NonNull<OpusEnc>,
    rp: NonNull<OpusRepacketizer>,
}

// SAFETY: both states are heap memory owned only by this value (libopus is
// reentrant and keeps no global state).
unsafe impl Send for OpusEncoder {}

impl OpusEncoder {
    /// Err holds the libopus error code (or OPUS_BAD_ARG for a null state).
    /// `rate`: the PCM rate it takes (8, 12, 16, 24 or 48 kHz).
    pub fn new(rate: i32, bitrate: i32, complexity: i32) -> Result<OpusEncoder, c_int> {
        let mut err = OPUS_OK;
        // SAFETY: `err` is a live out-parameter.
        let st = unsafe { opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, &mut err) };
        let st = match NonNull::new(st) {
            Some(st) if err == OPUS_OK => st,
            Some(st) => {
                // SAFETY: a state returned with an error is still freed once.
                unsafe { opus_encoder_destroy(st.as_ptr()) };
                return Err(err);
            }
            None => return Err(if err == OPUS_OK { OPUS_BAD_ARG } else { err }),
        };
        // SAFETY: plain constructor.
        let Some(rp) = NonNull::new(unsafe { opus_repacketizer_create() }) else {
            // SAFETY: freed once, not used after.
            unsafe { opus_encoder_destroy(st.as_ptr()) };
            return Err(OPUS_BAD_ARG);
        };
        let enc = OpusEncoder { st, rp };
        for (req, val) in [
            (OPUS_SET_BITRATE_REQUEST, bitrate),
            (OPUS_SET_COMPLEXITY_REQUEST, complexity),
            (OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE),
        ] {
            // SAFETY: these three requests take one opus_int32 argument.
            let rc = unsafe { opus_encoder_ctl(enc.st.as_ptr(), req, val) };
            if rc != OPUS_OK {
                return Err(rc);
            }
        }
        Ok(enc)
    }

    /// Encode one Opus frame (2.5 to 60 ms of samples at its rate); Ok = bytes written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, c_int> {
        let n = c_int::try_from(pcm.len()).map_err(|_| OPUS_BAD_ARG)?;
        let max = i32::try_from(out.len().min(4000)).map_err(|_| OPUS_BAD_ARG)?;
        // SAFETY: libopus reads `n` samples from `pcm` and writes at most `max`
        // (<= out.len()) bytes.
        let rc = unsafe { opus_encode(self.st.as_ptr(), pcm.as_ptr(), n, out.as_mut_ptr(), max) };
        usize::try_from(rc).map_err(|_| rc)
    }

    /// Join packets (laid end to end in `packets`, lengths in `lens`) into one
    /// multi-frame packet in `out` (RFC 6716 code 3); Ok = bytes written.
    pub fn join(&mut self, packets: &[u8], lens: &[usize], out: &mut [u8]) -> Result<usize, c_int> {
        // SAFETY: the repacketizer is live; init resets it.
        unsafe { opus_repacketizer_init(self.rp.as_ptr()) };
        let mut at = 0;
        for &len in lens {
            let pkt = packets.get(at..at + len).ok_or(OPUS_BAD_ARG)?;
            let l = i32::try_from(len).map_err(|_| OPUS_BAD_ARG)?;
            // SAFETY: the repacketizer keeps a pointer to `pkt` until the next
            // init; `packets` outlives the `out` call below and is not written meanwhile.
            let rc = unsafe { opus_repacketizer_cat(self.rp.as_ptr(), pkt.as_ptr(), l) };
            if rc != OPUS_OK {
                return Err(rc);
            }
            at += len;
        }
        let max = i32::try_from(out.len()).map_err(|_| OPUS_BAD_ARG)?;
        // SAFETY: writes at most `max` (= out.len()) bytes into `out`.
        let rc = unsafe { opus_repacketizer_out(self.rp.as_ptr(), out.as_mut_ptr(), max) };
        // Drop the pointers into `packets` before returning.
        // SAFETY: the repacketizer is live.
        unsafe { opus_repacketizer_init(self.rp.as_ptr()) };
        usize::try_from(rc).map_err(|_| rc)
    }
}

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: created by their constructors, destroyed once.
        unsafe {
            opus_encoder_destroy(self.st.as_ptr());
            opus_repacketizer_destroy(self.rp.as_ptr());
        }
    }
}

/// A mono libopus decoder (stereo packets are downmixed by libopus).
pub struct OpusDecoder(NonNull<OpusDec>);

// SAFETY: as for the encoder.
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    /// `rate`: the PCM rate it gives (8, 12, 16, 24 or 48 kHz).
    pub fn new(rate: i32) -> Result<OpusDecoder, c_int> {
        let mut err = OPUS_OK;
        // SAFETY: `err` is a live out-parameter.
        let st = unsafe { opus_decoder_create(rate, 1, &mut err) };
        match NonNull::new(st) {
            Some(st) if err == OPUS_OK => Ok(OpusDecoder(st)),
            Some(st) => {
                // SAFETY: freed once, not used after.
                unsafe { opus_decoder_destroy(st.as_ptr()) };
                Err(err)
            }
            None => Err(if err == OPUS_OK { OPUS_BAD_ARG } else { err }),
        }
    }

    /// Decode a packet (`None`: packet loss concealment for `pcm.len()`
    /// samples, a multiple of 2.5 ms); Ok = samples written.
    pub fn decode(&mut self, packet: Option<&[u8]>, pcm: &mut [i16]) -> Result<usize, c_int> {
        let (data, len) = match packet {
            Some(p) => (p.as_ptr(), i32::try_from(p.len()).map_err(|_| OPUS_INVALID_PACKET)?),
            None => (std::ptr::null(), 0),
        };
        let frame = c_int::try_from(pcm.len()).map_err(|_| OPUS_BAD_ARG)?;
        // SAFETY: libopus reads `len` bytes from `data` (none for loss) and
        // writes at most `frame` (= pcm.len()) samples for one channel.
        let rc = unsafe { opus_decode(self.0.as_ptr(), data, len, pcm.as_mut_ptr(), frame, 0) };
        usize::try_from(rc).map_err(|_| rc)
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once.
        unsafe { opus_decoder_destroy(self.0.as_ptr()) }
    }
}
