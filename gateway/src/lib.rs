//! Bridgehead: an open SIP/RTP gateway between a telecom operator's network
//! and Microsoft Teams Phone System.
//!
//! The crate is a sans-IO core (protocol logic fed with bytes, time and a
//! seeded RNG) plus thin I/O shells; see ARCHITECTURE.md at the repository
//! root for the layers and who may call whom.

pub mod b2bua;
pub mod config;
pub mod io;
pub mod media;
pub mod rng;
pub mod routing;
pub mod sip;
pub mod time;
