//! SRTP and SRTCP (RFC 3711) for SDES-keyed calls (RFC 4568 `a=crypto`):
//! a sans-IO transform that protects and unprotects packets in place.
//!
//! Contract: a [`MasterKey`] comes from an `a=crypto` `inline:` parameter
//! ([`MasterKey::from_inline`]) or from the gateway's seeded RNG
//! ([`MasterKey::from_bytes`]). [`Context::new`] derives the six session
//! keys once (RFC 3711 4.3, key derivation rate 0) and keeps, per SSRC, the
//! rollover counter, the highest index and a 128-packet replay window (at
//! most [`MAX_SSRCS`] SSRCs per direction, the least recently used one is
//! forgotten beyond that). A `Context` serves one direction: one to protect
//! what we send to a peer, another to unprotect what it sends us.
//!
//! Per packet nothing is allocated: the AES key schedules and the keyed
//! HMAC states are built in [`Context::new`]; a packet clones the keyed HMAC
//! state on the stack and makes the AES-CTR keystream of its payload in one
//! batch (up to 1 KiB at a time).
//! Every length is checked before it is used: malformed input is an error
//! ([`SrtpError::TooShort`]), never a panic (the `srtp_unprotect` fuzz
//! target and the property tests below hold the module to it).
//!
//! Suites: `AES_CM_128_HMAC_SHA1_80` and `AES_CM_128_HMAC_SHA1_32`. The
//! SRTCP tag is 80 bits for both (RFC 4568 6.2: the `_32` suite shortens
//! the SRTP tag only). Not supported: MKI (refused at key parsing), key
//! derivation rates other than 0, encrypted header extensions (RFC 6904).

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128Enc, Block};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// SSRCs tracked per [`Context`]; beyond it the least recently used is forgotten.
pub const MAX_SSRCS: usize = 16;

/// The SRTCP authentication tag length in bytes, for both suites.
pub const SRTCP_TAG_LEN: usize = 10;

/// The `E || SRTCP index` word appended to every SRTCP packet.
pub const SRTCP_INDEX_LEN: usize = 4;

/// Replay window size in packets (RFC 3711 3.3.2 asks for at least 64).
const REPLAY_WINDOW: u64 = 128;

/// The counter is the IV's low 16 bits: one packet's keystream is at most
/// 2^16 AES blocks (RFC 3711 4.1.1).
const MAX_PAYLOAD: usize = 16 << 16;

const RTP_HEADER: usize = 12;
const RTCP_HEADER: usize = 8;
const E_FLAG: u32 = 0x8000_0000;
const SRTCP_INDEX_MAX: u32 = 0x7fff_ffff;

/// Key derivation labels (RFC 3711 4.3.1, 4.3.2).
const LABEL_RTP_ENCRYPTION: u8 = 0x00;
const LABEL_RTP_AUTH: u8 = 0x01;
const LABEL_RTP_SALT: u8 = 0x02;
const LABEL_RTCP_ENCRYPTION: u8 = 0x03;
const LABEL_RTCP_AUTH: u8 = 0x04;
const LABEL_RTCP_SALT: u8 = 0x05;

/// An SDES crypto suite (RFC 4568 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl Suite {
    /// The suite named in an `a=crypto` line (ASCII case ignored).
    pub fn from_sdes(name: &str) -> Option<Suite> {
        [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32]
            .into_iter()
            .find(|s| s.sdes_name().eq_ignore_ascii_case(name))
    }

    /// The suite's name in `a=crypto`.
    pub fn sdes_name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The SRTP authentication tag length in bytes: 10 or 4.
    pub fn tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }

    /// The SRTCP authentication tag length in bytes: 10 for both suites
    /// (RFC 4568 6.2). [`Context::protect_rtcp`] adds this plus the 4-byte
    /// SRTCP index.
    pub fn srtcp_tag_len(self) -> usize {
        SRTCP_TAG_LEN
    }
}

/// Why a key could not be read or a packet could not be (un)protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// Shorter than its header, CSRC list, header extension and tag, or a length field points past the end.
    #[error("packet too short or malformed")]
    TooShort,
    /// The buffer cannot hold the packet plus its tag (or `len` exceeds the buffer).
    #[error("buffer too small for the protected packet")]
    BufferTooSmall,
    /// The payload is longer than one packet's keystream (2^16 AES blocks).
    #[error("packet too long")]
    TooLong,
    /// The authentication tag does not verify.
    #[error("authentication failed")]
    AuthFailed,
    /// Already received, or older than the replay window (RFC 3711 3.3.2).
    #[error("replayed or too old")]
    Replayed,
    /// The rollover counter or the SRTCP index is exhausted: the master key must be replaced.
    #[error("key lifetime exhausted")]
    KeyExhausted,
    /// Not 30 bytes of base64 key and salt, or a malformed lifetime or MKI.
    #[error("malformed SDES key")]
    BadKey,
    /// The key carries an MKI, which this implementation does not use.
    #[error("MKI not supported")]
    MkiUnsupported,
}

/// Master key (16 bytes) + master salt (14 bytes), as in a=crypto inline:.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    pub key: [u8; 16],
    pub salt: [u8; 14],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey { .. }")
    }
}

impl MasterKey {
    /// Reads `inline:BASE64[|lifetime][|MKI:length]` or just the base64
    /// part. The lifetime (`2^20`, `1048576`) is checked for syntax and
    /// otherwise ignored; an MKI of non-zero length is refused.
    pub fn from_inline(inline: &str) -> Result<MasterKey, SrtpError> {
        let s = inline.trim();
        let s = match s.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("inline:") => &s[7..],
            _ => s,
        };
        let mut parts = s.split('|');
        let b64 = parts.next().unwrap_or_default();
        let (mut lifetime, mut mki) = (false, false);
        for part in parts {
            if let Some((value, length)) = part.split_once(':') {
                if mki || !all_digits(value, 64) || !all_digits(length, 3) {
                    return Err(SrtpError::BadKey);
                }
                mki = true;
                match length.parse::<u16>() {
                    Ok(0) => {}
                    Ok(1..=128) => return Err(SrtpError::MkiUnsupported),
                    _ => return Err(SrtpError::BadKey),
                }
            } else {
                let digits = part.strip_prefix("2^").unwrap_or(part);
                if lifetime || mki || !all_digits(digits, 20) {
                    return Err(SrtpError::BadKey);
                }
                lifetime = true;
            }
        }
        let mut raw = [0u8; 33];
        match STANDARD.decode_slice(b64, &mut raw) {
            Ok(30) => {}
            _ => return Err(SrtpError::BadKey),
        }
        let mut bytes = [0u8; 30];
        bytes.copy_from_slice(&raw[..30]);
        Ok(MasterKey::from_bytes(bytes))
    }

    /// `inline:` and the 40 base64 characters of key and salt.
    pub fn to_inline(&self) -> String {
        let mut raw = [0u8; 30];
        raw[..16].copy_from_slice(&self.key);
        raw[16..].copy_from_slice(&self.salt);
        format!("inline:{}", STANDARD.encode(raw))
    }

    /// Key then salt, e.g. 30 bytes drawn from the gateway's seeded RNG.
    pub fn from_bytes(bytes: [u8; 30]) -> MasterKey {
        let mut key = [0u8; 16];
        let mut salt = [0u8; 14];
        key.copy_from_slice(&bytes[..16]);
        salt.copy_from_slice(&bytes[16..]);
        MasterKey { key, salt }
    }
}

/// 1..=max ASCII digits.
fn all_digits(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The session keys of SRTP or of SRTCP.
struct SessionKeys {
    cipher: Aes128Enc,
    salt: [u8; 14],
    /// Keyed with the session authentication key; cloned per packet.
    mac: HmacSha1,
}

impl SessionKeys {
    fn derive(master: &Aes128Enc, master_salt: &[u8; 14], labels: [u8; 3]) -> SessionKeys {
        let [enc, auth, salt_label] = labels;
        let mut key = [0u8; 16];
        let mut salt = [0u8; 14];
        let mut auth_key = [0u8; 20];
        derive(master, master_salt, enc, &mut key);
        derive(master, master_salt, salt_label, &mut salt);
        derive(master, master_salt, auth, &mut auth_key);
        let mac = HmacSha1::new_from_slice(&auth_key).expect("HMAC takes keys of any length");
        SessionKeys { cipher: Aes128Enc::new(&key.into()), salt, mac }
    }

    /// HMAC-SHA1 over `parts`, the full 20 bytes.
    fn tag(&self, parts: [&[u8]; 2]) -> [u8; 20] {
        let mut mac = self.mac.clone();
        mac.update(parts[0]);
        mac.update(parts[1]);
        mac.finalize().into_bytes().into()
    }
}

/// The key derivation function of RFC 3711 4.3.1/4.3.3 with
/// key_derivation_rate 0: AES-CM under the master key, IV = (master_salt
/// XOR label << 48) * 2^16, output truncated to `out.len()`.
fn derive(master: &Aes128Enc, master_salt: &[u8; 14], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    xor_keystream(master, &iv, out);
}

/// The AES-CM IV of RFC 3711 4.1.1: (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
fn packet_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, i) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= i;
    }
    iv
}

/// XORs `data` with the AES counter-mode keystream starting at `iv`, whose
/// low 16 bits are the block counter (zero in every IV built here).
/// `data` holds at most 2^16 blocks.
///
/// The keystream of up to 64 blocks (1 KiB) is made in one call: the `aes`
/// crate's VAES backend pays a fixed setup per call, so one call per
/// packet, not one per 8 blocks.
fn xor_keystream(cipher: &Aes128Enc, iv: &[u8; 16], data: &mut [u8]) {
    const BATCH: usize = 64;
    let mut blocks = [Block::default(); BATCH];
    let mut counter: u16 = 0;
    for chunk in data.chunks_mut(16 * BATCH) {
        let n = chunk.len().div_ceil(16);
        for block in &mut blocks[..n] {
            block.copy_from_slice(iv);
            let c = counter.to_be_bytes();
            block[14] ^= c[0];
            block[15] ^= c[1];
            counter = counter.wrapping_add(1);
        }
        cipher.encrypt_blocks(&mut blocks[..n]);
        for (d, k) in chunk.chunks_mut(16).zip(&blocks[..n]) {
            for (x, y) in d.iter_mut().zip(k.iter()) {
                *x ^= *y;
            }
        }
    }
}

/// Where an RTP packet's payload starts, after the fixed header, the CSRC
/// list and the header extension; `None` if they do not fit in `packet`.
fn rtp_payload_offset(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    let mut offset = RTP_HEADER + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        let ext = packet.get(offset..offset + 4)?;
        offset += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    (offset <= packet.len()).then_some(offset)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A 128-packet sliding window over 48-bit (SRTP) or 31-bit (SRTCP)
/// indices: bit `d` stands for `highest - d`.
#[derive(Debug, Clone, Copy)]
struct Replay {
    highest: u64,
    seen: u128,
}

impl Replay {
    fn new(first: u64) -> Replay {
        Replay { highest: first, seen: 1 }
    }

    fn check(&self, index: u64) -> Result<(), SrtpError> {
        if index > self.highest {
            return Ok(());
        }
        let behind = self.highest - index;
        if behind >= REPLAY_WINDOW || self.seen >> behind & 1 == 1 {
            return Err(SrtpError::Replayed);
        }
        Ok(())
    }

    fn accept(&mut self, index: u64) {
        if index > self.highest {
            let ahead = index - self.highest;
            self.seen = if ahead >= REPLAY_WINDOW { 0 } else { self.seen << ahead };
            self.seen |= 1;
            self.highest = index;
        } else {
            self.seen |= 1 << (self.highest - index);
        }
    }

    /// The packet index of `seq` (RFC 3711 3.3.1, Appendix A): the rollover
    /// counter guessed from the highest index so far (ROC || s_l).
    fn estimate(&self, seq: u16) -> Result<u64, SrtpError> {
        let roc = self.highest >> 16;
        let s_l = self.highest as u16;
        let v = if s_l < 0x8000 {
            if i32::from(seq) - i32::from(s_l) > 0x8000 {
                // From before the last wrap; before the first wrap there
                // is none, so it is a jump ahead (as libsrtp reads it).
                roc.checked_sub(1).unwrap_or(roc)
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc + 1
        } else {
            roc
        };
        if v > u64::from(u32::MAX) {
            return Err(SrtpError::KeyExhausted);
        }
        Ok(v << 16 | u64::from(seq))
    }
}

/// Per-SSRC state, at most [`MAX_SSRCS`], least recently used evicted.
struct Streams {
    slots: [Option<Slot>; MAX_SSRCS],
    clock: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    ssrc: u32,
    used: u64,
    replay: Replay,
}

impl Streams {
    fn new() -> Streams {
        Streams { slots: [None; MAX_SSRCS], clock: 0 }
    }

    /// The slot of `ssrc` and its state.
    fn find(&self, ssrc: u32) -> Option<(usize, Replay)> {
        self.slots.iter().enumerate().find_map(|(i, s)| s.filter(|s| s.ssrc == ssrc).map(|s| (i, s.replay)))
    }

    #[cfg(test)]
    fn get(&self, ssrc: u32) -> Option<Replay> {
        self.find(ssrc).map(|(_, r)| r)
    }

    /// Records `index` as received (or sent) for `ssrc`, found earlier at
    /// `slot`; a new SSRC takes a free slot or the least recently used one.
    fn accept(&mut self, slot: Option<(usize, Replay)>, ssrc: u32, index: u64) {
        self.clock += 1;
        let (i, replay) = match slot {
            Some((i, mut r)) => {
                r.accept(index);
                (i, r)
            }
            None => (self.victim(), Replay::new(index)),
        };
        self.slots[i] = Some(Slot { ssrc, used: self.clock, replay });
    }

    /// A free slot, else the least recently used.
    fn victim(&self) -> usize {
        let age = |s: &Option<Slot>| s.map_or(0, |s| s.used);
        (0..MAX_SSRCS).min_by_key(|&i| age(&self.slots[i])).unwrap_or(0)
    }

    fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

/// One direction of one SRTP stream set (a "crypto context" keyed per SSRC inside).
pub struct Context {
    suite: Suite,
    srtp: SessionKeys,
    srtcp: SessionKeys,
    /// SRTP: ROC || highest sequence number and the replay window, per SSRC.
    rtp: Streams,
    /// SRTCP replay windows per sender SSRC (unprotect side).
    rtcp: Streams,
    /// The next SRTCP index to send (protect side), one counter for all SSRCs.
    srtcp_index: u32,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .field("rtp_ssrcs", &self.rtp.len())
            .field("rtcp_ssrcs", &self.rtcp.len())
            .field("srtcp_index", &self.srtcp_index)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(suite: Suite, key: &MasterKey) -> Context {
        let master = Aes128Enc::new(&key.key.into());
        Context {
            suite,
            srtp: SessionKeys::derive(&master, &key.salt, [LABEL_RTP_ENCRYPTION, LABEL_RTP_AUTH, LABEL_RTP_SALT]),
            srtcp: SessionKeys::derive(&master, &key.salt, [LABEL_RTCP_ENCRYPTION, LABEL_RTCP_AUTH, LABEL_RTCP_SALT]),
            rtp: Streams::new(),
            rtcp: Streams::new(),
            srtcp_index: 0,
        }
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Encrypt and authenticate the RTP packet in buf[..len] in place; returns the new length (len + tag).
    /// buf.len() must be >= len + suite.tag_len(), else SrtpError::BufferTooSmall.
    ///
    /// The packet index comes from the sequence number as on the receiving
    /// side (RFC 3711 3.3.1), so packets reordered before us keep their
    /// rollover counter. An index already protected, or older than the
    /// window, is refused with [`SrtpError::Replayed`]: encrypting it again
    /// would reuse its keystream.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let tag_len = self.suite.tag_len();
        if len > buf.len() || buf.len() - len < tag_len {
            return Err(SrtpError::BufferTooSmall);
        }
        let offset = rtp_payload_offset(&buf[..len]).ok_or(SrtpError::TooShort)?;
        if len - offset > MAX_PAYLOAD {
            return Err(SrtpError::TooLong);
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = be32(&buf[8..12]);
        let slot = self.rtp.find(ssrc);
        let index = match slot {
            Some((_, r)) => {
                let index = r.estimate(seq)?;
                r.check(index)?;
                index
            }
            None => u64::from(seq),
        };

        let iv = packet_iv(&self.srtp.salt, ssrc, index);
        xor_keystream(&self.srtp.cipher, &iv, &mut buf[offset..len]);
        let roc = ((index >> 16) as u32).to_be_bytes();
        let tag = self.srtp.tag([&buf[..len], &roc]);
        buf[len..len + tag_len].copy_from_slice(&tag[..tag_len]);

        self.rtp.accept(slot, ssrc, index);
        Ok(len + tag_len)
    }

    /// Verify and decrypt in place; returns the RTP length. Errors: TooShort, AuthFailed,
    /// Replayed (replay window, RFC 3711 3.3.2). On error the buffer may hold anything.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let tag_len = self.suite.tag_len();
        if len > buf.len() {
            return Err(SrtpError::BufferTooSmall);
        }
        if len < RTP_HEADER + tag_len {
            return Err(SrtpError::TooShort);
        }
        let end = len - tag_len;
        let offset = rtp_payload_offset(&buf[..end]).ok_or(SrtpError::TooShort)?;
        if end - offset > MAX_PAYLOAD {
            return Err(SrtpError::TooLong);
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = be32(&buf[8..12]);
        let slot = self.rtp.find(ssrc);
        let index = match slot {
            Some((_, r)) => {
                let index = r.estimate(seq)?;
                r.check(index)?;
                index
            }
            // A new SSRC starts with ROC 0 (RFC 3711 3.3.1).
            None => u64::from(seq),
        };

        let roc = ((index >> 16) as u32).to_be_bytes();
        let tag = self.srtp.tag([&buf[..end], &roc]);
        if !bool::from(tag[..tag_len].ct_eq(&buf[end..len])) {
            return Err(SrtpError::AuthFailed);
        }
        let iv = packet_iv(&self.srtp.salt, ssrc, index);
        xor_keystream(&self.srtp.cipher, &iv, &mut buf[offset..end]);

        self.rtp.accept(slot, ssrc, index);
        Ok(end)
    }

    /// SRTCP (RFC 3711 3.4): encrypts everything after the first 8 bytes
    /// (header and sender SSRC), appends E=1 || the 31-bit SRTCP index and
    /// an 80-bit tag (both suites, RFC 4568 6.2); returns len + 14.
    /// `buf.len()` must be at least `len + 14`, else SrtpError::BufferTooSmall.
    /// The index counts from 0 per context; after 2^31 packets:
    /// SrtpError::KeyExhausted.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let trailer = SRTCP_INDEX_LEN + SRTCP_TAG_LEN;
        if len > buf.len() || buf.len() - len < trailer {
            return Err(SrtpError::BufferTooSmall);
        }
        if len < RTCP_HEADER {
            return Err(SrtpError::TooShort);
        }
        if len - RTCP_HEADER > MAX_PAYLOAD {
            return Err(SrtpError::TooLong);
        }
        let index = self.srtcp_index;
        if index > SRTCP_INDEX_MAX {
            return Err(SrtpError::KeyExhausted);
        }
        let ssrc = be32(&buf[4..8]);
        let iv = packet_iv(&self.srtcp.salt, ssrc, u64::from(index));
        xor_keystream(&self.srtcp.cipher, &iv, &mut buf[RTCP_HEADER..len]);
        buf[len..len + SRTCP_INDEX_LEN].copy_from_slice(&(E_FLAG | index).to_be_bytes());
        let authenticated = len + SRTCP_INDEX_LEN;
        let tag = self.srtcp.tag([&buf[..authenticated], &[]]);
        buf[authenticated..authenticated + SRTCP_TAG_LEN].copy_from_slice(&tag[..SRTCP_TAG_LEN]);
        self.srtcp_index = index + 1;
        Ok(len + trailer)
    }

    /// Verify and decrypt an SRTCP packet in place; returns the RTCP length.
    /// Packets sent with E=0 (unencrypted SRTCP) are authenticated and
    /// returned as they are. Replays are refused per sender SSRC.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if len > buf.len() {
            return Err(SrtpError::BufferTooSmall);
        }
        if len < RTCP_HEADER + SRTCP_INDEX_LEN + SRTCP_TAG_LEN {
            return Err(SrtpError::TooShort);
        }
        let authenticated = len - SRTCP_TAG_LEN;
        let end = authenticated - SRTCP_INDEX_LEN;
        if end - RTCP_HEADER > MAX_PAYLOAD {
            return Err(SrtpError::TooLong);
        }
        let word = be32(&buf[end..authenticated]);
        let index = u64::from(word & SRTCP_INDEX_MAX);
        let ssrc = be32(&buf[4..8]);
        let slot = self.rtcp.find(ssrc);
        if let Some((_, r)) = slot {
            r.check(index)?;
        }

        let tag = self.srtcp.tag([&buf[..authenticated], &[]]);
        if !bool::from(tag[..SRTCP_TAG_LEN].ct_eq(&buf[authenticated..len])) {
            return Err(SrtpError::AuthFailed);
        }
        if word & E_FLAG != 0 {
            let iv = packet_iv(&self.srtcp.salt, ssrc, index);
            xor_keystream(&self.srtcp.cipher, &iv, &mut buf[RTCP_HEADER..end]);
        }

        self.rtcp.accept(slot, ssrc, index);
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    /// RFC 3711 Appendix B.3 master key and salt (also libsrtp's `test_key`).
    fn rfc_key() -> MasterKey {
        MasterKey { key: arr("E1F97A0D3E018BE0D64FA32C06DE4139"), salt: arr("0EC675AD498AFEEBB6960B3AABE6") }
    }

    // RFC 3711 Appendix B.2: AES-CM keystream, session key
    // 2B7E151628AED2A6ABF7158809CF4F3C, salt F0F1..FCFD (ROC, SEQ, SSRC 0),
    // 1044512 octets (65282 blocks); the RFC lists the first three and the
    // last three blocks.
    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        let cipher = Aes128Enc::new(&arr::<16>("2B7E151628AED2A6ABF7158809CF4F3C").into());
        let salt: [u8; 14] = arr("F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
        let iv = packet_iv(&salt, 0, 0);
        assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        let mut stream = vec![0u8; 1_044_512];
        xor_keystream(&cipher, &iv, &mut stream);
        let block = |i: usize| stream[16 * i..16 * i + 16].to_vec();
        assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xFEFF), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xFF00), hex("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xFF01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
        assert_eq!(stream.len(), 16 * 0xFF02);
    }

    // RFC 3711 Appendix B.3: key derivation, with the full 94-octet auth key table.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let master_key = rfc_key();
        let master = Aes128Enc::new(&master_key.key.into());
        let mut cipher_key = [0u8; 16];
        derive(&master, &master_key.salt, LABEL_RTP_ENCRYPTION, &mut cipher_key);
        assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut cipher_salt = [0u8; 14];
        derive(&master, &master_key.salt, LABEL_RTP_SALT, &mut cipher_salt);
        assert_eq!(cipher_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth_key = [0u8; 94];
        derive(&master, &master_key.salt, LABEL_RTP_AUTH, &mut auth_key);
        assert_eq!(
            auth_key.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                 E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
                 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2")
        );
    }

    // libsrtp test/srtp_driver.c, srtp_validate(): test_key, SSRC
    // 0xcafebabe, seq 0x1234, AES_CM_128_HMAC_SHA1_80.
    const LIBSRTP_RTP_PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";
    const LIBSRTP_SRTP: &str = "800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb";
    // The same packet pair as carried over from libsrtp's srtp_driver.c into
    // jitsi-srtp's SrtpValidationTest: SRTCP with SRTCP index 1.
    const LIBSRTP_RTCP_PLAIN: &str = "81c8000bcafebabe abababababababababababababababab";
    const LIBSRTP_SRTCP: &str = "81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798";

    #[test]
    fn libsrtp_reference_packets() {
        let plain = hex(LIBSRTP_RTP_PLAIN);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 10, 0);
        let mut tx = Context::new(Suite::AesCm128HmacSha1_80, &rfc_key());
        assert_eq!(tx.protect_rtp(&mut buf, plain.len()), Ok(38));
        assert_eq!(buf, hex(LIBSRTP_SRTP));
        let mut rx = Context::new(Suite::AesCm128HmacSha1_80, &rfc_key());
        assert_eq!(rx.unprotect_rtp(&mut buf, 38), Ok(28));
        assert_eq!(&buf[..28], &plain[..]);

        // The _32 suite: same keystream, the tag is the first 4 bytes of the same HMAC.
        let mut buf = plain.clone();
        buf.resize(plain.len() + 4, 0);
        let mut tx = Context::new(Suite::AesCm128HmacSha1_32, &rfc_key());
        assert_eq!(tx.protect_rtp(&mut buf, plain.len()), Ok(32));
        assert_eq!(buf, hex(LIBSRTP_SRTP)[..32]);

        // SRTCP: our first packet carries index 0, so the second matches the reference.
        let plain = hex(LIBSRTP_RTCP_PLAIN);
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
            let mut tx = Context::new(suite, &rfc_key());
            let mut buf = plain.clone();
            buf.resize(plain.len() + 14, 0);
            assert_eq!(tx.protect_rtcp(&mut buf, plain.len()), Ok(38));
            assert_eq!(&buf[24..28], &[0x80, 0, 0, 0]);
            buf[..24].copy_from_slice(&plain);
            assert_eq!(tx.protect_rtcp(&mut buf, plain.len()), Ok(38));
            assert_eq!(buf, hex(LIBSRTP_SRTCP), "{suite:?}");
            let mut rx = Context::new(suite, &rfc_key());
            assert_eq!(rx.unprotect_rtcp(&mut buf, 38), Ok(24));
            assert_eq!(&buf[..24], &plain[..]);
        }
    }

    // After a wrap, the tag covers ROC = 1 and the keystream uses index
    // 2^16 + seq: checked against the B.3 session keys used directly.
    #[test]
    fn rollover_counter_is_authenticated_and_keyed() {
        let auth_key = hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4");
        let session = Aes128Enc::new(&arr::<16>("C61E7A93744F39EE10734AFE3FF7A087").into());
        let session_salt: [u8; 14] = arr("30CBBC08863D8C85D49DB34A9AE1");
        let mut tx = Context::new(Suite::AesCm128HmacSha1_80, &rfc_key());
        for (seq, roc) in [(65535u16, 0u32), (0, 1), (3, 1)] {
            let plain = rtp(seq, 0xcafe_babe, 40);
            let srtp = protect(&mut tx, &plain);
            let mut payload = plain[12..].to_vec();
            xor_keystream(
                &session,
                &packet_iv(&session_salt, 0xcafe_babe, u64::from(roc) << 16 | u64::from(seq)),
                &mut payload,
            );
            assert_eq!(&srtp[12..52], &payload[..], "seq {seq}");
            let mut mac = HmacSha1::new_from_slice(&auth_key).unwrap();
            mac.update(&srtp[..52]);
            mac.update(&roc.to_be_bytes());
            assert_eq!(&srtp[52..], &mac.finalize().into_bytes()[..10], "seq {seq}");
        }
    }

    #[test]
    fn header_extension_and_csrcs_stay_clear_and_payload_is_keyed_from_block_zero() {
        // RFC 6904 Appendix A's plaintext (one-byte header extension), its
        // payload the libsrtp reference's: without header encryption the
        // payload ciphertext is the reference's (same SSRC and index).
        let ext = hex("900f1234decafbadcafebabe BEDE0006 17414273A475262748220000C8308E46559963 86B395FB00");
        let payload = [0xabu8; 16];
        let expected = &hex(LIBSRTP_SRTP)[12..28];
        let with_csrcs = hex("820f1234decafbadcafebabe 0000000100000002");
        let both = hex("920f1234decafbadcafebabe 00000001 00000002 BEDE0001 10aa0000");
        for header in [ext, with_csrcs, both] {
            for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
                let mut packet = header.clone();
                packet.extend_from_slice(&payload);
                let len = packet.len();
                packet.resize(len + suite.tag_len(), 0);
                let mut tx = Context::new(suite, &rfc_key());
                assert_eq!(tx.protect_rtp(&mut packet, len), Ok(len + suite.tag_len()));
                assert_eq!(&packet[..header.len()], &header[..]);
                assert_eq!(&packet[header.len()..len], expected);
                let mut rx = Context::new(suite, &rfc_key());
                assert_eq!(rx.unprotect_rtp(&mut packet, len + suite.tag_len()), Ok(len));
                assert_eq!(&packet[header.len()..len], &payload);
            }
        }
    }

    fn rtp(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend((0..payload_len).map(|i| (i as u8) ^ (seq as u8)));
        p
    }

    /// Protects `plain` and returns the SRTP packet.
    fn protect(tx: &mut Context, plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + 10, 0);
        let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
        buf.truncate(n);
        buf
    }

    fn unprotect(rx: &mut Context, srtp: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut buf = srtp.to_vec();
        let n = rx.unprotect_rtp(&mut buf, srtp.len())?;
        buf.truncate(n);
        Ok(buf)
    }

    fn pair(suite: Suite) -> (Context, Context) {
        let key = MasterKey::from_bytes(std::array::from_fn(|i| i as u8 * 7 + 1));
        (Context::new(suite, &key), Context::new(suite, &key))
    }

    const SUITES: [Suite; 2] = [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32];

    #[test]
    fn rtp_round_trip_tamper_and_replay() {
        for suite in SUITES {
            let (mut tx, mut rx) = pair(suite);
            let plain = rtp(100, 0x1234_5678, 160);
            let srtp = protect(&mut tx, &plain);
            assert_eq!(srtp.len(), plain.len() + suite.tag_len());
            assert_ne!(&srtp[12..172], &plain[12..]);
            assert_eq!(unprotect(&mut rx, &srtp), Ok(plain.clone()));
            assert_eq!(unprotect(&mut rx, &srtp), Err(SrtpError::Replayed), "{suite:?}");

            // A flipped bit anywhere (header, payload, tag) fails authentication.
            let next = protect(&mut tx, &rtp(101, 0x1234_5678, 160));
            for byte in [1, 2, 11, 12, 100, next.len() - 1] {
                let mut bad = next.clone();
                bad[byte] ^= 0x01;
                assert_eq!(unprotect(&mut rx, &bad), Err(SrtpError::AuthFailed), "{suite:?} byte {byte}");
            }
            assert_eq!(unprotect(&mut rx, &next), Ok(rtp(101, 0x1234_5678, 160)));
        }
    }

    #[test]
    fn replay_window_reorder_and_old_packets() {
        let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80);
        let ssrc = 7;
        let packets: Vec<Vec<u8>> = (0..400u16).map(|s| protect(&mut tx, &rtp(s, ssrc, 20))).collect();
        // Accept 0..=300 except 250, then 250 late (within the window) is fine.
        for (s, p) in packets.iter().enumerate().take(301) {
            if s != 250 {
                assert!(unprotect(&mut rx, p).is_ok(), "seq {s}");
            }
        }
        assert!(unprotect(&mut rx, &packets[250]).is_ok());
        assert_eq!(unprotect(&mut rx, &packets[250]), Err(SrtpError::Replayed));
        // 200 sequence numbers behind the highest (300): outside the window.
        assert_eq!(unprotect(&mut rx, &packets[100]), Err(SrtpError::Replayed));
        // Exactly 127 behind: inside the window, but already seen.
        assert_eq!(unprotect(&mut rx, &packets[173]), Err(SrtpError::Replayed));
        // A jump ahead and a reordered one just behind it.
        assert!(unprotect(&mut rx, &packets[399]).is_ok());
        assert!(unprotect(&mut rx, &packets[301]).is_ok());
        assert_eq!(unprotect(&mut rx, &packets[271]), Err(SrtpError::Replayed));
    }

    #[test]
    fn sequence_wrap_increments_roc() {
        for suite in SUITES {
            let (mut tx, mut rx) = pair(suite);
            let ssrc = 0xdead_beef;
            let mut seqs: Vec<u16> = (65530..=65535).collect();
            seqs.extend(0..6);
            let srtp: Vec<Vec<u8>> = seqs.iter().map(|&s| protect(&mut tx, &rtp(s, ssrc, 160))).collect();
            // The wrapped packets were keyed with ROC 1: different keystream than ROC 0.
            let (mut tx0, _) = pair(suite);
            assert_ne!(srtp[6], protect(&mut tx0, &rtp(0, ssrc, 160)));
            for (s, p) in seqs.iter().zip(&srtp) {
                assert_eq!(unprotect(&mut rx, p), Ok(rtp(*s, ssrc, 160)), "{suite:?} seq {s}");
            }
            assert_eq!(rx.rtp.get(ssrc).unwrap().highest, 1 << 16 | 5);
            // A packet from before the wrap arriving late still verifies (ROC - 1).
            let (mut tx2, mut rx2) = pair(suite);
            let early = protect(&mut tx2, &rtp(65534, ssrc, 160));
            let late = protect(&mut tx2, &rtp(65535, ssrc, 160));
            let after = protect(&mut tx2, &rtp(1, ssrc, 160));
            assert!(unprotect(&mut rx2, &early).is_ok());
            assert!(unprotect(&mut rx2, &after).is_ok());
            assert_eq!(unprotect(&mut rx2, &late), Ok(rtp(65535, ssrc, 160)));
        }
    }

    #[test]
    fn protect_refuses_index_reuse_and_small_buffers() {
        let (mut tx, _) = pair(Suite::AesCm128HmacSha1_80);
        let plain = rtp(9, 1, 10);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 9, 0);
        assert_eq!(tx.protect_rtp(&mut buf, plain.len()), Err(SrtpError::BufferTooSmall));
        let too_long = buf.len() + 1;
        assert_eq!(tx.protect_rtp(&mut buf, too_long), Err(SrtpError::BufferTooSmall));
        protect(&mut tx, &plain);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 10, 0);
        assert_eq!(tx.protect_rtp(&mut buf, plain.len()), Err(SrtpError::Replayed));
        let mut small = [0x80u8; 8 + 14];
        assert_eq!(tx.protect_rtp(&mut small, 8), Err(SrtpError::TooShort));
        assert_eq!(tx.protect_rtcp(&mut small, 7), Err(SrtpError::TooShort));
        assert_eq!(tx.protect_rtcp(&mut small, 9), Err(SrtpError::BufferTooSmall));
    }

    #[test]
    fn malformed_headers_are_too_short() {
        let (_, mut rx) = pair(Suite::AesCm128HmacSha1_80);
        // CSRC count 15 needs 72 header bytes.
        let mut p = vec![0x8f; 40];
        assert_eq!(rx.unprotect_rtp(&mut p, 40), Err(SrtpError::TooShort));
        // Extension length pointing past the end.
        let mut p = rtp(1, 1, 20);
        p[0] |= 0x10;
        p[14] = 0xff;
        assert_eq!(rx.unprotect_rtp(&mut p, 32), Err(SrtpError::TooShort));
        assert_eq!(rx.unprotect_rtp(&mut [0u8; 21], 21), Err(SrtpError::TooShort));
        assert_eq!(rx.unprotect_rtcp(&mut [0u8; 21], 21), Err(SrtpError::TooShort));
        assert_eq!(rx.unprotect_rtp(&mut [0u8; 4], 5), Err(SrtpError::BufferTooSmall));
    }

    fn rtcp(ssrc: u32, body: usize) -> Vec<u8> {
        let mut p = vec![0x81, 200, 0, (1 + body / 4) as u8];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend((0..body).map(|i| i as u8));
        p
    }

    #[test]
    fn rtcp_round_trip_tamper_and_replay() {
        for suite in SUITES {
            let (mut tx, mut rx) = pair(suite);
            let mut sent = Vec::new();
            for _ in 0..3 {
                let plain = rtcp(0xabcd, 44);
                let mut buf = plain.clone();
                buf.resize(plain.len() + 14, 0);
                let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
                assert_eq!(n, plain.len() + 4 + 10, "{suite:?}: SRTCP tag is 80 bits");
                assert_ne!(&buf[8..plain.len()], &plain[8..]);
                sent.push(buf);
            }
            assert_eq!(be32(&sent[2][52..56]), E_FLAG | 2);
            for s in [&sent[0], &sent[2], &sent[1]] {
                let mut buf = s.clone();
                assert_eq!(rx.unprotect_rtcp(&mut buf, s.len()), Ok(52));
                assert_eq!(buf[..52], rtcp(0xabcd, 44)[..]);
            }
            let mut again = sent[1].clone();
            assert_eq!(rx.unprotect_rtcp(&mut again, 66), Err(SrtpError::Replayed));
            for byte in [0, 5, 20, 53, 65] {
                let mut bad = sent[2].clone();
                bad[byte] ^= 0x80;
                assert!(rx.unprotect_rtcp(&mut bad, 66).is_err(), "{suite:?} byte {byte}");
            }
            // Flip only the payload of a fresh packet: authentication, not replay, refuses it.
            let plain = rtcp(0xabcd, 44);
            let mut buf = plain.clone();
            buf.resize(66, 0);
            tx.protect_rtcp(&mut buf, 52).unwrap();
            buf[30] ^= 1;
            assert_eq!(rx.unprotect_rtcp(&mut buf.clone(), 66), Err(SrtpError::AuthFailed));
            buf[30] ^= 1;
            assert_eq!(rx.unprotect_rtcp(&mut buf, 66), Ok(52));
        }
    }

    #[test]
    fn srtcp_replay_window_is_128() {
        let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_32);
        let packets: Vec<Vec<u8>> = (0..300)
            .map(|_| {
                let mut buf = rtcp(5, 8);
                let len = buf.len();
                buf.resize(len + 14, 0);
                tx.protect_rtcp(&mut buf, len).unwrap();
                buf
            })
            .collect();
        let mut open = |p: &Vec<u8>| rx.unprotect_rtcp(&mut p.clone(), p.len());
        assert!(open(&packets[299]).is_ok());
        assert!(open(&packets[172]).is_ok());
        assert_eq!(open(&packets[171]), Err(SrtpError::Replayed));
        assert_eq!(open(&packets[99]), Err(SrtpError::Replayed));
    }

    #[test]
    fn ssrcs_are_bounded_least_recently_used_evicted() {
        let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80);
        let first = protect(&mut tx, &rtp(10, 0, 10));
        assert!(unprotect(&mut rx, &first).is_ok());
        for ssrc in 1..=MAX_SSRCS as u32 {
            let p = protect(&mut tx, &rtp(10, ssrc, 10));
            assert!(unprotect(&mut rx, &p).is_ok());
        }
        assert_eq!(rx.rtp.len(), MAX_SSRCS);
        // SSRC 0 was evicted: its replay state is gone, the packet is accepted afresh.
        assert!(rx.rtp.get(0).is_none());
        assert!(unprotect(&mut rx, &first).is_ok());
        // ... which evicted SSRC 1, the least recently used now.
        assert!(rx.rtp.get(1).is_none() && rx.rtp.get(2).is_some());
    }

    #[test]
    fn inline_keys() {
        let key = rfc_key();
        let inline = key.to_inline();
        assert_eq!(inline, "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm");
        assert_eq!(inline.len(), 7 + 40);
        assert_eq!(MasterKey::from_inline(&inline), Ok(key.clone()));
        assert_eq!(MasterKey::from_inline(&inline[7..]), Ok(key.clone()));
        assert_eq!(MasterKey::from_inline(&format!("{inline}|2^20")), Ok(key.clone()));
        assert_eq!(MasterKey::from_inline(&format!("{inline}|1048576|1:0")), Ok(key.clone()));
        assert_eq!(MasterKey::from_inline(&format!("{inline}|2^20|1:4")), Err(SrtpError::MkiUnsupported));
        assert_eq!(MasterKey::from_inline(&format!("{inline}|1:4")), Err(SrtpError::MkiUnsupported));
        assert_eq!(MasterKey::from_inline(&format!("{inline}|1:4|2^20")), Err(SrtpError::MkiUnsupported));
        for bad in [
            "inline:",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqv",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvmAAAA",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqv!",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm|2^x",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm|2^20|2^20",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm|1:999",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm|1:0|2^20",
            "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm|",
        ] {
            assert_eq!(MasterKey::from_inline(bad), Err(SrtpError::BadKey), "{bad}");
        }
        assert_eq!(format!("{key:?}"), "MasterKey { .. }");
        assert_eq!(MasterKey::from_bytes(std::array::from_fn(|i| i as u8)).salt[0], 16);
    }

    #[test]
    fn suites_by_name() {
        for suite in SUITES {
            assert_eq!(Suite::from_sdes(suite.sdes_name()), Some(suite));
            assert_eq!(suite.srtcp_tag_len(), 10);
        }
        assert_eq!(Suite::from_sdes("aes_cm_128_hmac_sha1_32"), Some(Suite::AesCm128HmacSha1_32));
        assert_eq!(Suite::from_sdes("AEAD_AES_128_GCM"), None);
        assert_eq!((Suite::AesCm128HmacSha1_80.tag_len(), Suite::AesCm128HmacSha1_32.tag_len()), (10, 4));
    }

    proptest! {
        #[test]
        fn unprotect_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300), len in 0usize..320, sel in 0u8..4) {
            let suite = SUITES[usize::from(sel & 1)];
            let (_, mut rx) = pair(suite);
            let mut buf = data.clone();
            let _ = rx.unprotect_rtp(&mut buf, len);
            let _ = rx.unprotect_rtp(&mut buf, data.len());
            let mut buf = data.clone();
            let _ = rx.unprotect_rtcp(&mut buf, len);
            let _ = rx.unprotect_rtcp(&mut buf, data.len());
            let _ = MasterKey::from_inline(&String::from_utf8_lossy(&data));
        }

        #[test]
        fn protect_round_trips(data in proptest::collection::vec(any::<u8>(), 0..300), sel in 0u8..2) {
            let suite = SUITES[usize::from(sel)];
            let (mut tx, mut rx) = pair(suite);
            let mut buf = data.clone();
            buf.resize(data.len() + 14, 0);
            if let Ok(n) = tx.protect_rtp(&mut buf, data.len()) {
                prop_assert_eq!(rx.unprotect_rtp(&mut buf, n), Ok(data.len()));
                prop_assert_eq!(&buf[..data.len()], &data[..]);
            }
            let mut buf = data.clone();
            buf.resize(data.len() + 14, 0);
            if let Ok(n) = tx.protect_rtcp(&mut buf, data.len()) {
                prop_assert_eq!(rx.unprotect_rtcp(&mut buf, n), Ok(data.len()));
                prop_assert_eq!(&buf[..data.len()], &data[..]);
            }
        }
    }
}
