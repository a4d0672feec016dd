//! rotor's AWS Secrets Manager rotation Lambda (runtime `provided.al2023`, arm64 or x86_64).
//!
//! Thin edge: configuration and clients are built once per container, outside the handler; each
//! invocation is `RotationHandler::handle_event` (see `rotor_aws::lambda` for the event and the
//! environment variables). Logs are JSON lines for CloudWatch; no key is ever logged.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use rotor_aws::{
    SecretsManagerStore,
    lambda::{LambdaConfig, RotationHandler},
};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_new("info"))
                .unwrap_or_default(),
        )
        .init();

    let config = LambdaConfig::from_env().inspect_err(|e| {
        tracing::error!(error_type = e.error_type(), error = %e, "rotor Lambda cannot start");
    })?;
    let store = SecretsManagerStore::from_env().await;
    let handler = Arc::new(RotationHandler::new(store, config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = Arc::clone(&handler);
        async move { handler.handle_event(event.payload).await }
    }))
    .await
}
