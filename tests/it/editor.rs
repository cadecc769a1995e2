//! Editor support as a team meets it: yaml-language-server (what VS Code's YAML extension and
//! Neovim's yamlls run; `scripts/test-deps` installs it under `target/`) driven over LSP on
//! stdio, with a bundled suite whose first line names the schema. It flags a misspelt check
//! param and offers the real kinds at `kind:`. And the modelines of files golive writes out
//! (`suites export`, `init`) name a schema that is there.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{golive, tool, ROOT};

/// yaml-language-server over stdio; stopped by its pid when dropped.
struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
}

impl Server {
    fn start() -> Server {
        let bin = tool(&format!(
            "{ROOT}/target/yaml-language-server/node_modules/.bin/yaml-language-server"
        ));
        let mut child = Command::new(bin)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("yaml-language-server starts (node on PATH?)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            stdin,
            messages,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its answer, answering the server's own requests and
    /// handing its notifications to `seen` meanwhile.
    fn request(&mut self, method: &str, params: Value, seen: &mut Vec<Value>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let answer = self.until(seen, |m| m["id"] == json!(id) && m.get("method").is_none());
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// The first message `wanted` accepts, within 30 s.
    fn until(&mut self, seen: &mut Vec<Value>, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = match self.messages.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("yaml-language-server said nothing wanted in 30 s; it said: {seen:#?}")
                }
                Err(RecvTimeoutError::Disconnected) => panic!("yaml-language-server ended"),
            };
            if m.get("method").is_some() && m.get("id").is_some() {
                // A request of the server's: settings for `workspace/configuration`, else null.
                let result = if m["method"] == "workspace/configuration" {
                    let items = m["params"]["items"].as_array().cloned().unwrap_or_default();
                    Value::Array(
                        items
                            .iter()
                            .map(|i| match i["section"].as_str() {
                                Some("yaml") => settings(),
                                _ => Value::Null,
                            })
                            .collect(),
                    )
                } else {
                    Value::Null
                };
                self.send(json!({ "jsonrpc": "2.0", "id": m["id"], "result": result }));
                continue;
            }
            if wanted(&m) {
                return m;
            }
            seen.push(m);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stopped by its pid (Child::kill signals this process only).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One LSP message: `Content-Length` headers, a blank line, the JSON body.
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length:") {
            length = n.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The editor's settings: validation and completion on, and no schema store (no network; the
/// modeline names the schema).
fn settings() -> Value {
    json!({
        "validate": true,
        "completion": true,
        "hover": true,
        "schemaStore": { "enable": false },
        "schemas": {},
    })
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A server that has been initialised with the repository as its workspace.
fn initialised() -> (Server, Vec<Value>) {
    let mut server = Server::start();
    let mut seen = Vec::new();
    server.request(
        "initialize",
        json!({
            "processId": std::process::id(),
            "rootUri": uri(Path::new(ROOT)),
            "workspaceFolders": [{ "uri": uri(Path::new(ROOT)), "name": "golive" }],
            "capabilities": {
                "workspace": { "configuration": true },
                "textDocument": {
                    "completion": { "completionItem": { "snippetSupport": false } },
                    "publishDiagnostics": {},
                },
            },
        }),
        &mut seen,
    );
    server.notify("initialized", json!({}));
    server.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "yaml": settings() } }),
    );
    (server, seen)
}

const SUITE: &str = "suites/kontocloud-go-live.yaml";

/// The bundled suite, opened where it is (its modeline `../schemas/suite.schema.json` resolves
/// against its own folder) with `text` in place of what is on disk.
fn open(server: &mut Server, text: &str, version: u32) -> String {
    let at = uri(&Path::new(ROOT).join(SUITE));
    server.notify(
        "textDocument/didOpen",
        json!({ "textDocument": {
            "uri": at, "languageId": "yaml", "version": version, "text": text,
        }}),
    );
    at
}

fn bundled_suite() -> String {
    let text = std::fs::read_to_string(Path::new(ROOT).join(SUITE)).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=../schemas/suite.schema.json\n"),
        "{SUITE} names its schema on its first line"
    );
    text
}

#[test]
fn yaml_language_server_flags_a_misspelt_param_and_completes_kinds() {
    let (mut server, mut seen) = initialised();

    // A misspelt param: flagged on its own line, and nothing else in the suite is.
    let text = bundled_suite().replacen(
        "status_operation: payment_status",
        "statuss_operation: payment_status",
        1,
    );
    let line = text
        .lines()
        .position(|l| l.contains("statuss_operation"))
        .unwrap();
    let at = open(&mut server, &text, 1);
    let published = server.until(&mut seen, |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == json!(at)
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
    });
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics
            .iter()
            .any(|d| d["range"]["start"]["line"] == json!(line)
                && d["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("statuss_operation")),
        "no diagnostic for the misspelt param on line {}: {diagnostics:#?}",
        line + 1
    );
    assert!(
        diagnostics
            .iter()
            .all(|d| d["range"]["start"]["line"] == json!(line)),
        "diagnostics elsewhere in the bundled suite: {diagnostics:#?}"
    );
    server.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": at } }),
    );

    // Completion at a `kind:` value offers the real kinds.
    let text = bundled_suite().replacen("kind: status_verified", "kind: ", 1);
    let (line, character) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| (l.trim() == "kind:").then_some((i, l.len())))
        .unwrap();
    let at = open(&mut server, &text, 2);
    let result = server.request(
        "textDocument/completion",
        json!({
            "textDocument": { "uri": at },
            "position": { "line": line, "character": character },
        }),
        &mut seen,
    );
    let items = match &result {
        Value::Array(items) => items.clone(),
        other => other["items"].as_array().cloned().unwrap_or_default(),
    };
    let offered: Vec<String> = items
        .iter()
        .filter_map(|i| i["label"].as_str())
        .map(|l| l.trim_matches('"').to_owned())
        .collect();
    let kinds: Vec<&str> = golive::checks::kinds().iter().map(|k| k.name).collect();
    let missing: Vec<&&str> = kinds
        .iter()
        .filter(|k| !offered.iter().any(|o| o == *k))
        .collect();
    assert!(
        missing.is_empty(),
        "kinds not offered at `kind:` (line {}): {missing:?}; offered: {offered:?}",
        line + 1
    );
}

/// The `$schema=` of a file's first line, resolved against its folder.
fn modeline_schema(file: &Path) -> PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    let first = text.lines().next().unwrap_or("");
    let rel = first
        .strip_prefix("# yaml-language-server: $schema=")
        .unwrap_or_else(|| panic!("{} has no modeline: {first}", file.display()));
    file.parent().unwrap().join(rel)
}

#[test]
fn files_golive_writes_out_name_a_schema_that_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let out = golive(&["suites", "export", "x"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let x = dir.path().join("x");
    let mut checked = 0;
    for folder in ["suites", "targets"] {
        for entry in std::fs::read_dir(x.join(folder)).unwrap() {
            let file = entry.unwrap().path();
            let schema = modeline_schema(&file);
            let name = schema.file_name().unwrap().to_str().unwrap().to_owned();
            assert_eq!(
                std::fs::read_to_string(&schema).unwrap_or_default(),
                std::fs::read_to_string(Path::new(ROOT).join("schemas").join(&name)).unwrap(),
                "{}: {}",
                file.display(),
                schema.display()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 8, "four suites and four targets");

    // The starter target names the schema `init` writes beside it.
    let out = golive(
        &["init", "--provider", "kontocloud", "--out", "shop.yaml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let schema = modeline_schema(&dir.path().join("shop.yaml"));
    assert_eq!(
        std::fs::read_to_string(schema).unwrap(),
        std::fs::read_to_string(Path::new(ROOT).join("schemas/target.schema.json")).unwrap()
    );
}
