//! rotor on AWS Secrets Manager.
//!
//! * [`store`] — [`SecretsManagerStore`], the [`rotor_core::SecretStore`] trait on Secrets Manager
//!   (1:1 onto its staged versions; the mapping and the emulator gaps are documented there).
//! * [`target`] — `aws://SECRET_ID[#field]` targets (name or ARN).
//! * [`management_key`] — reading the OpenRouter management key from a secret.
//! * [`rotation`] — asking Secrets Manager to rotate (`RotateSecret`) and waiting for the outcome.
//! * [`lambda`] — the rotation Lambda's event, configuration and handler (`handle_event`), used by
//!   the `bootstrap` binary and tested without Lambda.

pub mod lambda;
pub mod management_key;
pub mod rotation;
mod sdk_error;
pub mod store;
pub mod target;

pub use management_key::{ManagementKeyError, parse_management_key, read_management_key};
pub use rotation::{RotationOutcome, RotationRequest, RotationRequestError, request_rotation};
pub use store::SecretsManagerStore;
pub use target::{AwsTarget, TargetError};
