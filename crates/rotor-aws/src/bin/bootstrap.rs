//! rotor's AWS Secrets Manager rotation Lambda (runtime `provided.al2023`, arm64 or x86_64).
//!
//! Thin edge: configuration and clients are built once per container, outside the handler; each
//! invocation is `RotationHandler::handle_event` (see `rotor_aws::lambda` for the event and the
//! environment variables). Logs are JSON lines for CloudWatch, or text, as the function's
//! LoggingConfig asks (`rotor_aws::lambda::LogSettings`); no key is ever logged.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use rotor_aws::{
    SecretsManagerStore,
    lambda::{LambdaConfig, LogSettings, RotationHandler},
};

// One event at a time per container: a single-threaded runtime (no worker threads to start or
// keep resident; the blocking pool still serves DNS and file reads).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The function's LoggingConfig (AWS_LAMBDA_LOG_LEVEL / AWS_LAMBDA_LOG_FORMAT), else RUST_LOG.
    LogSettings::from_env().init();

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
