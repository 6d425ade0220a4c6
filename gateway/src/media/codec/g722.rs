//! ITU-T G.722 sub-band ADPCM at 64 kbit/s, written from the recommendation.
//!
//! Contract: [`G722Encoder::encode`] takes 16-bit linear samples at 16 kHz
//! (an even count: the QMF works on pairs; an odd trailing sample is
//! ignored) and writes one byte per pair (bits 7-6 the 2-bit higher-band
//! code, bits 5-0 the 6-bit lower-band code); [`G722Decoder::decode`] takes
//! such bytes and writes two samples per byte. Both return the count
//! written, stop at the shorter of input and output, never panic and never
//! allocate; every byte is a valid code, so decoding is total.
//!
//! Blocks, in the recommendation's names: the 24-tap transmit/receive QMF,
//! then per band SUBTRA/QUANTL (or QUANTH), INVQAL/INVQAH, LOGSCL/LOGSCH,
//! SCALEL/SCALEH and the shared adaptive predictor (RECONS, PARREC, UPPOL1,
//! UPPOL2, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC). The algorithm runs on
//! 15-bit samples as the recommendation does: the QMF's gain (4096 for
//! the coefficient sum, 2 for summing the two polyphase branches) and the
//! 16- to 15-bit step are one right shift by 14 on the way in and 11 on
//! the way out. This is the scaling spandsp uses for its 16-bit interface;
//! `sim/tests/g722_spandsp.rs` checks bit-exactness against it on tones,
//! chirps and noise: the encoders give identical bytes, the decoders
//! identical samples, except that our receive QMF saturates its output to
//! 16 bits where spandsp's wraps (only on full-scale signals).

/// The QMF coefficients of one polyphase branch (the filter is symmetric:
/// h[i] = h[23 - i]; the even taps are this table, the odd ones reversed).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// QUANTL decision levels (magnitudes of the 6-bit lower-band quantiser, in det/4096 units).
const Q6: [i32; 30] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940, 1023, 1121, 1219, 1339,
    1458, 1612, 1765, 1980, 2195, 2557, 2919,
];
/// The 6-bit lower-band code of decision interval i for a negative / non-negative error.
const ILN: [u8; 31] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
];
const ILP: [u8; 31] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34,
    33, 32,
];
/// INVQBL: the 6-bit lower-band reconstruction levels (decoder output path).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360, -8576,
    -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040,
    -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
    4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// INVQAL: the 4-bit (truncated) lower-band reconstruction levels that drive adaptation.
const QM4: [i32; 16] =
    [0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0];
/// LOGSCL: the 4-bit code's magnitude class, and the log step adjustment per class.
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// SCALEL/SCALEH: 2048 * 2^(i/32), the mantissa of the inverse log.
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025,
    3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// INVQAH: the 2-bit higher-band reconstruction levels; LOGSCH's class and step.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const RH2: [usize; 4] = [2, 1, 2, 1];
const WH: [i32; 3] = [0, -214, 798];
/// QUANTH's single decision level (det/4096 units).
const Q2: i32 = 564;

#[inline]
fn sat16(v: i32) -> i32 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// Is the 16-bit value negative (the recommendation's sign bit)?
#[inline]
fn neg(v: i32) -> bool {
    v < 0
}

/// The adaptive state of one sub-band (identical in encoder and decoder).
#[derive(Debug, Clone)]
struct Band {
    /// Predicted signal (PREDIC) and its zero-section part (FILTEZ).
    s: i32,
    sz: i32,
    /// Log scale factor (nbl/nbh) and linear scale factor (det).
    nb: i32,
    det: i32,
    /// Pole section: coefficients a1, a2 and the last two reconstructed
    /// signals r and partial reconstructions p (index 0 = newest).
    a: [i32; 2],
    r: [i32; 2],
    p: [i32; 2],
    /// Zero section: six coefficients and the last six quantised differences.
    b: [i32; 6],
    d: [i32; 6],
}

impl Band {
    fn new(det: i32) -> Band {
        Band { s: 0, sz: 0, nb: 0, det, a: [0; 2], r: [0; 2], p: [0; 2], b: [0; 6], d: [0; 6] }
    }

    /// LOGSCL/LOGSCH then SCALEL/SCALEH: update the log scale factor by
    /// `step`, bounded to `max`, and derive det (`shift` is 8 for the lower
    /// band, 10 for the higher band).
    fn adapt_scale(&mut self, step: i32, max: i32, shift: i32) {
        self.nb = (((self.nb * 127) >> 7) + step).clamp(0, max);
        let mant = ILB[((self.nb >> 6) & 31) as usize];
        let exp = shift - (self.nb >> 11);
        let lin = if exp < 0 { mant << -exp } else { mant >> exp };
        self.det = lin << 2;
    }

    /// INVQAL, LOGSCL, SCALEL and the predictor after a 6-bit lower-band
    /// code (adaptation sees only its 4 most significant bits).
    fn adapt_low(&mut self, il: u8) {
        let ril = usize::from(il >> 2);
        let dq = (self.det * QM4[ril]) >> 15;
        self.adapt_scale(WL[RL42[ril]], 18432, 8);
        self.predict(dq);
    }

    /// INVQAH, LOGSCH, SCALEH and the predictor after a 2-bit higher-band code.
    fn adapt_high(&mut self, ih: u8) {
        let ih = usize::from(ih);
        let dq = (self.det * QM2[ih]) >> 15;
        self.adapt_scale(WH[RH2[ih]], 22528, 10);
        self.predict(dq);
    }

    /// The adaptive predictor, fed with the quantised difference `dq`.
    fn predict(&mut self, dq: i32) {
        // RECONS and PARREC.
        let r = sat16(self.s + dq);
        let p = sat16(self.sz + dq);

        // UPPOL2: the second pole coefficient.
        let a1x4 = sat16(self.a[0] << 2);
        let w = if neg(p) == neg(self.p[0]) { -a1x4 } else { a1x4 }.min(32767);
        let mut a2 = (w >> 7) + if neg(p) == neg(self.p[1]) { 128 } else { -128 };
        a2 += (self.a[1] * 32512) >> 15;
        let a2 = a2.clamp(-12288, 12288);

        // UPPOL1: the first pole coefficient, bounded by the new a2.
        let step = if neg(p) == neg(self.p[0]) { 192 } else { -192 };
        let a1 = sat16(step + ((self.a[0] * 32640) >> 15));
        let lim = sat16(15360 - a2);
        let a1 = a1.clamp(-lim, lim);

        // UPZERO: the six zero coefficients (sign-sign, leaky).
        let gain = if dq == 0 { 0 } else { 128 };
        for (b, &d) in self.b.iter_mut().zip(&self.d) {
            let g = if neg(dq) == neg(d) { gain } else { -gain };
            *b = sat16(g + ((*b * 32640) >> 15));
        }

        // DELAYA.
        self.d.copy_within(0..5, 1);
        self.d[0] = dq;
        self.p = [p, self.p[0]];
        self.r = [r, self.r[0]];
        self.a = [a1, a2];

        // FILTEP, FILTEZ, PREDIC.
        let sp = sat16(((self.a[0] * sat16(self.r[0] * 2)) >> 15) + ((self.a[1] * sat16(self.r[1] * 2)) >> 15));
        let mut sz = 0;
        for (&b, &d) in self.b.iter().zip(&self.d).rev() {
            sz += (b * sat16(d * 2)) >> 15;
        }
        self.sz = sat16(sz);
        self.s = sat16(sp + self.sz);
    }
}

/// The lower band's first det (SCALEL at reset) and the higher band's.
const DET_LOW: i32 = 32;
const DET_HIGH: i32 = 8;

/// The state an encoder and a decoder both keep: the QMF's delay line (the
/// last 24 input samples, oldest first, for the encoder; sum and difference
/// signals for the decoder) and the two bands.
#[derive(Debug, Clone)]
struct SubBands {
    x: [i32; 24],
    low: Band,
    high: Band,
}

impl Default for SubBands {
    fn default() -> Self {
        SubBands { x: [0; 24], low: Band::new(DET_LOW), high: Band::new(DET_HIGH) }
    }
}

/// G.722 64 kbit/s encoder state (16 kHz in, 8000 bytes/s out).
#[derive(Debug, Clone, Default)]
pub struct G722Encoder(SubBands);

impl G722Encoder {
    pub fn new() -> G722Encoder {
        G722Encoder::default()
    }

    /// Encode sample pairs into `out`; returns the bytes written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = (pcm.len() / 2).min(out.len());
        for (pair, code) in pcm.chunks_exact(2).zip(out.iter_mut()).take(n) {
            let (xl, xh) = self.analysis(i32::from(pair[0]), i32::from(pair[1]));
            *code = (self.encode_high(xh) << 6) | self.encode_low(xl);
        }
        n
    }

    /// Transmit QMF: two input samples in, one lower- and one higher-band sample out.
    fn analysis(&mut self, first: i32, second: i32) -> (i32, i32) {
        self.0.x.copy_within(2.., 0);
        self.0.x[22] = first;
        self.0.x[23] = second;
        let (mut odd, mut even) = (0, 0);
        for (i, &q) in QMF.iter().enumerate() {
            odd += self.0.x[2 * i] * q;
            even += self.0.x[2 * i + 1] * QMF[11 - i];
        }
        ((even + odd) >> 14, (even - odd) >> 14)
    }

    /// SUBTRA, QUANTL, INVQAL, LOGSCL, SCALEL and the predictor: the 6-bit code.
    fn encode_low(&mut self, xl: i32) -> u8 {
        let band = &mut self.0.low;
        let el = sat16(xl - band.s);
        let mag = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < Q6.len() && mag >= (Q6[i] * band.det) >> 12 {
            i += 1;
        }
        let il = if el < 0 { ILN[i] } else { ILP[i] };
        band.adapt_low(il);
        il
    }

    /// SUBTRA, QUANTH, INVQAH, LOGSCH, SCALEH and the predictor: the 2-bit code.
    fn encode_high(&mut self, xh: i32) -> u8 {
        let band = &mut self.0.high;
        let eh = sat16(xh - band.s);
        let mag = if eh >= 0 { eh } else { -(eh + 1) };
        let outer = mag >= (Q2 * band.det) >> 12;
        let ih: u8 = match (eh < 0, outer) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        band.adapt_high(ih);
        ih
    }
}

/// G.722 64 kbit/s decoder state (8000 bytes/s in, 16 kHz out).
#[derive(Debug, Clone, Default)]
pub struct G722Decoder(SubBands);

impl G722Decoder {
    pub fn new() -> G722Decoder {
        G722Decoder::default()
    }

    /// Decode bytes into sample pairs in `pcm`; returns the samples written.
    pub fn decode(&mut self, codes: &[u8], pcm: &mut [i16]) -> usize {
        let n = codes.len().min(pcm.len() / 2);
        for (&code, pair) in codes.iter().zip(pcm.chunks_exact_mut(2)).take(n) {
            let rl = self.decode_low(code & 0x3F);
            let rh = self.decode_high(code >> 6);
            let (a, b) = self.synthesis(rl, rh);
            pair[0] = a;
            pair[1] = b;
        }
        2 * n
    }

    /// INVQBL, RECONS, LIMIT for the output; INVQAL, LOGSCL, SCALEL and the predictor.
    fn decode_low(&mut self, il: u8) -> i32 {
        let band = &mut self.0.low;
        let rl = (band.s + ((band.det * QM6[usize::from(il)]) >> 15)).clamp(-16384, 16383);
        band.adapt_low(il);
        rl
    }

    /// INVQAH, RECONS, LIMIT; LOGSCH, SCALEH and the predictor.
    fn decode_high(&mut self, ih: u8) -> i32 {
        let band = &mut self.0.high;
        let rh = (band.s + ((band.det * QM2[usize::from(ih & 3)]) >> 15)).clamp(-16384, 16383);
        band.adapt_high(ih & 3);
        rh
    }

    /// Receive QMF: one lower- and one higher-band sample in, two output samples out.
    fn synthesis(&mut self, rl: i32, rh: i32) -> (i16, i16) {
        self.0.x.copy_within(2.., 0);
        self.0.x[22] = rl + rh;
        self.0.x[23] = rl - rh;
        let (mut first, mut second) = (0, 0);
        for (i, &q) in QMF.iter().enumerate() {
            second += self.0.x[2 * i] * q;
            first += self.0.x[2 * i + 1] * QMF[11 - i];
        }
        (sat16(first >> 11) as i16, sat16(second >> 11) as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ilb_is_the_inverse_log_mantissa() {
        for (i, &v) in ILB.iter().enumerate() {
            let want = (2048.0 * 2f64.powf(i as f64 / 32.0)).round() as i32;
            assert_eq!(v, want, "ILB[{i}]");
        }
    }

    #[test]
    fn quantiser_tables_agree() {
        // Every non-negative code reconstructs positive, every negative one negative,
        // with magnitudes increasing along the decision intervals.
        for i in 1..ILP.len() {
            assert!(QM6[usize::from(ILP[i])] > 0 && QM6[usize::from(ILN[i])] < 0, "interval {i}");
            assert_eq!(QM6[usize::from(ILP[i])], -QM6[usize::from(ILN[i])], "interval {i}");
            if i > 1 {
                assert!(QM6[usize::from(ILP[i])] > QM6[usize::from(ILP[i - 1])]);
            }
        }
        assert_eq!(QMF.iter().sum::<i32>() * 2, 8192);
    }

    #[test]
    fn silence_encodes_and_decodes_quietly() {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let pcm = [0i16; 320];
        let mut codes = [0u8; 160];
        assert_eq!(enc.encode(&pcm, &mut codes), 160);
        let mut out = [1i16; 320];
        assert_eq!(dec.decode(&codes, &mut out), 320);
        assert!(out.iter().all(|&s| s.abs() < 16), "{out:?}");
    }

    #[test]
    fn lengths_stop_at_the_shorter_side() {
        let mut enc = G722Encoder::new();
        let mut codes = [0u8; 4];
        assert_eq!(enc.encode(&[0; 11], &mut codes), 4);
        assert_eq!(enc.encode(&[0; 5], &mut codes), 2);
        let mut dec = G722Decoder::new();
        let mut pcm = [0i16; 5];
        assert_eq!(dec.decode(&[0xFF; 8], &mut pcm), 4);
        assert_eq!(dec.decode(&[], &mut pcm), 0);
    }
}
