//! Starting the team's integration, waiting until it is ready, and stopping it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
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
///
/// Chosen below the kernel's ephemeral range: a port that `bind(0)` hands out comes from the
/// range every other process's connections and `bind(0)` draw from, so between golive letting
/// it go and the target binding it, another run's sandbox or a client connection can take it
/// ("Address already in use" at the target's start). Below that range only a program that
/// picks the same fixed port can; the candidates are random and each is tried by binding it.
pub fn free_port() -> std::io::Result<u16> {
    let (ephemeral_low, _) = ephemeral_range();
    let low = (ephemeral_low / 2).max(1024);
    let span = u64::from(ephemeral_low.saturating_sub(low).max(1));
    for _ in 0..64 {
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = low + (random % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The ports the kernel hands out for `bind(0)` and outgoing connections (Linux's default when
/// it cannot be read).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
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
    #[cfg(target_os = "linux")]
    // SAFETY: only a prctl between fork and exec, which allocates nothing and takes no lock.
    unsafe {
        // golive turns transparent huge pages off for itself (main.rs); the integration runs
        // as the machine would run it.
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
            Ok(())
        });
    }
    let child = command.spawn().map_err(|source| StartError::Spawn {
        command: match &spec.command {
            CommandLine::Shell(s) => s.clone(),
            CommandLine::Argv(a) => a.join(" "),
        },
        source,
    })?;
    let group = child.id();
    if let Some(g) = group {
        live_groups().push(g);
    }
    Ok(TargetProcess {
        group,
        child,
        log: log.to_owned(),
    })
}

/// The process groups of the targets running now, for [`kill_everything`]: a second Ctrl-C
/// ends golive at once, without the orderly stop, and must still leave nothing behind.
static LIVE_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn live_groups() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

fn forget_group(group: u32) {
    live_groups().retain(|g| *g != group);
}

/// Whether this process adopts the orphans of its targets (see [`adopt_orphans`]).
static ADOPTING: AtomicBool = AtomicBool::new(false);

/// Makes this process the "subreaper" of everything it starts (Linux): a target that detaches
/// (forks twice and leaves its process group, keeping its port) is re-parented to golive
/// instead of init, so [`TargetProcess::stop`] can still find and stop it. Only the golive
/// binary calls this: in a test process, other children are not the run's to stop.
pub fn adopt_orphans() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag of this process.
        let ok = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
        ADOPTING.store(ok, Ordering::SeqCst);
        ok
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Kills every target process group golive started and every orphan it adopted, at once:
/// for a run that must end now (a second Ctrl-C).
pub fn kill_everything() {
    let groups: Vec<u32> = live_groups().drain(..).collect();
    for g in groups {
        signal_group(g, libc::SIGKILL);
    }
    sweep_adopted();
}

/// Stops what a target left behind outside its process group: processes re-parented to this
/// one (see [`adopt_orphans`]), with their own groups. Returns them as `pid (name)`.
fn sweep_adopted() -> Vec<String> {
    if !ADOPTING.load(Ordering::SeqCst) {
        return Vec::new();
    }
    let me = std::process::id();
    // SAFETY: getpgrp only reads this process's group id.
    let my_group = unsafe { libc::getpgrp() };
    let mut swept = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return swept;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((name, state, ppid, pgid)) = proc_stat(pid) else {
            continue;
        };
        if ppid != me {
            continue;
        }
        // A zombie is already dead (the daemon's intermediate fork): reaping it is all that
        // is left, and it is not worth naming.
        let running = state != 'Z' && state != 'X';
        if running && pgid != my_group && pgid > 1 {
            // SAFETY: killpg only sends a signal; the group is not golive's own.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
        if let Ok(p) = libc::pid_t::try_from(pid) {
            // SAFETY: kill and waitpid on a child of this process (its parent is us).
            unsafe {
                libc::kill(p, libc::SIGKILL);
                libc::waitpid(p, std::ptr::null_mut(), 0);
            }
        }
        if running {
            swept.push(format!("{pid} ({name})"));
        }
    }
    swept
}

/// A process's name, state, parent and process group, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(String, char, u32, libc::pid_t)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (name) state ppid pgrp ...`; the name may hold spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_owned();
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some((name, state, ppid, pgrp))
}

/// How a process ended, as a person reads it: `signal 9, SIGKILL` or `exit code 3`. A shell
/// reports its command's death by signal N as exit code 128 + N, which is said too.
pub fn describe_exit(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("signal {signal}{}", signal_name(signal));
        }
    }
    match status.code() {
        Some(code) if (129..=159).contains(&code) => format!(
            "exit code {code}, its shell's way of saying its command died of signal {}{}",
            code - 128,
            signal_name(code - 128)
        ),
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => ", SIGKILL",
        libc::SIGTERM => ", SIGTERM",
        libc::SIGINT => ", SIGINT",
        libc::SIGSEGV => ", SIGSEGV",
        libc::SIGABRT => ", SIGABRT",
        libc::SIGHUP => ", SIGHUP",
        libc::SIGBUS => ", SIGBUS",
        _ => "",
    }
}

/// Whether something already accepts connections at `base_url`'s host and port. Checked
/// before the target starts: a server left over from another run (or another program on the
/// port) would answer in its place, and golive would grade the wrong process.
pub async fn already_answering(base_url: &str) -> Option<String> {
    let url = url::Url::parse(base_url).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default()?;
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(Duration::from_millis(500), connect).await {
        Ok(Ok(_)) => Some(format!("{host}:{port}")),
        _ => None,
    }
}

impl TargetProcess {
    /// Whether the process has exited, and how (see [`describe_exit`]).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(describe_exit(status)),
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

    /// Waits until the process exits, and says how (see [`describe_exit`]). Cancel-safe: the
    /// run waits on it beside each scenario.
    pub async fn wait_exit(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => describe_exit(status),
            Err(e) => format!("unknown ({e})"),
        }
    }

    /// Asks the process group to stop, then kills it if it has not within two seconds; then
    /// stops whatever the target left running detached. Returns those detached processes
    /// (`pid (name)`), which a message about the run may name.
    pub async fn stop(mut self) -> Vec<String> {
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
            forget_group(group);
        }
        sweep_adopted()
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        // A run that ends without `stop` (an early error) must not leave the target behind.
        if let Some(group) = self.group.take() {
            signal_group(group, libc::SIGKILL);
            forget_group(group);
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

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn a_target_port_is_free_and_outside_the_ephemeral_range() {
        let (low, high) = ephemeral_range();
        assert!(low <= high);
        for _ in 0..20 {
            let port = free_port().unwrap();
            assert!(!(low..=high).contains(&port), "{port} in {low}..={high}");
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_target_runs_with_transparent_huge_pages_as_the_machine_has_them() {
        // golive's own process has them off (main.rs); this test process turns them off too.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("target.log");
        let spec = StartCommand {
            command: CommandLine::Shell("grep THP_enabled /proc/self/status".into()),
            cwd: None,
            env: Default::default(),
        };
        let mut target = start(&spec, &Value::Null, dir.path(), &log).unwrap();
        target.wait_exit().await;
        let printed = std::fs::read_to_string(&log).unwrap();
        // Kernels before 6.x do not print the line: nothing to compare there.
        if !printed.is_empty() {
            assert_eq!(
                printed.split_whitespace().collect::<Vec<_>>(),
                ["THP_enabled:", "1"]
            );
        }
    }
}
