//! `golive provider P`: what a team needs to write a target for a provider, printed from the
//! definitions the sandbox and validation use (the operation table, the credential names, what
//! each step of the bundled suite needs), so it cannot drift from what golive does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Provider, StepKind};
use crate::sandbox::{Auth, Caller, Operation};
use crate::suite::{Step, Suite};

/// The whole page for one provider.
pub fn describe(provider: &dyn Provider) -> Result<String, String> {
    let bundled = provider.suite();
    let suite = bundled.load().map_err(|e| e.to_string())?.value;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", provider.title(), provider.id());
    let _ = writeln!(
        out,
        "\nThe sandbox ({{{{ sandbox.url }}}} in a target) serves:"
    );
    operations(&mut out, provider.operations(), |o| {
        o.caller != Caller::Provider
    });
    if provider
        .operations()
        .iter()
        .any(|o| o.caller == Caller::Provider)
    {
        let _ = writeln!(out, "\nIt calls the integration:");
        operations(&mut out, provider.operations(), |o| {
            o.caller == Caller::Provider
        });
    }
    let _ = writeln!(
        out,
        "\nCredentials of the test account (`{{{{ credentials.NAME }}}}`): {}",
        provider.credential_names().join(", ")
    );
    what_the_suite_needs(&mut out, provider, &suite);
    let _ = writeln!(
        out,
        "\nEvery template may also use {{{{ sandbox.url }}}}, {{{{ order_id }}}} (new per scenario), \
         {{{{ order.reference }}}} and {{{{ payment.id }}}} (the ids your integration used, learned \
         from its traffic), {{{{ time_scale }}}} and the scenario's vars."
    );
    let _ = writeln!(
        out,
        "The bundled suite: {} (`golive suites export DIR` copies it); the reference shop's \
         target: `golive references`.",
        bundled.file
    );
    Ok(out)
}

fn operations(out: &mut String, table: &[Operation], keep: impl Fn(&Operation) -> bool) {
    for op in table.iter().filter(|o| keep(o)) {
        let _ = writeln!(out, "  {:<20} {} {}", op.name, op.method, op.path);
        let _ = writeln!(out, "  {:<20} {}", "", op.what);
        let auth = match op.auth {
            Auth::None => None,
            Auth::Credentials(how) => Some(format!("credentials: {how}")),
            Auth::Token(header) => Some(format!("a token the sandbox issued, in {header}")),
            Auth::Provider(how) => Some(format!("the provider authenticates: {how}")),
        };
        let ids = [
            ("order reference", op.order_reference),
            ("payment id", op.payment_id),
        ]
        .into_iter()
        .filter(|(_, at)| !at.is_empty())
        .map(|(what, at)| {
            let at: Vec<&str> = at
                .iter()
                .map(|l| match *l {
                    "issued" => "the sandbox's own answer (it issues it)",
                    l => l,
                })
                .collect();
            format!("{what} read from {}", at.join(" or "))
        });
        let extras = auth
            .into_iter()
            .chain(ids)
            .chain(
                op.request_schema
                    .map(|_| "request schema checked".to_string()),
            )
            .chain(op.note.map(str::to_owned));
        for line in extras {
            let _ = writeln!(out, "  {:<20} {line}", "");
        }
    }
}

/// What a provider's bundled suite needs a target to map: the triggers it fires (with the
/// variables each is handed besides `order_id`), the webhooks its steps call, and whether it
/// asks the shop about its orders (`order_probe`).
#[derive(Debug, Default)]
pub struct SuiteNeeds {
    pub triggers: BTreeMap<String, TriggerVars>,
    pub webhooks: Vec<&'static str>,
    pub order_probe: bool,
}

/// The variables a trigger is handed: on every firing, and only on some (a template using one
/// of those fails validation for the scenarios that do not define it).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TriggerVars {
    pub always: Vec<String>,
    pub sometimes: Vec<String>,
}

impl TriggerVars {
    fn fired_with(&mut self, first: bool, vars: Vec<String>) {
        if first {
            self.always = vars;
            return;
        }
        let (kept, dropped): (Vec<String>, Vec<String>) = std::mem::take(&mut self.always)
            .into_iter()
            .partition(|v| vars.contains(v));
        self.always = kept;
        let always = self.always.clone();
        for v in dropped.into_iter().chain(vars) {
            if !always.contains(&v) && !self.sometimes.contains(&v) {
                self.sometimes.push(v);
            }
        }
    }

    /// Every variable, the ones always handed first.
    pub fn all(&self) -> Vec<String> {
        self.always.iter().chain(&self.sometimes).cloned().collect()
    }
}

/// Reads the bundled suite's needs, by the same `step_needs` validation uses.
pub fn suite_needs(provider: &dyn Provider, suite: &Suite) -> SuiteNeeds {
    let mut needs = SuiteNeeds::default();
    let add = |triggers: &mut BTreeMap<String, TriggerVars>, name: &str, vars: Vec<String>| {
        let first = !triggers.contains_key(name);
        triggers
            .entry(name.to_owned())
            .or_default()
            .fired_with(first, vars);
    };
    for scenario in &suite.scenarios {
        let vars: Vec<String> = scenario.vars.keys().cloned().collect();
        for step in &scenario.steps {
            let (kind, params) = match step {
                Step::Trigger(t) => {
                    let mut handed = vars.clone();
                    handed.extend(t.with.keys().cloned());
                    add(&mut needs.triggers, &t.name, handed);
                    continue;
                }
                Step::ProbeOrder(_) => {
                    needs.order_probe = true;
                    continue;
                }
                Step::Shopper(s) => (StepKind::Shopper, &s.params),
                Step::Provider(s) => (StepKind::Provider, &s.params),
                _ => continue,
            };
            let step_needs = provider.step_needs(kind, params);
            for (name, handed) in step_needs.triggers {
                add(
                    &mut needs.triggers,
                    name,
                    handed.iter().map(|s| s.to_string()).collect(),
                );
            }
            for w in step_needs.webhooks {
                if !needs.webhooks.contains(&w) {
                    needs.webhooks.push(w);
                }
            }
        }
    }
    needs
}

fn what_the_suite_needs(out: &mut String, provider: &dyn Provider, suite: &Suite) {
    let needs = suite_needs(provider, suite);
    let _ = writeln!(
        out,
        "\nTriggers the bundled suite fires (`triggers.NAME` in a target), with the variables \
         each is handed besides order_id:"
    );
    for (name, vars) in &needs.triggers {
        let mut line = match vars.always.is_empty() {
            true => "none".to_string(),
            false => vars.always.join(", "),
        };
        if !vars.sometimes.is_empty() {
            line.push_str(&format!(
                "; in some scenarios: {}",
                vars.sometimes.join(", ")
            ));
        }
        let _ = writeln!(out, "  {name:<24} {line}");
    }
    let _ = writeln!(out, "\nWhat a trigger answers: {}.", super::TRIGGER_ANSWER);
    for name in needs.triggers.keys() {
        if let Some(what) = provider.about().trigger_answer(name) {
            let _ = writeln!(out, "  {name:<24} is {what}");
        }
    }
    if !needs.webhooks.is_empty() {
        let _ = writeln!(
            out,
            "\nWebhooks it calls (`webhooks.NAME` in a target): {}",
            needs.webhooks.join(", ")
        );
    }
    if needs.order_probe {
        let _ = writeln!(
            out,
            "\nIt asks the shop whether an order is paid (`order_probe` in a target)."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_is_described_from_its_definitions() {
        for p in super::super::all() {
            let page = describe(p).unwrap();
            for op in p.operations() {
                assert!(page.contains(op.name), "{}: {}", p.id(), op.name);
            }
            for c in p.credential_names() {
                assert!(page.contains(c), "{}: {c}", p.id());
            }
        }
        let ppaas = describe(super::super::provider("ppaas").unwrap()).unwrap();
        assert!(ppaas.contains("Webhooks it calls (`webhooks.NAME` in a target): qrcode_payment"));
        assert!(ppaas.contains("inferred: no public page states it"));
    }

    #[test]
    fn the_kontocloud_page() {
        let page = describe(super::super::provider("kontocloud").unwrap()).unwrap();
        insta::assert_snapshot!(page);
    }
}
