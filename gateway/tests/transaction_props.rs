//! Invariants of the transaction layer under random inputs, checked from
//! outside: whatever arrives in whatever order, every transaction ends
//! (exactly one Terminated each, even if the TU never answers), nothing stays in the table or the timer
//! table once time runs out, and timer deadlines never go backwards.

use std::collections::BTreeMap;

use bytes::Bytes;
use gateway::sip::msg::{build, Message};
use gateway::sip::transaction::{RequestOutcome, TimerConfig, Transactions, TxEvent, TxId};
use gateway::time::Time;
use proptest::prelude::*;

const METHODS: [&str; 5] = ["INVITE", "OPTIONS", "BYE", "CANCEL", "ACK"];

fn request(method: &str, branch: u8) -> Message {
    let s = format!(
        "{method} sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK{branch}\r\nFrom: <sip:c@d>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: c{branch}\r\nCSeq: 1 {}\r\nContent-Length: 0\r\n\r\n",
        if method == "ACK" { "ACK" } else { method }
    );
    Message::parse_datagram(Bytes::from(s)).expect("parses")
}

#[derive(Debug, Clone)]
enum Op {
    Send { method: usize, branch: u8, reliable: bool },
    Receive { method: usize, branch: u8, reliable: bool },
    Respond { which: usize, status: u16 },
    Answer { which: usize, status: u16 },
    Advance { ms: u32 },
    TransportError { which: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..5usize, 0..6u8, any::<bool>()).prop_map(|(method, branch, reliable)| Op::Send { method, branch, reliable }),
        (0..5usize, 0..6u8, any::<bool>()).prop_map(|(method, branch, reliable)| Op::Receive {
            method,
            branch,
            reliable
        }),
        (0..8usize, prop_oneof![Just(100u16), Just(180), Just(200), Just(486), Just(503)])
            .prop_map(|(which, status)| Op::Respond { which, status }),
        (0..8usize, prop_oneof![Just(100u16), Just(183), Just(200), Just(404), Just(603)])
            .prop_map(|(which, status)| Op::Answer { which, status }),
        (0..40_000u32).prop_map(|ms| Op::Advance { ms }),
        (0..8usize).prop_map(|which| Op::TransportError { which }),
    ]
}

type Server = Vec<(TxId, Message)>;

/// Drain outputs, recording new server transactions and terminations.
fn drain(
    t: &mut Transactions<u8>,
    server: &mut Server,
    created: &mut BTreeMap<TxId, u32>,
    terminated: &mut BTreeMap<TxId, u32>,
) {
    while t.poll_transmit().is_some() {}
    while let Some(e) = t.poll_event() {
        match e {
            TxEvent::Request { tx, msg, .. } => {
                server.push((tx, msg));
                *created.entry(tx).or_default() += 1;
            }
            TxEvent::Terminated { tx } => *terminated.entry(tx).or_default() += 1,
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_transaction_ends_exactly_once(ops in proptest::collection::vec(op(), 1..60)) {
        let mut t: Transactions<u8> = Transactions::new(TimerConfig::default(), 16);
        let mut now = Time::ZERO;
        let mut client: Vec<TxId> = Vec::new();
        let mut server: Server = Vec::new();
        let mut created: BTreeMap<TxId, u32> = BTreeMap::new();
        let mut terminated: BTreeMap<TxId, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Send { method, branch, reliable } => {
                    if let Ok(id) = t.send_request(now, request(METHODS[method], branch), 1, reliable) {
                        client.push(id);
                        *created.entry(id).or_default() += 1;
                    }
                }
                Op::Receive { method, branch, reliable } => {
                    let r = t.handle_request(now, request(METHODS[method], branch.wrapping_add(100)), 2, reliable);
                    if let RequestOutcome::New(id) = r { prop_assert!(!created.contains_key(&id)); }
                }
                Op::Respond { which, status } => {
                    if let Some(id) = client.get(which).copied() {
                        if let Some(req) = t.request(id).cloned() {
                            let resp = build::response(&req, status, "X", Some("tt"), &[], None);
                            t.handle_response(now, Message::parse_datagram(Bytes::from(resp)).expect("parses"));
                        }
                    }
                }
                Op::Answer { which, status } => {
                    if let Some((id, req)) = server.get(which).cloned() {
                        let resp = build::response(&req, status, "X", Some("uu"), &[], None);
                        let _ = t.send_response(now, id, status, Bytes::from(resp));
                    }
                }
                Op::Advance { ms } => {
                    now = now + std::time::Duration::from_millis(u64::from(ms));
                    t.handle_timeout(now);
                }
                Op::TransportError { which } => {
                    if let Some(id) = client.get(which).copied() { t.handle_transport_error(id); }
                }
            }
            drain(&mut t, &mut server, &mut created, &mut terminated);
            // Time only moves forward through handle_timeout, which fires
            // everything due: no deadline may be left behind.
            if let Some(d) = t.poll_timeout() {
                prop_assert!(d >= now, "deadline {d} before now {now}");
            }
        }
        // Let time run out: with no input everything ends, at the latest
        // 181 s (a TU that never answers an INVITE) + 64*T1.
        let limit = now + std::time::Duration::from_secs(181 + 32 + 1);
        while let Some(d) = t.poll_timeout() {
            prop_assert!(d <= limit, "a timer beyond the longest bound: {d}");
            t.handle_timeout(d);
            drain(&mut t, &mut server, &mut created, &mut terminated);
        }
        prop_assert!(t.is_empty(), "{} transactions leaked", t.len());
        prop_assert_eq!(created.keys().collect::<Vec<_>>(), terminated.keys().collect::<Vec<_>>());
        prop_assert!(terminated.values().all(|&n| n == 1));
    }
}
