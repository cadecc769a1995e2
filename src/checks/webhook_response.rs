//! `webhook_response`: when the provider calls the integration's webhook (PPaaS forwarding a
//! terminal's QR code payment, a notification), the integration answers in time, with a 2xx,
//! and with a body the provider can use.
//!
//! The sandbox profile that made the call judged the body against the provider's answer
//! schema and left what was wrong in the exchange's `facts.answer_errors`; this rule reads
//! that fact, the status and the time the answer took. The deadline is in provider time:
//! multiplied by the run's `time_scale`, with a small tolerance ("Judging fairly").

use serde::Deserialize;

use super::scope::PerScenario;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::{Actor, Direction, Exchange};

pub const KIND: Kind = Kind {
    name: "webhook_response",
    summary: "the provider's webhook calls are answered in time, with a 2xx and a well-formed body",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The role of the provider's calls in the journal (a prefix; PPaaS: `webhook`).
    role: String,
    /// How long the answer may take, in provider seconds.
    deadline_s: f64,
    /// Share of the deadline allowed on top (timers and scheduling are not exact).
    #[serde(default = "tolerance")]
    tolerance: f64,
    /// Accepted statuses (default: any 2xx).
    #[serde(default)]
    status_in: Option<Vec<u16>>,
}

fn tolerance() -> f64 {
    0.1
}

#[derive(Default)]
struct Scenario {
    calls: Vec<u64>,
    slowest_ms: f64,
    problems: Vec<(String, u64)>,
}

struct WebhookResponse {
    params: Params,
    deadline_ms: f64,
    scenarios: PerScenario<Scenario>,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    if params.deadline_s <= 0.0 || params.tolerance < 0.0 {
        return Err("`deadline_s` must be above 0 and `tolerance` at least 0".into());
    }
    let deadline_ms = params.deadline_s * 1000.0 * ctx.time_scale();
    Ok(Box::new(WebhookResponse {
        params,
        deadline_ms,
        scenarios: PerScenario::default(),
    }))
}

/// What the profile found wrong with the answer's body (`facts.answer_errors`).
pub fn answer_errors(ex: &Exchange) -> &[String] {
    &ex.facts.answer_errors
}

/// Whether the provider could use the answer: a 2xx whose body the profile found well-formed.
pub fn answer_usable(ex: &Exchange) -> bool {
    ex.succeeded() && answer_errors(ex).is_empty()
}

impl WebhookResponse {
    fn problems(&self, ex: &Exchange) -> Vec<String> {
        let mut out = Vec::new();
        let Some(status) = ex.status() else {
            out.push(format!(
                "no answer after {:.0} ms ({})",
                ex.duration_ms,
                ex.error.as_deref().unwrap_or("nothing came back")
            ));
            return out;
        };
        let ok = match &self.params.status_in {
            Some(list) => list.contains(&status),
            None => (200..300).contains(&status),
        };
        if !ok {
            out.push(format!(
                "answered {status}, expected {}",
                match &self.params.status_in {
                    Some(l) => format!("one of {l:?}"),
                    None => "a 2xx".into(),
                }
            ));
        }
        if ex.duration_ms > self.deadline_ms * (1.0 + self.params.tolerance) {
            out.push(format!(
                "answered after {:.0} ms (deadline {:.0} ms)",
                ex.duration_ms, self.deadline_ms
            ));
        }
        let errors = answer_errors(ex);
        if ok && !errors.is_empty() {
            out.push(format!(
                "the answer is not well-formed: {}",
                super::list_some(errors, 3)
            ));
        }
        out
    }
}

impl Rule for WebhookResponse {
    fn exchange(&mut self, ex: &Exchange) {
        if ex.direction != Direction::ToTarget
            || ex.actor != Actor::Provider
            || !ex.role.starts_with(self.params.role.as_str())
        {
            return;
        }
        let problems = self.problems(ex);
        let s = self.scenarios.get(&ex.scenario);
        s.calls.push(ex.seq);
        s.slowest_ms = s.slowest_ms.max(ex.duration_ms);
        if !problems.is_empty() {
            s.problems
                .push((format!("{}: {}", ex.brief(), problems.join(", ")), ex.seq));
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let deadline = self.deadline_ms;
        self.scenarios.verdicts(|_, s| {
            Some(if s.problems.is_empty() {
                Finding::pass(
                    format!(
                        "{} webhook call(s) answered with a usable 2xx, the slowest in {:.0} ms (deadline {deadline:.0} ms)",
                        s.calls.len(),
                        s.slowest_ms
                    ),
                    s.calls,
                )
            } else {
                super::fail_listing(&s.problems)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::testing::*;
    use crate::report::Outcome;
    use serde_json::json;

    fn webhook(status: u16, ms: f64, errors: &[&str]) -> ExchangeBuilder {
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        provider("webhook", "POST", "/ppaas/qrcode-payment/v1/transactions")
            .status(status)
            .taking(ms)
            .facts(move |f| f.answer_errors = errors)
    }

    fn answers() -> Check {
        check(
            "webhook_response",
            json!({"role": "webhook", "deadline_s": 5}),
        )
    }

    #[test]
    fn any_prompt_well_formed_2xx_passes() {
        answers()
            .on(vec![
                webhook(200, 40.0, &[]),
                webhook(201, 4900.0, &[]),
                webhook(202, 5400.0, &[]),
            ])
            .passed();
    }

    #[test]
    fn late_refused_malformed_or_unanswered_fail() {
        for (b, words) in [
            (webhook(200, 6000.0, &[]), "after 6000 ms"),
            (webhook(500, 10.0, &[]), "answered 500"),
            (
                webhook(200, 10.0, &["qrCode: missing"]),
                "not well-formed: qrCode: missing",
            ),
            (
                webhook(200, 10_000.0, &[]).no_answer("no answer within 10.0 s"),
                "no answer",
            ),
        ] {
            answers().on(vec![b]).failed().says(words).evidence(&[1]);
        }
    }

    #[test]
    fn scenarios_are_judged_apart_and_other_traffic_ignored() {
        let f = answers().on(vec![
            webhook(200, 10.0, &[]),
            harness("trigger:consumer", "POST", "/sim").scenario("s2"),
            webhook(500, 10.0, &[]).scenario("s2"),
        ]);
        f.expect(&[Outcome::Passed, Outcome::Failed]);
        assert_eq!(f[1].scenario.as_deref(), Some("s2"));
    }
}
