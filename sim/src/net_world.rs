//! The turmoil world: the production driver loop ([`gateway::io::driver`])
//! on turmoil's simulated UDP and TCP, with the emulated operator and
//! Teams proxies as turmoil hosts, and network faults (partitions, held
//! links, a crashed and restarted gateway) injected between ticks.
//!
//! Contract: [`run`] executes a [`Scenario`] whose `harness` is `network`.
//! turmoil is seeded (`rng_seed`) and its clock fixed (`epoch`), every
//! link has the scenario's fixed latency, and all software runs on one
//! thread, so the same scenario and seed give the same transcript, byte
//! for byte. The transcript is recorded by the driver's [`Observer`] at
//! the gateway's sockets. The run ends once every step is done, the peers
//! are idle and nothing moved on the network for a while (the gateway is
//! then told to drain and stop), or at a hard bound of simulated time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use gateway::b2bua::{Gateway, GatewayEvent};
use gateway::io::driver::{self, Observer};
use gateway::io::turmoil_net::TurmoilNet;
use gateway::sip::msg::{Frame, Limits, StreamFramer};
use gateway::sip::transport::Proto;
use gateway::time::Time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::peer::{Peer, MEDIA_PORT};
use crate::record::{GatewayState, Outcome, Recorder};
use crate::scenario::{Action, Scenario};
use crate::world::{self, addr, GW};

/// Simulated time never runs past this (a scenario that does not settle fails).
const HORIZON: Duration = Duration::from_secs(600);
/// The network must be quiet this long before a settled run ends.
const QUIET: Duration = Duration::from_secs(1);
/// With calls still up in the gateway, wait this long (longer than any
/// SIP timer) before calling the run over.
const QUIET_WITH_CALLS: Duration = Duration::from_secs(70);
/// One tick of simulated time.
const TICK: Duration = Duration::from_millis(1);

/// The gateway's last reported state.
#[derive(Default, Clone, Copy)]
struct GwState {
    tables: GatewayState,
    stopped: bool,
    incarnation: u64,
}

/// State shared by the hosts and the loop that steps the world.
struct Shared {
    rec: Recorder,
    peers: Vec<Peer>,
    wake: Vec<Rc<Notify>>,
    gw: GwState,
    stop: Option<oneshot::Sender<()>>,
    /// Bumped on every message sent or received by anyone.
    activity: u64,
}

type SharedRef = Rc<RefCell<Shared>>;

/// turmoil binds only the unspecified address: `0.0.0.0` with `a`'s port.
fn any_port(a: SocketAddr) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], a.port()))
}

fn any(a: &str) -> SocketAddr {
    any_port(addr(a))
}

fn sim_now() -> Time {
    Time::from_nanos(u64::try_from(turmoil::sim_elapsed().unwrap_or_default().as_nanos()).unwrap_or(u64::MAX))
}

/// The gateway's tap: records its boundary into the transcript.
struct Tap {
    shared: SharedRef,
    me: SocketAddr,
}

impl Observer for Tap {
    fn received(&mut self, _now: Time, proto: Proto, peer: SocketAddr, data: &[u8]) {
        let mut s = self.shared.borrow_mut();
        s.activity += 1;
        match proto {
            Proto::Udp => s.rec.datagram(sim_now(), peer, self.me, &Bytes::copy_from_slice(data), false),
            _ => s.rec.stream(sim_now(), peer, self.me, data),
        }
    }
    fn sent(&mut self, _now: Time, proto: Proto, peer: SocketAddr, data: &[u8]) {
        let mut s = self.shared.borrow_mut();
        s.activity += 1;
        match proto {
            Proto::Udp => s.rec.datagram(sim_now(), self.me, peer, &Bytes::copy_from_slice(data), false),
            _ => s.rec.stream(sim_now(), self.me, peer, data),
        }
    }
    fn event(&mut self, _now: Time, e: &GatewayEvent) {
        self.shared.borrow_mut().rec.event(sim_now(), e.clone());
    }
    fn media_received(&mut self, _now: Time, port: u16, from: SocketAddr, data: &[u8]) {
        let mut s = self.shared.borrow_mut();
        s.activity += 1;
        s.rec.media(from, SocketAddr::new(self.me.ip(), port), data, false);
    }
    fn media_sent(&mut self, _now: Time, from_port: u16, to: SocketAddr, data: &[u8]) {
        self.shared.borrow_mut().rec.media(SocketAddr::new(self.me.ip(), from_port), to, data, false);
    }
    fn turn(&mut self, _now: Time, gw: &Gateway) {
        self.shared.borrow_mut().gw.tables = GatewayState::of(gw);
    }
}

/// The gateway host: the production driver loop on turmoil sockets.
async fn gateway_host(shared: SharedRef, cfg: gateway::b2bua::GatewayConfig, seed: u64) -> turmoil::Result {
    let incarnation = {
        let mut s = shared.borrow_mut();
        s.gw = GwState { incarnation: s.gw.incarnation + 1, ..GwState::default() };
        s.gw.incarnation
    };
    let mut gw = Gateway::new(cfg, seed ^ incarnation.wrapping_mul(0x9e37_79b9));
    let (tx, rx) = oneshot::channel::<()>();
    shared.borrow_mut().stop = Some(tx);
    let mut tap = Tap { shared: shared.clone(), me: addr(GW) };
    let stop = async move {
        let _ = rx.await;
    };
    driver::run(TurmoilNet, any(GW), any(GW).ip(), &mut gw, stop, Duration::from_secs(5), &mut tap).await?;
    let mut s = shared.borrow_mut();
    s.gw.tables = GatewayState::of(&gw);
    s.gw.stopped = true;
    Ok(())
}

/// Feed one peer and send what it produced (UDP).
async fn udp_peer(shared: SharedRef, idx: usize) -> turmoil::Result {
    let (me, wake) = {
        let s = shared.borrow();
        (s.peers[idx].addr, s.wake[idx].clone())
    };
    let sock = turmoil::net::UdpSocket::bind(any_port(me)).await?;
    let media = turmoil::net::UdpSocket::bind(any_port(SocketAddr::new(me.ip(), MEDIA_PORT))).await?;
    let mut buf = vec![0u8; 65_536];
    let mut mbuf = vec![0u8; 2048];
    loop {
        let wait = next_wait(&shared, idx);
        tokio::select! {
            biased;
            _ = wake.notified() => {}
            r = sock.recv_from(&mut buf) => {
                let (n, from) = r?;
                let mut s = shared.borrow_mut();
                s.activity += 1;
                s.peers[idx].handle_datagram(sim_now(), from, Bytes::copy_from_slice(&buf[..n]));
            }
            r = media.recv_from(&mut mbuf) => {
                let (n, from) = r?;
                let mut s = shared.borrow_mut();
                s.activity += 1;
                s.peers[idx].handle_media(from, &mbuf[..n]);
            }
            _ = tokio::time::sleep(wait) => shared.borrow_mut().peers[idx].handle_timeout(sim_now()),
        }
        let out = shared.borrow_mut().peers[idx].take_output();
        for (to, data) in out {
            shared.borrow_mut().activity += 1;
            sock.send_to(&data, to).await?;
        }
        send_media(&shared, idx, &media).await?;
    }
}

/// Send the RTP a peer produced from its media socket.
async fn send_media(shared: &SharedRef, idx: usize, media: &turmoil::net::UdpSocket) -> turmoil::Result {
    let out = shared.borrow_mut().peers[idx].take_media_output();
    for (to, data) in out {
        shared.borrow_mut().activity += 1;
        media.send_to(&data, to).await?;
    }
    Ok(())
}

/// How long a peer may sleep before its next deadline.
fn next_wait(shared: &SharedRef, idx: usize) -> Duration {
    let deadline = shared.borrow().peers[idx].next_deadline();
    let now = sim_now();
    deadline.map_or(Duration::from_secs(3600), |d| Duration::from_nanos(d.as_nanos().saturating_sub(now.as_nanos())))
}

enum Conn {
    Data(SocketAddr, Bytes),
    Closed(SocketAddr),
}

fn spawn_conn(
    stream: turmoil::net::TcpStream,
    peer: SocketAddr,
    events: mpsc::UnboundedSender<Conn>,
) -> mpsc::UnboundedSender<Bytes> {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    tokio::task::spawn_local(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 || events.send(Conn::Data(peer, Bytes::copy_from_slice(&buf[..n]))).is_err() {
                break;
            }
        }
        let _ = events.send(Conn::Closed(peer));
    });
    tokio::task::spawn_local(async move {
        while let Some(d) = rx.recv().await {
            if wr.write_all(&d).await.is_err() {
                break;
            }
        }
    });
    tx
}

/// Feed one peer and send what it produced (TCP: a listener for the
/// gateway's connections, one connection of its own toward the gateway).
async fn tcp_peer(shared: SharedRef, idx: usize) -> turmoil::Result {
    let (me, wake) = {
        let s = shared.borrow();
        (s.peers[idx].addr, s.wake[idx].clone())
    };
    let listener = turmoil::net::TcpListener::bind(any_port(me)).await?;
    let media = turmoil::net::UdpSocket::bind(any_port(SocketAddr::new(me.ip(), MEDIA_PORT))).await?;
    let mut buf = vec![0u8; 2048];
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Conn>();
    let mut conns: HashMap<SocketAddr, (mpsc::UnboundedSender<Bytes>, StreamFramer)> = HashMap::new();
    loop {
        let wait = next_wait(&shared, idx);
        tokio::select! {
            biased;
            _ = wake.notified() => {}
            Some(ev) = ev_rx.recv() => match ev {
                Conn::Data(from, data) => {
                    let mut frames = Vec::new();
                    if let Some((_, framer)) = conns.get_mut(&from) {
                        if framer.push(&data).is_ok() {
                            while let Ok(Some(f)) = framer.next_frame() {
                                frames.push(f);
                            }
                        }
                    }
                    let mut s = shared.borrow_mut();
                    s.activity += 1;
                    for f in frames {
                        if let Frame::Message(m) = f {
                            s.peers[idx].handle_datagram(sim_now(), from, Bytes::copy_from_slice(m.raw()));
                        }
                    }
                }
                Conn::Closed(from) => {
                    conns.remove(&from);
                }
            },
            r = listener.accept() => {
                let (stream, from) = r?;
                let w = spawn_conn(stream, from, ev_tx.clone());
                conns.insert(from, (w, StreamFramer::new(Limits::default())));
            }
            r = media.recv_from(&mut buf) => {
                let (n, from) = r?;
                let mut s = shared.borrow_mut();
                s.activity += 1;
                s.peers[idx].handle_media(from, &buf[..n]);
            }
            _ = tokio::time::sleep(wait) => shared.borrow_mut().peers[idx].handle_timeout(sim_now()),
        }
        let out = shared.borrow_mut().peers[idx].take_output();
        for (to, data) in out {
            shared.borrow_mut().activity += 1;
            if let std::collections::hash_map::Entry::Vacant(slot) = conns.entry(to) {
                // A refused or unreachable connection loses the message;
                // the transaction layer times out as it would.
                let Ok(stream) = turmoil::net::TcpStream::connect(to).await else { continue };
                slot.insert((spawn_conn(stream, to, ev_tx.clone()), StreamFramer::new(Limits::default())));
            }
            if let Some((w, _)) = conns.get(&to) {
                let _ = w.send(data);
            }
        }
        send_media(&shared, idx, &media).await?;
    }
}

/// A `net` step: a fault on the simulated network or the gateway host.
fn fault(sim: &mut turmoil::Sim<'_>, verb: &str, arg: Option<&str>) {
    let hosts: Vec<IpAddr> = arg
        .unwrap_or("")
        .split(',')
        .filter_map(|r| world::roles().into_iter().find(|(_, role)| *role == r).map(|(ip, _)| ip))
        .collect();
    let gw = addr(GW).ip();
    match (verb, hosts.as_slice()) {
        ("partition", [a, b]) => sim.partition(*a, *b),
        ("repair", [a, b]) => sim.repair(*a, *b),
        ("hold", [a, b]) => sim.hold(*a, *b),
        ("release", [a, b]) => sim.release(*a, *b),
        ("crash", _) => sim.crash(gw),
        ("restart", _) => sim.bounce(gw),
        _ => {}
    }
}

/// Run a scenario in the turmoil world.
pub fn run(sc: &Scenario, seed: u64) -> Outcome {
    let latency = Duration::from_millis(sc.network.latency_ms);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        .tick_duration(TICK)
        .min_message_latency(latency)
        .max_message_latency(latency)
        .simulation_duration(HORIZON + QUIET_WITH_CALLS + Duration::from_secs(10))
        .build();
    let peers = world::peers(sc, seed);
    let wake = peers.iter().map(|_| Rc::new(Notify::new())).collect();
    let protos: Vec<Proto> = peers.iter().map(Peer::proto).collect();
    let shared: SharedRef = Rc::new(RefCell::new(Shared {
        rec: Recorder::new(&world::roles()),
        peers,
        wake,
        gw: GwState::default(),
        stop: None,
        activity: 0,
    }));
    let cfg = world::gateway_config(sc);
    {
        let shared = shared.clone();
        sim.host(addr(GW).ip(), move || gateway_host(shared.clone(), cfg.clone(), seed));
    }
    for (idx, proto) in protos.iter().enumerate() {
        let shared2 = shared.clone();
        let ip = shared.borrow().peers[idx].addr.ip();
        match proto {
            Proto::Udp => sim.host(ip, move || udp_peer(shared2.clone(), idx)),
            _ => sim.host(ip, move || tcp_peer(shared2.clone(), idx)),
        }
    }

    let mut steps: Vec<(Duration, &Action)> =
        sc.steps.iter().map(|s| (Duration::from_millis(s.at_ms), &s.action)).collect();
    steps.sort_by_key(|(t, _)| *t);
    let mut next_step = 0;
    let (mut last_activity, mut quiet_since) = (u64::MAX, Duration::ZERO);
    let mut stopping = false;
    loop {
        let now = sim.elapsed();
        let t = Time::from_nanos(u64::try_from(now.as_nanos()).unwrap_or(u64::MAX));
        while let Some((_, action)) = steps.get(next_step).filter(|(at, _)| *at <= now) {
            next_step += 1;
            let mut s = shared.borrow_mut();
            s.rec.note(t, &world::step_line(action));
            if action.party == "net" {
                drop(s);
                fault(&mut sim, &action.verb, action.arg.as_deref());
            } else if let Some(i) = world::party_index(&s.peers, &action.party) {
                s.peers[i].act(t, &action.verb, action.arg.as_deref());
                s.wake[i].notify_one();
            }
        }
        if let Err(e) = sim.step() {
            shared.borrow_mut().rec.note(t, &format!("simulation error: {e}"));
            break;
        }
        let mut s = shared.borrow_mut();
        if s.gw.stopped && stopping {
            break;
        }
        if now >= HORIZON {
            s.rec.note(t, "horizon reached: the scenario did not settle");
            break;
        }
        if s.activity != last_activity {
            last_activity = s.activity;
            quiet_since = now;
            continue;
        }
        let peers_idle = s.peers.iter().all(|p| p.next_deadline().is_none() && p.open_transactions() == 0);
        let gw_idle = s.gw.tables.active_calls == 0 && s.gw.tables.transactions == 0;
        let quiet = now.saturating_sub(quiet_since);
        if !stopping
            && next_step == steps.len()
            && peers_idle
            && (quiet >= QUIET && gw_idle || quiet >= QUIET_WITH_CALLS)
        {
            if let Some(stop) = s.stop.take() {
                let _ = stop.send(());
            }
            stopping = true;
        }
    }
    let ended = Time::from_nanos(u64::try_from(sim.elapsed().as_nanos()).unwrap_or(u64::MAX));
    drop(sim);
    let Ok(shared) = Rc::try_unwrap(shared) else {
        // Hosts outlived the simulation: cannot happen once `sim` is dropped.
        return Recorder::new(&world::roles()).finish(Default::default(), ended);
    };
    let s = shared.into_inner();
    let peers: Vec<&Peer> = s.peers.iter().collect();
    let facts = s.rec.facts(&s.gw.tables, &peers);
    s.rec.finish(facts, ended)
}
