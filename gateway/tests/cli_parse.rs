//! `gateway sip parse` on messages the parser's unit tests never saw:
//! IPv6, a Teams emergency INVITE with SDP + PIDF-LO, a REFER with a
//! ~400-character Refer-To, compact and folded headers, hostile bytes.
//! The real binary runs; each JSON verdict is an insta snapshot, and the
//! fields that matter are asserted directly.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/messages").join(name)
}

/// Run the tool on a file; returns (exit code, JSON).
fn parse(args: &[&str], stdin: Option<&[u8]>) -> (i32, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.args(["sip", "parse"]).args(args).stdout(Stdio::piped()).stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("gateway runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("gateway exits");
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    (out.status.code().unwrap_or(-1), json)
}

fn file(name: &str) -> (i32, Value) {
    let p = fixture(name);
    parse(&[p.to_str().expect("utf-8 path")], None)
}

#[test]
fn ipv6_invite() {
    let (code, j) = file("ipv6_invite.sip");
    assert_eq!(code, 0);
    assert_eq!(j["valid"], true);
    assert_eq!(j["uri"], "sip:+14255550100@[2001:db8::10]:5061;transport=tls;user=phone");
    assert_eq!(j["via"][0]["host"], "[2001:db8::20]");
    assert_eq!(j["via"][1]["received"], "[2001:db8::31]");
    assert_eq!(j["via"][1]["rport"], 5070);
    assert_eq!(j["from"]["display"], "Alice (v6)");
    assert_eq!(j["response"], Value::Null);
    insta::assert_json_snapshot!(j);
}

#[test]
fn teams_emergency_multipart_invite() {
    let (code, j) = file("teams_emergency_multipart.sip");
    assert_eq!(code, 0);
    assert_eq!(j["valid"], true);
    assert_eq!(j["response"], Value::Null);
    assert_eq!(j["cseq"]["method"], "INVITE");
    insta::assert_json_snapshot!(j);

    // The body splits into the SDP and the PIDF-LO, unaltered.
    let raw = std::fs::read(fixture("teams_emergency_multipart.sip")).expect("fixture");
    let m = gateway::sip::msg::Message::parse_datagram(raw.into()).expect("parses");
    let ct = m.content_type().expect("valid").expect("present");
    let parts = gateway::sip::msg::multipart::parts(m.body(), ct.boundary().expect("boundary")).expect("multipart");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].content_type(), "application/sdp");
    assert!(parts[0].body.starts_with(b"v=0\r\n") && parts[0].body.ends_with(b"a=sendrecv\r\n"));
    assert_eq!(parts[1].content_type(), "application/pidf+xml");
    assert_eq!(parts[1].header("Content-ID"), Some("<loc1@contoso.com>"));
    assert!(parts[1].body.ends_with(b"</presence>\r\n"));
}

#[test]
fn teams_refer_with_long_refer_to() {
    let (code, j) = file("teams_refer_long.sip");
    assert_eq!(code, 0);
    assert_eq!(j["valid"], true);
    assert_eq!(j["response"], Value::Null);
    let refer_to = j["headers"].as_array().expect("headers").iter().find(|h| h[0] == "Refer-To").expect("Refer-To");
    assert!(refer_to[1].as_str().expect("value").len() > 380);
    let raw = std::fs::read(fixture("teams_refer_long.sip")).expect("fixture");
    let m = gateway::sip::msg::Message::parse_datagram(raw.into()).expect("parses");
    let rt = m.refer_to().expect("valid").expect("present");
    assert!(rt.uri.params.get("x-tt").flatten().is_some_and(|v| v.len() == 125));
    insta::assert_json_snapshot!(j);
}

#[test]
fn compact_and_folded_headers() {
    let (code, j) = file("compact_folded_ok.sip");
    assert_eq!(code, 0);
    assert_eq!(j["via"][0]["branch"], "z9hG4bKfold");
    assert_eq!(j["from"]["tag"], "f1");
    assert_eq!(j["call_id"], "fold-1@192.0.2.1");
    let names: Vec<&str> = j["headers"].as_array().expect("headers").iter().filter_map(|h| h[0].as_str()).collect();
    assert_eq!(names, ["Via", "From", "To", "Call-ID", "CSeq", "Supported", "Max-Forwards", "Content-Length"]);
    insta::assert_json_snapshot!(j);
}

#[test]
fn hostile_inputs_get_a_verdict_not_a_crash() {
    for (name, status) in [
        // No parseable start line and no Via: nowhere to send an answer.
        ("hostile_binary.sip", None),
        ("hostile_huge_cl.sip", Some(400)),
        ("hostile_nul_header.sip", Some(400)),
        ("hostile_oversize.sip", Some(513)),
    ] {
        let (code, j) = file(name);
        assert_eq!(code, 1, "{name} is malformed");
        assert_eq!(j["valid"], false, "{name}");
        match status {
            Some(s) => {
                assert_eq!(j["response"]["status"], s, "{name}");
                assert_eq!(j["disposition"], "answer", "{name}");
            }
            None => {
                assert_eq!(j["response"], Value::Null, "{name}");
                assert_eq!(j["disposition"], "drop", "{name}");
            }
        }
        assert!(j["error"].as_str().is_some_and(|e| e.contains("at byte")), "{name}: error says where");
    }
}

#[test]
fn stdin_and_stream_framing() {
    let bye = b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=1\r\nFrom: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\r\n";
    let (code, j) = parse(&["-"], Some(bye));
    assert_eq!((code, &j["valid"]), (0, &Value::Bool(true)), "datagram: no Content-Length means to the end");
    let (code, j) = parse(&["-", "--stream"], Some(bye));
    assert_eq!(code, 1, "stream: Content-Length is mandatory");
    assert!(j["error"].as_str().is_some_and(|e| e.contains("without Content-Length")));
    let (code, j) = parse(&["--stream"], Some(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=2\r\nCall-ID: y\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"));
    assert_eq!((code, &j["method"]), (0, &Value::from("OPTIONS")), "keep-alive before the message is skipped");
}

#[test]
fn max_forwards_zero_is_well_formed_with_483() {
    let inv = b"INVITE sip:+15551234567@gw.example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK9\r\nTo: <sip:+15551234567@gw.example.com>\r\nFrom: <sip:c@d>;tag=2\r\nCall-ID: z\r\nCSeq: 1 INVITE\r\nMax-Forwards: 0\r\nContact: <sip:c@h>\r\nContent-Length: 0\r\n\r\n";
    let (code, j) = parse(&[], Some(inv));
    assert_eq!(code, 0);
    assert_eq!(j["response"]["status"], 483);
}
