//! Codec, transcoder and robustness tests (the G.722 and resampler units test themselves).

use proptest::prelude::*;

use super::testsig::{dominant_freq, level_db, tone, tone_snr};
use super::*;

const AMP: f64 = 8000.0; // about -12 dBFS peak: speech level, far from clipping

/// Encode `pcm` frame by frame (20 ms) and decode it back.
fn round_trip(codec: Codec, pcm: &[i16]) -> Vec<i16> {
    let mut enc = Encoder::new(codec).expect("encoder");
    let mut dec = Decoder::new(codec).expect("decoder");
    let mut out = Vec::new();
    let mut payload = [0u8; 1500];
    let mut buf = [0i16; MAX_PCM];
    for frame in pcm.chunks_exact(codec.samples(20)) {
        let n = enc.encode(frame, &mut payload).expect("encode");
        let m = dec.decode(&payload[..n], &mut buf).expect("decode");
        assert_eq!(m, frame.len(), "{codec:?}");
        out.extend_from_slice(&buf[..m]);
    }
    out
}

/// The SNR floor per codec for a tone at [`AMP`] (dB), and how far its level may move.
/// Measured (1 kHz / 440 Hz, `cargo test -p gateway --lib every_codec_round_trips -- --nocapture`):
/// G.711 39-48 dB (8-bit companding: ~38 dB plus the fit's gain); G.722 47-57 dB
/// (ADPCM on a stationary tone); G.729 25-28 dB and Opus 33-35 dB, which are
/// perceptual codecs: on speech their waveform SNR is far lower, so their floor
/// is loose (15 dB) and the frequency and level (within 2 dB) are what counts.
fn floor(codec: Codec) -> (f64, f64) {
    match codec {
        Codec::Pcmu | Codec::Pcma => (30.0, 0.5),
        Codec::G722 => (35.0, 0.5),
        Codec::G729 | Codec::Opus => (15.0, 2.0),
    }
}

#[test]
fn every_codec_round_trips_tones() {
    for codec in Codec::ALL {
        for freq in [1000.0, 440.0] {
            let rate = codec.sample_rate();
            let x = tone(freq, rate, codec.samples(1000), AMP);
            let y = round_trip(codec, &x);
            let tail = &y[y.len() / 4..];
            let f = dominant_freq(tail, rate);
            let snr = tone_snr(tail, freq, rate);
            let dl = level_db(tail) - level_db(&x);
            eprintln!("{codec:?} {freq} Hz: {f} Hz, SNR {snr:.1} dB, level {dl:+.2} dB");
            let (min_snr, max_dl) = floor(codec);
            assert!((f - freq).abs() <= 3.0, "{codec:?}: {freq} Hz came back at {f} Hz");
            assert!(snr > min_snr, "{codec:?} {freq} Hz: SNR {snr:.1} dB");
            assert!(dl.abs() < max_dl, "{codec:?} {freq} Hz: level moved {dl:+.2} dB");
        }
    }
}

#[test]
fn rtpmap_names_and_numbers() {
    for codec in Codec::ALL {
        assert_eq!(Codec::from_rtpmap(codec.rtpmap_name(), codec.rtp_clock(), codec.channels()), Some(codec));
        assert_eq!(Codec::from_rtpmap(&codec.rtpmap_name().to_lowercase(), codec.rtp_clock(), None), Some(codec));
    }
    assert_eq!(Codec::from_rtpmap("OPUS", 48000, Some(2)), Some(Codec::Opus));
    assert_eq!(Codec::from_rtpmap("g722", 8000, None), Some(Codec::G722));
    assert_eq!(Codec::from_rtpmap("G722", 16000, None), None);
    assert_eq!(Codec::from_rtpmap("opus", 8000, Some(2)), None);
    assert_eq!(Codec::from_rtpmap("PCMU", 8000, Some(2)), None);
    assert_eq!(Codec::from_rtpmap("GSM", 8000, None), None);
    let pts: Vec<_> = Codec::ALL.iter().map(|c| c.static_pt()).collect();
    assert_eq!(pts, [Some(0), Some(8), Some(9), Some(18), None]);
    let rates: Vec<_> = Codec::ALL.iter().map(|c| (c.rtp_clock(), c.sample_rate())).collect();
    assert_eq!(rates, [(8000, 8000), (8000, 8000), (8000, 16000), (8000, 8000), (48000, 48000)]);
}

#[test]
fn payload_sizes_per_codec() {
    let mut out = [0u8; 1500];
    for (codec, want) in [(Codec::Pcmu, 160), (Codec::Pcma, 160), (Codec::G722, 160), (Codec::G729, 20)] {
        let pcm = tone(1000.0, codec.sample_rate(), codec.samples(20), AMP);
        assert_eq!(Encoder::new(codec).expect("enc").encode(&pcm, &mut out), Ok(want), "{codec:?}");
    }
    // Opus at 24 kbit/s: ~60 bytes per 20 ms; 30 ms joins three 10 ms frames.
    let mut enc = Encoder::new(Codec::Opus).expect("enc");
    for ms in [10, 20, 30, 40, 60] {
        let pcm = tone(1000.0, 48000, Codec::Opus.samples(ms), AMP);
        let n = enc.encode(&pcm, &mut out).expect("opus");
        assert!(n > 10 && n < ms as usize * 6, "opus {ms} ms: {n} bytes");
        let mut dec = Decoder::new(Codec::Opus).expect("dec");
        let mut pcm_out = [0i16; MAX_PCM];
        assert_eq!(dec.decode(&out[..n], &mut pcm_out), Ok(Codec::Opus.samples(ms)));
    }
    assert!(matches!(enc.encode(&[0; 100], &mut out), Err(CodecError::FrameSize { .. })));
    let mut g729 = Encoder::new(Codec::G729).expect("enc");
    assert!(matches!(g729.encode(&[0; 81], &mut out), Err(CodecError::FrameSize { .. })));
    assert!(matches!(g729.encode(&[0; 160], &mut out[..19]), Err(CodecError::BufferTooSmall { .. })));
    let mut g722 = Encoder::new(Codec::G722).expect("enc");
    assert!(matches!(g722.encode(&[0; 3], &mut out), Err(CodecError::FrameSize { .. })));
}

#[test]
fn malformed_payloads_are_errors() {
    let mut pcm = [0i16; MAX_PCM];
    for codec in Codec::ALL {
        let mut dec = Decoder::new(codec).expect("dec");
        let e = dec.decode(&[], &mut pcm).expect_err("empty");
        assert!(e.to_string().contains(codec.rtpmap_name()), "{e}");
    }
    let mut g729 = Decoder::new(Codec::G729).expect("dec");
    for len in [1, 3, 9, 11, 15] {
        assert!(matches!(g729.decode(&[0; 15][..len], &mut pcm), Err(CodecError::Malformed { .. })), "{len}");
    }
    // Two speech frames and a SID; a SID alone.
    assert_eq!(g729.decode(&[0x55; 22], &mut pcm), Ok(240));
    assert_eq!(g729.decode(&[0x55; 2], &mut pcm), Ok(80));
    // Opus: a code 3 packet claiming more frames than it holds.
    let mut opus = Decoder::new(Codec::Opus).expect("dec");
    let e = opus.decode(&[0x03, 0x3F], &mut pcm).expect_err("bad opus");
    assert!(matches!(e, CodecError::Malformed { codec: Codec::Opus, .. }), "{e}");
    // Stereo packets decode (downmixed) into mono.
    let mut g711 = Decoder::new(Codec::Pcmu).expect("dec");
    assert!(matches!(g711.decode(&[0; 10], &mut pcm[..5]), Err(CodecError::BufferTooSmall { .. })));
}

#[test]
fn concealment_gives_one_frame() {
    let mut pcm = [0i16; MAX_PCM];
    for codec in Codec::ALL {
        let mut enc = Encoder::new(codec).expect("enc");
        let mut dec = Decoder::new(codec).expect("dec");
        assert_eq!(dec.conceal(&mut pcm), codec.samples(20), "{codec:?} before any packet");
        let x = tone(1000.0, codec.sample_rate(), codec.samples(30), AMP);
        let mut payload = [0u8; 1500];
        let n = enc.encode(&x, &mut payload).expect("enc");
        dec.decode(&payload[..n], &mut pcm).expect("dec");
        assert_eq!(dec.conceal(&mut pcm), codec.samples(30), "{codec:?}");
        assert_eq!(dec.conceal(&mut pcm[..7]), if matches!(codec, Codec::G729 | Codec::Opus) { 0 } else { 7 });
    }
}

/// Push `ms` of a tone through a transcoder in `in_ptime` payloads; the decoded output.
fn transcode_tone(from: Codec, to: Codec, in_ptime: u32, out_ptime: u32, freq: f64, ms: u32) -> (Vec<i16>, usize) {
    let mut t = Transcoder::new(from, to, out_ptime).expect("transcoder");
    let mut enc = Encoder::new(from).expect("enc");
    let mut dec = Decoder::new(to).expect("dec");
    let x = tone(freq, from.sample_rate(), from.samples(ms), AMP);
    let (mut payload, mut out) = ([0u8; 1500], [0u8; 1500]);
    let mut pcm = [0i16; MAX_PCM];
    let mut y = Vec::new();
    let mut frames = 0;
    for frame in x.chunks_exact(from.samples(in_ptime)) {
        let n = enc.encode(frame, &mut payload).expect("encode");
        t.push(&payload[..n]).expect("push");
        while let Some((n, step)) = t.pop(&mut out) {
            assert_eq!(step, to.rtp_clock() / 1000 * out_ptime);
            let m = dec.decode(&out[..n], &mut pcm).expect("decode");
            assert_eq!(m, to.samples(out_ptime));
            y.extend_from_slice(&pcm[..m]);
            frames += 1;
        }
    }
    assert_eq!(t.dropped(), 0);
    (y, frames)
}

#[test]
fn every_pair_keeps_a_tone() {
    for from in Codec::ALL {
        for to in Codec::ALL {
            let (y, _) = transcode_tone(from, to, 20, 20, 1000.0, 600);
            let rate = to.sample_rate();
            let tail = &y[y.len() / 3..];
            let f = dominant_freq(tail, rate);
            let dl = level_db(tail) - level_db(&tone(1000.0, rate, 1000, AMP));
            assert!((f - 1000.0).abs() <= 3.0, "{from:?}->{to:?}: 1 kHz came out at {f} Hz");
            assert!(dl.abs() < 4.0, "{from:?}->{to:?}: level moved {dl:+.2} dB");
        }
    }
}

#[test]
fn ptime_changes_give_the_right_frames_and_timestamps() {
    for (from, to) in [(Codec::Pcmu, Codec::Opus), (Codec::Opus, Codec::G722), (Codec::G729, Codec::Pcma)] {
        for (pin, pout) in [(10, 30), (30, 10), (20, 20)] {
            // 600 ms in: 600 / pout frames out (the resampler's delay is in the stream, not lost).
            let (y, frames) = transcode_tone(from, to, pin, pout, 440.0, 600);
            assert_eq!(frames, 600 / pout as usize, "{from:?}->{to:?} {pin}->{pout}");
            assert_eq!(y.len(), to.samples(600));
        }
    }
    let t = Transcoder::new(Codec::Pcmu, Codec::G722, 20).expect("t");
    assert_eq!(t.ts_step, 160);
    assert!(Transcoder::new(Codec::Pcmu, Codec::G722, 25).is_err());
    assert!(Transcoder::new(Codec::Pcmu, Codec::G722, 0).is_err());
}

#[test]
fn fifo_is_bounded_and_counts_drops() {
    let mut t = Transcoder::new(Codec::Pcmu, Codec::Opus, 20).expect("t");
    let payload = [0x55u8; 160];
    for _ in 0..10 {
        t.push(&payload).expect("push");
    }
    // Opus from PCMU works at 8 kHz: the FIFO holds 120 ms of 8 kHz PCM.
    assert_eq!(t.buffered(), Codec::Pcmu.samples(FIFO_MS));
    assert_eq!(t.dropped(), Codec::Pcmu.samples(200 - FIFO_MS) as u64);
    // The longest payload fits; anything longer is refused.
    t.push(&[0x55; 960]).expect("120 ms");
    assert!(matches!(t.push(&[0x55; 961]), Err(CodecError::Malformed { .. })));
    let mut out = [0u8; 1500];
    let mut frames = 0;
    while t.pop(&mut out).is_some() {
        frames += 1;
    }
    assert_eq!(frames, 6);
    // An output buffer too small drops the frame and counts it.
    for _ in 0..2 {
        t.push(&payload).expect("push");
    }
    assert_eq!(t.pop(&mut out[..0]), None);
    assert_eq!(t.encode_errors(), 1);
    t.conceal();
    assert!(t.pop(&mut out).is_some());
}

#[test]
fn concealment_keeps_the_stream_going() {
    let mut t = Transcoder::new(Codec::G729, Codec::Pcmu, 20).expect("t");
    let mut out = [0u8; 160];
    t.conceal();
    assert_eq!(t.pop(&mut out), Some((160, 160)));
    t.push(&[0x11; 30]).expect("30 ms");
    t.conceal(); // 30 ms more
    assert_eq!(t.buffered(), 480);
}

proptest! {
    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let mut pcm = [0i16; MAX_PCM];
        for codec in Codec::ALL {
            let mut dec = Decoder::new(codec).expect("dec");
            if let Ok(n) = dec.decode(&data, &mut pcm) {
                prop_assert!(n <= pcm.len());
            }
            dec.conceal(&mut pcm);
            let mut t = Transcoder::new(codec, Codec::Pcmu, 20).expect("t");
            let _ = t.push(&data);
            let mut out = [0u8; 160];
            while t.pop(&mut out).is_some() {}
            prop_assert!(t.buffered() < 160);
        }
    }
}
