//! What the lifecycle commands print: retirement (and re-enabling), rollback, revocation,
//! abandoning a rotation, and the orphan sweep.

use chrono::Utc;
use rotor_core::engine::{
    AbandonReport, ReenableReport, RetireReport, RevokeReport, RollbackReport, SweepReport,
};
use serde_json::json;

use super::{Output, age, at, decision_text, short};
use crate::target::Target;

impl Output {
    pub fn retirement(&self, target: &Target, r: &RetireReport) {
        if self.is_json() {
            return self.print_json(&json!({"target": target.to_string(), "retire": r}));
        }
        let now = Utc::now();
        println!("retire {target}");
        if r.keys.is_empty() {
            println!("  no older keys recorded: nothing to retire");
        }
        for k in &r.keys {
            println!(
                "  key {} {:?}: {}",
                short(&k.key_hash),
                k.key_name,
                decision_text(k, &target.to_string(), now)
            );
            if let Some(trend) = k.usage_trend() {
                println!("      usage {trend}");
            }
        }
        if let Some(v) = &r.saved_version {
            println!(
                "  retirement state saved (bookkeeping version {v}; applications read the same key)"
            );
        }
        if let Some(n) = &r.note {
            println!("  note: {n}");
        }
        if r.observing().next().is_some() {
            println!(
                "  rotor samples usage only when it runs: run `rotor retire {target}` again after the time shown (or let the daemon do it)"
            );
        }
    }

    pub fn reenable(&self, target: &Target, r: &ReenableReport) {
        if self.is_json() {
            return self.print_json(&json!({"target": target.to_string(), "reenable": r}));
        }
        println!(
            "re-enabled key {} of {target}{}; its retirement restarts: grace period until {}",
            r.key_hash,
            if r.was_disabled {
                ""
            } else {
                " (it was not disabled)"
            },
            at(r.grace_ends_at, Utc::now())
        );
    }

    pub fn rollback(&self, target: &Target, r: &RollbackReport) {
        if self.is_json() {
            return self.print_json(&json!({"target": target.to_string(), "rollback": r}));
        }
        println!(
            "rolled back {target}: applications read key {} again{}",
            r.restored_key_hash,
            if r.reenabled {
                " (it was disabled and is enabled again)"
            } else {
                ""
            }
        );
        println!("  new current version {}", r.version_id);
        println!(
            "  the failed key {} stays alive until {} and is then retired like any older key (`rotor retire`)",
            r.failed_key_hash,
            at(r.failed_key_grace_ends_at, Utc::now())
        );
    }

    pub fn revocation(&self, target: &Target, r: &RevokeReport) {
        if self.is_json() {
            return self.print_json(&json!({"target": target.to_string(), "revoke": r}));
        }
        if let Some(rot) = &r.rotation {
            println!("rotated {target} (token {})", rot.token);
        }
        println!("  current key: {}", r.current_key_hash);
        if r.deleted.is_empty() {
            println!("  no older key to delete");
        }
        for k in &r.deleted {
            println!(
                "  deleted key {} {:?}{}",
                k.key_hash,
                k.key_name,
                if k.already_gone {
                    " (was already gone)"
                } else {
                    ""
                }
            );
        }
    }

    pub fn abandoned(&self, target: &Target, report: &AbandonReport) {
        if self.is_json() {
            return self.print_json(&json!({"target": target.to_string(), "abandoned": report}));
        }
        println!("abandoned the rotation {} of {target}", report.token);
        for h in &report.deleted_keys {
            println!("  deleted its key {h}");
        }
    }

    /// The orphans a `sweep --delete` is about to ask to delete (text only).
    pub fn orphans_to_delete(&self, r: &SweepReport) {
        if !self.is_json() {
            print_orphans(r, false);
        }
    }

    pub fn sweep(&self, report: &SweepReport, delete: bool) {
        if self.is_json() {
            return self.print_json(&json!({"sweep": report}));
        }
        print_orphans(report, delete);
    }
}

fn print_orphans(r: &SweepReport, delete: bool) {
    println!(
        "{} rotor key(s) in the account, {} referenced by {} secret(s), {} orphaned",
        r.rotor_keys,
        r.referenced,
        r.secrets.len(),
        r.orphans.len()
    );
    for o in &r.orphans {
        println!(
            "  {} {:?}  age {}  usage ${:.4}{}{}",
            o.key_hash,
            o.key_name,
            age(o.age_seconds),
            o.usage,
            if o.disabled { "  disabled" } else { "" },
            if o.deleted {
                "  DELETED"
            } else if o.too_new {
                "  (younger than --min-age: kept)"
            } else {
                ""
            }
        );
    }
    if !delete && r.orphans.iter().any(|o| !o.too_new) {
        println!("  (listed only: `--delete` deletes them)");
    }
}
