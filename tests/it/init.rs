//! `golive init` and `golive provider`, as a team uses them: write a starter target, see
//! validation name what is left to fill, fill it (here: with the reference shop's own command,
//! paths and trigger bodies, keeping the starter's environment names), and drive the reference
//! shop with it.

use serde_json::Value;

use crate::support::{golive, text};

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

/// One provider's starter, filled in from its reference target, run to a pass.
fn fill_and_run(provider: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = golive(
        &["init", "--provider", provider, "--out", "mine.yaml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Validation names what is left to fill, at its place, and runs nothing.
    let refused = golive(
        &["validate", "--suite", provider, "--target", "mine.yaml"],
        dir.path(),
    );
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert!(said.contains("mine.yaml:11:"), "{said}");
    assert!(
        said.contains("`start.command.0` is still golive init's placeholder"),
        "{said}"
    );

    let starter = yaml(&std::fs::read_to_string(dir.path().join("mine.yaml")).unwrap());
    let reference = golive::providers::reference(provider).unwrap();
    let theirs = yaml(reference.target_yaml);
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    // The starter asks for exactly what the reference shop maps.
    for part in ["triggers", "webhooks"] {
        let mut mine = keys(&starter[part]);
        let mut wanted = keys(&theirs[part]);
        mine.sort();
        wanted.sort();
        assert_eq!(mine, wanted, "{provider}: {part}");
    }
    assert_eq!(
        starter["order_probe"].is_null(),
        theirs["order_probe"].is_null(),
        "{provider}: order_probe"
    );
    let mut filled = starter.clone();
    filled["name"] = theirs["name"].clone();
    // The reference shop reads the starter's environment names (PROVIDER_BASE_URL,
    // PROVIDER_<CREDENTIAL>): only the command is the team's own.
    filled["start"]["command"] = theirs["start"]["command"].clone();
    filled["ready"] = theirs["ready"].clone();
    for part in ["triggers", "webhooks", "order_probe"] {
        if !theirs[part].is_null() {
            filled[part] = theirs[part].clone();
        }
    }
    // JSON is YAML.
    std::fs::write(
        dir.path().join("mine.yaml"),
        serde_json::to_string_pretty(&filled).unwrap(),
    )
    .unwrap();
    let ok = golive(
        &["validate", "--suite", provider, "--target", "mine.yaml"],
        dir.path(),
    );
    assert_eq!(ok.status.code(), Some(0), "{provider}: {}", text(&ok));

    let mut args = vec![
        "run",
        "--suite",
        provider,
        "--target",
        "mine.yaml",
        "--reports",
        "reports",
        "--wait-timeout",
        "3",
        "--quiet",
    ];
    let scale = reference.test_time_scale.map(|s| s.to_string());
    if let Some(s) = &scale {
        args.extend(["--time-scale", s.as_str()]);
    }
    let run = golive(&args, dir.path());
    assert_eq!(run.status.code(), Some(0), "{provider}: {}", text(&run));
}

#[test]
fn each_providers_starter_once_filled_drives_its_reference_shop() {
    let runs: Vec<_> = golive::providers::ALL
        .iter()
        .map(|p| {
            let id = p.id();
            std::thread::spawn(move || fill_and_run(id))
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
}

#[test]
fn the_provider_page_and_init_name_unknown_providers_and_keep_files() {
    let dir = tempfile::tempdir().unwrap();
    let page = golive(&["provider", "ppaas"], dir.path());
    assert_eq!(page.status.code(), Some(0));
    let page = text(&page);
    assert!(page.contains("transaction_event"), "{page}");
    assert!(page.contains("Webhooks it calls (`webhooks.NAME` in a target): qrcode_payment"));

    let unknown = golive(&["provider", "nosuch"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown).contains("expected one of: kontocloud, smartpay, mobilepay, ppaas"));

    std::fs::write(dir.path().join("mine.yaml"), "keep me").unwrap();
    let kept = golive(
        &["init", "--provider", "kontocloud", "--out", "mine.yaml"],
        dir.path(),
    );
    assert_eq!(kept.status.code(), Some(2));
    assert!(text(&kept).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mine.yaml")).unwrap(),
        "keep me"
    );
}
