//! The engine's retire.rs (through rotations): older keys inside their grace period, and keys deleted by hand.

use std::collections::BTreeSet;
use std::time::Duration;

use rotor_core::MemoryStore;
use rotor_core::policy::Policy;
use rotor_testkit::observe::app_reads;
use rotor_testkit::rotation::PAST_GRACE;
use rotor_testkit::{Env, SECRET};

use crate::{init, rotate_checked};

#[tokio::test]
async fn rotations_inside_grace_keep_older_keys_alive_and_recorded_until_a_later_rotation() {
    let env = Env::start().await;
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
            env.key_works(&k.api_key).await,
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
            !env.key_works(&k.api_key).await,
            "retired after its grace period"
        );
    }
    assert!(
        env.key_works(&all[3].api_key).await,
        "the previous key lives on"
    );
    assert_eq!(
        env.live_rotor_keys().await,
        BTreeSet::from([all[3].key_hash.clone(), newest.key_hash.clone()]),
        "at most two rotor keys alive once grace periods have passed"
    );
}

#[tokio::test]
async fn a_key_deleted_by_hand_is_retired_as_already_gone() {
    let env = Env::with_policy(Policy {
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
    assert_eq!(env.live_rotor_keys().await.len(), 2);
}
