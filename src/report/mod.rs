//! Reports: everything a run leaves for CI, the team and the provider's reviewer.

pub mod build;
pub mod cite;
pub mod console;
pub mod events;
pub mod html;
pub mod json;
pub mod junit;
pub mod model;
pub mod redact;

pub use build::complete;
pub use events::{EventSink, RunEvent, Silent};
pub use model::*;
pub use redact::Secrets;

use std::path::{Path, PathBuf};

use crate::journal::{Body, Exchange};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Junit(#[from] junit::JunitError),
    #[error("cannot write the JSON report: {0}")]
    Json(serde_json::Error),
    #[error("cannot render the HTML report: {0}")]
    Html(minijinja::Error),
}

/// Where [`write_all`] put the reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub junit: PathBuf,
    pub html: PathBuf,
    pub json: PathBuf,
}

/// Where each format goes when not in the reports folder (`--junit PATH`, `--html PATH`,
/// `--json PATH`, as Hurl's `--report-junit FILE`); the journal stays in the folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportPaths {
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub json: Option<PathBuf>,
}

impl ReportPaths {
    /// Every report's file: the one given, else its usual name in `dir`.
    pub fn resolve(&self, dir: &Path) -> Written {
        let or =
            |given: &Option<PathBuf>, name: &str| given.clone().unwrap_or_else(|| dir.join(name));
        Written {
            junit: or(&self.junit, "junit.xml"),
            html: or(&self.html, "report.html"),
            json: or(&self.json, "report.json"),
        }
    }

    /// Whether some report goes to another folder than `dir` (then the reports name the
    /// journal by its path, not as a file beside them).
    pub fn elsewhere(&self, dir: &Path) -> bool {
        let w = self.resolve(dir);
        [&w.junit, &w.html, &w.json]
            .iter()
            .any(|p| p.parent().unwrap_or(Path::new("")) != dir)
    }
}

/// Writes `junit.xml`, `report.html` and `report.json` into `dir` (created if needed). The report must have been
/// [`complete`]d: reporters mask nothing themselves.
pub fn write_all(report: &RunReport, dir: &Path) -> Result<Written, ReportError> {
    let written = ReportPaths::default().resolve(dir);
    write_to(report, &written)?;
    Ok(written)
}

/// Writes each report to its own path, creating the folders it needs.
pub fn write_to(report: &RunReport, to: &Written) -> Result<(), ReportError> {
    for path in [&to.junit, &to.json, &to.html] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
                path: dir.to_owned(),
                source,
            })?;
        }
    }
    write_file(&to.junit, &junit::to_string(report)?)?;
    write_file(
        &to.json,
        &json::to_string(report).map_err(ReportError::Json)?,
    )?;
    write_file(
        &to.html,
        &html::to_string(report).map_err(ReportError::Html)?,
    )?;
    Ok(())
}

pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

/// How much of a body the HTML report and JUnit show per exchange of evidence.
pub const EVIDENCE_BODY_BYTES: usize = 8 * 1024;

/// `12.034 s`: run-relative times as reviewers read them.
pub(crate) fn secs(ms: f64) -> String {
    format!("{:.3} s", ms / 1000.0)
}

pub(crate) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_end()
}

/// The first `limit` bytes of a text (at a character boundary), and whether it was cut.
pub(crate) fn cut(text: &str, limit: usize) -> (&str, bool) {
    if text.len() <= limit {
        return (text, false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// A body as a reviewer wants to read it: pretty-printed when it is JSON, cut at `limit` with
/// a note saying how much there was.
pub(crate) fn show_body(body: &Body, limit: usize) -> String {
    let pretty = body
        .json()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.text().to_owned());
    let (shown, was_cut) = cut(&pretty, limit);
    if was_cut || body.truncated {
        format!(
            "{shown}\n… (cut: {} of {} bytes shown)",
            shown.len().min(body.size),
            body.size
        )
    } else {
        shown.to_string()
    }
}

/// One line per piece of evidence: `#12 POST /user/u1/issue → 200 at 1.203 s (45 ms)`.
pub(crate) fn evidence_line(report: &RunReport, seq: u64) -> String {
    match report.exchange(seq) {
        Some(ex) => format!(
            "{} at {} ({:.0} ms)",
            ex.brief(),
            secs(ex.at_ms),
            ex.duration_ms
        ),
        None => format!("#{seq} (not in the journal)"),
    }
}

/// An exchange in full, as plain text: the evidence line, then the request (full URL,
/// headers, body) and the answer.
pub(crate) fn exchange_text(ex: &Exchange, limit: usize) -> String {
    let mut out = format!(
        "{} at {} ({:.0} ms) · {} → {} · {}\n  > {} {}\n",
        ex.brief(),
        secs(ex.at_ms),
        ex.duration_ms,
        actor_name(ex),
        peer_name(ex),
        ex.role,
        ex.request.method,
        ex.request.url,
    );
    for (k, v) in ex.request.headers.iter() {
        out.push_str(&format!("  > {k}: {v}\n"));
    }
    if ex.request.body.size > 0 {
        for line in show_body(&ex.request.body, limit).lines() {
            out.push_str(&format!("  > {line}\n"));
        }
    }
    match (&ex.response, &ex.error) {
        (Some(r), _) => {
            out.push_str(&format!("  < {}\n", r.status));
            for (k, v) in r.headers.iter() {
                out.push_str(&format!("  < {k}: {v}\n"));
            }
            if r.body.size > 0 {
                for line in show_body(&r.body, limit).lines() {
                    out.push_str(&format!("  < {line}\n"));
                }
            }
        }
        (None, Some(e)) => out.push_str(&format!("  ! {e}\n")),
        (None, None) => out.push_str("  ! no answer\n"),
    }
    out
}

/// Who sent an exchange, as a lane of the sequence diagram.
pub(crate) fn actor_name(ex: &Exchange) -> &'static str {
    lanes(ex).0.name()
}

/// Who answered an exchange.
pub(crate) fn peer_name(ex: &Exchange) -> &'static str {
    lanes(ex).1.name()
}

/// The parties of a payment journey, left to right in the sequence diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    Browser = 0,
    Harness = 1,
    Integration = 2,
    Sandbox = 3,
}

impl Lane {
    pub(crate) const ALL: [Lane; 4] = [
        Lane::Browser,
        Lane::Harness,
        Lane::Integration,
        Lane::Sandbox,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Lane::Browser => "Browser",
            Lane::Harness => "Harness",
            Lane::Integration => "Integration",
            Lane::Sandbox => "Sandbox",
        }
    }
}

/// From which lane to which an exchange goes.
pub(crate) fn lanes(ex: &Exchange) -> (Lane, Lane) {
    use crate::journal::{Actor, Direction};
    match (ex.direction, ex.actor) {
        (Direction::ToSandbox, Actor::Browser) => (Lane::Browser, Lane::Sandbox),
        (Direction::ToSandbox, Actor::Harness | Actor::Provider) => (Lane::Harness, Lane::Sandbox),
        (Direction::ToSandbox, Actor::Integration) => (Lane::Integration, Lane::Sandbox),
        (Direction::ToTarget, Actor::Browser) => (Lane::Browser, Lane::Integration),
        // The harness in the provider's role (a webhook) speaks for the sandbox.
        (Direction::ToTarget, Actor::Provider) => (Lane::Sandbox, Lane::Integration),
        (Direction::ToTarget, _) => (Lane::Harness, Lane::Integration),
        (Direction::FromSandbox, _) => (Lane::Sandbox, Lane::Integration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::build::tests::exchange;

    #[test]
    fn json_bodies_are_pretty_and_long_ones_cut_with_a_note() {
        let body = Body::from_bytes(br#"{"a":1,"b":[true]}"#);
        assert_eq!(
            show_body(&body, 100),
            "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}"
        );
        let long = Body::from_bytes("é".repeat(100).as_bytes());
        let shown = show_body(&long, 51);
        assert!(
            shown.starts_with(&"é".repeat(25)),
            "cut at a character boundary"
        );
        assert!(shown.ends_with("… (cut: 50 of 200 bytes shown)"), "{shown}");
    }

    #[test]
    fn an_exchange_as_text_leads_with_its_evidence_line() {
        let mut ex = exchange(
            "POST",
            "/user/u1/issue?x=1",
            200,
            r#"{"partnerReference":"r1"}"#,
        );
        ex.seq = 12;
        ex.at_ms = 1203.0;
        ex.request.headers.push("Content-Type", "application/json");
        let text = exchange_text(&ex, 1000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "#12 POST /user/u1/issue → 200 at 1.203 s (3 ms) · Integration → Sandbox · api"
        );
        assert_eq!(lines[1], "  > POST /user/u1/issue?x=1");
        assert_eq!(lines[2], "  > Content-Type: application/json");
        assert!(text.contains("  >   \"partnerReference\": \"r1\""));
        assert!(text.contains("  < 200"));
    }

    #[test]
    fn write_all_puts_three_files_in_a_new_folder() {
        let dir = tempfile::tempdir().unwrap();
        let report = crate::report::build::tests::empty_report(&[], vec![]);
        let written = write_all(&report, &dir.path().join("a/b")).unwrap();
        for path in [&written.junit, &written.html, &written.json] {
            assert!(
                std::fs::metadata(path).unwrap().len() > 100,
                "{}",
                path.display()
            );
        }
        assert_eq!(written.html, dir.path().join("a/b/report.html"));
    }
}
