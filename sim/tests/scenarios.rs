//! Every call-flow scenario under `scenarios/` runs in the simulated world;
//! its transcript is an insta snapshot kept next to the scenario
//! (`scenarios/<suite>/snapshots/`), its expectations must hold, and a
//! second run with the same seed gives the same transcript byte for byte.

use std::path::{Path, PathBuf};

use sim::scenario::{self, Scenario};

fn suites() -> Vec<(String, Vec<PathBuf>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut out = Vec::new();
    for suite in sim::suite_dirs(&root).expect("scenarios folder") {
        let name = suite.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push((name, sim::scenario_files(&suite).expect("suite folder")));
    }
    out
}

#[test]
fn scenarios_pass_and_match_their_snapshots() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (suite, files) in suites() {
        for f in files {
            let sc = Scenario::load(&f).expect("scenario loads");
            let name = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let run = scenario::run(&name, &sc, 1);
            count += 1;
            if !run.problems.is_empty() {
                failures.push(format!("{suite}/{name}: {}\n{}", run.problems.join("; "), run.outcome.transcript));
            }
            let snapshots = f.parent().expect("suite dir").join("snapshots");
            insta::with_settings!({ snapshot_path => snapshots, prepend_module_to_snapshot => false, description => sc.title.clone(), omit_expression => true }, {
                insta::assert_snapshot!(name.clone(), run.outcome.transcript);
            });
        }
    }
    assert!(count >= 1, "no scenarios found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn same_seed_same_transcript() {
    for (_, files) in suites() {
        for f in files {
            let sc = Scenario::load(&f).expect("scenario loads");
            let a = scenario::run("a", &sc, 99).outcome.transcript;
            let b = scenario::run("b", &sc, 99).outcome.transcript;
            assert_eq!(a, b, "{} is not deterministic", f.display());
        }
    }
}

#[test]
fn the_readme_example_scenario_loads_and_passes() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    let section = readme.split("## Writing a scenario").nth(1).expect("README has a 'Writing a scenario' section");
    let block = section.split("```toml\n").nth(1).and_then(|b| b.split("```").next()).expect("a toml block");
    let path = std::env::temp_dir().join(format!("bridgehead-readme-{}.toml", std::process::id()));
    std::fs::write(&path, block).expect("temp file");
    let sc = Scenario::load(&path);
    let _ = std::fs::remove_file(&path);
    let sc = sc.expect("the README's scenario loads");
    let run = scenario::run("readme", &sc, 1);
    assert!(run.problems.is_empty(), "{:?}\n{}", run.problems, run.outcome.transcript);
}
