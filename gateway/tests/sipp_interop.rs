//! Real-network interop: SIPp as the operator (UAC) -> the `gateway run`
//! binary -> SIPp as Teams (UAS), on loopback, over UDP and over TCP,
//! 100 calls each, all of which must succeed; and SIPp's `uac_pcap`
//! (recorded A-law audio and an RFC 2833 digit) through the gateway with
//! media anchored, checked packet by packet with a tshark capture; and a
//! call without RTP that the gateway's media timeout hangs up. SIPp
//! and tshark come from Debian (`sip-tester`, `tshark`), which
//! `.ci/bootstrap` installs; the capture needs root or the wireshark group.
#![allow(clippy::disallowed_methods)] // a real-network test waits on the real clock

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CALLS: u32 = 100;

fn sipp() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("sipp"))
        .find(|p| p.is_file())
        .expect("sipp is not installed: run .ci/bootstrap (Debian package sip-tester)")
}

/// A loopback port free for both UDP and TCP.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_listener(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

/// DIR/gateway.toml: the gateway on 127.0.0.1 (SIP, operator, one Teams
/// proxy at the given ports, over `transport`), then `extra` sections.
fn write_config(dir: &std::path::Path, (gw, op, teams): (u16, u16, u16), transport: &str, extra: &str) -> PathBuf {
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nfqdn = \"127.0.0.1\"\nlisten = \"127.0.0.1:{gw}\"\nseed = 7\n\
[operator]\naddress = \"127.0.0.1:{op}\"\ntransport = \"{transport}\"\n\
[teams]\nproxies = [ {{ address = \"127.0.0.1:{teams}\", transport = \"{transport}\" }} ]\n{extra}"
        ),
    )
    .expect("config");
    config
}

/// `gateway run --config CONFIG`, logging to DIR/gateway.log, once it listens on `port`.
fn start_gateway(dir: &std::path::Path, config: &std::path::Path, port: u16) -> Kill {
    let gw_log = std::fs::File::create(dir.join("gateway.log")).expect("log");
    let gateway = Kill(
        Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stderr(gw_log)
            .spawn()
            .expect("gateway starts"),
    );
    wait_for_listener(port);
    gateway
}

fn run_calls(transport: &str, sipp_mode: &[&str]) {
    let (gw_port, op_port, teams_port) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("bridgehead-sipp-{transport}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = write_config(&dir, (gw_port, op_port, teams_port), transport, "");
    let mut gateway = start_gateway(&dir, &config, gw_port);
    let teams_port_s = teams_port.to_string();
    let _uas = Kill(
        Command::new(sipp())
            .current_dir(&dir)
            .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &teams_port_s, "-nostdin", "-trace_err"])
            .args(sipp_mode)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp uas starts"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let calls = CALLS.to_string();
    let uac = Command::new(sipp())
        .current_dir(&dir)
        .args(["-sn", "uac", "-i", "127.0.0.1", "-p", &op_port.to_string(), "-s", "+14255550100"])
        .arg(format!("127.0.0.1:{gw_port}"))
        .args(["-m", &calls, "-r", "50", "-d", "100", "-timeout", "60s", "-nostdin", "-trace_err", "-trace_stat"])
        .args(sipp_mode)
        .output()
        .expect("sipp uac runs");
    let screen = String::from_utf8_lossy(&uac.stdout);
    let log = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
    assert!(
        uac.status.success(),
        "SIPp UAC over {transport} failed ({:?}):\n{screen}\ngateway log tail:\n{}",
        uac.status,
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    let ok_line = screen.lines().rfind(|l| l.contains("Successful call")).unwrap_or("");
    assert!(ok_line.trim_end().ends_with(&calls), "not all {CALLS} calls succeeded: {ok_line}");
    // SIGTERM: the gateway drains (no calls left) and exits 0.
    let pid = gateway.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = gateway.0.try_wait().expect("wait") {
            assert!(status.success(), "gateway exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "gateway did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ended = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default().matches("call ended").count();
    assert_eq!(ended, CALLS as usize, "every call ended in the gateway");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sipp_calls_over_udp() {
    run_calls("udp", &[]);
}

#[test]
fn sipp_calls_over_tcp() {
    run_calls("tcp", &["-t", "t1"]);
}

/// SIPp's 200 OK to the request just received (the BYE).
macro_rules! ok_to_last {
    () => {
        "  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"
    };
}

/// A SIPp UAS's response (`$status`, e.g. "180 Ringing") to the INVITE
/// just received, in its dialog, up to its Content-Length.
macro_rules! uas_head {
    ($status:literal) => {
        concat!(
            "SIP/2.0 ",
            $status,
            "
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
"
        )
    };
}

/// A SIPp UAS's 200 OK with SDP to the INVITE just received, up to the
/// blank line before the body.
macro_rules! answer_head {
    () => {
        concat!(uas_head!("200 OK"), "Content-Type: application/sdp\nContent-Length: [len]\n")
    };
}

/// A SIPp UAS that answers G.711 A-law and telephone-event, as the
/// `uac_pcap` caller offers.
const UAS_PCMA: &str = concat!(
    r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="UAS answering PCMA and telephone-event">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
"#,
    uas_head!("180 Ringing"),
    r#"Content-Length: 0
  ]]></send>
  <send retrans="500"><![CDATA[
"#,
    answer_head!(),
    r#"
      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
  ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
"#,
    ok_to_last!(),
    "</scenario>\n"
);

/// RTP payload types and telephone-event ids of a capture, per UDP destination port.
fn rtp_by_port(capture: &std::path::Path) -> Vec<(u16, u8, Option<u8>)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args(["--enable-heuristic", "rtp_udp", "-Y", "rtp", "-T", "fields"])
        .args(["-e", "udp.dstport", "-e", "rtp.p_type", "-e", "rtpevent.event_id"])
        .output()
        .expect("tshark is not installed: run .ci/bootstrap (Debian package tshark)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.parse().ok()?, f.get(2).and_then(|e| e.parse().ok())))
        })
        .collect()
}

/// The duration (ms) of the G.711 audio of one of sip-tester's recordings.
fn recorded_ms(file: &str) -> u32 {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(PathBuf::from("/usr/share/sip-tester").join(file))
        .args(["--enable-heuristic", "rtp_udp", "-Y", "rtp.p_type == 8", "-T", "fields", "-e", "udp.length"])
        .output()
        .expect("tshark runs");
    // UDP length - UDP header (8) - RTP header (12) = bytes = samples at 8 kHz.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .map(|n| (n - 20) / 8)
        .sum()
}

/// SIPp's `uac_pcap` (the G.711 A-law recording and an RFC 2833 '1' that
/// ship with Debian's sip-tester) through `gateway run` with media
/// anchored, to a SIPp UAS; a tshark capture on loopback must show every
/// RTP packet and every DTMF event relayed, from the relay's ports. SIP
/// listens on 127.0.0.1, the media ports on 127.0.0.2 (`[media] bind`,
/// which the SDP names when `address` is left out).
#[test]
fn sipp_pcap_audio_and_dtmf_cross_the_gateway() {
    pcap_call_through_gateway("pcma", "bind = \"127.0.0.2\"\n", UAS_PCMA, (8, None), (44_000, 44_199), 0);
}

/// The same recording toward a Teams side that takes only G.722: the
/// recording's 30 ms A-law packets leave transcoded and re-framed as 20 ms
/// G.722 packets (payload type 9; the UAS asks no a=ptime), as many as
/// the audio lasts; the DTMF events still cross.
#[test]
fn sipp_pcap_audio_is_transcoded_to_g722_by_the_gateway() {
    let uas =
        UAS_PCMA.replace("RTP/AVP 8 101", "RTP/AVP 9 101").replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:9 G722/8000");
    pcap_call_through_gateway("g722", "[media.teams]\ncodecs = [\"G722\"]\n", &uas, (9, Some(20)), (44_200, 44_399), 1);
}

/// Run `uac_pcap` through the gateway (extra config `media_policy`) to a
/// UAS answering `uas_xml`; the recorded audio must reach the UAS at
/// payload type `out_pt`: every packet, or (re-framed to `out_ms`) as
/// many packets as its duration fills; every event as event 1.
fn pcap_call_through_gateway(
    name: &str,
    media_policy: &str,
    uas_xml: &str,
    (out_pt, out_ms): (u8, Option<u32>),
    (relay_min, relay_max): (u16, u16),
    slot: u16,
) {
    let (gw_port, op_port, teams_port) = (free_port(), free_port(), free_port());
    let base = 4 * (std::process::id() % 500) as u16 + 2000 * slot;
    let (uac_mp, uas_mp) = (46_000 + base, 47_000 + base);
    let dir = std::env::temp_dir().join(format!("bridgehead-sipp-media-{name}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pcap")).expect("temp dir");
    for f in ["g711a.pcap", "dtmf_2833_1.pcap"] {
        let _ = std::fs::remove_file(dir.join("pcap").join(f));
        std::os::unix::fs::symlink(PathBuf::from("/usr/share/sip-tester").join(f), dir.join("pcap").join(f))
            .expect("sip-tester's pcaps (Debian package sip-tester)");
    }
    std::fs::write(dir.join("uas_pcma.xml"), uas_xml).expect("scenario");
    let address = if media_policy.contains("bind =") { "" } else { "address = \"127.0.0.1\"\n" };
    let media = format!("[media]\n{address}port_min = {relay_min}\nport_max = {relay_max}\n{media_policy}");
    let config = write_config(&dir, (gw_port, op_port, teams_port), "udp", &media);
    let capture = dir.join("lo.pcap");
    let mut tshark = Kill(
        Command::new("tshark")
            .args(["-i", "lo", "-q", "-w"])
            .arg(&capture)
            .args(["-f", &format!("udp and (portrange {relay_min}-{relay_max} or port {uas_mp})")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tshark starts"),
    );
    let _gateway = start_gateway(&dir, &config, gw_port);
    std::thread::sleep(Duration::from_millis(1500)); // tshark is capturing
    let _uas = Kill(
        Command::new(sipp())
            .current_dir(&dir)
            .args(["-sf", "uas_pcma.xml", "-i", "127.0.0.1", "-p", &teams_port.to_string()])
            .args(["-mp", &uas_mp.to_string(), "-m", "1", "-nostdin", "-bg"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp uas starts"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let uac = Command::new(sipp())
        .current_dir(&dir)
        .args(["-sn", "uac_pcap", "-i", "127.0.0.1", "-p", &op_port.to_string(), "-s", "+14255550100"])
        .args(["-mp", &uac_mp.to_string(), "-m", "1", "-timeout", "60s", "-nostdin"])
        .arg(format!("127.0.0.1:{gw_port}"))
        .output()
        .expect("sipp uac runs");
    assert!(uac.status.success(), "SIPp uac_pcap failed:\n{}", String::from_utf8_lossy(&uac.stdout));
    std::thread::sleep(Duration::from_millis(1000));
    let _ = Command::new("kill").args(["-INT", &tshark.0.id().to_string()]).status();
    let _ = tshark.0.wait();
    let rtp = rtp_by_port(&capture);
    let into_gateway: Vec<_> = rtp.iter().filter(|(p, _, _)| (relay_min..=relay_max).contains(p)).collect();
    let to_uas: Vec<_> = rtp.iter().filter(|(p, _, _)| *p == uas_mp).collect();
    let audio = |v: &[&(u16, u8, Option<u8>)], want: u8| v.iter().filter(|(_, pt, _)| *pt == want).count();
    let events = |v: &[&(u16, u8, Option<u8>)]| v.iter().filter(|(_, pt, e)| *pt == 101 && *e == Some(1)).count();
    // What the recordings hold, read with the same tool.
    let source = |f: &str| {
        rtp_by_port(&PathBuf::from("/usr/share/sip-tester").join(f))
            .iter()
            .filter(|(_, pt, _)| [8, 101].contains(pt))
            .count()
    };
    let (recorded_audio, recorded_events) = (source("g711a.pcap"), source("dtmf_2833_1.pcap"));
    assert!(recorded_audio > 200 && recorded_events > 0, "{recorded_audio} {recorded_events}");
    assert_eq!(audio(&into_gateway, 8), recorded_audio, "SIPp played the whole A-law recording");
    let expected = match out_ms {
        None => recorded_audio,
        Some(ms) => (recorded_ms("g711a.pcap") / ms) as usize,
    };
    assert_eq!(audio(&to_uas, out_pt), expected, "all the audio relayed, as payload type {out_pt}");
    assert_eq!(events(&into_gateway), recorded_events, "SIPp played the RFC 2833 '1'");
    assert_eq!(events(&to_uas), recorded_events, "every DTMF event relayed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The SDP both silent SIPp sides send (PCMU; they never send RTP).
macro_rules! silent_sdp {
    () => {
        "v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"
    };
}

/// How both silent SIPp sides end: the gateway's BYE, which must carry
/// `Reason: Q.850;cause=41` (`check_it`: the scenario fails without it),
/// answered 200.
macro_rules! silent_end {
    () => {
        concat!(
            r#"  <recv request="BYE" timeout="15000">
    <action>
      <ereg regexp="Q\.850;cause=41" search_in="hdr" header="Reason:" check_it="true" assign_to="1"/>
    </action>
  </recv>
"#,
            ok_to_last!(),
            "  <Reference variables=\"1\"/>\n</scenario>\n"
        )
    };
}

/// The operator's side of the media-timeout call: a call with SDP and no
/// RTP at all, then the gateway's BYE.
const UAC_SILENT: &str = concat!(
    r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="silent uac">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

"#,
    silent_sdp!(),
    r#"]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
"#,
    silent_end!()
);

/// Teams' side: answers with SDP, sends no RTP either, and must get the
/// gateway's BYE with the same Reason.
const UAS_SILENT: &str = concat!(
    r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="silent uas">
  <recv request="INVITE"/>
  <send><![CDATA[
"#,
    answer_head!(),
    "\n",
    silent_sdp!(),
    r#"]]></send>
  <recv request="ACK"/>
"#,
    silent_end!()
);

/// The media inactivity timeout in the real binary: a call whose two
/// sides (SIPp) send no RTP is hung up by `gateway run` toward both after
/// `[media] timeout_s` (2 s here), each BYE with `Reason: Q.850;cause=41`,
/// and the gateway logs the call ended for that reason.
#[test]
fn sipp_call_without_media_is_hung_up_after_the_media_timeout() {
    let (gw_port, op_port, teams_port) = (free_port(), free_port(), free_port());
    let base = 4 * (std::process::id() % 500) as u16;
    let (relay_min, relay_max) = (44_400 + base % 200, 44_599 + base % 200);
    let dir = std::env::temp_dir().join(format!("bridgehead-sipp-timeout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("uac.xml"), UAC_SILENT).expect("scenario");
    std::fs::write(dir.join("uas.xml"), UAS_SILENT).expect("scenario");
    let media =
        format!("[media]\naddress = \"127.0.0.1\"\nport_min = {relay_min}\nport_max = {relay_max}\ntimeout_s = 2\n");
    let config = write_config(&dir, (gw_port, op_port, teams_port), "udp", &media);
    let _gateway = start_gateway(&dir, &config, gw_port);
    let mut uas = Kill(
        Command::new(sipp())
            .current_dir(&dir)
            .args(["-sf", "uas.xml", "-i", "127.0.0.1", "-p", &teams_port.to_string()])
            .args(["-mp", &(48_000 + base).to_string(), "-m", "1", "-nostdin", "-timeout", "30s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp uas starts"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let uac = Command::new(sipp())
        .current_dir(&dir)
        .args(["-sf", "uac.xml", "-i", "127.0.0.1", "-p", &op_port.to_string(), "-s", "+14255550100"])
        .args(["-mp", &(48_400 + base).to_string(), "-m", "1", "-timeout", "30s", "-nostdin"])
        .arg(format!("127.0.0.1:{gw_port}"))
        .output()
        .expect("sipp uac runs");
    let took = started.elapsed();
    assert!(
        uac.status.success(),
        "the operator side got no BYE with the Reason:\n{}",
        String::from_utf8_lossy(&uac.stdout).lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "hung up after {took:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = uas.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the Teams side never got its BYE");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the Teams side's BYE had no Q.850 41 Reason ({status})");
    let log = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
    assert!(log.contains("media timeout: no RTP or RTCP from a side for 2 s"), "gateway log:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
