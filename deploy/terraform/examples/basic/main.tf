# A minimal deployment: the management key in one secret, the application's key in another
# (created first with `rotor init aws://openrouter/prod-app`), rotated every 30 days.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
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

variable "app_secret_arn" {
  description = "The application's secret, created by `rotor init aws://openrouter/prod-app`."
  type        = string
}

module "rotor" {
  source = "../../modules/rotor"

  name                        = "rotor"
  lambda_zip                  = "${path.root}/../../../../target/lambda/bootstrap/bootstrap.zip"
  management_key_secret_arn   = var.management_key_secret_arn
  rotated_secret_arn_patterns = [var.app_secret_arn]
  rotated_secret_ids          = [var.app_secret_arn]
  schedule_expression         = "rate(30 days)"
  rotation_window             = "2h"
  policy = {
    grace_period = "2h"
    test_mode    = "auth"
  }
}

output "function_arn" {
  value = module.rotor.function_arn
}
