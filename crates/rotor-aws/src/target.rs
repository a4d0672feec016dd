//! `aws://SECRET_ID[#field]` targets: a Secrets Manager secret by name or ARN, optionally one JSON
//! field of its value (for reading a management key).

use std::{fmt, str::FromStr};

/// A parsed `aws://` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTarget {
    /// The secret's name or full ARN, as given.
    pub secret_id: String,
    /// The JSON field after `#`, if any.
    pub field: Option<String>,
}

/// Why an `aws://` target could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "{0:?} is not an aws:// target; write aws://SECRET_NAME, aws://ARN or aws://SECRET_NAME#field"
    )]
    NotAws(String),
    #[error("{0:?} names no secret; write aws://SECRET_NAME or aws://ARN")]
    EmptySecretId(String),
    #[error("{0:?} has an empty #field; drop the '#' or name the JSON field")]
    EmptyField(String),
    #[error("{0:?}: an ARN must look like arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME")]
    BadArn(String),
}

impl AwsTarget {
    /// Parses `aws://SECRET_ID` or `aws://SECRET_ID#field` (SECRET_ID = name or ARN; names never
    /// contain `#`).
    pub fn parse(uri: &str) -> Result<Self, TargetError> {
        let rest = uri
            .strip_prefix("aws://")
            .ok_or_else(|| TargetError::NotAws(uri.to_owned()))?;
        let (id, field) = match rest.split_once('#') {
            Some((_, "")) => return Err(TargetError::EmptyField(uri.to_owned())),
            Some((id, f)) => (id, Some(f.to_owned())),
            None => (rest, None),
        };
        if id.is_empty() {
            return Err(TargetError::EmptySecretId(uri.to_owned()));
        }
        if id.starts_with("arn:") {
            let parts: Vec<&str> = id.splitn(7, ':').collect();
            if parts.len() != 7
                || parts[2] != "secretsmanager"
                || parts[5] != "secret"
                || parts[6].is_empty()
            {
                return Err(TargetError::BadArn(uri.to_owned()));
            }
        }
        Ok(AwsTarget {
            secret_id: id.to_owned(),
            field,
        })
    }

    /// Whether the secret is named by ARN.
    pub fn is_arn(&self) -> bool {
        self.secret_id.starts_with("arn:")
    }
}

impl FromStr for AwsTarget {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AwsTarget::parse(s)
    }
}

impl fmt::Display for AwsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "aws://{}", self.secret_id)?;
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
    fn parses_names_arns_and_fields() {
        let t = AwsTarget::parse("aws://prod/openrouter").unwrap();
        assert_eq!(
            t,
            AwsTarget {
                secret_id: "prod/openrouter".into(),
                field: None
            }
        );
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/openrouter-AbCdEf";
        let t = AwsTarget::parse(&format!("aws://{arn}#management_key")).unwrap();
        assert_eq!(t.secret_id, arn);
        assert_eq!(t.field.as_deref(), Some("management_key"));
        assert!(t.is_arn());
        assert_eq!(t.to_string(), format!("aws://{arn}#management_key"));
    }

    #[test]
    fn rejects_bad_targets() {
        assert!(matches!(
            AwsTarget::parse("file://x"),
            Err(TargetError::NotAws(_))
        ));
        assert!(matches!(
            AwsTarget::parse("aws://"),
            Err(TargetError::EmptySecretId(_))
        ));
        assert!(matches!(
            AwsTarget::parse("aws://#f"),
            Err(TargetError::EmptySecretId(_))
        ));
        assert!(matches!(
            AwsTarget::parse("aws://x#"),
            Err(TargetError::EmptyField(_))
        ));
        assert!(matches!(
            AwsTarget::parse("aws://arn:aws:s3:::bucket"),
            Err(TargetError::BadArn(_))
        ));
    }
}
