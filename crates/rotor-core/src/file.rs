//! [`FileStore`]: secrets as JSON files on disk, the embedded default for local use.
//!
//! One JSON file per secret in a directory; the layout is documented in `docs/file-store.md` (next to
//! this crate's `Cargo.toml`) so local scripts and applications can read the current key:
//!
//! ```text
//! jq -r '.versions[.stages.AWSCURRENT].value | fromjson | .api_key' DIR/SECRET.json
//! ```
//!
//! * Secret names are `/`-separated segments of `[A-Za-z0-9._-]` that do not start with `.`;
//!   each `/` is a subdirectory (`team/prod-app` → `DIR/team/prod-app.json`). Anything else
//!   (`..`, absolute paths, empty segments, spaces...) is refused with a `Precondition` error.
//! * Writes are atomic: a temporary file in the same directory, written, fsynced, renamed over the
//!   secret's file, then the directory fsynced. Readers never see a partial file and need no lock.
//! * Files are created 0600 and directories 0700; a file or directory accessible by group or
//!   others is refused (`Precondition`, naming the path and the `chmod` to run).
//! * Every read-modify-write holds an exclusive advisory lock (`flock`) on `SECRET.lock` beside the
//!   secret's file, waiting at most [`FileStore::with_lock_timeout`] (default 10 s, then a
//!   retryable `Transient` error), so two processes never interleave a read-modify-write.
//! * The staged-version semantics are [`MemoryStore`](crate::memory::MemoryStore)'s, shared code.
//!
//! Unix only (permission bits and `flock`).
//!
//! This file is the store and its read-modify-write; `file/disk.rs` holds the files, locks and
//! permissions, `file/format.rs` the on-disk document (ledger included), and
//! `file/secret_store.rs` the [`SecretStore`](crate::store::SecretStore) implementation.

mod disk;
mod format;
mod secret_store;

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::secret_state::SecretState;
use crate::store::{Snapshot, StoreError};
use disk::{
    Durability, SecretPaths, check_dirs, load, lock_exclusive, mode_is_private, name_segments,
    write_atomic,
};
use format::serialize;

/// The `format` field of every secret file this version writes and reads.
pub const FILE_FORMAT: &str = "rotor-file-store/1";

/// How long a read-modify-write waits for another process's lock by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`FileStore::open`] refused a directory.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreOpenError {
    /// The directory is unsafe to keep keys in (wrong permissions, not a directory).
    #[error("file store {path}: {message}")]
    Precondition { path: PathBuf, message: String },
    /// The directory could not be created or inspected.
    #[error("file store {path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// Secrets as JSON files in one directory. Cheap to clone (clones share configuration).
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Config>,
    /// The state each secret was left in by this store's own last `begin_rotation` or
    /// `put_pending` (written under the secret's lock, so exactly what the file holds after
    /// it), for [`SecretStore::snapshot_after_write`](crate::store::SecretStore::snapshot_after_write).
    after_write: Arc<std::sync::Mutex<std::collections::HashMap<String, Snapshot>>>,
    /// Bounds this process's concurrent writes ([`MAX_CONCURRENT_WRITES`]).
    writers: Arc<tokio::sync::Semaphore>,
}

/// How many writes one `FileStore` runs at once. A fleet rotates dozens of secrets
/// concurrently; beyond a few writers per core, concurrent renames in one directory only
/// contend for the directory's lock in the kernel (measured in BENCHMARKS.md, "Profile").
pub const MAX_CONCURRENT_WRITES: usize = 8;

#[derive(Debug)]
struct Config {
    root: PathBuf,
    lock_timeout: Duration,
}

impl FileStore {
    /// Opens (creating it 0700 if missing) the directory `dir` as a file store.
    /// Refuses a directory accessible by group or others.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStore, FileStoreOpenError> {
        let root = dir.as_ref().to_path_buf();
        if !root.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&root)
                .map_err(|e| FileStoreOpenError::Io {
                    path: root.clone(),
                    message: format!("cannot create the directory: {e}"),
                })?;
        }
        let meta = fs::metadata(&root).map_err(|e| FileStoreOpenError::Io {
            path: root.clone(),
            message: format!("cannot inspect the directory: {e}"),
        })?;
        if !meta.is_dir() {
            return Err(FileStoreOpenError::Precondition {
                path: root,
                message: "not a directory; give the file store a directory".to_owned(),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if !mode_is_private(mode) {
            return Err(FileStoreOpenError::Precondition {
                message: format!(
                    "the directory is accessible by group or others (mode {mode:04o}); \
                     run `chmod 700 {}`",
                    root.display()
                ),
                path: root,
            });
        }
        Ok(FileStore {
            inner: Arc::new(Config {
                root,
                lock_timeout: DEFAULT_LOCK_TIMEOUT,
            }),
            after_write: Default::default(),
            writers: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_WRITES)),
        })
    }

    /// How long a read-modify-write waits for another process's lock before failing with a
    /// retryable `Transient` error.
    pub fn with_lock_timeout(self, timeout: Duration) -> FileStore {
        FileStore {
            inner: Arc::new(Config {
                root: self.inner.root.clone(),
                lock_timeout: timeout,
            }),
            after_write: self.after_write,
            writers: self.writers,
        }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The JSON file that holds `secret` (whether or not it exists yet).
    pub fn secret_path(&self, secret: &str) -> Result<PathBuf, StoreError> {
        Ok(self.paths(secret)?.file)
    }

    /// The lock file of `secret` (see `docs/file-store.md`).
    pub fn lock_path(&self, secret: &str) -> Result<PathBuf, StoreError> {
        Ok(self.paths(secret)?.lock)
    }

    /// Sets the secret's `rotation_enabled` field (`false` makes the engine refuse to rotate it).
    /// `NotFound` if the secret does not exist.
    pub async fn set_rotation_enabled(
        &self,
        secret: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        self.modify(secret, Durability::Durable, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            let changed = state.rotation_enabled != Some(enabled);
            state.rotation_enabled = Some(enabled);
            Ok(changed)
        })
        .await
    }

    fn paths(&self, secret: &str) -> Result<SecretPaths, StoreError> {
        let segments = name_segments(secret)?;
        let (last, dirs) = segments
            .split_last()
            .ok_or_else(|| StoreError::precondition(secret, "the secret name is empty"))?;
        let mut parent = self.inner.root.clone();
        let mut all_dirs = vec![parent.clone()];
        for dir in dirs {
            parent.push(dir);
            all_dirs.push(parent.clone());
        }
        let file_name = format!("{last}.json");
        Ok(SecretPaths {
            file: parent.join(&file_name),
            lock: parent.join(format!("{last}.lock")),
            parent,
            dirs: all_dirs,
            file_name,
        })
    }

    /// Reads the secret's file on the calling thread. A read takes no lock and never waits: a
    /// `stat` per directory, then open, read and parse one small file. Handing it to tokio's
    /// blocking pool cost more CPU (two thread wake-ups and context switches) than the read
    /// itself (BENCHMARKS.md, "Profile"); writes, which wait for the lock and for `fsync`, still
    /// run there.
    async fn read(&self, secret: &str) -> Result<Option<SecretState>, StoreError> {
        let paths = self.paths(secret)?;
        check_dirs(secret, &paths.dirs, false)?;
        load(secret, &paths.file)
    }

    async fn read_existing(&self, secret: &str) -> Result<SecretState, StoreError> {
        self.read(secret)
            .await?
            .ok_or_else(|| missing_secret(secret))
    }

    /// Runs `change` on the secret's state under the secret's exclusive lock and writes the
    /// result atomically when `change` reports a change.
    async fn modify(
        &self,
        secret: &str,
        durability: Durability,
        change: impl FnOnce(&str, &mut Option<SecretState>) -> Result<bool, StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.modify_returning(secret, move |name, state| {
            change(name, state).map(|changed| (changed, (), durability))
        })
        .await
    }

    /// [`modify`](Self::modify) whose change also returns a value, and decides the write's
    /// durability.
    async fn modify_returning<R: Send + 'static>(
        &self,
        secret: &str,
        change: impl FnOnce(&str, &mut Option<SecretState>) -> Result<(bool, R, Durability), StoreError>
        + Send
        + 'static,
    ) -> Result<R, StoreError> {
        let paths = self.paths(secret)?;
        let name = secret.to_owned();
        let timeout = self.inner.lock_timeout;
        // Never closed: acquiring only fails on a closed semaphore.
        let _permit = self.writers.acquire().await.ok();
        blocking(secret, move || {
            check_dirs(&name, &paths.dirs, true)?;
            let _lock = lock_exclusive(&name, &paths.lock, timeout)?;
            let mut state = load(&name, &paths.file)?;
            let (changed, result, durability) = change(&name, &mut state)?;
            if !changed {
                return Ok(result);
            }
            let Some(state) = state else {
                return Ok(result);
            };
            let bytes = serialize(&name, &state)?;
            write_atomic(&name, &paths, &bytes, durability)?;
            Ok(result)
        })
        .await
    }
}

fn missing_secret(secret: &str) -> StoreError {
    StoreError::not_found(secret, "the secret")
}

async fn blocking<T: Send + 'static>(
    secret: &str,
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend {
            secret: secret.to_owned(),
            message: format!("the file-store worker thread failed: {e}"),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_and_json_files_never_collide() {
        let store = FileStore {
            inner: Arc::new(Config {
                root: "/s".into(),
                lock_timeout: DEFAULT_LOCK_TIMEOUT,
            }),
            after_write: Default::default(),
            writers: Arc::new(tokio::sync::Semaphore::new(1)),
        };
        let a = store.paths("a").unwrap();
        let a_lock = store.paths("a.lock").unwrap();
        assert_eq!(a.lock, PathBuf::from("/s/a.lock"));
        assert_eq!(a_lock.file, PathBuf::from("/s/a.lock.json"));
        assert_eq!(
            store.paths("t/a").unwrap().file,
            PathBuf::from("/s/t/a.json")
        );
    }
}
