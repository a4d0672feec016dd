//! A faithful local emulator of OpenRouter's API-key Management API (`/api/v1/keys*`,
//! `/api/v1/key`) plus `POST /api/v1/chat/completions`, for development and tests.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emu = rotor_emulator::start(rotor_emulator::EmulatorConfig::default()).await?;
//! let base_url = emu.base_url(); // http://127.0.0.1:PORT/api/v1
//! let management_key = emu.management_key();
//! let control = emu.control(); // /_emulator/ test controls
//! # let _ = (base_url, management_key, control);
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Keys are stored by their SHA-256 only; the plaintext of an ordinary key is returned once, by
//! `POST /keys`. Nothing is ever logged but hashes, names and account ids.

mod completions;
pub mod control;
mod control_routes;
pub mod crash_proxy;
mod error;
mod gate;
mod guardrails;
mod key_material;
mod keys;
mod request;
mod routes;
mod server;
mod shared;
mod state;
mod workspaces;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

pub use state::StateFileError;

/// Per-management-key rate limit (off by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length.
    pub per: Duration,
}

/// Which rate-limited (429) answers carry a `Retry-After` header. OpenRouter sends it only
/// sometimes; clients must cope with both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfterMode {
    /// Every 429.
    Always,
    /// The 1st, 3rd, 5th… 429 of each management key (deterministic "sometimes").
    #[default]
    EveryOther,
    /// Never: only the `X-RateLimit-*` headers say when to come back.
    Never,
}

impl std::str::FromStr for RetryAfterMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(RetryAfterMode::Always),
            "every-other" => Ok(RetryAfterMode::EveryOther),
            "never" => Ok(RetryAfterMode::Never),
            other => Err(format!("{other:?}: expected always, every-other or never")),
        }
    }
}

/// How to run the emulator. `Debug` redacts the management key.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The first account's management key; generated when `None`.
    pub management_key: Option<String>,
    /// Persist keys here across restarts (atomic writes).
    pub state_file: Option<PathBuf>,
    /// Serve `/_emulator/*` test controls.
    pub test_controls: bool,
    /// USD added to a key's usage by each chat completion.
    pub completion_cost: f64,
    /// 429 past this many requests per management key.
    pub rate_limit: Option<RateLimit>,
    /// Which 429s carry `Retry-After`.
    pub retry_after: RetryAfterMode,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            management_key: None,
            state_file: None,
            test_controls: true,
            completion_cost: 0.001,
            rate_limit: None,
            retry_after: RetryAfterMode::EveryOther,
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field(
                "management_key",
                &self.management_key.as_deref().map(key_material::key_label),
            )
            .field("state_file", &self.state_file)
            .field("test_controls", &self.test_controls)
            .field("completion_cost", &self.completion_cost)
            .field("rate_limit", &self.rate_limit)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

/// A running emulator. Dropping it stops the server (abruptly; [`RunningEmulator::shutdown`]
/// drains in-flight requests first). `Debug` redacts the management key.
pub struct RunningEmulator {
    addr: SocketAddr,
    management_key: String,
    management_key_generated: bool,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field(
                "management_key",
                &key_material::key_label(&self.management_key),
            )
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// API base URL, e.g. `http://127.0.0.1:41234/api/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/api/v1", self.root_url())
    }
    /// Server root, e.g. `http://127.0.0.1:41234` (the test controls live under `/_emulator/`).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The first account's management key (plaintext: the emulator is a test tool).
    pub fn management_key(&self) -> &str {
        &self.management_key
    }
    /// Whether the management key was generated (not given in the configuration).
    pub fn management_key_generated(&self) -> bool {
        self.management_key_generated
    }
    /// A client for the `/_emulator/` test controls.
    pub fn control(&self) -> control::ControlClient {
        control::ControlClient::new(self.root_url())
    }
    /// Stops accepting connections, lets in-flight requests finish (up to 5 s), and waits for the
    /// server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts the emulator in-process; returns once it accepts connections.
///
/// Fails when the address cannot be bound or the state file cannot be read or parsed (the error
/// says which file and what to do).
pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let loaded = match &config.state_file {
        Some(path) => state::State::load(path).map_err(std::io::Error::other)?,
        None => None,
    };
    let mut state = loaded.unwrap_or_default();
    state.version = 1;
    let (management_key, generated) = match &config.management_key {
        Some(k) if !k.trim().is_empty() => (k.trim().to_owned(), false),
        _ => (key_material::generate_key(), true),
    };
    state.set_first_management_key(&management_key);
    if let Some(path) = &config.state_file {
        state.save(path).map_err(std::io::Error::other)?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(shared::Shared::new(
        state,
        config.state_file.clone(),
        &config,
    ));
    let router = routes::router(shared);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, router, shutdown_rx));
    tracing::info!(%addr, test_controls = config.test_controls, "rotor-emulator listening");
    Ok(RunningEmulator {
        addr,
        management_key,
        management_key_generated: generated,
        shutdown,
        task: Some(task),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_a_management_key() {
        let key = key_material::generate_key();
        let config = EmulatorConfig {
            management_key: Some(key.clone()),
            ..Default::default()
        };
        let account = control::NewAccount {
            account: "a".into(),
            management_key: key.clone(),
            workspace_id: String::new(),
        };
        let printed = format!("{config:?} {account:?} {account:#?}");
        assert!(!printed.contains(&key[9..]), "{printed}");
        assert!(printed.contains(&key_material::key_label(&key)));
        assert_eq!(key_material::key_label("short"), "[redacted]");
    }
}
