//! rotor-vault: rotor's HashiCorp Vault / OpenBao backend.
//!
//! * [`VaultStore`] — the [`rotor_core::SecretStore`] trait on KV v2. KV v2 has no staging
//!   labels; the mapping (applications' path holds only promoted values, pending values in a
//!   staging path, version ids inside the data, check-and-set everywhere) is described in the
//!   [`store`] module and in `docs/vault-mapping.md`.
//! * [`VaultConfig`] / [`VaultAuth`] — address, namespace, CA, TLS verification, and token,
//!   AppRole or Kubernetes auth, from code or the environment ([`VaultConfig::from_env`]).
//!   Tokens are renewed (or re-obtained by logging in again) before they expire.
//! * [`VaultTarget`] — `vault://MOUNT/PATH[#field]` as the CLI accepts it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rotor_vault::VaultError> {
//! use rotor_vault::{VaultStore, VaultTarget};
//! let store = VaultStore::from_env().await?;          // VAULT_ADDR, VAULT_TOKEN / AppRole / Kubernetes
//! let target = VaultTarget::parse("vault://secret/prod/openrouter")?;
//! let mgmt = store.read_management_key(&VaultTarget::parse("vault://secret/ops/openrouter#management_key")?).await?;
//! // engine.rotate(&store, &target.secret_id()) ...
//! # let _ = (target, mgmt); Ok(()) }
//! ```

mod config;
mod error;
mod session;
pub mod store;
mod target;

pub use config::{
    Credential, DEFAULT_K8S_TOKEN_FILE, DEFAULT_STAGING_PREFIX, VaultAuth, VaultConfig,
};
pub use error::VaultError;
pub use store::VaultStore;
pub use target::{SCHEME, VaultTarget};
