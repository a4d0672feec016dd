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

/// `promote` starts from the description this store read last (store/views.rs). When another
/// process promoted in between, the service refuses the move and the store decides again from a
/// fresh `DescribeSecret`: the same rotation promoted is done, another one's is a Conflict, and
/// nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promote_from_a_stale_description_decides_again_from_a_fresh_one() {
    use rotor_core::store::{Stage, StoreError};
    use secrecy::SecretString;

    let store = aws::store().await;
    let other = aws::store().await;
    let secret = format!("{}-stale", aws::fresh_prefix("views"));
    let value = |v: &str| SecretString::from(format!("{{\"v\":\"{v}\"}}"));
    let current = |d: &rotor_core::store::SecretDescription| {
        d.with_stage(Stage::Current).map(|v| v.id.clone())
    };
    let t1 = uuid::Uuid::new_v4().to_string();
    let [c, d, e] = std::array::from_fn(|_| uuid::Uuid::new_v4().to_string());
    store
        .create_secret(&secret, &t1, &value("1"))
        .await
        .unwrap();

    // Another process promoted this rotation after this one's describe: done.
    other.begin_rotation(&secret, &c).await.unwrap();
    other.put_pending(&secret, &c, &value("c")).await.unwrap();
    store.describe(&secret).await.unwrap();
    other.promote(&secret, &c, &t1).await.unwrap();
    let done = store.promote(&secret, &c, &t1).await;
    assert!(done.is_ok(), "AWSCURRENT is already on c: {done:?}");
    let now = store.describe(&secret).await.unwrap();
    assert_eq!(current(&now).as_deref(), Some(c.as_str()));

    // Another process promoted two more versions after this one's describe: a Conflict.
    other.begin_rotation(&secret, &d).await.unwrap();
    other.put_pending(&secret, &d, &value("d")).await.unwrap();
    store.describe(&secret).await.unwrap();
    other.promote(&secret, &d, &c).await.unwrap();
    other.begin_rotation(&secret, &e).await.unwrap();
    other.put_pending(&secret, &e, &value("e")).await.unwrap();
    other.promote(&secret, &e, &d).await.unwrap();
    let err = store.promote(&secret, &d, &c).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let now = store.describe(&secret).await.unwrap();
    assert_eq!(
        current(&now).as_deref(),
        Some(e.as_str()),
        "nothing changed"
    );
}
