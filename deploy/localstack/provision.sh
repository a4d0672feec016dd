#!/usr/bin/env bash
# Provisions rotor into any running LocalStack (Docker or host mode):
#   1. builds bootstrap.zip with cargo lambda (host architecture),
#   2. stores the OpenRouter management key in the secret openrouter/management,
#   3. creates the application secret with `rotor init aws://openrouter/demo-app`,
#   4. creates the IAM role and the rotation function,
#   5. attaches the rotation schedule (RotateSecret with the function).
# Environment (defaults in brackets):
#   AWS_ENDPOINT_URL            [http://127.0.0.1:4566]   the LocalStack gateway
#   OPENROUTER_BASE_URL         [http://127.0.0.1:8080/api/v1]  used by `rotor init` here
#   OPENROUTER_MANAGEMENT_KEY   [the compose file's fake key]   the emulator's management key
#   LAMBDA_OPENROUTER_BASE_URL  [http://host.docker.internal:8080/api/v1]  as seen from the
#                               function's container (LocalStack with Docker)
#   APP_SECRET                  [openrouter/demo-app]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TOOLS="${ROTOR_TOOLS:-$ROOT/.tools}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export OPENROUTER_BASE_URL="${OPENROUTER_BASE_URL:-http://127.0.0.1:8080/api/v1}"
export OPENROUTER_MANAGEMENT_KEY="${OPENROUTER_MANAGEMENT_KEY:-sk-or-v1-0000000000000000000000000000000000000000000000000000000000000001}"
LAMBDA_OPENROUTER_BASE_URL="${LAMBDA_OPENROUTER_BASE_URL:-http://host.docker.internal:8080/api/v1}"
APP_SECRET="${APP_SECRET:-openrouter/demo-app}"
MGMT_SECRET=openrouter/management
FUNCTION=rotor-rotation
say() { echo "provision: $*" >&2; }

curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null ||
  { say "no LocalStack at $AWS_ENDPOINT_URL: start it first (see deploy/localstack/README.md)"; exit 1; }

# Tools: cargo-lambda and the AWS CLI from PyPI, cached under .tools/.
mkdir -p "$TOOLS"
if [ ! -x "$TOOLS/cargo-lambda-venv/bin/cargo-lambda" ]; then
  python3 -m venv "$TOOLS/cargo-lambda-venv"
  "$TOOLS/cargo-lambda-venv/bin/pip" install --quiet cargo-lambda==1.9.2
fi
if ! command -v aws >/dev/null 2>&1; then
  if [ ! -x "$TOOLS/awscli-venv/bin/aws" ]; then
    python3 -m venv "$TOOLS/awscli-venv"
    "$TOOLS/awscli-venv/bin/pip" install --quiet awscli==1.44.62
  fi
  export PATH="$TOOLS/awscli-venv/bin:$PATH"
fi
export PATH="$TOOLS/cargo-lambda-venv/bin:$PATH"

say "1/5 building bootstrap.zip"
if command -v zig >/dev/null 2>&1; then COMPILER=(); else COMPILER=(--compiler cargo); fi
cargo lambda build --profile lambda --no-default-features --output-format zip "${COMPILER[@]}" -p rotor-aws --bin bootstrap
ZIP="$ROOT/target/lambda/bootstrap/bootstrap.zip"
case "$(uname -m)" in aarch64 | arm64) ARCH=arm64 ;; *) ARCH=x86_64 ;; esac

say "2/5 management-key secret $MGMT_SECRET"
if ! aws secretsmanager describe-secret --secret-id "$MGMT_SECRET" >/dev/null 2>&1; then
  aws secretsmanager create-secret --name "$MGMT_SECRET" \
    --secret-string "{\"management_key\":\"$OPENROUTER_MANAGEMENT_KEY\"}" >/dev/null
fi
MGMT_ARN=$(aws secretsmanager describe-secret --secret-id "$MGMT_SECRET" --query ARN --output text)

say "3/5 application secret $APP_SECRET (rotor init)"
if ! aws secretsmanager describe-secret --secret-id "$APP_SECRET" >/dev/null 2>&1; then
  cargo run --quiet -p rotor-cli -- init "aws://$APP_SECRET"
fi

say "4/5 IAM role and function $FUNCTION"
ROLE_ARN=$(aws iam get-role --role-name "$FUNCTION" --query Role.Arn --output text 2>/dev/null ||
  aws iam create-role --role-name "$FUNCTION" --query Role.Arn --output text \
    --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}')
ENV="Variables={OPENROUTER_MANAGEMENT_KEY_SECRET_ID=$MGMT_ARN,OPENROUTER_BASE_URL=$LAMBDA_OPENROUTER_BASE_URL,ROTOR_GRACE_PERIOD=${ROTOR_GRACE_PERIOD:-2h}}"
if aws lambda get-function --function-name "$FUNCTION" >/dev/null 2>&1; then
  aws lambda update-function-code --function-name "$FUNCTION" --zip-file "fileb://$ZIP" >/dev/null
else
  aws lambda create-function --function-name "$FUNCTION" --runtime provided.al2023 --handler bootstrap \
    --architectures "$ARCH" --role "$ROLE_ARN" --zip-file "fileb://$ZIP" --timeout 60 --memory-size 128 \
    --environment "$ENV" >/dev/null
  aws lambda add-permission --function-name "$FUNCTION" --statement-id AllowSecretsManager \
    --action lambda:InvokeFunction --principal secretsmanager.amazonaws.com \
    --source-account 000000000000 >/dev/null
fi
FUNCTION_ARN=$(aws lambda get-function --function-name "$FUNCTION" --query Configuration.FunctionArn --output text)

say "5/5 rotation schedule on $APP_SECRET"
# LocalStack reports RotationEnabled only for AutomaticallyAfterDays (not ScheduleExpression);
# the SAM template and the Terraform module use ScheduleExpression + Duration for AWS.
aws secretsmanager rotate-secret --secret-id "$APP_SECRET" --rotation-lambda-arn "$FUNCTION_ARN" \
  --rotation-rules AutomaticallyAfterDays=30 --no-rotate-immediately >/dev/null 2>&1 ||
  aws secretsmanager rotate-secret --secret-id "$APP_SECRET" --rotation-lambda-arn "$FUNCTION_ARN" \
    --rotation-rules AutomaticallyAfterDays=30 >/dev/null
say "done: function $FUNCTION_ARN rotates $APP_SECRET"
say "read it like an application: aws secretsmanager get-secret-value --secret-id $APP_SECRET --version-stage AWSCURRENT"
