//! The production shell: the driver loop on real tokio sockets, OS
//! randomness for the seed, SIGTERM/SIGINT as the drain signal, call
//! events logged.
//!
//! Contract: [`run`] must be called inside a tokio `LocalSet` on a
//! current-thread runtime (as `gateway run` does); it returns when the
//! drain that follows a signal ends.
#![allow(clippy::disallowed_methods)] // the shell owns the clock and OS randomness

use tracing::info;

use super::driver::{self, DriverError, OverloadWarnings};
use super::net::TokioNet;
use crate::b2bua::Gateway;
use crate::config::Config;

/// What can stop the shell.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("cannot install the signal handler: {0}")]
    Signal(std::io::Error),
}

/// A seed from the OS (std's hasher keys come from OS randomness).
fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// Run the gateway until SIGTERM/SIGINT and the drain that follows.
pub async fn run(cfg: Config) -> Result<(), ShellError> {
    let seed = cfg.seed.unwrap_or_else(os_seed);
    let mut gw = Gateway::new(cfg.gateway.clone(), seed);
    // The driver's clock starts now: RTCP sender reports carry wall time.
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    gw.set_wall_clock(u64::try_from(wall).unwrap_or(0));
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(ShellError::Signal)?;
    let stop = async move {
        tokio::select! {
            _ = sigterm.recv() => info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT"),
        }
    };
    info!(listen = %cfg.listen, fqdn = %cfg.gateway.fqdn, seed, "gateway listening (udp, tcp)");
    driver::run(
        TokioNet { media_io: cfg.media_io },
        cfg.listen,
        cfg.media_bind,
        &mut gw,
        stop,
        cfg.drain_timeout,
        &mut OverloadWarnings::default(),
    )
    .await?;
    Ok(())
}
