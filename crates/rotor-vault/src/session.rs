//! An authenticated vaultrs client that keeps its token valid: checked before every use
//! (renew when a third of the TTL is left; log in again when the token cannot be renewed or
//! nears its max TTL), re-login once on a 403 for login-based methods, and an optional background
//! task ([`crate::VaultStore::spawn_token_renewal`]) for processes that sit idle longer than a TTL.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, RwLock};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::{
    VaultError,
    config::{Credential, VaultAuth, VaultConfig},
    error::describe_client_error,
};

/// The token's lifetime as Vault granted it.
#[derive(Debug, Clone, Copy)]
struct Lease {
    obtained: Instant,
    ttl: Duration,
    renewable: bool,
}

impl Lease {
    /// `None`: the token never expires (root tokens, ttl 0).
    fn refresh_at(&self) -> Option<Instant> {
        if self.ttl.is_zero() {
            None
        } else {
            Some(self.obtained + self.ttl * 2 / 3)
        }
    }
    fn expired_soon(&self, now: Instant) -> bool {
        self.refresh_at().is_some_and(|t| now >= t)
    }
}

struct Current {
    client: Arc<VaultClient>,
    lease: Lease,
}

pub(crate) struct Session {
    config: VaultConfig,
    current: RwLock<Current>,
    refresh_lock: Mutex<()>,
}

impl Session {
    /// Builds the client and logs in (or looks the token up, for token auth).
    pub(crate) async fn connect(config: VaultConfig) -> Result<Session, VaultError> {
        config.validate()?;
        if config.skip_verify {
            tracing::warn!(
                address = %config.address,
                "TLS certificate verification of the Vault server is DISABLED (VAULT_SKIP_VERIFY): \
                 anyone on the network path can read and change secrets; use VAULT_CACERT instead"
            );
        }
        let (client, lease) = login(&config).await?;
        Ok(Session {
            config,
            current: RwLock::new(Current {
                client: Arc::new(client),
                lease,
            }),
            refresh_lock: Mutex::new(()),
        })
    }

    pub(crate) fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// A client whose token is valid now (renewed or re-logged-in first if due).
    pub(crate) async fn client(&self) -> Result<Arc<VaultClient>, VaultError> {
        {
            let cur = self.current.read().await;
            if !cur.lease.expired_soon(Instant::now()) {
                return Ok(cur.client.clone());
            }
        }
        self.refresh(false).await
    }

    /// When the token should next be refreshed (`None`: never expires).
    pub(crate) async fn next_refresh(&self) -> Option<Instant> {
        self.current.read().await.lease.refresh_at()
    }

    /// Whether a 403 may be cured by logging in again.
    pub(crate) fn can_relogin(&self) -> bool {
        !matches!(self.config.auth, VaultAuth::Token(_))
    }

    /// Renews or replaces the token. `force_login`: log in again even if the lease looks fine
    /// (after a 403 on a login-based method).
    pub(crate) async fn refresh(&self, force_login: bool) -> Result<Arc<VaultClient>, VaultError> {
        let _guard = self.refresh_lock.lock().await;
        let now = Instant::now();
        let (client, lease) = {
            let cur = self.current.read().await;
            if !force_login && !cur.lease.expired_soon(now) {
                return Ok(cur.client.clone()); // another task refreshed it meanwhile
            }
            (cur.client.clone(), cur.lease)
        };
        let method = self.config.auth.method();
        if !force_login && lease.renewable {
            match vaultrs::token::renew_self(&*client, None).await {
                Ok(info) => {
                    let ttl = Duration::from_secs(info.lease_duration);
                    // A renewal capped by the max TTL buys little time: log in again instead.
                    if !self.can_relogin() || ttl * 3 >= lease.ttl {
                        tracing::debug!(
                            method,
                            ttl_secs = ttl.as_secs(),
                            "renewed the Vault token"
                        );
                        let mut cur = self.current.write().await;
                        cur.lease = Lease {
                            obtained: now,
                            ttl,
                            renewable: info.renewable,
                        };
                        return Ok(cur.client.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(method, error = %describe_client_error(&e), "renewing the Vault token failed");
                    if !self.can_relogin() {
                        return Err(VaultError::Auth {
                            method,
                            message: format!(
                                "renewing VAULT_TOKEN failed ({}); provide a new token",
                                describe_client_error(&e)
                            ),
                        });
                    }
                }
            }
        }
        if !self.can_relogin() {
            // A non-renewable token: keep using it until Vault refuses it.
            let mut cur = self.current.write().await;
            cur.lease.obtained = now;
            return Ok(cur.client.clone());
        }
        let (client, lease) = login(&self.config).await?;
        tracing::info!(
            method,
            ttl_secs = lease.ttl.as_secs(),
            "logged in to Vault again"
        );
        let client = Arc::new(client);
        let mut cur = self.current.write().await;
        *cur = Current {
            client: client.clone(),
            lease,
        };
        Ok(client)
    }
}

fn build_client(config: &VaultConfig, token: &SecretString) -> Result<VaultClient, VaultError> {
    let mut builder = VaultClientSettingsBuilder::default();
    // `address()` panics on a malformed URL: `config.validate()` has checked it.
    builder
        .address(&config.address)
        .token(token.expose_secret())
        .verify(!config.skip_verify)
        .ca_certs(
            config
                .ca_cert
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        )
        .identity(None)
        .timeout(Some(config.timeout))
        .namespace(config.namespace.clone());
    let settings = builder
        .build()
        .map_err(|e| VaultError::config(format!("Vault client settings: {e}")))?;
    VaultClient::new(settings).map_err(|e| {
        VaultError::config(format!(
            "building the Vault client failed: {}",
            describe_client_error(&e)
        ))
    })
}

fn read_credential(what: &str, cred: &Credential) -> Result<SecretString, VaultError> {
    match cred {
        Credential::Value(v) => Ok(v.clone()),
        Credential::File(path) => std::fs::read_to_string(path)
            .map(|s| SecretString::from(s.trim().to_owned()))
            .map_err(|e| {
                VaultError::config(format!("reading the {what} from {}: {e}", path.display()))
            }),
    }
}

async fn login(config: &VaultConfig) -> Result<(VaultClient, Lease), VaultError> {
    let method = config.auth.method();
    let auth_err = |what: &str, e: &vaultrs::error::ClientError| VaultError::Auth {
        method,
        message: format!("{what} at {}: {}", config.address, describe_client_error(e)),
    };
    let now = Instant::now();
    match &config.auth {
        VaultAuth::Token(token) => {
            let client = build_client(config, token)?;
            match vaultrs::token::lookup_self(&client).await {
                Ok(info) => {
                    let lease = Lease {
                        obtained: now,
                        ttl: Duration::from_secs(info.ttl),
                        renewable: info.renewable.unwrap_or(false),
                    };
                    Ok((client, lease))
                }
                // A policy without auth/token/lookup-self: the token may still be good for the
                // secrets; its TTL is unknown, so it is used as is (never renewed).
                Err(e) if crate::error::status_of(&e) == Some(403) => {
                    tracing::warn!(
                        "VAULT_TOKEN cannot look itself up (403: its policy lacks auth/token/lookup-self), \
                         so rotor cannot tell when it expires and will not renew it"
                    );
                    Ok((
                        client,
                        Lease {
                            obtained: now,
                            ttl: Duration::ZERO,
                            renewable: false,
                        },
                    ))
                }
                Err(e) => Err(auth_err(
                    "looking up VAULT_TOKEN (is it valid and not expired?)",
                    &e,
                )),
            }
        }
        VaultAuth::AppRole {
            mount,
            role_id,
            secret_id,
        } => {
            let role_id = read_credential("AppRole role id", role_id)?;
            let secret_id = read_credential("AppRole secret id", secret_id)?;
            let mut client = build_client(config, &SecretString::from(String::new()))?;
            let info = vaultrs::auth::approle::login(
                &client,
                mount,
                role_id.expose_secret(),
                secret_id.expose_secret(),
            )
            .await
            .map_err(|e| auth_err(&format!("AppRole login on auth/{mount}"), &e))?;
            vaultrs::client::Client::set_token(&mut client, &info.client_token);
            let lease = Lease {
                obtained: now,
                ttl: Duration::from_secs(info.lease_duration),
                renewable: info.renewable,
            };
            Ok((client, lease))
        }
        VaultAuth::Kubernetes {
            mount,
            role,
            jwt_file,
        } => {
            let jwt = read_credential(
                "Kubernetes service-account token",
                &Credential::File(jwt_file.clone()),
            )?;
            let mut client = build_client(config, &SecretString::from(String::new()))?;
            let info = vaultrs::auth::kubernetes::login(&client, mount, role, jwt.expose_secret())
                .await
                .map_err(|e| {
                    auth_err(
                        &format!("Kubernetes login as role {role:?} on auth/{mount}"),
                        &e,
                    )
                })?;
            vaultrs::client::Client::set_token(&mut client, &info.client_token);
            let lease = Lease {
                obtained: now,
                ttl: Duration::from_secs(info.lease_duration),
                renewable: info.renewable,
            };
            Ok((client, lease))
        }
    }
}
