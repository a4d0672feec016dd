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

mod config;
mod guardrails;
mod transport;
mod workspaces;

pub use config::{ClientConfig, DEFAULT_BASE_URL, MAX_PAGES, PAGE_OVERLAP, PAGE_SIZE, RetryPolicy};
use config::{MAX_REPEATED_PAGES, USER_AGENT};
use transport::{
    Call, Data, Failure, Repeat, check_hash, check_id, decode, parse_base_url, to_json,
};

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
}

#[cfg(test)]
mod tests {
    use super::transport::bearer;
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
