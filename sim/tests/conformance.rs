//! The RFC 4475 conformance table, as a test: every torture message gets
//! the verdict and the response the table (and RFC 4475) requires.

use std::path::Path;

use sim::conformance;

#[test]
fn rfc4475_table_passes() {
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance/rfc4475.toml");
    let suite = conformance::load(&table).expect("table loads");
    assert_eq!(suite.cases.len(), 49, "every RFC 4475 message is in the table");
    let result = conformance::run(&suite, |_| {});
    let failures: Vec<String> =
        result.cases.iter().filter(|c| !c.passed).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    assert!(failures.is_empty(), "conformance failures:\n{}", failures.join("\n"));
}

#[test]
fn report_is_deterministic() {
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/conformance/rfc4475.toml");
    let suite = conformance::load(&table).expect("table loads");
    let a = sim::report::markdown(&[conformance::run(&suite, |_| {})], 7);
    let b = sim::report::markdown(&[conformance::run(&suite, |_| {})], 7);
    assert_eq!(a, b);
}
