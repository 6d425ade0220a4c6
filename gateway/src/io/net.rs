//! The small network trait the driver loop runs on, and its production
//! implementation on tokio sockets.
//!
//! Contract: a [`Network`] binds one UDP socket and one TCP listener on an
//! address, opens outbound TCP connections and gives the set of media
//! sockets ([`MediaSockets`]); that is all the driver needs. Streams are plain tokio `AsyncRead + AsyncWrite`. Futures need
//! not be `Send`: the driver and its connection tasks run on one thread
//! (a tokio `LocalSet`), in production as in simulation, so the order in
//! which the core sees inputs is the order they were read.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tracing::warn;

use super::epoll::EpollMedia;
use super::media::{MediaError, MediaIo, MediaSockets};

/// A bound UDP socket.
pub trait Datagrams: 'static {
    /// Wait for one datagram.
    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>>;
    /// One queued datagram, or `WouldBlock`.
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    /// Send one datagram.
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> impl Future<Output = io::Result<usize>>;
}

/// A bound TCP listener.
pub trait Listener: 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;
}

/// Sockets: real ones (tokio) or simulated ones (turmoil, `sim` feature).
pub trait Network: Clone + 'static {
    type Udp: Datagrams;
    type Listener: Listener<Stream = Self::Stream>;
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    type Media: MediaSockets;
    fn bind_udp(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Udp>>;
    fn bind_tcp(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>>;
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;
    /// An empty set of media sockets (the driver makes one).
    fn media(&self) -> Result<Self::Media, MediaError>;
}

/// Real sockets on the tokio reactor; media sockets as `media_io` says.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNet {
    pub media_io: MediaIo,
}

/// Receive buffer asked for the SIP UDP socket (the kernel caps it at
/// net.core.rmem_max; raise that sysctl for high call rates). Media
/// sockets ask for much less (`io::epoll::MEDIA_RECV_BUFFER`).
const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;

impl Datagrams for tokio::net::UdpSocket {
    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> {
        tokio::net::UdpSocket::recv_from(self, buf)
    }
    fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        tokio::net::UdpSocket::try_recv_from(self, buf)
    }
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> impl Future<Output = io::Result<usize>> {
        tokio::net::UdpSocket::send_to(self, buf, to)
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        tokio::net::TcpListener::accept(self)
    }
}

impl Network for TokioNet {
    type Udp = tokio::net::UdpSocket;
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Media = EpollMedia;

    /// A non-blocking UDP socket with a large receive buffer.
    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if let Err(e) = s.set_recv_buffer_size(UDP_RECV_BUFFER) {
            warn!(error = %e, "cannot enlarge the UDP receive buffer");
        }
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        tokio::net::UdpSocket::from_std(s.into())
    }

    async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        let _ = s.set_nodelay(true);
        Ok(s)
    }

    fn media(&self) -> Result<Self::Media, MediaError> {
        EpollMedia::with_io(self.media_io)
    }
}
