//! The four machines against RFC 3261's timer schedules and transitions.

use super::*;

type T = Transactions<&'static str>;

fn ms(n: u64) -> Time {
    Time::from_millis(n)
}

fn msg(s: &str) -> Message {
    Message::parse_datagram(Bytes::copy_from_slice(s.as_bytes())).expect("test message parses")
}

fn request(method: &str, branch: &str) -> Message {
    msg(&format!(
        "{method} sip:+15551230000@teams.example;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP gw.example.com:5060;branch={branch}\r\n\
Max-Forwards: 70\r\nRoute: <sip:proxy.example;lr>\r\nFrom: <sip:+15559870000@gw.example.com>;tag=ft\r\nTo: <sip:+15551230000@teams.example>\r\n\
Call-ID: call-{branch}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn response_to(req: &Message, status: u16, to_tag: &str) -> Message {
    msg(std::str::from_utf8(&crate::sip::msg::build::response(req, status, "X", Some(to_tag), &[], None)).unwrap())
}

fn drain(t: &mut T) -> (Vec<Transmit<&'static str>>, Vec<TxEvent<&'static str>>) {
    let mut tr = Vec::new();
    while let Some(x) = t.poll_transmit() {
        tr.push(x);
    }
    let mut ev = Vec::new();
    while let Some(e) = t.poll_event() {
        ev.push(e);
    }
    (tr, ev)
}

/// Run timers until nothing is armed, recording when each transmission left.
fn run_to_end(t: &mut T) -> (Vec<Time>, Vec<TxEvent<&'static str>>) {
    let mut sent = Vec::new();
    let mut events = Vec::new();
    while let Some(at) = t.poll_timeout() {
        t.handle_timeout(at);
        let (tr, ev) = drain(t);
        sent.extend(tr.iter().map(|_| at));
        events.extend(ev);
    }
    (sent, events)
}

#[test]
fn client_invite_over_udp_retransmits_with_timer_a_and_gives_up_at_b() {
    let mut t = T::new(TimerConfig::default(), 10);
    let id = t.send_request(ms(0), request("INVITE", "z9hG4bKa1"), "teams-1", false).unwrap();
    assert_eq!(drain(&mut t).0.len(), 1);
    let (sent, events) = run_to_end(&mut t);
    // A doubles without cap: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; B at 32 s.
    assert_eq!(sent, [500, 1500, 3500, 7500, 15500, 31500].map(ms));
    assert!(matches!(events[0], TxEvent::Timeout { tx, timer: Timer::B } if tx == id));
    assert!(matches!(events[1], TxEvent::Terminated { tx } if tx == id));
    assert!(t.is_empty() && t.poll_timeout().is_none());
}

#[test]
fn client_non_invite_caps_at_t2_and_gives_up_at_f() {
    let mut t = T::new(TimerConfig::default(), 10);
    t.send_request(ms(0), request("OPTIONS", "z9hG4bKo1"), "teams-1", false).unwrap();
    drain(&mut t);
    let (sent, events) = run_to_end(&mut t);
    assert_eq!(sent, [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500].map(ms));
    assert!(matches!(events[0], TxEvent::Timeout { timer: Timer::F, .. }));
}

#[test]
fn reliable_transports_do_not_retransmit() {
    let mut t = T::new(TimerConfig::default(), 10);
    t.send_request(ms(0), request("INVITE", "z9hG4bKr1"), "teams-1", true).unwrap();
    drain(&mut t);
    let (sent, events) = run_to_end(&mut t);
    assert!(sent.is_empty());
    assert!(matches!(events[0], TxEvent::Timeout { timer: Timer::B, .. }));
}

#[test]
fn client_invite_non_2xx_is_acked_and_the_ack_repeated() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKb1");
    let id = t.send_request(ms(0), inv.clone(), "teams-1", false).unwrap();
    drain(&mut t);
    assert_eq!(t.handle_response(ms(100), response_to(&inv, 180, "r1")), Some(id));
    assert_eq!(t.state(id), Some((Kind::ClientInvite, State::Proceeding)));
    let busy = response_to(&inv, 486, "r1");
    t.handle_response(ms(200), busy.clone());
    let (tr, ev) = drain(&mut t);
    assert_eq!(tr.len(), 1, "ACK sent");
    let ack = msg(std::str::from_utf8(&tr[0].data).unwrap());
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.request_uri_str(), inv.request_uri_str());
    assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKb1"));
    assert_eq!(ack.to().unwrap().tag(), Some("r1"));
    assert_eq!(ack.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.routes().count(), 1);
    assert_eq!(ev.len(), 2, "180 and 486 reach the TU");
    // A retransmitted 486 is absorbed and answered with the same ACK.
    t.handle_response(ms(700), busy);
    let (tr2, ev2) = drain(&mut t);
    assert_eq!(tr2[0].data, tr[0].data);
    assert!(ev2.is_empty());
    // Timer D: 32 s on UDP, then gone.
    t.handle_timeout(ms(32_199));
    assert_eq!(t.len(), 1);
    t.handle_timeout(ms(32_200));
    assert!(t.is_empty());
}

#[test]
fn client_invite_accepted_passes_every_2xx_until_timer_m() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKc1");
    let id = t.send_request(ms(0), inv.clone(), "teams-1", false).unwrap();
    drain(&mut t);
    t.handle_response(ms(50), response_to(&inv, 200, "fork-a"));
    assert_eq!(t.state(id), Some((Kind::ClientInvite, State::Accepted)));
    t.handle_response(ms(60), response_to(&inv, 200, "fork-b"));
    let (tr, ev) = drain(&mut t);
    assert!(tr.is_empty(), "ACK for 2xx is the TU's");
    assert_eq!(ev.iter().filter(|e| matches!(e, TxEvent::Response { .. })).count(), 2);
    t.handle_timeout(ms(50 + 32_000));
    assert!(t.is_empty());
    assert!(matches!(drain(&mut t).1[..], [TxEvent::Terminated { tx }] if tx == id));
    // After the transaction is gone, a 2xx is stray: the dialog may ACK it.
    t.handle_response(ms(40_000), response_to(&inv, 200, "fork-a"));
    assert!(matches!(drain(&mut t).1[..], [TxEvent::Stray { .. }]));
}

#[test]
fn server_invite_sends_trying_then_retransmits_final_until_ack() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKs1");
    let RequestOutcome::New(id) = t.handle_request(ms(0), inv.clone(), "operator", false) else { panic!("new") };
    assert!(matches!(drain(&mut t).1[..], [TxEvent::Request { .. }]));
    t.handle_timeout(ms(200));
    let (tr, _) = drain(&mut t);
    assert_eq!(msg(std::str::from_utf8(&tr[0].data).unwrap()).status(), Some(100), "100 Trying after 200 ms");
    // A retransmitted INVITE gets the 100 again and creates nothing new.
    assert_eq!(t.handle_request(ms(500), inv.clone(), "operator", false), RequestOutcome::Absorbed(id));
    assert_eq!(drain(&mut t).0.len(), 1);
    let busy = crate::sip::msg::build::response(&inv, 486, "Busy Here", Some("u1"), &[], None);
    t.send_response(ms(1000), id, 486, Bytes::from(busy)).unwrap();
    drain(&mut t);
    // G: 1.5, 2.5, 4.5, 8.5 (cap T2 = 4 s) ...; an ACK at 5 s stops it.
    t.handle_timeout(ms(4_999));
    assert_eq!(drain(&mut t).0.len(), 3);
    let ack = msg(
        "ACK sip:+15551230000@teams.example;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP gw.example.com:5060;branch=z9hG4bKs1\r\n\
From: <sip:+15559870000@gw.example.com>;tag=ft\r\nTo: <sip:+15551230000@teams.example>;tag=u1\r\nCall-ID: call-z9hG4bKs1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(t.handle_request(ms(5_000), ack, "operator", false), RequestOutcome::Absorbed(id));
    assert_eq!(t.state(id), Some((Kind::ServerInvite, State::Confirmed)));
    t.handle_timeout(ms(9_999));
    assert_eq!(t.len(), 1);
    t.handle_timeout(ms(10_000));
    assert!(t.is_empty(), "timer I = T4 after the ACK");
}

#[test]
fn server_invite_without_ack_times_out_at_h() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKs2");
    let RequestOutcome::New(id) = t.handle_request(ms(0), inv.clone(), "operator", false) else { panic!() };
    let resp = Bytes::from(crate::sip::msg::build::response(&inv, 603, "Decline", Some("u"), &[], None));
    t.send_response(ms(0), id, 603, resp).unwrap();
    drain(&mut t);
    let (sent, events) = run_to_end(&mut t);
    assert_eq!(sent, [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500].map(ms));
    assert!(matches!(events[0], TxEvent::Timeout { timer: Timer::H, .. }));
}

#[test]
fn server_invite_2xx_is_accepted_and_absorbs_retransmissions() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKs3");
    let RequestOutcome::New(id) = t.handle_request(ms(0), inv.clone(), "operator", false) else { panic!() };
    let ok = Bytes::from(crate::sip::msg::build::response(&inv, 200, "OK", Some("u"), &[], None));
    t.send_response(ms(10), id, 200, ok).unwrap();
    drain(&mut t);
    assert_eq!(t.handle_request(ms(20), inv, "operator", false), RequestOutcome::Absorbed(id));
    assert!(drain(&mut t).0.is_empty(), "no retransmission of 2xx by the transaction");
    // The ACK for a 2xx carries a new branch: it goes to the TU.
    let ack = request("ACK", "z9hG4bKack");
    assert_eq!(t.handle_request(ms(30), ack, "operator", false), RequestOutcome::AckToTu);
    t.handle_timeout(ms(10 + 32_000));
    assert!(t.is_empty(), "timer L");
}

#[test]
fn server_non_invite_repeats_its_final_until_j() {
    let mut t = T::new(TimerConfig::default(), 10);
    let bye = request("BYE", "z9hG4bKs4");
    let RequestOutcome::New(id) = t.handle_request(ms(0), bye.clone(), "operator", false) else { panic!() };
    t.handle_timeout(ms(1000));
    assert!(drain(&mut t).0.is_empty(), "no automatic 100 for non-INVITE");
    let ok = Bytes::from(crate::sip::msg::build::response(&bye, 200, "OK", None, &[], None));
    t.send_response(ms(1000), id, 200, ok.clone()).unwrap();
    drain(&mut t);
    t.handle_request(ms(2000), bye, "operator", false);
    assert_eq!(drain(&mut t).0[0].data, ok);
    assert_eq!(
        t.send_response(ms(2000), id, 200, ok),
        Err(TxError::WrongState { status: 200, state: State::Completed })
    );
    t.handle_timeout(ms(33_000));
    assert!(t.is_empty());
}

#[test]
fn cancel_finds_its_invite_and_has_its_own_transaction() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKs5");
    let RequestOutcome::New(inv_id) = t.handle_request(ms(0), inv, "operator", false) else { panic!() };
    let cancel = request("CANCEL", "z9hG4bKs5");
    assert_eq!(t.invite_for_cancel(&cancel), Some(inv_id));
    let RequestOutcome::New(c_id) = t.handle_request(ms(10), cancel, "operator", false) else { panic!() };
    assert_ne!(c_id, inv_id);
    assert_eq!(t.state(c_id), Some((Kind::ServerNonInvite, State::Trying)));
}

#[test]
fn rfc2543_requests_match_on_legacy_fields() {
    let mut t = T::new(TimerConfig::default(), 10);
    let old = msg("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP old.example.com\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: legacy\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n");
    let RequestOutcome::New(id) = t.handle_request(ms(0), old.clone(), "operator", false) else { panic!() };
    assert_eq!(t.handle_request(ms(500), old, "operator", false), RequestOutcome::Absorbed(id));
}

#[test]
fn the_table_is_bounded() {
    let mut t = T::new(TimerConfig::default(), 2);
    for b in ["z9hG4bKx1", "z9hG4bKx2"] {
        assert!(matches!(t.handle_request(ms(0), request("OPTIONS", b), "operator", false), RequestOutcome::New(_)));
    }
    assert_eq!(t.handle_request(ms(0), request("OPTIONS", "z9hG4bKx3"), "operator", false), RequestOutcome::Overloaded);
    assert_eq!(t.send_request(ms(0), request("OPTIONS", "z9hG4bKx4"), "teams-1", false), Err(TxError::Full(2)));
    assert_eq!(
        t.handle_request(ms(0), msg("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"), "operator", false),
        RequestOutcome::Unmatchable
    );
}

#[test]
fn transport_error_ends_the_transaction() {
    let mut t = T::new(TimerConfig::default(), 10);
    let id = t.send_request(ms(0), request("INVITE", "z9hG4bKe1"), "teams-1", true).unwrap();
    t.handle_transport_error(id);
    let (_, ev) = drain(&mut t);
    assert!(matches!(ev[..], [TxEvent::TransportError { .. }, TxEvent::Terminated { .. }]));
    assert!(t.is_empty() && t.poll_timeout().is_none());
}

#[test]
fn a_tu_that_never_answers_gets_a_408_sent_for_it() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKt1");
    let RequestOutcome::New(id) = t.handle_request(ms(0), inv, "operator", true) else { panic!() };
    drain(&mut t);
    t.handle_timeout(ms(181_000));
    let (tr, ev) = drain(&mut t);
    let last = msg(std::str::from_utf8(&tr.last().unwrap().data).unwrap());
    assert_eq!(last.status(), Some(408));
    assert_eq!(last.to().unwrap().tag(), Some("bh-tx1"));
    assert!(matches!(ev[..], [TxEvent::Timeout { tx, timer: Timer::Tu }] if tx == id));
    t.handle_timeout(ms(181_000 + 32_000));
    assert!(t.is_empty());
}

#[test]
fn a_client_invite_stuck_in_proceeding_times_out_with_timer_c() {
    let mut t = T::new(TimerConfig::default(), 10);
    let inv = request("INVITE", "z9hG4bKc9");
    let id = t.send_request(ms(0), inv.clone(), "teams-1", false).unwrap();
    t.handle_response(ms(100), response_to(&inv, 180, "r"));
    t.handle_response(ms(60_100), response_to(&inv, 180, "r"));
    drain(&mut t);
    t.handle_timeout(ms(60_100 + 180_999));
    assert_eq!(t.len(), 1, "each provisional restarts timer C");
    t.handle_timeout(ms(60_100 + 181_000));
    assert!(
        matches!(drain(&mut t).1[..], [TxEvent::Timeout { tx, timer: Timer::C }, TxEvent::Terminated { .. }] if tx == id)
    );
}

#[test]
fn an_abandoned_client_transaction_stops_retransmitting() {
    let mut t = T::new(TimerConfig::default(), 10);
    let id = t.send_request(ms(0), request("INVITE", "z9hG4bKab"), "teams-1", false).unwrap();
    drain(&mut t);
    t.abandon(id);
    assert!(matches!(drain(&mut t).1[..], [TxEvent::Terminated { tx }] if tx == id));
    assert!(t.is_empty() && t.poll_timeout().is_none());
}
