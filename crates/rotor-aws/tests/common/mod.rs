//! Shared test setup: the AWS emulator started by `tests/run` (LocalStack, or moto as fallback).
#![allow(dead_code)]

use aws_sdk_secretsmanager::config::{Credentials, Region};
use rotor_aws::SecretsManagerStore;

/// The emulator's endpoint from `tests/run`; panics when it is missing (never skips).
pub fn aws_endpoint() -> String {
    std::env::var("ROTOR_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "ROTOR_TEST_AWS_ENDPOINT is not set: run tests/run, which starts LocalStack (or moto) via \
             tests/services/20-localstack.sh and exports it"
        )
    })
}

/// `localstack` or `moto`.
pub fn emulator() -> String {
    std::env::var("ROTOR_TEST_AWS_EMULATOR").unwrap_or_else(|_| "localstack".to_owned())
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(aws_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "rotor-tests"))
        .load()
        .await
}

pub async fn store() -> SecretsManagerStore {
    SecretsManagerStore::new(&sdk_config().await)
}

pub fn fresh_prefix(what: &str) -> String {
    format!(
        "rotor-{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
pub mod runtime_api;
