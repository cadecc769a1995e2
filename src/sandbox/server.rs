//! Starting and stopping the sandbox server.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
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
        Self::start_on(provider, journal, 0).await
    }

    /// Starts the provider's sandbox on 127.0.0.1 at `port` (0: a free one), as `golive
    /// sandbox --port` does.
    pub async fn start_on(
        provider: &dyn Provider,
        journal: Journal,
        port: u16,
    ) -> Result<Sandbox, SandboxError> {
        let core = SandboxCore::new(journal);
        let profile = provider.sandbox(core.clone());
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(SandboxError::Bind)?;
        let addr = listener.local_addr().map_err(SandboxError::Bind)?;
        core.set_base_url(format!("http://{addr}"));

        let app = profile
            .clone()
            .router()
            .fallback(unknown_route)
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

async fn unknown_route() -> axum::response::Response {
    let facts = Facts {
        operation: Some("unknown".into()),
        ..Facts::default()
    };
    super::with_facts(
        facts,
        (
            StatusCode::NOT_FOUND,
            [("content-type", "application/json")],
            r#"{"error":"no such operation in this sandbox"}"#,
        )
            .into_response(),
    )
}
