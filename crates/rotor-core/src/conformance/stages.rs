//! The staged lifecycle: begin, put pending, promote (moves, idempotence, stale `from`, a value required), clear pending, rollback.

use super::*;

/// begin_rotation labels a value-less version Pending; idempotent; a second token → Conflict.
pub async fn begin_rotation(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "begin-rotation");
    let (a, va) = (new_token(), sample_document("begin-rotation"));
    c.create(&a, &va).await;

    let t = new_token();
    c.ok("begin_rotation", store.begin_rotation(&c.secret, &t).await);
    let desc = c.describe("after begin_rotation").await;
    if desc.stages_of(&t) != [Stage::Pending] || desc.stages_of(&a) != [Stage::Current] {
        c.fail(format!(
            "after begin_rotation: token has {:?} (expected [AWSPENDING]), current has {:?}",
            desc.stages_of(&t),
            desc.stages_of(&a)
        ));
    }
    // The pending version has no value yet: AWS's ResourceNotFoundException.
    c.expect_not_found(
        "pending without value",
        VersionSelector::version_in_stage(&t, Stage::Pending),
    )
    .await;
    c.expect_not_found(
        "pending without value",
        VersionSelector::Stage(Stage::Pending),
    )
    .await;
    c.expect_not_found(
        "pending without value",
        VersionSelector::Version {
            id: t.clone(),
            stage: None,
        },
    )
    .await;
    c.expect_current("during rotation", &a, &va).await;

    let before = c.stage_map("before re-run").await;
    c.ok(
        "begin_rotation re-run",
        store.begin_rotation(&c.secret, &t).await,
    );
    c.ok(
        "begin_rotation with the current token",
        store.begin_rotation(&c.secret, &a).await,
    );
    if c.stage_map("after re-runs").await != before {
        c.fail("an idempotent begin_rotation changed the stages");
    }

    let u = new_token();
    let err = c.err(
        "begin_rotation while another is pending",
        "Conflict",
        store.begin_rotation(&c.secret, &u).await,
    );
    if !err.to_string().contains(&t) {
        c.fail(format!(
            "the Conflict does not name the pending version {t}: {err}"
        ));
    }
    if c.stage_map("after the refused begin_rotation").await != before {
        c.fail("a refused begin_rotation changed the stages");
    }

    let vt = sample_document("begin-rotation");
    c.ok(
        "put_pending after begin_rotation",
        store.put_pending(&c.secret, &t, &vt).await,
    );
    c.ok(
        "begin_rotation on a pending version with a value",
        store.begin_rotation(&c.secret, &t).await,
    );
    c.expect_value(
        "after put_pending",
        VersionSelector::version_in_stage(&t, Stage::Pending),
        &t,
        &vt,
    )
    .await;
    c.expect_value(
        "after put_pending",
        VersionSelector::Stage(Stage::Pending),
        &t,
        &vt,
    )
    .await;
    c.expect_current("after put_pending", &a, &va).await;
}

/// put_pending: idempotent for the same value, Conflict (value unchanged) for another one; the
/// Pending label follows the latest token (AWS PutSecretValue).
pub async fn put_pending(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "put-pending");
    let (a, va) = (new_token(), sample_document("put-pending"));
    c.create(&a, &va).await;

    let (t, vt) = (new_token(), sample_document("put-pending"));
    c.ok(
        "put_pending without begin_rotation",
        store.put_pending(&c.secret, &t, &vt).await,
    );
    c.expect_value(
        "after put_pending",
        VersionSelector::version_in_stage(&t, Stage::Pending),
        &t,
        &vt,
    )
    .await;
    c.ok(
        "put_pending re-run",
        store.put_pending(&c.secret, &t, &vt).await,
    );
    c.expect_value(
        "after re-run",
        VersionSelector::version_in_stage(&t, Stage::Pending),
        &t,
        &vt,
    )
    .await;

    let other = sample_document("put-pending");
    c.err(
        "put_pending, other value",
        "Conflict",
        store.put_pending(&c.secret, &t, &other).await,
    );
    c.expect_value(
        "after conflicting put_pending",
        VersionSelector::version_in_stage(&t, Stage::Pending),
        &t,
        &vt,
    )
    .await;
    c.expect_current("after conflicting put_pending", &a, &va)
        .await;

    // The current version's token with its own value: the idempotent no-op (nothing moves).
    let before = c.stage_map("before put_pending on current").await;
    c.ok(
        "put_pending(current token, its value)",
        store.put_pending(&c.secret, &a, &va).await,
    );
    c.err(
        "put_pending(current token, other value)",
        "Conflict",
        store.put_pending(&c.secret, &a, &other).await,
    );
    if c.stage_map("after put_pending on current").await != before {
        c.fail("put_pending with the current token changed the stages");
    }

    // A new token takes the Pending label.
    let (u, vu) = (new_token(), sample_document("put-pending"));
    c.ok(
        "put_pending with a second token",
        store.put_pending(&c.secret, &u, &vu).await,
    );
    let desc = c.describe("after second put_pending").await;
    if !desc.stages_of(&u).contains(&Stage::Pending) || desc.stages_of(&t).contains(&Stage::Pending)
    {
        c.fail(format!(
            "after put_pending with a second token: AWSPENDING should have moved to it; it has {:?}, \
             the first token has {:?}",
            desc.stages_of(&u),
            desc.stages_of(&t)
        ));
    }
    c.expect_value(
        "after second put_pending",
        VersionSelector::Stage(Stage::Pending),
        &u,
        &vu,
    )
    .await;
    c.expect_current("after second put_pending", &a, &va).await;
}

/// promote moves stages exactly as Secrets Manager does, over two rotations.
pub async fn promote_moves_stages(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "promote");
    let (a, va) = (new_token(), sample_document("promote"));
    c.create(&a, &va).await;

    let (b, vb) = c.rotate(&a, "promote").await;
    c.expect_promoted("first promote", &b, &a, None).await;
    c.expect_current("after first promote", &b, &vb).await;
    c.expect_value(
        "after first promote",
        VersionSelector::Stage(Stage::Previous),
        &a,
        &va,
    )
    .await;
    c.expect_value(
        "after first promote",
        VersionSelector::version_in_stage(&a, Stage::Previous),
        &a,
        &va,
    )
    .await;
    c.expect_not_found(
        "after first promote",
        VersionSelector::version_in_stage(&a, Stage::Current),
    )
    .await;

    // A new rotation starts even if AWSPENDING still lingers on the current version.
    let (d, vd) = c.rotate(&b, "promote").await;
    c.expect_promoted("second promote", &d, &b, Some(&a)).await;
    c.expect_current("after second promote", &d, &vd).await;
    c.expect_value(
        "after second promote",
        VersionSelector::Stage(Stage::Previous),
        &b,
        &vb,
    )
    .await;
    c.expect_not_found(
        "after second promote",
        VersionSelector::version_in_stage(&a, Stage::Previous),
    )
    .await;
}

/// Promoting the current token is a no-op, whatever `from` says.
pub async fn promote_is_idempotent(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "promote-idempotent");
    let (a, va) = (new_token(), sample_document("promote-idempotent"));
    c.create(&a, &va).await;
    c.ok(
        "promote(current, from=current)",
        store.promote(&c.secret, &a, &a).await,
    );
    let (b, vb) = c.rotate(&a, "promote-idempotent").await;
    let before = c.stage_map("after promote").await;
    c.ok("promote re-run", store.promote(&c.secret, &b, &a).await);
    c.ok(
        "promote(current, from=itself)",
        store.promote(&c.secret, &b, &b).await,
    );
    c.ok(
        "promote(current, from=unknown)",
        store.promote(&c.secret, &b, &new_token()).await,
    );
    let after = c.stage_map("after re-runs").await;
    // Only a lingering Pending may have been cleared in between (AWS does it asynchronously).
    let strip = |mut m: BTreeMap<Stage, String>| {
        m.remove(&Stage::Pending);
        m
    };
    if strip(after) != strip(before) {
        c.fail("re-running promote for the current token changed the stages");
    }
    c.expect_promoted("after re-runs", &b, &a, None).await;
    c.expect_current("after re-runs", &b, &vb).await;
}

/// promote with a `from` that is no longer Current: Conflict, nothing changed.
pub async fn promote_with_stale_from_conflicts(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "promote-stale");
    let (a, va) = (new_token(), sample_document("promote-stale"));
    c.create(&a, &va).await;
    let (b, vb) = c.rotate(&a, "promote-stale").await;
    let (t, vt) = c.stage_pending("promote-stale").await;
    c.err(
        "promote with stale from",
        "Conflict",
        store.promote(&c.secret, &t, &a).await,
    );
    c.expect_current("after the refused promote", &b, &vb).await;
    c.expect_value(
        "after the refused promote",
        VersionSelector::Stage(Stage::Previous),
        &a,
        &va,
    )
    .await;
    c.expect_value(
        "after the refused promote",
        VersionSelector::version_in_stage(&t, Stage::Pending),
        &t,
        &vt,
    )
    .await;
    c.ok(
        "promote with the right from",
        store.promote(&c.secret, &t, &b).await,
    );
    c.expect_promoted("after promote", &t, &b, Some(&a)).await;
}

/// promote of an unknown version, or of a pending version without a value: NotFound, no change.
pub async fn promote_requires_a_value(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "promote-value");
    let (a, va) = (new_token(), sample_document("promote-value"));
    c.create(&a, &va).await;
    c.err(
        "promote(unknown token)",
        "NotFound",
        store.promote(&c.secret, &new_token(), &a).await,
    );
    let t = new_token();
    c.ok("begin_rotation", store.begin_rotation(&c.secret, &t).await);
    c.err(
        "promote(pending without value)",
        "NotFound",
        store.promote(&c.secret, &t, &a).await,
    );
    let desc = c.describe("after the refused promotes").await;
    if desc.stages_of(&a) != [Stage::Current] || desc.stages_of(&t) != [Stage::Pending] {
        c.fail(format!(
            "a refused promote changed stages: current {:?}, pending {:?}",
            desc.stages_of(&a),
            desc.stages_of(&t)
        ));
    }
    c.expect_current("after the refused promotes", &a, &va)
        .await;
}

/// clear_pending abandons a rotation (a new one can start) and is a no-op elsewhere.
pub async fn clear_pending(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "clear-pending");
    let (a, va) = (new_token(), sample_document("clear-pending"));
    c.create(&a, &va).await;

    // Abandon a rotation whose value was stored.
    let (t, _) = c.stage_pending("clear-pending").await;
    c.ok("clear_pending", store.clear_pending(&c.secret, &t).await);
    if let Some(p) = c.holder("after clear_pending", Stage::Pending).await {
        c.fail(format!("AWSPENDING still on {p} after clear_pending({t})"));
    }
    c.expect_not_found(
        "after clear_pending",
        VersionSelector::Stage(Stage::Pending),
    )
    .await;
    c.expect_not_found(
        "after clear_pending",
        VersionSelector::version_in_stage(&t, Stage::Pending),
    )
    .await;
    c.ok(
        "clear_pending re-run",
        store.clear_pending(&c.secret, &t).await,
    );
    c.ok(
        "clear_pending(unknown token)",
        store.clear_pending(&c.secret, &new_token()).await,
    );
    c.ok(
        "clear_pending(current token)",
        store.clear_pending(&c.secret, &a).await,
    );
    c.expect_current("after clear_pending", &a, &va).await;

    // Abandon a rotation that never stored a value; then a new rotation can start.
    let u = new_token();
    c.ok("begin_rotation", store.begin_rotation(&c.secret, &u).await);
    c.ok(
        "clear_pending(valueless)",
        store.clear_pending(&c.secret, &u).await,
    );
    let (b, vb) = c.rotate(&a, "clear-pending").await;
    c.expect_promoted("rotation after abandoning two", &b, &a, None)
        .await;

    // Tidy up after a promote: Pending leaves the current version, Current stays.
    c.ok(
        "clear_pending after promote",
        store.clear_pending(&c.secret, &b).await,
    );
    let desc = c.describe("after tidying").await;
    if desc.stages_of(&b) != [Stage::Current] {
        c.fail(format!(
            "after clear_pending on the current version it has {:?}",
            desc.stages_of(&b)
        ));
    }
    c.expect_current("after tidying", &b, &vb).await;
}

/// Rollback is promote(previous, from=current): the old value is current again, byte-exact.
pub async fn rollback(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "rollback");
    let (a, va) = (new_token(), sample_document("rollback"));
    c.create(&a, &va).await;
    let (b, vb) = c.rotate(&a, "rollback").await;
    c.ok(
        "clear_pending after promote",
        store.clear_pending(&c.secret, &b).await,
    );
    c.ok("rollback", store.promote(&c.secret, &a, &b).await);
    c.expect_promoted("after rollback", &a, &b, None).await;
    c.expect_current("after rollback", &a, &va).await;
    c.expect_value(
        "after rollback",
        VersionSelector::Stage(Stage::Previous),
        &b,
        &vb,
    )
    .await;
    c.ok("rollback re-run", store.promote(&c.secret, &a, &b).await);
    c.expect_current("after rollback re-run", &a, &va).await;
    // And forward again: the rolled-back version can become current once more.
    c.ok("roll forward", store.promote(&c.secret, &b, &a).await);
    c.expect_current("after roll forward", &b, &vb).await;
}
