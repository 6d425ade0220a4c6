//! The in-memory world drives the sans-IO core directly; the turmoil
//! world runs the production driver loop on simulated sockets. For every
//! `basic-calls` scenario without random loss, both must put the same
//! messages, in the same order, on each directed link at the gateway's
//! boundary, and the gateway must report the same call events. Times and
//! the interleaving across links may differ: the in-memory world stamps a
//! message when it is sent, the driver's tap when the gateway reads it.

use std::path::Path;

use sim::scenario::{self, Scenario};

use std::collections::BTreeMap;

/// The transcript's lines without the time column, per directed link
/// (`operator -> gw`, ...), gateway events and steps under their own keys.
fn per_link(transcript: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in transcript.lines().map(str::trim_start).filter(|l| !l.is_empty()) {
        let rest = line.split_once("  ").map_or(line, |(_, rest)| rest).trim();
        let key = match rest.split_once("  ") {
            Some((link, _)) if link.contains("->") => link.split_whitespace().collect::<Vec<_>>().join(" "),
            _ if rest.starts_with("gw:") => "events".to_owned(),
            _ => "steps".to_owned(),
        };
        out.entry(key).or_default().push(rest.to_owned());
    }
    out
}

#[test]
fn memory_and_network_harnesses_agree() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/basic-calls");
    let mut compared = 0;
    let mut differ = Vec::new();
    for f in sim::scenario_files(&suite).expect("suite folder") {
        let mut sc = Scenario::load(&f).expect("scenario loads");
        if sc.network.loss > 0.0 {
            continue;
        }
        let memory = scenario::run("memory", &sc, 7);
        sc.harness = "network".into();
        let network = scenario::run("network", &sc, 7);
        assert!(network.problems.is_empty(), "{}: {:?}\n{}", f.display(), network.problems, network.outcome.transcript);
        let (m, n) = (per_link(&memory.outcome.transcript), per_link(&network.outcome.transcript));
        if m != n {
            differ.push(format!(
                "{}:\n--- memory\n{}\n--- network\n{}",
                f.display(),
                memory.outcome.transcript,
                network.outcome.transcript
            ));
        }
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} scenarios compared");
    assert!(differ.is_empty(), "{} scenarios differ:\n{}", differ.len(), differ.join("\n\n"));
}
