//! Reading a request: who calls (the bearer token, a usable key, a management key's account),
//! the JSON body's fields, and the paging of list calls.

use axum::{
    Json,
    body::Bytes,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::{
    error::ApiError,
    shared::Inner,
    state::{Caller, LimitReset, StoredKey},
};

/// The bearer token of a request, or 401 `Missing Authentication header`.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::missing_auth)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(ApiError::missing_auth)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::missing_auth());
    }
    Ok(token)
}

/// Whether an ordinary key may authenticate: not deleted, not disabled, not expired.
pub(crate) fn usable(key: &StoredKey, now: DateTime<Utc>) -> bool {
    !key.deleted && !key.disabled && !key.is_expired(now)
}

/// The caller's account index if it is a management key; 401/403 otherwise.
pub(crate) fn management_account(
    inner: &Inner,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    match inner.state.identify(bearer(headers)?) {
        Some(Caller::Management { account }) => Ok(account),
        Some(Caller::Ordinary { index }) if usable(&inner.state.keys[index], now) => {
            Err(ApiError::management_only())
        }
        _ => Err(ApiError::user_not_found()),
    }
}

pub(crate) fn parse_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON object body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid JSON ({e})"
        ))),
    }
}

pub(crate) fn parse_name(v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(ApiError::bad_request("name must be a non-empty string")),
    }
}

pub(crate) fn parse_limit(v: &Value) -> Result<Option<f64>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f)),
            _ => Err(ApiError::bad_request("limit must be a number >= 0 or null")),
        },
        _ => Err(ApiError::bad_request("limit must be a number >= 0 or null")),
    }
}

pub(crate) fn parse_limit_reset(v: &Value) -> Result<Option<LimitReset>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => LimitReset::parse(s).map(Some).ok_or_else(|| {
            ApiError::bad_request("limit_reset must be daily, weekly, monthly or null")
        }),
        _ => Err(ApiError::bad_request(
            "limit_reset must be daily, weekly, monthly or null",
        )),
    }
}

pub(crate) fn parse_bool(v: &Value, field: &str) -> Result<bool, ApiError> {
    v.as_bool()
        .ok_or_else(|| ApiError::bad_request(format!("{field} must be a boolean")))
}

/// `expires_at` as OpenRouter documents it: ISO 8601 in UTC with seconds
/// (`YYYY-MM-DDTHH:MM:SSZ`, fractional seconds allowed, `Z` or `+00:00`), in the future.
/// Minute precision, other offsets, dates alone and past times are 400.
pub(crate) fn parse_expires_at(
    v: &Value,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    const SHAPE: &str = "expires_at must be an ISO 8601 UTC timestamp with seconds (YYYY-MM-DDTHH:MM:SSZ; fractional seconds allowed) or null";
    let s = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s.as_str(),
        _ => return Err(ApiError::bad_request(SHAPE)),
    };
    let local = if let Some(rest) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        rest
    } else if let Some(rest) = s.strip_suffix("+00:00") {
        rest
    } else if s.len() >= 25
        && matches!(s.as_bytes()[s.len() - 6], b'+' | b'-')
        && s.as_bytes()[s.len() - 3] == b':'
    {
        return Err(ApiError::bad_request(
            "expires_at must be in UTC (end with Z or +00:00); other timezones are rejected",
        ));
    } else {
        return Err(ApiError::bad_request(SHAPE));
    };
    // `YYYY-MM-DDTHH:MM` (no seconds) is rejected explicitly: OpenRouter refuses minute precision.
    let (date_time, fraction) = local.split_once('.').unwrap_or((local, ""));
    if date_time.len() != 19
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || local.ends_with('.')
    {
        let detail = if date_time.len() == 16 {
            "expires_at must include seconds (YYYY-MM-DDTHH:MM:SSZ); minute-precision timestamps are rejected"
        } else {
            SHAPE
        };
        return Err(ApiError::bad_request(detail));
    }
    let t = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f")
        .map_err(|_| ApiError::bad_request(SHAPE))?
        .and_utc();
    if t <= now {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    Ok(Some(t))
}

pub(crate) fn parse_workspace_id(s: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_request("workspace_id must be a UUID"))
}

/// The other query parameters of a list call.
pub(crate) type Rest = Vec<(String, String)>;

/// `offset` (≥ 0) and `limit` (1–100, default 50) of a list call.
pub(crate) fn page(query: Option<String>) -> Result<(usize, usize, Rest), ApiError> {
    let mut offset = 0usize;
    let mut limit = 50usize;
    let mut rest = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            (_, "") => {}
            ("offset", v) => {
                offset = v
                    .parse()
                    .map_err(|_| ApiError::bad_request("offset must be an integer >= 0"))?;
            }
            ("limit", v) => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| ApiError::bad_request("limit must be an integer 1-100"))?;
            }
            (k, v) => rest.push((k.to_owned(), v.to_owned())),
        }
    }
    Ok((offset, limit, rest))
}

pub(crate) fn listed(items: Vec<Value>, offset: usize, limit: usize) -> Response {
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    Json(json!({ "data": data, "total_count": total })).into_response()
}
