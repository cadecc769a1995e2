//! How accurate golive is, as `golive accuracy` measures it: every reference shop (each
//! compliant style, each planted flaw) and every example integration of
//! tests/examples/accuracy.yaml through the bundled suites. Every mistake must be caught by
//! exactly its checks and no compliant run may fail anything.

use std::path::Path;
use std::process::Command;

use golive::accuracy::{self, AccuracyConfig, Tally};

use crate::support::{venv_python, ROOT};

/// Runs at once: the runs mostly wait on loopback HTTP and scaled provider timers (the whole
/// measurement used 18 s of CPU over 3 minutes at 6), as the per-provider tests, which start
/// every flaw of a provider at once, show.
const JOBS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mistake_is_caught_and_no_compliant_run_fails() {
    venv_python();
    let examples = Path::new(ROOT).join("tests/examples/accuracy.yaml");
    let example_cases = accuracy::load_examples(&examples, None).expect("the examples file loads");
    let dir = tempfile::tempdir().unwrap();
    let config = AccuracyConfig {
        examples: Some(examples),
        jobs: JOBS,
        time_scale: None,
        provider: None,
        reports: dir.path().to_owned(),
    };
    let started = std::time::Instant::now();
    let results = accuracy::run_all(&config, &mut |r| eprintln!("{}", r.line()))
        .await
        .expect("the cases load");
    let tally = Tally::of(&results);
    eprintln!("{tally} in {:.0} s", started.elapsed().as_secs_f64());

    // The full counts: every reference flaw and style, every example case.
    let refs = golive::providers::references();
    let flaws: usize = refs.iter().map(|r| r.flaws.len()).sum();
    let styles: usize = refs.iter().map(|r| r.styles.len()).sum();
    let example_mistakes = example_cases.iter().filter(|c| !c.is_compliant()).count();
    let example_compliant = example_cases.len() - example_mistakes;
    assert!(example_mistakes > 0 && example_compliant > 0);
    assert_eq!(tally.mistakes, flaws + example_mistakes, "{tally}");
    assert_eq!(tally.compliant, styles + example_compliant, "{tally}");

    let wrong: Vec<String> = results
        .iter()
        .filter(|r| !r.right())
        .map(|r| r.line())
        .collect();
    assert!(wrong.is_empty(), "{tally}:\n{}", wrong.join("\n"));
    assert_eq!(tally.caught, tally.mistakes);
    assert_eq!(tally.false_alarms, 0);
    assert!(tally.perfect());
    // Each run wrote its reports in a folder of its own.
    let folders = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(folders, results.len());
}

#[test]
fn a_bad_examples_file_stops_the_command_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accuracy.yaml");
    std::fs::write(
        &file,
        "examples:\n  - provider: kontocloud\n    name: typo\n    target: no-such-target.yaml\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_golive"))
        .args(["accuracy", "--examples"])
        .arg(&file)
        .args(["--reports"])
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("accuracy.yaml:4:13: the target") && stderr.contains("nothing was run"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing ran: {:?}", out.stdout);
    assert!(!dir.path().join("reports").exists());
}

#[test]
fn an_unknown_provider_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_golive"))
        .args(["accuracy", "--provider", "paypal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "no provider `paypal`; expected one of: kontocloud, smartpay, mobilepay, ppaas"
        ),
        "{stderr}"
    );
}
