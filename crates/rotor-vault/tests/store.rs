//! Vault-specific behaviour of `VaultStore` beyond the shared conformance suite, on a real OpenBao.

use rotor_testkit::observe::assert_same_snapshot;
use rotor_testkit::stores;
use rotor_testkit::stores::vault;

use reqwest::Method;
use rotor_core::{SecretStore, Stage, StoreError, VersionSelector};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

fn doc(key: &str) -> SecretString {
    SecretString::from(format!(r#"{{"api_key":"{key}","key_hash":"h-{key}"}}"#))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_read_the_document_fields_and_pending_lives_elsewhere() {
    let store = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("layout"));
    let app = vault::app_token(&secret).await;
    store
        .create_secret(&secret, "t1", &doc("k1"))
        .await
        .unwrap();
    // A canonical document becomes exactly the data map (plus rotor's version id).
    let data = vault::app_read(&app, &secret).await.unwrap();
    assert_eq!(
        data,
        json!({"api_key": "k1", "key_hash": "h-k1", "rotor_version": "t1"})
    );

    store.begin_rotation(&secret, "t2").await.unwrap();
    store.put_pending(&secret, "t2", &doc("k2")).await.unwrap();
    assert_eq!(
        vault::app_read(&app, &secret).await.unwrap()["api_key"],
        "k1"
    );
    let staging = store.staging_target(&secret).unwrap();
    let raw = vault::sys(Method::GET, &staging.data_api_path(), None).await;
    assert_eq!(
        raw["data"]["data"]["api_key"], "k2",
        "the pending value is in the staging path"
    );

    store.promote(&secret, "t2", "t1").await.unwrap();
    assert_eq!(
        vault::app_read(&app, &secret).await.unwrap()["api_key"],
        "k2"
    );
    // The staging slot is emptied and its older versions destroyed: no key lingers there.
    let raw = vault::sys(Method::GET, &staging.data_api_path(), None).await;
    assert_eq!(raw["data"]["data"], json!({"rotor_state": "cleared"}));
    let meta = vault::sys(
        Method::GET,
        &format!("{}/metadata/{}", staging.mount, staging.path),
        None,
    )
    .await;
    let versions = meta["data"]["versions"].as_object().unwrap();
    let destroyed = versions.values().filter(|v| v["destroyed"] == true).count();
    assert_eq!(
        destroyed,
        versions.len() - 1,
        "older staging versions must be destroyed: {versions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_versions_one_is_refused_before_it_could_prune_previous() {
    let store = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("maxv"));
    store
        .create_secret(&secret, "t1", &doc("k1"))
        .await
        .unwrap();
    let (m, p) = secret.split_once('/').unwrap();
    vault::sys(
        Method::POST,
        &format!("{m}/metadata/{p}"),
        Some(json!({"max_versions": 1})),
    )
    .await;
    store.put_pending(&secret, "t2", &doc("k2")).await.unwrap();
    let err = store.promote(&secret, "t2", "t1").await.unwrap_err();
    assert!(matches!(err, StoreError::Precondition { .. }), "{err}");
    assert!(err.to_string().contains("max_versions"), "{err}");
    let cur = store
        .get_value(&secret, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    assert_eq!(
        cur.version_id, "t1",
        "nothing may change when the promote is refused"
    );

    vault::sys(
        Method::POST,
        &format!("{m}/metadata/{p}"),
        Some(json!({"max_versions": 2})),
    )
    .await;
    store.promote(&secret, "t2", "t1").await.unwrap();
    let prev = store
        .get_value(&secret, &VersionSelector::Stage(Stage::Previous))
        .await
        .unwrap();
    assert_eq!(prev.version_id, "t1");
    assert_eq!(prev.value.expose_secret(), doc("k1").expose_secret());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_secrets_and_the_rotation_flag() {
    let store = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("manual"));
    let (m, p) = secret.split_once('/').unwrap();
    vault::sys(
        Method::POST,
        &format!("{m}/data/{p}"),
        Some(json!({"data": {"api_key": "by-hand"}})),
    )
    .await;
    let desc = store.describe(&secret).await.unwrap();
    assert_eq!(desc.with_stage(Stage::Current).unwrap().id, "kv-v1");
    assert_eq!(desc.rotation_enabled, None);
    let cur = store
        .get_value(&secret, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    assert_eq!(cur.value.expose_secret(), r#"{"api_key":"by-hand"}"#);
    // A rotation can start from it (promote from its derived id).
    store.put_pending(&secret, "t2", &doc("k2")).await.unwrap();
    store.promote(&secret, "t2", "kv-v1").await.unwrap();
    let desc = store.describe(&secret).await.unwrap();
    assert_eq!(desc.stages_of("kv-v1"), [Stage::Previous]);
    assert_eq!(desc.stages_of("t2"), [Stage::Current]);

    store
        .set_rotation_enabled(&secret, Some(false))
        .await
        .unwrap();
    assert_eq!(
        store.describe(&secret).await.unwrap().rotation_enabled,
        Some(false)
    );
    store.set_rotation_enabled(&secret, None).await.unwrap();
    assert_eq!(
        store.describe(&secret).await.unwrap().rotation_enabled,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_staging_entry_after_a_crash_does_not_block_the_next_rotation() {
    let store = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("crash"));
    store
        .create_secret(&secret, "t1", &doc("k1"))
        .await
        .unwrap();
    store.put_pending(&secret, "t2", &doc("k2")).await.unwrap();
    // Simulate a crash between the promote's CAS write and the staging cleanup: write the
    // promoted value to the application's path by hand, leaving staging as it was.
    let (m, p) = secret.split_once('/').unwrap();
    vault::sys(
        Method::POST,
        &format!("{m}/data/{p}"),
        Some(json!({"data": {"api_key": "k2", "key_hash": "h-k2", "rotor_version": "t2"}, "options": {"cas": 1}})),
    )
    .await;
    let desc = store.describe(&secret).await.unwrap();
    assert_eq!(desc.with_stage(Stage::Current).unwrap().id, "t2");
    assert!(
        desc.with_stage(Stage::Pending).is_none(),
        "the leftover must not count as pending"
    );
    store
        .promote(&secret, "t2", "t1")
        .await
        .expect("re-running the promote is a no-op");
    store
        .begin_rotation(&secret, "t3")
        .await
        .expect("the next rotation starts");
    let desc = store.describe(&secret).await.unwrap();
    assert_eq!(desc.stages_of("t3"), [Stage::Pending]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_urls_and_field_reads() {
    let store = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("mgmt"));
    let (m, p) = secret.split_once('/').unwrap();
    let mgmt = "sk-or-v1-1111111111111111111111111111111111111111111111111111111111111111";
    vault::sys(
        Method::POST,
        &format!("{m}/data/{p}"),
        Some(json!({"data": {"management_key": mgmt, "n": 1}})),
    )
    .await;
    let target = rotor_vault::VaultTarget::parse(&format!("vault://{secret}")).unwrap();
    assert_eq!(
        store.read_management_key(&target).await.unwrap().expose(),
        mgmt
    );
    let target = rotor_vault::VaultTarget::parse(&format!("vault://{secret}#n")).unwrap();
    let err = store
        .read_field(&target, "x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a non-empty string"), "{err}");
    let target = rotor_vault::VaultTarget::parse(&format!("vault://{secret}#missing")).unwrap();
    let err = store
        .read_field(&target, "x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing") && !err.contains(&mgmt[12..]),
        "{err}"
    );
}

/// What the store hands the engine's read cache after its own write
/// (`snapshot_after_write`) is exactly what a fresh read returns: description and values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_after_a_staging_write_equals_a_fresh_read() {
    let store = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("afterwrite"));
    store
        .create_secret(&secret, "t1", &doc("k1"))
        .await
        .unwrap();
    store.put_pending(&secret, "t2", &doc("k2")).await.unwrap();
    store.promote(&secret, "t2", "t1").await.unwrap();
    store.snapshot(&secret).await.unwrap();
    store.begin_rotation(&secret, "t3").await.unwrap();
    let after = store
        .snapshot_after_write(&secret)
        .expect("begin_rotation leaves a view");
    assert!(
        store.snapshot_after_write(&secret).is_none(),
        "handed out once"
    );
    let fresh = store.snapshot(&secret).await.unwrap();
    assert_same_snapshot(&after, &fresh, "after begin_rotation");
    store.put_pending(&secret, "t3", &doc("k3")).await.unwrap();
    let after = store
        .snapshot_after_write(&secret)
        .expect("put_pending leaves a view");
    let fresh = store.snapshot(&secret).await.unwrap();
    assert_same_snapshot(&after, &fresh, "after put_pending");
    assert_eq!(fresh.description.stages_of("t3"), &[Stage::Pending]);
    assert!(
        fresh
            .values
            .as_ref()
            .is_some_and(|v| v.iter().any(|v| v.version_id == "t3")),
        "the pending value comes with the view"
    );
}

/// A write that starts from a remembered view another writer has since made stale decides
/// again from a fresh read: it is refused exactly as without the memory, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_from_a_stale_remembered_view_decides_again_from_a_fresh_read() {
    let store = vault::root_store().await;
    let other = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("staleview"));
    store
        .create_secret(&secret, "t1", &doc("k1"))
        .await
        .unwrap();

    // begin_rotation: another process began a rotation after this one's read.
    store.snapshot(&secret).await.unwrap();
    other.begin_rotation(&secret, "b").await.unwrap();
    let err = store.begin_rotation(&secret, "a").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(
        err.to_string().contains('b'),
        "names the other rotation: {err}"
    );
    let desc = store.describe(&secret).await.unwrap();
    assert_eq!(
        desc.with_stage(Stage::Pending).map(|v| v.id.as_str()),
        Some("b")
    );

    // put_pending: another process stored b's value after this one's read.
    store.snapshot(&secret).await.unwrap();
    other.put_pending(&secret, "b", &doc("kb")).await.unwrap();
    let err = store
        .put_pending(&secret, "b", &doc("other"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let pending = store
        .get_value(
            &secret,
            &VersionSelector::version_in_stage("b", Stage::Pending),
        )
        .await
        .unwrap();
    assert_eq!(pending.value.expose_secret(), doc("kb").expose_secret());
    other.clear_pending(&secret, "b").await.unwrap();
    other.begin_rotation(&secret, "c").await.unwrap();

    // promote: another process promoted "c" after this one's read.
    other.put_pending(&secret, "c", &doc("kc")).await.unwrap();
    store.snapshot(&secret).await.unwrap();
    other.promote(&secret, "c", "t1").await.unwrap();
    let err = store.promote(&secret, "c", "t1").await;
    assert!(
        err.is_ok(),
        "Current is already c: the promote is done ({err:?})"
    );
    other.begin_rotation(&secret, "d").await.unwrap();
    other.put_pending(&secret, "d", &doc("kd")).await.unwrap();
    store.snapshot(&secret).await.unwrap();
    other.promote(&secret, "d", "c").await.unwrap();
    other.begin_rotation(&secret, "e").await.unwrap();
    other.put_pending(&secret, "e", &doc("ke")).await.unwrap();
    other.promote(&secret, "e", "d").await.unwrap();
    let err = store.promote(&secret, "d", "c").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let cur = store
        .get_value(&secret, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    assert_eq!(cur.version_id, "e", "nothing changed");
}
