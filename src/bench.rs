//! `golive bench`: the speed and memory figures, measured on this machine and printed (never
//! asserted in tests: machines here are shared and noisy). It drives the real KontoCloud
//! sandbox over loopback, then judges and reports the journal that produced.

use std::io::Write;
use std::path::Path;

use crate::cli::out;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::journal::{Journal, ScenarioEnd, ScenarioStart};
use crate::report::{self, RunReport, Secrets};
use crate::sandbox::{self, Sandbox};

/// What to measure.
pub struct BenchConfig {
    /// Requests sent to the sandbox.
    pub requests: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    rss_field("VmHWM:")
}

/// Current resident memory of this process, in MiB.
pub fn rss_mib() -> f64 {
    rss_field("VmRSS:")
}

fn rss_field(name: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs the benchmark and prints its figures.
pub async fn run(config: BenchConfig, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let journal_path = dir.join("journal.jsonl");
    let journal = Journal::create(&journal_path).map_err(|e| e.to_string())?;
    let provider = sandbox::provider("kontocloud").ok_or("no KontoCloud profile")?;
    let sb = Sandbox::start(provider, journal.clone())
        .await
        .map_err(|e| e.to_string())?;
    let base = sb.base_url();
    let creds = sb.profile.credentials();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    journal.start_scenario(ScenarioStart {
        scenario: "bench".into(),
        title: "sandbox load".into(),
        at_ms: journal.now_ms(),
        token_lifetime_s: Some(600.0),
    });
    let token: serde_json::Value = client
        .post(format!("{base}/user/{}/issue", creds["user_id"]))
        .json(&json!({"password": creds["password"], "partnerReference": "bench-0", "localDate": "2026-01-01", "localTime": "120000"}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = token["token"].as_str().ok_or("no token")?.to_owned();

    let rss_before = rss_mib();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency.max(1) {
        let (client, base, token, next) =
            (client.clone(), base.clone(), token.clone(), next.clone());
        let total = config.requests;
        workers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return latencies;
                }
                let t = Instant::now();
                let r = client
                    .get(format!("{base}/payment/REF{i}/status?partnerReference=bench-{i}&localDate=2026-01-01&localTime=120000"))
                    .header("X-Auth-Token", &token)
                    .header("Accept-Language", "en-US")
                    .send()
                    .await;
                if let Ok(r) = r {
                    let _ = r.bytes().await;
                }
                latencies.push(t.elapsed());
            }
        });
    }
    let mut latencies = Vec::with_capacity(config.requests);
    while let Some(done) = workers.join_next().await {
        latencies.extend(done.map_err(|e| e.to_string())?);
    }
    let elapsed = started.elapsed();
    journal.end_scenario(ScenarioEnd {
        scenario: "bench".into(),
        at_ms: journal.now_ms(),
        error: None,
    });
    journal.flush().map_err(|e| e.to_string())?;
    sb.stop().await;
    let rss_after = rss_mib();
    latencies.sort();
    let journal_mib = std::fs::metadata(&journal_path)
        .map(|m| m.len() as f64 / 1048576.0)
        .unwrap_or(0.0);
    out!(
        "sandbox (KontoCloud Get Payment Status over loopback, {} in flight)",
        config.concurrency
    );
    out!(
        "  {} requests in {:.2} s: {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    out!(
        "  journal {journal_mib:.1} MiB on disk; resident memory {rss_before:.1} → {rss_after:.1} MiB (the journal is not kept in memory)"
    );

    // Judging: the bundled suite's checks over the journal just written, in one pass.
    let suite = crate::run::load_bundled_suite("kontocloud")?;
    let started = Instant::now();
    let checks = crate::run::judge(&suite.value, &journal_path)?;
    let judged = started.elapsed();
    out!(
        "checks ({} rules of the KontoCloud suite)",
        suite.value.checks.len()
    );
    out!(
        "  {} exchanges judged in {:.2} s: {:.0} exchanges/s; {} verdicts",
        latencies.len() + 1,
        judged.as_secs_f64(),
        (latencies.len() + 1) as f64 / judged.as_secs_f64(),
        checks.len()
    );

    // Reports: the run's report completed from the journal and written in every format.
    let mut run_report = RunReport {
        format_version: report::REPORT_FORMAT_VERSION.into(),
        tool: report::Tool {
            name: "golive".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        suite: report::SuiteInfo {
            id: suite.value.id.clone(),
            title: suite.value.title.clone(),
            provider: "kontocloud".into(),
            source: "built-in".into(),
        },
        target: report::TargetInfo {
            name: "bench".into(),
            source: "bench".into(),
            base_url: base,
        },
        started_at: journal.wall(0.0),
        duration_ms: 0.0,
        verdict: report::Verdict::Failed,
        counts: report::count(&checks),
        run_error: None,
        scenarios: vec![report::ScenarioResult {
            id: "bench".into(),
            title: "sandbox load".into(),
            started_ms: 0.0,
            ended_ms: 0.0,
            error: None,
            not_applicable: None,
            exchanges: Vec::new(),
            exchanges_omitted: 0,
        }],
        checks,
        exchanges: Vec::new(),
        journal: Some("journal.jsonl".into()),
        incomplete: Vec::new(),
        interrupted: None,
        not_run: Vec::new(),
    };
    let started = Instant::now();
    report::build::complete(
        &mut run_report,
        &journal_path,
        &Secrets::with(sb_secrets(&creds)),
    )
    .map_err(|e| e.to_string())?;
    let written = report::write_all(&run_report, dir).map_err(|e| e.to_string())?;
    let html = std::fs::metadata(&written.html)
        .map(|m| m.len() as f64 / 1024.0)
        .unwrap_or(0.0);
    out!("reports");
    out!(
        "  built and written in {:.2} s (HTML {html:.0} KiB, {} exchanges shown)",
        started.elapsed().as_secs_f64(),
        run_report.exchanges.len()
    );
    out!(
        "peak resident memory of the whole bench: {:.1} MiB",
        peak_rss_mib()
    );
    Ok(())
}

fn sb_secrets(creds: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    creds.get("password").cloned().into_iter().collect()
}
