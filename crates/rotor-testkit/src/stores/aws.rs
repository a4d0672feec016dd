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

/// Creates a rotation function named `name` in the AWS emulator and returns its ARN: a
/// placeholder (`provided.al2023`, an empty zip) that Secrets Manager's `RotateSecret` accepts;
/// the tests run the real `bootstrap` themselves against a local Runtime API.
pub async fn rotation_function(config: &aws_config::SdkConfig, name: &str) -> String {
    use aws_sdk_lambda::{
        primitives::Blob,
        types::{FunctionCode, Runtime},
    };
    // A zip archive with no entries (the function never runs in the emulator).
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend_from_slice(&[0u8; 18]);
    aws_sdk_lambda::Client::new(config)
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role("arn:aws:iam::000000000000:role/rotor-rotation")
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .expect("create the rotation function in the emulator")
        .function_arn()
        .expect("function ARN")
        .to_owned()
}
