//! KontoCloud: what the built-in reference shop's flaws cover. Each compliant style and each
//! flaw is run end to end by tests/providers.rs, one trial per case.

use std::collections::BTreeSet;

#[test]
fn every_check_of_the_suite_is_caught_by_some_flaw() {
    // A check no flawed shop can fail would be a check that never fails.
    let suite = golive::run::load_bundled_suite("kontocloud").unwrap();
    let r = golive::providers::reference("kontocloud").unwrap();
    let caught: BTreeSet<&str> = r
        .flaws
        .iter()
        .flat_map(|f| f.caught_by.iter().copied())
        .collect();
    let missing: Vec<&str> = suite
        .value
        .checks
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !caught.contains(id))
        .collect();
    assert!(missing.is_empty(), "no flaw exercises {missing:?}");
    for id in &caught {
        assert!(
            suite.value.checks.iter().any(|c| c.id == *id),
            "flaw names unknown check {id}"
        );
    }
}
