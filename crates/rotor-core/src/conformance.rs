//! The shared test suite every [`SecretStore`] backend runs unchanged (like `object_store`'s
//! integration tests): memory and file stores here, AWS (LocalStack) and Vault (OpenBao) in their
//! crates.
//!
//! Every function takes the store as `&dyn SecretStore` and a *prefix*: the secrets it creates
//! are named `{prefix}-{case}`, so the prefix must be fresh for every run against a shared backend
//! (e.g. `format!("conf-{}", uuid::Uuid::new_v4().simple())`). Secret names use only
//! `[A-Za-z0-9-]` after the prefix, which every backend accepts. Tokens are UUIDs (AWS wants
//! 32–64 characters).
//!
//! The functions panic with a message naming the backend, the secret, the step and what was
//! expected. They never print a value: values are compared in place and reported as "differs".
//! They use only the trait, never a backend's internals, and allow what the contract allows:
//! Pending may linger on the promoted (Current) version (AWS clears it asynchronously), versions
//! without a stage may or may not still be listed, `secret_id` may be an ARN.
//!
//! ```no_run
//! # async fn conformance() {
//! // In a backend's tests: `#[tokio::test(flavor = "multi_thread")]`.
//! let store = rotor_core::MemoryStore::new(); // or the backend under test
//! let prefix = format!("conf-{}", uuid::Uuid::new_v4().simple());
//! rotor_core::conformance::run_all(&store, &prefix).await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::store::{SecretDescription, SecretStore, Stage, StoreError, VersionSelector};

/// How many racing promote pairs [`run_all`] runs.
pub const DEFAULT_RACE_ITERATIONS: usize = 20;

/// Runs every single-store check: [`create_and_read`], [`create_is_idempotent`],
/// [`missing_secret`], [`begin_rotation`], [`put_pending`], [`promote_moves_stages`],
/// [`promote_is_idempotent`], [`promote_with_stale_from_conflicts`],
/// [`promote_requires_a_value`], [`clear_pending`], [`rollback`], [`values_are_byte_exact`],
/// [`racing_promotes`], [`ledger_check_and_set`] and [`racing_ledger_writes`]. Persistent stores also run [`survives_reopen`].
pub async fn run_all(store: &dyn SecretStore, prefix: &str) {
    run_all_but_ledger_races(store, prefix).await;
    racing_ledger_writes(store, prefix).await;
}

/// [`run_all`] without [`racing_ledger_writes`], for an emulator whose concurrent label moves
/// are not atomic (LocalStack: see docs/aws.md); the sequential check-and-set
/// cases still run.
pub async fn run_all_but_ledger_races(store: &dyn SecretStore, prefix: &str) {
    create_and_read(store, prefix).await;
    create_is_idempotent(store, prefix).await;
    missing_secret(store, prefix).await;
    begin_rotation(store, prefix).await;
    put_pending(store, prefix).await;
    promote_moves_stages(store, prefix).await;
    promote_is_idempotent(store, prefix).await;
    promote_with_stale_from_conflicts(store, prefix).await;
    promote_requires_a_value(store, prefix).await;
    clear_pending(store, prefix).await;
    rollback(store, prefix).await;
    values_are_byte_exact(store, prefix).await;
    racing_promotes(store, prefix, DEFAULT_RACE_ITERATIONS).await;
    ledger_check_and_set(store, prefix).await;
}

/// A fresh rotation token (a UUID).
pub fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A realistic `KeyRecord`-like document with a fresh random `api_key`, plus fields rotor does not
/// know, non-ASCII text, escapes and a newline (to catch any store that re-encodes values).
pub fn sample_document(label: &str) -> SecretString {
    let key: [u8; 32] = rand::random();
    let hash: [u8; 32] = rand::random();
    SecretString::from(format!(
        "{{\"api_key\":\"sk-or-v1-{}\",\"key_hash\":\"{}\",\"key_name\":\"{label} rotated \
         2026-11-28 · ключ 🔑\",\"created_at\":\"2026-11-28T10:00:00Z\",\"expires_at\":null,\
         \"rotation\":{{\"grace_period\":\"2h\"}},\"team\":{{\"note\":\"on call: \\\"ops\\\"\\n\
         night \\\\ shift\",\"quota\":12.5}}}}",
        hex::encode(key),
        hex::encode(hash)
    ))
}

fn same(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

fn kind(err: &StoreError) -> &'static str {
    match err {
        StoreError::NotFound { .. } => "NotFound",
        StoreError::Conflict { .. } => "Conflict",
        StoreError::Precondition { .. } => "Precondition",
        StoreError::Denied { .. } => "Denied",
        StoreError::Transient { .. } => "Transient",
        StoreError::Backend { .. } => "Backend",
    }
}

/// One secret under test.
struct Case<'a> {
    store: &'a dyn SecretStore,
    secret: String,
}

impl<'a> Case<'a> {
    fn new(store: &'a dyn SecretStore, prefix: &str, case: &str) -> Self {
        Case {
            store,
            secret: format!("{prefix}-{case}"),
        }
    }

    fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!(
            "conformance ({} store, secret {}): {message}",
            self.store.backend(),
            self.secret
        )
    }

    fn ok<T>(&self, step: &str, result: Result<T, StoreError>) -> T {
        match result {
            Ok(v) => v,
            Err(e) => self.fail(format!("{step}: expected Ok, got {} error: {e}", kind(&e))),
        }
    }

    fn err<T>(&self, step: &str, expected: &str, result: Result<T, StoreError>) -> StoreError {
        match result {
            Ok(_) => self.fail(format!("{step}: expected a {expected} error, got Ok")),
            Err(e) if kind(&e) == expected => e,
            Err(e) => self.fail(format!(
                "{step}: expected a {expected} error, got {}: {e}",
                kind(&e)
            )),
        }
    }

    /// `describe`, checking that each stage is on at most one version.
    async fn describe(&self, step: &str) -> SecretDescription {
        let desc = self.ok(step, self.store.describe(&self.secret).await);
        for stage in Stage::ALL {
            let holders: Vec<&str> = desc
                .versions
                .iter()
                .filter(|v| v.has(stage))
                .map(|v| v.id.as_str())
                .collect();
            if holders.len() > 1 {
                self.fail(format!(
                    "{step}: {stage} is on several versions: {holders:?}"
                ));
            }
        }
        let mut ids: Vec<&str> = desc.versions.iter().map(|v| v.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != desc.versions.len() {
            self.fail(format!("{step}: describe lists a version twice"));
        }
        desc
    }

    /// The stage → version mapping, for before/after comparisons.
    async fn stage_map(&self, step: &str) -> BTreeMap<Stage, String> {
        let desc = self.describe(step).await;
        Stage::ALL
            .into_iter()
            .filter_map(|s| desc.with_stage(s).map(|v| (s, v.id.clone())))
            .collect()
    }

    async fn holder(&self, step: &str, stage: Stage) -> Option<String> {
        self.describe(step)
            .await
            .with_stage(stage)
            .map(|v| v.id.clone())
    }

    /// Reads `selector` and checks the version id, that the version carries `stage` when the
    /// selector names one, and the value (byte-exact).
    async fn expect_value(
        &self,
        step: &str,
        selector: VersionSelector,
        id: &str,
        value: &SecretString,
    ) {
        let got = self.ok(
            &format!("{step}: get_value({selector})"),
            self.store.get_value(&self.secret, &selector).await,
        );
        if got.version_id != id {
            self.fail(format!(
                "{step}: get_value({selector}) returned version {}, expected {id}",
                got.version_id
            ));
        }
        let stage = match &selector {
            VersionSelector::Stage(s) => Some(*s),
            VersionSelector::Version { stage, .. } => *stage,
        };
        if let Some(stage) = stage {
            if !got.stages.contains(&stage) {
                self.fail(format!(
                    "{step}: get_value({selector}) reports stages {:?} without {stage}",
                    got.stages
                ));
            }
        }
        if !same(&got.value, value) {
            self.fail(format!(
                "{step}: get_value({selector}) returned a value that differs from the one stored \
                 ({} bytes instead of {})",
                got.value.expose_secret().len(),
                value.expose_secret().len()
            ));
        }
    }

    async fn expect_current(&self, step: &str, id: &str, value: &SecretString) {
        self.expect_value(step, VersionSelector::Stage(Stage::Current), id, value)
            .await;
        self.expect_value(
            step,
            VersionSelector::version_in_stage(id, Stage::Current),
            id,
            value,
        )
        .await;
    }

    async fn expect_not_found(&self, step: &str, selector: VersionSelector) {
        let result = self.store.get_value(&self.secret, &selector).await;
        self.err(
            &format!("{step}: get_value({selector})"),
            "NotFound",
            result,
        );
    }

    async fn create(&self, token: &str, value: &SecretString) {
        let result = self.store.create_secret(&self.secret, token, value).await;
        if let Err(StoreError::Conflict { .. }) = &result {
            self.fail("create_secret: the secret already exists; give the suite a fresh prefix")
        }
        self.ok("create_secret", result);
    }

    /// begin_rotation + put_pending for a fresh token; returns (token, value).
    async fn stage_pending(&self, label: &str) -> (String, SecretString) {
        let token = new_token();
        let value = sample_document(label);
        self.ok(
            "begin_rotation",
            self.store.begin_rotation(&self.secret, &token).await,
        );
        self.ok(
            "put_pending",
            self.store.put_pending(&self.secret, &token, &value).await,
        );
        (token, value)
    }

    /// A whole rotation from `from`: begin, put, promote. Returns (token, value).
    async fn rotate(&self, from: &str, label: &str) -> (String, SecretString) {
        let (token, value) = self.stage_pending(label).await;
        self.ok(
            "promote",
            self.store.promote(&self.secret, &token, from).await,
        );
        (token, value)
    }

    /// After `new` was promoted from `old`: new is Current (Pending may linger on it), old is
    /// Previous only, `older` (the former Previous) carries nothing, no other Pending.
    async fn expect_promoted(&self, step: &str, new: &str, old: &str, older: Option<&str>) {
        let desc = self.describe(step).await;
        let new_stages = desc.stages_of(new);
        if !new_stages.contains(&Stage::Current) || new_stages.contains(&Stage::Previous) {
            self.fail(format!(
                "{step}: promoted version {new} has stages {new_stages:?}, expected AWSCURRENT \
                 (and possibly a lingering AWSPENDING)"
            ));
        }
        if desc.stages_of(old) != [Stage::Previous] {
            self.fail(format!(
                "{step}: formerly current version {old} has stages {:?}, expected [AWSPREVIOUS]",
                desc.stages_of(old)
            ));
        }
        if let Some(older) = older {
            if !desc.stages_of(older).is_empty() {
                self.fail(format!(
                    "{step}: former previous version {older} still has stages {:?}",
                    desc.stages_of(older)
                ));
            }
        }
        if let Some(p) = desc.with_stage(Stage::Pending) {
            if p.id != new {
                self.fail(format!(
                    "{step}: AWSPENDING is on {} after promoting {new}",
                    p.id
                ));
            }
        }
    }
}

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

type Promote<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Two promotes with different tokens from the same `from`, started concurrently (a finish and
/// a rollback): exactly one wins, the other gets `Conflict`, stages stay consistent. Repeated
/// `iterations` times on one secret.
pub async fn racing_promotes(store: &dyn SecretStore, prefix: &str, iterations: usize) {
    let c = Case::new(store, prefix, "race");
    race_loop(&c, iterations, |token, from| {
        let secret = c.secret.clone();
        Box::pin(async move { store.promote(&secret, &token, &from).await }) as Promote<'_>
    })
    .await;
}

/// [`racing_promotes`] with each promote in its own `tokio::spawn`ed task (truly parallel on a
/// multi-threaded runtime), for stores that can be shared as `Arc<dyn SecretStore>`.
pub async fn racing_promotes_spawned(store: Arc<dyn SecretStore>, prefix: &str, iterations: usize) {
    let c = Case::new(store.as_ref(), prefix, "race-spawned");
    race_loop(&c, iterations, |token, from| {
        let store = Arc::clone(&store);
        let secret = c.secret.clone();
        let task = tokio::spawn(async move { store.promote(&secret, &token, &from).await });
        Box::pin(async move {
            task.await
                .unwrap_or_else(|e| panic!("conformance: a promote task failed: {e}"))
        }) as Promote<'_>
    })
    .await;
}

async fn race_loop<'a>(
    c: &Case<'a>,
    iterations: usize,
    start: impl Fn(String, String) -> Promote<'a>,
) {
    let (a, va) = (new_token(), sample_document("race"));
    c.create(&a, &va).await;
    let (b, vb) = c.rotate(&a, "race").await;
    let (mut current, mut current_value) = (b, vb);
    let (mut previous, mut previous_value) = (a, va);
    for i in 0..iterations {
        let step = format!("race #{i}");
        let (t, vt) = c.stage_pending("race").await;
        // Alternate which promote starts first.
        let (first, second) = if i % 2 == 0 {
            (t.clone(), previous.clone())
        } else {
            (previous.clone(), t.clone())
        };
        let f1 = start(first.clone(), current.clone());
        let f2 = start(second.clone(), current.clone());
        let (r1, r2) = tokio::join!(f1, f2);
        let winner = match (&r1, &r2) {
            (Ok(()), Err(StoreError::Conflict { .. })) => first,
            (Err(StoreError::Conflict { .. }), Ok(())) => second,
            _ => c.fail(format!(
                "{step}: expected exactly one promote to succeed and the other to get Conflict; \
                 got {:?} and {:?}",
                r1.as_ref().map_err(|e| format!("{}: {e}", kind(e))),
                r2.as_ref().map_err(|e| format!("{}: {e}", kind(e)))
            )),
        };
        let winner_value = if winner == t { vt } else { previous_value };
        let loser = if winner == t {
            previous.clone()
        } else {
            t.clone()
        };
        let desc = c.describe(&step).await;
        if !desc.stages_of(&winner).contains(&Stage::Current)
            || desc.stages_of(&current) != [Stage::Previous]
        {
            c.fail(format!(
                "{step}: after the race the winner {winner} has {:?} and the old current {current} \
                 has {:?}; expected AWSCURRENT and [AWSPREVIOUS]",
                desc.stages_of(&winner),
                desc.stages_of(&current)
            ));
        }
        if desc.stages_of(&loser).iter().any(|s| *s != Stage::Pending) {
            c.fail(format!(
                "{step}: the loser {loser} has stages {:?}",
                desc.stages_of(&loser)
            ));
        }
        c.expect_current(&step, &winner, &winner_value).await;
        c.expect_value(
            &step,
            VersionSelector::Stage(Stage::Previous),
            &current,
            &current_value,
        )
        .await;
        // Tidy for the next round: abandon the losing rotation, or clear a lingering Pending.
        c.ok("clear_pending", c.store.clear_pending(&c.secret, &t).await);
        previous = std::mem::replace(&mut current, winner);
        previous_value = std::mem::replace(&mut current_value, winner_value);
    }
}

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

/// The ledger: absent at first; a write names the revision it replaces; a stale revision (or
/// `None` once a ledger exists) is `Conflict` and changes nothing; writes change no version or
/// stage; a missing secret is `NotFound`.
pub async fn ledger_check_and_set(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "ledger");
    let s = c.secret.as_str();
    c.err(
        "read_ledger (no secret)",
        "NotFound",
        store.read_ledger(s).await,
    );
    c.err(
        "write_ledger (no secret)",
        "NotFound",
        store.write_ledger(s, None, "{}").await,
    );
    let (token, value) = (new_token(), sample_document("ledger"));
    c.create(&token, &value).await;
    let before = c.describe("describe before ledger writes").await;
    if let Some(l) = c.ok("read_ledger (fresh)", store.read_ledger(s).await) {
        c.fail(format!(
            "read_ledger on a fresh secret: expected none, got revision {}",
            l.revision
        ));
    }
    let r1 = c.ok(
        "write_ledger (first)",
        store.write_ledger(s, None, r#"{"n":1}"#).await,
    );
    let read = c.ok("read_ledger", store.read_ledger(s).await);
    match &read {
        Some(l) if l.revision == r1 && l.document == r#"{"n":1}"# => {}
        other => c.fail(format!(
            "read_ledger after the first write: expected revision {r1} with the document, got {:?}",
            other.as_ref().map(|l| &l.revision)
        )),
    }
    c.err(
        "write_ledger expecting none once one exists",
        "Conflict",
        store.write_ledger(s, None, r#"{"n":"lost"}"#).await,
    );
    let r2 = c.ok(
        "write_ledger (second)",
        store.write_ledger(s, Some(&r1), r#"{"n":2}"#).await,
    );
    if r2 == r1 {
        c.fail("write_ledger returned the same revision twice");
    }
    c.err(
        "write_ledger with a stale revision",
        "Conflict",
        store.write_ledger(s, Some(&r1), r#"{"n":"stale"}"#).await,
    );
    let read = c.ok("read_ledger", store.read_ledger(s).await);
    match &read {
        Some(l) if l.revision == r2 && l.document == r#"{"n":2}"# => {}
        other => c.fail(format!(
            "read_ledger after a refused write: expected revision {r2} and the second document, got {:?}",
            other.as_ref().map(|l| &l.revision)
        )),
    }
    let after = c.describe("describe after ledger writes").await;
    let stages = |d: &SecretDescription| {
        let mut v: Vec<(String, Vec<Stage>)> = d
            .versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), v.stages.clone()))
            .collect();
        v.sort();
        v
    };
    if stages(&before) != stages(&after) {
        c.fail("ledger writes changed the secret's versions or stages");
    }
    c.expect_current("current after ledger writes", &token, &value)
        .await;
}

/// Eight concurrent check-and-set writes from the same revision: exactly one wins.
pub async fn racing_ledger_writes(store: &dyn SecretStore, prefix: &str) {
    let c = Case::new(store, prefix, "ledger-race");
    let s = c.secret.as_str();
    c.create(&new_token(), &sample_document("ledger-race"))
        .await;
    let base = c.ok("write_ledger", store.write_ledger(s, None, "{}").await);
    let writes = (0..8).map(|i| {
        let doc = format!(r#"{{"writer":{i}}}"#);
        let base = base.clone();
        async move { store.write_ledger(s, Some(&base), &doc).await }
    });
    let results = futures::future::join_all(writes).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        if let Err(e) = r {
            if kind(e) != "Conflict" {
                c.fail(format!("a losing ledger write: expected Conflict, got {e}"));
            }
        }
    }
    if won != 1 {
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
            .take(2)
            .collect();
        c.fail(format!(
            "{won} of 8 concurrent ledger writes from one revision succeeded; exactly one must (errors: {errors:?})"
        ));
    }
}
