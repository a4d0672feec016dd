//! No key material in logs (every level, every crate: engine, client, emulator), reports, status,
//! errors or Debug output, over full rotations and a failing one. Its own test binary, because it
//! installs a global tracing subscriber.

use std::time::Duration;

use rotor_core::engine::{Engine, Step};
use rotor_core::policy::Policy;
use rotor_core::{KeyRecord, MemoryStore, SecretStore, Stage, VersionSelector};
use rotor_openrouter::{ApiKey, Client, UpdateKeyRequest};
use rotor_testkit::SECRET;
use rotor_testkit::emulator::{default_client, engine_for, start};
use rotor_testkit::logs::{LogBuffer, trace_into};
use rotor_testkit::observe::{app_reads, assert_no_key_material};

struct Env {
    _emu: rotor_emulator::RunningEmulator,
    client: Client,
    engine: Engine,
    management_key: ApiKey,
}

async fn env_with(policy: Policy) -> Env {
    let emu = start().await;
    let client = default_client(&emu);
    let engine = engine_for(&emu, policy);
    Env {
        management_key: ApiKey::new(emu.management_key()),
        _emu: emu,
        client,
        engine,
    }
}

async fn init(env: &Env, store: &dyn SecretStore) -> KeyRecord {
    env.engine.init(store, SECRET, None).await.expect("init");
    app_reads(store, SECRET).await
}

#[tokio::test]
async fn logs_reports_and_errors_never_contain_a_key() {
    let logs = LogBuffer::default();
    let subscriber = trace_into(&logs);
    // Global: the only test of this binary, so every event of every task is captured.
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    let env = env_with(Policy {
        grace_period: Duration::ZERO,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    let mut keys = vec![env.management_key.clone(), init(&env, &store).await.api_key];
    assert!(
        env.management_key.is_well_formed(),
        "the check below needs a well-formed key"
    );
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let report = env.engine.rotate(&store, SECRET).await.unwrap();
        outputs.push(format!(
            "{report:?} {}",
            serde_json::to_string(&report).unwrap()
        ));
        keys.push(app_reads(&store, SECRET).await.api_key);
    }
    // A failing rotation: the new key is disabled by hand before its test.
    store.begin_rotation(SECRET, "fails").await.unwrap();
    let created = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, "fails")
        .await
        .unwrap();
    let pending = store
        .get_value(
            SECRET,
            &VersionSelector::version_in_stage("fails", Stage::Pending),
        )
        .await
        .unwrap();
    keys.push(KeyRecord::parse(&pending.value, SECRET).unwrap().api_key);
    let disable = UpdateKeyRequest {
        disabled: Some(true),
        ..Default::default()
    };
    env.client
        .update_key(created.key_hash.as_deref().unwrap(), &disable)
        .await
        .unwrap();
    let err = env
        .engine
        .step(&store, SECRET, Step::TestSecret, "fails")
        .await
        .unwrap_err();
    outputs.push(format!("{err} {err:?}"));
    let status = env.engine.status(&store, SECRET).await.unwrap();
    outputs.push(format!(
        "{status:?} {}",
        serde_json::to_string(&status).unwrap()
    ));
    outputs.push(format!("{:?}", env.engine));
    outputs.push(format!("{:?}", app_reads(&store, SECRET).await));

    for (i, out) in outputs.iter().enumerate() {
        assert_no_key_material(out, &keys, &format!("output {i}"));
    }
    let text = logs.text();
    assert!(
        text.contains("rotation step succeeded") && text.contains("rotation step failed"),
        "logs were captured"
    );
    assert!(text.contains("key_hash="), "step events name key hashes");
    assert_no_key_material(&text, &keys, "logs");
}
