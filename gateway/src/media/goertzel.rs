//! Single-frequency power (Goertzel) and in-band DTMF detection.
//!
//! Contract: everything here is sans-IO, deterministic and never panics on
//! any input (empty slices, zero rates, NaN parameters give "nothing").
//! [`power`] measures one frequency over a whole slice; [`dominant_frequency`]
//! picks the strongest of a few candidates. [`DtmfDetector`] is a streaming
//! detector: [`DtmfDetector::push`] takes samples in slices of any length
//! (the events do not depend on how the stream is split) and allocates
//! nothing itself (its state is fixed-size; only the caller's `Extend`
//! sink may allocate).
//!
//! Power unit: the mean power of the component at that frequency, relative
//! to a 0 dBm0 sine ([`DBM0_RMS`]), so `10·log10(power)` is its level in
//! dBm0: a sine at L dBm0 gives 10^(L/10) (over a whole number of cycles,
//! or approximately over many); a full-scale sine (peak 32 767) gives
//! ≈ 2.09 (+3.2 dBm0). The resolution is about `rate / len` Hz.
//!
//! DTMF detection. The eight Q.23 frequencies are measured with Goertzel
//! filters over half-blocks of `block / 2` samples; each pair of
//! consecutive half-blocks is an analysis window of `block` samples (102 at
//! 8 kHz: bins 78 Hz apart), so windows overlap by half and a verdict comes
//! every half-block (6.4 ms). A window holds digit (r, c), the strongest row
//! and column, when
//! 1. every other frequency of each group is 6 dB below r (rows) or c (columns);
//! 2. r and c are each at least `min_level_dbm0`;
//! 3. they are within the twist limits: the row (low group) at most
//!    `max_twist_db` above the column ("normal" twist, what a line's
//!    high-frequency loss makes) and the column at most
//!    `max_reverse_twist_db` above the row;
//! 4. they carry at least 75% of the window's energy (talk-off protection,
//!    and what makes a window half-filled by a tone not count);
//! 5. each is within `freq_tolerance` of its nominal frequency, measured from
//!    its phase advance between the two half-blocks.
//!
//! Rules 2-5 use each tone's amplitude and phase solved per half-block with
//! the other tone's leakage removed (a 2×2 system: rectangular windows this
//! short leak ±2 dB and ±1% between 941 and 1209 Hz at 8 dB of twist), and
//! the halves' amplitudes added phase-aligned (a tone 2.5% off loses 1 dB,
//! not the full window's 4 dB).
//!
//! A digit starts ([`DtmfEvent::Start`]) once held by K consecutive windows,
//! K = ⌊min_on / half-block⌋ − 1 (at least 1; the windows then span
//! K + 1 half-blocks, at most `min_on_ms`), dated at its first window's
//! start; it ends ([`DtmfEvent::End`]) after ⌊min_off / half-block⌋ − 1
//! windows without it, dated at its last window's end. With the defaults
//! (K = 5 both): tones of 40 ms or more are always reported, of 32 ms or
//! less never; durations come out within −9..+4 ms; gaps of 25 ms or more
//! always separate two presses of one key, 15 ms never. A rate below 4 kHz
//! (no room for 1633 Hz) makes the detector inert; `block` is clamped to
//! 16..=8192 samples and rounded down to even.

use std::f64::consts::PI;

use super::tone::{DBM0_PEAK, DBM0_RMS, DTMF_COLS, DTMF_KEYS, DTMF_ROWS};

/// |X(w)|² over `samples` (generalised Goertzel, any real `w`).
pub(crate) fn goertzel_mag2(samples: &[i16], w: f64) -> f64 {
    let coef = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coef * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coef * s1 * s2
}

/// The power at `freq` Hz (0 < freq < rate/2) over all of `samples`, in
/// units of a 0 dBm0 sine (see the module docs); 0 for an empty slice or a
/// frequency out of range.
pub fn power(samples: &[i16], freq: f32, rate: u32) -> f32 {
    let f = f64::from(freq);
    if samples.is_empty() || rate == 0 || !(f > 0.0 && f < f64::from(rate) / 2.0) {
        return 0.0;
    }
    let n = samples.len() as f64;
    let peak = f64::from(DBM0_PEAK);
    (4.0 * goertzel_mag2(samples, 2.0 * PI * f / f64::from(rate)) / (n * n * peak * peak)) as f32
}

/// The mean power of the whole signal, in the same unit as [`power`] (0 for an empty slice).
pub fn signal_power(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let rms = f64::from(DBM0_RMS);
    (sum / samples.len() as f64 / (rms * rms)) as f32
}

/// The candidate frequency with the most [`power`], and that power's share
/// of the signal's total ([`signal_power`]), clamped to 0..=1 (a pure sine
/// on a candidate gives ≈ 1, each tone of an equal-level pair ≈ 0.5).
/// `None` for silence, an empty slice, or no candidate in range.
/// Candidates closer than about `rate / len` Hz are not told apart.
pub fn dominant_frequency(samples: &[i16], rate: u32, candidates: &[f32]) -> Option<(f32, f32)> {
    let total = signal_power(samples);
    if total <= 0.0 {
        return None;
    }
    let mut best: Option<(f32, f32)> = None;
    for &f in candidates {
        let f_ok = f64::from(f) > 0.0 && f64::from(f) < f64::from(rate) / 2.0;
        if !f_ok {
            continue;
        }
        let p = power(samples, f, rate);
        if best.is_none_or(|(_, bp)| p > bp) {
            best = Some((f, p));
        }
    }
    best.map(|(f, p)| (f, (p / total).clamp(0.0, 1.0)))
}

/// The DTMF detector's parameters (the defaults are for 8 kHz).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfConfig {
    /// Sample rate, Hz.
    pub rate: u32,
    /// Samples per analysis window (102 at 8 kHz: 12.75 ms, bins ≈ 78 Hz apart); windows overlap by half.
    pub block: usize,
    /// How long a digit must be held before it is reported.
    pub min_on_ms: u32,
    /// How long a digit must be gone before its end is reported.
    pub min_off_ms: u32,
    /// Normal twist: how far the row (low) tone may be above the column (high) tone, dB.
    pub max_twist_db: f32,
    /// Reverse twist: how far the column (high) tone may be above the row (low) tone, dB.
    pub max_reverse_twist_db: f32,
    /// Largest accepted relative frequency error of each tone (0.025 = 2.5%).
    pub freq_tolerance: f32,
    /// Lowest accepted level of each tone, dBm0.
    pub min_level_dbm0: f32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            rate: 8000,
            block: 102,
            min_on_ms: 40,
            min_off_ms: 40,
            max_twist_db: 8.0,
            max_reverse_twist_db: 4.0,
            freq_tolerance: 0.025,
            min_level_dbm0: -26.0,
        }
    }
}

/// A digit's start or end; `at_sample` counts samples from the first one pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    Start { digit: char, at_sample: u64 },
    End { digit: char, at_sample: u64, duration_ms: u32 },
}

/// Each tone of a digit 6 dB (power × 4) above the others of its group.
const PEAK_RATIO: f32 = 4.0;
/// The share of the window's energy the two tones must carry.
const MIN_SHARE: f32 = 0.75;
const MIN_BLOCK: usize = 16;
const MAX_BLOCK: usize = 8192;

/// Complex numbers as (re, im).
type C = [f32; 2];

fn cmul(a: C, b: C) -> C {
    [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]]
}

/// e^{-j·x}
fn cis_neg(x: f64) -> C {
    [x.cos() as f32, -x.sin() as f32]
}

/// One finished half-block: its spectrum at the eight frequencies
/// (referenced to its first sample), its energy and its first sample.
#[derive(Debug, Clone, Copy)]
struct Half {
    x: [C; 8],
    energy: f32,
    start: u64,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    digit: char,
    start: u64,
    windows: u32,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    digit: char,
    start: u64,
    last_end: u64,
    misses: u32,
}

/// A streaming DTMF detector: see the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    cfg: DtmfConfig,
    /// False when the rate cannot carry DTMF: `push` then does nothing.
    enabled: bool,
    /// Samples per half-block (the hop); a window is two half-blocks.
    half: usize,
    /// Per frequency (4 rows then 4 columns): 2cos w, cos w, sin w.
    coef: [f32; 8],
    cw: [f32; 8],
    sw: [f32; 8],
    /// e^{-jw(half-1)}: a half-block's Goertzel output to its DFT.
    rot: [C; 8],
    /// e^{-jw·half}: the second half's phase reference relative to the first's.
    shift: [C; 8],
    /// `cross[r][c]`: how a unit column tone c shows in row r's half-block
    /// DFT, Σ e^{j(wc - wr)m} over a half-block (its conjugate: row in column).
    cross: [[C; 4]; 4],
    /// Goertzel state of the current half-block, its energy so far, its
    /// position and first sample.
    s1: [f32; 8],
    s2: [f32; 8],
    energy: f32,
    pos: usize,
    start: u64,
    /// The previous half-block, once there is one.
    prev: Option<Half>,
    /// Thresholds from the configuration (powers, ratios, window counts).
    min_power: f32,
    twist: f32,
    reverse_twist: f32,
    on_windows: u32,
    off_windows: u32,
    candidate: Option<Candidate>,
    active: Option<Active>,
}

impl DtmfDetector {
    /// A detector at sample 0.
    pub fn new(cfg: DtmfConfig) -> DtmfDetector {
        let half = cfg.block.clamp(MIN_BLOCK, MAX_BLOCK) / 2;
        let enabled = cfg.rate >= 4000;
        let rate = f64::from(cfg.rate.max(1));
        let mut d = DtmfDetector {
            cfg,
            enabled,
            half,
            coef: [0.0; 8],
            cw: [0.0; 8],
            sw: [0.0; 8],
            rot: [[0.0; 2]; 8],
            shift: [[0.0; 2]; 8],
            cross: [[[0.0; 2]; 4]; 4],
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: 0.0,
            pos: 0,
            start: 0,
            prev: None,
            min_power: 10f32.powf(cfg.min_level_dbm0 / 10.0),
            twist: 10f32.powf(cfg.max_twist_db / 10.0),
            reverse_twist: 10f32.powf(cfg.max_reverse_twist_db / 10.0),
            on_windows: windows_for(cfg.min_on_ms, cfg.rate, half),
            off_windows: windows_for(cfg.min_off_ms, cfg.rate, half),
            candidate: None,
            active: None,
        };
        for (k, &f) in DTMF_ROWS.iter().chain(&DTMF_COLS).enumerate() {
            let w = 2.0 * PI * f64::from(f) / rate;
            d.coef[k] = (2.0 * w.cos()) as f32;
            d.cw[k] = w.cos() as f32;
            d.sw[k] = w.sin() as f32;
            d.rot[k] = cis_neg(w * (half as f64 - 1.0));
            d.shift[k] = cis_neg(w * half as f64);
        }
        for (r, &fr) in DTMF_ROWS.iter().enumerate() {
            for (c, &fc) in DTMF_COLS.iter().enumerate() {
                let dw = 2.0 * PI * f64::from(fc - fr) / rate;
                let (re, im) = (0..half).fold((0.0f64, 0.0f64), |(re, im), m| {
                    let x = dw * m as f64;
                    (re + x.cos(), im + x.sin())
                });
                d.cross[r][c] = [re as f32, im as f32];
            }
        }
        d
    }

    /// Analyse the next samples; events found are added to `events` in order.
    pub fn push(&mut self, samples: &[i16], events: &mut impl Extend<DtmfEvent>) {
        if !self.enabled {
            return;
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at((self.half - self.pos).min(rest.len()));
            rest = tail;
            self.accumulate(chunk);
            self.pos += chunk.len();
            if self.pos == self.half {
                self.end_half(events);
            }
        }
    }

    /// Run the eight Goertzel filters and the energy sum over `chunk`.
    fn accumulate(&mut self, chunk: &[i16]) {
        let coef = self.coef;
        let (mut s1, mut s2, mut e) = (self.s1, self.s2, self.energy);
        for &x in chunk {
            let x = f32::from(x);
            e += x * x;
            for k in 0..8 {
                let s0 = x + coef[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s0;
            }
        }
        (self.s1, self.s2, self.energy) = (s1, s2, e);
    }

    /// Close the current half-block; judge the window it ends.
    fn end_half(&mut self, events: &mut impl Extend<DtmfEvent>) {
        let mut x = [[0.0; 2]; 8];
        for (k, xk) in x.iter_mut().enumerate() {
            let y = [self.s1[k] - self.cw[k] * self.s2[k], self.sw[k] * self.s2[k]];
            *xk = cmul(self.rot[k], y);
        }
        let cur = Half { x, energy: self.energy, start: self.start };
        self.s1 = [0.0; 8];
        self.s2 = [0.0; 8];
        self.energy = 0.0;
        self.pos = 0;
        self.start = self.start.wrapping_add(self.half as u64);
        if let Some(prev) = self.prev.replace(cur) {
            let hit = self.classify(&prev, &cur);
            self.track(hit, prev.start, self.start, events);
        }
    }

    /// Update the start/end state with the verdict on the window [start, end).
    fn track(&mut self, hit: Option<char>, start: u64, end: u64, events: &mut impl Extend<DtmfEvent>) {
        self.candidate = match (hit, self.candidate) {
            (Some(d), Some(c)) if c.digit == d => Some(Candidate { windows: c.windows.saturating_add(1), ..c }),
            (Some(d), _) => Some(Candidate { digit: d, start, windows: 1 }),
            (None, _) => None,
        };
        if let Some(mut a) = self.active {
            if hit == Some(a.digit) {
                a.misses = 0;
                a.last_end = end;
                self.active = Some(a);
            } else {
                a.misses = a.misses.saturating_add(1);
                self.active = Some(a);
                if a.misses >= self.off_windows {
                    let ms = a.last_end.wrapping_sub(a.start).saturating_mul(1000) / u64::from(self.cfg.rate.max(1));
                    let duration_ms = u32::try_from(ms).unwrap_or(u32::MAX);
                    events.extend([DtmfEvent::End { digit: a.digit, at_sample: a.last_end, duration_ms }]);
                    self.active = None;
                }
            }
        }
        if self.active.is_none() {
            if let Some(c) = self.candidate.filter(|c| c.windows >= self.on_windows) {
                events.extend([DtmfEvent::Start { digit: c.digit, at_sample: c.start }]);
                self.active = Some(Active { digit: c.digit, start: c.start, last_end: end, misses: 0 });
            }
        }
    }

    /// The digit the window of two half-blocks holds, if any (rules 1-5 of the module docs).
    fn classify(&self, a: &Half, b: &Half) -> Option<char> {
        // The window's DFT at each frequency: the first half plus the second, re-referenced.
        let mut mag2 = [0.0f32; 8];
        for (k, m) in mag2.iter_mut().enumerate() {
            let z = cmul(self.shift[k], b.x[k]);
            let full = [a.x[k][0] + z[0], a.x[k][1] + z[1]];
            *m = full[0] * full[0] + full[1] * full[1];
        }
        let strongest = |group: &[f32]| {
            let mut best = 0;
            for (i, &p) in group.iter().enumerate() {
                if p > group[best] {
                    best = i;
                }
            }
            best
        };
        let (r, c) = (strongest(&mag2[..4]), strongest(&mag2[4..]));
        let (kr, kc) = (r, 4 + c);
        let peaks_ok =
            (0..8).all(|k| k == kr || k == kc || mag2[k] * PEAK_RATIO <= if k < 4 { mag2[kr] } else { mag2[kc] });
        if !peaks_ok {
            return None;
        }
        // Each half's row and column tone amplitudes, the other tone's
        // leakage removed, and the window's tones from them.
        let (ra, ca) = self.separate(a, r, c);
        let (rb, cb) = self.separate(b, r, c);
        let row = Estimate::new(ra, rb, self.shift[kr], self.half);
        let col = Estimate::new(ca, cb, self.shift[kc], self.half);
        let (pr, pc) = (row.power(), col.power());
        let level_ok = pr >= self.min_power && pc >= self.min_power;
        let twist_ok = pr <= pc * self.twist && pc <= pr * self.reverse_twist;
        // Energy of a tone of peak amplitude A over the window: n·A²/2.
        let n = (2 * self.half) as f32;
        let tones = n / 2.0 * (row.amplitude * row.amplitude + col.amplitude * col.amplitude);
        let share_ok = tones >= MIN_SHARE * (a.energy + b.energy);
        let rate = self.cfg.rate as f32;
        let tol = self.cfg.freq_tolerance;
        let freq_ok =
            row.offset_hz(rate).abs() <= tol * DTMF_ROWS[r] && col.offset_hz(rate).abs() <= tol * DTMF_COLS[c];
        (level_ok && twist_ok && share_ok && freq_ok).then_some(DTMF_KEYS[r][c])
    }

    /// Solve one half-block's row and column DFTs for the complex
    /// amplitudes of the two tones (each leaks into the other's bin).
    fn separate(&self, half: &Half, r: usize, c: usize) -> (C, C) {
        let (xr, xc) = (half.x[r], half.x[4 + c]);
        let h = self.half as f32;
        let d = self.cross[r][c];
        let det = h * h - (d[0] * d[0] + d[1] * d[1]);
        if det.abs() < f32::MIN_POSITIVE {
            return ([0.0; 2], [0.0; 2]);
        }
        let dc = [d[0], -d[1]];
        let alpha = sub(scale(xr, h), cmul(d, xc));
        let beta = sub(scale(xc, h), cmul(dc, xr));
        (scale(alpha, 1.0 / det), scale(beta, 1.0 / det))
    }
}

fn scale(a: C, k: f32) -> C {
    [a[0] * k, a[1] * k]
}

fn sub(a: C, b: C) -> C {
    [a[0] - b[0], a[1] - b[1]]
}

/// A tone over a window from its complex amplitudes in the two halves.
struct Estimate {
    /// Peak amplitude: the halves' magnitudes added with their phases
    /// aligned, so an off-frequency tone is not attenuated by the window.
    amplitude: f32,
    /// Phase advance from the first half to the second beyond the nominal frequency's, radians.
    advance: f32,
    half: usize,
}

impl Estimate {
    fn new(first: C, second: C, shift: C, half: usize) -> Estimate {
        let norm = |x: C| (x[0] * x[0] + x[1] * x[1]).sqrt();
        let p = cmul(cmul(shift, second), [first[0], -first[1]]);
        Estimate { amplitude: norm(first) + norm(second), advance: p[1].atan2(p[0]), half }
    }

    /// Power in units of a 0 dBm0 sine.
    fn power(&self) -> f32 {
        (self.amplitude / DBM0_PEAK) * (self.amplitude / DBM0_PEAK)
    }

    /// The tone's distance from the nominal frequency, Hz.
    fn offset_hz(&self, rate: f32) -> f32 {
        self.advance / self.half as f32 * rate / (2.0 * std::f32::consts::PI)
    }
}

/// Consecutive windows (hop `half`) whose span, one half-block more than
/// their count, fits in `ms`; at least one.
fn windows_for(ms: u32, rate: u32, half: usize) -> u32 {
    let samples = u64::from(ms) * u64::from(rate) / 1000;
    u32::try_from((samples / half as u64).saturating_sub(1)).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};
    use crate::media::tone::{Cadence, Tone, ToneGenerator};
    use proptest::prelude::*;

    const DIGITS: &str = "123A456B789C*0#D";

    /// `tone` for `on_ms`, then `off_ms` of silence, at 8 kHz.
    fn burst(tone: Tone, on_ms: u32, off_ms: u32) -> Vec<i16> {
        let mut g = ToneGenerator::new(tone, Cadence::new(&[on_ms, off_ms]).expect("cadence"));
        let mut out = vec![0i16; ((on_ms + off_ms) * 8) as usize];
        g.fill(&mut out);
        out
    }

    fn dtmf(digit: char, dbm0: f32) -> Tone {
        Tone::dtmf(digit, dbm0, 8000).expect("digit")
    }

    fn detect_with(cfg: DtmfConfig, samples: &[i16], chunk: usize) -> Vec<DtmfEvent> {
        let mut det = DtmfDetector::new(cfg);
        let mut events = Vec::new();
        for c in samples.chunks(chunk.max(1)) {
            det.push(c, &mut events);
        }
        events
    }

    fn detect(samples: &[i16]) -> Vec<DtmfEvent> {
        detect_with(DtmfConfig::default(), samples, 160)
    }

    fn digits(events: &[DtmfEvent]) -> String {
        events.iter().filter_map(|e| if let DtmfEvent::Start { digit, .. } = e { Some(*digit) } else { None }).collect()
    }

    /// Leading silence so tones do not start on a block boundary.
    fn pad(mut x: Vec<i16>, lead: usize) -> Vec<i16> {
        x.splice(0..0, std::iter::repeat_n(0, lead));
        x
    }

    #[test]
    fn power_of_a_sine_is_its_level_in_dbm0() {
        for (dbm0, f) in [(0.0f32, 1000.0f32), (-10.0, 697.0), (-26.0, 1633.0)] {
            let mut x = vec![0i16; 8000];
            ToneGenerator::new(Tone::single(f, dbm0, 8000), Cadence::continuous()).fill(&mut x);
            let level = 10.0 * power(&x, f, 8000).log10();
            assert!((level - dbm0).abs() < 0.05, "{f} Hz at {dbm0}: {level}");
            let total = 10.0 * signal_power(&x).log10();
            assert!((total - dbm0).abs() < 0.05, "{total}");
            // 100 Hz away over one second: nothing.
            assert!(power(&x, f + 100.0, 8000) < 1e-4 * power(&x, f, 8000));
        }
        // A full-scale sine (peak 32767) is +3.2 dBm0.
        let x: Vec<i16> = (0..8000)
            .map(|n| (32767.0 * (2.0 * PI * 1000.0 * f64::from(n) / 8000.0 + 0.1).sin()).round() as i16)
            .collect();
        assert!((power(&x, 1000.0, 8000) - 2.0917).abs() < 0.01, "{}", power(&x, 1000.0, 8000));
        assert_eq!(power(&[], 1000.0, 8000), 0.0);
        assert_eq!(power(&x, 1000.0, 0), 0.0);
        assert_eq!(power(&x, 4000.0, 8000), 0.0);
        assert_eq!(power(&x, f32::NAN, 8000), 0.0);
    }

    #[test]
    fn dominant_frequency_finds_the_tone_and_its_share() {
        let tones = [350.0, 400.0, 425.0, 440.0, 450.0, 480.0, 620.0];
        let mut x = vec![0i16; 4000];
        ToneGenerator::new(Tone::single(425.0, -16.0, 8000), Cadence::continuous()).fill(&mut x);
        let (f, share) = dominant_frequency(&x, 8000, &tones).expect("tone");
        assert_eq!(f, 425.0);
        assert!(share > 0.98, "{share}");
        ToneGenerator::new(Tone::dual(440.0, 480.0, -19.0, 8000), Cadence::continuous()).fill(&mut x);
        let (f, share) = dominant_frequency(&x, 8000, &tones).expect("tone");
        assert!(f == 440.0 || f == 480.0);
        assert!((share - 0.5).abs() < 0.02, "{share}");
        assert_eq!(dominant_frequency(&[0; 100], 8000, &tones), None);
        assert_eq!(dominant_frequency(&x, 8000, &[]), None);
        assert_eq!(dominant_frequency(&x, 8000, &[f32::NAN, 9000.0]), None);
        assert_eq!(dominant_frequency(&[], 8000, &tones), None);
    }

    #[test]
    fn each_digit_80ms_gives_one_start_and_one_end() {
        for digit in DIGITS.chars() {
            for lead in [0, 37, 77] {
                let x = pad(burst(dtmf(digit, -10.0), 80, 80), lead);
                let events = detect(&x);
                assert_eq!(events.len(), 2, "{digit} lead {lead}: {events:?}");
                let DtmfEvent::Start { digit: d0, at_sample: start } = events[0] else { panic!("{events:?}") };
                let DtmfEvent::End { digit: d1, at_sample: end, duration_ms } = events[1] else { panic!("{events:?}") };
                assert_eq!((d0, d1), (digit, digit));
                assert!(duration_ms.abs_diff(80) <= 15, "{digit}: {duration_ms} ms");
                assert_eq!(u64::from(duration_ms), (end - start) / 8);
                assert!(start.abs_diff(lead as u64) <= 15 * 8, "{digit}: starts at {start}");
            }
        }
    }

    #[test]
    fn digit_sequence_50ms_on_50ms_off() {
        let seq = "1234567890*#";
        let mut x = Vec::new();
        for d in seq.chars() {
            x.extend(burst(dtmf(d, -10.0), 50, 50));
        }
        for lead in [0, 20, 51, 90] {
            let events = detect(&pad(x.clone(), lead));
            assert_eq!(digits(&events), seq, "lead {lead}");
            assert_eq!(events.len(), 2 * seq.len(), "{events:?}");
            for pair in events.chunks(2) {
                assert!(matches!(pair, [DtmfEvent::Start { digit: a, .. }, DtmfEvent::End { digit: b, .. }] if a == b));
            }
        }
    }

    #[test]
    fn a_30ms_tone_is_not_a_digit() {
        for digit in DIGITS.chars() {
            for lead in 0..102 {
                assert_eq!(detect(&pad(burst(dtmf(digit, -10.0), 30, 100), lead)), vec![], "{digit} lead {lead}");
            }
        }
        // While 40 ms is, wherever it falls.
        for lead in 0..102 {
            assert_eq!(digits(&detect(&pad(burst(dtmf('5', -10.0), 40, 100), lead))), "5", "lead {lead}");
        }
    }

    #[test]
    fn twist_limits() {
        // Normal twist: the row (low) tone louder, up to 8 dB.
        let twisted = |row_db: f32, col_db: f32| {
            let tone = Tone::dual_levels(852.0, row_db, 1477.0, col_db, 8000);
            digits(&detect(&burst(tone, 100, 100)))
        };
        assert_eq!(twisted(-10.0, -17.0), "9");
        assert_eq!(twisted(-10.0, -19.0), "");
        // Reverse twist: the column (high) tone louder, up to 4 dB.
        assert_eq!(twisted(-13.0, -10.0), "9");
        assert_eq!(twisted(-15.0, -10.0), "");
    }

    #[test]
    fn level_threshold() {
        for digit in DIGITS.chars() {
            assert_eq!(digits(&detect(&burst(dtmf(digit, -24.0), 80, 80))), digit.to_string());
            assert_eq!(digits(&detect(&burst(dtmf(digit, -28.0), 80, 80))), "");
        }
    }

    #[test]
    fn frequency_tolerance_accepts_1_5_and_rejects_3_5_percent() {
        let off = |digit: char, row_dev: f32, col_dev: f32| {
            let (r, c) = crate::media::tone::dtmf_frequencies(digit).expect("digit");
            let tone = Tone::dual(r * (1.0 + row_dev), c * (1.0 + col_dev), -10.0, 8000);
            digits(&detect(&burst(tone, 80, 80)))
        };
        for digit in DIGITS.chars() {
            let d = digit.to_string();
            for s in [1.0, -1.0] {
                assert_eq!(off(digit, s * 0.015, s * 0.015), d, "{digit} both {}1.5%", s);
                assert_eq!(off(digit, s * 0.015, -s * 0.015), d, "{digit} apart {}1.5%", s);
                assert_eq!(off(digit, s * 0.015, 0.0), d, "{digit} row {}1.5%", s);
                assert_eq!(off(digit, 0.0, s * 0.015), d, "{digit} col {}1.5%", s);
                assert_eq!(off(digit, s * 0.035, s * 0.035), "", "{digit} both {}3.5%", s);
                assert_eq!(off(digit, s * 0.035, -s * 0.035), "", "{digit} apart {}3.5%", s);
                assert_eq!(off(digit, s * 0.035, 0.0), "", "{digit} row {}3.5%", s);
                assert_eq!(off(digit, 0.0, s * 0.035), "", "{digit} col {}3.5%", s);
            }
        }
    }

    #[test]
    fn digits_survive_g711() {
        for digit in DIGITS.chars() {
            let x = burst(dtmf(digit, -10.0), 80, 80);
            let via_ulaw: Vec<i16> = x.iter().map(|&s| ulaw_decode(ulaw_encode(s))).collect();
            let via_alaw: Vec<i16> = x.iter().map(|&s| alaw_decode(alaw_encode(s))).collect();
            assert_eq!(digits(&detect(&via_ulaw)), digit.to_string());
            assert_eq!(digits(&detect(&via_alaw)), digit.to_string());
        }
    }

    #[test]
    fn events_do_not_depend_on_chunking() {
        let mut x = Vec::new();
        for d in "159#".chars() {
            x.extend(burst(dtmf(d, -12.0), 70, 60));
        }
        let reference = detect(&x);
        assert_eq!(digits(&reference), "159#");
        for chunk in [1, 7, 51, 102, 103, 1000, x.len()] {
            assert_eq!(detect_with(DtmfConfig::default(), &x, chunk), reference, "chunk {chunk}");
        }
    }

    /// A deterministic noise source (xorshift), roughly uniform in ±amp.
    fn noise(len: usize, amp: f64, mut seed: u64) -> Vec<i16> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amp
            })
            .map(|v| v.round() as i16)
            .collect()
    }

    #[test]
    fn digits_survive_noise_and_noise_alone_is_silent() {
        // White noise at about -35 dBm0 under digits at -15 dBm0 per tone.
        let amp = f64::from(DBM0_RMS) * 10f64.powf(-35.0 / 20.0) * 3f64.sqrt();
        for digit in DIGITS.chars() {
            let x = burst(dtmf(digit, -15.0), 80, 80);
            let n = noise(x.len(), amp, 0x9E37_79B9_7F4A_7C15 ^ digit as u64);
            let mixed: Vec<i16> = x.iter().zip(&n).map(|(&a, &b)| a.saturating_add(b)).collect();
            assert_eq!(digits(&detect(&mixed)), digit.to_string());
        }
        // Loud noise alone for 10 s.
        let loud = noise(80_000, f64::from(DBM0_RMS) * 3f64.sqrt(), 42);
        assert_eq!(detect(&loud), vec![]);
    }

    /// Speech-like sound: harmonics of a fundamental gliding between 120 and
    /// 220 Hz, shaped by three formants that move between vowel targets
    /// each 250 ms syllable, with a syllabic envelope and a glottal -6 dB
    /// per octave tilt; `dbm0` is its RMS level, `voice` varies the glide
    /// rates and the vowel sequence.
    fn speech_like(seconds: usize, dbm0: f64, voice: usize) -> Vec<i16> {
        const VOWELS: [[f64; 3]; 7] = [
            [730.0, 1090.0, 2440.0],
            [270.0, 2290.0, 3010.0],
            [300.0, 870.0, 2240.0],
            [530.0, 1840.0, 2480.0],
            [570.0, 840.0, 2410.0],
            [660.0, 1720.0, 2410.0],
            [640.0, 1190.0, 2390.0],
        ];
        const BANDWIDTHS: [f64; 3] = [80.0, 100.0, 140.0];
        const GAINS: [f64; 3] = [1.0, 0.6, 0.3];
        let rate = 8000.0;
        let len = seconds * 8000;
        let mut phase = 0.0f64;
        let mut y = vec![0.0f64; len];
        for (i, out) in y.iter_mut().enumerate() {
            let t = i as f64 / rate;
            let v = voice as f64;
            let f0 = 170.0
                + 40.0 * (2.0 * PI * (0.37 + 0.11 * v) * t + v).sin()
                + 10.0 * (2.0 * PI * (2.3 - 0.3 * v) * t).sin();
            phase += 2.0 * PI * f0 / rate;
            let syl = t / 0.25;
            let (k, frac) = (syl.floor() as usize, syl.fract());
            let (from, to) = (VOWELS[(k * 3 + voice) % 7], VOWELS[(k * 3 + 2 + 2 * voice) % 7]);
            let env = (PI * frac).sin().powi(2);
            let mut s = 0.0;
            let mut h = 1.0;
            while h * f0 < 3600.0 {
                let fh = h * f0;
                let mut a = 0.0;
                for j in 0..3 {
                    let formant = from[j] + (to[j] - from[j]) * frac;
                    a += GAINS[j] / (1.0 + ((fh - formant) / BANDWIDTHS[j]).powi(2));
                }
                s += a / h * (h * phase).sin();
                h += 1.0;
            }
            *out = s * env;
        }
        let rms = (y.iter().map(|v| v * v).sum::<f64>() / len as f64).sqrt();
        let gain = f64::from(DBM0_RMS) * 10f64.powf(dbm0 / 20.0) / rms;
        y.iter().map(|v| (v * gain).round().clamp(-32768.0, 32767.0) as i16).collect()
    }

    #[test]
    fn talk_off_speech_like_signal_gives_no_digit() {
        let speech = speech_like(10, -15.0, 0);
        assert_eq!(detect(&speech), vec![]);
        // Louder and quieter, through μ-law, and other voices.
        for dbm0 in [-5.0, -25.0] {
            assert_eq!(detect(&speech_like(10, dbm0, 0)), vec![], "{dbm0} dBm0");
        }
        let via_ulaw: Vec<i16> = speech.iter().map(|&s| ulaw_decode(ulaw_encode(s))).collect();
        assert_eq!(detect(&via_ulaw), vec![]);
        for voice in 1..4 {
            assert_eq!(detect(&speech_like(10, -10.0, voice)), vec![], "voice {voice}");
        }
    }

    #[test]
    fn inert_below_4_khz_and_block_is_clamped() {
        let x = burst(dtmf('1', -10.0), 80, 80);
        assert_eq!(detect_with(DtmfConfig { rate: 0, ..DtmfConfig::default() }, &x, 160), vec![]);
        assert_eq!(detect_with(DtmfConfig { rate: 3999, ..DtmfConfig::default() }, &x, 160), vec![]);
        // A 0-sample block is 16 samples: still a detector, nothing breaks.
        let _ = detect_with(DtmfConfig { block: 0, ..DtmfConfig::default() }, &x, 160);
    }

    #[test]
    fn other_rates_with_scaled_blocks() {
        for (rate, block) in [(16000u32, 204usize), (48000, 612)] {
            let cfg = DtmfConfig { rate, block, ..DtmfConfig::default() };
            let mut g =
                ToneGenerator::new(Tone::dtmf('7', -10.0, rate).expect("7"), Cadence::new(&[80, 80]).expect("c"));
            let mut x = vec![0i16; (rate / 1000 * 160) as usize];
            g.fill(&mut x);
            let events = detect_with(cfg, &x, 480);
            assert_eq!(digits(&events), "7", "{rate}");
            let Some(DtmfEvent::End { duration_ms, .. }) = events.last() else { panic!("{events:?}") };
            assert!(duration_ms.abs_diff(80) <= 15);
        }
    }

    fn arb_config() -> impl Strategy<Value = DtmfConfig> {
        let f = prop_oneof![any::<f32>(), -40.0f32..40.0];
        (
            prop_oneof![Just(8000u32), any::<u32>()],
            prop_oneof![Just(102usize), any::<usize>()],
            any::<u32>(),
            any::<u32>(),
            f.clone(),
            f.clone(),
            f.clone(),
            f,
        )
            .prop_map(|(rate, block, on, off, tw, rtw, tol, lvl)| DtmfConfig {
                rate,
                block,
                min_on_ms: on,
                min_off_ms: off,
                max_twist_db: tw,
                max_reverse_twist_db: rtw,
                freq_tolerance: tol,
                min_level_dbm0: lvl,
            })
    }

    proptest! {
        #[test]
        fn detector_never_panics(
            cfg in prop_oneof![Just(DtmfConfig::default()), arb_config()],
            samples in prop::collection::vec(any::<i16>(), 0..3000),
            chunk in 1usize..400,
        ) {
            let mut det = DtmfDetector::new(cfg);
            let mut events = Vec::new();
            for c in samples.chunks(chunk) {
                det.push(c, &mut events);
            }
            det.push(&[], &mut events);
            // Starts and ends alternate, starting with a start.
            for (i, e) in events.iter().enumerate() {
                prop_assert_eq!(matches!(e, DtmfEvent::Start { .. }), i % 2 == 0);
            }
        }

        #[test]
        fn power_probes_never_panic(
            samples in prop::collection::vec(any::<i16>(), 0..500),
            freq in any::<f32>(),
            rate in any::<u32>(),
            candidates in prop::collection::vec(any::<f32>(), 0..8),
        ) {
            let p = power(&samples, freq, rate);
            prop_assert!(p >= 0.0 || p.is_nan());
            if let Some((_, share)) = dominant_frequency(&samples, rate, &candidates) {
                prop_assert!((0.0..=1.0).contains(&share));
            }
        }
    }
}
