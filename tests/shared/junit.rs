//! What both test binaries (tests/it and tests/providers.rs) need of a golive JUnit file: that
//! it validates against the Jenkins junit-10 XSD, and which checks it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tool the tests need; a missing one fails the test (no silent skip).
pub fn tool(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: run scripts/test-deps (it installs xmllint, chromium and the junitparser venv)"
    );
    p
}

pub fn xmllint() -> PathBuf {
    tool("/usr/bin/xmllint")
}

/// Asserts that a JUnit file validates against the Jenkins junit-10 XSD.
pub fn assert_junit_valid(junit: &Path) {
    let out = Command::new(xmllint())
        .arg("--noout")
        .arg("--schema")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/junit-10.xsd"))
        .arg(junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(junit).unwrap_or_default()
    );
}

/// The check ids of the failed testcases of a golive JUnit file.
pub fn junit_failures(xml: &str, suite_id: &str) -> BTreeSet<String> {
    let prefix = format!("classname=\"golive.{suite_id}.");
    xml.split("<testcase ")
        .skip(1)
        .filter(|case| {
            let end = case.find("</testcase>").unwrap_or(case.len());
            case[..end].contains("<failure")
        })
        .filter_map(|case| {
            let start = case.find(&prefix)? + prefix.len();
            let len = case[start..].find('"')?;
            Some(case[start..start + len].to_string())
        })
        .collect()
}
