//! SRTP/SRTCP on arbitrary bytes: `unprotect_rtp` and `unprotect_rtcp`
//! never panic, whatever the packet and whatever length is claimed; a packet
//! `protect_rtp`/`protect_rtcp` accepts unprotects (in a fresh receiving
//! context) to exactly the bytes that went in; a second unprotect of it is
//! a replay; and any `a=crypto` key text parses or is refused, never panics.
#![no_main]

use gateway::media::srtp::{Context, MasterKey, SrtpError, Suite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else { return };
    let suite = if selector & 1 == 0 { Suite::AesCm128HmacSha1_80 } else { Suite::AesCm128HmacSha1_32 };
    let key = MasterKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 0x5a));
    // A claimed length past the buffer end, at it, or short of it.
    let claimed = match selector >> 1 & 3 {
        0 => packet.len(),
        1 => packet.len() + 1 + usize::from(selector >> 3),
        _ => packet.len().saturating_sub(usize::from(selector >> 3)),
    };

    let mut rx = Context::new(suite, &key);
    let mut buf = packet.to_vec();
    let _ = rx.unprotect_rtp(&mut buf, claimed);
    buf.copy_from_slice(packet);
    let _ = rx.unprotect_rtcp(&mut buf, claimed);

    let room = packet.len() + 14;
    let mut tx = Context::new(suite, &key);
    let mut rx = Context::new(suite, &key);
    let mut buf = packet.to_vec();
    buf.resize(room, 0);
    if let Ok(n) = tx.protect_rtp(&mut buf, packet.len()) {
        let protected = buf[..n].to_vec();
        assert_eq!(rx.unprotect_rtp(&mut buf, n), Ok(packet.len()), "a protected RTP packet verifies");
        assert_eq!(&buf[..packet.len()], packet);
        buf[..n].copy_from_slice(&protected);
        assert_eq!(rx.unprotect_rtp(&mut buf, n), Err(SrtpError::Replayed));
    }
    let mut buf = packet.to_vec();
    buf.resize(room, 0);
    if let Ok(n) = tx.protect_rtcp(&mut buf, packet.len()) {
        let protected = buf[..n].to_vec();
        assert_eq!(rx.unprotect_rtcp(&mut buf, n), Ok(packet.len()), "a protected RTCP packet verifies");
        assert_eq!(&buf[..packet.len()], packet);
        buf[..n].copy_from_slice(&protected);
        assert_eq!(rx.unprotect_rtcp(&mut buf, n), Err(SrtpError::Replayed));
    }

    if let Ok(text) = std::str::from_utf8(packet) {
        if let Ok(key) = MasterKey::from_inline(text) {
            assert_eq!(MasterKey::from_inline(&key.to_inline()), Ok(key));
        }
    }
});
