//! `golive init --provider P`: a starter target for a team's own integration, written from the
//! provider's definitions and its bundled suite (the triggers it fires and the variables each
//! is handed, the webhooks its steps call, the credentials the sandbox hands out, the order
//! probe), every value a team must fill in marked `TODO`. `golive validate` names each `TODO`
//! left, so the file leads the team to a target that runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::docs::suite_needs;
use super::Provider;

/// What marks a value the team must fill in; validation refuses a target that still has one.
pub const PLACEHOLDER: &str = "TODO";

/// The target schema's file name beside a starter target, which its first line points editors
/// at: the folder a team keeps its target in is the one place known to exist wherever golive
/// was installed from (the binary carries the schema, no checkout or web address is needed).
pub const SCHEMA_FILE: &str = "target.schema.json";

/// Writes the target schema beside `target` (the starter's modeline names it), unless a file
/// of that name is there that is not golive's target schema; a golive schema there (an older
/// one, from an earlier golive) is replaced. The path written, if one was.
pub fn write_schema_beside(target: &Path) -> Result<Option<PathBuf>, String> {
    let path = target
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(SCHEMA_FILE);
    let schema = crate::suite::load::TARGET_SCHEMA;
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let id = |text: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("$id").cloned())
        };
        if existing == schema || id(&existing) != id(schema) {
            return Ok(None);
        }
    }
    std::fs::write(&path, schema).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(Some(path))
}

/// The starter target's text.
pub fn starter_target(provider: &dyn Provider) -> Result<String, String> {
    let suite = provider.suite().load().map_err(|e| e.to_string())?.value;
    let needs = suite_needs(provider, &suite);
    let id = provider.id();
    let env_prefix = id.to_ascii_uppercase();
    let mut out = String::new();
    let w = &mut out;
    // Editors with yaml-language-server (VS Code's YAML, Neovim's yamlls) read the schema
    // named here, which `golive init` writes beside the target ([`write_schema_beside`]).
    let _ = writeln!(w, "# yaml-language-server: $schema={SCHEMA_FILE}");
    let _ = writeln!(
        w,
        "# A target for your {} integration, written by `golive init --provider {id}`.",
        provider.title()
    );
    let _ = writeln!(
        w,
        "# Replace every {PLACEHOLDER}, then: golive validate --suite {id} --target THIS_FILE\n\
         # (it names each {PLACEHOLDER} left). `golive provider {id}` lists the sandbox's operations."
    );
    let _ = writeln!(
        w,
        "golive: 1\nname: \"{PLACEHOLDER}: your shop's name\"\nprovider: {id}"
    );
    let _ = writeln!(
        w,
        "start:\n  # How golive starts your integration, in its own process group; {{{{ port }}}} is a free\n  \
         # port for it. (Already running elsewhere? Delete `start` and set base_url.)\n  \
         command: [\"{PLACEHOLDER}\", \"your-server\", \"--port\", \"{{{{ port }}}}\"]\n  \
         # Where your integration reads the provider's URL and the test account from (rename freely).\n  \
         env:\n    {env_prefix}_BASE_URL: \"{{{{ sandbox.url }}}}\""
    );
    for name in provider.credential_names() {
        let _ = writeln!(
            w,
            "    {env_prefix}_{}: \"{{{{ credentials.{name} }}}}\"",
            name.to_ascii_uppercase()
        );
    }
    let _ = writeln!(
        w,
        "base_url: \"http://127.0.0.1:{{{{ port }}}}\"\nready:\n  \
         # A GET that answers 2xx once your integration is up.\n  \
         path: \"/{PLACEHOLDER}-health\"\n  timeout_s: 20"
    );
    if !needs.webhooks.is_empty() {
        let _ = writeln!(w, "webhooks:\n  # Your endpoints the provider calls.");
        for hook in &needs.webhooks {
            let _ = writeln!(w, "  {hook}: \"/{PLACEHOLDER}-{hook}\"");
        }
    }
    let _ = writeln!(
        w,
        "triggers:\n  # Your endpoints golive calls to play the journey, each given {{{{ order_id }}}} (new per\n  \
         # scenario) and the variables listed; pass them as your endpoint expects (json, form,\n  \
         # query, path). A trigger your shop does not offer: `not_offered: \"why\"` instead."
    );
    for (name, vars) in &needs.triggers {
        let _ = writeln!(w, "  {name}:");
        if !vars.always.is_empty() {
            let _ = writeln!(w, "    # variables: {}", vars.always.join(", "));
        }
        if !vars.sometimes.is_empty() {
            let _ = writeln!(
                w,
                "    # only in some scenarios (use them where your endpoint can do without): {}",
                vars.sometimes.join(", ")
            );
        }
        let mut answer = format!("answer: {}", super::TRIGGER_ANSWER);
        if let Some(what) = provider.about().trigger_answer(name) {
            answer.push_str(&format!("; and it is {what}"));
        }
        comment(w, "    ", &answer);
        let _ = writeln!(
            w,
            "    method: POST\n    path: \"/{PLACEHOLDER}-{name}\"\n    json:\n      orderId: \"{{{{ order_id }}}}\""
        );
        for var in &vars.always {
            let _ = writeln!(w, "      {var}: \"{{{{ {var} }}}}\"");
        }
    }
    if needs.order_probe {
        let _ = writeln!(
            w,
            "order_probe:\n  # How golive asks your shop whether an order is paid ({{{{ order.reference }}}} is your own\n  \
             # order id once your integration used one with the provider).\n  \
             method: GET\n  path: \"/{PLACEHOLDER}-orders/{{{{ order.reference }}}}\"\n  paid_when:\n    \
             pointer: /status\n    in: [paid]"
        );
    }
    Ok(out)
}

/// `text` as YAML comment lines of at most about 95 columns.
fn comment(w: &mut String, indent: &str, text: &str) {
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && indent.len() + 2 + line.len() + 1 + word.len() > 95 {
            let _ = writeln!(w, "{indent}# {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(w, "{indent}# {line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::parse_target;

    /// What a provider says a trigger's answer carries is said beside that trigger in the
    /// starter, and names only triggers its bundled suite fires (so it cannot go stale).
    #[test]
    fn each_trigger_says_what_its_answer_must_be() {
        for p in super::super::all() {
            let text = starter_target(p).unwrap();
            let suite = p.suite().load().unwrap().value;
            let fired = suite_needs(p, &suite).triggers;
            assert_eq!(
                text.matches("    # answer: ").count(),
                fired.len(),
                "{}",
                p.id()
            );
            for (name, what) in p.about().trigger_answers {
                assert!(fired.contains_key(*name), "{}: {name}", p.id());
                let at = text.find(&format!("  {name}:\n")).unwrap();
                let next = text[at..].find("method:").unwrap();
                let said: Vec<&str> = text[at..at + next]
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("# "))
                    .collect();
                assert!(said.join(" ").contains(what), "{}: {name}", p.id());
            }
        }
    }

    /// Every provider's starter is a target validation reads, and pairing it with the bundled
    /// suite finds nothing wrong but its placeholders: it names every trigger, webhook and
    /// credential the suite needs, with variables every firing defines.
    #[test]
    fn every_starter_loads_and_needs_only_its_placeholders() {
        for p in super::super::all() {
            let text = starter_target(p).unwrap();
            let target = parse_target(&text, std::path::Path::new("starter.yaml"))
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.id()));
            assert_eq!(target.value.provider.as_deref(), Some(p.id()));
            assert!(text.contains(PLACEHOLDER));
            let suite = p.suite().load().unwrap();
            let problems = crate::validate::pair_problems(&suite, &target);
            assert!(
                !problems.is_empty(),
                "{}: the placeholders are named",
                p.id()
            );
            let other: Vec<_> = problems
                .iter()
                .filter(|pr| !pr.message.contains("golive init's placeholder"))
                .collect();
            assert!(other.is_empty(), "{}: {other:#?}", p.id());
            for c in p.credential_names() {
                assert!(
                    text.contains(&format!("credentials.{c} ")),
                    "{}: {c}",
                    p.id()
                );
            }
        }
    }

    /// The schema the starter's first line names is written beside it, replacing an older
    /// golive schema but never a file of the team's own.
    #[test]
    fn the_schema_is_written_beside_the_starter() {
        let p = super::super::provider("kontocloud").unwrap();
        let text = starter_target(p).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("# yaml-language-server: $schema=target.schema.json")
        );
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("shop.yaml");
        let schema = dir.path().join(SCHEMA_FILE);
        assert_eq!(write_schema_beside(&target).unwrap(), Some(schema.clone()));
        assert_eq!(
            std::fs::read_to_string(&schema).unwrap(),
            crate::suite::load::TARGET_SCHEMA
        );
        assert_eq!(write_schema_beside(&target).unwrap(), None, "already there");
        let older = crate::suite::load::TARGET_SCHEMA.replacen(
            "\"description\"",
            "\"$comment\": \"old\", \"description\"",
            1,
        );
        std::fs::write(&schema, older).unwrap();
        assert_eq!(write_schema_beside(&target).unwrap(), Some(schema.clone()));
        std::fs::write(&schema, "{\"$id\": \"mine\"}").unwrap();
        assert_eq!(
            write_schema_beside(&target).unwrap(),
            None,
            "the team's own"
        );
        assert_eq!(
            std::fs::read_to_string(&schema).unwrap(),
            "{\"$id\": \"mine\"}"
        );
    }

    #[test]
    fn the_smartpay_starter() {
        let p = super::super::provider("smartpay").unwrap();
        insta::assert_snapshot!(starter_target(p).unwrap());
    }
}
