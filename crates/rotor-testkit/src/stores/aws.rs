//! Secrets Manager fixtures: the AWS emulator `tests/run` starts (LocalStack, or moto as
//! fallback; tests/services/20-localstack.sh), which exports `ROTOR_TEST_AWS_ENDPOINT`.

use aws_sdk_secretsmanager::config::{Credentials, Region};
use rotor_aws::SecretsManagerStore;

use crate::service::required_env;

/// The AWS emulator's endpoint.
pub fn endpoint() -> String {
    required_env(
        "ROTOR_TEST_AWS_ENDPOINT",
        "LocalStack or moto (tests/services/20-localstack.sh)",
    )
}

/// `localstack` or `moto`.
pub fn emulator() -> String {
    std::env::var("ROTOR_TEST_AWS_EMULATOR").unwrap_or_else(|_| "localstack".to_owned())
}

/// An SDK configuration for the emulator (region us-east-1, test credentials).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "rotor-tests"))
        .load()
        .await
}

/// A store on the emulator (a new SDK client each call).
pub async fn store() -> SecretsManagerStore {
    SecretsManagerStore::new(&sdk_config().await)
}

/// A fresh secret name: `rotor-<what>-<12 hex>`.
pub fn fresh_prefix(what: &str) -> String {
    super::fresh(&format!("rotor-{what}"))
}
