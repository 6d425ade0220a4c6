//! Bridgehead's simulator and certification runner.
//!
//! Today it runs the `conformance` suite (the RFC 4475 torture messages
//! judged by the gateway's receive path) and writes the certification
//! reports; the deterministic turmoil world and the call-flow suites build
//! on the same runner and report types (see ARCHITECTURE.md).

pub mod audio;
pub mod conformance;
pub mod libsrtp;
pub mod net_world;
pub mod pcap;
pub mod peer;
pub mod record;
pub mod report;
pub mod scenario;
pub mod spandsp;
pub mod voice;
pub mod world;

use std::path::{Path, PathBuf};

/// Call-flow suite folders under `scenarios/` (every folder but `conformance`), sorted.
pub fn suite_dirs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "conformance"))
        .collect();
    v.sort();
    Ok(v)
}

/// Scenario files (`*.toml`) of a suite folder, sorted.
pub fn scenario_files(suite: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(suite)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}
