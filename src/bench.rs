//! `golive bench`: golive's sandbox against a bare axum handler, side by side, measured on this
//! machine and printed (never asserted in tests: machines here are shared and noisy).
//!
//! Each server runs as its own process (`golive bench-server` for the bare handler, `golive
//! sandbox` journaling every exchange, as in a run), so its CPU time and peak memory are read
//! from `/proc/<pid>` without the load generator's. The load generator is built in: the same
//! hyper stack (through reqwest) drives both servers with the same requests over the same
//! number of kept-alive connections, in interleaved rounds (bare, golive, bare, golive...), and
//! the medians are compared. A volume phase then sends many requests to one sandbox, reports
//! its memory after them, judges the journal with the bundled suite and writes the reports.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::out;
use crate::journal::{self, Entry};
use crate::report::{self, RunReport, Secrets};

/// What to measure.
pub struct BenchConfig {
    /// Interleaved rounds per workload (each round: bare, then golive).
    pub rounds: usize,
    /// How long each server is driven per round.
    pub seconds: f64,
    /// Connections (requests in flight at once).
    pub concurrency: usize,
    /// Requests of the volume phase (0: none).
    pub volume: usize,
    /// Where the journals and reports go.
    pub dir: PathBuf,
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    rss_field("/proc/self/status", "VmHWM:")
}

/// Current resident memory of this process, in MiB.
pub fn rss_mib() -> f64 {
    rss_field("/proc/self/status", "VmRSS:")
}

fn rss_field(file: &str, name: &str) -> f64 {
    std::fs::read_to_string(file)
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

/// User + system CPU seconds a process has used (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unexpected /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| "unexpected /proc/<pid>/stat".to_string())
    };
    // Fields after the name start at field 3 (state): utime is field 14, stime 15.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11)? + ticks(12)?) / hz.max(1.0))
}

/// The two request kinds of the comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    IssueToken,
    PaymentStatus,
}

impl Workload {
    fn title(self) -> &'static str {
        match self {
            Workload::IssueToken => "Issue Token (POST /user/{id}/issue)",
            Workload::PaymentStatus => "Get Payment Status (GET /payment/{ref}/status)",
        }
    }
}

/// A server under test, started as a child process.
struct Server {
    child: Child,
    url: String,
    user_id: String,
    password: String,
    journal: Option<PathBuf>,
}

impl Server {
    fn bare() -> Result<Self, String> {
        let mut bare = Command::new(golive_exe()?);
        bare.arg("bench-server").stderr(Stdio::inherit());
        let (child, lines) = start(bare, "the bare server", |l| l.starts_with("url="))?;
        let url = value_of(&lines, "url=").ok_or("the bare server printed no URL")?;
        Ok(Server {
            child,
            url,
            user_id: BARE_USER.into(),
            password: BARE_PASSWORD.into(),
            journal: None,
        })
    }

    fn sandbox(journal: &Path) -> Result<Self, String> {
        let mut sandbox = Command::new(golive_exe()?);
        sandbox
            .args(["sandbox", "--provider", "kontocloud", "--journal"])
            .arg(journal)
            .stderr(Stdio::null());
        let (child, lines) = start(sandbox, "golive sandbox", |l| l.starts_with("Ctrl-C"))?;
        let get = |k: &str| value_of(&lines, k).ok_or(format!("golive sandbox printed no {k}"));
        Ok(Server {
            url: get("KONTOCLOUD_BASE_URL=")?,
            user_id: get("KONTOCLOUD_USER_ID=")?,
            password: get("KONTOCLOUD_PASSWORD=")?,
            journal: Some(journal.to_owned()),
            child,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT (the sandbox flushes its journal), then waits for the process to end.
    fn stop(mut self) -> Result<(), String> {
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return if status.success() || self.journal.is_none() {
                    Ok(())
                } else {
                    Err(format!("golive sandbox ended with {status}"))
                };
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("a bench server did not stop within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only this bench's own child, by its pid; a no-op once it has been waited for.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn golive_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find the golive binary: {e}"))
}

/// Starts a bench server (its stdin closed, its stdout read) and reads what it prints until
/// the line that says it is ready.
fn start(
    mut command: Command,
    name: &str,
    ready: impl Fn(&str) -> bool,
) -> Result<(Child, Vec<String>), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let lines = read_until(&mut child, ready)?;
    Ok((child, lines))
}

fn read_until(child: &mut Child, last: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err(format!(
                "the server ended before it was ready: {}",
                lines.join(" | ")
            ));
        }
        let line = line.trim().to_string();
        let done = last(&line);
        lines.push(line);
        if done {
            // The rest of its output is not read; it prints nothing more until it stops.
            return Ok(lines);
        }
    }
}

fn value_of(lines: &[String], key: &str) -> Option<String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key).map(str::to_owned))
}

/// One server driven for one round.
struct Measured {
    answered: u64,
    failed: u64,
    seconds: f64,
    cpu_seconds: f64,
    peak_rss_mib: f64,
    /// Exchanges in the journal (golive only).
    journaled: Option<u64>,
}

impl Measured {
    fn rps(&self) -> f64 {
        self.answered as f64 / self.seconds
    }
    fn cpu_us(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.answered.max(1) as f64
    }
    /// Requests answered that the journal does not hold (the token bootstrap is one of the
    /// journaled exchanges, so it is counted as answered).
    fn lost(&self) -> Option<i64> {
        self.journaled.map(|j| self.answered as i64 + 1 - j as i64)
    }
}

/// Drives `server` with the workload until `duration` passes or `limit` requests are sent.
async fn drive(
    server: &Server,
    workload: Workload,
    concurrency: usize,
    duration: Duration,
    limit: Option<u64>,
) -> Result<Measured, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    // Status calls carry a token, issued once before the clock starts.
    let token = issue(&client, server, "bench-0").await?;
    let answered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = cpu_seconds(server.pid())?;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, answered, failed, sent, stop) = (
            client.clone(),
            answered.clone(),
            failed.clone(),
            sent.clone(),
            stop.clone(),
        );
        let (base, user, password, token) = (
            server.url.clone(),
            server.user_id.clone(),
            server.password.clone(),
            token.clone(),
        );
        workers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = sent.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|l| i >= l) {
                    break;
                }
                let request = match workload {
                    Workload::IssueToken => client
                        .post(format!("{base}/user/{user}/issue"))
                        .json(&json!({"password": password, "partnerReference": format!("bench-{i}"), "localDate": "2026-01-01", "localTime": "120000"})),
                    Workload::PaymentStatus => client
                        .get(format!("{base}/payment/REF{i}/status?partnerReference=bench-{i}&localDate=2026-01-01&localTime=120000"))
                        .header("X-Auth-Token", &token)
                        .header("Accept-Language", "en-US"),
                };
                let read = match request.send().await {
                    Ok(r) => r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if read {
                    answered.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    if limit.is_none() {
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
    }
    while let Some(done) = workers.join_next().await {
        done.map_err(|e| e.to_string())?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds(server.pid())? - cpu_before;
    Ok(Measured {
        answered: answered.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        seconds,
        cpu_seconds,
        peak_rss_mib: rss_field(&format!("/proc/{}/status", server.pid()), "VmHWM:"),
        journaled: None,
    })
}

async fn issue(
    client: &reqwest::Client,
    server: &Server,
    reference: &str,
) -> Result<String, String> {
    let answer: Value = client
        .post(format!("{}/user/{}/issue", server.url, server.user_id))
        .json(&json!({"password": server.password, "partnerReference": reference, "localDate": "2026-01-01", "localTime": "120000"}))
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", server.url))?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no token in {answer}"))
}

fn journaled_exchanges(path: &Path) -> Result<u64, String> {
    // Every line read as an entry (a line that is none is an error), on every core.
    let mut n = 0;
    journal::reader::for_each::<journal::JournalError>(path, |located| {
        if let Entry::Exchange(_) = located.entry {
            n += 1;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(n)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(config: BenchConfig) -> Result<(), crate::Error> {
    measure(config).await.map_err(crate::Error::Run)
}

async fn measure(config: BenchConfig) -> Result<(), String> {
    std::fs::create_dir_all(&config.dir).map_err(|e| e.to_string())?;
    let duration = Duration::from_secs_f64(config.seconds.max(0.1));
    out!(
        "golive bench: {} rounds of {:.0} s per server and workload, {} connections, loopback; {} cores",
        config.rounds,
        config.seconds,
        config.concurrency,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for workload in [Workload::IssueToken, Workload::PaymentStatus] {
        let mut bare = Vec::new();
        let mut golive = Vec::new();
        for round in 0..config.rounds.max(1) {
            let server = Server::bare()?;
            let m = drive(&server, workload, config.concurrency, duration, None).await?;
            server.stop()?;
            bare.push(m);

            let journal = config.dir.join(format!("journal-round{}.jsonl", round + 1));
            let server = Server::sandbox(&journal)?;
            let mut m = drive(&server, workload, config.concurrency, duration, None).await?;
            server.stop()?;
            m.journaled = Some(journaled_exchanges(&journal)?);
            golive.push(m);
        }
        print_comparison(workload, &bare, &golive);
    }
    if config.volume > 0 {
        volume(&config).await?;
    }
    Ok(())
}

fn print_comparison(workload: Workload, bare: &[Measured], golive: &[Measured]) {
    let med = |ms: &[Measured], f: fn(&Measured) -> f64| median(ms.iter().map(f).collect());
    let (b_rps, g_rps) = (med(bare, Measured::rps), med(golive, Measured::rps));
    let (b_cpu, g_cpu) = (med(bare, Measured::cpu_us), med(golive, Measured::cpu_us));
    let (b_rss, g_rss) = (
        med(bare, |m| m.peak_rss_mib),
        med(golive, |m| m.peak_rss_mib),
    );
    let lost: i64 = golive.iter().filter_map(Measured::lost).sum();
    let answered: u64 = golive.iter().map(|m| m.answered).sum();
    let failed: u64 = bare.iter().chain(golive).map(|m| m.failed).sum();
    out!("");
    out!("{} — medians of {} rounds", workload.title(), bare.len());
    out!(
        "  {:<34} {:>12} {:>16} {:>14}",
        "server",
        "req/s",
        "CPU µs/request",
        "peak RSS MiB"
    );
    out!(
        "  {:<34} {:>12.0} {:>16.1} {:>14.1}",
        "bare axum handler",
        b_rps,
        b_cpu,
        b_rss
    );
    out!(
        "  {:<34} {:>12.0} {:>16.1} {:>14.1}",
        "golive sandbox, journaling",
        g_rps,
        g_cpu,
        g_rss
    );
    out!(
        "  {:<34} {:>11.2}× {:>15.2}× {:>13.2}×   (targets: ≥ 0.80× req/s, ≤ 1.25× CPU)",
        "golive / bare",
        g_rps / b_rps.max(1e-9),
        g_cpu / b_cpu.max(1e-9),
        g_rss / b_rss.max(1e-9)
    );
    out!(
        "  exchanges lost: {lost} of {answered} answered by golive (journal lines vs answers); {failed} requests failed"
    );
    for (i, (b, g)) in bare.iter().zip(golive).enumerate() {
        out!(
            "    round {}: bare {:.0} req/s {:.1} µs · golive {:.0} req/s {:.1} µs",
            i + 1,
            b.rps(),
            b.cpu_us(),
            g.rps(),
            g.cpu_us()
        );
    }
}

/// Many requests to one sandbox: its memory after them, then the journal judged and reported.
async fn volume(config: &BenchConfig) -> Result<(), String> {
    let journal_path = config.dir.join("journal-volume.jsonl");
    let server = Server::sandbox(&journal_path)?;
    let m = drive(
        &server,
        Workload::PaymentStatus,
        config.concurrency,
        Duration::ZERO,
        Some(config.volume as u64),
    )
    .await?;
    let rss_now = rss_field(&format!("/proc/{}/status", server.pid()), "VmRSS:");
    server.stop()?;
    let journaled = journaled_exchanges(&journal_path)?;
    let journal_mib = std::fs::metadata(&journal_path)
        .map(|m| m.len() as f64 / 1048576.0)
        .unwrap_or(0.0);
    out!("");
    out!(
        "volume: {} Get Payment Status calls to one golive sandbox",
        config.volume
    );
    out!(
        "  {:.0} req/s; resident memory after them {rss_now:.1} MiB (peak {:.1} MiB; target ≤ 100 MB); journal {journal_mib:.0} MiB on disk, {journaled} exchanges, {} lost",
        m.rps(),
        m.peak_rss_mib,
        m.answered as i64 + 1 - journaled as i64
    );

    let suite = crate::run::load_bundled_suite("kontocloud").map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (checks, index) = crate::run::judge_indexed(&suite.value, &journal_path)?;
    let judged = started.elapsed();
    out!(
        "  judged by the {} checks of the KontoCloud suite in {:.2} s ({:.0} exchanges/s; target < 2 s for 1,000,000)",
        suite.value.checks.len(),
        judged.as_secs_f64(),
        journaled as f64 / judged.as_secs_f64()
    );
    let mut run_report = RunReport::begin(
        report::SuiteInfo {
            source: "built-in".into(),
            ..report::SuiteInfo::of(&suite)
        },
        report::TargetInfo {
            name: "bench".into(),
            source: "bench".into(),
            base_url: String::new(),
        },
    );
    run_report.verdict = report::Verdict::Failed;
    run_report.counts = report::count(&checks);
    run_report.checks = checks;
    run_report.journal = Some(journal_path.display().to_string());
    let started = Instant::now();
    report::build::complete(
        &mut run_report,
        &journal_path,
        Some(&index),
        &Secrets::new(),
    )
    .map_err(|e| e.to_string())?;
    let written = report::write_all(&run_report, &config.dir).map_err(|e| e.to_string())?;
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / 1024.0)
            .unwrap_or(0.0)
    };
    out!(
        "  reports built and written in {:.2} s (target < 1 s): HTML {:.0} KiB, JSON {:.0} KiB",
        started.elapsed().as_secs_f64(),
        size(&written.html),
        size(&config.dir.join("report.json"))
    );
    out!(
        "  peak resident memory of the judging and reporting process: {:.1} MiB",
        peak_rss_mib()
    );
    Ok(())
}

const BARE_USER: &str = "bench-user";
const BARE_PASSWORD: &str = "bench-password";

/// `golive bench-server`: the baseline, a bare axum handler answering the same two operations
/// with JSON of the same shape, without journaling, schemas or state. Prints `url=...`.
pub async fn serve_bare() -> Result<(), crate::Error> {
    serve_bare_axum().await.map_err(crate::Error::Run)
}

async fn serve_bare_axum() -> Result<(), String> {
    use axum::extract::Path as UrlPath;
    use axum::routing::{get, post};
    use axum::Json;

    async fn issue(UrlPath(user): UrlPath<String>, Json(body): Json<Value>) -> Json<Value> {
        let ok = user == BARE_USER && body["password"] == BARE_PASSWORD;
        Json(json!({
            "token": if ok { format!("kc.{}", crate::sandbox::random_text(48)) } else { String::new() },
            "partnerReference": body["partnerReference"],
            "responseCode": if ok { "0000" } else { "0002" },
            "responseDescription": "Successful execution",
            "additionalInformation": { "requestId": uuid::Uuid::new_v4().simple().to_string() },
        }))
    }
    async fn status(UrlPath(reference): UrlPath<String>) -> Json<Value> {
        Json(json!({
            "uniqueReference": reference,
            "paymentStatus": "CAPTURED",
            "responseCode": "0000",
            "responseDescription": "Successful execution",
            "additionalInformation": { "requestId": uuid::Uuid::new_v4().simple().to_string() },
        }))
    }
    let app = axum::Router::new()
        .route("/user/{user}/issue", post(issue))
        .route("/payment/{reference}/status", get(status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Listening for SIGINT before saying it is ready: the bench stops it with one.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| e.to_string())?;
    out!("url=http://{addr}");
    let _ = std::io::stdout().flush();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            interrupt.recv().await;
        })
        .await
        .map_err(|e| e.to_string())
}
