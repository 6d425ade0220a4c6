//! Cost per 20 ms frame (160 samples at 8 kHz) of the media DSP blocks:
//! G.711 transcoding and companding, DTMF detection, tone generation.
//!
//! Buffers and state are made once outside the timed loop; the timed code
//! allocates nothing (the DTMF event sink is a counter).
//!
//! Run: `cargo bench -p gateway --bench dsp -- --quick`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gateway::media::g711;
use gateway::media::goertzel::{DtmfConfig, DtmfDetector, DtmfEvent};
use gateway::media::tone::{ringback, Cadence, Tone, ToneGenerator};

const FRAME: usize = 160;

/// An `Extend` sink that only counts, so the detector bench allocates nothing.
struct Count(usize);

impl Extend<DtmfEvent> for Count {
    fn extend<I: IntoIterator<Item = DtmfEvent>>(&mut self, iter: I) {
        self.0 += iter.into_iter().count();
    }
}

/// One second of speech-band test signal: a DTMF digit, as μ-law codes and linear samples.
fn signal() -> (Vec<u8>, Vec<i16>) {
    let mut pcm = vec![0i16; 8000];
    let tone = Tone::dtmf('5', -10.0, 8000).expect("digit");
    ToneGenerator::new(tone, Cadence::new(&[100, 60]).expect("cadence")).fill(&mut pcm);
    let mut codes = vec![0u8; pcm.len()];
    g711::encode_ulaw(&pcm, &mut codes);
    (codes, pcm)
}

fn g711_benches(c: &mut Criterion) {
    let (codes, _) = signal();
    let mut g = c.benchmark_group("g711");
    g.throughput(Throughput::Elements(FRAME as u64));

    let mut frame = [0u8; FRAME];
    frame.copy_from_slice(&codes[..FRAME]);
    g.bench_function("ulaw_to_alaw_transcode_160", |b| {
        b.iter(|| {
            g711::transcode_ulaw_to_alaw(black_box(&mut frame));
        })
    });

    let mut pcm = [0i16; FRAME];
    let mut out = [0u8; FRAME];
    g.bench_function("ulaw_decode_encode_160", |b| {
        b.iter(|| {
            g711::decode_ulaw(black_box(&codes[..FRAME]), &mut pcm);
            g711::encode_ulaw(black_box(&pcm), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("alaw_decode_encode_160", |b| {
        b.iter(|| {
            g711::decode_alaw(black_box(&codes[..FRAME]), &mut pcm);
            g711::encode_alaw(black_box(&pcm), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

fn dtmf_bench(c: &mut Criterion) {
    let (_, pcm) = signal();
    let frames: Vec<&[i16]> = pcm.chunks_exact(FRAME).collect();
    let mut det = DtmfDetector::new(DtmfConfig::default());
    let mut sink = Count(0);
    // The detector must actually find the digits it is timed on.
    for f in &frames {
        det.push(f, &mut sink);
    }
    assert!(sink.0 >= 2, "digits found: {}", sink.0);

    let mut g = c.benchmark_group("dtmf");
    g.throughput(Throughput::Elements(FRAME as u64));
    let mut i = 0;
    g.bench_function("detector_push_160", |b| {
        b.iter(|| {
            det.push(black_box(frames[i % frames.len()]), &mut sink);
            i += 1;
        })
    });
    g.finish();
    black_box(sink.0);
}

fn tone_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tone");
    g.throughput(Throughput::Elements(FRAME as u64));
    let mut out = [0i16; FRAME];
    let mut dual = ToneGenerator::new(Tone::dual(440.0, 480.0, -19.0, 8000), Cadence::continuous());
    g.bench_function("dual_fill_160", |b| b.iter(|| dual.fill(black_box(&mut out))));
    let mut uk = ringback("uk", 8000).expect("uk");
    g.bench_function("uk_ringback_fill_160", |b| b.iter(|| uk.fill(black_box(&mut out))));
    g.finish();
}

criterion_group!(benches, g711_benches, dtmf_bench, tone_bench);
criterion_main!(benches);
