//! The TCP/TLS stream framer: the input (after its first byte) is fed in
//! two pieces split at a position taken from the first byte, then all at
//! once; both must yield the same frames (a ping cut between its CRLFs
//! counting as two pongs). Every message framed is then driven through the
//! typed accessors.
#![no_main]

use bytes::Bytes;
use gateway::sip::msg::{Framing, Limits, Message};
use gateway_fuzz::{frames, pongs, F};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else { return };
    // Small limits too, so the size checks are reachable with small inputs.
    for limits in [Limits::default(), Limits { max_stream_message: 512, max_body: 256, ..Limits::default() }] {
        // A single push over twice the message bound fails by design (the
        // bound is per read), so only streams that fit are compared.
        if stream.len() > 2 * limits.max_stream_message {
            continue;
        }
        let cut = usize::from(first) * stream.len() / 255;
        let split = frames(&[&stream[..cut], &stream[cut..]], limits);
        let whole = frames(&[stream], limits);
        assert_eq!(pongs(&split), pongs(&whole), "split at {cut} of {}", stream.len());
        // Every message framed is one the parser accepts on its own.
        for f in &whole {
            if let F::Message(raw) = f {
                let m = Message::parse(Bytes::copy_from_slice(raw), Framing::Stream, &limits)
                    .expect("a framed message parses again");
                gateway_fuzz::touch(&m);
            }
        }
    }
});
