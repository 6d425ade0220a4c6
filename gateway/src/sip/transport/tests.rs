//! The transport against RFC 3261 section 18 and RFC 3581.

use super::*;

fn ms(n: u64) -> Time {
    Time::from_millis(n)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

const INVITE: &str = "INVITE sip:+15551230000@gw.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnat;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:+15559870000@op.example>;tag=a\r\nTo: <sip:+15551230000@gw.example.com>\r\nCall-ID: nat-1\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:192.0.2.10>\r\nContent-Length: 0\r\n\r\n";

fn drain(t: &mut Transport) -> Vec<Output> {
    std::iter::from_fn(|| t.poll_output()).collect()
}

#[test]
fn udp_request_behind_nat_gets_received_and_rport() {
    let mut t = Transport::new(TransportConfig::default());
    t.handle_datagram(ms(0), addr("203.0.113.7:40000"), Bytes::from_static(INVITE.as_bytes()));
    let r = t.poll_received().expect("delivered");
    let via = r.msg.top_via().unwrap();
    assert_eq!(via.received(), Some("203.0.113.7"));
    assert_eq!(via.rport(), Some(Some(40000)));
    assert_eq!(via.branch(), Some("z9hG4bKnat"));
    assert_eq!(response_target(&r.msg, &r.from).addr, addr("203.0.113.7:40000"));
    // Responses built from it carry the stamped Via back.
    let resp = build::response(&r.msg, 100, "Trying", None, &[], None);
    assert!(std::str::from_utf8(&resp).unwrap().contains(";rport=40000;received=203.0.113.7"));
}

#[test]
fn sent_by_equal_to_the_source_is_left_alone() {
    let mut t = Transport::new(TransportConfig::default());
    let plain = INVITE.replace(";rport", "");
    t.handle_datagram(ms(0), addr("192.0.2.10:5060"), Bytes::from(plain.clone()));
    let r = t.poll_received().unwrap();
    assert_eq!(r.msg.raw(), plain.as_bytes(), "forwarded byte-identically");
    assert_eq!(response_target(&r.msg, &r.from).addr, addr("192.0.2.10:5060"));
}

#[test]
fn ipv6_source_is_stamped_in_brackets() {
    let mut t = Transport::new(TransportConfig::default());
    t.handle_datagram(ms(0), addr("[2001:db8::7]:5070"), Bytes::from_static(INVITE.as_bytes()));
    let r = t.poll_received().unwrap();
    assert_eq!(r.msg.top_via().unwrap().received(), Some("[2001:db8::7]"));
    assert_eq!(response_target(&r.msg, &r.from).addr, addr("[2001:db8::7]:5070"));
}

#[test]
fn malformed_requests_are_answered_statelessly_and_garbage_is_counted() {
    let mut t = Transport::new(TransportConfig::default());
    let bad = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 300");
    t.handle_datagram(ms(0), addr("203.0.113.7:40000"), Bytes::from(bad));
    assert!(t.poll_received().is_none(), "never reaches the transaction layer");
    let out = drain(&mut t);
    let Output::Datagram { to, data } = &out[0] else { panic!("{out:?}") };
    assert_eq!(*to, addr("192.0.2.10:5060"), "no rport stamping on a rejected request: sent-by");
    let resp = Message::parse_datagram(data.clone()).unwrap();
    assert_eq!(resp.status(), Some(400));
    assert!(resp.header_value(HeaderName::Warning).unwrap().contains("Max-Forwards"));
    t.handle_datagram(ms(0), addr("203.0.113.7:40000"), Bytes::from_static(b"\x16\x03\x01 not sip at all\r\n\r\n"));
    t.handle_datagram(
        ms(0),
        addr("203.0.113.7:40000"),
        Bytes::from_static(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: x\r\n\r\n"),
    );
    t.handle_datagram(ms(0), addr("203.0.113.7:40000"), Bytes::from_static(b"\r\n\r\n"));
    assert!(drain(&mut t).is_empty());
    let c = t.counters();
    assert_eq!((c.malformed_answered, c.malformed_dropped, c.keepalives), (1, 2, 1));
}

#[test]
fn tcp_stream_split_anywhere_with_keepalives() {
    let mut t = Transport::new(TransportConfig::default());
    let peer = addr("198.51.100.4:5061");
    assert!(t.handle_stream_opened(ms(0), ConnId(1), Proto::Tls, peer));
    let tcp = INVITE.replace("UDP", "TLS");
    let stream = format!("\r\n\r\n{tcp}{tcp}");
    for chunk in stream.as_bytes().chunks(37) {
        t.handle_stream_data(ms(1), ConnId(1), chunk);
    }
    let got: Vec<Received> = std::iter::from_fn(|| t.poll_received()).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].from, Peer { proto: Proto::Tls, addr: peer, conn: Some(ConnId(1)) });
    assert_eq!(drain(&mut t), vec![Output::Stream { conn: ConnId(1), data: Bytes::from_static(b"\r\n") }], "pong");
    // Responses go back on the same connection.
    let target = response_target(&got[0].msg, &got[0].from);
    t.send(target, Bytes::from_static(b"resp"));
    assert_eq!(drain(&mut t), vec![Output::Stream { conn: ConnId(1), data: Bytes::from_static(b"resp") }]);
}

#[test]
fn framing_fault_closes_the_connection() {
    let mut t = Transport::new(TransportConfig::default());
    t.handle_stream_opened(ms(0), ConnId(7), Proto::Tcp, addr("198.51.100.4:40001"));
    let no_cl = INVITE.replace("Content-Length: 0\r\n", "");
    t.handle_stream_data(ms(0), ConnId(7), no_cl.as_bytes());
    assert_eq!(drain(&mut t), vec![Output::Close { conn: ConnId(7) }]);
    assert_eq!(t.connections(), 0);
    assert_eq!(t.counters().framing_closed, 1);
}

#[test]
fn connections_are_bounded_and_idle_ones_closed() {
    let mut t = Transport::new(TransportConfig { max_connections: 1, ..TransportConfig::default() });
    assert!(t.handle_stream_opened(ms(0), ConnId(1), Proto::Tcp, addr("198.51.100.4:1")));
    assert!(!t.handle_stream_opened(ms(0), ConnId(2), Proto::Tcp, addr("198.51.100.4:2")));
    assert_eq!(drain(&mut t), vec![Output::Close { conn: ConnId(2) }]);
    assert_eq!(t.poll_timeout(), Some(ms(600_000)));
    t.handle_timeout(ms(600_000));
    assert_eq!(drain(&mut t), vec![Output::Close { conn: ConnId(1) }]);
    assert_eq!(t.counters().connections_shed, 2);
}

#[test]
fn sending_picks_udp_an_existing_connection_or_a_new_one() {
    let mut t = Transport::new(TransportConfig::default());
    let teams = addr("52.114.148.0:5061");
    let tls = Peer { proto: Proto::Tls, addr: teams, conn: None };
    t.send(Peer { proto: Proto::Udp, addr: addr("192.0.2.10:5060"), conn: None }, Bytes::from_static(b"a"));
    t.send(tls, Bytes::from_static(b"b"));
    // While it opens, more bytes queue on the same connection, not a second one.
    t.send(tls, Bytes::from_static(b"c"));
    let out = drain(&mut t);
    assert!(matches!(&out[0], Output::Datagram { .. }));
    let Output::Connect { proto: Proto::Tls, to, conn, .. } = &out[1] else { panic!("{out:?}") };
    assert_eq!(*to, teams);
    assert_ne!(conn.0 & ConnId::OUTBOUND, 0, "outbound ids never collide with the shell's");
    assert_eq!(out[2], Output::Stream { conn: *conn, data: Bytes::from_static(b"c") });
    assert!(t.handle_stream_opened(ms(1), *conn, Proto::Tls, teams));
    t.send(tls, Bytes::from_static(b"d"));
    assert_eq!(drain(&mut t), vec![Output::Stream { conn: *conn, data: Bytes::from_static(b"d") }]);
    assert_eq!(t.connections(), 1);
    // Closing an open connection is not a failure.
    t.handle_stream_closed(*conn);
    assert_eq!(t.poll_failed(), None);
}

#[test]
fn a_connection_that_fails_to_open_reports_its_peer() {
    let mut t = Transport::new(TransportConfig { max_connections: 1, ..TransportConfig::default() });
    let teams = addr("52.114.148.0:5061");
    t.send(Peer { proto: Proto::Tcp, addr: teams, conn: None }, Bytes::from_static(b"x"));
    let Some(Output::Connect { conn, .. }) = t.poll_output() else { panic!("no connect") };
    // The bound counts connections being opened: a second peer is refused at once.
    let other = addr("52.114.132.0:5061");
    t.send(Peer { proto: Proto::Tcp, addr: other, conn: None }, Bytes::from_static(b"y"));
    assert_eq!(t.poll_output(), None);
    assert_eq!(t.poll_failed(), Some((Proto::Tcp, other)));
    t.handle_stream_closed(conn);
    assert_eq!(t.poll_failed(), Some((Proto::Tcp, teams)));
    assert_eq!(t.connections(), 0);
    // The next send tries again with a new connection.
    t.send(Peer { proto: Proto::Tcp, addr: teams, conn: None }, Bytes::from_static(b"z"));
    assert!(matches!(t.poll_output(), Some(Output::Connect { conn: c, .. }) if c != conn));
}

#[test]
fn a_response_with_a_bad_optional_header_is_still_delivered() {
    let mut t = Transport::new(TransportConfig::default());
    let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP gw.example.com;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n\
Call-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:c@192.0.2.20>\r\nDate: Tue, 15 Nov 1994 08:12:31 UTC\r\nWarning: 1812 x \"y\"\r\nContent-Length: 0\r\n\r\n";
    t.handle_datagram(ms(0), addr("192.0.2.20:5060"), Bytes::from_static(ok.as_bytes()));
    assert!(t.poll_received().is_some(), "a 200 must not be lost over a Date or Warning fault");
}
