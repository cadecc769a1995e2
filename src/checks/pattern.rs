//! A regex a rule tests on every request, remembering the last value it matched.
//!
//! The values a request's form is checked on (a header, a local date) mostly repeat from one
//! request to the next, and running the regex again on each was a good part of what judging a
//! large journal cost (`perf` on a 1,000,000-exchange journal).
//!
//! Only for values that repeat. The shared `pattern` param of `unique_field` and
//! `idempotency_keys` stays a plain regex: their values differ on every request by design, so
//! remembering one would only copy each.

use regex::Regex;

pub(crate) struct Pattern {
    regex: Regex,
    /// The last value that matched (a match depends on the value alone).
    matched: String,
}

impl Pattern {
    pub(crate) fn new(regex: Regex) -> Pattern {
        Pattern {
            regex,
            matched: String::new(),
        }
    }

    pub(crate) fn is_match(&mut self, value: &str) -> bool {
        if !self.matched.is_empty() && self.matched == value {
            return true;
        }
        let matches = self.regex.is_match(value);
        if matches {
            self.matched.clear();
            self.matched.push_str(value);
        }
        matches
    }

    pub(crate) fn as_str(&self) -> &str {
        self.regex.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_matches_as_the_regex_says_whatever_came_before() {
        let mut p = Pattern::new(Regex::new(r"^\d{6}$").unwrap());
        for (value, expected) in [
            ("120000", true),
            ("120000", true),
            ("12000", false),
            ("120000", true),
            ("", false),
            ("235959", true),
            ("120000x", false),
        ] {
            assert_eq!(p.is_match(value), expected, "{value:?}");
        }
        // The empty value is never taken for a remembered match.
        let mut any = Pattern::new(Regex::new("^a*$").unwrap());
        assert!(any.is_match(""));
        assert!(any.is_match(""));
    }
}
