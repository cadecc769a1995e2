//! golive as an installed binary: run from an empty folder, with nothing of the checkout
//! around it, everything the README's tour uses must work: bundled suites by name, the suites
//! and reference targets written out by `golive suites export`, and the help commands
//! (`golive kinds KIND`, `golive references`, `golive demo --provider`).
//!
//! The binary is cargo's build of this crate (`CARGO_BIN_EXE_golive`), run with an empty
//! temporary folder as its working directory; `cargo install --root` would rebuild all of it
//! in release, minutes on a shared machine, for the same binary code.

use std::process::Output;

use crate::support::{assert_junit_valid, golive};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_bundled_suite_runs_by_name_from_an_empty_folder() {
    let empty = tempfile::tempdir().unwrap();
    let out = golive(
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
        empty.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let reports = empty.path().join("reports");
    for f in ["junit.xml", "report.html", "report.json", "journal.jsonl"] {
        assert!(reports.join(f).is_file(), "{f} written");
    }
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    // The bundled suite is named by the file `golive suites export` writes it to.
    assert!(
        junit.contains(r#"file="suites/kontocloud-go-live.yaml""#),
        "{junit}"
    );
    assert_junit_valid(&reports.join("junit.xml"));
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
