//! `golive validate` and `golive run` on suites and targets with one mistake each: every
//! mistake is named with file:line:column (and the closest right name) and exits 2 before
//! anything runs. Each case is a gap validation once had (issue 9): these passed `validate`
//! and then misled or panicked the run.

use std::path::Path;

use crate::support::{golive, ROOT};

fn bundled(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap()
}

/// One mistake: which provider's files, what to change in the suite and the target.
struct Case {
    name: &'static str,
    provider: &'static str,
    suite: &'static [(&'static str, &'static str)],
    target: &'static [(&'static str, &'static str)],
}

fn replaced(text: String, edits: &[(&str, &str)], case: &str) -> String {
    edits.iter().fold(text, |t, (from, to)| {
        assert!(
            t.contains(from),
            "{case}: `{from}` is not in the bundled file"
        );
        t.replacen(from, to, 1)
    })
}

const CASES: &[Case] = &[
    Case {
        name: "wait_for names an operation the provider does not have",
        provider: "kontocloud",
        suite: &[(
            "- wait_for: { operation: payment_status }",
            "- wait_for: { operation: payment_stauts }",
        )],
        target: &[],
    },
    Case {
        name: "a check's params name an operation the provider does not have",
        provider: "kontocloud",
        suite: &[(
            "operations: [issue_token, payment_status]",
            "operations: [issue_tokn, payment_status]",
        )],
        target: &[],
    },
    Case {
        name: "a check's param is misspelt",
        provider: "kontocloud",
        suite: &[(
            "status_operation: payment_status",
            "statuss_operation: payment_status",
        )],
        target: &[],
    },
    Case {
        name: "a check's param has the wrong type",
        provider: "kontocloud",
        suite: &[(
            "status_operation: payment_status",
            "status_operation: [payment_status]",
        )],
        target: &[],
    },
    Case {
        name: "an injected fault names an operation the provider does not have",
        provider: "kontocloud",
        suite: &[(
            "inject: [{ operation: payment_status,",
            "inject: [{ operation: payment_statu,",
        )],
        target: &[],
    },
    Case {
        name: "a target template names a variable nothing defines",
        provider: "kontocloud",
        suite: &[],
        target: &[("orderId: \"{{ order_id }}\"", "orderId: \"{{ oder_id }}\"")],
    },
    Case {
        name: "a target template names a credential the test account does not have",
        provider: "kontocloud",
        suite: &[],
        target: &[("{{ credentials.user_id }}", "{{ credentials.userid }}")],
    },
    Case {
        name: "SmartPay's widget step fires a trigger the target does not map",
        provider: "smartpay",
        suite: &[],
        target: &[("\n  payment_finished:", "\n  payment_finish:")],
    },
    Case {
        name: "PPaaS's steps need a webhook and a trigger the target does not map",
        provider: "ppaas",
        suite: &[],
        target: &[
            ("\n  qrcode_payment:", "\n  qrcode_payments:"),
            ("\n  consumer:", "\n  consumers:"),
        ],
    },
    Case {
        name: "numbers beyond their bounds",
        provider: "kontocloud",
        suite: &[
            ("request_timeout_s: 30", "request_timeout_s: 1e300"),
            ("wait_timeout_s: 5", "wait_timeout_s: 1e20"),
            (
                "- probe_order: { settle_s: 3 }",
                "- probe_order: { settle_s: 18446744073709551616 }",
            ),
            (
                "- wait_for: { operation: payment_status }",
                "- wait_for: { operation: payment_status, timeout_s: 1e300 }",
            ),
        ],
        target: &[("timeout_s: 20", "timeout_s: 1e19")],
    },
    Case {
        name: "a token lifetime no clock can hold",
        provider: "kontocloud",
        suite: &[(
            "- sandbox: { token_lifetime_s: 1 }",
            "- sandbox: { token_lifetime_s: 1e12 }",
        )],
        target: &[],
    },
    Case {
        name: "a whole number written with a decimal point is placed at its own line",
        provider: "ppaas",
        suite: &[("count: 2, timeout_s: 5", "count: 3.0, timeout_s: 5")],
        target: &[],
    },
];

#[test]
fn each_mistake_is_named_at_its_place_and_nothing_runs() {
    let place = regex::Regex::new(r"^(suite|target)\.yaml:\d+:\d+: ").unwrap();
    let mut all = String::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        let suite = replaced(
            bundled(&format!("suites/{}-go-live.yaml", case.provider)),
            case.suite,
            case.name,
        );
        let target = replaced(
            bundled(&format!("targets/{}-reference.yaml", case.provider)),
            case.target,
            case.name,
        );
        std::fs::write(dir.path().join("suite.yaml"), suite).unwrap();
        std::fs::write(dir.path().join("target.yaml"), target).unwrap();
        let out = golive(
            &[
                "validate",
                "--suite",
                "suite.yaml",
                "--target",
                "target.yaml",
            ],
            dir.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.name);
        for line in stderr.lines().filter(|l| !l.starts_with("golive:")) {
            assert!(
                place.is_match(line),
                "{}: no file:line:column in {line}",
                case.name
            );
        }
        // `run` refuses the same files before anything starts: no reports, no target.
        let run = golive(
            &[
                "run",
                "--suite",
                "suite.yaml",
                "--target",
                "target.yaml",
                "--reports",
                "out",
                "-q",
            ],
            dir.path(),
        );
        assert_eq!(
            run.status.code(),
            Some(2),
            "{}: run: {}",
            case.name,
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(
            !dir.path().join("out").exists(),
            "{}: the run started",
            case.name
        );
        all.push_str(&format!("## {}\n{stderr}\n", case.name));
    }
    insta::assert_snapshot!("validate_gaps", all);
}

#[test]
fn a_file_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.yaml"),
        b"golive: 1\nname: caf\xe9 shop\n",
    )
    .unwrap();
    let out = golive(&["validate", "--target", "t.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("validate_not_utf8", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn library_wording_never_reaches_the_author() {
    let dir = tempfile::tempdir().unwrap();
    let many = format!("golive: 1\nname: [{}]\n", vec!["1"; 300_000].join(","));
    std::fs::write(dir.path().join("big.yaml"), many).unwrap();
    std::fs::write(dir.path().join("two.yaml"), "golive: 1\n---\nname: x\n").unwrap();
    let huge = format!(
        "golive: 1\nname: shop\nbase_url: \"{}\"\ntriggers: {{}}\n",
        "x".repeat(8 << 20)
    );
    std::fs::write(dir.path().join("huge.yaml"), huge).unwrap();
    let suite = bundled("suites/kontocloud-go-live.yaml").replacen(
        "- wait_for: { operation: payment_status }",
        &format!("- wait_for: {{ operation: \"{}\" }}", "y".repeat(8 << 20)),
        1,
    );
    std::fs::write(dir.path().join("huge-suite.yaml"), suite).unwrap();
    let mut all = String::new();
    for f in ["big.yaml", "two.yaml", "huge.yaml", "huge-suite.yaml"] {
        let kind = if f.contains("suite") {
            "--suite"
        } else {
            "--target"
        };
        let out = golive(&["validate", kind, f], dir.path());
        assert_eq!(out.status.code(), Some(2), "{f}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.len() < 1_000,
            "{f}: {} bytes of message",
            stderr.len()
        );
        for leak in ["budget", "Nodes", "from_str", "Options"] {
            assert!(!stderr.contains(leak), "{f}: {stderr}");
        }
        all.push_str(&stderr);
    }
    insta::assert_snapshot!("validate_plain_words", all);
}

#[test]
fn command_line_numbers_are_bounded() {
    let suite = Path::new(ROOT).join("suites/kontocloud-go-live.yaml");
    let suite = suite.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut all = String::new();
    for (flag, value) in [
        ("--wait-timeout", "-1"),
        ("--wait-timeout", "nan"),
        ("--wait-timeout", "inf"),
        ("--wait-timeout", "1e300"),
        ("--time-scale", "0"),
        ("--time-scale", "-1"),
        ("--time-scale", "nan"),
        ("--time-scale", "inf"),
        ("--time-scale", "10.5"),
    ] {
        let arg = format!("{flag}={value}");
        let out = golive(
            &[
                "run",
                "--suite",
                suite,
                "--reference",
                &arg,
                "--reports",
                "out",
            ],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(2), "{arg}");
        assert!(!dir.path().join("out").exists(), "{arg}: the run started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        all.push_str(stderr.lines().next().unwrap_or_default());
        all.push('\n');
    }
    insta::assert_snapshot!("cli_numbers", all);
}
