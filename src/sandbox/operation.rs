//! A provider's API as data: one row per operation, which the sandbox core reads for
//! everything that is not the provider's answer itself. From the table come the names suites
//! may use (`wait_for`, `inject`, check params), the request schemas the sandbox checks, the
//! answer to a call it does not serve (naming what it does serve), where the integration's own
//! ids travel (the correlation of `{{ order.reference }}` and `{{ payment.id }}`), and what
//! `golive provider P` prints. A handler computes only the answer.

use serde::Serialize;

use super::correlation::Locator;
use super::server::ServedOperation;

/// Who makes the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Caller {
    /// The integration's server calls the provider's API.
    Integration,
    /// The shopper's browser or app (driven by golive) reaches a page of the provider.
    Shopper,
    /// The provider calls the integration (a webhook, an event, a callback through the
    /// browser): the sandbox journals it under this name, and serves nothing.
    Provider,
}

/// How the operation authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum Auth {
    /// No credentials (a page, a call that hands out tokens to nobody in particular).
    None,
    /// The test account's credentials in the request (a password field, client credentials
    /// in a form or Basic header): named in the detail.
    Credentials(&'static str),
    /// A token the sandbox issued, in this header (`X-Auth-Token`, `Authorization: Bearer`).
    Token(&'static str),
    /// The provider signs or authenticates its own call to the integration, as described.
    Provider(&'static str),
}

/// One operation of a provider's API.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Operation {
    /// The journal's name (`payment_status`): what suites name.
    pub name: &'static str,
    pub caller: Caller,
    pub method: &'static str,
    /// Its path with parameters in braces (`/payment/{unique_reference}/status`); for a call
    /// the provider makes, where it goes (`the shop's callBackUrl`).
    pub path: &'static str,
    /// What it is, in the provider's words (`1.41 Get Payment Status`).
    pub what: &'static str,
    pub auth: Auth,
    /// The request schema the sandbox checks (a file under `schemas/<provider>/`).
    #[serde(skip)]
    pub request_schema: Option<&'static str>,
    /// Where the request or answer carries the merchant's order reference (locators, first
    /// found wins; see [`Locator`]).
    pub order_reference: &'static [&'static str],
    /// Where it carries the provider's payment id.
    pub payment_id: &'static [&'static str],
    /// Where a fact of it comes from, when not from the provider's documentation
    /// (`inferred: ...`).
    pub note: Option<&'static str>,
}

impl Operation {
    /// A row with only the required parts; the `with_*` methods add the rest, so a table reads
    /// one operation at a time.
    pub const fn new(
        name: &'static str,
        caller: Caller,
        method: &'static str,
        path: &'static str,
        what: &'static str,
    ) -> Operation {
        Operation {
            name,
            caller,
            method,
            path,
            what,
            auth: Auth::None,
            request_schema: None,
            order_reference: &[],
            payment_id: &[],
            note: None,
        }
    }

    pub const fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub const fn with_schema(mut self, schema: &'static str) -> Self {
        self.request_schema = Some(schema);
        self
    }

    pub const fn with_order_reference(mut self, at: &'static [&'static str]) -> Self {
        self.order_reference = at;
        self
    }

    pub const fn with_payment_id(mut self, at: &'static [&'static str]) -> Self {
        self.payment_id = at;
        self
    }

    pub const fn with_note(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }

    /// Whether the sandbox answers this operation (rather than making it).
    pub fn is_served(&self) -> bool {
        self.caller != Caller::Provider
    }

    /// How the sandbox's answer to an unserved call names it.
    pub fn served(&self) -> ServedOperation {
        ServedOperation {
            operation: self.name.to_owned(),
            method: self.method.to_owned(),
            path: self.path.to_owned(),
            what: self.what.to_owned(),
            note: self.note.map(str::to_owned),
        }
    }
}

/// The names of a table's operations.
pub fn names(table: &[Operation]) -> Vec<&'static str> {
    table.iter().map(|o| o.name).collect()
}

/// Checks a provider's table: unique names, locators that parse, schemas that compile (a unit
/// test per provider calls it; a broken table is a bug in golive).
pub fn check_table(table: &[Operation]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for op in table {
        if !seen.insert(op.name) {
            return Err(format!("operation `{}` is listed twice", op.name));
        }
        for l in op.order_reference.iter().chain(op.payment_id) {
            Locator::parse(l).map_err(|e| format!("{}: {e}", op.name))?;
        }
        if op.is_served() && !op.path.starts_with('/') {
            return Err(format!("{}: a served path starts with `/`", op.name));
        }
        if let Some(schema) = op.request_schema {
            let value: serde_json::Value = serde_json::from_str(schema)
                .map_err(|e| format!("{}: the request schema is not JSON: {e}", op.name))?;
            jsonschema::validator_for(&value)
                .map_err(|e| format!("{}: the request schema does not compile: {e}", op.name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[Operation] = &[
        Operation::new("a", Caller::Integration, "GET", "/a/{id}", "A")
            .with_payment_id(&["segment:1"]),
        Operation::new("b", Caller::Provider, "POST", "the shop's URL", "B"),
    ];

    #[test]
    fn a_table_is_checked_for_names_locators_and_paths() {
        check_table(OK).unwrap();
        assert_eq!(names(OK), ["a", "b"]);
        let twice = [OK[0], OK[0]];
        assert!(check_table(&twice).unwrap_err().contains("listed twice"));
        let bad = [OK[0].with_order_reference(&["answer:id"])];
        assert!(check_table(&bad).unwrap_err().contains("JSON pointer"));
        let pathless = [Operation::new("c", Caller::Integration, "GET", "c", "C")];
        assert!(check_table(&pathless).is_err());
        let schema = [OK[0].with_schema("{")];
        assert!(check_table(&schema).unwrap_err().contains("not JSON"));
    }

    #[test]
    fn only_what_the_sandbox_answers_is_served() {
        assert!(OK[0].is_served());
        assert!(!OK[1].is_served());
        assert_eq!(OK[0].served().path, "/a/{id}");
    }
}
