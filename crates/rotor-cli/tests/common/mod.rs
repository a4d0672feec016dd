//! What the CLI's tests need beyond the test kit: the `rotor` binary as a real process (its
//! environment, its output, `rotor status --json`), the daemon's process and /metrics, and what
//! a file-store secret records. Emulator, observation and store fixtures come from
//! `rotor_testkit`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rotor_core::record::KeyRecord;
use rotor_core::{FileStore, SecretStore, Stage, VersionSelector};
use rotor_emulator::RunningEmulator;
#[allow(unused_imports)]
pub use rotor_testkit::emulator::{key_works, live_key_hashes, start};
use rotor_testkit::stores::vault;

pub const BIN: &str = env!("CARGO_BIN_EXE_rotor");

/// Environment variables of the developer's shell that would change what the binary does.
const SCRUBBED: &[&str] = &[
    "OPENROUTER_BASE_URL",
    "OPENROUTER_MANAGEMENT_KEY",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_NAMESPACE",
    "ROTOR_VAULT_AUTH",
    "ROTOR_GRACE_PERIOD",
    "RUST_LOG",
];

/// `rotor …` against `emu`, with the management key in the environment.
pub fn rotor(emu: &RunningEmulator) -> Command {
    let mut cmd = rotor_without_key(emu);
    cmd.env("OPENROUTER_MANAGEMENT_KEY", emu.management_key());
    cmd
}

/// `rotor …` against `emu`, without any management key.
pub fn rotor_without_key(emu: &RunningEmulator) -> Command {
    let mut cmd = Command::new(BIN);
    for v in SCRUBBED {
        cmd.env_remove(v);
    }
    cmd.env("OPENROUTER_BASE_URL", emu.base_url())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// Panics if `text` shows a whole OpenRouter key (`sk-or-v1-` and 64 hex digits).
pub fn assert_no_full_key(text: &str, what: &str) {
    let leaked = text.match_indices("sk-or-v1-").any(|(i, _)| {
        let rest = &text[i + 9..];
        rest.len() >= 64 && rest[..64].bytes().all(|b| b.is_ascii_hexdigit())
    });
    assert!(!leaked, "{what}: a key appears in rotor's output");
}

/// Panics if rotor's stdout or stderr shows the management key (or its secret part) or any
/// whole key.
pub fn assert_no_key_printed(out: &Output, management_key: &str) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(&management_key[9..]),
        "management key printed"
    );
    assert_no_full_key(&text, "rotor's stdout and stderr");
}

/// Runs `cmd` to completion (in a blocking thread) and returns its output.
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("spawn the rotor binary"))
        .await
        .expect("join the rotor process")
}

/// Runs `cmd` and panics with its stdout/stderr unless it exits 0.
pub async fn run_ok(cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "{what} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs to /keys seen by the emulator so far.
pub async fn key_creations(emu: &RunningEmulator) -> u64 {
    rotor_testkit::observe::counter(&emu.control(), "POST /api/v1/keys").await
}

/// What a file-store secret records: the current document, and every hash referenced by any
/// version that carries a stage (current key, older keys, pending key), and the pending token.
pub struct FileState {
    pub current: KeyRecord,
    pub current_version: String,
    pub recorded: BTreeSet<String>,
    pub pending: Option<String>,
}

pub async fn file_state(dir: &Path, secret: &str) -> FileState {
    let store = FileStore::open(dir).expect("open the file store");
    let desc = store.describe(secret).await.expect("describe the secret");
    let current = store
        .get_value(secret, &VersionSelector::Stage(Stage::Current))
        .await
        .expect("read AWSCURRENT");
    let current_version = current.version_id.clone();
    let current = KeyRecord::parse(&current.value, secret).expect("parse the current document");
    let mut recorded = BTreeSet::new();
    for v in desc.versions.iter().filter(|v| !v.stages.is_empty()) {
        let sel = VersionSelector::Version {
            id: v.id.clone(),
            stage: None,
        };
        if let Ok(value) = store.get_value(secret, &sel).await {
            let record = KeyRecord::parse(&value.value, secret).expect("parse a stored document");
            recorded.extend(record.referenced_hashes().map(str::to_owned));
        }
    }
    let pending = desc
        .versions
        .iter()
        .find(|v| v.has(Stage::Pending) && !v.has(Stage::Current))
        .map(|v| v.id.clone());
    FileState {
        current,
        current_version,
        recorded,
        pending,
    }
}

/// The plaintext of a record's key (tests only: to call completions and to check logs).
pub fn plaintext(record: &KeyRecord) -> String {
    record.api_key.expose().to_owned()
}

/// A `rotor daemon` process whose stderr is collected line by line.
pub struct Daemon {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub base: String,
}

impl Daemon {
    /// Spawns `cmd` (a `rotor … daemon …` command) and waits until it printed its address and
    /// answers /healthz.
    pub async fn spawn(mut cmd: Command) -> Daemon {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn rotor daemon");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                eprintln!("[daemon] {line}");
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut daemon = Daemon {
            child,
            stderr,
            base: String::new(),
        };
        let addr = wait_for(
            "the daemon's listening address",
            Duration::from_secs(30),
            || {
                let text = daemon.stderr();
                let exited = daemon.child.try_wait().ok().flatten();
                async move {
                    if let Some(status) = exited {
                        panic!("rotor daemon exited early ({status}):\n{text}");
                    }
                    text.lines()
                        .find_map(|l| l.split("listening on http://").nth(1))
                        .and_then(|rest| rest.split_whitespace().next())
                        .map(str::to_owned)
                }
            },
        )
        .await;
        daemon.base = format!("http://{addr}");
        let health = format!("{}/healthz", daemon.base);
        wait_for("/healthz", Duration::from_secs(10), || {
            let url = health.clone();
            async move {
                let r = reqwest::get(&url).await.ok()?;
                (r.status() == 200 && r.text().await.ok()?.trim() == "ok").then_some(())
            }
        })
        .await;
        daemon
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The /metrics text.
    pub async fn metrics(&self) -> String {
        let resp = reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("GET /metrics");
        assert_eq!(resp.status(), 200, "/metrics status");
        resp.text().await.expect("read /metrics")
    }

    /// One sample of /metrics (`name{labels}` exactly as exposed), if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric(&self.metrics().await, series)
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.pid());
    }

    /// Waits for the process to exit (at most `timeout`).
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the daemon") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "rotor daemon did not exit within {timeout:?}:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One sample of a metrics text (`name{labels}` exactly as exposed).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// A rotor.toml with one or more `[[secrets]]` blocks.
pub fn write_config(dir: &Path, daemon: &str, secrets: &[&str]) -> std::path::PathBuf {
    let mut text = format!("[daemon]\nlisten = \"127.0.0.1:0\"\n{daemon}\n");
    for s in secrets {
        text.push_str("\n[[secrets]]\n");
        text.push_str(s);
        text.push('\n');
    }
    let path = dir.join("rotor.toml");
    std::fs::write(&path, text).expect("write rotor.toml");
    path
}

// ------------------------------------------------------------------------------------------
// Vault / OpenBao (the kit's fixture: rotor_testkit::stores::vault)

/// A fresh KV v2 path under the `secret/` mount, unique per test.
pub fn fresh_vault_path(label: &str) -> String {
    format!("rotor-cli-tests/{}", rotor_testkit::stores::fresh(label))
}

/// `rotor …` against `emu` and the test OpenBao (VAULT_ADDR / VAULT_TOKEN).
pub fn rotor_vault(emu: &RunningEmulator) -> Command {
    let mut cmd = rotor(emu);
    cmd.env("VAULT_ADDR", vault::addr())
        .env("VAULT_TOKEN", vault::root_token());
    cmd
}

/// What an application reads at `secret/PATH`: its `api_key`.
pub async fn vault_app_key(path: &str) -> String {
    let data = vault::app_read(&vault::root_token(), &format!("secret/{path}"))
        .await
        .unwrap_or_else(|| panic!("secret/{path} does not exist"));
    vault::api_key_of(&data)
}

/// Writes `data` at `secret/PATH` (KV v2) with the root token.
pub async fn vault_write(path: &str, data: serde_json::Value) {
    vault::sys(
        reqwest::Method::POST,
        &format!("secret/data/{path}"),
        Some(serde_json::json!({ "data": data })),
    )
    .await;
}

/// `rotor status TARGET --json`, parsed (`.status`).
pub async fn status_json(mut cmd: Command, target: &str) -> serde_json::Value {
    cmd.args(["status", target, "--json"]);
    let out = run_ok(cmd).await;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("rotor status --json prints JSON");
    v["status"].clone()
}

/// Every key hash a status reports (stages and older keys).
pub fn recorded_hashes(status: &serde_json::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for v in status["versions"].as_array().into_iter().flatten() {
        if let Some(h) = v["key"]["key_hash"].as_str() {
            out.insert(h.to_owned());
        }
    }
    for k in status["older_keys"].as_array().into_iter().flatten() {
        if let Some(h) = k["key_hash"].as_str() {
            out.insert(h.to_owned());
        }
    }
    out
}
