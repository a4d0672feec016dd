//! Vault/OpenBao fixtures: the server `tests/run` starts (tests/services/30-openbao.sh), which
//! exports `ROTOR_TEST_VAULT_ADDR`, `ROTOR_TEST_VAULT_TOKEN` (root) and `ROTOR_TEST_BAO_BIN`.

use std::path::PathBuf;
use std::process::Command;

use rotor_vault::{VaultAuth, VaultConfig, VaultStore};
use secrecy::SecretString;

use crate::service::required_env;

const SERVICE: &str = "OpenBao (tests/services/30-openbao.sh)";

pub fn addr() -> String {
    required_env("ROTOR_TEST_VAULT_ADDR", SERVICE)
}

pub fn root_token() -> String {
    required_env("ROTOR_TEST_VAULT_TOKEN", SERVICE)
}

pub fn root_config() -> VaultConfig {
    VaultConfig::new(addr(), VaultAuth::Token(SecretString::from(root_token())))
}

/// A store connected with the root token.
pub async fn root_store() -> VaultStore {
    VaultStore::connect(root_config())
        .await
        .expect("connect to OpenBao with the root token")
}

/// A fresh secret id under the `secret/` KV v2 mount: `secret/<label>-<12 hex>`.
pub fn fresh_secret(label: &str) -> String {
    format!("secret/{}", super::fresh(label))
}

/// Runs the `bao` CLI as root against the test server; panics with its stderr on failure.
pub fn bao(args: &[&str]) -> String {
    bao_with_input(args, None)
}

pub fn bao_with_input(args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let bin = PathBuf::from(required_env("ROTOR_TEST_BAO_BIN", SERVICE));
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

/// A root-token HTTP call to the Vault API (`/v1/{path}`); panics unless 2xx.
pub async fn sys(
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut req = reqwest::Client::new()
        .request(method.clone(), format!("{}/v1/{path}", addr()))
        .header("X-Vault-Token", root_token());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(
        status.is_success(),
        "{method} /v1/{path}: HTTP {status}: {text}"
    );
    if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

pub async fn put_policy(name: &str, hcl: &str) {
    sys(
        reqwest::Method::PUT,
        &format!("sys/policies/acl/{name}"),
        Some(serde_json::json!({ "policy": hcl })),
    )
    .await;
}

/// A token with exactly these policies (`default` only if listed).
pub async fn token_with(policies: &[&str]) -> String {
    let no_default = !policies.contains(&"default");
    let body =
        serde_json::json!({ "policies": policies, "no_default_policy": no_default, "ttl": "1h" });
    let resp = sys(reqwest::Method::POST, "auth/token/create", Some(body)).await;
    resp["auth"]["client_token"].as_str().unwrap().to_owned()
}

/// An application token allowed to read `secret_id`'s data path only.
pub async fn app_token(secret_id: &str) -> String {
    let (mount, path) = secret_id.split_once('/').unwrap();
    let name = super::fresh("app");
    put_policy(
        &name,
        &format!("path \"{mount}/data/{path}\" {{ capabilities = [\"read\"] }}\n"),
    )
    .await;
    token_with(&[&name]).await
}

/// The shipped rotator policy (deploy/vault/rotor-policy.hcl).
pub fn shipped_policy() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/vault/rotor-policy.hcl");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `api_key` field of a KV data map, as an application reads it.
pub fn api_key_of(data: &serde_json::Value) -> String {
    data["api_key"]
        .as_str()
        .expect("the application's data has an api_key string")
        .to_owned()
}
