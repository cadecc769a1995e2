//! Starting the team's integration, waiting until it is ready, and stopping it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use super::template;
use crate::suite::{CommandLine, Ready, StartCommand};

/// A target process golive started. Dropping it kills the process group.
pub struct TargetProcess {
    child: Child,
    /// The process group the target leads, kept from the start: the command's shell may exit
    /// while the server it started lives on in the group.
    group: Option<u32>,
    pub log: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Template(String),
    #[error("cannot start the target's command `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("cannot write the target's log {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A free loopback port for the target to listen on.
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Starts the command with its templated environment; stdout and stderr go to `log`.
pub fn start(
    spec: &StartCommand,
    vars: &Value,
    base_dir: &Path,
    log: &Path,
) -> Result<TargetProcess, StartError> {
    let mut command = match &spec.command {
        CommandLine::Shell(s) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(template::render(s, vars).map_err(StartError::Template)?);
            c
        }
        CommandLine::Argv(argv) => {
            let argv = argv
                .iter()
                .map(|a| template::render(a, vars))
                .collect::<Result<Vec<_>, _>>()
                .map_err(StartError::Template)?;
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    for (k, v) in &spec.env {
        command.env(k, template::render(v, vars).map_err(StartError::Template)?);
    }
    let cwd = match &spec.cwd {
        Some(d) => base_dir.join(template::render(d, vars).map_err(StartError::Template)?),
        None => base_dir.to_owned(),
    };
    let log_err = |source| StartError::Log {
        path: log.to_owned(),
        source,
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(log_err)?;
    }
    let out = std::fs::File::create(log).map_err(log_err)?;
    let err = out.try_clone().map_err(log_err)?;
    command
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let child = command.spawn().map_err(|source| StartError::Spawn {
        command: match &spec.command {
            CommandLine::Shell(s) => s.clone(),
            CommandLine::Argv(a) => a.join(" "),
        },
        source,
    })?;
    Ok(TargetProcess {
        group: child.id(),
        child,
        log: log.to_owned(),
    })
}

impl TargetProcess {
    /// Whether the process has exited, and how.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// The last lines the target printed, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Asks the process group to stop, then kills it if it has not within two seconds.
    pub async fn stop(mut self) {
        if let Some(group) = self.group {
            signal_group(group, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        // Whatever of the group ignored the request to stop.
        if let Some(group) = self.group.take() {
            signal_group(group, libc::SIGKILL);
        }
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        // A run that ends without `stop` (an early error) must not leave the target behind.
        if let Some(group) = self.group.take() {
            signal_group(group, libc::SIGKILL);
        }
    }
}

/// Signals the process group the target leads (it was started with `process_group(0)`, so
/// its group id is its pid). Shelling out to `kill -TERM -PID` is not safe: some procps
/// versions misread the negative id and signal far more than the group.
fn signal_group(pid: u32, signal: libc::c_int) {
    // Never 0, 1 or a negative number: those address this process's group, init, or every
    // process there is.
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: killpg only sends a signal; the group id is the target's own (checked above).
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// Polls the readiness path until it answers 2xx. Gives up when the deadline passes or the
/// process dies, saying which.
pub async fn wait_ready(
    base_url: &str,
    ready: &Ready,
    mut process: Option<&mut TargetProcess>,
) -> Result<Duration, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}{}", base_url.trim_end_matches('/'), ready.path);
    let started = tokio::time::Instant::now();
    let deadline = started + crate::suite::bounds::duration_s(ready.timeout_s);
    let mut last;
    loop {
        if let Some(p) = process.as_deref_mut() {
            if let Some(status) = p.exited() {
                let tail = p.log_tail(15);
                return Err(format!(
                    "the target's command exited ({status}) before it was ready{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; its last output:\n{tail}")
                    }
                ));
            }
        }
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(started.elapsed()),
            Ok(r) => last = format!("answered {}", r.status()),
            Err(e) => {
                last = if e.is_connect() {
                    "connection refused".into()
                } else {
                    e.to_string()
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the target was not ready within {:.0} s: GET {url} {last}",
                ready.timeout_s
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
