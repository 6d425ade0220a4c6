//! io_uring submission for the media sockets (`[media] io = "uring"`):
//! the receives of a turn (one `RECVMSG` per ready socket) and the sends
//! of a batch (every socket: `SEND` on a connected socket, `SENDMSG` with
//! the destination otherwise) each go to the kernel in one
//! `io_uring_enter`, instead of one `recvmmsg`/`sendmmsg` per socket.
//! The io_uring `unsafe` lives here, each block with its SAFETY argument.
//!
//! Contract: every call is synchronous. Each request is non-blocking
//! (`MSG_DONTWAIT`: the kernel completes it inline, `-EAGAIN` when the
//! socket has nothing or its send buffer is full, never parked for
//! later), and [`Ring::recv`] / [`Ring::send`] return only once the
//! completion of every request they submitted has been reaped. So the
//! buffers, iovecs, headers and addresses a request points at are borrowed
//! for the call and outlive the kernel's use of them; nothing stays in
//! flight between calls, and nothing is allocated per packet (the scratch
//! arrays are allocated once, [`SLOTS`] entries).
//!
//! Readiness still comes from the epoll instance of `io::epoll`: the ring
//! only replaces the per-socket system calls.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use io_uring::{opcode, types, IoUring, Probe};
use socket2::SockAddr;

use super::epoll::decode_addr;
use super::media::{MediaPacket, MEDIA_PACKET_MAX};

/// Requests in one submission at most (the submission queue's size).
pub const SLOTS: usize = 128;

/// What one receive request gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A datagram of `len` bytes from `from` (`None`: not IPv4/IPv6);
    /// `truncated`: longer than the buffer.
    Packet { len: usize, from: Option<SocketAddr>, truncated: bool },
    /// Nothing queued.
    Empty,
    /// The receive failed (`errno`).
    Failed(i32),
}

/// What the sends of one call came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOutcome {
    pub sent: u64,
    /// The socket's send buffer was full.
    pub would_block: u64,
    pub failed: u64,
}

/// One io_uring instance with its scratch, allocated once.
pub struct Ring {
    ring: IoUring,
    hdrs: Vec<libc::msghdr>,
    iovs: Vec<libc::iovec>,
    recv_names: Vec<libc::sockaddr_storage>,
    send_names: Vec<SockAddr>,
    received: Vec<Received>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("slots", &SLOTS).finish()
    }
}

fn zeroed_hdr() -> libc::msghdr {
    // SAFETY: msghdr is a C struct of integers and raw pointers (and
    // private padding on some targets): all zeroes is a valid value.
    unsafe { mem::zeroed() }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: as above, a plain C struct; zeroes = family AF_UNSPEC.
    unsafe { mem::zeroed() }
}

impl Ring {
    /// A ring, if this kernel (and its sandbox: containers often forbid
    /// `io_uring_setup`) gives one that knows the three operations.
    pub fn new() -> io::Result<Self> {
        // SUBMIT_ALL: a request the kernel refuses at submission is
        // completed with its error and the next ones still go, so a
        // submission never leaves requests behind in the queue.
        let ring = IoUring::builder().setup_submit_all().setup_coop_taskrun().build(SLOTS as u32)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for code in [opcode::RecvMsg::CODE, opcode::SendMsg::CODE, opcode::Send::CODE] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(io::ErrorKind::Unsupported, format!("io_uring operation {code}")));
            }
        }
        Ok(Ring {
            ring,
            hdrs: vec![zeroed_hdr(); SLOTS],
            iovs: vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; SLOTS],
            recv_names: vec![zeroed_storage(); SLOTS],
            send_names: vec![SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0))); SLOTS],
            received: vec![Received::Empty; SLOTS],
        })
    }

    /// Submit the `n` requests queued and reap their `n` completions,
    /// handing each (its `user_data`, its result) to `done`.
    fn run(&mut self, n: usize, mut done: impl FnMut(usize, i32)) {
        let mut reaped = 0;
        while reaped < n {
            // Submits what is queued (nothing once it went) and waits for
            // the completions still missing; all were completed inline,
            // so this does not sleep.
            if let Err(e) = self.ring.submit_and_wait(n - reaped) {
                match e.raw_os_error() {
                    Some(libc::EINTR | libc::EAGAIN | libc::EBUSY) => {}
                    _ => {
                        // Requests are (or may be) in flight over buffers the
                        // caller gets back on return: returning now could let
                        // the kernel write into memory reused since. Cannot
                        // happen for inline non-blocking socket requests.
                        tracing::error!(error = %e, "io_uring_enter on the media sockets");
                        std::process::abort();
                    }
                }
            }
            for cqe in self.ring.completion() {
                done(cqe.user_data() as usize, cqe.result());
                reaped += 1;
            }
        }
    }

    /// One receive per `fds[i]` into `bufs[i]` (at most [`SLOTS`], and no
    /// more than `bufs`), in one submission; what each gave, in order.
    pub fn recv(&mut self, fds: &[RawFd], bufs: &mut [MediaPacket]) -> &[Received] {
        let n = fds.len().min(bufs.len()).min(SLOTS);
        {
            let mut sq = self.ring.submission();
            for (i, (&fd, p)) in fds.iter().zip(bufs.iter_mut()).take(n).enumerate() {
                self.iovs[i] =
                    libc::iovec { iov_base: p.buf.as_mut_ptr().cast(), iov_len: p.buf.len().min(MEDIA_PACKET_MAX) };
                let h = &mut self.hdrs[i];
                *h = zeroed_hdr();
                h.msg_name = (&mut self.recv_names[i] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &mut self.iovs[i];
                h.msg_iovlen = 1;
                let e =
                    opcode::RecvMsg::new(types::Fd(fd), h).flags(libc::MSG_DONTWAIT as u32).build().user_data(i as u64);
                // SAFETY: the entry points at header i, its iovec over the
                // distinct buffer `bufs[i]` (at most its length) and its
                // sockaddr_storage of the size given, all borrowed (`&mut
                // self`, `bufs`) until `run` below has reaped every
                // completion. `fd` is open (owned by the caller's sockets
                // for the call). The queue has room: SLOTS entries, n <= SLOTS,
                // and it is empty between calls.
                if unsafe { sq.push(&e) }.is_err() {
                    unreachable!("the submission queue holds SLOTS entries");
                }
            }
        }
        let mut results = [0i32; SLOTS];
        self.run(n, |i, r| {
            if let Some(slot) = results.get_mut(i) {
                *slot = r;
            }
        });
        for (i, &r) in results.iter().enumerate().take(n) {
            let h = &self.hdrs[i];
            self.received[i] = match r {
                0.. => Received::Packet {
                    len: r as usize,
                    from: decode_addr(&self.recv_names[i], h.msg_namelen),
                    truncated: h.msg_flags & libc::MSG_TRUNC != 0,
                },
                _ if -r == libc::EAGAIN => Received::Empty,
                _ => Received::Failed(-r),
            };
        }
        &self.received[..n]
    }

    /// Send each `(fd, destination, bytes)`: `None` for a connected socket
    /// (its peer), in submissions of up to [`SLOTS`].
    pub fn send<'a>(&mut self, items: impl Iterator<Item = (RawFd, Option<SocketAddr>, &'a [u8])>) -> SendOutcome {
        let mut out = SendOutcome::default();
        let mut items = items.peekable();
        while items.peek().is_some() {
            let mut n = 0;
            {
                let mut sq = self.ring.submission();
                for (fd, to, data) in items.by_ref().take(SLOTS) {
                    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    let e = match to {
                        None => opcode::Send::new(types::Fd(fd), data.as_ptr(), len).flags(libc::MSG_DONTWAIT).build(),
                        Some(to) => {
                            // SENDMSG, not SEND with an address (6.0+ only).
                            self.send_names[n] = SockAddr::from(to);
                            self.iovs[n] =
                                libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() };
                            let h = &mut self.hdrs[n];
                            *h = zeroed_hdr();
                            h.msg_name = self.send_names[n].as_ptr().cast_mut().cast();
                            h.msg_namelen = self.send_names[n].len();
                            h.msg_iov = &mut self.iovs[n];
                            h.msg_iovlen = 1;
                            opcode::SendMsg::new(types::Fd(fd), h).flags(libc::MSG_DONTWAIT as u32).build()
                        }
                    };
                    let e = e.user_data(n as u64);
                    // SAFETY: the entry points at `data` (the kernel only
                    // reads it), borrowed by the iterator for 'a, which
                    // outlives this call, and (SENDMSG) at header n, its
                    // iovec and `send_names[n]` (borrowed through `&mut
                    // self`); `run` below reaps every
                    // completion before either can change. `fd` is open
                    // (owned by the caller's sockets). At most SLOTS
                    // entries into an empty queue of SLOTS.
                    if unsafe { sq.push(&e) }.is_err() {
                        unreachable!("the submission queue holds SLOTS entries");
                    }
                    n += 1;
                }
            }
            self.run(n, |_, r| {
                if r >= 0 {
                    out.sent += 1;
                } else if -r == libc::EAGAIN {
                    out.would_block += 1;
                } else {
                    out.failed += 1;
                }
            });
        }
        out
    }
}
