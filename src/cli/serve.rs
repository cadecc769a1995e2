//! The commands that serve or judge on their own: `sandbox`, `judge`, `reference`.

use std::collections::BTreeSet;
use std::io::Write;

use crate::reference::ShopConfig;
use crate::report::console;
use crate::run::{self};

use super::*;

pub(super) async fn sandbox_command(args: SandboxArgs) -> Ended {
    if crate::providers::provider(&args.provider).is_none() {
        let known = crate::providers::ids();
        return Err(Error::Usage(format!(
            "golive cannot play provider `{}`; expected one of: {}",
            args.provider,
            known.join(", ")
        )));
    }
    let suite = match &args.suite {
        Some(path) => load_suite(path)?,
        None => run::load_bundled_suite(&args.provider)?,
    };
    let settings = match args.settings.as_deref().map(serde_json::from_str) {
        None => serde_json::Map::new(),
        Some(Ok(serde_json::Value::Object(m))) => m,
        Some(Ok(_)) => return Err(Error::Usage("--settings must be a JSON object".into())),
        Some(Err(e)) => return Err(Error::Usage(format!("--settings is not JSON: {e}"))),
    };
    crate::standalone::serve_sandbox(crate::standalone::SandboxConfig {
        provider: args.provider,
        port: args.port,
        journal: args.journal,
        suite,
        settings,
    })
    .await?;
    Ok(Verdict::Passed)
}

pub(super) fn judge_command(args: JudgeArgs) -> Ended {
    let suite = load_suite(&args.suite)?;
    let judged = crate::standalone::judge(&suite, &args.journal, &args.reports);
    let summary = console::summary(&judged.report, &args.reports, console::use_color());
    out!("{summary}");
    match judged.report_error {
        Some(e) => Err(e),
        None => Ok(judged.report.verdict),
    }
}

pub(super) async fn serve_reference(args: ReferenceArgs) -> Ended {
    let Some(r) = crate::providers::reference(&args.provider) else {
        return Err(Error::Usage(format!(
            "no reference shop for `{}`; expected one of: {}",
            args.provider,
            run::reference_providers()
        )));
    };
    let style = args.style.unwrap_or_else(|| r.styles[0].to_owned());
    let flaws: BTreeSet<String> = args.flaws.into_iter().collect();
    r.validate(&style, &flaws)?;
    let prefix = r.env_prefix();
    let sandbox_url = match std::env::var(format!("{prefix}_BASE_URL")) {
        Ok(v) => v,
        Err(_) => {
            return Err(Error::Usage(format!(
                "set {prefix}_BASE_URL to the sandbox's URL"
            )))
        }
    };
    // Every `<PREFIX>_<NAME>` variable is a credential (`KONTOCLOUD_USER_ID` → `user_id`).
    let credentials = std::env::vars()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(&format!("{prefix}_"))?;
            (name != "BASE_URL").then(|| (name.to_ascii_lowercase(), v))
        })
        .collect();
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) => {
            return Err(Error::Run(format!(
                "cannot listen on 127.0.0.1:{}: {e}",
                args.port
            )))
        }
    };
    let config = ShopConfig {
        sandbox_url,
        credentials,
        style,
        flaws,
        public_url: format!("http://127.0.0.1:{}", args.port),
    };
    err!(
        "golive: {} reference shop on {}",
        r.provider,
        config.public_url
    );
    (r.serve)(config, listener).await;
    Ok(Verdict::Passed)
}
