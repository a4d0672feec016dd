//! The rotation conformance suite (`rotor_testkit::rotation`) on `VaultStore` against the real
//! OpenBao `tests/run` starts (KV v2 at `secret/`), with the in-process OpenRouter emulator.

use rotor_testkit::rotation;
use rotor_testkit::stores::vault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_crash_resume() {
    let store = vault::root_store().await;
    rotation::crash_resume(&store, &vault::fresh_secret("crash-resume")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_crash_at_every_await_point() {
    let store = vault::root_store().await;
    rotation::crash_at_every_await_point(&store, &vault::fresh_secret("crash-await")).await;
}

/// Two connections, as two rotor processes would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_exactly_one_wins() {
    let a = vault::root_store().await;
    let b = vault::root_store().await;
    rotation::exactly_one_wins(&[&a, &b], &vault::fresh_secret("race")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_abandon() {
    let store = vault::root_store().await;
    rotation::abandon(&store, &vault::fresh_secret("abandon")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_retirement() {
    let store = vault::root_store().await;
    rotation::retirement(&store, &vault::fresh_secret("retire")).await;
}
