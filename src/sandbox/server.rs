//! Starting and stopping the sandbox server.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::capture::capture;
use super::{Provider, ProviderSandbox, SandboxCore};
use crate::journal::{Facts, Journal};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on loopback for the sandbox: {0}")]
    Bind(std::io::Error),
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    pub core: Arc<SandboxCore>,
    pub profile: Arc<dyn ProviderSandbox>,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts the provider's sandbox on 127.0.0.1 at a free port.
    pub async fn start(provider: &dyn Provider, journal: Journal) -> Result<Sandbox, SandboxError> {
        let core = SandboxCore::new(journal);
        core.set_correlation(provider.correlation());
        let profile = provider.sandbox(core.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SandboxError::Bind)?;
        let addr = listener.local_addr().map_err(SandboxError::Bind)?;
        core.set_base_url(format!("http://{addr}"));

        // A path (or a method) the profile does not serve gets a clear 404 naming what it
        // serves, journaled as unserved, so the `unknown_operation` check can name the call.
        let (served, also_served) = (profile.clone(), profile.clone());
        let app = profile
            .clone()
            .router()
            .fallback(
                move |m: Method, u: Uri| async move { unserved(&m, u.path(), &served.served()) },
            )
            .method_not_allowed_fallback(move |m: Method, u: Uri| async move {
                unserved(&m, u.path(), &also_served.served())
            })
            .layer(axum::middleware::from_fn_with_state(core.clone(), capture));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::error!("sandbox server stopped: {e}");
            }
        });
        Ok(Sandbox {
            core,
            profile,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn base_url(&self) -> String {
        self.core.base_url()
    }

    /// Stops accepting, lets answers in flight finish (briefly), and returns.
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

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
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

/// The journal's mark on a call the sandbox does not serve: `facts.extra[UNSERVED]` lists what
/// it serves instead (as sentences), so a check can name both without knowing the provider.
pub const UNSERVED: &str = "unserved";

/// The answer to a call the sandbox does not serve: a 404 naming the operations it does.
pub fn unserved(
    method: &Method,
    path: &str,
    served: &[ServedOperation],
) -> axum::response::Response {
    let mut facts = Facts {
        operation: Some("unknown".into()),
        ..Facts::default()
    };
    let sentences: Vec<String> = served.iter().map(ToString::to_string).collect();
    facts.extra.insert(UNSERVED.into(), json!(sentences));
    let body = json!({
        "error": format!("{method} {path} is not an operation of this sandbox"),
        "operations": served,
    });
    super::with_facts(
        facts,
        (StatusCode::NOT_FOUND, axum::Json(body)).into_response(),
    )
}
