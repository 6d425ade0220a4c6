//! The relay on arbitrary packets: RTP and RTCP headers (CSRCs, header
//! extensions, padding), RFC 4733 events, comfort noise, RTCP compound
//! packets (renamed when relayed, read when terminated), through every
//! path a stream can take: pass-through, G.711 in place, a codec
//! transcoder re-framing to 10 ms, SRTP toward one leg. Nothing panics,
//! what is forwarded fits the buffer, and the stream's bookkeeping
//! survives (the pool comes back whole when the streams close).
#![no_main]

use gateway::media::codec::Codec;
use gateway::media::negotiate::{DirectionPlan, Transcode};
use gateway::media::relay::{Relay, RelayConfig, Remote, Side, MEDIA_BUFFER};
use gateway::media::srtp::{MasterKey, Suite};
use gateway::time::Time;
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fn remote(a: &str, mux: bool) -> Remote {
    let rtp: SocketAddr = a.parse().expect("addr");
    Remote { rtp, rtcp: SocketAddr::new(rtp.ip(), rtp.port() + 1), rtcp_mux: mux }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let mut relay = Relay::new(&RelayConfig { port_min: 30_000, port_max: 30_099, max_transcoders: 4 });
    let free = relay.free_ports();
    let Ok((s, [pa, pb])) = relay.open() else { return };
    relay.set_remote(s, Side::A, remote("192.0.2.10:4000", selector & 1 != 0));
    relay.set_remote(s, Side::B, remote("198.51.100.7:5000", selector & 2 != 0));
    let (from, to) = match selector >> 2 & 3 {
        0 => (Codec::Pcmu, Codec::Pcmu),
        1 => (Codec::Pcmu, Codec::Pcma),
        2 => (Codec::Pcmu, Codec::G722),
        _ => (Codec::G729, Codec::Opus),
    };
    let plan = DirectionPlan {
        pt_map: vec![(from.static_pt().unwrap_or(96), to.static_pt().unwrap_or(97)), (101, 101), (13, 13)],
        transcode: (from != to).then_some(Transcode { from, to }),
        clock: to.rtp_clock(),
        codec: Some(to),
        comfort_noise: (selector & 0x40 != 0).then_some(13),
    };
    let _ = relay.set_plan(s, Side::A, &plan, if selector & 0x10 != 0 { 10 } else { 20 });
    relay.set_rtcp_terminate(s, Side::B, selector & 0x20 != 0);
    relay.set_telephone_event(s, Side::A, Some(101), Some(101));
    relay.set_events_to_signalling(s, Side::A, selector & 0x80 != 0);
    if selector & 0x08 != 0 {
        let key = MasterKey::from_bytes(std::array::from_fn(|i| i as u8));
        relay.set_srtp_outbound(s, Side::B, Some((Suite::AesCm128HmacSha1_80, key)));
    }
    // Packets: a length byte and a port choice, then the bytes.
    let mut at = 0u64;
    let mut input = rest;
    let mut out = Vec::new();
    while let Some((&head, tail)) = input.split_first() {
        let n = usize::from(head & 0x7f).min(tail.len()) * 4 / 3;
        let n = n.min(tail.len());
        let (packet, tail) = tail.split_at(n);
        input = tail;
        let (port, src) = match head >> 7 {
            0 => (pa, "192.0.2.10:4000"),
            _ => (pb + u16::from(n % 2 == 1), "198.51.100.7:5001"),
        };
        let mut buf = vec![0u8; MEDIA_BUFFER.max(packet.len() + 16)];
        buf[..packet.len()].copy_from_slice(packet);
        at += 7;
        let now = Time::from_millis(at);
        if let Some((_, len)) = relay.handle_packet(now, port, src.parse().expect("addr"), &mut buf, packet.len()) {
            assert!(len <= buf.len());
        }
        while let Some((_, _, p)) = relay.poll_extra() {
            assert!(p.len() <= MEDIA_BUFFER);
        }
        relay.handle_timeout(now, &mut out);
        out.clear();
    }
    relay.close(s);
    assert_eq!(relay.free_ports(), free);
    assert_eq!(relay.transcoders(), 0);
});
