//! What the simulated parties say and hear: a tone per party, G.711
//! (written here from the ITU-T G.711 algorithm, independently of the
//! gateway's codec, so a shared bug cannot hide), and a Goertzel probe
//! that tells which tone arrived.
//!
//! Contract: [`Speaker`] produces 20 ms frames of a party's tone in a
//! G.711 law; [`Listener`] decodes frames and accumulates the power at
//! each candidate frequency, and names the dominant one and its share.

/// Tones the parties send (Hz): the operator 440, Teams 1000; 480 is the
/// second tone of North American ringback (440 + 480), which no party sends.
pub const CANDIDATES: [f32; 3] = [OPERATOR_TONE, 480.0, TEAMS_TONE];
/// The operator's tone (Hz).
pub const OPERATOR_TONE: f32 = 440.0;
/// Every Teams client's tone (Hz).
pub const TEAMS_TONE: f32 = 1000.0;
/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
const RATE: f32 = 8000.0;

/// The two G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    Mu,
    A,
}

impl Law {
    /// The law of a static payload type.
    pub fn of_pt(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Mu),
            8 => Some(Law::A),
            _ => None,
        }
    }

    pub fn pt(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// Encode one 16-bit linear sample.
    pub fn encode(self, s: i16) -> u8 {
        match self {
            Law::Mu => {
                const BIAS: i32 = 0x84;
                let mut v = i32::from(s);
                let sign = if v < 0 { 0x80 } else { 0 };
                if v < 0 {
                    v = -v;
                }
                v = (v.min(32_635)) + BIAS;
                let exp = (0..8).rev().find(|e| v & (0x80 << e) != 0).unwrap_or(0);
                let mant = (v >> (exp + 3)) & 0x0f;
                !(sign | (exp << 4) | mant) as u8
            }
            Law::A => {
                let v = i32::from(s) >> 3; // 13-bit
                let (sign, mag) = if v >= 0 { (0x80, v) } else { (0x00, -v - 1) };
                let mag = mag.min(0x0fff);
                let code = if mag < 32 {
                    mag >> 1
                } else {
                    let exp = (5..=11).rev().find(|e| mag & (1 << e) != 0).unwrap_or(5);
                    ((exp - 4) << 4) | ((mag >> (exp - 4)) & 0x0f)
                };
                ((sign | code) ^ 0x55) as u8
            }
        }
    }

    /// Decode one code to a 16-bit linear sample.
    pub fn decode(self, c: u8) -> i16 {
        match self {
            Law::Mu => {
                let c = !c;
                let sign = c & 0x80;
                let exp = i32::from((c >> 4) & 0x07);
                let mant = i32::from(c & 0x0f);
                let v = (((mant << 3) + 0x84) << exp) - 0x84;
                (if sign != 0 { -v } else { v }) as i16
            }
            Law::A => {
                let c = c ^ 0x55;
                let sign = c & 0x80;
                let exp = i32::from((c >> 4) & 0x07);
                let mant = i32::from(c & 0x0f);
                let v = if exp == 0 { (mant << 4) + 8 } else { ((mant << 4) + 0x108) << (exp - 1) };
                (if sign != 0 { v } else { -v }) as i16
            }
        }
    }
}

/// A party's voice: a sine at its frequency, about -10 dBm0.
#[derive(Debug, Clone)]
pub struct Speaker {
    freq: f32,
    n: u64,
}

impl Speaker {
    pub fn new(freq: f32) -> Speaker {
        Speaker { freq, n: 0 }
    }

    /// The next 20 ms in `law`.
    pub fn frame(&mut self, law: Law) -> [u8; FRAME] {
        let mut out = [0u8; FRAME];
        for o in &mut out {
            let t = self.n as f32 / RATE;
            let s = (7000.0 * (2.0 * std::f32::consts::PI * self.freq * t).sin()) as i16;
            *o = law.encode(s);
            self.n += 1;
        }
        out
    }
}

/// Samples per analysis block: 100 ms, so 440 and 480 Hz (40 Hz apart)
/// fall in separate 10 Hz bins.
const BLOCK: usize = 800;

/// Accumulated power at each candidate frequency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listener {
    power: [f64; CANDIDATES.len()],
    pub frames: u32,
    block: Vec<i16>,
}

fn goertzel(samples: &[i16], freq: f32) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * f64::from(freq) / f64::from(RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

impl Listener {
    /// Hear one frame of `law` payload.
    pub fn hear(&mut self, law: Law, payload: &[u8]) {
        self.block.extend(payload.iter().map(|&c| law.decode(c)));
        self.frames += 1;
        if self.block.len() >= BLOCK {
            for (p, f) in self.power.iter_mut().zip(CANDIDATES) {
                *p += goertzel(&self.block, f);
            }
            self.block.clear();
        }
    }

    /// The share (%) of the candidates' power at `freq` (a candidate).
    pub fn share_pct(&self, freq: f32) -> u32 {
        let total: f64 = self.power.iter().sum();
        let i = CANDIDATES.iter().position(|c| *c == freq);
        match i {
            Some(i) if total > 0.0 => (100.0 * self.power[i] / total).round() as u32,
            _ => 0,
        }
    }

    /// The dominant candidate (Hz) and its share of the candidates' power (%).
    pub fn dominant(&self) -> Option<(u32, u32)> {
        let total: f64 = self.power.iter().sum();
        if self.frames < 5 || total <= 0.0 {
            return None;
        }
        let (i, p) = self.power.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        Some((CANDIDATES[i] as u32, (100.0 * p / total).round() as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values_of_both_laws() {
        assert_eq!(Law::Mu.encode(0), 0xff);
        assert_eq!(Law::Mu.decode(0x00), -32_124);
        assert_eq!(Law::Mu.decode(0x80), 32_124);
        assert_eq!(Law::A.encode(0), 0xd5);
        assert_eq!(Law::A.decode(0xd5), 8);
        assert_eq!(Law::A.decode(0x55), -8);
        for law in [Law::Mu, Law::A] {
            for c in 0..=255u8 {
                let back = law.encode(law.decode(c));
                assert!(back == c || (law == Law::Mu && c == 0x7f && back == 0xff), "{law:?} {c:#x} -> {back:#x}");
            }
        }
    }

    #[test]
    fn a_listener_names_the_tone_it_hears() {
        for (freq, law) in [(440.0, Law::Mu), (1000.0, Law::A), (480.0, Law::Mu)] {
            let mut s = Speaker::new(freq);
            let mut l = Listener::default();
            for _ in 0..50 {
                l.hear(law, &s.frame(law));
            }
            let (hz, share) = l.dominant().expect("heard");
            assert_eq!(hz, freq as u32);
            assert!(share > 95, "{share}");
        }
        assert_eq!(Listener::default().dominant(), None);
    }
}
