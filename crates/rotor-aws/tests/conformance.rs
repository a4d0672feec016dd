//! The core conformance suite on SecretsManagerStore against the AWS emulator (LocalStack).

use rotor_testkit::stores::aws;

use std::sync::Arc;

use rotor_core::{SecretStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_suite_on_secrets_manager() {
    let store = aws::store().await;
    // LocalStack's concurrent UpdateSecretVersionStage calls are not atomic (see README.md,
    // "Emulator gaps"), so the eight-writer ledger race runs on the other backends only.
    conformance::run_all_but_ledger_races(&store, &aws::fresh_prefix("conf")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_promotes_in_parallel_tasks() {
    let store: Arc<dyn SecretStore> = Arc::new(aws::store().await);
    conformance::racing_promotes_spawned(store, &aws::fresh_prefix("race"), 10).await;
}
