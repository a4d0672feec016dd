//! The HTTP client. (Skeleton: bodies are filled in by the client implementation.)

use std::time::Duration;

use crate::{
    ApiKey, CompletionResponse, CreateKeyRequest, CreatedKey, CurrentKey, Error, Key,
    ListKeysOptions, UpdateKeyRequest,
};

/// OpenRouter's production API base URL.
pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";

/// Bounded retries with exponential back-off and full jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1 = no retry).
    pub max_attempts: u32,
    /// First back-off delay; doubles each attempt.
    pub initial_backoff: Duration,
    /// Largest single delay (also caps a `Retry-After` value).
    pub max_backoff: Duration,
    /// Total time budget across attempts and delays; no new attempt starts after it.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }
}

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL including `/api/v1`, e.g. [`DEFAULT_BASE_URL`] or an emulator's URL.
    pub base_url: String,
    /// The management key for `/keys*` calls.
    pub management_key: ApiKey,
    /// TCP connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Total per-request timeout (default 30 s).
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Defaults for everything but the URL and the key.
    pub fn new(base_url: impl Into<String>, management_key: ApiKey) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            management_key,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// OpenRouter Management API client. Cheap to clone (shares one connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    _private: (),
}

impl Client {
    /// Builds a client; fails with [`Error::Config`] on a malformed base URL.
    pub fn new(_config: ClientConfig) -> Result<Self, Error> {
        todo!()
    }

    /// The base URL in use.
    pub fn base_url(&self) -> &str {
        todo!()
    }

    /// `GET /keys`, following pages (`offset` = 0, 100, 200…) until an empty page. Retried.
    pub async fn list_keys(&self, _options: &ListKeysOptions) -> Result<Vec<Key>, Error> {
        todo!()
    }

    /// `POST /keys` → 201. Never retried: a lost response is [`Error::OutcomeUnknown`].
    pub async fn create_key(&self, _request: &CreateKeyRequest) -> Result<CreatedKey, Error> {
        todo!()
    }

    /// `GET /keys/{hash}`. Retried.
    pub async fn get_key(&self, _hash: &str) -> Result<Key, Error> {
        todo!()
    }

    /// `PATCH /keys/{hash}` with only the fields given. Retried (PATCH of absolute values is
    /// idempotent).
    pub async fn update_key(&self, _hash: &str, _request: &UpdateKeyRequest) -> Result<Key, Error> {
        todo!()
    }

    /// `DELETE /keys/{hash}`. Retried; a 404 on a retry after a lost response is reported as
    /// [`Error::NotFound`] (callers treat 404 as "already gone").
    pub async fn delete_key(&self, _hash: &str) -> Result<(), Error> {
        todo!()
    }

    /// `GET /key` called *with `key`* (not the management key): what `key` says about itself.
    /// Retried.
    pub async fn current_key(&self, _key: &ApiKey) -> Result<CurrentKey, Error> {
        todo!()
    }

    /// `POST /chat/completions` with `key`: one minimal completion (`max_tokens` 1) on `model`.
    /// Proves the key can really be used. Not retried on 5xx (it costs money); 429 with
    /// `Retry-After` is retried.
    pub async fn chat_completion(&self, _key: &ApiKey, _model: &str) -> Result<CompletionResponse, Error> {
        todo!()
    }
}
