//! The one driver loop: sockets in, [`Gateway`] in the middle, sockets
//! out, generic over the [`Network`] it runs on (tokio in production,
//! turmoil in the simulator).
//!
//! Contract: everything the gateway decides happens in this loop, in the
//! order inputs are read; connection tasks only move bytes. Time given to
//! the core is the time since the loop started (tokio's clock, which
//! turmoil drives in simulation). The loop stops when `stop` resolves and
//! the drain that follows ends: no calls left, or `drain_timeout` passed.
//! The [`Observer`] sees every message at the gateway's boundary, every
//! call event and every turn of the loop; it never changes what happens.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::media::{MediaBatch, MediaError, MediaSockets};
use super::net::{Datagrams, Listener, Network};
use crate::b2bua::{Gateway, GatewayEvent, MediaControl, Shedding};
use crate::sip::transport::{ConnId, Output, Proto};
use crate::time::Time;

/// What can stop the driver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot bind {addr} ({what}): {source}")]
    Bind { addr: SocketAddr, what: &'static str, source: std::io::Error },
    #[error(transparent)]
    Media(#[from] MediaError),
}

/// A tap on the driver: messages at the boundary, events, loop turns.
/// Every method has an empty default, inlined: an observer that leaves a
/// method out costs nothing there (the driver is generic over it; the
/// media taps run per packet).
pub trait Observer {
    /// Bytes read from `peer` (a whole datagram, or a chunk of a stream).
    #[inline]
    fn received(&mut self, _now: Time, _proto: Proto, _peer: SocketAddr, _data: &[u8]) {}
    /// Bytes handed to the socket toward `peer`.
    #[inline]
    fn sent(&mut self, _now: Time, _proto: Proto, _peer: SocketAddr, _data: &[u8]) {}
    /// A call event from the core.
    #[inline]
    fn event(&mut self, _now: Time, _event: &GatewayEvent) {}
    /// A media packet arrived on our `port` (as received).
    #[inline]
    fn media_received(&mut self, _now: Time, _port: u16, _from: SocketAddr, _data: &[u8]) {}
    /// A media packet left from our `from_port` (as sent).
    #[inline]
    fn media_sent(&mut self, _now: Time, _from_port: u16, _to: SocketAddr, _data: &[u8]) {}
    /// The loop finished a turn (all outputs flushed).
    #[inline]
    fn turn(&mut self, _now: Time, _gw: &Gateway) {}
}

/// The production observer: warns (at most every [`SHED_WARN_EVERY`])
/// when calls or requests were refused for a bound. Call events are
/// logged by the core itself, inside each call's span.
#[derive(Debug, Default)]
pub struct OverloadWarnings {
    warned: Option<(Time, Shedding)>,
}

/// The shortest interval between two overload warnings.
pub const SHED_WARN_EVERY: Duration = Duration::from_secs(10);

impl Observer for OverloadWarnings {
    #[inline]
    fn turn(&mut self, now: Time, gw: &Gateway) {
        let s = gw.shedding();
        let (at, last) = self.warned.unwrap_or((Time::ZERO, Shedding::default()));
        if s == last || (self.warned.is_some() && now.since(at) < SHED_WARN_EVERY) {
            return;
        }
        warn!(
            calls_refused = s.calls_refused - last.calls_refused,
            requests_shed = s.requests_shed - last.requests_shed,
            active_calls = gw.active_calls(),
            transactions = gw.transactions(),
            "overload: refused with 503 since the last warning (limits.max_calls, limits.max_transactions)"
        );
        self.warned = Some((now, s));
    }
}

enum StreamEvent {
    Opened { conn: ConnId, peer: SocketAddr },
    Data { conn: ConnId, data: Bytes },
    Closed { conn: ConnId },
}

/// Bytes queued toward one connection's writer.
const WRITE_QUEUE: usize = 256;
/// Stream events queued toward the loop.
const EVENT_QUEUE: usize = 4096;
/// Datagrams read per wake-up before outputs are flushed.
const UDP_BATCH: usize = 64;
/// How long an outbound TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest read from a stream at once.
const READ_CHUNK: usize = 16 * 1024;

fn spawn_connection<S>(stream: S, conn: ConnId, events: mpsc::Sender<StreamEvent>) -> mpsc::Sender<Bytes>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    tokio::task::spawn_local(async move {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if events.send(StreamEvent::Data { conn, data: Bytes::copy_from_slice(&buf[..n]) }).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = events.send(StreamEvent::Closed { conn }).await;
    });
    tokio::task::spawn_local(async move {
        while let Some(data) = rx.recv().await {
            if wr.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    tx
}

/// Media packets in one batch (one `recvmmsg`/`sendmmsg` round at most
/// [`super::epoll::RECV_BURST`] per socket; buffers allocated once).
const MEDIA_BATCH: usize = 64;

/// Media packets relayed in one turn of the loop at most; then signalling,
/// timers and the reactor get their turn before the rest.
const MEDIA_TURN_BUDGET: usize = 256;

/// The loop's sockets and connection table.
struct Sockets<N: Network> {
    net: N,
    /// Media sockets bind on this address.
    media_ip: std::net::IpAddr,
    media: N::Media,
    udp: N::Udp,
    writers: HashMap<ConnId, (SocketAddr, mpsc::Sender<Bytes>)>,
    events: mpsc::Sender<StreamEvent>,
    next_conn: u64,
}

impl<N: Network> Sockets<N> {
    fn conn_id(&mut self) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        c
    }

    /// Carry out what the gateway asks for.
    async fn flush<O: Observer>(&mut self, now: Time, gw: &mut Gateway, obs: &mut O) {
        while let Some(out) = gw.poll_output() {
            match out {
                Output::Datagram { to, data } => {
                    obs.sent(now, Proto::Udp, to, &data);
                    if let Err(e) = self.udp.send_to(&data, to).await {
                        warn!(%to, error = %e, "udp send");
                    }
                }
                Output::Stream { conn, data } => {
                    let Some((peer, w)) = self.writers.get(&conn) else { continue };
                    obs.sent(now, Proto::Tcp, *peer, &data);
                    if w.try_send(data).is_err() {
                        warn!(conn = conn.0, "write queue full: closing");
                        self.writers.remove(&conn);
                        gw.handle_stream_closed(now, conn);
                    }
                }
                Output::Connect { proto, to, conn, data } => {
                    if proto != Proto::Tcp {
                        warn!(%to, ?proto, "transport not available in this shell");
                        gw.handle_stream_closed(now, conn);
                        continue;
                    }
                    obs.sent(now, Proto::Tcp, to, &data);
                    self.connect(conn, to, data);
                }
                Output::Close { conn } => {
                    self.writers.remove(&conn);
                }
            }
        }
        while let Some(e) = gw.poll_event() {
            obs.event(now, &e);
        }
        while let Some((from_port, to, data)) = gw.poll_media_packet() {
            obs.media_sent(now, from_port, to, &data);
            self.media.send_to(from_port, &data, to).await;
        }
        while let Some(c) = gw.poll_media_control() {
            match c {
                MediaControl::Open { port } => {
                    for p in [port, port.wrapping_add(1)] {
                        let addr = SocketAddr::new(self.media_ip, p);
                        if let Err(e) = self.media.open(addr).await {
                            warn!(%addr, error = %e, "cannot bind a media port: its packets are lost");
                        }
                    }
                }
                MediaControl::Close { port } => {
                    for p in [port, port.wrapping_add(1)] {
                        self.media.close(p);
                    }
                }
            }
        }
    }

    /// Relay what the media sockets hold, batch by batch, in place: at
    /// most [`MEDIA_TURN_BUDGET`] packets, or until a batch comes back short.
    async fn relay_media<O: Observer>(
        &mut self,
        start: Instant,
        gw: &mut Gateway,
        obs: &mut O,
        batch: &mut MediaBatch,
    ) {
        let mut budget = MEDIA_TURN_BUDGET;
        loop {
            let n = self.media.recv_batch(batch);
            if n == 0 {
                return;
            }
            let t = since(start);
            for p in batch.packets_mut() {
                obs.media_received(t, p.port, p.from, p.data());
                p.out = gw.handle_media(t, p.port, p.from, &mut p.buf, p.len);
                if let Some((port, to, data)) = p.outgoing() {
                    obs.media_sent(t, port, to, data);
                }
            }
            self.media.send_batch(batch).await;
            budget = budget.saturating_sub(n);
            if n < batch.capacity() || budget == 0 {
                return;
            }
        }
    }

    /// Open connection `conn` toward `to` and send `first` on it once open.
    fn connect(&mut self, conn: ConnId, to: SocketAddr, first: Bytes) {
        let (w_tx, mut w_rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        let _ = w_tx.try_send(first);
        self.writers.insert(conn, (to, w_tx));
        let ev = self.events.clone();
        let net = self.net.clone();
        tokio::task::spawn_local(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, net.connect(to)).await {
                Ok(Ok(stream)) => {
                    let w = spawn_connection(stream, conn, ev.clone());
                    let _ = ev.send(StreamEvent::Opened { conn, peer: to }).await;
                    while let Some(d) = w_rx.recv().await {
                        if w.send(d).await.is_err() {
                            break;
                        }
                    }
                }
                _ => {
                    warn!(%to, "tcp connect failed");
                    let _ = ev.send(StreamEvent::Closed { conn }).await;
                }
            }
        });
    }
}

/// The core's time: since the loop started.
fn since(start: Instant) -> Time {
    Time::from_nanos(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

/// Run the gateway on `net` at `listen` (media ports bound on
/// `media_bind`) until `stop` resolves and the drain ends. Must run
/// inside a tokio `LocalSet`.
pub async fn run<N, O>(
    net: N,
    listen: SocketAddr,
    media_bind: std::net::IpAddr,
    gw: &mut Gateway,
    stop: impl Future<Output = ()>,
    drain_timeout: Duration,
    obs: &mut O,
) -> Result<(), DriverError>
where
    N: Network,
    O: Observer,
{
    let udp = net.bind_udp(listen).await.map_err(|source| DriverError::Bind { addr: listen, what: "udp", source })?;
    let tcp = net.bind_tcp(listen).await.map_err(|source| DriverError::Bind { addr: listen, what: "tcp", source })?;
    let media = net.media()?;
    let start = Instant::now();
    let now = move || since(start);
    let (ev_tx, mut ev_rx) = mpsc::channel::<StreamEvent>(EVENT_QUEUE);
    // SDP may name another address (`[media] address`: public, 1:1 NAT).
    let media_ip = media_bind;
    let mut s = Sockets { net, media_ip, media, udp, writers: HashMap::new(), events: ev_tx, next_conn: 1 };
    let mut buf = vec![0u8; 65_536];
    let mut batch = MediaBatch::new(MEDIA_BATCH);
    let mut drain_until: Option<Instant> = None;
    let far = start + Duration::from_secs(86_400 * 365);
    tokio::pin!(stop);
    loop {
        let deadline = gw.poll_timeout().map_or(far, |t| start + Duration::from_nanos(t.as_nanos()));
        let deadline =
            drain_until.map_or(deadline, |d| deadline.min(d).min(Instant::now() + Duration::from_millis(200)));
        // `biased`: branches are polled in this order, so the same inputs
        // give the same decisions (the simulator relies on it), and
        // signalling goes before media.
        tokio::select! {
            biased;
            _ = &mut stop, if drain_until.is_none() => {
                info!(calls = gw.active_calls(), "draining");
                gw.set_draining(true);
                drain_until = Some(Instant::now() + drain_timeout);
            }
            _ = tokio::time::sleep_until(deadline) => gw.handle_timeout(now()),
            Some(ev) = ev_rx.recv() => {
                let t = now();
                match ev {
                    StreamEvent::Opened { conn, peer } => {
                        if !gw.handle_stream_opened(t, conn, Proto::Tcp, peer) {
                            s.writers.remove(&conn);
                        }
                    }
                    StreamEvent::Data { conn, data } => {
                        if let Some((peer, _)) = s.writers.get(&conn) {
                            obs.received(t, Proto::Tcp, *peer, &data);
                        }
                        gw.handle_stream_data(t, conn, &data);
                    }
                    StreamEvent::Closed { conn } => {
                        s.writers.remove(&conn);
                        gw.handle_stream_closed(t, conn);
                    }
                }
            }
            r = s.udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let t = now();
                    obs.received(t, Proto::Udp, from, &buf[..n]);
                    gw.handle_datagram(t, from, Bytes::copy_from_slice(&buf[..n]));
                    // Drain what else is queued before going round the loop:
                    // one wake-up per burst, not per datagram.
                    for _ in 0..UDP_BATCH {
                        match s.udp.try_recv_from(&mut buf) {
                            Ok((n, from)) => {
                                obs.received(t, Proto::Udp, from, &buf[..n]);
                                gw.handle_datagram(t, from, Bytes::copy_from_slice(&buf[..n]));
                            }
                            Err(_) => break,
                        }
                    }
                }
                Err(e) => warn!(error = %e, "udp receive"),
            },
            r = tcp.accept() => match r {
                Ok((stream, peer)) => {
                    let conn = s.conn_id();
                    let w = spawn_connection(stream, conn, s.events.clone());
                    if gw.handle_stream_opened(now(), conn, Proto::Tcp, peer) {
                        s.writers.insert(conn, (peer, w));
                    }
                }
                Err(e) => warn!(error = %e, "tcp accept"),
            },
            _ = s.media.ready() => s.relay_media(start, gw, obs, &mut batch).await,
        }
        let t = now();
        s.flush(t, gw, obs).await;
        obs.turn(t, gw);
        if let Some(until) = drain_until {
            if gw.active_calls() == 0 || Instant::now() >= until {
                info!(calls = gw.active_calls(), "drained: stopping");
                return Ok(());
            }
        }
    }
}
