//! Sources as a provider's reviewer can follow them.
//!
//! The suites say where each rule comes from in golive's own words: `seed 003 Complete Order`
//! (an excerpt of a provider's guide golive was built from) or `providers.md (...)` (golive's
//! design notes on that provider's public documentation). Neither means anything to a
//! Payment Solutions Specialist reading a report, so [`cite`] names the provider's public
//! document instead, by title, keeping the section the suite gives:
//! `seed 003 Complete Order` → `KontoCloud e-wallet integration guide, Complete Order`.
//! Every report reads the completed report, so this happens once, in `report::build`.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// The public document each seed is an excerpt of, by its number.
const SEED_DOCUMENTS: &[(&str, &str)] = &[
    (
        "000",
        "J.P. Morgan Mobility Payments Integration Journey (KontoCloud)",
    ),
    ("001", "PPaaS developer platform, Build your integration"),
    ("002", "SmartPay Integration Journey"),
    ("003", "KontoCloud e-wallet integration guide"),
    ("004", "MobilePay PoS V10 developer documentation"),
];

/// The provider's API reference, which golive's notes (`providers.md`) summarise.
fn api_reference(provider: &str) -> &'static str {
    match provider.to_ascii_lowercase().as_str() {
        "kontocloud" => "KontoCloud API reference",
        "smartpay" => "SmartPay API reference",
        "mobilepay" => "MobilePay PoS V10 API reference",
        "ppaas" => "PPaaS API reference",
        _ => "the provider's API reference",
    }
}

/// A suite's `source` (or any text of a check) with golive's internal references replaced
/// by the public documents they stand for (see the module comment).
pub fn cite(provider: &str, text: &str) -> String {
    // `seed 003`, `Seed 001 §6`; a section name that follows stays, after a comma.
    static SEED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\b[Ss]eeds? ([0-9]{3})\b( (?:§|[A-Z]))?").expect("valid regex")
    });
    static NOTES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:\.\./)*(?:shared/)?(?:design/)?\bproviders\.md\b").expect("valid regex")
    });
    static THE_SEED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\bthe seed('s)?\b").expect("valid regex"));
    let text = SEED.replace_all(text, |c: &Captures| {
        let title = SEED_DOCUMENTS
            .iter()
            .find(|(n, _)| *n == &c[1])
            .map(|(_, t)| *t)
            .unwrap_or("the provider's integration guide");
        match c.get(2) {
            Some(section) => format!("{title},{}", section.as_str()),
            None => title.to_string(),
        }
    });
    let text = NOTES.replace_all(&text, api_reference(provider));
    THE_SEED
        .replace_all(&text, |c: &Captures| {
            if c.get(1).is_some() {
                "the public documentation's".to_string()
            } else {
                "the public documentation".to_string()
            }
        })
        .into_owned()
}

/// Whether a text still holds one of golive's internal references (for tests).
pub fn has_internal_reference(text: &str) -> bool {
    static INTERNAL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\bseeds? [0-9]{3}\b|providers\.md").expect("valid regex")
    });
    INTERNAL.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_become_the_public_documents_they_stand_for() {
        assert_eq!(
            cite("kontocloud", "seed 003 Complete Order"),
            "KontoCloud e-wallet integration guide, Complete Order"
        );
        assert_eq!(
            cite("kontocloud", "seed 000 §3 Integration (API authentication)"),
            "J.P. Morgan Mobility Payments Integration Journey (KontoCloud), §3 Integration (API authentication)"
        );
        assert_eq!(
            cite(
                "kontocloud",
                "seed 000 §3 Integration; seed 003 (Get Payment Status with a valid token)"
            ),
            "J.P. Morgan Mobility Payments Integration Journey (KontoCloud), §3 Integration; \
             KontoCloud e-wallet integration guide (Get Payment Status with a valid token)"
        );
        assert_eq!(
            cite("mobilepay", "seed 004 Self Certification (cancel a refund)"),
            "MobilePay PoS V10 developer documentation, Self Certification (cancel a refund)"
        );
        assert_eq!(
            cite("ppaas", "Seed 001 §6 (steps 5-7); event types inferred"),
            "PPaaS developer platform, Build your integration, §6 (steps 5-7); event types inferred"
        );
    }

    #[test]
    fn golive_notes_become_the_providers_api_reference() {
        assert_eq!(
            cite(
                "kontocloud",
                "providers.md (Issue Token, Get Payment Status); error 0001"
            ),
            "KontoCloud API reference (Issue Token, Get Payment Status); error 0001"
        );
        assert_eq!(
            cite("smartpay", "see ../shared/design/providers.md"),
            "see SmartPay API reference"
        );
        assert_eq!(
            cite("mobilepay", "Field sets beyond the seed are inferred"),
            "Field sets beyond the public documentation are inferred"
        );
        for text in [
            "inferred",
            "V10 API Errors (1153)",
            "golive: never judge by silence",
        ] {
            assert_eq!(cite("mobilepay", text), text, "left as it is");
        }
    }

    #[test]
    fn no_bundled_source_keeps_an_internal_reference() {
        for provider in crate::providers::ids() {
            let Ok(suite) = crate::run::load_bundled_suite(provider) else {
                continue;
            };
            for check in &suite.value.checks {
                for text in [&check.source, &check.description, &check.title] {
                    let cited = cite(provider, text);
                    assert!(!has_internal_reference(&cited), "{provider}: {cited}");
                }
            }
        }
    }
}
