//! ITU-T G.711 companding: μ-law (North America, Japan) and A-law (the
//! rest of the world), between 8-bit codes and 16-bit linear samples.
//!
//! Contract: every function is total (any `i16` or `u8` in, a value out, no
//! panic) and allocation-free; the slice helpers convert
//! `min(src.len(), dst.len())` samples and return that count. The linear
//! scale is the common 16-bit one (the Sun/CCITT reference `g711.c`):
//! μ-law decodes to ±32124 at most (its 14-bit range × 4), A-law to ±32256
//! (its 13-bit range × 8); encoding clips anything beyond to the largest
//! code. Decoding is a 256-entry table; μ-law <-> A-law conversion is a
//! 256-entry table equal to decoding with one law and encoding with the other
//! (computed at compile time by `const fn`). μ-law has two zero codes: 0xFF
//! (+0) and 0x7F (-0); both decode to 0 and 0 encodes to 0xFF.

/// Added to the μ-law magnitude (in 14-bit units) before the segment search.
const ULAW_BIAS: i32 = 0x84 >> 2;
/// The largest μ-law magnitude in 14-bit units; beyond it the code saturates.
const ULAW_CLIP: i32 = 8159;

/// Encode one 16-bit linear sample as a μ-law code.
pub const fn ulaw_encode(sample: i16) -> u8 {
    // 14-bit magnitude; negatives by one's complement (-1..=-4 -> 0), so the
    // decision intervals are symmetric around zero.
    let s = sample as i32;
    let (mut v, mask): (i32, u8) = if s < 0 { (!s >> 2, 0x7F) } else { (s >> 2, 0xFF) };
    if v > ULAW_CLIP {
        v = ULAW_CLIP;
    }
    v += ULAW_BIAS;
    // Segment s covers biased magnitudes up to (0x40 << s) - 1: bit length - 6.
    let bits = 32 - v.leading_zeros() as i32;
    let seg = if bits > 6 { bits - 6 } else { 0 };
    let code = if seg >= 8 { 0x7F } else { ((seg << 4) | ((v >> (seg + 1)) & 0x0F)) as u8 };
    code ^ mask
}

const fn ulaw_decode_calc(code: u8) -> i16 {
    let u = !code;
    let t = ((((u & 0x0F) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// Encode one 16-bit linear sample as an A-law code.
pub const fn alaw_encode(sample: i16) -> u8 {
    // 13-bit magnitude; negatives are folded as -v - 1 (A-law has no zero code).
    let mut v = (sample as i32) >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    // Segment s covers magnitudes up to (0x20 << s) - 1: bit length - 5.
    let bits = 32 - v.leading_zeros() as i32;
    let seg = if bits > 5 { bits - 5 } else { 0 };
    let code = if seg >= 8 {
        0x7F
    } else {
        let shift = if seg < 2 { 1 } else { seg };
        ((seg << 4) | ((v >> shift) & 0x0F)) as u8
    };
    code ^ mask
}

const fn alaw_decode_calc(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    t += if seg == 0 { 8 } else { 0x108 };
    if seg > 1 {
        t <<= seg - 1;
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn decode_table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw { alaw_decode_calc(i as u8) } else { ulaw_decode_calc(i as u8) };
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = decode_table(false);
static ALAW_DECODE: [i16; 256] = decode_table(true);

const fn transcode_table(from_alaw: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if from_alaw { ulaw_encode(alaw_decode_calc(i as u8)) } else { alaw_encode(ulaw_decode_calc(i as u8)) };
        i += 1;
    }
    t
}

static ULAW_TO_ALAW: [u8; 256] = transcode_table(false);
static ALAW_TO_ULAW: [u8; 256] = transcode_table(true);

/// Decode one μ-law code to a 16-bit linear sample (±32124 at most).
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Decode one A-law code to a 16-bit linear sample (±32256 at most).
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Convert a μ-law code to the A-law code of its decoded value.
#[inline]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW[code as usize]
}

/// Convert an A-law code to the μ-law code of its decoded value.
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[code as usize]
}

/// Decode μ-law codes into `dst`; returns the samples written (the shorter length).
pub fn decode_ulaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (d, &s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = ulaw_decode(s);
    }
    n
}

/// Encode samples into μ-law codes in `dst`; returns the codes written (the shorter length).
pub fn encode_ulaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (d, &s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = ulaw_encode(s);
    }
    n
}

/// Decode A-law codes into `dst`; returns the samples written (the shorter length).
pub fn decode_alaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (d, &s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = alaw_decode(s);
    }
    n
}

/// Encode samples into A-law codes in `dst`; returns the codes written (the shorter length).
pub fn encode_alaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (d, &s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = alaw_encode(s);
    }
    n
}

/// Rewrite a buffer of μ-law codes as A-law, in place.
pub fn transcode_ulaw_to_alaw(buf: &mut [u8]) {
    for b in buf {
        *b = ulaw_to_alaw(*b);
    }
}

/// Rewrite a buffer of A-law codes as μ-law, in place.
pub fn transcode_alaw_to_ulaw(buf: &mut [u8]) {
    for b in buf {
        *b = alaw_to_ulaw(*b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_reference_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        // The boundaries and everything beyond them take the extreme codes.
        assert_eq!(ulaw_encode(32124), 0x80);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(-32124), 0x00);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        // The smallest steps: ±8 are the first codes off zero.
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_encode(8), 0xFE);
        assert_eq!(ulaw_encode(-8), 0x7E);
    }

    #[test]
    fn alaw_reference_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn decode_is_odd_symmetric_and_monotonic() {
        for c in 0..=255u8 {
            assert_eq!(ulaw_decode(c), -ulaw_decode(c ^ 0x80), "ulaw {c:#04x}");
            assert_eq!(alaw_decode(c), -alaw_decode(c ^ 0x80), "alaw {c:#04x}");
        }
        // Positive μ-law codes 0xFF..=0x80 increase in magnitude; A-law by its
        // even-bit-inverted index.
        for c in 0x81..=0xFFu8 {
            assert!(ulaw_decode(c) < ulaw_decode(c - 1));
        }
        for i in 1..128u8 {
            let (lo, hi) = (((i - 1) | 0x80) ^ 0x55, (i | 0x80) ^ 0x55);
            assert!(alaw_decode(lo) < alaw_decode(hi));
        }
    }

    #[test]
    fn encode_decode_round_trip_all_codes() {
        for c in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(c));
            // 0x7F is μ-law's negative zero: it decodes to 0, which encodes as 0xFF.
            if c == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, c, "ulaw {c:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(c)), c, "alaw {c:#04x}");
        }
    }

    #[test]
    fn decoded_levels_sit_mid_decision_interval() {
        // The inputs that encode to one code form an interval; its decoded
        // level is at its middle (within half a unit: the intervals have an
        // even width), except at the clipping codes and μ-law's zeros.
        for (law, encode, decode) in
            [("ulaw", ulaw_encode as fn(i16) -> u8, ulaw_decode as fn(u8) -> i16), ("alaw", alaw_encode, alaw_decode)]
        {
            let mut lo = [i32::MAX; 256];
            let mut hi = [i32::MIN; 256];
            for s in i16::MIN..=i16::MAX {
                let c = usize::from(encode(s));
                lo[c] = lo[c].min(i32::from(s));
                hi[c] = hi[c].max(i32::from(s));
            }
            for c in 0..256 {
                let d = i32::from(decode(c as u8));
                let off = 2 * d - lo[c] - hi[c];
                match (law, c) {
                    ("ulaw", 0x00) => assert_eq!((lo[c], hi[c], d), (-32768, -31613, -32124)),
                    ("ulaw", 0x80) => assert_eq!((lo[c], hi[c], d), (31612, 32767, 32124)),
                    ("ulaw", 0x7F) => assert_eq!((lo[c], hi[c], d), (-4, -1, 0)),
                    ("ulaw", 0xFF) => assert_eq!((lo[c], hi[c], d), (0, 3, 0)),
                    _ => assert_eq!(off, 1, "{law} {c:#04x}: [{}, {}] -> {d}", lo[c], hi[c]),
                }
            }
        }
    }

    /// The ITU-T G.191 reference encoders (`g711.c`, `ulaw_compress` and
    /// `alaw_compress`), transcribed literally.
    fn g191_ulaw(x: i16) -> u8 {
        let x = i32::from(x);
        let absno = (if x < 0 { (!x) >> 2 } else { x >> 2 } + 33).min(0x1FFF);
        let (mut i, mut segno) = (absno >> 6, 1);
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high = 8 - segno;
        let low = 0x0F - ((absno >> segno) & 0x0F);
        let code = ((high << 4) | low) as u8;
        if x >= 0 {
            code | 0x80
        } else {
            code
        }
    }

    fn g191_alaw(x: i16) -> u8 {
        let x = i32::from(x);
        let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if x >= 0 {
            ix |= 0x80;
        }
        (ix ^ 0x55) as u8
    }

    #[test]
    fn encoders_match_the_g191_reference_for_every_input() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), g191_ulaw(s), "ulaw {s}");
            assert_eq!(alaw_encode(s), g191_alaw(s), "alaw {s}");
        }
    }

    #[test]
    fn transcode_tables_are_decode_then_encode() {
        for c in 0..=255u8 {
            assert_eq!(ulaw_to_alaw(c), alaw_encode(ulaw_decode(c)), "u->a {c:#04x}");
            assert_eq!(alaw_to_ulaw(c), ulaw_encode(alaw_decode(c)), "a->u {c:#04x}");
        }
        let mut buf: Vec<u8> = (0..=255).collect();
        transcode_ulaw_to_alaw(&mut buf);
        for (c, &a) in buf.iter().enumerate() {
            assert_eq!(a, ulaw_to_alaw(c as u8));
        }
        transcode_alaw_to_ulaw(&mut buf);
        for (c, &u) in buf.iter().enumerate() {
            assert_eq!(u, alaw_to_ulaw(ulaw_to_alaw(c as u8)));
        }
    }

    #[test]
    fn slice_helpers_stop_at_the_shorter_side() {
        let src = [0i16, 1000, -1000, 32767];
        let mut codes = [0u8; 3];
        assert_eq!(encode_ulaw(&src, &mut codes), 3);
        assert_eq!(codes, [0xFF, ulaw_encode(1000), ulaw_encode(-1000)]);
        let mut out = [7i16; 5];
        assert_eq!(decode_ulaw(&codes, &mut out), 3);
        assert_eq!(out, [0, ulaw_decode(codes[1]), ulaw_decode(codes[2]), 7, 7]);
        assert_eq!(encode_alaw(&src, &mut codes), 3);
        assert_eq!(codes, [0xD5, alaw_encode(1000), alaw_encode(-1000)]);
        assert_eq!(decode_alaw(&codes[..2], &mut out), 2);
        assert_eq!(out[..2], [8, alaw_decode(codes[1])]);
        assert_eq!(decode_alaw(&[], &mut out), 0);
        assert_eq!(encode_alaw(&src, &mut []), 0);
    }

    /// SNR (dB) of a 1 kHz sine at `dbm0` through encode/decode with one law.
    fn sine_snr(dbm0: f64, encode: fn(i16) -> u8, decode: fn(u8) -> i16) -> f64 {
        let amp = f64::from(crate::media::tone::DBM0_PEAK) * 10f64.powf(dbm0 / 20.0);
        let (mut sig, mut err) = (0.0, 0.0);
        for n in 0..8000 {
            // A small phase offset so the 8 sample phases are not the sine's zeros.
            let x = (amp * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 8000.0 + 0.3).sin()).round();
            let y = f64::from(decode(encode(x as i16)));
            sig += x * x;
            err += (y - x) * (y - x);
        }
        10.0 * (sig / err).log10()
    }

    #[test]
    fn sine_round_trip_snr_above_35_db() {
        let u = sine_snr(-10.0, ulaw_encode, ulaw_decode);
        let a = sine_snr(-10.0, alaw_encode, alaw_decode);
        assert!(u > 35.0, "ulaw SNR {u:.2} dB");
        assert!(a > 35.0, "alaw SNR {a:.2} dB");
    }
}
