//! Connection and authentication settings, from code or from the environment.
//!
//! | variable | meaning |
//! |---|---|
//! | `VAULT_ADDR` | server URL (`https://vault.example:8200`); required |
//! | `VAULT_NAMESPACE` | Vault Enterprise / OpenBao namespace (optional) |
//! | `VAULT_CACERT` | PEM file with the CA bundle to trust for `https` (optional) |
//! | `VAULT_SKIP_VERIFY` | `true` disables TLS verification (logged as a warning; never do this in production) |
//! | `ROTOR_VAULT_AUTH` | `token`, `approle` or `kubernetes`; default: `token` when `VAULT_TOKEN` is set, else `approle` when a role id is set, else `kubernetes` when a Kubernetes role is set |
//! | `VAULT_TOKEN` | token auth |
//! | `ROTOR_VAULT_ROLE_ID` / `ROTOR_VAULT_ROLE_ID_FILE` | AppRole role id (value or file) |
//! | `ROTOR_VAULT_SECRET_ID` / `ROTOR_VAULT_SECRET_ID_FILE` | AppRole secret id (value or file; the file is re-read at every login) |
//! | `ROTOR_VAULT_APPROLE_MOUNT` | AppRole auth mount (default `approle`) |
//! | `ROTOR_VAULT_K8S_ROLE` | Kubernetes auth role |
//! | `ROTOR_VAULT_K8S_TOKEN_FILE` | service-account token (default `/var/run/secrets/kubernetes.io/serviceaccount/token`, re-read at every login) |
//! | `ROTOR_VAULT_K8S_MOUNT` | Kubernetes auth mount (default `kubernetes`) |
//! | `ROTOR_VAULT_STAGING_PREFIX` | where pending values live inside each mount (default `rotor-staging`) |
//! | `ROTOR_VAULT_TIMEOUT` | per-request timeout in seconds (default 30) |

use std::{fmt, path::PathBuf, time::Duration};

use secrecy::SecretString;

use crate::VaultError;

/// Default service-account token file in a Kubernetes pod.
pub const DEFAULT_K8S_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Default prefix, inside each KV v2 mount, of the paths holding pending values.
pub const DEFAULT_STAGING_PREFIX: &str = "rotor-staging";

/// A credential given directly or as a file (re-read at every login, so it can be rotated).
#[derive(Clone)]
pub enum Credential {
    Value(SecretString),
    File(PathBuf),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Value(_) => f.write_str("Credential::Value([redacted])"),
            Credential::File(p) => write!(f, "Credential::File({})", p.display()),
        }
    }
}

/// How the store authenticates to Vault.
#[derive(Debug, Clone)]
pub enum VaultAuth {
    /// A token (`VAULT_TOKEN`), renewed in place when it is renewable.
    Token(SecretString),
    /// AppRole login with a role id and a secret id; re-login when the token nears its max TTL.
    AppRole {
        mount: String,
        role_id: Credential,
        secret_id: Credential,
    },
    /// Kubernetes auth with the pod's service-account token.
    Kubernetes {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
}

impl VaultAuth {
    /// The method's name for logs and errors.
    pub fn method(&self) -> &'static str {
        match self {
            VaultAuth::Token(_) => "token",
            VaultAuth::AppRole { .. } => "approle",
            VaultAuth::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// Everything needed to reach and log in to Vault.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// `http(s)://host:port`.
    pub address: String,
    pub namespace: Option<String>,
    /// PEM CA bundle for `https` addresses.
    pub ca_cert: Option<PathBuf>,
    /// Disable TLS certificate verification (logged as a warning).
    pub skip_verify: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    pub auth: VaultAuth,
    /// Prefix inside each mount for pending values (see `docs/vault-mapping.md`).
    pub staging_prefix: String,
}

impl VaultConfig {
    /// Defaults for everything but the address and the auth method.
    pub fn new(address: impl Into<String>, auth: VaultAuth) -> Self {
        VaultConfig {
            address: address.into(),
            namespace: None,
            ca_cert: None,
            skip_verify: false,
            timeout: Duration::from_secs(30),
            auth,
            staging_prefix: DEFAULT_STAGING_PREFIX.to_owned(),
        }
    }

    /// Reads the variables in this module's table from the process environment.
    pub fn from_env() -> Result<Self, VaultError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env) with an explicit lookup (for tests and config files).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, VaultError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let address = get("VAULT_ADDR").ok_or_else(|| {
            VaultError::config("VAULT_ADDR is not set: set it to the Vault server URL, e.g. https://vault.example:8200")
        })?;
        let credential = |value_var: &str, file_var: &str| -> Option<Credential> {
            get(value_var)
                .map(|v| Credential::Value(SecretString::from(v)))
                .or_else(|| get(file_var).map(|f| Credential::File(PathBuf::from(f))))
        };
        let role_id = credential("ROTOR_VAULT_ROLE_ID", "ROTOR_VAULT_ROLE_ID_FILE");
        let k8s_role = get("ROTOR_VAULT_K8S_ROLE");
        let method = match get("ROTOR_VAULT_AUTH") {
            Some(m) => m.trim().to_ascii_lowercase(),
            None if get("VAULT_TOKEN").is_some() => "token".to_owned(),
            None if role_id.is_some() => "approle".to_owned(),
            None if k8s_role.is_some() => "kubernetes".to_owned(),
            None => {
                return Err(VaultError::config(
                    "no Vault credentials: set VAULT_TOKEN, or ROTOR_VAULT_ROLE_ID(_FILE) and \
                     ROTOR_VAULT_SECRET_ID(_FILE) for AppRole, or ROTOR_VAULT_K8S_ROLE for Kubernetes auth",
                ));
            }
        };
        let auth = match method.as_str() {
            "token" => VaultAuth::Token(SecretString::from(get("VAULT_TOKEN").ok_or_else(|| {
                VaultError::config("ROTOR_VAULT_AUTH=token but VAULT_TOKEN is not set")
            })?)),
            "approle" => VaultAuth::AppRole {
                mount: get("ROTOR_VAULT_APPROLE_MOUNT").unwrap_or_else(|| "approle".to_owned()),
                role_id: role_id.ok_or_else(|| {
                    VaultError::config("AppRole auth needs ROTOR_VAULT_ROLE_ID or ROTOR_VAULT_ROLE_ID_FILE")
                })?,
                secret_id: credential("ROTOR_VAULT_SECRET_ID", "ROTOR_VAULT_SECRET_ID_FILE").ok_or_else(
                    || VaultError::config("AppRole auth needs ROTOR_VAULT_SECRET_ID or ROTOR_VAULT_SECRET_ID_FILE"),
                )?,
            },
            "kubernetes" => VaultAuth::Kubernetes {
                mount: get("ROTOR_VAULT_K8S_MOUNT").unwrap_or_else(|| "kubernetes".to_owned()),
                role: k8s_role.ok_or_else(|| {
                    VaultError::config("Kubernetes auth needs ROTOR_VAULT_K8S_ROLE (the Vault role to log in as)")
                })?,
                jwt_file: PathBuf::from(
                    get("ROTOR_VAULT_K8S_TOKEN_FILE").unwrap_or_else(|| DEFAULT_K8S_TOKEN_FILE.to_owned()),
                ),
            },
            other => {
                return Err(VaultError::config(format!(
                    "ROTOR_VAULT_AUTH={other:?} is not supported: use token, approle or kubernetes"
                )));
            }
        };
        let skip_verify = match get("VAULT_SKIP_VERIFY").map(|v| v.trim().to_ascii_lowercase()) {
            None => false,
            Some(v) if matches!(v.as_str(), "1" | "t" | "true" | "yes") => true,
            Some(v) if matches!(v.as_str(), "0" | "f" | "false" | "no") => false,
            Some(v) => {
                return Err(VaultError::config(format!(
                    "VAULT_SKIP_VERIFY={v:?} is not a boolean: use true or false"
                )));
            }
        };
        let timeout = match get("ROTOR_VAULT_TIMEOUT") {
            None => Duration::from_secs(30),
            Some(v) => Duration::from_secs(v.trim().parse::<u64>().map_err(|_| {
                VaultError::config(format!(
                    "ROTOR_VAULT_TIMEOUT={v:?} is not a whole number of seconds"
                ))
            })?),
        };
        let mut config = VaultConfig::new(address, auth);
        config.namespace = get("VAULT_NAMESPACE");
        config.ca_cert = get("VAULT_CACERT").map(PathBuf::from);
        config.skip_verify = skip_verify;
        config.timeout = timeout;
        if let Some(prefix) = get("ROTOR_VAULT_STAGING_PREFIX") {
            config.staging_prefix = prefix.trim_matches('/').to_owned();
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the address (vaultrs panics on a malformed one), the CA file and the staging prefix.
    pub fn validate(&self) -> Result<(), VaultError> {
        let url = url::Url::parse(&self.address).map_err(|e| {
            VaultError::config(format!(
                "VAULT_ADDR {:?} is not a valid URL ({e})",
                self.address
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(VaultError::config(format!(
                "VAULT_ADDR {:?} must be an http:// or https:// URL with a host",
                self.address
            )));
        }
        if let Some(ca) = &self.ca_cert {
            if !ca.is_file() {
                return Err(VaultError::config(format!(
                    "VAULT_CACERT {} does not exist or is not a file",
                    ca.display()
                )));
            }
        }
        if self.staging_prefix.is_empty()
            || self
                .staging_prefix
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(VaultError::config(format!(
                "staging prefix {:?} must be a non-empty KV path such as rotor-staging",
                self.staging_prefix
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<VaultConfig, VaultError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VaultConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn picks_the_auth_method() {
        let c = from(&[
            ("VAULT_ADDR", "http://127.0.0.1:8200"),
            ("VAULT_TOKEN", "t"),
        ])
        .unwrap();
        assert_eq!(c.auth.method(), "token");
        let c = from(&[
            ("VAULT_ADDR", "https://v:8200"),
            ("ROTOR_VAULT_ROLE_ID", "r"),
            ("ROTOR_VAULT_SECRET_ID_FILE", "/run/secret-id"),
        ])
        .unwrap();
        assert_eq!(c.auth.method(), "approle");
        let c = from(&[
            ("VAULT_ADDR", "https://v:8200"),
            ("ROTOR_VAULT_K8S_ROLE", "rotor"),
        ])
        .unwrap();
        match c.auth {
            VaultAuth::Kubernetes {
                jwt_file, mount, ..
            } => {
                assert_eq!(jwt_file, PathBuf::from(DEFAULT_K8S_TOKEN_FILE));
                assert_eq!(mount, "kubernetes");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_settings_with_the_variable_named() {
        let err = from(&[("VAULT_TOKEN", "t")]).unwrap_err().to_string();
        assert!(err.contains("VAULT_ADDR is not set"), "{err}");
        let err = from(&[("VAULT_ADDR", "not a url"), ("VAULT_TOKEN", "t")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("VAULT_ADDR"), "{err}");
        let err = from(&[("VAULT_ADDR", "ftp://x"), ("VAULT_TOKEN", "t")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://"), "{err}");
        let err = from(&[
            ("VAULT_ADDR", "http://x"),
            ("VAULT_TOKEN", "t"),
            ("VAULT_SKIP_VERIFY", "maybe"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("VAULT_SKIP_VERIFY"), "{err}");
        let err = from(&[("VAULT_ADDR", "http://x")]).unwrap_err().to_string();
        assert!(err.contains("no Vault credentials"), "{err}");
        let err = from(&[("VAULT_ADDR", "http://x"), ("ROTOR_VAULT_AUTH", "approle")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROTOR_VAULT_ROLE_ID"), "{err}");
    }

    #[test]
    fn debug_never_shows_credentials() {
        let c = from(&[
            ("VAULT_ADDR", "http://x"),
            ("ROTOR_VAULT_ROLE_ID", "role-123"),
            ("ROTOR_VAULT_SECRET_ID", "very-secret-id"),
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("very-secret-id") && !dbg.contains("role-123"),
            "{dbg}"
        );
    }
}
