//! The one request path: a [`Call`] becomes attempts ([`Client::execute`]), statuses become
//! [`Error`]s, and the [`RetryPolicy`] applies according to how safe the call is to repeat.

use super::*;

/// How safely a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// GET, PATCH of absolute values, DELETE: retried on 429, 5xx, timeouts and connection errors.
    Idempotent,
    /// Retried only when it certainly did nothing (429, connect failure): a completion (costs
    /// money), `POST /keys` and other creates (no idempotency token).
    UnlessDone,
}

/// One logical call (possibly several attempts).
pub(super) struct Call<'a> {
    pub(super) method: Method,
    /// The route template for logs and messages, e.g. `/keys/{hash}` (never a key).
    pub(super) route: &'static str,
    pub(super) segments: &'a [&'a str],
    pub(super) query: Vec<(&'static str, String)>,
    pub(super) body: Option<Vec<u8>>,
    pub(super) key: &'a ApiKey,
    pub(super) repeat: Repeat,
    /// A management-key call: goes through the shared rate-limit gate.
    pub(super) gated: bool,
}

/// A successful (2xx) answer.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

/// A failed call.
pub(super) struct Failure {
    pub(super) error: Error,
    /// Some attempt may have taken effect at OpenRouter (its response was lost, or was a 5xx).
    pub(super) maybe_took_effect: bool,
}

#[derive(Deserialize)]
pub(super) struct Data<T> {
    pub(super) data: T,
}

/// A page of `GET /guardrails`, `/workspaces`, `…/assignments/keys`.
#[derive(Deserialize)]
pub(super) struct Page<T> {
    pub(super) data: Vec<T>,
    #[serde(default)]
    pub(super) total_count: Option<usize>,
}

/// Records per page of the offset/limit-paged lists (OpenRouter's maximum).
pub(super) const LIST_LIMIT: usize = 100;

#[derive(Deserialize)]
pub(super) struct Count {
    #[serde(alias = "unassigned_count")]
    pub(super) assigned_count: u64,
}

impl Client {
    pub(super) fn management_call<'a>(
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
    pub(super) async fn list_paged<T: DeserializeOwned>(
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

    /// `base` + `segments`, each percent-encoded as one path segment.
    pub(super) fn url(&self, segments: &[&str]) -> Result<Url, Error> {
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
    pub(super) async fn execute(&self, call: Call<'_>) -> Result<Answer, Failure> {
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
    pub(super) async fn attempt(
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
pub(super) fn parse_base_url(raw: &str) -> Result<Url, Error> {
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
pub(super) fn bearer(key: &ApiKey) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| Error::InvalidInput {
        message: format!(
            "key {key} contains characters that cannot be sent in an HTTP header; check the file or variable it came from"
        ),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

pub(super) fn check_id(id: &str, what: &str) -> Result<(), Error> {
    if id.trim().is_empty() {
        return Err(Error::InvalidInput {
            message: format!("the {what} is empty"),
        });
    }
    Ok(())
}

pub(super) fn check_hash(hash: &str) -> Result<(), Error> {
    if hash.trim().is_empty() {
        return Err(Error::InvalidInput {
            message: "the key hash is empty".to_owned(),
        });
    }
    Ok(())
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidInput {
        message: format!("could not encode the request body: {e}"),
    })
}

pub(super) fn decode<T: DeserializeOwned>(route: &str, answer: &Answer) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
        message: response::truncate(
            &scrub(&format!("{route} ({}): {e}", answer.status), &[]),
            response::MAX_MESSAGE_CHARS,
        ),
    })
}
