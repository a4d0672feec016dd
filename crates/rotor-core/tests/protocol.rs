//! The rotation protocol's promises under races and partial failures: one owner per secret (the
//! lease), a durable intent before every key, bounds instead of wedges, and the findings of the
//! protocol review, each reproduced against the in-process emulator over HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rotor_core::engine::{EngineError, Step, StepOutcome};
use rotor_core::policy::Policy;
use rotor_core::{
    FileStore, KeyRecord, LedgerEntry, MemoryStore, SecretDescription, SecretStore, SecretValue,
    Stage, StoreError, VersionSelector,
};
use rotor_emulator::control::FaultKind;
use rotor_openrouter::{ApiKey, UpdateKeyRequest};
use rotor_testkit::Env;
use secrecy::SecretString;

const SECRET: &str = "prod/app";

/// Whether `key` authenticates at OpenRouter (`GET /key`).
async fn key_works(env: &Env, key: &ApiKey) -> bool {
    env.client.current_key(key).await.is_ok()
}

/// Hashes of the keys alive at the emulator, as a list.
async fn live_hashes(env: &Env) -> Vec<String> {
    env.live_keys().await.into_iter().collect()
}

async fn read(store: &dyn SecretStore, stage: Stage) -> Option<KeyRecord> {
    let v = store
        .get_value(SECRET, &VersionSelector::Stage(stage))
        .await
        .ok()?;
    KeyRecord::parse(&v.value, SECRET).ok()
}

/// Every stage an application may read holds a key that works.
async fn assert_readable_keys_work(env: &Env, store: &dyn SecretStore, what: &str) {
    for stage in [Stage::Current, Stage::Previous] {
        if let Some(doc) = read(store, stage).await {
            assert!(
                key_works(env, &doc.api_key).await,
                "{what}: the key {stage} holds ({}) does not work",
                doc.key_hash
            );
        }
    }
}

/// Every live key of the account is recorded by the secret's current, previous or pending
/// document.
async fn assert_no_orphan(env: &Env, store: &dyn SecretStore, what: &str) {
    let mut recorded = std::collections::BTreeSet::new();
    for stage in Stage::ALL {
        if let Some(doc) = read(store, stage).await {
            recorded.extend(doc.referenced_hashes().map(str::to_owned));
        }
    }
    for hash in live_hashes(env).await {
        assert!(
            recorded.contains(&hash),
            "{what}: live key {hash} is recorded nowhere"
        );
    }
}

fn no_grace() -> Policy {
    Policy {
        grace_period: Duration::ZERO,
        ..Policy::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_worker_is_refused_with_the_holder_named_and_changes_nothing() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let a = env.worker("worker-a", Policy::default());
    let b = env.worker("worker-b", Policy::default());
    a.init(&store, SECRET, None).await.unwrap();
    let before = store.describe(SECRET).await.unwrap();
    let keys_before = live_hashes(&env).await;
    // A is slow creating its key; B starts meanwhile.
    env.fault(
        "POST",
        "/api/v1/keys",
        1,
        FaultKind::Delay { delay_ms: 800 },
    )
    .await;
    let slow = tokio::spawn({
        let store = store.clone();
        async move { a.rotate(&store, SECRET).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = b.rotate(&store, SECRET).await.expect_err("refused");
    assert_eq!(err.kind(), rotor_core::engine::ErrorKind::Conflict, "{err}");
    let err = b.retire(&store, SECRET, false).await.expect_err("refused");
    match &err {
        EngineError::Busy {
            holder, operation, ..
        } => {
            assert_eq!(holder, "worker-a");
            assert_eq!(operation, "rotate");
        }
        other => panic!("expected Busy, got {other}"),
    }
    assert_eq!(err.kind(), rotor_core::engine::ErrorKind::Conflict);
    assert!(
        err.to_string().contains("holds this secret's lease until"),
        "{err}"
    );
    for refused in [
        b.retire(&store, SECRET, true).await.err(),
        b.rollback(&store, SECRET).await.err(),
        b.abandon(&store, SECRET).await.err(),
        b.revoke_key(&store, SECRET, &keys_before[0]).await.err(),
    ] {
        assert!(
            matches!(refused, Some(EngineError::Busy { .. })),
            "every mutating operation is refused: {refused:?}"
        );
    }
    slow.await.unwrap().expect("the owner finishes");
    let after = store.describe(SECRET).await.unwrap();
    assert_ne!(before, after, "the owner's rotation landed");
    assert_readable_keys_work(&env, &store, "after both workers").await;
    assert_no_orphan(&env, &store, "after both workers").await;
    // The lease was released: B may act now.
    b.rotate(&store, SECRET).await.expect("free again");
}

/// Issue finding: abandon read Current, deleted the pending key, then cleared Pending without a
/// check-and-set; a finishSecret in between promoted the key being deleted.
#[tokio::test(flavor = "multi_thread")]
async fn abandon_and_a_concurrent_finish_never_leave_a_deleted_current_key() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let ops = env.worker("operator", Policy::default());
    let lambda = env.worker("lambda", Policy::default());
    let first = ops.init(&store, SECRET, None).await.unwrap();
    store.begin_rotation(SECRET, "t1").await.unwrap();
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        lambda.step(&store, SECRET, step, "t1").await.unwrap();
    }
    // The operator abandons; its DELETE of the pending key is slow; the Lambda's finishSecret
    // arrives meanwhile.
    env.fault(
        "DELETE",
        "/api/v1/keys/*",
        1,
        FaultKind::Delay { delay_ms: 800 },
    )
    .await;
    let abandon = tokio::spawn({
        let store = store.clone();
        async move { ops.abandon(&store, SECRET).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let finish = lambda.step(&store, SECRET, Step::FinishSecret, "t1").await;
    let abandoned = abandon.await.unwrap();
    assert!(abandoned.is_ok(), "abandon: {abandoned:?}");
    assert!(finish.is_err(), "finish must not promote during abandon");
    let current = read(&store, Stage::Current).await.unwrap();
    assert_eq!(current.key_hash, first.key_hash, "Current unchanged");
    assert_readable_keys_work(&env, &store, "after abandon vs finish").await;
    assert_no_orphan(&env, &store, "after abandon vs finish").await;
}

/// Issue finding: `rotor retire` deleted the key that AWSPREVIOUS still held.
#[tokio::test(flavor = "multi_thread")]
async fn retire_never_deletes_the_key_awsprevious_holds() {
    for store in [
        Box::new(MemoryStore::new()) as Box<dyn SecretStore>,
        Box::new(FileStore::open(tempfile::tempdir().unwrap().keep().join("s")).unwrap()),
    ] {
        let env = Env::start().await;
        let store = store.as_ref();
        let engine = env.worker("w", no_grace());
        let first = engine.init(store, SECRET, None).await.unwrap();
        engine.rotate(store, SECRET).await.unwrap();
        assert_eq!(
            read(store, Stage::Previous).await.unwrap().key_hash,
            first.key_hash
        );
        // (The store stamps the promote with its own clock.)
        env.clock.advance(Duration::from_secs(5));
        let report = engine.retire(store, SECRET, false).await.unwrap();
        assert!(
            report.retired.iter().any(|k| k.key_hash == first.key_hash),
            "the old key is retired: {report:?}"
        );
        assert_readable_keys_work(&env, store, "after retire").await;
        assert_ne!(
            read(store, Stage::Previous).await.unwrap().key_hash,
            first.key_hash,
            "AWSPREVIOUS was moved off the retired key"
        );
        assert_no_orphan(&env, store, "after retire").await;
    }
}

/// A store whose reads of one stage fail (temporarily) while armed.
#[derive(Clone, Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail_stage: Arc<Mutex<Option<Stage>>>,
    /// create_secret lands, then reports a transient failure; the next reads fail too.
    lose_create: Arc<Mutex<u32>>,
    reads_down: Arc<Mutex<u32>>,
    /// Every ledger document written, in order.
    ledger_writes: Arc<Mutex<Vec<String>>>,
}

fn transient(s: &str) -> StoreError {
    StoreError::Transient {
        secret: s.into(),
        message: "injected: connection reset".into(),
    }
}

#[async_trait::async_trait]
impl SecretStore for FlakyStore {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn describe(&self, s: &str) -> Result<SecretDescription, StoreError> {
        self.inner.describe(s).await
    }
    async fn get_value(&self, s: &str, sel: &VersionSelector) -> Result<SecretValue, StoreError> {
        {
            let mut down = self.reads_down.lock().unwrap();
            if *down > 0 {
                *down -= 1;
                return Err(transient(s));
            }
        }
        if let VersionSelector::Stage(stage) = sel
            && *self.fail_stage.lock().unwrap() == Some(*stage)
        {
            return Err(transient(s));
        }
        self.inner.get_value(s, sel).await
    }
    async fn create_secret(&self, s: &str, t: &str, v: &SecretString) -> Result<(), StoreError> {
        self.inner.create_secret(s, t, v).await?;
        let mut lose = self.lose_create.lock().unwrap();
        if *lose > 0 {
            *lose -= 1;
            *self.reads_down.lock().unwrap() = 1;
            return Err(transient(s));
        }
        Ok(())
    }
    async fn begin_rotation(&self, s: &str, t: &str) -> Result<(), StoreError> {
        self.inner.begin_rotation(s, t).await
    }
    async fn put_pending(&self, s: &str, t: &str, v: &SecretString) -> Result<(), StoreError> {
        self.inner.put_pending(s, t, v).await
    }
    async fn promote(&self, s: &str, t: &str, from: &str) -> Result<(), StoreError> {
        self.inner.promote(s, t, from).await
    }
    async fn clear_pending(&self, s: &str, t: &str) -> Result<(), StoreError> {
        self.inner.clear_pending(s, t).await
    }
    async fn read_ledger(&self, s: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.inner.read_ledger(s).await
    }
    async fn write_ledger(
        &self,
        s: &str,
        expected: Option<&str>,
        doc: &str,
    ) -> Result<String, StoreError> {
        self.ledger_writes.lock().unwrap().push(doc.to_owned());
        self.inner.write_ledger(s, expected, doc).await
    }
}

fn ledger_doc(text: &str) -> rotor_core::engine::LedgerDocument {
    rotor_core::engine::LedgerDocument::parse(text).expect("a ledger document")
}

/// The lease and the intent are one check-and-set: a rotation writes the secret's ledger twice
/// (the lease with the intent before `POST /keys`, the release dropping both), the same for a
/// lone createSecret step; a rotation refused before it creates a key leaves no intent behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_records_its_intent_in_the_lease_write_and_writes_the_ledger_twice() {
    let env = Env::start().await;
    let store = FlakyStore::default();
    let engine = env.worker("w", no_grace());
    engine.init(&store, SECRET, None).await.unwrap();
    for round in 0..2 {
        store.ledger_writes.lock().unwrap().clear();
        engine.rotate(&store, SECRET).await.unwrap();
        let writes = store.ledger_writes.lock().unwrap().clone();
        let docs: Vec<_> = writes.iter().map(|w| ledger_doc(w)).collect();
        assert_eq!(docs.len(), 2, "round {round}: ledger writes {docs:?}");
        assert!(
            docs[0].lease.is_some() && docs[0].intents.len() == 1,
            "round {round}: the first write takes the lease with the intent: {:?}",
            docs[0]
        );
        assert!(
            docs[1].lease.is_none() && docs[1].intents.is_empty(),
            "round {round}: the release drops both: {:?}",
            docs[1]
        );
    }
    // A lone createSecret (the Lambda's invocation, `rotor step`): the same two writes.
    let token = "step-token";
    store.inner.begin_rotation(SECRET, token).await.unwrap();
    store.ledger_writes.lock().unwrap().clear();
    let report = engine
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .unwrap();
    assert_eq!(report.outcome, StepOutcome::Created);
    let docs: Vec<_> = store
        .ledger_writes
        .lock()
        .unwrap()
        .iter()
        .map(|w| ledger_doc(w))
        .collect();
    assert_eq!(docs.len(), 2, "createSecret ledger writes {docs:?}");
    assert_eq!(docs[0].intents.len(), 1, "{:?}", docs[0]);
    assert!(docs[1].lease.is_none() && docs[1].intents.is_empty());
    assert_no_orphan(&env, &store, "after the rotations").await;
    assert_readable_keys_work(&env, &store, "after the rotations").await;
}

/// The rotation service's steps (the Lambda, `Engine::with_lease_handover`): createSecret hands
/// its lease to the same rotation's finishSecret instead of releasing it, so a rotation writes the
/// ledger three times (the lease with the intent; finishSecret's takeover, dropping the intent;
/// the release), not four. While the lease is handed over every other worker is refused and
/// nothing changes; a re-run of createSecret takes no lease; a handed-over lease whose
/// finishSecret never comes expires like any other.
#[tokio::test(flavor = "multi_thread")]
async fn create_secret_hands_its_lease_to_the_rotations_finish_secret() {
    let env = Env::start().await;
    let store = FlakyStore::default();
    let lambda = env.worker("lambda", no_grace()).with_lease_handover(true);
    let other = env.worker("cli", no_grace());
    lambda.init(&store, SECRET, None).await.unwrap();
    let docs = |store: &FlakyStore| -> Vec<rotor_core::engine::LedgerDocument> {
        store
            .ledger_writes
            .lock()
            .unwrap()
            .iter()
            .map(|w| ledger_doc(w))
            .collect()
    };
    for round in 0..2 {
        let token = format!("service-token-{round}");
        store.inner.begin_rotation(SECRET, &token).await.unwrap();
        store.ledger_writes.lock().unwrap().clear();
        let report = lambda
            .step(&store, SECRET, Step::CreateSecret, &token)
            .await
            .unwrap();
        assert_eq!(report.outcome, StepOutcome::Created);
        let written = docs(&store);
        assert_eq!(
            written.len(),
            1,
            "round {round}: createSecret writes {written:?}"
        );
        let lease = written[0].lease.as_ref().expect("the lease stays");
        assert_eq!(lease.handed_to.as_deref(), Some(token.as_str()));
        assert_eq!(written[0].intents.len(), 1, "{:?}", written[0]);

        // Every other worker is refused while the lease is handed over, and changes nothing.
        let described = store.describe(SECRET).await.unwrap();
        let refused = other.retire(&store, SECRET, true).await.err();
        assert!(
            matches!(refused, Some(EngineError::Busy { .. })),
            "round {round}: {refused:?}"
        );
        assert_eq!(store.describe(SECRET).await.unwrap(), described);
        // A re-run of createSecret (the service retrying the step) takes no lease.
        let again = lambda
            .step(&store, SECRET, Step::CreateSecret, &token)
            .await
            .unwrap();
        assert_eq!(again.outcome, StepOutcome::AlreadyCreated);
        assert_eq!(
            docs(&store).len(),
            1,
            "round {round}: the re-run wrote the ledger"
        );

        for step in [Step::SetSecret, Step::TestSecret] {
            lambda.step(&store, SECRET, step, &token).await.unwrap();
        }
        let finished = lambda
            .step(&store, SECRET, Step::FinishSecret, &token)
            .await
            .unwrap();
        assert_eq!(finished.outcome, StepOutcome::Promoted);
        let written = docs(&store);
        assert_eq!(written.len(), 3, "round {round}: ledger writes {written:?}");
        let taken = written[1]
            .lease
            .as_ref()
            .expect("finishSecret took the lease over");
        assert_eq!(taken.operation, "finishSecret");
        assert!(
            taken.handed_to.is_none() && written[1].intents.is_empty(),
            "{:?}",
            written[1]
        );
        assert!(
            written[2].lease.is_none() && written[2].intents.is_empty(),
            "{:?}",
            written[2]
        );
        assert_readable_keys_work(&env, &store, &format!("after round {round}")).await;
    }

    // A handed-over lease whose finishSecret never comes expires: then any worker goes on.
    let token = "service-token-abandoned";
    store.inner.begin_rotation(SECRET, token).await.unwrap();
    lambda
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(3 * 60));
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        other.step(&store, SECRET, step, token).await.unwrap();
    }
    let ledger = store.inner.read_ledger(SECRET).await.unwrap().unwrap();
    let ledger = ledger_doc(&ledger.document);
    assert!(
        ledger.lease.is_none() && ledger.intents.is_empty(),
        "{ledger:?}"
    );
    assert_no_orphan(&env, &store, "after the rotations").await;
    assert_readable_keys_work(&env, &store, "after the rotations").await;
}

/// Issue finding: createSecret retired the key AWSPREVIOUS held when reading Previous failed.
#[tokio::test(flavor = "multi_thread")]
async fn create_secret_retires_nothing_when_awsprevious_cannot_be_read() {
    let env = Env::start().await;
    let store = FlakyStore::default();
    let engine = env.worker("w", no_grace());
    let first = engine.init(&store, SECRET, None).await.unwrap();
    engine.rotate(&store, SECRET).await.unwrap();
    *store.fail_stage.lock().unwrap() = Some(Stage::Previous);
    let err = engine
        .rotate(&store, SECRET)
        .await
        .expect_err("Previous unreadable");
    assert!(err.is_retryable(), "{err}");
    assert!(
        live_hashes(&env).await.contains(&first.key_hash),
        "the key AWSPREVIOUS holds is still alive"
    );
    *store.fail_stage.lock().unwrap() = None;
    assert_readable_keys_work(&env, &store, "after the failed create").await;
    engine
        .resume(&store, SECRET)
        .await
        .expect("resumes once Previous reads again");
    assert_readable_keys_work(&env, &store, "after resume").await;
    assert_no_orphan(&env, &store, "after resume").await;
}

/// Issue finding: init deleted its key when the store write failed transiently and the
/// verification read failed too, though the write had landed (Current then held a deleted key).
#[tokio::test(flavor = "multi_thread")]
async fn init_keeps_its_key_when_the_store_write_may_have_landed() {
    let env = Env::start().await;
    let store = FlakyStore::default();
    *store.lose_create.lock().unwrap() = 1;
    let engine = env.worker("w", Policy::default());
    let err = engine
        .init(&store, SECRET, None)
        .await
        .expect_err("outcome unknown");
    assert!(matches!(err, EngineError::OutcomeUnknown { .. }), "{err}");
    assert!(err.to_string().contains("the key was kept"), "{err}");
    let current = read(&store, Stage::Current)
        .await
        .expect("the write landed");
    assert!(
        key_works(&env, &current.api_key).await,
        "Current holds a working key"
    );
}

/// Issue finding: a late pending write of a rotation whose owner lost the secret (its lease
/// ended and another worker took over) must not land. The late owner stops at its fence before
/// the write and deletes the key it created, which nobody else knows.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_lost_its_lease_writes_nothing_and_leaves_no_key() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let a = env.worker("slow-worker", Policy::default());
    let b = env.worker("new-owner", Policy::default());
    let first = a.init(&store, SECRET, None).await.unwrap();
    env.fault(
        "POST",
        "/api/v1/keys",
        1,
        FaultKind::Delay { delay_ms: 1000 },
    )
    .await;
    let late = tokio::spawn({
        let store = store.clone();
        async move { a.rotate(&store, SECRET).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A stalls past its lease; B takes the secret over and abandons A's rotation.
    env.clock
        .advance(Policy::default().lease_ttl + Duration::from_secs(1));
    let abandoned = b.abandon(&store, SECRET).await.expect("B takes over");
    assert!(!abandoned.token.is_empty(), "{abandoned:?}");
    let err = late.await.unwrap().expect_err("the late owner stops");
    assert!(
        matches!(&err, EngineError::RotationIncomplete { source, .. }
            if matches!(**source, EngineError::LeaseLost { .. })),
        "{err}"
    );
    let desc = store.describe(SECRET).await.unwrap();
    assert!(
        desc.with_stage(Stage::Pending)
            .is_none_or(|v| v.has(Stage::Current)),
        "the late write did not land"
    );
    assert_eq!(
        read(&store, Stage::Current).await.unwrap().key_hash,
        first.key_hash
    );
    assert_eq!(
        live_hashes(&env).await,
        vec![first.key_hash.clone()],
        "the late owner deleted its own key"
    );
}

/// Issue finding: `rotor step --step finishSecret` promoted a key that never passed testSecret.
#[tokio::test(flavor = "multi_thread")]
async fn a_lone_finish_step_tests_the_key_before_promoting_it() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let engine = env.worker("w", Policy::default());
    let first = engine.init(&store, SECRET, None).await.unwrap();
    store.begin_rotation(SECRET, "t").await.unwrap();
    let created = engine
        .step(&store, SECRET, Step::CreateSecret, "t")
        .await
        .unwrap();
    // The new key is broken (disabled) and testSecret never ran.
    env.client
        .update_key(
            created.key_hash.as_deref().unwrap(),
            &UpdateKeyRequest {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = engine
        .step(&store, SECRET, Step::FinishSecret, "t")
        .await
        .expect_err("an untested, broken key is not promoted");
    assert_eq!(err.kind(), rotor_core::engine::ErrorKind::KeyCheckFailed);
    assert_eq!(
        read(&store, Stage::Current).await.unwrap().key_hash,
        first.key_hash
    );
    // Set re-enables it; a lone finish now tests it and promotes.
    engine
        .step(&store, SECRET, Step::SetSecret, "t")
        .await
        .unwrap();
    let done = engine
        .step(&store, SECRET, Step::FinishSecret, "t")
        .await
        .unwrap();
    assert_eq!(done.outcome, StepOutcome::Promoted);
}

/// Issue finding: rotating more often than the grace period grew `older_keys` without bound
/// until the store refused the write and the rotation stayed pending for ever.
#[tokio::test(flavor = "multi_thread")]
async fn rotations_inside_one_grace_period_stop_at_the_bound_before_creating_a_key() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let policy = Policy {
        max_live_keys: 4,
        ..Policy::default()
    };
    let engine = env.worker("w", policy);
    engine.init(&store, SECRET, None).await.unwrap();
    for _ in 0..3 {
        engine
            .rotate(&store, SECRET)
            .await
            .expect("inside the bound");
    }
    let live = live_hashes(&env).await.len();
    assert_eq!(live, 4);
    for _ in 0..3 {
        let err = engine.rotate(&store, SECRET).await.expect_err("bound");
        assert!(matches!(err, EngineError::Bounds { .. }), "{err}");
        assert_eq!(err.kind(), rotor_core::engine::ErrorKind::Conflict);
        let text = err.to_string();
        assert!(text.contains("max_live_keys = 4"), "{text}");
        assert!(text.contains("rotor retire --force"), "{text}");
        assert_eq!(live_hashes(&env).await.len(), live, "no key was created");
        if let Some(entry) = store.read_ledger(SECRET).await.unwrap() {
            let doc = rotor_core::engine::LedgerDocument::parse(&entry.document).unwrap();
            assert!(
                doc.lease.is_none() && doc.intents.is_empty(),
                "a refused rotation leaves no lease and no intent: {doc:?}"
            );
        }
        let desc = store.describe(SECRET).await.unwrap();
        assert!(
            desc.with_stage(Stage::Pending)
                .is_none_or(|v| v.has(Stage::Current)),
            "nothing is left pending"
        );
    }
    engine.retire(&store, SECRET, true).await.unwrap();
    let lists = |c: &std::collections::BTreeMap<String, u64>| {
        c.get("GET /api/v1/keys").copied().unwrap_or(0)
    };
    let before = lists(&env.control.counters().await.unwrap());
    engine
        .rotate(&store, SECRET)
        .await
        .expect("rotations continue");
    assert_eq!(
        lists(&env.control.counters().await.unwrap()),
        before,
        "the refused rotations left nothing to recover: no listing"
    );
    assert_readable_keys_work(&env, &store, "after the bound").await;
    assert_no_orphan(&env, &store, "after the bound").await;
}

/// A crash between `POST /keys` and the pending write is recovered from the ledger by any
/// worker once the crashed one's lease ends, and the happy path lists no keys.
#[tokio::test(flavor = "multi_thread")]
async fn the_happy_path_lists_nothing_and_a_lost_create_is_recovered_from_the_intent() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let a = env.worker("a", no_grace());
    let b = env.worker("b", no_grace());
    a.init(&store, SECRET, None).await.unwrap();
    let lists = |c: &std::collections::BTreeMap<String, u64>| {
        c.get("GET /api/v1/keys").copied().unwrap_or(0)
    };
    let before = lists(&env.control.counters().await.unwrap());
    a.rotate(&store, SECRET).await.unwrap();
    assert_eq!(
        lists(&env.control.counters().await.unwrap()),
        before,
        "a rotation without an interrupted attempt lists no keys"
    );
    // A's create is committed but its response is lost, and A gives up (as if killed).
    env.fault("POST", "/api/v1/keys", 1, FaultKind::CommitThenDrop)
        .await;
    env.fault(
        "GET",
        "/api/v1/keys",
        5,
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
    )
    .await;
    let err = a.rotate(&store, SECRET).await.expect_err("create lost");
    assert!(err.is_retryable(), "{err}");
    env.control.clear_faults().await.unwrap();
    // The unstored key is alive, but its intent is in the store.
    let ledger = store.read_ledger(SECRET).await.unwrap().unwrap();
    let doc = rotor_core::engine::LedgerDocument::parse(&ledger.document).unwrap();
    assert_eq!(doc.intents.len(), 1, "the intent survives the failure");
    b.resume(&store, SECRET)
        .await
        .expect("another worker finishes");
    assert_no_orphan(&env, &store, "after recovery").await;
    assert_readable_keys_work(&env, &store, "after recovery").await;
}
