//! [`RecordError`]: why a stored document (or a policy override in it) could not be read.

/// Why a stored document could not be read. Messages never contain the document or any part of
/// a value; they name the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(
        "secret {secret}: the stored value is not valid JSON ({problem} at line {line}, column {column}); \
         it must be a JSON object with at least \"api_key\", \"key_hash\", \"key_name\" and \"created_at\""
    )]
    Syntax {
        secret: String,
        problem: &'static str,
        line: usize,
        column: usize,
    },
    #[error(
        "secret {secret}: the stored value is JSON {found}, not an object; it must be a JSON object \
         with at least \"api_key\", \"key_hash\", \"key_name\" and \"created_at\""
    )]
    NotAnObject { secret: String, found: &'static str },
    #[error("secret {secret}: the stored document has no \"{field}\" field ({expected})")]
    MissingField {
        secret: String,
        field: &'static str,
        expected: &'static str,
    },
    #[error(
        "secret {secret}: field \"{field}\" of the stored document is invalid: expected {expected}"
    )]
    InvalidField {
        secret: String,
        field: String,
        expected: String,
    },
}

impl RecordError {
    pub(crate) fn invalid(
        secret: &str,
        field: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        RecordError::InvalidField {
            secret: secret.to_owned(),
            field: field.into(),
            expected: expected.into(),
        }
    }
}
