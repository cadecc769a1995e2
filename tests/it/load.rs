//! Load scenarios (`repeat`, `concurrency`): many checkouts at once against one reference shop,
//! every exchange journaled, each repetition judged and told apart by its payment.
//!
//! CI runs the bundled load suite with 50 repetitions, 25 at a time; the thousand of the file
//! itself is an ignored test, run by hand:
//! `cargo test --test it -- --ignored load_a_thousand --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use golive::journal::{Actor, Entry, Exchange};
use golive::report::Outcome;
use golive::run::{self, RunConfig, TargetSpec};

use crate::support::ROOT;

const SCENARIO: &str = "checkout_load";

fn load_suite(
    repeat: Option<u32>,
    concurrency: Option<u32>,
) -> golive::suite::Loaded<golive::suite::Suite> {
    let mut suite = golive::suite::load_suite(&Path::new(ROOT).join("suites/kontocloud-load.yaml"))
        .expect("the load suite loads");
    let scenario = &mut suite.value.scenarios[0];
    assert_eq!(scenario.id, SCENARIO);
    if repeat.is_some() {
        scenario.repeat = repeat;
        scenario.concurrency = concurrency;
    }
    suite
}

async fn run_load(
    suite: golive::suite::Loaded<golive::suite::Suite>,
    flaws: &[&str],
    reports: &Path,
) -> golive::run::RunOutcome {
    let flaws: Vec<String> = flaws.iter().map(|f| f.to_string()).collect();
    run::run(
        RunConfig {
            suite,
            target: TargetSpec::reference("kontocloud", None, &flaws).unwrap(),
            reports_dir: reports.to_owned(),
            time_scale: Some(0.1),
            wait_timeout_s: Some(3.0),
            jobs: 1,
        },
        &|_| Box::new(golive::report::Silent),
    )
    .await
}

/// What the journal holds, counted: every exchange line, and each repetition's journey.
struct Tally {
    exchanges: u64,
    /// Every sequence number from 1 to the last is in the file, once.
    contiguous: bool,
    /// Repetitions whose every step left its exchange: the trigger answered, the e-wallet
    /// request and its completion, the callback, a status call about its payment, a probe
    /// that found the order paid.
    complete: usize,
    incomplete: Vec<String>,
}

fn tally(journal: &Path, repetitions: usize) -> Tally {
    let file = std::io::BufReader::new(std::fs::File::open(journal).unwrap());
    let mut seqs = Vec::new();
    let mut exchanges: Vec<Exchange> = Vec::new();
    for entry in golive::journal::read(file, journal.to_owned()) {
        if let Entry::Exchange(ex) = entry.expect("every journal line parses") {
            seqs.push(ex.seq);
            exchanges.push(*ex);
        }
    }
    let n = seqs.len() as u64;
    seqs.sort_unstable();
    let contiguous = seqs.iter().copied().eq(1..=n);
    // Each repetition's order id is numbered: checkout_load-r<N>-<hex>.
    let repetition_of = |order: &str| -> Option<usize> {
        order
            .strip_prefix(&format!("{SCENARIO}-r"))?
            .split('-')
            .next()?
            .parse()
            .ok()
    };
    #[derive(Default)]
    struct Journey {
        trigger: bool,
        ewallet: bool,
        completed: bool,
        callback: Option<String>,
        paid_probe: bool,
    }
    let mut journeys: BTreeMap<usize, Journey> = BTreeMap::new();
    let mut status_about: BTreeSet<String> = BTreeSet::new();
    for ex in &exchanges {
        assert!(
            ex.response.is_some(),
            "#{} has no answer: {:?}",
            ex.seq,
            ex.error
        );
        if ex.actor == Actor::Integration && ex.operation() == Some("payment_status") {
            status_about.extend(ex.facts.payment.clone());
        }
        let order = match ex.role.as_str() {
            "ewallet" | "ewallet_complete" => ex
                .request
                .body
                .text()
                .split('&')
                .find_map(|kv| kv.strip_prefix("merchantTransactionId="))
                .map(str::to_owned)
                .or_else(|| ex.facts.order.clone()),
            _ => ex.facts.order.clone(),
        };
        let Some(n) = order.as_deref().and_then(repetition_of) else {
            continue;
        };
        let j = journeys.entry(n).or_default();
        match ex.role.as_str() {
            "trigger:start_payment" => j.trigger |= ex.status() == Some(200),
            "ewallet" => j.ewallet |= ex.status() == Some(200),
            "ewallet_complete" => j.completed |= ex.response.is_some(),
            "callback" => j.callback = ex.facts.payment.clone(),
            "order_probe" => j.paid_probe |= ex.facts.order_paid == Some(true),
            _ => {}
        }
    }
    let mut incomplete = Vec::new();
    for n in 1..=repetitions {
        let ok = journeys.get(&n).is_some_and(|j| {
            j.trigger
                && j.ewallet
                && j.completed
                && j.paid_probe
                && j.callback
                    .as_ref()
                    .is_some_and(|p| status_about.contains(p))
        });
        if !ok {
            incomplete.push(format!("repetition {n}"));
        }
    }
    Tally {
        exchanges: n,
        contiguous,
        complete: repetitions - incomplete.len(),
        incomplete,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_checkouts_are_all_journaled_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run_load(load_suite(Some(50), Some(25)), &[], dir.path()).await;
    let report = &outcome.report;
    assert_eq!(report.run_error, None);
    assert_eq!(report.scenarios.len(), 1);
    assert_eq!(
        report.scenarios[0].error, None,
        "every repetition driven to its end"
    );
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.outcome != Outcome::Passed)
        .map(|c| format!("{} {:?}: {}", c.id, c.outcome, c.message))
        .collect();
    assert!(
        failed.is_empty(),
        "the compliant shop passes under load: {failed:#?}"
    );
    assert_eq!(outcome.exit_code, 0);
    let t = tally(&dir.path().join("journal.jsonl"), 50);
    assert!(
        t.contiguous,
        "a sequence number is missing from the journal"
    );
    assert!(
        t.incomplete.is_empty(),
        "journeys with an exchange missing: {:?}",
        t.incomplete
    );
    assert_eq!(t.complete, 50);
    // Every checkout's harness exchanges (trigger, e-wallet, its completion, callback, probe)
    // and the shop's status call, at least.
    assert!(t.exchanges >= 50 * 6, "{} exchanges", t.exchanges);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_that_trusts_the_callback_fails_under_load_naming_the_payments() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run_load(
        load_suite(Some(8), Some(8)),
        &["trust_callback"],
        dir.path(),
    )
    .await;
    let verified = outcome
        .report
        .checks
        .iter()
        .find(|c| c.id == "KC-STATUS-VERIFIED")
        .expect("judged");
    assert_eq!(verified.outcome, Outcome::Failed, "{}", verified.message);
    // The callbacks are named by their payments.
    assert!(
        verified.message.contains("(payment "),
        "{}",
        verified.message
    );
    assert!(!verified.evidence.is_empty());
    assert_eq!(outcome.exit_code, 1);
}

#[test]
fn bad_load_sizes_are_named_at_their_line() {
    let good =
        std::fs::read_to_string(Path::new(ROOT).join("suites/kontocloud-load.yaml")).unwrap();
    // (what the good file says, what it says instead, where the problem is, what it names)
    let cases = [
        ("repeat: 1000", "repeat: 0", "repeat: 0", "repeat"),
        ("repeat: 1000", "repeat: -3", "repeat: -3", "repeat"),
        (
            "repeat: 1000",
            "repeat: 1000000",
            "repeat: 1000000",
            "repeat",
        ),
        (
            "concurrency: 100",
            "concurrency: 0",
            "concurrency: 0",
            "concurrency",
        ),
        (
            "concurrency: 100",
            "concurrency: 5000",
            "concurrency: 5000",
            "concurrency",
        ),
        (
            "repeat: 1000",
            "repeat: 10",
            "concurrency: 100",
            "concurrency",
        ),
        (
            "      - trigger: { name: start_payment }",
            "      - sandbox: { token_lifetime_s: 1 }\n      - trigger: { name: start_payment }",
            "- sandbox:",
            "sandbox",
        ),
    ];
    for (from, to, at, names) in cases {
        assert!(good.contains(from));
        let text = good.replacen(from, to, 1);
        let line = text.lines().position(|l| l.contains(at)).unwrap() + 1;
        let problems = golive::suite::parse_suite(&text, Path::new("load.yaml"))
            .err()
            .unwrap_or_else(|| panic!("`{to}` is refused"))
            .to_string();
        assert!(
            problems.contains(&format!("load.yaml:{line}:")),
            "`{to}`: {problems}"
        );
        assert!(problems.contains(names), "`{to}`: {problems}");
    }
    golive::suite::parse_suite(&good, Path::new("load.yaml")).expect("the file itself is good");
}

/// The thousand of the bundled file, 100 at a time (run by hand, see the module's doc).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn load_a_thousand_concurrent_checkouts() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let outcome = run_load(load_suite(None, None), &[], dir.path()).await;
    let took = started.elapsed();
    let t = tally(&dir.path().join("journal.jsonl"), 1000);
    let passed = outcome
        .report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Passed)
        .count();
    println!(
        "1000 checkouts, 100 at once, in {:.1} s: {} exchanges journaled, sequence 1..{} {}; {}/1000 journeys complete; {passed}/{} checks passed; exit {}",
        took.as_secs_f64(),
        t.exchanges,
        t.exchanges,
        if t.contiguous { "without a gap" } else { "WITH GAPS" },
        t.complete,
        outcome.report.checks.len(),
        outcome.exit_code
    );
    assert!(t.contiguous);
    assert!(t.incomplete.is_empty(), "{:?}", t.incomplete);
    assert_eq!(outcome.exit_code, 0);
}
