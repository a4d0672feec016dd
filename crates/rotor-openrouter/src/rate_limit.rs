//! The rate-limit gate shared by every client of one management key (and base URL): what
//! OpenRouter said about the rate limit (`Retry-After`, `X-RateLimit-Remaining`/`-Reset`) holds
//! back the next request of *every* task, not just the one that was told.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc, Mutex, OnceLock, Weak,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use reqwest::header::HeaderMap;

/// The longest a rate-limit header can make the client wait at once (a garbled `Reset` must not
/// stall it for hours).
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// Added to a wait derived from `X-RateLimit-Reset` (a timestamp of the server's clock, to the
/// millisecond): arriving a hair early would only earn another 429.
const RESET_MARGIN: Duration = Duration::from_millis(25);

/// A snapshot of the shared rate-limit state, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitStatus {
    /// Requests (of any clone) waiting for the rate limit right now.
    pub waiting: usize,
    /// How long until requests may go again; `None` when they may go now.
    pub wait_left: Option<Duration>,
    /// Times a request has waited for the rate limit so far (since the gate was created).
    pub waits: u64,
    /// 429 answers seen so far.
    pub rate_limited: u64,
}

/// The live gates by base URL and keyed hash of the management key.
type Gates = HashMap<(String, u64), Weak<RateGate>>;

#[derive(Default)]
pub(crate) struct RateGate {
    /// No request leaves before this instant.
    blocked_until: Mutex<Option<Instant>>,
    waiting: AtomicUsize,
    waits: AtomicU64,
    rate_limited: AtomicU64,
}

impl RateGate {
    /// The gate for `base_url` + `management_key`: one per process while any client uses it.
    /// The key is never stored, only a keyed hash of it.
    pub(crate) fn shared(base_url: &str, management_key: &str) -> Arc<RateGate> {
        static GATES: OnceLock<Mutex<Gates>> = OnceLock::new();
        static SEED: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
        let mut hasher = SEED.get_or_init(Default::default).build_hasher();
        hasher.write(management_key.as_bytes());
        let id = (base_url.to_owned(), hasher.finish());
        let mut gates = GATES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        gates.retain(|_, g| g.strong_count() > 0);
        if let Some(gate) = gates.get(&id).and_then(Weak::upgrade) {
            return gate;
        }
        let gate = Arc::new(RateGate::default());
        gates.insert(id, Arc::downgrade(&gate));
        gate
    }

    fn until(&self) -> Option<Instant> {
        *self.blocked_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds no request back past `until` (never shortens a longer block).
    fn block_until(&self, until: Instant) {
        let mut b = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        if b.is_none_or(|current| current < until) {
            *b = Some(until);
        }
    }

    /// Waits while the gate is closed. Returns how long it waited.
    pub(crate) async fn wait(&self, route: &str) -> Duration {
        let started = Instant::now();
        let mut counted = false;
        loop {
            let now = Instant::now();
            match self.until() {
                Some(until) if until > now => {
                    if !counted {
                        counted = true;
                        self.waits.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            route,
                            wait_ms = (until - now).as_millis() as u64,
                            "waiting for OpenRouter's rate limit"
                        );
                    }
                    self.waiting.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep_until(until.into()).await;
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                }
                _ => return started.elapsed(),
            }
        }
    }

    /// Learns from a response: a 429 closes the gate for its `Retry-After` (else until
    /// `X-RateLimit-Reset`); `X-RateLimit-Remaining: 0` closes it until `X-RateLimit-Reset`.
    /// `fallback` is how long to hold back after a 429 that says nothing about when to return.
    pub(crate) fn observe(
        &self,
        status: u16,
        headers: &HeaderMap,
        retry_after: Option<Duration>,
        fallback: Duration,
    ) {
        let now = Instant::now();
        let reset = header(headers, "x-ratelimit-reset")
            .and_then(|v| parse_reset(v, SystemTime::now()))
            .map(|d| d + RESET_MARGIN);
        let remaining =
            header(headers, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<f64>().ok());
        let hold = if status == 429 {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            Some(retry_after.or(reset).unwrap_or(fallback))
        } else if remaining.is_some_and(|r| r <= 0.0) {
            reset
        } else {
            None
        };
        if let Some(hold) = hold {
            self.block_until(now + hold.min(MAX_RATE_LIMIT_WAIT));
        }
    }

    pub(crate) fn status(&self) -> RateLimitStatus {
        let now = Instant::now();
        RateLimitStatus {
            waiting: self.waiting.load(Ordering::Relaxed),
            wait_left: self.until().filter(|u| *u > now).map(|u| u - now),
            waits: self.waits.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `X-RateLimit-Reset` as a delay from now. OpenRouter sends Unix milliseconds; Unix seconds and
/// plain delta-seconds are tolerated (told apart by size). A time in the past means "now".
pub(crate) fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let n: f64 = value.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let now_secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    let delay = if n >= 1e12 {
        n / 1000.0 - now_secs
    } else if n >= 1e9 {
        n - now_secs
    } else {
        n
    };
    Some(Duration::from_secs_f64(delay.clamp(0.0, 1e9)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_in_ms_secs_or_delta() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_reset("1800000002500", now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_reset("1800000003", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_reset("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_reset("1799999999000", now), Some(Duration::ZERO));
        assert_eq!(parse_reset("soon", now), None);
        assert_eq!(parse_reset("-1", now), None);
    }

    #[tokio::test]
    async fn remaining_zero_closes_the_gate_until_reset_for_everyone() {
        let gate = RateGate::shared("http://gate-test", "k1");
        let same = RateGate::shared("http://gate-test", "k1");
        let other = RateGate::shared("http://gate-test", "k2");
        assert!(Arc::ptr_eq(&gate, &same) && !Arc::ptr_eq(&gate, &other));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "0.3".parse().unwrap());
        gate.observe(200, &h, None, Duration::ZERO);
        assert!(same.status().wait_left.is_some());
        assert_eq!(other.status().wait_left, None);
        let waited = same.wait("/keys").await;
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
        assert_eq!(gate.status().waits, 1);
        // A 429 with Retry-After holds it again; a longer block is never shortened.
        gate.observe(
            429,
            &HeaderMap::new(),
            Some(Duration::from_secs(5)),
            Duration::ZERO,
        );
        gate.observe(
            429,
            &HeaderMap::new(),
            Some(Duration::from_millis(1)),
            Duration::ZERO,
        );
        assert!(
            gate.status()
                .wait_left
                .is_some_and(|d| d > Duration::from_secs(4))
        );
        assert_eq!(gate.status().rate_limited, 2);
    }
}
