//! Workspaces (`/workspaces*`), shaped like OpenRouter's official SDKs expect them.

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
    request::{listed, management_account, page, parse_name, parse_object},
    shared::{Inner, Shared, persist},
    state::StoredWorkspace,
};

type ApiResult = Result<Response, ApiError>;

/// `GET /api/v1/workspaces`: the account's live workspaces, oldest (the default) first.
pub(crate) async fn list_workspaces(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let (offset, limit, _) = page(query)?;
    let acct = &inner.state.accounts[account].id;
    let items = inner
        .state
        .workspaces
        .iter()
        .filter(|w| &w.account == acct && !w.deleted)
        .map(StoredWorkspace::to_json)
        .collect();
    Ok(listed(items, offset, limit))
}

/// Lowercase alphanumeric segments separated by single hyphens.
fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn parse_slug(
    inner: &Inner,
    account: &str,
    v: &Value,
    except: Option<&str>,
) -> Result<String, ApiError> {
    let slug = match v {
        Value::String(s) if valid_slug(s) => s.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "slug must be lowercase alphanumeric segments separated by single hyphens",
            ));
        }
    };
    let taken = inner.state.workspaces.iter().any(|w| {
        w.account == account && !w.deleted && w.slug == slug && Some(w.id.as_str()) != except
    });
    if taken {
        return Err(ApiError::bad_request(format!(
            "slug {slug:?} is already in use"
        )));
    }
    Ok(slug)
}

fn parse_description(v: Option<&Value>) -> Result<Option<Option<String>>, ApiError> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(ApiError::bad_request(
            "description must be a string or null",
        )),
    }
}

/// `POST /api/v1/workspaces` `{"name","slug","description"?}` → 201 `{"data": Workspace}`
pub(crate) async fn create_workspace(
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
    let slug = parse_slug(
        &inner,
        &acct.id,
        body.get("slug").unwrap_or(&Value::Null),
        None,
    )?;
    let description = parse_description(body.get("description"))?.flatten();
    let workspace = StoredWorkspace {
        id: uuid::Uuid::new_v4().to_string(),
        account: acct.id.clone(),
        name,
        slug,
        description,
        created_by: Some(acct.creator_user_id.clone()),
        default_guardrail_id: uuid::Uuid::new_v4().to_string(),
        created_at: now,
        updated_at: None,
        deleted: false,
    };
    tracing::info!(workspace = %workspace.id, account = %acct.id, "created workspace");
    let data = workspace.to_json();
    inner.state.workspaces.push(workspace);
    persist(&inner, &shared)?;
    Ok((StatusCode::CREATED, Json(json!({ "data": data }))).into_response())
}

fn workspace_index(inner: &Inner, account: usize, id: &str) -> Result<usize, ApiError> {
    inner
        .state
        .workspace_of(&inner.state.accounts[account].id, id)
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/v1/workspaces/{id}` (id or slug)
pub(crate) async fn get_workspace(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let w = workspace_index(&inner, account, &id)?;
    Ok(Json(json!({ "data": inner.state.workspaces[w].to_json() })).into_response())
}

/// `PATCH /api/v1/workspaces/{id}`: `name`, `slug`, `description`.
pub(crate) async fn update_workspace(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let w = workspace_index(&inner, account, &id)?;
    let body = parse_object(&body)?;
    let acct = inner.state.accounts[account].id.clone();
    let wid = inner.state.workspaces[w].id.clone();
    let name = body.get("name").map(parse_name).transpose()?;
    let slug = body
        .get("slug")
        .map(|v| parse_slug(&inner, &acct, v, Some(&wid)))
        .transpose()?;
    let description = parse_description(body.get("description"))?;
    let ws = &mut inner.state.workspaces[w];
    if let Some(v) = name {
        ws.name = v;
    }
    if let Some(v) = slug {
        ws.slug = v;
    }
    if let Some(v) = description {
        ws.description = v;
    }
    ws.updated_at = Some(now);
    let data = ws.to_json();
    persist(&inner, &shared)?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// `DELETE /api/v1/workspaces/{id}` → `{"deleted": true}`. The default workspace needs
/// `confirm_default_workspace_deletion=true`. The workspace's keys are disabled (they can no
/// longer be used) and its guardrails deleted.
pub(crate) async fn delete_workspace(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let w = workspace_index(&inner, account, &id)?;
    let confirmed = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "confirm_default_workspace_deletion" && v == "true");
    let wid = inner.state.workspaces[w].id.clone();
    if wid == inner.state.accounts[account].workspace_id && !confirmed {
        return Err(ApiError::bad_request(
            "deleting the default workspace requires confirm_default_workspace_deletion=true",
        ));
    }
    let acct = inner.state.accounts[account].id.clone();
    inner.state.workspaces[w].deleted = true;
    for k in inner.state.keys.iter_mut() {
        if k.account == acct && k.workspace_id == wid && !k.deleted {
            k.disabled = true;
        }
    }
    let mut gone = Vec::new();
    for g in inner.state.guardrails.iter_mut() {
        if g.account == acct && g.workspace_id.as_deref() == Some(wid.as_str()) {
            g.deleted = true;
            gone.push(g.id.clone());
        }
    }
    inner
        .state
        .assignments
        .retain(|a| !gone.contains(&a.guardrail_id));
    tracing::info!(workspace = %wid, "deleted workspace");
    persist(&inner, &shared)?;
    Ok(Json(json!({ "deleted": true })).into_response())
}
