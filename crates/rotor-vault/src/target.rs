//! `vault://MOUNT/PATH[#field]` targets and `MOUNT/PATH` secret ids.

use std::fmt;

use crate::VaultError;

/// A KV v2 secret: the mount (first path segment) and the path inside it, plus an optional field
/// (`#field`) for reading one value, e.g. a management key, from the secret's data.
///
/// The mount is always the first segment: `vault://secret/prod/openrouter` is mount `secret`,
/// path `prod/openrouter`. (Nested mounts such as `team/kv` are not expressible.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultTarget {
    pub mount: String,
    pub path: String,
    pub field: Option<String>,
}

/// The URL scheme of Vault targets.
pub const SCHEME: &str = "vault://";

impl VaultTarget {
    /// Parses `vault://MOUNT/PATH`, `vault://MOUNT/PATH#field`, or a bare `MOUNT/PATH` secret id
    /// (as [`rotor_core::SecretStore`] methods receive it).
    pub fn parse(input: &str) -> Result<Self, VaultError> {
        let invalid = |why: &str| VaultError::InvalidTarget {
            target: input.to_owned(),
            message: why.to_owned(),
        };
        let rest = input.strip_prefix(SCHEME).unwrap_or(input);
        let (location, field) = match rest.split_once('#') {
            Some((loc, field)) => {
                if field.is_empty() {
                    return Err(invalid("the field after `#` is empty"));
                }
                (loc, Some(field.to_owned()))
            }
            None => (rest, None),
        };
        let location = location.trim_end_matches('/');
        let Some((mount, path)) = location.split_once('/') else {
            return Err(invalid(
                "expected MOUNT/PATH, e.g. vault://secret/prod/openrouter",
            ));
        };
        if mount.is_empty() || path.is_empty() {
            return Err(invalid("expected MOUNT/PATH with both parts non-empty"));
        }
        for segment in location.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(invalid("empty, `.` and `..` path segments are not allowed"));
            }
            if !segment.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+' | b'=')
            }) {
                return Err(invalid(
                    "path segments may contain only letters, digits and - _ . @ + =",
                ));
            }
        }
        Ok(VaultTarget {
            mount: mount.to_owned(),
            path: path.to_owned(),
            field,
        })
    }

    /// `MOUNT/PATH`: the secret id the store uses (and reports in `SecretDescription`).
    pub fn secret_id(&self) -> String {
        format!("{}/{}", self.mount, self.path)
    }

    /// The API path applications read: `MOUNT/data/PATH` (`GET /v1/MOUNT/data/PATH`).
    pub fn data_api_path(&self) -> String {
        format!("{}/data/{}", self.mount, self.path)
    }
}

impl fmt::Display for VaultTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.mount, self.path)?;
        if let Some(field) = &self.field {
            write!(f, "#{field}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = VaultTarget::parse("vault://secret/prod/openrouter").unwrap();
        assert_eq!(
            (t.mount.as_str(), t.path.as_str(), t.field),
            ("secret", "prod/openrouter", None)
        );
        let t = VaultTarget::parse("vault://kv/ops/mgmt#management_key").unwrap();
        assert_eq!(t.field.as_deref(), Some("management_key"));
        assert_eq!(t.secret_id(), "kv/ops/mgmt");
        assert_eq!(t.to_string(), "vault://kv/ops/mgmt#management_key");
        let t = VaultTarget::parse("secret/app").unwrap();
        assert_eq!(t.data_api_path(), "secret/data/app");
    }

    #[test]
    fn rejects_malformed_targets() {
        for bad in [
            "vault://secret",
            "vault:///path",
            "vault://secret/",
            "vault://secret/a//b",
            "vault://secret/../x",
            "vault://secret/a#",
            "vault://secret/a b",
            "vault://secret/a?x=1",
        ] {
            let err = VaultTarget::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
