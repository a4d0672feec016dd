//! Targets: which secret in which store. `file://DIR#SECRET`, `aws://SECRET_ID`, `vault://MOUNT/PATH`.

use std::{fmt, path::PathBuf};

use rotor_aws::AwsTarget;
use rotor_vault::VaultTarget;

use crate::error::CliError;

/// A parsed target URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `file://DIR#SECRET`: a [`FileStore`] in DIR (relative or absolute), secret SECRET.
    File { dir: PathBuf, secret: String },
    /// `aws://SECRET_ID`: a Secrets Manager secret (name or ARN).
    Aws { secret_id: String },
    /// `vault://MOUNT/PATH`: a KV v2 secret.
    Vault { mount: String, path: String },
}

impl Target {
    /// Parses a target URI; errors say what form is expected.
    pub fn parse(uri: &str) -> Result<Target, CliError> {
        let bad = |why: &str| {
            CliError::usage(format!(
                "invalid target {uri:?}: {why}; expected file://DIR#SECRET, aws://SECRET_ID or vault://MOUNT/PATH"
            ))
        };
        if let Some(rest) = uri.strip_prefix("file://") {
            let (dir, secret) = rest
                .rsplit_once('#')
                .ok_or_else(|| bad("missing #SECRET"))?;
            if dir.is_empty() {
                return Err(bad("missing DIR"));
            }
            if secret.is_empty() {
                return Err(bad("empty SECRET"));
            }
            Ok(Target::File {
                dir: PathBuf::from(dir),
                secret: secret.to_owned(),
            })
        } else if uri.starts_with("aws://") {
            // One parser per scheme: the backend's (its ARN and name checks).
            let target = AwsTarget::parse(uri).map_err(|e| bad(&e.to_string()))?;
            if target.field.is_some() {
                return Err(bad(
                    "a #field names a value inside a secret, not a secret to rotate",
                ));
            }
            Ok(Target::Aws {
                secret_id: target.secret_id,
            })
        } else if uri.starts_with("vault://") {
            let target = VaultTarget::parse(uri).map_err(|e| bad(&e.to_string()))?;
            if target.field.is_some() {
                return Err(bad(
                    "a #field names a value inside a secret, not a secret to rotate",
                ));
            }
            Ok(Target::Vault {
                mount: target.mount,
                path: target.path,
            })
        } else {
            Err(bad("unknown scheme"))
        }
    }

    /// The secret id the store uses for this target.
    pub fn secret_id(&self) -> String {
        match self {
            Target::File { secret, .. } => secret.clone(),
            Target::Aws { secret_id } => secret_id.clone(),
            Target::Vault { mount, path } => format!("{mount}/{path}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::File { dir, secret } => write!(f, "file://{}#{secret}", dir.display()),
            Target::Aws { secret_id } => write!(f, "aws://{secret_id}"),
            Target::Vault { mount, path } => write!(f, "vault://{mount}/{path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            Target::parse("file://./secrets#prod-app").unwrap(),
            Target::File {
                dir: "./secrets".into(),
                secret: "prod-app".into()
            }
        );
        assert_eq!(
            Target::parse("file:///var/lib/rotor#a").unwrap(),
            Target::File {
                dir: "/var/lib/rotor".into(),
                secret: "a".into()
            }
        );
        assert_eq!(
            Target::parse("aws://arn:aws:secretsmanager:us-east-1:1:secret:prod/or-AbC").unwrap(),
            Target::Aws {
                secret_id: "arn:aws:secretsmanager:us-east-1:1:secret:prod/or-AbC".into()
            }
        );
        assert_eq!(
            Target::parse("vault://secret/apps/prod").unwrap(),
            Target::Vault {
                mount: "secret".into(),
                path: "apps/prod".into()
            }
        );
        assert_eq!(
            Target::parse("vault://secret/apps/prod")
                .unwrap()
                .secret_id(),
            "secret/apps/prod"
        );
    }

    #[test]
    fn rejects_bad_targets_with_the_expected_forms() {
        for bad in [
            "",
            "prod",
            "file://dir",
            "file://#s",
            "file://d#",
            "aws://",
            "vault://secret",
            "s3://x",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(
                e.message.contains("expected file://DIR#SECRET"),
                "{bad}: {}",
                e.message
            );
        }
    }
}
