//! libsrtp2 (Debian's libsrtp2, the reference implementation of RFC 3711),
//! an SRTP stack independent of the gateway's (`gateway::media::srtp`), so
//! the emulated parties' SRTP does not share a bug with the code under test;
//! `sim/tests/srtp_libsrtp.rs` cross-checks the two.
//!
//! Contract: an [`SrtpSession`] is one libsrtp session for one direction:
//! [`SrtpSession::sender`] (policy SSRC `ssrc_any_outbound`, it protects)
//! or [`SrtpSession::receiver`] (`ssrc_any_inbound`, it unprotects), keyed
//! with the 30 bytes of a [`MasterKey`] (key then salt) for the SDES suites
//! `AES_CM_128_HMAC_SHA1_80` and `_32` (SRTCP is `_80` for both, RFC 4568
//! 6.2), a 128-packet replay window, no MKI, no header extension
//! encryption. The crypto policies are filled by libsrtp's own setters.
//! `srtp_init()` runs once per process (a `OnceLock`); the session is freed on Drop.
//! `protect_*` / `unprotect_*` transform a packet in a `Vec<u8>` and resize
//! it; on error the packet is left as it was. Each call copies the packet
//! into a 32-bit aligned scratch buffer with room for libsrtp's largest
//! trailer, as libsrtp requires, so the unsafe code (this file) hands
//! libsrtp only live buffers of the size it assumes.

use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::ptr::NonNull;
use std::sync::OnceLock;

use gateway::media::srtp::{MasterKey, Suite};

/// `srtp_ctx_t`, opaque.
#[repr(C)]
struct SrtpCtx {
    _opaque: [u8; 0],
}

/// `srtp_crypto_policy_t` (libsrtp 2.5.0).
#[repr(C)]
#[derive(Default)]
struct CryptoPolicy {
    cipher_type: u32,
    cipher_key_len: c_int,
    auth_type: u32,
    auth_key_len: c_int,
    auth_tag_len: c_int,
    sec_serv: c_int,
}

/// `srtp_ssrc_t`: `type` is an `srtp_ssrc_type_t` (an int-sized enum).
#[repr(C)]
struct Ssrc {
    kind: c_int,
    value: c_uint,
}

/// `srtp_policy_t` (libsrtp 2.5.0), field for field.
#[repr(C)]
struct Policy {
    ssrc: Ssrc,
    rtp: CryptoPolicy,
    rtcp: CryptoPolicy,
    key: *mut u8,
    keys: *mut *mut c_void,
    num_master_keys: c_ulong,
    deprecated_ekt: *mut c_void,
    window_size: c_ulong,
    allow_repeat_tx: c_int,
    enc_xtn_hdr: *mut c_int,
    enc_xtn_hdr_count: c_int,
    next: *mut Policy,
}

// The sizes and offsets gcc gives the C structs on x86_64 / aarch64 Linux
// (LP64): a layout mismatch fails the build rather than corrupting memory.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<CryptoPolicy>() == 24);
    assert!(std::mem::size_of::<Policy>() == 128);
    assert!(std::mem::offset_of!(Policy, rtp) == 8);
    assert!(std::mem::offset_of!(Policy, rtcp) == 32);
    assert!(std::mem::offset_of!(Policy, key) == 56);
    assert!(std::mem::offset_of!(Policy, window_size) == 88);
    assert!(std::mem::offset_of!(Policy, enc_xtn_hdr_count) == 112);
    assert!(std::mem::offset_of!(Policy, next) == 120);
};

/// `srtp_protect` and its three siblings share this signature.
type Transform = unsafe extern "C" fn(*mut SrtpCtx, *mut c_void, *mut c_int) -> c_int;

#[link(name = "srtp2")]
extern "C" {
    fn srtp_init() -> c_int;
    fn srtp_create(session: *mut *mut SrtpCtx, policy: *const Policy) -> c_int;
    fn srtp_dealloc(session: *mut SrtpCtx) -> c_int;
    fn srtp_protect(ctx: *mut SrtpCtx, hdr: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_unprotect(ctx: *mut SrtpCtx, hdr: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_protect_rtcp(ctx: *mut SrtpCtx, hdr: *mut c_void, len: *mut c_int) -> c_int;
    fn srtp_unprotect_rtcp(ctx: *mut SrtpCtx, hdr: *mut c_void, len: *mut c_int) -> c_int;
    // srtp.h's srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 is a macro for this one.
    fn srtp_crypto_policy_set_rtp_default(p: *mut CryptoPolicy);
    // AES_CM_128_HMAC_SHA1_80, the SRTCP policy of both suites.
    fn srtp_crypto_policy_set_rtcp_default(p: *mut CryptoPolicy);
    fn srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p: *mut CryptoPolicy);
}

/// `srtp_ssrc_type_t` values.
const SSRC_ANY_INBOUND: c_int = 2;
const SSRC_ANY_OUTBOUND: c_int = 3;

/// `SRTP_MAX_TRAILER_LEN` (tag and MKI) plus the 4-byte SRTCP index: the
/// most libsrtp writes after a packet.
const MAX_TRAILER: usize = 16 + 128 + 4;

/// The shortest RTP and RTCP headers; shorter packets never reach libsrtp.
const RTP_HEADER: usize = 12;
const RTCP_HEADER: usize = 8;

/// A libsrtp failure: its `srtp_err_status_t`, or a packet too short to hand it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("libsrtp: authentication failed")]
    AuthFail,
    /// `srtp_err_status_replay_fail`: an index already seen.
    #[error("libsrtp: replayed packet")]
    Replay,
    /// `srtp_err_status_replay_old`: an index older than the window.
    #[error("libsrtp: packet older than the replay window")]
    ReplayOld,
    #[error("packet too short for SRTP")]
    TooShort,
    #[error("libsrtp: status {0}")]
    Status(c_int),
}

impl Error {
    /// Ok for `srtp_err_status_ok`, else the error.
    fn check(status: c_int) -> Result<(), Error> {
        match status {
            0 => Ok(()),
            7 => Err(Error::AuthFail),
            9 => Err(Error::Replay),
            10 => Err(Error::ReplayOld),
            s => Err(Error::Status(s)),
        }
    }
}

/// One direction of SRTP/SRTCP through libsrtp.
pub struct SrtpSession {
    ctx: NonNull<SrtpCtx>,
    /// 32-bit aligned working copy of the packet being transformed.
    scratch: Vec<u32>,
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpSession { .. }")
    }
}

impl SrtpSession {
    /// A session that protects what we send.
    pub fn sender(suite: Suite, key: &MasterKey) -> Result<Self, Error> {
        Self::new(suite, key, SSRC_ANY_OUTBOUND)
    }

    /// A session that unprotects what we receive.
    pub fn receiver(suite: Suite, key: &MasterKey) -> Result<Self, Error> {
        Self::new(suite, key, SSRC_ANY_INBOUND)
    }

    fn new(suite: Suite, key: &MasterKey, ssrc_type: c_int) -> Result<Self, Error> {
        static INIT: OnceLock<c_int> = OnceLock::new();
        // SAFETY: srtp_init takes no arguments; OnceLock (a std::sync::Once
        // inside) runs it once per process, before any session is made.
        Error::check(*INIT.get_or_init(|| unsafe { srtp_init() }))?;

        let mut master = [0u8; 30];
        master[..16].copy_from_slice(&key.key);
        master[16..].copy_from_slice(&key.salt);
        let mut policy = Policy {
            ssrc: Ssrc { kind: ssrc_type, value: 0 },
            rtp: CryptoPolicy::default(),
            rtcp: CryptoPolicy::default(),
            key: master.as_mut_ptr(),
            keys: std::ptr::null_mut(),
            num_master_keys: 0,
            deprecated_ekt: std::ptr::null_mut(),
            window_size: 128,
            allow_repeat_tx: 0,
            enc_xtn_hdr: std::ptr::null_mut(),
            enc_xtn_hdr_count: 0,
            next: std::ptr::null_mut(),
        };
        // SAFETY: the setters write one srtp_crypto_policy_t each, into
        // fields declared with its layout.
        unsafe {
            match suite {
                Suite::AesCm128HmacSha1_80 => srtp_crypto_policy_set_rtp_default(&mut policy.rtp),
                Suite::AesCm128HmacSha1_32 => srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&mut policy.rtp),
            }
            srtp_crypto_policy_set_rtcp_default(&mut policy.rtcp);
        }
        let mut ctx = std::ptr::null_mut();
        // SAFETY: `policy` is a complete srtp_policy_t with no next element
        // and `key` points to the 30 bytes the suites read; libsrtp copies
        // what it keeps (the derived keys) before returning.
        Error::check(unsafe { srtp_create(&mut ctx, &policy) })?;
        let ctx = NonNull::new(ctx).ok_or(Error::Status(1))?;
        Ok(SrtpSession { ctx, scratch: Vec::new() })
    }

    /// Encrypt and authenticate an RTP packet (appends the tag).
    pub fn protect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), Error> {
        self.transform(packet, RTP_HEADER, srtp_protect)
    }

    /// Verify and decrypt an SRTP packet (removes the tag).
    pub fn unprotect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), Error> {
        self.transform(packet, RTP_HEADER, srtp_unprotect)
    }

    /// Encrypt and authenticate an RTCP packet (appends E || index and the tag).
    pub fn protect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), Error> {
        self.transform(packet, RTCP_HEADER, srtp_protect_rtcp)
    }

    /// Verify and decrypt an SRTCP packet (removes the index and the tag).
    pub fn unprotect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), Error> {
        self.transform(packet, RTCP_HEADER, srtp_unprotect_rtcp)
    }

    /// Run `f` over a 32-bit aligned copy of `packet` with room for the
    /// trailer; on success `packet` becomes the result.
    fn transform(&mut self, packet: &mut Vec<u8>, min_len: usize, f: Transform) -> Result<(), Error> {
        if packet.len() < min_len {
            return Err(Error::TooShort);
        }
        let mut len = c_int::try_from(packet.len()).map_err(|_| Error::Status(2))?;
        let words = (packet.len() + MAX_TRAILER).div_ceil(4);
        self.scratch.clear();
        self.scratch.resize(words, 0);
        // SAFETY: the u32 buffer viewed as its 4 * words initialized bytes;
        // u8 has no alignment or validity requirement.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.scratch.as_mut_ptr().cast::<u8>(), words * 4) };
        bytes[..packet.len()].copy_from_slice(packet);
        // SAFETY: `bytes` is 32-bit aligned and holds the packet followed by
        // at least MAX_TRAILER writable bytes, all libsrtp reads or writes;
        // `len` is the packet's length, updated by libsrtp.
        Error::check(unsafe { f(self.ctx.as_ptr(), bytes.as_mut_ptr().cast(), &mut len) })?;
        let len = usize::try_from(len).map_err(|_| Error::Status(1))?.min(bytes.len());
        packet.clear();
        packet.extend_from_slice(&bytes[..len]);
        Ok(())
    }
}

impl Drop for SrtpSession {
    fn drop(&mut self) {
        // SAFETY: created by srtp_create, deallocated once.
        unsafe { srtp_dealloc(self.ctx.as_ptr()) };
    }
}
