//! The OpenRouter emulator with a fast-retry client, a manual clock and an engine: the setup
//! every engine and CLI test starts from.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rotor_core::engine::{Engine, ManualClock};
use rotor_core::policy::{Policy, is_rotor_key_name};
use rotor_emulator::control::{ControlClient, Fault, FaultKind};
use rotor_emulator::{EmulatorConfig, RunningEmulator};
use rotor_openrouter::{ApiKey, Client, ClientConfig, RetryPolicy};

use crate::MODEL;

/// Starts an emulator with `config` on 127.0.0.1:0; panics if it cannot.
pub async fn start_with(config: EmulatorConfig) -> RunningEmulator {
    rotor_emulator::start(config)
        .await
        .expect("the OpenRouter emulator starts")
}

/// Starts an emulator with the default configuration.
pub async fn start() -> RunningEmulator {
    start_with(EmulatorConfig::default()).await
}

/// Retries that keep tests fast: 3 attempts, 10–50 ms back-off, 5 s in all.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(5),
    }
}

/// A client of `base_url` with `management_key` and [`fast_retry`].
pub fn fast_client(base_url: &str, management_key: &str) -> Client {
    let mut config = ClientConfig::new(base_url, ApiKey::new(management_key));
    config.retry = fast_retry();
    Client::new(config).expect("client builds")
}

/// A client of `emulator` with its management key and the library's default retries.
pub fn default_client(emulator: &RunningEmulator) -> Client {
    Client::new(ClientConfig::new(
        emulator.base_url(),
        ApiKey::new(emulator.management_key()),
    ))
    .expect("client builds")
}

/// An emulator, a fast-retry client with its management key, a manual clock (starting now)
/// and an engine on both.
pub struct Env {
    pub emulator: RunningEmulator,
    pub base_url: String,
    pub management_key: String,
    pub control: ControlClient,
    pub client: Client,
    pub clock: ManualClock,
    pub engine: Engine,
}

impl Env {
    /// With the default policy.
    pub async fn start() -> Env {
        Env::with_policy(Policy::default()).await
    }

    pub async fn with_policy(policy: Policy) -> Env {
        Env::with_config(EmulatorConfig::default(), policy).await
    }

    pub async fn with_config(config: EmulatorConfig, policy: Policy) -> Env {
        let emulator = start_with(config).await;
        let base_url = emulator.base_url();
        let management_key = emulator.management_key().to_owned();
        let client = fast_client(&base_url, &management_key);
        let clock = ManualClock::new(Utc::now());
        let engine = Engine::new(client.clone(), policy).with_clock(Arc::new(clock.clone()));
        Env {
            control: emulator.control(),
            emulator,
            base_url,
            management_key,
            client,
            clock,
            engine,
        }
    }

    /// Another worker: its own client and engine with its own lease identity `holder`,
    /// sharing this clock.
    pub fn worker(&self, holder: &str, policy: Policy) -> Engine {
        Engine::new(fast_client(&self.base_url, &self.management_key), policy)
            .with_clock(Arc::new(self.clock.clone()))
            .with_holder(holder)
    }

    /// Whether `key` works where an application uses it: a chat completion.
    pub async fn key_works(&self, key: &ApiKey) -> bool {
        self.client.chat_completion(key, MODEL).await.is_ok()
    }

    /// Hashes of every key alive at the emulator (not deleted), any account.
    pub async fn live_keys(&self) -> BTreeSet<String> {
        self.control
            .keys()
            .await
            .expect("emulator keys")
            .into_iter()
            .filter(|k| !k.deleted)
            .map(|k| k.hash)
            .collect()
    }

    /// Hashes of the rotor keys (named with rotor's tag) alive at the emulator, any account.
    pub async fn live_rotor_keys(&self) -> BTreeSet<String> {
        self.control
            .keys()
            .await
            .expect("emulator keys")
            .into_iter()
            .filter(|k| !k.deleted && is_rotor_key_name(&k.name))
            .map(|k| k.hash)
            .collect()
    }

    /// A fault on the next `count` calls of `method path` at the emulator.
    pub async fn fault(&self, method: &str, path: &str, count: u32, kind: FaultKind) {
        fault(&self.control, method, path, count, kind).await;
    }
}

/// A fault on the next `count` calls of `method path` (a path or a `*` pattern) at the emulator
/// `control` drives.
pub async fn fault(control: &ControlClient, method: &str, path: &str, count: u32, kind: FaultKind) {
    control
        .inject_fault(&Fault {
            method: method.into(),
            path: path.into(),
            count,
            kind,
        })
        .await
        .expect("inject a fault");
}

/// A fault that answers `status` (with `Retry-After: retry_after` seconds, if given).
pub fn status(status: u16, retry_after: Option<u64>) -> FaultKind {
    FaultKind::Status {
        status,
        retry_after,
    }
}

/// Whether `key` (plaintext, as an application holds it) works at `emulator`'s completions.
pub async fn key_works(emulator: &RunningEmulator, key: &str) -> bool {
    default_client(emulator)
        .chat_completion(&ApiKey::new(key), MODEL)
        .await
        .is_ok()
}

/// Hashes of keys alive at `emulator` (not deleted), management keys included only if alive.
pub async fn live_key_hashes(emulator: &RunningEmulator) -> BTreeSet<String> {
    emulator
        .control()
        .keys()
        .await
        .expect("emulator keys")
        .into_iter()
        .filter(|k| !k.deleted)
        .map(|k| k.hash)
        .collect()
}

/// An engine on `emulator` with its management key, the library's default retries and the
/// system clock, as the CLI and the Lambda build it.
pub fn engine_for(emulator: &RunningEmulator, policy: Policy) -> Engine {
    Engine::new(default_client(emulator), policy)
}

/// An emulator and [`engine_for`] it with grace 0 (older keys retire at the next rotation).
pub async fn start_with_engine() -> (RunningEmulator, Engine) {
    let emulator = start().await;
    let engine = engine_for(&emulator, crate::rotation::no_grace());
    (emulator, engine)
}
