//! `/_emulator/*`: the server side of the test controls (`control.rs` is their client and wire
//! types), served only with `test_controls` (never part of OpenRouter's surface). The contract:
//! docs/emulator.md.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State as AxumState},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    control::{EmulatedKey, Fault, NewAccount},
    error::ApiError,
    key_material::generate_key,
    shared::{Shared, persist},
};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_emulator/faults",
            post(inject_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_emulator/keys", get(keys))
        .route("/_emulator/keys/{hash}/usage", post(add_usage))
        .route(
            "/_emulator/guardrails/{id}/usage",
            post(add_guardrail_usage),
        )
        .route("/_emulator/counters", get(counters))
        .route("/_emulator/accounts", post(create_account))
        .route("/_emulator/reset", post(reset))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("test control body: {e}")))
}

async fn inject_fault(
    AxumState(shared): AxumState<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fault: Fault = parse(&body)?;
    if fault.count == 0 {
        return Err(ApiError::bad_request("count must be at least 1"));
    }
    if let crate::control::FaultKind::Status { status, .. } = fault.kind {
        if StatusCode::from_u16(status).is_err() || status < 100 {
            return Err(ApiError::bad_request(
                "status must be a valid HTTP status code",
            ));
        }
    }
    if !fault.path.starts_with('/') {
        return Err(ApiError::bad_request(
            "path must start with / (e.g. /api/v1/keys/*)",
        ));
    }
    tracing::info!(method = %fault.method, path = %fault.path, count = fault.count, kind = ?fault.kind, "fault injected");
    shared.lock().faults.push(fault);
    Ok(Json(json!({})).into_response())
}

async fn list_faults(AxumState(shared): AxumState<Arc<Shared>>) -> Json<Vec<Fault>> {
    Json(shared.lock().faults.clone())
}

async fn clear_faults(AxumState(shared): AxumState<Arc<Shared>>) -> Json<serde_json::Value> {
    shared.lock().faults.clear();
    Json(json!({}))
}

async fn keys(AxumState(shared): AxumState<Arc<Shared>>) -> Json<Vec<EmulatedKey>> {
    Json(
        shared
            .lock()
            .state
            .keys
            .iter()
            .rev()
            .map(|k| k.emulated())
            .collect(),
    )
}

#[derive(Deserialize)]
struct Usage {
    amount: f64,
}

async fn add_usage(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(hash): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let usage: Usage = parse(&body)?;
    if !usage.amount.is_finite() {
        return Err(ApiError::bad_request("amount must be a finite number"));
    }
    let mut inner = shared.lock();
    let index = inner
        .state
        .live_key(&hash)
        .ok_or_else(ApiError::not_found)?;
    let now = crate::state::now();
    inner.state.keys[index].add_usage(usage.amount, now);
    // As traffic would: the spend also counts against the key's guardrails.
    for g in inner.state.guardrails_of_key(index) {
        inner.state.guardrails[g].add_spend(usage.amount, now);
    }
    persist(&inner, &shared)?;
    Ok(Json(inner.state.keys[index].emulated()).into_response())
}

/// `POST /_emulator/guardrails/{id}/usage` `{"amount": f64}`: spend against a live guardrail's
/// `limit_usd` (of any account), as if keys assigned to it had spent it.
async fn add_guardrail_usage(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let usage: Usage = parse(&body)?;
    if !usage.amount.is_finite() {
        return Err(ApiError::bad_request("amount must be a finite number"));
    }
    let mut inner = shared.lock();
    let g = inner
        .state
        .guardrails
        .iter()
        .position(|g| g.id == id && !g.deleted)
        .ok_or_else(ApiError::not_found)?;
    let now = crate::state::now();
    inner.state.guardrails[g].add_spend(usage.amount, now);
    persist(&inner, &shared)?;
    let spend = inner.state.guardrails[g].spend(now);
    Ok(Json(json!({ "id": id, "spend_usd": spend })).into_response())
}

async fn counters(
    AxumState(shared): AxumState<Arc<Shared>>,
) -> Json<std::collections::BTreeMap<String, u64>> {
    Json(shared.lock().counters.clone())
}

async fn create_account(AxumState(shared): AxumState<Arc<Shared>>) -> Result<Response, ApiError> {
    let management_key = generate_key();
    let mut inner = shared.lock();
    let account = inner.state.add_account(&management_key).clone();
    persist(&inner, &shared)?;
    tracing::info!(account = %account.id, "account created");
    Ok(Json(NewAccount {
        account: account.id,
        management_key,
        workspace_id: account.workspace_id,
    })
    .into_response())
}

async fn reset(AxumState(shared): AxumState<Arc<Shared>>) -> Result<Response, ApiError> {
    let mut inner = shared.lock();
    inner.state.clear_keys();
    inner.faults.clear();
    inner.counters.clear();
    inner.rate_windows.clear();
    persist(&inner, &shared)?;
    tracing::info!("state reset: keys, faults, counters and rate-limit windows forgotten");
    Ok(Json(json!({})).into_response())
}
