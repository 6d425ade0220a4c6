//! `certify`: run every certification suite, show progress, write
//! `reports/certification.{md,html}` and `reports/junit.xml`, exit 1 on any
//! failure. Usage: `certify [--seed N] [--scenarios DIR] [--reports DIR]`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use sim::{conformance, report};

fn main() -> ExitCode {
    let mut seed: u64 = 1;
    let mut scenarios = PathBuf::from("scenarios");
    let mut reports = PathBuf::from("reports");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| match args.next() {
            Some(v) => Ok(v),
            None => Err(format!("{a} needs {what}")),
        };
        let r = match a.as_str() {
            "--seed" => value("a number").and_then(|v| {
                v.parse().map_err(|_| format!("--seed: '{v}' is not a non-negative integer")).map(|v| seed = v)
            }),
            "--scenarios" => value("a folder").map(|v| scenarios = v.into()),
            "--reports" => value("a folder").map(|v| reports = v.into()),
            "-h" | "--help" => {
                println!("usage: certify [--seed N] [--scenarios DIR] [--reports DIR]");
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unexpected argument '{other}'")),
        };
        if let Err(e) = r {
            eprintln!("certify: {e}");
            return ExitCode::from(2);
        }
    }
    let tables = match conformance_tables(&scenarios) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("certify: {e}");
            return ExitCode::from(2);
        }
    };
    let mut results = Vec::new();
    for table in tables {
        let suite = match conformance::load(&table) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("certify: {e}");
                return ExitCode::from(2);
            }
        };
        println!("suite conformance/{} ({} cases)", suite.name, suite.cases.len());
        let result = conformance::run(&suite, |c| {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            println!("  {mark} {}", c.name);
            if !c.passed {
                println!("       {}", c.detail);
            }
            let _ = std::io::stdout().flush();
        });
        results.push(result);
    }
    let total: usize = results.iter().map(|s| s.cases.len()).sum();
    let failed: usize = results.iter().map(report::SuiteResult::failures).sum();
    if let Err(e) = report::write_all(&reports, &results, seed) {
        eprintln!("certify: cannot write reports to {}: {e}", reports.display());
        return ExitCode::from(2);
    }
    println!("\n{} passed, {failed} failed (seed {seed}); reports in {}/", total - failed, reports.display());
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn conformance_tables(scenarios: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    let dir = scenarios.join("conformance");
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut tables: Vec<PathBuf> =
        rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    tables.sort();
    if tables.is_empty() {
        return Err(format!("no suite tables in {}", dir.display()));
    }
    Ok(tables)
}
