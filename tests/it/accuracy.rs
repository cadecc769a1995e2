//! How accurate golive is, as `golive accuracy` measures it, on the example integrations of
//! tests/examples/accuracy.yaml (written apart from golive) through the bundled suites: every
//! mistake must be caught by exactly its checks and no compliant run may fail anything. The
//! reference shops' cases are tests/providers.rs's, one trial each.

use std::path::Path;
use std::process::Command;

use golive::accuracy::{self, AccuracyConfig, Only, Tally};

use crate::support::{venv_python, ROOT};

/// Runs at once: the runs mostly wait on loopback HTTP and scaled provider timers (the whole
/// measurement, reference shops included, used 18 s of CPU over 3 minutes at 6).
const JOBS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_mistake_is_caught_and_no_compliant_example_fails() {
    venv_python();
    let examples = Path::new(ROOT).join("tests/examples/accuracy.yaml");
    let example_cases = accuracy::load_examples(&examples, None).expect("the examples file loads");
    let dir = tempfile::tempdir().unwrap();
    let config = AccuracyConfig {
        examples: Some(examples),
        jobs: JOBS,
        time_scale: None,
        provider: None,
        only: Some(Only::Examples),
        reports: dir.path().to_owned(),
    };
    let started = std::time::Instant::now();
    let results = accuracy::run_all(&config, &mut |r| eprintln!("{}", r.line()))
        .await
        .expect("the cases load");
    let tally = Tally::of(&results);
    eprintln!("{tally} in {:.0} s", started.elapsed().as_secs_f64());

    // The full counts: every example case, and none of the reference shops'.
    let example_mistakes = example_cases.iter().filter(|c| !c.is_compliant()).count();
    let example_compliant = example_cases.len() - example_mistakes;
    assert!(example_mistakes > 0 && example_compliant > 0);
    assert_eq!(tally.mistakes, example_mistakes, "{tally}");
    assert_eq!(tally.compliant, example_compliant, "{tally}");

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

/// Runs `golive accuracy` with arguments it must refuse before running anything, and says
/// what it printed.
fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_golive"))
        .arg("accuracy")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran: {:?}", out.stdout);
    stderr
}

#[test]
fn an_unknown_provider_is_refused() {
    let stderr = refused(&["--provider", "paypal"]);
    assert!(
        stderr.contains(
            "no provider `paypal`; expected one of: kontocloud, smartpay, mobilepay, ppaas"
        ),
        "{stderr}"
    );
}

#[test]
fn only_examples_without_an_examples_file_is_refused() {
    let stderr = refused(&["--only", "examples"]);
    assert!(
        stderr.contains("`--only examples` needs `--examples FILE`"),
        "{stderr}"
    );
}
