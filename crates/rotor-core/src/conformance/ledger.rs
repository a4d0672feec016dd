//! The ledger: check-and-set, sequential and racing.

use super::*;

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
