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
    /// Samples said so far, at `rate`.
    n: u64,
    rate: u32,
}

impl Speaker {
    pub fn new(freq: f32) -> Speaker {
        Speaker { freq, n: 0, rate: RATE as u32 }
    }

    /// The next 20 ms in `law`.
    pub fn frame(&mut self, law: Law) -> [u8; FRAME] {
        let mut out = [0u8; FRAME];
        for (o, s) in out.iter_mut().zip(self.pcm(RATE as u32)) {
            *o = law.encode(s);
        }
        out
    }

    /// The next 20 ms as PCM at `rate` Hz (the tone goes on across a
    /// change of rate).
    pub fn pcm(&mut self, rate: u32) -> Vec<i16> {
        self.pcm_ms(rate, 20)
    }

    /// The next `ms` milliseconds as PCM at `rate` Hz.
    pub fn pcm_ms(&mut self, rate: u32, ms: u32) -> Vec<i16> {
        if rate != self.rate && self.rate > 0 {
            self.n = self.n * u64::from(rate) / u64::from(self.rate);
            self.rate = rate;
        }
        (0..rate / 1000 * ms)
            .map(|_| {
                let t = self.n as f32 / rate as f32;
                self.n += 1;
                (7000.0 * (2.0 * std::f32::consts::PI * self.freq * t).sin()) as i16
            })
            .collect()
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
    /// The sample rate of `block` (0: 8 kHz).
    rate: u32,
}

fn goertzel(samples: &[i16], freq: f32, rate: u32) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * f64::from(freq) / f64::from(rate)).cos();
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
        let pcm: Vec<i16> = payload.iter().map(|&c| law.decode(c)).collect();
        self.hear_pcm(&pcm, RATE as u32);
    }

    /// Hear one frame of PCM at `rate` Hz.
    pub fn hear_pcm(&mut self, pcm: &[i16], rate: u32) {
        if self.rate == 0 {
            self.rate = rate;
        }
        if rate != self.rate {
            // Another codec: the block so far is analysed at its own rate.
            self.analyse();
            self.rate = rate;
        }
        self.block.extend_from_slice(pcm);
        self.frames += 1;
        // 100 ms blocks, as BLOCK is at 8 kHz.
        if self.block.len() >= BLOCK * self.rate as usize / RATE as usize {
            self.analyse();
        }
    }

    fn analyse(&mut self) {
        if self.block.is_empty() {
            return;
        }
        let rate = if self.rate == 0 { RATE as u32 } else { self.rate };
        for (p, f) in self.power.iter_mut().zip(CANDIDATES) {
            *p += goertzel(&self.block, f, rate);
        }
        self.block.clear();
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

/// The key of an RFC 4733 event code (0-9, 10 = `*`, 11 = `#`, 12-15 =
/// `A`-`D`; `?` for anything else), as the parties read events.
pub fn key_of_event(event: u8) -> char {
    match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + event - 12),
        _ => '?',
    }
}

/// The RFC 4733 event code of a key, if it is one.
pub fn event_of_key(key: char) -> Option<u8> {
    match key {
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(12 + (key as u8 - b'A')),
        c => c.to_digit(10).map(|d| d as u8),
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

/// DTMF row and column frequencies (Hz).
const DTMF_ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const DTMF_COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const DTMF_KEYS: [[char; 4]; 4] =
    [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];

/// A key's row and column frequencies.
fn dtmf_pair(key: char) -> Option<(f32, f32)> {
    DTMF_KEYS
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|k| *k == key).map(|c| (DTMF_ROWS[r], DTMF_COLS[c])))
}

/// A party pressing keys in-band: 100 ms of the key's two tones, then 60 ms of silence.
#[derive(Debug, Clone, Default)]
pub struct KeyPad {
    queue: std::collections::VecDeque<char>,
    /// The key sounding and the samples it has left, then the gap left.
    current: Option<(char, u32)>,
    gap: u32,
    n: u64,
}

impl KeyPad {
    pub fn press(&mut self, keys: impl IntoIterator<Item = char>) {
        self.queue.extend(keys);
    }

    /// The next 20 ms frame in `law`, if a key (or the gap after one) is due.
    pub fn frame(&mut self, law: Law) -> Option<[u8; FRAME]> {
        if self.current.is_none() && self.gap == 0 {
            let key = self.queue.pop_front()?;
            self.current = Some((key, 800));
        }
        let mut out = [law.encode(0); FRAME];
        if let Some((key, left)) = self.current.as_mut() {
            let (fr, fc) = dtmf_pair(*key).unwrap_or((0.0, 0.0));
            for o in &mut out {
                let t = self.n as f32 / RATE;
                let s = 5000.0 * (2.0 * std::f32::consts::PI * fr * t).sin()
                    + 5000.0 * (2.0 * std::f32::consts::PI * fc * t).sin();
                *o = law.encode(s as i16);
                self.n += 1;
            }
            *left = left.saturating_sub(FRAME as u32);
            if *left == 0 {
                self.current = None;
                self.gap = 480;
            }
        } else {
            self.gap = self.gap.saturating_sub(FRAME as u32);
        }
        Some(out)
    }
}

/// Hears keys in the audio: per 20 ms frame, the strongest row and column
/// tone must each carry a fair share of the frame's energy and stand well
/// above the other tones of their group; a key counts once it sounded for
/// two frames in a row, and again only after a frame without it.
#[derive(Debug, Clone, Default)]
pub struct KeyListener {
    candidate: Option<char>,
    run: u32,
    reported: bool,
    pub keys: Vec<char>,
}

impl KeyListener {
    pub fn hear(&mut self, law: Law, payload: &[u8]) {
        let samples: Vec<i16> = payload.iter().map(|&c| law.decode(c)).collect();
        let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>().max(1.0);
        let strongest = |freqs: &[f32; 4]| {
            let p: Vec<f64> = freqs.iter().map(|&f| goertzel(&samples, f, RATE as u32)).collect();
            let (i, best) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, b)| (i, *b))?;
            let second = p.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, v)| *v).fold(0.0, f64::max);
            (best / energy > 10.0 && best > 4.0 * second).then_some(i)
        };
        let key = strongest(&DTMF_ROWS).zip(strongest(&DTMF_COLS)).map(|(r, c)| DTMF_KEYS[r][c]);
        if key.is_some() && key == self.candidate {
            self.run += 1;
        } else {
            self.candidate = key;
            self.run = u32::from(key.is_some());
            self.reported = false;
        }
        if let (Some(k), false, 2..) = (self.candidate, self.reported, self.run) {
            self.keys.push(k);
            self.reported = true;
        }
    }
}

#[cfg(test)]
mod keypad_tests {
    use super::*;

    #[test]
    fn keys_pressed_are_heard_once_each_and_voice_is_not_a_key() {
        for law in [Law::Mu, Law::A] {
            let mut pad = KeyPad::default();
            pad.press("159#*0".chars());
            let mut ear = KeyListener::default();
            while let Some(f) = pad.frame(law) {
                ear.hear(law, &f);
            }
            assert_eq!(ear.keys, "159#*0".chars().collect::<Vec<_>>(), "{law:?}");
            let mut voice = Speaker::new(TEAMS_TONE);
            for _ in 0..100 {
                ear.hear(law, &voice.frame(law));
            }
            assert_eq!(ear.keys.len(), 6, "a 1000 Hz tone is not a key");
        }
    }
}
