//! The daemon's Prometheus metrics (OpenMetrics text, served at `/metrics`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `secret` label: the target URI as written in the configuration.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SecretLabel {
    pub secret: String,
}

pub struct Metrics {
    registry: Registry,
    rotations: Family<SecretLabel, Counter>,
    failed: Family<SecretLabel, Counter>,
    duration: Histogram,
    live_keys: Family<SecretLabel, Gauge>,
    since_last: Family<SecretLabel, Gauge<f64, AtomicU64>>,
    until_expiry: Family<SecretLabel, Gauge<f64, AtomicU64>>,
    /// When each secret's current key expires, where it does; `until_expiry` is computed at scrape.
    expires_at: Mutex<BTreeMap<String, DateTime<Utc>>>,
    in_flight: Gauge,
    retired: Family<SecretLabel, Counter>,
    stuck: Family<SecretLabel, Gauge>,
    /// When each secret last rotated, as its store says; `seconds_since` is computed at scrape.
    last_rotated: Mutex<BTreeMap<String, DateTime<Utc>>>,
    /// Secrets with a rotation running now (for the shutdown log).
    running: Mutex<BTreeSet<String>>,
}

fn label(secret: &str) -> SecretLabel {
    SecretLabel {
        secret: secret.to_owned(),
    }
}

impl Metrics {
    /// Registers every metric; each secret's counters start at 0.
    pub fn new(secrets: &[String]) -> Self {
        let mut registry = Registry::default();
        let rotations = Family::<SecretLabel, Counter>::default();
        let failed = Family::<SecretLabel, Counter>::default();
        // 50 ms … ~100 s.
        let duration = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        let live_keys = Family::<SecretLabel, Gauge>::default();
        let since_last = Family::<SecretLabel, Gauge<f64, AtomicU64>>::default();
        let until_expiry = Family::<SecretLabel, Gauge<f64, AtomicU64>>::default();
        let in_flight = Gauge::default();
        let retired = Family::<SecretLabel, Counter>::default();
        let stuck = Family::<SecretLabel, Gauge>::default();
        registry.register(
            "rotor_rotations",
            "Rotations completed by the daemon, by secret",
            rotations.clone(),
        );
        registry.register(
            "rotor_rotations_failed",
            "Rotation attempts that failed (each is retried with back-off), by secret",
            failed.clone(),
        );
        registry.register(
            "rotor_rotation_duration_seconds",
            "Duration of completed rotations (all four steps)",
            duration.clone(),
        );
        registry.register(
            "rotor_live_keys",
            "Keys of the secret that work at OpenRouter: the current key plus previous/older keys still alive",
            live_keys.clone(),
        );
        registry.register(
            "rotor_seconds_since_last_rotation",
            "Seconds since the secret last rotated, as its store records it",
            since_last.clone(),
        );
        registry.register(
            "rotor_seconds_until_current_key_expires",
            "Seconds until the secret's current key expires at OpenRouter (absent for keys that never expire)",
            until_expiry.clone(),
        );
        registry.register(
            "rotor_rotations_in_flight",
            "Rotations running now",
            in_flight.clone(),
        );
        registry.register(
            "rotor_keys_retired",
            "Older keys deleted by the daemon's retirement (or found already gone), by secret",
            retired.clone(),
        );
        registry.register(
            "rotor_retirement_stuck",
            "1 while an older key keeps receiving traffic past max_retirement_wait (not deleted)",
            stuck.clone(),
        );
        for s in secrets {
            let _ = rotations.get_or_create(&label(s));
            let _ = failed.get_or_create(&label(s));
            let _ = retired.get_or_create(&label(s));
            let _ = stuck.get_or_create(&label(s));
        }
        Metrics {
            registry,
            rotations,
            failed,
            duration,
            live_keys,
            since_last,
            until_expiry,
            expires_at: Mutex::new(BTreeMap::new()),
            in_flight,
            retired,
            stuck,
            last_rotated: Mutex::new(BTreeMap::new()),
            running: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn rotation_started(&self, secret: &str) {
        self.in_flight.inc();
        if let Ok(mut r) = self.running.lock() {
            r.insert(secret.to_owned());
        }
    }

    pub fn rotation_ended(&self, secret: &str, ok: bool, seconds: f64) {
        self.in_flight.dec();
        if let Ok(mut r) = self.running.lock() {
            r.remove(secret);
        }
        if ok {
            self.rotations.get_or_create(&label(secret)).inc();
            self.duration.observe(seconds);
        } else {
            self.failed.get_or_create(&label(secret)).inc();
        }
    }

    /// The secrets with a rotation running now.
    pub fn running(&self) -> Vec<String> {
        self.running
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn set_last_rotated(&self, secret: &str, at: DateTime<Utc>) {
        if let Ok(mut m) = self.last_rotated.lock() {
            m.insert(secret.to_owned(), at);
        }
    }

    pub fn set_expires_at(&self, secret: &str, at: Option<DateTime<Utc>>) {
        if let Ok(mut m) = self.expires_at.lock() {
            match at {
                Some(at) => {
                    m.insert(secret.to_owned(), at);
                }
                None => {
                    m.remove(secret);
                }
            }
        }
    }

    pub fn set_retirement(&self, secret: &str, retired: usize, stuck: bool) {
        self.retired
            .get_or_create(&label(secret))
            .inc_by(u64::try_from(retired).unwrap_or(u64::MAX));
        self.stuck
            .get_or_create(&label(secret))
            .set(i64::from(stuck));
    }

    pub fn set_live_keys(&self, secret: &str, n: usize) {
        self.live_keys
            .get_or_create(&label(secret))
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text of every metric, `seconds_since_last_rotation` as of `now`.
    pub fn encode(&self, now: DateTime<Utc>) -> Result<String, std::fmt::Error> {
        if let Ok(m) = self.last_rotated.lock() {
            for (secret, at) in m.iter() {
                let seconds = (now - *at).num_milliseconds() as f64 / 1000.0;
                self.since_last
                    .get_or_create(&label(secret))
                    .set(seconds.max(0.0));
            }
        }
        if let Ok(m) = self.expires_at.lock() {
            for (secret, at) in m.iter() {
                let seconds = (*at - now).num_milliseconds() as f64 / 1000.0;
                self.until_expiry.get_or_create(&label(secret)).set(seconds);
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_names() {
        let m = Metrics::new(&["file://d#a".into()]);
        m.rotation_started("file://d#a");
        m.rotation_ended("file://d#a", true, 0.2);
        m.set_live_keys("file://d#a", 2);
        let now = Utc::now();
        m.set_last_rotated("file://d#a", now - chrono::Duration::seconds(30));
        let text = m.encode(now).unwrap();
        for line in [
            "rotor_rotations_total{secret=\"file://d#a\"} 1",
            "rotor_rotations_failed_total{secret=\"file://d#a\"} 0",
            "rotor_rotation_duration_seconds_count 1",
            "rotor_live_keys{secret=\"file://d#a\"} 2",
            "rotor_seconds_since_last_rotation{secret=\"file://d#a\"} 30.0",
            "rotor_rotations_in_flight 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
