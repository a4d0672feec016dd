//! What keys spend: `POST /api/v1/chat/completions` (one canned answer, the configured cost added
//! to the key's usage, guardrails enforced) and the account's `GET /api/v1/credits`.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State as AxumState,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    error::ApiError,
    request::{bearer, management_account, parse_object, usable},
    shared::{Shared, persist},
    state::Caller,
};

type ApiResult = Result<Response, ApiError>;

/// `GET /api/v1/credits` (management key).
pub(crate) async fn credits(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
) -> ApiResult {
    let now = crate::state::now();
    let inner = shared.lock();
    let account = management_account(&inner, &headers, now)?;
    let id = &inner.state.accounts[account].id;
    let total_usage: f64 = inner
        .state
        .keys
        .iter()
        .filter(|k| &k.account == id)
        .map(|k| k.usage)
        .sum();
    Ok(
        Json(json!({ "data": { "total_credits": 100.0, "total_usage": total_usage } }))
            .into_response(),
    )
}

/// `POST /api/v1/chat/completions`: one canned answer; adds the configured cost to the key's usage.
pub(crate) async fn chat_completions(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let now = crate::state::now();
    let mut inner = shared.lock();
    let index = match inner.state.identify(bearer(&headers)?) {
        Some(Caller::Management { .. }) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Management keys cannot be used for completions; use an ordinary API key",
            ));
        }
        Some(Caller::Ordinary { index }) if usable(&inner.state.keys[index], now) => index,
        _ => return Err(ApiError::user_not_found()),
    };
    let body = parse_object(&body)?;
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(ApiError::bad_request("model must be a non-empty string")),
    };
    let prompt_tokens = match body.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m.len() as u64 * 8,
        _ => return Err(ApiError::bad_request("messages must be a non-empty array")),
    };
    let cost = shared.completion_cost;
    let guardrails = inner.state.guardrails_of_key(index);
    for &g in &guardrails {
        crate::guardrails::enforce(&inner.state.guardrails[g], &model, cost, now)?;
    }
    let key = &mut inner.state.keys[index];
    if let Some(remaining) = key.limit_remaining(now) {
        if remaining + 1e-12 < cost || remaining <= 0.0 {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "Key limit exceeded. Manage it using https://openrouter.ai/settings/keys",
            ));
        }
    }
    key.add_usage(cost, now);
    key.last_used_at = Some(now);
    let hash = key.hash.clone();
    for g in guardrails {
        inner.state.guardrails[g].add_spend(cost, now);
    }
    persist(&inner, &shared)?;
    tracing::debug!(hash = %hash, cost, "completion");
    let id = format!("gen-{}-{}", now.timestamp(), uuid::Uuid::new_v4().simple());
    Ok(Json(json!({
        "id": id,
        "provider": "rotor-emulator",
        "model": model,
        "object": "chat.completion",
        "created": now.timestamp(),
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "logprobs": null,
            "finish_reason": "stop",
            "native_finish_reason": "stop",
            "message": { "role": "assistant", "content": "ok", "refusal": null, "reasoning": null }
        }],
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1, "cost": cost }
    }))
    .into_response())
}
