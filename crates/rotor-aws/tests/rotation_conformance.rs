//! The rotation conformance suite (`rotor_testkit::rotation`) on `SecretsManagerStore` against
//! the AWS emulator `tests/run` starts (LocalStack, or moto), with the in-process OpenRouter
//! emulator. The engine drives the store directly here (as `rotor rotate --local` does); the
//! Lambda's own path is `lambda_e2e.rs` and `lambda_crash_points.rs`.

use rotor_testkit::rotation;
use rotor_testkit::stores::aws;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_crash_resume() {
    let store = aws::store().await;
    rotation::crash_resume(&store, &aws::fresh_prefix("crash-resume")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_crash_at_every_await_point() {
    let store = aws::store().await;
    rotation::crash_at_every_await_point(&store, &aws::fresh_prefix("crash-await")).await;
}

/// Two workers on one SDK client (one process). Two clients (two processes) race on the
/// ledger's `UpdateSecretVersionStage`, which LocalStack does not apply atomically (README.md,
/// "Emulator gaps"): both may take the lease and the loser stops at finishSecret with a
/// Conflict, its rotation left pending. The store conformance suite skips its ledger races here
/// for the same reason (`run_all_but_ledger_races`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_exactly_one_wins() {
    let store = aws::store().await;
    rotation::exactly_one_wins(&[&store, &store], &aws::fresh_prefix("race")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_abandon() {
    let store = aws::store().await;
    rotation::abandon(&store, &aws::fresh_prefix("abandon")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_retirement() {
    let store = aws::store().await;
    rotation::retirement(&store, &aws::fresh_prefix("retire")).await;
}
