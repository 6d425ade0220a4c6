//! I/O shells: the only code that touches sockets, clocks and OS
//! randomness. They feed the sans-IO [`crate::b2bua::Gateway`] and carry
//! out what it asks for.
//!
//! - [`net`]: the small network trait, and real tokio sockets;
//! - [`media`]: the media-socket layer (batches of packets relayed in
//!   place) and [`epoll`], its production implementation (epoll,
//!   `recvmmsg`/`sendmmsg`; the shell's only `unsafe`);
//! - [`driver`]: the one loop, generic over the network;
//! - [`tokio_shell`]: production (signals, OS seed, logs);
//! - `turmoil_net` (`sim` feature): simulated sockets for the simulator.

pub mod driver;
pub mod epoll;
pub mod media;
pub mod net;
pub mod tokio_shell;
#[cfg(feature = "sim")]
pub mod turmoil_net;
