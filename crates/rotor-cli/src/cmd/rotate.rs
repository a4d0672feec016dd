//! `rotor rotate TARGET [--resume | --abandon | --local]`: one rotation (Secrets Manager's own,
//! or the four steps run here), or giving up the pending one.

use std::time::Duration;

use crate::args::OpenRouterArgs;
use crate::backends::open;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

pub async fn rotate(
    out: &Output,
    target: &str,
    or: &OpenRouterArgs,
    resume: bool,
    local: bool,
) -> Result<Exit, CliError> {
    let parsed = Target::parse(target)?;
    if let (Target::Aws { secret_id }, false) = (&parsed, local) {
        if resume {
            return Err(CliError::usage(
                "--resume runs the steps here: use it with --local (Secrets Manager resumes its own rotations with the same token)",
            ));
        }
        let store = rotor_aws::SecretsManagerStore::from_env().await;
        let req =
            rotor_aws::request_rotation(store.client(), secret_id, Some(Duration::from_secs(300)))
                .await
                .map_err(|e| match e {
                    rotor_aws::RotationRequestError::NoRotationFunction { .. } => {
                        CliError::precondition(e.to_string())
                    }
                    rotor_aws::RotationRequestError::Store(s) => CliError::from(s),
                })?;
        out.aws_rotation(&parsed, &req);
        return Ok(match req.outcome {
            rotor_aws::RotationOutcome::Completed | rotor_aws::RotationOutcome::Requested => {
                Exit::Ok
            }
            rotor_aws::RotationOutcome::StillPending => Exit::Upstream,
        });
    }
    let store = parsed.open_store().await?;
    let secret_id = parsed.secret_id();
    let engine = engine(or).await?;
    let report = if resume {
        engine.resume(store.as_ref(), &secret_id).await
    } else {
        engine.rotate(store.as_ref(), &secret_id).await
    }?;
    out.rotation(&parsed, &report);
    Ok(Exit::Ok)
}

pub async fn abandon(out: &Output, target: &str, or: &OpenRouterArgs) -> Result<Exit, CliError> {
    let (target, store) = open(target).await?;
    let engine = engine(or).await?;
    let report = engine.abandon(store.as_ref(), &target.secret_id()).await?;
    out.abandoned(&target, &report);
    Ok(Exit::Ok)
}
