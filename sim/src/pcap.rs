//! Writing a run's datagrams as a classic pcap file (LINKTYPE_RAW, IPv4 or
//! IPv6 + UDP), stamped with simulated time, for Wireshark and tshark.
//!
//! Contract: [`write`] produces a byte-exact, deterministic capture of the
//! given datagrams; IPv4 header checksums are computed, UDP checksums are
//! zero (allowed for IPv4) or computed (required for IPv6).

use std::net::{IpAddr, SocketAddr};

use crate::world::Captured;

const LINKTYPE_RAW: u32 = 101;

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

fn udp(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&from.port().to_be_bytes());
    u.extend_from_slice(&to.port().to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn packet(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut u = udp(from, to, payload);
    match (from.ip(), to.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + u.len()) as u16;
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let c = checksum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            ip.extend_from_slice(&u);
            ip
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut pseudo = Vec::with_capacity(40 + u.len());
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&(u.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 17]);
            pseudo.extend_from_slice(&u);
            let c = checksum(&pseudo);
            u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&(u.len() as u16).to_be_bytes());
            ip.extend_from_slice(&[17, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip.extend_from_slice(&u);
            ip
        }
        // Mixed families cannot be one packet; keep the payload visible.
        _ => u,
    }
}

/// The capture of `packets`.
pub fn write(packets: &[Captured]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    for p in packets {
        let frame = packet(p.from, p.to, &p.data);
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
    fn capture_layout() {
        let c = Captured {
            at: Time::from_millis(1500),
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
