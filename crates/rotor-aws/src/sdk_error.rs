//! Secrets Manager SDK errors as [`StoreError`]s (the mapping is listed in the `store` module's
//! docs): the operation, the AWS error code and message, never a secret value.

use aws_sdk_secretsmanager::{
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
};
use rotor_core::store::StoreError;

/// Maps an SDK error to a [`StoreError`] naming the operation, the AWS error code and message.
pub(crate) fn map_sdk_error<E>(
    secret_id: &str,
    operation: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let secret = secret_id.to_owned();
    match &err {
        SdkError::TimeoutError(_) => StoreError::Transient {
            secret,
            message: format!("{operation} timed out; retry later"),
        },
        SdkError::DispatchFailure(f) => StoreError::Transient {
            secret,
            message: format!(
                "{operation}: could not reach Secrets Manager ({}); check the endpoint and network",
                if f.is_timeout() {
                    "timeout"
                } else if f.is_io() {
                    "connection error"
                } else {
                    "dispatch failure"
                }
            ),
        },
        SdkError::ResponseError(_) => StoreError::Transient {
            secret,
            message: format!("{operation}: the response from Secrets Manager could not be read"),
        },
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown").to_owned();
            let msg = se.err().message().unwrap_or("").to_owned();
            let status = se.raw().status().as_u16();
            match classify(secret, operation, &code, &msg) {
                StoreError::Backend { secret, message } if status >= 500 => StoreError::Transient {
                    secret,
                    message: format!("{message} (HTTP {status}); retry later"),
                },
                other => other,
            }
        }
        _ => StoreError::Backend {
            secret,
            message: format!("{operation}: {}", describe_other(&err)),
        },
    }
}

fn describe_other<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err.code() {
        Some(code) => format!("{code}: {}", err.message().unwrap_or("")),
        None => "could not build the request".to_owned(),
    }
}

pub(crate) fn classify(secret: String, operation: &str, code: &str, msg: &str) -> StoreError {
    let message = format!("{operation} failed with {code}: {msg}");
    match code {
        "ResourceNotFoundException" | "SecretHasNoValueException" => StoreError::NotFound {
            secret,
            what: format!("{operation}: {msg}"),
        },
        "ResourceExistsException" => StoreError::Conflict { secret, message },
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "KMSAccessDeniedException"
        | "DecryptionFailure"
        | "EncryptionFailure" => StoreError::Denied {
            secret,
            message: format!("{message}; check the IAM policy (and KMS key policy) of the caller"),
        },
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "InternalServiceError"
        | "InternalServiceErrorException"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "RequestTimeout"
        | "RequestTimeoutException" => StoreError::Transient {
            secret,
            message: format!("{message}; retry later"),
        },
        "InvalidRequestException" => StoreError::Precondition { secret, message },
        _ => StoreError::Backend { secret, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_store_errors() {
        let c = |code| classify("s".into(), "Op", code, "m");
        assert!(matches!(
            c("ResourceNotFoundException"),
            StoreError::NotFound { .. }
        ));
        assert!(matches!(
            c("SecretHasNoValueException"),
            StoreError::NotFound { .. }
        ));
        assert!(matches!(
            c("ResourceExistsException"),
            StoreError::Conflict { .. }
        ));
        assert!(matches!(
            c("AccessDeniedException"),
            StoreError::Denied { .. }
        ));
        assert!(c("ThrottlingException").is_retryable());
        assert!(c("InternalServiceError").is_retryable());
        assert!(matches!(
            c("InvalidRequestException"),
            StoreError::Precondition { .. }
        ));
        assert!(matches!(c("Whatever"), StoreError::Backend { .. }));
    }
}
