//! Cost of transcoding one 20 ms frame through `media::codec::Transcoder`
//! (push one payload of `from` + pop one payload of `to`), per codec pair and
//! direction, with two baselines in the same run: a 160-byte copy and the
//! relay's in-place G.711 μ-law -> A-law table transcode.
//!
//! Payloads (one second: a 440 Hz + 1 kHz speech-level mix with a little
//! noise, encoded with `from`) and the transcoders are made outside the timed
//! loop; the timed code cycles through the payloads and allocates nothing.
//! Channels per core for a bidirectional channel = 1 / ((t(a->b) + t(b->a)) x 50).
//!
//! Run: `cargo bench -p gateway --bench transcode`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use gateway::media::codec::{Codec, Encoder, Transcoder};
use gateway::media::g711;

const PAIRS: [(Codec, Codec); 4] =
    [(Codec::Pcmu, Codec::Pcma), (Codec::Pcmu, Codec::G722), (Codec::Pcma, Codec::G729), (Codec::Pcmu, Codec::Opus)];

/// One second of 20 ms payloads of `codec`.
fn payloads(codec: Codec) -> Vec<Vec<u8>> {
    let rate = f64::from(codec.sample_rate());
    let mut seed = 1u32;
    let pcm: Vec<i16> = (0..codec.samples(1000))
        .map(|i| {
            let t = i as f64 / rate;
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from((seed >> 16) as i16) / 64.0;
            (4000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 3000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()
                + noise) as i16
        })
        .collect();
    let mut enc = Encoder::new(codec).expect("encoder");
    pcm.chunks_exact(codec.samples(20))
        .map(|frame| {
            let mut out = [0u8; 1500];
            let n = enc.encode(frame, &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect()
}

fn transcode(c: &mut Criterion) {
    let mut g = c.benchmark_group("transcode_20ms");
    let mut frame = [0x55u8; 160];
    let mut copy = [0u8; 160];
    g.bench_function("baseline_memcpy_160", |b| {
        b.iter(|| {
            copy.copy_from_slice(black_box(&frame));
            black_box(&copy);
        })
    });
    g.bench_function("baseline_g711_in_place", |b| b.iter(|| g711::transcode_ulaw_to_alaw(black_box(&mut frame))));
    for (a, b) in PAIRS {
        for (from, to) in [(a, b), (b, a)] {
            let input = payloads(from);
            let mut t = Transcoder::new(from, to, 20).expect("transcoder");
            let mut out = [0u8; 1500];
            let mut i = 0;
            let name = format!("{}_to_{}", from.rtpmap_name(), to.rtpmap_name());
            g.bench_function(name, |bench| {
                bench.iter(|| {
                    t.push(black_box(&input[i])).expect("push");
                    i = (i + 1) % input.len();
                    black_box(t.pop(&mut out))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, transcode);
criterion_main!(benches);
