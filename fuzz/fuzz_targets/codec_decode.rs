//! Arbitrary bytes as RTP payloads of every codec: `Decoder::decode` never
//! panics and never claims more samples than its buffer holds, concealment
//! after it works; then a `Transcoder` (codecs and out ptime picked by the
//! first byte) takes the payload whole and cut into pieces, a lost frame,
//! and gives frames until its FIFO holds less than one, within its bound.
#![no_main]

use gateway::media::codec::{Codec, Decoder, Transcoder, FIFO_MS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else { return };
    let mut pcm = [0i16; 5760];
    for codec in Codec::ALL {
        let mut dec = Decoder::new(codec).expect("decoder");
        if let Ok(n) = dec.decode(payload, &mut pcm) {
            assert!(n <= pcm.len());
        }
        assert!(dec.conceal(&mut pcm) <= pcm.len());
    }

    let from = Codec::ALL[usize::from(sel) % 5];
    let to = Codec::ALL[usize::from(sel / 5) % 5];
    let ptime = 10 * (1 + u32::from(sel >> 6) % 3);
    let mut t = Transcoder::new(from, to, ptime).expect("transcoder");
    let piece = 1 + usize::from(sel) % 40;
    let mut out = [0u8; 1500];
    let _ = t.push(payload);
    for chunk in payload.chunks(piece) {
        let _ = t.push(chunk);
        while let Some((n, step)) = t.pop(&mut out) {
            assert!(n <= out.len());
            assert_eq!(step, to.rtp_clock() / 1000 * ptime);
        }
    }
    t.conceal();
    assert!(t.buffered() <= to.samples(FIFO_MS));
    while t.pop(&mut out).is_some() {}
    assert!(t.buffered() < to.samples(ptime));
});
