//! A faithful local emulator of OpenRouter's API-key Management API.
//! (Skeleton: the public surface; the implementation fills the bodies.)

pub mod control;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Per-management-key rate limit (off by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length.
    pub per: Duration,
}

/// How to run the emulator.
#[derive(Debug, Clone)]
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
    /// 429 with Retry-After past this many requests per management key.
    pub rate_limit: Option<RateLimit>,
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
        }
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningEmulator {
    _private: (),
}

impl RunningEmulator {
    /// API base URL, e.g. `http://127.0.0.1:41234/api/v1`.
    pub fn base_url(&self) -> String {
        todo!()
    }
    /// The first account's management key (plaintext: the emulator is a test tool).
    pub fn management_key(&self) -> &str {
        todo!()
    }
    /// A client for the `/_emulator/` test controls.
    pub fn control(&self) -> control::ControlClient {
        todo!()
    }
    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(self) {
        todo!()
    }
}

/// Starts the emulator in-process; returns once it accepts connections.
pub async fn start(_config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    todo!()
}
