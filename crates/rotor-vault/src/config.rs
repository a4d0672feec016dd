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
//!
//! OpenBao's names are accepted too: `BAO_ADDR`, `BAO_TOKEN`, `BAO_NAMESPACE`, `BAO_CACERT` and
//! `BAO_SKIP_VERIFY` stand for the `VAULT_*` variable of the same suffix; when both are set, the
//! `VAULT_*` one wins. With token auth and no token variable, the token is read from
//! `~/.vault-token` (where `vault login` / `bao login` leave it), if that file exists.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use secrecy::SecretString;

use crate::VaultError;

/// Default service-account token file in a Kubernetes pod.
pub const DEFAULT_K8S_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Default prefix, inside each KV v2 mount, of the paths holding pending values.
pub const DEFAULT_STAGING_PREFIX: &str = "rotor-staging";
/// The token helper file of `vault login` / `bao login`, in the home directory.
pub const TOKEN_HELPER_FILE: &str = ".vault-token";

/// The OpenBao alias of a `VAULT_*` variable (`VAULT_ADDR` → `BAO_ADDR`).
fn bao_alias(name: &str) -> Option<String> {
    name.strip_prefix("VAULT_")
        .map(|rest| format!("BAO_{rest}"))
}

/// The token in `home/.vault-token`: `Ok(None)` when there is no such file (or it is empty).
fn token_helper(home: &Path) -> Result<Option<SecretString>, VaultError> {
    let path = home.join(TOKEN_HELPER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim();
            Ok((!token.is_empty()).then(|| SecretString::from(token.to_owned())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VaultError::config(format!(
            "cannot read the Vault token file {} ({e}): fix its permissions, or set VAULT_TOKEN",
            path.display()
        ))),
    }
}

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
    /// `HOME` is looked up too, for `~/.vault-token`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, VaultError> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        // VAULT_X, else its OpenBao alias BAO_X.
        let get = |name: &str| set(name).or_else(|| bao_alias(name).and_then(|alias| set(&alias)));
        let address = get("VAULT_ADDR").ok_or_else(|| {
            VaultError::config("VAULT_ADDR is not set (nor BAO_ADDR): set it to the Vault server URL, e.g. https://vault.example:8200")
        })?;
        // The token: VAULT_TOKEN / BAO_TOKEN, else ~/.vault-token (read only when needed).
        let helper_token = || -> Result<Option<SecretString>, VaultError> {
            match set("HOME").or_else(|| set("USERPROFILE")) {
                Some(home) => token_helper(Path::new(&home)),
                None => Ok(None),
            }
        };
        let credential = |value_var: &str, file_var: &str| -> Option<Credential> {
            get(value_var)
                .map(|v| Credential::Value(SecretString::from(v)))
                .or_else(|| get(file_var).map(|f| Credential::File(PathBuf::from(f))))
        };
        let role_id = credential("ROTOR_VAULT_ROLE_ID", "ROTOR_VAULT_ROLE_ID_FILE");
        let k8s_role = get("ROTOR_VAULT_K8S_ROLE");
        let mut file_token = None;
        let method = match get("ROTOR_VAULT_AUTH") {
            Some(m) => m.trim().to_ascii_lowercase(),
            None if get("VAULT_TOKEN").is_some() => "token".to_owned(),
            None if role_id.is_some() => "approle".to_owned(),
            None if k8s_role.is_some() => "kubernetes".to_owned(),
            None => {
                file_token = helper_token()?;
                if file_token.is_none() {
                    return Err(VaultError::config(
                        "no Vault credentials: set VAULT_TOKEN (or BAO_TOKEN, or log in with `vault login` \
                         / `bao login` to write ~/.vault-token), or ROTOR_VAULT_ROLE_ID(_FILE) and \
                         ROTOR_VAULT_SECRET_ID(_FILE) for AppRole, or ROTOR_VAULT_K8S_ROLE for Kubernetes auth",
                    ));
                }
                "token".to_owned()
            }
        };
        let auth = match method.as_str() {
            "token" => VaultAuth::Token(match (get("VAULT_TOKEN"), file_token) {
                (Some(token), _) => SecretString::from(token),
                (None, Some(token)) => token,
                (None, None) => helper_token()?.ok_or_else(|| {
                    VaultError::config(
                        "ROTOR_VAULT_AUTH=token but there is no token: set VAULT_TOKEN (or BAO_TOKEN), \
                         or log in with `vault login` / `bao login` to write ~/.vault-token",
                    )
                })?,
            }),
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
                "VAULT_ADDR (or BAO_ADDR) {:?} is not a valid URL ({e})",
                self.address
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(VaultError::config(format!(
                "VAULT_ADDR (or BAO_ADDR) {:?} must be an http:// or https:// URL with a host",
                self.address
            )));
        }
        if let Some(ca) = &self.ca_cert {
            if !ca.is_file() {
                return Err(VaultError::config(format!(
                    "VAULT_CACERT (or BAO_CACERT) {} does not exist or is not a file",
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

    fn token(c: &VaultConfig) -> String {
        use secrecy::ExposeSecret;
        match &c.auth {
            VaultAuth::Token(t) => t.expose_secret().to_owned(),
            other => panic!("expected token auth, got {other:?}"),
        }
    }

    #[test]
    fn bao_variables_are_aliases_and_vault_wins() {
        let ca = tempfile::NamedTempFile::new().unwrap();
        let ca_path = ca.path().to_str().unwrap();
        let c = from(&[
            ("BAO_ADDR", "https://bao.example:8200"),
            ("BAO_TOKEN", "bao-token"),
            ("BAO_NAMESPACE", "team-a"),
            ("BAO_CACERT", ca_path),
            ("BAO_SKIP_VERIFY", "true"),
        ])
        .unwrap();
        assert_eq!(c.address, "https://bao.example:8200");
        assert_eq!(token(&c), "bao-token");
        assert_eq!(c.namespace.as_deref(), Some("team-a"));
        assert_eq!(c.ca_cert.as_deref(), Some(ca.path()));
        assert!(c.skip_verify);

        let c = from(&[
            ("VAULT_ADDR", "https://vault.example:8200"),
            ("BAO_ADDR", "https://bao.example:8200"),
            ("VAULT_TOKEN", "vault-token"),
            ("BAO_TOKEN", "bao-token"),
            ("VAULT_NAMESPACE", "ns-vault"),
            ("BAO_NAMESPACE", "ns-bao"),
            ("BAO_SKIP_VERIFY", "true"),
            ("VAULT_SKIP_VERIFY", "false"),
        ])
        .unwrap();
        assert_eq!(c.address, "https://vault.example:8200");
        assert_eq!(token(&c), "vault-token");
        assert_eq!(c.namespace.as_deref(), Some("ns-vault"));
        assert!(!c.skip_verify);

        // An empty VAULT_* counts as unset: the alias is used.
        let c = from(&[
            ("VAULT_ADDR", ""),
            ("BAO_ADDR", "http://bao:8200"),
            ("BAO_TOKEN", "t"),
        ])
        .unwrap();
        assert_eq!(c.address, "http://bao:8200");

        let err = from(&[("BAO_TOKEN", "t")]).unwrap_err().to_string();
        assert!(err.contains("BAO_ADDR"), "{err}");
    }

    #[test]
    fn token_from_the_vault_token_file_when_no_variable_is_set() {
        let home = tempfile::tempdir().unwrap();
        let home_str = home.path().to_str().unwrap();
        // No file yet: no credentials, and the error says how to get some.
        let err = from(&[("VAULT_ADDR", "http://x"), ("HOME", home_str)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no Vault credentials") && err.contains("~/.vault-token"),
            "{err}"
        );
        std::fs::write(home.path().join(".vault-token"), "hvs.from-file\n").unwrap();
        let c = from(&[("VAULT_ADDR", "http://x"), ("HOME", home_str)]).unwrap();
        assert_eq!(token(&c), "hvs.from-file");
        // Also with ROTOR_VAULT_AUTH=token.
        let c = from(&[
            ("VAULT_ADDR", "http://x"),
            ("HOME", home_str),
            ("ROTOR_VAULT_AUTH", "token"),
        ])
        .unwrap();
        assert_eq!(token(&c), "hvs.from-file");
        // A token variable wins over the file.
        let c = from(&[
            ("VAULT_ADDR", "http://x"),
            ("HOME", home_str),
            ("BAO_TOKEN", "from-env"),
        ])
        .unwrap();
        assert_eq!(token(&c), "from-env");
        // Another auth method configured: the file is not used.
        let c = from(&[
            ("VAULT_ADDR", "http://x"),
            ("HOME", home_str),
            ("ROTOR_VAULT_K8S_ROLE", "rotor"),
        ])
        .unwrap();
        assert_eq!(c.auth.method(), "kubernetes");
        let c = from(&[
            ("VAULT_ADDR", "http://x"),
            ("HOME", home_str),
            ("ROTOR_VAULT_ROLE_ID", "r"),
            ("ROTOR_VAULT_SECRET_ID", "s"),
        ])
        .unwrap();
        assert_eq!(c.auth.method(), "approle");
        // An empty file is no token.
        std::fs::write(home.path().join(".vault-token"), "  \n").unwrap();
        let err = from(&[("VAULT_ADDR", "http://x"), ("HOME", home_str)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no Vault credentials"), "{err}");
    }
}
