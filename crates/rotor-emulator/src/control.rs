//! HTTP client for the emulator's `/_emulator/` test controls, and the types both sides speak
//! (the server is `control_routes.rs`). Real HTTP, used by tests in every crate. Every method
//! fails with the `reqwest::Error` of a non-2xx answer (e.g. 404 when the emulator runs without
//! test controls).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an injected fault does to a matching call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status in OpenRouter's error envelope (optionally with `Retry-After`
    /// seconds) without performing the operation.
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Wait this long, then handle the call normally.
    Delay { delay_ms: u64 },
    /// Perform the operation (it takes effect), then close the connection without a response.
    CommitThenDrop,
}

/// A fault for the next `count` calls matching `method` and `path`. `path` is the request path
/// (e.g. `/api/v1/keys`); a `*` segment matches any one segment (`/api/v1/keys/*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub method: String,
    pub path: String,
    pub count: u32,
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// A key as the emulator stores it (test view: includes the account and deleted state, never the
/// plaintext key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmulatedKey {
    pub hash: String,
    pub name: String,
    pub account: String,
    pub disabled: bool,
    pub deleted: bool,
    pub usage: f64,
}

/// A new, separate account (for "key belongs to another account" tests). `Debug` redacts the
/// management key.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewAccount {
    pub account: String,
    pub management_key: String,
    /// The account's default workspace (keys are listed per workspace).
    #[serde(default)]
    pub workspace_id: String,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("account", &self.account)
            .field(
                "management_key",
                &crate::key_material::key_label(&self.management_key),
            )
            .field("workspace_id", &self.workspace_id)
            .finish()
    }
}

/// Client for `/_emulator/`.
#[derive(Debug, Clone)]
pub struct ControlClient {
    root: String,
    http: reqwest::Client,
}

impl ControlClient {
    /// `root` is the server root, e.g. `http://127.0.0.1:41234` (no `/api/v1`).
    pub fn new(root: impl Into<String>) -> Self {
        let root: String = root.into();
        ControlClient {
            root: root.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }
    fn url(&self, path: &str) -> String {
        format!("{}/_emulator{path}", self.root)
    }
    /// `POST /_emulator/faults`
    pub async fn inject_fault(&self, fault: &Fault) -> Result<(), reqwest::Error> {
        self.http
            .post(self.url("/faults"))
            .json(fault)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
    /// `GET /_emulator/faults`: the faults not yet used up (`count` = what remains).
    pub async fn faults(&self) -> Result<Vec<Fault>, reqwest::Error> {
        self.http
            .get(self.url("/faults"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
    /// `DELETE /_emulator/faults`: forget every pending fault.
    pub async fn clear_faults(&self) -> Result<(), reqwest::Error> {
        self.http
            .delete(self.url("/faults"))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
    /// `POST /_emulator/keys/{hash}/usage` `{"amount": f64}`
    pub async fn add_usage(&self, hash: &str, amount: f64) -> Result<(), reqwest::Error> {
        let body = serde_json::json!({ "amount": amount });
        self.http
            .post(self.url(&format!("/keys/{hash}/usage")))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
    /// `POST /_emulator/guardrails/{id}/usage` `{"amount": f64}`: spend against a guardrail's
    /// `limit_usd`, as if its keys had spent it.
    pub async fn add_guardrail_usage(&self, id: &str, amount: f64) -> Result<(), reqwest::Error> {
        let body = serde_json::json!({ "amount": amount });
        self.http
            .post(self.url(&format!("/guardrails/{id}/usage")))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
    /// `GET /_emulator/counters`: requests per `"METHOD /route/template"`, e.g. `"POST /api/v1/keys"`.
    pub async fn counters(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>, reqwest::Error> {
        self.http
            .get(self.url("/counters"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
    /// `GET /_emulator/keys`: every key of every account, deleted ones included, newest first.
    pub async fn keys(&self) -> Result<Vec<EmulatedKey>, reqwest::Error> {
        self.http
            .get(self.url("/keys"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
    /// `POST /_emulator/accounts`: a new account with its own management key.
    pub async fn create_account(&self) -> Result<NewAccount, reqwest::Error> {
        self.http
            .post(self.url("/accounts"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
    /// `POST /_emulator/reset`: forget all keys, faults and counters (accounts and management keys
    /// stay).
    pub async fn reset(&self) -> Result<(), reqwest::Error> {
        self.http
            .post(self.url("/reset"))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
    /// Convenience: a fault of `kind` on the next call of `method path`.
    pub async fn fail_next(
        &self,
        method: &str,
        path: &str,
        kind: FaultKind,
    ) -> Result<(), reqwest::Error> {
        self.inject_fault(&Fault {
            method: method.into(),
            path: path.into(),
            count: 1,
            kind,
        })
        .await
    }
    #[doc(hidden)]
    pub fn _unused(_d: Duration) {}
}
