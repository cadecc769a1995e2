//! The suites bundled in the binary, and the `--suite` argument that may name one.

use super::*;

/// A suite bundled in the binary, by provider.
pub fn bundled_suite(provider: &str) -> Option<(&'static str, &'static str)> {
    bundled_suites()
        .into_iter()
        .find(|(p, _, _)| p.eq_ignore_ascii_case(provider))
        .map(|(_, name, text)| (name, text))
}

/// (provider, file name, text) of every bundled suite, in registry order.
pub fn bundled_suites() -> Vec<(&'static str, &'static str, &'static str)> {
    crate::providers::all()
        .map(|p| (p.id(), p.suite().file, p.suite().text))
        .collect()
}

/// The bundled suite a `--suite` argument names when no such file exists: a provider id
/// (`kontocloud`) or a bundled suite's file name, with or without `suites/` and `.yaml`
/// (`kontocloud-go-live`). A file that exists always wins, so a team's own
/// `kontocloud` file is never shadowed. This is what makes the suites usable from an
/// installed binary, outside the checkout.
pub fn bundled_suite_named(arg: &Path) -> Option<(&'static str, &'static str)> {
    if arg.exists() {
        return None;
    }
    let given = arg.to_str()?;
    bundled_suites()
        .into_iter()
        .find(|(provider, name, _)| {
            let file = name.strip_prefix("suites/").unwrap_or(name);
            let stem = file.strip_suffix(".yaml").unwrap_or(file);
            [*provider, *name, file, stem]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(given))
        })
        .map(|(_, name, text)| (name, text))
}

/// Loads the suite a `--suite` argument names: the file, or else the bundled suite of that
/// name ([`bundled_suite_named`]), or else the file's own read error.
pub fn load_suite_arg(arg: &Path) -> Result<Loaded<Suite>, crate::suite::Problems> {
    match bundled_suite_named(arg) {
        Some((name, text)) => {
            crate::suite::parse_suite(text, Path::new(&format!("built-in:{name}")))
        }
        None => crate::suite::load_suite(arg).map_err(|mut problems| {
            // A name that is neither a file nor a bundled suite: say which names would do.
            if !arg.exists() && arg.components().count() == 1 {
                let names: Vec<&str> = bundled_suites().iter().map(|(p, _, _)| *p).collect();
                for p in problems.0.iter_mut() {
                    p.message.push_str(&format!(
                        "; nor is it a bundled suite (by name: {}; `golive suites` lists them)",
                        names.join(", ")
                    ));
                }
            }
            problems
        }),
    }
}

/// Loads a bundled suite (they are tested to load; a failure here is a bug).
pub fn load_bundled_suite(provider: &str) -> Result<Loaded<Suite>, Error> {
    crate::providers::provider(provider)
        .ok_or_else(|| Error::Usage(format!("no bundled suite for provider `{provider}`")))?
        .suite()
        .load()
        .map_err(|e| Error::Bug(e.to_string()))
}
