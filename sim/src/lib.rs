//! Bridgehead's simulator and certification runner.
//!
//! Today it runs the `conformance` suite (the RFC 4475 torture messages
//! judged by the gateway's receive path) and writes the certification
//! reports; the deterministic turmoil world and the call-flow suites build
//! on the same runner and report types (see ARCHITECTURE.md).

pub mod conformance;
pub mod report;
