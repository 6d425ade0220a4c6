//! The gateway's own G.722 (`gateway::media::codec::g722`) against spandsp's
//! (`sim::spandsp`): the same signals through both encoders give the same
//! bytes, and both decoders give the same samples from the same bitstream
//! (the encoders' output and random bytes). Signals: tones at several levels,
//! a chirp across the band, white noise at full scale (saturation paths),
//! square waves and silence, in 20 ms frames.
//!
//! One deliberate difference: when the receive QMF's result leaves the 16-bit
//! range (only on full-scale input), spandsp casts it to `int16_t` (it wraps:
//! -32994 comes out as +32542, a click) where the gateway saturates. At such
//! a sample ours must be the extreme of its sign and spandsp's the wrapped
//! value of the opposite sign; every other sample must be equal, and the
//! decoder states never diverge (the QMF output does not feed back).

use gateway::media::codec::g722::{G722Decoder, G722Encoder};
use sim::spandsp::{SpandspG722Decoder, SpandspG722Encoder};

const RATE: f64 = 16000.0;
const FRAME: usize = 320;

/// A small deterministic generator (xorshift64*), so the test needs no RNG crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn signals() -> Vec<(String, Vec<i16>)> {
    let n = 16000 * 2;
    let t = |i: usize| i as f64 / RATE;
    let mut v = Vec::new();
    for (freq, amp) in [(1000.0, 8000.0), (440.0, 20000.0), (3000.0, 32767.0), (6500.0, 12000.0), (150.0, 500.0)] {
        v.push((
            format!("tone {freq} Hz amp {amp}"),
            (0..n).map(|i| (amp * (2.0 * std::f64::consts::PI * freq * t(i)).sin()).round() as i16).collect(),
        ));
    }
    // Linear chirp 50 Hz -> 7950 Hz over the signal.
    let k = (7950.0 - 50.0) / (n as f64 / RATE);
    v.push((
        "chirp".into(),
        (0..n)
            .map(|i| (16000.0 * (2.0 * std::f64::consts::PI * (50.0 * t(i) + 0.5 * k * t(i) * t(i))).sin()) as i16)
            .collect(),
    ));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    v.push(("white noise, full scale".into(), (0..n).map(|_| rng.next() as i16).collect()));
    v.push(("quiet noise".into(), (0..n).map(|_| (rng.next() as i16) >> 8).collect()));
    v.push(("square".into(), (0..n).map(|i| if (i / 40) % 2 == 0 { i16::MAX } else { i16::MIN }).collect()));
    v.push(("silence".into(), vec![0; n]));
    v
}

#[test]
fn encoders_give_identical_bytes() {
    for (name, pcm) in signals() {
        let mut ours = G722Encoder::new();
        let mut theirs = SpandspG722Encoder::new().expect("spandsp encoder");
        let (mut a, mut b) = ([0u8; FRAME / 2], [0u8; FRAME / 2]);
        for (f, frame) in pcm.chunks_exact(FRAME).enumerate() {
            assert_eq!(ours.encode(frame, &mut a), FRAME / 2);
            assert_eq!(theirs.encode(frame, &mut b), FRAME / 2);
            if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
                panic!("{name}: frame {f} byte {i}: ours {:#04x}, spandsp {:#04x}", a[i], b[i]);
            }
        }
    }
}

#[test]
fn decoders_give_identical_samples() {
    let mut streams: Vec<(String, Vec<u8>)> = signals()
        .into_iter()
        .map(|(name, pcm)| {
            let mut enc = SpandspG722Encoder::new().expect("spandsp encoder");
            let mut codes = vec![0u8; pcm.len() / 2];
            assert_eq!(enc.encode(&pcm, &mut codes), codes.len());
            (name, codes)
        })
        .collect();
    let mut rng = Rng(42);
    streams.push(("random bytes".into(), (0..16000).map(|_| rng.next() as u8).collect()));
    streams.push(("all 0x00".into(), vec![0; 8000]));
    streams.push(("all 0xFF".into(), vec![0xFF; 8000]));
    for (name, codes) in streams {
        let mut ours = G722Decoder::new();
        let mut theirs = SpandspG722Decoder::new().expect("spandsp decoder");
        let (mut a, mut b) = ([0i16; FRAME], [0i16; FRAME]);
        let mut overloads = 0;
        for (f, frame) in codes.chunks_exact(FRAME / 2).enumerate() {
            assert_eq!(ours.decode(frame, &mut a), FRAME);
            assert_eq!(theirs.decode(frame, &mut b), FRAME);
            for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
                let wrapped = (x == i16::MIN && y >= 0) || (x == i16::MAX && y < 0);
                assert!(x == y || wrapped, "{name}: frame {f} sample {i}: ours {x}, spandsp {y}");
                overloads += usize::from(x != y);
            }
        }
        eprintln!("{name}: {} samples compared, {overloads} saturated where spandsp wraps", 2 * codes.len());
        let loud = name.contains("32767")
            || name.contains("full scale")
            || name.contains("square")
            || name.contains("random")
            || name.contains("all 0x");
        assert!(loud || overloads == 0, "{name}: {overloads} overloads on a signal that never reaches full scale");
    }
}
