//! Test signals and measurements shared by the codec tests: tones, levels,
//! the dominant frequency (Goertzel scan) and a tone's SNR (least-squares
//! fit of the tone, whatever its phase or the codec's delay).

use std::f64::consts::PI;

/// `n` samples of a sine of `amp` peak at `freq` Hz.
pub fn tone(freq: f64, rate: u32, n: usize, amp: f64) -> Vec<i16> {
    (0..n).map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate) + 0.3).sin()).round() as i16).collect()
}

/// RMS level in dB relative to a full-scale (32768) RMS.
pub fn level_db(x: &[i16]) -> f64 {
    let p = x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * (p / (32768.0 * 32768.0)).max(1e-15).log10()
}

/// Power at `freq` (Goertzel).
fn goertzel(x: &[i16], freq: f64, rate: u32) -> f64 {
    crate::media::goertzel::goertzel_mag2(x, 2.0 * PI * freq / f64::from(rate))
}

/// The strongest frequency between 100 Hz and 3.9 kHz, to 1 Hz.
pub fn dominant_freq(x: &[i16], rate: u32) -> f64 {
    let best = |lo: i32, hi: i32, step: i32| {
        (lo..=hi).step_by(step as usize).map(f64::from).fold((0.0, f64::MIN), |b, f| {
            let p = goertzel(x, f, rate);
            if p > b.1 {
                (f, p)
            } else {
                b
            }
        })
    };
    let coarse = best(100, 3900, 10).0 as i32;
    best(coarse - 10, coarse + 10, 1).0
}

/// The tone at `freq` against everything else in `x`, in dB: `x` is fitted
/// with a sine, a cosine and a constant (least squares); SNR = fitted tone
/// power / residual power.
pub fn tone_snr(x: &[i16], freq: f64, rate: u32) -> f64 {
    let w = 2.0 * PI * freq / f64::from(rate);
    // Normal equations for [sin, cos, 1].
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    for (i, &s) in x.iter().enumerate() {
        let b = [(w * i as f64).sin(), (w * i as f64).cos(), 1.0];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += b[r] * b[c];
            }
            v[r] += b[r] * f64::from(s);
        }
    }
    let det3 = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det3(&m);
    let coef: Vec<f64> = (0..3)
        .map(|k| {
            let mut mk = m;
            for r in 0..3 {
                mk[r][k] = v[r];
            }
            det3(&mk) / d
        })
        .collect();
    let (mut sig, mut err) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let t = coef[0] * (w * i as f64).sin() + coef[1] * (w * i as f64).cos();
        let r = f64::from(s) - t - coef[2];
        sig += t * t;
        err += r * r;
    }
    10.0 * (sig / err.max(1e-9)).log10()
}
