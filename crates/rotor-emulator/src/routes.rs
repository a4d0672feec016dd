//! The route table: every OpenRouter route (behind the gate) and, with `test_controls`, the
//! `/_emulator/` routes.

use std::sync::Arc;

use axum::{
    Router, middleware,
    routing::{get, post},
};

use crate::{
    completions, control_routes, error::ApiError, gate::gate, guardrails, keys, shared::Shared,
    workspaces,
};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let openrouter = Router::new()
        .route("/api/v1/keys", get(keys::list_keys).post(keys::create_key))
        .route(
            "/api/v1/keys/{hash}",
            get(keys::get_key)
                .patch(keys::update_key)
                .delete(keys::delete_key),
        )
        .route(
            "/api/v1/guardrails",
            get(guardrails::list_guardrails).post(guardrails::create_guardrail),
        )
        .route(
            "/api/v1/guardrails/{id}",
            get(guardrails::get_guardrail)
                .patch(guardrails::update_guardrail)
                .delete(guardrails::delete_guardrail),
        )
        .route(
            "/api/v1/guardrails/{id}/assignments/keys",
            get(guardrails::list_guardrail_assignments).post(guardrails::assign_keys),
        )
        .route(
            "/api/v1/guardrails/{id}/assignments/keys/remove",
            post(guardrails::unassign_keys),
        )
        .route(
            "/api/v1/guardrails/assignments/keys",
            get(guardrails::list_all_assignments),
        )
        .route(
            "/api/v1/workspaces",
            get(workspaces::list_workspaces).post(workspaces::create_workspace),
        )
        .route(
            "/api/v1/workspaces/{id}",
            get(workspaces::get_workspace)
                .patch(workspaces::update_workspace)
                .delete(workspaces::delete_workspace),
        )
        .route("/api/v1/key", get(keys::current_key))
        .route("/api/v1/auth/key", get(keys::current_key))
        .route("/api/v1/credits", get(completions::credits))
        .route(
            "/api/v1/chat/completions",
            post(completions::chat_completions),
        )
        .route_layer(middleware::from_fn_with_state(shared.clone(), gate));
    let mut app = openrouter;
    if shared.test_controls {
        app = app.merge(control_routes::router());
    }
    app.fallback(|| async { ApiError::not_found() })
        .with_state(shared)
}
