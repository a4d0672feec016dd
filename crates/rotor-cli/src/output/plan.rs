//! What `--dry-run` prints: the plan of each secret (nothing changed).

use rotor_core::engine::{DryRun, PlannedChange};
use serde_json::json;

use super::Output;

impl Output {
    pub fn plans(&self, plans: &[DryRun]) {
        if self.is_json() {
            self.print_json(&json!({ "dry_run": plans }));
            return;
        }
        for p in plans {
            println!(
                "dry run of `{}` on {} (nothing changed):",
                p.operation, p.secret_id
            );
            if let Some(why) = &p.refused {
                println!("  would be refused: {why}");
                continue;
            }
            if p.changes.is_empty() {
                println!("  nothing to do");
            }
            for c in &p.changes {
                match c {
                    PlannedChange::CreateSecret => {
                        println!("  would create the secret with the new key as current")
                    }
                    PlannedChange::CreateKey { key } => {
                        println!("  would create key {:?}", key.name);
                        println!(
                            "    limit {}{}, include BYOK {}, expires {}, workspace {}",
                            key.limit
                                .map(|l| format!("${l}"))
                                .unwrap_or_else(|| "none".into()),
                            key.limit_reset
                                .map(|r| format!(" reset {r}"))
                                .unwrap_or_default(),
                            key.include_byok_in_limit,
                            key.expires_at
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_else(|| "never".into()),
                            key.workspace_id.as_deref().unwrap_or("default"),
                        );
                        if !key.guardrails.is_empty() {
                            println!("    assigned to guardrails {}", key.guardrails.join(", "));
                        }
                    }
                    PlannedChange::Promote { replaces_key_hash } => println!(
                        "  would make the new key current; {replaces_key_hash} would become previous (alive through its grace period)"
                    ),
                    PlannedChange::Restore { key_hash } => {
                        println!("  would make the previous key {key_hash} current again")
                    }
                    PlannedChange::DisableKey { key_hash, reason } => {
                        println!("  would disable key {key_hash} ({reason})")
                    }
                    PlannedChange::DeleteKey { key_hash, reason } => {
                        println!("  would delete key {key_hash} ({reason})")
                    }
                    PlannedChange::ClearPending { token } => {
                        println!("  would give up the pending rotation {token}")
                    }
                }
            }
        }
    }
}
