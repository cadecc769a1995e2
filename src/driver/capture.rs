//! Taking values out of the shop's answer to a trigger (`capture:` in a target file).
//!
//! Shops answer the "Pay" button in many ways: a JSON body, an HTML page whose form carries
//! the order id, a redirect whose `Location` names the order, a cookie. A capture says where
//! the value is:
//!
//! ```yaml
//! capture:
//!   transaction_id: /transactionId                      # a JSON pointer (the short form)
//!   order_reference: { form_field: merchantTransactionId } # an input of the page's form
//!   order_title: { css: "h1.order", attr: data-id }     # an element: an attribute, or its text
//!   order_number: { regex: "Order (ORD[0-9a-f]+)" }     # the body; the first group, if any
//!   next_page: { header: Location, regex: "/orders/([^/?]+)" }
//!   session: { cookie: shop_session }
//! ```
//!
//! `regex` alone searches the body; with another source it refines that source's value.

use std::collections::BTreeMap;

use regex::Regex;
use scraper::{Html, Selector};
use serde_json::Value;

use super::http::HttpOutcome;
use crate::suite::{Capture, CaptureFrom, HttpCall, Loaded, Problem, Target};

/// Where a value comes from, compiled (selectors and regexes checked once, at load time).
#[derive(Debug)]
enum Source {
    Pointer(String),
    FormField(String),
    Css {
        selector: Box<Selector>,
        attr: Option<String>,
    },
    Header(String),
    Cookie(String),
    Body,
}

/// A capture ready to apply.
#[derive(Debug)]
pub struct Compiled {
    source: Source,
    regex: Option<Regex>,
}

/// A mistake in a capture, with the key (under the capture) where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureError {
    /// `css`, `regex`, ... or empty for the capture as a whole.
    pub key: &'static str,
    pub message: String,
}

fn problem(key: &'static str, message: impl Into<String>) -> CaptureError {
    CaptureError {
        key,
        message: message.into(),
    }
}

/// Checks and compiles one capture.
pub fn compile(capture: &Capture) -> Result<Compiled, CaptureError> {
    let from = match capture {
        Capture::Pointer(p) => {
            return Ok(Compiled {
                source: Source::Pointer(check_pointer(p).map_err(|m| problem("", m))?),
                regex: None,
            })
        }
        Capture::From(f) => f,
    };
    let CaptureFrom {
        pointer,
        form_field,
        css,
        attr,
        header,
        cookie,
        regex,
    } = from;
    let mut sources: Vec<(&'static str, Source)> = Vec::new();
    if let Some(p) = pointer {
        sources.push((
            "pointer",
            Source::Pointer(check_pointer(p).map_err(|m| problem("pointer", m))?),
        ));
    }
    if let Some(f) = form_field {
        sources.push(("form_field", Source::FormField(f.clone())));
    }
    if let Some(c) = css {
        let selector = Selector::parse(c).map_err(|e| {
            problem(
                "css",
                format!("`{c}` is not a CSS selector: {e}; expected e.g. `input[name=orderId]` or `#order`"),
            )
        })?;
        sources.push((
            "css",
            Source::Css {
                selector: Box::new(selector),
                attr: attr.clone(),
            },
        ));
    } else if attr.is_some() {
        return Err(problem(
            "attr",
            "`attr` names an attribute of the element `css` selects; add a `css` selector",
        ));
    }
    if let Some(h) = header {
        sources.push(("header", Source::Header(h.clone())));
    }
    if let Some(c) = cookie {
        sources.push(("cookie", Source::Cookie(c.clone())));
    }
    let regex = match regex {
        Some(r) => Some(Regex::new(r).map_err(|e| {
            problem(
                "regex",
                format!(
                    "`{r}` is not a regular expression: {}",
                    first_line(&e.to_string())
                ),
            )
        })?),
        None => None,
    };
    let source = match sources.len() {
        0 if regex.is_some() => Source::Body,
        0 => {
            return Err(problem(
                "",
                "a capture needs a source; expected one of `pointer`, `form_field`, `css`, `header`, `cookie` or `regex`",
            ))
        }
        1 => sources.pop().map(|(_, s)| s).expect("one source"),
        _ => {
            let names: Vec<&str> = sources.iter().map(|(n, _)| *n).collect();
            return Err(problem(
                sources[1].0,
                format!(
                    "a capture takes its value from one place, but this one names {}; write one capture per value",
                    names.join(" and ")
                ),
            ));
        }
    };
    Ok(Compiled { source, regex })
}

fn first_line(s: &str) -> String {
    // The regex crate's message draws a caret diagram over several lines; the last line says
    // what is wrong.
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_owned()
}

fn check_pointer(p: &str) -> Result<String, String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(p.to_owned())
    } else {
        Err(format!(
            "`{p}` is not a JSON pointer; expected one starting with `/` (e.g. `/orderId`), or a map such as `{{ form_field: orderId }}`"
        ))
    }
}

impl Compiled {
    /// The value in this answer, or why there is none.
    pub fn take(&self, answer: &HttpOutcome) -> Result<Value, String> {
        let text =
            match &self.source {
                Source::Pointer(p) => {
                    let json = answer
                        .json()
                        .ok_or_else(|| "the answer is not JSON".to_owned())?;
                    let v = json
                        .pointer(p)
                        .cloned()
                        .ok_or_else(|| format!("the JSON answer has nothing at `{p}`"))?;
                    match (&self.regex, v) {
                        (None, v) => return Ok(v),
                        (Some(_), Value::String(s)) => s,
                        (Some(_), other) => other.to_string(),
                    }
                }
                Source::FormField(name) => form_field(&answer.text(), name)
                    .ok_or_else(|| format!("the page has no form field named `{name}`"))?,
                Source::Css { selector, attr } => {
                    let page = Html::parse_document(&answer.text());
                    let element = page
                        .select(selector)
                        .next()
                        .ok_or_else(|| "no element of the page matches the selector".to_owned())?;
                    match attr {
                        Some(a) => element.value().attr(a).map(str::to_owned).ok_or_else(|| {
                            format!("the selected element has no `{a}` attribute")
                        })?,
                        // An input's value is what a person sees in it; other elements show text.
                        None => match element.value().attr("value") {
                            Some(v) if element.value().name() == "input" => v.to_owned(),
                            _ => element.text().collect::<String>().trim().to_owned(),
                        },
                    }
                }
                Source::Header(name) => answer
                    .header(name)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("the answer has no `{name}` header"))?,
                Source::Cookie(name) => cookie(answer, name)
                    .ok_or_else(|| format!("the answer sets no cookie `{name}`"))?,
                Source::Body => answer.text(),
            };
        match &self.regex {
            None => Ok(Value::String(text)),
            Some(re) => {
                let caps = re
                    .captures(&text)
                    .ok_or_else(|| format!("`{}` does not match", re.as_str()))?;
                let m = caps.get(1).or_else(|| caps.get(0)).expect("a match");
                Ok(Value::String(m.as_str().to_owned()))
            }
        }
    }
}

/// The value of a named input (or textarea, or selected option) anywhere in the page.
fn form_field(html: &str, name: &str) -> Option<String> {
    let page = Html::parse_document(html);
    let selector = Selector::parse("input[name], textarea[name], select[name]").ok()?;
    let element = page
        .select(&selector)
        .find(|e| e.value().attr("name") == Some(name))?;
    Some(match element.value().name() {
        "textarea" => element.text().collect(),
        "select" => {
            let option = Selector::parse("option").ok()?;
            let mut options = element.select(&option);
            let chosen = options
                .clone()
                .find(|o| o.value().attr("selected").is_some())
                .or_else(|| options.next())?;
            chosen
                .value()
                .attr("value")
                .map(str::to_owned)
                .unwrap_or_else(|| chosen.text().collect())
        }
        _ => element.value().attr("value").unwrap_or("").to_owned(),
    })
}

/// A cookie the answer sets (`Set-Cookie: name=value; Path=/`).
fn cookie(answer: &HttpOutcome, name: &str) -> Option<String> {
    crate::journal::header_values(&answer.headers, "set-cookie").find_map(|c| {
        let pair = c.split(';').next()?;
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Captures by variable name.
type Named<T> = Vec<(String, T)>;

/// Every capture of a trigger, compiled; the errors by variable name.
pub fn compile_all(call: &HttpCall) -> Result<Named<Compiled>, Named<CaptureError>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (var, c) in &call.capture {
        match compile(c) {
            Ok(c) => ok.push((var.clone(), c)),
            Err(e) => errors.push((var.clone(), e)),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

/// Applies a trigger's captures to its answer: the values found, and for each capture that
/// found nothing, why.
pub fn apply(
    call: &HttpCall,
    answer: &HttpOutcome,
) -> (BTreeMap<String, Value>, Vec<(String, String)>) {
    let mut found = BTreeMap::new();
    let mut missed = Vec::new();
    match compile_all(call) {
        Ok(captures) => {
            for (var, c) in captures {
                match c.take(answer) {
                    Ok(v) => {
                        found.insert(var, v);
                    }
                    Err(why) => missed.push((var, why)),
                }
            }
        }
        // Validation refuses these before a run; an API user who skipped it still hears why.
        Err(errors) => {
            for (var, e) in errors {
                missed.push((var, e.message));
            }
        }
    }
    (found, missed)
}

/// A target's capture and `not_offered` mistakes, each at its place in the file (a bad CSS
/// selector or regex names the line and column of its own key).
pub fn target_problems(target: &Loaded<Target>) -> Vec<Problem> {
    let escape = |s: &str| s.replace('~', "~0").replace('/', "~1");
    let mut problems = Vec::new();
    for (name, call) in &target.value.triggers {
        let at = format!("/triggers/{}", escape(name));
        if call.not_offered.is_some() {
            let others: Vec<&str> = [
                ("path", !call.path.is_empty()),
                ("json", call.json.is_some()),
                ("form", call.form.is_some()),
                ("capture", !call.capture.is_empty()),
                ("headers", !call.headers.is_empty()),
            ]
            .into_iter()
            .filter_map(|(k, present)| present.then_some(k))
            .collect();
            if let Some(first) = others.first() {
                problems.push(target.problem_at(
                    &format!("{at}/{first}"),
                    format!(
                        "trigger `{name}` is `not_offered`, so it is never called; remove its {} (or remove `not_offered`)",
                        others.join(", ")
                    ),
                ));
            }
            continue;
        }
        if call.path.is_empty() {
            problems.push(target.problem_at(
                &at,
                format!("trigger `{name}` has no `path`; expected the shop's path (`path: /checkout`), or `not_offered: <reason>` for a capability the shop does not have"),
            ));
        }
        if let Err(errors) = compile_all(call) {
            for (var, e) in errors {
                let mut pointer = format!("{at}/capture/{}", escape(&var));
                if !e.key.is_empty() {
                    pointer = format!("{pointer}/{}", e.key);
                }
                problems.push(target.problem_at(
                    &pointer,
                    format!("capture `{var}` of trigger `{name}`: {}", e.message),
                ));
            }
        }
    }
    problems.sort_by_key(|p| (p.pos.line, p.pos.column));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> HttpOutcome {
        HttpOutcome::test_answer("http://shop/pay", status, headers, body)
    }

    fn from(yaml: Value) -> Compiled {
        compile(&serde_json::from_value(yaml).unwrap()).unwrap()
    }

    /// Each capture takes from the answer the text it is paired with.
    fn assert_takes(answer: &HttpOutcome, cases: &[(Value, &str)]) {
        for (capture, taken) in cases {
            assert_eq!(
                from(capture.clone()).take(answer).unwrap(),
                *taken,
                "{capture}"
            );
        }
    }

    const PAGE: &str = r#"<!doctype html><html><body>
        <h1 class="order" data-id="ORD1a2b">Order <b>ORD1a2b</b></h1>
        <form method="post" action="http://sandbox/ewallet">
          <input type="hidden" name="merchantTransactionId" value="ORD1a2b">
          <input type=hidden name=amount value="80.00">
          <select name="lang"><option value="de">de</option><option value="en" selected>en</option></select>
        </form></body></html>"#;

    #[test]
    fn a_bare_string_is_a_json_pointer_as_before() {
        let c = from(serde_json::json!("/transactionId"));
        let a = answer(200, &[], r#"{"transactionId": 42}"#);
        assert_eq!(c.take(&a).unwrap(), serde_json::json!(42));
        let e = c.take(&answer(200, &[], "<html>")).unwrap_err();
        assert_eq!(e, "the answer is not JSON");
        let e = c.take(&answer(200, &[], "{}")).unwrap_err();
        assert!(e.contains("nothing at `/transactionId`"), "{e}");
    }

    #[test]
    fn html_form_fields_and_elements() {
        let a = answer(202, &[], PAGE);
        let e = from(serde_json::json!({"form_field": "orderId"}))
            .take(&a)
            .unwrap_err();
        assert!(e.contains("no form field named `orderId`"), "{e}");
        assert_takes(
            &a,
            &[
                (json!({"form_field": "merchantTransactionId"}), "ORD1a2b"),
                (json!({"form_field": "amount"}), "80.00"),
                (json!({"form_field": "lang"}), "en"),
                (json!({"css": "h1.order"}), "Order ORD1a2b"),
                (json!({"css": "h1.order", "attr": "data-id"}), "ORD1a2b"),
                (
                    json!({"css": "input[name=merchantTransactionId]"}),
                    "ORD1a2b",
                ),
                (json!({"css": "h1", "regex": "ORD[0-9a-f]+"}), "ORD1a2b"),
            ],
        );
        assert!(from(serde_json::json!({"css": "#none"})).take(&a).is_err());
    }

    #[test]
    fn regex_header_and_cookie() {
        let a = answer(
            303,
            &[
                ("Location", "/orders/ORDff00/pay?step=1"),
                ("Set-Cookie", "other=1; Path=/"),
                ("set-cookie", "shop_session=\"s-9\"; HttpOnly"),
            ],
            "Your order ORDff00 is being paid.",
        );
        assert_takes(
            &a,
            &[
                (json!({"regex": "order (ORD[0-9a-f]+)"}), "ORDff00"),
                (json!({"regex": "ORD[0-9a-f]+"}), "ORDff00"),
                (
                    json!({"header": "location", "regex": "/orders/([^/?]+)"}),
                    "ORDff00",
                ),
                (json!({"header": "Location"}), "/orders/ORDff00/pay?step=1"),
                (json!({"cookie": "shop_session"}), "s-9"),
            ],
        );
        assert!(from(serde_json::json!({"cookie": "nope"}))
            .take(&a)
            .is_err());
        let e = from(serde_json::json!({"regex": "nope (x)"}))
            .take(&a)
            .unwrap_err();
        assert!(e.contains("does not match"), "{e}");
    }

    #[test]
    fn mistakes_name_their_key() {
        let bad = |v: Value| compile(&serde_json::from_value(v).unwrap()).unwrap_err();
        let e = bad(serde_json::json!({"css": "input[name="}));
        assert_eq!(e.key, "css");
        assert!(e.message.contains("not a CSS selector"), "{}", e.message);
        let e = bad(serde_json::json!({"regex": "order (ORD"}));
        assert_eq!(e.key, "regex");
        assert!(
            e.message.contains("not a regular expression"),
            "{}",
            e.message
        );
        let e = bad(serde_json::json!({"header": "Location", "cookie": "x"}));
        assert_eq!(e.key, "cookie");
        assert!(e.message.contains("header and cookie"), "{}", e.message);
        assert_eq!(bad(serde_json::json!({"attr": "value"})).key, "attr");
        assert_eq!(bad(serde_json::json!({})).key, "");
        assert!(bad(serde_json::json!("transactionId"))
            .message
            .contains("not a JSON pointer"));
    }

    #[test]
    fn a_target_names_the_line_and_column_of_a_bad_selector_or_regex() {
        let text = "golive: 1\nname: shop\nbase_url: http://127.0.0.1:1\ntriggers:\n  start_payment:\n    path: /pay\n    capture:\n      order_reference: { css: \"input[name=\" }\n      number:\n        regex: \"ORD(\"\n      ok: /id\n  capture_order: { not_offered: automatic capture, path: /c }\n  refund_order: { not_offered: no refunds online }\n";
        let problems = crate::suite::parse_target(text, std::path::Path::new("t.yaml"))
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = problems.lines().collect();
        assert_eq!(lines.len(), 3, "{problems}");
        assert!(lines[0].starts_with("t.yaml:8:"), "{problems}");
        assert!(lines[0].contains("capture `order_reference` of trigger `start_payment`: `input[name=` is not a CSS selector"), "{problems}");
        assert!(lines[1].starts_with("t.yaml:10:16:"), "{problems}");
        assert!(lines[1].contains("not a regular expression"), "{problems}");
        assert!(lines[2].starts_with("t.yaml:12:"), "{problems}");
        assert!(
            lines[2].contains("`not_offered`, so it is never called; remove its path"),
            "{problems}"
        );
        // The schema still refuses a capture of the wrong shape, with its place.
        let text = "golive: 1\nname: shop\nbase_url: http://127.0.0.1:1\ntriggers:\n  pay:\n    path: /pay\n    capture: { x: { selector: a } }\n";
        let e = crate::suite::parse_target(text, std::path::Path::new("t.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.yaml:7:"), "{e}");
        // Without a path, a trigger must say it is not offered.
        let text = "golive: 1\nname: shop\nbase_url: http://127.0.0.1:1\ntriggers:\n  pay: { method: POST }\n";
        let e = crate::suite::parse_target(text, std::path::Path::new("t.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.yaml:5:"), "{e}");
        assert!(e.contains("trigger `pay` has no `path`"), "{e}");
    }
}
