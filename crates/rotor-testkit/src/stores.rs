//! Store fixtures. Memory and file need nothing; Vault and AWS need the services `tests/run`
//! starts and fail loudly without them.

use rotor_core::{FileStore, MemoryStore};

/// A fresh in-process store.
pub fn memory() -> MemoryStore {
    MemoryStore::new()
}

/// A file store in a fresh temp dir (removed when the fixture is dropped).
pub struct FileFixture {
    pub dir: tempfile::TempDir,
    pub store: FileStore,
}

impl FileFixture {
    /// The store's directory.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("secrets")
    }

    /// Another `FileStore` on the same directory (as another process would open it).
    pub fn reopen(&self) -> FileStore {
        FileStore::open(self.path()).expect("reopen the file store")
    }
}

/// A file store in a fresh temp dir.
pub fn file() -> FileFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::open(dir.path().join("secrets")).expect("file store");
    FileFixture { dir, store }
}

/// A fresh name component, unique per test run: `label-<12 hex>`.
pub fn fresh(label: &str) -> String {
    format!(
        "{label}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

#[cfg(feature = "vault")]
pub mod vault;

#[cfg(feature = "aws")]
pub mod aws;
