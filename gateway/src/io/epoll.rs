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
//! consecutive packets leaving from the same socket with one `sendmmsg`.
//!
//! Connected sends (`[media] connect`, [`CONNECT_AFTER`]): a port that
//! keeps sending to one destination gets a twin socket on the same port
//! (`SO_REUSEPORT`), connected to it, and those packets leave through the
//! twin naming no address (the kernel reuses the route cached in the
//! socket). The kernel gives the twin only its peer's datagrams and the
//! unconnected socket everything else; both are watched (the twin's event
//! carries `CONNECTED_TAG`), so a new source still reaches the relay.
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
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tracing::{debug, warn};

use super::media::{MediaBatch, MediaError, MediaIo, MediaPacket, MediaSockets, MEDIA_PACKET_MAX};

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
/// With `[media] connect`: packets in a row from one port to one
/// destination before that port's send socket is connected to it.
pub const CONNECT_AFTER: u32 = 8;
/// Marks, in an epoll event's `u64`, the connected socket of a port.
const CONNECTED_TAG: u64 = 1 << 16;

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
    /// Send sockets connected (or connected anew) to a destination.
    pub connects: u64,
}

/// The sockets of one port: `sock` receives from anyone (and sends to
/// any destination with its address); with `[media] connect`, `conn`
/// (same port, `SO_REUSEPORT`) is connected to the destination the port
/// keeps sending to, so a send names no address and the kernel reuses
/// the cached route. The kernel gives a connected socket only its peer's
/// datagrams (the rest still reach `sock`): both are read, so a new
/// source is seen as before (re-latching, forks, RTCP from elsewhere).
struct PortSockets {
    sock: Socket,
    conn: Option<Socket>,
    /// What `conn` is connected to.
    peer: Option<SocketAddr>,
    /// The last destination other than `peer`, and how many packets in a
    /// row went to it.
    candidate: Option<SocketAddr>,
    hits: u32,
    /// Connecting failed once: this port sends unconnected.
    no_connect: bool,
}

impl PortSockets {
    fn fd(&self, tag: u64) -> Option<RawFd> {
        if tag & CONNECTED_TAG == 0 {
            Some(self.sock.as_raw_fd())
        } else {
            self.conn.as_ref().map(AsRawFd::as_raw_fd)
        }
    }
}

/// Hashes a port in one multiplication (Fibonacci hashing: the high bits,
/// which the map's probing uses, depend on every bit of the port); the
/// default SipHash showed in the per-packet profile.
#[derive(Debug, Default, Clone, Copy)]
struct PortHasher(u64);

impl Hasher for PortHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u16(u16::from(b) ^ (self.0 as u16).rotate_left(8));
        }
    }
    fn write_u16(&mut self, n: u16) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A non-blocking UDP socket on `addr` (`SO_REUSEPORT` first when `reuse`,
/// for a connected twin), with the media receive buffer.
fn media_socket(addr: SocketAddr, reuse: bool) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(MEDIA_RECV_BUFFER) {
        debug!(%addr, error = %e, "media socket receive buffer");
    }
    s.set_nonblocking(true)?;
    if reuse {
        s.set_reuse_port(true)?;
    }
    s.bind(&addr.into())?;
    Ok(s)
}

/// The production [`MediaSockets`]: epoll + `recvmmsg`/`sendmmsg`.
pub struct EpollMedia {
    epoll: AsyncFd<OwnedFd>,
    sockets: HashMap<u16, PortSockets, BuildHasherDefault<PortHasher>>,
    /// Connect send sockets to repeated destinations (`[media] connect`).
    connect: bool,
    /// Connected twins open, and the open-file limit they may not take
    /// more than half of (with the media sockets): the rest stays for new
    /// calls' ports and connections.
    twins: usize,
    fd_limit: usize,
    /// Per packet of the batch being sent: the socket and the destination
    /// to name (`None`: connected), if it goes.
    routes: Vec<Option<(RawFd, Option<SocketAddr>)>>,
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
    send_names: Vec<Option<SockAddr>>,
    send_iov: Vec<libc::iovec>,
    send_hdrs: Vec<libc::mmsghdr>,
    counters: EpollCounters,
}

impl std::fmt::Debug for EpollMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollMedia")
            .field("sockets", &self.sockets.len())
            .field("connect", &self.connect)
            .field("counters", &self.counters)
            .finish()
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
pub(super) fn decode_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
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

fn epoll_ctl(epoll: RawFd, op: libc::c_int, fd: RawFd, tag: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: tag };
    // SAFETY: both descriptors are open (owned by the caller), `ev` lives
    // across the call (the kernel copies it; DEL ignores it).
    let r = unsafe { libc::epoll_ctl(epoll, op, fd, &mut ev) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl EpollMedia {
    /// A new, empty set with recvmmsg/sendmmsg, unconnected. Must be
    /// called inside a tokio runtime with I/O.
    pub fn new() -> Result<Self, MediaError> {
        Self::with_io(MediaIo::default())
    }

    /// A new, empty set as `io` says.
    pub fn with_io(io: MediaIo) -> Result<Self, MediaError> {
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
            sockets: HashMap::default(),
            connect: io.connect,
            twins: 0,
            fd_limit: open_file_limit(),
            routes: Vec::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
            ready: 0,
            cursor: 0,
            more: true,
            recv_names: vec![empty_storage(); RECV_BURST],
            recv_iov: vec![empty_iov(); RECV_BURST],
            recv_hdrs: vec![empty_hdr(); RECV_BURST],
            send_names: vec![None; SEND_BURST],
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

    /// Where a packet from our `port` to `to` goes out: the socket and the
    /// address to name (`None`: the socket is connected to `to`). With
    /// `connect`, a destination that repeats [`CONNECT_AFTER`] times in a
    /// row gets the port's connected socket.
    fn route(&mut self, port: u16, to: SocketAddr) -> Option<(RawFd, Option<SocketAddr>)> {
        let fds_in_use = self.sockets.len() + self.twins;
        let s = self.sockets.get_mut(&port)?;
        if s.peer == Some(to) {
            if let Some(c) = &s.conn {
                return Some((c.as_raw_fd(), None));
            }
        }
        if self.connect && !s.no_connect {
            if s.candidate == Some(to) {
                s.hits = s.hits.saturating_add(1);
            } else {
                (s.candidate, s.hits) = (Some(to), 1);
            }
            // A new twin only while the media sockets and twins hold less
            // than half the open-file limit; later, when calls ended.
            let room = s.conn.is_some() || fds_in_use * 2 < self.fd_limit;
            if s.hits >= CONNECT_AFTER && room {
                (s.candidate, s.hits) = (None, 0);
                let had_twin = s.conn.is_some();
                let connected = connect_port(self.epoll.as_raw_fd(), port, s, to);
                self.twins += usize::from(!had_twin && s.conn.is_some());
                match connected {
                    Ok(fd) => {
                        self.counters.connects += 1;
                        return Some((fd, None));
                    }
                    Err(e) => {
                        debug!(port, %to, error = %e, "media send socket not connected: sends name the address");
                        s.no_connect = true;
                    }
                }
            }
        }
        Some((s.sock.as_raw_fd(), Some(to)))
    }

    /// One `sendmmsg` run: `packets` all leave from `fd` (to the address
    /// given, or its peer).
    fn send_run<'a>(&mut self, fd: RawFd, packets: impl Iterator<Item = (Option<SocketAddr>, &'a [u8])>) {
        let mut n = 0;
        for (to, data) in packets.take(SEND_BURST) {
            self.send_names[n] = to.map(SockAddr::from);
            self.send_iov[n] = libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() };
            let h = &mut self.send_hdrs[n];
            *h = empty_hdr();
            if let Some(name) = &self.send_names[n] {
                h.msg_hdr.msg_name = name.as_ptr().cast_mut().cast();
                h.msg_hdr.msg_namelen = name.len();
            }
            h.msg_hdr.msg_iov = &mut self.send_iov[n];
            h.msg_hdr.msg_iovlen = 1;
            n += 1;
        }
        let mut done = 0;
        while done < n {
            // SAFETY: headers done..n point at live iovecs over packet bytes
            // borrowed for this call (the kernel only reads them) and at
            // live socket addresses of the length given (or none: a
            // connected socket); `fd` is open.
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

/// Connect `s`'s send socket (made on first use: same port,
/// `SO_REUSEPORT`, watched by `epoll` with [`CONNECTED_TAG`]) to `to`; its
/// descriptor.
fn connect_port(epoll: RawFd, port: u16, s: &mut PortSockets, to: SocketAddr) -> io::Result<RawFd> {
    if s.conn.is_none() {
        let local = s.sock.local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))?;
        let c = media_socket(local, true)?;
        epoll_ctl(epoll, libc::EPOLL_CTL_ADD, c.as_raw_fd(), u64::from(port) | CONNECTED_TAG)?;
        s.conn = Some(c);
    }
    let c = s.conn.as_ref().ok_or_else(|| io::Error::other("no send socket"))?;
    s.peer = None;
    c.connect(&to.into())?;
    s.peer = Some(to);
    Ok(c.as_raw_fd())
}

impl MediaSockets for EpollMedia {
    async fn open(&mut self, addr: SocketAddr) -> Result<u16, MediaError> {
        let bind = |source| MediaError::Bind { addr, source };
        // SO_REUSEPORT only where a connected twin will share the port.
        let s = media_socket(addr, self.connect).map_err(bind)?;
        let port = s.local_addr().map_err(bind)?.as_socket().map_or(addr.port(), |a| a.port());
        epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, s.as_raw_fd(), u64::from(port))
            .map_err(|source| MediaError::Watch { addr, source })?;
        let new = PortSockets { sock: s, conn: None, peer: None, candidate: None, hits: 0, no_connect: false };
        if let Some(old) = self.sockets.insert(port, new) {
            self.unwatch(old);
        }
        Ok(port)
    }

    fn close(&mut self, port: u16) {
        if let Some(s) = self.sockets.remove(&port) {
            self.unwatch(s);
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
            let tag = self.events[self.cursor].u64;
            let port = tag as u16;
            let Some(fd) = self.sockets.get(&port).and_then(|s| s.fd(tag)) else {
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
        let mut routes = mem::take(&mut self.routes);
        routes.clear();
        for p in batch.packets() {
            routes.push(p.outgoing().and_then(|(port, to, _)| self.route(port, to)));
        }
        let outgoing = batch
            .packets()
            .iter()
            .zip(&routes)
            .filter_map(|(p, r)| Some((r.as_ref()?, p.outgoing()?.2)))
            .map(|(&(fd, to), data)| (fd, to, data));
        // One sendmmsg per run of packets leaving from one socket.
        let mut rest = outgoing.peekable();
        while let Some(&(fd, _, _)) = rest.peek() {
            let run = std::iter::from_fn(|| rest.next_if(|&(f, _, _)| f == fd)).map(|(_, to, d)| (to, d));
            self.send_run(fd, run);
        }
        self.routes = routes;
    }

    async fn send_to(&mut self, port: u16, data: &[u8], to: SocketAddr) {
        if let Some(s) = self.sockets.get(&port) {
            if let Err(e) = s.sock.send_to(data, &SockAddr::from(to)) {
                debug!(port, %to, error = %e, "media send");
                self.counters.send_errors += 1;
            }
        }
    }
}

impl EpollMedia {
    fn unwatch(&mut self, s: PortSockets) {
        let epoll = self.epoll.as_raw_fd();
        let _ = epoll_ctl(epoll, libc::EPOLL_CTL_DEL, s.sock.as_raw_fd(), 0);
        if let Some(c) = &s.conn {
            let _ = epoll_ctl(epoll, libc::EPOLL_CTL_DEL, c.as_raw_fd(), 0);
            self.twins -= 1;
        }
    }
}

/// The process's soft open-file limit (`RLIMIT_NOFILE`; 1,024 if unknown).
fn open_file_limit() -> usize {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into `l`, which lives across the
    // call.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
    if r < 0 {
        return 1024;
    }
    usize::try_from(l.rlim_cur).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// Every way the production sockets can reach the kernel.
    const MODES: [MediaIo; 2] = [MediaIo { connect: false }, MediaIo { connect: true }];

    fn media(io: MediaIo) -> EpollMedia {
        EpollMedia::with_io(io).expect("epoll")
    }

    /// Each test runs its body in every mode.
    macro_rules! in_every_mode {
        ($($test:ident => $body:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "current_thread")]
            async fn $test() {
                for io in MODES {
                    $body(io).await;
                }
            }
        )*};
    }

    in_every_mode! {
        batch_receive_and_reply_over_loopback => batch_receive_and_reply,
        oversized_datagram_dropped => oversized_dropped,
        connected_sockets_follow_destination_changes => destination_changes,
    }

    /// N datagrams to several sockets, all received through the batch API
    /// (batches smaller than what is queued), answered in batches.
    async fn batch_receive_and_reply(io: MediaIo) {
        let mut media = media(io);
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
        assert_eq!(got.len(), ports.len(), "{io:?}");
        assert!(got.values().all(|&n| n == PER_PORT), "{io:?}: {got:?}");
        let c = media.counters();
        assert_eq!((c.received, c.sent), ((PER_PORT * ports.len()) as u64, replies as u64), "{io:?}");
        assert_eq!(c.dropped_truncated + c.dropped_send_full + c.send_errors + c.recv_errors, 0, "{io:?}");
        // Each port kept answering the one peer: connected once, if asked.
        assert_eq!(c.connects, if io.connect { ports.len() as u64 } else { 0 }, "{io:?}");
        // Closed sockets are forgotten.
        for p in ports {
            media.close(p);
        }
        assert!(media.sockets.is_empty());
    }

    /// A datagram longer than MEDIA_PACKET_MAX is dropped, the next kept.
    async fn oversized_dropped(io: MediaIo) {
        let mut media = media(io);
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
        assert_eq!(got, vec![b"small".to_vec()], "{io:?}");
        assert_eq!(media.counters().dropped_truncated, 1, "{io:?}");
    }

    /// Send `n` packets from our `port` to `to` through `send_batch`.
    async fn send_from(media: &mut EpollMedia, port: u16, to: SocketAddr, n: usize, tag: &str) {
        let mut batch = MediaBatch::new(n);
        for i in 0..n {
            assert!(batch.push(port, to, format!("{tag}{i}").as_bytes()));
        }
        for p in batch.packets_mut() {
            p.out = Some((crate::media::relay::Forward { from_port: port, to }, p.len));
        }
        media.send_batch(&batch).await;
    }

    /// Receive through `media` until `n` packets came; their senders.
    async fn receive(media: &mut EpollMedia, n: usize) -> Vec<(u16, SocketAddr, Vec<u8>)> {
        let mut batch = MediaBatch::new(8);
        let mut got = Vec::new();
        while got.len() < n {
            tokio::time::timeout(Duration::from_secs(2), media.ready()).await.expect("media ready");
            while media.recv_batch(&mut batch) > 0 {
                got.extend(batch.packets().iter().map(|p| (p.port, p.from, p.data().to_vec())));
            }
        }
        got
    }

    fn peer() -> UdpSocket {
        let p = UdpSocket::bind("127.0.0.1:0").expect("peer");
        p.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        p
    }

    /// Twins take at most half the open-file limit with the media sockets;
    /// a port without one still sends, naming the address.
    #[tokio::test(flavor = "current_thread")]
    async fn twins_stay_within_half_the_open_file_limit() {
        let mut media = media(MediaIo { connect: true });
        media.fd_limit = 6;
        let ports = [
            media.open(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("open"),
            media.open(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("open"),
        ];
        let a = peer();
        let a_at = a.local_addr().expect("a");
        let n = 2 * CONNECT_AFTER as usize;
        for &port in &ports {
            send_from(&mut media, port, a_at, n, "rtp").await;
            expect_at(&a, port, n, "rtp");
        }
        // 2 sockets + 1 twin = 3 = half of 6: the second port got none.
        assert_eq!((media.counters().connects, media.twins), (1, 1));
        media.close(ports[0]);
        assert_eq!(media.twins, 0);
        send_from(&mut media, ports[1], a_at, n, "rtp").await;
        expect_at(&a, ports[1], n, "rtp");
        assert_eq!((media.counters().connects, media.twins), (2, 1));
        assert_eq!(media.counters().send_errors, 0);
    }

    /// `n` datagrams at `peer`, all from our `port`, in order.
    fn expect_at(peer: &UdpSocket, port: u16, n: usize, tag: &str) {
        let mut buf = [0u8; 64];
        for i in 0..n {
            let (len, from) = peer.recv_from(&mut buf).expect("relayed");
            assert_eq!((from.port(), &buf[..len]), (port, format!("{tag}{i}").as_bytes()));
        }
    }

    /// A port sends to A (connected after CONNECT_AFTER packets), then to
    /// B (connected anew); packets from A, B and a third source reach it
    /// all along, whichever socket the kernel gives them to.
    async fn destination_changes(io: MediaIo) {
        let mut media = media(io);
        let ports = [
            media.open(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("open"),
            media.open(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("open"),
        ];
        let (a, b, c) = (peer(), peer(), peer());
        let (a_at, b_at) = (a.local_addr().expect("a"), b.local_addr().expect("b"));
        let n = 3 * CONNECT_AFTER as usize;
        for (round, (to, to_at)) in [(&a, a_at), (&b, b_at), (&a, a_at)].into_iter().enumerate() {
            for &port in &ports {
                send_from(&mut media, port, to_at, n, "rtp").await;
                expect_at(to, port, n, "rtp");
            }
            let connects = if io.connect { (round as u64 + 1) * ports.len() as u64 } else { 0 };
            assert_eq!(media.counters().connects, connects, "{io:?} round {round}");
            // Every source reaches every port: the connected peer, the
            // one it was connected to before, one never sent to.
            for src in [&a, &b, &c] {
                for &port in &ports {
                    src.send_to(b"in", ("127.0.0.1", port)).expect("send");
                }
            }
            let mut got = receive(&mut media, 3 * ports.len()).await;
            got.sort();
            let mut want: Vec<_> = ports
                .iter()
                .flat_map(|&p| [&a, &b, &c].map(|s| (p, s.local_addr().expect("addr"), b"in".to_vec())))
                .collect();
            want.sort();
            assert_eq!(got, want, "{io:?} round {round}");
        }
        // An injected packet to another address goes too (unconnected).
        media.send_to(ports[0], b"x0", c.local_addr().expect("c")).await;
        expect_at(&c, ports[0], 1, "x");
        let k = media.counters();
        assert_eq!((k.send_errors, k.recv_errors, k.dropped_send_full), (0, 0, 0), "{io:?}");
        for p in ports {
            media.close(p);
        }
        assert!(media.sockets.is_empty());
    }
}
