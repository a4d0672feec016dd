//! The rotation conformance suite: what one rotation promises, checked the same way on every
//! backend (memory, file, Vault/OpenBao, Secrets Manager), against a fresh in-process OpenRouter
//! emulator per case. Beside the store conformance suite (`rotor_core::conformance`), which
//! checks the `SecretStore` contract alone, this one drives the `Engine` through the store.
//!
//! * [`crash_resume`] — a rotation stopped after each step, or inside createSecret after its key
//!   was created, is resumed by another worker to a working current key, with no orphan.
//! * [`crash_at_every_await_point`] — the process dropped at every await point of every step.
//! * [`exactly_one_wins`] — concurrent rotations of one secret: one succeeds, the others are
//!   refused (`Busy`, or the pending rotation's `Conflict`), and the current key works.
//! * [`abandon`] — giving up a rotation deletes its keys (stored or only intended) and keeps the
//!   value applications read.
//! * [`retirement`] — the old key lives through its grace period; then a rotation or `retire`
//!   deletes it, never the key Current or Previous holds.
//!
//! Each case takes the store (several handles on the same backing state for the concurrent case)
//! and a secret id that does not exist yet. Tokens are UUIDs, which every backend accepts.

use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use rotor_core::engine::{
    Engine, EngineError, ErrorKind, Intent, Lease, LedgerDocument, RetireDecision, Step,
    StepOutcome,
};
use rotor_core::policy::{Policy, is_rotor_key_name, rotor_tag};
use rotor_core::{SecretStore, Stage, VersionSelector};
use rotor_emulator::control::FaultKind;
use rotor_openrouter::CreateKeyRequest;

use crate::Env;
use crate::observe::{app_reads, assert_all_live_keys_recorded, read, recorded, value_hash};

/// Past the default grace period of 2 h (with a margin for the store's own clock).
pub const PAST_GRACE: Duration = Duration::from_secs(2 * 3600 + 600);

/// Grace 0: older keys are retired by the next rotation (the key Previous holds at finish).
pub fn no_grace() -> Policy {
    Policy {
        grace_period: Duration::ZERO,
        ..Policy::default()
    }
}

/// A rotation token every backend accepts (Secrets Manager wants 32–64 characters).
fn token(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

/// `engine.init` and what the application then reads.
async fn init(env: &Env, store: &dyn SecretStore, secret: &str) -> rotor_core::KeyRecord {
    env.engine.init(store, secret, None).await.expect("init");
    app_reads(store, secret).await
}

/// After a completed rotation with grace 0: nothing pending, exactly the current and the
/// previous key alive, both recorded, and the application's key works.
async fn assert_settled(env: &Env, store: &dyn SecretStore, secret: &str, what: &str) {
    let desc = store.describe(secret).await.expect("describe");
    assert!(
        desc.with_stage(Stage::Pending)
            .is_none_or(|v| v.has(Stage::Current)),
        "{what}: a rotation was left pending"
    );
    assert_all_live_keys_recorded(env, store, secret, what).await;
    let current = app_reads(store, secret).await;
    assert!(
        env.key_works(&current.api_key).await,
        "{what}: the application's key does not work"
    );
    assert_eq!(
        env.live_rotor_keys().await.len(),
        2,
        "{what}: exactly the current and the previous key are alive"
    );
}

// ------------------------------------------------------------------------------------------------
// crash-resume

/// A rotation stopped after createSecret, setSecret and testSecret (its worker gone), and one
/// whose `POST /keys` response was lost (the key exists, only the intent records it): another
/// worker's `resume` finishes each, the application then reads the new key and it works, the old
/// one still works, and no live key is unrecorded.
pub async fn crash_resume(store: &dyn SecretStore, secret: &str) {
    let env = Env::with_policy(no_grace()).await;
    init(&env, store, secret).await;
    for stop_after in 1..Step::ALL.len() {
        env.clock.advance(Duration::from_secs(60));
        let last = Step::ALL[stop_after - 1];
        let what = format!("stopped after {last}");
        let before = app_reads(store, secret).await;
        let token = token("stopped");
        let crashed = env.worker("crashed-worker", no_grace());
        store
            .begin_rotation(secret, &token)
            .await
            .expect("begin rotation");
        for step in &Step::ALL[..stop_after] {
            crashed
                .step(store, secret, *step, &token)
                .await
                .unwrap_or_else(|e| panic!("{what}: {step}: {e}"));
        }
        drop(crashed);
        assert_eq!(
            app_reads(store, secret).await.key_hash,
            before.key_hash,
            "{what}: the application's value changed before finishSecret"
        );
        assert!(env.key_works(&before.api_key).await, "{what}: old key");
        assert_all_live_keys_recorded(&env, store, secret, &what).await;

        let report = env
            .worker("resumer", no_grace())
            .resume(store, secret)
            .await
            .unwrap_or_else(|e| panic!("{what}: resume: {e}"));
        assert_eq!(
            report.token, token,
            "{what}: resume finished another rotation"
        );
        let after = app_reads(store, secret).await;
        assert_ne!(after.key_hash, before.key_hash, "{what}: no new key");
        assert_eq!(
            report.new_key_hash.as_deref(),
            Some(after.key_hash.as_str())
        );
        assert!(
            env.key_works(&before.api_key).await,
            "{what}: the old key stopped working at finish"
        );
        assert_settled(&env, store, secret, &format!("{what}, resumed")).await;
    }

    // Inside createSecret: the key is created, the response lost; the step fails with the
    // outcome unknown, and the resume deletes that key through the intent and finishes.
    env.clock.advance(Duration::from_secs(60));
    let before = app_reads(store, secret).await;
    let token = token("lost-create");
    store
        .begin_rotation(secret, &token)
        .await
        .expect("begin rotation");
    env.control
        .fail_next("POST", "/api/v1/keys", FaultKind::CommitThenDrop)
        .await
        .expect("inject a fault");
    let err = env
        .worker("crashed-worker", no_grace())
        .step(store, secret, Step::CreateSecret, &token)
        .await
        .expect_err("the response of POST /keys was lost");
    assert!(err.is_retryable(), "{err}");
    assert_eq!(app_reads(store, secret).await.key_hash, before.key_hash);
    // The lease of the failed worker may still run: wait it out as the next worker would.
    env.clock
        .advance(Policy::default().lease_ttl + Duration::from_secs(1));
    let report = env
        .worker("resumer", no_grace())
        .resume(store, secret)
        .await
        .unwrap_or_else(|e| panic!("resume after a lost create: {e}"));
    assert_eq!(report.token, token);
    let tag = rotor_tag(&store.describe(secret).await.unwrap().secret_id, &token);
    let own: Vec<_> = env
        .control
        .keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.name.contains(&tag))
        .collect();
    assert!(
        own.iter().any(|k| k.deleted),
        "the key whose response was lost was created, then deleted through the intent"
    );
    assert_settled(&env, store, secret, "resumed after a lost create").await;
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

/// Every step, dropped at each of its await points in turn (a process crash there), then
/// resumed: the crashed worker's lease blocks others until it ends, no key but the crashed
/// rotation's own is ever unrecorded, and the resume leaves a working current key, exactly the
/// current and previous keys alive, all recorded.
pub async fn crash_at_every_await_point(store: &dyn SecretStore, secret: &str) {
    let env = Env::with_policy(no_grace()).await;
    init(&env, store, secret).await;
    let mut crashes = 0;
    let mut window_hits = 0;
    let mut leases_waited = 0;
    for step_index in 0..Step::ALL.len() {
        for polls in 1.. {
            env.clock.advance(Duration::from_secs(60));
            let token = token(&format!("crash-{step_index}-{polls}"));
            store.begin_rotation(secret, &token).await.unwrap();
            for step in &Step::ALL[..step_index] {
                env.engine.step(store, secret, *step, &token).await.unwrap();
            }
            let step = Step::ALL[step_index];
            let crashed = CrashAfterPolls {
                inner: Box::pin(env.engine.step(store, secret, step, &token)),
                polls_left: polls,
            }
            .await
            .is_none();
            // Let the emulator (same runtime) finish whatever request had fully arrived before
            // the crash; a fixed number of yields was not enough on a loaded machine.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let lease_held = store
                .read_ledger(secret)
                .await
                .unwrap()
                .and_then(|l| LedgerDocument::parse(&l.document).ok())
                .and_then(|d| d.lease)
                .is_some_and(|l| l.expires_at > rotor_core::engine::Clock::now(&env.clock));
            if crashed && lease_held {
                // A crash inside createSecret or finishSecret leaves the worker's lease: nobody
                // may act until it ends.
                let err = env
                    .engine
                    .retire(store, secret, false)
                    .await
                    .expect_err("the crashed worker's lease still runs");
                assert!(matches!(err, EngineError::Busy { .. }), "{token}: {err}");
                leases_waited += 1;
                env.clock
                    .advance(Policy::default().lease_ttl + Duration::from_secs(1));
            }
            let desc = store.describe(secret).await.unwrap();
            let tag = rotor_tag(&desc.secret_id, &token);
            let keys = env.control.keys().await.unwrap();
            let rec = recorded(store, secret).await;
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
                let desc = store.describe(secret).await.unwrap();
                assert_eq!(
                    desc.with_stage(Stage::Current).map(|v| v.id.as_str()),
                    Some(token.as_str())
                );
                assert_eq!(env.live_rotor_keys().await.len(), 2);
                break;
            }
            let own_unrecorded = keys
                .iter()
                .filter(|k| !k.deleted && k.name.contains(&tag) && !rec.contains(&k.hash))
                .count();
            if own_unrecorded > 0 {
                window_hits += 1;
            }
            let report = match env.engine.resume(store, secret).await {
                Ok(report) => report,
                Err(e) => {
                    // Only a crash after the promote landed leaves nothing to resume.
                    assert_eq!(e.kind(), ErrorKind::Precondition, "{token}: {e}");
                    let desc = store.describe(secret).await.unwrap();
                    assert_eq!(
                        desc.with_stage(Stage::Current).map(|v| v.id.as_str()),
                        Some(token.as_str())
                    );
                    crashes += 1;
                    continue;
                }
            };
            assert_eq!(report.token, token);
            assert_settled(&env, store, secret, &format!("{token} after resume")).await;
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
    // timing (the request must have reached the emulator before the drop; a blocking store
    // write may finish after its future is dropped), so it is reported, not asserted:
    // `crash_resume`'s lost create covers that window deterministically.
    eprintln!("crash points: {crashes}; crashes inside the create-to-store window: {window_hits}");
}

// ------------------------------------------------------------------------------------------------
// exactly-one-wins

/// Rounds of concurrent rotations of one secret, one worker per handle in `stores` (each its
/// own engine and lease identity; the first key creation of a round is slowed so they overlap):
/// exactly one rotation completes, every other is refused with `Busy` or the pending rotation's
/// `Conflict` (no key in the message), and then nothing is pending, the application reads the
/// winner's key and it works, and exactly the current and previous key are alive, recorded.
pub async fn exactly_one_wins(stores: &[&dyn SecretStore], secret: &str) {
    exactly_one_wins_with(stores, secret, true).await;
}

/// [`exactly_one_wins`] for a store whose ledger check-and-set is not atomic under concurrent
/// writers (LocalStack's label moves, see docs/aws.md): two workers may then both believe they
/// took the lease, and a round may end with no winner — the loser of the store's own
/// check-and-set stops (`LeaseLost`, or the other's pending rotation) and the rotation it left
/// pending must then be finished by `resume`. Everything else is asserted as for an atomic store:
/// never two winners, no loser fails otherwise, and the secret ends settled.
pub async fn exactly_one_wins_with(stores: &[&dyn SecretStore], secret: &str, atomic_ledger: bool) {
    assert!(stores.len() >= 2, "a race needs at least two workers");
    let env = Env::with_policy(no_grace()).await;
    init(&env, stores[0], secret).await;
    let workers: Vec<Engine> = (0..stores.len())
        .map(|i| env.worker(&format!("worker-{i}"), no_grace()))
        .collect();
    let mut busy = 0;
    for round in 0..3 {
        env.clock.advance(Duration::from_secs(60));
        env.fault(
            "POST",
            "/api/v1/keys",
            1,
            FaultKind::Delay { delay_ms: 300 },
        )
        .await;
        let results = join_all(
            workers
                .iter()
                .zip(stores)
                .map(|(worker, store)| worker.rotate(*store, secret)),
        )
        .await;
        let mut winners: Vec<_> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.to_string())
            .collect();
        if !atomic_ledger && winners.is_empty() {
            eprintln!(
                "round {round}: no winner (the store's ledger check-and-set is not atomic); resuming: {errors:?}"
            );
            let resumed = workers[0]
                .resume(stores[0], secret)
                .await
                .unwrap_or_else(|e| panic!("round {round}: the left rotation resumes: {e}"));
            winners.push(resumed);
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one rotation completes: {errors:?}"
        );
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(
                e.kind(),
                ErrorKind::Conflict,
                "round {round}: a loser failed with something else: {e}"
            );
            assert!(
                matches!(e, EngineError::Busy { .. } | EngineError::Conflict { .. })
                    || matches!(e, EngineError::Store { .. })
                    || (!atomic_ledger && matches!(e, EngineError::LeaseLost { .. })),
                "round {round}: a loser was not refused: {e}"
            );
            if matches!(e, EngineError::Busy { .. }) {
                busy += 1;
            }
            assert!(
                !e.to_string().contains("sk-or-v1-"),
                "round {round}: an error mentions key material"
            );
        }
        let current = app_reads(stores[0], secret).await;
        assert_eq!(
            winners[0].new_key_hash.as_deref(),
            Some(current.key_hash.as_str()),
            "round {round}: the application does not read the winner's key"
        );
        assert_settled(&env, stores[0], secret, &format!("round {round}")).await;
    }
    assert!(
        busy > 0,
        "no loser was ever refused by the lease (Busy): the race was not exercised"
    );
}

// ------------------------------------------------------------------------------------------------
// abandon

/// What a worker that crashed right after `POST /keys` leaves in the store: its (expired)
/// lease and the intent it recorded before creating the key.
pub async fn leave_crashed_intent(env: &Env, store: &dyn SecretStore, secret: &str, token: &str) {
    let desc = store.describe(secret).await.unwrap();
    let now = rotor_core::engine::Clock::now(&env.clock);
    let doc = LedgerDocument {
        rotor_ledger: 1,
        lease: Some(Lease {
            holder: "crashed-worker".into(),
            operation: "rotate".into(),
            acquired_at: now - chrono::Duration::minutes(10),
            expires_at: now - chrono::Duration::minutes(8),
            handed_to: None,
        }),
        intents: vec![Intent {
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

/// Abandoning a rotation whose key was stored deletes that key; abandoning one that crashed
/// between creating its key and storing it finds the key through its intent and deletes it.
/// Both keep the value applications read; with nothing pending abandon is refused; a new
/// rotation then works.
pub async fn abandon(store: &dyn SecretStore, secret: &str) {
    let env = Env::start().await;
    let k0 = init(&env, store, secret).await;
    let before = store
        .get_value(secret, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();

    // A rotation whose key was created and stored, then given up.
    let given_up = token("given-up");
    store.begin_rotation(secret, &given_up).await.unwrap();
    let created = env
        .engine
        .step(store, secret, Step::CreateSecret, &given_up)
        .await
        .unwrap();
    assert_eq!(created.outcome, StepOutcome::Created);
    let report = env.engine.abandon(store, secret).await.expect("abandon");
    assert_eq!(report.token, given_up);
    assert_eq!(report.deleted_keys, vec![created.key_hash.unwrap()]);
    assert_eq!(
        env.live_rotor_keys().await,
        [k0.key_hash.clone()].into(),
        "only the current key is alive"
    );
    assert!(
        store
            .describe(secret)
            .await
            .unwrap()
            .with_stage(Stage::Pending)
            .is_none_or(|v| v.has(Stage::Current)),
        "nothing is pending after abandon"
    );
    let after = store
        .get_value(secret, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    assert_eq!(
        value_hash(&before.value),
        value_hash(&after.value),
        "the application reads the same value"
    );

    // A rotation that crashed between creating its key and storing it: found through its intent.
    let crashed = token("crashed");
    store.begin_rotation(secret, &crashed).await.unwrap();
    leave_crashed_intent(&env, store, secret, &crashed).await;
    let desc = store.describe(secret).await.unwrap();
    let name =
        Policy::default().key_name(secret, Utc::now(), &rotor_tag(&desc.secret_id, &crashed));
    let orphan = env
        .client
        .create_key(&CreateKeyRequest {
            name,
            ..Default::default()
        })
        .await
        .unwrap();
    let report = env.engine.abandon(store, secret).await.expect("abandon");
    assert_eq!(report.deleted_keys, vec![orphan.data.hash]);
    assert_eq!(env.live_rotor_keys().await, [k0.key_hash.clone()].into());
    assert!(env.key_works(&k0.api_key).await, "the current key works");

    let err = env
        .engine
        .abandon(store, secret)
        .await
        .expect_err("nothing to abandon");
    assert_eq!(err.kind(), ErrorKind::Precondition);
    env.engine
        .rotate(store, secret)
        .await
        .expect("a new rotation works");
    assert!(env.key_works(&app_reads(store, secret).await.api_key).await);
}

// ------------------------------------------------------------------------------------------------
// retirement

/// Grace 2 h, observation window as the default policy. A rotation keeps the old key alive and
/// recorded; a rotation past its grace deletes the key from two generations back (never the one
/// Current or Previous holds) and a later retirement drops its record; `retire` inside the grace
/// period deletes nothing, and past it (once usage is quiet for the observation window) deletes
/// the old key, leaving only the current key alive, and Previous still readable with a working
/// key.
pub async fn retirement(store: &dyn SecretStore, secret: &str) {
    let env = Env::start().await;
    let k0 = init(&env, store, secret).await;
    env.engine.rotate(store, secret).await.expect("rotation 1");
    let k1 = app_reads(store, secret).await;
    assert!(
        env.key_works(&k0.api_key).await,
        "the old key works in its grace period"
    );
    assert!(
        k1.older_keys.iter().any(|k| k.key_hash == k0.key_hash),
        "the old key is recorded by the current document"
    );
    assert_eq!(
        env.live_rotor_keys().await,
        [k0.key_hash.clone(), k1.key_hash.clone()].into()
    );

    env.clock.advance(PAST_GRACE);
    let report = env.engine.rotate(store, secret).await.expect("rotation 2");
    let k2 = app_reads(store, secret).await;
    assert_eq!(report.retired.len(), 1);
    assert_eq!(report.retired[0].key_hash, k0.key_hash);
    assert!(
        !env.key_works(&k0.api_key).await,
        "the first key is deleted"
    );
    assert!(
        env.key_works(&k1.api_key).await,
        "the previous key is still in its grace period"
    );
    assert!(env.key_works(&k2.api_key).await);
    assert_eq!(
        env.live_rotor_keys().await,
        [k1.key_hash.clone(), k2.key_hash.clone()].into()
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
    env.engine.rotate(store, secret).await.expect("rotation 3");
    let k3 = app_reads(store, secret).await;
    assert!(
        k3.older_keys.iter().all(|k| k.key_hash != k0.key_hash),
        "a retired key's record is dropped at the next retirement"
    );
    assert_all_live_keys_recorded(&env, store, secret, "after rotation 3").await;

    // `retire` inside the grace period keeps k2 (only records of keys already gone may go).
    let r = env
        .engine
        .retire(store, secret, false)
        .await
        .expect("retire");
    assert!(
        r.retired.iter().all(|k| k.key_hash != k2.key_hash),
        "nothing alive is due inside the grace period"
    );
    assert!(env.key_works(&k2.api_key).await);

    // Past the grace period, `retire` deletes k2 once its usage stayed quiet for the
    // observation window; the key applications read is never touched.
    env.clock.advance(PAST_GRACE);
    let mut deleted = false;
    for _ in 0..3 {
        let r = env
            .engine
            .retire(store, secret, false)
            .await
            .expect("retire");
        if let Some(k) = r.keys.iter().find(|k| k.key_hash == k2.key_hash) {
            if matches!(k.decision, RetireDecision::Deleted { .. }) {
                deleted = true;
                break;
            }
        }
        env.clock
            .advance(Policy::default().observation_window + Duration::from_secs(60));
    }
    assert!(deleted, "retire deleted the old key after its grace period");
    assert!(!env.key_works(&k2.api_key).await, "the old key is deleted");
    let doc = app_reads(store, secret).await;
    assert_eq!(doc.key_hash, k3.key_hash);
    assert!(
        env.key_works(&doc.api_key).await,
        "the application's key works"
    );
    assert!(
        doc.older_keys.iter().all(|k| k.key_hash != k2.key_hash),
        "the retired key is forgotten"
    );
    assert_eq!(env.live_rotor_keys().await, [k3.key_hash.clone()].into());
    if let Some(previous) = read(store, secret, Stage::Previous).await {
        assert!(
            env.key_works(&previous.api_key).await,
            "the key Previous holds was deleted"
        );
    }
    assert_all_live_keys_recorded(&env, store, secret, "after retire").await;
}
