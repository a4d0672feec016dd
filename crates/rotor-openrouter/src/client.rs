//! The HTTP client: one request path ([`Client::execute`]) that builds the request, maps statuses to
//! [`Error`]s and applies the [`RetryPolicy`] according to how safe the call is to repeat.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::Rng;
use reqwest::{
    Method, StatusCode,
    header::{AUTHORIZATION, HeaderMap, HeaderValue},
};
use serde::{Deserialize, de::DeserializeOwned};
use url::Url;

use crate::{
    ApiKey, CompletionResponse, CreateGuardrailRequest, CreateKeyRequest, CreatedKey, CurrentKey,
    Error, Guardrail, Key, KeyAssignment, ListKeysOptions, UpdateKeyRequest, Workspace,
    rate_limit::{RateGate, RateLimitStatus},
    response::{self, scrub, status_error, transport_message},
};

/// Keys per `GET /keys` page (OpenRouter's page size).
pub const PAGE_SIZE: usize = 100;

/// `list_keys` gives up after this many non-empty pages (a million keys): a server that ignores
/// `offset` must not make it loop for ever.
pub const MAX_PAGES: usize = 10_000;

/// Keys re-read at the start of each next page of `GET /keys`, so keys deleted while listing cannot
/// make another key fall between two pages.
pub const PAGE_OVERLAP: usize = 20;

/// Identical consecutive pages after which `GET /keys` is taken to ignore `offset`.
const MAX_REPEATED_PAGES: usize = 3;

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!("rotor/", env!("CARGO_PKG_VERSION"));

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
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The delay before retry number `retry` (1 = the first retry): full jitter, a uniformly
    /// random delay in `[0, min(max_backoff, initial_backoff * 2^(retry-1))]`; when the server sent
    /// `Retry-After`, at least that, but never more than `max_backoff`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self
            .initial_backoff
            .saturating_mul(exp)
            .min(self.max_backoff);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(rand::rng().random_range(0..=ceiling_ms));
        match retry_after {
            Some(at_least) => jittered.max(at_least).min(self.max_backoff),
            None => jittered,
        }
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
    /// Total per-attempt timeout, connect to last body byte (default 30 s).
    pub timeout: Duration,
    /// Retries of calls that are safe to repeat.
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

    /// Sets the TCP connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the total per-attempt timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// OpenRouter Management API client. Cheap to clone (shares one connection pool).
///
/// Every client of the same management key and base URL in the process (clones and separately
/// built ones) shares one rate-limit gate: when OpenRouter answers 429 (`Retry-After`, else
/// `X-RateLimit-Reset`) or reports `X-RateLimit-Remaining: 0`, no management call of any task
/// leaves before the limit resets. [`Client::rate_limit_status`] shows the waiting.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The validated base URL (no trailing `/`).
    base: Url,
    management_key: ApiKey,
    retry: RetryPolicy,
    gate: Arc<RateGate>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("management_key", &self.inner.management_key)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

/// How safely a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// GET, PATCH of absolute values, DELETE: retried on 429, 5xx, timeouts and connection errors.
    Idempotent,
    /// Retried only when it certainly did nothing (429, connect failure): a completion (costs
    /// money), `POST /keys` and other creates (no idempotency token).
    UnlessDone,
}

/// One logical call (possibly several attempts).
struct Call<'a> {
    method: Method,
    /// The route template for logs and messages, e.g. `/keys/{hash}` (never a key).
    route: &'static str,
    segments: &'a [&'a str],
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    key: &'a ApiKey,
    repeat: Repeat,
    /// A management-key call: goes through the shared rate-limit gate.
    gated: bool,
}

/// A successful (2xx) answer.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

/// A failed call.
struct Failure {
    error: Error,
    /// Some attempt may have taken effect at OpenRouter (its response was lost, or was a 5xx).
    maybe_took_effect: bool,
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

/// A page of `GET /guardrails`, `/workspaces`, `…/assignments/keys`.
#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(default)]
    total_count: Option<usize>,
}

/// Records per page of the offset/limit-paged lists (OpenRouter's maximum).
const LIST_LIMIT: usize = 100;

#[derive(Deserialize)]
struct Count {
    #[serde(alias = "unassigned_count")]
    assigned_count: u64,
}

impl Client {
    /// Builds a client; fails with [`Error::Config`] on a malformed base URL.
    ///
    /// The base URL must be `http` or `https` with a host and no query, fragment or credentials;
    /// it may or may not end with `/`.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = parse_base_url(&config.base_url)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // A redirect of a key-management call is unexpected; never follow it with the key.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config {
                message: format!(
                    "could not build the HTTP client: {}",
                    transport_message(&e, &[])
                ),
            })?;
        let gate = RateGate::shared(base.as_str(), config.management_key.expose());
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                management_key: config.management_key,
                retry: config.retry,
                gate,
            }),
        })
    }

    /// The shared rate-limit state of this client's management key: how many requests wait for
    /// the rate limit now, for how much longer, and how often they have waited (for progress
    /// displays: "waiting for the rate limit").
    pub fn rate_limit_status(&self) -> RateLimitStatus {
        self.inner.gate.status()
    }

    /// Times a request of this management key has waited for the rate limit.
    pub fn rate_limit_waits(&self) -> u64 {
        self.inner.gate.status().waits
    }

    /// The base URL in use (normalised: no trailing `/`).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// `GET /keys`, following pages (`offset` = 0, 100, 200…) until an empty page. Retried.
    ///
    /// Keys are returned newest first, each once (a key created while paging shifts the pages; the
    /// duplicate it causes is dropped). Fails with [`Error::Pagination`] if a page holds only keys
    /// already seen (the server ignores `offset`) or after [`MAX_PAGES`] pages.
    pub async fn list_keys(&self, options: &ListKeysOptions) -> Result<Vec<Key>, Error> {
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0usize;
        let mut first_page: Vec<String> = Vec::new();
        let mut repeats = 0usize;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("include_disabled", options.include_disabled.to_string()),
                ("offset", offset.to_string()),
            ];
            if options.include_expired {
                query.push(("include_expired", "true".to_owned()));
            }
            if let Some(ws) = &options.workspace_id {
                query.push(("workspace_id", ws.clone()));
            }
            let call = self.management_call(
                Method::GET,
                "/keys",
                &["keys"],
                query,
                None,
                Repeat::Idempotent,
            );
            let answer = self.execute(call).await.map_err(|f| f.error)?;
            let page: Data<Vec<Key>> = decode("GET /keys", &answer)?;
            if page.data.is_empty() {
                return Ok(keys);
            }
            let len = page.data.len();
            let hashes: Vec<String> = page.data.iter().map(|k| k.hash.clone()).collect();
            // A server that ignores `offset` answers every offset with the first page, forever.
            // A page that merely repeats keys is normal while keys are created and deleted (the list
            // is newest first, so new keys push older ones to higher offsets), and under that churn
            // even a short last page can come back identical; the first page cannot, several times
            // in a row, unless the whole list shifted by a page each time.
            if offset > 0 && hashes == first_page {
                repeats += 1;
                if repeats >= MAX_REPEATED_PAGES {
                    return Err(Error::Pagination {
                        message: format!(
                            "the page at offset {offset} was the first page again, {repeats} times in a row; the server seems to ignore `offset`"
                        ),
                    });
                }
            } else {
                repeats = 0;
            }
            for key in page.data {
                if seen.insert(key.hash.clone()) {
                    keys.push(key);
                }
            }
            if offset == 0 {
                first_page = hashes;
            }
            // Advance by what was returned minus an overlap: keys deleted meanwhile shift the older
            // ones to lower offsets, and without the overlap a key could fall between two pages
            // (a missed key would be a missed orphan). Duplicates are dropped by hash above.
            offset += if len > PAGE_OVERLAP {
                len - PAGE_OVERLAP
            } else {
                len
            };
        }
        Err(Error::Pagination {
            message: format!(
                "still getting keys after {MAX_PAGES} pages ({} keys); giving up",
                keys.len()
            ),
        })
    }

    /// All keys (disabled and expired ones included) whose name starts with `prefix`, newest
    /// first. This is how a create that ended in [`Error::OutcomeUnknown`] is recovered.
    pub async fn find_keys_by_name_prefix(
        &self,
        prefix: &str,
        workspace_id: Option<&str>,
    ) -> Result<Vec<Key>, Error> {
        let options = ListKeysOptions {
            include_disabled: true,
            include_expired: true,
            workspace_id: workspace_id.map(str::to_owned),
        };
        let mut keys = self.list_keys(&options).await?;
        keys.retain(|k| k.name.starts_with(prefix));
        Ok(keys)
    }

    /// `POST /keys` → 201. Retried (bounded, with back-off and jitter, after the shared rate-limit
    /// gate) only when nothing was created for certain: a 429, or a failure to connect at all.
    /// Never retried otherwise: a lost response, a timeout after sending, a 5xx, or a success body
    /// that cannot be read is [`Error::OutcomeUnknown`] (the key may exist: find it by name). A 4xx
    /// is a clean refusal (no key was made) and keeps its own type; so do a 429 and a connect
    /// failure once the retry budget is spent.
    pub async fn create_key(&self, request: &CreateKeyRequest) -> Result<CreatedKey, Error> {
        let body = to_json(request)?;
        let call = self.management_call(
            Method::POST,
            "/keys",
            &["keys"],
            Vec::new(),
            Some(body),
            Repeat::UnlessDone,
        );
        let name = request.name.clone();
        match self.execute(call).await {
            Ok(answer) => {
                decode::<CreatedKey>("POST /keys", &answer).map_err(|e| Error::OutcomeUnknown {
                    name,
                    message: format!(
                        "OpenRouter answered {} but its body could not be read ({e})",
                        answer.status
                    ),
                })
            }
            Err(Failure {
                error,
                maybe_took_effect: true,
            }) => {
                tracing::warn!(route = "POST /keys", key_name = %name, error = %error, "create key: outcome unknown");
                Err(Error::OutcomeUnknown {
                    name,
                    message: error.to_string(),
                })
            }
            Err(Failure { error, .. }) => Err(error),
        }
    }

    /// `GET /keys/{hash}`. Retried.
    pub async fn get_key(&self, hash: &str) -> Result<Key, Error> {
        check_hash(hash)?;
        let segments = ["keys", hash];
        let call = self.management_call(
            Method::GET,
            "/keys/{hash}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Key>>("GET /keys/{hash}", &answer)?.data)
    }

    /// `PATCH /keys/{hash}` with only the fields given. Retried (PATCH of absolute values is
    /// idempotent).
    pub async fn update_key(&self, hash: &str, request: &UpdateKeyRequest) -> Result<Key, Error> {
        check_hash(hash)?;
        let segments = ["keys", hash];
        let body = to_json(request)?;
        let call = self.management_call(
            Method::PATCH,
            "/keys/{hash}",
            &segments,
            Vec::new(),
            Some(body),
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Key>>("PATCH /keys/{hash}", &answer)?.data)
    }

    /// `DELETE /keys/{hash}`. Retried.
    ///
    /// A 404 on the *first* attempt is [`Error::NotFound`] (callers treat it as "already gone").
    /// A 404 on a *retry*, after an earlier attempt whose response was lost or was a 5xx, is
    /// reported as success: that earlier attempt most likely deleted the key.
    pub async fn delete_key(&self, hash: &str) -> Result<(), Error> {
        check_hash(hash)?;
        let segments = ["keys", hash];
        let call = self.management_call(
            Method::DELETE,
            "/keys/{hash}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        match self.execute(call).await {
            Ok(_) => Ok(()),
            Err(Failure {
                error,
                maybe_took_effect: true,
            }) if error.is_not_found() => {
                tracing::info!(key_hash = %hash, "delete key: 404 on a retry after a lost response; the earlier attempt deleted it");
                Ok(())
            }
            Err(f) => Err(f.error),
        }
    }

    /// `GET /key` called *with `key`* (not the management key): what `key` says about itself.
    /// Retried.
    pub async fn current_key(&self, key: &ApiKey) -> Result<CurrentKey, Error> {
        let call = Call {
            method: Method::GET,
            route: "/key",
            segments: &["key"],
            query: Vec::new(),
            body: None,
            key,
            repeat: Repeat::Idempotent,
            gated: false,
        };
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<CurrentKey>>("GET /key", &answer)?.data)
    }

    /// `POST /chat/completions` with `key`: one minimal completion (`max_tokens` 1) on `model`.
    /// Proves the key can really be used. Not retried on 5xx or timeouts (it costs money); 429
    /// (honouring `Retry-After`) and failures to connect are retried.
    pub async fn chat_completion(
        &self,
        key: &ApiKey,
        model: &str,
    ) -> Result<CompletionResponse, Error> {
        let body = to_json(&serde_json::json!({
            "model": model,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        }))?;
        let call = Call {
            method: Method::POST,
            route: "/chat/completions",
            segments: &["chat", "completions"],
            query: Vec::new(),
            body: Some(body),
            key,
            repeat: Repeat::UnlessDone,
            gated: false,
        };
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        decode("POST /chat/completions", &answer)
    }

    fn management_call<'a>(
        &'a self,
        method: Method,
        route: &'static str,
        segments: &'a [&'a str],
        query: Vec<(&'static str, String)>,
        body: Option<Vec<u8>>,
        repeat: Repeat,
    ) -> Call<'a> {
        Call {
            method,
            route,
            segments,
            query,
            body,
            key: &self.inner.management_key,
            repeat,
            gated: true,
        }
    }

    /// A management `GET` of an offset/limit-paged list (`{"data":[…],"total_count":n}`), every
    /// page. Retried.
    async fn list_paged<T: DeserializeOwned>(
        &self,
        route: &'static str,
        segments: &[&str],
        extra: Vec<(&'static str, String)>,
    ) -> Result<Vec<T>, Error> {
        let mut out: Vec<T> = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut query = extra.clone();
            query.push(("offset", out.len().to_string()));
            query.push(("limit", LIST_LIMIT.to_string()));
            let call = self.management_call(
                Method::GET,
                route,
                segments,
                query,
                None,
                Repeat::Idempotent,
            );
            let answer = self.execute(call).await.map_err(|f| f.error)?;
            let page: Page<T> = decode(&format!("GET {route}"), &answer)?;
            let len = page.data.len();
            out.extend(page.data);
            let done = len == 0
                || len < LIST_LIMIT
                || page.total_count.is_some_and(|total| out.len() >= total);
            if done {
                return Ok(out);
            }
        }
        Err(Error::Pagination {
            message: format!("GET {route}: still getting records after {MAX_PAGES} pages"),
        })
    }

    /// `GET /guardrails` (every page), of `workspace_id` or, by default, the default workspace.
    /// Retried.
    pub async fn list_guardrails(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<Guardrail>, Error> {
        let query = workspace_id
            .map(|w| vec![("workspace_id", w.to_owned())])
            .unwrap_or_default();
        self.list_paged("/guardrails", &["guardrails"], query).await
    }

    /// `GET /guardrails/{id}`. Retried.
    pub async fn get_guardrail(&self, id: &str) -> Result<Guardrail, Error> {
        check_id(id, "guardrail id")?;
        let segments = ["guardrails", id];
        let call = self.management_call(
            Method::GET,
            "/guardrails/{id}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Guardrail>>("GET /guardrails/{id}", &answer)?.data)
    }

    /// `POST /guardrails` → 201. Retried only on a 429 or a failure to connect (nothing was
    /// created); a lost response is a plain error (list guardrails by name to find out).
    pub async fn create_guardrail(
        &self,
        request: &CreateGuardrailRequest,
    ) -> Result<Guardrail, Error> {
        let body = to_json(request)?;
        let call = self.management_call(
            Method::POST,
            "/guardrails",
            &["guardrails"],
            Vec::new(),
            Some(body),
            Repeat::UnlessDone,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Guardrail>>("POST /guardrails", &answer)?.data)
    }

    /// `DELETE /guardrails/{id}` (its key assignments go with it). Retried; a 404 on a retry
    /// after a lost response is success.
    pub async fn delete_guardrail(&self, id: &str) -> Result<(), Error> {
        check_id(id, "guardrail id")?;
        let segments = ["guardrails", id];
        let call = self.management_call(
            Method::DELETE,
            "/guardrails/{id}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        match self.execute(call).await {
            Ok(_) => Ok(()),
            Err(Failure {
                error,
                maybe_took_effect: true,
            }) if error.is_not_found() => Ok(()),
            Err(f) => Err(f.error),
        }
    }

    /// `GET /guardrails/{id}/assignments/keys` (every page). Retried.
    pub async fn list_guardrail_key_assignments(
        &self,
        id: &str,
    ) -> Result<Vec<KeyAssignment>, Error> {
        check_id(id, "guardrail id")?;
        self.list_paged(
            "/guardrails/{id}/assignments/keys",
            &["guardrails", id, "assignments", "keys"],
            Vec::new(),
        )
        .await
    }

    /// `GET /guardrails/assignments/keys`: every key assignment of the account. Retried.
    pub async fn list_key_assignments(&self) -> Result<Vec<KeyAssignment>, Error> {
        self.list_paged(
            "/guardrails/assignments/keys",
            &["guardrails", "assignments", "keys"],
            Vec::new(),
        )
        .await
    }

    /// `POST /guardrails/{id}/assignments/keys` `{"key_hashes":[…]}`: assigns the keys; returns
    /// how many were newly assigned. Retried (assigning twice changes nothing, though a retry after
    /// a lost response reports 0 for keys the lost attempt assigned).
    pub async fn assign_keys_to_guardrail(
        &self,
        id: &str,
        key_hashes: &[&str],
    ) -> Result<u64, Error> {
        self.bulk_assignment(id, key_hashes, false).await
    }

    /// `POST /guardrails/{id}/assignments/keys/remove` `{"key_hashes":[…]}`: unassigns the keys;
    /// returns how many were assigned. Retried, like [`Client::assign_keys_to_guardrail`].
    pub async fn unassign_keys_from_guardrail(
        &self,
        id: &str,
        key_hashes: &[&str],
    ) -> Result<u64, Error> {
        self.bulk_assignment(id, key_hashes, true).await
    }

    async fn bulk_assignment(
        &self,
        id: &str,
        key_hashes: &[&str],
        remove: bool,
    ) -> Result<u64, Error> {
        check_id(id, "guardrail id")?;
        if key_hashes.is_empty() || key_hashes.iter().any(|h| h.trim().is_empty()) {
            return Err(Error::InvalidInput {
                message: "key_hashes must be a non-empty list of non-empty key hashes".to_owned(),
            });
        }
        let body = to_json(&serde_json::json!({ "key_hashes": key_hashes }))?;
        let (route, segments): (&'static str, Vec<&str>) = if remove {
            (
                "/guardrails/{id}/assignments/keys/remove",
                vec!["guardrails", id, "assignments", "keys", "remove"],
            )
        } else {
            (
                "/guardrails/{id}/assignments/keys",
                vec!["guardrails", id, "assignments", "keys"],
            )
        };
        let call = self.management_call(
            Method::POST,
            route,
            &segments,
            Vec::new(),
            Some(body),
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Count>(&format!("POST {route}"), &answer)?.assigned_count)
    }

    /// `GET /workspaces` (every page). Retried.
    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, Error> {
        self.list_paged("/workspaces", &["workspaces"], Vec::new())
            .await
    }

    /// `GET /workspaces/{id}` (`id` or slug). Retried.
    pub async fn get_workspace(&self, id: &str) -> Result<Workspace, Error> {
        check_id(id, "workspace id")?;
        let segments = ["workspaces", id];
        let call = self.management_call(
            Method::GET,
            "/workspaces/{id}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Workspace>>("GET /workspaces/{id}", &answer)?.data)
    }

    /// `base` + `segments`, each percent-encoded as one path segment.
    fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config {
                message: format!("base URL {} cannot have a path", self.inner.base),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Runs `call`, retrying per its [`Repeat`] and the [`RetryPolicy`].
    async fn execute(&self, call: Call<'_>) -> Result<Answer, Failure> {
        let fail = |error| Failure {
            error,
            maybe_took_effect: false,
        };
        let url = self.url(call.segments).map_err(fail)?;
        let auth = bearer(call.key).map_err(fail)?;
        let policy = &self.inner.retry;
        let max_attempts = policy.max_attempts.max(1);
        let started = Instant::now();
        let mut maybe_took_effect = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (error, this_took_effect, nothing_done) =
                match self.attempt(&call, &url, &auth).await {
                    Ok(answer) => return Ok(answer),
                    Err(outcome) => outcome,
                };
            maybe_took_effect |= this_took_effect;
            let retryable = match call.repeat {
                Repeat::Idempotent => error.is_transient(),
                Repeat::UnlessDone => nothing_done && error.is_transient(),
            };
            if !retryable {
                return Err(Failure {
                    error,
                    maybe_took_effect,
                });
            }
            let delay = policy.backoff(attempt, error.retry_after());
            // The next attempt also waits at the rate-limit gate: that counts against the budget.
            let gate_left = if call.gated {
                self.inner.gate.status().wait_left.unwrap_or_default()
            } else {
                Duration::ZERO
            };
            if attempt >= max_attempts
                || started.elapsed() + delay.max(gate_left) > policy.max_elapsed
            {
                tracing::warn!(
                    method = %call.method, route = call.route, attempts = attempt,
                    elapsed_ms = started.elapsed().as_millis() as u64, error = %error,
                    "OpenRouter call failed; retry budget spent"
                );
                return Err(Failure {
                    error,
                    maybe_took_effect,
                });
            }
            tracing::warn!(
                method = %call.method, route = call.route, attempt, delay_ms = delay.as_millis() as u64,
                error = %error, "OpenRouter call failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt. On failure: the error, whether the attempt may have taken effect, and whether
    /// it certainly did nothing (refused with 429 or never connected).
    async fn attempt(
        &self,
        call: &Call<'_>,
        url: &Url,
        auth: &HeaderValue,
    ) -> Result<Answer, (Error, bool, bool)> {
        let known = [call.key.expose(), self.inner.management_key.expose()];
        let transport = |e: reqwest::Error| {
            let connected = !e.is_connect();
            let message = format!(
                "{} {}: {}",
                call.method,
                call.route,
                transport_message(&e, &known)
            );
            let error = if e.is_timeout() {
                Error::Timeout { message }
            } else {
                Error::Connection { message }
            };
            (error, connected, !connected)
        };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth.clone());
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url.clone())
            .headers(headers);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )
                .body(body.clone());
        }
        if call.gated {
            self.inner.gate.wait(call.route).await;
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if call.gated {
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| response::parse_retry_after(v, std::time::SystemTime::now()));
            self.inner.gate.observe(
                status.as_u16(),
                &headers,
                retry_after,
                self.inner.retry.initial_backoff,
            );
        }
        // The request was processed: a body that fails to arrive leaves the outcome open.
        let body = response.bytes().await.map_err(|e| {
            let (error, _, _) = transport(e);
            (error, true, false)
        })?;
        if status.is_success() {
            return Ok(Answer {
                status,
                body: body.to_vec(),
            });
        }
        let error = status_error(status, &headers, &body, &known);
        let took_effect = status.is_server_error();
        let nothing_done = status == StatusCode::TOO_MANY_REQUESTS;
        Err((error, took_effect, nothing_done))
    }
}

/// Validates and normalises a base URL.
fn parse_base_url(raw: &str) -> Result<Url, Error> {
    let bad = |why: &str| Error::Config {
        message: format!(
            "base URL {:?} {why}; expected e.g. {DEFAULT_BASE_URL}",
            scrub(raw, &[])
        ),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("must use http or https"));
    }
    if url.host().is_none() || url.cannot_be_a_base() {
        return Err(bad("has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// The `Authorization` header for `key`, marked sensitive (never logged by the HTTP stack).
fn bearer(key: &ApiKey) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| Error::InvalidInput {
        message: format!(
            "key {key} contains characters that cannot be sent in an HTTP header; check the file or variable it came from"
        ),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn check_id(id: &str, what: &str) -> Result<(), Error> {
    if id.trim().is_empty() {
        return Err(Error::InvalidInput {
            message: format!("the {what} is empty"),
        });
    }
    Ok(())
}

fn check_hash(hash: &str) -> Result<(), Error> {
    if hash.trim().is_empty() {
        return Err(Error::InvalidInput {
            message: "the key hash is empty".to_owned(),
        });
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidInput {
        message: format!("could not encode the request body: {e}"),
    })
}

fn decode<T: DeserializeOwned>(route: &str, answer: &Answer) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
        message: response::truncate(
            &scrub(&format!("{route} ({}): {e}", answer.status), &[]),
            response::MAX_MESSAGE_CHARS,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "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";

    fn client(base: &str) -> Result<Client, Error> {
        Client::new(ClientConfig::new(base, ApiKey::new(KEY)))
    }

    #[test]
    fn base_url_with_or_without_trailing_slash() {
        for base in [
            "http://127.0.0.1:8080/api/v1",
            "http://127.0.0.1:8080/api/v1/",
            "http://127.0.0.1:8080/api/v1//",
        ] {
            let c = client(base).unwrap();
            assert_eq!(c.base_url(), "http://127.0.0.1:8080/api/v1");
            assert_eq!(
                c.url(&["keys"]).unwrap().as_str(),
                "http://127.0.0.1:8080/api/v1/keys"
            );
            assert_eq!(
                c.url(&["keys", "ab12"]).unwrap().as_str(),
                "http://127.0.0.1:8080/api/v1/keys/ab12"
            );
        }
        let c = client("https://example.com").unwrap();
        assert_eq!(c.url(&["key"]).unwrap().as_str(), "https://example.com/key");
        assert_eq!(
            client(DEFAULT_BASE_URL).unwrap().base_url(),
            DEFAULT_BASE_URL
        );
    }

    #[test]
    fn hash_cannot_escape_its_path_segment() {
        let c = client("http://127.0.0.1:8080/api/v1").unwrap();
        let url = c.url(&["keys", "../key?x=1#y"]).unwrap();
        assert_eq!(url.path(), "/api/v1/keys/..%2Fkey%3Fx=1%23y");
        assert!(url.query().is_none());
    }

    #[test]
    fn bad_base_urls_are_config_errors() {
        for base in [
            "",
            "not a url",
            "ftp://example.com/api/v1",
            "http://example.com/api/v1?x=1",
            "mailto:a@b.c",
            "https://user:pw@example.com/",
        ] {
            assert!(matches!(client(base), Err(Error::Config { .. })), "{base}");
        }
        let err = client(&format!("https://example.com/{KEY}?"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(&KEY[9..]), "{err}");
    }

    #[test]
    fn debug_never_shows_the_management_key() {
        let c = client("http://127.0.0.1:8080/api/v1").unwrap();
        let dbg = format!("{c:?} {c:#?}");
        assert!(!dbg.contains(&KEY[12..69]), "{dbg}");
        assert!(dbg.contains("sk-or-v1-0e6...1c96"));
    }

    #[test]
    fn bearer_header_is_sensitive_and_errors_redact() {
        let v = bearer(&ApiKey::new(KEY)).unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains(&KEY[12..69]));
        let bad = ApiKey::new(format!("{}\u{7f}x", &KEY[..40]));
        let err = bearer(&bad).unwrap_err().to_string();
        assert!(!err.contains(&KEY[12..40]), "{err}");
    }

    #[test]
    fn backoff_stays_within_bounds() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(60),
        };
        for _ in 0..200 {
            assert!(p.backoff(1, None) <= Duration::from_millis(100));
            assert!(p.backoff(3, None) <= Duration::from_millis(400));
            assert!(p.backoff(30, None) <= Duration::from_secs(2));
            assert!(p.backoff(u32::MAX, None) <= Duration::from_secs(2));
            // Retry-After is a floor, max_backoff a ceiling.
            let d = p.backoff(1, Some(Duration::from_secs(1)));
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(2),
                "{d:?}"
            );
            assert_eq!(
                p.backoff(1, Some(Duration::from_secs(30))),
                Duration::from_secs(2)
            );
        }
        // Full jitter: delays are spread, not constant.
        let spread: HashSet<_> = (0..50).map(|_| p.backoff(5, None)).collect();
        assert!(spread.len() > 5);
        // A zero initial back-off never sleeps (unless told to).
        let zero = RetryPolicy {
            initial_backoff: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.backoff(4, None), Duration::ZERO);
    }
}
