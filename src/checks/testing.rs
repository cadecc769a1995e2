//! Hand-made journals for the checks' unit tests.

use serde_json::Value;

use super::{build, Finding};
use crate::journal::*;
use crate::report::{Outcome, Severity};
use crate::suite::{CheckSpec, Suite, SuiteSettings};

pub struct ExchangeBuilder(Exchange);

/// An exchange of the integration with the sandbox.
pub fn api(operation: &str, method: &str, url: &str, body: &str) -> ExchangeBuilder {
    ExchangeBuilder(Exchange {
        seq: 0,
        scenario: "s1".into(),
        direction: Direction::ToSandbox,
        actor: Actor::Integration,
        role: "api".into(),
        at_ms: 0.0,
        at: String::new(),
        duration_ms: 1.0,
        request: Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Body::from_bytes(body.as_bytes()),
        },
        response: Some(Response {
            status: 200,
            headers: Vec::new(),
            body: Body::default(),
        }),
        error: None,
        facts: Facts {
            operation: Some(operation.into()),
            ..Facts::default()
        },
    })
}

/// An exchange of the harness with the target (a trigger, a callback, a probe).
pub fn harness(role: &str, method: &str, url: &str) -> ExchangeBuilder {
    let mut b = api("", method, url, "");
    b.0.direction = Direction::ToTarget;
    b.0.actor = Actor::Harness;
    b.0.role = role.into();
    b.0.facts.operation = None;
    b
}

impl From<Exchange> for ExchangeBuilder {
    fn from(e: Exchange) -> Self {
        ExchangeBuilder(e)
    }
}

impl ExchangeBuilder {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.0.request.headers.push((k.into(), v.into()));
        self
    }
    pub fn status(mut self, status: u16) -> Self {
        self.0.response.as_mut().expect("has a response").status = status;
        self
    }
    pub fn response_body(mut self, body: &str) -> Self {
        self.0.response.as_mut().expect("has a response").body = Body::from_bytes(body.as_bytes());
        self
    }
    pub fn no_answer(mut self, error: &str) -> Self {
        self.0.response = None;
        self.0.error = Some(error.into());
        self
    }
    pub fn scenario(mut self, s: &str) -> Self {
        self.0.scenario = s.into();
        self
    }
    pub fn at(mut self, ms: f64) -> Self {
        self.0.at_ms = ms;
        self
    }
    pub fn actor(mut self, a: Actor) -> Self {
        self.0.actor = a;
        self
    }
    pub fn facts(mut self, f: impl FnOnce(&mut Facts)) -> Self {
        f(&mut self.0.facts);
        self
    }
    pub fn build(self) -> Exchange {
        self.0
    }
}

/// Numbers the exchanges, wraps them in scenario starts/ends where the scenario changes.
pub fn journal(exchanges: Vec<ExchangeBuilder>) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for (i, b) in exchanges.into_iter().enumerate() {
        let mut e = b.0;
        e.seq = i as u64 + 1;
        if current.as_deref() != Some(e.scenario.as_str()) {
            if let Some(c) = current.take() {
                out.push(Entry::ScenarioEnd(ScenarioEnd {
                    scenario: c,
                    at_ms: e.at_ms,
                    error: None,
                }));
            }
            out.push(Entry::ScenarioStart(ScenarioStart {
                scenario: e.scenario.clone(),
                title: e.scenario.clone(),
                at_ms: e.at_ms,
                token_lifetime_s: None,
            }));
            current = Some(e.scenario.clone());
        }
        out.push(Entry::Exchange(Box::new(e)));
    }
    if let Some(c) = current {
        out.push(Entry::ScenarioEnd(ScenarioEnd {
            scenario: c,
            at_ms: 0.0,
            error: None,
        }));
    }
    out
}

/// Runs one check kind with JSON params over hand-made entries.
pub fn judge(kind: &str, params: Value, entries: &[Entry]) -> Vec<Finding> {
    judge_scoped(kind, params, None, entries)
}

pub fn judge_scoped(
    kind: &str,
    params: Value,
    scenarios: Option<Vec<&str>>,
    entries: &[Entry],
) -> Vec<Finding> {
    let mut rule = rule(kind, params, scenarios).expect("builds");
    for e in entries {
        rule.observe(e);
    }
    rule.finish()
}

/// Why a check of this kind with these params is refused (panics if it builds).
pub fn refused(kind: &str, params: Value) -> String {
    rule(kind, params, None).err().expect("refused")
}

fn rule(
    kind: &str,
    params: Value,
    scenarios: Option<Vec<&str>>,
) -> Result<Box<dyn super::Rule>, String> {
    let suite = Suite {
        golive: 1,
        id: "t".into(),
        title: "t".into(),
        provider: "test".into(),
        description: None,
        settings: SuiteSettings::default(),
        scenarios: Vec::new(),
        checks: Vec::new(),
    };
    let spec = CheckSpec {
        id: "T".into(),
        title: "t".into(),
        description: "d".into(),
        severity: Severity::Major,
        source: "inferred".into(),
        kind: kind.into(),
        scenarios: scenarios.map(|v| v.into_iter().map(String::from).collect()),
        params,
    };
    build(&spec, &suite)
}

pub fn outcomes(findings: &[Finding]) -> Vec<Outcome> {
    findings.iter().map(|f| f.outcome).collect()
}
