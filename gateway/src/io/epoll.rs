//! Production media sockets (Linux): every media socket in one epoll
//! instance, itself one `AsyncFd` on the tokio reactor; packets read with
//! `recvmmsg` and sent with `sendmmsg`. The only `unsafe` of the shell
//! lives here, each block with its SAFETY argument.
//!
//! Contract (see [`MediaSockets`]): [`EpollMedia::ready`] resolves when the
//! epoll instance is readable (or work is left from the last turn);
//! [`EpollMedia::recv_batch`] asks `epoll_wait(0)` for ready sockets and
//! reads each with `recvmmsg` (up to [`RECV_BURST`] datagrams) until a
//! short batch, never until `EAGAIN`; [`EpollMedia::send_batch`] sends
//! consecutive packets leaving from the same port with one `sendmmsg`.
//!
//! Level-triggered, on purpose: a socket left with data (the batch or the
//! loop's budget full, a read error) is reported again by the next
//! `epoll_wait`, with no bookkeeping here; the cost is one in-kernel poll
//! of each drained socket at the next `epoll_wait` (no system call).
//! Wake-ups cannot be lost: readiness of the `AsyncFd` is cleared when
//! `ready` resolves, *before* `epoll_wait`, and every packet arriving
//! later wakes the outer epoll again.
//!
//! Each socket asks for a [`MEDIA_RECV_BUFFER`] receive buffer: past the
//! relay's capacity the kernel drops (counted in `/proc/net/udp` drops)
//! instead of queueing seconds of audio. A send that finds the socket's
//! send buffer full is dropped too (UDP media sheds, it does not wait).

use std::collections::HashMap;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tracing::{debug, warn};

use super::media::{MediaBatch, MediaError, MediaPacket, MediaSockets, MEDIA_PACKET_MAX};

/// Receive buffer asked for each media socket. The kernel doubles it and
/// charges each packet its buffer's true size: 64 KB holds 157 packets of
/// 172 bytes on loopback (256 KB: 630), about 3 s of one G.711 stream (1 s
/// at the benchmark's 150 packets/s per stream). Far above any burst one
/// stream brings while the loop is busy elsewhere, and small enough that
/// past the relay's capacity the kernel sheds (counted in `/proc/net/udp`
/// drops) instead of queueing seconds of audio (the SIP socket asks 8 MB).
pub const MEDIA_RECV_BUFFER: usize = 64 * 1024;
/// Datagrams read from one socket by one `recvmmsg`.
pub const RECV_BURST: usize = 32;
/// Datagrams sent by one `sendmmsg`.
pub const SEND_BURST: usize = 64;
/// Ready sockets taken from one `epoll_wait`.
pub const MAX_EVENTS: usize = 256;

/// What the media sockets dropped or failed on (the relay counts the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpollCounters {
    pub received: u64,
    pub sent: u64,
    /// Longer than [`MEDIA_PACKET_MAX`].
    pub dropped_truncated: u64,
    /// The socket's send buffer was full.
    pub dropped_send_full: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
}

/// The production [`MediaSockets`]: epoll + `recvmmsg`/`sendmmsg`.
pub struct EpollMedia {
    epoll: AsyncFd<OwnedFd>,
    sockets: HashMap<u16, Socket>,
    /// The last `epoll_wait`'s ready sockets (their port in `u64`), and
    /// the next to read.
    events: Vec<libc::epoll_event>,
    ready: usize,
    cursor: usize,
    /// `epoll_wait` may report more (readiness seen, or a full list).
    more: bool,
    // Scratch for the system calls, allocated once; the pointers in the
    // headers are set right before each call.
    recv_names: Vec<libc::sockaddr_storage>,
    recv_iov: Vec<libc::iovec>,
    recv_hdrs: Vec<libc::mmsghdr>,
    send_names: Vec<SockAddr>,
    send_iov: Vec<libc::iovec>,
    send_hdrs: Vec<libc::mmsghdr>,
    counters: EpollCounters,
}

impl std::fmt::Debug for EpollMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollMedia").field("sockets", &self.sockets.len()).field("counters", &self.counters).finish()
    }
}

fn empty_iov() -> libc::iovec {
    libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }
}

fn empty_hdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is a C struct of integers and raw pointers (and
    // private padding on some targets): all zeroes is a valid value.
    unsafe { mem::zeroed() }
}

fn empty_storage() -> libc::sockaddr_storage {
    // SAFETY: as above, a plain C struct; zeroes = family AF_UNSPEC.
    unsafe { mem::zeroed() }
}

/// The address the kernel wrote into `ss` (`len` bytes), if IPv4 or IPv6.
fn decode_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(ss.ss_family) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, which
            // is smaller than sockaddr_storage and less aligned.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}

fn epoll_ctl(epoll: RawFd, op: libc::c_int, fd: RawFd, port: u16) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: u64::from(port) };
    // SAFETY: both descriptors are open (owned by the caller), `ev` lives
    // across the call (the kernel copies it; DEL ignores it).
    let r = unsafe { libc::epoll_ctl(epoll, op, fd, &mut ev) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl EpollMedia {
    /// A new, empty set. Must be called inside a tokio runtime with I/O.
    pub fn new() -> Result<Self, MediaError> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result
        // is a new descriptor that nothing else owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(MediaError::Poller(io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd moves into the AsyncFd, which owns it until
        // dropped: it stays open and `as_raw_fd` keeps returning it.
        let epoll = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| MediaError::Poller(e.into()))?;
        Ok(EpollMedia {
            epoll,
            sockets: HashMap::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
            ready: 0,
            cursor: 0,
            more: true,
            recv_names: vec![empty_storage(); RECV_BURST],
            recv_iov: vec![empty_iov(); RECV_BURST],
            recv_hdrs: vec![empty_hdr(); RECV_BURST],
            send_names: vec![SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0))); SEND_BURST],
            send_iov: vec![empty_iov(); SEND_BURST],
            send_hdrs: vec![empty_hdr(); SEND_BURST],
            counters: EpollCounters::default(),
        })
    }

    pub fn counters(&self) -> EpollCounters {
        self.counters
    }

    /// Ready sockets from `epoll_wait` without waiting.
    fn poll_ready(&mut self) {
        let cap = i32::try_from(self.events.len()).unwrap_or(i32::MAX);
        // SAFETY: `events` holds `cap` entries the kernel may write; the
        // epoll descriptor is open (owned by `self.epoll`).
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), self.events.as_mut_ptr(), cap, 0) };
        self.cursor = 0;
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                warn!(error = %e, "epoll_wait on the media sockets");
            }
            self.ready = 0;
            self.more = e.kind() == io::ErrorKind::Interrupted;
            return;
        }
        self.ready = n as usize;
        self.more = self.ready == self.events.len();
    }

    /// One `recvmmsg` on `fd` (our `port`) into `batch`'s spare buffers;
    /// whether the socket is drained (a short batch).
    fn recv_socket(&mut self, fd: RawFd, port: u16, batch: &mut MediaBatch) -> io::Result<bool> {
        let spare = batch.spare_mut();
        let want = spare.len().min(RECV_BURST);
        if want == 0 {
            return Ok(false);
        }
        for (i, p) in spare.iter_mut().take(want).enumerate() {
            self.recv_iov[i] =
                libc::iovec { iov_base: p.buf.as_mut_ptr().cast(), iov_len: p.buf.len().min(MEDIA_PACKET_MAX) };
            let h = &mut self.recv_hdrs[i];
            *h = empty_hdr();
            h.msg_hdr.msg_name = (&mut self.recv_names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.recv_iov[i];
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first `want` headers point at `want` live iovecs, each
        // over a distinct spare buffer (its length at most the buffer's),
        // and at `want` sockaddr_storage of the
        // size given; nothing else touches them during the call. `fd` is
        // open (owned by `self.sockets`).
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.recv_hdrs.as_mut_ptr(),
                want as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(true),
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e),
            };
        }
        let got = r as usize;
        // Keep the good packets at the front of the spare buffers.
        let mut kept = 0;
        for i in 0..got {
            let h = &self.recv_hdrs[i];
            let from = decode_addr(&self.recv_names[i], h.msg_hdr.msg_namelen);
            let (Some(from), false) = (from, h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0) else {
                self.counters.dropped_truncated += 1;
                continue;
            };
            let len = h.msg_len as usize;
            spare.swap(kept, i);
            let p: &mut MediaPacket = &mut spare[kept];
            (p.port, p.from, p.len) = (port, from, len);
            kept += 1;
        }
        batch.commit(kept);
        self.counters.received += kept as u64;
        Ok(got < want)
    }

    /// One `sendmmsg` run: `packets` all leave from `fd`.
    fn send_run<'a>(&mut self, fd: RawFd, packets: impl Iterator<Item = (SocketAddr, &'a [u8])>) {
        let mut n = 0;
        for (to, data) in packets.take(SEND_BURST) {
            self.send_names[n] = SockAddr::from(to);
            self.send_iov[n] = libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() };
            let h = &mut self.send_hdrs[n];
            *h = empty_hdr();
            h.msg_hdr.msg_name = self.send_names[n].as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = self.send_names[n].len();
            h.msg_hdr.msg_iov = &mut self.send_iov[n];
            h.msg_hdr.msg_iovlen = 1;
            n += 1;
        }
        let mut done = 0;
        while done < n {
            // SAFETY: headers done..n point at live iovecs over packet bytes
            // borrowed for this call (the kernel only reads them) and at
            // live socket addresses of the length given; `fd` is open.
            let r = unsafe {
                libc::sendmmsg(fd, self.send_hdrs[done..].as_mut_ptr(), (n - done) as libc::c_uint, libc::MSG_DONTWAIT)
            };
            if r > 0 {
                done += r as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    self.counters.dropped_send_full += (n - done) as u64;
                    return;
                }
                _ => {
                    // This packet cannot go (an unreachable destination...):
                    // the next ones may.
                    debug!(error = %e, "media send");
                    self.counters.send_errors += 1;
                    done += 1;
                }
            }
        }
        self.counters.sent += n as u64;
    }
}

impl MediaSockets for EpollMedia {
    async fn open(&mut self, addr: SocketAddr) -> Result<u16, MediaError> {
        let bind = |source| MediaError::Bind { addr, source };
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(bind)?;
        if let Err(e) = s.set_recv_buffer_size(MEDIA_RECV_BUFFER) {
            debug!(%addr, error = %e, "media socket receive buffer");
        }
        s.set_nonblocking(true).map_err(bind)?;
        s.bind(&addr.into()).map_err(bind)?;
        let port = s.local_addr().map_err(bind)?.as_socket().map_or(addr.port(), |a| a.port());
        epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, s.as_raw_fd(), port)
            .map_err(|source| MediaError::Watch { addr, source })?;
        if let Some(old) = self.sockets.insert(port, s) {
            let _ = epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, old.as_raw_fd(), port);
        }
        Ok(port)
    }

    fn close(&mut self, port: u16) {
        if let Some(s) = self.sockets.remove(&port) {
            let _ = epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, s.as_raw_fd(), port);
        }
    }

    async fn ready(&mut self) {
        if self.more || self.cursor < self.ready {
            // Work left from the last turn: take it after the loop's other
            // inputs and the reactor had their turn.
            tokio::task::yield_now().await;
            return;
        }
        match self.epoll.readable().await {
            Ok(mut g) => {
                g.clear_ready();
                self.more = true;
            }
            Err(e) => {
                warn!(error = %e, "media poller: media is not read any more");
                std::future::pending::<()>().await;
            }
        }
    }

    fn recv_batch(&mut self, batch: &mut MediaBatch) -> usize {
        batch.clear();
        while batch.len() < batch.capacity() {
            if self.cursor >= self.ready {
                if !self.more {
                    break;
                }
                self.poll_ready();
                if self.ready == 0 {
                    break;
                }
            }
            let port = self.events[self.cursor].u64 as u16;
            let Some(fd) = self.sockets.get(&port).map(AsRawFd::as_raw_fd) else {
                self.cursor += 1; // closed since
                continue;
            };
            match self.recv_socket(fd, port, batch) {
                Ok(true) => self.cursor += 1,
                Ok(false) => {}
                Err(e) => {
                    debug!(port, error = %e, "media receive");
                    self.counters.recv_errors += 1;
                    self.cursor += 1;
                }
            }
        }
        batch.len()
    }

    async fn send_batch(&mut self, batch: &MediaBatch) {
        let mut rest = batch.packets();
        while let Some(first) = rest.iter().position(|p| p.out.is_some()) {
            rest = &rest[first..];
            let Some((port, _, _)) = rest[0].outgoing() else { break };
            // The run of packets leaving from `port` (up to SEND_BURST).
            let run = rest
                .iter()
                .take(SEND_BURST)
                .take_while(|p| p.outgoing().is_none_or(|(from, _, _)| from == port))
                .count();
            if let Some(fd) = self.sockets.get(&port).map(AsRawFd::as_raw_fd) {
                self.send_run(fd, rest[..run].iter().filter_map(|p| p.outgoing().map(|(_, to, d)| (to, d))));
            }
            rest = &rest[run..];
        }
    }

    async fn send_to(&mut self, port: u16, data: &[u8], to: SocketAddr) {
        if let Some(s) = self.sockets.get(&port) {
            if let Err(e) = s.send_to(data, &SockAddr::from(to)) {
                debug!(port, %to, error = %e, "media send");
                self.counters.send_errors += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// N datagrams to several sockets, all received through the batch API
    /// (batches smaller than what is queued), answered in batches.
    #[tokio::test(flavor = "current_thread")]
    async fn batch_receive_and_reply_over_loopback() {
        let mut media = EpollMedia::new().expect("epoll");
        let mut ports = Vec::new();
        for _ in 0..4 {
            ports.push(media.open(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("open"));
        }
        let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
        peer.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        const PER_PORT: usize = 40;
        for i in 0..PER_PORT {
            for &p in &ports {
                let msg = format!("{p}:{i}");
                peer.send_to(msg.as_bytes(), ("127.0.0.1", p)).expect("send");
            }
        }
        // A batch smaller than one socket's queue and than a recvmmsg burst.
        let mut batch = MediaBatch::new(24);
        let mut seen: HashMap<u16, usize> = HashMap::new();
        let mut replies = 0;
        while seen.values().sum::<usize>() < PER_PORT * ports.len() {
            tokio::time::timeout(Duration::from_secs(2), media.ready()).await.expect("media ready");
            while media.recv_batch(&mut batch) > 0 {
                for p in batch.packets_mut() {
                    let text = std::str::from_utf8(p.data()).expect("utf8").to_owned();
                    let n = seen.entry(p.port).or_default();
                    assert_eq!(text, format!("{}:{}", p.port, n), "in order per socket");
                    *n += 1;
                    assert_eq!(p.from, peer.local_addr().expect("addr"));
                    // Answer from the next port: one sendmmsg run per source.
                    let reply = ports[(ports.iter().position(|&x| x == p.port).expect("port") + 1) % ports.len()];
                    p.buf[p.len..p.len + 3].copy_from_slice(b"+ok");
                    let fwd = crate::media::relay::Forward { from_port: reply, to: p.from };
                    p.out = Some((fwd, p.len + 3));
                    replies += 1;
                }
                media.send_batch(&batch).await;
            }
        }
        assert!(seen.values().all(|&n| n == PER_PORT), "{seen:?}");
        let mut got: HashMap<u16, usize> = HashMap::new();
        let mut buf = [0u8; 64];
        for _ in 0..replies {
            let (n, from) = peer.recv_from(&mut buf).expect("reply");
            assert!(buf[..n].ends_with(b"+ok"));
            *got.entry(from.port()).or_default() += 1;
        }
        assert_eq!(got.len(), ports.len());
        assert!(got.values().all(|&n| n == PER_PORT), "{got:?}");
        let c = media.counters();
        assert_eq!((c.received, c.sent), ((PER_PORT * ports.len()) as u64, replies as u64));
        assert_eq!(c.dropped_truncated + c.dropped_send_full + c.send_errors + c.recv_errors, 0);
        // Closed sockets are forgotten.
        for p in ports {
            media.close(p);
        }
        assert!(media.sockets.is_empty());
    }

    /// A datagram longer than MEDIA_PACKET_MAX is dropped, the next kept.
    #[tokio::test(flavor = "current_thread")]
    async fn oversized_datagram_dropped() {
        let mut media = EpollMedia::new().expect("epoll");
        let port = media.open(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("open");
        let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
        peer.send_to(&[7u8; MEDIA_PACKET_MAX + 1], ("127.0.0.1", port)).expect("send");
        peer.send_to(b"small", ("127.0.0.1", port)).expect("send");
        let mut batch = MediaBatch::new(8);
        tokio::time::timeout(Duration::from_secs(2), media.ready()).await.expect("ready");
        let mut got = Vec::new();
        for _ in 0..50 {
            media.recv_batch(&mut batch);
            got.extend(batch.packets().iter().map(|p| p.data().to_vec()));
            if !got.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            media.more = true;
        }
        assert_eq!(got, vec![b"small".to_vec()]);
        assert_eq!(media.counters().dropped_truncated, 1);
    }
}
