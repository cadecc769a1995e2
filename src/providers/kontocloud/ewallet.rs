//! The e-wallet's pages (inferred: the seeds document only the form's fields and the
//! callback): the landing page the shop's form posts to through the shopper's browser, and
//! the pay button that sends the browser back to the shop's `callBackUrl`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::api::{KontoCloudSandbox, Payment, Session};
use super::{OP_EWALLET, OP_EWALLET_COMPLETE};
use crate::driver::browser::escape_html;
use crate::journal::Facts;
use crate::sandbox::request_schema::form_fields;
use crate::sandbox::{lock, random_text, FactsExt, Routes};

/// The e-wallet's pages, beside the API's operations (both are rows of the operation table).
pub(super) fn pages(api: Routes<Arc<KontoCloudSandbox>>) -> Routes<Arc<KontoCloudSandbox>> {
    api.answer(OP_EWALLET, ewallet)
        .answer(OP_EWALLET_COMPLETE, ewallet_complete)
}

/// The e-wallet's landing page: what the shop's form posts through the shopper's browser.
async fn ewallet(
    State(sb): State<Arc<KontoCloudSandbox>>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    // The shop may put the fields in the form body or, for a GET redirect, in the query.
    let text = if body.is_empty() {
        query.unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let (fields, as_json) = form_fields(&text);
    let mut facts = Facts {
        order: fields.get("merchantTransactionId").cloned(),
        ..Facts::of(OP_EWALLET)
    };
    let findings = sb.check(OP_EWALLET, &as_json, &mut facts);
    if !findings.errors.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<html><body><h1>KontoCloud e-wallet</h1><p>The payment request is incomplete: {}</p></body></html>",
                escape_html(&findings.errors.join("; "))
            )),
        )
            .facts(facts);
    }
    let session = random_text(16);
    {
        let mut st = lock(&sb.state);
        st.callback_url = fields.get("callBackUrl").cloned();
        st.sessions.insert(
            session.clone(),
            Session {
                fields: fields.clone(),
            },
        );
    }
    facts.notes.insert("session".into(), json!(session));
    let page = format!(
        r#"<!doctype html><html><head><title>KontoCloud e-wallet</title></head><body>
<h1>KontoCloud e-wallet</h1><p>Pay {amount} {currency} to the merchant.</p>
<form method="post" action="/ewallet/complete">
<input type="hidden" name="session" value="{session}">
<input type="hidden" name="outcome" value="OK">
<button type="submit">Pay</button></form></body></html>"#,
        amount = escape_html(fields.get("amount").map(String::as_str).unwrap_or("")),
        currency = escape_html(fields.get("currency").map(String::as_str).unwrap_or("")),
    );
    (StatusCode::OK, Html(page)).facts(facts)
}

#[derive(Deserialize)]
struct Complete {
    session: String,
    outcome: String,
}

/// The shopper pays (or fails to): the e-wallet sends the browser back to the shop.
async fn ewallet_complete(
    State(sb): State<Arc<KontoCloudSandbox>>,
    Form(form): Form<Complete>,
) -> Response {
    let mut facts = Facts::of(OP_EWALLET_COMPLETE);
    let Some(session) = lock(&sb.state).sessions.remove(&form.session) else {
        return (
            StatusCode::BAD_REQUEST,
            Html("<p>Unknown or finished e-wallet session.</p>".to_string()),
        )
            .facts(facts);
    };
    let f = &session.fields;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let callback = get("callBackUrl");
    let merchant_tx = get("merchantTransactionId");
    facts.order = Some(merchant_tx.clone());
    let mut url = match url::Url::parse(&callback) {
        Ok(u) => u,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Html("<p>The callBackUrl is not a URL.</p>".to_string()),
            )
                .facts(facts);
        }
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("paymentResult", &form.outcome);
        q.append_pair("merchantTransactionId", &merchant_tx);
    }
    facts.payment_state = Some(form.outcome.clone());
    if form.outcome == "OK" {
        let reference = random_text(22);
        let mut st = lock(&sb.state);
        let paid: f64 = get("amount").parse().unwrap_or(0.0);
        let block = get("paymentType") == "BlockAmount";
        let status = st.script.status.clone().unwrap_or_else(|| {
            if block {
                "AUTHORIZED".into()
            } else {
                "CAPTURED".into()
            }
        });
        let amount = st.script.amount.unwrap_or(paid);
        st.payments.insert(
            reference.clone(),
            Payment {
                unique_reference: reference.clone(),
                merchant_transaction_id: merchant_tx.clone(),
                amount,
                currency: get("currency"),
                status,
            },
        );
        st.last_payment = Some(reference.clone());
        url.query_pairs_mut()
            .append_pair("uniqueReference", &reference);
        facts.payment = Some(reference);
    }
    (StatusCode::OK, Html(auto_submit(url.as_str(), &[]))).facts(facts)
}

fn auto_submit(action: &str, fields: &[(String, String)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
    format!(
        r#"<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{}">{inputs}<noscript><button type="submit">Back to the shop</button></noscript></form></body></html>"#,
        escape_html(action)
    )
}
