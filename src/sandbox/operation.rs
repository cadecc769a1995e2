//! A provider's API as data: one row per operation, which the sandbox core reads for
//! everything that is not the provider's answer itself. From the table come the names suites
//! may use (`wait_for`, `inject`, check params), the request schemas the sandbox checks, the
//! answer to a call it does not serve (naming what it does serve), where the integration's own
//! ids travel (the correlation of `{{ order.reference }}` and `{{ payment.id }}`), and what
//! `golive provider P` prints. A handler computes only the answer.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
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
    /// A second method the same operation answers at its path (the e-wallet's page takes the
    /// shop's form POST or a GET redirect alike).
    #[serde(skip)]
    pub also_method: Option<&'static str>,
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
            also_method: None,
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

    pub const fn with_also_method(mut self, method: &'static str) -> Self {
        self.also_method = Some(method);
        self
    }

    /// The methods it is answered on: its own, and the other one it takes.
    fn methods(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.method).chain(self.also_method)
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
        for method in op.methods() {
            method_filter(method).map_err(|e| format!("{}: {e}", op.name))?;
            let clash = table.iter().take_while(|o| o.name != op.name).find(|o| {
                o.is_served()
                    && op.is_served()
                    && o.path == op.path
                    && o.methods().any(|m| m == method)
            });
            if let Some(other) = clash {
                return Err(format!(
                    "{} and {} are both {method} {}",
                    other.name, op.name, op.path
                ));
            }
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

/// A method of the table as axum's filter (`GET`, `POST`...).
fn method_filter(method: &str) -> Result<MethodFilter, String> {
    let parsed = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string());
    parsed
        .and_then(|m| MethodFilter::try_from(m).map_err(|e| e.to_string()))
        .map_err(|e| format!("`{method}` is not a method the sandbox can route: {e}"))
}

/// A provider's answers, by operation name: the sandbox core routes each one to the method and
/// path of its row in the operation table, so a path is written once (in the table) and a
/// handler only computes the answer. `Routes::new(OPERATIONS).answer(OP_X, handler)...`, then
/// [`Routes::with_state`].
pub struct Routes<S> {
    table: &'static [Operation],
    routed: Vec<(&'static Operation, MethodRouter<S>)>,
    /// The operation whose path the run's settings state, and its handler (see
    /// [`Routes::answer_by_settings`]).
    by_settings: Option<(&'static Operation, MethodRouter<S>)>,
    /// What does not fit the table (a name it lacks, an operation answered twice).
    problems: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new(table: &'static [Operation]) -> Self {
        Routes {
            table,
            routed: Vec::new(),
            by_settings: None,
            problems: Vec::new(),
        }
    }

    /// The handler that answers `operation`, on its row's method (and the other one it
    /// takes) at its row's path.
    pub fn answer<H, T>(mut self, operation: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        if let Some(row) = self.row(operation) {
            let mut router = MethodRouter::new();
            for method in row.methods() {
                match method_filter(method) {
                    Ok(filter) => router = router.on(filter, handler.clone()),
                    Err(e) => self.problems.push(format!("{operation}: {e}")),
                }
            }
            self.routed.push((row, router));
        }
        self
    }

    /// The handler of the operation whose method and path the run's settings state, the row
    /// holding only their default (PPaaS's unpublished events API, which a suite places): it
    /// gets every call no other operation's route takes, and answers it or says it is not
    /// served ([`unserved`](super::unserved)). One a sandbox at the most.
    pub fn answer_by_settings<H, T>(mut self, operation: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        if let Some(row) = self.row(operation) {
            if let Some((other, _)) = &self.by_settings {
                let why = format!("{} and {operation} are both placed by settings", other.name);
                self.problems.push(why);
            }
            self.by_settings = Some((row, axum::routing::any(handler)));
        }
        self
    }

    /// The table's row of an operation given an answer, once; what is wrong noted otherwise.
    fn row(&mut self, operation: &'static str) -> Option<&'static Operation> {
        let answered = self.answered().any(|name| name == operation);
        let row = self.table.iter().find(|o| o.name == operation);
        let problem = match row {
            None => format!("`{operation}` is answered but is not in the operation table"),
            Some(_) if answered => format!("`{operation}` is answered twice"),
            Some(row) if !row.is_served() => {
                format!("`{operation}` is a call the provider makes: the sandbox answers none")
            }
            Some(row) => return Some(row),
        };
        self.problems.push(problem);
        None
    }

    fn answered(&self) -> impl Iterator<Item = &'static str> + '_ {
        let routed = self.routed.iter().map(|(row, _)| row.name);
        routed.chain(self.by_settings.iter().map(|(row, _)| row.name))
    }

    /// The router, its handlers given the profile's state, and what in it disagrees with the
    /// table (a served operation without a handler among them).
    pub fn with_state(mut self, state: S) -> Dispatch {
        for row in self.table.iter().filter(|o| o.is_served()) {
            if !self.answered().any(|name| name == row.name) {
                let problem = format!(
                    "`{}` is in the operation table but nothing answers it",
                    row.name
                );
                self.problems.push(problem);
            }
        }
        // Rows that share a path share its route, one method each.
        let mut by_path: Vec<(&'static str, Vec<&'static Operation>, MethodRouter<S>)> = Vec::new();
        for (row, router) in self.routed {
            let Some((_, rows, same_path)) = by_path.iter_mut().find(|(p, ..)| *p == row.path)
            else {
                by_path.push((row.path, vec![row], router));
                continue;
            };
            let clash = rows.iter().find_map(|other| {
                let method = other.methods().find(|m| row.methods().any(|n| n == *m))?;
                Some(format!(
                    "{} and {} are both {method} {}",
                    other.name, row.name, row.path
                ))
            });
            match clash {
                Some(problem) => self.problems.push(problem),
                None => {
                    *same_path = std::mem::take(same_path).merge(router);
                    rows.push(row);
                }
            }
        }
        let mut routes = Router::new();
        for (path, _, router) in by_path {
            routes = routes.route(path, router);
        }
        if let Some((_, router)) = self.by_settings {
            routes = routes.route("/{*path}", router);
        }
        Dispatch {
            router: routes.with_state(state),
            problems: self.problems,
        }
    }
}

/// A provider's API, routed from its operation table.
pub struct Dispatch {
    router: Router,
    problems: Vec<String>,
}

impl Dispatch {
    /// Whether the handlers and the table agree: every operation the sandbox serves has one
    /// handler and no handler answers an operation the table lacks (each provider's table test
    /// asks; a disagreement is a bug in golive).
    pub fn check(&self) -> Result<(), String> {
        match self.problems.is_empty() {
            true => Ok(()),
            false => Err(self.problems.join("; ")),
        }
    }

    pub(crate) fn into_router(self) -> Result<Router, String> {
        self.check()?;
        Ok(self.router)
    }
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

    /// A table for the dispatch tests: two operations on one path, one page on two methods,
    /// a call the provider makes.
    const SHOP: &[Operation] = &[
        Operation::new("list", Caller::Integration, "GET", "/things", "list them"),
        Operation::new("add", Caller::Integration, "POST", "/things", "add one"),
        Operation::new("page", Caller::Shopper, "POST", "/page/{id}", "a page")
            .with_also_method("GET"),
        Operation::new(
            "hook",
            Caller::Provider,
            "POST",
            "the shop's URL",
            "a webhook",
        ),
    ];

    fn answered(names: &[&'static str]) -> Routes<()> {
        let answer =
            |r: Routes<()>, name: &'static str| r.answer(name, move || async move { name });
        names.iter().copied().fold(Routes::new(SHOP), answer)
    }

    #[test]
    fn handlers_and_the_table_must_agree() {
        answered(&["list", "add", "page"])
            .with_state(())
            .check()
            .unwrap();
        let missing = answered(&["list", "page"])
            .with_state(())
            .check()
            .unwrap_err();
        assert!(
            missing.contains("`add` is in the operation table but nothing answers it"),
            "{missing}"
        );
        let unknown = answered(&["list", "add", "page", "remove"]).with_state(());
        let unknown = unknown.check().unwrap_err();
        assert!(
            unknown.contains("`remove` is answered but is not in the operation table"),
            "{unknown}"
        );
        let twice = answered(&["list", "add", "page", "add"])
            .with_state(())
            .check()
            .unwrap_err();
        assert!(twice.contains("`add` is answered twice"), "{twice}");
        let made = answered(&["list", "add", "page", "hook"])
            .with_state(())
            .check()
            .unwrap_err();
        assert!(
            made.contains("`hook` is a call the provider makes"),
            "{made}"
        );
    }

    #[test]
    fn a_table_routes_each_method_once() {
        check_table(SHOP).unwrap();
        let clash = [
            SHOP[0],
            Operation::new("also", Caller::Integration, "GET", "/things", ""),
        ];
        let why = check_table(&clash).unwrap_err();
        assert_eq!(why, "list and also are both GET /things");
        let page_twice = [SHOP[2], SHOP[2].with_also_method("POST")];
        assert!(check_table(&page_twice)
            .unwrap_err()
            .contains("listed twice"));
        let bad = [Operation::new("x", Caller::Integration, "G T", "/x", "")];
        assert!(check_table(&bad).unwrap_err().contains("not a method"));
        // The builder refuses the clash too, whether or not the table was checked.
        let clashing: &'static [Operation] = Box::leak(Box::new(clash));
        let routes = Routes::new(clashing)
            .answer("list", || async { "" })
            .answer("also", || async { "" });
        let why = routes.with_state(()).check().unwrap_err();
        assert!(why.contains("both GET /things"), "{why}");
    }

    /// The router serves each operation at its row's method and path, and only there.
    #[tokio::test]
    async fn the_router_answers_at_the_tables_methods_and_paths() {
        use axum::body::Body;
        use axum::http::Request;
        let router = answered(&["list", "add", "page"])
            .with_state(())
            .into_router()
            .unwrap();
        let service = hyper_util::service::TowerToHyperService::new(router);
        let call = |method: &str, path: &str| {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            let service = service.clone();
            async move {
                use hyper::service::Service;
                let r = service.call(request).await.unwrap();
                let status = r.status().as_u16();
                let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        assert_eq!(call("GET", "/things").await, (200, "list".into()));
        assert_eq!(call("POST", "/things").await, (200, "add".into()));
        assert_eq!(call("POST", "/page/7").await, (200, "page".into()));
        assert_eq!(call("GET", "/page/7").await, (200, "page".into()));
        assert_eq!(call("DELETE", "/things").await.0, 405);
        assert_eq!(call("GET", "/hook").await.0, 404);
    }

    #[test]
    fn only_what_the_sandbox_answers_is_served() {
        assert!(OK[0].is_served());
        assert!(!OK[1].is_served());
        assert_eq!(OK[0].served().path, "/a/{id}");
    }
}
