//! Real-network interop: SIPp as the operator (UAC) -> the `gateway run`
//! binary -> SIPp as Teams (UAS), on loopback, over UDP and over TCP,
//! 100 calls each, all of which must succeed. SIPp comes from Debian's
//! `sip-tester` package, which `.ci/bootstrap` installs.
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

fn run_calls(transport: &str, sipp_mode: &[&str]) {
    let (gw_port, op_port, teams_port) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("bridgehead-sipp-{transport}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nfqdn = \"127.0.0.1\"\nlisten = \"127.0.0.1:{gw_port}\"\nseed = 7\n\
[operator]\naddress = \"127.0.0.1:{op_port}\"\ntransport = \"{transport}\"\n\
[teams]\nproxies = [ {{ address = \"127.0.0.1:{teams_port}\", transport = \"{transport}\" }} ]\n"
        ),
    )
    .expect("config");
    let gw_log = std::fs::File::create(dir.join("gateway.log")).expect("log");
    let mut gateway = Kill(
        Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stderr(gw_log)
            .spawn()
            .expect("gateway starts"),
    );
    wait_for_listener(gw_port);
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
