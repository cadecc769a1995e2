//! `--scenario GLOB` and `--check GLOB`: a run of part of a suite.
//!
//! The globs are checked against the suite before anything runs (one that matches nothing is a
//! usage error, with the closest name), then the suite is cut down to what they select. A check
//! the suite asked for only in scenarios the filter left out is left out with them: nothing
//! could judge it, and reporting it as skipped or not judged would blame the integration for
//! the filter. What was left out is recorded ([`Filter`]) and every report says so.

use crate::report::Filter;
use crate::suite::Suite;
use crate::Error;

/// A name pattern: `*` stands for any run of characters, `?` for one; everything else is
/// itself (case matters, as ids are written in the suite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Self {
        Glob(pattern.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let pattern: Vec<char> = self.0.chars().collect();
        let name: Vec<char> = name.chars().collect();
        // The classic two-pointer wildcard match: linear in practice, no recursion.
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match pattern.get(p) {
                Some('*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some('?') => {
                    p += 1;
                    n += 1;
                }
                Some(c) if *c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|c| *c == '*')
    }

    fn is_literal(&self) -> bool {
        !self.0.contains(['*', '?'])
    }
}

/// What `--scenario` and `--check` asked for (repeatable: a name selected by any glob is in).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub scenarios: Vec<Glob>,
    pub checks: Vec<Glob>,
}

impl Selection {
    pub fn new(scenarios: &[String], checks: &[String]) -> Self {
        Selection {
            scenarios: scenarios.iter().map(|g| Glob::new(g)).collect(),
            checks: checks.iter().map(|g| Glob::new(g)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty() && self.checks.is_empty()
    }

    fn keeps_scenario(&self, id: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|g| g.matches(id))
    }

    fn keeps_check_id(&self, id: &str) -> bool {
        self.checks.is_empty() || self.checks.iter().any(|g| g.matches(id))
    }

    /// Whether the suite has anything this selection picks: every glob matches a name, and
    /// something is left to judge. `None` if so, else why not.
    pub fn problem(&self, suite: &Suite) -> Option<String> {
        let scenarios: Vec<&str> = suite.scenarios.iter().map(|s| s.id.as_str()).collect();
        let checks: Vec<&str> = suite.checks.iter().map(|c| c.id.as_str()).collect();
        for (flag, globs, names, what) in [
            ("--scenario", &self.scenarios, &scenarios, "scenario"),
            ("--check", &self.checks, &checks, "check"),
        ] {
            for glob in globs {
                if names.iter().any(|n| glob.matches(n)) {
                    continue;
                }
                let hint = crate::checks::closest(glob.as_str(), names.iter().copied())
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                let kind = if glob.is_literal() {
                    format!("no {what} `{}`", glob.as_str())
                } else {
                    format!("`{}` matches no {what}", glob.as_str())
                };
                return Some(format!(
                    "{flag}: {kind} in suite {}; {hint}its {what}s are: {}",
                    suite.id,
                    names.join(", ")
                ));
            }
        }
        let mut trial = suite.clone();
        let filter = self.apply(&mut trial);
        if trial.checks.is_empty() {
            let why = if filter.checks_left_out.len() == suite.checks.len()
                && self.checks.is_empty()
            {
                "every check of the suite is asked for only in scenarios --scenario leaves out"
                    .to_string()
            } else {
                format!(
                    "the checks --check selects are asked for only in scenarios --scenario leaves out ({})",
                    filter.scenarios_left_out.join(", ")
                )
            };
            return Some(format!(
                "{}: nothing would be judged: {why}",
                filter.flags()
            ));
        }
        None
    }

    /// Cuts the suite down to the selection and says what was left out.
    pub fn apply(&self, suite: &mut Suite) -> Filter {
        let mut filter = Filter {
            scenarios: self.scenarios.iter().map(|g| g.0.clone()).collect(),
            checks: self.checks.iter().map(|g| g.0.clone()).collect(),
            ..Filter::default()
        };
        suite.scenarios.retain(|s| {
            let keep = self.keeps_scenario(&s.id);
            if !keep {
                filter.scenarios_left_out.push(s.id.clone());
            }
            keep
        });
        suite.checks.retain(|c| {
            let in_selected = match &c.scenarios {
                Some(list) => list.iter().any(|s| self.keeps_scenario(s)),
                None => true,
            };
            let keep = self.keeps_check_id(&c.id) && in_selected;
            if !keep {
                filter.checks_left_out.push(c.id.clone());
            }
            keep
        });
        // A check asked for in some scenarios that ran and some that did not owes verdicts
        // only for those that ran.
        for c in &mut suite.checks {
            if let Some(list) = &mut c.scenarios {
                list.retain(|s| self.keeps_scenario(s));
            }
        }
        filter
    }
}

/// Checks the selection against the suite and applies it; `None` when nothing was filtered.
pub fn select(selection: &Selection, suite: &mut Suite) -> Result<Option<Filter>, Error> {
    if selection.is_empty() {
        return Ok(None);
    }
    if let Some(problem) = selection.problem(suite) {
        return Err(Error::Usage(problem));
    }
    Ok(Some(selection.apply(suite)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite() -> Suite {
        crate::run::load_bundled_suite("kontocloud")
            .expect("the bundled suite")
            .value
    }

    #[test]
    fn globs_match_whole_names() {
        let cases = [
            ("KC-TOKEN-*", "KC-TOKEN-REUSE", true),
            ("KC-TOKEN-*", "KC-TOKEN-", true),
            ("KC-TOKEN-*", "XKC-TOKEN-REUSE", false),
            ("purchase_*", "purchase_captured", true),
            ("*_captured", "purchase_captured", true),
            ("p?rchase_*", "purchase_declined", true),
            ("purchase", "purchase_captured", false),
            ("*a*b*", "xaxxbx", true),
            ("*a*b", "xaxxbx", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("é?", "éx", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(name),
                expected,
                "{pattern} ~ {name}"
            );
        }
    }

    #[test]
    fn a_scenario_filter_keeps_the_checks_it_can_still_judge() {
        let full = suite();
        let mut s = full.clone();
        let selection = Selection::new(&["purchase_*".into()], &[]);
        let filter = select(&selection, &mut s).unwrap().unwrap();
        assert!(!s.scenarios.is_empty());
        assert!(s.scenarios.iter().all(|x| x.id.starts_with("purchase_")));
        assert_eq!(
            s.scenarios.len() + filter.scenarios_left_out.len(),
            full.scenarios.len()
        );
        // Every check kept is unscoped or scoped to kept scenarios only; every check left out
        // was scoped to left-out scenarios only.
        for c in &s.checks {
            if let Some(list) = &c.scenarios {
                assert!(!list.is_empty() && list.iter().all(|x| x.starts_with("purchase_")));
            }
        }
        for id in &filter.checks_left_out {
            let spec = full.checks.iter().find(|c| &c.id == id).unwrap();
            let scoped = spec
                .scenarios
                .as_ref()
                .expect("only scoped checks are left out");
            assert!(scoped.iter().all(|x| !x.starts_with("purchase_")), "{id}");
        }
        assert!(!filter.checks_left_out.is_empty());
        assert_eq!(
            s.checks.len() + filter.checks_left_out.len(),
            full.checks.len()
        );
    }

    #[test]
    fn a_check_filter_keeps_only_matching_checks_and_every_scenario() {
        let full = suite();
        let mut s = full.clone();
        let selection = Selection::new(&[], &["KC-TOKEN-*".into()]);
        let filter = select(&selection, &mut s).unwrap().unwrap();
        assert_eq!(s.scenarios.len(), full.scenarios.len());
        assert!(!s.checks.is_empty());
        assert!(s.checks.iter().all(|c| c.id.starts_with("KC-TOKEN-")));
        assert!(filter.scenarios_left_out.is_empty());
        assert_eq!(filter.flags(), "--check 'KC-TOKEN-*'");
    }

    #[test]
    fn a_glob_matching_nothing_is_a_usage_error_with_the_closest_name() {
        let mut s = suite();
        let typo = Selection::new(&["purchase_captred".into()], &[]);
        let Err(Error::Usage(m)) = select(&typo, &mut s) else {
            panic!("a usage error")
        };
        insta::assert_snapshot!("unknown_scenario", m);
        let glob = Selection::new(&[], &["KC-NOPE-*".into()]);
        let Err(Error::Usage(m)) = select(&glob, &mut s) else {
            panic!("a usage error")
        };
        assert!(
            m.starts_with("--check: `KC-NOPE-*` matches no check in suite"),
            "{m}"
        );
        assert!(m.contains("KC-TOKEN-REUSE"), "{m}");
        // Nothing was cut on the way.
        assert_eq!(s.scenarios.len(), suite().scenarios.len());
    }

    #[test]
    fn a_selection_that_leaves_nothing_to_judge_is_refused() {
        let mut s = suite();
        // A check scoped to scenarios other than the one selected.
        let scoped = s
            .checks
            .iter()
            .find(|c| {
                c.scenarios
                    .as_ref()
                    .is_some_and(|l| !l.iter().any(|x| x == "purchase_captured"))
            })
            .expect("a scoped check")
            .id
            .clone();
        let selection = Selection::new(&["purchase_captured".into()], &[scoped]);
        let Err(Error::Usage(m)) = select(&selection, &mut s) else {
            panic!("a usage error")
        };
        assert!(m.contains("nothing would be judged"), "{m}");
    }
}
