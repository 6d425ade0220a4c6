//! The message layer's zero-allocation contract: parsing a well-formed
//! message and reading the headers a transaction layer routes on
//! (`transaction_key`, `top_via`, `from`, `to`, `cseq`, `call_id`) and the
//! full `check` allocate nothing on the heap.
//!
//! A counting global allocator wraps `System`. Only allocations made on a
//! thread that raised its thread-local flag are counted, so the test
//! harness's other threads do not interfere; measured sections are also
//! serialised so that two tests never count into the shared counter at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use gateway::sip::msg::check::check;
use gateway::sip::msg::{Limits, Message, Method};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static MEASURING: Mutex<()> = Mutex::new(());

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // `try_with`: the allocator may run while thread-locals are torn down.
    if COUNT_HERE.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Run `f` and return its result with the number of heap allocations
/// (alloc, alloc_zeroed, realloc) it made on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNT_HERE.with(|c| c.set(true));
    let r = f();
    COUNT_HERE.with(|c| c.set(false));
    (r, ALLOCATIONS.load(Ordering::SeqCst))
}

#[track_caller]
fn assert_no_alloc<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let (r, n) = allocations(f);
    assert_eq!(n, 0, "{what}: {n} heap allocation(s)");
    r
}

const INVITE: &[u8] = include_bytes!("../benches/fixtures/teams_invite.sip");
const OK_200: &[u8] = include_bytes!("../benches/fixtures/ok_200.sip");
const BYE: &[u8] = include_bytes!("../benches/fixtures/bye.sip");

const FIXTURES: [(&str, &[u8]); 3] = [("teams_invite.sip", INVITE), ("ok_200.sip", OK_200), ("bye.sip", BYE)];

/// Every accessor the transaction layer uses, each measured on its own.
fn accessors_do_not_allocate(name: &str, m: &Message) {
    let key = assert_no_alloc(&format!("{name}: transaction_key()"), || m.transaction_key()).unwrap();
    assert!(key.rfc3261, "{name}: {key:?}");
    assert_eq!(key.sent_by_host, "52.114.132.46");
    assert_eq!(key.sent_by_port, Some(5061));
    assert_eq!(key.call_id, "8a3f1c5e07d24b6c9e2f4a1d6b8c0e37");

    let via = assert_no_alloc(&format!("{name}: top_via()"), || m.top_via()).unwrap();
    assert_eq!(via.transport, "TLS");
    assert_eq!(via.branch(), Some(key.branch));

    let from = assert_no_alloc(&format!("{name}: from()"), || m.from()).unwrap();
    assert_eq!(from.tag(), Some("0f1b6c7e2a594f0d9bf7a3e8c5d21b64"));
    assert_eq!(from.display, Some("\"Alice Contoso\""));

    let to = assert_no_alloc(&format!("{name}: to()"), || m.to()).unwrap();
    assert_eq!(to.uri.user, Some("+15551234567"));

    let cseq = assert_no_alloc(&format!("{name}: cseq()"), || m.cseq()).unwrap();
    assert_eq!((cseq.method, cseq.seq), (key.method, key.cseq));

    let call_id = assert_no_alloc(&format!("{name}: call_id()"), || m.call_id()).unwrap();
    assert_eq!(call_id, key.call_id);

    let limits = Limits::default();
    let checked = assert_no_alloc(&format!("{name}: check()"), || check(m, &limits));
    checked.unwrap_or_else(|e| panic!("{name}: check() failed: {e}"));
}

#[test]
fn parsing_static_fixtures_does_not_allocate() {
    for (name, raw) in FIXTURES {
        let bytes = Bytes::from_static(raw);
        let m = assert_no_alloc(&format!("{name}: parse_datagram()"), || Message::parse_datagram(bytes.clone()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.raw(), raw);
        accessors_do_not_allocate(name, &m);
    }
}

/// The receive path hands the parser a `Bytes` frozen from a socket
/// buffer (heap, not static): parsing it must not allocate either.
#[test]
fn parsing_received_buffers_does_not_allocate() {
    for (name, raw) in FIXTURES {
        let from_vec = Bytes::from(raw.to_vec());
        let from_buf = BytesMut::from(raw).freeze();
        let mut shared = BytesMut::with_capacity(4096);
        shared.extend_from_slice(raw);
        let shared = shared.split().freeze();
        for (how, bytes) in
            [("Bytes::from(Vec)", from_vec), ("BytesMut::freeze", from_buf), ("BytesMut::split", shared)]
        {
            let what = format!("{name} via {how}: parse_datagram()");
            let m = assert_no_alloc(&what, || Message::parse_datagram(bytes)).unwrap_or_else(|e| panic!("{what}: {e}"));
            accessors_do_not_allocate(name, &m);
        }
        let what = format!("{name}: parse_stream()");
        let m = assert_no_alloc(&what, || Message::parse_stream(Bytes::from_static(raw)))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        accessors_do_not_allocate(name, &m);
    }
}

/// RFC 3261 7.5: CRLFs before the start line (stream keep-alives that end
/// up in front of a message) are ignored, so the message is well-formed and
/// the contract says no allocation: the parser records where the start
/// line begins instead of slicing the `Bytes` (which would promote a
/// Vec-backed buffer to a shared one, one allocation).
#[test]
fn leading_crlf_does_not_allocate() {
    let mut raw = b"\r\n\r\n".to_vec();
    raw.extend_from_slice(BYE);
    let bytes = Bytes::from(raw);
    let m = assert_no_alloc("CRLF CRLF + bye.sip via Bytes::from(Vec): parse_datagram()", || {
        Message::parse_datagram(bytes)
    })
    .unwrap();
    assert_eq!(m.raw(), BYE);
}

#[test]
fn fixtures_are_what_they_claim() {
    let invite = Message::parse_datagram(Bytes::from_static(INVITE)).unwrap();
    assert_eq!(invite.method(), Some(Method::Invite));
    assert_eq!(invite.record_routes().count(), 2);
    assert_eq!(invite.content_length(), Some(invite.body().len() as u32));
    assert!(invite.body().starts_with(b"v=0\r\n"));
    let ok = Message::parse_datagram(Bytes::from_static(OK_200)).unwrap();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.content_length(), Some(ok.body().len() as u32));
    let bye = Message::parse_datagram(Bytes::from_static(BYE)).unwrap();
    assert_eq!(bye.method(), Some(Method::Bye));
    assert_eq!(bye.content_length(), Some(0));
    for (name, raw) in FIXTURES {
        assert!(!raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "{name}: bare LF");
        assert!(raw.ends_with(b"\r\n"), "{name}: no final CRLF");
    }
}

/// Sanity check of the harness itself: an allocation is seen.
#[test]
fn the_counter_counts() {
    let (v, n) = allocations(|| vec![1u8; 64]);
    assert_eq!(v.len(), 64);
    assert!(n >= 1);
}
