//! Guardrails (`/guardrails*`, with key assignments and their enforcement on completions),
//! shaped like OpenRouter's official SDKs expect them.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, RawQuery, State as AxumState},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::{
    error::ApiError,
    request::{
        listed, management_account, page, parse_bool, parse_name, parse_object, parse_workspace_id,
    },
    shared::{Inner, Shared, persist},
    state::{LimitReset, StoredAssignment, StoredGuardrail},
};

type ApiResult = Result<Response, ApiError>;

/// Nullable booleans of a guardrail.
const BOOL_FIELDS: &[&str] = &[
    "allow_safety_retention_google",
    "allow_safety_retention_other",
    "enable_free_model_publication",
    "enable_free_model_training",
    "enable_paid_model_training",
    "enforce_zdr",
    "enforce_zdr_anthropic",
    "enforce_zdr_google",
    "enforce_zdr_openai",
    "enforce_zdr_other",
    "enforce_zdr_xai",
];
/// What the deprecated `enforce_zdr` is copied into, when not given explicitly.
const ZDR_FIELDS: &[&str] = &[
    "enforce_zdr_anthropic",
    "enforce_zdr_google",
    "enforce_zdr_openai",
    "enforce_zdr_other",
    "enforce_zdr_xai",
];
/// Nullable lists of strings.
const LIST_FIELDS: &[&str] = &[
    "allowed_models",
    "allowed_providers",
    "ignored_models",
    "ignored_providers",
];
/// Nullable arrays kept as given (content filters are not enforced).
const OPAQUE_ARRAYS: &[&str] = &["content_filters", "content_filter_builtins"];
const REGIONS: &[&str] = &["global", "europe", "us"];

/// Validates the guardrail fields of `body` into `settings` (the fields not given stay).
fn apply_settings(
    settings: &mut Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (k, v) in body {
        let k = k.as_str();
        let ok = if k == "description" {
            v.is_null() || v.is_string()
        } else if BOOL_FIELDS.contains(&k) {
            v.is_null() || v.is_boolean()
        } else if LIST_FIELDS.contains(&k) {
            v.is_null()
                || v.as_array()
                    .is_some_and(|a| a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty())))
        } else if OPAQUE_ARRAYS.contains(&k) {
            v.is_null() || v.is_array()
        } else if k == "allowed_data_regions" {
            v.is_null()
                || v.as_array().is_some_and(|a| {
                    !a.is_empty()
                        && a.iter()
                            .all(|r| r.as_str().is_some_and(|r| REGIONS.contains(&r)))
                })
        } else if k == "limit_usd" {
            v.is_null() || v.as_f64().is_some_and(|f| f.is_finite() && f >= 0.0)
        } else if k == "reset_interval" {
            v.is_null() || v.as_str().and_then(LimitReset::parse).is_some()
        } else {
            continue; // name, workspace_id, include_byok_in_budgets: by the caller; others ignored
        };
        if !ok {
            let expected = match k {
                "allowed_data_regions" => "a non-empty array of global, europe, us, or null",
                "limit_usd" => "a number >= 0 or null",
                "reset_interval" => "daily, weekly, monthly or null",
                "description" => "a string or null",
                _ if BOOL_FIELDS.contains(&k) => "a boolean or null",
                _ if LIST_FIELDS.contains(&k) => "an array of non-empty strings or null",
                _ => "an array or null",
            };
            return Err(ApiError::bad_request(format!("{k} must be {expected}")));
        }
        settings.insert(k.to_owned(), v.clone());
    }
    if let Some(zdr) = body.get("enforce_zdr").filter(|v| !v.is_null()) {
        for f in ZDR_FIELDS {
            if !body.contains_key(*f) {
                settings.insert((*f).to_owned(), zdr.clone());
            }
        }
    }
    let set = |f: &str| settings.get(f).is_some_and(|v| !v.is_null());
    if set("limit_usd") != set("reset_interval") {
        return Err(ApiError::bad_request(
            "limit_usd and reset_interval must be provided together",
        ));
    }
    Ok(())
}

/// Refuses (403) a completion on `model` costing `cost` that `guardrail` does not allow.
pub(crate) fn enforce(
    guardrail: &StoredGuardrail,
    model: &str,
    cost: f64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let forbid = |what: String| {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{what} (guardrail {:?})", guardrail.name),
        ))
    };
    let base_model = model.split(':').next().unwrap_or(model);
    let provider = model
        .split('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let names = |field: &str| guardrail.list(field);
    if let Some(allowed) = names("allowed_models") {
        if !allowed.iter().any(|m| m == model || m == base_model) {
            return forbid(format!("Model {model:?} is not allowed for this API key"));
        }
    }
    if names("ignored_models").is_some_and(|l| l.iter().any(|m| m == model || m == base_model)) {
        return forbid(format!("Model {model:?} is excluded for this API key"));
    }
    if let Some(allowed) = names("allowed_providers") {
        if !allowed.iter().any(|p| p.eq_ignore_ascii_case(&provider)) {
            return forbid(format!(
                "Provider {provider:?} is not allowed for this API key"
            ));
        }
    }
    if names("ignored_providers")
        .is_some_and(|l| l.iter().any(|p| p.eq_ignore_ascii_case(&provider)))
    {
        return forbid(format!(
            "Provider {provider:?} is excluded for this API key"
        ));
    }
    if let Some(remaining) = guardrail.remaining(now) {
        if remaining + 1e-12 < cost || remaining <= 0.0 {
            return forbid("Guardrail budget exceeded: the spending limit of this API key's guardrail is used up until it resets".to_owned());
        }
    }
    Ok(())
}

fn guardrail_index(inner: &Inner, account: usize, id: &str) -> Result<usize, ApiError> {
    inner
        .state
        .guardrail_of(&inner.state.accounts[account].id, id)
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/v1/guardrails` (`workspace_id` filter; default: the default workspace).
pub(crate) async fn list_guardrails(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let (offset, limit, rest) = page(query)?;
    let acct = &inner.state.accounts[account];
    let mut workspace = acct.workspace_id.clone();
    for (k, v) in rest {
        if k == "workspace_id" {
            workspace = parse_workspace_id(&v)?;
        }
    }
    let items = inner
        .state
        .guardrails
        .iter()
        .filter(|g| g.account == acct.id && !g.deleted)
        .filter(|g| g.workspace_id.as_deref() == Some(workspace.as_str()))
        .map(StoredGuardrail::to_json)
        .collect();
    Ok(listed(items, offset, limit))
}

/// `POST /api/v1/guardrails` → 201 `{"data": Guardrail}`
pub(crate) async fn create_guardrail(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let body = parse_object(&body)?;
    let name = parse_name(body.get("name").unwrap_or(&Value::Null))?;
    let acct = inner.state.accounts[account].clone();
    let workspace_id = match body.get("workspace_id") {
        None | Some(Value::Null) => acct.workspace_id.clone(),
        Some(Value::String(s)) => parse_workspace_id(s)?,
        Some(_) => return Err(ApiError::bad_request("workspace_id must be a UUID")),
    };
    if inner.state.workspace_of(&acct.id, &workspace_id).is_none() {
        return Err(ApiError::bad_request("workspace_id: no such workspace"));
    }
    let include_byok_in_budgets = match body.get("include_byok_in_budgets") {
        None | Some(Value::Null) => false,
        Some(v) => parse_bool(v, "include_byok_in_budgets")?,
    };
    let mut settings = Map::new();
    apply_settings(&mut settings, &body)?;
    let guardrail = StoredGuardrail {
        id: uuid::Uuid::new_v4().to_string(),
        account: acct.id.clone(),
        workspace_id: Some(workspace_id),
        name,
        include_byok_in_budgets,
        settings,
        created_at: now,
        updated_at: None,
        deleted: false,
        spend_total: 0.0,
        spend_daily: Default::default(),
        spend_weekly: Default::default(),
        spend_monthly: Default::default(),
    };
    tracing::info!(guardrail = %guardrail.id, account = %acct.id, name = %guardrail.name, "created guardrail");
    let data = guardrail.to_json();
    inner.state.guardrails.push(guardrail);
    persist(&inner, &shared)?;
    Ok((StatusCode::CREATED, Json(json!({ "data": data }))).into_response())
}

/// `GET /api/v1/guardrails/{id}`
pub(crate) async fn get_guardrail(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let g = guardrail_index(&inner, account, &id)?;
    Ok(Json(json!({ "data": inner.state.guardrails[g].to_json() })).into_response())
}

/// `PATCH /api/v1/guardrails/{id}`: only the fields given.
pub(crate) async fn update_guardrail(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let g = guardrail_index(&inner, account, &id)?;
    let body = parse_object(&body)?;
    let name = body.get("name").map(parse_name).transpose()?;
    let byok = match body.get("include_byok_in_budgets") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_bool(v, "include_byok_in_budgets")?),
    };
    let mut settings = inner.state.guardrails[g].settings.clone();
    apply_settings(&mut settings, &body)?;
    let guardrail = &mut inner.state.guardrails[g];
    guardrail.settings = settings;
    if let Some(n) = name {
        guardrail.name = n;
    }
    if let Some(b) = byok {
        guardrail.include_byok_in_budgets = b;
    }
    guardrail.updated_at = Some(now);
    let data = guardrail.to_json();
    persist(&inner, &shared)?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// `DELETE /api/v1/guardrails/{id}` → `{"deleted": true}`; its assignments go with it.
pub(crate) async fn delete_guardrail(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let g = guardrail_index(&inner, account, &id)?;
    inner.state.guardrails[g].deleted = true;
    inner.state.assignments.retain(|a| a.guardrail_id != id);
    tracing::info!(guardrail = %id, "deleted guardrail");
    persist(&inner, &shared)?;
    Ok(Json(json!({ "deleted": true })).into_response())
}

/// `key_hashes` of a bulk (un)assign body: a non-empty array of hashes of live keys of the account.
fn key_hashes(inner: &Inner, account: usize, body: &Bytes) -> Result<Vec<String>, ApiError> {
    let body = parse_object(body)?;
    let hashes: Vec<String> = match body.get("key_hashes") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|h| h.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("key_hashes must be an array of strings"))?,
        _ => {
            return Err(ApiError::bad_request(
                "key_hashes must be a non-empty array of key hashes",
            ));
        }
    };
    let acct = &inner.state.accounts[account].id;
    if let Some(unknown) = hashes
        .iter()
        .find(|h| inner.state.key_of(acct, h).is_none())
    {
        return Err(ApiError::bad_request(format!(
            "key_hashes: no such key {unknown}"
        )));
    }
    Ok(hashes)
}

/// `POST /api/v1/guardrails/{id}/assignments/keys` `{"key_hashes":[…]}` → `{"assigned_count": n}`
/// (keys already assigned are not counted again).
pub(crate) async fn assign_keys(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    guardrail_index(&inner, account, &id)?;
    let hashes = key_hashes(&inner, account, &body)?;
    let by = Some(inner.state.accounts[account].creator_user_id.clone());
    let mut assigned = 0u64;
    for h in hashes {
        if inner
            .state
            .assignments
            .iter()
            .any(|a| a.guardrail_id == id && a.key_hash == h)
        {
            continue;
        }
        inner.state.assignments.push(StoredAssignment {
            id: uuid::Uuid::new_v4().to_string(),
            guardrail_id: id.clone(),
            key_hash: h,
            assigned_by: by.clone(),
            created_at: now,
        });
        assigned += 1;
    }
    tracing::info!(guardrail = %id, assigned, "assigned keys to guardrail");
    persist(&inner, &shared)?;
    Ok(Json(json!({ "assigned_count": assigned })).into_response())
}

/// `POST /api/v1/guardrails/{id}/assignments/keys/remove` `{"key_hashes":[…]}` →
/// `{"unassigned_count": n}`
pub(crate) async fn unassign_keys(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    guardrail_index(&inner, account, &id)?;
    let hashes = key_hashes(&inner, account, &body)?;
    let before = inner.state.assignments.len();
    inner
        .state
        .assignments
        .retain(|a| !(a.guardrail_id == id && hashes.contains(&a.key_hash)));
    let unassigned = before - inner.state.assignments.len();
    tracing::info!(guardrail = %id, unassigned, "unassigned keys from guardrail");
    persist(&inner, &shared)?;
    Ok(Json(json!({ "unassigned_count": unassigned })).into_response())
}

/// The assignments of `account` (of one guardrail when `guardrail` is given), newest first, each
/// a `KeyAssignment`; assignments of deleted keys are left out.
fn assignments(inner: &Inner, account: usize, guardrail: Option<&str>) -> Vec<Value> {
    let acct = &inner.state.accounts[account].id;
    inner
        .state
        .assignments
        .iter()
        .rev()
        .filter(|a| guardrail.is_none_or(|g| a.guardrail_id == g))
        .filter(|a| inner.state.guardrail_of(acct, &a.guardrail_id).is_some())
        .filter_map(|a| {
            let k = &inner.state.keys[inner.state.key_of(acct, &a.key_hash)?];
            Some(json!({
                "id": a.id,
                "guardrail_id": a.guardrail_id,
                "key_hash": a.key_hash,
                "key_name": k.name,
                "key_label": k.label,
                "assigned_by": a.assigned_by,
                "created_at": crate::state::rfc3339(a.created_at),
            }))
        })
        .collect()
}

/// `GET /api/v1/guardrails/{id}/assignments/keys`
pub(crate) async fn list_guardrail_assignments(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    guardrail_index(&inner, account, &id)?;
    let (offset, limit, _) = page(query)?;
    Ok(listed(
        assignments(&inner, account, Some(&id)),
        offset,
        limit,
    ))
}

/// `GET /api/v1/guardrails/assignments/keys`: every key assignment of the account.
pub(crate) async fn list_all_assignments(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let (offset, limit, _) = page(query)?;
    Ok(listed(assignments(&inner, account, None), offset, limit))
}
