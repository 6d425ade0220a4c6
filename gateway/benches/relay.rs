//! The RTP relay's cost per packet, in process (no sockets): a 172-byte
//! G.711 packet through `Relay::handle_packet` for the paths a call takes:
//! plain RTP -> RTP, RTP -> RTP with payload-type renumbering and
//! A-law -> μ-law transcoding, and RTP -> SRTP (AES_CM_128_HMAC_SHA1_80).
//! The baseline in the same run is a bare copy of the packet (what any
//! relay must at least do). Sequence numbers advance per iteration so the
//! SRTP context never sees a replay. No path allocates.
//!
//! The `relay, 1000 streams` group sends the same packets round-robin over
//! 1000 streams (as the load benchmark does): each packet meets a stream
//! whose state the previous 999 have pushed out of the nearer caches, which
//! is what a loaded relay pays per packet.
//!
//! Run: `cargo bench -p gateway --bench relay -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gateway::media::negotiate::{DirectionPlan, Transcode};
use gateway::media::relay::{Relay, RelayConfig, Remote, Side};
use gateway::media::srtp::{MasterKey, Suite};
use gateway::time::Time;

const LEN: usize = 172;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

fn remote(a: &str) -> Remote {
    let rtp = addr(a);
    Remote { rtp, rtcp: SocketAddr::new(rtp.ip(), rtp.port() + 1), rtcp_mux: false }
}

fn packet(buf: &mut [u8; LEN + 16], seq: u16, pt: u8) {
    buf[0] = 0x80;
    buf[1] = pt;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    buf[8..12].copy_from_slice(&0x5eed_cafe_u32.to_be_bytes());
}

enum Path {
    Plain,
    Transcode,
    Srtp,
}

fn bench_path(c: &mut Criterion, name: &str, path: Path) {
    let mut relay = Relay::new(&RelayConfig::default());
    let (s, [pa, _]) = relay.open().expect("open");
    relay.set_remote(s, Side::A, remote("192.0.2.10:30000"));
    relay.set_remote(s, Side::B, remote("52.114.1.1:50000"));
    let pt = match path {
        Path::Transcode => {
            let plan = DirectionPlan {
                pt_map: vec![(8, 0)],
                transcode: Some(Transcode::ALAW_TO_ULAW),
                clock: 8000,
                ..DirectionPlan::default()
            };
            relay.set_plan(s, Side::A, &plan, 20).expect("plan");
            8
        }
        Path::Srtp => {
            relay.set_srtp_outbound(s, Side::B, Some((Suite::AesCm128HmacSha1_80, MasterKey::from_bytes([7; 30]))));
            0
        }
        Path::Plain => 0,
    };
    let from = addr("192.0.2.10:30000");
    let mut buf = [0xd5u8; LEN + 16];
    let mut seq = 0u16;
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            packet(&mut buf, seq, pt);
            black_box(relay.handle_packet(Time::ZERO, pa, from, &mut buf, LEN))
        })
    });
    g.finish();
}

fn baseline(c: &mut Criterion) {
    let src = [0xd5u8; LEN];
    let mut dst = [0u8; LEN + 16];
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline: copy the packet", |b| {
        b.iter(|| {
            dst[..LEN].copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    g.finish();
}

/// `n` streams on `path`, one packet each in turn.
fn bench_streams(c: &mut Criterion, name: &str, path: Path, n: usize) {
    let mut relay =
        Relay::new(&RelayConfig { port_min: 10_000, port_max: 10_000 + 4 * n as u16, ..RelayConfig::default() });
    let mut ports = Vec::with_capacity(n);
    for i in 0..n {
        let (s, [pa, _]) = relay.open().expect("open");
        relay.set_remote(s, Side::A, remote(&format!("192.0.2.10:{}", 20_000 + 2 * i)));
        relay.set_remote(s, Side::B, remote(&format!("52.114.1.1:{}", 20_000 + 2 * i)));
        if let Path::Srtp = path {
            let key = MasterKey::from_bytes([i as u8; 30]);
            relay.set_srtp_outbound(s, Side::B, Some((Suite::AesCm128HmacSha1_80, key)));
        }
        ports.push((pa, addr(&format!("192.0.2.10:{}", 20_000 + 2 * i))));
    }
    let mut buf = [0xd5u8; LEN + 16];
    let (mut next, mut seq) = (0usize, 0u16);
    let mut g = c.benchmark_group(format!("relay, {n} streams"));
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            let (pa, from) = ports[next];
            next += 1;
            if next == n {
                next = 0;
                seq = seq.wrapping_add(1);
            }
            packet(&mut buf, seq, 0);
            black_box(relay.handle_packet(Time::ZERO, pa, from, &mut buf, LEN))
        })
    });
    g.finish();
}

fn paths(c: &mut Criterion) {
    baseline(c);
    bench_path(c, "rtp -> rtp", Path::Plain);
    bench_path(c, "rtp -> rtp, pt renumbered, A-law -> u-law", Path::Transcode);
    bench_path(c, "rtp -> srtp (AES_CM_128_HMAC_SHA1_80)", Path::Srtp);
    bench_streams(c, "rtp -> rtp", Path::Plain, 1000);
    bench_streams(c, "rtp -> srtp (AES_CM_128_HMAC_SHA1_80)", Path::Srtp, 1000);
}

criterion_group!(benches, paths);
criterion_main!(benches);
