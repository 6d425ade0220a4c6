//! The simulated network: turmoil's sockets behind the same [`Network`]
//! trait, so the simulator runs the production driver loop unchanged.
//! Only built with the `sim` feature; the production binary never links
//! turmoil.
//!
//! Media sockets ([`TurmoilMedia`]) keep the first design of the shell: a
//! reader task per socket sends each packet over one channel, and a batch
//! holds one packet, so the loop takes one turn per packet in the order
//! the readers ran (turmoil has no epoll nor `recvmmsg`; runs stay the
//! same byte for byte).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use tokio::sync::mpsc;

use super::media::{MediaBatch, MediaError, MediaSockets, MEDIA_PACKET_MAX};
use super::net::{Datagrams, Listener, Network};

/// Sockets of the turmoil host the calling task runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilNet;

impl Datagrams for turmoil::net::UdpSocket {
    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> {
        turmoil::net::UdpSocket::recv_from(self, buf)
    }
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        turmoil::net::UdpSocket::try_recv_from(self, buf)
    }
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> impl Future<Output = io::Result<usize>> {
        turmoil::net::UdpSocket::send_to(self, buf, to)
    }
}

impl Listener for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        turmoil::net::TcpListener::accept(self)
    }
}

impl Network for TurmoilNet {
    type Udp = turmoil::net::UdpSocket;
    type Listener = turmoil::net::TcpListener;
    type Stream = turmoil::net::TcpStream;
    type Media = TurmoilMedia;

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        turmoil::net::UdpSocket::bind(addr).await
    }
    async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr).await
    }
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }
    fn media(&self) -> Result<Self::Media, MediaError> {
        Ok(TurmoilMedia::new())
    }
}

/// A packet read by a socket's reader task.
struct Received {
    port: u16,
    from: SocketAddr,
    data: Vec<u8>,
}

/// Packets queued toward the loop (beyond it, readers wait).
const MEDIA_QUEUE: usize = 8192;

/// Media sockets on turmoil: a reader task each, one channel to the loop.
pub struct TurmoilMedia {
    sockets: HashMap<u16, (Rc<turmoil::net::UdpSocket>, tokio::task::JoinHandle<()>)>,
    tx: mpsc::Sender<Received>,
    rx: mpsc::Receiver<Received>,
    /// Taken off the channel by `ready`, given by the next `recv_batch`.
    pending: Option<Received>,
}

impl TurmoilMedia {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel(MEDIA_QUEUE);
        TurmoilMedia { sockets: HashMap::new(), tx, rx, pending: None }
    }
}

impl MediaSockets for TurmoilMedia {
    async fn open(&mut self, addr: SocketAddr) -> Result<u16, MediaError> {
        let bind = |source| MediaError::Bind { addr, source };
        let socket = Rc::new(turmoil::net::UdpSocket::bind(addr).await.map_err(bind)?);
        let port = if addr.port() != 0 { addr.port() } else { socket.local_addr().map_err(bind)?.port() };
        let (rd, tx) = (socket.clone(), self.tx.clone());
        let reader = tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; MEDIA_PACKET_MAX];
            while let Ok((n, from)) = rd.recv_from(&mut buf).await {
                if tx.send(Received { port, from, data: buf[..n].to_vec() }).await.is_err() {
                    break;
                }
            }
        });
        if let Some((_, old)) = self.sockets.insert(port, (socket, reader)) {
            old.abort();
        }
        Ok(port)
    }

    fn close(&mut self, port: u16) {
        if let Some((_, reader)) = self.sockets.remove(&port) {
            reader.abort();
        }
    }

    async fn ready(&mut self) {
        if self.pending.is_none() {
            // Never `None`: `self.tx` keeps the channel open.
            self.pending = self.rx.recv().await;
        }
    }

    fn recv_batch(&mut self, batch: &mut MediaBatch) -> usize {
        batch.clear();
        if let Some(p) = self.pending.take() {
            batch.push(p.port, p.from, &p.data);
        }
        batch.len()
    }

    async fn send_batch(&mut self, batch: &MediaBatch) {
        for p in batch.packets() {
            if let Some((port, to, data)) = p.outgoing() {
                self.send_to(port, data, to).await;
            }
        }
    }

    async fn send_to(&mut self, port: u16, data: &[u8], to: SocketAddr) {
        if let Some((s, _)) = self.sockets.get(&port) {
            let _ = s.send_to(data, to).await;
        }
    }
}
