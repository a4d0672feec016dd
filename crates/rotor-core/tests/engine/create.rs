//! The engine's create.rs: createSecret when `POST /keys` or the pending write fails, and a crash between them.

use std::sync::Mutex;

use chrono::Utc;
use rotor_core::engine::{EngineError, Step, StepOutcome};
use rotor_core::policy::{Policy, rotor_tag};
use rotor_core::{MemoryStore, SecretStore, StoreError, VersionSelector};
use rotor_emulator::control::FaultKind;
use rotor_openrouter::CreateKeyRequest;
use rotor_testkit::observe::{app_reads, assert_all_live_keys_recorded};
use rotor_testkit::rotation::leave_crashed_intent;
use rotor_testkit::{Env, SECRET};
use secrecy::SecretString;

use crate::init;

// A real MemoryStore behind a wrapper that fails chosen calls the way real backends do (a
// conflict, a response lost after the write, an outage).

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
async fn lost_create_response_leaves_no_orphan() {
    let env = Env::start().await;
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
    assert_eq!(env.live_rotor_keys().await.len(), 2, "current + pending");
}

#[tokio::test]
async fn crash_after_creating_the_key_is_repaired_by_re_running_create() {
    let env = Env::start().await;
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
    let live = env.live_rotor_keys().await;
    assert!(live.contains(&orphan.data.hash));

    let r = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .expect("create re-run");
    assert_eq!(r.cleaned_up, vec![orphan.data.hash.clone()]);
    assert!(
        !env.key_works(&orphan.key).await,
        "the unrecorded key is deleted"
    );
    assert_all_live_keys_recorded(&env, &store, SECRET, "after create").await;
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        env.engine
            .step(&store, SECRET, step, token)
            .await
            .expect("rest of the rotation");
    }
    assert_eq!(env.live_rotor_keys().await.len(), 2);
}

#[tokio::test]
async fn a_failed_pending_write_deletes_the_new_key_or_leaves_it_to_the_re_run() {
    let env = Env::start().await;
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
    assert_eq!(env.live_rotor_keys().await.len(), 1);

    // Lost response: the write landed; the engine reads it back and succeeds.
    store.arm(StoreFault::LostPutResponse);
    let r = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, "c")
        .await
        .expect("write landed");
    assert_eq!(r.outcome, StepOutcome::Created);
    assert_all_live_keys_recorded(&env, &store, SECRET, "after a lost write response").await;
    assert_eq!(env.live_rotor_keys().await.len(), 2);
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
    assert_eq!(env.live_rotor_keys().await.len(), 2);

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
