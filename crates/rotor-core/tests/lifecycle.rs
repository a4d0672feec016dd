//! The lifecycle in the engine: usage-aware retirement, disable-first, stuck keys, `force`, rollback,
//! revocation and the orphan sweep — against the OpenRouter emulator over real HTTP, with the file
//! and memory stores and a manual clock (so grace periods and observation windows pass at once).
//!
//! Assertions are what a user checks: which key an application reads, whether a key works at the
//! emulator's completions endpoint, which keys are alive, what the current document records.

use std::collections::BTreeSet;
use std::time::Duration;

use rotor_core::engine::{DeleteReason, ErrorKind, RetireDecision};
use rotor_core::policy::{Policy, is_rotor_key_name};
use rotor_core::record::RetireReason;
use rotor_core::{KeyRecord, MemoryStore, SecretStore, Stage, VersionSelector};
use rotor_openrouter::{ApiKey, CreateKeyRequest};
use rotor_testkit::Env;
use rotor_testkit::stores::{self, FileFixture};

const SECRET: &str = "prod/app";
const MODEL: &str = "openai/gpt-4o-mini";
const MIN: Duration = Duration::from_secs(60);

/// Grace 1 h, observation window 30 min, max wait 1 day, disable delay 10 min.
fn policy(disable_first: bool) -> Policy {
    Policy {
        grace_period: 60 * MIN,
        observation_window: 30 * MIN,
        max_retirement_wait: 24 * 60 * MIN,
        disable_first,
        disable_delay: 10 * MIN,
        ..Policy::default()
    }
}

/// What an application reads: the current document.
async fn app_reads(store: &dyn SecretStore) -> KeyRecord {
    let v = store
        .get_value(SECRET, &VersionSelector::Stage(Stage::Current))
        .await
        .expect("current value");
    KeyRecord::parse(&v.value, SECRET).expect("current document parses")
}

/// The HTTP status a completion with `key` gets (200 when it works).
async fn completion_status(env: &Env, key: &ApiKey) -> u16 {
    match env.client.chat_completion(key, MODEL).await {
        Ok(_) => 200,
        Err(e) => e.status().unwrap_or(0),
    }
}

/// Every alive rotor key is recorded by the current document (its key or an older key).
async fn assert_recorded(env: &Env, store: &dyn SecretStore, when: &str) {
    let doc = app_reads(store).await;
    let recorded: BTreeSet<String> = doc.referenced_hashes().map(str::to_owned).collect();
    let keys = env.control.keys().await.expect("keys");
    for k in keys
        .iter()
        .filter(|k| !k.deleted && is_rotor_key_name(&k.name))
    {
        assert!(
            recorded.contains(&k.hash),
            "{when}: live key {} not recorded by the current document",
            k.hash
        );
    }
}

/// init + one rotation: returns (old key record, new key record).
async fn rotated_once(env: &Env, store: &dyn SecretStore) -> (KeyRecord, KeyRecord) {
    env.engine.init(store, SECRET, None).await.expect("init");
    let old = app_reads(store).await;
    env.engine.rotate(store, SECRET).await.expect("rotate");
    let new = app_reads(store).await;
    assert_ne!(old.key_hash, new.key_hash);
    (old, new)
}

fn decision_of<'a>(r: &'a rotor_core::engine::RetireReport, hash: &str) -> &'a RetireDecision {
    &r.keys
        .iter()
        .find(|k| k.key_hash == hash)
        .unwrap_or_else(|| panic!("key {hash} missing from the retirement report"))
        .decision
}

#[tokio::test(flavor = "multi_thread")]
async fn growing_usage_is_never_deleted_and_turns_stuck_after_the_maximum_wait_until_forced() {
    let env = Env::with_policy(policy(false)).await;
    let FileFixture { dir: _dir, store } = stores::file();
    let (old, new) = rotated_once(&env, &store).await;

    // Inside the grace period: nothing happens, nothing is written.
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::InGrace { .. }
    ));
    assert_eq!(r.saved_version, None);

    // Past grace, the old key still gets traffic: rotor samples and keeps observing.
    env.clock.advance(61 * MIN);
    assert!(env.key_works(&old.api_key).await);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Observing { .. }
    ));
    assert!(r.retired.is_empty() && !r.stuck);
    assert!(r.saved_version.is_some(), "the first sample is saved");
    let doc = app_reads(&store).await;
    assert_eq!(
        doc.key_hash, new.key_hash,
        "applications still read the new key"
    );
    assert_eq!(doc.older_keys.len(), 1);
    assert_eq!(doc.older_keys[0].usage_samples.len(), 1);
    assert!(env.key_works(&new.api_key).await);

    // Traffic continues for a window: observing again, usage grew, still alive.
    assert!(env.key_works(&old.api_key).await);
    env.clock.advance(31 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Observing {
            usage_grew: true,
            ..
        }
    ));
    assert!(env.live_keys().await.contains(&old.key_hash));

    // The next rotation keeps the draining key alive and recorded, with its samples.
    env.engine.rotate(&store, SECRET).await.unwrap();
    assert!(env.live_keys().await.contains(&old.key_hash));
    let doc = app_reads(&store).await;
    let entry = doc
        .older_keys
        .iter()
        .find(|k| k.key_hash == old.key_hash)
        .expect("draining key still recorded");
    assert!(!entry.usage_samples.is_empty());
    assert_recorded(&env, &store, "after a rotation while draining").await;

    // A day past grace and still in use: stuck, reported, not deleted.
    assert!(env.key_works(&old.api_key).await);
    env.clock.advance(25 * 60 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(r.stuck, "{r:?}");
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Stuck { usage_growth, .. } if *usage_growth > 0.0
    ));
    assert!(
        env.key_works(&old.api_key).await,
        "a stuck key is not deleted"
    );
    let status = env.engine.status(&store, SECRET).await.unwrap();
    assert!(
        status
            .retirement
            .iter()
            .any(|k| k.key_hash == old.key_hash
                && matches!(k.decision, RetireDecision::Stuck { .. }))
    );

    // --force deletes it anyway.
    let r = env.engine.retire(&store, SECRET, true).await.unwrap();
    assert!(r.retired.iter().any(|k| k.key_hash == old.key_hash));
    assert!(!env.key_works(&old.api_key).await);
    assert!(!env.live_keys().await.contains(&old.key_hash));
    let doc = app_reads(&store).await;
    assert!(doc.older_keys.iter().all(|k| k.key_hash != old.key_hash));
    assert!(env.key_works(&doc.api_key).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drained_key_is_deleted_after_one_quiet_observation_window() {
    let env = Env::with_policy(policy(false)).await;
    let store = MemoryStore::new();
    let (old, new) = rotated_once(&env, &store).await;
    assert!(env.key_works(&old.api_key).await);

    env.clock.advance(61 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Observing { .. }
    ));
    // Not quiet long enough yet.
    env.clock.advance(20 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Observing {
            usage_grew: false,
            ..
        }
    ));
    assert!(env.live_keys().await.contains(&old.key_hash));

    env.clock.advance(11 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Deleted {
            reason: DeleteReason::Drained,
            already_gone: false
        }
    ));
    assert!(!env.live_keys().await.contains(&old.key_hash));
    let doc = app_reads(&store).await;
    assert_eq!(doc.key_hash, new.key_hash);
    assert!(doc.older_keys.is_empty(), "the retired key is forgotten");
    assert!(env.key_works(&new.api_key).await);
    assert_eq!(
        env.live_keys().await,
        BTreeSet::from([new.key_hash.clone()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_first_disables_then_deletes_and_reenable_brings_the_key_back() {
    let env = Env::with_policy(policy(true)).await;
    let FileFixture { dir: _dir, store } = stores::file();
    let (old, _new) = rotated_once(&env, &store).await;

    env.clock.advance(61 * MIN);
    env.engine.retire(&store, SECRET, false).await.unwrap();
    env.clock.advance(31 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert_eq!(r.disabled, vec![old.key_hash.clone()]);
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Disabled { .. }
    ));
    // Disabled: rejected at completions with 401, but alive and recorded.
    assert_eq!(completion_status(&env, &old.api_key).await, 401);
    assert!(env.live_keys().await.contains(&old.key_hash));
    let doc = app_reads(&store).await;
    assert!(doc.older_keys[0].disabled_at.is_some());

    // Something broke: one command re-enables it, with a fresh grace period.
    let re = env
        .engine
        .reenable(&store, SECRET, &old.key_hash)
        .await
        .unwrap();
    assert!(re.was_disabled);
    assert!(env.key_works(&old.api_key).await);
    let doc = app_reads(&store).await;
    assert_eq!(
        doc.older_keys[0].retire_reason,
        Some(RetireReason::Reenabled)
    );
    assert_eq!(doc.older_keys[0].disabled_at, None);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::InGrace { .. }
    ));

    // Later it drains again: disabled, then deleted once disable_delay passed.
    env.clock.advance(61 * MIN);
    env.engine.retire(&store, SECRET, false).await.unwrap();
    env.clock.advance(31 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert_eq!(r.disabled, vec![old.key_hash.clone()]);
    env.clock.advance(5 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Disabled { .. }
    ));
    env.clock.advance(6 * MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(matches!(
        decision_of(&r, &old.key_hash),
        RetireDecision::Deleted {
            reason: DeleteReason::DisableDelayPassed,
            ..
        }
    ));
    assert!(!env.live_keys().await.contains(&old.key_hash));
    assert_eq!(completion_status(&env, &old.api_key).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_a_working_key_and_the_failed_key_is_retired_later() {
    let env = Env::with_policy(policy(false)).await;
    let FileFixture { dir: _dir, store } = stores::file();
    let (old, failed) = rotated_once(&env, &store).await;

    let r = env.engine.rollback(&store, SECRET).await.unwrap();
    assert_eq!(r.restored_key_hash, old.key_hash);
    assert_eq!(r.failed_key_hash, failed.key_hash);
    let doc = app_reads(&store).await;
    assert_eq!(doc.key_hash, old.key_hash, "applications read the old key");
    assert!(env.key_works(&doc.api_key).await);
    let entry = doc
        .older_keys
        .iter()
        .find(|k| k.key_hash == failed.key_hash)
        .expect("failed key recorded for retirement");
    assert_eq!(entry.retire_reason, Some(RetireReason::RolledBack));
    assert_recorded(&env, &store, "after rollback").await;
    // The failed key still works for whoever holds it, during its grace period.
    assert!(env.key_works(&failed.api_key).await);

    // Past grace and quiet for a window: retired.
    env.clock.advance(61 * MIN);
    env.engine.retire(&store, SECRET, false).await.unwrap();
    env.clock.advance(31 * MIN);
    let rr = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(rr.retired.iter().any(|k| k.key_hash == failed.key_hash));
    assert!(!env.live_keys().await.contains(&failed.key_hash));
    assert_eq!(app_reads(&store).await.key_hash, old.key_hash);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_reenables_a_disabled_previous_key() {
    let env = Env::with_policy(policy(true)).await;
    let store = MemoryStore::new();
    let (old, _) = rotated_once(&env, &store).await;
    env.client
        .update_key(
            &old.key_hash,
            &rotor_openrouter::UpdateKeyRequest {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(completion_status(&env, &old.api_key).await, 401);
    let r = env.engine.rollback(&store, SECRET).await.unwrap();
    assert!(r.reenabled);
    assert!(env.key_works(&app_reads(&store).await.api_key).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_is_refused_when_the_previous_key_is_gone() {
    let env = Env::with_policy(policy(false)).await;
    let FileFixture { dir: _dir, store } = stores::file();
    let (old, new) = rotated_once(&env, &store).await;
    env.client.delete_key(&old.key_hash).await.unwrap();
    let before = app_reads(&store).await;
    let err = env.engine.rollback(&store, SECRET).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Precondition);
    let msg = err.to_string();
    assert!(
        msg.contains("already gone") && msg.contains(&old.key_hash),
        "{msg}"
    );
    let after = app_reads(&store).await;
    assert_eq!(after, before, "nothing changed");
    assert_eq!(after.key_hash, new.key_hash);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_deletes_the_leaked_key_at_once_and_the_application_keeps_working() {
    let env = Env::with_policy(policy(false)).await;
    let FileFixture { dir: _dir, store } = stores::file();
    let (oldest, leaked) = rotated_once(&env, &store).await;

    let r = env.engine.revoke(&store, SECRET).await.unwrap();
    let deleted: BTreeSet<_> = r.deleted.iter().map(|k| k.key_hash.clone()).collect();
    assert!(deleted.contains(&leaked.key_hash) && deleted.contains(&oldest.key_hash));
    assert!(
        !env.key_works(&leaked.api_key).await,
        "the leaked key is dead"
    );
    assert!(!env.key_works(&oldest.api_key).await);
    let doc = app_reads(&store).await;
    assert_eq!(doc.key_hash, r.current_key_hash);
    assert!(
        env.key_works(&doc.api_key).await,
        "the application works on the new key"
    );
    assert!(doc.older_keys.is_empty());
    assert_eq!(
        env.live_keys().await,
        BTreeSet::from([doc.key_hash.clone()])
    );

    // --hash: refused for the current key, deletes one recorded older key.
    let err = env
        .engine
        .revoke_key(&store, SECRET, &doc.key_hash)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is the current key"), "{err}");
    env.engine.rotate(&store, SECRET).await.unwrap();
    let err = env
        .engine
        .revoke_key(&store, SECRET, "0000not-recorded")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not recorded"), "{err}");
    let r = env
        .engine
        .revoke_key(&store, SECRET, &doc.key_hash)
        .await
        .unwrap();
    assert_eq!(r.deleted[0].key_hash, doc.key_hash);
    assert!(!env.key_works(&doc.api_key).await);
    let now = app_reads(&store).await;
    assert!(env.key_works(&now.api_key).await);
    assert!(now.older_keys.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_finds_exactly_the_planted_orphans_and_deletes_only_when_asked() {
    let env = Env::with_policy(policy(false)).await;
    let FileFixture { dir: _dir, store } = stores::file();
    let (old, new) = rotated_once(&env, &store).await;
    // Planted: two rotor-tagged keys nobody records, one untagged key (not rotor's).
    let mut planted = BTreeSet::new();
    for tag in ["0badc0de", "feedbeef"] {
        let k = env
            .client
            .create_key(&CreateKeyRequest {
                name: format!("lost rotated 2026-01-01 [rotor:{tag}]"),
                ..Default::default()
            })
            .await
            .unwrap();
        planted.insert(k.data.hash);
    }
    let foreign = env
        .client
        .create_key(&CreateKeyRequest {
            name: "someone's own key".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let refs = env.engine.references(&store, SECRET).await.unwrap();
    assert!(refs.hashes.contains(&old.key_hash) && refs.hashes.contains(&new.key_hash));
    let report = env
        .engine
        .sweep(vec![SECRET.into()], &refs, Duration::ZERO)
        .await
        .unwrap();
    let found: BTreeSet<_> = report.orphans.iter().map(|o| o.key_hash.clone()).collect();
    assert_eq!(found, planted);
    assert!(report.orphans.iter().all(|o| !o.deleted));
    assert_eq!(report.referenced, 2);
    assert!(
        env.live_keys().await.is_superset(&planted),
        "listing deletes nothing"
    );

    // A minimum age protects fresh keys even with delete.
    let report = env
        .engine
        .sweep_confirmed(
            &[(&store, SECRET.to_owned())],
            vec![SECRET.into()],
            &found,
            60 * MIN,
        )
        .await
        .unwrap();
    assert!(report.orphans.iter().all(|o| o.too_new && !o.deleted));
    assert!(env.live_keys().await.is_superset(&planted));

    // (The manual clock started before the emulator stamped the keys.)
    env.clock.advance(MIN);
    let report = env
        .engine
        .sweep_confirmed(
            &[(&store, SECRET.to_owned())],
            vec![SECRET.into()],
            &found,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(report.orphans.iter().all(|o| o.deleted));
    let live = env.live_keys().await;
    assert!(live.is_disjoint(&planted));
    assert!(live.contains(&old.key_hash) && live.contains(&new.key_hash));
    assert!(
        live.contains(&foreign.data.hash),
        "untagged keys are never touched"
    );
    assert!(env.key_works(&app_reads(&store).await.api_key).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn older_documents_without_retirement_fields_still_retire() {
    // The default policy (observation window 0) keeps the grace-only behaviour.
    let env = Env::with_policy(Policy {
        grace_period: Duration::ZERO,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    let (old, _) = rotated_once(&env, &store).await;
    // Past the store's own promote time (the store stamps it with the system clock).
    env.clock.advance(MIN);
    let r = env.engine.retire(&store, SECRET, false).await.unwrap();
    assert!(r.retired.iter().any(|k| k.key_hash == old.key_hash));
    assert!(!env.key_works(&old.api_key).await);
}

/// Issue finding: `rotor sweep --delete` computed the references before the confirmation prompt
/// and judged `--min-age` at delete time, so a rotation during the prompt made the new current
/// key look orphaned and it was deleted. Now only the keys shown are deleted, and the references
/// are read again under the secret's lease after the confirmation.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_during_the_sweep_prompt_never_loses_its_key() {
    let env = Env::with_policy(Policy {
        grace_period: Duration::ZERO,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    env.engine.init(&store, SECRET, None).await.unwrap();
    let refs = env.engine.references(&store, SECRET).await.unwrap();
    let shown = env
        .engine
        .sweep(vec![SECRET.into()], &refs, Duration::ZERO)
        .await
        .unwrap();
    let confirmed: BTreeSet<String> = shown.orphans.iter().map(|o| o.key_hash.clone()).collect();
    // While the person reads the prompt, the secret rotates (twice: the new key is older than
    // --min-age 0 by the time the deletion runs).
    env.engine.rotate(&store, SECRET).await.unwrap();
    env.engine.rotate(&store, SECRET).await.unwrap();
    env.clock.advance(MIN);
    let report = env
        .engine
        .sweep_confirmed(
            &[(&store, SECRET.to_owned())],
            vec![SECRET.into()],
            &confirmed,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(report.orphans.iter().all(|o| !o.deleted), "{report:?}");
    let current = app_reads(&store).await;
    assert!(
        env.key_works(&current.api_key).await,
        "the current key survives"
    );
}
