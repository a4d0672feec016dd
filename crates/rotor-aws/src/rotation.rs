//! Asking Secrets Manager to rotate a secret through its rotation Lambda (`rotor rotate aws://…`).

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use rotor_core::store::StoreError;

use crate::sdk_error::map_sdk_error;

/// How a requested rotation ended (as far as this call waited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    /// `RotateSecret` accepted the request; the caller did not wait.
    Requested,
    /// The token now carries AWSCURRENT and no rotation is pending.
    Completed,
    /// Still pending when the wait ended: the Lambda may still be working or have failed (see its
    /// CloudWatch logs; Secrets Manager retries with the same token).
    StillPending,
}

/// What [`request_rotation`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRequest {
    /// The secret's ARN.
    pub secret_arn: String,
    /// The rotation token (version id) Secrets Manager uses for this rotation.
    pub token: String,
    pub outcome: RotationOutcome,
    /// How long the call took, including the wait.
    pub elapsed: Duration,
}

/// Why a rotation could not be requested.
#[derive(Debug, thiserror::Error)]
pub enum RotationRequestError {
    #[error(
        "secret {secret}: no rotation function is configured; attach rotor's Lambda (deploy/aws) or run the steps from here with `rotor rotate --local`"
    )]
    NoRotationFunction { secret: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Calls `RotateSecret` (with a fresh `ClientRequestToken`) when the secret has a rotation function,
/// then, with `wait: Some(d)`, polls `DescribeSecret` every second for at most `d` until the token
/// carries AWSCURRENT and no other version carries AWSPENDING.
pub async fn request_rotation(
    client: &Client,
    secret_id: &str,
    wait: Option<Duration>,
) -> Result<RotationRequest, RotationRequestError> {
    let started = Instant::now();
    let d = client
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| map_sdk_error(secret_id, "DescribeSecret", e))?;
    if d.rotation_lambda_arn().is_none_or(str::is_empty) {
        return Err(RotationRequestError::NoRotationFunction {
            secret: secret_id.to_owned(),
        });
    }
    let token = uuid::Uuid::new_v4().to_string();
    let out = client
        .rotate_secret()
        .secret_id(secret_id)
        .client_request_token(&token)
        .send()
        .await
        .map_err(|e| map_sdk_error(secret_id, "RotateSecret", e))?;
    let secret_arn = out.arn().or(d.arn()).unwrap_or(secret_id).to_owned();
    let token = out.version_id().unwrap_or(&token).to_owned();
    let Some(wait) = wait else {
        return Ok(RotationRequest {
            secret_arn,
            token,
            outcome: RotationOutcome::Requested,
            elapsed: started.elapsed(),
        });
    };
    let deadline = started + wait;
    loop {
        let d = client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| map_sdk_error(secret_id, "DescribeSecret", e))?;
        let stages = d.version_ids_to_stages();
        let current = stages
            .and_then(|m| m.get(&token))
            .is_some_and(|l| l.iter().any(|s| s == "AWSCURRENT"));
        let pending_elsewhere = stages.is_some_and(|m| {
            m.values().any(|l| {
                l.iter().any(|s| s == "AWSPENDING") && !l.iter().any(|s| s == "AWSCURRENT")
            })
        });
        if current && !pending_elsewhere {
            return Ok(RotationRequest {
                secret_arn,
                token,
                outcome: RotationOutcome::Completed,
                elapsed: started.elapsed(),
            });
        }
        if Instant::now() >= deadline {
            return Ok(RotationRequest {
                secret_arn,
                token,
                outcome: RotationOutcome::StillPending,
                elapsed: started.elapsed(),
            });
        }
        tokio::time::sleep(
            Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
    }
}
