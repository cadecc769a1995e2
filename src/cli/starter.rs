//! The commands that help a team write its target: `provider` (what the sandbox serves and the
//! suite needs) and `init` (a starter target to fill in).

use std::io::Write;

use super::*;
use crate::providers::{self, Provider};

fn named(provider: &str) -> Result<&'static dyn Provider, Error> {
    providers::provider(provider).ok_or_else(|| {
        Error::Usage(format!(
            "no provider `{provider}`; expected one of: {}",
            providers::ids().join(", ")
        ))
    })
}

/// `golive provider P`.
pub(super) fn provider_command(provider: &str) -> Ended {
    let page = providers::docs::describe(named(provider)?).map_err(Error::Bug)?;
    let _ = write!(std::io::stdout(), "{page}");
    Ok(Verdict::Passed)
}

/// `golive init --provider P [--out FILE] [--force]`.
pub(super) fn init_command(args: InitArgs) -> Ended {
    let provider = named(&args.provider)?;
    if args.out.exists() && !args.force {
        return Err(Error::Usage(format!(
            "{} exists; choose another --out, or --force to overwrite it",
            args.out.display()
        )));
    }
    let text = providers::starter::starter_target(provider).map_err(Error::Bug)?;
    std::fs::write(&args.out, text)
        .map_err(|e| Error::Run(format!("cannot write {}: {e}", args.out.display())))?;
    // The schema the starter's first line points editors at.
    if let Some(schema) = providers::starter::write_schema_beside(&args.out).map_err(Error::Run)? {
        out!(
            "wrote {} (the target schema, for editor completion)",
            schema.display()
        );
    }
    out!(
        "wrote {}: replace each {}, then `golive validate --suite {} --target {}`",
        args.out.display(),
        providers::starter::PLACEHOLDER,
        provider.id(),
        args.out.display()
    );
    Ok(Verdict::Passed)
}
