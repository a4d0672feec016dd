//! Workspaces as stored (`/workspaces`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::time::rfc3339;

/// A workspace (`/workspaces`). Each account has a default one (its `workspace_id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredWorkspace {
    pub id: String,
    pub account: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub created_by: Option<String>,
    pub default_guardrail_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl StoredWorkspace {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "description": self.description,
            "created_at": rfc3339(self.created_at),
            "updated_at": self.updated_at.map(rfc3339),
            "created_by": self.created_by,
            "default_guardrail_id": self.default_guardrail_id,
            "default_image_model": null,
            "default_provider_sort": null,
            "default_text_model": null,
            "io_logging_api_key_ids": null,
            "io_logging_sampling_rate": 1.0,
            "is_data_discount_logging_enabled": false,
            "is_observability_broadcast_enabled": false,
            "is_observability_io_logging_enabled": false,
            "disabled_server_tools": null,
            "include_byok_in_budgets": false,
        })
    }
}
