//! The files, locks and permissions of a [`FileStore`](super::FileStore): secret names as
//! paths, private directories and files, the exclusive lock, atomic writes.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::parse;
use crate::secret_state::SecretState;
use crate::store::StoreError;

pub(super) fn mode_is_private(mode: u32) -> bool {
    mode & 0o077 == 0
}

pub(super) fn io_error(secret: &str, action: &str, path: &Path, err: io::Error) -> StoreError {
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
pub(super) fn name_segments(name: &str) -> Result<Vec<&str>, StoreError> {
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
pub(super) struct SecretPaths {
    /// `DIR/a/b/NAME.json`
    pub(super) file: PathBuf,
    /// `DIR/a/b/NAME.lock`
    pub(super) lock: PathBuf,
    /// `DIR/a/b`
    pub(super) parent: PathBuf,
    /// `DIR`, `DIR/a`, `DIR/a/b`: every directory that must be private.
    pub(super) dirs: Vec<PathBuf>,
    /// `NAME.json`
    pub(super) file_name: String,
}

/// Checks every directory from the root down to the secret's parent: private if it exists;
/// with `create`, missing subdirectories are created 0700.
pub(super) fn check_dirs(secret: &str, dirs: &[PathBuf], create: bool) -> Result<(), StoreError> {
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

pub(super) fn lock_exclusive(
    secret: &str,
    path: &Path,
    timeout: Duration,
) -> Result<File, StoreError> {
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
pub(super) fn load(secret: &str, path: &Path) -> Result<Option<SecretState>, StoreError> {
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

/// The one temporary file of a secret (`.NAME.tmp`, same directory). Only the holder of the
/// secret's exclusive lock writes it, so one name suffices: a crashed writer's leftover is
/// removed by the next writer when it finds it there, without listing the directory (which would
/// cost every write time in proportion to the number of secrets beside it).
fn temp_path(paths: &SecretPaths) -> std::path::PathBuf {
    paths.parent.join(format!(".{}.tmp", paths.file_name))
}

/// How much of a write must reach the disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// The new content survives a power failure: the file and then its directory are synced.
    Durable,
    /// The new file is synced before the rename, the rename is not: after a power failure the
    /// secret's file holds this content or an earlier one, each complete. For writes whose loss
    /// the next durable write, or an intent already durable, makes harmless (docs/file-store.md,
    /// "Durability").
    Ordered,
}

/// The durability a ledger write needs: durable when it records an intent the ledger did not
/// hold (`POST /keys` follows it: a lost intent would leave a key no record names), ordered
/// otherwise (taking, renewing or releasing the lease, dropping intents: a lost one only brings
/// back a lease that expires or an intent whose recovery finds its key recorded). Unreadable
/// documents are written durably.
pub(super) fn ledger_write_durability(before: Option<&str>, after: &str) -> Durability {
    fn intent_tokens(doc: &str) -> Option<Vec<String>> {
        let value: serde_json::Value = serde_json::from_str(doc).ok()?;
        let Some(intents) = value.get("intents") else {
            return Some(Vec::new());
        };
        intents
            .as_array()?
            .iter()
            .map(|i| i.get("token").and_then(|t| t.as_str()).map(str::to_owned))
            .collect()
    }
    let before = match before {
        Some(doc) => intent_tokens(doc),
        None => Some(Vec::new()),
    };
    match (before, intent_tokens(after)) {
        (Some(before), Some(after)) if after.iter().all(|t| before.contains(t)) => {
            Durability::Ordered
        }
        _ => Durability::Durable,
    }
}

/// Temp file (0600, same directory) + write + fsync + rename, then an fsync of the directory
/// for a [`Durability::Durable`] write.
pub(super) fn write_atomic(
    secret: &str,
    paths: &SecretPaths,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), StoreError> {
    let tmp = temp_path(paths);
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
    };
    let result = (|| {
        let mut file = match create() {
            // A leftover of a crashed writer (the caller holds the lock: nobody else writes
            // it): removed, and created afresh with this process's mode.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                create()
            }
            other => other,
        }
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
    if durability == Durability::Ordered {
        return Ok(());
    }
    File::open(&paths.parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| io_error(secret, "syncing directory", &paths.parent, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_write_is_durable_exactly_when_it_records_a_new_intent() {
        let lease = r#"{"rotor_ledger":1,"lease":{"holder":"h","operation":"rotate","acquired_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:02:00Z"}}"#;
        let with_intent = r#"{"rotor_ledger":1,"lease":{"holder":"h","operation":"rotate","acquired_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:02:00Z"},"intents":[{"token":"t1","tag":"abc","recorded_at":"2026-01-01T00:00:00Z"}]}"#;
        let released = r#"{"rotor_ledger":1}"#;
        for (before, after, want) in [
            (None, lease, Durability::Ordered),
            (None, with_intent, Durability::Durable),
            (Some(released), with_intent, Durability::Durable),
            (Some(lease), with_intent, Durability::Durable),
            (Some(with_intent), with_intent, Durability::Ordered),
            (Some(with_intent), released, Durability::Ordered),
            (Some(with_intent), lease, Durability::Ordered),
            (Some(lease), released, Durability::Ordered),
            (Some("not json"), released, Durability::Durable),
            (Some(lease), "not json", Durability::Durable),
        ] {
            assert_eq!(
                ledger_write_durability(before, after),
                want,
                "{before:?} -> {after}"
            );
        }
    }

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
}
