//! Shared helpers for the OpenBao integration tests. The server is started by `tests/run`
//! (tests/services/30-openbao.sh), which exports its address and root token.
#![allow(dead_code)]

use std::{path::PathBuf, process::Command};

use rotor_vault::{VaultAuth, VaultConfig, VaultStore};
use secrecy::SecretString;

pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: run tests/run, which starts OpenBao (tests/services/30-openbao.sh) \
             and exports ROTOR_TEST_VAULT_ADDR, ROTOR_TEST_VAULT_TOKEN and ROTOR_TEST_BAO_BIN"
        ),
    }
}

pub fn addr() -> String {
    env("ROTOR_TEST_VAULT_ADDR")
}

pub fn root_token() -> String {
    env("ROTOR_TEST_VAULT_TOKEN")
}

pub fn root_config() -> VaultConfig {
    VaultConfig::new(addr(), VaultAuth::Token(SecretString::from(root_token())))
}

pub async fn root_store() -> VaultStore {
    VaultStore::connect(root_config())
        .await
        .expect("connect to OpenBao with the root token")
}

/// A fresh name component, unique per test run.
pub fn fresh(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

/// Runs the `bao` CLI as root against the test server; panics with its stderr on failure.
pub fn bao(args: &[&str]) -> String {
    bao_with_input(args, None)
}

pub fn bao_with_input(args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let bin = PathBuf::from(env("ROTOR_TEST_BAO_BIN"));
    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .env("BAO_ADDR", addr())
        .env("BAO_TOKEN", root_token())
        .env("VAULT_ADDR", addr())
        .env("VAULT_TOKEN", root_token())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bao {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What an application reads: `GET /v1/MOUNT/data/PATH` with its own token, `.data.data`.
pub async fn app_read(token: &str, secret_id: &str) -> Option<serde_json::Value> {
    let (mount, path) = secret_id.split_once('/').unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/{mount}/data/{path}", addr()))
        .header("X-Vault-Token", token)
        .send()
        .await
        .expect("GET the application's path");
    if resp.status() == 404 {
        return None;
    }
    assert!(
        resp.status().is_success(),
        "application read of {secret_id}: HTTP {}",
        resp.status()
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    Some(body["data"]["data"].clone())
}
