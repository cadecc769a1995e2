//! Starting and stopping the sandbox server.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tower_layer::Layer;

use super::capture::{journal_refused, Capture, CaptureLayer, Tap};
use super::{ProviderSandbox, SandboxCore};
use crate::journal::Facts;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on loopback for the sandbox: {0}")]
    Bind(std::io::Error),
    /// The provider's handlers and its operation table disagree (each provider's table test
    /// catches it first).
    #[error("a bug in golive: the sandbox's handlers and its operation table disagree: {0}")]
    Dispatch(String),
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    pub core: Arc<SandboxCore>,
    pub profile: Arc<dyn ProviderSandbox>,
    pub addr: SocketAddr,
    task: ServerTask,
}

/// A server running as a task, and the signal that tells it to stop (a sandbox, a reference
/// shop). Dropping it stops the server at once.
pub struct ServerTask {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerTask {
    /// Spawns the server `serve` makes; it is to stop when the receiver it is given fires.
    pub fn spawn<F>(serve: impl FnOnce(oneshot::Receiver<()>) -> F) -> ServerTask
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        ServerTask {
            stop: Some(stop),
            task: Some(tokio::spawn(serve(stopped))),
        }
    }

    /// Tells the server to stop, lets answers in flight finish (briefly), and returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // An integration holding a connection open must not hang the run.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Sandbox {
    /// Serves a provider's profile for one run on 127.0.0.1 at `port` (0: a free one), as
    /// `golive sandbox --port` does. The core is the one the profile was opened with.
    pub async fn serve(
        core: Arc<SandboxCore>,
        profile: Arc<dyn ProviderSandbox>,
        port: u16,
    ) -> Result<Sandbox, SandboxError> {
        let router = profile
            .clone()
            .dispatch()
            .into_router()
            .map_err(SandboxError::Dispatch)?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(SandboxError::Bind)?;
        let addr = listener.local_addr().map_err(SandboxError::Bind)?;
        core.set_base_url(format!("http://{addr}"));

        // A path (or a method) the profile does not serve gets a clear 404 naming what it
        // serves, journaled as unserved, so the `unknown_operation` check can name the call.
        let served = {
            let (profile, core) = (profile.clone(), core.clone());
            move || {
                profile.served().unwrap_or_else(|| {
                    core.operations()
                        .iter()
                        .filter(|o| o.is_served())
                        .map(|o| o.served())
                        .collect()
                })
            }
        };
        let also_served = served.clone();
        let router = router
            .fallback(move |m: Method, u: Uri| async move { unserved(&m, u.path(), &served()) })
            .method_not_allowed_fallback(move |m: Method, u: Uri| async move {
                unserved(&m, u.path(), &also_served())
            });
        // Around the router, not layered onto each route: a route layer is a boxed service
        // cloned (and its future boxed) for every request, twice over.
        let app = CaptureLayer::new(core.clone()).layer(router);
        let task = ServerTask::spawn(|stopped| serve(listener, app, core.clone(), stopped));
        Ok(Sandbox {
            core,
            profile,
            addr,
            task,
        })
    }

    pub fn base_url(&self) -> String {
        self.core.base_url()
    }

    /// Stops accepting, lets answers in flight finish (briefly), and returns.
    pub async fn stop(self) {
        self.task.stop().await;
    }
}

/// Serves HTTP/1.1 connections until told to stop, then lets answers in flight finish.
///
/// Each connection's bytes pass through a [`Tap`], so a request hyper refuses before any
/// handler sees it (a URL or headers too long, a malformed request line) is journaled with
/// what was received and the status hyper answered, instead of vanishing.
async fn serve(
    listener: TcpListener,
    app: Capture<axum::Router>,
    core: Arc<SandboxCore>,
    mut stopped: oneshot::Receiver<()>,
) {
    let (shutdown, shutdown_seen) = watch::channel(false);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!("sandbox cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let tap = Tap::new(stream);
        let seen = tap.seen();
        let service = TowerToHyperService::new(app.clone());
        let core = core.clone();
        let mut shutdown_seen = shutdown_seen.clone();
        // Held until the connection is done: the server waits for every receiver to go.
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tap), service);
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                let _ = shutdown_seen.wait_for(|stop| *stop).await;
                shutdown_seen
            };
            let (result, shutdown_seen) = tokio::select! {
                result = conn.as_mut() => (result, None),
                seen = stopping => {
                    conn.as_mut().graceful_shutdown();
                    (conn.as_mut().await, Some(seen))
                }
            };
            drop(shutdown_seen);
            if let Err(e) = result {
                journal_refused(&core, &seen, &e);
            }
        });
    }
    let _ = shutdown.send(true);
    // Every connection task holds a receiver; all gone means every answer went out.
    shutdown.closed().await;
}

/// An operation a sandbox serves, as its unserved answer and the `unknown_operation` check
/// name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServedOperation {
    /// The journal's operation name (`transaction_event`).
    pub operation: String,
    pub method: String,
    /// The path, with its parameters in braces.
    pub path: String,
    /// What it is, for a reader (`the PPaaS events operation`).
    pub what: String,
    /// Where it comes from, when that matters (`inferred: settings.sandbox.events_api`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl std::fmt::Display for ServedOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} here is {} {}", self.what, self.method, self.path)?;
        match &self.note {
            Some(note) => write!(f, " ({note})"),
            None => Ok(()),
        }
    }
}

/// The answer to a call the sandbox does not serve: a 404 naming the operations it does, and
/// the journal's mark on it (`facts.unserved` lists them as sentences).
pub fn unserved(
    method: &Method,
    path: &str,
    served: &[ServedOperation],
) -> axum::response::Response {
    let facts = Facts {
        unserved: Some(served.iter().map(ToString::to_string).collect()),
        ..Facts::of("unknown")
    };
    let body = json!({
        "error": format!("{method} {path} is not an operation of this sandbox"),
        "operations": served,
    });
    super::with_facts(
        facts,
        (StatusCode::NOT_FOUND, axum::Json(body)).into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Exchange, Journal};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Sends raw bytes (closing the sending side when asked) and returns what came back.
    async fn send_raw(addr: SocketAddr, bytes: Vec<u8>, close_write: bool) -> String {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        // The server may answer and close before a huge request is all sent.
        let writer = tokio::spawn(async move {
            let _ = write.write_all(&bytes).await;
            if close_write {
                let _ = write.shutdown().await;
            }
            write
        });
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            read.read_to_end(&mut answer),
        )
        .await;
        drop(writer.await);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// The one exchange journaled, waiting briefly for it.
    async fn journaled(sb: &Sandbox) -> Arc<Exchange> {
        for _ in 0..100 {
            if let Some(ex) = sb.core.journal.live().into_iter().next() {
                return ex;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("nothing was journaled");
    }

    async fn sandbox() -> Sandbox {
        crate::sandbox::testing::bare(Journal::in_memory()).await
    }

    /// A fresh sandbox sent these bytes as they are: its answer, and what it journaled.
    async fn sent_raw(bytes: Vec<u8>, close_write: bool) -> (String, Arc<Exchange>) {
        let sb = sandbox().await;
        let answer = send_raw(sb.addr, bytes, close_write).await;
        (answer, journaled(&sb).await)
    }

    fn refused(ex: &Exchange) -> &str {
        ex.facts.refused.as_deref().unwrap()
    }

    /// The client was answered `status`, and the journal says so and why it was refused.
    fn answered_and_journaled(answer: &str, ex: &Exchange, status: u16, why: &str) {
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert_eq!(refused(ex), why);
        assert_eq!(ex.response.as_ref().unwrap().status, status);
    }

    #[tokio::test]
    async fn a_url_too_long_is_answered_414_and_journaled() {
        let request = format!(
            "GET /payment/{}/status HTTP/1.1\r\nHost: sandbox\r\n\r\n",
            "a".repeat(70_000)
        );
        let (answer, ex) = sent_raw(request.into_bytes(), false).await;
        answered_and_journaled(&answer, &ex, 414, "uri_too_long");
        assert_eq!(ex.request.method, "GET");
        assert!(ex.request.url.starts_with("/payment/aaaa") && ex.request.url.len() < 2100);
        assert!(ex.error.as_ref().unwrap().contains("URL is too long"));
    }

    #[tokio::test]
    async fn headers_too_large_are_answered_431_and_journaled() {
        let request = format!(
            "POST /user/u1/issue HTTP/1.1\r\nHost: sandbox\r\nX-Auth-Token: t1\r\nX-Big: {}\r\n\r\n",
            "b".repeat(600_000)
        );
        let (answer, ex) = sent_raw(request.into_bytes(), false).await;
        answered_and_journaled(&answer, &ex, 431, "headers_too_large");
        assert_eq!(ex.request.url, "/user/u1/issue");
        assert!(ex
            .request
            .headers
            .iter()
            .any(|pair| pair == ("X-Auth-Token", "t1")));
    }

    #[tokio::test]
    async fn a_malformed_request_is_answered_400_and_journaled() {
        let (answer, ex) = sent_raw(b"\x01\x02 nonsense\r\n\r\n".to_vec(), false).await;
        answered_and_journaled(&answer, &ex, 400, "malformed");
    }

    #[tokio::test]
    async fn a_request_head_cut_short_is_journaled() {
        let (answer, ex) = sent_raw(b"GET /health HTTP/1.1\r\nHo".to_vec(), true).await;
        assert!(answer.is_empty(), "{answer}");
        assert_eq!(refused(&ex), "head_cut_short");
        assert_eq!(ex.request.url, "/health");
        assert!(ex.response.is_none());
    }

    #[tokio::test]
    async fn a_body_cut_short_is_journaled_as_cut_short_not_too_large() {
        let sb = sandbox().await;
        let request = "POST /user/u1/issue HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pass";
        let answer = send_raw(sb.addr, request.as_bytes().to_vec(), true).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        let ex = journaled(&sb).await;
        assert_eq!(refused(&ex), "body_cut_short");
        let error = ex.error.as_ref().unwrap();
        assert!(error.contains("cut short: 6 of 100 bytes"), "{error}");
        assert!(!error.contains("larger"), "{error}");
        assert_eq!(ex.request.body.text(), "{\"pass");
        assert!(ex.request.body.truncated);
        assert!(ex.facts.schema_errors.is_empty());
    }

    #[tokio::test]
    async fn a_whole_request_after_a_keep_alive_answer_is_not_marked_refused() {
        let sb = sandbox().await;
        let two = "GET /health HTTP/1.1\r\nHost: s\r\n\r\nGET /nope HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n";
        let answer = send_raw(sb.addr, two.as_bytes().to_vec(), false).await;
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 2, "{answer}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let all = sb.core.journal.live();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|e| e.facts.refused.is_none()));
    }
}
