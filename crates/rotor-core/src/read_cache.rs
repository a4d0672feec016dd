//! [`ReadCache`]: a [`SecretStore`] decorator that answers repeated reads of a secret from what
//! it already read, until anything is written.
//!
//! The engine wraps the store in one for each operation, so a step reads the secret's stages
//! and values once (AWS's template describes once per step) however many of its checks look at
//! them. The rules that keep this safe:
//! * **Every write forgets what was read before it.** A version write (`begin_rotation`,
//!   `put_pending`, `promote`, ...) or a failed ledger write forgets everything, the ledger
//!   included.
//! * **A successful ledger check-and-set keeps only what was read after the ledger revision it
//!   replaced was seen.** Every rotor worker changes a secret only while it holds the lease, and
//!   takes, renews and releases the lease by ledger writes. If the ledger still had revision `r`
//!   when this worker's check-and-set from `r` succeeded, no worker took or released the lease
//!   between this worker seeing `r` and its write, so what it read in between is what a read
//!   after the write would return. What it read before seeing `r` is forgotten. So what the
//!   engine decides under the lease never rests on a read made before the ledger showed the
//!   secret free.
//! * A ledger read is answered from the cache until the next write; a stale one can only make a
//!   check-and-set fail (which forgets everything) or report a lease as busy that just ended.
//!
//! Backends whose `describe` reads every staged value anyway (Vault reads the application path,
//! the staging path and the previous KV version) hand them over with
//! [`SecretStore::snapshot`], so a step's `describe` and its reads of Current, Pending and
//! Previous cost the three requests of one `describe`.
//!
//! * **A backend that knows the effect of its own write says so.** After a successful
//!   `begin_rotation` or `put_pending`, the cache asks
//!   [`SecretStore::snapshot_after_write`]: Vault's check-and-set write proves nothing changed
//!   the slot it wrote since the read it started from, so that read plus the write is what a
//!   read now would return. The cache remembers it as if just read.
//!
//! * **A version's value is read once per process where the backend allows it.** When the
//!   description this cache holds names the version a read asks for, and the store remembers that
//!   version's value ([`SecretStore::remembered_value`]: Secrets Manager versions never change once
//!   written), the cache answers with it and the description's stages. The answer is exactly as
//!   fresh as that description, and carries its sequence number.
//!
//! Only `NotFound` errors are remembered (as "not there"); any other read error is returned and
//! forgotten, so a retry reads again. Every remembered read carries a sequence number, so the
//! ledger rule can tell what was read after which ledger revision.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::store::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Snapshot, StoreError, VersionSelector,
};

/// What is known of one secret since the last write; each item with the sequence number of
/// the read that produced it.
#[derive(Default)]
struct Known {
    /// The description and, when the backend read them all (see [`Snapshot`]), every value.
    snapshot: Option<(u64, SecretDescription, Option<Vec<SecretValue>>)>,
    /// Values read one by one.
    values: Vec<(u64, SecretValue)>,
    /// Selectors a read answered `NotFound`.
    missing: Vec<(u64, VersionSelector)>,
    /// The ledger as last read or written, and the sequence number of that moment.
    ledger: Option<(u64, Option<LedgerEntry>)>,
}

impl Known {
    /// Keeps only what was read after sequence number `after`.
    fn keep_after(&mut self, after: u64) {
        if self
            .snapshot
            .as_ref()
            .is_some_and(|(seq, ..)| *seq <= after)
        {
            self.snapshot = None;
        }
        self.values.retain(|(seq, _)| *seq > after);
        self.missing.retain(|(seq, _)| *seq > after);
    }

    /// The version the remembered description says `selector` reads, its stages, and when the
    /// description was read.
    fn resolve(
        &self,
        selector: &VersionSelector,
    ) -> Option<(String, Vec<crate::store::Stage>, u64)> {
        let (seq, desc, _) = self.snapshot.as_ref()?;
        let version = match selector {
            VersionSelector::Stage(s) => desc.with_stage(*s),
            VersionSelector::Version { id, stage } => {
                desc.version(id).filter(|v| stage.is_none_or(|s| v.has(s)))
            }
        }?;
        Some((version.id.clone(), version.stages.clone(), *seq))
    }

    fn lookup(&self, selector: &VersionSelector) -> Option<Option<SecretValue>> {
        let matches = |v: &&SecretValue| match selector {
            VersionSelector::Stage(s) => v.stages.contains(s),
            VersionSelector::Version { id, stage } => {
                &v.version_id == id && stage.is_none_or(|s| v.stages.contains(&s))
            }
        };
        if let Some((_, _, Some(all))) = &self.snapshot {
            return Some(all.iter().find(matches).cloned());
        }
        if let Some((_, found)) = self.values.iter().find(|(_, v)| matches(&v)) {
            return Some(Some(found.clone()));
        }
        if self.missing.iter().any(|(_, m)| m == selector) {
            return Some(None);
        }
        // What the description says is not there is not there (a version or stage it lists
        // may still have no value, so it never answers a value).
        if let Some((_, desc, _)) = &self.snapshot {
            let absent = match selector {
                VersionSelector::Stage(s) => desc.with_stage(*s).is_none(),
                VersionSelector::Version { id, stage } => match desc.version(id) {
                    None => true,
                    Some(v) => stage.is_some_and(|s| !v.has(s)),
                },
            };
            if absent {
                return Some(None);
            }
        }
        None
    }
}

/// A [`SecretStore`] that remembers its reads until the next write (see the module docs).
pub struct ReadCache<'a> {
    inner: &'a dyn SecretStore,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped by every write: a read that started before it never fills the cache after it.
    generation: u64,
    /// Numbers every remembered read, in order.
    seq: u64,
    known: HashMap<String, Known>,
}

impl State {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl<'a> ReadCache<'a> {
    pub fn new(inner: &'a dyn SecretStore) -> Self {
        ReadCache {
            inner,
            state: Mutex::new(State::default()),
        }
    }

    /// After a successful write: what the backend knows the secret to be now
    /// ([`SecretStore::snapshot_after_write`]), remembered as if just read.
    fn install_after_write(&self, secret_id: &str) {
        if let Some(snapshot) = self.inner.snapshot_after_write(secret_id) {
            let mut state = self.lock();
            let seq = state.next_seq();
            state
                .known
                .entry(secret_id.to_owned())
                .or_default()
                .snapshot = Some((seq, snapshot.description, snapshot.values));
        }
    }

    fn forget(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.known.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves nothing half-written worth keeping.
        self.state.lock().unwrap_or_else(|e| {
            let mut guard = e.into_inner();
            guard.generation += 1;
            guard.known.clear();
            guard
        })
    }
}

#[async_trait]
impl SecretStore for ReadCache<'_> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn begin_rotation_is_exclusive(&self) -> bool {
        self.inner.begin_rotation_is_exclusive()
    }

    fn max_value_bytes(&self) -> Option<usize> {
        self.inner.max_value_bytes()
    }

    async fn snapshot(&self, secret_id: &str) -> Result<Snapshot, StoreError> {
        let generation = {
            let state = self.lock();
            if let Some((_, description, values)) =
                state.known.get(secret_id).and_then(|k| k.snapshot.as_ref())
            {
                return Ok(Snapshot {
                    description: description.clone(),
                    values: values.clone(),
                });
            }
            state.generation
        };
        let snapshot = self.inner.snapshot(secret_id).await?;
        let mut state = self.lock();
        if state.generation == generation {
            let seq = state.next_seq();
            let known = state.known.entry(secret_id.to_owned()).or_default();
            known.snapshot = Some((seq, snapshot.description.clone(), snapshot.values.clone()));
        }
        Ok(snapshot)
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.snapshot(secret_id).await.map(|s| s.description)
    }

    async fn get_value(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError> {
        let generation = {
            let mut state = self.lock();
            let known = state.known.get(secret_id);
            match known.and_then(|k| k.lookup(selector)) {
                Some(Some(value)) => return Ok(value),
                Some(None) => {
                    return Err(StoreError::not_found(secret_id, selector.to_string()));
                }
                None => {}
            }
            // The version the description names, if the store remembers its (immutable) value.
            // It is as fresh as that description: it carries the description's sequence number.
            let remembered =
                known
                    .and_then(|k| k.resolve(selector))
                    .and_then(|(id, stages, seq)| {
                        let mut value = self.inner.remembered_value(secret_id, &id)?;
                        value.version_id = id;
                        value.stages = stages;
                        Some((seq, value))
                    });
            if let Some((seq, value)) = remembered {
                let known = state.known.entry(secret_id.to_owned()).or_default();
                known.values.push((seq, value.clone()));
                return Ok(value);
            }
            state.generation
        };
        let result = self.inner.get_value(secret_id, selector).await;
        let mut state = self.lock();
        if state.generation != generation {
            return result;
        }
        let seq = state.next_seq();
        let known = state.known.entry(secret_id.to_owned()).or_default();
        match &result {
            Ok(value) => known.values.push((seq, value.clone())),
            Err(StoreError::NotFound { .. }) => known.missing.push((seq, selector.clone())),
            Err(_) => {}
        }
        result
    }

    async fn create_secret(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        self.forget();
        let result = self.inner.create_secret(secret_id, token, value).await;
        self.forget();
        result
    }

    async fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        self.forget();
        let result = self.inner.begin_rotation(secret_id, token).await;
        self.forget();
        if result.is_ok() {
            self.install_after_write(secret_id);
        }
        result
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        self.forget();
        let result = self.inner.put_pending(secret_id, token, value).await;
        self.forget();
        if result.is_ok() {
            self.install_after_write(secret_id);
        }
        result
    }

    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError> {
        self.forget();
        let result = self.inner.promote(secret_id, token, from).await;
        self.forget();
        result
    }

    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        self.forget();
        let result = self.inner.clear_pending(secret_id, token).await;
        self.forget();
        result
    }

    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        let generation = {
            let state = self.lock();
            if let Some((_, entry)) = state.known.get(secret_id).and_then(|k| k.ledger.as_ref()) {
                return Ok(entry.clone());
            }
            state.generation
        };
        let entry = self.inner.read_ledger(secret_id).await?;
        let mut state = self.lock();
        if state.generation == generation {
            let seq = state.next_seq();
            let known = state.known.entry(secret_id.to_owned()).or_default();
            known.ledger = Some((seq, entry.clone()));
        }
        Ok(entry)
    }

    async fn write_ledger(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        // The moment this worker saw the revision it replaces, if it did through this cache.
        let seen = {
            let mut state = self.lock();
            state.generation += 1;
            state
                .known
                .get(secret_id)
                .and_then(|k| k.ledger.as_ref())
                .filter(|(_, entry)| entry.as_ref().map(|e| e.revision.as_str()) == expected)
                .map(|(seq, _)| *seq)
        };
        let result = self.inner.write_ledger(secret_id, expected, document).await;
        let mut state = self.lock();
        state.generation += 1;
        match (&result, seen) {
            (Ok(revision), Some(seen)) => {
                let mut known = state.known.remove(secret_id).unwrap_or_default();
                state.known.clear();
                known.keep_after(seen);
                known.ledger = Some((
                    state.next_seq(),
                    Some(LedgerEntry {
                        revision: revision.clone(),
                        document: document.to_owned(),
                    }),
                ));
                state.known.insert(secret_id.to_owned(), known);
            }
            _ => state.known.clear(),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::memory::MemoryStore;
    use crate::store::Stage;

    /// Counts the reads that reach the store. With `knows_its_writes`, hands over the state
    /// `begin_rotation` left (as Vault and the file store do).
    #[derive(Default)]
    struct Counting {
        inner: MemoryStore,
        reads: AtomicUsize,
        knows_its_writes: bool,
        after: Mutex<Option<Snapshot>>,
        /// Remembers every value it read, by version (as the Secrets Manager store does).
        remembers_values: bool,
        remembered: Mutex<HashMap<String, SecretValue>>,
    }

    #[async_trait]
    impl SecretStore for Counting {
        fn backend(&self) -> &'static str {
            "counting"
        }
        fn snapshot_after_write(&self, _s: &str) -> Option<Snapshot> {
            self.after.lock().unwrap().take()
        }
        async fn describe(&self, s: &str) -> Result<SecretDescription, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.describe(s).await
        }
        async fn get_value(
            &self,
            s: &str,
            sel: &VersionSelector,
        ) -> Result<SecretValue, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let value = self.inner.get_value(s, sel).await?;
            if self.remembers_values {
                let mut remembered = self.remembered.lock().unwrap();
                remembered.insert(value.version_id.clone(), value.clone());
            }
            Ok(value)
        }
        fn remembered_value(&self, _s: &str, id: &str) -> Option<SecretValue> {
            let mut value = self.remembered.lock().unwrap().get(id).cloned()?;
            // What a backend that remembers values knows of their stages: possibly outdated.
            value.stages.clear();
            Some(value)
        }
        async fn create_secret(
            &self,
            s: &str,
            t: &str,
            v: &SecretString,
        ) -> Result<(), StoreError> {
            self.inner.create_secret(s, t, v).await
        }
        async fn begin_rotation(&self, s: &str, t: &str) -> Result<(), StoreError> {
            self.inner.begin_rotation(s, t).await?;
            if self.knows_its_writes {
                let description = self.inner.describe(s).await?;
                *self.after.lock().unwrap() = Some(Snapshot {
                    description,
                    values: None,
                });
            }
            Ok(())
        }
        async fn put_pending(&self, s: &str, t: &str, v: &SecretString) -> Result<(), StoreError> {
            self.inner.put_pending(s, t, v).await
        }
        async fn promote(&self, s: &str, t: &str, f: &str) -> Result<(), StoreError> {
            self.inner.promote(s, t, f).await
        }
        async fn clear_pending(&self, s: &str, t: &str) -> Result<(), StoreError> {
            self.inner.clear_pending(s, t).await
        }
        async fn read_ledger(&self, s: &str) -> Result<Option<LedgerEntry>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.read_ledger(s).await
        }
        async fn write_ledger(
            &self,
            s: &str,
            e: Option<&str>,
            d: &str,
        ) -> Result<String, StoreError> {
            self.inner.write_ledger(s, e, d).await
        }
    }

    fn value(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[tokio::test]
    async fn a_value_the_store_remembers_answers_for_the_version_the_description_names() {
        use secrecy::ExposeSecret;
        let store = Counting {
            remembers_values: true,
            ..Counting::default()
        };
        store
            .create_secret("s", "v1", &value("{\"k\":1}"))
            .await
            .unwrap();
        let reads = || store.reads.load(Ordering::SeqCst);
        let current = VersionSelector::Stage(Stage::Current);
        let previous = VersionSelector::Stage(Stage::Previous);
        {
            let cache = ReadCache::new(&store);
            cache.describe("s").await.unwrap();
            cache.get_value("s", &current).await.unwrap();
        }
        assert_eq!(reads(), 2);
        // A later operation describes again; the value of the version it names is remembered.
        {
            let cache = ReadCache::new(&store);
            cache.describe("s").await.unwrap();
            let v = cache.get_value("s", &current).await.unwrap();
            assert_eq!(reads(), 3, "the remembered value answers");
            assert_eq!(v.version_id, "v1");
            assert_eq!(
                v.stages,
                vec![Stage::Current],
                "stages from the description"
            );
        }
        // Another rotation moved Current: the version the description names now is read, and
        // the remembered one answers for the stage it carries now.
        store.inner.begin_rotation("s", "v2").await.unwrap();
        store
            .inner
            .put_pending("s", "v2", &value("{\"k\":2}"))
            .await
            .unwrap();
        store.inner.promote("s", "v2", "v1").await.unwrap();
        let cache = ReadCache::new(&store);
        cache.describe("s").await.unwrap();
        let v = cache.get_value("s", &current).await.unwrap();
        assert_eq!((v.version_id.as_str(), reads()), ("v2", 5));
        assert_eq!(v.value.expose_secret(), "{\"k\":2}");
        let v = cache.get_value("s", &previous).await.unwrap();
        assert_eq!((v.version_id.as_str(), reads()), ("v1", 5));
        assert_eq!(v.stages, vec![Stage::Previous]);
        // Without a description nothing is answered from memory.
        let cache = ReadCache::new(&store);
        cache.get_value("s", &previous).await.unwrap();
        assert_eq!(reads(), 6);
    }

    #[tokio::test]
    async fn a_write_whose_effect_the_backend_knows_is_not_read_back() {
        let store = Counting {
            knows_its_writes: true,
            ..Counting::default()
        };
        store.create_secret("s", "v1", &value("{}")).await.unwrap();
        let cache = ReadCache::new(&store);
        let reads = || store.reads.load(Ordering::SeqCst);
        cache.describe("s").await.unwrap();
        assert_eq!(reads(), 1);
        cache.begin_rotation("s", "v2").await.unwrap();
        let desc = cache.describe("s").await.unwrap();
        assert_eq!(reads(), 1, "the backend's view after its write answers");
        assert_eq!(desc.stages_of("v2"), &[Stage::Pending]);
        // A write whose effect the backend does not hand over is read back.
        cache
            .put_pending("s", "v2", &value("{\"k\":2}"))
            .await
            .unwrap();
        cache.describe("s").await.unwrap();
        assert_eq!(reads(), 2);
    }

    #[tokio::test]
    async fn reads_are_answered_once_until_a_write_and_the_ledger_is_never_cached() {
        let store = Counting::default();
        store.create_secret("s", "v1", &value("{}")).await.unwrap();
        let cache = ReadCache::new(&store);
        let reads = || store.reads.load(Ordering::SeqCst);

        cache.describe("s").await.unwrap();
        cache.describe("s").await.unwrap();
        assert_eq!(reads(), 1, "a second describe is answered from the cache");
        let current = VersionSelector::Stage(Stage::Current);
        cache.get_value("s", &current).await.unwrap();
        cache.get_value("s", &current).await.unwrap();
        cache
            .get_value(
                "s",
                &VersionSelector::version_in_stage("v1", Stage::Current),
            )
            .await
            .unwrap();
        assert_eq!(
            reads(),
            2,
            "one read of the value answers every selector of it"
        );
        // What the description does not list is not there, without a read.
        let previous = VersionSelector::Stage(Stage::Previous);
        assert!(matches!(
            cache.get_value("s", &previous).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(reads(), 2);

        cache.read_ledger("s").await.unwrap();
        cache.read_ledger("s").await.unwrap();
        assert_eq!(reads(), 3, "the ledger is read once until a write");

        // A ledger check-and-set from the revision seen keeps only what was read after the
        // ledger was seen: the describe above came before it, so it is read again.
        cache.write_ledger("s", None, "{}").await.unwrap();
        cache.describe("s").await.unwrap();
        assert_eq!(reads(), 4);
        // Read after the ledger's revision was seen (the write above): kept across the next
        // check-and-set from that revision.
        let rev = cache.read_ledger("s").await.unwrap().unwrap().revision;
        assert_eq!(reads(), 4, "the written ledger is known without a read");
        let rev2 = cache
            .write_ledger("s", Some(&rev), "{\"a\":1}")
            .await
            .unwrap();
        cache.describe("s").await.unwrap();
        assert_eq!(
            reads(),
            4,
            "what was read after seeing the revision survives the write"
        );
        // A check-and-set that fails forgets everything.
        assert!(cache.write_ledger("s", Some(&rev), "{}").await.is_err());
        cache.describe("s").await.unwrap();
        assert_eq!(reads(), 5);
        assert_eq!(
            cache.read_ledger("s").await.unwrap().unwrap().revision,
            rev2
        );
        assert_eq!(reads(), 6);
        cache.begin_rotation("s", "v2").await.unwrap();
        cache
            .put_pending("s", "v2", &value("{\"n\":2}"))
            .await
            .unwrap();
        let desc = cache.describe("s").await.unwrap();
        assert!(desc.version("v2").is_some_and(|v| v.has(Stage::Pending)));
        cache.promote("s", "v2", "v1").await.unwrap();
        let now = cache.get_value("s", &current).await.unwrap();
        assert_eq!(
            now.version_id, "v2",
            "after a promote the new Current is read"
        );
        let before = cache.get_value("s", &previous).await.unwrap();
        assert_eq!(before.version_id, "v1");
    }

    #[tokio::test]
    async fn a_snapshot_with_every_value_answers_every_read() {
        /// A backend whose describe reads the values too (as Vault's does).
        struct Whole(Counting);
        #[async_trait]
        impl SecretStore for Whole {
            fn backend(&self) -> &'static str {
                "whole"
            }
            async fn snapshot(&self, s: &str) -> Result<Snapshot, StoreError> {
                let description = self.0.describe(s).await?;
                let mut values = Vec::new();
                for v in &description.versions {
                    let sel = VersionSelector::Version {
                        id: v.id.clone(),
                        stage: None,
                    };
                    if let Ok(value) = self.0.inner.get_value(s, &sel).await {
                        values.push(value);
                    }
                }
                Ok(Snapshot {
                    description,
                    values: Some(values),
                })
            }
            async fn describe(&self, s: &str) -> Result<SecretDescription, StoreError> {
                self.0.describe(s).await
            }
            async fn get_value(
                &self,
                s: &str,
                sel: &VersionSelector,
            ) -> Result<SecretValue, StoreError> {
                self.0.get_value(s, sel).await
            }
            async fn create_secret(
                &self,
                s: &str,
                t: &str,
                v: &SecretString,
            ) -> Result<(), StoreError> {
                self.0.create_secret(s, t, v).await
            }
            async fn begin_rotation(&self, s: &str, t: &str) -> Result<(), StoreError> {
                self.0.begin_rotation(s, t).await
            }
            async fn put_pending(
                &self,
                s: &str,
                t: &str,
                v: &SecretString,
            ) -> Result<(), StoreError> {
                self.0.put_pending(s, t, v).await
            }
            async fn promote(&self, s: &str, t: &str, f: &str) -> Result<(), StoreError> {
                self.0.promote(s, t, f).await
            }
            async fn clear_pending(&self, s: &str, t: &str) -> Result<(), StoreError> {
                self.0.clear_pending(s, t).await
            }
            async fn read_ledger(&self, s: &str) -> Result<Option<LedgerEntry>, StoreError> {
                self.0.read_ledger(s).await
            }
            async fn write_ledger(
                &self,
                s: &str,
                e: Option<&str>,
                d: &str,
            ) -> Result<String, StoreError> {
                self.0.write_ledger(s, e, d).await
            }
        }
        let store = Whole(Counting::default());
        store.create_secret("s", "v1", &value("{}")).await.unwrap();
        store.begin_rotation("s", "v2").await.unwrap();
        let cache = ReadCache::new(&store);
        cache.describe("s").await.unwrap();
        assert_eq!(store.0.reads.load(Ordering::SeqCst), 1);
        let cur = cache
            .get_value("s", &VersionSelector::Stage(Stage::Current))
            .await
            .unwrap();
        assert_eq!(cur.version_id, "v1");
        // The pending version is listed but has no value yet: not found, from the snapshot.
        assert!(matches!(
            cache
                .get_value(
                    "s",
                    &VersionSelector::version_in_stage("v2", Stage::Pending)
                )
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(
            store.0.reads.load(Ordering::SeqCst),
            1,
            "every read came from the one snapshot"
        );
    }
}
