//! How policy settings are spelled, shared by the `ROTOR_*` variables and the per-secret
//! overrides: what each accepts (for error messages), and the parsers of the shared forms.

use std::time::Duration;

use rotor_openrouter::LimitReset;

use super::{PolicyError, Setting};

pub(super) const TEMPLATE_EXPECTED: &str = "a non-empty string whose only placeholders are {secret} and {date}, e.g. \"{secret} rotated {date}\"";
pub(super) const LIMIT_EXPECTED: &str =
    "a number of USD >= 0, null/none (unlimited) or \"current\" (copy the current key's)";
pub(super) const RESET_EXPECTED: &str = "daily, weekly, monthly, null/none (never) or \"current\"";
pub(super) const BYOK_EXPECTED: &str = "true, false or \"current\"";
pub(super) const DURATION_EXPECTED: &str = "a duration such as 30s, 15m, 2h or 30d";
pub(super) const EXPIRES_EXPECTED: &str =
    "a duration such as 12h or 30d, or null/none (never expire)";
pub(super) const TEST_MODE_EXPECTED: &str = "auth or completion";
pub(super) const BOOL_EXPECTED: &str = "true or false";
pub(super) const MODEL_EXPECTED: &str = "a non-empty model id such as openai/gpt-4o-mini";

pub(super) fn parse_limit_reset(s: &str) -> Option<Setting<Option<LimitReset>>> {
    match s {
        "current" => Some(Setting::CurrentKey),
        "none" | "never" => Some(Setting::Value(None)),
        other => other.parse().ok().map(|r| Setting::Value(Some(r))),
    }
}

pub(super) fn parse_optional_duration(s: &str) -> Option<Option<Duration>> {
    match s {
        "none" | "never" => Some(None),
        other => humantime::parse_duration(other).ok().map(Some),
    }
}

pub(super) fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

pub(super) fn validate_template(t: &str) -> Result<(), PolicyError> {
    let rest = t.replace("{secret}", "").replace("{date}", "");
    if t.trim().is_empty() || rest.contains('{') || rest.contains('}') {
        return Err(PolicyError::Template {
            expected: TEMPLATE_EXPECTED,
        });
    }
    Ok(())
}
