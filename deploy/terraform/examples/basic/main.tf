# A minimal deployment: the management key in one secret, the application's key in another
# (created first with `rotor init aws://openrouter/prod-app`), rotated every 30 days. The zip is a
# release asset (rotor-lambda-<version>-arm64.zip, checked with `sha256sum -c SHA256SUMS`) or built
# from source (scripts/release.sh, or cargo lambda build --profile lambda --no-default-features
# --arm64 --output-format zip -p rotor-aws --bin bootstrap).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "management_key_secret_arn" {
  description = "The secret holding the OpenRouter management key."
  type        = string
}

variable "lambda_zip" {
  description = "Path of the function's zip (null = cargo lambda's output in this repository's target/)."
  type        = string
  default     = null
}

variable "app_secret_arn" {
  description = "The application's secret, created by `rotor init aws://openrouter/prod-app`."
  type        = string
}

module "rotor" {
  source = "../../modules/rotor"

  name                      = "rotor"
  lambda_zip                = coalesce(var.lambda_zip, "${path.root}/../../../../target/lambda/bootstrap/bootstrap.zip")
  architecture              = "arm64"
  management_key_secret_arn = var.management_key_secret_arn
  rotated_secret_ids        = [var.app_secret_arn]
  schedule_expression       = "rate(30 days)"
  rotation_window           = "2h"
  policy = {
    grace_period = "2h"
    test_mode    = "auth"
  }
}

output "function_arn" {
  value = module.rotor.function_arn
}

output "role_name" {
  value = module.rotor.role_name
}
