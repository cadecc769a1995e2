//! Scenario scoping: a check limited to some scenarios sees only their entries, and a
//! per-scenario rule keeps its state apart for each.

use std::collections::HashSet;

use super::{Finding, Rule};
use crate::journal::{same_text, Entry};

/// Passes a rule only the entries of the named scenarios.
pub struct Scoped {
    inner: Box<dyn Rule>,
    scenarios: HashSet<String>,
}

impl Scoped {
    pub fn new(inner: Box<dyn Rule>, scenarios: Vec<String>) -> Self {
        Scoped {
            inner,
            scenarios: scenarios.into_iter().collect(),
        }
    }
}

pub fn entry_scenario(entry: &Entry) -> &str {
    match entry {
        Entry::ScenarioStart(s) => &s.scenario,
        Entry::ScenarioEnd(s) => &s.scenario,
        Entry::Exchange(e) => &e.scenario,
    }
}

impl Rule for Scoped {
    fn observe(&mut self, entry: &Entry) {
        if self.scenarios.contains(entry_scenario(entry)) {
            self.inner.observe(entry);
        }
    }
    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.inner.finish()
    }
    fn lanes_apart(&self) -> bool {
        self.inner.lanes_apart()
    }
}

/// A rule that keeps its params and what it learns of each scenario.
pub struct ByScenario<P, S> {
    pub params: P,
    pub scenarios: PerScenario<S>,
}

impl<P, S> ByScenario<P, S> {
    pub fn new(params: P) -> Self {
        ByScenario {
            params,
            scenarios: PerScenario::default(),
        }
    }
}

/// State kept per scenario, in the order scenarios appeared.
#[derive(Debug)]
pub struct PerScenario<S> {
    items: Vec<(String, S)>,
}

impl<S> Default for PerScenario<S> {
    fn default() -> Self {
        PerScenario { items: Vec::new() }
    }
}

impl<S: Default> PerScenario<S> {
    /// The state of a scenario ("" is outside any scenario), created on first use.
    pub fn get(&mut self, scenario: &str) -> &mut S {
        // Most exchanges are of the scenario the one before was of: the newest first.
        if let Some(i) = self.items.iter().rposition(|(s, _)| same_text(s, scenario)) {
            return &mut self.items[i].1;
        }
        self.items.push((scenario.to_owned(), S::default()));
        &mut self.items.last_mut().expect("just pushed").1
    }
}

impl<S> PerScenario<S> {
    /// One verdict per scenario, in the order they appeared, each marked with its scenario;
    /// `judge` gives `None` for a scenario with nothing to judge.
    pub fn verdicts(self, mut judge: impl FnMut(&str, S) -> Option<Finding>) -> Vec<Finding> {
        self.items
            .into_iter()
            .filter_map(|(scenario, s)| judge(&scenario, s).map(|f| f.in_scenario(&scenario)))
            .collect()
    }
}

impl<S> IntoIterator for PerScenario<S> {
    type Item = (String, S);
    type IntoIter = std::vec::IntoIter<(String, S)>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}
