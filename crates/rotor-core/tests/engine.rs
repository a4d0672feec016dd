//! The rotation engine against the OpenRouter emulator (real HTTP on 127.0.0.1) with the memory and
//! file stores. Assertions are what a user checks: what an application reads from the store,
//! whether a key works at completions, which rotor keys are alive, what the documents record.
//!
//! No assertion message prints key material: values are compared by hash, keys by their hash.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rotor_core::engine::{Clock, Engine, EngineError, ErrorKind, ManualClock, Step, StepOutcome};
use rotor_core::policy::{
    Policy, PolicyOverrides, Setting, TestMode, is_rotor_key_name, rotor_tag,
};
use rotor_core::{
    FileStore, KeyRecord, MemoryStore, SecretStore, Stage, StoreError, VersionSelector,
};
use rotor_emulator::EmulatorConfig;
use rotor_emulator::control::{ControlClient, FaultKind};
use rotor_openrouter::{
    ApiKey, Client, ClientConfig, CreateKeyRequest, RetryPolicy, UpdateKeyRequest,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const SECRET: &str = "prod/app";
const MODEL: &str = "openai/gpt-4o-mini";
/// Past the default grace period of 2 h (with a margin for the store's own clock).
const PAST_GRACE: Duration = Duration::from_secs(2 * 3600 + 600);

struct Env {
    _emu: rotor_emulator::RunningEmulator,
    base_url: String,
    control: ControlClient,
    client: Client,
    clock: ManualClock,
    engine: Engine,
}

fn client_for(base_url: &str, management_key: &str) -> Client {
    let mut config = ClientConfig::new(base_url, ApiKey::new(management_key));
    config.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(5),
    };
    Client::new(config).expect("client builds")
}

async fn env_with(policy: Policy) -> Env {
    let emu = rotor_emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let client = client_for(&emu.base_url(), emu.management_key());
    let clock = ManualClock::new(Utc::now());
    let engine = Engine::new(client.clone(), policy).with_clock(Arc::new(clock.clone()));
    Env {
        base_url: emu.base_url(),
        control: emu.control(),
        _emu: emu,
        client,
        clock,
        engine,
    }
}

async fn env() -> Env {
    env_with(Policy::default()).await
}

/// What an application reads: the current document.
async fn app_reads(store: &dyn SecretStore, secret: &str) -> KeyRecord {
    let v = store
        .get_value(secret, &VersionSelector::Stage(Stage::Current))
        .await
        .expect("current value");
    KeyRecord::parse(&v.value, secret).expect("current document parses")
}

async fn key_works(env: &Env, key: &ApiKey) -> bool {
    env.client.chat_completion(key, MODEL).await.is_ok()
}

/// Hashes of every key recorded by the Current and Pending documents.
async fn recorded(store: &dyn SecretStore, secret: &str) -> BTreeSet<String> {
    let desc = store.describe(secret).await.expect("describe");
    let mut out = BTreeSet::new();
    for v in desc
        .versions
        .iter()
        .filter(|v| v.has(Stage::Current) || v.has(Stage::Pending))
    {
        let sel = VersionSelector::Version {
            id: v.id.clone(),
            stage: None,
        };
        if let Ok(value) = store.get_value(secret, &sel).await {
            if let Ok(rec) = KeyRecord::parse(&value.value, secret) {
                out.extend(rec.referenced_hashes().map(str::to_owned));
            }
        }
    }
    out
}

/// Hashes of the rotor keys alive at the emulator (any account).
async fn live_rotor_keys(env: &Env) -> BTreeSet<String> {
    let keys = env.control.keys().await.expect("emulator keys");
    keys.into_iter()
        .filter(|k| !k.deleted && is_rotor_key_name(&k.name))
        .map(|k| k.hash)
        .collect()
}

async fn assert_all_live_keys_recorded(
    env: &Env,
    store: &dyn SecretStore,
    secret: &str,
    when: &str,
) {
    let live = live_rotor_keys(env).await;
    let rec = recorded(store, secret).await;
    let unrecorded: Vec<_> = live.difference(&rec).collect();
    assert!(
        unrecorded.is_empty(),
        "{when}: live rotor keys recorded nowhere in the store: {unrecorded:?}"
    );
}

/// Store versions (id, stages, hash of the value), emulator keys and mutation counters.
#[derive(Debug, PartialEq)]
struct Snapshot {
    store: Vec<(String, Vec<Stage>, Option<String>)>,
    keys: Vec<(String, String, bool, bool)>,
    mutations: [u64; 3],
}

async fn mutations(control: &ControlClient) -> [u64; 3] {
    let c: BTreeMap<String, u64> = control.counters().await.expect("counters");
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    [
        get("POST /api/v1/keys"),
        get("PATCH /api/v1/keys/{hash}"),
        get("DELETE /api/v1/keys/{hash}"),
    ]
}

fn value_hash(v: &SecretString) -> String {
    hex::encode(Sha256::digest(v.expose_secret().as_bytes()))
}

async fn snapshot(env: &Env, store: &dyn SecretStore, secret: &str) -> Snapshot {
    let mut versions = Vec::new();
    if let Ok(desc) = store.describe(secret).await {
        for v in desc.versions {
            let sel = VersionSelector::Version {
                id: v.id.clone(),
                stage: None,
            };
            let value = store
                .get_value(secret, &sel)
                .await
                .ok()
                .map(|x| value_hash(&x.value));
            versions.push((v.id, v.stages, value));
        }
    }
    versions.sort();
    let mut keys: Vec<_> = env
        .control
        .keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| (k.hash, k.name, k.disabled, k.deleted))
        .collect();
    keys.sort();
    Snapshot {
        store: versions,
        keys,
        mutations: mutations(&env.control).await,
    }
}

/// The middle of a key, which no redacted form ever shows.
fn secret_part(key: &ApiKey) -> String {
    key.expose()[12..69].to_owned()
}

fn assert_no_key_material(text: &str, keys: &[ApiKey], what: &str) {
    for k in keys {
        assert!(
            !text.contains(&secret_part(k)),
            "{what} contains key material (key {}, {} bytes of output)",
            k.redacted(),
            text.len()
        );
    }
}

/// What a worker that crashed right after `POST /keys` leaves in the store: its (expired)
/// lease and the intent it recorded before creating the key.
async fn leave_crashed_intent(env: &Env, store: &dyn SecretStore, secret: &str, token: &str) {
    let desc = store.describe(secret).await.unwrap();
    let now = env.clock.now();
    let doc = rotor_core::engine::LedgerDocument {
        rotor_ledger: 1,
        lease: Some(rotor_core::engine::Lease {
            holder: "crashed-worker".into(),
            operation: "rotate".into(),
            acquired_at: now - chrono::Duration::minutes(10),
            expires_at: now - chrono::Duration::minutes(8),
        }),
        intents: vec![rotor_core::engine::Intent {
            token: token.into(),
            tag: rotor_tag(&desc.secret_id, token),
            workspace_id: None,
            recorded_at: now - chrono::Duration::minutes(10),
        }],
    };
    let expected = store.read_ledger(secret).await.unwrap().map(|l| l.revision);
    store
        .write_ledger(
            secret,
            expected.as_deref(),
            &serde_json::to_string(&doc).unwrap(),
        )
        .await
        .unwrap();
}

async fn init(env: &Env, store: &dyn SecretStore) -> KeyRecord {
    env.engine.init(store, SECRET, None).await.expect("init");
    app_reads(store, SECRET).await
}

/// Runs the four steps one by one, checking the no-orphan invariant after each.
async fn rotate_checked(env: &Env, store: &dyn SecretStore, token: &str) {
    store
        .begin_rotation(SECRET, token)
        .await
        .expect("begin rotation");
    for step in Step::ALL {
        env.engine
            .step(store, SECRET, step, token)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_all_live_keys_recorded(env, store, SECRET, &format!("after {step}")).await;
    }
}

// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn rotation_switches_the_application_to_a_new_key_and_the_old_one_keeps_working() {
    let env = env().await;
    let store = MemoryStore::new();
    let first = init(&env, &store).await;
    assert!(is_rotor_key_name(&first.key_name));
    assert!(key_works(&env, &first.api_key).await);

    let report = env.engine.rotate(&store, SECRET).await.expect("rotation");
    let outcomes: Vec<_> = report.steps.iter().map(|s| s.outcome.clone()).collect();
    assert_eq!(outcomes[0], StepOutcome::Created);
    assert_eq!(outcomes[2], StepOutcome::Passed);
    assert_eq!(outcomes[3], StepOutcome::Promoted);

    let second = app_reads(&store, SECRET).await;
    assert_ne!(second.key_hash, first.key_hash);
    assert_eq!(
        report.new_key_hash.as_deref(),
        Some(second.key_hash.as_str())
    );
    assert!(key_works(&env, &second.api_key).await, "the new key works");
    assert!(
        key_works(&env, &first.api_key).await,
        "the old key still works after finish"
    );
    assert_eq!(second.older_keys.len(), 1);
    assert_eq!(second.older_keys[0].key_hash, first.key_hash);
    assert_eq!(
        live_rotor_keys(&env).await,
        BTreeSet::from([first.key_hash.clone(), second.key_hash.clone()])
    );

    // The previous version is still readable as AWSPREVIOUS.
    let prev = store
        .get_value(SECRET, &VersionSelector::Stage(Stage::Previous))
        .await
        .expect("previous");
    assert_eq!(
        KeyRecord::parse(&prev.value, SECRET).unwrap().key_hash,
        first.key_hash
    );

    // Status: no key material, both keys active, the older key retirable in 2 h.
    let status = env.engine.status(&store, SECRET).await.expect("status");
    let json = serde_json::to_string(&status).unwrap();
    assert_no_key_material(
        &json,
        &[first.api_key.clone(), second.api_key.clone()],
        "status",
    );
    assert!(status.pending_rotation.is_none());
    assert_eq!(status.older_keys.len(), 1);
    assert!(status.older_keys[0].state.works());
    assert!(!status.older_keys[0].retirable_now);
    let current = status
        .versions
        .iter()
        .find(|v| v.stages.contains(&"AWSCURRENT".to_owned()))
        .unwrap();
    assert!(current.key.as_ref().unwrap().state.works());
}

#[tokio::test]
async fn every_step_re_run_is_a_no_op() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let token = "rerun-token";
    store.begin_rotation(SECRET, token).await.unwrap();
    for step in Step::ALL {
        let first = env
            .engine
            .step(&store, SECRET, step, token)
            .await
            .expect("first run");
        let before = snapshot(&env, &store, SECRET).await;
        let again = env
            .engine
            .step(&store, SECRET, step, token)
            .await
            .expect("re-run");
        let after = snapshot(&env, &store, SECRET).await;
        assert_eq!(before, after, "{step} re-run changed something");
        assert_eq!(again.key_hash, first.key_hash);
        let expected = match step {
            Step::CreateSecret => StepOutcome::AlreadyCreated,
            Step::SetSecret => StepOutcome::Unchanged,
            Step::TestSecret => StepOutcome::Passed,
            Step::FinishSecret => StepOutcome::AlreadyCurrent,
        };
        assert_eq!(again.outcome, expected, "{step}");
    }
    // After finish, every step is a no-op for this token.
    let before = snapshot(&env, &store, SECRET).await;
    for step in Step::ALL {
        let r = env
            .engine
            .step(&store, SECRET, step, token)
            .await
            .expect("after finish");
        assert_eq!(r.outcome, StepOutcome::AlreadyCurrent);
    }
    assert_eq!(before, snapshot(&env, &store, SECRET).await);
    // rotate_with_token with the finished token is a no-op too.
    env.engine
        .rotate_with_token(&store, SECRET, token)
        .await
        .expect("re-run of a finished rotation");
    assert_eq!(before, snapshot(&env, &store, SECRET).await);
}

#[tokio::test]
async fn lost_create_response_leaves_no_orphan() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let token = "lost-response";
    store.begin_rotation(SECRET, token).await.unwrap();
    env.control
        .fail_next("POST", "/api/v1/keys", FaultKind::CommitThenDrop)
        .await
        .unwrap();

    let err = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .expect_err("lost response");
    assert!(matches!(err, EngineError::OutcomeUnknown { .. }), "{err:?}");
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains(SECRET) && msg.contains(token) && msg.contains("createSecret"),
        "{msg}"
    );
    // The emulator did create a key; the engine found it by tag and deleted it.
    let all = env.control.keys().await.unwrap();
    let tag = rotor_tag(SECRET, token);
    assert!(
        all.iter().any(|k| k.name.contains(&tag) && k.deleted),
        "the lost key was created and deleted"
    );
    assert_all_live_keys_recorded(&env, &store, SECRET, "after the failed create").await;

    let r = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .expect("re-run");
    assert_eq!(r.outcome, StepOutcome::Created);
    assert_all_live_keys_recorded(&env, &store, SECRET, "after the re-run").await;
    assert_eq!(live_rotor_keys(&env).await.len(), 2, "current + pending");
}

#[tokio::test]
async fn crash_after_creating_the_key_is_repaired_by_re_running_create() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let token = "crashed-rotation";
    store.begin_rotation(SECRET, token).await.unwrap();
    // A process recorded its intent, created the key of this rotation, then died before
    // storing it.
    leave_crashed_intent(&env, &store, SECRET, token).await;
    let name = Policy::default().key_name(SECRET, Utc::now(), &rotor_tag(SECRET, token));
    let orphan = env
        .client
        .create_key(&CreateKeyRequest {
            name,
            ..Default::default()
        })
        .await
        .expect("orphan created");
    let live = live_rotor_keys(&env).await;
    assert!(live.contains(&orphan.data.hash));

    let r = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .expect("create re-run");
    assert_eq!(r.cleaned_up, vec![orphan.data.hash.clone()]);
    assert!(
        !key_works(&env, &orphan.key).await,
        "the unrecorded key is deleted"
    );
    assert_all_live_keys_recorded(&env, &store, SECRET, "after create").await;
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        env.engine
            .step(&store, SECRET, step, token)
            .await
            .expect("rest of the rotation");
    }
    assert_eq!(live_rotor_keys(&env).await.len(), 2);
}

#[tokio::test]
async fn third_rotation_retires_the_first_key_once_its_grace_has_passed() {
    let env = env().await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    rotate_checked(&env, &store, "r1").await;
    let k1 = app_reads(&store, SECRET).await;

    env.clock.advance(PAST_GRACE);
    let report = env
        .engine
        .rotate(&store, SECRET)
        .await
        .expect("second rotation");
    let k2 = app_reads(&store, SECRET).await;
    assert_eq!(report.retired.len(), 1);
    assert_eq!(report.retired[0].key_hash, k0.key_hash);
    assert!(
        !key_works(&env, &k0.api_key).await,
        "the first key is deleted"
    );
    assert!(
        key_works(&env, &k1.api_key).await,
        "the previous key is still in its grace period"
    );
    assert!(key_works(&env, &k2.api_key).await);
    assert_eq!(
        live_rotor_keys(&env).await,
        BTreeSet::from([k1.key_hash.clone(), k2.key_hash.clone()])
    );
    // k0 was AWSPREVIOUS until finishSecret, so createSecret kept it alive and recorded, and
    // finishSecret deleted it after the promote; its entry is dropped by the next retirement.
    assert!(k2.older_keys.iter().any(|k| k.key_hash == k1.key_hash));
    for k in &k2.older_keys {
        assert!(
            k.key_hash == k1.key_hash || k.key_hash == k0.key_hash,
            "unexpected older key {}",
            k.key_hash
        );
    }
    env.clock.advance(PAST_GRACE);
    rotate_checked(&env, &store, "r3").await;
    let k3 = app_reads(&store, SECRET).await;
    assert!(
        k3.older_keys.iter().all(|k| k.key_hash != k0.key_hash),
        "a retired key's record is dropped at the next retirement"
    );
}

/// Between createSecret and finishSecret the key AWSPREVIOUS holds is still alive: an application
/// reading AWSPREVIOUS at any moment gets a key that works (never a deleted one).
#[tokio::test]
async fn the_key_awsprevious_holds_works_at_every_step() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    rotate_checked(&env, &store, "r1").await;
    for round in 2..5 {
        env.clock.advance(PAST_GRACE);
        let token = format!("r{round}");
        store.begin_rotation(SECRET, &token).await.unwrap();
        for step in Step::ALL {
            env.engine
                .step(&store, SECRET, step, &token)
                .await
                .expect("step");
            let previous = store
                .get_value(SECRET, &VersionSelector::Stage(Stage::Previous))
                .await
                .expect("AWSPREVIOUS");
            let previous = KeyRecord::parse(&previous.value, SECRET).unwrap();
            assert!(
                key_works(&env, &previous.api_key).await,
                "round {round}, after {step}: AWSPREVIOUS holds a key that no longer works"
            );
        }
        assert!(
            live_rotor_keys(&env).await.len() <= 2,
            "at most two live keys"
        );
    }
}

/// A failure to retire the former AWSPREVIOUS key after the promote does not fail finishSecret;
/// the key stays alive and recorded, and the next rotation retires it.
#[tokio::test]
async fn a_failed_retirement_after_promote_leaves_the_key_recorded_for_later() {
    let env = env().await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    rotate_checked(&env, &store, "r1").await;
    env.clock.advance(PAST_GRACE);
    store.begin_rotation(SECRET, "r2").await.unwrap();
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        env.engine
            .step(&store, SECRET, step, "r2")
            .await
            .expect("step");
    }
    let fault = rotor_emulator::control::Fault {
        method: "DELETE".into(),
        path: "/api/v1/keys/*".into(),
        count: 3,
        kind: FaultKind::Status {
            status: 500,
            retry_after: None,
        },
    };
    env.control.inject_fault(&fault).await.unwrap();
    env.engine
        .step(&store, SECRET, Step::FinishSecret, "r2")
        .await
        .expect("finish succeeds although the retirement failed");
    env.control.clear_faults().await.unwrap();
    assert!(key_works(&env, &k0.api_key).await, "not deleted yet");
    let current = app_reads(&store, SECRET).await;
    assert!(
        current.older_keys.iter().any(|k| k.key_hash == k0.key_hash),
        "still recorded"
    );
    assert_all_live_keys_recorded(&env, &store, SECRET, "after the failed retirement").await;
    env.clock.advance(PAST_GRACE);
    rotate_checked(&env, &store, "r3").await;
    assert!(
        !key_works(&env, &k0.api_key).await,
        "retired by the next rotation"
    );
}

#[tokio::test]
async fn rotations_inside_grace_keep_older_keys_alive_and_recorded_until_a_later_rotation() {
    let env = env().await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    let mut all = vec![k0];
    for i in 0..3 {
        env.clock.advance(Duration::from_secs(600));
        rotate_checked(&env, &store, &format!("inside-grace-{i}")).await;
        all.push(app_reads(&store, SECRET).await);
    }
    let current = app_reads(&store, SECRET).await;
    let older: BTreeSet<_> = current
        .older_keys
        .iter()
        .map(|k| k.key_hash.clone())
        .collect();
    let expected: BTreeSet<_> = all[..3].iter().map(|k| k.key_hash.clone()).collect();
    assert_eq!(
        older, expected,
        "all older keys stay recorded inside their grace period"
    );
    for k in &all {
        assert!(
            key_works(&env, &k.api_key).await,
            "every key still works inside the grace period"
        );
    }
    let status = env.engine.status(&store, SECRET).await.unwrap();
    assert_eq!(status.older_keys.len(), 3);
    assert!(status.older_keys.iter().all(|k| !k.retirable_now));

    env.clock.advance(PAST_GRACE);
    let status = env.engine.status(&store, SECRET).await.unwrap();
    assert!(status.older_keys.iter().all(|k| k.retirable_now));
    rotate_checked(&env, &store, "after-grace").await;
    let newest = app_reads(&store, SECRET).await;
    for k in &all[..3] {
        assert!(
            !key_works(&env, &k.api_key).await,
            "retired after its grace period"
        );
    }
    assert!(
        key_works(&env, &all[3].api_key).await,
        "the previous key lives on"
    );
    assert_eq!(
        live_rotor_keys(&env).await,
        BTreeSet::from([all[3].key_hash.clone(), newest.key_hash.clone()]),
        "at most two rotor keys alive once grace periods have passed"
    );
}

#[tokio::test]
async fn a_key_deleted_by_hand_is_retired_as_already_gone() {
    let env = env_with(Policy {
        grace_period: Duration::ZERO,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    rotate_checked(&env, &store, "a").await;
    env.client.delete_key(&k0.key_hash).await.unwrap();
    env.clock.advance(Duration::from_secs(60));
    let report = env.engine.rotate(&store, SECRET).await.expect("rotation");
    assert_eq!(report.retired.len(), 1);
    let gone = report
        .retired
        .iter()
        .find(|r| r.key_hash == k0.key_hash)
        .unwrap();
    assert!(gone.already_gone);
    assert_eq!(live_rotor_keys(&env).await.len(), 2);
}

#[tokio::test]
async fn rotation_on_the_file_store_and_unknown_fields_and_overrides_are_carried_forward() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("secrets")).expect("file store");
    // A secret written by hand: a key, a team field, and per-secret policy.
    let created = env
        .client
        .create_key(&CreateKeyRequest {
            name: "hand-made".into(),
            limit: Some(3.0),
            ..Default::default()
        })
        .await
        .unwrap();
    let doc = serde_json::json!({
        "api_key": created.key.expose(),
        "key_hash": created.data.hash,
        "key_name": created.data.name,
        "created_at": created.data.created_at,
        "expires_at": null,
        "rotation": { "grace_period": "30m", "limit": 7.5, "limit_reset": "monthly", "test_mode": "completion" },
        "team": { "region": "eu", "tier": 2 },
    });
    store
        .create_secret(SECRET, "v0", &SecretString::from(doc.to_string()))
        .await
        .unwrap();
    let usage_before = env.client.get_key(&created.data.hash).await.unwrap().usage;

    env.engine
        .rotate(&store, SECRET)
        .await
        .expect("first rotation");
    let rec = app_reads(&store, SECRET).await;
    assert_eq!(
        rec.extra.get("team"),
        doc.get("team"),
        "unknown fields are preserved"
    );
    assert_eq!(
        rec.rotation.as_ref().unwrap().grace_period,
        Some(Duration::from_secs(1800))
    );
    let new_key = env.client.get_key(&rec.key_hash).await.unwrap();
    assert_eq!(new_key.limit, Some(7.5));
    assert_eq!(
        new_key.limit_reset,
        Some(rotor_openrouter::LimitReset::Monthly)
    );
    assert!(
        new_key.usage > 0.0,
        "completion test mode made one completion with the new key"
    );
    assert_eq!(
        env.client.get_key(&created.data.hash).await.unwrap().usage,
        usage_before
    );
    // The hand-made key is recorded as older, and retired after the per-secret grace of 30 min.
    assert_eq!(rec.older_keys[0].key_hash, created.data.hash);
    env.clock.advance(Duration::from_secs(31 * 60));
    let report = env
        .engine
        .rotate(&store, SECRET)
        .await
        .expect("second rotation");
    assert_eq!(report.retired.len(), 1);
    assert!(!key_works(&env, &created.key).await);
    let rec2 = app_reads(&store, SECRET).await;
    assert_eq!(rec2.extra.get("team"), doc.get("team"));
    assert!(rec2.older_keys.iter().any(|k| k.key_hash == rec.key_hash));
    assert_all_live_keys_recorded(&env, &store, SECRET, "end").await;

    // The file on disk is what applications read.
    let reopened = FileStore::open(dir.path().join("secrets")).unwrap();
    assert_eq!(app_reads(&reopened, SECRET).await.key_hash, rec2.key_hash);
}

#[tokio::test]
async fn default_limit_copies_the_current_keys_settings() {
    let env = env().await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    let patch = UpdateKeyRequest {
        limit: Some(Some(12.0)),
        limit_reset: Some(Some(rotor_openrouter::LimitReset::Weekly)),
        include_byok_in_limit: Some(true),
        ..Default::default()
    };
    env.client.update_key(&k0.key_hash, &patch).await.unwrap();
    env.engine.rotate(&store, SECRET).await.unwrap();
    let k1 = env
        .client
        .get_key(&app_reads(&store, SECRET).await.key_hash)
        .await
        .unwrap();
    assert_eq!(k1.limit, Some(12.0));
    assert_eq!(k1.limit_reset, Some(rotor_openrouter::LimitReset::Weekly));
    assert!(k1.include_byok_in_limit);
}

#[tokio::test]
async fn set_restores_the_policy_and_re_enables_a_disabled_new_key() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let token = "tampered";
    store.begin_rotation(SECRET, token).await.unwrap();
    let created = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .unwrap();
    let hash = created.key_hash.unwrap();
    let tamper = UpdateKeyRequest {
        name: Some("renamed".into()),
        disabled: Some(true),
        limit: Some(Some(1.0)),
        ..Default::default()
    };
    env.client.update_key(&hash, &tamper).await.unwrap();
    let err = env
        .engine
        .step(&store, SECRET, Step::TestSecret, token)
        .await
        .expect_err("disabled key fails its test");
    assert_eq!(err.kind(), ErrorKind::KeyCheckFailed);
    assert!(err.to_string().contains("disabled"), "{err}");

    let set = env
        .engine
        .step(&store, SECRET, Step::SetSecret, token)
        .await
        .unwrap();
    match set.outcome {
        StepOutcome::Updated { fields } => {
            assert_eq!(fields, vec!["name", "limit", "disabled"]);
        }
        other => panic!("expected an update, got {other:?}"),
    }
    let key = env.client.get_key(&hash).await.unwrap();
    assert!(!key.disabled);
    assert_eq!(
        key.limit, None,
        "the first key is unlimited, so is the new one"
    );
    assert!(is_rotor_key_name(&key.name));
    env.engine
        .step(&store, SECRET, Step::TestSecret, token)
        .await
        .expect("test passes again");
    let again = env
        .engine
        .step(&store, SECRET, Step::SetSecret, token)
        .await
        .unwrap();
    assert_eq!(again.outcome, StepOutcome::Unchanged);
}

#[tokio::test]
async fn test_only_on_a_pending_value_equal_to_the_current_one() {
    // AWS RotateImmediately=false: only testSecret runs, on a pending copy of the current value.
    let env = env_with(Policy {
        test_mode: TestMode::Completion,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let current = store
        .get_value(SECRET, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    let token = "copy";
    store.begin_rotation(SECRET, token).await.unwrap();
    store
        .put_pending(SECRET, token, &current.value)
        .await
        .unwrap();
    let before = mutations(&env.control).await;
    let r = env
        .engine
        .step(&store, SECRET, Step::TestSecret, token)
        .await
        .expect("test on a copy");
    assert_eq!(r.outcome, StepOutcome::Passed);
    let set = env
        .engine
        .step(&store, SECRET, Step::SetSecret, token)
        .await
        .expect("set on a copy");
    assert_eq!(set.outcome, StepOutcome::Unchanged);
    assert_eq!(
        mutations(&env.control).await,
        before,
        "nothing changed at OpenRouter"
    );
}

#[tokio::test]
async fn a_second_rotation_while_one_is_pending_is_refused_and_resume_finishes_the_first() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    store.begin_rotation(SECRET, "first").await.unwrap();
    env.engine
        .step(&store, SECRET, Step::CreateSecret, "first")
        .await
        .unwrap();
    let before = snapshot(&env, &store, SECRET).await;

    let err = env
        .engine
        .rotate(&store, SECRET)
        .await
        .expect_err("conflict");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let msg = err.to_string();
    assert!(
        msg.contains("token first") && msg.contains("--resume") && msg.contains("--token first"),
        "{msg}"
    );
    assert_eq!(
        before,
        snapshot(&env, &store, SECRET).await,
        "nothing changed"
    );

    let report = env.engine.resume(&store, SECRET).await.expect("resume");
    assert_eq!(report.token, "first");
    assert_eq!(report.steps[0].outcome, StepOutcome::AlreadyCreated);
    assert_eq!(
        app_reads(&store, SECRET).await.key_hash,
        report.new_key_hash.unwrap()
    );
    let err = env
        .engine
        .resume(&store, SECRET)
        .await
        .expect_err("nothing to resume");
    assert_eq!(err.kind(), ErrorKind::Precondition);
}

#[tokio::test]
async fn concurrent_rotations_on_one_file_store_secret_one_wins_no_orphan() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("s")).unwrap();
    let other = FileStore::open(dir.path().join("s")).unwrap();
    init(&env, &store).await;
    // The first key creation is slow, so the two rotations surely overlap.
    env.control
        .inject_fault(&rotor_emulator::control::Fault {
            method: "POST".into(),
            path: "/api/v1/keys".into(),
            count: 1,
            kind: FaultKind::Delay { delay_ms: 300 },
        })
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        env.engine.rotate(&store, SECRET),
        env.engine.rotate(&other, SECRET)
    );
    let ok = [a.is_ok(), b.is_ok()];
    assert_eq!(
        ok.iter().filter(|x| **x).count(),
        1,
        "exactly one rotation completes: {:?} {:?}",
        a.as_ref().err(),
        b.as_ref().err()
    );
    let failed = if ok[0] {
        b.unwrap_err()
    } else {
        a.unwrap_err()
    };
    assert_eq!(failed.kind(), ErrorKind::Conflict, "{failed}");
    assert_all_live_keys_recorded(&env, &store, SECRET, "after the race").await;
    assert_eq!(live_rotor_keys(&env).await.len(), 2);
}

// ------------------------------------------------------------------------------------------------
// Refusals: clear error, nothing changed at OpenRouter or in the store.

async fn assert_refused(
    env: &Env,
    store: &dyn SecretStore,
    run: impl AsyncFnOnce() -> EngineError,
    needles: &[&str],
) {
    let before = snapshot(env, store, SECRET).await;
    let err = run().await;
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "error should mention {n:?}: {msg}");
    }
    assert!(!err.is_retryable(), "{msg}");
    assert_eq!(
        before,
        snapshot(env, store, SECRET).await,
        "nothing changed: {msg}"
    );
}

#[tokio::test]
async fn wrong_token_unknown_step_and_disabled_rotation_are_refused() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    store.begin_rotation(SECRET, "real").await.unwrap();

    for step in Step::ALL {
        assert_refused(
            &env,
            &store,
            async || {
                env.engine
                    .step(&store, SECRET, step, "bogus")
                    .await
                    .unwrap_err()
            },
            &[SECRET, "bogus", step.as_str(), "not a version"],
        )
        .await;
    }
    let err = "rotateSecret".parse::<Step>().unwrap_err();
    assert!(err.to_string().contains("rotateSecret") && err.to_string().contains("createSecret"));

    // A version that is neither pending nor current: the previous one after a rotation.
    let old_current = store
        .describe(SECRET)
        .await
        .unwrap()
        .with_stage(Stage::Current)
        .unwrap()
        .id
        .clone();
    store.clear_pending(SECRET, "real").await.unwrap();
    env.engine
        .rotate_with_token(&store, SECRET, "next")
        .await
        .unwrap();
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::CreateSecret, &old_current)
                .await
                .unwrap_err()
        },
        &["AWSPENDING", "AWSPREVIOUS"],
    )
    .await;

    store.begin_rotation(SECRET, "later").await.unwrap();
    store.set_rotation_enabled(SECRET, Some(false)).unwrap();
    for step in Step::ALL {
        assert_refused(
            &env,
            &store,
            async || {
                env.engine
                    .step(&store, SECRET, step, "later")
                    .await
                    .unwrap_err()
            },
            &[SECRET, "rotation is disabled"],
        )
        .await;
    }
    store.clear_pending(SECRET, "later").await.unwrap();
    assert_refused(
        &env,
        &store,
        async || env.engine.rotate(&store, SECRET).await.unwrap_err(),
        &["rotation is disabled"],
    )
    .await;
}

#[tokio::test]
async fn malformed_documents_are_refused_without_echoing_them() {
    let env = env().await;
    let leaked = env
        .client
        .create_key(&CreateKeyRequest {
            name: "by hand".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let k = leaked.key.expose().to_owned();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{{\"api_key\": \"{k}\", oops"),
            vec!["not valid JSON", "line 1"],
        ),
        (
            format!(
                r#"{{"key": "{k}", "key_hash": "h", "key_name": "n", "created_at": "2026-01-01T00:00:00Z"}}"#
            ),
            vec!["\"api_key\""],
        ),
        (
            format!(
                r#"{{"api_key": ["{k}"], "key_hash": "h", "key_name": "n", "created_at": "2026-01-01T00:00:00Z"}}"#
            ),
            vec!["\"api_key\"", "sk-or-v1-"],
        ),
        (
            format!(
                r#"{{"api_key": "{k}", "key_hash": "h", "key_name": "n", "created_at": "{k}"}}"#
            ),
            vec!["\"created_at\""],
        ),
    ];
    for (i, (doc, needles)) in cases.into_iter().enumerate() {
        let store = MemoryStore::new();
        store
            .create_secret(SECRET, "v0", &SecretString::from(doc))
            .await
            .unwrap();
        let mut needles = needles;
        needles.extend([SECRET, "AWSCURRENT"]);
        let before = snapshot(&env, &store, SECRET).await;
        let err = env
            .engine
            .rotate(&store, SECRET)
            .await
            .expect_err("refused");
        let text = format!("{err} {err:?}");
        assert_no_key_material(
            &text,
            std::slice::from_ref(&leaked.key),
            &format!("error of case {i}"),
        );
        for n in &needles {
            assert!(
                text.contains(n),
                "case {i}: error should mention {n:?}: {err}"
            );
        }
        assert_eq!(err.kind(), ErrorKind::Precondition);
        assert_eq!(
            before,
            snapshot(&env, &store, SECRET).await,
            "case {i}: nothing changed"
        );
    }
}

#[tokio::test]
async fn a_document_whose_key_belongs_to_another_account_is_refused() {
    let env = env().await;
    let other = env.control.create_account().await.unwrap();
    let other_client = client_for(&env.base_url, &other.management_key);
    let foreign = other_client
        .create_key(&CreateKeyRequest {
            name: "other account [rotor:00000000]".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let doc = serde_json::json!({
        "api_key": foreign.key.expose(), "key_hash": foreign.data.hash, "key_name": foreign.data.name,
        "created_at": foreign.data.created_at, "expires_at": null,
    });
    let store = MemoryStore::new();
    store
        .create_secret(SECRET, "v0", &SecretString::from(doc.to_string()))
        .await
        .unwrap();
    assert_refused(
        &env,
        &store,
        async || env.engine.rotate(&store, SECRET).await.unwrap_err(),
        &[SECRET, "another account", &foreign.data.hash],
    )
    .await;
    store.begin_rotation(SECRET, "t").await.unwrap();
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::CreateSecret, "t")
                .await
                .unwrap_err()
        },
        &["createSecret", "another account"],
    )
    .await;

    // A pending document with another account's key: set refuses, test fails, nothing changes.
    let store = MemoryStore::new();
    init(&env, &store).await;
    store.begin_rotation(SECRET, "p").await.unwrap();
    store
        .put_pending(SECRET, "p", &SecretString::from(doc.to_string()))
        .await
        .unwrap();
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::SetSecret, "p")
                .await
                .unwrap_err()
        },
        &["pending", "another account"],
    )
    .await;
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::TestSecret, "p")
                .await
                .unwrap_err()
        },
        &["testSecret", "no key with hash"],
    )
    .await;
}

#[tokio::test]
async fn init_refuses_an_existing_secret_and_deletes_its_key_when_storing_fails() {
    let env = env().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    assert_refused(
        &env,
        &store,
        async || env.engine.init(&store, SECRET, None).await.unwrap_err(),
        &["already has a current value", "rotor rotate"],
    )
    .await;
    let overrides = PolicyOverrides {
        limit: Some(Setting::Value(Some(2.0))),
        ..Default::default()
    };
    let r = env
        .engine
        .init(&store, "other/secret", Some(overrides))
        .await
        .unwrap();
    assert_eq!(
        env.client.get_key(&r.key_hash).await.unwrap().limit,
        Some(2.0)
    );
    let rec = app_reads(&store, "other/secret").await;
    assert_eq!(rec.rotation.unwrap().limit, Some(Setting::Value(Some(2.0))));
}

// ------------------------------------------------------------------------------------------------
// Faults: a real MemoryStore behind a wrapper that fails chosen calls the way real backends do
// (a conflict, a response lost after the write, an outage), and emulator faults on every route.

#[derive(Debug, Clone, Copy, PartialEq)]
enum StoreFault {
    /// put_pending: Conflict, nothing written.
    ConflictOnPut,
    /// put_pending: the write lands, then the call fails with a Transient error.
    LostPutResponse,
    /// put_pending fails and the store stays unreachable for the read that follows.
    Outage,
    /// promote: the stage move lands, then the call fails with a Transient error.
    LostPromoteResponse,
}

#[derive(Debug, Default)]
struct FlakyStore {
    inner: MemoryStore,
    fault: Mutex<Option<StoreFault>>,
    reads_down: Mutex<u32>,
}

impl FlakyStore {
    fn arm(&self, fault: StoreFault) {
        *self.fault.lock().unwrap() = Some(fault);
    }
    fn take(&self, wanted: &[StoreFault]) -> Option<StoreFault> {
        let mut f = self.fault.lock().unwrap();
        match *f {
            Some(x) if wanted.contains(&x) => f.take(),
            _ => None,
        }
    }
    fn transient(secret: &str) -> StoreError {
        StoreError::Transient {
            secret: secret.into(),
            message: "injected: connection reset".into(),
        }
    }
}

#[async_trait::async_trait]
impl SecretStore for FlakyStore {
    fn backend(&self) -> &'static str {
        "flaky-memory"
    }
    async fn describe(&self, s: &str) -> Result<rotor_core::SecretDescription, StoreError> {
        self.inner.describe(s).await
    }
    async fn get_value(
        &self,
        s: &str,
        sel: &VersionSelector,
    ) -> Result<rotor_core::SecretValue, StoreError> {
        {
            let mut down = self.reads_down.lock().unwrap();
            if *down > 0 {
                *down -= 1;
                return Err(Self::transient(s));
            }
        }
        self.inner.get_value(s, sel).await
    }
    async fn create_secret(&self, s: &str, t: &str, v: &SecretString) -> Result<(), StoreError> {
        self.inner.create_secret(s, t, v).await
    }
    async fn begin_rotation(&self, s: &str, t: &str) -> Result<(), StoreError> {
        self.inner.begin_rotation(s, t).await
    }
    async fn put_pending(&self, s: &str, t: &str, v: &SecretString) -> Result<(), StoreError> {
        use StoreFault::*;
        match self.take(&[ConflictOnPut, LostPutResponse, Outage]) {
            Some(ConflictOnPut) => Err(StoreError::conflict(
                s,
                "injected: another value for this token",
            )),
            Some(LostPutResponse) => {
                self.inner.put_pending(s, t, v).await?;
                Err(Self::transient(s))
            }
            Some(Outage) => {
                *self.reads_down.lock().unwrap() = 1;
                Err(Self::transient(s))
            }
            _ => self.inner.put_pending(s, t, v).await,
        }
    }
    async fn promote(&self, s: &str, t: &str, from: &str) -> Result<(), StoreError> {
        if self.take(&[StoreFault::LostPromoteResponse]).is_some() {
            self.inner.promote(s, t, from).await?;
            return Err(Self::transient(s));
        }
        self.inner.promote(s, t, from).await
    }
    async fn clear_pending(&self, s: &str, t: &str) -> Result<(), StoreError> {
        self.inner.clear_pending(s, t).await
    }
    async fn read_ledger(&self, s: &str) -> Result<Option<rotor_core::LedgerEntry>, StoreError> {
        self.inner.read_ledger(s).await
    }
    async fn write_ledger(
        &self,
        s: &str,
        expected: Option<&str>,
        doc: &str,
    ) -> Result<String, StoreError> {
        self.inner.write_ledger(s, expected, doc).await
    }
}

#[tokio::test]
async fn a_failed_pending_write_deletes_the_new_key_or_leaves_it_to_the_re_run() {
    let env = env().await;
    let store = FlakyStore::default();
    init(&env, &store).await;

    // Conflict: the write certainly did not land, so the new key is deleted at once.
    store.begin_rotation(SECRET, "c").await.unwrap();
    store.arm(StoreFault::ConflictOnPut);
    let err = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, "c")
        .await
        .expect_err("conflict");
    assert!(err.to_string().contains("was deleted again"), "{err}");
    assert_all_live_keys_recorded(&env, &store, SECRET, "after a conflicting write").await;
    assert_eq!(live_rotor_keys(&env).await.len(), 1);

    // Lost response: the write landed; the engine reads it back and succeeds.
    store.arm(StoreFault::LostPutResponse);
    let r = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, "c")
        .await
        .expect("write landed");
    assert_eq!(r.outcome, StepOutcome::Created);
    assert_all_live_keys_recorded(&env, &store, SECRET, "after a lost write response").await;
    assert_eq!(live_rotor_keys(&env).await.len(), 2);
    store.clear_pending(SECRET, "c").await.unwrap();
    // (Abandoning a rotation is the caller's business; delete its key so the next check is exact.)
    env.client
        .delete_key(r.key_hash.as_deref().unwrap())
        .await
        .unwrap();

    // Outage: the outcome is unknown, so the key stays for the re-run to decide (by tag).
    store.begin_rotation(SECRET, "o").await.unwrap();
    store.arm(StoreFault::Outage);
    let err = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, "o")
        .await
        .expect_err("outage");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("its intent is recorded"), "{err}");
    let r = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, "o")
        .await
        .expect("re-run");
    assert_eq!(
        r.cleaned_up.len(),
        1,
        "the re-run deleted the unrecorded key of the first attempt"
    );
    assert_all_live_keys_recorded(&env, &store, SECRET, "after the re-run").await;
    assert_eq!(live_rotor_keys(&env).await.len(), 2);

    // A promote whose response is lost: finish fails retryably, its re-run is a no-op.
    env.engine
        .step(&store, SECRET, Step::SetSecret, "o")
        .await
        .unwrap();
    env.engine
        .step(&store, SECRET, Step::TestSecret, "o")
        .await
        .unwrap();
    store.arm(StoreFault::LostPromoteResponse);
    let err = env
        .engine
        .step(&store, SECRET, Step::FinishSecret, "o")
        .await
        .expect_err("lost promote");
    assert!(err.is_retryable());
    let r = env
        .engine
        .step(&store, SECRET, Step::FinishSecret, "o")
        .await
        .unwrap();
    assert_eq!(r.outcome, StepOutcome::AlreadyCurrent);
    assert_eq!(
        app_reads(&store, SECRET).await.key_hash,
        r.key_hash.unwrap()
    );
}

#[tokio::test]
async fn openrouter_failures_at_every_call_converge_after_retries_without_orphans() {
    let env = env_with(Policy {
        test_mode: TestMode::Completion,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    rotate_checked(&env, &store, "warm-up").await;
    // More failures than the client's 3 attempts, so the engine sees them.
    let server_error = FaultKind::Status {
        status: 500,
        retry_after: None,
    };
    let faults: Vec<(&str, &str, u32, FaultKind)> = vec![
        ("GET", "/api/v1/keys/*", 3, server_error.clone()),
        ("POST", "/api/v1/keys", 1, FaultKind::CommitThenDrop),
        ("POST", "/api/v1/keys", 1, server_error.clone()),
        ("PATCH", "/api/v1/keys/*", 3, server_error.clone()),
        ("GET", "/api/v1/key", 3, server_error.clone()),
        ("POST", "/api/v1/chat/completions", 1, server_error.clone()),
    ];
    for (i, (method, path, count, kind)) in faults.into_iter().enumerate() {
        env.clock.advance(PAST_GRACE);
        let token = format!("fault-{i}-{method}-{}", path.replace('/', "_"));
        store.begin_rotation(SECRET, &token).await.unwrap();
        let mut failures = 0;
        for step in Step::ALL {
            if step == Step::SetSecret && method == "PATCH" {
                // Give set something to change, so it calls PATCH.
                let hash = app_pending_hash(&store, &token).await;
                let patch = UpdateKeyRequest {
                    name: Some("drifted".into()),
                    ..Default::default()
                };
                env.client.update_key(&hash, &patch).await.unwrap();
            }
            if (step == Step::CreateSecret
                && ["/api/v1/keys", "/api/v1/keys/*"].contains(&path)
                && method != "PATCH")
                || (step == Step::SetSecret && method == "PATCH")
                || (step == Step::TestSecret
                    && ["/api/v1/key", "/api/v1/chat/completions"].contains(&path))
            {
                let fault = rotor_emulator::control::Fault {
                    method: method.into(),
                    path: path.into(),
                    count,
                    kind: kind.clone(),
                };
                env.control.inject_fault(&fault).await.unwrap();
            }
            for attempt in 0..5 {
                let result = env.engine.step(&store, SECRET, step, &token).await;
                assert_all_live_keys_recorded(
                    &env,
                    &store,
                    SECRET,
                    &format!("{token} {step} attempt {attempt}"),
                )
                .await;
                match result {
                    Ok(_) => break,
                    Err(e) => {
                        assert!(
                            e.is_retryable(),
                            "{token} {step}: a temporary failure must be retryable: {e}"
                        );
                        failures += 1;
                    }
                }
                assert!(attempt < 4, "{token} {step} did not converge");
            }
        }
        assert!(failures >= 1, "{token}: the fault was seen by the engine");
        env.control.clear_faults().await.unwrap();
        let current = app_reads(&store, SECRET).await;
        assert!(
            key_works(&env, &current.api_key).await,
            "{token}: the application's key works"
        );
        assert!(
            live_rotor_keys(&env).await.len() <= 2,
            "{token}: at most current and previous alive"
        );
    }
}

async fn app_pending_hash(store: &dyn SecretStore, token: &str) -> String {
    let v = store
        .get_value(
            SECRET,
            &VersionSelector::version_in_stage(token, Stage::Pending),
        )
        .await
        .unwrap();
    KeyRecord::parse(&v.value, SECRET).unwrap().key_hash
}

#[tokio::test]
async fn init_with_a_lost_create_response_leaves_nothing_behind() {
    let env = env().await;
    let store = MemoryStore::new();
    env.control
        .fail_next("POST", "/api/v1/keys", FaultKind::CommitThenDrop)
        .await
        .unwrap();
    let err = env
        .engine
        .init(&store, SECRET, None)
        .await
        .expect_err("lost response");
    assert!(err.is_retryable(), "{err}");
    assert!(
        live_rotor_keys(&env).await.is_empty(),
        "the key init made was found by tag and deleted"
    );
    assert!(
        store.describe(SECRET).await.is_err(),
        "no secret was created"
    );
    init(&env, &store).await;
    assert_eq!(live_rotor_keys(&env).await.len(), 1);
}

#[tokio::test]
async fn abandon_deletes_the_rotations_keys_and_keeps_the_current_value() {
    let env = env().await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    let before = store
        .get_value(SECRET, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();

    // A rotation whose key was created and stored, then given up.
    store.begin_rotation(SECRET, "given-up").await.unwrap();
    let created = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, "given-up")
        .await
        .unwrap();
    let report = env.engine.abandon(&store, SECRET).await.expect("abandon");
    assert_eq!(report.token, "given-up");
    assert_eq!(report.deleted_keys, vec![created.key_hash.unwrap()]);
    assert_eq!(
        live_rotor_keys(&env).await,
        BTreeSet::from([k0.key_hash.clone()])
    );
    assert!(
        store
            .describe(SECRET)
            .await
            .unwrap()
            .with_stage(Stage::Pending)
            .is_none_or(|v| v.has(Stage::Current))
    );
    let after = store
        .get_value(SECRET, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    assert_eq!(
        value_hash(&before.value),
        value_hash(&after.value),
        "the application reads the same value"
    );

    // A rotation that crashed between creating its key and storing it: found through its intent.
    store.begin_rotation(SECRET, "crashed").await.unwrap();
    leave_crashed_intent(&env, &store, SECRET, "crashed").await;
    let desc = store.describe(SECRET).await.unwrap();
    let name =
        Policy::default().key_name(SECRET, Utc::now(), &rotor_tag(&desc.secret_id, "crashed"));
    let orphan = env
        .client
        .create_key(&CreateKeyRequest {
            name,
            ..Default::default()
        })
        .await
        .unwrap();
    let report = env.engine.abandon(&store, SECRET).await.expect("abandon");
    assert_eq!(report.deleted_keys, vec![orphan.data.hash]);
    assert_eq!(
        live_rotor_keys(&env).await,
        BTreeSet::from([k0.key_hash.clone()])
    );

    let err = env
        .engine
        .abandon(&store, SECRET)
        .await
        .expect_err("nothing to abandon");
    assert_eq!(err.kind(), ErrorKind::Precondition);
    env.engine
        .rotate(&store, SECRET)
        .await
        .expect("a new rotation works");
}

#[tokio::test]
async fn expires_after_sets_the_new_keys_expiry_and_test_rejects_an_expired_key() {
    let env = env_with(Policy {
        expires_after: Some(Duration::from_secs(30 * 86400)),
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let start = env.clock.now();
    env.engine.rotate(&store, SECRET).await.expect("rotation");
    let rec = app_reads(&store, SECRET).await;
    let at_openrouter = env
        .client
        .get_key(&rec.key_hash)
        .await
        .unwrap()
        .expires_at
        .expect("expires_at set");
    let expected = start + chrono::Duration::days(30);
    assert!(
        (at_openrouter - expected).num_seconds().abs() <= 1,
        "{at_openrouter} vs {expected}"
    );
    assert_eq!(
        rec.expires_at.map(|t| t.timestamp()),
        Some(at_openrouter.timestamp())
    );

    // A pending key that has expired (by the engine's clock) fails testSecret.
    store.begin_rotation(SECRET, "late").await.unwrap();
    env.engine
        .step(&store, SECRET, Step::CreateSecret, "late")
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(31 * 86400));
    let err = env
        .engine
        .step(&store, SECRET, Step::TestSecret, "late")
        .await
        .expect_err("expired");
    assert_eq!(err.kind(), ErrorKind::KeyCheckFailed);
    assert!(err.to_string().contains("expired"), "{err}");
}

/// Drops the wrapped future on its `n`-th poll: a crash of the process at that await point.
struct CrashAfterPolls<F: std::future::Future> {
    inner: std::pin::Pin<Box<F>>,
    polls_left: usize,
}

impl<F: std::future::Future> std::future::Future for CrashAfterPolls<F> {
    type Output = Option<F::Output>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if self.polls_left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.polls_left -= 1;
        self.inner.as_mut().poll(cx).map(Some)
    }
}

#[tokio::test]
async fn a_crash_at_any_await_point_of_any_step_is_repaired_by_resuming() {
    crash_everywhere(&MemoryStore::new()).await;
    let dir = tempfile::tempdir().unwrap();
    crash_everywhere(&FileStore::open(dir.path().join("s")).unwrap()).await;
}

async fn crash_everywhere(store: &dyn SecretStore) {
    let env = env_with(Policy {
        grace_period: Duration::ZERO,
        ..Policy::default()
    })
    .await;
    init(&env, store).await;
    let mut crashes = 0;
    let mut window_hits = 0;
    let mut leases_waited = 0;
    for step_index in 0..Step::ALL.len() {
        for polls in 1.. {
            env.clock.advance(Duration::from_secs(60));
            let token = format!("crash-{step_index}-{polls}");
            store.begin_rotation(SECRET, &token).await.unwrap();
            for step in &Step::ALL[..step_index] {
                env.engine.step(store, SECRET, *step, &token).await.unwrap();
            }
            let step = Step::ALL[step_index];
            let crashed = CrashAfterPolls {
                inner: Box::pin(env.engine.step(store, SECRET, step, &token)),
                polls_left: polls,
            }
            .await
            .is_none();
            // Let the emulator (same runtime) finish whatever request had fully arrived before
            // the crash; a fixed number of yields was not enough on a loaded machine.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let lease_held = store
                .read_ledger(SECRET)
                .await
                .unwrap()
                .and_then(|l| rotor_core::engine::LedgerDocument::parse(&l.document).ok())
                .and_then(|d| d.lease)
                .is_some_and(|l| l.expires_at > env.clock.now());
            if crashed && lease_held {
                // A crash inside createSecret or finishSecret leaves the worker's lease: nobody
                // may act until it ends.
                let err = env
                    .engine
                    .retire(store, SECRET, false)
                    .await
                    .expect_err("the crashed worker's lease still runs");
                assert!(matches!(err, EngineError::Busy { .. }), "{token}: {err}");
                leases_waited += 1;
                env.clock
                    .advance(Policy::default().lease_ttl + Duration::from_secs(1));
            }
            let desc = store.describe(SECRET).await.unwrap();
            let tag = rotor_tag(&desc.secret_id, &token);
            let keys = env.control.keys().await.unwrap();
            let rec = recorded(store, SECRET).await;
            let stray: Vec<_> = keys
                .iter()
                .filter(|k| !k.deleted && is_rotor_key_name(&k.name) && !rec.contains(&k.hash))
                .filter(|k| !k.name.contains(&tag))
                .map(|k| k.hash.clone())
                .collect();
            assert!(
                stray.is_empty(),
                "{token}: unrecorded keys other than this rotation's own: {stray:?}"
            );

            if !crashed && step == Step::FinishSecret {
                let desc = store.describe(SECRET).await.unwrap();
                assert_eq!(
                    desc.with_stage(Stage::Current).map(|v| v.id.as_str()),
                    Some(token.as_str())
                );
                assert_eq!(live_rotor_keys(&env).await.len(), 2);
                break;
            }
            let own_unrecorded = keys
                .iter()
                .filter(|k| !k.deleted && k.name.contains(&tag) && !rec.contains(&k.hash))
                .count();
            if own_unrecorded > 0 {
                window_hits += 1;
            }
            let report = match env.engine.resume(store, SECRET).await {
                Ok(report) => report,
                Err(e) => {
                    // Only a crash after the promote landed leaves nothing to resume.
                    assert_eq!(e.kind(), ErrorKind::Precondition, "{token}: {e}");
                    let desc = store.describe(SECRET).await.unwrap();
                    assert_eq!(
                        desc.with_stage(Stage::Current).map(|v| v.id.as_str()),
                        Some(token.as_str())
                    );
                    crashes += 1;
                    continue;
                }
            };
            assert_eq!(report.token, token);
            assert_all_live_keys_recorded(&env, store, SECRET, &format!("{token} after resume"))
                .await;
            let current = app_reads(store, SECRET).await;
            assert!(
                key_works(&env, &current.api_key).await,
                "{token}: the application's key works"
            );
            assert_eq!(
                live_rotor_keys(&env).await.len(),
                2,
                "{token}: exactly the current and the previous key are alive"
            );
            if !crashed {
                break;
            }
            crashes += 1;
        }
    }
    assert!(
        crashes >= 4,
        "crashes were simulated at many points ({crashes})"
    );
    assert!(
        leases_waited >= 2,
        "crashes inside createSecret and finishSecret left leases that blocked others ({leases_waited})"
    );
    // Whether a crash lands between `POST /keys` committing and the pending write depends on
    // timing (the request must have reached the emulator before the drop; the file store's
    // blocking write may finish after its future is dropped), so it is reported, not asserted:
    // `crash_after_creating_the_key_is_repaired_by_re_running_create` covers that window
    // deterministically.
    eprintln!("crash points: {crashes}; crashes inside the create-to-store window: {window_hits}");
}
