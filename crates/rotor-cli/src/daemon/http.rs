//! The daemon's HTTP endpoints: `/healthz` (503 once shutdown began) and Prometheus `/metrics`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use tokio::sync::watch;

use super::metrics::Metrics;

/// The routes, serving `metrics` and reporting `stopping`.
pub(super) fn router(metrics: Arc<Metrics>, stopping: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(HttpState { metrics, stopping })
}

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    stopping: watch::Receiver<bool>,
}

async fn healthz(State(s): State<HttpState>) -> Response {
    if *s.stopping.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics_text(State(s): State<HttpState>) -> Response {
    match s.metrics.encode(Utc::now()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics failed: {e}\n"),
        )
            .into_response(),
    }
}
