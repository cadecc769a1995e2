//! Everything the harness sends goes through here: sent with a timeout, read with a size cap,
//! and recorded in the journal whatever happens (refused, reset, timed out, garbage).

use std::time::{Duration, Instant};

use crate::journal::{Actor, Body, Direction, Exchange, Facts, Journal, Request, Response};

/// How much of an answer the harness reads; the rest is dropped (the journal says so).
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// An answer the harness got.
#[derive(Debug, Clone)]
pub struct HttpOutcome {
    /// The exchange in the journal (None when the sandbox recorded it itself).
    pub seq: Option<u64>,
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpOutcome {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::journal::header_values(&self.headers, name).next()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn is_success(&self) -> bool {
        (200..400).contains(&self.status)
    }
}

#[cfg(test)]
impl HttpOutcome {
    /// An answer as the tests of pages and captures need one.
    pub(crate) fn test_answer(
        url: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Self {
        HttpOutcome {
            seq: None,
            url: url.into(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }
}

/// One request the harness is about to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub actor: Actor,
    pub role: String,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
    pub facts: Facts,
    /// Whether to journal it here. Requests to the sandbox are journaled by the sandbox.
    pub record: bool,
}

impl Outgoing {
    pub fn new(actor: Actor, role: &str, method: &str, url: String, timeout: Duration) -> Self {
        Outgoing {
            actor,
            role: role.to_owned(),
            method: method.to_owned(),
            url,
            headers: Vec::new(),
            body: Vec::new(),
            timeout,
            facts: Facts::default(),
            record: true,
        }
    }

    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self.body = serde_json::to_vec(value).expect("JSON values serialize");
        self
    }

    pub fn form(mut self, fields: &[(String, String)]) -> Self {
        self.headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        self.body = ser.finish().into_bytes();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The harness's HTTP client. Redirects are not followed: the browser logic follows them one
/// hop at a time, so each hop is seen and recorded.
#[derive(Clone)]
pub struct Recorder {
    client: reqwest::Client,
    journal: Journal,
}

impl Recorder {
    pub fn new(journal: Journal) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("an HTTP client with default TLS settings builds");
        Recorder { client, journal }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Sends and records. A transport failure is recorded and returned as the error text.
    pub async fn send(&self, out: Outgoing) -> Result<HttpOutcome, String> {
        self.send_judged(out, |_, _| {}).await
    }

    /// Sends, lets `judge` add what the answer means to the exchange's facts (an order probe's
    /// "paid", a webhook answer's verdict), then records the exchange once, with them.
    pub async fn send_judged(
        &self,
        mut out: Outgoing,
        judge: impl FnOnce(&Result<HttpOutcome, String>, &mut Facts),
    ) -> Result<HttpOutcome, String> {
        if let Some(payment) = &out.facts.payment {
            self.journal.using_payment(payment);
        }
        let at_ms = self.journal.now_ms();
        let started = Instant::now();
        let result = tokio::time::timeout(out.timeout, self.exchange(&out)).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {:.1} s",
                out.timeout.as_secs_f64()
            )),
        };
        let size = result.as_ref().map(|(_, size)| *size).unwrap_or(0);
        let mut result = result.map(|(o, _)| o);
        judge(&result, &mut out.facts);
        if out.record {
            let (response, error) = match &result {
                Ok(o) => (
                    Some(Response {
                        status: o.status,
                        headers: o.headers.iter().map(|(k, v)| (k, v)).collect(),
                        body: {
                            // What arrived may have been cut short of its full size.
                            let mut body = Body::from_bytes(&o.body);
                            body.size = size;
                            body.truncated = size > o.body.len();
                            body
                        },
                    }),
                    None,
                ),
                Err(e) => (None, Some(e.clone())),
            };
            let seq = self.journal.record(Exchange {
                seq: 0,
                scenario: String::new(),
                direction: Direction::ToTarget,
                actor: out.actor,
                role: out.role,
                at_ms,
                at: self.journal.wall(at_ms),
                duration_ms,
                request: Request {
                    method: out.method,
                    url: out.url,
                    headers: out.headers.into(),
                    body: Body::from_bytes(&out.body),
                },
                response,
                error,
                facts: out.facts,
            });
            if let Ok(o) = &mut result {
                o.seq = Some(seq);
            }
        }
        result
    }

    async fn exchange(&self, out: &Outgoing) -> Result<(HttpOutcome, usize), String> {
        let method = reqwest::Method::from_bytes(out.method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", out.method))?;
        let mut request = self.client.request(method, &out.url);
        for (k, v) in &out.headers {
            request = request.header(k, v);
        }
        if !out.body.is_empty() {
            request = request.body(out.body.clone());
        }
        let mut response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let url = response.url().to_string();
        let mut body = Vec::new();
        let mut size = 0usize;
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            size += chunk.len();
            let room = MAX_RESPONSE_BODY.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if size > MAX_RESPONSE_BODY * 16 {
                // Far past anything an API answers: stop reading rather than stream forever.
                break;
            }
        }
        Ok((
            HttpOutcome {
                seq: None,
                url,
                status,
                headers,
                body,
            },
            size,
        ))
    }
}

/// A transport error in words a team can act on, without reqwest's nesting.
fn describe(e: reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_body() || e.is_decode() {
        "the answer broke off".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}
