//! The media-socket layer the driver loop relays RTP/RTCP through: many
//! UDP sockets (a pair per anchored leg), read and written in batches.
//!
//! Contract: a [`MediaSockets`] opens and closes sockets by port, says
//! when packets may be waiting ([`MediaSockets::ready`], cancel-safe: the
//! driver polls it inside a `select!`), fills a preallocated
//! [`MediaBatch`] with what is queued ([`MediaSockets::recv_batch`], never
//! blocking) and sends the packets of a batch the driver marked for
//! forwarding ([`MediaSockets::send_batch`]). Nothing is allocated per
//! packet: the batch's buffers are allocated once and relayed in place.
//! Production: one epoll instance, `recvmmsg`/`sendmmsg`
//! (`io::epoll::EpollMedia`); simulation: turmoil sockets, one reader task
//! each, one packet per batch (`io::turmoil_net`).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::media::relay::Forward;

/// The largest media datagram accepted; a longer one is dropped.
pub const MEDIA_PACKET_MAX: usize = 2048;

/// Room after a packet for what the relay may add in place (SRTP's
/// authentication tag, transcoding growth).
pub const MEDIA_HEADROOM: usize = 64;

/// How the production media sockets use the kernel (`[media] connect`);
/// the simulation ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaIo {
    /// Connect a port's send socket to the destination it keeps sending
    /// to (a connected twin, `SO_REUSEPORT`): the send names no address
    /// and the kernel reuses the socket's cached route.
    pub connect: bool,
}

impl Default for MediaIo {
    fn default() -> Self {
        MediaIo { connect: true }
    }
}

/// Why a media socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot create the media poller: {0}")]
    Poller(std::io::Error),
    #[error("cannot bind media socket {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot watch media socket {addr}: {source}")]
    Watch { addr: SocketAddr, source: std::io::Error },
}

/// One packet of a batch: where it came in, its bytes (relayed in place)
/// and where it goes out.
#[derive(Debug)]
pub struct MediaPacket {
    /// Our port it arrived on.
    pub port: u16,
    /// Its sender.
    pub from: SocketAddr,
    /// Its length in `buf`.
    pub len: usize,
    /// [`MEDIA_PACKET_MAX`] + [`MEDIA_HEADROOM`] bytes.
    pub buf: Box<[u8]>,
    /// Set by the driver: send `buf[..n]` from our `from_port` to `to`.
    pub out: Option<(Forward, usize)>,
}

impl MediaPacket {
    fn empty() -> Self {
        MediaPacket {
            port: 0,
            from: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            len: 0,
            buf: vec![0u8; MEDIA_PACKET_MAX.max(crate::media::relay::MEDIA_BUFFER) + MEDIA_HEADROOM].into_boxed_slice(),
            out: None,
        }
    }

    /// The packet as received (or as rewritten, before `out` is read).
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }

    /// What to send, if anything: our port, the destination, the bytes.
    pub fn outgoing(&self) -> Option<(u16, SocketAddr, &[u8])> {
        let (f, n) = self.out?;
        Some((f.from_port, f.to, &self.buf[..n.min(self.buf.len())]))
    }
}

/// A fixed set of packet buffers, filled by a receive and relayed in place.
#[derive(Debug)]
pub struct MediaBatch {
    packets: Vec<MediaPacket>,
    len: usize,
}

impl MediaBatch {
    /// A batch of `capacity` packets (at least one), allocated once.
    pub fn new(capacity: usize) -> Self {
        MediaBatch { packets: (0..capacity.max(1)).map(|_| MediaPacket::empty()).collect(), len: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.packets.len()
    }

    /// Packets received.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget the packets (the buffers stay).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The packets received, in order.
    pub fn packets(&self) -> &[MediaPacket] {
        &self.packets[..self.len]
    }

    /// The packets received, to relay in place.
    pub fn packets_mut(&mut self) -> &mut [MediaPacket] {
        &mut self.packets[..self.len]
    }

    /// The buffers not yet filled, for a receive.
    pub fn spare_mut(&mut self) -> &mut [MediaPacket] {
        &mut self.packets[self.len..]
    }

    /// Count the first `n` spare buffers as received (each with its port,
    /// sender and length set, `out` cleared).
    pub fn commit(&mut self, n: usize) {
        let end = (self.len + n).min(self.packets.len());
        for p in &mut self.packets[self.len..end] {
            p.out = None;
        }
        self.len = end;
    }

    /// Copy one packet into the next spare buffer; false when the batch
    /// is full or the packet longer than [`MEDIA_PACKET_MAX`].
    pub fn push(&mut self, port: u16, from: SocketAddr, data: &[u8]) -> bool {
        let Some(p) = self.spare_mut().first_mut() else { return false };
        let Some(dst) = p.buf.get_mut(..data.len()).filter(|_| data.len() <= MEDIA_PACKET_MAX) else {
            return false;
        };
        dst.copy_from_slice(data);
        (p.port, p.from, p.len) = (port, from, data.len());
        self.commit(1);
        true
    }
}

/// A set of media sockets, keyed by our port, read and written in batches.
pub trait MediaSockets: 'static {
    /// Bind a socket on `addr` (port 0: any) and watch it; its port.
    fn open(&mut self, addr: SocketAddr) -> impl Future<Output = Result<u16, MediaError>>;
    /// Close the socket on `port` (nothing if there is none).
    fn close(&mut self, port: u16);
    /// Wait until packets may be waiting. Cancel-safe.
    fn ready(&mut self) -> impl Future<Output = ()>;
    /// Fill `batch` (cleared first) with queued packets without waiting;
    /// how many. Fewer than the batch's capacity: nothing more was queued
    /// at the last look (later arrivals make [`Self::ready`] resolve).
    fn recv_batch(&mut self, batch: &mut MediaBatch) -> usize;
    /// Send every packet of `batch` that has an `out`, in order.
    fn send_batch(&mut self, batch: &MediaBatch) -> impl Future<Output = ()>;
    /// Send one packet from our `port` to `to`.
    fn send_to(&mut self, port: u16, data: &[u8], to: SocketAddr) -> impl Future<Output = ()>;
}
