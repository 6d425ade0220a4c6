//! SRTP cost per packet: protect and unprotect of a 172-byte G.711 packet
//! (12-byte RTP header, 160 bytes = 20 ms of PCMU) for both SDES suites.
//!
//! Each iteration handles a fresh sequence number: protecting or
//! unprotecting the same index twice is refused (replay), so the input
//! packets are made in criterion's untimed setup (`iter_batched`) and only
//! the transform itself is measured. Neither direction allocates.
//!
//! Run: `cargo bench -p gateway --bench srtp -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gateway::media::srtp::{Context, MasterKey, Suite};

const PAYLOAD: usize = 160;
const RTP_LEN: usize = 12 + PAYLOAD;
/// Room for the longest tag.
const BUF: usize = RTP_LEN + 10;

type Packet = ([u8; BUF], usize);

fn key() -> MasterKey {
    MasterKey::from_bytes(std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11)))
}

/// A PCMU packet with sequence number `seq`.
fn rtp(seq: u16) -> Packet {
    let mut buf = [0u8; BUF];
    buf[0] = 0x80;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    buf[8..12].copy_from_slice(&0x5eed_cafe_u32.to_be_bytes());
    for (i, b) in buf[12..RTP_LEN].iter_mut().enumerate() {
        *b = 0xd5 ^ (i as u8);
    }
    (buf, RTP_LEN)
}

fn suite_name(suite: Suite) -> &'static str {
    match suite {
        Suite::AesCm128HmacSha1_80 => "aes_cm_128_hmac_sha1_80",
        Suite::AesCm128HmacSha1_32 => "aes_cm_128_hmac_sha1_32",
    }
}

fn srtp(c: &mut Criterion) {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
        let mut g = c.benchmark_group(format!("srtp_g711_172/{}", suite_name(suite)));
        g.throughput(Throughput::Elements(1));

        let mut tx = Context::new(suite, &key());
        let mut seq = 0u16;
        g.bench_function("protect_rtp", |b| {
            b.iter_batched(
                || {
                    seq = seq.wrapping_add(1);
                    rtp(seq)
                },
                |(mut buf, len)| tx.protect_rtp(black_box(&mut buf), len).expect("protects"),
                BatchSize::SmallInput,
            )
        });

        let mut tx = Context::new(suite, &key());
        let mut rx = Context::new(suite, &key());
        let mut seq = 0u16;
        g.bench_function("unprotect_rtp", |b| {
            b.iter_batched(
                || {
                    seq = seq.wrapping_add(1);
                    let (mut buf, len) = rtp(seq);
                    let len = tx.protect_rtp(&mut buf, len).expect("protects");
                    (buf, len)
                },
                |(mut buf, len)| rx.unprotect_rtp(black_box(&mut buf), len).expect("verifies"),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, srtp);
criterion_main!(benches);
