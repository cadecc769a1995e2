//! golive as an installed binary: run from an empty folder, with nothing of the checkout
//! around it, everything the README's tour uses must work: the demo, bundled suites by name,
//! the suites and reference targets written out by `golive suites export`, and the help
//! commands (`golive kinds KIND`, `golive references`, `golive demo --provider`).
//!
//! Installing is what `cargo install --path .` does with the binary: put it in `ROOT/bin`.
//! The test does that with cargo's build of this crate (`CARGO_BIN_EXE_golive`) instead of
//! running `cargo install`, which builds the binary again: without the dev-dependencies'
//! features (wiremock's hyper has `http2` and `full`), so hyper, axum, reqwest and golive
//! itself would be compiled a second time, minutes of a CI job for the same code. The
//! binary then runs by name from `PATH`, with no `CARGO_*` variable, in an empty folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{assert_junit_valid, finish, golive, GOLIVE};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// golive installed into `root` as `cargo install --root ROOT` lays it out: `ROOT/bin/golive`.
fn install(root: &Path) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(GOLIVE, bin.join("golive")).unwrap();
    bin
}

/// `golive ARGS` as a shell finds it: by name on `PATH` (the install's `bin` first), with the
/// environment of a fresh shell (no `CARGO_*`, no manifest folder), in `cwd`.
fn installed(bin: &Path, args: &[&str], cwd: &Path) -> Output {
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let mut command = Command::new("golive");
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", cwd)
        .env("NO_COLOR", "1");
    finish(command, args)
}

/// Each run writes its reports in its own empty folder; JUnit names the bundled suite by the
/// file `golive suites export` writes it to.
fn assert_passed_with_reports(what: &str, out: &Output, cwd: &Path) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}{}",
        stdout(out),
        stderr(out)
    );
    let reports = cwd.join("reports");
    for f in ["junit.xml", "report.html", "report.json", "journal.jsonl"] {
        assert!(reports.join(f).is_file(), "{what}: {f} written");
    }
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"file="suites/kontocloud-go-live.yaml""#),
        "{what}: {junit}"
    );
    assert_junit_valid(&reports.join("junit.xml"));
}

#[test]
fn installed_golive_runs_the_demo_and_a_bundled_suite_from_an_empty_folder() {
    let root = tempfile::tempdir().unwrap();
    let bin = install(root.path());
    let (demo_dir, run_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (demo_at, run_at) = (demo_dir.path().to_owned(), run_dir.path().to_owned());
    // Side by side: each has its own sandbox, shop and free ports.
    let demo = {
        let bin = bin.clone();
        std::thread::spawn(move || {
            installed(&bin, &["demo", "--wait-timeout", "3", "-q"], &demo_at)
        })
    };
    let run = installed(
        &bin,
        &[
            "run",
            "--suite",
            "kontocloud",
            "--reference",
            "--time-scale",
            "0.1",
            "--wait-timeout",
            "3",
            "-q",
        ],
        &run_at,
    );
    let demo = demo.join().unwrap();
    assert_passed_with_reports("golive demo", &demo, demo_dir.path());
    assert_passed_with_reports("golive run --suite kontocloud", &run, run_dir.path());
    // Both summaries name their reports by path in the folder they ran in.
    for out in [&demo, &run] {
        assert!(
            stdout(out).contains("Reports: reports/report.html"),
            "{}",
            stdout(out)
        );
    }
}

#[test]
fn suites_are_listed_and_exported_and_the_exported_files_validate() {
    let empty = tempfile::tempdir().unwrap();
    let listed = golive(&["suites"], empty.path());
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    insta::assert_snapshot!("suites_list", stdout(&listed));

    let out = golive(&["suites", "export", "x"], empty.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let x = empty.path().join("x");
    for provider in ["kontocloud", "smartpay", "mobilepay", "ppaas"] {
        let suite = x.join(format!("suites/{provider}-go-live.yaml"));
        let target = x.join(format!("targets/{provider}-reference.yaml"));
        assert!(suite.is_file() && target.is_file(), "{provider} exported");
        let suite = suite.to_str().unwrap().to_owned();
        let target = target.to_str().unwrap().to_owned();
        let ok = golive(
            &["validate", "--suite", &suite, "--target", &target],
            empty.path(),
        );
        assert_eq!(ok.status.code(), Some(0), "{provider}: {}", stderr(&ok));
        assert!(stdout(&ok).starts_with("ok:"), "{}", stdout(&ok));
    }
    let ok = golive(
        &["validate", "--suite", "x/suites/kontocloud-go-live.yaml"],
        empty.path(),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));

    // A second export does not overwrite what a team may have edited since...
    let edited = x.join("suites/kontocloud-go-live.yaml");
    std::fs::write(&edited, "# my changes\n").unwrap();
    let refused = golive(&["suites", "export", "x"], empty.path());
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("not overwriting") && stderr(&refused).contains("--force"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "# my changes\n");
    // ...unless told to.
    let forced = golive(&["suites", "export", "x", "--force"], empty.path());
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(std::fs::read_to_string(&edited)
        .unwrap()
        .contains("provider: kontocloud"));
}

#[test]
fn a_file_of_the_same_name_wins_over_the_bundled_suite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kontocloud"), "golive: 1\nid: [\n").unwrap();
    let out = golive(&["validate", "--suite", "kontocloud"], dir.path());
    // The team's own (broken) file is read, not silently replaced by the bundled suite.
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("kontocloud:"), "{}", stderr(&out));
    let named = golive(&["validate", "--suite", "smartpay"], dir.path());
    assert_eq!(named.status.code(), Some(0), "{}", stderr(&named));
}

#[test]
fn a_kind_is_described_with_its_params_and_an_example() {
    let empty = tempfile::tempdir().unwrap();
    let out = golive(&["kinds", "webhook_response"], empty.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("kinds_webhook_response", stdout(&out));

    let out = golive(&["kinds", "token_reuze"], empty.path());
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("kinds_misspelt", stderr(&out));

    let out = golive(&["kinds"], empty.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("golive kinds KIND"));
}

#[test]
fn an_unknown_demo_provider_lists_the_providers() {
    let empty = tempfile::tempdir().unwrap();
    let out = golive(&["demo", "--provider", "nosuch", "-q"], empty.path());
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("demo_unknown_provider", stderr(&out));
    assert!(!empty.path().join("reports").exists(), "nothing was run");
}

#[test]
fn references_say_what_each_style_does() {
    let empty = tempfile::tempdir().unwrap();
    let out = golive(&["references"], empty.path());
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for provider in ["kontocloud", "smartpay", "mobilepay", "ppaas"] {
        let block: String = text
            .split_inclusive('\n')
            .skip_while(|l| !l.starts_with(provider))
            .take_while(|l| l.starts_with(provider) || l.starts_with("  "))
            .collect();
        assert!(
            block.contains("  --style a: ") && block.contains("  --style b: "),
            "{provider}: {block}"
        );
    }
}

#[test]
fn a_later_demo_removes_only_the_per_provider_reports_golive_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    // What an earlier `demo --provider all` left: golive's own per-provider folders...
    for provider in ["smartpay", "ppaas"] {
        let d = reports.join(provider);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("report.json"),
            r#"{"tool":{"name":"golive","version":"0"}}"#,
        )
        .unwrap();
        std::fs::write(d.join("report.html"), "old").unwrap();
    }
    // ...and folders golive did not write, which stay.
    let foreign = reports.join("mobilepay");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let other_tool = reports.join("kontocloud");
    std::fs::create_dir_all(&other_tool).unwrap();
    std::fs::write(
        other_tool.join("report.json"),
        r#"{"tool":{"name":"other"}}"#,
    )
    .unwrap();

    let out = golive(
        &["demo", "--provider", "ppaas", "--wait-timeout", "3", "-q"],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        !reports.join("smartpay").exists(),
        "stale smartpay/ removed"
    );
    assert!(!reports.join("ppaas").exists(), "stale ppaas/ removed");
    assert!(
        foreign.join("notes.txt").is_file(),
        "a folder golive did not write stays"
    );
    assert!(other_tool.join("report.json").is_file());
    assert!(
        reports.join("report.json").is_file(),
        "the demo's own reports"
    );
}
