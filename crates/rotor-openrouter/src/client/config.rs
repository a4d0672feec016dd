//! How a [`Client`](super::Client) is configured: base URL, timeouts, retries, paging limits.

use super::*;

/// Keys per `GET /keys` page (OpenRouter's page size).
pub const PAGE_SIZE: usize = 100;

/// `list_keys` gives up after this many non-empty pages (a million keys): a server that ignores
/// `offset` must not make it loop for ever.
pub const MAX_PAGES: usize = 10_000;

/// Keys re-read at the start of each next page of `GET /keys`, so keys deleted while listing cannot
/// make another key fall between two pages.
pub const PAGE_OVERLAP: usize = 20;

/// Identical consecutive pages after which `GET /keys` is taken to ignore `offset`.
pub(super) const MAX_REPEATED_PAGES: usize = 3;

/// The `User-Agent` of every request.
pub(super) const USER_AGENT: &str = concat!("rotor/", env!("CARGO_PKG_VERSION"));

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
