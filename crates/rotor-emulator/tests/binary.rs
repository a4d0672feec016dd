//! The `rotor-emulator` binary: URL line on stdout, clean exit on SIGTERM, `--state` across restarts.

mod common;

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use common::call;
use reqwest::{Method, StatusCode};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_rotor-emulator");
const KEY: &str = "sk-or-v1-1111111111111111111111111111111111111111111111111111111111111111";

struct Emulator {
    child: Child,
    stdout: BufReader<ChildStdout>,
    base_url: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], env_key: Option<&str>) -> Emulator {
    let env: Vec<(&str, &str)> = env_key
        .map(|k| ("OPENROUTER_MANAGEMENT_KEY", k))
        .into_iter()
        .collect();
    spawn_with(args, &env, Stdio::null())
}

/// Spawns the binary with `env` added (OPENROUTER_MANAGEMENT_KEY removed unless given) and reads
/// the URL line.
fn spawn_with(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Emulator {
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr);
    cmd.env_remove("OPENROUTER_MANAGEMENT_KEY")
        .envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn rotor-emulator");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the URL line");
    let base_url = line.trim().to_owned();
    assert!(
        base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/api/v1"),
        "first stdout line must be the base URL, got {line:?}"
    );
    Emulator {
        child,
        stdout,
        base_url,
    }
}

/// SIGTERM, then the exit status (polled, bounded).
fn terminate(emu: &mut Emulator) -> std::process::ExitStatus {
    signal(emu, "TERM")
}

/// Sends `SIG<name>`, then waits (polled, bounded) for the exit status.
fn signal(emu: &mut Emulator, name: &str) -> std::process::ExitStatus {
    let pid = emu.child.id().to_string();
    // The shell's builtin `kill`: no dependency on procps being installed.
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .status()
        .expect("run sh -c kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = emu.child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "rotor-emulator did not exit within 10 s of SIG{name}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn prints_the_url_then_a_generated_key_and_exits_cleanly_on_sigterm() {
    let mut emu = spawn(&["--test-controls"], None);
    let mut line = String::new();
    emu.stdout.read_line(&mut line).expect("second line");
    let key = line
        .trim()
        .strip_prefix("management key: ")
        .expect("generated key line")
        .to_owned();
    assert!(key.starts_with("sk-or-v1-") && key.len() == 73);
    let me = call(
        Method::GET,
        &format!("{}/key", emu.base_url),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["data"]["is_management_key"], true);
    let controls = reqwest::get(format!(
        "{}/_emulator/counters",
        emu.base_url.trim_end_matches("/api/v1")
    ))
    .await
    .expect("controls");
    assert_eq!(controls.status(), StatusCode::OK);
    let status = terminate(&mut emu);
    assert!(status.success(), "exit status {status}");
    let mut rest = String::new();
    emu.stdout
        .read_to_string(&mut rest)
        .expect("rest of stdout");
    assert_eq!(rest, "", "nothing else on stdout");
}

#[tokio::test]
async fn a_given_key_is_not_printed_and_controls_are_off_by_default() {
    let mut emu = spawn(&[], Some(KEY));
    let me = call(
        Method::GET,
        &format!("{}/key", emu.base_url),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "OPENROUTER_MANAGEMENT_KEY is the management key"
    );
    let controls = reqwest::get(format!(
        "{}/_emulator/keys",
        emu.base_url.trim_end_matches("/api/v1")
    ))
    .await
    .expect("request");
    assert_eq!(controls.status(), StatusCode::NOT_FOUND);
    assert!(
        signal(&mut emu, "INT").success(),
        "SIGINT stops it cleanly too"
    );
    let mut rest = String::new();
    emu.stdout
        .read_to_string(&mut rest)
        .expect("rest of stdout");
    assert_eq!(rest, "", "exactly one line on stdout when the key is given");
}

#[tokio::test]
async fn state_survives_a_restart_without_storing_plaintext_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("emulator-state.json");
    let state_arg = state.to_str().expect("utf-8 path");
    let mut first = spawn(&["--management-key", KEY, "--state", state_arg], None);
    let running = Running {
        base_url: first.base_url.clone(),
        key: KEY.to_owned(),
    };
    let (data, app_key) = running.create("persisted").await;
    let hash = data["hash"].as_str().unwrap_or_default().to_owned();
    let (deleted, _) = running.create("deleted").await;
    let deleted_url = format!(
        "{}/keys/{}",
        first.base_url,
        deleted["hash"].as_str().unwrap_or_default()
    );
    assert_eq!(
        call(Method::DELETE, &deleted_url, Some(KEY), None)
            .await
            .status,
        StatusCode::OK
    );
    let c = call(
        Method::POST,
        &format!("{}/chat/completions", first.base_url),
        Some(&app_key),
        Some(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    assert!(terminate(&mut first).success());
    assert_no_plaintext(&state, &[KEY, &app_key]);

    let second = spawn(&["--management-key", KEY, "--state", state_arg], None);
    let got = call(
        Method::GET,
        &format!("{}/keys/{hash}", second.base_url),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["data"]["name"], "persisted");
    assert_eq!(got.body["data"]["usage"], json!(0.001));
    assert_eq!(got.body["data"]["created_at"], data["created_at"]);
    let me = call(
        Method::GET,
        &format!("{}/key", second.base_url),
        Some(&app_key),
        None,
    )
    .await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "the key created before the restart still authenticates"
    );
    let gone = deleted_url.replace(&first.base_url, &second.base_url);
    assert_eq!(
        call(Method::GET, &gone, Some(KEY), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn logs_never_contain_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut emu = spawn_with(
        &["--management-key", KEY, "--test-controls"],
        &[("RUST_LOG", "debug")],
        Stdio::from(log),
    );
    let running = Running {
        base_url: emu.base_url.clone(),
        key: KEY.to_owned(),
    };
    let (data, app_key) = running.create("logged").await;
    let url = format!(
        "{}/keys/{}",
        running.base_url,
        data["hash"].as_str().unwrap_or_default()
    );
    let completion = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    call(
        Method::POST,
        &format!("{}/chat/completions", running.base_url),
        Some(&app_key),
        Some(completion),
    )
    .await;
    call(
        Method::GET,
        &format!("{}/key", running.base_url),
        Some(&app_key),
        None,
    )
    .await;
    call(
        Method::PATCH,
        &url,
        Some(KEY),
        Some(json!({"disabled": true})),
    )
    .await;
    call(
        Method::GET,
        &format!("{}/key", running.base_url),
        Some(&app_key),
        None,
    )
    .await; // 401
    call(Method::DELETE, &url, Some(KEY), None).await;
    assert!(terminate(&mut emu).success());
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    assert!(
        logs.contains(data["hash"].as_str().unwrap_or("?")),
        "logs name the key hash:\n{logs}"
    );
    for secret in [KEY, app_key.as_str()] {
        assert!(!logs.contains(&secret[9..]), "a key appeared in the logs");
    }
}

struct Running {
    base_url: String,
    key: String,
}

impl Running {
    async fn create(&self, name: &str) -> (serde_json::Value, String) {
        let a = call(
            Method::POST,
            &format!("{}/keys", self.base_url),
            Some(&self.key),
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED);
        (
            a.body["data"].clone(),
            a.body["key"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

fn assert_no_plaintext(path: &Path, keys: &[&str]) {
    let text = std::fs::read_to_string(path).expect("state file written");
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_ok(),
        "state file is JSON"
    );
    for k in keys {
        assert!(
            !text.contains(&k[9..]),
            "the state file must not contain a plaintext key"
        );
    }
}
