//! End to end against a real OpenBao and the in-process OpenRouter emulator: `init`, then
//! rotations step by step, with an application reading `GET /v1/secret/data/PATH` with its own
//! read-only token between every step.

use rotor_testkit::stores::vault;
use rotor_testkit::{emulator, stores};

use std::collections::BTreeSet;

use rotor_core::{SecretStore, Stage, VersionSelector, engine::Step, record::KeyRecord};

const STEPS: [Step; 4] = [
    Step::CreateSecret,
    Step::SetSecret,
    Step::TestSecret,
    Step::FinishSecret,
];

async fn record(store: &dyn SecretStore, secret: &str, selector: VersionSelector) -> KeyRecord {
    let v = store
        .get_value(secret, &selector)
        .await
        .unwrap_or_else(|e| panic!("get_value({selector}): {e}"));
    KeyRecord::parse(&v.value, secret).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_keep_the_application_on_a_working_key_and_never_expose_pending() {
    let (emulator, engine) = emulator::start_with_engine().await;
    let store = vault::root_store().await;
    let secret = format!("secret/{}", stores::fresh("e2e"));
    let staging = store.staging_target(&secret).unwrap().secret_id();
    let app = vault::app_token(&secret).await;

    engine.init(&store, &secret, None).await.expect("init");
    let first = vault::api_key_of(
        &vault::app_read(&app, &secret)
            .await
            .expect("app reads the secret after init"),
    );
    assert!(
        emulator::key_works(&emulator, &first).await,
        "the key written by init does not work"
    );

    let mut history = vec![first.clone()];
    for rotation in 1..=3 {
        let before = vault::api_key_of(&vault::app_read(&app, &secret).await.unwrap());
        let token = uuid::Uuid::new_v4().to_string();
        store.begin_rotation(&secret, &token).await.unwrap();
        let mut pending_key = None;
        for step in STEPS {
            // Between every step: the application sees the current, working key, never the pending one.
            let seen = vault::api_key_of(&vault::app_read(&app, &secret).await.unwrap());
            assert_eq!(
                seen, before,
                "rotation {rotation}, before {step}: the application's value changed before finish"
            );
            assert!(
                emulator::key_works(&emulator, &seen).await,
                "rotation {rotation}, before {step}: the application's key does not work"
            );
            if let Some(p) = &pending_key {
                assert_ne!(
                    &seen, p,
                    "rotation {rotation}, before {step}: the pending key is visible at the application's path"
                );
            }
            engine
                .step(&store, &secret, step, &token)
                .await
                .unwrap_or_else(|e| panic!("rotation {rotation}, {step}: {e}"));
            if step == Step::CreateSecret {
                let p = record(
                    &store,
                    &secret,
                    VersionSelector::version_in_stage(&token, Stage::Pending),
                )
                .await;
                pending_key = Some(p.api_key.expose().to_owned());
                // The staging path is not readable with the application's token.
                let (m, p) = staging.split_once('/').unwrap();
                let status = reqwest::Client::new()
                    .get(format!("{}/v1/{m}/data/{p}", vault::addr()))
                    .header("X-Vault-Token", &app)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, 403, "the application can read the staging path");
            }
        }
        let data = vault::app_read(&app, &secret).await.unwrap();
        // rotor's documents are canonical JSON, kept as fields only: the key appears once.
        assert!(
            data.get("rotor_document").is_none(),
            "rotation {rotation}: the document is also stored verbatim (the key twice)"
        );
        let now = vault::api_key_of(&data);
        assert_eq!(
            Some(&now),
            pending_key.as_ref(),
            "rotation {rotation}: after finish the application does not read the new key"
        );
        assert!(
            emulator::key_works(&emulator, &now).await,
            "rotation {rotation}: the new key does not work"
        );
        assert!(
            emulator::key_works(&emulator, &before).await,
            "rotation {rotation}: the old key stopped working at finish"
        );
        let previous = record(&store, &secret, VersionSelector::Stage(Stage::Previous)).await;
        assert_eq!(
            previous.api_key.expose(),
            before,
            "rotation {rotation}: Previous is not the old key"
        );
        let desc = store.describe(&secret).await.unwrap();
        assert_eq!(
            desc.with_stage(Stage::Current).map(|v| v.id.as_str()),
            Some(token.as_str())
        );
        assert!(
            desc.with_stage(Stage::Pending).is_none(),
            "rotation {rotation}: Pending left after finish"
        );
        history.push(now.clone());

        // Grace 0s: a rotation retires the key from two generations back (at its createSecret).
        if rotation >= 2 {
            let retired = &history[history.len() - 3];
            assert!(
                !emulator::key_works(&emulator, retired).await,
                "rotation {rotation}: the key two generations back still works"
            );
        }
        let live = emulator::live_key_hashes(&emulator).await;
        let current = record(&store, &secret, VersionSelector::Stage(Stage::Current)).await;
        let recorded: BTreeSet<String> = current.referenced_hashes().map(str::to_owned).collect();
        // No orphan: every live key is recorded in the current document. (The document may still
        // list the key finishSecret just retired; the next retirement drops the entry.)
        assert!(
            live.is_subset(&recorded),
            "rotation {rotation}: live keys at the emulator not recorded in Vault: {:?}",
            live.difference(&recorded).collect::<Vec<_>>()
        );
        assert_eq!(
            live.len(),
            2,
            "rotation {rotation}: expected exactly the current and the previous key alive"
        );
    }
    // The first key was retired by the second rotation; the third left two keys alive.
    assert!(!emulator::key_works(&emulator, &first).await);
}
