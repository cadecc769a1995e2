//! The reports from the outside: a hand-made run with secrets planted in its traffic goes
//! through `complete` and `write_all`, then each file is read back raw and by the tools that
//! will read it in real life — xmllint with the Jenkins XSD, Python's junitparser, the JSON
//! schema, headless Chromium.
//!
//! These tools are required: when one is missing the test fails and says to run
//! `scripts/test-deps`, so a machine without them cannot pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use golive::journal::{
    Actor, Body, Direction, Exchange, Facts, Journal, Request, Response, ScenarioEnd, ScenarioStart,
};
use golive::report::{
    self, junit, CheckResult, Counts, Outcome, RunReport, ScenarioResult, Secrets, Severity,
    SuiteInfo, TargetInfo, Tool, Verdict,
};

use crate::support::{chromium, venv_python, xmllint, ROOT};

// The secrets planted in the traffic. None may appear in any report.
const TOKEN: &str = "tok-PLANTED-9f8e7d6c5b4a3921";
const BEARER: &str = "eyJhbGciOiJIUzI1NiJ9.UExBTlRFRC1iZWFyZXI.PLANTED77";
const PASSWORD: &str = "Pl4nted-Passw0rd!";
const CLIENT_SECRET: &str = "PLANTED-client-secret-42";
const MERCHANT_KEY: &str = "PLANTED-merchant-key-0042";
const PAN_SPACED: &str = "4111 1111 1111 1111";
const PAN_VISA: &str = "4111111111111111";
const PAN_MC: &str = "5555555555554444";
// A JWT only ever seen in a body field, a query string and the order probe's answer.
const LOOSE_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEIn0.LooseSig-PLANTED_42";
// A token as the KontoCloud sandbox issues it, seen only in a trace header of the shop.
const KC_TOKEN: &str = "kc.PLANTEDkcTokenAbcdefghijkmnopqrstuvwxyzABCDEFGHJ";
// An order id the shop keeps in a cookie: not a secret.
const ORDER_ID: &str = "ORD-PLANTED-000981";
const SESSION: &str = "sess-PLANTED-4c3b2a19";

/// `user:password` and the password alone, encoded as shops do.
fn encoded() -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        b64.encode(format!("shop-user:{PASSWORD}")),
        b64.encode(PASSWORD),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(CLIENT_SECRET),
        "Pl4nted%2DPassw0rd%21".into(),
    ]
}

fn planted() -> Vec<&'static str> {
    vec![
        TOKEN,
        BEARER,
        PASSWORD,
        CLIENT_SECRET,
        MERCHANT_KEY,
        PAN_SPACED,
        PAN_VISA,
        PAN_MC,
        // Their spellings in forms and JSON.
        "Pl4nted-Passw0rd%21",
        "4111+1111+1111+1111",
        "4111-1111-1111-1111",
        LOOSE_JWT,
        KC_TOKEN,
        SESSION,
    ]
}

struct Ex {
    direction: Direction,
    actor: Actor,
    role: &'static str,
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    status: Option<u16>,
    response: String,
}

impl Ex {
    fn api(method: &'static str, url: impl Into<String>) -> Self {
        Ex {
            direction: Direction::ToSandbox,
            actor: Actor::Integration,
            role: "api",
            method,
            url: url.into(),
            headers: vec![("Content-Type", "application/json".into())],
            body: String::new(),
            status: Some(200),
            response: String::new(),
        }
    }

    fn to_target(actor: Actor, role: &'static str, method: &'static str, url: &str) -> Self {
        Ex {
            direction: Direction::ToTarget,
            actor,
            role,
            ..Ex::api(method, url)
        }
    }

    fn record(self, journal: &Journal, facts: Facts) -> u64 {
        let at_ms = journal.now_ms();
        journal.record(Exchange {
            seq: 0,
            scenario: String::new(),
            direction: self.direction,
            actor: self.actor,
            role: self.role.into(),
            at_ms,
            at: journal.wall(at_ms),
            duration_ms: 12.0,
            request: Request {
                method: self.method.into(),
                url: self.url,
                headers: self
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                body: Body::from_bytes(self.body.as_bytes()),
            },
            response: self.status.map(|status| Response {
                status,
                headers: [("Set-Cookie", format!("sid={TOKEN}; Path=/; HttpOnly"))]
                    .into_iter()
                    .collect(),
                body: Body::from_bytes(self.response.as_bytes()),
            }),
            error: if self.status.is_none() {
                Some(format!("connection reset while sending {BEARER}"))
            } else {
                None
            },
            facts,
        })
    }
}

fn op(name: &str) -> Facts {
    Facts {
        operation: Some(name.into()),
        ..Facts::default()
    }
}

/// Records a run's journal with secrets in every place they turn up in real traffic, and
/// returns the report the runner would hand over (no exchanges yet).
fn run(dir: &Path, suite_id: &str) -> RunReport {
    let journal_path = dir.join(format!("{suite_id}-journal.jsonl"));
    let j = Journal::create(&journal_path).unwrap();

    // Outside any scenario: the readiness probe, evidence of a check.
    let ready =
        Ex::to_target(Actor::Harness, "ready_probe", "GET", "/health").record(&j, Facts::default());

    j.start_scenario(ScenarioStart {
        lane: 0,
        scenario: "purchase_captured".into(),
        title: "A captured purchase".into(),
        at_ms: j.now_ms(),
        token_lifetime_s: Some(300.0),
    });
    let mut trigger = Ex::to_target(Actor::Harness, "trigger:start_payment", "POST", "/checkout");
    trigger.body = format!(r#"{{"amount":1000,"currency":"EUR","card":"{PAN_SPACED}"}}"#);
    trigger.status = Some(303);
    trigger.record(&j, Facts::default());

    // The shop's own traffic with secrets in every other form: a JWT in a body field and a
    // query, encoded credentials in a custom header and a body, a sandbox token in a trace
    // header; and its order id in a cookie next to its session cookie.
    let [pair, alone, url_safe, percent] = <[String; 4]>::try_from(encoded()).unwrap();
    let mut pay = Ex::to_target(
        Actor::Browser,
        "browser",
        "POST",
        &format!("/pay/{ORDER_ID}?state={LOOSE_JWT}&p={percent}"),
    );
    pay.headers = vec![
        ("X-Shop-Credentials", pair.clone()),
        ("X-Trace", format!("issued {KC_TOKEN}")),
        (
            "Cookie",
            format!("orderId={ORDER_ID}; shop_session={SESSION}"),
        ),
    ];
    pay.body = format!(r#"{{"note":"{LOOSE_JWT}","pw":"{alone}","cs":"{url_safe}"}}"#);
    pay.record(
        &j,
        Facts {
            order: Some(ORDER_ID.into()),
            ..Facts::default()
        },
    );

    let mut issue = Ex::api("POST", "/user/u1/issue");
    issue.body = format!(
        r#"{{"password":"{PASSWORD}","partnerReference":"ref-1","localDate":"2024-06-11","localTime":"120000"}}"#
    );
    issue.response = format!(
        r#"{{"token":"{TOKEN}","validUntil":"2024-06-11T12:05:00Z","responseCode":"0000"}}"#
    );
    let issue1 = issue.record(&j, op("issue_token"));

    let mut oauth = Ex::api("POST", "/oauth/token");
    oauth.headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded".into()),
        ("X-IBM-Client-Id", MERCHANT_KEY.into()),
    ];
    oauth.body = format!(
        "grant_type=client_credentials&client_id=shop&client_secret={CLIENT_SECRET}&password=Pl4nted-Passw0rd%21"
    );
    oauth.response = format!(r#"{{"access_token":"{BEARER}","expires_in":300}}"#);
    oauth.record(&j, op("oauth_token"));

    let mut issue_again = Ex::api("POST", "/user/u1/issue");
    issue_again.body = format!(r#"{{"password":"{PASSWORD}","partnerReference":"ref-2"}}"#);
    issue_again.response = format!(r#"{{"token":"{TOKEN}-2"}}"#);
    let issue2 = issue_again.record(&j, op("issue_token"));

    let mut status = Ex::api(
        "GET",
        format!("/payment/U1/status?partnerReference=ref-3&pan={PAN_MC}"),
    );
    status.headers.push(("X-Auth-Token", TOKEN.into()));
    status
        .headers
        .push(("Authorization", format!("Bearer {BEARER}")));
    status
        .headers
        .push(("Cookie", format!("sid={TOKEN}; lang=en")));
    // A hostile body: markup, ANSI, control characters, a CDATA end, and card numbers.
    status.response = format!(
        "{{\"statusCode\":\"CAPTURED\",\"note\":\"<script>alert(1)</script> \u{1b}[31mred\u{1b}[0m \u{7}bell ]]> done\",\"accno\":\"{PAN_VISA}\"}}"
    );
    let status_seq = status.record(&j, op("payment_status"));

    let mut callback = Ex::to_target(
        Actor::Browser,
        "callback",
        "POST",
        "/return?paymentResult=OK&uniqueReference=U1",
    );
    callback.status = Some(302);
    callback.record(&j, Facts::default());

    let mut probe = Ex::to_target(Actor::Harness, "order_probe", "GET", "/orders/o-1");
    probe.response = format!(r#"{{"status":"paid","debug":"{LOOSE_JWT}"}}"#);
    let probe = probe.record(
        &j,
        Facts {
            order_paid: Some(true),
            ..Facts::default()
        },
    );
    j.end_scenario(ScenarioEnd {
        scenario: "purchase_captured".into(),
        at_ms: j.now_ms(),
        error: None,
    });

    j.start_scenario(ScenarioStart {
        lane: 0,
        scenario: "provider_5xx".into(),
        title: "The provider answers 500".into(),
        at_ms: j.now_ms(),
        token_lifetime_s: None,
    });
    let mut broken = Ex::api("GET", "/payment/U2/status");
    broken.status = None;
    let broken_seq = broken.record(&j, op("payment_status"));
    j.end_scenario(ScenarioEnd {
        scenario: "provider_5xx".into(),
        at_ms: j.now_ms(),
        error: Some(format!("gave up after {MERCHANT_KEY} was refused")),
    });
    j.flush().unwrap();

    let check = |id: &str,
                 severity,
                 outcome,
                 scenario: Option<&str>,
                 message: String,
                 evidence: Vec<u64>| CheckResult {
        id: id.into(),
        title: format!("{id} holds"),
        description: format!("The rule behind {id}, in words."),
        severity,
        source: if id.ends_with("RETRY") {
            "inferred".into()
        } else {
            "seed 000".into()
        },
        kind: id.to_lowercase(),
        scenario: scenario.map(str::to_string),
        outcome,
        message,
        evidence,
    };
    let checks = vec![
        check("KC-PARTNER-REF", Severity::Minor, Outcome::Passed, None, "every partnerReference differs".into(), vec![issue1, issue2]),
        check(
            "KC-TOKEN-REUSE",
            Severity::Critical,
            Outcome::Failed,
            None,
            format!("token {TOKEN} was replaced after 0.1 s of 300 s\nsecond line with card {PAN_SPACED}"),
            vec![issue1, issue2],
        ),
        check(
            "KC-STATUS-AFTER-CALLBACK",
            Severity::Major,
            Outcome::Failed,
            Some("purchase_captured"),
            format!("order marked paid; status query carried {PAN_MC} and <b>markup</b>"),
            vec![status_seq, probe],
        ),
        check("KC-READY", Severity::Minor, Outcome::Passed, None, "the shop answered its readiness probe".into(), vec![ready]),
        check("KC-5XX-RETRY", Severity::Major, Outcome::Skipped, Some("provider_5xx"), "no 5xx was answered in this run".into(), vec![broken_seq]),
    ];
    RunReport {
        format_version: report::REPORT_FORMAT_VERSION.into(),
        tool: Tool {
            name: "golive".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        suite: SuiteInfo {
            id: suite_id.into(),
            title: format!("{suite_id} go-live assessment"),
            provider: suite_id.into(),
            source: format!("built-in:{suite_id}"),
        },
        target: TargetInfo {
            name: "demo-shop".into(),
            source: "examples/demo-shop.yaml".into(),
            base_url: format!("http://shop:{PASSWORD}@127.0.0.1:8080"),
        },
        started_at: "2024-06-11T12:00:00Z".into(),
        duration_ms: 4321.0,
        scripted_wait_ms: None,
        verdict: Verdict::Failed,
        counts: Counts::default(),
        run_error: None,
        scenarios: vec![
            ScenarioResult {
                id: "purchase_captured".into(),
                title: "A captured purchase".into(),
                started_ms: 0.0,
                ended_ms: 50.0,
                error: None,
                not_applicable: None,
                exchanges: vec![],
                exchanges_omitted: 0,
            },
            ScenarioResult {
                id: "provider_5xx".into(),
                title: "The provider answers 500".into(),
                started_ms: 50.0,
                ended_ms: 60.0,
                error: Some(format!("gave up after {MERCHANT_KEY} was refused")),
                not_applicable: None,
                exchanges: vec![],
                exchanges_omitted: 0,
            },
        ],
        checks,
        exchanges: vec![],
        journal: Some(journal_path.display().to_string()),
        incomplete: Vec::new(),
        interrupted: None,
        not_run: Vec::new(),
        filter: None,
        bailed: None,
    }
}

fn secrets() -> Secrets {
    Secrets::with([PASSWORD, CLIENT_SECRET, MERCHANT_KEY])
}

/// Runs `suite_id` into `dir/<suite_id>/`, returning the completed report and the files.
fn written(dir: &Path, suite_id: &str) -> (RunReport, report::Written) {
    let mut r = run(dir, suite_id);
    let journal = PathBuf::from(r.journal.clone().unwrap());
    report::complete(&mut r, &journal, None, &secrets()).unwrap();
    let files = report::write_all(&r, &dir.join(suite_id)).unwrap();
    // To look at the reports of a test run: GOLIVE_TEST_KEEP=/some/dir cargo test --test it
    if let Some(keep) = std::env::var_os("GOLIVE_TEST_KEEP") {
        let keep = Path::new(&keep).join(suite_id);
        std::fs::create_dir_all(&keep).unwrap();
        for f in [&files.junit, &files.html, &files.json] {
            std::fs::copy(f, keep.join(f.file_name().unwrap())).unwrap();
        }
    }
    (r, files)
}

#[test]
fn no_planted_secret_or_card_number_reaches_any_report() {
    let dir = tempfile::tempdir().unwrap();
    let (r, files) = written(dir.path(), "kontocloud");
    // The journal keeps them (it must prove verdicts); the reports must not.
    let journal = std::fs::read_to_string(r.journal.as_ref().unwrap()).unwrap();
    assert!(
        journal.contains(TOKEN) && journal.contains(PAN_MC),
        "the plant worked"
    );
    let summary = report::console::summary(&r, &dir.path().join("kontocloud"), false);
    for (name, bytes) in [
        ("junit.xml", std::fs::read(&files.junit).unwrap()),
        ("report.html", std::fs::read(&files.html).unwrap()),
        ("report.json", std::fs::read(&files.json).unwrap()),
        ("summary", summary.into_bytes()),
    ] {
        let text = String::from_utf8_lossy(&bytes);
        for secret in planted() {
            assert!(!text.contains(secret), "{secret} leaked into {name}");
        }
        for secret in encoded() {
            assert!(!text.contains(&secret), "{secret} leaked into {name}");
        }
        // Reuse stays visible: the token's fingerprint is there instead.
        assert!(
            text.contains(&golive::journal::fingerprint(TOKEN)),
            "{name} lost the token fingerprint"
        );
    }
    let json = std::fs::read_to_string(&files.json).unwrap();
    assert!(json.contains("411111******1111") && json.contains("555555******4444"));
    // What a reviewer needs stays readable: the order id, in the URL and in its cookie.
    assert!(
        json.contains(&format!("/pay/{ORDER_ID}?")),
        "order id masked"
    );
    assert!(
        json.contains(&format!("orderId={ORDER_ID}")),
        "order id cookie masked"
    );
}

#[test]
fn junit_validates_against_the_jenkins_xsd() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = written(dir.path(), "kontocloud");
    crate::support::assert_junit_valid(&files.junit);
    let xml = std::fs::read_to_string(&files.junit).unwrap();
    assert!(!xml.contains('\u{1b}') && !xml.contains('\u{7}'));
    assert!(xml.contains("]]&gt; done"));
}

#[test]
fn junit_parses_in_junitparser() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = written(dir.path(), "kontocloud");
    let script = r#"
import json, sys
from junitparser import JUnitXml, Failure, Skipped, Error
xml = JUnitXml.fromfile(sys.argv[1])
out = {"time": xml.time, "suites": [], "cases": []}
for suite in xml:
    out["suites"].append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                          "errors": suite.errors, "skipped": suite.skipped,
                          "file": suite._elem.get("file")})
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        messages = [r.message for r in case.result]
        texts = [r.text for r in case.result]
        out["cases"].append({"classname": case.classname, "name": case.name, "kinds": kinds,
                             "messages": messages, "texts": texts,
                             "system_out": case.system_out})
print(json.dumps(out))
"#;
    let out = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .arg(&files.junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suite = &parsed["suites"][0];
    assert_eq!(suite["name"], "kontocloud");
    assert_eq!(suite["tests"], 5);
    assert_eq!(suite["failures"], 2);
    assert_eq!(suite["skipped"], 1);
    assert_eq!(suite["errors"], 0);
    // GitHub's annotators place failures by `file`; a bundled suite is named by its file.
    assert_eq!(suite["file"], "kontocloud");
    // The root's time is the run's, not the sum of overlapping testcase times.
    assert_eq!(parsed["time"], 4.321);
    let cases = parsed["cases"].as_array().unwrap();
    // Failures first, most severe first.
    assert_eq!(cases[0]["classname"], "golive.kontocloud.KC-TOKEN-REUSE");
    assert_eq!(cases[0]["kinds"][0], "Failure");
    assert_eq!(
        cases[0]["messages"][0],
        format!(
            "[critical] KC-TOKEN-REUSE: KC-TOKEN-REUSE holds: token {} was replaced after 0.1 s of 300 s",
            golive::journal::fingerprint(TOKEN)
        )
    );
    // GitLab shows only the body: it opens with the severity, the check and what was wrong.
    let body = cases[0]["texts"][0].as_str().unwrap();
    assert!(
        body.starts_with(&format!(
            "[critical] KC-TOKEN-REUSE: token {} was replaced",
            golive::journal::fingerprint(TOKEN)
        )),
        "{body}"
    );
    assert_eq!(
        cases[1]["name"],
        "KC-STATUS-AFTER-CALLBACK [purchase_captured]"
    );
    assert!(cases[1]["system_out"]
        .as_str()
        .unwrap()
        .contains("severity: major"));
    let skipped = cases.iter().find(|c| c["kinds"][0] == "Skipped").unwrap();
    assert_eq!(skipped["messages"][0], "no 5xx was answered in this run");
    let names: std::collections::HashSet<(String, String)> = cases
        .iter()
        .map(|c| (c["classname"].to_string(), c["name"].to_string()))
        .collect();
    assert_eq!(names.len(), cases.len(), "classname+name pairs are unique");
}

#[test]
fn json_validates_against_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (r, files) = written(dir.path(), "kontocloud");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    assert_eq!(report::json::schema_errors(&doc), Vec::<String>::new());
    // And it reads back as the report it was written from.
    let back: RunReport = serde_json::from_value(doc).unwrap();
    assert_eq!(back, r);
    // The schema file on disk is the one the crate publishes.
    assert_eq!(
        std::fs::read_to_string(format!("{ROOT}/schemas/report.schema.json")).unwrap(),
        report::json::SCHEMA
    );
}

fn chromium_run(args: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn html_renders_failures_and_evidence_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (r, files) = written(dir.path(), "kontocloud");
    let out = chromium_run(&["--dump-dom"], &files.html);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("KC-TOKEN-REUSE") && dom.contains("KC-STATUS-AFTER-CALLBACK"));
    for (i, check) in r.checks.iter().enumerate() {
        if check.outcome != Outcome::Failed {
            continue;
        }
        assert!(
            dom.contains(&format!(">{}</b>", check.id)),
            "{} in the DOM",
            check.id
        );
        for seq in &check.evidence {
            let ex = r.exchange(*seq).unwrap();
            let at = dom
                .find(&format!("id=\"check-{i}-ex-{seq}\""))
                .unwrap_or_else(|| panic!("evidence #{seq} of {} in the DOM", check.id));
            let shown = &dom[at..at + 2000.min(dom.len() - at)];
            assert!(
                shown.contains(&format!("<b>{}</b> <code>", ex.request.method))
                    && shown.contains(&format!(
                        "<pre>{} {}",
                        ex.request.method,
                        ex.request.url.replace('&', "&amp;")
                    )),
                "{shown}"
            );
        }
    }
    assert!(
        dom.contains("/payment/U1/status?partnerReference=ref-3&amp;pan=555555******4444"),
        "evidence URL in the DOM"
    );
    // The planted markup stayed text: no element was made of it.
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<script>alert(1)"));
    assert!(!dom.contains("<b>markup</b>"));
    // The script ran (the toolbar shows) and the failed checks are open.
    assert!(
        dom.contains(r#"<span class="toolbar">"#),
        "toolbar unhidden by the inline script"
    );
    assert!(dom.contains(r#"<details class="rule outcome-failed print-open" id="rule-0" open="">"#));
}

/// The RGB of one pixel of a PNG.
fn pixel(png_path: &Path, x: u32, y: u32) -> [u8; 3] {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let i = (y as usize * info.line_size) + x as usize * channels;
    [buf[i], buf[i + 1], buf[i + 2]]
}

#[test]
fn html_banner_shows_the_failed_colour() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = written(dir.path(), "kontocloud");
    let shot = dir.path().join("shot.png");
    chromium_run(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
        ],
        &files.html,
    );
    // Inside the banner, left of its text. `--failed: #cf222e` in the template.
    let [r, g, b] = pixel(&shot, 6, 6);
    let failed = [0xcf, 0x22, 0x2e];
    let close = |a: u8, b: u8| a.abs_diff(b) <= 6;
    assert!(
        close(r, failed[0]) && close(g, failed[1]) && close(b, failed[2]),
        "banner is rgb({r},{g},{b}), not the failed colour"
    );
    // Below the banner the page is white.
    assert_eq!(pixel(&shot, 6, 400), [255, 255, 255]);
}

#[test]
fn merged_junit_validates_and_sums_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (_, a) = written(dir.path(), "kontocloud");
    let (_, b) = written(dir.path(), "paynow");
    let merged = junit::merge(&[a.junit, b.junit]).unwrap();
    let path = dir.path().join("merged.xml");
    std::fs::write(&path, &merged).unwrap();
    let out = Command::new(xmllint())
        .arg("--noout")
        .arg("--schema")
        .arg(format!("{ROOT}/schemas/junit-10.xsd"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = merged.lines().find(|l| l.contains("<testsuites")).unwrap();
    assert!(
        root.contains(r#"tests="10""#)
            && root.contains(r#"failures="4""#)
            && root.contains(r#"errors="0""#),
        "{root}"
    );
    assert!(
        merged.contains(r#"<testsuite name="kontocloud""#)
            && merged.contains(r#"<testsuite name="paynow""#)
    );
    for secret in planted() {
        assert!(!merged.contains(secret));
    }
}

#[test]
fn a_run_that_could_not_be_made_is_one_junit_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = run(dir.path(), "kontocloud");
    r.verdict = Verdict::Error;
    r.checks.clear();
    r.run_error = Some(format!(
        "the target did not start: password {PASSWORD} rejected"
    ));
    let journal = PathBuf::from(r.journal.clone().unwrap());
    report::complete(&mut r, &journal, None, &secrets()).unwrap();
    let files = report::write_all(&r, &dir.path().join("out")).unwrap();
    let xml = std::fs::read_to_string(&files.junit).unwrap();
    assert!(!xml.contains(PASSWORD));
    assert!(
        xml.contains(r#"<testcase name="run" classname="golive.kontocloud.run">"#),
        "{xml}"
    );
    let out = Command::new(xmllint())
        .args(["--noout", "--schema"])
        .arg(format!("{ROOT}/schemas/junit-10.xsd"))
        .arg(&files.junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert!(html.contains(r#"class="banner verdict-error""#));
}

/// The run the issue measured: the bundled KontoCloud suite against the reference shop with
/// the `trust_callback` flaw (`golive demo --flaw trust_callback`), its provider clocks sped up.
/// Run once for the tests that read its reports; the folder lives as long as the test binary.
fn flawed_kontocloud() -> &'static (RunReport, PathBuf) {
    static RUN: OnceLock<(RunReport, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let outcome =
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(crate::support::run_reference(
                    "kontocloud",
                    None,
                    &["trust_callback"],
                    &dir,
                    Some(0.1),
                ));
        assert_eq!(outcome.exit_code, 1, "the flawed shop fails checks");
        let failed: std::collections::BTreeSet<&str> =
            outcome.report.failures().map(|c| c.id.as_str()).collect();
        assert!(failed.len() >= 2, "{failed:?}");
        if let Some(keep) = std::env::var_os("GOLIVE_TEST_KEEP") {
            let keep = Path::new(&keep).join("flawed-kontocloud");
            std::fs::create_dir_all(&keep).unwrap();
            for f in ["junit.xml", "report.html", "report.json"] {
                std::fs::copy(dir.join(f), keep.join(f)).unwrap();
            }
        }
        (outcome.report, dir)
    })
}

/// Where headless Chromium lays out the failures at a glance in a 1280×900 window: the report
/// with a script appended that writes the boxes into the DOM, read back with `--dump-dom`.
#[test]
fn html_failures_at_a_glance_are_in_the_first_screen() {
    let (report, dir) = flawed_kontocloud();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let probe = r#"<script>
(function () {
  var box = function (e) { var r = e.getBoundingClientRect(); return { top: r.top, bottom: r.bottom }; };
  var glance = document.getElementById("failures");
  var out = { height: window.innerHeight, section: box(glance),
    index: Array.prototype.map.call(glance.querySelectorAll("ul.index li"), box),
    cards: Array.prototype.map.call(glance.querySelectorAll("article.failure"), box),
    headings: Array.prototype.map.call(glance.querySelectorAll("article.failure h3"), box) };
  var pre = document.createElement("pre");
  pre.id = "layout-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;
    let probed = dir.join("probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let out = chromium_run(&["--dump-dom", "--window-size=1280,900"], &probed);
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = dom
        .find(r#"<pre id="layout-probe">"#)
        .expect("the probe ran")
        + 23;
    let end = at + dom[at..].find("</pre>").unwrap();
    let layout: serde_json::Value = serde_json::from_str(&dom[at..end]).unwrap();
    let screen = 900.0_f64.min(layout["height"].as_f64().unwrap());
    let top = |v: &serde_json::Value| v["top"].as_f64().unwrap();
    let bottom = |v: &serde_json::Value| v["bottom"].as_f64().unwrap();
    let rules: std::collections::BTreeSet<&str> =
        report.failures().map(|c| c.id.as_str()).collect();
    let cards = layout["cards"].as_array().unwrap();
    assert_eq!(
        cards.len(),
        rules.len(),
        "one card per failed rule: {layout}"
    );
    // The section starts in the upper half, every failed rule is named in its index, and the
    // first card (the most severe rule, where it failed, why, its first evidence) is whole, all
    // on the first screen.
    assert!(top(&layout["section"]) < screen / 2.0, "{layout}");
    let index = layout["index"].as_array().unwrap();
    assert_eq!(index.len(), rules.len(), "{layout}");
    for entry in index {
        assert!(
            bottom(entry) <= screen,
            "a failed rule below the first screen: {layout}"
        );
    }
    assert!(bottom(&layout["headings"][0]) <= screen, "{layout}");
    assert!(bottom(&cards[0]) <= screen, "{layout}");
    eprintln!("first screen {screen} px: {layout}");
}

/// Pages of a PDF as Chromium writes it: its `/Type /Page` objects (not `/Pages`), which must
/// agree with the page tree's `/Count`.
fn pdf_pages(pdf: &[u8]) -> usize {
    let page = regex::bytes::Regex::new(r"/Type\s*/Page([^A-Za-z]|$)").unwrap();
    let pages = page.find_iter(pdf).count();
    let count = regex::bytes::Regex::new(
        r"/Type\s*/Pages\b[^>]*?/Count\s+([0-9]+)|/Count\s+([0-9]+)[^>]*?/Type\s*/Pages\b",
    )
    .unwrap();
    let declared = count
        .captures_iter(pdf)
        .filter_map(|c| c.get(1).or(c.get(2)))
        .filter_map(|m| {
            std::str::from_utf8(m.as_bytes())
                .ok()?
                .parse::<usize>()
                .ok()
        })
        .max();
    if let Some(declared) = declared {
        assert_eq!(pages, declared, "page objects and the page tree disagree");
    }
    pages
}

/// Printed to A4 the flawed KontoCloud run's report takes at most 12 pages (it took 108
/// before the print stylesheet: every exchange open, one per page).
#[test]
fn html_of_a_flawed_kontocloud_run_prints_in_at_most_12_pages() {
    let (_, dir) = flawed_kontocloud();
    let pdf = dir.join("report.pdf");
    chromium_run(
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
        &dir.join("report.html"),
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "a PDF was written");
    let pages = pdf_pages(&bytes);
    eprintln!("report.html of the flawed KontoCloud run prints in {pages} A4 pages");
    assert!((1..=12).contains(&pages), "{pages} pages");
}

/// Reviewers cannot follow golive's internal references: every report names the provider's
/// public documents instead (`seed 003` → the KontoCloud e-wallet integration guide).
#[test]
fn reports_cite_public_documents_not_seeds() {
    let (report, dir) = flawed_kontocloud();
    let hand_made = tempfile::tempdir().unwrap();
    let (r, files) = written(hand_made.path(), "kontocloud");
    for (run, junit, html, json, folder) in [
        (
            report,
            dir.join("junit.xml"),
            dir.join("report.html"),
            dir.join("report.json"),
            dir.clone(),
        ),
        (
            &r,
            files.junit.clone(),
            files.html.clone(),
            files.json.clone(),
            hand_made.path().join("kontocloud"),
        ),
    ] {
        let console = report::console::summary(run, &folder, false);
        for (name, text) in [
            ("junit.xml", std::fs::read_to_string(&junit).unwrap()),
            ("report.html", std::fs::read_to_string(&html).unwrap()),
            ("report.json", std::fs::read_to_string(&json).unwrap()),
            ("console", console),
        ] {
            assert!(
                !report::cite::has_internal_reference(&text),
                "{name} keeps an internal reference"
            );
        }
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("KontoCloud e-wallet integration guide, Complete Order"));
}

/// junit2html (a common converter to HTML) reads golive's JUnit with the run's own totals:
/// its suite time is the larger of the testsuite's `time` and the sum of testcase times, so
/// testcases carry no time of their own (they would overlap: 121.8 s for a 43.5 s run).
#[test]
fn junit_converts_in_junit2html_with_the_runs_totals_and_time() {
    let (report, dir) = flawed_kontocloud();
    let junit = dir.join("junit.xml");
    let converted = dir.join("junit2html.html");
    let out = Command::new(venv_python())
        .args(["-m", "junit2htmlreport"])
        .arg(&junit)
        .arg(&converted)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junit2html (run scripts/test-deps): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = r#"
import json, sys
from junit2htmlreport import parser
report = parser.Junit(sys.argv[1])
out = []
for suite in report.suites:
    out.append({"name": suite.name, "duration": suite.duration, "tests": len(suite.all()),
                "failed": len(suite.failed()), "skipped": len(suite.skipped()),
                "case_durations": sum(c.duration for c in suite.all())})
print(json.dumps(out))
"#;
    let out = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .arg(&junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junit2html's parser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let suites: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suite = &suites[0];
    let run_s = (report.duration_ms / 1000.0 * 1000.0).round() / 1000.0;
    assert_eq!(suite["name"], report.suite.id.as_str());
    assert_eq!(suite["duration"].as_f64().unwrap(), run_s, "{suite}");
    assert_eq!(suite["case_durations"].as_f64().unwrap(), 0.0, "{suite}");
    assert_eq!(suite["tests"], report.counts.total);
    assert_eq!(suite["failed"], report.counts.failed);
    assert_eq!(suite["skipped"], report.counts.skipped);
    // The page it wrote says the same.
    let page = std::fs::read_to_string(&converted).unwrap();
    assert!(
        page.contains(&format!("<th>Duration</th><td>{run_s} sec</td>")),
        "junit2html shows another time"
    );
    assert!(page.contains(&format!(
        "<th>Failures</th><td>{}</td>",
        report.counts.failed
    )));
}

/// The structure of the flawed KontoCloud run's page, as a reviewer scans it: section and
/// card headings, where each rule failed, each rule's summary line with its inline reasons.
/// Times and ports are redacted; messages (with the run's random ids) are left out.
#[test]
fn html_outline_of_a_flawed_kontocloud_run() {
    let (_, dir) = flawed_kontocloud();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let piece = regex::Regex::new(
        r#"(?s)<h2>(.*?)</h2>|<h3>(.*?)</h3>|<details class="rule [^"]*"[^>]*>\s*<summary>(.*?)</summary>|<p class="where">(.*?)</p>|<ul class="index">(.*?)</ul>"#,
    )
    .unwrap();
    let tag = regex::Regex::new(r"<[^>]+>").unwrap();
    let space = regex::Regex::new(r"\s+").unwrap();
    let times = regex::Regex::new(r"\b[0-9]+(\.[0-9]+)? (ms|s)\b").unwrap();
    let ports = regex::Regex::new(r"127\.0\.0\.1:[0-9]+").unwrap();
    let outline: Vec<String> = piece
        .captures_iter(&html)
        .map(|c| {
            let (kind, text) = (1..=5)
                .find_map(|i| c.get(i).map(|m| (i, m.as_str())))
                .unwrap();
            let text = tag.replace_all(text, " ");
            let text = space.replace_all(text.trim(), " ");
            let text = times.replace_all(&text, "[time]");
            let text = ports.replace_all(&text, "127.0.0.1:[port]");
            let prefix = ["", "## ", "### ", "- ", "    ", "    index: "][kind];
            format!("{prefix}{text}")
        })
        .collect();
    insta::assert_snapshot!("flawed_kontocloud_outline", outline.join("\n"));
}
