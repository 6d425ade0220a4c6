//! The captures the simulator writes are real pcaps: tshark (Debian
//! package `tshark`, installed by `.ci/bootstrap`) decodes every datagram
//! of a scenario as SIP, in order, with the simulated timestamps.

use std::path::Path;
use std::process::Command;

use sim::scenario::{self, Scenario};

#[test]
fn tshark_decodes_the_capture_as_sip() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/basic-calls/01-outbound-caller-hangs-up.toml");
    let sc = Scenario::load(&path).expect("scenario");
    let run = scenario::run("01", &sc, 1);
    let file = std::env::temp_dir().join(format!("bridgehead-{}.pcap", std::process::id()));
    std::fs::write(&file, sim::pcap::write(&run.outcome.captured)).expect("write pcap");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args([
            "-d",
            "udp.port==5061,sip",
            "-T",
            "fields",
            "-e",
            "frame.time_relative",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
        ])
        .output()
        .expect("tshark is not installed: run .ci/bootstrap (Debian package tshark)");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), run.outcome.captured.len(), "one frame per datagram");
    assert!(
        rows.iter().all(|r| r.get(1).is_some_and(|m| !m.is_empty()) || r.get(2).is_some_and(|s| !s.is_empty())),
        "every frame decodes as SIP:\n{text}"
    );
    assert_eq!(rows[0][1], "INVITE");
    let last: f64 = rows.last().and_then(|r| r[0].parse().ok()).expect("time");
    assert!((20.0..21.0).contains(&last), "simulated timestamps: last frame at {last}");
}

#[test]
fn tshark_reassembles_sip_over_tcp_from_the_network_world() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/network/02-operator-tcp.toml");
    let sc = Scenario::load(&path).expect("scenario");
    let run = scenario::run("02", &sc, 1);
    let tcp = run.outcome.captured.iter().filter(|c| c.proto == gateway::sip::transport::Proto::Tcp).count();
    assert!(tcp >= 5, "the operator leg is TCP: {tcp} segments");
    let file = std::env::temp_dir().join(format!("bridgehead-tcp-{}.pcap", std::process::id()));
    std::fs::write(&file, sim::pcap::write(&run.outcome.captured)).expect("write pcap");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-d", "udp.port==5061,sip", "-Y", "tcp && sip", "-T", "fields", "-e", "tcp.checksum.status"])
        .args(["-o", "tcp.check_checksum:TRUE", "-e", "sip.Method", "-e", "sip.Status-Code"])
        .output()
        .expect("tshark is not installed: run .ci/bootstrap (Debian package tshark)");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), tcp, "every TCP segment decodes as SIP:\n{text}");
    assert!(rows.iter().all(|r| r[0] == "1"), "TCP checksums verify (status 1 = good):\n{text}");
    assert_eq!(rows[0][1], "INVITE");
}
