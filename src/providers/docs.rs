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
    let suite = crate::suite::parse_suite(
        bundled.text,
        std::path::Path::new(&format!("built-in:{}", bundled.file)),
    )
    .map_err(|e| e.to_string())?
    .value;
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

/// The triggers and webhooks the bundled suite uses, with the variables each is handed.
fn what_the_suite_needs(out: &mut String, provider: &dyn Provider, suite: &Suite) {
    let mut triggers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut webhooks: Vec<&str> = Vec::new();
    let mut add = |name: &str, vars: Vec<String>| {
        let known = triggers.entry(name.to_owned()).or_default();
        for v in vars {
            if !known.contains(&v) {
                known.push(v);
            }
        }
    };
    for scenario in &suite.scenarios {
        let vars: Vec<String> = scenario.vars.keys().cloned().collect();
        for step in &scenario.steps {
            let (kind, params) = match step {
                Step::Trigger(t) => {
                    let mut handed = vars.clone();
                    handed.extend(t.with.keys().cloned());
                    add(&t.name, handed);
                    continue;
                }
                Step::Shopper(s) => (StepKind::Shopper, &s.params),
                Step::Provider(s) => (StepKind::Provider, &s.params),
                _ => continue,
            };
            let needs = provider.step_needs(kind, params);
            for (name, handed) in needs.triggers {
                add(name, handed.iter().map(|s| s.to_string()).collect());
            }
            for w in needs.webhooks {
                if !webhooks.contains(&w) {
                    webhooks.push(w);
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nTriggers the bundled suite fires (`triggers.NAME` in a target), with the variables \
         each is handed besides order_id:"
    );
    for (name, vars) in &triggers {
        let vars = if vars.is_empty() {
            "none".to_string()
        } else {
            vars.join(", ")
        };
        let _ = writeln!(out, "  {name:<24} {vars}");
    }
    if !webhooks.is_empty() {
        let _ = writeln!(
            out,
            "\nWebhooks it calls (`webhooks.NAME` in a target): {}",
            webhooks.join(", ")
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
