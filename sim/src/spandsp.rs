//! spandsp's G.722 (Debian's libspandsp), an implementation independent of
//! the gateway's, so the simulator can listen to G.722 without trusting the
//! code under test; `sim/tests/g722_spandsp.rs` also proves the gateway's
//! G.722 bit-exact against it.
//!
//! Contract: [`SpandspG722Encoder`] / [`SpandspG722Decoder`] own one spandsp
//! state each in the plain 64 kbit/s mode (16 kHz samples, one unpacked byte
//! per sample pair), created by `g722_*_init(NULL, 64000, 0)` and freed on
//! Drop. `encode` writes `min(pcm.len() / 2, out.len())` bytes, `decode`
//! `2 * min(codes.len(), pcm.len() / 2)` samples; both return that count.
//! The unsafe code is this file; each call passes live buffers with lengths
//! that bound what spandsp reads and writes.

use std::ffi::c_int;
use std::ptr::NonNull;

#[repr(C)]
struct EncodeState {
    _opaque: [u8; 0],
}
#[repr(C)]
struct DecodeState {
    _opaque: [u8; 0],
}

#[link(name = "spandsp")]
extern "C" {
    fn g722_encode_init(s: *mut EncodeState, rate: c_int, options: c_int) -> *mut EncodeState;
    fn g722_encode_free(s: *mut EncodeState) -> c_int;
    fn g722_encode(s: *mut EncodeState, g722_data: *mut u8, amp: *const i16, len: c_int) -> c_int;
    fn g722_decode_init(s: *mut DecodeState, rate: c_int, options: c_int) -> *mut DecodeState;
    fn g722_decode_free(s: *mut DecodeState) -> c_int;
    fn g722_decode(s: *mut DecodeState, amp: *mut i16, g722_data: *const u8, len: c_int) -> c_int;
}

/// The bit rate and options: 64 kbit/s, 16 kHz samples, one byte per code.
const RATE: c_int = 64000;
const OPTIONS: c_int = 0;

/// Clamp a length to what a C int holds (the buffers used are far shorter).
fn c_len(n: usize) -> c_int {
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

/// spandsp's G.722 encoder.
pub struct SpandspG722Encoder(NonNull<EncodeState>);

impl SpandspG722Encoder {
    /// None if spandsp could not allocate its state.
    pub fn new() -> Option<Self> {
        // SAFETY: with a null state spandsp allocates one (freed in Drop).
        NonNull::new(unsafe { g722_encode_init(std::ptr::null_mut(), RATE, OPTIONS) }).map(Self)
    }

    /// Encode sample pairs; returns the bytes written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = (pcm.len() / 2).min(out.len());
        // SAFETY: spandsp reads 2n samples from `pcm` and writes n bytes to `out`.
        let w = unsafe { g722_encode(self.0.as_ptr(), out.as_mut_ptr(), pcm.as_ptr(), c_len(2 * n)) };
        usize::try_from(w).unwrap_or(0)
    }
}

impl Drop for SpandspG722Encoder {
    fn drop(&mut self) {
        // SAFETY: allocated by g722_encode_init, freed once.
        unsafe { g722_encode_free(self.0.as_ptr()) };
    }
}

/// spandsp's G.722 decoder.
pub struct SpandspG722Decoder(NonNull<DecodeState>);

impl SpandspG722Decoder {
    /// None if spandsp could not allocate its state.
    pub fn new() -> Option<Self> {
        // SAFETY: with a null state spandsp allocates one (freed in Drop).
        NonNull::new(unsafe { g722_decode_init(std::ptr::null_mut(), RATE, OPTIONS) }).map(Self)
    }

    /// Decode codes; returns the samples written.
    pub fn decode(&mut self, codes: &[u8], pcm: &mut [i16]) -> usize {
        let n = codes.len().min(pcm.len() / 2);
        // SAFETY: spandsp reads n bytes from `codes` and writes 2n samples to `pcm`.
        let w = unsafe { g722_decode(self.0.as_ptr(), pcm.as_mut_ptr(), codes.as_ptr(), c_len(n)) };
        usize::try_from(w).unwrap_or(0)
    }
}

impl Drop for SpandspG722Decoder {
    fn drop(&mut self) {
        // SAFETY: allocated by g722_decode_init, freed once.
        unsafe { g722_decode_free(self.0.as_ptr()) };
    }
}
