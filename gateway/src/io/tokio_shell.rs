//! The production shell on tokio: a UDP socket and a TCP listener on the
//! configured address, one reader and one writer task per connection, the
//! gateway's timers as one sleep, SIGTERM/SIGINT as a drain.
//!
//! Contract: everything the gateway decides happens in the one loop of
//! [`run`], in the order inputs arrive; tasks only move bytes. Time given
//! to the core is the time since the shell started.
#![allow(clippy::disallowed_methods)] // the shell owns the clock

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::b2bua::{Gateway, GatewayEvent};
use crate::config::Config;
use crate::sip::transport::{ConnId, Output, Proto};
use crate::time::Time;

/// What can stop the shell.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot bind {addr} ({what}): {source}")]
    Bind { addr: SocketAddr, what: &'static str, source: std::io::Error },
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

enum StreamEvent {
    Opened { conn: ConnId, peer: SocketAddr },
    Data { conn: ConnId, data: Bytes },
    Closed { conn: ConnId },
}

/// Bytes queued toward one connection's writer.
const WRITE_QUEUE: usize = 256;

/// Datagrams read per wake-up before outputs are flushed.
const UDP_BATCH: usize = 64;

/// Receive buffer asked for the UDP socket (the kernel caps it at
/// net.core.rmem_max; raise that sysctl for high call rates).
const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;

/// A seed from the OS (std's hasher keys come from OS randomness).
fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// A non-blocking UDP socket with a large receive buffer.
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(UDP_RECV_BUFFER) {
        warn!(error = %e, "cannot enlarge the UDP receive buffer");
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

fn spawn_connection(stream: TcpStream, conn: ConnId, events: mpsc::Sender<StreamEvent>) -> mpsc::Sender<Bytes> {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let ev = events.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if ev.send(StreamEvent::Data { conn, data: Bytes::copy_from_slice(&buf[..n]) }).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = ev.send(StreamEvent::Closed { conn }).await;
    });
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if wr.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    tx
}

/// Run the gateway until SIGTERM/SIGINT and the drain that follows.
pub async fn run(cfg: Config) -> Result<(), ShellError> {
    let listen = cfg.listen;
    let udp = bind_udp(listen).map_err(|source| ShellError::Bind { addr: listen, what: "udp", source })?;
    let tcp =
        TcpListener::bind(listen).await.map_err(|source| ShellError::Bind { addr: listen, what: "tcp", source })?;
    let seed = cfg.seed.unwrap_or_else(os_seed);
    let mut gw = Gateway::new(cfg.gateway.clone(), seed);
    info!(%listen, fqdn = %cfg.gateway.fqdn, seed, "gateway listening (udp, tcp)");
    let start = Instant::now();
    let now = move || Time::from_nanos(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    let (ev_tx, mut ev_rx) = mpsc::channel::<StreamEvent>(4096);
    let mut writers: HashMap<ConnId, mpsc::Sender<Bytes>> = HashMap::new();
    let mut next_conn = 1u64;
    let mut buf = vec![0u8; 65_536];
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut drain_until: Option<Instant> = None;
    loop {
        let deadline = gw
            .poll_timeout()
            .map_or(start + Duration::from_secs(86_400 * 365), |t| start + Duration::from_nanos(t.as_nanos()));
        let deadline =
            drain_until.map_or(deadline, |d| deadline.min(d).min(Instant::now() + Duration::from_millis(200)));
        tokio::select! {
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let t = now();
                    gw.handle_datagram(t, from, Bytes::copy_from_slice(&buf[..n]));
                    // Drain what else is queued before going round the loop:
                    // one wake-up per burst, not per datagram.
                    for _ in 0..UDP_BATCH {
                        match udp.try_recv_from(&mut buf) {
                            Ok((n, from)) => gw.handle_datagram(t, from, Bytes::copy_from_slice(&buf[..n])),
                            Err(_) => break,
                        }
                    }
                }
                Err(e) => warn!(error = %e, "udp receive"),
            },
            r = tcp.accept() => match r {
                Ok((stream, peer)) => {
                    let conn = ConnId(next_conn);
                    next_conn += 1;
                    let w = spawn_connection(stream, conn, ev_tx.clone());
                    if gw.handle_stream_opened(now(), conn, Proto::Tcp, peer) {
                        writers.insert(conn, w);
                    }
                }
                Err(e) => warn!(error = %e, "tcp accept"),
            },
            Some(ev) = ev_rx.recv() => match ev {
                StreamEvent::Opened { conn, peer } => {
                    if !gw.handle_stream_opened(now(), conn, Proto::Tcp, peer) {
                        writers.remove(&conn);
                    }
                }
                StreamEvent::Data { conn, data } => gw.handle_stream_data(now(), conn, &data),
                StreamEvent::Closed { conn } => {
                    writers.remove(&conn);
                    gw.handle_stream_closed(conn);
                }
            },
            _ = tokio::time::sleep_until(deadline) => gw.handle_timeout(now()),
            _ = sigterm.recv(), if drain_until.is_none() => {
                info!(calls = gw.active_calls(), "SIGTERM: draining");
                gw.set_draining(true);
                drain_until = Some(Instant::now() + cfg.drain_timeout);
            }
            _ = tokio::signal::ctrl_c(), if drain_until.is_none() => {
                info!(calls = gw.active_calls(), "SIGINT: draining");
                gw.set_draining(true);
                drain_until = Some(Instant::now() + cfg.drain_timeout);
            }
        }
        while let Some(out) = gw.poll_output() {
            match out {
                Output::Datagram { to, data } => {
                    if let Err(e) = udp.send_to(&data, to).await {
                        warn!(%to, error = %e, "udp send");
                    }
                }
                Output::Stream { conn, data } => {
                    if let Some(w) = writers.get(&conn) {
                        if w.try_send(data).is_err() {
                            warn!(conn = conn.0, "write queue full: closing");
                            writers.remove(&conn);
                            gw.handle_stream_closed(conn);
                        }
                    }
                }
                Output::Connect { proto, to, data, .. } => {
                    if proto != Proto::Tcp {
                        warn!(%to, ?proto, "transport not available in this shell");
                        continue;
                    }
                    let conn = ConnId(next_conn);
                    next_conn += 1;
                    let (w_tx, mut w_rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
                    let _ = w_tx.try_send(data);
                    writers.insert(conn, w_tx);
                    let ev = ev_tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(to)).await {
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
                                let _ = ev.send(StreamEvent::Closed { conn }).await;
                            }
                        }
                    });
                }
                Output::Close { conn } => {
                    writers.remove(&conn);
                }
            }
        }
        while let Some(e) = gw.poll_event() {
            match e {
                GatewayEvent::CallStarted { call, from } => info!(call = call.0, ?from, "call started"),
                GatewayEvent::CallAnswered { call } => info!(call = call.0, "call answered"),
                GatewayEvent::CallEnded { call, status, reason } => info!(call = call.0, status, %reason, "call ended"),
                GatewayEvent::Failover { call, from, to, why } => {
                    warn!(call = call.0, from, to, %why, "Teams proxy failover")
                }
            }
        }
        if let Some(until) = drain_until {
            if gw.active_calls() == 0 || Instant::now() >= until {
                info!(calls = gw.active_calls(), "drained: stopping");
                return Ok(());
            }
        }
    }
}
