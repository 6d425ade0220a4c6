//! Tone generation: ringback, in-band DTMF and test tones, as 16-bit linear
//! samples at any rate.
//!
//! Contract: a [`Tone`] is one or two sine components (frequency in Hz,
//! level in dBm0 each) at a sample rate; a [`Cadence`] is a repeating on/off
//! pattern in milliseconds; a [`ToneGenerator`] plays a tone through a
//! cadence into caller-provided slices ([`ToneGenerator::fill`]) without
//! allocating, deterministically (same calls, same samples), and never
//! panics. Each on period starts at phase 0 and is shaped by 2 ms linear
//! ramps at both ends (no clicks); within an on period and across `fill`
//! calls the oscillators are phase-continuous (the output does not depend
//! on how the samples are split into calls). Components that cannot be
//! played (a frequency not finite or outside `(0, rate/2)`, a zero rate, a
//! NaN level) are silent; levels are capped at +3.17 dBm0 (μ-law full scale)
//! per component and the sum saturates at the `i16` range.
//!
//! Level convention: 0 dBm0 is the sine of [`DBM0_PEAK`] ≈ 22 656.7 peak
//! (RMS [`DBM0_RMS`] ≈ 16 020.7): G.711 μ-law's full-scale sine (peak 8159
//! in 14-bit units, 32 636 on the 16-bit scale of [`super::g711`]) is
//! +3.17 dBm0, so 0 dBm0 = 32 636 × 10^(−3.17/20). The G.711 digital
//! milliwatt (μ-law sequence 1E 0B 0B 1E 9E 8B 8B 9E) decodes to within
//! 0.01 dB of it. A-law's full scale (+3.14 dBm0) differs by 0.03 dB; the
//! μ-law reference is used for both laws.

/// Peak amplitude of a 0 dBm0 sine on the 16-bit linear scale: 32 636 × 10^(−3.17/20).
pub const DBM0_PEAK: f32 = 22_656.714;
/// RMS of a 0 dBm0 sine on the 16-bit linear scale: [`DBM0_PEAK`] / √2.
pub const DBM0_RMS: f32 = 16_020.716;

/// The level cap of one component: μ-law's full-scale sine.
const MAX_DBM0: f32 = 3.17;

/// DTMF low-group (row) frequencies, Hz (ITU-T Q.23).
pub const DTMF_ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// DTMF high-group (column) frequencies, Hz (ITU-T Q.23).
pub const DTMF_COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad: `DTMF_KEYS[row][col]`.
pub const DTMF_KEYS: [[char; 4]; 4] =
    [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];

/// The (row, column) frequencies of a DTMF key: `0-9 * # A-D` (letters in either case).
pub fn dtmf_frequencies(digit: char) -> Option<(f32, f32)> {
    let d = digit.to_ascii_uppercase();
    for (r, keys) in DTMF_KEYS.iter().enumerate() {
        for (c, &k) in keys.iter().enumerate() {
            if k == d {
                return Some((DTMF_ROWS[r], DTMF_COLS[c]));
            }
        }
    }
    None
}

/// One or two sine components at a sample rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    /// (frequency Hz, level dBm0) of each component; `len` of them are used.
    components: [(f32, f32); 2],
    len: usize,
    rate: u32,
}

impl Tone {
    /// A single sine of `freq` Hz at `dbm0`.
    pub fn single(freq: f32, dbm0: f32, rate: u32) -> Tone {
        Tone { components: [(freq, dbm0), (0.0, f32::NEG_INFINITY)], len: 1, rate }
    }

    /// Two sines, each at `dbm0` (the level is per component, not of the sum).
    pub fn dual(f1: f32, f2: f32, dbm0: f32, rate: u32) -> Tone {
        Tone::dual_levels(f1, dbm0, f2, dbm0, rate)
    }

    /// Two sines with their own levels (twisted DTMF, pre-emphasised tones).
    pub fn dual_levels(f1: f32, dbm0_1: f32, f2: f32, dbm0_2: f32, rate: u32) -> Tone {
        Tone { components: [(f1, dbm0_1), (f2, dbm0_2)], len: 2, rate }
    }

    /// The DTMF tone of a key (`0-9 * # A-D`), both components at `dbm0`; `None` for any other character.
    pub fn dtmf(digit: char, dbm0: f32, rate: u32) -> Option<Tone> {
        let (row, col) = dtmf_frequencies(digit)?;
        Some(Tone::dual(row, col, dbm0, rate))
    }

    /// The (frequency Hz, level dBm0) components.
    pub fn components(&self) -> &[(f32, f32)] {
        &self.components[..self.len]
    }

    /// The sample rate, Hz.
    pub fn rate(&self) -> u32 {
        self.rate
    }
}

/// A repeating on/off pattern in milliseconds (on first), or continuous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pattern: [u32; Cadence::MAX_ENTRIES],
    /// Entries used; 0 = continuous.
    len: usize,
}

impl Cadence {
    /// The longest pattern accepted.
    pub const MAX_ENTRIES: usize = 8;
    /// North American audible ringing: 2 s on, 4 s off (Telcordia GR-506, ANSI T1.401).
    pub const NORTH_AMERICA_RINGBACK: Cadence = Cadence::fixed([2000, 4000]);
    /// UK ringing tone: 0.4 s on, 0.2 s off, 0.4 s on, 2 s off (BT SIN 350).
    pub const UK_RINGBACK: Cadence = Cadence::fixed([400, 200, 400, 2000]);
    /// CEPT ringing tone (Germany and most of Europe): 1 s on, 4 s off (ETSI TR 101 041-2).
    pub const EUROPE_RINGBACK: Cadence = Cadence::fixed([1000, 4000]);
    /// French ringing tone: 1.5 s on, 3.5 s off (ITU-T E.180 Suppl. 2).
    pub const FRANCE_RINGBACK: Cadence = Cadence::fixed([1500, 3500]);

    const fn fixed<const N: usize>(p: [u32; N]) -> Cadence {
        let mut pattern = [0; Cadence::MAX_ENTRIES];
        let mut i = 0;
        while i < N {
            pattern[i] = p[i];
            i += 1;
        }
        Cadence { pattern, len: N }
    }

    /// A pattern of on/off durations in ms, starting with on; `None` unless
    /// it has an even number of entries, 2 to [`Cadence::MAX_ENTRIES`], each > 0.
    pub fn new(pattern: &[u32]) -> Option<Cadence> {
        if pattern.is_empty() || pattern.len() % 2 != 0 || pattern.len() > Cadence::MAX_ENTRIES {
            return None;
        }
        if pattern.contains(&0) {
            return None;
        }
        let mut c = Cadence { pattern: [0; Cadence::MAX_ENTRIES], len: pattern.len() };
        c.pattern[..pattern.len()].copy_from_slice(pattern);
        Some(c)
    }

    /// Always on.
    pub const fn continuous() -> Cadence {
        Cadence { pattern: [0; Cadence::MAX_ENTRIES], len: 0 }
    }

    /// The on/off durations in ms (empty when continuous).
    pub fn pattern(&self) -> &[u32] {
        &self.pattern[..self.len]
    }

    /// Whether the tone never stops.
    pub fn is_continuous(&self) -> bool {
        self.len == 0
    }
}

/// A quadrature (complex rotation) oscillator: phase-continuous, cheap, and
/// renormalised after each run so its amplitude does not drift.
#[derive(Debug, Clone, Copy)]
struct Osc {
    /// The rotation per sample, cos and sin of 2π f / rate.
    rc: f64,
    rs: f64,
    /// The current phasor (cos, sin of the phase).
    c: f64,
    s: f64,
    /// Peak amplitude (0 = silent).
    amp: f64,
}

impl Osc {
    fn new(freq: f32, dbm0: f32, rate: u32) -> Osc {
        let playable = rate > 0 && freq.is_finite() && freq > 0.0 && f64::from(freq) < f64::from(rate) / 2.0;
        let amp = if playable && !dbm0.is_nan() {
            f64::from(DBM0_PEAK) * 10f64.powf(f64::from(dbm0.min(MAX_DBM0)) / 20.0)
        } else {
            0.0
        };
        let w = if playable { 2.0 * std::f64::consts::PI * f64::from(freq) / f64::from(rate) } else { 0.0 };
        Osc { rc: w.cos(), rs: w.sin(), c: 1.0, s: 0.0, amp }
    }

    fn restart(&mut self) {
        self.c = 1.0;
        self.s = 0.0;
    }

    /// The current sample (times the amplitude), then advance one sample.
    #[inline]
    fn next(&mut self) -> f64 {
        let y = self.s * self.amp;
        let (c, s) = (self.c * self.rc - self.s * self.rs, self.s * self.rc + self.c * self.rs);
        self.c = c;
        self.s = s;
        y
    }

    /// Pull the phasor back to unit length (one Newton step for 1/√(c²+s²)).
    fn renormalise(&mut self) {
        let k = 1.5 - 0.5 * (self.c * self.c + self.s * self.s);
        self.c *= k;
        self.s *= k;
    }
}

/// The samples of a run of oscillator output between renormalisations.
const RUN: usize = 256;
/// The on/off ramps: 2 ms.
const RAMP_MS: u64 = 2;

/// Plays a [`Tone`] through a [`Cadence`]: see the module documentation.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    tone: Tone,
    cadence: Cadence,
    osc: [Osc; 2],
    /// Segment lengths in samples (on, off, on, off...), each ≥ 1; unused when continuous.
    seg_len: [u64; Cadence::MAX_ENTRIES],
    /// The current segment and the position in it, samples.
    seg: usize,
    pos: u64,
    /// Ramp length in samples (per segment capped at half its length).
    ramp: u64,
}

impl ToneGenerator {
    /// A generator at the start of the cadence's first on period.
    pub fn new(tone: Tone, cadence: Cadence) -> ToneGenerator {
        let rate = tone.rate;
        let mut osc = [Osc::new(0.0, f32::NEG_INFINITY, rate); 2];
        for (o, &(f, l)) in osc.iter_mut().zip(tone.components()) {
            *o = Osc::new(f, l, rate);
        }
        let mut seg_len = [1; Cadence::MAX_ENTRIES];
        for (s, &ms) in seg_len.iter_mut().zip(cadence.pattern()) {
            *s = (u64::from(ms) * u64::from(rate) / 1000).max(1);
        }
        let ramp = u64::from(rate) * RAMP_MS / 1000;
        ToneGenerator { tone, cadence, osc, seg_len, seg: 0, pos: 0, ramp }
    }

    /// The tone played.
    pub fn tone(&self) -> &Tone {
        &self.tone
    }

    /// The cadence followed.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    /// Write the next `out.len()` samples: the tone during on periods, zeros during off periods.
    pub fn fill(&mut self, out: &mut [i16]) {
        let mut i = 0;
        while i < out.len() {
            if self.cadence.is_continuous() {
                let n = (out.len() - i).min(RUN);
                self.on_run(&mut out[i..i + n], u64::MAX, 0);
                i += n;
                continue;
            }
            let len = self.seg_len[self.seg];
            let left = len - self.pos;
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(out.len() - i).min(RUN);
            if self.seg % 2 == 0 {
                let ramp = self.ramp.min(len / 2);
                self.on_run(&mut out[i..i + n], len, ramp);
            } else {
                out[i..i + n].fill(0);
            }
            i += n;
            self.pos += n as u64;
            if self.pos >= len {
                self.pos = 0;
                self.seg = (self.seg + 1) % self.cadence.len;
                if self.seg % 2 == 0 {
                    self.osc.iter_mut().for_each(Osc::restart);
                }
            }
        }
    }

    /// Samples of the current on segment (length `len`, ramps of `ramp`) from `self.pos`.
    fn on_run(&mut self, out: &mut [i16], len: u64, ramp: u64) {
        let [a, b] = &mut self.osc;
        for (k, o) in out.iter_mut().enumerate() {
            let y = a.next() + b.next();
            let p = self.pos + k as u64;
            let g = if ramp == 0 {
                1.0
            } else if p < ramp {
                (p as f64 + 0.5) / ramp as f64
            } else if len - p <= ramp {
                ((len - p) as f64 - 0.5) / ramp as f64
            } else {
                1.0
            };
            // `as` saturates at the i16 range.
            *o = (y * g).round() as i16;
        }
        a.renormalise();
        b.renormalise();
    }

    /// Back to the start of the first on period, phase 0.
    pub fn reset(&mut self) {
        self.seg = 0;
        self.pos = 0;
        self.osc.iter_mut().for_each(Osc::restart);
    }
}

/// The ringback (audible ringing) tone of a country or region, or `None`
/// if unknown. Codes are ASCII case-insensitive:
///
/// | code | tone | cadence | level per component |
/// |---|---|---|---|
/// | `us`, `ca`, `na` | 440 + 480 Hz | 2 s on, 4 s off | −19 dBm0 |
/// | `uk`, `gb` | 400 + 450 Hz | 0.4 on, 0.2 off, 0.4 on, 2 off | −19 dBm0 |
/// | `de`, `eu` | 425 Hz | 1 s on, 4 s off | −16 dBm0 |
/// | `fr` | 440 Hz | 1.5 s on, 3.5 s off | −16 dBm0 |
///
/// Sources: the North American tone and level are the precise tone plan
/// (Telcordia GR-506, ANSI T1.401); the other frequencies and cadences are
/// those published for these countries in ITU-T E.180 Supplement 2 (UK:
/// BT SIN 350; CEPT 425 Hz: ETSI TR 101 041-2); their levels are typical
/// values, not taken from those documents.
pub fn ringback(country: &str, rate: u32) -> Option<ToneGenerator> {
    let is = |codes: &[&str]| codes.iter().any(|c| c.eq_ignore_ascii_case(country));
    let (tone, cadence) = if is(&["us", "ca", "na"]) {
        (Tone::dual(440.0, 480.0, -19.0, rate), Cadence::NORTH_AMERICA_RINGBACK)
    } else if is(&["uk", "gb"]) {
        (Tone::dual(400.0, 450.0, -19.0, rate), Cadence::UK_RINGBACK)
    } else if is(&["de", "eu"]) {
        (Tone::single(425.0, -16.0, rate), Cadence::EUROPE_RINGBACK)
    } else if is(&["fr"]) {
        (Tone::single(440.0, -16.0, rate), Cadence::FRANCE_RINGBACK)
    } else {
        return None;
    };
    Some(ToneGenerator::new(tone, cadence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::ulaw_decode;

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn db(ratio: f64) -> f64 {
        20.0 * ratio.log10()
    }

    #[test]
    fn dbm0_constants_follow_the_mu_law_full_scale() {
        let peak = 8159.0 * 4.0 * 10f64.powf(-3.17 / 20.0);
        assert!((f64::from(DBM0_PEAK) - peak).abs() < 0.01, "{peak}");
        assert!((f64::from(DBM0_RMS) - peak / 2f64.sqrt()).abs() < 0.01);
        // The G.711 digital milliwatt: a 1 kHz sine at 0 dBm0 in μ-law codes.
        let dm: Vec<i16> = [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E].map(ulaw_decode).to_vec();
        let level = db(rms(&dm) / f64::from(DBM0_RMS));
        assert!(level.abs() < 0.01, "digital milliwatt at {level:.4} dBm0");
    }

    #[test]
    fn single_tone_has_its_level_and_frequency() {
        for (dbm0, rate) in [(0.0, 8000), (-10.0, 8000), (-16.0, 16000), (-30.0, 48000)] {
            let mut g = ToneGenerator::new(Tone::single(1000.0, dbm0, rate), Cadence::continuous());
            let mut out = vec![0i16; rate as usize];
            g.fill(&mut out);
            let level = db(rms(&out) / f64::from(DBM0_RMS));
            assert!((level - f64::from(dbm0)).abs() < 0.05, "{dbm0} dBm0 at {rate} Hz: got {level:.3}");
            // Zero crossings upward: 1000 per second.
            let ups = out.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
            assert!((999..=1001).contains(&ups), "{ups}");
        }
    }

    #[test]
    fn dual_tone_levels_are_per_component() {
        let mut g = ToneGenerator::new(Tone::dual(440.0, 480.0, -19.0, 8000), Cadence::continuous());
        let mut out = vec![0i16; 8000];
        g.fill(&mut out);
        // Two uncorrelated components at -19 dBm0 each: -15.99 dBm0 together.
        let level = db(rms(&out) / f64::from(DBM0_RMS));
        assert!((level - (-19.0 + 10.0 * 2f64.log10())).abs() < 0.05, "{level}");
    }

    #[test]
    fn output_does_not_depend_on_how_calls_split_it() {
        let make = || ToneGenerator::new(Tone::dual(400.0, 450.0, -10.0, 8000), Cadence::UK_RINGBACK);
        let mut whole = vec![0i16; 8000 * 7];
        make().fill(&mut whole);
        let mut pieces = vec![0i16; whole.len()];
        let mut g = make();
        let mut at = 0;
        for n in [1usize, 159, 160, 7, 1000, 3].iter().cycle() {
            let end = (at + n).min(pieces.len());
            g.fill(&mut pieces[at..end]);
            at = end;
            if at == pieces.len() {
                break;
            }
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn no_clicks_phase_continuous_with_ramps() {
        // The largest step between consecutive samples is what the sine
        // itself makes (2π f / rate × amplitude), at cadence edges too.
        let mut g = ToneGenerator::new(Tone::single(425.0, 0.0, 8000), Cadence::new(&[30, 20]).expect("cadence"));
        let mut out = vec![0i16; 8000];
        for chunk in out.chunks_mut(37) {
            g.fill(chunk);
        }
        let max_step = 2.0 * std::f64::consts::PI * 425.0 / 8000.0 * f64::from(DBM0_PEAK);
        for (i, w) in out.windows(2).enumerate() {
            let step = (f64::from(w[1]) - f64::from(w[0])).abs();
            assert!(step <= max_step + 1.0, "step {step} at {i}");
        }
    }

    #[test]
    fn cadence_on_and_off_periods() {
        let mut g = ringback("US", 8000).expect("us");
        let mut out = vec![1i16; 8000 * 12];
        g.fill(&mut out);
        let on = |a: usize, b: usize| rms(&out[a * 8..b * 8]);
        for cycle in [0, 6000] {
            assert!(on(cycle + 10, cycle + 1990) > 1000.0);
            assert_eq!(on(cycle + 2000, cycle + 6000), 0.0);
        }
        let mut g = ringback("uk", 8000).expect("uk");
        let mut out = vec![1i16; 8000 * 4];
        g.fill(&mut out);
        let on = |a: usize, b: usize| rms(&out[a * 8..b * 8]);
        assert!(on(5, 395) > 1000.0);
        assert_eq!(on(400, 600), 0.0);
        assert!(on(605, 995) > 1000.0);
        assert_eq!(on(1000, 3000), 0.0);
        assert!(on(3005, 3000 - 5 + 400) > 1000.0);
    }

    #[test]
    fn reset_restarts_the_cadence() {
        let mut g = ringback("fr", 8000).expect("fr");
        let mut first = vec![0i16; 4000];
        g.fill(&mut first);
        let mut skip = vec![0i16; 12345];
        g.fill(&mut skip);
        g.reset();
        let mut again = vec![0i16; 4000];
        g.fill(&mut again);
        assert_eq!(first, again);
    }

    #[test]
    fn ringback_table() {
        let comps =
            |c: &str| ringback(c, 8000).map(|g| (g.tone().components().to_vec(), g.cadence().pattern().to_vec()));
        let na = Some((vec![(440.0, -19.0), (480.0, -19.0)], vec![2000, 4000]));
        assert_eq!(comps("us"), na);
        assert_eq!(comps("CA"), na);
        assert_eq!(comps("na"), na);
        let uk = Some((vec![(400.0, -19.0), (450.0, -19.0)], vec![400, 200, 400, 2000]));
        assert_eq!(comps("uk"), uk);
        assert_eq!(comps("gb"), uk);
        let de = Some((vec![(425.0, -16.0)], vec![1000, 4000]));
        assert_eq!(comps("de"), de);
        assert_eq!(comps("EU"), de);
        assert_eq!(comps("fr"), Some((vec![(440.0, -16.0)], vec![1500, 3500])));
        assert_eq!(comps("xx"), None);
        assert_eq!(comps(""), None);
    }

    #[test]
    fn dtmf_keys() {
        assert_eq!(dtmf_frequencies('1'), Some((697.0, 1209.0)));
        assert_eq!(dtmf_frequencies('0'), Some((941.0, 1336.0)));
        assert_eq!(dtmf_frequencies('#'), Some((941.0, 1477.0)));
        assert_eq!(dtmf_frequencies('*'), Some((941.0, 1209.0)));
        assert_eq!(dtmf_frequencies('d'), Some((941.0, 1633.0)));
        assert_eq!(dtmf_frequencies('A'), Some((697.0, 1633.0)));
        assert_eq!(dtmf_frequencies('E'), None);
        assert!(Tone::dtmf('x', -10.0, 8000).is_none());
        assert_eq!(
            Tone::dtmf('5', -10.0, 8000).map(|t| t.components().to_vec()),
            Some(vec![(770.0, -10.0), (1336.0, -10.0)])
        );
    }

    #[test]
    fn cadence_validation() {
        assert!(Cadence::new(&[]).is_none());
        assert!(Cadence::new(&[100]).is_none());
        assert!(Cadence::new(&[100, 0]).is_none());
        assert!(Cadence::new(&[1; 10]).is_none());
        assert_eq!(Cadence::new(&[1; 8]).map(|c| c.pattern().len()), Some(8));
        assert_eq!(Cadence::new(&[2000, 4000]), Some(Cadence::NORTH_AMERICA_RINGBACK));
        assert!(Cadence::continuous().is_continuous());
        assert!(Cadence::continuous().pattern().is_empty());
    }

    #[test]
    fn degenerate_inputs_are_silent_not_panics() {
        let mut out = vec![5i16; 300];
        for tone in [
            Tone::single(f32::NAN, 0.0, 8000),
            Tone::single(1000.0, f32::NAN, 8000),
            Tone::single(5000.0, 0.0, 8000),
            Tone::single(-3.0, 0.0, 8000),
            Tone::single(1000.0, 0.0, 0),
            Tone::single(1000.0, f32::NEG_INFINITY, 8000),
        ] {
            for cadence in [Cadence::continuous(), Cadence::new(&[1, 1]).expect("cadence")] {
                let mut g = ToneGenerator::new(tone, cadence);
                g.fill(&mut out);
                assert!(out.iter().all(|&s| s == 0), "{tone:?}");
                g.fill(&mut []);
            }
        }
        // Absurd levels are capped at full scale and the sum saturates.
        let mut g = ToneGenerator::new(Tone::dual(1000.0, 1100.0, f32::INFINITY, 8000), Cadence::continuous());
        g.fill(&mut out);
        assert!(out.iter().any(|&s| s == i16::MAX || s == i16::MIN));
        // A huge rate and cadence do not overflow.
        let mut g =
            ToneGenerator::new(Tone::single(1.0, 0.0, u32::MAX), Cadence::new(&[u32::MAX, u32::MAX]).expect("c"));
        g.fill(&mut out);
    }
}
