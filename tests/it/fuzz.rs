//! A bounded property test over the inputs a team writes: the bundled suites and targets,
//! mutated (hostile numbers, misspelt names, broken YAML, stray bytes, cut files), and the
//! command line's numbers. Whatever the input, loading and validating never panics, and a file
//! is either accepted (and its checks build) or refused with problems that each have a
//! line and a column. It runs in `cargo test` with a fixed number of cases and prints how many
//! inputs it tried.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use golive::suite::{self, bounds};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::ROOT;

const PROVIDERS: &[&str] = &["kontocloud", "smartpay", "mobilepay", "ppaas"];

/// Values a careless or hostile author might write where a value stands.
const VALUES: &[&str] = &[
    "-1",
    "0",
    "1e300",
    "-1e300",
    ".nan",
    ".inf",
    "-.inf",
    "18446744073709551616",
    "3.0",
    "1e-320",
    "\"\"",
    "[]",
    "{}",
    "null",
    "~",
    "true",
    "\"{{ x\"",
    "\"{{ oder_id }}\"",
    "\"{{ credentials.nope }}\"",
    "payment_stauts",
    "issue_tokn",
    "[payment_stauts]",
    "{ operation: nope, times: 0 }",
    "&anchor x",
    "*anchor",
    "!!binary aGk=",
    "\"\\u0000\"",
    "'quoted'",
    "|\n  block",
];

/// Bytes worth inserting into YAML: its syntax, whitespace, a NUL, a byte that is not UTF-8.
const BYTES: &[&[u8]] = &[
    b":",
    b"-",
    b" ",
    b"\n",
    b"\t",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"'",
    b"#",
    b"&",
    b"*",
    b"!",
    b"|",
    b">",
    b"%",
    b"@",
    b"`",
    b"\0",
    b"\xff",
    "é".as_bytes(),
    b"---\n",
    b"{{",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// The value after the first `: ` on a line becomes one of [`VALUES`].
    Value {
        line: usize,
        value: usize,
    },
    DeleteLine(usize),
    DuplicateLine(usize),
    /// A byte sequence from [`BYTES`] inserted at a place (a fraction of the length).
    Insert {
        at: f64,
        bytes: usize,
    },
    /// One character of a line's key changed (a misspelt key).
    Misspell {
        line: usize,
        ch: char,
    },
    /// The file cut short at a place.
    Truncate(f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0..VALUES.len()).prop_map(|(line, value)| Mutation::Value { line, value }),
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        2 => (0.0..1.0f64, 0..BYTES.len()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => (any::<usize>(), prop::char::range('a', 'z')).prop_map(|(line, ch)| Mutation::Misspell { line, ch }),
        1 => (0.0..1.0f64).prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> Vec<u8> {
    let lines: Vec<&str> = text.lines().collect();
    let line_edit = !matches!(m, Mutation::Insert { .. } | Mutation::Truncate(_));
    if lines.is_empty() && line_edit {
        return text.as_bytes().to_vec();
    }
    let pick = |i: usize| i % lines.len().max(1);
    let join = |ls: Vec<String>| (ls.join("\n") + "\n").into_bytes();
    match m {
        Mutation::Value { line, value } => {
            let i = pick(*line);
            let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            if let Some(k) = ls[i].find(": ") {
                ls[i] = format!("{}: {}", &ls[i][..k], VALUES[*value]);
            }
            join(ls)
        }
        Mutation::DeleteLine(l) => {
            let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            ls.remove(pick(*l));
            join(ls)
        }
        Mutation::DuplicateLine(l) => {
            let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            let i = pick(*l);
            ls.insert(i, ls[i].clone());
            join(ls)
        }
        Mutation::Insert { at, bytes } => {
            let mut b = text.as_bytes().to_vec();
            let mut i = ((b.len() as f64) * at) as usize;
            while i < b.len() && !text.is_char_boundary(i) {
                i += 1;
            }
            b.splice(i..i, BYTES[*bytes].iter().copied());
            b
        }
        Mutation::Misspell { line, ch } => {
            let i = pick(*line);
            let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            let key_start = ls[i].len() - ls[i].trim_start_matches([' ', '-']).len();
            if let Some(k) = ls[i].find(':').filter(|k| *k > key_start) {
                let pos = key_start + (k - key_start) / 2;
                if ls[i].is_char_boundary(pos) && ls[i].is_char_boundary(pos + 1) {
                    ls[i].replace_range(pos..pos + 1, &ch.to_string());
                }
            }
            join(ls)
        }
        Mutation::Truncate(at) => {
            let b = text.as_bytes();
            b[..((b.len() as f64) * at) as usize].to_vec()
        }
    }
}

/// Every problem has a line and a column (the one exception, an unreadable file, cannot
/// happen in memory).
fn located(problems: &[suite::Problem], what: &str) -> Result<bool, TestCaseError> {
    prop_assert!(!problems.is_empty(), "{what}: refused without a problem");
    for p in problems {
        prop_assert!(
            p.pos.line >= 1 && p.pos.column >= 1,
            "{what}: a problem without a place: {p}"
        );
    }
    Ok(true)
}

/// Loads a file's bytes as `golive validate` does, then validates it; true when refused.
fn judge(bytes: &[u8], suite_side: bool, provider: &str) -> Result<bool, TestCaseError> {
    let file = Path::new(if suite_side {
        "suite.yaml"
    } else {
        "target.yaml"
    });
    if let Some(p) = suite::yaml::not_utf8(bytes, file) {
        return located(&[p], "not UTF-8");
    }
    let text = std::str::from_utf8(bytes).unwrap();
    let other_suite =
        std::fs::read_to_string(Path::new(ROOT).join(format!("suites/{provider}-go-live.yaml")))
            .unwrap();
    let other_target =
        std::fs::read_to_string(Path::new(ROOT).join(format!("targets/{provider}-reference.yaml")))
            .unwrap();
    let (s, t) = if suite_side {
        (
            suite::parse_suite(text, file),
            suite::parse_target(&other_target, Path::new("t.yaml")),
        )
    } else {
        (
            suite::parse_suite(&other_suite, Path::new("s.yaml")),
            suite::parse_target(text, file),
        )
    };
    let s = match s {
        Ok(s) => s,
        Err(p) => return located(&p.0, "suite"),
    };
    let t = match t {
        Ok(t) => t,
        Err(p) => return located(&p.0, "target"),
    };
    let mut problems = golive::validate::suite_problems(&s);
    problems.extend(suite::cross_rules(&s, &t));
    if problems.is_empty() {
        // Accepted: then its checks build, and every number it holds is one a run can use.
        prop_assert!(
            golive::checks::build_all(&s.value).is_ok(),
            "an accepted suite whose checks do not build"
        );
        let st = &s.value.settings;
        for v in [
            st.wait_timeout_s,
            st.request_timeout_s,
            st.token_lifetime_s,
            t.value.ready.timeout_s,
        ] {
            prop_assert!(
                bounds::check_duration_s(v, false).is_ok(),
                "accepted out-of-bounds {v}"
            );
        }
        prop_assert!(bounds::check_time_scale(st.time_scale).is_ok());
        Ok(false)
    } else {
        located(&problems, "validate")
    }
}

/// Writes past the test harness's capture (which only takes `print!`), so `cargo test` shows
/// how many inputs were tried.
fn report(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn mutated_suites_and_targets_never_panic_and_every_problem_has_a_place() {
    // A few hundred cases keep `cargo test` quick (about 5 s on 2 shared cores in a debug
    // build); GOLIVE_FUZZ_CASES=20000 digs deeper by hand.
    let cases: u32 = std::env::var("GOLIVE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let tried = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let texts: Vec<(String, bool, &str)> = PROVIDERS
        .iter()
        .flat_map(|p| {
            [
                (
                    std::fs::read_to_string(
                        Path::new(ROOT).join(format!("suites/{p}-go-live.yaml")),
                    )
                    .unwrap(),
                    true,
                    *p,
                ),
                (
                    std::fs::read_to_string(
                        Path::new(ROOT).join(format!("targets/{p}-reference.yaml")),
                    )
                    .unwrap(),
                    false,
                    *p,
                ),
            ]
        })
        .collect();
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..texts.len(), prop::collection::vec(mutation(), 1..4));
    runner
        .run(&strategy, |(which, mutations)| {
            let (text, suite_side, provider) = &texts[which];
            let mut bytes = text.clone().into_bytes();
            for m in &mutations {
                bytes = apply(&String::from_utf8_lossy(&bytes), m);
            }
            tried.fetch_add(1, Ordering::Relaxed);
            if judge(&bytes, *suite_side, provider)? {
                refused.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    report(format!(
        "fuzz: tried {} mutated suites and targets ({} refused with located problems) in {:.1} s",
        tried.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    ));
    assert!(tried.load(Ordering::Relaxed) >= cases as usize);
}

#[test]
fn command_line_numbers_never_panic_and_accepted_ones_are_in_bounds() {
    let tried = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 500,
        failure_persistence: None,
        ..Config::default()
    });
    let text = prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        prop::sample::select(vec![
            "nan", "NaN", "inf", "-inf", "infinity", "1e309", "-0", "0x10", " 1", "", "1_000", "+5"
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    runner
        .run(&text, |t| {
            tried.fetch_add(1, Ordering::Relaxed);
            if let Ok(v) = bounds::parse_duration_arg(&t) {
                prop_assert!(
                    v.is_finite() && v > 0.0 && v <= bounds::MAX_DURATION_S,
                    "{t} → {v}"
                );
                let _ = bounds::duration_s(v);
            }
            if let Ok(v) = bounds::parse_time_scale_arg(&t) {
                prop_assert!(
                    v.is_finite() && v > 0.0 && v <= bounds::MAX_TIME_SCALE,
                    "{t} → {v}"
                );
                // What a run computes from it: scaled waits.
                let _ = bounds::duration_s(v * bounds::MAX_DURATION_S);
            }
            Ok(())
        })
        .unwrap();
    report(format!(
        "fuzz: tried {} command-line numbers",
        tried.load(Ordering::Relaxed)
    ));
}
