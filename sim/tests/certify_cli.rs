//! The `certify` binary end to end: progress on stdout, the three reports
//! written, exit status 0 when everything passes and 1 when a case fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bridgehead-certify-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn writes_reports_and_passes() {
    let reports = tmpdir("ok");
    let out = Command::new(env!("CARGO_BIN_EXE_certify"))
        .args(["--seed", "42", "--scenarios"])
        .arg(scenarios())
        .arg("--reports")
        .arg(&reports)
        .output()
        .expect("certify runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "certify failed:\n{stdout}");
    assert!(stdout.contains("suite conformance/rfc4475 (49 cases)"));
    let junit = std::fs::read_to_string(reports.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("tests=\"49\" failures=\"0\""));
    let md = std::fs::read_to_string(reports.join("certification.md")).expect("certification.md");
    // Every suite passes; the conformance suite has its 49 cases (the
    // call-flow suites add theirs to the total).
    assert!(md.contains("Seed: `42`") && md.contains(" passed, 0 failed.**"), "{md}");
    assert!(md.contains("| conformance/rfc4475 | 49 | 0 |"), "{md}");
    assert!(reports.join("certification.html").is_file());
}

#[test]
fn a_wrong_expectation_fails_the_run() {
    let dir = tmpdir("bad");
    let conf = dir.join("scenarios/conformance");
    std::fs::create_dir_all(conf.join("t")).expect("dirs");
    std::fs::copy(scenarios().join("conformance/rfc4475/wsinv.dat"), conf.join("t/wsinv.dat")).expect("copy");
    std::fs::write(
        conf.join("t.toml"),
        "[[case]]\nfile = \"wsinv.dat\"\nsection = \"x\"\ntitle = \"wrong on purpose\"\nkind = \"request\"\nmethod = \"INVITE\"\nverdict = \"reject\"\nresponse = 400\nreason_header = \"\"\nwhy = \"\"\n",
    )
    .expect("table");
    let out = Command::new(env!("CARGO_BIN_EXE_certify"))
        .arg("--scenarios")
        .arg(dir.join("scenarios"))
        .arg("--reports")
        .arg(dir.join("reports"))
        .output()
        .expect("certify runs");
    assert_eq!(out.status.code(), Some(1));
    let junit = std::fs::read_to_string(dir.join("reports/junit.xml")).expect("junit.xml");
    assert!(junit.contains("failures=\"1\"") && junit.contains("expected response 400, got 0"));
}

#[test]
fn bad_arguments_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_certify")).args(["--seed", "x"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seed: 'x' is not a non-negative integer"));
}
