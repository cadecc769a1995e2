//! `--var KEY=VALUE`: a scenario variable set from the command line, in every scenario of the
//! suite, before validation (so a target template using it is checked like any other).

use std::str::FromStr;

use serde_json::Value;

use crate::suite::Suite;
use crate::Error;

/// Names golive itself gives a template; a `--var` may not hide them.
pub const RESERVED: &[&str] = &[
    "order_id",
    "scenario",
    "sandbox",
    "credentials",
    "port",
    "golive",
    "time_scale",
    "order",
    "payment",
    "env",
];

/// One `--var KEY=VALUE`, read at the edge: a well-formed name, not one of golive's own.
#[derive(Debug, Clone, PartialEq)]
pub struct VarOverride {
    pub key: String,
    pub value: String,
}

impl FromStr for VarOverride {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(format!("expected KEY=VALUE (e.g. currency=SEK), not `{s}`"));
        };
        let key = key.trim();
        let well_formed = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(format!(
                "`{key}` is not a variable name (letters, digits and `_`, not starting with a digit)"
            ));
        }
        if RESERVED.contains(&key) {
            return Err(format!(
                "`{key}` is golive's own template variable and cannot be set; golive's own are: {}",
                RESERVED.join(", ")
            ));
        }
        Ok(VarOverride {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl VarOverride {
    /// The value as it replaces `current`: a number stays a number (and must be one), a boolean
    /// a boolean; anything else, and a variable the scenario did not have, is a string.
    fn typed(&self, current: Option<&Value>, scenario: &str) -> Result<Value, String> {
        let refuse = |what: &str| {
            format!(
                "--var {}={}: `{}` is {what} in scenario {scenario}, and `{}` is not",
                self.key, self.value, self.key, self.value
            )
        };
        Ok(match current {
            Some(Value::Number(_)) => serde_json::from_str::<serde_json::Number>(self.value.trim())
                .map(Value::Number)
                .map_err(|_| refuse("a number"))?,
            Some(Value::Bool(_)) => match self.value.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(refuse("a boolean (true or false)")),
            },
            _ => Value::String(self.value.clone()),
        })
    }
}

/// Sets every override in every scenario's `vars` (the last of one name wins).
pub fn apply(suite: &mut Suite, overrides: &[VarOverride]) -> Result<(), Error> {
    for scenario in &mut suite.scenarios {
        for o in overrides {
            let value = o
                .typed(scenario.vars.get(&o.key), &scenario.id)
                .map_err(Error::Usage)?;
            scenario.vars.insert(o.key.clone(), value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<VarOverride, String> {
        s.parse()
    }

    #[test]
    fn a_var_is_read_at_the_edge() {
        assert_eq!(
            parse("currency=SEK").unwrap(),
            VarOverride {
                key: "currency".into(),
                value: "SEK".into()
            }
        );
        // Only the first `=` splits: a value may hold more.
        assert_eq!(parse("note=a=b").unwrap().value, "a=b");
        assert_eq!(parse("empty=").unwrap().value, "");
        for (bad, says) in [
            ("currency", "KEY=VALUE"),
            ("=x", "not a variable name"),
            ("9lives=x", "not a variable name"),
            ("a-b=x", "not a variable name"),
            ("order_id=x", "golive's own"),
            ("env=x", "golive's own"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn overrides_keep_the_suites_types_and_add_strings() {
        let mut suite = crate::run::load_bundled_suite("mobilepay")
            .expect("bundled")
            .value;
        let with_amount = suite
            .scenarios
            .iter()
            .position(|s| s.vars.get("amount").is_some_and(Value::is_number))
            .expect("a numeric amount");
        apply(
            &mut suite,
            &[parse("amount=7.5").unwrap(), parse("shop_id=0042").unwrap()],
        )
        .unwrap();
        let vars = &suite.scenarios[with_amount].vars;
        assert_eq!(vars["amount"], serde_json::json!(7.5));
        assert_eq!(vars["shop_id"], serde_json::json!("0042"));
        assert!(suite.scenarios.iter().all(|s| s.vars["shop_id"] == "0042"));

        let Err(Error::Usage(m)) = apply(&mut suite, &[parse("amount=lots").unwrap()]) else {
            panic!("a usage error")
        };
        assert!(m.contains("is a number in scenario"), "{m}");
    }

    #[test]
    fn a_string_var_stays_a_string() {
        let mut suite = crate::run::load_bundled_suite("kontocloud")
            .expect("bundled")
            .value;
        apply(&mut suite, &[parse("amount=99.00").unwrap()]).unwrap();
        assert!(suite
            .scenarios
            .iter()
            .filter(|s| s.vars.contains_key("amount"))
            .all(|s| s.vars["amount"] == "99.00"));
    }
}
