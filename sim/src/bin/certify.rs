//! `certify`: run every certification suite, show progress, write
//! `reports/certification.{md,html}` and `reports/junit.xml`, exit 1 on any
//! failure. Usage: `certify [--seed N] [--scenarios DIR] [--reports DIR]`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use sim::scenario::{self, Scenario};
use sim::{conformance, report};

/// Post-dial delay (operator INVITE to first 18x), bucketed.
fn pdd_histogram(pdd: &[u64]) -> String {
    let bounds = [50u64, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000];
    let mut counts = vec![0usize; bounds.len() + 1];
    for &d in pdd {
        let i = bounds.iter().position(|&b| d <= b).unwrap_or(bounds.len());
        counts[i] += 1;
    }
    let mut sorted = pdd.to_vec();
    sorted.sort_unstable();
    let pct = |p: usize| sorted[(sorted.len() * p / 100).min(sorted.len() - 1)];
    let mut out = format!(
        "\n## Post-dial delay (operator INVITE to first 18x, simulated)\n\n{} calls; p50 {} ms, p90 {} ms, max {} ms\n\n| up to | calls |\n|---|---|\n",
        pdd.len(),
        pct(50),
        pct(90),
        sorted[sorted.len() - 1]
    );
    for (i, c) in counts.iter().enumerate() {
        let label = bounds.get(i).map_or_else(|| "more".to_owned(), |b| format!("{b} ms"));
        out.push_str(&format!("| {label} | {} {} |\n", c, "#".repeat(*c)));
    }
    out
}

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
    let mut extra = String::new();
    let mut pdd: Vec<u64> = Vec::new();
    let suite_dirs = match sim::suite_dirs(&scenarios) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("certify: cannot read {}: {e}", scenarios.display());
            return ExitCode::from(2);
        }
    };
    for dir in suite_dirs {
        let suite = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let files = match sim::scenario_files(&dir) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("certify: cannot read {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        };
        println!("suite {suite} ({} scenarios)", files.len());
        let mut cases = Vec::new();
        for f in files {
            let name = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let sc = match Scenario::load(&f) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("certify: {e}");
                    return ExitCode::from(2);
                }
            };
            let run = scenario::run(&name, &sc, seed);
            let pdds = run.outcome.facts.get("operator.pdd_ms").cloned().unwrap_or_default();
            pdd.extend(pdds.iter().map(|&d| d.max(0) as u64));
            let case = if run.problems.is_empty() {
                report::CaseResult::pass(
                    format!("{name}: {}", run.title),
                    format!("passed; {} datagrams, ended at {}", run.outcome.captured.len(), run.outcome.ended_at),
                )
            } else {
                report::CaseResult::fail(format!("{name}: {}", run.title), run.problems.join("; "))
            };
            println!("  {} {name}", if case.passed { "ok  " } else { "FAIL" });
            if !case.passed {
                println!("       {}", case.detail);
            }
            let pcap_dir = reports.join("pcaps").join(&suite);
            if let Err(e) = std::fs::create_dir_all(&pcap_dir).and_then(|()| {
                std::fs::write(pcap_dir.join(format!("{name}.pcap")), sim::pcap::write(&run.outcome.captured))
            }) {
                eprintln!("certify: cannot write the capture of {name}: {e}");
                return ExitCode::from(2);
            }
            extra
                .push_str(&format!("\n### {suite}/{name}\n\n{}\n\n```mermaid\n{}```\n", run.title, run.outcome.ladder));
            cases.push(case);
        }
        results.push(report::SuiteResult { name: suite, cases });
    }
    if !pdd.is_empty() {
        extra.insert_str(0, &pdd_histogram(&pdd));
    }
    let total: usize = results.iter().map(|s| s.cases.len()).sum();
    let failed: usize = results.iter().map(report::SuiteResult::failures).sum();
    if let Err(e) = report::write_all_with(&reports, &results, seed, &extra) {
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
