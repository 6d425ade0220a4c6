//! `rtpload`: the media-relay load generator of `bench/media-load.sh`.
//!
//! It plays both ends of N calls through one relay under test, sets the
//! calls up, then blasts G.711 RTP (one direction: the A side, the
//! operator, toward the B side, Teams) at stepped total rates and counts
//! what comes out:
//!
//! - `--sut bridgehead`: calls through `gateway run` with `[media]`: the
//!   operator UAC sends INVITE with SDP to the gateway's SIP port, the
//!   Teams UAS answers 200 with SDP, ACK; BYE at the end. Minimal
//!   hand-written SIP over UDP (no retransmission layer but INVITE resent
//!   after 1 s). `--srtp`: the gateway's config makes the Teams leg SRTP
//!   (`[media.teams] srtp = true`); the UAS answers RTP/SAVP with its own
//!   key.
//! - `--sut rtpengine`: the same SDP shapes through rtpengine's ng control
//!   protocol (bencode over UDP: offer, answer, delete). `--srtp`: the
//!   offer asks `transport-protocol` RTP/SAVP with SDES
//!   AES_CM_128_HMAC_SHA1_80 alone (every other suite `no-`), and the B
//!   side answers it.
//!
//! Media: one source socket (the A side's SDP address for every call)
//! sends with `sendmmsg`, round-robin over the calls, each call its own
//! SSRC and sequence; one sink socket (the B side's SDP address) reads with
//! `recvmmsg`. The first `VERIFY` calls' packets are checked in full: RTP
//! length and payload, and with `--srtp` decrypted with the key the relay
//! announced (the gateway's own SRTP code, a separate context per stream);
//! their payload carries the send time, which gives the one-way delay
//! (and the share delayed by more than 50 ms).
//!
//! Per step (rate asked, `--duration` seconds of load, then a drain until
//! the sink is quiet): packets sent, received, received only after the
//! load stopped (late: queued in the relay), loss, delay percentiles, CPU
//! seconds of the relay (`/proc/PID/stat` utime+stime, all threads) and of
//! this generator, busy and steal time of both cores (`/proc/stat`), kernel
//! drops on the relay's and the sink's sockets (`/proc/net/udp`),
//! verification counts. One JSON line per step is appended to `--out`; a
//! summary line per step goes to stderr. A step during which something
//! else took more than 10 % of either core is run once more (the machine
//! is shared). With `--rates -` the steps come from standard input, one
//! rate a line, so that a script can alternate between several relays
//! (each with its own `rtpload`) rate by rate.
//!
//! Usage: see `rtpload --help`; `bench/media-load.sh` runs it.
#![allow(clippy::disallowed_methods)] // a load generator paces itself on the real clock
#![recursion_limit = "256"] // the json! of one step row

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway::media::srtp::{Context, MasterKey, Suite};
use gateway::sip::msg::{build, Contact, HeaderName, Message, Method};

/// Packets per `sendmmsg` / `recvmmsg`.
const BATCH: usize = 64;
/// The smallest burst sent at once (unless 1 ms passed).
const MIN_BURST: u64 = 32;
/// Room per receive buffer.
const BUF: usize = 2048;
/// SSRC of call 0; call i has `SSRC_BASE + i`.
const SSRC_BASE: u32 = 0x5eed_0000;
/// Calls whose every packet the sink checks (decrypts with `--srtp`).
const VERIFY: usize = 16;
/// RTP payload byte (μ-law silence-ish, not zero so a decryption fault shows).
const PAYLOAD_BYTE: u8 = 0xd5;
/// The longest drain after a step's load (s).
const MAX_DRAIN_S: u64 = 20;
/// A verified packet this much later than sent (ns) counts as delayed:
/// a listener's jitter buffer has given up on it.
const DELAYED_NS: u64 = 50_000_000;
/// SRTP suite both relays use toward B.
const SUITE: Suite = Suite::AesCm128HmacSha1_80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sut {
    Bridgehead,
    Rtpengine,
}

#[derive(Debug)]
struct Args {
    sut: Sut,
    srtp: bool,
    label: String,
    /// The system's name in the results (default: bridgehead or rtpengine).
    sut_name: Option<String>,
    /// Bridgehead: the gateway's SIP address; our UAC and UAS bind here.
    gateway: Option<SocketAddr>,
    uac: Option<SocketAddr>,
    uas: Option<SocketAddr>,
    /// rtpengine: its ng control address.
    ng: Option<SocketAddr>,
    media_a: SocketAddrV4,
    media_b: SocketAddrV4,
    calls: usize,
    rates: Vec<f64>,
    duration: f64,
    warmup: f64,
    quiet_wait: f64,
    size: usize,
    sut_pid: Option<u32>,
    sut_cpu: Option<usize>,
    gen_cpu: Option<usize>,
    out: Option<String>,
}

const USAGE: &str = "usage: rtpload --sut bridgehead|rtpengine [--srtp] [--label TEXT] [--sut-name NAME]
  bridgehead: --gateway IP:PORT --uac IP:PORT --uas IP:PORT   (gateway SIP; operator and Teams binds)
  rtpengine:  --ng IP:PORT                                    (ng control)
  --media-a IP:PORT --media-b IP:PORT   media source (A side) and sink (B side) binds
  --calls N (1000)  --rates \"50000 100000\" (total packets/s)  --duration S (10)  --warmup S (2)
  --rates -   driven: after setup print \"ready\", then one step per line of standard input
              (\"RATE [FILE]\": its row to FILE instead of --out), each acknowledged \"done RATE ok|fail\"
              (loss-free or not);
              \"quit\" or the end of the input ends the calls
  --size BYTES (172: 12-byte RTP header + 160 bytes of 20 ms G.711)
  --quiet-wait S (20): before each step, wait up to S s for both cores to be idle (< 10 % busy)
  --sut-pid PID  --sut-cpu N  --gen-cpu N   (for CPU accounting)   --out FILE.jsonl (appended)";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        sut: Sut::Bridgehead,
        srtp: false,
        label: String::new(),
        sut_name: None,
        gateway: None,
        uac: None,
        uas: None,
        ng: None,
        media_a: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        media_b: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        calls: 1000,
        rates: vec![50_000.0],
        duration: 10.0,
        warmup: 2.0,
        quiet_wait: 20.0,
        size: 172,
        sut_pid: None,
        sut_cpu: None,
        gen_cpu: None,
        out: None,
    };
    let mut sut_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if flag == "--srtp" {
            a.srtp = true;
            continue;
        }
        let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag}: '{v}' is not {what}");
        let addr = || v.parse::<SocketAddr>().map_err(|_| bad("IP:PORT"));
        let addr4 = || v.parse::<SocketAddrV4>().map_err(|_| bad("an IPv4 IP:PORT"));
        match flag.as_str() {
            "--sut" => {
                sut_given = true;
                a.sut = match v.as_str() {
                    "bridgehead" => Sut::Bridgehead,
                    "rtpengine" => Sut::Rtpengine,
                    _ => return Err(bad("bridgehead or rtpengine")),
                }
            }
            "--label" => a.label = v,
            "--sut-name" => a.sut_name = Some(v),
            "--gateway" => a.gateway = Some(addr()?),
            "--uac" => a.uac = Some(addr()?),
            "--uas" => a.uas = Some(addr()?),
            "--ng" => a.ng = Some(addr()?),
            "--media-a" => a.media_a = addr4()?,
            "--media-b" => a.media_b = addr4()?,
            "--calls" => a.calls = v.parse().ok().filter(|n| (1..=20_000).contains(n)).ok_or_else(|| bad("1-20000"))?,
            "--rates" if v == "-" => a.rates = Vec::new(),
            "--rates" => {
                a.rates = v
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<f64>().ok().filter(|r| *r > 0.0))
                    .collect::<Option<Vec<_>>>()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| bad("a list of positive rates"))?
            }
            "--duration" => a.duration = v.parse().ok().filter(|d: &f64| *d > 0.0).ok_or_else(|| bad("seconds"))?,
            "--warmup" => a.warmup = v.parse().ok().filter(|d: &f64| *d >= 0.0).ok_or_else(|| bad("seconds"))?,
            "--quiet-wait" => {
                a.quiet_wait = v.parse().ok().filter(|d: &f64| *d >= 0.0).ok_or_else(|| bad("seconds"))?
            }
            "--size" => a.size = v.parse().ok().filter(|n| (24..=1400).contains(n)).ok_or_else(|| bad("24-1400"))?,
            "--sut-pid" => a.sut_pid = Some(v.parse().map_err(|_| bad("a pid"))?),
            "--sut-cpu" => a.sut_cpu = Some(v.parse().map_err(|_| bad("a CPU index"))?),
            "--gen-cpu" => a.gen_cpu = Some(v.parse().map_err(|_| bad("a CPU index"))?),
            "--out" => a.out = Some(v),
            _ => return Err(format!("unexpected argument '{flag}'")),
        }
    }
    if !sut_given {
        return Err("--sut is required".into());
    }
    match a.sut {
        Sut::Bridgehead if a.gateway.is_none() || a.uac.is_none() || a.uas.is_none() => {
            return Err("bridgehead needs --gateway, --uac and --uas".into())
        }
        Sut::Rtpengine if a.ng.is_none() => return Err("rtpengine needs --ng".into()),
        _ => {}
    }
    if a.media_a.port() == 0 || a.media_b.port() == 0 {
        return Err("--media-a and --media-b are required".into());
    }
    if a.label.is_empty() {
        a.label = format!("{} {}", if a.sut == Sut::Bridgehead { "bridgehead" } else { "rtpengine" }, mode(a.srtp));
    }
    Ok(a)
}

fn mode(srtp: bool) -> &'static str {
    if srtp {
        "rtp->srtp"
    } else {
        "rtp->rtp"
    }
}

// --- SDP ------------------------------------------------------------------

/// What the relay told the B side (or the A side) in its SDP: its port and,
/// for SRTP, the AES_CM_128_HMAC_SHA1_80 crypto tag and key.
struct SdpInfo {
    port: u16,
    /// Its `c=` address (IPv4).
    ip: Option<Ipv4Addr>,
    crypto: Option<(u32, MasterKey)>,
}

fn read_sdp(body: &[u8]) -> Option<SdpInfo> {
    let text = std::str::from_utf8(body).ok()?;
    let mut port = None;
    let mut crypto = None;
    let mut ip = None;
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("c=IN IP4 ") {
            ip = c.trim().parse().ok();
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split_whitespace().next()?.parse().ok();
        } else if let Some(c) = line.strip_prefix("a=crypto:") {
            let mut f = c.split_whitespace();
            let (tag, suite, key) = (f.next()?, f.next()?, f.next()?);
            if crypto.is_none() && Suite::from_sdes(suite) == Some(SUITE) {
                crypto = Some((tag.parse().ok()?, MasterKey::from_inline(key).ok()?));
            }
        }
    }
    Some(SdpInfo { port: port?, ip, crypto })
}

/// An endpoint's SDP: PCMU and telephone-event, 20 ms, at `addr`; with a
/// crypto line (tag, key) it is RTP/SAVP.
fn endpoint_sdp(addr: SocketAddrV4, crypto: Option<(u32, &MasterKey)>) -> String {
    let proto = if crypto.is_some() { "RTP/SAVP" } else { "RTP/AVP" };
    let ip = addr.ip();
    let mut s = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} {proto} 0 101\r\n",
        addr.port()
    );
    if let Some((tag, key)) = crypto {
        s.push_str(&format!("a=crypto:{tag} {} {}\r\n", SUITE.sdes_name(), key.to_inline()));
    }
    s.push_str(
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
    );
    s
}

/// The B side's own key for call `i` (it answers with it; nothing is sent with it).
fn b_key(i: usize) -> MasterKey {
    let mut k = [0u8; 30];
    for (j, b) in k.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(j as u8).wrapping_add(0x40);
    }
    MasterKey::from_bytes(k)
}

/// One call as set up: where A sends (the relay's A-facing port) and what
/// comes out toward B (the relay's B-facing port, and its SRTP key).
struct Leg {
    /// The relay's A-facing address (its SDP's `c=`).
    a_ip: Option<Ipv4Addr>,
    a_port: u16,
    b_port: u16,
    key: Option<MasterKey>,
}

// --- SIP (bridgehead) -------------------------------------------------------

struct UacCall {
    call_id: String,
    invite: Vec<u8>,
    sent_at: Option<Instant>,
    a_port: Option<u16>,
    a_ip: Option<Ipv4Addr>,
    to: String,
    target: String,
    bye_done: bool,
}

struct Sip {
    gateway: SocketAddr,
    uac_addr: SocketAddr,
    uac: UdpSocket,
    uas_addr: SocketAddr,
    uas: UdpSocket,
    run: u32,
    calls: Vec<UacCall>,
    /// Teams side: the gateway's Call-ID -> our 200 (for retransmitted INVITEs) and its leg.
    answered: HashMap<String, Vec<u8>>,
    b_legs: Vec<(u16, Option<MasterKey>)>,
    srtp: bool,
    media_b: SocketAddrV4,
    failures: Vec<String>,
}

fn bind_nonblocking(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl Sip {
    fn new(a: &Args, run: u32) -> io::Result<Sip> {
        let missing = || io::Error::new(io::ErrorKind::InvalidInput, "--gateway, --uac and --uas are required");
        let (gateway, uac_addr, uas_addr) =
            (a.gateway.ok_or_else(missing)?, a.uac.ok_or_else(missing)?, a.uas.ok_or_else(missing)?);
        Ok(Sip {
            gateway,
            uac_addr,
            uac: bind_nonblocking(uac_addr)?,
            uas_addr,
            uas: bind_nonblocking(uas_addr)?,
            run,
            calls: Vec::new(),
            answered: HashMap::new(),
            b_legs: Vec::new(),
            srtp: a.srtp,
            media_b: a.media_b,
            failures: Vec::new(),
        })
    }

    fn invite(&self, i: usize, media_a: SocketAddrV4) -> UacCall {
        let (gw, me, run) = (self.gateway, self.uac_addr, self.run);
        let call_id = format!("rtpload-{run}-{i}@{}", me.ip());
        let body = endpoint_sdp(media_a, None);
        let text = format!(
            "INVITE sip:+14255550100@{gw};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rl{run}-{i}-1\r\n\
Max-Forwards: 70\r\nFrom: <sip:+14255550199@{me}>;tag=op{i}\r\nTo: <sip:+14255550100@{gw}>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:operator@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        UacCall {
            call_id,
            invite: text.into_bytes(),
            sent_at: None,
            a_port: None,
            a_ip: None,
            to: String::new(),
            target: String::new(),
            bye_done: false,
        }
    }

    fn index_of(&self, call_id: &str) -> Option<usize> {
        let rest = call_id.strip_prefix(&format!("rtpload-{}-", self.run))?;
        let i: usize = rest.split('@').next()?.parse().ok()?;
        (i < self.calls.len()).then_some(i)
    }

    /// Read and answer everything queued on both SIP sockets; true if anything was read.
    fn pump(&mut self) -> bool {
        let mut any = false;
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = self.uas.recv_from(&mut buf) {
            any = true;
            if let Ok(msg) = Message::parse_datagram(Bytes::copy_from_slice(&buf[..n])) {
                self.on_uas(&msg, from);
            }
        }
        while let Ok((n, from)) = self.uac.recv_from(&mut buf) {
            any = true;
            if let Ok(msg) = Message::parse_datagram(Bytes::copy_from_slice(&buf[..n])) {
                self.on_uac(&msg, from);
            }
        }
        any
    }

    /// The Teams side: answer INVITE with SDP (RTP/SAVP and a key when the
    /// offer is), every other request with a plain 200; ignore ACK.
    fn on_uas(&mut self, msg: &Message, from: SocketAddr) {
        if !msg.is_request() {
            return;
        }
        let call_id = msg.call_id().unwrap_or("").to_owned();
        let reply = match msg.method() {
            Some(Method::Ack) => return,
            Some(Method::Invite) => {
                if let Some(r) = self.answered.get(&call_id) {
                    let _ = self.uas.send_to(r, from);
                    return;
                }
                let Some(offer) = read_sdp(msg.body()) else {
                    self.failures.push(format!("INVITE toward Teams without readable SDP: {call_id}"));
                    return;
                };
                if self.srtp && offer.crypto.is_none() {
                    self.failures
                        .push(format!("INVITE toward Teams without an AES_CM_128_HMAC_SHA1_80 key: {call_id}"));
                }
                let n = self.b_legs.len();
                let key = b_key(n);
                let body = endpoint_sdp(self.media_b, offer.crypto.as_ref().map(|(tag, _)| (*tag, &key)));
                let contact = format!("<sip:teams@{}>", self.uas_addr);
                let r = build::response(
                    msg,
                    200,
                    "OK",
                    Some(&format!("tm{n}")),
                    &[("Contact", &contact)],
                    Some(("application/sdp", body.as_bytes())),
                );
                self.b_legs.push((offer.port, offer.crypto.map(|(_, k)| k)));
                self.answered.insert(call_id, r.clone());
                r
            }
            _ => build::response(msg, 200, "OK", None, &[], None),
        };
        let _ = self.uas.send_to(&reply, from);
    }

    /// The operator side: 200 to INVITE -> the relay's A-facing port, ACK;
    /// 200 to BYE -> done; requests answered 200.
    fn on_uac(&mut self, msg: &Message, from: SocketAddr) {
        if msg.is_request() {
            if msg.method() != Some(Method::Ack) {
                let _ = self.uac.send_to(&build::response(msg, 200, "OK", None, &[], None), from);
            }
            return;
        }
        let (Some(status), Ok(cseq)) = (msg.status(), msg.cseq()) else { return };
        let Some(i) = msg.call_id().ok().and_then(|c| self.index_of(c)) else { return };
        let is_invite = cseq.method == Method::Invite;
        if !is_invite {
            if status >= 200 {
                self.calls[i].bye_done = true;
            }
            return;
        }
        if status < 200 {
            return;
        }
        if status >= 300 {
            // ACK the failure (same branch, RFC 3261 17.1.1.3) and give up on the call.
            self.failures.push(format!("call {i}: INVITE answered {status}"));
            let c = &self.calls[i];
            let ack = format!(
                "ACK sip:+14255550100@{gw};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rl{run}-{i}-1\r\n\
Max-Forwards: 70\r\nFrom: <sip:+14255550199@{me}>;tag=op{i}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                msg.header_value(HeaderName::To).unwrap_or(""),
                c.call_id,
                gw = self.gateway,
                me = self.uac_addr,
                run = self.run,
            );
            let _ = self.uac.send_to(ack.as_bytes(), self.gateway);
            self.calls[i].a_port = Some(0);
            return;
        }
        let c = &mut self.calls[i];
        if c.a_port.is_none() {
            match read_sdp(msg.body()) {
                Some(sdp) => (c.a_port, c.a_ip) = (Some(sdp.port), sdp.ip),
                None => {
                    self.failures.push(format!("call {i}: 200 without readable SDP"));
                    c.a_port = Some(0);
                }
            }
            c.to = msg.header_value(HeaderName::To).unwrap_or("").to_owned();
            c.target = match msg.contacts().next() {
                Some(Ok(Contact::Addr(a))) => a.uri.raw.to_owned(),
                _ => format!("sip:{}", self.gateway),
            };
        }
        let c = &self.calls[i];
        let ack = format!(
            "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rla{run}-{i}\r\nMax-Forwards: 70\r\n\
From: <sip:+14255550199@{me}>;tag=op{i}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            c.target,
            c.to,
            c.call_id,
            me = self.uac_addr,
            run = self.run,
        );
        let _ = self.uac.send_to(ack.as_bytes(), self.gateway);
    }

    /// Place `n` calls (at most `window` unanswered at once); the legs once every call is answered.
    fn setup(&mut self, n: usize, media_a: SocketAddrV4) -> Result<Vec<Leg>, String> {
        const WINDOW: usize = 200;
        self.calls = (0..n).map(|i| self.invite(i, media_a)).collect();
        let deadline = Instant::now() + Duration::from_secs(30 + n as u64 / 100);
        let mut next = 0;
        loop {
            let now = Instant::now();
            let mut open = self.calls[..next].iter().filter(|c| c.a_port.is_none()).count();
            while next < n && open < WINDOW {
                let _ = self.uac.send_to(&self.calls[next].invite, self.gateway);
                self.calls[next].sent_at = Some(now);
                next += 1;
                open += 1;
            }
            for c in self.calls[..next].iter_mut() {
                if c.a_port.is_none() && c.sent_at.is_some_and(|t| now.duration_since(t) > Duration::from_secs(1)) {
                    let _ = self.uac.send_to(&c.invite, self.gateway);
                    c.sent_at = Some(now);
                }
            }
            if !self.pump() {
                std::thread::sleep(Duration::from_micros(200));
            }
            if !self.failures.is_empty() {
                return Err(self.failures.join("; "));
            }
            if next == n && self.calls.iter().all(|c| c.a_port.is_some()) {
                break;
            }
            if now > deadline {
                let done = self.calls.iter().filter(|c| c.a_port.is_some()).count();
                return Err(format!("only {done} of {n} calls answered in time"));
            }
        }
        // Let the last ACKs cross.
        let settle = Instant::now() + Duration::from_millis(300);
        while Instant::now() < settle {
            if !self.pump() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if self.b_legs.len() != n {
            return Err(format!("{} INVITEs reached the Teams side for {n} calls", self.b_legs.len()));
        }
        // A's and B's calls are not matched one to one (the gateway hides
        // topology): what the sink needs is B's port -> key, found by port.
        Ok(self
            .calls
            .iter()
            .zip(&self.b_legs)
            .map(|(c, (b_port, key))| Leg {
                a_ip: c.a_ip,
                a_port: c.a_port.unwrap_or(0),
                b_port: *b_port,
                key: key.clone(),
            })
            .collect())
    }

    /// BYE every call; the number of BYEs answered within the time allowed.
    fn teardown(&mut self) -> usize {
        let n = self.calls.len();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sent_at: Vec<Option<Instant>> = vec![None; n];
        let mut next = 0;
        while Instant::now() < deadline {
            let now = Instant::now();
            let open = (0..next).filter(|&i| !self.calls[i].bye_done).count();
            let mut budget = 200usize.saturating_sub(open);
            for (i, at) in sent_at.iter_mut().enumerate() {
                let c = &self.calls[i];
                if c.bye_done || c.target.is_empty() {
                    continue;
                }
                let resend = at.is_some_and(|t| now.duration_since(t) > Duration::from_secs(1));
                if at.is_none() && (i != next || budget == 0) {
                    continue;
                }
                if at.is_none() {
                    next += 1;
                    budget -= 1;
                } else if !resend {
                    continue;
                }
                let bye = format!(
                    "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rlb{run}-{i}\r\nMax-Forwards: 70\r\n\
From: <sip:+14255550199@{me}>;tag=op{i}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
                    c.target,
                    c.to,
                    c.call_id,
                    me = self.uac_addr,
                    run = self.run,
                );
                let _ = self.uac.send_to(bye.as_bytes(), self.gateway);
                *at = Some(now);
            }
            while next < n && self.calls[next].target.is_empty() {
                next += 1;
            }
            if !self.pump() {
                std::thread::sleep(Duration::from_micros(500));
            }
            if self.calls.iter().all(|c| c.bye_done || c.target.is_empty()) {
                break;
            }
        }
        self.calls.iter().filter(|c| c.bye_done).count()
    }
}

// --- ng (rtpengine) ---------------------------------------------------------

enum Ben<'a> {
    Str(&'a str),
    List(Vec<Ben<'a>>),
    Dict(Vec<(&'a str, Ben<'a>)>),
}

fn ben_encode(b: &Ben<'_>, out: &mut Vec<u8>) {
    match b {
        Ben::Str(s) => {
            out.extend_from_slice(format!("{}:", s.len()).as_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Ben::List(v) => {
            out.push(b'l');
            v.iter().for_each(|x| ben_encode(x, out));
            out.push(b'e');
        }
        Ben::Dict(v) => {
            let mut v: Vec<&(&str, Ben<'_>)> = v.iter().collect();
            v.sort_by_key(|(k, _)| *k);
            out.push(b'd');
            for (k, x) in v {
                ben_encode(&Ben::Str(k), out);
                ben_encode(x, out);
            }
            out.push(b'e');
        }
    }
}

/// The string values of a top-level bencode dictionary (nested values skipped).
fn ben_dict_strings(data: &[u8]) -> Option<HashMap<String, String>> {
    fn string(d: &[u8], i: &mut usize) -> Option<String> {
        let colon = *i + d[*i..].iter().position(|&c| c == b':')?;
        let n: usize = std::str::from_utf8(&d[*i..colon]).ok()?.parse().ok()?;
        let s = d.get(colon + 1..colon + 1 + n)?;
        *i = colon + 1 + n;
        Some(String::from_utf8_lossy(s).into_owned())
    }
    fn skip(d: &[u8], i: &mut usize) -> Option<()> {
        match *d.get(*i)? {
            b'i' => *i += d[*i..].iter().position(|&c| c == b'e')? + 1,
            b'l' | b'd' => {
                *i += 1;
                while *d.get(*i)? != b'e' {
                    skip(d, i)?;
                }
                *i += 1;
            }
            _ => {
                string(d, i)?;
            }
        }
        Some(())
    }
    let mut out = HashMap::new();
    let mut i = 0;
    if data.first() != Some(&b'd') {
        return None;
    }
    i += 1;
    while *data.get(i)? != b'e' {
        let k = string(data, &mut i)?;
        if data.get(i)?.is_ascii_digit() {
            let v = string(data, &mut i)?;
            out.insert(k, v);
        } else {
            skip(data, &mut i)?;
        }
    }
    Some(out)
}

/// rtpengine's SDES suites but AES_CM_128_HMAC_SHA1_80, as `SDES` flags.
const SDES_NO: [&str; 11] = [
    "no-AEAD_AES_256_GCM",
    "no-AEAD_AES_128_GCM",
    "no-AES_256_CM_HMAC_SHA1_80",
    "no-AES_256_CM_HMAC_SHA1_32",
    "no-AES_192_CM_HMAC_SHA1_80",
    "no-AES_192_CM_HMAC_SHA1_32",
    "no-AES_CM_128_HMAC_SHA1_32",
    "no-F8_128_HMAC_SHA1_80",
    "no-F8_128_HMAC_SHA1_32",
    "no-NULL_HMAC_SHA1_80",
    "no-NULL_HMAC_SHA1_32",
];

struct Ng {
    to: SocketAddr,
    sock: UdpSocket,
    cookie: u64,
    run: u32,
}

impl Ng {
    fn new(to: SocketAddr, run: u32) -> io::Result<Ng> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))?;
        Ok(Ng { to, sock, cookie: 0, run })
    }

    /// One command, retried 5 times; the string values of the reply.
    fn command(&mut self, dict: Vec<(&str, Ben<'_>)>) -> Result<HashMap<String, String>, String> {
        self.cookie += 1;
        let cookie = format!("rl{}_{}", self.run, self.cookie);
        let mut msg = format!("{cookie} ").into_bytes();
        ben_encode(&Ben::Dict(dict), &mut msg);
        let mut buf = vec![0u8; 65_536];
        for _ in 0..5 {
            self.sock.send_to(&msg, self.to).map_err(|e| format!("ng send: {e}"))?;
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                let Ok(n) = self.sock.recv(&mut buf) else { break };
                let reply = &buf[..n];
                let Some(rest) = reply.strip_prefix(cookie.as_bytes()).and_then(|r| r.strip_prefix(b" ")) else {
                    continue;
                };
                let d = ben_dict_strings(rest).ok_or("ng: unreadable reply")?;
                return match d.get("result").map(String::as_str) {
                    Some("ok") => Ok(d),
                    r => Err(format!("ng: result {r:?}: {}", d.get("error-reason").map_or("", |s| s))),
                };
            }
        }
        Err("ng: no reply from rtpengine".into())
    }

    fn setup(
        &mut self,
        n: usize,
        srtp: bool,
        media_a: SocketAddrV4,
        media_b: SocketAddrV4,
    ) -> Result<Vec<Leg>, String> {
        let a_sdp = endpoint_sdp(media_a, None);
        let mut legs = Vec::with_capacity(n);
        for i in 0..n {
            let (call_id, from_tag, to_tag) = (format!("rtpload-{}-{i}", self.run), format!("op{i}"), format!("tm{i}"));
            let mut offer = vec![
                ("command", Ben::Str("offer")),
                ("call-id", Ben::Str(&call_id)),
                ("from-tag", Ben::Str(&from_tag)),
                ("sdp", Ben::Str(&a_sdp)),
                ("ICE", Ben::Str("remove")),
                ("DTLS", Ben::Str("off")),
                ("replace", Ben::List(vec![Ben::Str("origin"), Ben::Str("session-connection")])),
            ];
            if srtp {
                offer.push(("transport-protocol", Ben::Str("RTP/SAVP")));
                // Offer AES_CM_128_HMAC_SHA1_80 alone, as the gateway does
                // (10.5 has no "only-": every other suite is named "no-").
                offer.push(("SDES", Ben::List(SDES_NO.iter().map(|s| Ben::Str(s)).collect())));
            }
            let r = self.command(offer)?;
            let to_b = r.get("sdp").and_then(|s| read_sdp(s.as_bytes())).ok_or("offer: no readable SDP")?;
            if srtp && to_b.crypto.is_none() {
                return Err(format!("offer: no AES_CM_128_HMAC_SHA1_80 key toward B: {}", r["sdp"]));
            }
            let key = b_key(i);
            let b_sdp = endpoint_sdp(media_b, to_b.crypto.as_ref().map(|(tag, _)| (*tag, &key)));
            let r = self.command(vec![
                ("command", Ben::Str("answer")),
                ("call-id", Ben::Str(&call_id)),
                ("from-tag", Ben::Str(&from_tag)),
                ("to-tag", Ben::Str(&to_tag)),
                ("sdp", Ben::Str(&b_sdp)),
                ("ICE", Ben::Str("remove")),
                ("DTLS", Ben::Str("off")),
                ("replace", Ben::List(vec![Ben::Str("origin"), Ben::Str("session-connection")])),
            ])?;
            let to_a = r.get("sdp").and_then(|s| read_sdp(s.as_bytes())).ok_or("answer: no readable SDP")?;
            legs.push(Leg { a_ip: to_a.ip, a_port: to_a.port, b_port: to_b.port, key: to_b.crypto.map(|(_, k)| k) });
        }
        Ok(legs)
    }

    /// Delete every call (stops at the first that fails: rtpengine is gone).
    fn teardown(&mut self, n: usize) -> usize {
        (0..n)
            .take_while(|i| {
                let (call_id, from_tag) = (format!("rtpload-{}-{i}", self.run), format!("op{i}"));
                self.command(vec![
                    ("command", Ben::Str("delete")),
                    ("call-id", Ben::Str(&call_id)),
                    ("from-tag", Ben::Str(&from_tag)),
                ])
                .is_ok()
            })
            .count()
    }
}

// --- media ------------------------------------------------------------------

/// `sendmmsg` / `recvmmsg` vectors over fixed buffers. The vectors are never
/// resized, so the pointers wired at construction stay valid.
struct Batch {
    bufs: Vec<[u8; BUF]>,
    iov: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_in>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new() -> Batch {
        // SAFETY: plain C structs for which all-zero bytes are a valid value.
        let zero_name: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let mut b = Batch {
            bufs: vec![[0u8; BUF]; BATCH],
            iov: vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH],
            names: vec![zero_name; BATCH],
            hdrs: vec![zero_hdr; BATCH],
        };
        for k in 0..BATCH {
            b.iov[k] = libc::iovec { iov_base: b.bufs[k].as_mut_ptr().cast(), iov_len: BUF };
            let h = &mut b.hdrs[k].msg_hdr;
            h.msg_name = (&mut b.names[k] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut b.iov[k];
            h.msg_iovlen = 1;
        }
        b
    }
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr = libc::in_addr { s_addr: u32::from(*a.ip()).to_be() };
    s
}

/// One stream (call) as sent.
struct Stream {
    dest: libc::sockaddr_in,
    seq: u16,
    ts: u32,
}

/// A verified stream at the sink.
struct Check {
    ctx: Option<Context>,
    last_seq: Option<u16>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    sent: u64,
    send_errors: u64,
    received: u64,
    verified: u64,
    bad: u64,
    reordered: u64,
}

struct Media {
    src: UdpSocket,
    sink: UdpSocket,
    tx: Batch,
    rx: Batch,
    streams: Vec<Stream>,
    next: usize,
    size: usize,
    srtp: bool,
    /// The relay's B-facing port -> its key (SRTP).
    keys: Vec<Option<MasterKey>>,
    checks: Vec<Check>,
    per_call: Vec<u64>,
    c: Counts,
    /// Send times are nanoseconds since this instant (payload bytes 12..20).
    epoch: Instant,
    /// One-way delays (ns) of the verified packets of the current step.
    latencies: Vec<u64>,
}

fn set_buffer(sock: &UdpSocket, opt: libc::c_int, bytes: usize) {
    let v = bytes as libc::c_int;
    // SAFETY: setsockopt with a valid fd and a pointer to a c_int of the given size.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

impl Media {
    fn new(a: &Args, legs: &[Leg], src: UdpSocket, sink: UdpSocket) -> Media {
        // Root may exceed net.core.[rw]mem_max (FORCE); otherwise the plain options cap there.
        for (opt, force) in [(libc::SO_RCVBUF, libc::SO_RCVBUFFORCE), (libc::SO_SNDBUF, libc::SO_SNDBUFFORCE)] {
            for s in [&src, &sink] {
                set_buffer(s, opt, 32 << 20);
                set_buffer(s, force, 32 << 20);
            }
        }
        let mut keys = vec![None; 65_536];
        for l in legs {
            keys[usize::from(l.b_port)] = l.key.clone();
        }
        let mut tx = Batch::new();
        for b in tx.bufs.iter_mut() {
            b[..a.size].fill(PAYLOAD_BYTE);
            b[0] = 0x80;
            b[1] = 0; // PCMU
        }
        let streams = legs
            .iter()
            .enumerate()
            .map(|(i, l)| Stream {
                dest: sockaddr(SocketAddrV4::new(l.a_ip.unwrap_or(*a.media_a.ip()), l.a_port)),
                seq: (i as u16).wrapping_mul(977),
                ts: (i as u32).wrapping_mul(160_000),
            })
            .collect();
        Media {
            src,
            sink,
            tx,
            rx: Batch::new(),
            streams,
            next: 0,
            size: a.size,
            srtp: a.srtp,
            keys,
            checks: (0..VERIFY.min(legs.len())).map(|_| Check { ctx: None, last_seq: None }).collect(),
            per_call: vec![0; legs.len()],
            c: Counts::default(),
            epoch: Instant::now(),
            latencies: Vec::new(),
        }
    }

    /// Send `n` (<= BATCH) packets, round-robin over the streams.
    fn send(&mut self, n: usize) {
        let ncalls = self.streams.len();
        let stamp = (self.epoch.elapsed().as_nanos() as u64).to_be_bytes();
        for k in 0..n {
            let i = self.next;
            self.next = if i + 1 == ncalls { 0 } else { i + 1 };
            let s = &mut self.streams[i];
            let b = &mut self.tx.bufs[k];
            b[2..4].copy_from_slice(&s.seq.to_be_bytes());
            b[4..8].copy_from_slice(&s.ts.to_be_bytes());
            b[8..12].copy_from_slice(&(SSRC_BASE + i as u32).to_be_bytes());
            b[12..20].copy_from_slice(&stamp);
            self.tx.names[k] = s.dest;
            self.tx.iov[k].iov_len = self.size;
            s.seq = s.seq.wrapping_add(1);
            s.ts = s.ts.wrapping_add(160);
        }
        let mut off = 0;
        while off < n {
            // SAFETY: hdrs[off..n] point at live buffers, names and iovecs owned by self.tx.
            let r = unsafe {
                libc::sendmmsg(self.src.as_raw_fd(), self.tx.hdrs.as_mut_ptr().add(off), (n - off) as libc::c_uint, 0)
            };
            if r <= 0 {
                // The packet at `off` failed (e.g. ENOBUFS): skip it, count it.
                self.c.send_errors += 1;
                off += 1;
            } else {
                self.c.sent += r as u64;
                off += r as usize;
            }
        }
    }

    /// Read everything queued at the sink; packets read.
    fn receive(&mut self) -> u64 {
        let mut total = 0;
        loop {
            for k in 0..BATCH {
                self.rx.hdrs[k].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                self.rx.iov[k].iov_len = BUF;
            }
            // SAFETY: as in `send`, over self.rx.
            let r = unsafe {
                libc::recvmmsg(
                    self.sink.as_raw_fd(),
                    self.rx.hdrs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if r <= 0 {
                break;
            }
            let r = r as usize;
            for k in 0..r {
                let len = self.rx.hdrs[k].msg_len as usize;
                let port = u16::from_be(self.rx.names[k].sin_port);
                self.packet(k, len, port);
            }
            total += r as u64;
            if r < BATCH {
                break;
            }
        }
        self.c.received += total;
        total
    }

    fn packet(&mut self, k: usize, len: usize, port: u16) {
        let buf = &mut self.rx.bufs[k];
        if len < 12 {
            self.c.bad += 1;
            return;
        }
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let i = ssrc.wrapping_sub(SSRC_BASE) as usize;
        if i >= self.per_call.len() {
            self.c.bad += 1;
            return;
        }
        self.per_call[i] += 1;
        let Some(check) = self.checks.get_mut(i) else { return };
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        if let Some(last) = check.last_seq {
            if seq.wrapping_sub(last) == 0 || seq.wrapping_sub(last) > 0x8000 {
                self.c.reordered += 1;
            }
        }
        check.last_seq = Some(seq);
        let plain = if self.srtp {
            let Some(key) = &self.keys[usize::from(port)] else {
                self.c.bad += 1;
                return;
            };
            let ctx = check.ctx.get_or_insert_with(|| Context::new(SUITE, key));
            ctx.unprotect_rtp(&mut buf[..], len).ok()
        } else {
            Some(len)
        };
        let ok = plain.is_some_and(|n| {
            n == self.size && buf[1] & 0x7f == 0 && buf[20] == PAYLOAD_BYTE && buf[n - 1] == PAYLOAD_BYTE
        });
        if ok {
            let sent = u64::from_be_bytes([buf[12], buf[13], buf[14], buf[15], buf[16], buf[17], buf[18], buf[19]]);
            let now = self.epoch.elapsed().as_nanos() as u64;
            self.latencies.push(now.saturating_sub(sent));
            self.c.verified += 1;
        } else {
            self.c.bad += 1;
        }
    }

    /// Send at `rate` packets/s for `secs`, reading the sink all along,
    /// then drain until the sink has been quiet for 300 ms (at most `MAX_DRAIN_S`).
    /// Returns (send window, whole step) in seconds and the packets
    /// received after the window (late: queued in the relay).
    fn run(&mut self, rate: f64, secs: f64) -> (f64, f64, u64) {
        let start = Instant::now();
        let window = Duration::from_secs_f64(secs);
        let mut sent = 0u64;
        let mut last_send = start;
        loop {
            let now = Instant::now();
            let el = now - start;
            if el >= window {
                break;
            }
            let due = (rate * el.as_secs_f64()) as u64;
            // Bursts of at least MIN_BURST packets (fewer system calls), or
            // whatever is due once a millisecond has passed.
            if due - sent < MIN_BURST && now - last_send < Duration::from_millis(1) {
                if self.receive() == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                }
                continue;
            }
            last_send = now;
            while sent < due {
                let n = (due - sent).min(BATCH as u64) as usize;
                self.send(n);
                sent += n as u64;
                // Read between bursts so the sink never overflows.
                self.receive();
            }
        }
        let sent_window = start.elapsed().as_secs_f64();
        let at_window_end = self.c.received;
        let mut quiet_since = Instant::now();
        // An overloaded relay can hold seconds of packets in its sockets:
        // they belong to this step, not the next.
        let drain_end = quiet_since + Duration::from_secs(MAX_DRAIN_S);
        while Instant::now() < drain_end && quiet_since.elapsed() < Duration::from_millis(300) {
            if self.receive() > 0 {
                quiet_since = Instant::now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        (sent_window, start.elapsed().as_secs_f64(), self.c.received - at_window_end)
    }
}

// --- /proc ------------------------------------------------------------------

const CLK_TCK: f64 = 100.0;

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        CLK_TCK
    }
}

/// utime+stime of a process (all its threads), in clock ticks.
fn proc_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// One CPU's clock ticks from /proc/stat.
#[derive(Debug, Clone, Copy)]
struct Core {
    /// user + nice + system
    busy: u64,
    /// irq + softirq
    irq: u64,
    /// taken by the hypervisor for other guests
    steal: u64,
    /// user, nice, system, idle, iowait, irq, softirq, steal
    total: u64,
}

impl std::ops::Sub for Core {
    type Output = Core;
    fn sub(self, o: Core) -> Core {
        Core {
            busy: self.busy - o.busy,
            irq: self.irq - o.irq,
            steal: self.steal - o.steal,
            total: self.total - o.total,
        }
    }
}

fn cpu_ticks(cpu: usize) -> Option<Core> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{cpu}");
    let line = s.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let g = |i: usize| v.get(i).copied().unwrap_or(0);
    Some(Core { busy: g(0) + g(1) + g(2), irq: g(5) + g(6), steal: g(7), total: v.iter().take(8).sum() })
}

/// Kernel drops summed over the UDP sockets on `ports` (bitmap), and on `sink`.
fn udp_drops(ports: &[bool], sink: u16) -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/net/udp") else { return (0, 0) };
    let (mut relay, mut at_sink) = (0, 0);
    for line in s.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(drops)) = (f.get(1), f.last()) else { continue };
        let Some(port) = local.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok()) else { continue };
        let d: u64 = drops.parse().unwrap_or(0);
        if port == sink {
            at_sink += d;
        } else if ports[usize::from(port)] {
            relay += d;
        }
    }
    (relay, at_sink)
}

/// Udp RcvbufErrors from /proc/net/snmp (every socket of the machine).
fn rcvbuf_errors() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/net/snmp") else { return 0 };
    let mut udp = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(h), Some(v)) = (udp.next(), udp.next()) else { return 0 };
    h.split_whitespace()
        .zip(v.split_whitespace())
        .find(|(k, _)| *k == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// This process's CPU seconds (user + system).
fn self_cpu() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Snapshot {
    sut: Option<u64>,
    sut_core: Option<Core>,
    gen_core: Option<Core>,
    gen_cpu: f64,
    drops: (u64, u64),
    rcvbuf: u64,
    c: Counts,
}

fn snapshot(a: &Args, m: &Media, ports: &[bool]) -> Snapshot {
    Snapshot {
        sut: a.sut_pid.and_then(proc_ticks),
        sut_core: a.sut_cpu.and_then(cpu_ticks),
        gen_core: a.gen_cpu.and_then(cpu_ticks),
        gen_cpu: self_cpu(),
        drops: udp_drops(ports, a.media_b.port()),
        rcvbuf: rcvbuf_errors(),
        c: m.c,
    }
}

fn pct(busy: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| (busy as f64 * 1000.0 / total as f64).round() / 10.0)
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// Other load above this share of a core (percent) during a step: contended.
const CONTENDED_PCT: f64 = 10.0;

fn contended(row: &serde_json::Value) -> bool {
    ["sut_core_other_pct", "gen_core_other_pct", "sut_core_steal_pct", "gen_core_steal_pct"]
        .iter()
        .any(|k| row[*k].as_f64().unwrap_or(0.0) > CONTENDED_PCT)
}

/// Wait (at most `a.quiet_wait` s) until the relay's and the generator's
/// cores are nearly idle over half a second; their busy % then.
fn wait_quiet(a: &Args) -> (Option<f64>, Option<f64>) {
    let until = Instant::now() + Duration::from_secs_f64(a.quiet_wait);
    loop {
        let (s0, g0) = (a.sut_cpu.and_then(cpu_ticks), a.gen_cpu.and_then(cpu_ticks));
        std::thread::sleep(Duration::from_millis(500));
        let (s1, g1) = (a.sut_cpu.and_then(cpu_ticks), a.gen_cpu.and_then(cpu_ticks));
        let busy = |x: Option<Core>, y: Option<Core>| {
            x.zip(y).and_then(|(x, y)| {
                let d = y - x;
                pct(d.busy + d.irq + d.steal, d.total)
            })
        };
        let (sb, gb) = (busy(s0, s1), busy(g0, g1));
        if sb.unwrap_or(0.0) < CONTENDED_PCT && gb.unwrap_or(0.0) < CONTENDED_PCT || Instant::now() >= until {
            return (sb, gb);
        }
    }
}

/// Lost + delayed by more than 50 ms under 0.1 % of the packets sent, none
/// failing verification, >= 97 % of the rate sent (as bench/media-analyze.py
/// judges it).
fn loss_free(row: &serde_json::Value) -> bool {
    let f = |k: &str| row[k].as_f64();
    let lost = f("loss_pct").unwrap_or(100.0) + f("delayed_pct").unwrap_or(100.0);
    lost < 0.1 && f("bad") == Some(0.0) && f("achieved_send_pps").unwrap_or(0.0) >= 0.97 * f("rate").unwrap_or(0.0)
}

/// A step, and once more if another process or guest took a share of our
/// cores meanwhile (the machine is shared): the less disturbed is kept.
fn measured_step(a: &Args, m: &mut Media, rate: f64, ports: &[bool], setup_s: f64) -> serde_json::Value {
    let mut row = step(a, m, rate, ports, setup_s);
    if contended(&row) {
        eprintln!("[rtpload] {}: another process or guest took a share of our cores: step repeated", a.label);
        let again = step(a, m, rate, ports, setup_s);
        let other = |r: &serde_json::Value| {
            ["sut_core_other_pct", "gen_core_other_pct", "sut_core_steal_pct", "gen_core_steal_pct"]
                .iter()
                .map(|k| r[*k].as_f64().unwrap_or(0.0))
                .sum::<f64>()
        };
        if other(&again) <= other(&row) {
            row = again;
        }
        row["repeated"] = true.into();
    }
    row
}

/// One step: `rate` packets/s for `a.duration` s, measured.
fn step(a: &Args, m: &mut Media, rate: f64, ports: &[bool], setup_s: f64) -> serde_json::Value {
    let (sut_idle_busy, gen_idle_busy) = wait_quiet(a);
    let tck = clk_tck();
    let calls = m.per_call.len();
    m.per_call.iter_mut().for_each(|n| *n = 0);
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()));
    let s0 = snapshot(a, m, ports);
    m.latencies.clear();
    let (window, wall, late) = m.run(rate, a.duration);
    let s1 = snapshot(a, m, ports);
    let sent = s1.c.sent - s0.c.sent;
    let received = s1.c.received - s0.c.received;
    let loss = if sent > 0 { (sent as f64 - received as f64) / sent as f64 * 100.0 } else { 0.0 };
    let sut_ticks = s0.sut.zip(s1.sut).map(|(x, y)| y - x);
    let sut_cpu = sut_ticks.map(|t| t as f64 / tck);
    let core = |x: Option<Core>, y: Option<Core>| x.zip(y).map(|(x, y)| y - x);
    let sut_core = core(s0.sut_core, s1.sut_core);
    let gen_core = core(s0.gen_core, s1.gen_core);
    let gen_cpu = s1.gen_cpu - s0.gen_cpu;
    let gen_ticks = (gen_cpu * tck).round() as u64;
    let silent = m.per_call.iter().filter(|&&n| n == 0).count();
    m.latencies.sort_unstable();
    let over = m.latencies.iter().filter(|&&d| d > DELAYED_NS).count();
    let delayed_pct = (!m.latencies.is_empty()).then(|| round(over as f64 * 100.0 / m.latencies.len() as f64, 4));
    let quantile = |q: f64| {
        let l = &m.latencies;
        (!l.is_empty()).then(|| round(l[((l.len() - 1) as f64 * q).round() as usize] as f64 / 1e6, 3))
    };
    // Other load on a core: its user+system time not spent by our process
    // (interrupt and softirq time, the kernel's packet delivery, apart).
    let other = |c: Option<Core>, ours: u64| c.and_then(|c| pct(c.busy.saturating_sub(ours), c.total));
    let row = serde_json::json!({
        "label": a.label,
        "sut": a.sut_name.as_deref().unwrap_or(if a.sut == Sut::Bridgehead { "bridgehead" } else { "rtpengine" }),
        "mode": mode(a.srtp),
        "calls": calls,
        "packet_bytes": a.size,
        "rate": rate,
        "per_call_pps": round(rate / calls as f64, 1),
        "duration_s": round(window, 3),
        "wall_s": round(wall, 3),
        "sent": sent,
        "received": received,
        "send_errors": s1.c.send_errors - s0.c.send_errors,
        "achieved_send_pps": round(sent as f64 / window, 0),
        "relayed_pps": round(received as f64 / window, 0),
        "loss_pct": round(loss, 4),
        "late": late,
        "late_pct": round(if sent > 0 { late as f64 * 100.0 / sent as f64 } else { 0.0 }, 4),
        "latency_p50_ms": quantile(0.5),
        "latency_p99_ms": quantile(0.99),
        "latency_max_ms": quantile(1.0),
        "delayed_pct": delayed_pct,
        "sut_cpu_s": sut_cpu.map(|c| round(c, 2)),
        "sut_cpu_pct": sut_cpu.map(|c| round(c / wall * 100.0, 1)),
        "us_per_packet": sut_cpu.filter(|_| received > 0).map(|c| round(c * 1e6 / received as f64, 3)),
        "packets_per_cpu_s": sut_cpu.filter(|c| *c > 0.0).map(|c| round(received as f64 / c, 0)),
        "sut_core_busy_pct": sut_core.and_then(|c| pct(c.busy + c.irq, c.total)),
        "sut_core_irq_pct": sut_core.and_then(|c| pct(c.irq, c.total)),
        "sut_core_other_pct": other(sut_core, sut_ticks.unwrap_or(0)),
        "sut_core_steal_pct": sut_core.and_then(|c| pct(c.steal, c.total)),
        "sut_core_busy_before_pct": sut_idle_busy,
        "gen_cpu_s": round(gen_cpu, 2),
        "gen_cpu_pct": round(gen_cpu / wall * 100.0, 1),
        "gen_core_busy_pct": gen_core.and_then(|c| pct(c.busy + c.irq, c.total)),
        "gen_core_other_pct": other(gen_core, gen_ticks),
        "gen_core_steal_pct": gen_core.and_then(|c| pct(c.steal, c.total)),
        "gen_core_busy_before_pct": gen_idle_busy,
        "sut_socket_drops": s1.drops.0 - s0.drops.0,
        "sink_socket_drops": s1.drops.1 - s0.drops.1,
        "udp_rcvbuf_errors": s1.rcvbuf - s0.rcvbuf,
        "verified": s1.c.verified - s0.c.verified,
        "bad": s1.c.bad - s0.c.bad,
        "reordered": s1.c.reordered - s0.c.reordered,
        "silent_calls": silent,
        "loadavg": loadavg,
        "setup_s": round(setup_s, 2),
        "repeated": false,
    });
    eprintln!(
        "[rtpload] {:>20} {:>7.0}/s: sent {:>7.0}/s relayed {:>7.0}/s loss {:.3} % late {late}, p99 {} ms, \
relay CPU {} % = {} µs/packet, generator {:.0} %, other load {} / {} %, steal {} / {} %, drops relay {} sink {}, \
verified {} bad {}, silent calls {silent}",
        a.label,
        rate,
        sent as f64 / window,
        received as f64 / window,
        loss,
        row["latency_p99_ms"],
        row["sut_cpu_pct"],
        row["us_per_packet"],
        gen_cpu / wall * 100.0,
        row["sut_core_other_pct"],
        row["gen_core_other_pct"],
        row["sut_core_steal_pct"],
        row["gen_core_steal_pct"],
        row["sut_socket_drops"],
        row["sink_socket_drops"],
        row["verified"],
        row["bad"],
    );
    row
}

// --- main -------------------------------------------------------------------

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rtpload: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtpload [{}]: {e}", a.label);
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<(), String> {
    let run_id = std::process::id();
    let src = UdpSocket::bind(a.media_a).map_err(|e| format!("bind {}: {e}", a.media_a))?;
    let sink = UdpSocket::bind(a.media_b).map_err(|e| format!("bind {}: {e}", a.media_b))?;
    let t0 = Instant::now();
    let mut sip = None;
    let mut ng = None;
    let legs = match a.sut {
        Sut::Bridgehead => {
            let mut s = Sip::new(a, run_id).map_err(|e| format!("SIP sockets: {e}"))?;
            let legs = s.setup(a.calls, a.media_a)?;
            sip = Some(s);
            legs
        }
        Sut::Rtpengine => {
            let to = a.ng.ok_or("--ng is required")?;
            let mut n = Ng::new(to, run_id).map_err(|e| format!("ng socket: {e}"))?;
            let legs = n.setup(a.calls, a.srtp, a.media_a, a.media_b)?;
            ng = Some(n);
            legs
        }
    };
    let setup_s = t0.elapsed().as_secs_f64();
    if legs.iter().any(|l| l.a_port == 0 || l.b_port == 0) {
        return Err("a call has no relay port".into());
    }
    eprintln!("[rtpload] {}: {} calls set up in {setup_s:.2} s", a.label, legs.len());
    let mut ports = vec![false; 65_536];
    for l in &legs {
        for p in [l.a_port, l.b_port] {
            ports[usize::from(p)] = true;
        }
    }
    let mut m = Media::new(a, &legs, src, sink);
    // Warm-up (not recorded): latch every port, check every call relays.
    if a.warmup > 0.0 {
        // 20 ms packetization on every call: each call relays 50 packets a second.
        m.run(50.0 * a.calls as f64, a.warmup);
        m.latencies.clear();
        let silent = m.per_call.iter().filter(|&&n| n == 0).count();
        if silent > 0 || m.c.bad > 0 || m.c.received == 0 {
            return Err(format!(
                "warm-up: {} sent, {} received, {silent} calls silent, {} bad packets",
                m.c.sent, m.c.received, m.c.bad
            ));
        }
        eprintln!("[rtpload] {}: warm-up ok ({} packets, every call relays)", a.label, m.c.received);
    }
    let append = |path: &str, line: &serde_json::Value| -> Result<(), String> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("open {path}: {e}"))?;
        writeln!(f, "{line}").map_err(|e| format!("write {path}: {e}"))
    };
    if a.rates.is_empty() {
        // Driven: one step per line of standard input ("RATE [FILE]"),
        // acknowledged on standard output, until "quit" or the end of the
        // input, so that a script can interleave several relays rate by rate.
        println!("ready");
        io::stdout().flush().map_err(|e| format!("stdout: {e}"))?;
        for line in io::stdin().lines() {
            let line = line.map_err(|e| format!("stdin: {e}"))?;
            let mut f = line.split_whitespace();
            let Some(rate) = f.next() else { continue };
            if rate == "quit" {
                break;
            }
            let rate: f64 = rate.parse().ok().filter(|r| *r > 0.0).ok_or(format!("stdin: '{line}' is not a rate"))?;
            let row = measured_step(a, &mut m, rate, &ports, setup_s);
            if let Some(path) = f.next().or(a.out.as_deref()) {
                append(path, &row)?;
            }
            println!("done {rate} {}", if loss_free(&row) { "ok" } else { "fail" });
            io::stdout().flush().map_err(|e| format!("stdout: {e}"))?;
        }
    } else {
        for &rate in &a.rates {
            let row = measured_step(a, &mut m, rate, &ports, setup_s);
            if let Some(path) = a.out.as_deref() {
                append(path, &row)?;
            }
        }
    }
    let ended = match (sip.as_mut(), ng.as_mut()) {
        (Some(s), _) => s.teardown(),
        (_, Some(n)) => n.teardown(legs.len()),
        _ => 0,
    };
    eprintln!("[rtpload] {}: {ended} of {} calls ended", a.label, legs.len());
    Ok(())
}
