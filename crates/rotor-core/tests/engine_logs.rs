//! No key material in logs (every level, every crate: engine, client, emulator), reports, status,
//! errors or Debug output, over full rotations and a failing one. Its own test binary, because it
//! installs a global tracing subscriber.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rotor_core::engine::{Engine, Step};
use rotor_core::policy::Policy;
use rotor_core::{KeyRecord, MemoryStore, SecretStore, Stage, VersionSelector};
use rotor_emulator::EmulatorConfig;
use rotor_openrouter::{ApiKey, Client, ClientConfig, UpdateKeyRequest};

const SECRET: &str = "prod/app";

struct Env {
    _emu: rotor_emulator::RunningEmulator,
    client: Client,
    engine: Engine,
    management_key: ApiKey,
}

async fn env_with(policy: Policy) -> Env {
    let emu = rotor_emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let client = Client::new(ClientConfig::new(
        emu.base_url(),
        ApiKey::new(emu.management_key()),
    ))
    .expect("client builds");
    let engine = Engine::new(client.clone(), policy);
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

async fn app_reads(store: &dyn SecretStore, secret: &str) -> KeyRecord {
    let v = store
        .get_value(secret, &VersionSelector::Stage(Stage::Current))
        .await
        .expect("current value");
    KeyRecord::parse(&v.value, secret).expect("current document parses")
}

fn assert_no_key_material(text: &str, keys: &[ApiKey], what: &str) {
    for k in keys {
        assert!(
            !text.contains(&k.expose()[12..69]),
            "{what} contains key material (key {}, {} bytes of output)",
            k.redacted(),
            text.len()
        );
    }
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_reports_and_errors_never_contain_a_key() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
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
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("rotation step succeeded") && text.contains("rotation step failed"),
        "logs were captured"
    );
    assert!(text.contains("key_hash="), "step events name key hashes");
    assert_no_key_material(&text, &keys, "logs");
}
