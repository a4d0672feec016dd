//! [`FileStore`]: secrets as JSON files on disk, the embedded default for local use.
//!
//! One JSON file per secret in a directory; the layout is documented in the repository's
//! `docs/file-store.md` so local scripts and applications can read the current key:
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

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::memory::{SecretState, VersionState};
use crate::store::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Stage, StoreError, VersionSelector,
};

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
}

#[derive(Debug)]
struct Config {
    root: PathBuf,
    lock_timeout: Duration,
}

/// The on-disk document (see `docs/file-store.md`). Holds plaintext values: no `Debug`.
#[derive(Serialize, Deserialize)]
struct SecretFile {
    format: String,
    secret: String,
    #[serde(default)]
    rotation_enabled: Option<bool>,
    #[serde(default)]
    last_rotated: Option<DateTime<Utc>>,
    /// Stage label (`AWSCURRENT`…) → version id.
    stages: BTreeMap<String, String>,
    /// Version id → version.
    versions: BTreeMap<String, VersionFile>,
    /// The rotation ledger (lease and intents; no key material), replaced only by check-and-set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ledger: Option<LedgerFile>,
}

#[derive(Serialize, Deserialize)]
struct LedgerFile {
    revision: u64,
    /// The engine's ledger document, as JSON text.
    document: String,
}

#[derive(Serialize, Deserialize)]
struct VersionFile {
    /// The stored document, exactly as written (a JSON string holding JSON text), or `null`
    /// for a pending version whose value createSecret has not stored yet.
    value: Option<String>,
    created_at: DateTime<Utc>,
}

fn mode_is_private(mode: u32) -> bool {
    mode & 0o077 == 0
}

fn io_error(secret: &str, action: &str, path: &Path, err: io::Error) -> StoreError {
    let message = format!("{action} {}: {err}", path.display());
    match err.kind() {
        io::ErrorKind::PermissionDenied => StoreError::Denied {
            secret: secret.to_owned(),
            message,
        },
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            StoreError::Transient {
                secret: secret.to_owned(),
                message,
            }
        }
        _ => StoreError::Backend {
            secret: secret.to_owned(),
            message,
        },
    }
}

/// Checks that `name` is a valid secret name and returns its path segments.
fn name_segments(name: &str) -> Result<Vec<&str>, StoreError> {
    const RULE: &str = "file-store secret names are `/`-separated segments of letters, digits, \
                        `.`, `_` and `-`, each not starting with `.` (for example `prod-app` or \
                        `team/prod-app`)";
    if name.is_empty() {
        return Err(StoreError::precondition(
            name,
            format!("the secret name is empty; {RULE}"),
        ));
    }
    if name.len() > 1024 {
        return Err(StoreError::precondition(
            name,
            format!("the secret name is too long; {RULE}"),
        ));
    }
    let segments: Vec<&str> = name.split('/').collect();
    for segment in &segments {
        let valid = !segment.is_empty()
            && !segment.starts_with('.')
            && segment.len() <= 200
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(StoreError::precondition(
                name,
                format!("invalid secret name (segment {segment:?}); {RULE}"),
            ));
        }
    }
    Ok(segments)
}

/// The paths of one secret's files.
struct SecretPaths {
    /// `DIR/a/b/NAME.json`
    file: PathBuf,
    /// `DIR/a/b/NAME.lock`
    lock: PathBuf,
    /// `DIR/a/b`
    parent: PathBuf,
    /// `DIR`, `DIR/a`, `DIR/a/b`: every directory that must be private.
    dirs: Vec<PathBuf>,
    /// `NAME.json`
    file_name: String,
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
        self.modify(secret, move |name, state| {
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

    async fn read(&self, secret: &str) -> Result<Option<SecretState>, StoreError> {
        let paths = self.paths(secret)?;
        let name = secret.to_owned();
        blocking(secret, move || {
            check_dirs(&name, &paths.dirs, false)?;
            load(&name, &paths.file)
        })
        .await
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
        change: impl FnOnce(&str, &mut Option<SecretState>) -> Result<bool, StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.modify_returning(secret, move |name, state| {
            change(name, state).map(|changed| (changed, ()))
        })
        .await
    }

    /// [`modify`](Self::modify) whose change also returns a value.
    async fn modify_returning<R: Send + 'static>(
        &self,
        secret: &str,
        change: impl FnOnce(&str, &mut Option<SecretState>) -> Result<(bool, R), StoreError>
        + Send
        + 'static,
    ) -> Result<R, StoreError> {
        let paths = self.paths(secret)?;
        let name = secret.to_owned();
        let timeout = self.inner.lock_timeout;
        blocking(secret, move || {
            check_dirs(&name, &paths.dirs, true)?;
            let _lock = lock_exclusive(&name, &paths.lock, timeout)?;
            remove_stale_temp_files(&paths);
            let mut state = load(&name, &paths.file)?;
            let (changed, result) = change(&name, &mut state)?;
            if !changed {
                return Ok(result);
            }
            let Some(state) = state else {
                return Ok(result);
            };
            let bytes = serialize(&name, &state)?;
            write_atomic(&name, &paths, &bytes)?;
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

/// Checks every directory from the root down to the secret's parent: private if it exists;
/// with `create`, missing subdirectories are created 0700.
fn check_dirs(secret: &str, dirs: &[PathBuf], create: bool) -> Result<(), StoreError> {
    for dir in dirs {
        let meta = match fs::metadata(dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    // Nothing below a missing directory exists: the secret is simply absent.
                    return Ok(());
                }
                match DirBuilder::new().mode(0o700).create(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_error(secret, "creating directory", dir, e)),
                }
                fs::metadata(dir).map_err(|e| io_error(secret, "inspecting directory", dir, e))?
            }
            Err(e) => return Err(io_error(secret, "inspecting directory", dir, e)),
        };
        if !meta.is_dir() {
            return Err(StoreError::precondition(
                secret,
                format!("{} is not a directory; move it away", dir.display()),
            ));
        }
        let mode = meta.permissions().mode() & 0o777;
        if !mode_is_private(mode) {
            return Err(StoreError::precondition(
                secret,
                format!(
                    "directory {} is accessible by group or others (mode {mode:04o}); \
                     run `chmod 700 {}`",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

fn lock_exclusive(secret: &str, path: &Path, timeout: Duration) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(secret, "opening lock file", path, e))?;
    let deadline = Instant::now() + timeout;
    let mut wait = Duration::from_millis(1);
    loop {
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => return Ok(file),
            Err(fs4::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(StoreError::Transient {
                        secret: secret.to_owned(),
                        message: format!(
                            "another process has held the lock {} for more than {:?}; retry, or \
                             look for a stuck rotor process",
                            path.display(),
                            timeout
                        ),
                    });
                }
                std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
                wait = (wait * 2).min(Duration::from_millis(25));
            }
            Err(fs4::TryLockError::Error(e)) => {
                return Err(io_error(secret, "locking", path, e));
            }
        }
    }
}

/// Reads and parses the secret's file; `None` when it does not exist.
fn load(secret: &str, path: &Path) -> Result<Option<SecretState>, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(secret, "opening", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| io_error(secret, "inspecting", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if !mode_is_private(mode) {
        return Err(StoreError::precondition(
            secret,
            format!(
                "file {} is accessible by group or others (mode {mode:04o}); its keys may have \
                 leaked: run `chmod 600 {}` and consider rotating the secret",
                path.display(),
                path.display()
            ),
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| io_error(secret, "reading", path, e))?;
    parse(secret, path, &text).map(Some)
}

fn corrupt(secret: &str, path: &Path, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        secret: secret.to_owned(),
        message: format!(
            "file {} is not a valid {FILE_FORMAT} document: {what}; restore it from a backup \
             or fix it by hand (see docs/file-store.md)",
            path.display()
        ),
    }
}

fn parse(secret: &str, path: &Path, text: &str) -> Result<SecretState, StoreError> {
    // serde_json's messages can quote a string from the document (`invalid type: string "…"`),
    // which could be a key: report only the error's category and position.
    let doc: SecretFile = serde_json::from_str(text).map_err(|e| {
        corrupt(
            secret,
            path,
            format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })?;
    if doc.format != FILE_FORMAT {
        return Err(corrupt(
            secret,
            path,
            format!("unsupported format {:?}", doc.format),
        ));
    }
    if doc.secret != secret {
        return Err(corrupt(
            secret,
            path,
            format!(
                "the file names secret {:?}, not {secret:?} (was it copied or renamed?)",
                doc.secret
            ),
        ));
    }
    let mut stages = BTreeMap::new();
    for (label, id) in doc.stages {
        let stage = Stage::from_aws_label(&label)
            .ok_or_else(|| corrupt(secret, path, format!("unknown stage label {label:?}")))?;
        if !doc.versions.contains_key(&id) {
            return Err(corrupt(
                secret,
                path,
                format!("{label} names unknown version {id:?}"),
            ));
        }
        stages.insert(stage, id);
    }
    let versions = doc
        .versions
        .into_iter()
        .map(|(id, v)| {
            (
                id,
                VersionState {
                    value: v.value.map(SecretString::from),
                    created_at: v.created_at,
                },
            )
        })
        .collect();
    Ok(SecretState {
        rotation_enabled: doc.rotation_enabled,
        last_rotated: doc.last_rotated,
        versions,
        stages,
        ledger: doc.ledger.map(|l| (l.revision, l.document)),
    })
}

fn serialize(secret: &str, state: &SecretState) -> Result<Vec<u8>, StoreError> {
    let doc = SecretFile {
        format: FILE_FORMAT.to_owned(),
        secret: secret.to_owned(),
        rotation_enabled: state.rotation_enabled,
        last_rotated: state.last_rotated,
        stages: state
            .stages
            .iter()
            .map(|(s, id)| (s.aws_label().to_owned(), id.clone()))
            .collect(),
        versions: state
            .versions
            .iter()
            .map(|(id, v)| {
                (
                    id.clone(),
                    VersionFile {
                        value: v.value.as_ref().map(|s| s.expose_secret().to_owned()),
                        created_at: v.created_at,
                    },
                )
            })
            .collect(),
        ledger: state
            .ledger
            .as_ref()
            .map(|(revision, document)| LedgerFile {
                revision: *revision,
                document: document.clone(),
            }),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| StoreError::Backend {
        secret: secret.to_owned(),
        message: format!("cannot serialize the secret file: {e}"),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn temp_prefix(paths: &SecretPaths) -> String {
    format!(".{}.tmp-", paths.file_name)
}

/// Temporary files of this secret left by a crashed writer (we hold the lock, so no live
/// writer owns one). Best effort.
fn remove_stale_temp_files(paths: &SecretPaths) {
    let prefix = temp_prefix(paths);
    if let Ok(entries) = fs::read_dir(&paths.parent) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Temp file (0600, same directory) + write + fsync + rename + fsync of the directory.
fn write_atomic(secret: &str, paths: &SecretPaths, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = paths.parent.join(format!(
        "{}{}-{:016x}",
        temp_prefix(paths),
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_error(secret, "creating temporary file", &tmp, e))?;
        file.write_all(bytes)
            .map_err(|e| io_error(secret, "writing", &tmp, e))?;
        file.sync_all()
            .map_err(|e| io_error(secret, "syncing", &tmp, e))?;
        drop(file);
        fs::rename(&tmp, &paths.file)
            .map_err(|e| io_error(secret, "renaming temporary file to", &paths.file, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    File::open(&paths.parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| io_error(secret, "syncing directory", &paths.parent, e))
}

#[async_trait]
impl SecretStore for FileStore {
    fn backend(&self) -> &'static str {
        "file"
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        Ok(self.read_existing(secret_id).await?.describe(secret_id))
    }

    async fn get_value(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError> {
        self.read_existing(secret_id)
            .await?
            .get_value(secret_id, selector)
    }

    async fn create_secret(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let token = token.to_owned();
        let value = value.clone();
        self.modify(secret_id, move |name, state| match state {
            Some(existing) => existing
                .check_recreate(name, &token, &value)
                .map(|()| false),
            None => {
                *state = Some(SecretState::create(name, &token, &value, Utc::now())?);
                Ok(true)
            }
        })
        .await
    }

    async fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        let token = token.to_owned();
        self.modify(secret_id, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            state.begin_rotation(name, &token, Utc::now())
        })
        .await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let token = token.to_owned();
        let value = value.clone();
        self.modify(secret_id, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            state.put_pending(name, &token, &value, Utc::now())
        })
        .await
    }

    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError> {
        let token = token.to_owned();
        let from = from.to_owned();
        self.modify(secret_id, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            state.promote(name, &token, &from, Utc::now())
        })
        .await
    }

    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        let token = token.to_owned();
        self.modify(secret_id, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            state.clear_pending(name, &token)
        })
        .await
    }

    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        Ok(self.read_existing(secret_id).await?.read_ledger())
    }

    async fn write_ledger(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        let expected = expected.map(str::to_owned);
        let document = document.to_owned();
        self.modify_returning(secret_id, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            let revision = state.write_ledger(name, expected.as_deref(), &document)?;
            Ok((true, revision))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_map_to_safe_paths() {
        for ok in ["prod-app", "team/prod-app", "a.b_c-D9", "x/y/z"] {
            assert!(name_segments(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "", "/abs", "a//b", "a/", "..", "../x", "a/../b", ".hidden", "a/.b", "sp ace", "ü",
            "a\\b", "a\0b",
        ] {
            let err = name_segments(bad).expect_err(bad);
            assert!(
                matches!(err, StoreError::Precondition { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn lock_and_json_files_never_collide() {
        let store = FileStore {
            inner: Arc::new(Config {
                root: "/s".into(),
                lock_timeout: DEFAULT_LOCK_TIMEOUT,
            }),
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
