//! Throughput of the zero-copy SIP message layer on realistic Microsoft
//! Teams Direct Routing traffic, with `rsip` 0.4 as a baseline.
//!
//! Every message is a `Bytes` made once, outside the timed loop, from a
//! static fixture: cloning it inside the loop is a reference-count-free
//! pointer copy, so the parse itself is all that is measured (and it
//! allocates nothing, see `tests/no_alloc.rs`).
//!
//! Run: `cargo bench -p gateway --bench sip_msg -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use gateway::sip::msg::check::check;
use gateway::sip::msg::{Editor, Limits, Message};

const INVITE: &[u8] = include_bytes!("fixtures/teams_invite.sip");
const OK_200: &[u8] = include_bytes!("fixtures/ok_200.sip");
const BYE: &[u8] = include_bytes!("fixtures/bye.sip");

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g
}

/// Parse with this crate and with rsip, after checking that both accept the message.
fn parse_pair(c: &mut Criterion, name: &str, raw: &'static [u8]) {
    let bytes = Bytes::from_static(raw);
    Message::parse_datagram(bytes.clone()).expect("fixture parses");
    rsip::SipMessage::try_from(raw).expect("rsip parses the fixture");

    let mut g = group(c, name);
    g.bench_function("bridgehead", |b| b.iter(|| Message::parse_datagram(black_box(&bytes).clone())));
    g.bench_function("rsip", |b| b.iter(|| rsip::SipMessage::try_from(black_box(raw))));
    g.finish();
}

fn parse(c: &mut Criterion) {
    parse_pair(c, "parse_invite", INVITE);
    parse_pair(c, "parse_200_ok", OK_200);
    parse_pair(c, "parse_bye", BYE);
}

fn parse_and_key(c: &mut Criterion) {
    let bytes = Bytes::from_static(INVITE);
    let m = Message::parse_datagram(bytes.clone()).unwrap();
    let k = m.transaction_key().unwrap();
    assert!(k.rfc3261 && k.branch == "z9hG4bK3d8c1e0f");

    let mut g = group(c, "parse_invite_transaction_key");
    g.bench_function("bridgehead", |b| {
        b.iter(|| {
            let m = Message::parse_datagram(black_box(&bytes).clone()).unwrap();
            // The key borrows from the message: reduce it to owned values.
            let k = m.transaction_key().unwrap();
            black_box((k.branch.len(), k.sent_by_port, k.method, k.call_id.len(), k.cseq));
        })
    });
    g.finish();
}

fn parse_and_check(c: &mut Criterion) {
    let bytes = Bytes::from_static(INVITE);
    let limits = Limits::default();
    check(&Message::parse_datagram(bytes.clone()).unwrap(), &limits).expect("fixture passes check");

    let mut g = group(c, "parse_invite_check");
    g.bench_function("bridgehead", |b| {
        b.iter(|| {
            let m = Message::parse_datagram(black_box(&bytes).clone()).unwrap();
            check(&m, black_box(&limits)).unwrap();
            m
        })
    });
    g.finish();
}

/// What a B2BUA does to forward the INVITE: a Via of its own on top, a
/// new Call-ID and Request-URI, the Record-Route set dropped.
fn edit(m: &Message) -> Vec<u8> {
    let mut e = Editor::new(m);
    e.push_front("Via", "SIP/2.0/TLS sbc1.contoso.com:5061;branch=z9hG4bK-bh-7c1e94a2")
        .set("Call-ID", "bh-4f0a6d2e91c347b8@sbc1.contoso.com")
        .set_request_uri("sip:+15551234567@core.operator.example;user=phone")
        .remove("Record-Route");
    e.print()
}

fn print_edited(c: &mut Criterion) {
    let m = Message::parse_datagram(Bytes::from_static(INVITE)).unwrap();
    let out = Message::parse_datagram(Bytes::from(edit(&m))).expect("edited INVITE parses");
    assert_eq!(out.call_id().unwrap(), "bh-4f0a6d2e91c347b8@sbc1.contoso.com");
    assert_eq!(out.record_routes().count(), 0);
    assert_eq!(out.vias().count(), 2);
    assert_eq!(out.body(), m.body());

    let mut g = group(c, "print_edited_invite");
    g.bench_function("bridgehead", |b| b.iter(|| edit(black_box(&m))));
    g.finish();
}

criterion_group!(benches, parse, parse_and_key, parse_and_check, print_edited);
criterion_main!(benches);
