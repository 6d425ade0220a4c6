//! One continuous RTP stream toward a leg's peer, whatever feeds it.
//!
//! Contract: every RTP packet the relay sends toward one leg, relayed or
//! injected, passes through that leg's [`Sequencer`]. The peer then sees
//! one SSRC, sequence numbers that go up by one and timestamps that follow
//! the wall clock, across a change of source: early media from one fork
//! and the answer from another, a re-INVITE that moves the far end, the
//! gateway's own ringback before the real audio, RFC 4733 digits played
//! between voice packets. The first source adopted is passed through
//! untouched (no rewrite at all while it is the only one); a new source
//! is rebased so that its next packet follows the last one sent (the next
//! sequence number, the timestamp moved on by the time elapsed since, in
//! the leg's RTP clock) and carries the marker bit. Injected digit packets take sequence numbers
//! from the same counter, so the relayed audio after them shifts by one
//! each. RTCP is kept consistent: a relayed sender's SSRC is renamed as
//! its RTP is, and reports about the SSRC the peer saw are renamed back
//! ([`Sequencer::to_peer`], [`Sequencer::from_peer`]). Pure: time comes in
//! as an argument.

use crate::time::Time;

/// The RTP header fields an injected packet should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    /// First packet after a change of source.
    pub marker: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Relayed(u32),
    Injected,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// The SSRC the peer sees.
    ssrc: u32,
    /// Newest sequence number and timestamp sent, and when.
    seq: u16,
    ts: u32,
    at: Time,
    src: Source,
    /// Added to the relayed source's sequence numbers and timestamps.
    seq_off: u16,
    ts_off: u32,
}

/// The stream state toward one leg's peer.
#[derive(Debug, Clone)]
pub struct Sequencer {
    /// RTP clock rate of the stream (samples per second).
    clock: u32,
    state: Option<State>,
}

impl Sequencer {
    pub fn new(clock: u32) -> Sequencer {
        Sequencer { clock: clock.max(1), state: None }
    }

    /// The stream's RTP clock rate changed (a new codec toward the peer).
    pub fn set_clock(&mut self, clock: u32) {
        self.clock = clock.max(1);
    }

    /// The SSRC the peer sees, once anything was sent.
    pub fn ssrc(&self) -> Option<u32> {
        self.state.map(|s| s.ssrc)
    }

    /// The RTP clock rate of the stream.
    pub fn clock(&self) -> u32 {
        self.clock
    }

    /// The timestamp the stream would carry at `now`, once anything was sent.
    pub fn ts_now(&self, now: Time) -> Option<u32> {
        self.state.as_ref().map(|st| self.ts_at(st, now))
    }

    /// The timestamp the stream would carry at `now`.
    fn ts_at(&self, st: &State, now: Time) -> u32 {
        let elapsed = now.as_nanos().saturating_sub(st.at.as_nanos());
        let samples = u128::from(elapsed) * u128::from(self.clock) / 1_000_000_000;
        st.ts.wrapping_add(samples as u32)
    }

    /// Rewrite the header of a relayed RTP packet (`hdr`: at least the 12
    /// fixed bytes) sent at `now`.
    pub fn relayed(&mut self, hdr: &mut [u8], now: Time) {
        if hdr.len() < 12 {
            return;
        }
        let seq = u16::from_be_bytes([hdr[2], hdr[3]]);
        let ts = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let ssrc = u32::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
        let Some(mut st) = self.state else {
            self.state = Some(State { ssrc, seq, ts, at: now, src: Source::Relayed(ssrc), seq_off: 0, ts_off: 0 });
            return;
        };
        if st.src != Source::Relayed(ssrc) {
            st.seq_off = st.seq.wrapping_add(1).wrapping_sub(seq);
            st.ts_off = self.ts_at(&st, now).wrapping_sub(ts);
            st.src = Source::Relayed(ssrc);
            hdr[1] |= 0x80;
        }
        let (out_seq, out_ts) = (seq.wrapping_add(st.seq_off), ts.wrapping_add(st.ts_off));
        if st.ssrc != ssrc || st.seq_off != 0 || st.ts_off != 0 {
            hdr[2..4].copy_from_slice(&out_seq.to_be_bytes());
            hdr[4..8].copy_from_slice(&out_ts.to_be_bytes());
            hdr[8..12].copy_from_slice(&st.ssrc.to_be_bytes());
        }
        // Only newer packets move the stream on (a reordered or an event
        // packet, whose timestamp is its start, does not pull it back).
        if (out_seq.wrapping_sub(st.seq) as i16) > 0 {
            st.seq = out_seq;
        }
        if (out_ts.wrapping_sub(st.ts) as i32) > 0 {
            st.ts = out_ts;
            st.at = now;
        }
        self.state = Some(st);
    }

    /// The header of an injected audio frame sent at `now`, `samples` after
    /// the previous injected frame when injection goes on (else placed by
    /// the clock). `seed` names the stream when nothing was sent yet.
    pub fn injected_audio(&mut self, now: Time, samples: u32, seed: u32) -> Header {
        let Some(mut st) = self.state else {
            let (seq, ts) = ((seed >> 16) as u16, seed);
            self.state = Some(State { ssrc: seed, seq, ts, at: now, src: Source::Injected, seq_off: 0, ts_off: 0 });
            return Header { ssrc: seed, seq, ts, marker: true };
        };
        let marker = st.src != Source::Injected;
        let ts = if marker { self.ts_at(&st, now) } else { st.ts.wrapping_add(samples) };
        st.seq = st.seq.wrapping_add(1);
        st.ts = ts;
        st.at = now;
        st.src = Source::Injected;
        self.state = Some(st);
        Header { ssrc: st.ssrc, seq: st.seq, ts, marker }
    }

    /// The timestamp an event starting at `now` carries (RFC 4733: its
    /// start, in the stream's timeline).
    pub fn event_ts(&mut self, now: Time, seed: u32) -> u32 {
        match self.state {
            Some(st) => self.ts_at(&st, now),
            None => {
                let (seq, ts) = (((seed >> 16) as u16).wrapping_sub(1), seed);
                self.state = Some(State { ssrc: seed, seq, ts, at: now, src: Source::Injected, seq_off: 0, ts_off: 0 });
                ts
            }
        }
    }

    /// SSRC and sequence number of an injected event packet (the relayed
    /// audio, if any, continues after it). Call [`Sequencer::event_ts`] first.
    pub fn injected_event(&mut self) -> (u32, u16) {
        let Some(st) = self.state.as_mut() else { return (0, 0) };
        st.seq = st.seq.wrapping_add(1);
        if matches!(st.src, Source::Relayed(_)) {
            st.seq_off = st.seq_off.wrapping_add(1);
        }
        (st.ssrc, st.seq)
    }

    /// The SSRC the peer sees for a relayed source `ssrc` (RTCP sent
    /// toward the peer about, or from, that source).
    pub fn to_peer(&self, ssrc: u32) -> Option<u32> {
        let st = self.state?;
        (st.src == Source::Relayed(ssrc) && st.ssrc != ssrc).then_some(st.ssrc)
    }

    /// The relayed source's own SSRC for the one the peer saw (the peer's
    /// RTCP reports, going back to that source).
    pub fn from_peer(&self, ssrc: u32) -> Option<u32> {
        let st = self.state?;
        match st.src {
            Source::Relayed(src) if st.ssrc == ssrc && src != ssrc => Some(src),
            _ => None,
        }
    }
}

/// Rename the SSRCs of a compound RTCP packet (`p`, unprotected): each
/// sender/source SSRC by `sender`, each report block's by `reported`.
/// Stops quietly at anything malformed.
pub fn rename_rtcp(p: &mut [u8], sender: impl Fn(u32) -> Option<u32>, reported: impl Fn(u32) -> Option<u32>) {
    let mut off = 0;
    while off + 8 <= p.len() {
        let count = usize::from(p[off] & 0x1f);
        let pt = p[off + 1];
        let words = usize::from(u16::from_be_bytes([p[off + 2], p[off + 3]]));
        let end = off + 4 + 4 * words;
        if p[off] >> 6 != 2 || end > p.len() {
            return;
        }
        let mut rename = |at: usize, f: &dyn Fn(u32) -> Option<u32>| {
            if at + 4 <= end {
                let v = u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
                if let Some(n) = f(v) {
                    p[at..at + 4].copy_from_slice(&n.to_be_bytes());
                }
            }
        };
        match pt {
            // SR: sender, 20 bytes of sender info, report blocks; RR: sender, blocks.
            200 | 201 => {
                rename(off + 4, &sender);
                let first = off + if pt == 200 { 28 } else { 8 };
                for i in 0..count {
                    rename(first + 24 * i, &reported);
                }
            }
            // BYE: a list of SSRCs.
            203 => {
                for i in 0..count {
                    rename(off + 4 + 4 * i, &sender);
                }
            }
            // SDES: the first chunk's SSRC (one chunk is what endpoints send).
            202 if count > 0 => rename(off + 4, &sender),
            _ => {}
        }
        off = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rtp(ssrc: u32, seq: u16, ts: u32) -> [u8; 12] {
        let mut h = [0u8; 12];
        h[0] = 0x80;
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&ts.to_be_bytes());
        h[8..12].copy_from_slice(&ssrc.to_be_bytes());
        h
    }

    fn fields(h: &[u8; 12]) -> (u32, u16, u32, bool) {
        (
            u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            u16::from_be_bytes([h[2], h[3]]),
            u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            h[1] & 0x80 != 0,
        )
    }

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn the_first_source_passes_untouched() {
        let mut s = Sequencer::new(8000);
        for i in 0..5u16 {
            let mut h = rtp(0xaaaa, 100 + i, 1000 + 160 * u32::from(i));
            let before = h;
            s.relayed(&mut h, at(20 * u64::from(i)));
            assert_eq!(h, before);
        }
        assert_eq!(s.ssrc(), Some(0xaaaa));
    }

    #[test]
    fn a_second_source_continues_the_first_stream() {
        let mut s = Sequencer::new(8000);
        for i in 0..3u16 {
            s.relayed(&mut rtp(0xaaaa, 100 + i, 1000 + 160 * u32::from(i)), at(20 * u64::from(i)));
        }
        // Another fork answers 100 ms after the last packet.
        let mut h = rtp(0xbbbb, 7, 555);
        s.relayed(&mut h, at(140));
        assert_eq!(fields(&h), (0xaaaa, 103, 1320 + 800, true));
        let mut h = rtp(0xbbbb, 8, 555 + 160);
        s.relayed(&mut h, at(160));
        assert_eq!(fields(&h), (0xaaaa, 104, 1320 + 960, false));
    }

    #[test]
    fn ringback_then_real_audio_is_one_stream() {
        let mut s = Sequencer::new(8000);
        let first = s.injected_audio(at(0), 160, 0x1234_5678);
        let second = s.injected_audio(at(20), 160, 0x1234_5678);
        assert_eq!((second.ssrc, second.seq, second.ts), (first.ssrc, first.seq + 1, first.ts + 160));
        let mut h = rtp(0xcccc, 9000, 77);
        s.relayed(&mut h, at(60));
        assert_eq!(fields(&h), (first.ssrc, first.seq + 2, first.ts + 160 + 320, true));
    }

    #[test]
    fn injected_digits_take_numbers_and_the_audio_after_them_shifts() {
        let mut s = Sequencer::new(8000);
        s.relayed(&mut rtp(0xaaaa, 10, 0), at(0));
        let ts = s.event_ts(at(20), 0);
        assert_eq!(ts, 160);
        assert_eq!(s.injected_event(), (0xaaaa, 11));
        assert_eq!(s.injected_event(), (0xaaaa, 12));
        let mut h = rtp(0xaaaa, 11, 160);
        s.relayed(&mut h, at(20));
        assert_eq!(fields(&h), (0xaaaa, 13, 160, false));
    }

    #[test]
    fn rtcp_follows_the_renaming() {
        let mut s = Sequencer::new(8000);
        s.relayed(&mut rtp(0xaaaa, 1, 0), at(0));
        s.relayed(&mut rtp(0xbbbb, 1, 0), at(20));
        assert_eq!(s.to_peer(0xbbbb), Some(0xaaaa));
        assert_eq!(s.from_peer(0xaaaa), Some(0xbbbb));
        assert_eq!(s.to_peer(0xaaaa), None);
        // An SR from 0xbbbb with one report block about 0x1111, then an RR.
        let mut p = vec![0x81, 200, 0, 12];
        p.extend_from_slice(&0xbbbb_u32.to_be_bytes());
        p.extend_from_slice(&[0; 20]);
        p.extend_from_slice(&0x1111_u32.to_be_bytes());
        p.extend_from_slice(&[0; 20]);
        p.extend_from_slice(&[0x81, 201, 0, 7]);
        p.extend_from_slice(&0xbbbb_u32.to_be_bytes());
        p.extend_from_slice(&0x2222_u32.to_be_bytes());
        p.extend_from_slice(&[0; 20]);
        rename_rtcp(&mut p, |x| s.to_peer(x), |x| (x == 0x2222).then_some(0x3333));
        assert_eq!(p[4..8], 0xaaaa_u32.to_be_bytes());
        assert_eq!(p[28..32], 0x1111_u32.to_be_bytes());
        assert_eq!(p[56..60], 0xaaaa_u32.to_be_bytes());
        assert_eq!(p[60..64], 0x3333_u32.to_be_bytes());
        // Truncated or garbage: nothing breaks.
        let mut junk = vec![0x81, 200, 0xff, 0xff, 1, 2];
        rename_rtcp(&mut junk, |x| s.to_peer(x), |_| None);
    }
}
