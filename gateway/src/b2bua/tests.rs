//! Basic calls through the sans-IO gateway, driven in memory: the test
//! plays the operator and the Teams proxies with hand-written messages.

use std::net::SocketAddr;

use super::*;
use crate::sip::msg::HeaderName;

const OP: &str = "192.0.2.10:5060";
const TEAMS: [&str; 3] = ["192.0.2.101:5061", "192.0.2.102:5061", "192.0.2.103:5061"];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Time {
    Time::from_millis(n)
}

fn config() -> GatewayConfig {
    GatewayConfig {
        fqdn: "sbc.example.com".into(),
        port: 5060,
        operator: Target { proto: Proto::Udp, addr: addr(OP), host: "192.0.2.10".into() },
        teams: TEAMS
            .iter()
            .map(|a| Target { proto: Proto::Udp, addr: addr(a), host: "sip.pstnhub.example:5061".into() })
            .collect(),
        timers: TimerConfig::default(),
        transport: TransportConfig::default(),
        max_calls: 10,
        max_transactions: 100,
        failover_after: Duration::from_secs(10),
        failover_statuses: vec![408, 503, 504],
        sbc_header: "Bridgehead/0.1.0".into(),
        failure_map: Vec::new(),
        media: None,
    }
}

/// Datagrams the gateway sent, parsed, with their destination.
fn out(gw: &mut Gateway) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| gw.poll_output())
        .filter_map(|o| match o {
            Output::Datagram { to, data } => Some((to, Message::parse_datagram(data).expect("gateway output parses"))),
            _ => None,
        })
        .collect()
}

fn to(v: &[(SocketAddr, Message)], a: &str) -> Vec<Message> {
    v.iter().filter(|(t, _)| *t == addr(a)).map(|(_, m)| m.clone()).collect()
}

const SDP: &str =
    "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";

fn op_invite() -> String {
    format!(
        "INVITE sip:+14255550100@sbc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKop1;rport\r\n\
Max-Forwards: 70\r\nFrom: \"Alice\" <sip:+14255550199@op.example>;tag=op-a\r\nTo: <sip:+14255550100@sbc.example.com>\r\n\
Call-ID: op-call-1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.10:5060>\r\nP-Asserted-Identity: <sip:+14255550199@op.example>\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn reply(req: &Message, status: u16, tag: &str, contact: bool, body: bool) -> Bytes {
    let c = format!("<sip:client@{}>", "52.114.0.1");
    let extra: Vec<(&str, &str)> = if contact { vec![("Contact", c.as_str())] } else { vec![] };
    let b = body.then_some(("application/sdp", SDP.as_bytes()));
    Bytes::from(crate::sip::msg::build::response(req, status, "X", Some(tag), &extra, b))
}

fn events(gw: &mut Gateway) -> Vec<GatewayEvent> {
    std::iter::from_fn(|| gw.poll_event()).collect()
}

/// Operator INVITE in; returns the INVITE the gateway sent to Teams proxy 1.
fn start(gw: &mut Gateway) -> Message {
    gw.handle_datagram(ms(0), addr(OP), Bytes::from(op_invite()));
    let o = out(gw);
    assert_eq!(to(&o, OP)[0].status(), Some(100), "100 Trying at once");
    to(&o, TEAMS[0]).pop().expect("INVITE to the first Teams proxy")
}

#[test]
fn outbound_call_answered_and_hung_up_by_the_caller() {
    let mut gw = Gateway::new(config(), 1);
    let inv = start(&mut gw);
    // Topology hiding and Teams headers.
    assert_ne!(inv.call_id().unwrap(), "op-call-1@192.0.2.10");
    assert_ne!(inv.from().unwrap().tag(), Some("op-a"));
    assert!(!String::from_utf8_lossy(inv.raw()).contains("192.0.2.10:5060;branch"), "no operator Via on the Teams leg");
    assert_eq!(inv.request_uri_str(), Some("sip:+14255550100@sip.pstnhub.example:5061;user=phone"));
    assert_eq!(inv.from().unwrap().display_name().unwrap(), "Alice");
    assert_eq!(inv.header_value(HeaderName::MaxForwards), Some("69"));
    assert!(inv.headers_by_name("X-MS-SBC").next().is_some());
    assert_eq!(inv.p_asserted_identities().count(), 1);
    assert_eq!(inv.body(), SDP.as_bytes());
    // 180 from a Teams client, relayed with the gateway's own tag and Contact.
    gw.handle_datagram(ms(100), addr(TEAMS[0]), reply(&inv, 180, "t1", true, false));
    let o = out(&mut gw);
    let ring = &to(&o, OP)[0];
    assert_eq!(ring.status(), Some(180));
    let a_tag = ring.to().unwrap().tag().unwrap().to_owned();
    assert_ne!(a_tag, "t1");
    assert_eq!(ring.call_id().unwrap(), "op-call-1@192.0.2.10");
    assert!(ring.header_value(HeaderName::Contact).unwrap().contains("sbc.example.com"));
    // 200 with SDP: ACKed toward Teams, relayed to the operator.
    gw.handle_datagram(ms(2000), addr(TEAMS[0]), reply(&inv, 200, "t1", true, true));
    let o = out(&mut gw);
    let ack = &to(&o, TEAMS[0])[0];
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.request_uri_str(), Some("sip:client@52.114.0.1"));
    let ok = &to(&o, OP)[0];
    assert_eq!((ok.status(), ok.body()), (Some(200), SDP.as_bytes()));
    assert_eq!(ok.to().unwrap().tag(), Some(a_tag.as_str()));
    // Without the operator's ACK the 200 is retransmitted (T1).
    gw.handle_timeout(ms(2500));
    assert_eq!(to(&out(&mut gw), OP)[0].status(), Some(200));
    let op_ack = format!(
        "ACK sip:sbc.example.com:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKop2\r\nFrom: \"Alice\" <sip:+14255550199@op.example>;tag=op-a\r\n\
To: <sip:+14255550100@sbc.example.com>;tag={a_tag}\r\nCall-ID: op-call-1@192.0.2.10\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    gw.handle_datagram(ms(2600), addr(OP), Bytes::from(op_ack));
    gw.handle_timeout(ms(3600));
    assert!(to(&out(&mut gw), OP).is_empty(), "ACK stops the retransmission");
    // The caller hangs up: 200 to the operator, BYE to Teams.
    let bye = format!(
        "BYE sip:sbc.example.com:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKop3\r\nFrom: \"Alice\" <sip:+14255550199@op.example>;tag=op-a\r\n\
To: <sip:+14255550100@sbc.example.com>;tag={a_tag}\r\nCall-ID: op-call-1@192.0.2.10\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    gw.handle_datagram(ms(60_000), addr(OP), Bytes::from(bye));
    let o = out(&mut gw);
    assert_eq!(to(&o, OP)[0].status(), Some(200));
    let teams_bye = to(&o, TEAMS[0]).pop().unwrap();
    assert_eq!(teams_bye.method(), Some(Method::Bye));
    assert_eq!(teams_bye.to().unwrap().tag(), Some("t1"));
    assert_eq!(teams_bye.call_id().unwrap(), inv.call_id().unwrap());
    gw.handle_datagram(ms(60_050), addr(TEAMS[0]), reply(&teams_bye, 200, "t1", false, false));
    let ev = events(&mut gw);
    assert!(matches!(ev.first(), Some(GatewayEvent::CallStarted { from: Side::Operator, .. })));
    assert!(ev.iter().any(|e| matches!(e, GatewayEvent::CallAnswered { .. })));
    assert!(matches!(ev.last(), Some(GatewayEvent::CallEnded { status: 200, .. })));
    assert_eq!(gw.active_calls(), 0);
}

#[test]
fn busy_is_relayed_and_not_retried() {
    let mut gw = Gateway::new(config(), 2);
    let inv = start(&mut gw);
    gw.handle_datagram(ms(100), addr(TEAMS[0]), reply(&inv, 486, "t1", false, false));
    let o = out(&mut gw);
    assert_eq!(to(&o, TEAMS[0])[0].method(), Some(Method::Ack), "ACK for the 486");
    assert_eq!(to(&o, OP)[0].status(), Some(486));
    assert!(to(&o, TEAMS[1]).is_empty(), "486 is never retried");
    assert_eq!(gw.active_calls(), 0);
}

#[test]
fn teams_503_moves_to_the_next_proxy_and_silence_to_the_third() {
    let mut gw = Gateway::new(config(), 3);
    let inv = start(&mut gw);
    gw.handle_datagram(ms(100), addr(TEAMS[0]), reply(&inv, 503, "t1", false, false));
    let o = out(&mut gw);
    let inv2 = to(&o, TEAMS[1]).pop().expect("next proxy");
    assert_eq!(inv2.call_id().unwrap(), inv.call_id().unwrap(), "same call, same leg identity");
    assert_ne!(inv2.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    assert!(to(&o, OP).is_empty(), "the operator sees nothing of the failover");
    // Proxy 2 stays silent: after 10 s the third is tried.
    gw.handle_timeout(ms(100 + 9_999));
    assert!(to(&out(&mut gw), TEAMS[2]).is_empty());
    gw.handle_timeout(ms(100 + 10_000));
    let inv3 = to(&out(&mut gw), TEAMS[2]).pop().expect("third proxy");
    gw.handle_datagram(ms(10_200), addr(TEAMS[2]), reply(&inv3, 200, "t3", true, true));
    assert_eq!(to(&out(&mut gw), OP)[0].status(), Some(200));
    let fails: Vec<_> = events(&mut gw).into_iter().filter(|e| matches!(e, GatewayEvent::Failover { .. })).collect();
    assert_eq!(fails.len(), 2);
}

#[test]
fn cancel_before_answer() {
    let mut gw = Gateway::new(config(), 4);
    let inv = start(&mut gw);
    gw.handle_datagram(ms(100), addr(TEAMS[0]), reply(&inv, 180, "t1", true, false));
    out(&mut gw);
    let cancel = op_invite()
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        .replace("Content-Type: application/sdp\r\n", "");
    let cancel = cancel.split("Content-Length").next().unwrap().to_owned() + "Content-Length: 0\r\n\r\n";
    gw.handle_datagram(ms(500), addr(OP), Bytes::from(cancel));
    let o = out(&mut gw);
    let op: Vec<u16> = to(&o, OP).iter().filter_map(Message::status).collect();
    assert_eq!(op, [200, 487]);
    let teams_cancel = to(&o, TEAMS[0]).pop().unwrap();
    assert_eq!(teams_cancel.method(), Some(Method::Cancel));
    assert_eq!(teams_cancel.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    gw.handle_datagram(ms(600), addr(TEAMS[0]), reply(&teams_cancel, 200, "t1", false, false));
    gw.handle_datagram(ms(610), addr(TEAMS[0]), reply(&inv, 487, "t1", false, false));
    let o = out(&mut gw);
    assert_eq!(to(&o, TEAMS[0])[0].method(), Some(Method::Ack));
    assert!(to(&o, OP).is_empty(), "no second final toward the operator");
    assert!(matches!(events(&mut gw).last(), Some(GatewayEvent::CallEnded { status: 487, .. })));
}

#[test]
fn options_are_answered_and_the_call_limit_gives_503() {
    let mut cfg = config();
    cfg.max_calls = 1;
    let mut gw = Gateway::new(cfg, 5);
    let opt = "OPTIONS sip:sbc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.101:5061;branch=z9hG4bKopt\r\nMax-Forwards: 70\r\n\
From: <sip:ping@teams.example>;tag=p\r\nTo: <sip:sbc.example.com>\r\nCall-ID: ping-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    gw.handle_datagram(ms(0), addr(TEAMS[0]), Bytes::from_static(opt.as_bytes()));
    let o = out(&mut gw);
    let r = &to(&o, TEAMS[0])[0];
    assert_eq!(r.status(), Some(200));
    assert!(r.header_value(HeaderName::Allow).unwrap().contains("INVITE"));
    start(&mut gw);
    let second = op_invite().replace("op-call-1", "op-call-2").replace("z9hG4bKop1", "z9hG4bKop9");
    gw.handle_datagram(ms(10), addr(OP), Bytes::from(second));
    let o = out(&mut gw);
    let r = &to(&o, OP)[0];
    assert_eq!(r.status(), Some(503));
    assert_eq!(r.header_value(HeaderName::RetryAfter), Some("5"));
    assert_eq!(gw.shedding(), Shedding { calls_refused: 1, requests_shed: 0 });
}

#[test]
fn a_full_transaction_table_sheds_with_503_and_counts_it() {
    let mut cfg = config();
    cfg.max_transactions = 2;
    let mut gw = Gateway::new(cfg, 11);
    start(&mut gw); // two transactions: the operator's INVITE, ours to Teams
    let second = op_invite().replace("op-call-1", "op-call-2").replace("z9hG4bKop1", "z9hG4bKop9");
    gw.handle_datagram(ms(10), addr(OP), Bytes::from(second));
    let o = out(&mut gw);
    assert_eq!(to(&o, OP).iter().filter_map(Message::status).collect::<Vec<_>>(), vec![503]);
    assert_eq!(gw.shedding().requests_shed, 1);
}

#[test]
fn inbound_call_from_teams_reaches_the_operator() {
    let mut gw = Gateway::new(config(), 6);
    let inv = op_invite()
        .replace("192.0.2.10:5060;branch", "192.0.2.101:5061;branch")
        .replace("sip:+14255550100@sbc.example.com SIP", "sip:+14255550100@sbc.example.com;user=phone SIP");
    gw.handle_datagram(ms(0), addr(TEAMS[0]), Bytes::from(inv));
    let o = out(&mut gw);
    let to_op = to(&o, OP).pop().expect("INVITE to the operator");
    assert_eq!(to_op.method(), Some(Method::Invite));
    assert_eq!(to_op.request_uri_str(), Some("sip:+14255550100@192.0.2.10;user=phone"));
    assert!(to_op.headers_by_name("X-MS-SBC").next().is_none(), "X-MS-SBC only toward Teams");
    assert!(matches!(events(&mut gw)[0], GatewayEvent::CallStarted { from: Side::Teams, .. }));
}

#[test]
fn same_seed_same_bytes() {
    let run = |seed| {
        let mut gw = Gateway::new(config(), seed);
        let inv = start(&mut gw);
        inv.raw().to_vec()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn the_failure_map_rewrites_what_the_caller_sees() {
    let mut cfg = config();
    cfg.failure_map = vec![(486, 600)];
    let mut gw = Gateway::new(cfg, 7);
    let inv = start(&mut gw);
    gw.handle_datagram(ms(100), addr(TEAMS[0]), reply(&inv, 486, "t1", false, false));
    let r = to(&out(&mut gw), OP).pop().unwrap();
    assert_eq!((r.status(), r.reason()), (Some(600), Some("Busy Everywhere")));
    assert!(matches!(events(&mut gw).last(), Some(GatewayEvent::CallEnded { status: 600, .. })));
}

#[test]
fn non_utf8_header_bytes_cross_unchanged() {
    let mut gw = Gateway::new(config(), 8);
    let raw = op_invite().replace("P-Asserted-Identity:", "Subject: Anruf von M\u{fc}ller\r\nP-Asserted-Identity:");
    // Re-encode the display name in Latin-1, as legacy PBXs send it.
    let bytes: Vec<u8> =
        raw.replace('\u{fc}', "\u{1}").into_bytes().into_iter().map(|b| if b == 1 { 0xfc } else { b }).collect();
    gw.handle_datagram(ms(0), addr(OP), Bytes::from(bytes));
    let inv = to(&out(&mut gw), TEAMS[0]).pop().expect("the call goes on");
    let subject = inv.headers_named(HeaderName::Subject).next().unwrap();
    assert_eq!(inv.header_bytes(subject.index), b"Anruf von M\xfcller");
}

#[test]
fn a_teams_proxy_that_cannot_be_connected_to_fails_over_at_once() {
    let mut cfg = config();
    for t in &mut cfg.teams {
        t.proto = Proto::Tcp;
    }
    let mut gw = Gateway::new(cfg, 8);
    gw.handle_datagram(ms(0), addr(OP), Bytes::from(op_invite()));
    let connects: Vec<(SocketAddr, ConnId)> = std::iter::from_fn(|| gw.poll_output())
        .filter_map(|o| match o {
            Output::Connect { to, conn, .. } => Some((to, conn)),
            _ => None,
        })
        .collect();
    assert_eq!(connects.len(), 1, "one connection, toward the first proxy");
    assert_eq!(connects[0].0, addr(TEAMS[0]));
    gw.handle_stream_closed(ms(3), connects[0].1);
    let next: Vec<SocketAddr> = std::iter::from_fn(|| gw.poll_output())
        .filter_map(|o| match o {
            Output::Connect { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(next, vec![addr(TEAMS[1])], "the second proxy is tried without waiting for a timer");
    let ev = events(&mut gw);
    assert!(
        ev.iter().any(|e| matches!(e, GatewayEvent::Failover { from: 0, to: 1, why, .. } if why == "unreachable")),
        "{ev:?}"
    );
}

#[test]
fn a_teams_proxy_over_tcp_is_recognised_by_ip_whatever_its_source_port() {
    let mut gw = Gateway::new(config(), 9);
    let inv = op_invite().replace("SIP/2.0/UDP 192.0.2.10:5060;branch", "SIP/2.0/TCP 192.0.2.101:5061;branch");
    let ephemeral = SocketAddr::new(addr(TEAMS[0]).ip(), 49_152);
    assert!(gw.handle_stream_opened(ms(0), ConnId(1), Proto::Tcp, ephemeral));
    gw.handle_stream_data(ms(0), ConnId(1), inv.as_bytes());
    assert!(matches!(events(&mut gw).first(), Some(GatewayEvent::CallStarted { from: Side::Teams, .. })));
}

#[test]
fn our_own_invite_coming_back_is_a_loop() {
    let mut gw = Gateway::new(config(), 10);
    let to_teams = start(&mut gw);
    // A misrouting proxy sends our B-leg INVITE straight back to us.
    gw.handle_datagram(ms(5), addr(TEAMS[0]), Bytes::copy_from_slice(to_teams.raw()));
    let o = out(&mut gw);
    let back = to(&o, TEAMS[0]);
    assert_eq!(back.iter().filter_map(Message::status).collect::<Vec<_>>(), vec![482], "{back:?}");
    assert!(to(&o, OP).is_empty(), "nothing new toward the operator");
    assert_eq!(gw.active_calls(), 1, "the looped request did not become a call");
    // A new INVITE that merely passed through us long ago (no live branch) is not a loop.
    let spiral = op_invite().replace(
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKop1;rport\r\n",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKop2;rport\r\nVia: SIP/2.0/UDP sbc.example.com:5060;branch=z9hG4bKold\r\n",
    );
    let spiral = spiral.replace("Call-ID: op-call-1", "Call-ID: op-call-2");
    gw.handle_datagram(ms(6), addr(OP), Bytes::from(spiral));
    assert_eq!(gw.active_calls(), 2);
}

fn media_config() -> GatewayConfig {
    GatewayConfig {
        media: Some(MediaConfig {
            address: "198.51.100.1".parse().expect("ip"),
            relay: crate::media::relay::RelayConfig { port_min: 41_000, port_max: 41_099, max_transcoders: 4 },
            operator: Default::default(),
            teams: Default::default(),
            timeout: Some(Duration::from_secs(60)),
            hold_timeout: Some(Duration::from_secs(3600)),
        }),
        ..config()
    }
}

/// Teams (52.114.7.7) answers `req` 200 with `sdp`, at `at_ms`.
fn teams_answers(gw: &mut Gateway, req: &Message, tag: Option<&str>, sdp: &str, at_ms: u64) {
    let ok = crate::sip::msg::build::response(
        req,
        200,
        "OK",
        tag,
        &[("Contact", "<sip:client@52.114.7.7>")],
        Some(("application/sdp", sdp.as_bytes())),
    );
    gw.handle_datagram(ms(at_ms), addr(TEAMS[0]), Bytes::from(ok));
}

/// Teams answers the INVITE it got with PCMU from 52.114.7.7:50000 (at
/// 50 ms); the 200 the gateway relayed to the operator.
fn teams_answers_pcmu(gw: &mut Gateway, to_teams: &Message) -> Message {
    let answer = SDP.replace("192.0.2.10", "52.114.7.7").replace("30000", "50000");
    teams_answers(gw, to_teams, Some("t1"), &answer, 50);
    let o = out(gw);
    to(&o, OP).into_iter().find(|m| m.status() == Some(200)).expect("200 toward the operator")
}

/// The operator's re-INVITE (CSeq 2) in the dialog whose gateway tag is
/// `tag`: with the PCMU offer, or without SDP.
fn op_reinvite(tag: &str, with_sdp: bool) -> String {
    let r = op_invite()
        .replace("INVITE sip:+14255550100@sbc.example.com", "INVITE sip:sbc.example.com")
        .replace("To: <sip:+14255550100@sbc.example.com>", &format!("To: <sip:+14255550100@sbc.example.com>;tag={tag}"))
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
        .replace("z9hG4bKop1", "z9hG4bKop-re");
    if with_sdp {
        return r;
    }
    r.replace("Content-Type: application/sdp\r\n", "")
        .replace(&format!("Content-Length: {}\r\n\r\n{SDP}", SDP.len()), "Content-Length: 0\r\n\r\n")
}

/// The operator's ACK (no body) of the gateway's 2xx with CSeq `seq`.
fn op_ack(tag: &str, seq: u32) -> Bytes {
    Bytes::from(format!(
        "ACK sip:sbc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack{seq}\r\nMax-Forwards: 70\r\n\
From: \"Alice\" <sip:+14255550199@op.example>;tag=op-a\r\nTo: <sip:+14255550100@sbc.example.com>;tag={tag}\r\n\
Call-ID: op-call-1@192.0.2.10\r\nCSeq: {seq} ACK\r\nContent-Length: 0\r\n\r\n"
    ))
}

/// The gateway's To tag toward the operator, from its 200.
fn op_tag(to_op: &Message) -> String {
    to_op.to().ok().and_then(|t| t.tag().map(str::to_owned)).unwrap_or_default()
}

/// An outbound call answered by Teams (PCMU) and ACKed by the operator:
/// Teams' INVITE, the 200 toward the operator, and the operator dialog's
/// gateway tag.
fn answered_call(gw: &mut Gateway) -> (Message, Message, String) {
    let to_teams = start(gw);
    let to_op = teams_answers_pcmu(gw, &to_teams);
    let tag = op_tag(&to_op);
    gw.handle_datagram(ms(60), addr(OP), op_ack(&tag, 1));
    (to_teams, to_op, tag)
}

/// The port of an SDP's first m=audio line.
fn audio_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("m= port")
}

#[test]
fn media_is_anchored_and_no_address_crosses_legs() {
    let mut gw = Gateway::new(media_config(), 12);
    let to_teams = start(&mut gw);
    let offer = String::from_utf8_lossy(to_teams.body()).into_owned();
    assert!(!offer.contains("192.0.2.10"), "the operator's address leaked toward Teams:\n{offer}");
    assert!(offer.contains("c=IN IP4 198.51.100.1\r\n") && offer.contains("o=- 1 1 IN IP4 198.51.100.1"), "{offer}");
    let b_port = audio_port(&offer);
    assert!((41_000..41_100).contains(&b_port), "{b_port}");
    let controls: Vec<MediaControl> = std::iter::from_fn(|| gw.poll_media_control()).collect();
    assert_eq!(controls.len(), 2, "one port pair per leg: {controls:?}");
    // Teams answers from 52.114.7.7:50000.
    let to_op = teams_answers_pcmu(&mut gw, &to_teams);
    let relayed = String::from_utf8_lossy(to_op.body()).into_owned();
    assert!(!relayed.contains("52.114.7.7"), "Teams' address leaked toward the operator:\n{relayed}");
    let a_port = audio_port(&relayed);
    // RTP from the operator goes to Teams' SDP address, from the port Teams was given.
    let mut rtp = [0x80u8, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
    let (f, _) = gw.handle_media(ms(60), a_port, addr("192.0.2.10:30000"), &mut rtp, 12).expect("forwarded");
    assert_eq!((f.from_port, f.to), (b_port, addr("52.114.7.7:50000")));
    assert_eq!(gw.media_streams(), 1);
    // The operator hangs up: the ports go back and the shell is told to close them.
    let bye = "BYE sip:sbc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\n\
From: \"Alice\" <sip:+14255550199@op.example>;tag=op-a\r\nTo: <sip:+14255550100@sbc.example.com>;tag=TAG\r\n\
Call-ID: op-call-1@192.0.2.10\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        .replace("TAG", to_op.to().ok().and_then(|t| t.tag().map(str::to_owned)).as_deref().unwrap_or(""));
    gw.handle_datagram(ms(70), addr(OP), Bytes::from(bye));
    let to_teams_bye = to(&out(&mut gw), TEAMS[0]).into_iter().find(|m| m.method() == Some(Method::Bye));
    let bye_b = to_teams_bye.expect("BYE toward Teams");
    gw.handle_datagram(
        ms(80),
        addr(TEAMS[0]),
        Bytes::from(crate::sip::msg::build::response(&bye_b, 200, "OK", None, &[], None)),
    );
    assert_eq!(gw.active_calls(), 0);
    assert_eq!(gw.media_streams(), 0, "media ports released with the call");
    assert!(gw.call_deadlines.is_empty(), "the call's media check went with it: {:?}", gw.call_deadlines);
    let closes =
        std::iter::from_fn(|| gw.poll_media_control()).filter(|c| matches!(c, MediaControl::Close { .. })).count();
    assert_eq!(closes, 2);
}

#[test]
fn an_sdp_the_gateway_cannot_read_gets_488_with_a_warning() {
    let mut gw = Gateway::new(media_config(), 13);
    let bad = op_invite().replace("m=audio 30000 RTP/AVP 0", "m=audio 99999 RTP/AVP 0");
    gw.handle_datagram(ms(0), addr(OP), Bytes::from(bad));
    let o = out(&mut gw);
    let finals: Vec<Message> = to(&o, OP).into_iter().filter(|m| m.status().is_some_and(|s| s >= 200)).collect();
    assert_eq!(finals.len(), 1, "{o:?}");
    assert_eq!(finals[0].status(), Some(488));
    let warning = finals[0].headers_by_name("Warning").next().map(|h| h.value.to_owned()).unwrap_or_default();
    assert!(warning.starts_with("305 bridgehead") && warning.contains("line"), "{warning}");
    assert!(to(&o, TEAMS[0]).is_empty(), "nothing sent toward Teams");
    assert_eq!(gw.active_calls(), 0);
    assert_eq!(gw.media_streams(), 0);
}

#[test]
fn attributes_the_teams_policy_drops_do_not_reach_teams() {
    let mut cfg = media_config();
    if let Some(m) = cfg.media.as_mut() {
        m.teams.drop_attributes = vec!["x-*".into()];
    }
    let mut gw = Gateway::new(cfg, 14);
    let inv = op_invite();
    let sdp_with = SDP.to_owned() + "a=x-vendor-qos:5\r\na=label:main\r\n";
    let inv = inv
        .replace(SDP, &sdp_with)
        .replace(&format!("Content-Length: {}", SDP.len()), &format!("Content-Length: {}", sdp_with.len()));
    gw.handle_datagram(ms(0), addr(OP), Bytes::from(inv));
    let o = out(&mut gw);
    let to_teams = to(&o, TEAMS[0]).pop().expect("INVITE to Teams");
    let offer = String::from_utf8_lossy(to_teams.body()).into_owned();
    assert!(!offer.contains("x-vendor-qos"), "{offer}");
    assert!(offer.contains("a=label:main"), "{offer}");
}

#[test]
fn the_transcoder_bound_refuses_a_call_before_it_is_offered_on() {
    let mut cfg = media_config();
    if let Some(m) = cfg.media.as_mut() {
        m.teams.codecs = vec!["G722".into()];
        m.relay.max_transcoders = 2;
    }
    let mut gw = Gateway::new(cfg, 15);
    // PCMU from the operator, only G.722 toward Teams: one transcoder each way.
    let to_teams = start(&mut gw);
    let offer = String::from_utf8_lossy(to_teams.body()).into_owned();
    assert!(offer.contains("m=audio ") && offer.contains(" RTP/AVP 9\r\n"), "{offer}");
    let answer = SDP.replace("192.0.2.10", "52.114.7.7").replace("30000 RTP/AVP 0", "50000 RTP/AVP 9");
    teams_answers(&mut gw, &to_teams, Some("t1"), &answer, 50);
    let o = out(&mut gw);
    assert!(to(&o, OP).iter().any(|m| m.status() == Some(200)), "the first call is answered");
    // A second such call: the bound is reached, 503 + Warning, nothing toward Teams.
    let second = op_invite().replace("op-call-1", "op-call-2").replace("z9hG4bKop1", "z9hG4bKop2");
    gw.handle_datagram(ms(60), addr(OP), Bytes::from(second));
    let o = out(&mut gw);
    let finals: Vec<Message> = to(&o, OP).into_iter().filter(|m| m.status().is_some_and(|s| s >= 200)).collect();
    assert_eq!(finals.iter().filter_map(Message::status).collect::<Vec<_>>(), vec![503], "{o:?}");
    let warning = finals[0].headers_by_name("Warning").next().map(|h| h.value.to_owned()).unwrap_or_default();
    assert!(warning.contains("transcoder limit"), "{warning}");
    assert!(to(&o, TEAMS[0]).iter().all(|m| m.method() != Some(Method::Invite)), "not offered on");
    assert_eq!(gw.media_streams(), 1, "the refused call's ports went back");
}

#[test]
fn an_answer_the_gateway_cannot_take_is_refused_to_the_caller_and_hung_up_toward_teams() {
    let mut gw = Gateway::new(media_config(), 16);
    let to_teams = start(&mut gw);
    // Teams answers with a codec it was not offered (G.729 for a PCMU offer).
    let answer = SDP.replace("192.0.2.10", "52.114.7.7").replace("30000 RTP/AVP 0", "50000 RTP/AVP 18");
    teams_answers(&mut gw, &to_teams, Some("t1"), &answer, 50);
    let o = out(&mut gw);
    let finals: Vec<Message> = to(&o, OP).into_iter().filter(|m| m.status().is_some_and(|s| s >= 200)).collect();
    assert_eq!(finals.iter().filter_map(Message::status).collect::<Vec<_>>(), vec![488], "{o:?}");
    let warning = finals[0].headers_by_name("Warning").next().map(|h| h.value.to_owned()).unwrap_or_default();
    assert!(warning.contains("no common codec"), "{warning}");
    let toward_teams: Vec<Option<Method>> = to(&o, TEAMS[0]).iter().map(Message::method).collect();
    assert!(toward_teams.contains(&Some(Method::Ack)) && toward_teams.contains(&Some(Method::Bye)), "{toward_teams:?}");
    assert_eq!(gw.active_calls(), 0);
    assert_eq!(gw.media_streams(), 0, "no half-set-up call: its ports went back");
}

#[test]
fn a_re_invite_answered_outside_the_offer_ends_the_call_cleanly() {
    let mut gw = Gateway::new(media_config(), 17);
    let to_teams = start(&mut gw);
    let to_op = teams_answers_pcmu(&mut gw, &to_teams);
    let tag = op_tag(&to_op);
    // The operator re-INVITEs (PCMU); Teams answers G.729, which it was not offered.
    gw.handle_datagram(ms(100), addr(OP), Bytes::from(op_reinvite(&tag, true)));
    let o = out(&mut gw);
    let re_b = to(&o, TEAMS[0]).into_iter().find(|m| m.method() == Some(Method::Invite)).expect("re-INVITE to Teams");
    let bad = SDP.replace("192.0.2.10", "52.114.7.7").replace("30000 RTP/AVP 0", "50000 RTP/AVP 18");
    teams_answers(&mut gw, &re_b, None, &bad, 150);
    let o = out(&mut gw);
    let to_op: Vec<Message> = to(&o, OP);
    assert!(to_op.iter().any(|m| m.status() == Some(488)), "{to_op:?}");
    assert!(to_op.iter().any(|m| m.method() == Some(Method::Bye)), "BYE toward the operator");
    let toward_teams: Vec<Option<Method>> = to(&o, TEAMS[0]).iter().map(Message::method).collect();
    assert!(toward_teams.contains(&Some(Method::Ack)) && toward_teams.contains(&Some(Method::Bye)), "{toward_teams:?}");
    assert_eq!((gw.active_calls(), gw.media_streams()), (0, 0));
}

/// A late offer (the operator's INVITE without SDP) whose caller never
/// ACKs the 200: when the 2xx retransmissions give up (64*T1), Teams'
/// 200, which was waiting for the caller's answer, is ACKed before the
/// BYE, so that Teams stops retransmitting it; both legs are hung up.
#[test]
fn a_late_offer_never_acked_by_the_caller_acks_teams_before_the_bye() {
    let mut gw = Gateway::new(media_config(), 18);
    let invite = op_invite()
        .replace("Content-Type: application/sdp\r\n", "")
        .replace(&format!("Content-Length: {}\r\n\r\n{SDP}", SDP.len()), "Content-Length: 0\r\n\r\n");
    gw.handle_datagram(ms(0), addr(OP), Bytes::from(invite));
    let to_teams = to(&out(&mut gw), TEAMS[0]).pop().expect("INVITE toward Teams");
    assert!(to_teams.body().is_empty(), "a late offer stays one");
    let offer = SDP.replace("192.0.2.10", "52.114.7.7").replace("30000", "50000");
    teams_answers(&mut gw, &to_teams, Some("t1"), &offer, 50);
    let o = out(&mut gw);
    assert!(to(&o, OP).iter().any(|m| m.status() == Some(200) && !m.body().is_empty()), "the offer reaches the caller");
    assert!(!to(&o, TEAMS[0]).iter().any(|m| m.method() == Some(Method::Ack)), "Teams' ACK waits for the answer");
    // The caller never ACKs; time runs past 64*T1 (32 s).
    let mut sent = Vec::new();
    let mut now = 50;
    while now < 40_000 {
        now = gw.poll_timeout().map_or(40_000, |t| t.as_nanos() / 1_000_000).clamp(now + 1, 40_000);
        gw.handle_timeout(ms(now));
        sent.extend(out(&mut gw));
    }
    let mut toward_teams: Vec<Method> = to(&sent, TEAMS[0]).iter().filter_map(Message::method).collect();
    toward_teams.dedup(); // the BYE's own retransmissions (Teams does not answer here)
    assert_eq!(toward_teams, vec![Method::Ack, Method::Bye]);
    assert!(to(&sent, OP).iter().any(|m| m.method() == Some(Method::Bye)), "the caller is hung up");
    let bye = to(&sent, TEAMS[0]).into_iter().find(|m| m.method() == Some(Method::Bye)).expect("BYE");
    let reason = bye.headers_by_name("Reason").next().map(|h| h.value.to_owned()).unwrap_or_default();
    assert_eq!(reason, "SIP;cause=408;text=\"no ACK for the 2xx\"");
}

/// Media inactivity: an answered call stays up while each leg sends the
/// relay something (here one packet every 10 s each), and is hung up toward
/// both sides, with a Reason, once one leg sent nothing for the timeout
/// (60 s; the operator's RTP alone does not keep it up); its ports go back.
#[test]
fn an_answered_call_without_media_for_the_timeout_is_hung_up() {
    let mut gw = Gateway::new(media_config(), 19);
    let (to_teams, to_op, _) = answered_call(&mut gw);
    let a_port = audio_port(&String::from_utf8_lossy(to_op.body()));
    let _ = events(&mut gw);
    let mut sent = Vec::new();
    let run_to = |gw: &mut Gateway, until: u64, sent: &mut Vec<(SocketAddr, Message)>| {
        while let Some(t) = gw.poll_timeout().map(|t| t.as_nanos() / 1_000_000).filter(|&t| t <= until) {
            gw.handle_timeout(ms(t));
            sent.extend(out(gw));
        }
    };
    let b_port = audio_port(&String::from_utf8_lossy(to_teams.body()));
    // RTP from both every 10 s until 120 s, then from the operator only
    // until 200 s: the call stays until Teams has been silent for 60 s.
    for t in (10_000..=200_000).step_by(10_000) {
        run_to(&mut gw, t, &mut sent);
        let mut rtp = [0x80u8, 0, 0, (t / 10_000) as u8, 0, 0, 0, 160, 1, 2, 3, 4];
        gw.handle_media(ms(t), a_port, addr("192.0.2.10:30000"), &mut rtp, 12);
        if t <= 120_000 {
            let mut rtp = [0x80u8, 0, 0, (t / 10_000) as u8, 0, 0, 0, 160, 5, 6, 7, 8];
            gw.handle_media(ms(t), b_port, addr("52.114.7.7:50000"), &mut rtp, 12);
        }
        if t == 170_000 {
            break;
        }
    }
    run_to(&mut gw, 179_999, &mut sent);
    assert!(sent.iter().all(|(_, m)| m.method() != Some(Method::Bye)), "no BYE while media flows, nor before 60 s");
    assert_eq!(gw.active_calls(), 1);
    // 60 s after the last packet: both sides get a BYE with the reason.
    run_to(&mut gw, 180_000, &mut sent);
    for side in [OP, TEAMS[0]] {
        let bye = to(&sent, side).into_iter().find(|m| m.method() == Some(Method::Bye)).expect("BYE");
        let reason = bye.headers_by_name("Reason").next().map(|h| h.value.to_owned()).unwrap_or_default();
        assert!(reason.starts_with("Q.850;cause=41") && reason.contains("media timeout"), "{side}: {reason}");
    }
    assert_eq!((gw.active_calls(), gw.media_streams()), (0, 0), "the call and its ports are gone");
    assert!(gw.call_deadlines.is_empty(), "no timer left behind: {:?}", gw.call_deadlines);
    let ended = events(&mut gw).into_iter().find_map(|e| match e {
        GatewayEvent::CallEnded { reason, .. } => Some(reason),
        _ => None,
    });
    assert_eq!(ended.as_deref(), Some("media timeout: no RTP or RTCP from a side for 60 s"));
}

/// An in-band DTMF operator trunk is taken at its G.711 only: offering
/// G.722 and PCMU, the call goes to Teams with PCMU alone (the gateway
/// detects and plays tones in G.711), and the operator is answered PCMU.
#[test]
fn an_inband_dtmf_side_is_taken_at_its_g711() {
    let mut cfg = media_config();
    if let Some(m) = cfg.media.as_mut() {
        m.operator.dtmf = crate::media::negotiate::DtmfMode::InBand;
    }
    let mut gw = Gateway::new(cfg, 20);
    let wideband = SDP.replace("RTP/AVP 0\r\n", "RTP/AVP 9 0\r\na=rtpmap:9 G722/8000\r\n");
    let invite = op_invite()
        .replace(&format!("Content-Length: {}", SDP.len()), &format!("Content-Length: {}", wideband.len()))
        .replace(SDP, &wideband);
    gw.handle_datagram(ms(0), addr(OP), Bytes::from(invite));
    let to_teams = to(&out(&mut gw), TEAMS[0]).pop().expect("INVITE toward Teams");
    let offer = String::from_utf8_lossy(to_teams.body()).into_owned();
    assert!(offer.contains("m=audio ") && !offer.contains("G722"), "G.722 not offered on:\n{offer}");
    let to_op = teams_answers_pcmu(&mut gw, &to_teams);
    let answer = String::from_utf8_lossy(to_op.body()).into_owned();
    assert!(answer.lines().any(|l| l.starts_with("m=audio ") && l.ends_with(" RTP/AVP 0")), "{answer}");
}

/// A re-INVITE without SDP whose requester then ACKs Teams' offer without
/// an answer: Teams' 200 is ACKed (it waited for the answer) and both
/// sides are hung up with the reason, rather than left with media nobody
/// agreed on.
#[test]
fn a_re_invite_without_sdp_left_unanswered_ends_the_call_cleanly() {
    let mut gw = Gateway::new(media_config(), 21);
    let to_teams = start(&mut gw);
    let to_op = teams_answers_pcmu(&mut gw, &to_teams);
    let tag = op_tag(&to_op);
    gw.handle_datagram(ms(100), addr(OP), Bytes::from(op_reinvite(&tag, false)));
    let re_b = to(&out(&mut gw), TEAMS[0]).into_iter().find(|m| m.method() == Some(Method::Invite)).expect("re-INVITE");
    assert!(re_b.body().is_empty(), "an SDP-less re-INVITE stays one");
    let offer = SDP.replace("192.0.2.10", "52.114.7.7").replace("30000", "50000");
    teams_answers(&mut gw, &re_b, None, &offer, 150);
    let o = out(&mut gw);
    let ok = to(&o, OP).into_iter().find(|m| m.status() == Some(200)).expect("200 with the offer toward the operator");
    assert!(!ok.body().is_empty());
    assert!(!to(&o, TEAMS[0]).iter().any(|m| m.method() == Some(Method::Ack)), "Teams' ACK waits for the answer");
    // The operator ACKs without an answer.
    gw.handle_datagram(ms(200), addr(OP), op_ack(&tag, 2));
    let o = out(&mut gw);
    let toward_teams: Vec<Method> = to(&o, TEAMS[0]).iter().filter_map(Message::method).collect();
    assert_eq!(toward_teams, vec![Method::Ack, Method::Bye]);
    let bye = to(&o, OP).into_iter().find(|m| m.method() == Some(Method::Bye)).expect("BYE toward the operator");
    let reason = bye.headers_by_name("Reason").next().map(|h| h.value.to_owned()).unwrap_or_default();
    assert!(reason.contains("cause=488"), "{reason}");
    assert_eq!((gw.active_calls(), gw.media_streams()), (0, 0));
}

/// With only a hold timeout set (`timeout_s = 0`), a call is never hung
/// up for silence while not held, and is once held and silent for the
/// hold timeout (the state comes from the answer that settled the hold).
#[test]
fn only_a_hold_timeout_applies_to_held_calls_only() {
    let mut cfg = media_config();
    if let Some(m) = cfg.media.as_mut() {
        (m.timeout, m.hold_timeout) = (None, Some(Duration::from_secs(100)));
    }
    let mut gw = Gateway::new(cfg, 22);
    let (_, _, tag) = answered_call(&mut gw);
    let mut sent = Vec::new();
    let run_to = |gw: &mut Gateway, until: u64, sent: &mut Vec<(SocketAddr, Message)>| {
        while let Some(t) = gw.poll_timeout().map(|t| t.as_nanos() / 1_000_000).filter(|&t| t <= until) {
            gw.handle_timeout(ms(t));
            sent.extend(out(gw));
        }
    };
    run_to(&mut gw, 300_000, &mut sent);
    assert!(sent.iter().all(|(_, m)| m.method() != Some(Method::Bye)), "not held: no media timeout");
    // The operator holds (sendonly), Teams answers recvonly.
    let hold =
        op_reinvite(&tag, true).replace("m=audio 30000 RTP/AVP 0\r\n", "m=audio 30000 RTP/AVP 0\r\na=sendonly\r\n");
    let hold = hold.replace(&format!("Content-Length: {}", SDP.len()), &format!("Content-Length: {}", SDP.len() + 12));
    gw.handle_datagram(ms(300_001), addr(OP), Bytes::from(hold));
    let re_b = to(&out(&mut gw), TEAMS[0]).into_iter().find(|m| m.method() == Some(Method::Invite)).expect("re-INVITE");
    let held =
        SDP.replace("192.0.2.10", "52.114.7.7").replace("30000 RTP/AVP 0\r\n", "50000 RTP/AVP 0\r\na=recvonly\r\n");
    teams_answers(&mut gw, &re_b, None, &held, 300_010);
    gw.handle_datagram(ms(300_020), addr(OP), op_ack(&tag, 2));
    run_to(&mut gw, 400_000, &mut sent);
    assert!(sent.iter().all(|(_, m)| m.method() != Some(Method::Bye)), "held for less than the hold timeout");
    run_to(&mut gw, 400_020, &mut sent);
    assert!(sent.iter().any(|(_, m)| m.method() == Some(Method::Bye)), "held and silent for 100 s: hung up");
    assert_eq!(gw.active_calls(), 0);
}

/// A BYE's Reason (RFC 3326) goes on to the other side with the BYE the
/// gateway sends there (the disconnect cause reaches the other network).
#[test]
fn the_reason_of_a_bye_crosses_to_the_other_side() {
    let mut gw = Gateway::new(media_config(), 23);
    let (_, _, tag) = answered_call(&mut gw);
    let bye = String::from_utf8_lossy(&op_ack(&tag, 2))
        .replace("ACK sip:", "BYE sip:")
        .replace("CSeq: 2 ACK", "CSeq: 2 BYE\r\nReason: Q.850;cause=16;text=\"Normal call clearing\"");
    gw.handle_datagram(ms(1000), addr(OP), Bytes::from(bye));
    let o = out(&mut gw);
    let bye_b = to(&o, TEAMS[0]).into_iter().find(|m| m.method() == Some(Method::Bye)).expect("BYE toward Teams");
    let reason = bye_b.headers_by_name("Reason").next().map(|h| h.value.to_owned());
    assert_eq!(reason.as_deref(), Some("Q.850;cause=16;text=\"Normal call clearing\""));
}
