//! Human-readable text (default) or JSON (`--json`) on stdout. Never key material: the engine's
//! reports carry hashes, names and version ids only.

use chrono::{DateTime, Utc};
use rotor_core::engine::{
    DeleteReason, DueAction, InitReport, KeyRetirement, KeyState, RetireDecision, RotationReport,
    SecretStatus, StepReport,
};
use serde::Serialize;
use serde_json::json;

use crate::target::Target;

mod lifecycle;
mod plan;

pub struct Output {
    json: bool,
}

/// `1h 2m`-style age for humans.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0) as u64;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h:02}h"),
    }
}

pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub fn key_state(state: &KeyState) -> String {
    match state {
        KeyState::Active {
            usage,
            limit: Some(l),
        } => format!("active, usage ${usage:.4} of ${l}"),
        KeyState::Active { usage, limit: None } => format!("active, usage ${usage:.4}"),
        KeyState::Disabled => "DISABLED".into(),
        KeyState::Expired => "EXPIRED".into(),
        KeyState::Missing => "gone at OpenRouter (deleted)".into(),
        KeyState::Unknown { error } => format!("unknown ({error})"),
    }
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn print_json<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("rotor: cannot serialize output: {e}"),
        }
    }

    pub fn init(&self, target: &Target, r: &InitReport) {
        if self.json {
            return self.print_json(&json!({"target": target.to_string(), "init": r}));
        }
        println!("initialised {target}");
        println!(
            "  version {}  key {:?}  hash {}",
            r.version_id, r.key_name, r.key_hash
        );
        if let Some(exp) = r.expires_at {
            println!("  expires {exp}");
        }
    }

    pub fn step(&self, target: &Target, r: &StepReport) {
        if self.json {
            return self.print_json(&json!({"target": target.to_string(), "step": r}));
        }
        self.step_line(r);
    }

    fn step_line(&self, r: &StepReport) {
        let mut line = format!("  {:<13} {:<16}", r.step.as_str(), r.outcome.to_string());
        if let Some(h) = &r.key_hash {
            line.push_str(&format!(" key {}", short(h)));
        }
        for k in &r.retired {
            line.push_str(&format!(
                " retired {}{}",
                short(&k.key_hash),
                if k.already_gone {
                    " (already gone)"
                } else {
                    ""
                }
            ));
        }
        for h in &r.cleaned_up {
            line.push_str(&format!(" cleaned-up-unrecorded {}", short(h)));
        }
        line.push_str(&format!(" ({} ms)", r.duration_ms));
        println!("{line}");
    }

    pub fn rotation(&self, target: &Target, r: &RotationReport) {
        if self.json {
            return self.print_json(&json!({"target": target.to_string(), "rotation": r}));
        }
        println!("rotated {target} (token {})", r.token);
        for s in &r.steps {
            self.step_line(s);
        }
        if let Some(h) = &r.new_key_hash {
            println!("  current key is now {h}");
        }
        println!(
            "  {} older key(s) retired, {} ms",
            r.retired.len(),
            r.duration_ms
        );
    }

    pub fn aws_rotation(&self, target: &Target, r: &rotor_aws::RotationRequest) {
        let outcome = match r.outcome {
            rotor_aws::RotationOutcome::Requested => "requested",
            rotor_aws::RotationOutcome::Completed => "completed",
            rotor_aws::RotationOutcome::StillPending => "still pending",
        };
        if self.json {
            return self.print_json(&json!({
                "target": target.to_string(), "secret_arn": r.secret_arn, "token": r.token,
                "outcome": outcome, "elapsed_ms": r.elapsed.as_millis() as u64,
            }));
        }
        println!(
            "Secrets Manager rotation of {} (token {}): {outcome} after {:.1}s",
            r.secret_arn,
            r.token,
            r.elapsed.as_secs_f64()
        );
        if matches!(r.outcome, rotor_aws::RotationOutcome::StillPending) {
            println!(
                "  the rotation Lambda has not finished: see its CloudWatch logs; Secrets Manager retries with the same token"
            );
        }
    }

    pub fn status(&self, target: &Target, s: &SecretStatus) {
        if self.json {
            return self.print_json(&json!({"target": target.to_string(), "status": s}));
        }
        let now = Utc::now();
        println!("{target}  (backend {})", s.backend);
        println!(
            "  rotation enabled: {}   last rotated: {}",
            match s.rotation_enabled {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "not reported",
            },
            s.last_rotated
                .map(|t| format!("{t} ({} ago)", age((now - t).num_seconds())))
                .unwrap_or_else(|| "never".into())
        );
        match &s.pending_rotation {
            Some(t) => println!(
                "  rotation in progress: token {t} (finish it with `rotor rotate --resume`)"
            ),
            None => println!("  no rotation in progress"),
        }
        for v in &s.versions {
            let stages = v.stages.join(",");
            match &v.key {
                Some(k) => println!(
                    "  {stages:<22} version {}  key {:?} hash {}  age {}  {}{}",
                    short(&v.version_id),
                    k.key_name,
                    short(&k.key_hash),
                    age(k.age_seconds),
                    key_state(&k.state),
                    match k.expires_at {
                        Some(exp) if exp > now =>
                            format!("  expires in {} (at {exp})", age((exp - now).num_seconds())),
                        Some(exp) => format!("  EXPIRED at {exp}"),
                        None => String::new(),
                    }
                ),
                None => println!(
                    "  {stages:<22} version {}  {}",
                    short(&v.version_id),
                    v.problem.as_deref().unwrap_or("no value")
                ),
            }
        }
        if s.older_keys.is_empty() {
            println!("  no older keys alive");
        }
        for k in &s.older_keys {
            let when = if k.retirable_now {
                "grace period over".to_owned()
            } else {
                format!(
                    "grace period ends in {} (at {})",
                    age((k.retirable_at - now).num_seconds()),
                    k.retirable_at
                )
            };
            println!(
                "  older key {:?} hash {}  superseded {} ago, {when}  {}",
                k.key_name,
                short(&k.key_hash),
                age((now - k.superseded_at).num_seconds()),
                key_state(&k.state)
            );
            // Usage-aware retirement, per older key.
            if let Some(r) = s.retirement.iter().find(|r| r.key_hash == k.key_hash) {
                println!(
                    "    retirement: {}",
                    decision_text(r, &target.to_string(), now)
                );
                if let Some(trend) = r.usage_trend() {
                    println!("    usage trend: {trend}");
                }
            }
        }
    }
}

/// One line on what retirement does (did) with an older key, and why.
pub fn decision_text(k: &KeyRetirement, target: &str, now: DateTime<Utc>) -> String {
    match &k.decision {
        RetireDecision::InGrace { until } => {
            format!("in its grace period until {}", at(*until, now))
        }
        RetireDecision::Observing {
            check_after,
            usage_grew,
        } => format!(
            "observing its usage ({}): not retired yet, check again after {}",
            if *usage_grew {
                "still growing"
            } else {
                "unchanged so far"
            },
            at(*check_after, now)
        ),
        RetireDecision::Stuck {
            since,
            usage_growth,
        } => format!(
            "STUCK: still receiving traffic (+${usage_growth:.4}) past max_retirement_wait (since {}); \
             NOT deleted: find what still uses it, or `rotor retire {target} --force`",
            at(*since, now)
        ),
        RetireDecision::Disabled { delete_after } => format!(
            "DISABLED, deleted after {} (undo: `rotor retire {target} --reenable {}`)",
            at(*delete_after, now),
            k.key_hash
        ),
        RetireDecision::Reenabled => {
            "re-enabled after rotor disabled it: observing its usage again".into()
        }
        RetireDecision::Due {
            action: DueAction::Delete,
        } => "due: the next `rotor retire` or rotation deletes it".into(),
        RetireDecision::Due {
            action: DueAction::Disable,
        } => "due: the next `rotor retire` or rotation disables it (disable_first)".into(),
        RetireDecision::Deleted {
            already_gone: true, ..
        } => "already gone at OpenRouter (forgotten)".into(),
        RetireDecision::Deleted { reason, .. } => format!(
            "DELETED ({})",
            match reason {
                DeleteReason::Drained => "grace period over, traffic drained",
                DeleteReason::DisableDelayPassed => "disabled for disable_delay",
                DeleteReason::Forced => "forced",
                DeleteReason::AlreadyGone => "already gone",
            }
        ),
    }
}

/// `when` relative to now, for humans: `2026-11-28 08:00:00 UTC (in 1h02m)`.
pub fn at(when: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (when - now).num_seconds();
    let rel = if secs >= 0 {
        format!("in {}", age(secs))
    } else {
        format!("{} ago", age(-secs))
    };
    format!("{} ({rel})", when.format("%Y-%m-%d %H:%M:%S UTC"))
}
