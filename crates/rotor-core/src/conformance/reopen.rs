//! Persistent stores: what was written survives reopening the store.

use super::*;

/// Versions, stages and values written through one store instance are all there, unchanged,
/// through a new instance (persistent stores). `open` returns a new instance on the same backing
/// storage each time it is called.
pub async fn survives_reopen<F>(open: F, prefix: &str)
where
    F: Fn() -> Box<dyn SecretStore>,
{
    let store = open();
    let c = Case::new(store.as_ref(), prefix, "reopen");
    let (a, va) = (new_token(), sample_document("reopen"));
    c.create(&a, &va).await;
    let (b, vb) = c.rotate(&a, "reopen").await;
    let (d, vd) = c.rotate(&b, "reopen").await;
    let (t, vt) = c.stage_pending("reopen").await;
    let sorted = |mut desc: SecretDescription| {
        desc.versions.sort_by(|x, y| x.id.cmp(&y.id));
        desc
    };
    let before = sorted(c.describe("before reopen").await);
    drop(c);
    drop(store);

    let store = open();
    let c = Case::new(store.as_ref(), prefix, "reopen");
    let after = sorted(c.describe("after reopen").await);
    if after != before {
        c.fail(format!(
            "describe differs after reopening: before {before:?}, after {after:?}"
        ));
    }
    c.expect_current("after reopen", &d, &vd).await;
    c.expect_value(
        "after reopen",
        VersionSelector::Stage(Stage::Previous),
        &b,
        &vb,
    )
    .await;
    c.expect_value(
        "after reopen",
        VersionSelector::version_in_stage(&t, Stage::Pending),
        &t,
        &vt,
    )
    .await;
    c.ok(
        "put_pending re-run after reopen",
        store.put_pending(&c.secret, &t, &vt).await,
    );
    c.err(
        "conflicting put_pending after reopen",
        "Conflict",
        store.put_pending(&c.secret, &t, &va).await,
    );
    c.ok(
        "promote after reopen",
        store.promote(&c.secret, &t, &d).await,
    );
    drop(c);
    drop(store);

    let store = open();
    let c = Case::new(store.as_ref(), prefix, "reopen");
    c.expect_promoted("after second reopen", &t, &d, Some(&b))
        .await;
    c.expect_current("after second reopen", &t, &vt).await;
    c.expect_value(
        "after second reopen",
        VersionSelector::Stage(Stage::Previous),
        &d,
        &vd,
    )
    .await;
}
