//! Comfort noise (RFC 3389): what the gateway plays toward a leg that has
//! no CN payload type while the other leg is silent and sends CN.
//!
//! Contract: [`ComfortNoise::new`] takes the noise level of a CN payload
//! (its first byte: the level in -dBov, 0-127) and a seed; `fill` writes
//! white noise whose RMS is that level (full scale = 0 dBov = a square
//! wave at 32767, as RFC 3389 3.1 defines it). Deterministic for a seed,
//! no allocation. White noise is the spectrally flat case RFC 3389 allows
//! when no reflection coefficients are sent (or they are ignored).

/// A white-noise source at an RFC 3389 level.
#[derive(Debug, Clone)]
pub struct ComfortNoise {
    state: u64,
    /// Peak of the uniform distribution (its RMS is peak / sqrt 3).
    peak: f32,
    level: u8,
}

impl ComfortNoise {
    /// Noise at `level` -dBov (values above 127 are read as 127).
    pub fn new(level: u8, seed: u64) -> ComfortNoise {
        let mut n = ComfortNoise { state: seed | 1, peak: 0.0, level: 0 };
        n.set_level(level);
        n
    }

    /// The level of a later CN packet.
    pub fn set_level(&mut self, level: u8) {
        let level = level.min(127);
        let rms = 32767.0 * 10f32.powf(-f32::from(level) / 20.0);
        self.peak = (rms * 3f32.sqrt()).min(32767.0);
        self.level = level;
    }

    /// The level, -dBov.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            // xorshift64*: a fast generator, plenty for noise.
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let r = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            let u = (r >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            *o = ((2.0 * u - 1.0) * self.peak) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms_dbov(x: &[i16]) -> f32 {
        let p: f64 = x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64;
        (20.0 * (p.sqrt() / 32767.0).log10()) as f32
    }

    #[test]
    fn the_noise_has_the_level_asked_for() {
        for level in [20u8, 40, 60] {
            let mut n = ComfortNoise::new(level, 7);
            let mut x = vec![0i16; 8000];
            n.fill(&mut x);
            let got = rms_dbov(&x);
            assert!((got + f32::from(level)).abs() < 0.5, "{level}: {got}");
        }
        assert_eq!(ComfortNoise::new(200, 1).level(), 127);
    }

    #[test]
    fn same_seed_same_noise_and_no_tone_in_it() {
        let (mut a, mut b) = (ComfortNoise::new(30, 3), ComfortNoise::new(30, 3));
        let (mut x, mut y) = (vec![0i16; 800], vec![0i16; 800]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        // Flat: no 100 Hz band holds much more than its share of the power.
        let total: f64 = x.iter().map(|&s| f64::from(s).powi(2)).sum();
        for f in [300.0, 1000.0, 3000.0] {
            let p = crate::media::goertzel::goertzel_mag2(&x, 2.0 * std::f64::consts::PI * f / 8000.0);
            assert!(p / total < 0.05 * x.len() as f64, "{f} Hz: {}", p / total);
        }
    }
}
