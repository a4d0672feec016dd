//! What retirement decides for one older key, as a pure function of what is recorded about it,
//! what OpenRouter says about it now, the policy and the time ([`decide`]). The effects (deleting,
//! disabling, logging) live in `retire.rs`, which carries out the [`Action`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use serde::Serialize;

use crate::policy::Policy;
use crate::record::{MAX_USAGE_SAMPLES, OlderKey, RetireReason, UsageSample};

/// What retirement decided for one older key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RetireDecision {
    /// Inside its grace period: alive, recorded, not observed yet.
    InGrace { until: DateTime<Utc> },
    /// Past its grace period, traffic not (yet) seen to drain: rotor sampled its usage and checks
    /// again after `check_after`.
    Observing {
        check_after: DateTime<Utc>,
        /// Whether its usage grew since the previous sample.
        usage_grew: bool,
    },
    /// Still receiving traffic `max_retirement_wait` after its grace period: not deleted, reported.
    /// `rotor retire --force` deletes it anyway.
    Stuck {
        /// When the maximum wait ended.
        since: DateTime<Utc>,
        /// Usage growth (USD) over the recorded samples.
        usage_growth: f64,
    },
    /// Disabled (reversibly: `rotor retire --reenable HASH`); deleted after `delete_after`.
    Disabled { delete_after: DateTime<Utc> },
    /// Someone re-enabled the key after rotor disabled it: observation starts again.
    Reenabled,
    /// Would be deleted (or disabled, with `disable_first`) now: shown by `status` only.
    Due { action: DueAction },
    /// Deleted at OpenRouter (or found already gone).
    Deleted {
        reason: DeleteReason,
        already_gone: bool,
    },
}

/// What a due key would undergo (status preview).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueAction {
    Disable,
    Delete,
}

/// Why a key was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteReason {
    /// Grace period passed and its usage did not grow over the observation window.
    Drained,
    /// Disabled for `disable_delay`.
    DisableDelayPassed,
    /// `--force` (or an emergency revocation).
    Forced,
    /// OpenRouter no longer has it.
    AlreadyGone,
}

/// One older key in a [`RetireReport`] or a status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRetirement {
    pub key_hash: String,
    pub key_name: String,
    pub superseded_at: DateTime<Utc>,
    /// When its grace period ends (ended).
    pub grace_ends_at: DateTime<Utc>,
    /// Its usage at OpenRouter now (USD), when read.
    pub usage: Option<f64>,
    /// Recorded samples plus the one taken now, oldest first.
    pub usage_samples: Vec<UsageSample>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub retire_reason: Option<RetireReason>,
    #[serde(flatten)]
    pub decision: RetireDecision,
}

impl KeyRetirement {
    /// A short human-readable trend of the recorded usage (`$0.0010 → $0.0030 (+$0.0020)`).
    pub fn usage_trend(&self) -> Option<String> {
        let first = self.usage_samples.first()?;
        let last = self.usage_samples.last()?;
        if self.usage_samples.len() == 1 {
            return Some(format!("${:.4} (one sample)", last.usage));
        }
        Some(format!(
            "${:.4} → ${:.4} ({:+.4} over {})",
            first.usage,
            last.usage,
            last.usage - first.usage,
            humantime::format_duration(Duration::from_secs(
                (last.at - first.at).num_seconds().max(0).unsigned_abs()
            ))
        ))
    }
}

/// When the grace period of `older` started: the fixed `grace_started_at`, else the later of its
/// `superseded_at` and `last_rotated` for the key superseded last (a rotation that stayed pending
/// for long must not shorten its grace).
pub(crate) fn grace_start(
    older: &OlderKey,
    latest_superseded: Option<DateTime<Utc>>,
    last_rotated: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    if let Some(t) = older.grace_started_at {
        return t;
    }
    let mut since = older.superseded_at;
    if Some(since) == latest_superseded {
        if let Some(rotated) = last_rotated {
            since = since.max(rotated);
        }
    }
    since
}

/// What OpenRouter says about an older key now (`GET /keys/{hash}`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Observed {
    /// Not read: a rotation does not look at a key inside its grace period (nothing about it
    /// can change the decision, and it saves a request per older key).
    Unread,
    /// 404: the key no longer exists.
    Gone,
    Alive {
        usage: f64,
        disabled: bool,
        /// When OpenRouter last changed the key (the best guess of when it was disabled by hand).
        updated_at: Option<DateTime<Utc>>,
        /// When the key was last used, where OpenRouter reports it.
        last_used_at: Option<DateTime<Utc>>,
    },
}

/// The effect retirement should have on the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Keep it alive and recorded (with [`Verdict::key`]'s updated state).
    Keep,
    /// It is gone already: stop recording it.
    ForgetGone,
    /// Delete it at OpenRouter.
    Delete(DeleteReason),
    /// Disable it at OpenRouter; with `then_delete` (a zero `disable_delay`) delete it right after.
    Disable { then_delete: bool },
}

/// The decision for one key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub action: Action,
    /// The key's recorded state after this run (samples, `disabled_at`), when it is kept.
    pub key: OlderKey,
    /// The report's entry (for deletions: `Due` until the effect says whether it was gone).
    pub entry: KeyRetirement,
    /// Whether the recorded state changed enough to be saved.
    pub changed: bool,
    /// Still receiving traffic past `max_retirement_wait`.
    pub stuck: bool,
}

/// Whether retirement must read the key at OpenRouter to decide: always when previewing
/// (status shows its usage) or forcing, else only once its grace period has ended.
pub(crate) fn needs_observation(
    since: DateTime<Utc>,
    policy: &Policy,
    now: DateTime<Utc>,
    force: bool,
    preview: bool,
) -> bool {
    force || preview || now >= plus(since, policy.grace_period)
}

pub(crate) fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn same_usage(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Decides what happens to `older`, whose grace period started at `since`. `force` deletes every
/// key now; `preview` changes no recorded state (for `status`).
pub(crate) fn decide(
    older: &OlderKey,
    observed: Observed,
    since: DateTime<Utc>,
    policy: &Policy,
    now: DateTime<Utc>,
    force: bool,
    preview: bool,
) -> Verdict {
    let grace_ends_at = plus(since, policy.grace_period);
    let mut k = older.clone();
    let entry = |k: &OlderKey, usage: Option<f64>, decision: RetireDecision| KeyRetirement {
        key_hash: k.key_hash.clone(),
        key_name: k.key_name.clone(),
        superseded_at: k.superseded_at,
        grace_ends_at,
        usage,
        usage_samples: k.usage_samples.clone(),
        disabled_at: k.disabled_at,
        retire_reason: k.retire_reason,
        decision,
    };
    let verdict = |action, k: OlderKey, entry, changed| Verdict {
        action,
        key: k,
        entry,
        changed,
        stuck: false,
    };
    if let Observed::Unread = observed {
        // Only ever unread inside its grace period (see `needs_observation`); should it be
        // past it, keep the key unchanged until a run that reads it.
        let e = if now < grace_ends_at {
            entry(
                &k,
                None,
                RetireDecision::InGrace {
                    until: grace_ends_at,
                },
            )
        } else {
            entry(
                &k,
                None,
                RetireDecision::Observing {
                    check_after: now,
                    usage_grew: false,
                },
            )
        };
        return verdict(Action::Keep, k, e, false);
    }
    let Observed::Alive {
        usage,
        disabled,
        updated_at,
        last_used_at,
    } = observed
    else {
        let e = entry(
            &k,
            None,
            RetireDecision::Deleted {
                reason: DeleteReason::AlreadyGone,
                already_gone: true,
            },
        );
        return verdict(Action::ForgetGone, k, e, !preview);
    };
    let due = |action| RetireDecision::Due { action };
    if force {
        let e = entry(&k, Some(usage), due(DueAction::Delete));
        return verdict(Action::Delete(DeleteReason::Forced), k, e, false);
    }
    if now < grace_ends_at {
        let e = entry(
            &k,
            Some(usage),
            RetireDecision::InGrace {
                until: grace_ends_at,
            },
        );
        return verdict(Action::Keep, k, e, false);
    }
    // Rotor disabled it, someone enabled it again: respect that and observe from scratch.
    if k.disabled_at.is_some() && !disabled {
        if !preview {
            k.disabled_at = None;
            k.usage_samples = vec![UsageSample { at: now, usage }];
        }
        let e = entry(&k, Some(usage), RetireDecision::Reenabled);
        return verdict(Action::Keep, k, e, !preview);
    }
    // Disabled (by rotor, or by hand): no traffic can reach it; delete after the delay.
    if disabled {
        let mut changed = false;
        let disabled_at = match k.disabled_at {
            Some(t) => t,
            None => {
                let t = updated_at.unwrap_or(now).min(now);
                if !preview {
                    k.disabled_at = Some(t);
                    changed = true;
                }
                t
            }
        };
        let delete_after = plus(disabled_at, policy.disable_delay);
        if now < delete_after {
            let e = entry(&k, Some(usage), RetireDecision::Disabled { delete_after });
            return verdict(Action::Keep, k, e, changed);
        }
        let e = entry(&k, Some(usage), due(DueAction::Delete));
        return verdict(
            Action::Delete(DeleteReason::DisableDelayPassed),
            k,
            e,
            changed,
        );
    }
    // Past grace and enabled: has its traffic drained?
    let window =
        chrono::Duration::from_std(policy.observation_window).unwrap_or(chrono::Duration::MAX);
    let fresh = UsageSample { at: now, usage };
    // The start of the run of samples with today's usage (the fresh one included).
    let run_start = k
        .usage_samples
        .iter()
        .rev()
        .take_while(|s| same_usage(s.usage, usage))
        .last()
        .map(|s| s.at)
        .unwrap_or(now);
    // Drained: usage flat for the window, and (where OpenRouter says) not used within it either
    // (a free model's requests do not move `usage`).
    let drained = now - run_start >= window && last_used_at.is_none_or(|t| now - t >= window);
    let last = k.usage_samples.last().copied();
    let usage_grew = last.is_some_and(|s| !same_usage(s.usage, usage));
    if drained {
        if policy.disable_first {
            if preview {
                let e = entry(&k, Some(usage), due(DueAction::Disable));
                return verdict(Action::Keep, k, e, false);
            }
            k.disabled_at = Some(now);
            let delete_after = plus(now, policy.disable_delay);
            let then_delete = now >= delete_after;
            let decision = if then_delete {
                due(DueAction::Delete)
            } else {
                RetireDecision::Disabled { delete_after }
            };
            let e = entry(&k, Some(usage), decision);
            return verdict(Action::Disable { then_delete }, k, e, true);
        }
        let e = entry(&k, Some(usage), due(DueAction::Delete));
        return verdict(Action::Delete(DeleteReason::Drained), k, e, false);
    }
    // Not drained. Record the fresh sample when it starts the observation or a new baseline (at
    // most one write per observation window while traffic continues).
    let persist = match last {
        None => true,
        Some(s) => !same_usage(s.usage, usage) && now - s.at >= window,
    };
    let later = |t: DateTime<Utc>, n: i32| {
        (0..n).fold(t, |t, _| {
            t.checked_add_signed(window)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        })
    };
    let check_after = match last {
        _ if persist => later(now, 1),
        _ if !usage_grew => later(run_start, 1),
        // The new baseline is recorded once the last sample is a window old.
        Some(s) => later(s.at, 2),
        None => later(now, 1),
    };
    let mut changed = false;
    if !preview && persist {
        k.usage_samples.push(fresh);
        let excess = k.usage_samples.len().saturating_sub(MAX_USAGE_SAMPLES);
        k.usage_samples.drain(..excess);
        changed = true;
    }
    let stuck_since = plus(grace_ends_at, policy.max_retirement_wait);
    let stuck = now >= stuck_since;
    let decision = if stuck {
        let first = k.usage_samples.first().map(|s| s.usage).unwrap_or(usage);
        RetireDecision::Stuck {
            since: stuck_since,
            usage_growth: usage - first,
        }
    } else {
        RetireDecision::Observing {
            check_after,
            usage_grew,
        }
    };
    let mut e = entry(&k, Some(usage), decision);
    if !persist {
        e.usage_samples.push(fresh);
    }
    Verdict {
        action: Action::Keep,
        key: k,
        entry: e,
        changed,
        stuck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn at(t0: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        t0 + chrono::Duration::seconds(secs)
    }

    fn alive(usage: f64) -> Observed {
        Observed::Alive {
            usage,
            disabled: false,
            updated_at: None,
            last_used_at: None,
        }
    }

    /// One row: the key's recorded state, what OpenRouter says, the policy, when, and the
    /// expected action and report decision (by name).
    struct Row {
        name: &'static str,
        samples: &'static [(i64, f64)],
        disabled_at: Option<i64>,
        observed: Observed,
        policy: fn() -> Policy,
        now: i64,
        force: bool,
        action: Action,
        decision: &'static str,
    }

    fn grace_only() -> Policy {
        Policy {
            grace_period: Duration::from_secs(2 * H as u64),
            observation_window: Duration::ZERO,
            ..Policy::default()
        }
    }
    fn observing() -> Policy {
        Policy {
            observation_window: Duration::from_secs(H as u64),
            ..grace_only()
        }
    }
    fn disable_first() -> Policy {
        Policy {
            disable_first: true,
            disable_delay: Duration::from_secs(H as u64),
            ..grace_only()
        }
    }
    fn disable_first_now() -> Policy {
        Policy {
            disable_delay: Duration::ZERO,
            ..disable_first()
        }
    }

    fn decision_name(d: &RetireDecision) -> &'static str {
        match d {
            RetireDecision::InGrace { .. } => "in_grace",
            RetireDecision::Observing { .. } => "observing",
            RetireDecision::Stuck { .. } => "stuck",
            RetireDecision::Disabled { .. } => "disabled",
            RetireDecision::Reenabled => "reenabled",
            RetireDecision::Due { .. } => "due",
            RetireDecision::Deleted { .. } => "deleted",
        }
    }

    #[test]
    fn a_key_is_read_unless_nothing_it_says_can_matter() {
        let t0 = Utc::now();
        let p = grace_only();
        // Inside its grace period a rotation does not read it...
        assert!(!needs_observation(t0, &p, at(t0, H), false, false));
        // ...status (preview) and --force do, and so does everyone once the grace has passed.
        assert!(needs_observation(t0, &p, at(t0, H), false, true));
        assert!(needs_observation(t0, &p, at(t0, H), true, false));
        assert!(needs_observation(t0, &p, at(t0, 2 * H), false, false));
    }

    #[test]
    fn retirement_decisions_table() {
        let t0 = Utc::now();
        let rows = [
            Row {
                name: "gone at OpenRouter",
                samples: &[],
                disabled_at: None,
                observed: Observed::Gone,
                policy: grace_only,
                now: 0,
                force: false,
                action: Action::ForgetGone,
                decision: "deleted",
            },
            Row {
                name: "inside grace",
                samples: &[],
                disabled_at: None,
                observed: alive(1.0),
                policy: grace_only,
                now: H,
                force: false,
                action: Action::Keep,
                decision: "in_grace",
            },
            Row {
                name: "inside grace, not read (a rotation's retirement)",
                samples: &[],
                disabled_at: None,
                observed: Observed::Unread,
                policy: grace_only,
                now: H,
                force: false,
                action: Action::Keep,
                decision: "in_grace",
            },
            Row {
                name: "forced inside grace",
                samples: &[],
                disabled_at: None,
                observed: alive(1.0),
                policy: grace_only,
                now: H,
                force: true,
                action: Action::Delete(DeleteReason::Forced),
                decision: "due",
            },
            Row {
                name: "past grace, no window",
                samples: &[],
                disabled_at: None,
                observed: alive(1.0),
                policy: grace_only,
                now: 3 * H,
                force: false,
                action: Action::Delete(DeleteReason::Drained),
                decision: "due",
            },
            Row {
                name: "past grace, first sample",
                samples: &[],
                disabled_at: None,
                observed: alive(1.0),
                policy: observing,
                now: 3 * H,
                force: false,
                action: Action::Keep,
                decision: "observing",
            },
            Row {
                name: "usage flat for a window",
                samples: &[(2 * H, 1.0)],
                disabled_at: None,
                observed: alive(1.0),
                policy: observing,
                now: 3 * H + 1,
                force: false,
                action: Action::Delete(DeleteReason::Drained),
                decision: "due",
            },
            Row {
                name: "usage flat but used within the window",
                samples: &[(2 * H, 1.0)],
                disabled_at: None,
                observed: Observed::Alive {
                    usage: 1.0,
                    disabled: false,
                    updated_at: None,
                    last_used_at: Some(t0 + chrono::Duration::seconds(3 * H - 60)),
                },
                policy: observing,
                now: 3 * H + 1,
                force: false,
                action: Action::Keep,
                decision: "observing",
            },
            Row {
                name: "usage grew",
                samples: &[(2 * H, 1.0)],
                disabled_at: None,
                observed: alive(2.0),
                policy: observing,
                now: 3 * H + 1,
                force: false,
                action: Action::Keep,
                decision: "observing",
            },
            Row {
                name: "still used past max wait",
                samples: &[(2 * H, 1.0)],
                disabled_at: None,
                observed: alive(5.0),
                policy: observing,
                now: 2 * H + 8 * 24 * H,
                force: false,
                action: Action::Keep,
                decision: "stuck",
            },
            Row {
                name: "drained, disable first",
                samples: &[],
                disabled_at: None,
                observed: alive(1.0),
                policy: disable_first,
                now: 3 * H,
                force: false,
                action: Action::Disable { then_delete: false },
                decision: "disabled",
            },
            Row {
                name: "drained, disable first, no delay",
                samples: &[],
                disabled_at: None,
                observed: alive(1.0),
                policy: disable_first_now,
                now: 3 * H,
                force: false,
                action: Action::Disable { then_delete: true },
                decision: "due",
            },
            Row {
                name: "disabled, delay running",
                samples: &[],
                disabled_at: Some(3 * H),
                observed: Observed::Alive {
                    usage: 1.0,
                    disabled: true,
                    updated_at: None,
                    last_used_at: None,
                },
                policy: disable_first,
                now: 3 * H + 60,
                force: false,
                action: Action::Keep,
                decision: "disabled",
            },
            Row {
                name: "disabled, delay passed",
                samples: &[],
                disabled_at: Some(3 * H),
                observed: Observed::Alive {
                    usage: 1.0,
                    disabled: true,
                    updated_at: None,
                    last_used_at: None,
                },
                policy: disable_first,
                now: 4 * H + 1,
                force: false,
                action: Action::Delete(DeleteReason::DisableDelayPassed),
                decision: "due",
            },
            Row {
                name: "re-enabled by someone",
                samples: &[],
                disabled_at: Some(3 * H),
                observed: alive(1.0),
                policy: disable_first,
                now: 3 * H + 60,
                force: false,
                action: Action::Keep,
                decision: "reenabled",
            },
        ];
        for row in rows {
            let mut older = OlderKey::new("h", "k", t0, t0);
            older.usage_samples = row
                .samples
                .iter()
                .map(|(s, u)| UsageSample {
                    at: at(t0, *s),
                    usage: *u,
                })
                .collect();
            older.disabled_at = row.disabled_at.map(|s| at(t0, s));
            let v = decide(
                &older,
                row.observed,
                t0,
                &(row.policy)(),
                at(t0, row.now),
                row.force,
                false,
            );
            assert_eq!(v.action, row.action, "{}", row.name);
            assert_eq!(
                decision_name(&v.entry.decision),
                row.decision,
                "{}",
                row.name
            );
            assert_eq!(v.stuck, row.decision == "stuck", "{}", row.name);
            // A preview never changes the recorded state.
            let p = decide(
                &older,
                row.observed,
                t0,
                &(row.policy)(),
                at(t0, row.now),
                row.force,
                true,
            );
            assert_eq!(p.key, older, "{}: preview changed the key", row.name);
            assert!(!p.changed, "{}: a preview reports no change", row.name);
        }
    }
}
