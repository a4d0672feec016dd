//! Bounds instead of wedges: before a rotation creates a key, the document it will store must fit
//! the backend and the live keys the policy (`max_live_keys`). Pure decisions, no I/O.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::retire::grace_start;
use crate::policy::Policy;
use crate::record::{KeyRecord, OlderKey};

/// A stand-in key of a real key's length, to measure a document before the key exists.
pub(crate) const PLACEHOLDER_KEY: &str =
    "sk-or-v1-0000000000000000000000000000000000000000000000000000000000000000";

/// Whether the older keys that a new document will record, plus the new key, fit
/// `policy.max_live_keys`. The error names the keys and the fixes.
pub(crate) fn check_live_keys(
    older_keys: &[OlderKey],
    policy: &Policy,
    now: DateTime<Utc>,
    last_rotated: Option<DateTime<Utc>>,
) -> Result<(), String> {
    let live = older_keys.len() + 1;
    if live <= policy.max_live_keys {
        return Ok(());
    }
    let latest = older_keys.iter().map(|k| k.superseded_at).max();
    let listed: Vec<String> = older_keys
        .iter()
        .map(|k| {
            let until = policy.retirable_at(grace_start(k, latest, last_rotated));
            if until > now {
                format!(
                    "{} (in its grace period until {})",
                    k.key_hash,
                    until.to_rfc3339()
                )
            } else {
                format!("{} (past its grace period, still draining)", k.key_hash)
            }
        })
        .collect();
    Err(format!(
        "this rotation would leave {live} live keys for the secret, more than max_live_keys = {}: \
         the new key plus {} older keys still alive: {}. Nothing was created and nothing is pending. \
         Retire older keys first (`rotor retire --force` deletes them now), shorten the grace period, \
         or raise ROTOR_MAX_LIVE_KEYS",
        policy.max_live_keys,
        older_keys.len(),
        listed.join(", ")
    ))
}

/// Whether new keys would outlive their use: a key that expires before the grace period after
/// it stops being current would break applications still reading it as the previous key.
pub(crate) fn check_expiry(policy: &Policy) -> Result<(), String> {
    match policy.expires_after {
        Some(life) if life <= policy.grace_period => Err(format!(
            "expires_after ({}) is not longer than the grace period ({}): a new key would expire while \
             applications may still read it as the previous key. Nothing was created. Set expires_after \
             longer than the grace period plus the rotation schedule (and plus the daemon's \
             rotate_before_expiry), or shorten the grace period",
            humantime::format_duration(life),
            humantime::format_duration(policy.grace_period)
        )),
        _ => Ok(()),
    }
}

/// [`check_live_keys`], then whether `document` (the prospective new document, with a
/// placeholder key) fits `max_value_bytes`.
pub(crate) fn check(
    older_keys: &[OlderKey],
    policy: &Policy,
    now: DateTime<Utc>,
    last_rotated: Option<DateTime<Utc>>,
    max_value_bytes: Option<usize>,
    document: &KeyRecord,
) -> Result<(), String> {
    check_live_keys(older_keys, policy, now, last_rotated)?;
    if let Some(max) = max_value_bytes {
        let size = document.to_secret_string().expose_secret().len();
        if size > max {
            return Err(format!(
                "the new document would be {size} bytes, more than the store's limit of {max} bytes \
                 ({} older keys recorded). Nothing was created and nothing is pending. Retire older keys \
                 first (`rotor retire --force`) or shorten the grace period",
                older_keys.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn older(n: usize, at: DateTime<Utc>) -> Vec<OlderKey> {
        (0..n)
            .map(|i| OlderKey::new(format!("{i:064x}"), format!("k{i}"), at, at))
            .collect()
    }

    #[test]
    fn live_keys_table() {
        let now = Utc::now();
        let policy = Policy {
            max_live_keys: 4,
            grace_period: Duration::from_secs(3600),
            ..Policy::default()
        };
        // (older keys recorded, allowed?)
        for (n, ok) in [(0, true), (1, true), (3, true), (4, false), (9, false)] {
            let verdict = check_live_keys(&older(n, now), &policy, now, None);
            assert_eq!(verdict.is_ok(), ok, "{n} older keys: {verdict:?}");
            if let Err(m) = verdict {
                assert!(m.contains("max_live_keys = 4"), "{m}");
                assert!(m.contains("rotor retire --force"), "{m}");
                assert!(m.contains("grace period until"), "{m}");
            }
        }
    }

    #[test]
    fn document_size_is_bounded() {
        let now = Utc::now();
        let policy = Policy::default();
        let doc = KeyRecord {
            api_key: rotor_openrouter::ApiKey::new(PLACEHOLDER_KEY.to_owned()),
            key_hash: "0".repeat(64),
            key_name: "app".into(),
            created_at: now,
            expires_at: None,
            rotation: None,
            older_keys: older(3, now),
            extra: Default::default(),
        };
        assert!(check(&doc.older_keys, &policy, now, None, Some(65536), &doc).is_ok());
        let err = check(&doc.older_keys, &policy, now, None, Some(200), &doc).unwrap_err();
        assert!(err.contains("limit of 200 bytes"), "{err}");
    }
}
