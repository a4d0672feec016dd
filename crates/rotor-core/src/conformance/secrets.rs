//! Creating and reading a secret: idempotent create, a missing secret, byte-exact values.

use super::*;

/// create_secret, then describe and get_value by stage and by version.
pub async fn create_and_read(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "create-read");
    let (a, va) = (new_token(), sample_document("create-read"));
    c.create(&a, &va).await;

    let desc = c.describe("describe after create").await;
    if desc.secret_id.is_empty() {
        c.fail("describe returned an empty secret_id");
    }
    if desc.stages_of(&a) != [Stage::Current] {
        c.fail(format!(
            "first version {a} has stages {:?}, expected [AWSCURRENT]",
            desc.stages_of(&a)
        ));
    }
    for stage in [Stage::Pending, Stage::Previous] {
        if let Some(v) = desc.with_stage(stage) {
            c.fail(format!("a new secret has {stage} on version {}", v.id));
        }
    }

    c.expect_current("read after create", &a, &va).await;
    c.expect_value(
        "read after create",
        VersionSelector::Version {
            id: a.clone(),
            stage: None,
        },
        &a,
        &va,
    )
    .await;
    let unknown = new_token();
    for selector in [
        VersionSelector::Stage(Stage::Pending),
        VersionSelector::Stage(Stage::Previous),
        VersionSelector::version_in_stage(&a, Stage::Pending),
        VersionSelector::version_in_stage(&a, Stage::Previous),
        VersionSelector::Version {
            id: unknown.clone(),
            stage: None,
        },
        VersionSelector::version_in_stage(&unknown, Stage::Current),
    ] {
        c.expect_not_found("read after create", selector).await;
    }
}

/// create_secret again with the same token and value: Ok; anything else: Conflict, nothing changed.
pub async fn create_is_idempotent(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "create-idempotent");
    let (a, va) = (new_token(), sample_document("create-idempotent"));
    c.create(&a, &va).await;
    c.ok(
        "create_secret re-run",
        store.create_secret(&c.secret, &a, &va).await,
    );

    let (b, vb) = (new_token(), sample_document("create-idempotent"));
    c.err(
        "create_secret, same token, other value",
        "Conflict",
        store.create_secret(&c.secret, &a, &vb).await,
    );
    c.err(
        "create_secret, other token, same value",
        "Conflict",
        store.create_secret(&c.secret, &b, &va).await,
    );
    c.err(
        "create_secret, other token and value",
        "Conflict",
        store.create_secret(&c.secret, &b, &vb).await,
    );

    c.expect_current("after conflicting creates", &a, &va).await;
    let desc = c.describe("after conflicting creates").await;
    if let Some(v) = desc
        .versions
        .iter()
        .find(|v| v.id != a && !v.stages.is_empty())
    {
        c.fail(format!(
            "a conflicting create left version {} with stages {:?}",
            v.id, v.stages
        ));
    }
}

/// Every method on a secret that does not exist: NotFound, and nothing gets created.
pub async fn missing_secret(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "missing");
    let (t, v) = (new_token(), sample_document("missing"));
    let s = c.secret.as_str();
    c.err("describe", "NotFound", store.describe(s).await);
    c.err(
        "get_value",
        "NotFound",
        store
            .get_value(s, &VersionSelector::Stage(Stage::Current))
            .await,
    );
    c.err(
        "begin_rotation",
        "NotFound",
        store.begin_rotation(s, &t).await,
    );
    c.err(
        "put_pending",
        "NotFound",
        store.put_pending(s, &t, &v).await,
    );
    c.err(
        "promote",
        "NotFound",
        store.promote(s, &t, &new_token()).await,
    );
    c.err(
        "clear_pending",
        "NotFound",
        store.clear_pending(s, &t).await,
    );
    c.err(
        "describe after the failed writes",
        "NotFound",
        store.describe(s).await,
    );
}

/// Values come back byte-exact: non-ASCII, escapes, newlines, CRLF, surrounding whitespace,
/// non-JSON text, a large document.
pub async fn values_are_byte_exact(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "byte-exact");
    let first = sample_document("byte-exact");
    let a = new_token();
    c.create(&a, &first).await;
    c.expect_current("first value", &a, &first).await;

    let big = format!(
        "{{\"api_key\":\"sk-or-v1-{}\",\"padding\":\"{}\"}}",
        hex::encode(rand::random::<[u8; 32]>()),
        "x".repeat(16 * 1024)
    );
    let values = [
        big,
        format!("  {}\r\n", sample_document("crlf").expose_secret()),
        "\t not JSON at all: ' \" \\ / \u{e9}\u{301} \u{1f510} \n".to_owned(),
        "{\"api_key\": \"sk-or-v1-ab\" ,\n  \"spaced\" :  [ 1 , 2.50, 1e3 ] }".to_owned(),
    ];
    for (i, value) in values.into_iter().enumerate() {
        let value = SecretString::from(value);
        let t = new_token();
        c.ok(
            "put_pending",
            store.put_pending(&c.secret, &t, &value).await,
        );
        c.expect_value(
            &format!("value #{i}"),
            VersionSelector::version_in_stage(&t, Stage::Pending),
            &t,
            &value,
        )
        .await;
        c.ok("clear_pending", store.clear_pending(&c.secret, &t).await);
    }
    c.expect_current("first value at the end", &a, &first).await;
}
