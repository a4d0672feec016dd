//! The layer every OpenRouter route goes through: request counters, injected faults, the
//! per-management-key rate limit.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State as AxumState},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    RateLimit, RetryAfterMode,
    control::FaultKind,
    error::ApiError,
    shared::{ConnectionAbort, Inner, RateWindow, Shared},
    state::Caller,
};

/// The rate-limit state of one request: the `X-RateLimit-*` values, and whether it was refused
/// (`Some(retry_after)` then).
struct RateInfo {
    limit: u32,
    remaining: u32,
    reset_ms: i64,
    refused: Option<Option<u64>>,
}

impl RateInfo {
    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset_ms.to_string()),
        ]
    }
}

/// Whether a fault's path pattern matches a request path (`*` = any one segment).
fn path_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let a: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| *p == "*" || p == a)
}

/// Counters, faults and the rate limit, in that order, before the handler.
pub(crate) async fn gate(
    AxumState(shared): AxumState<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or(path.clone());

    let (fault, limited) = {
        let mut inner = shared.lock();
        *inner
            .counters
            .entry(format!("{method} {template}"))
            .or_insert(0) += 1;
        let fault =
            match inner.faults.iter().position(|f| {
                f.method.eq_ignore_ascii_case(&method) && path_matches(&f.path, &path)
            }) {
                Some(i) => {
                    let f = inner.faults[i].kind.clone();
                    inner.faults[i].count = inner.faults[i].count.saturating_sub(1);
                    if inner.faults[i].count == 0 {
                        inner.faults.remove(i);
                    }
                    Some(f)
                }
                None => None,
            };
        let limited = match (&fault, shared.rate_limit) {
            (Some(FaultKind::Status { .. }), _) | (_, None) => None,
            (_, Some(limit)) => rate_limit_check(&mut inner, &request, limit, shared.retry_after),
        };
        (fault, limited)
    };

    match fault {
        Some(FaultKind::Status {
            status,
            retry_after,
        }) => {
            tracing::info!(%method, %path, status, "injected fault: status");
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return ApiError::for_status(status, retry_after).into_response();
        }
        Some(FaultKind::Delay { delay_ms }) => {
            tracing::info!(%method, %path, delay_ms, "injected fault: delay");
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        _ => {}
    }
    if let Some(RateInfo {
        refused: Some(retry_after),
        ..
    }) = &limited
    {
        let headers = limited.as_ref().map(RateInfo::headers).unwrap_or_default();
        return ApiError::rate_limited(*retry_after, headers).into_response();
    }
    if let Some(FaultKind::CommitThenDrop) = fault {
        tracing::info!(%method, %path, "injected fault: commit then drop");
        let abort = request.extensions().get::<ConnectionAbort>().cloned();
        let response = next.run(request).await;
        tracing::info!(%method, %path, status = response.status().as_u16(), "committed; dropping the connection");
        drop(response);
        return match abort {
            Some(ConnectionAbort(notify)) => {
                notify.notify_one();
                // The connection task drops the connection (and this future) without a response.
                std::future::pending::<Response>().await
            }
            // Impossible: every connection is served by `server::serve`, which inserts it.
            None => {
                tracing::error!(
                    "commit-then-drop without a connection handle; answering 500 instead"
                );
                ApiError::internal().into_response()
            }
        };
    }
    let mut response = next.run(request).await;
    if let Some(info) = limited {
        for (name, value) in info.headers() {
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
    }
    response
}

/// The rate-limit state of a management key's request (`None` for other callers). Counts the
/// request when it is let through.
fn rate_limit_check(
    inner: &mut Inner,
    request: &Request,
    limit: RateLimit,
    mode: RetryAfterMode,
) -> Option<RateInfo> {
    let token = crate::request::bearer(request.headers()).ok()?;
    let Some(Caller::Management { account }) = inner.state.identify(token) else {
        return None;
    };
    let now = Instant::now();
    let fresh = |refusals| RateWindow {
        start: now,
        // Rounded up: a client waiting until this instant must find the window over.
        reset_ms: chrono::Utc::now().timestamp_millis()
            + i64::try_from(limit.per.as_millis()).unwrap_or(i64::MAX / 2)
            + 1,
        count: 0,
        refusals,
    };
    let window = inner
        .rate_windows
        .entry(account)
        .or_insert_with(|| fresh(0));
    if now.duration_since(window.start) >= limit.per {
        *window = fresh(window.refusals);
    }
    if window.count >= limit.requests {
        let left = limit.per.saturating_sub(now.duration_since(window.start));
        let secs = left.as_secs_f64().ceil().max(1.0) as u64;
        window.refusals += 1;
        let send = match mode {
            RetryAfterMode::Always => true,
            RetryAfterMode::EveryOther => window.refusals % 2 == 1,
            RetryAfterMode::Never => false,
        };
        return Some(RateInfo {
            limit: limit.requests,
            remaining: 0,
            reset_ms: window.reset_ms,
            refused: Some(send.then_some(secs)),
        });
    }
    window.count += 1;
    Some(RateInfo {
        limit: limit.requests,
        remaining: limit.requests - window.count,
        reset_ms: window.reset_ms,
        refused: None,
    })
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn wildcard_segments() {
        assert!(path_matches("/api/v1/keys/*", "/api/v1/keys/abc"));
        assert!(!path_matches("/api/v1/keys/*", "/api/v1/keys"));
        assert!(path_matches("/api/v1/keys", "/api/v1/keys/"));
        assert!(!path_matches("/api/v1/key", "/api/v1/keys"));
    }
}
