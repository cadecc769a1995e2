//! The commands about suites: `kinds`, `suites`, `suites export`, `validate`.

use std::io::Write;
use std::path::Path;

use crate::run::{self};
use crate::suite::{self, Problems};

use super::*;

/// `golive kinds` (one line per kind) and `golive kinds KIND` (the kind in full).
pub(super) fn kinds_command(kind: Option<&str>) -> Ended {
    let Some(name) = kind else {
        for k in crate::checks::kinds() {
            out!("{:<24} {}", k.name, k.summary);
        }
        out!("\n`golive kinds KIND` shows a kind's params, defaults and an example.");
        return Ok(Verdict::Passed);
    };
    let suites: Vec<(&str, &str)> = run::bundled_suites()
        .into_iter()
        .map(|(_, file, text)| (file, text))
        .collect();
    let doc = crate::checks::docs::describe(name, &suites)
        .ok_or_else(|| Error::Usage(crate::checks::unknown_kind(name)))?;
    let _ = write!(std::io::stdout(), "{doc}");
    Ok(Verdict::Passed)
}

/// `golive suites` and `golive suites export DIR`.
pub(super) fn suites_command(args: SuitesArgs) -> Ended {
    match args.action {
        None => {
            for (provider, file, _) in run::bundled_suites() {
                let suite = run::load_bundled_suite(provider)?.value;
                out!(
                    "{provider:<11} {file:<32} {} ({} scenarios, {} checks)",
                    suite.title,
                    suite.scenarios.len(),
                    suite.checks.len()
                );
            }
            out!("\nUse one by name: golive run --suite kontocloud --reference");
            out!("Write them out as files: golive suites export DIR");
            Ok(Verdict::Passed)
        }
        Some(SuitesAction::Export { dir, force }) => export_suites(&dir, force),
    }
}

/// The bundled suites and reference targets, and the schemas their modelines name, as (path
/// under the export folder, text).
pub(super) fn bundled_files() -> Vec<(String, &'static str)> {
    let mut files: Vec<(String, &'static str)> = run::bundled_suites()
        .iter()
        .map(|(_, name, text)| ((*name).to_owned(), *text))
        .collect();
    for r in crate::providers::references() {
        files.push((
            format!("targets/{}-reference.yaml", r.provider),
            r.target_yaml,
        ));
    }
    // The schemas the files' first lines point editors at (`../schemas/…`).
    for (name, text) in crate::suite::schema::FILES {
        files.push((name.to_owned(), text));
    }
    files
}

pub(super) fn export_suites(dir: &Path, force: bool) -> Ended {
    let files = bundled_files();
    // All or nothing: a refused export leaves no half-written set behind.
    let existing: Vec<String> = files
        .iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        return Err(Error::Usage(format!(
            "not overwriting {} (give --force to replace them)",
            existing.join(", ")
        )));
    }
    for (name, text) in &files {
        let path = dir.join(name);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| Error::Run(format!("cannot write {}: {e}", path.display())))?;
        out!("wrote {}", path.display());
    }
    Ok(Verdict::Passed)
}

pub(super) fn validate(args: ValidateArgs) -> Ended {
    if args.suites.is_empty() && args.targets.is_empty() {
        return Err(Error::Usage(
            "give at least one --suite or --target file".into(),
        ));
    }
    let mut all = Vec::new();
    let mut suites = Vec::new();
    for path in &args.suites {
        // Schema problems stop a file; golive's own rules and the pairing with targets are
        // still checked on a suite that got past the schema, so one run names every mistake.
        match run::load_suite_arg(path) {
            Ok(mut s) => {
                // The variables a run would be given, so the target's templates may use them.
                run::vars::apply(&mut s.value, &args.vars)?;
                all.extend(crate::validate::suite_problems(&s));
                suites.push(s);
            }
            Err(p) => all.extend(p.0),
        }
    }
    for path in &args.targets {
        match suite::load_target(path) {
            Ok(t) => {
                for s in &suites {
                    all.extend(suite::cross_rules(s, &t));
                }
            }
            Err(p) => all.extend(p.0),
        }
    }
    if all.is_empty() {
        out!(
            "ok: {} suite(s) and {} target(s) are valid",
            args.suites.len(),
            args.targets.len()
        );
        Ok(Verdict::Passed)
    } else {
        Err(Error::Input(Problems(all)))
    }
}
