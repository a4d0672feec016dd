//! The rotation Lambda, without Lambda: its event, its configuration and [`RotationHandler`],
//! which the `bootstrap` binary calls for every invocation (and tests call directly).
//!
//! # Events
//! * Secrets Manager's rotation event: `{"Step": "createSecret"|"setSecret"|"testSecret"|
//!   "finishSecret", "SecretId": "…", "ClientRequestToken": "…", "RotationToken": "…"?}`. Any other
//!   step is an error. `RotationToken` is passed through to `PutSecretValue`.
//! * `{"rotor": "retire", "SecretId": "…"}` (a scheduled retirement): usage-aware retirement of the
//!   secret's older keys (`Engine::retire`, never forced). Keys still receiving traffic past the
//!   policy's maximum wait give a `Rotor.KeysStuck` error so the error alarm fires. Any other
//!   command is `Rotor.UnsupportedCommand`.
//!
//! # Configuration (environment variables, read once per container)
//! | variable | meaning |
//! |---|---|
//! | `OPENROUTER_MANAGEMENT_KEY_SECRET_ID` | Secrets Manager secret holding the management key: `NAME`, `ARN`, or either followed by `#field`. Its AWSCURRENT value is the plain key or a JSON object (field named after `#`, else `management_key`, `OPENROUTER_MANAGEMENT_KEY` or `api_key`). Read once, cached for the container, read again after OpenRouter answers 401. |
//! | `OPENROUTER_MANAGEMENT_KEY` | the key itself: local development only (a warning is logged); ignored when the variable above is set |
//! | `OPENROUTER_BASE_URL` | default `https://openrouter.ai/api/v1` |
//! | `ROTOR_*` | policy defaults, see `rotor_core::policy` (`ROTOR_GRACE_PERIOD`, `ROTOR_LIMIT`, …) |
//! | `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SECRETS_MANAGER` | standard SDK endpoint overrides (LocalStack) |
//! | `AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT` | set by Lambda from the function's `LoggingConfig` (`ApplicationLogLevel`, `LogFormat`); see [`LogSettings`] |
//! | `RUST_LOG` | log filter when `AWS_LAMBDA_LOG_LEVEL` is not set (default `info`) |

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rotor_core::{
    engine::{Engine, EngineError, ErrorKind, Step, StepReport},
    policy::{Policy, PolicyError},
};
use rotor_openrouter::{ApiKey, Client, ClientConfig, DEFAULT_BASE_URL};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::{
    management_key::{ManagementKeyError, read_management_key},
    store::SecretsManagerStore,
};

/// Secrets Manager's rotation event (its own type: `aws_lambda_events` lacks `RotationToken`).
#[derive(Debug, Clone, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: String,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub client_request_token: String,
    /// Opaque token for cross-account rotation; never logged.
    #[serde(rename = "RotationToken", default)]
    pub rotation_token: Option<SecretString>,
}

/// rotor's own command events (`{"rotor": "retire", "SecretId": "…"}`).
#[derive(Debug, Clone, Deserialize)]
pub struct RotorCommand {
    pub rotor: String,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
}

/// What the function can be invoked with.
#[derive(Debug, Clone)]
pub enum Event {
    Rotation(RotationEvent),
    Command(RotorCommand),
}

impl Event {
    /// Parses an invocation payload. The payload is never echoed in the error (it may carry a
    /// RotationToken).
    pub fn from_json(payload: serde_json::Value) -> Result<Event, LambdaError> {
        let is_command = payload.get("rotor").is_some();
        let parsed = if is_command {
            serde_json::from_value(payload).map(Event::Command)
        } else {
            serde_json::from_value(payload).map(Event::Rotation)
        };
        parsed.map_err(|e| LambdaError::InvalidEvent {
            message: format!(
                "{e}; expected {{\"Step\",\"SecretId\",\"ClientRequestToken\"}} from Secrets Manager or {{\"rotor\":\"retire\",\"SecretId\"}}"
            ),
        })
    }
}

/// Where the management key comes from.
#[derive(Debug, Clone)]
pub enum ManagementKeySource {
    /// A Secrets Manager secret (and optional JSON field).
    Secret {
        secret_id: String,
        field: Option<String>,
    },
    /// `OPENROUTER_MANAGEMENT_KEY` (local development only).
    Env(ApiKey),
}

/// The function's configuration, from the environment (see the module docs).
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    pub base_url: String,
    pub management_key: ManagementKeySource,
    pub policy: Policy,
}

impl LambdaConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, LambdaError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, LambdaError> {
        let base_url = var("OPENROUTER_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let management_key = match (
            var("OPENROUTER_MANAGEMENT_KEY_SECRET_ID"),
            var("OPENROUTER_MANAGEMENT_KEY"),
        ) {
            (Some(id), _) => {
                let id = id.trim();
                let (secret_id, field) = match id.split_once('#') {
                    Some((s, f)) if !f.is_empty() => (s.to_owned(), Some(f.to_owned())),
                    Some((s, _)) => (s.to_owned(), None),
                    None => (id.to_owned(), None),
                };
                ManagementKeySource::Secret { secret_id, field }
            }
            (None, Some(key)) => ManagementKeySource::Env(ApiKey::new(key)),
            (None, None) => {
                return Err(LambdaError::Config {
                    message: "set OPENROUTER_MANAGEMENT_KEY_SECRET_ID to the Secrets Manager secret that holds the \
                              OpenRouter management key (OPENROUTER_MANAGEMENT_KEY is accepted for local development only)"
                        .into(),
                });
            }
        };
        let policy = Policy::from_vars(&var).map_err(LambdaError::Policy)?;
        Ok(LambdaConfig {
            base_url,
            management_key,
            policy,
        })
    }
}

/// Errors returned to Lambda. `error_type` (see [`LambdaError::error_type`]) is what CloudWatch
/// and Secrets Manager show; messages name the secret, step, token and what to do, never a key.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("invalid invocation event: {message}")]
    InvalidEvent { message: String },
    #[error("rotor Lambda configuration: {message}")]
    Config { message: String },
    #[error("rotor Lambda configuration: {0}")]
    Policy(PolicyError),
    #[error(
        "secret {secret}: cannot load the OpenRouter management key: {source}; check OPENROUTER_MANAGEMENT_KEY_SECRET_ID and the function's GetSecretValue permission"
    )]
    ManagementKey {
        secret: String,
        source: ManagementKeyError,
    },
    #[error("OpenRouter client: {0}")]
    Client(rotor_openrouter::Error),
    #[error("{0}")]
    Step(Box<EngineError>),
    #[error(
        "secret {secret}: an old key still receives traffic past the maximum retirement wait, so rotor did not delete it; find who still uses it (`rotor status aws://{secret}`), or retire it with `rotor retire --force`"
    )]
    KeysStuck { secret: String },
    #[error("secret {secret}: unknown rotor command {command:?}; the only command is \"retire\"")]
    UnsupportedCommand { secret: String, command: String },
}

impl LambdaError {
    /// A stable error type for Lambda's `errorType` (CloudWatch search, alarms).
    pub fn error_type(&self) -> &'static str {
        match self {
            LambdaError::InvalidEvent { .. } => "Rotor.InvalidEvent",
            LambdaError::Config { .. } | LambdaError::Policy(_) => "Rotor.Configuration",
            LambdaError::ManagementKey { .. } => "Rotor.ManagementKey",
            LambdaError::Client(_) => "Rotor.Configuration",
            LambdaError::UnsupportedCommand { .. } => "Rotor.UnsupportedCommand",
            LambdaError::KeysStuck { .. } => "Rotor.KeysStuck",
            LambdaError::Step(e) => match e.as_ref() {
                EngineError::RotationDisabled { .. } => "Rotor.RotationDisabled",
                EngineError::UnknownToken { .. } => "Rotor.UnknownToken",
                EngineError::NotPending { .. } => "Rotor.NotPending",
                EngineError::OpenRouter {
                    source: rotor_openrouter::Error::Unauthorized { .. },
                    ..
                } => "Rotor.ManagementKeyRejected",
                e if e.is_retryable() => "Rotor.Transient",
                e => match e.kind() {
                    ErrorKind::InvalidInput => "Rotor.InvalidEvent",
                    ErrorKind::Precondition => "Rotor.Precondition",
                    ErrorKind::Conflict => "Rotor.Conflict",
                    ErrorKind::KeyCheckFailed => "Rotor.KeyCheckFailed",
                    ErrorKind::Upstream => "Rotor.Upstream",
                },
            },
        }
    }
}

impl From<LambdaError> for lambda_runtime::Diagnostic {
    fn from(e: LambdaError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Builds clients once per container and handles every invocation.
pub struct RotationHandler {
    store: SecretsManagerStore,
    config: LambdaConfig,
    /// The engine and the management key it was built with.
    engine: Mutex<Option<(Arc<Engine>, ApiKey)>>,
}

impl RotationHandler {
    /// A handler on `store` with `config`. The management key is fetched at the first invocation.
    pub fn new(store: SecretsManagerStore, config: LambdaConfig) -> Self {
        if let ManagementKeySource::Env(_) = &config.management_key {
            warn!(
                "using OPENROUTER_MANAGEMENT_KEY from the environment: for local development only; \
                 in AWS set OPENROUTER_MANAGEMENT_KEY_SECRET_ID"
            );
        }
        RotationHandler {
            store,
            config,
            engine: Mutex::new(None),
        }
    }

    /// Handles one invocation payload: parses it, runs the step, logs one JSON line with the
    /// outcome. Returns the step's report as JSON.
    pub async fn handle_event(
        &self,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, LambdaError> {
        let started = Instant::now();
        let event = match Event::from_json(payload) {
            Ok(e) => e,
            Err(e) => {
                error!(outcome = "failed", error_type = e.error_type(), error = %e, "invalid invocation");
                return Err(e);
            }
        };
        match event {
            Event::Command(cmd) if cmd.rotor == "retire" => {
                let result = self.retire(&cmd.secret_id).await;
                let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                match result {
                    Ok(report) => {
                        if let Some(line) = self.expiry_metric(&cmd.secret_id).await {
                            // CloudWatch embedded metric format: a metric from a log line.
                            println!("{line}");
                        }
                        info!(
                            secret_id = %cmd.secret_id,
                            step = "retire",
                            outcome = "done",
                            retired = report.retired.len(),
                            disabled = report.disabled.len(),
                            duration_ms,
                            "retirement done"
                        );
                        serde_json::to_value(&report).map_err(|e| LambdaError::Config {
                            message: format!("could not serialize the retirement report: {e}"),
                        })
                    }
                    Err(e) => {
                        error!(secret_id = %cmd.secret_id, step = "retire", outcome = "failed", error_type = e.error_type(), duration_ms, error = %e, "retirement failed");
                        Err(e)
                    }
                }
            }
            Event::Command(cmd) => {
                let e = LambdaError::UnsupportedCommand {
                    secret: cmd.secret_id.clone(),
                    command: cmd.rotor,
                };
                error!(secret_id = %cmd.secret_id, outcome = "failed", error_type = e.error_type(), error = %e, "rotor command");
                Err(e)
            }
            Event::Rotation(ev) => {
                let result = self.rotation_step(&ev).await;
                let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                match result {
                    Ok(report) => {
                        info!(
                            secret_id = %ev.secret_id,
                            step = %ev.step,
                            token = %ev.client_request_token,
                            key_hash = report.key_hash.as_deref().unwrap_or(""),
                            outcome = %report.outcome,
                            duration_ms,
                            "rotation step done"
                        );
                        serde_json::to_value(&report).map_err(|e| LambdaError::Config {
                            message: format!("could not serialize the step report: {e}"),
                        })
                    }
                    Err(e) => {
                        error!(
                            secret_id = %ev.secret_id,
                            step = %ev.step,
                            token = %ev.client_request_token,
                            outcome = "failed",
                            error_type = e.error_type(),
                            duration_ms,
                            error = %e,
                            "rotation step failed"
                        );
                        Err(e)
                    }
                }
            }
        }
    }

    /// The `SecondsUntilCurrentKeyExpires` metric line of the secret's current key, when it
    /// expires (read from the current document).
    async fn expiry_metric(&self, secret_id: &str) -> Option<String> {
        use rotor_core::SecretStore;
        let value = self
            .store
            .get_value(
                secret_id,
                &rotor_core::VersionSelector::Stage(rotor_core::Stage::Current),
            )
            .await
            .ok()?;
        let record = rotor_core::KeyRecord::parse(&value.value, secret_id).ok()?;
        Some(expiry_metric_line(
            secret_id,
            record.expires_at?,
            chrono::Utc::now(),
        ))
    }

    /// `{"rotor":"retire"}`: usage-aware retirement of the secret's older keys (never forced).
    /// Keys still receiving traffic past the policy's maximum wait are an error
    /// (`Rotor.KeysStuck`), so the function's error alarm fires.
    async fn retire(
        &self,
        secret_id: &str,
    ) -> Result<rotor_core::engine::RetireReport, LambdaError> {
        let engine = self.engine(secret_id, false).await?;
        let report = engine
            .retire(&self.store, secret_id, false)
            .await
            .map_err(|e| LambdaError::Step(Box::new(e)))?;
        if report.stuck {
            return Err(LambdaError::KeysStuck {
                secret: secret_id.to_owned(),
            });
        }
        Ok(report)
    }

    async fn rotation_step(&self, ev: &RotationEvent) -> Result<StepReport, LambdaError> {
        let step: Step = ev
            .step
            .parse()
            .map_err(|e: EngineError| LambdaError::InvalidEvent {
                message: e.to_string(),
            })?;
        let store = self.store.for_rotation_event(ev.rotation_token.clone());
        let engine = self.engine(&ev.secret_id, false).await?;
        match engine
            .step(&store, &ev.secret_id, step, &ev.client_request_token)
            .await
        {
            Err(e)
                if is_unauthorized(&e)
                    && matches!(
                        self.config.management_key,
                        ManagementKeySource::Secret { .. }
                    ) =>
            {
                // The management key may have been rotated: fetch it again once and retry the
                // (idempotent) step.
                warn!(secret_id = %ev.secret_id, step = %ev.step, "OpenRouter rejected the management key (401); fetching it again");
                let fresh = self.engine(&ev.secret_id, true).await?;
                if Arc::ptr_eq(&fresh, &engine) {
                    return Err(LambdaError::Step(Box::new(e)));
                }
                fresh
                    .step(&store, &ev.secret_id, step, &ev.client_request_token)
                    .await
                    .map_err(|e| LambdaError::Step(Box::new(e)))
            }
            other => other.map_err(|e| LambdaError::Step(Box::new(e))),
        }
    }

    /// The cached engine; with `refresh`, the management key is read again (and the engine
    /// rebuilt only if the key changed).
    async fn engine(&self, secret: &str, refresh: bool) -> Result<Arc<Engine>, LambdaError> {
        let mut slot = self.engine.lock().await;
        if let (Some((engine, _)), false) = (slot.as_ref(), refresh) {
            return Ok(engine.clone());
        }
        let key = match &self.config.management_key {
            ManagementKeySource::Env(key) => key.clone(),
            ManagementKeySource::Secret { secret_id, field } => {
                read_management_key(&self.store, secret_id, field.as_deref())
                    .await
                    .map_err(|source| LambdaError::ManagementKey {
                        secret: secret.to_owned(),
                        source,
                    })?
            }
        };
        if let Some((engine, old_key)) = slot.as_ref() {
            if *old_key == key {
                return Ok(engine.clone());
            }
        }
        let mut client_config = ClientConfig::new(self.config.base_url.clone(), key.clone());
        client_config.timeout = client_config.timeout.min(Duration::from_secs(20));
        let client = Client::new(client_config).map_err(LambdaError::Client)?;
        // Secrets Manager runs the four steps back to back: createSecret leaves its lease to
        // finishSecret (one ledger write, two Secrets Manager calls fewer per rotation).
        let engine =
            Arc::new(Engine::new(client, self.config.policy.clone()).with_lease_handover(true));
        *slot = Some((engine.clone(), key));
        Ok(engine)
    }
}

fn is_unauthorized(e: &EngineError) -> bool {
    match e {
        EngineError::OpenRouter {
            source: rotor_openrouter::Error::Unauthorized { .. },
            ..
        } => true,
        EngineError::RotationIncomplete { source, .. } => is_unauthorized(source),
        _ => false,
    }
}

/// How `bootstrap` logs, from the function's `LoggingConfig` as Lambda passes it:
/// `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`; FATAL logs errors
/// only), else `RUST_LOG`, else `info`; `AWS_LAMBDA_LOG_FORMAT` `Text` gives plain lines, `JSON`
/// (or nothing) JSON lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// An `EnvFilter` directive (`debug`, or RUST_LOG's value).
    pub filter: String,
    /// JSON lines (else plain text).
    pub json: bool,
}

impl LogSettings {
    /// From the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From an explicit lookup (tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let lambda_level = get("AWS_LAMBDA_LOG_LEVEL").and_then(|level| {
            match level.to_ascii_uppercase().as_str() {
                "TRACE" => Some("trace"),
                "DEBUG" => Some("debug"),
                "INFO" => Some("info"),
                "WARN" => Some("warn"),
                "ERROR" | "FATAL" => Some("error"),
                _ => None,
            }
        });
        let filter = match lambda_level {
            Some(level) => level.to_owned(),
            None => get("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
        };
        let json = !get("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("text"));
        LogSettings { filter, json }
    }

    /// Installs the global subscriber: no timestamps (CloudWatch adds them), no ANSI colors.
    pub fn init(&self) {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .without_time()
            .with_ansi(false);
        if self.json {
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .init();
        } else {
            builder.init();
        }
    }
}

/// One CloudWatch embedded-metric-format line: `SecondsUntilCurrentKeyExpires` (namespace
/// `rotor`, dimension `SecretId`), so an alarm can fire before a key expires.
pub fn expiry_metric_line(
    secret_id: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let seconds = (expires_at - now).num_seconds();
    serde_json::json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "rotor",
                "Dimensions": [["SecretId"]],
                "Metrics": [{"Name": "SecondsUntilCurrentKeyExpires", "Unit": "Seconds"}]
            }]
        },
        "SecretId": secret_id,
        "SecondsUntilCurrentKeyExpires": seconds,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_metric_is_embedded_metric_format() {
        let now = chrono::Utc::now();
        let line = expiry_metric_line("prod/app", now + chrono::Duration::days(7), now);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["SecondsUntilCurrentKeyExpires"], 7 * 86400);
        assert_eq!(v["SecretId"], "prod/app");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "SecondsUntilCurrentKeyExpires"
        );
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "rotor");
    }

    #[test]
    fn log_settings_follow_the_lambda_logging_config() {
        let settings = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            LogSettings::from_vars(|name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        for (level, filter) in [
            ("TRACE", "trace"),
            ("DEBUG", "debug"),
            ("INFO", "info"),
            ("WARN", "warn"),
            ("ERROR", "error"),
            ("FATAL", "error"),
            ("debug", "debug"),
        ] {
            let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", level), ("RUST_LOG", "trace")]);
            assert_eq!(s.filter, filter, "{level}");
        }
        // No (or an unknown) Lambda level: RUST_LOG, else info.
        assert_eq!(
            settings(&[("RUST_LOG", "rotor_core=debug")]).filter,
            "rotor_core=debug"
        );
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "LOUD"), ("RUST_LOG", "warn")]).filter,
            "warn"
        );
        assert_eq!(settings(&[]).filter, "info");
        // JSON unless the function asks for Text.
        assert!(settings(&[]).json);
        assert!(settings(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).json);
        assert!(!settings(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]).json);
        assert!(!settings(&[("AWS_LAMBDA_LOG_FORMAT", "TEXT")]).json);
    }
}
