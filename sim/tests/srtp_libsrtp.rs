//! The gateway's SRTP (`gateway::media::srtp::Context`) against libsrtp2
//! (`sim::libsrtp`, the reference implementation): for both SDES suites,
//! the two senders give the same bytes for the same packets (given in the
//! same order, with pairs swapped around the wrap), what one
//! protects the other unprotects, across a sequence-number wrap (the
//! rollover counter) and with packets reordered around it; CSRCs and a
//! header extension stay in the clear for both; a changed bit anywhere is
//! refused by both, and so are replays and packets older than the window.
//! SRTCP likewise, in both directions.

use gateway::media::srtp::{Context, MasterKey, SrtpError, Suite};
use sim::libsrtp::{Error, SrtpSession};

const SUITES: [Suite; 2] = [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32];

/// Packets per run: from 0xff00 on, so the sequence number wraps after 256.
const PACKETS: u16 = 600;
const FIRST_SEQ: u16 = 0xff00;

fn key(seed: u8) -> MasterKey {
    MasterKey::from_bytes(std::array::from_fn(|i| seed.wrapping_mul(37).wrapping_add((i as u8).wrapping_mul(11))))
}

/// An RTP packet; every 7th carries two CSRCs and a one-word header extension.
fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    let fancy = seq % 7 == 0;
    let mut p = vec![if fancy { 0x92 } else { 0x80 }, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&u32::from(seq).wrapping_mul(160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    if fancy {
        p.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00]);
    }
    // Payload lengths 0..=172, not all multiples of the AES block.
    p.extend((0..seq % 173).map(|i| (i as u8) ^ (seq as u8)));
    p
}

/// An RTCP receiver report with one report block (32 bytes).
fn rtcp(ssrc: u32, n: u32) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0x00, 0x07];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend((0..20u32).map(|i| (i ^ n) as u8));
    p
}

/// The order of delivery: pairs swapped, so some packets arrive before the
/// one preceding them, including across the wrap.
fn reordered(n: u16) -> impl Iterator<Item = u16> {
    (0..n).map(move |i| if i % 2 == 0 { (i + 1).min(n - 1) } else { i - 1 })
}

fn seq_at(i: u16) -> u16 {
    FIRST_SEQ.wrapping_add(i)
}

/// One of `Context`'s in-place transforms over a copy of `p` with `room`
/// spare bytes after it.
fn gw_run(
    p: &[u8],
    room: usize,
    f: impl FnOnce(&mut [u8], usize) -> Result<usize, SrtpError>,
) -> Result<Vec<u8>, SrtpError> {
    let mut buf = p.to_vec();
    buf.resize(p.len() + room, 0);
    let n = f(&mut buf, p.len())?;
    buf.truncate(n);
    Ok(buf)
}

/// One of `SrtpSession`'s transforms over a copy of `p`.
fn lib_run(p: &[u8], f: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>) -> Result<Vec<u8>, Error> {
    let mut v = p.to_vec();
    f(&mut v).map(|()| v)
}

fn gw_protect_rtp(ctx: &mut Context, p: &[u8]) -> Vec<u8> {
    gw_run(p, 16, |b, n| ctx.protect_rtp(b, n)).expect("gateway protects")
}

fn gw_unprotect_rtp(ctx: &mut Context, p: &[u8]) -> Result<Vec<u8>, SrtpError> {
    gw_run(p, 0, |b, n| ctx.unprotect_rtp(b, n))
}

fn gw_protect_rtcp(ctx: &mut Context, p: &[u8]) -> Vec<u8> {
    gw_run(p, 14, |b, n| ctx.protect_rtcp(b, n)).expect("gateway protects RTCP")
}

fn gw_unprotect_rtcp(ctx: &mut Context, p: &[u8]) -> Result<Vec<u8>, SrtpError> {
    gw_run(p, 0, |b, n| ctx.unprotect_rtcp(b, n))
}

fn lib_protect_rtp(s: &mut SrtpSession, p: &[u8]) -> Vec<u8> {
    lib_run(p, |v| s.protect_rtp(v)).expect("libsrtp protects")
}

fn lib_unprotect_rtp(s: &mut SrtpSession, p: &[u8]) -> Result<Vec<u8>, Error> {
    lib_run(p, |v| s.unprotect_rtp(v))
}

fn lib_protect_rtcp(s: &mut SrtpSession, p: &[u8]) -> Vec<u8> {
    lib_run(p, |v| s.protect_rtcp(v)).expect("libsrtp protects RTCP")
}

fn lib_unprotect_rtcp(s: &mut SrtpSession, p: &[u8]) -> Result<Vec<u8>, Error> {
    lib_run(p, |v| s.unprotect_rtcp(v))
}

/// [`PACKETS`] packets through `protect`, then delivered reordered to
/// `unprotect`: each must come back as it was.
fn round_trip<E: std::fmt::Debug + PartialEq>(
    what: &str,
    mut protect: impl FnMut(&[u8]) -> Vec<u8>,
    mut unprotect: impl FnMut(&[u8]) -> Result<Vec<u8>, E>,
) {
    let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..PACKETS)
        .map(|i| {
            let p = rtp(0xdead_beef, seq_at(i));
            let s = protect(&p);
            (p, s)
        })
        .collect();
    for i in reordered(PACKETS) {
        let (p, s) = &sent[usize::from(i)];
        assert_eq!(unprotect(s).as_ref(), Ok(p), "{what}: packet {i}");
    }
}

#[test]
fn both_senders_give_the_same_bytes() {
    for suite in SUITES {
        let k = key(1);
        let mut gw = Context::new(suite, &k);
        let mut lib = SrtpSession::sender(suite, &k).unwrap();
        // Reordered before the senders too: both guess the same ROC.
        for i in reordered(PACKETS) {
            let p = rtp(0x1111_2222, seq_at(i));
            let a = gw_protect_rtp(&mut gw, &p);
            let b = lib_protect_rtp(&mut lib, &p);
            assert_eq!(a.len(), p.len() + suite.tag_len(), "{suite:?} packet {i}");
            assert_eq!(a, b, "{suite:?} packet {i} (seq {:#06x})", seq_at(i));
        }
    }
}

#[test]
fn what_one_protects_the_other_unprotects() {
    for suite in SUITES {
        let k = key(2);
        let mut gw = Context::new(suite, &k);
        let mut lib = SrtpSession::receiver(suite, &k).unwrap();
        round_trip(
            &format!("{suite:?} gateway to libsrtp"),
            |p| gw_protect_rtp(&mut gw, p),
            |s| lib_unprotect_rtp(&mut lib, s),
        );
        let mut lib = SrtpSession::sender(suite, &k).unwrap();
        let mut gw = Context::new(suite, &k);
        round_trip(
            &format!("{suite:?} libsrtp to gateway"),
            |p| lib_protect_rtp(&mut lib, p),
            |s| gw_unprotect_rtp(&mut gw, s),
        );
    }
}

#[test]
fn a_changed_bit_is_refused_by_both() {
    for suite in SUITES {
        let k = key(4);
        let mut tx = SrtpSession::sender(suite, &k).unwrap();
        let mut gw = Context::new(suite, &k);
        let mut lib = SrtpSession::receiver(suite, &k).unwrap();
        for i in 0..40u16 {
            let p = rtp(0x5555_aaaa, seq_at(i));
            let s = lib_protect_rtp(&mut tx, &p);
            // A bit in the header, the payload or the tag, in turn.
            let at = [1, 7, 11, s.len() / 2, s.len() - 1][usize::from(i) % 5];
            let mut bad = s.clone();
            bad[at] ^= 1 << (i % 8);
            assert_eq!(gw_unprotect_rtp(&mut gw, &bad), Err(SrtpError::AuthFailed), "{suite:?} {i} at {at}");
            assert_eq!(lib_unprotect_rtp(&mut lib, &bad), Err(Error::AuthFail), "{suite:?} {i} at {at}");
            // The forgery left no trace: the genuine packet still passes.
            assert_eq!(gw_unprotect_rtp(&mut gw, &s).as_ref(), Ok(&p));
            assert_eq!(lib_unprotect_rtp(&mut lib, &s).as_ref(), Ok(&p));
            // A truncated tag is refused too.
            let cut = &s[..s.len() - 1];
            assert!(gw_unprotect_rtp(&mut gw, cut).is_err());
            assert!(lib_unprotect_rtp(&mut lib, cut).is_err());
        }
    }
}

#[test]
fn replays_are_refused_by_both() {
    for suite in SUITES {
        let k = key(5);
        let mut tx = Context::new(suite, &k);
        let mut gw = Context::new(suite, &k);
        let mut lib = SrtpSession::receiver(suite, &k).unwrap();
        let sent: Vec<Vec<u8>> = (0..400).map(|i| gw_protect_rtp(&mut tx, &rtp(0x7777_0001, seq_at(i)))).collect();
        for (i, s) in sent.iter().enumerate() {
            assert!(gw_unprotect_rtp(&mut gw, s).is_ok(), "{suite:?} {i}");
            assert!(lib_unprotect_rtp(&mut lib, s).is_ok(), "{suite:?} {i}");
            // Again at once, and one from a few packets back (inside the window).
            for again in [i, i.saturating_sub(5)] {
                assert_eq!(gw_unprotect_rtp(&mut gw, &sent[again]), Err(SrtpError::Replayed), "{suite:?} {i}/{again}");
                assert_eq!(lib_unprotect_rtp(&mut lib, &sent[again]), Err(Error::Replay), "{suite:?} {i}/{again}");
            }
        }
        // Older than the 128-packet window: refused whether seen or not.
        let old = &sent[399 - 200];
        assert_eq!(gw_unprotect_rtp(&mut gw, old), Err(SrtpError::Replayed));
        assert_eq!(lib_unprotect_rtp(&mut lib, old), Err(Error::ReplayOld));
    }
}

#[test]
fn srtcp_both_ways() {
    for suite in SUITES {
        let k = key(6);
        // Gateway -> libsrtp.
        let mut gw_tx = Context::new(suite, &k);
        let mut lib_rx = SrtpSession::receiver(suite, &k).unwrap();
        let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..50)
            .map(|n| {
                let p = rtcp(0x4242_4242, n);
                let s = gw_protect_rtcp(&mut gw_tx, &p);
                assert_eq!(s.len(), p.len() + 14, "{suite:?}: SRTCP tag is 80 bits for both suites");
                (p, s)
            })
            .collect();
        for (n, (p, s)) in sent.iter().enumerate() {
            assert_eq!(lib_unprotect_rtcp(&mut lib_rx, s).as_ref(), Ok(p), "{suite:?} gw->lib {n}");
            assert!(lib_unprotect_rtcp(&mut lib_rx, s).is_err(), "{suite:?} gw->lib replay {n}");
        }
        // libsrtp -> gateway.
        let mut lib_tx = SrtpSession::sender(suite, &k).unwrap();
        let mut gw_rx = Context::new(suite, &k);
        for n in 0..50 {
            let p = rtcp(0x2424_2424, n);
            let s = lib_protect_rtcp(&mut lib_tx, &p);
            assert_eq!(s.len(), p.len() + 14, "{suite:?}");
            let mut bad = s.clone();
            bad[10] ^= 0x40;
            assert_eq!(gw_unprotect_rtcp(&mut gw_rx, &bad), Err(SrtpError::AuthFailed), "{suite:?} {n}");
            assert_eq!(gw_unprotect_rtcp(&mut gw_rx, &s).as_ref(), Ok(&p), "{suite:?} lib->gw {n}");
            assert_eq!(gw_unprotect_rtcp(&mut gw_rx, &s), Err(SrtpError::Replayed), "{suite:?} {n}");
        }
    }
}

#[test]
fn short_packets_are_errors_not_crashes() {
    let k = key(7);
    let mut lib = SrtpSession::receiver(Suite::AesCm128HmacSha1_80, &k).unwrap();
    for n in 0..30 {
        let mut p: Vec<u8> = (0..n).map(|i| 0x80 ^ i as u8).collect();
        assert!(lib.unprotect_rtp(&mut p).is_err(), "{n} bytes");
        let mut p: Vec<u8> = (0..n).map(|i| 0x80 ^ i as u8).collect();
        assert!(lib.unprotect_rtcp(&mut p).is_err(), "{n} bytes");
    }
}

/// A jump of more than 2^15 ahead while the rollover counter is 0: RFC
/// 3711 Appendix A would guess ROC - 1 = -1; libsrtp 2.5.0 keeps ROC 0 and
/// takes it as a jump ahead, and so does the gateway (it used to refuse
/// it as a replay, and every packet after it: found by this test).
#[test]
fn a_jump_ahead_of_more_than_2_15_in_the_first_roc_period() {
    let k = key(8);
    let suite = Suite::AesCm128HmacSha1_80;
    let seqs = [0x1000u16, 0x9001, 0x9002, 0x9003];
    let mut lib_tx = SrtpSession::sender(suite, &k).unwrap();
    let mut gw_tx = Context::new(suite, &k);
    let mut gw_rx = Context::new(suite, &k);
    let mut lib_rx = SrtpSession::receiver(suite, &k).unwrap();
    for seq in seqs {
        let p = rtp(0x0bad_5eed, seq);
        let s = lib_protect_rtp(&mut lib_tx, &p);
        assert_eq!(lib_unprotect_rtp(&mut lib_rx, &s).as_ref(), Ok(&p), "libsrtp to libsrtp, seq {seq:#06x}");
        assert_eq!(gw_unprotect_rtp(&mut gw_rx, &s).as_ref(), Ok(&p), "the gateway takes seq {seq:#06x} from libsrtp");
        let gw_sent = gw_run(&p, 16, |b, n| gw_tx.protect_rtp(b, n));
        assert_eq!(gw_sent.as_ref(), Ok(&s), "the gateway protects seq {seq:#06x} as libsrtp does");
    }
}
