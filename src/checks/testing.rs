//! Hand-made journals for the checks' unit tests: exchanges built in a line each
//! ([`api`], [`harness`], [`provider`] and the [`ExchangeBuilder`] methods), a kind judged on
//! them ([`check`]), and its verdicts asserted ([`Verdicts`]).

use serde_json::Value;

use super::{build, Finding};
use crate::journal::*;
use crate::report::{Outcome, Severity};
use crate::suite::{CheckSpec, Suite, SuiteSettings};

pub struct ExchangeBuilder(Exchange);

/// Builder methods that set one field of the exchange.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($ty:ty) => $field:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.0.$field = value.into();
            self
        }
    )*};
}

/// An exchange of the integration with the sandbox.
pub fn api(operation: &str, method: &str, url: &str, body: &str) -> ExchangeBuilder {
    let mut ex = Exchange::test_call(method, url, body, "");
    ex.seq = 0;
    ex.scenario = "s1".into();
    ex.duration_ms = 1.0;
    ex.facts.operation = Some(operation.into());
    ExchangeBuilder(ex)
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

/// A call of the provider to the target (a webhook), answered by the integration.
pub fn provider(role: &str, method: &str, url: &str) -> ExchangeBuilder {
    harness(role, method, url).actor(Actor::Provider)
}

impl ExchangeBuilder {
    /// The provider operation the sandbox saw.
    pub fn operation(mut self, op: &str) -> Self {
        self.0.facts.operation = Some(op.into());
        self
    }
    pub fn body(mut self, body: &str) -> Self {
        self.0.request.body = Body::from_bytes(body.as_bytes());
        self
    }
    /// The request body: this JSON, compact.
    pub fn json(self, body: Value) -> Self {
        self.body(&body.to_string())
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.0.request.headers.push(k, v);
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
    setters! {
        /// The scenario it belongs to (`s1` unless told).
        scenario(&str) => scenario;
        /// When it started (ms since the run started).
        at(f64) => at_ms;
        /// The wall-clock time it started at (RFC 3339).
        wall(&str) => at;
        /// How long the answer took (ms; 1 unless told).
        taking(f64) => duration_ms;
        actor(Actor) => actor;
    }
    pub fn facts(mut self, f: impl FnOnce(&mut Facts)) -> Self {
        f(&mut self.0.facts);
        self
    }
    /// The payment it is about (`facts.payment`).
    pub fn payment(self, id: &str) -> Self {
        self.facts(|f| f.payment = Some(id.into()))
    }
    /// The payment state it reported (`facts.payment_state`).
    pub fn state(self, state: &str) -> Self {
        self.facts(|f| f.payment_state = Some(state.into()))
    }
    /// What the order probe said (`facts.order_paid`).
    pub fn order_paid(self, paid: bool) -> Self {
        self.facts(|f| f.order_paid = Some(paid))
    }
    /// The access token it used (`facts.token_used`), of fingerprint `fp`.
    pub fn token(self, state: TokenState) -> Self {
        self.facts(|f| {
            f.token_used = Some(TokenUse {
                fingerprint: Some("fp".into()),
                state,
                remaining_s: None,
            })
        })
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
                lane: 0,
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

/// A check of one kind with JSON params, as a suite declares it.
pub struct Check {
    kind: String,
    params: Value,
}

pub fn check(kind: &str, params: Value) -> Check {
    Check {
        kind: kind.into(),
        params,
    }
}

impl Check {
    /// The same check with one param more (or changed).
    pub fn param(mut self, name: &str, value: Value) -> Self {
        self.params[name] = value;
        self
    }

    /// The verdicts over a journal of these exchanges ([`journal`]).
    pub fn on(&self, exchanges: Vec<ExchangeBuilder>) -> Verdicts {
        self.on_entries(&journal(exchanges))
    }

    /// The verdicts over hand-made entries.
    pub fn on_entries(&self, entries: &[Entry]) -> Verdicts {
        let mut rule = self.rule().expect("builds");
        for e in entries {
            rule.observe(e);
        }
        Verdicts(rule.finish())
    }

    /// Why the check is refused (panics if it builds).
    pub fn refused(&self) -> String {
        self.rule().err().expect("refused")
    }

    fn rule(&self) -> Result<Box<dyn super::Rule>, String> {
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
            kind: self.kind.clone(),
            scenarios: None,
            params: self.params.clone(),
        };
        build(&spec, &suite)
    }
}

/// What a check found, with assertions that show every verdict when they fail.
#[derive(Debug)]
pub struct Verdicts(Vec<Finding>);

impl std::ops::Deref for Verdicts {
    type Target = [Finding];
    fn deref(&self) -> &[Finding] {
        &self.0
    }
}

impl Verdicts {
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.0.iter().map(|f| f.outcome).collect()
    }

    /// Asserts the outcomes, in order.
    #[track_caller]
    pub fn expect(&self, want: &[Outcome]) -> &Self {
        assert_eq!(self.outcomes(), want, "{:#?}", self.0);
        self
    }
    #[track_caller]
    pub fn passed(&self) -> &Self {
        self.expect(&[Outcome::Passed])
    }
    #[track_caller]
    pub fn failed(&self) -> &Self {
        self.expect(&[Outcome::Failed])
    }
    #[track_caller]
    pub fn skipped(&self) -> &Self {
        self.expect(&[Outcome::Skipped])
    }
    /// Asserts there is nothing to judge: no verdict at all.
    #[track_caller]
    pub fn none(&self) {
        assert!(self.0.is_empty(), "{:#?}", self.0);
    }

    /// Asserts the first verdict's evidence.
    #[track_caller]
    pub fn evidence(&self, want: &[u64]) -> &Self {
        assert_eq!(self.0[0].evidence, want, "{:#?}", self.0);
        self
    }
    /// Asserts the first verdict's message says these words.
    #[track_caller]
    pub fn says(&self, words: &str) -> &Self {
        assert!(self.0[0].message.contains(words), "{}", self.0[0].message);
        self
    }
    /// Asserts the first verdict's message does not say these words.
    #[track_caller]
    pub fn never_says(&self, words: &str) -> &Self {
        assert!(!self.0[0].message.contains(words), "{}", self.0[0].message);
        self
    }
}
