//! Keys: `/api/v1/keys`, `/api/v1/keys/{hash}`, and `/api/v1/key` (and the older
//! `/api/v1/auth/key`), where any usable key inspects itself.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, RawQuery, State as AxumState},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    error::ApiError,
    request::{
        bearer, management_account, parse_bool, parse_expires_at, parse_limit, parse_limit_reset,
        parse_name, parse_object, parse_workspace_id, usable,
    },
    shared::{Inner, Shared, persist},
    state::{Caller, StoredKey, rfc3339},
};

type ApiResult = Result<Response, ApiError>;

/// `GET /api/v1/keys`
pub(crate) async fn list_keys(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let mut include_disabled = false;
    let mut include_expired = false;
    let mut offset = 0usize;
    let mut workspace = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            (_, "") => {}
            ("include_disabled", "true") => include_disabled = true,
            ("include_disabled", "false") => include_disabled = false,
            ("include_disabled", _) => {
                return Err(ApiError::bad_request(
                    "include_disabled must be \"true\" or \"false\"",
                ));
            }
            ("include_expired", "true") => include_expired = true,
            ("include_expired", "false") => include_expired = false,
            ("include_expired", _) => {
                return Err(ApiError::bad_request(
                    "include_expired must be \"true\" or \"false\"",
                ));
            }
            ("offset", v) => {
                offset = v
                    .parse()
                    .map_err(|_| ApiError::bad_request("offset must be an integer >= 0"))?;
            }
            ("workspace_id", v) => workspace = Some(parse_workspace_id(v)?),
            _ => {}
        }
    }
    let acct = &inner.state.accounts[account];
    let workspace = workspace.unwrap_or_else(|| acct.workspace_id.clone());
    let data: Vec<Value> = inner
        .state
        .keys
        .iter()
        .rev()
        .filter(|k| k.account == acct.id && !k.deleted && k.workspace_id == workspace)
        .filter(|k| include_disabled || !k.disabled)
        .filter(|k| include_expired || !k.is_expired(now))
        .skip(offset)
        .take(100)
        .map(|k| k.to_json(now))
        .collect();
    Ok(Json(json!({ "data": data })).into_response())
}

/// `POST /api/v1/keys`
pub(crate) async fn create_key(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let body = parse_object(&body)?;
    let acct = inner.state.accounts[account].clone();
    let name = parse_name(body.get("name").unwrap_or(&Value::Null))?;
    let null = Value::Null;
    let field = |k: &str| body.get(k).unwrap_or(&null);
    let limit = parse_limit(field("limit"))?;
    let limit_reset = parse_limit_reset(field("limit_reset"))?;
    let include_byok_in_limit = match body.get("include_byok_in_limit") {
        None | Some(Value::Null) => false,
        Some(v) => parse_bool(v, "include_byok_in_limit")?,
    };
    let expires_at = parse_expires_at(field("expires_at"), now)?;
    let creator_user_id = match field("creator_user_id") {
        Value::Null => None,
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "creator_user_id must be a non-empty string or null",
            ));
        }
    };
    let workspace_id = match field("workspace_id") {
        Value::Null
            if inner
                .state
                .workspace_of(&acct.id, &acct.workspace_id)
                .is_none() =>
        {
            return Err(ApiError::bad_request(
                "the default workspace was deleted; pass workspace_id",
            ));
        }
        Value::Null => acct.workspace_id.clone(),
        Value::String(s) => existing_workspace(&inner, &acct.id, s)?,
        _ => return Err(ApiError::bad_request("workspace_id must be a UUID")),
    };
    let key = StoredKey {
        hash: String::new(),
        key_sha256: String::new(),
        account: acct.id.clone(),
        name,
        label: String::new(),
        disabled: false,
        deleted: false,
        limit,
        limit_reset,
        include_byok_in_limit,
        usage: 0.0,
        usage_daily: Default::default(),
        usage_weekly: Default::default(),
        usage_monthly: Default::default(),
        created_at: now,
        updated_at: None,
        expires_at,
        last_used_at: None,
        creator_user_id: creator_user_id.or_else(|| Some(acct.creator_user_id.clone())),
        workspace_id,
    };
    let (index, plaintext) = inner.state.insert_key(key);
    persist(&inner, &shared)?;
    let stored = &inner.state.keys[index];
    tracing::info!(hash = %stored.hash, account = %stored.account, name = %stored.name, "created key");
    let body = json!({ "data": stored.to_json(now), "key": plaintext });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/keys/{hash}`
pub(crate) async fn get_key(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let index = inner
        .state
        .key_of(&inner.state.accounts[account].id, &hash)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json!({ "data": inner.state.keys[index].to_json(now) })).into_response())
}

/// A live workspace of `account` (by UUID), or 400.
fn existing_workspace(inner: &Inner, account: &str, id: &str) -> Result<String, ApiError> {
    let id = parse_workspace_id(id)?;
    inner
        .state
        .workspace_of(account, &id)
        .map(|_| id)
        .ok_or_else(|| ApiError::bad_request("workspace_id: no such workspace"))
}

/// `PATCH /api/v1/keys/{hash}`: only the fields given; unknown fields ignored.
pub(crate) async fn update_key(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let index = inner
        .state
        .key_of(&inner.state.accounts[account].id, &hash)
        .ok_or_else(ApiError::not_found)?;
    let body = parse_object(&body)?;
    // Validate everything before changing anything.
    let name = body.get("name").map(parse_name).transpose()?;
    let disabled = body
        .get("disabled")
        .map(|v| parse_bool(v, "disabled"))
        .transpose()?;
    let limit = body.get("limit").map(parse_limit).transpose()?;
    let limit_reset = body.get("limit_reset").map(parse_limit_reset).transpose()?;
    let byok = body
        .get("include_byok_in_limit")
        .map(|v| parse_bool(v, "include_byok_in_limit"))
        .transpose()?;
    let account_id = inner.state.accounts[account].id.clone();
    let workspace = match body.get("workspace_id") {
        None => None,
        Some(Value::String(s)) => Some(existing_workspace(&inner, &account_id, s)?),
        Some(_) => return Err(ApiError::bad_request("workspace_id must be a UUID")),
    };
    let key = &mut inner.state.keys[index];
    if let Some(v) = workspace {
        // Guardrail assignments move with the key (they are by key hash).
        key.workspace_id = v;
    }
    if let Some(v) = name {
        key.name = v;
    }
    if let Some(v) = disabled {
        key.disabled = v;
    }
    if let Some(v) = limit {
        key.limit = v;
    }
    if let Some(v) = limit_reset {
        key.limit_reset = v;
    }
    if let Some(v) = byok {
        key.include_byok_in_limit = v;
    }
    key.updated_at = Some(now);
    tracing::info!(hash = %key.hash, disabled = key.disabled, updated_at = %rfc3339(now), "updated key");
    persist(&inner, &shared)?;
    Ok(Json(json!({ "data": inner.state.keys[index].to_json(now) })).into_response())
}

/// `DELETE /api/v1/keys/{hash}`
pub(crate) async fn delete_key(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let index = inner
        .state
        .key_of(&inner.state.accounts[account].id, &hash)
        .ok_or_else(ApiError::not_found)?;
    inner.state.keys[index].deleted = true;
    tracing::info!(hash = %hash, "deleted key");
    persist(&inner, &shared)?;
    Ok(Json(json!({ "deleted": true })).into_response())
}

/// `GET /api/v1/key` (and the older `/api/v1/auth/key`): any usable key inspects itself.
pub(crate) async fn current_key(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let data = match inner.state.identify(bearer(&headers)?) {
        Some(Caller::Management { account }) => inner.state.accounts[account].to_current_key_json(),
        Some(Caller::Ordinary { index }) if usable(&inner.state.keys[index], now) => {
            let guardrails: Vec<_> = inner
                .state
                .guardrails_of_key(index)
                .into_iter()
                .map(|g| &inner.state.guardrails[g])
                .collect();
            inner.state.keys[index].to_current_key_json(now, &guardrails)
        }
        _ => return Err(ApiError::user_not_found()),
    };
    Ok(Json(json!({ "data": data })).into_response())
}
