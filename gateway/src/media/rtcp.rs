//! RTCP the gateway terminates on a leg (RFC 3550): what it learns from
//! the RTP it receives, what it reads in the peer's reports, and the
//! compound SR/RR + SDES packets it sends in their place.
//!
//! Contract: [`Reception`] follows one incoming RTP stream (RFC 3550
//! A.1 sequence accounting, A.8 interarrival jitter) and gives the report
//! block about it; [`Reception::on_sender_report`] keeps what a
//! report block's LSR/DLSR need. [`compound`] writes an SR (when the
//! gateway sent RTP on the leg) or an RR, with at most one report block,
//! and an SDES CNAME chunk, into a caller's buffer. [`read_reports`]
//! walks a received compound packet for its sender reports and the report
//! blocks (what the peer says of the stream the gateway sends it). Pure:
//! time comes in as an argument; the NTP timestamp is the caller's.

use crate::time::Time;

/// The CNAME the gateway's RTCP carries (RFC 7022 allows a per-session
/// random one; a fixed one hides nothing of the network behind it).
pub const CNAME: &[u8] = b"bridgehead";

/// Sequence numbers a stream may jump before it is treated as restarted
/// (RFC 3550 A.1's MAX_DROPOUT / MAX_MISORDER).
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// One incoming RTP stream, as RFC 3550 appendix A.1 and A.8 count it.
#[derive(Debug, Clone, Default)]
pub struct Reception {
    ssrc: Option<u32>,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the last packet, in RTP clock units.
    transit: Option<i64>,
    /// Interarrival jitter, scaled by 16 (A.8).
    jitter: u32,
    /// The middle 32 bits of the NTP timestamp of the last SR, and when it came.
    last_sr: Option<(u32, Time)>,
}

impl Reception {
    /// An RTP packet (`ssrc`, `seq`, `ts`) arrived at `now`; `clock` is
    /// its RTP clock rate. A new SSRC starts the accounting over.
    pub fn on_rtp(&mut self, ssrc: u32, seq: u16, ts: u32, now: Time, clock: u32) {
        if self.ssrc != Some(ssrc) {
            *self = Reception { ssrc: Some(ssrc), base_seq: u32::from(seq), max_seq: seq, ..Reception::default() };
            self.received = 1;
            self.transit = Some(arrival_units(now, clock) - i64::from(ts));
            return;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A very large jump: the sender restarted its numbering.
            self.base_seq = u32::from(seq);
            self.max_seq = seq;
            self.cycles = 0;
            self.received = 0;
            self.expected_prior = 0;
            self.received_prior = 0;
        }
        self.received = self.received.wrapping_add(1);
        let transit = arrival_units(now, clock) - i64::from(ts);
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs().min(u64::from(u32::MAX)) as u32;
            // J += (|D| - J) / 16, with J kept scaled by 16.
            self.jitter = self.jitter.wrapping_add(d).wrapping_sub((self.jitter + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// An SR from the stream's sender: `ntp` its 64-bit NTP timestamp.
    pub fn on_sender_report(&mut self, ntp: u64, now: Time) {
        self.last_sr = Some(((ntp >> 16) as u32, now));
    }

    /// The SSRC followed, once a packet came.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Packets received so far.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// The report block about this stream at `now` (RFC 3550 6.4.1), and
    /// the interval counters move on; `None` before any packet.
    pub fn report_block(&mut self, now: Time) -> Option<[u8; 24]> {
        let ssrc = self.ssrc?;
        let extended = self.cycles | u32::from(self.max_seq);
        let expected = extended.wrapping_sub(self.base_seq).wrapping_add(1);
        let lost = i64::from(expected) - i64::from(self.received);
        let lost = lost.clamp(-0x80_0000, 0x7f_ffff) as i32;
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((mid, at)) => {
                let delay = now.as_nanos().saturating_sub(at.as_nanos());
                (mid, (u128::from(delay) * 65_536 / 1_000_000_000).min(u128::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        let mut b = [0u8; 24];
        b[0..4].copy_from_slice(&ssrc.to_be_bytes());
        b[4] = fraction;
        b[5..8].copy_from_slice(&lost.to_be_bytes()[1..4]);
        b[8..12].copy_from_slice(&extended.to_be_bytes());
        b[12..16].copy_from_slice(&(self.jitter >> 4).to_be_bytes());
        b[16..20].copy_from_slice(&lsr.to_be_bytes());
        b[20..24].copy_from_slice(&dlsr.to_be_bytes());
        Some(b)
    }
}

/// `now` in units of a `clock` Hz RTP clock.
fn arrival_units(now: Time, clock: u32) -> i64 {
    (u128::from(now.as_nanos()) * u128::from(clock) / 1_000_000_000) as i64
}

/// What the gateway sent on a leg, for its SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp (seconds since 1900 in the high 32 bits).
    pub ntp: u64,
    pub rtp_ts: u32,
    pub packets: u32,
    pub octets: u32,
}

/// Write a compound RTCP packet into `out` (cleared first): an SR from
/// `ssrc` when `sender` is given, else an RR; `block` as its report
/// block; then SDES with [`CNAME`].
pub fn compound(ssrc: u32, sender: Option<SenderInfo>, block: Option<[u8; 24]>, out: &mut Vec<u8>) {
    out.clear();
    let count = u8::from(block.is_some());
    let words: u16 = 1 + if sender.is_some() { 5 } else { 0 } + if block.is_some() { 6 } else { 0 };
    out.extend_from_slice(&[0x80 | count, if sender.is_some() { 200 } else { 201 }]);
    out.extend_from_slice(&words.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(s) = sender {
        out.extend_from_slice(&s.ntp.to_be_bytes());
        out.extend_from_slice(&s.rtp_ts.to_be_bytes());
        out.extend_from_slice(&s.packets.to_be_bytes());
        out.extend_from_slice(&s.octets.to_be_bytes());
    }
    if let Some(b) = block {
        out.extend_from_slice(&b);
    }
    // SDES: one chunk (SSRC, CNAME item, end, padding to 32 bits).
    let item = 2 + CNAME.len();
    let chunk = 4 + item + 1;
    let padded = chunk.div_ceil(4) * 4;
    out.extend_from_slice(&[0x81, 202]);
    out.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&[1, CNAME.len() as u8]);
    out.extend_from_slice(CNAME);
    out.resize(out.len() + padded - chunk + 1, 0);
}

/// What a received compound packet says: each SR's sender SSRC and NTP
/// timestamp, and each report block's (SSRC, fraction lost, jitter).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reports {
    pub sender_reports: Vec<(u32, u64)>,
    pub blocks: Vec<(u32, u8, u32)>,
}

/// Read the SRs and report blocks of a compound packet; stops at
/// anything malformed (what was read so far is kept). At most 31 blocks
/// a packet, as the count field allows.
pub fn read_reports(p: &[u8]) -> Reports {
    let mut r = Reports::default();
    let mut off = 0;
    while off + 8 <= p.len() {
        let count = usize::from(p[off] & 0x1f);
        let pt = p[off + 1];
        let end = off + 4 + 4 * usize::from(u16::from_be_bytes([p[off + 2], p[off + 3]]));
        if p[off] >> 6 != 2 || end > p.len() {
            break;
        }
        let word = |at: usize| u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
        let first = match pt {
            200 if off + 28 <= end => {
                let ntp = u64::from(word(off + 8)) << 32 | u64::from(word(off + 12));
                r.sender_reports.push((word(off + 4), ntp));
                Some(off + 28)
            }
            201 => Some(off + 8),
            _ => None,
        };
        if let Some(first) = first {
            for i in 0..count {
                let b = first + 24 * i;
                if b + 24 > end {
                    break;
                }
                r.blocks.push((word(b), p[b + 4], word(b + 12)));
            }
        }
        off = end;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn loss_and_jitter_are_counted_as_rfc_3550_says() {
        let mut r = Reception::default();
        assert!(r.report_block(at(0)).is_none());
        // 100 packets, 20 ms apart, seq 65500.. (wrapping), every 10th lost.
        for i in 0..100u32 {
            if i % 10 == 9 {
                continue;
            }
            let seq = 65_500u16.wrapping_add(i as u16);
            r.on_rtp(0xabcd, seq, 160 * i, at(20 * u64::from(i)), 8000);
        }
        let b = r.report_block(at(2000)).expect("block");
        assert_eq!(&b[0..4], &0xabcd_u32.to_be_bytes());
        assert_eq!(b[4], (9 * 256 / 99) as u8, "fraction lost: 9 of the 99 expected");
        let lost = i32::from_be_bytes([0, b[5], b[6], b[7]]);
        assert_eq!(lost, 9, "seq 65500..65598: 99 expected, 90 received");
        let extended = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        assert_eq!(extended, 65_536 + (65_598 - 65_536), "one wrap");
        assert_eq!(u32::from_be_bytes([b[12], b[13], b[14], b[15]]), 0, "perfectly paced: no jitter");
        // The next interval: nothing lost but the last packet of the one
        // before (seq 65599), known lost once later ones arrive.
        for i in 100..150u32 {
            r.on_rtp(0xabcd, 65_500u16.wrapping_add(i as u16), 160 * i, at(20 * u64::from(i) + u64::from(i % 3)), 8000);
        }
        let b = r.report_block(at(3000)).expect("block");
        assert_eq!(b[4], (256 / 51) as u8);
        assert!(u32::from_be_bytes([b[12], b[13], b[14], b[15]]) > 0, "jittery arrivals");
    }

    #[test]
    fn lsr_and_dlsr_follow_the_last_sender_report() {
        let mut r = Reception::default();
        r.on_rtp(1, 1, 0, at(0), 8000);
        r.on_sender_report(0x1122_3344_5566_7788, at(1000));
        let b = r.report_block(at(1500)).expect("block");
        assert_eq!(&b[16..20], &0x3344_5566_u32.to_be_bytes());
        assert_eq!(u32::from_be_bytes([b[20], b[21], b[22], b[23]]), 32_768, "0.5 s in 1/65536 s");
    }

    #[test]
    fn compound_packets_read_back() {
        let mut out = Vec::new();
        let mut r = Reception::default();
        r.on_rtp(0x5555, 7, 0, at(0), 8000);
        let sender = SenderInfo { ntp: 0xdead_beef_0000_0001, rtp_ts: 99, packets: 10, octets: 1600 };
        compound(0x1234, Some(sender), r.report_block(at(10)), &mut out);
        assert_eq!(out.len() % 4, 0);
        assert_eq!(out.len(), 4 * (2 + 5 + 6) + 4 * (1 + 1 + 3 + 1), "SR with a block, SDES with CNAME");
        let got = read_reports(&out);
        assert_eq!(got.sender_reports, vec![(0x1234, 0xdead_beef_0000_0001)]);
        assert_eq!(got.blocks, vec![(0x5555, 0, 0)]);
        compound(0x1234, None, None, &mut out);
        assert_eq!((out[0], out[1]), (0x80, 201));
        assert_eq!(read_reports(&out), Reports::default());
        // Garbage and truncation: no panic, nothing invented.
        assert_eq!(read_reports(&[0x81, 201, 0xff, 0xff, 0, 0, 0, 0]), Reports::default());
        assert_eq!(read_reports(&out[..out.len() - 1]).sender_reports, Vec::new());
    }
}
