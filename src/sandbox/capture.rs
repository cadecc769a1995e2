//! The capture layer: every request into the sandbox, and its answer, goes to the journal.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{lock, SandboxCore};
use crate::journal::{
    text_of, Actor, Body, Direction, Exchange, Facts, Headers, Request as JRequest, Response,
};

/// How much of a connection's current request a [`Tap`] keeps, to journal a refused one.
const TAP_KEEP: usize = 16 * 1024;

/// What a connection received of its current request.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    head: Vec<u8>,
    total: usize,
    /// An answer went out since the last read: the next bytes start a new request.
    answered: bool,
}

/// A TCP stream that remembers the first bytes of the request being read, so one hyper refuses
/// below the handlers can still be journaled.
pub(crate) struct Tap {
    stream: TcpStream,
    seen: Arc<Mutex<Seen>>,
}

impl Tap {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Tap {
            stream,
            seen: Arc::default(),
        }
    }

    pub(crate) fn seen(&self) -> Arc<Mutex<Seen>> {
        self.seen.clone()
    }
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                let mut seen = lock(&self.seen);
                if seen.answered {
                    // A new request on a kept-alive connection: keep the buffer's allocation.
                    seen.head.clear();
                    seen.total = 0;
                    seen.answered = false;
                }
                seen.total += new.len();
                let room = TAP_KEEP.saturating_sub(seen.head.len());
                seen.head.extend_from_slice(&new[..new.len().min(room)]);
            }
        }
        polled
    }
}

impl Tap {
    /// A write that sent bytes means the request was answered (plain or vectored alike).
    fn note_written(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = &polled {
            if *n > 0 {
                lock(&self.seen).answered = true;
            }
        }
        polled
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.note_written(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.note_written(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Whether a whole request head (up to its blank line) arrived: then the request reached the
/// handlers, and a client that left afterwards abandoned it (the capture layer journals that
/// one), rather than cutting its head short.
fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n")
}

/// Journals a request hyper refused before any handler saw it: the request line and headers
/// as far as they could be read (cut at 16 KiB), the status hyper answered, and why, marked
/// in `facts.refused`. Connection errors that are not about a request (a client that connected
/// and left, a reset after an answer) are not exchanges and are not journaled.
pub(crate) fn journal_refused(core: &SandboxCore, seen: &Mutex<Seen>, err: &hyper::Error) {
    let (head, total, answered) = {
        let seen = lock(seen);
        if seen.total == 0 {
            return;
        }
        (seen.head.clone(), seen.total, seen.answered)
    };
    // hyper writes its refusal (414, 431, 400) before it reports the parse error, so an answer
    // after the bytes is expected there; a connection that closed mid-head got none.
    let (reason, status, why) = if err.is_parse_too_large() {
        if err.to_string().to_ascii_lowercase().contains("uri") {
            ("uri_too_long", Some(414), "the URL is too long")
        } else {
            (
                "headers_too_large",
                Some(431),
                "the request headers are too large",
            )
        }
    } else if err.is_parse() {
        ("malformed", Some(400), "the request is not valid HTTP/1.1")
    } else if err.is_incomplete_message() && !answered && !head_complete(&head) {
        (
            "head_cut_short",
            None,
            "the client closed the connection before the request head ended",
        )
    } else {
        return;
    };
    let text = String::from_utf8_lossy(&head);
    let head_end = text.find("\r\n\r\n").unwrap_or(text.len());
    let mut lines = text[..head_end].split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let method = cut(parts.next().unwrap_or(""), 32);
    let url = cut(parts.next().unwrap_or(""), 2048);
    let headers: Headers = lines
        .filter_map(|l| l.split_once(':'))
        .take(100)
        .map(|(k, v)| (cut(k.trim(), 256), cut(v.trim(), 1024)))
        .collect();
    let facts = Facts {
        refused: Some(reason.into()),
        ..Facts::default()
    };
    let at_ms = core.now_ms();
    core.journal.record(Exchange {
        seq: 0,
        scenario: String::new(),
        direction: Direction::ToSandbox,
        actor: Actor::Integration,
        role: "api".into(),
        at_ms,
        at: core.journal.wall(at_ms),
        duration_ms: 0.0,
        request: JRequest {
            method,
            url,
            headers,
            body: Body::default(),
        },
        response: status.map(|status| Response {
            status,
            headers: Headers::new(),
            body: Body::default(),
        }),
        error: Some(format!(
            "refused before any operation: {why} ({err}); {total} bytes received, the request line and headers recorded cut"
        )),
        facts,
    });
}

/// The first `max` bytes of a text, at a character boundary, marked `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// How a request body ended.
enum BodyEnd {
    Whole,
    TooLarge,
    CutShort(String),
}

/// Reads a request body up to [`MAX_REQUEST_BODY`], keeping what arrived whatever happens.
async fn read_body(body: AxumBody) -> (Vec<u8>, BodyEnd) {
    let mut body = body;
    let mut bytes = Vec::new();
    loop {
        match body.frame().await {
            None => return (bytes, BodyEnd::Whole),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if bytes.len() + data.len() > MAX_REQUEST_BODY {
                        let room = MAX_REQUEST_BODY - bytes.len();
                        bytes.extend_from_slice(&data[..room]);
                        return (bytes, BodyEnd::TooLarge);
                    }
                    bytes.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                let cause = std::error::Error::source(&e)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| e.to_string());
                return (bytes, BodyEnd::CutShort(cause));
            }
        }
    }
}

/// Requests larger than this are refused with 413 and recorded cut: an integration that sends
/// a 10 MB body gets a failed check, not a sandbox that runs out of memory.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// The harness marks the requests it makes to the sandbox in another role (the shopper's
/// browser, the provider's terminal) with this header; it is not recorded.
pub const ACTOR_HEADER: &str = "x-golive-actor";

/// Attaches what the profile knew about a request to its answer, for the journal.
pub fn with_facts(facts: Facts, response: impl IntoResponse) -> AxumResponse {
    let mut response = response.into_response();
    response.extensions_mut().insert(facts);
    response
}

/// `response.facts(...)` for handlers that build their answer first.
pub trait FactsExt {
    fn facts(self, facts: Facts) -> AxumResponse;
}

impl<T: IntoResponse> FactsExt for T {
    fn facts(self, facts: Facts) -> AxumResponse {
        with_facts(facts, self)
    }
}

fn headers_of(map: &HeaderMap) -> Headers {
    // Sized once: grown header by header, the buffer was reallocated several times a request.
    let bytes = map.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    let mut headers = Headers::with_capacity(bytes, map.len());
    for (k, v) in map.iter().filter(|(k, _)| k.as_str() != ACTOR_HEADER) {
        headers.push(k.as_str(), &text_of(v.as_bytes()));
    }
    headers
}

fn actor_of(map: &HeaderMap) -> Actor {
    match map.get(ACTOR_HEADER).and_then(|v| v.to_str().ok()) {
        Some("browser") => Actor::Browser,
        Some("provider") => Actor::Provider,
        Some("harness") => Actor::Harness,
        _ => Actor::Integration,
    }
}

/// The capture layer, around a sandbox's router: each request, read whole, goes to its
/// handler, and the exchange to the journal before the answer goes out.
///
/// A tower layer of its own rather than `axum::middleware::from_fn`: that one boxes the ready
/// route again and the middleware's future once more for every request, and their moves and
/// allocations were 1.4% of a Get Payment Status (perf). It wraps the whole router (cloned
/// for a request, an `Arc`), not each route: a layered route is a boxed service cloned per
/// request.
#[derive(Clone)]
pub(crate) struct CaptureLayer {
    core: Arc<SandboxCore>,
}

impl CaptureLayer {
    pub(crate) fn new(core: Arc<SandboxCore>) -> Self {
        CaptureLayer { core }
    }
}

impl<S> tower_layer::Layer<S> for CaptureLayer {
    type Service = Capture<S>;

    fn layer(&self, inner: S) -> Capture<S> {
        Capture {
            core: self.core.clone(),
            inner,
        }
    }
}

/// A router (or a route) wrapped by the [`CaptureLayer`].
#[derive(Clone)]
pub(crate) struct Capture<S> {
    core: Arc<SandboxCore>,
    inner: S,
}

impl<S, B> tower_service::Service<axum::http::Request<B>> for Capture<S>
where
    S: tower_service::Service<Request, Response = AxumResponse, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = AxumResponse;
    type Error = Infallible;
    type Future = Answering;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Answering {
        // The connection's body as axum's (which the router then takes as it is).
        let request = request.map(AxumBody::new);
        // The route made ready answers this request; a clone of it waits for the next one.
        let waiting = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, waiting);
        let progress = Arc::new(AtomicU8::new(READING));
        Answering {
            work: Some(Box::pin(capture(
                self.core.clone(),
                request,
                ready,
                progress.clone(),
            ))),
            progress,
        }
    }
}

/// Where a request is, for what dropping its [`Answering`] means: while its body is read, the
/// request never reached the API (it is dropped with it); once answering, the API goes on.
const READING: u8 = 0;
const ANSWERING: u8 = 1;
/// The connection let go of the request while it was being answered: journaled abandoned.
const LEFT: u8 = 2;

async fn capture<S>(
    core: Arc<SandboxCore>,
    request: Request,
    route: S,
    progress: Arc<AtomicU8>,
) -> AxumResponse
where
    S: tower_service::Service<Request, Response = AxumResponse, Error = Infallible>,
{
    let started = Instant::now();
    let at_ms = core.journal.ms_at(started);
    let (parts, body) = request.into_parts();
    let url = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let actor = actor_of(&parts.headers);
    let recorded = JRequest {
        method: parts.method.as_str().to_owned(),
        url,
        headers: headers_of(&parts.headers),
        body: Body::default(),
    };

    let declared: Option<usize> = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let (bytes, end) = read_body(body).await;
    // When the server drops this future from now on because the client gave up (a till that
    // times out and closes the connection), the real API still goes on working on a request
    // it has received, so the sandbox does too: the handler finishes, its effects stand (a
    // payment created, a refund made) and the exchange is journaled, marked as abandoned.
    progress.store(ANSWERING, Ordering::Release);
    answer_and_record(
        core, parts, bytes, end, declared, route, recorded, actor, at_ms, started, &progress,
    )
    .await
}

/// A request's capture and answer, awaited in place: a task of its own for every request,
/// and a channel back, were about 5% of the sandbox's CPU (perf). Dropped once the request
/// was read whole (the connection let go of it), it is spawned to finish on its own.
pub(crate) struct Answering {
    work: Option<Pin<Box<dyn std::future::Future<Output = AxumResponse> + Send>>>,
    progress: Arc<AtomicU8>,
}

impl std::future::Future for Answering {
    type Output = Result<AxumResponse, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(work) = self.work.as_mut() else {
            return Poll::Ready(Ok(failed_to_answer()));
        };
        // A handler that panics gets the client a 500 saying so, not a dropped connection.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(response)) => {
                self.work = None;
                Poll::Ready(Ok(response))
            }
            Err(_) => {
                self.work = None;
                Poll::Ready(Ok(failed_to_answer()))
            }
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        let answering = self
            .progress
            .compare_exchange(ANSWERING, LEFT, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if answering {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    work.await;
                });
            }
        }
    }
}

fn failed_to_answer() -> AxumResponse {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/json")],
        r#"{"error":"the sandbox failed to answer this request"}"#,
    )
        .into_response()
}

/// What a request that has been read whole gets: the handler's answer (or the sandbox's
/// refusal), journaled, then handed to the connection if the client is still there.
#[allow(clippy::too_many_arguments)]
async fn answer_and_record<S>(
    core: Arc<SandboxCore>,
    parts: axum::http::request::Parts,
    bytes: Vec<u8>,
    end: BodyEnd,
    declared: Option<usize>,
    mut route: S,
    mut recorded: JRequest,
    actor: Actor,
    at_ms: f64,
    started: Instant,
    progress: &AtomicU8,
) -> AxumResponse
where
    S: tower_service::Service<Request, Response = AxumResponse, Error = Infallible>,
{
    let mut error = None;
    let (response, mut facts) = match end {
        BodyEnd::Whole => {
            recorded.body = Body::from_bytes(&bytes);
            let request = Request::from_parts(parts, AxumBody::from(bytes));
            let Ok(mut response) = route.call(request).await;
            let facts = response
                .extensions_mut()
                .remove::<Facts>()
                .unwrap_or_default();
            (response, facts)
        }
        BodyEnd::TooLarge => {
            recorded.body = Body::from_bytes(&bytes);
            recorded.body.size = declared.unwrap_or(MAX_REQUEST_BODY + 1);
            recorded.body.truncated = true;
            let answer = (
                StatusCode::PAYLOAD_TOO_LARGE,
                [("content-type", "application/json")],
                format!(
                    r#"{{"error":"request body larger than {MAX_REQUEST_BODY} bytes; the sandbox refuses it"}}"#
                ),
            )
                .into_response();
            let facts = Facts {
                schema_errors: vec![format!("request body larger than {MAX_REQUEST_BODY} bytes")],
                refused: Some("body_too_large".into()),
                ..Facts::default()
            };
            (answer, facts)
        }
        BodyEnd::CutShort(cause) => {
            // The client stopped sending before the body it announced was whole (and most
            // likely closed): journal what arrived, as cut short, not as too large.
            let received = bytes.len();
            recorded.body = Body::from_bytes(&bytes);
            recorded.body.truncated = true;
            let announced = declared
                .map(|n| format!("{received} of {n} bytes announced"))
                .unwrap_or_else(|| format!("{received} bytes"));
            let why = format!("request body cut short: {announced} arrived before the client stopped sending ({cause})");
            let answer = (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/json")],
                serde_json::json!({ "error": why }).to_string(),
            )
                .into_response();
            let facts = Facts {
                refused: Some("body_cut_short".into()),
                ..Facts::default()
            };
            error = Some(why);
            (answer, facts)
        }
    };

    // Our own answers are small; read them whole to record them, then send them on.
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let recorded_response = Response {
        status: parts.status.as_u16(),
        headers: headers_of(&parts.headers),
        body: Body::from_bytes(&bytes),
    };
    let role = match (actor, &facts.operation) {
        (Actor::Integration, _) => "api".to_owned(),
        (_, Some(op)) => op.clone(),
        (_, None) => "sandbox".to_owned(),
    };
    // Journaled before the answer goes out, so whoever reads the journal after an answer
    // finds its exchange there.
    // The connection dropped its side of the request (hyper cancels a request whose client it
    // saw leave): the answer will not be read.
    if progress.load(Ordering::Acquire) == LEFT {
        facts.abandoned = true;
        error.get_or_insert_with(|| {
            "the client closed the connection before the answer; the sandbox finished the request, as the real API does".to_owned()
        });
    }
    let exchange = Exchange {
        seq: 0,
        scenario: String::new(),
        direction: Direction::ToSandbox,
        actor,
        role,
        at_ms,
        at: core.journal.wall(at_ms),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        request: recorded,
        response: Some(recorded_response),
        error,
        facts,
    };
    // Late traffic of an earlier scenario (its payment's status, a retried event) is tagged
    // with it and teaches the running scenario nothing.
    core.journal
        .record_learning(exchange, |exchange| core.learn(exchange));
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An answer whose request was read whole (`at` ANSWERING) or is still being read.
    fn answering(
        work: impl std::future::Future<Output = AxumResponse> + Send + 'static,
        at: u8,
    ) -> (Answering, Arc<AtomicU8>) {
        let progress = Arc::new(AtomicU8::new(at));
        let answering = Answering {
            work: Some(Box::pin(work)),
            progress: progress.clone(),
        };
        (answering, progress)
    }

    /// A handler that takes `ms`, then says it finished, then answers 200.
    async fn done_after(ms: u64, done: tokio::sync::oneshot::Sender<()>) -> AxumResponse {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let _ = done.send(());
        StatusCode::OK.into_response()
    }

    async fn answer(answering: Answering) -> AxumResponse {
        let Ok(response) = answering.await;
        response
    }

    #[test]
    fn headers_are_recorded_in_order_lossy_where_not_utf8_without_the_actor_header() {
        let mut map = HeaderMap::new();
        map.insert("x-auth-token", "kc.abc".parse().unwrap());
        map.insert(ACTOR_HEADER, "browser".parse().unwrap());
        map.insert(
            "x-odd",
            axum::http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let headers = headers_of(&map);
        let pairs: Vec<(&str, &str)> = headers.iter().collect();
        assert_eq!(
            pairs,
            [("x-auth-token", "kc.abc"), ("x-odd", "caf\u{fffd}")]
        );
    }

    #[tokio::test]
    async fn an_answer_awaited_to_its_end_is_not_marked_left() {
        let (answering, progress) =
            answering(async { StatusCode::CREATED.into_response() }, ANSWERING);
        assert_eq!(answer(answering).await.status(), StatusCode::CREATED);
        assert_eq!(progress.load(Ordering::Acquire), ANSWERING);
    }

    #[tokio::test]
    async fn a_handler_that_panics_gets_the_client_a_500() {
        let (answering, _) = answering(async { panic!("a bug in a handler") }, ANSWERING);
        assert_eq!(
            answer(answering).await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[tokio::test]
    async fn an_answer_the_connection_let_go_of_finishes_on_its_own() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (answering, progress) = answering(done_after(50, done_tx), ANSWERING);
        // The client gives up after 5 ms: the server drops the answer it was awaiting.
        let gave_up = tokio::time::timeout(Duration::from_millis(5), answering).await;
        assert!(gave_up.is_err());
        assert_eq!(progress.load(Ordering::Acquire), LEFT);
        tokio::time::timeout(Duration::from_secs(5), done_rx)
            .await
            .expect("the work went on after the drop")
            .unwrap();
    }

    #[tokio::test]
    async fn a_request_let_go_of_before_its_body_was_read_is_dropped_with_it() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (answering, progress) = answering(done_after(20, done_tx), READING);
        let gave_up = tokio::time::timeout(Duration::from_millis(5), answering).await;
        assert!(gave_up.is_err());
        assert_eq!(progress.load(Ordering::Acquire), READING);
        // Dropped, not spawned: the sender went with the work, before it could send.
        assert!(tokio::time::timeout(Duration::from_secs(5), done_rx)
            .await
            .expect("the work was dropped at once")
            .is_err());
    }
}
