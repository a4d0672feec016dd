//! HTTP client for the emulator's `/_emulator/` test controls (real HTTP, used by tests in every
//! crate). (Skeleton.)

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What an injected fault does to a matching call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status in OpenRouter's error envelope (optionally with `Retry-After`
    /// seconds) without performing the operation.
    Status { status: u16, #[serde(default, skip_serializing_if = "Option::is_none")] retry_after: Option<u64> },
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

/// A new, separate account (for "key belongs to another account" tests).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAccount {
    pub account: String,
    pub management_key: String,
}

/// Client for `/_emulator/`.
#[derive(Debug, Clone)]
pub struct ControlClient {
    _private: (),
}

impl ControlClient {
    /// `root` is the server root, e.g. `http://127.0.0.1:41234` (no `/api/v1`).
    pub fn new(_root: impl Into<String>) -> Self {
        todo!()
    }
    /// `POST /_emulator/faults`
    pub async fn inject_fault(&self, _fault: &Fault) -> Result<(), reqwest::Error> {
        todo!()
    }
    /// `POST /_emulator/keys/{hash}/usage` `{"amount": f64}`
    pub async fn add_usage(&self, _hash: &str, _amount: f64) -> Result<(), reqwest::Error> {
        todo!()
    }
    /// `GET /_emulator/counters`: requests per `"METHOD /route/template"`, e.g. `"POST /api/v1/keys"`.
    pub async fn counters(&self) -> Result<std::collections::BTreeMap<String, u64>, reqwest::Error> {
        todo!()
    }
    /// `GET /_emulator/keys`: every key of every account, deleted ones included.
    pub async fn keys(&self) -> Result<Vec<EmulatedKey>, reqwest::Error> {
        todo!()
    }
    /// `POST /_emulator/accounts`: a new account with its own management key.
    pub async fn create_account(&self) -> Result<NewAccount, reqwest::Error> {
        todo!()
    }
    /// `POST /_emulator/reset`: forget all keys and faults (management keys stay).
    pub async fn reset(&self) -> Result<(), reqwest::Error> {
        todo!()
    }
    /// Convenience: a fault of `kind` on the next call of `method path`.
    pub async fn fail_next(&self, method: &str, path: &str, kind: FaultKind) -> Result<(), reqwest::Error> {
        self.inject_fault(&Fault { method: method.into(), path: path.into(), count: 1, kind }).await
    }
    #[doc(hidden)]
    pub fn _unused(_d: Duration) {}
}
