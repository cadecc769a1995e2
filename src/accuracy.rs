//! How accurate golive is, measured: every reference shop (each compliant style, each planted
//! flaw) and every example integration listed in a data file runs through its bundled suite.
//! A planted mistake is caught when the run fails exactly the checks that must catch it (no
//! fewer: a miss; no more: a false alarm inside a flawed run); a compliant run is a false
//! alarm when any check fails or the run does not pass. `golive accuracy` prints one line per
//! run and `caught N/M mistakes, F false alarms on C compliant runs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;

use crate::exit;
use crate::run::{self, RunConfig, RunOutcome, TargetSpec};
use crate::suite::yaml::{self, Pos, Problem, Problems};

/// How long a run waits for a call the integration should make. The integrations here call
/// within milliseconds; a flawed one that never calls should not cost the suite's full wait.
/// (The provider tests of tests/it use the same.)
const WAIT_TIMEOUT_S: f64 = 3.0;

/// Runs at once unless `--jobs` says otherwise: each run mostly waits on loopback HTTP and
/// provider timers, but a 2-core machine must still meet the scaled deadlines.
pub const DEFAULT_JOBS: u16 = 2;

/// What a case drives.
#[derive(Debug, Clone)]
pub enum CaseTarget {
    /// A built-in reference shop.
    Reference { style: String, flaws: Vec<String> },
    /// An example integration's target file, with environment added to its start command.
    Example {
        file: PathBuf,
        env: BTreeMap<String, String>,
    },
}

/// One run and what it must show.
#[derive(Debug, Clone)]
pub struct Case {
    pub provider: String,
    /// `a compliant`, `a flaw trust_callback`, an example's name.
    pub label: String,
    pub target: CaseTarget,
    pub time_scale: Option<f64>,
    /// The checks that must fail; empty for a compliant run.
    pub expected: BTreeSet<String>,
}

impl Case {
    pub fn is_compliant(&self) -> bool {
        self.expected.is_empty()
    }
}

/// What a case's run showed.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case: Case,
    pub failing: BTreeSet<String>,
    pub exit_code: i32,
    /// Why the run could not be made or was incomplete, when it was.
    pub trouble: Option<String>,
    pub seconds: f64,
}

impl CaseResult {
    /// A mistake caught: exactly its checks fail, and the run says so (exit 1). A compliant
    /// run is right when nothing fails and the run passed.
    pub fn right(&self) -> bool {
        if self.case.is_compliant() {
            self.failing.is_empty() && self.exit_code == exit::PASSED
        } else {
            self.failing == self.case.expected && self.exit_code == exit::CHECKS_FAILED
        }
    }

    /// One line: verdict, provider, case, expected against got, seconds.
    pub fn line(&self) -> String {
        let verdict = match (self.case.is_compliant(), self.right()) {
            (true, true) => "passed",
            (true, false) => "FALSE ALARM",
            (false, true) => "caught",
            (false, false) => "MISSED",
        };
        let mut line = format!(
            "{verdict:<11} {:<10} {}: expected {}, got {} (exit {}, {:.1} s)",
            self.case.provider,
            self.case.label,
            ids(&self.case.expected),
            ids(&self.failing),
            self.exit_code,
            self.seconds
        );
        if let Some(t) = &self.trouble {
            line.push_str(&format!("; {t}"));
        }
        line
    }
}

fn ids(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "{}".to_string()
    } else {
        format!("{{{}}}", set.iter().cloned().collect::<Vec<_>>().join(", "))
    }
}

/// The counts of the final line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub caught: usize,
    pub mistakes: usize,
    pub false_alarms: usize,
    pub compliant: usize,
}

impl Tally {
    pub fn of(results: &[CaseResult]) -> Tally {
        let mut t = Tally::default();
        for r in results {
            if r.case.is_compliant() {
                t.compliant += 1;
                if !r.right() {
                    t.false_alarms += 1;
                }
            } else {
                t.mistakes += 1;
                if r.right() {
                    t.caught += 1;
                }
            }
        }
        t
    }

    /// Every mistake caught and no false alarm (and something was run at all).
    pub fn perfect(&self) -> bool {
        self.caught == self.mistakes && self.false_alarms == 0 && self.mistakes + self.compliant > 0
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "caught {}/{} mistakes, {} false alarms on {} compliant runs",
            self.caught, self.mistakes, self.false_alarms, self.compliant
        )
    }
}

/// Every reference shop's cases: each style compliant, each flaw once (with the checks its
/// `caught_by` names). `provider` keeps one provider's.
pub fn reference_cases(provider: Option<&str>) -> Vec<Case> {
    let mut cases = Vec::new();
    for r in crate::providers::references() {
        if provider.is_some_and(|p| !p.eq_ignore_ascii_case(r.provider)) {
            continue;
        }
        for style in r.styles {
            cases.push(Case {
                provider: r.provider.to_string(),
                label: format!("{style} compliant"),
                target: CaseTarget::Reference {
                    style: style.to_string(),
                    flaws: Vec::new(),
                },
                time_scale: r.test_time_scale,
                expected: BTreeSet::new(),
            });
        }
        for (i, flaw) in r.flaws.iter().enumerate() {
            let style = if r.flaws_alternate_styles {
                r.styles[i % r.styles.len()]
            } else {
                r.styles[0]
            };
            cases.push(Case {
                provider: r.provider.to_string(),
                label: format!("{style} flaw {}", flaw.name),
                target: CaseTarget::Reference {
                    style: style.to_string(),
                    flaws: vec![flaw.name.to_string()],
                },
                time_scale: r.test_time_scale,
                expected: flaw.caught_by.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    cases
}

/// The data file of example integrations (tests/examples/accuracy.yaml).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesFile {
    examples: Vec<ExampleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleEntry {
    /// The provider whose bundled suite judges it.
    provider: String,
    name: String,
    /// The target file, relative to the data file.
    target: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    time_scale: Option<f64>,
    /// The checks that must fail; empty (or absent) for a compliant run.
    #[serde(default)]
    expected: Vec<String>,
}

/// Reads the example integrations' cases. Every mistake in the file (an unknown provider or
/// check id, a target that does not load or fit the suite) is reported with file:line:column
/// before anything runs.
pub fn load_examples(file: &Path, provider: Option<&str>) -> Result<Vec<Case>, Problems> {
    let at = |pos: Pos, message: String| Problem {
        file: file.to_owned(),
        pos,
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|e| {
        Problems(vec![at(
            Pos { line: 0, column: 0 },
            format!("cannot read the examples file: {e}"),
        )])
    })?;
    let node = yaml::parse(&text, file)?;
    let parsed: ExamplesFile =
        serde_path_to_error::deserialize(node.to_json()).map_err(|e| {
            let pointer: String = e
                .path()
                .iter()
                .map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => format!("/{index}"),
                    serde_path_to_error::Segment::Map { key } => format!("/{key}"),
                    _ => String::new(),
                })
                .collect();
            Problems(vec![at(
                node.pos_for(&pointer),
                format!(
                    "not a valid examples file: {} (expected `examples:`, a list of provider, name, target, env, time_scale, expected)",
                    crate::checks::plain_serde(&e.inner().to_string())
                ),
            )])
        })?;
    let dir = run::target_dir(file);
    let mut problems = Vec::new();
    let mut cases = Vec::new();
    for (i, entry) in parsed.examples.into_iter().enumerate() {
        let pos = |key: &str| node.pos_for(&format!("/examples/{i}/{key}"));
        let suite = match run::load_bundled_suite(&entry.provider) {
            Ok(s) => s,
            Err(e) => {
                problems.push(at(pos("provider"), e.to_string()));
                continue;
            }
        };
        if let Some(scale) = entry.time_scale {
            if let Err(e) = crate::suite::bounds::check_time_scale(scale) {
                problems.push(at(pos("time_scale"), format!("time_scale: {e}")));
            }
        }
        for (j, id) in entry.expected.iter().enumerate() {
            if !suite.value.checks.iter().any(|c| &c.id == id) {
                problems.push(at(
                    node.pos_for(&format!("/examples/{i}/expected/{j}")),
                    format!("`{id}` is no check of the bundled {} suite", entry.provider),
                ));
            }
        }
        let target_file = dir.join(&entry.target);
        match crate::suite::load_target(&target_file) {
            Ok(target) => {
                let unfit = crate::suite::cross_rules(&suite, &target);
                if !unfit.is_empty() {
                    problems.extend(unfit);
                }
                if target.value.start.is_none() && !entry.env.is_empty() {
                    problems.push(at(
                        pos("env"),
                        format!(
                            "{} has no `start` command to hand this environment to",
                            target_file.display()
                        ),
                    ));
                }
            }
            Err(p) => {
                problems.push(at(
                    pos("target"),
                    format!("the target {} does not load:", target_file.display()),
                ));
                problems.extend(p.0);
                continue;
            }
        }
        if provider.is_some_and(|p| !p.eq_ignore_ascii_case(&entry.provider)) {
            continue;
        }
        cases.push(Case {
            provider: entry.provider,
            label: entry.name,
            target: CaseTarget::Example {
                file: target_file,
                env: entry.env,
            },
            time_scale: entry.time_scale,
            expected: entry.expected.into_iter().collect(),
        });
    }
    if problems.is_empty() {
        Ok(cases)
    } else {
        Err(Problems(problems))
    }
}

/// Runs one case, its reports in `reports`: what `golive accuracy` counts, and the run itself
/// when one was made (tests/providers.rs looks closer at it; `time_scale` overrides the case's).
pub async fn run_case(
    case: Case,
    reports: PathBuf,
    time_scale: Option<f64>,
) -> (CaseResult, Option<RunOutcome>) {
    run_case_in_lanes(case, reports, time_scale, 1).await
}

/// [`run_case`] with the scenarios in `jobs` lanes (`--jobs N`): its verdicts must be those of
/// one lane.
pub async fn run_case_in_lanes(
    case: Case,
    reports: PathBuf,
    time_scale: Option<f64>,
    jobs: usize,
) -> (CaseResult, Option<RunOutcome>) {
    let started = Instant::now();
    let result = |failing, exit_code, trouble| CaseResult {
        case: case.clone(),
        failing,
        exit_code,
        trouble,
        seconds: started.elapsed().as_secs_f64(),
    };
    let suite = match run::load_bundled_suite(&case.provider) {
        Ok(s) => s,
        Err(e) => {
            return (
                result(BTreeSet::new(), exit::RUN_FAILED, Some(e.to_string())),
                None,
            )
        }
    };
    let target = match &case.target {
        CaseTarget::Reference { style, flaws } => {
            match TargetSpec::reference(&case.provider, Some(style), flaws) {
                Ok(t) => t,
                Err(e) => {
                    return (
                        result(BTreeSet::new(), exit::RUN_FAILED, Some(e.to_string())),
                        None,
                    )
                }
            }
        }
        CaseTarget::Example { file, env } => match crate::suite::load_target(file) {
            Ok(mut t) => {
                if let Some(start) = t.value.start.as_mut() {
                    start.env.extend(env.clone());
                }
                TargetSpec::File(Box::new(t))
            }
            Err(p) => {
                return (
                    result(BTreeSet::new(), exit::RUN_FAILED, Some(p.to_string())),
                    None,
                )
            }
        },
    };
    let outcome = run::run(
        RunConfig {
            suite,
            target,
            reports_dir: reports,
            time_scale: time_scale.or(case.time_scale),
            wait_timeout_s: Some(WAIT_TIMEOUT_S),
            jobs,
        },
        &|_| Box::new(crate::report::Silent),
    )
    .await;
    let report = &outcome.report;
    let trouble = report
        .run_error
        .iter()
        .cloned()
        .chain(
            report
                .scenarios
                .iter()
                .filter_map(|s| s.error.as_ref().map(|e| format!("scenario {}: {e}", s.id))),
        )
        .collect::<Vec<_>>();
    // A scenario stopped early is expected of some flaws; say it only where the verdict is
    // wrong, to explain it.
    let failing = run::failing_ids(report);
    let mut r = result(failing, outcome.exit_code, None);
    if !r.right() && !trouble.is_empty() {
        r.trouble = Some(trouble.join("; "));
    }
    (r, Some(outcome))
}

/// A folder name for a case's reports.
fn slug(case: &Case, index: usize) -> String {
    let text: String = format!("{}-{}", case.provider, case.label)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{index:03}-{}", text.trim_matches('-'))
}

/// Runs the cases, `jobs` at a time, each with its reports in a folder of `reports`; calls
/// `done` as each finishes, and returns the results in the cases' order. `time_scale`
/// overrides every case's.
pub async fn run_cases(
    cases: Vec<Case>,
    jobs: usize,
    time_scale: Option<f64>,
    reports: &Path,
    done: &mut dyn FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let gate = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let total = cases.len();
    // A run's future holds its event sink by reference (not Send): the runs share this thread
    // in a LocalSet, while the sandboxes and shops they start run on the runtime's workers.
    let local = tokio::task::LocalSet::new();
    let mut results: Vec<Option<CaseResult>> = vec![None; total];
    local
        .run_until(async {
            for (i, case) in cases.into_iter().enumerate() {
                let gate = gate.clone();
                let tx = tx.clone();
                let dir = reports.join(slug(&case, i));
                tokio::task::spawn_local(async move {
                    let _permit = gate.acquire_owned().await.expect("the gate stays open");
                    let (r, _) = run_case(case, dir, time_scale).await;
                    let _ = tx.send((i, r));
                });
            }
            drop(tx);
            while let Some((i, r)) = rx.recv().await {
                done(&r);
                results[i] = Some(r);
            }
        })
        .await;
    results.into_iter().flatten().collect()
}

/// What `golive accuracy` is asked.
pub struct AccuracyConfig {
    pub examples: Option<PathBuf>,
    pub jobs: usize,
    pub time_scale: Option<f64>,
    pub provider: Option<String>,
    /// Only the reference shops' cases, or only the examples'.
    pub only: Option<Only>,
    pub reports: PathBuf,
}

/// Which cases `golive accuracy --only` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    References,
    Examples,
}

/// Gathers every case (checked before any runs), runs them and returns their results.
pub async fn run_all(
    config: &AccuracyConfig,
    done: &mut dyn FnMut(&CaseResult),
) -> Result<Vec<CaseResult>, crate::Error> {
    let provider = config.provider.as_deref();
    if let Some(p) = provider {
        if crate::providers::reference(p).is_none() {
            return Err(crate::Error::Input(Problems(vec![Problem {
                file: PathBuf::from("--provider"),
                pos: Pos { line: 0, column: 0 },
                message: format!(
                    "no provider `{p}`; expected one of: {}",
                    crate::run::reference_providers()
                ),
            }])));
        }
    }
    let mut cases = Vec::new();
    if config.only != Some(Only::Examples) {
        cases = reference_cases(provider);
    }
    match &config.examples {
        Some(file) if config.only != Some(Only::References) => {
            cases.extend(load_examples(file, provider)?)
        }
        None if config.only == Some(Only::Examples) => {
            return Err(crate::Error::Input(Problems(vec![Problem {
                file: PathBuf::from("--only"),
                pos: Pos { line: 0, column: 0 },
                message: "`--only examples` needs `--examples FILE`".to_string(),
            }])))
        }
        _ => {}
    }
    Ok(run_cases(cases, config.jobs, config.time_scale, &config.reports, done).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(expected: &[&str], failing: &[&str], exit_code: i32) -> CaseResult {
        CaseResult {
            case: Case {
                provider: "kontocloud".into(),
                label: "a".into(),
                target: CaseTarget::Reference {
                    style: "a".into(),
                    flaws: vec![],
                },
                time_scale: None,
                expected: expected.iter().map(|s| s.to_string()).collect(),
            },
            failing: failing.iter().map(|s| s.to_string()).collect(),
            exit_code,
            trouble: None,
            seconds: 1.0,
        }
    }

    #[test]
    fn a_mistake_is_caught_only_by_exactly_its_checks() {
        let rs = [
            result(&["A", "B"], &["A", "B"], exit::CHECKS_FAILED),
            // One fewer: missed; one more: a false alarm inside a flawed run, also not right.
            result(&["A", "B"], &["A"], exit::CHECKS_FAILED),
            result(&["A"], &["A", "C"], exit::CHECKS_FAILED),
            // The right checks but an incomplete run.
            result(&["A"], &["A"], exit::RUN_FAILED),
            result(&[], &[], exit::PASSED),
            result(&[], &["C"], exit::CHECKS_FAILED),
            // Nothing failed but the run did not pass (a scenario not driven to its end).
            result(&[], &[], exit::RUN_FAILED),
        ];
        let t = Tally::of(&rs);
        assert_eq!(
            t,
            Tally {
                caught: 1,
                mistakes: 4,
                false_alarms: 2,
                compliant: 3
            }
        );
        assert!(!t.perfect());
        assert_eq!(
            t.to_string(),
            "caught 1/4 mistakes, 2 false alarms on 3 compliant runs"
        );
        assert!(rs[1]
            .line()
            .starts_with("MISSED      kontocloud a: expected {A, B}, got {A}"));
        assert!(rs[5].line().starts_with("FALSE ALARM"));
        assert!(Tally::of(&rs[..1]).perfect());
        assert!(!Tally::default().perfect(), "nothing run proves nothing");
    }

    #[test]
    fn every_reference_style_and_flaw_is_a_case() {
        let cases = reference_cases(None);
        let expected: usize = crate::providers::references()
            .iter()
            .map(|r| r.styles.len() + r.flaws.len())
            .sum();
        assert_eq!(cases.len(), expected);
        assert!(cases
            .iter()
            .filter(|c| !c.is_compliant())
            .all(|c| !c.expected.is_empty()));
        let ppaas = reference_cases(Some("PPaaS"));
        assert!(ppaas.iter().all(|c| c.provider == "ppaas"));
        let styles: BTreeSet<String> = ppaas
            .iter()
            .filter(|c| !c.is_compliant())
            .filter_map(|c| match &c.target {
                CaseTarget::Reference { style, .. } => Some(style.clone()),
                _ => None,
            })
            .collect();
        assert!(styles.len() > 1, "PPaaS flaws take the styles in turn");
    }

    #[test]
    fn a_bad_examples_file_is_refused_with_its_place() {
        let dir = std::env::temp_dir().join(format!("golive-accuracy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("accuracy.yaml");
        std::fs::write(
            &file,
            "examples:\n  - provider: kontocloud\n    name: x\n    target: missing.yaml\n    expected: [KC-NO-SUCH]\n  - provider: nowhere\n    name: other\n    target: t.yaml\n",
        )
        .unwrap();
        let problems = load_examples(&file, None).unwrap_err().to_string();
        assert!(
            problems.contains("accuracy.yaml:5:16: `KC-NO-SUCH` is no check"),
            "{problems}"
        );
        assert!(
            problems.contains("accuracy.yaml:4:13: the target"),
            "{problems}"
        );
        assert!(problems.contains("accuracy.yaml:6:15:"), "{problems}");
        std::fs::write(&file, "examples:\n  - provider: kontocloud\n    nme: x\n").unwrap();
        let problems = load_examples(&file, None).unwrap_err().to_string();
        assert!(problems.contains("accuracy.yaml:3:"), "{problems}");
        assert!(problems.contains("nme"), "{problems}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
