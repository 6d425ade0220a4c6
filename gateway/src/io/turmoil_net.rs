//! The simulated network: turmoil's sockets behind the same [`Network`]
//! trait, so the simulator runs the production driver loop unchanged.
//! Only built with the `sim` feature; the production binary never links
//! turmoil.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

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

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        turmoil::net::UdpSocket::bind(addr).await
    }
    async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr).await
    }
    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr).await
    }
}
