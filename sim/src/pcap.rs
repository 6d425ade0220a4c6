//! Writing a run's messages as a classic pcap file (LINKTYPE_RAW, IPv4 or
//! IPv6, then UDP or TCP), stamped with simulated time, for Wireshark and
//! tshark.
//!
//! Contract: [`write()`] produces a byte-exact, deterministic capture of the
//! given messages. IPv4 header checksums are computed; UDP checksums are
//! zero (allowed for IPv4) or computed (required for IPv6); TCP segments
//! carry one message each with per-flow sequence numbers that continue
//! across messages (so Wireshark reassembles the stream), PSH+ACK, and a
//! computed checksum. No handshake is invented: the capture starts mid-
//! connection, as a capture taken on a running SBC does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use gateway::sip::transport::Proto;

use crate::world::Captured;

const LINKTYPE_RAW: u32 = 101;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// First sequence number of every flow (any value will do; fixed for determinism).
const ISN: u32 = 1;

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of a transport segment over the IP pseudo-header.
fn pseudo_checksum(from: IpAddr, to: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + segment.len());
    match (from, to) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&(segment.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => return 0,
    }
    pseudo.extend_from_slice(segment);
    checksum(&pseudo)
}

fn udp(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&from.port().to_be_bytes());
    u.extend_from_slice(&to.port().to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    if from.is_ipv6() {
        let c = pseudo_checksum(from.ip(), to.ip(), IPPROTO_UDP, &u);
        u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    }
    u
}

fn tcp(from: SocketAddr, to: SocketAddr, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&from.port().to_be_bytes());
    t.extend_from_slice(&to.port().to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, 0x18]); // 20-byte header; PSH + ACK
    t.extend_from_slice(&65_535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    t.extend_from_slice(payload);
    let c = pseudo_checksum(from.ip(), to.ip(), IPPROTO_TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// An IP packet around a transport segment.
fn ip(from: IpAddr, to: IpAddr, proto: u8, segment: Vec<u8>) -> Vec<u8> {
    match (from, to) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + segment.len()) as u16;
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let c = checksum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            ip.extend_from_slice(&segment);
            ip
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&(segment.len() as u16).to_be_bytes());
            ip.extend_from_slice(&[proto, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip.extend_from_slice(&segment);
            ip
        }
        _ => segment,
    }
}

#[cfg(test)]
fn packet(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    ip(from.ip(), to.ip(), IPPROTO_UDP, udp(from, to, payload))
}

/// The pcap file of `packets`, in order.
pub fn write(packets: &[Captured]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    // Next sequence number per direction of each TCP flow.
    let mut next_seq: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
    for p in packets {
        let frame = match p.proto {
            Proto::Udp => ip(p.from.ip(), p.to.ip(), IPPROTO_UDP, udp(p.from, p.to, &p.data)),
            Proto::Tcp | Proto::Tls => {
                let seq = *next_seq.get(&(p.from, p.to)).unwrap_or(&ISN);
                let ack = *next_seq.get(&(p.to, p.from)).unwrap_or(&ISN);
                next_seq.insert((p.from, p.to), seq.wrapping_add(p.data.len() as u32));
                ip(p.from.ip(), p.to.ip(), IPPROTO_TCP, tcp(p.from, p.to, seq, ack, &p.data))
            }
        };
        let ns = p.at.as_nanos();
        out.extend_from_slice(&((ns / 1_000_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(((ns / 1_000) % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gateway::time::Time;

    #[test]
    fn ipv4_header_checksum_verifies() {
        let p = packet("192.0.2.1:5060".parse().unwrap(), "192.0.2.2:5060".parse().unwrap(), b"OPTIONS");
        assert_eq!(checksum(&p[..20]), 0, "a correct header sums to zero");
        assert_eq!(p.len(), 20 + 8 + 7);
    }

    #[test]
    fn tcp_checksum_verifies_and_sequence_numbers_continue_per_flow() {
        let (a, b): (SocketAddr, SocketAddr) = ("192.0.2.1:49152".parse().unwrap(), "192.0.2.2:5060".parse().unwrap());
        let seg = |from, to, data: &'static [u8]| Captured {
            at: Time::ZERO,
            proto: Proto::Tcp,
            from,
            to,
            data: Bytes::from_static(data),
        };
        let w = write(&[seg(a, b, b"INVITE"), seg(b, a, b"100"), seg(a, b, b"ACK")]);
        // Records: 24-byte file header, then 16-byte record headers.
        let first = &w[24 + 16..24 + 16 + 20 + 20 + 6];
        assert_eq!(first[9], IPPROTO_TCP);
        let segment = &first[20..];
        assert_eq!(pseudo_checksum(a.ip(), b.ip(), IPPROTO_TCP, segment), 0, "a correct segment sums to zero");
        let third_at = 24 + (16 + 46) + (16 + 43) + 16;
        let third = &w[third_at..];
        let seq = u32::from_be_bytes(third[24..28].try_into().unwrap());
        let ack = u32::from_be_bytes(third[28..32].try_into().unwrap());
        assert_eq!(seq, ISN + 6, "continues after INVITE");
        assert_eq!(ack, ISN + 3, "acknowledges the 100");
    }

    #[test]
    fn capture_layout() {
        let c = Captured {
            at: Time::from_millis(1500),
            proto: Proto::Udp,
            from: "192.0.2.1:1".parse().unwrap(),
            to: "192.0.2.2:2".parse().unwrap(),
            data: Bytes::from_static(b"x"),
        };
        let w = write(&[c]);
        assert_eq!(&w[..4], &0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(u32::from_le_bytes(w[24..28].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(w[28..32].try_into().unwrap()), 500_000);
    }
}
