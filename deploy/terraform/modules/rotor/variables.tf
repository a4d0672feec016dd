variable "name" {
  description = "Name of the function and prefix of its resources."
  type        = string
  default     = "rotor"
}

variable "lambda_zip" {
  description = "Path of bootstrap.zip (a release's rotor-lambda-<version>-<arch>.zip, or cargo lambda build --profile lambda --no-default-features --arm64 --output-format zip -p rotor-aws --bin bootstrap). Exactly one of lambda_zip and s3_bucket/s3_key."
  type        = string
  default     = null
}

variable "s3_bucket" {
  description = "S3 bucket holding the function's zip (with s3_key), instead of lambda_zip. Same region as the function."
  type        = string
  default     = null
}

variable "s3_key" {
  description = "S3 key of the function's zip in s3_bucket."
  type        = string
  default     = null
}

variable "s3_object_version" {
  description = "Version of the S3 object (versioned buckets; null = latest)."
  type        = string
  default     = null
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the zip in S3 (filebase64sha256 or openssl dgst -sha256 -binary | base64): a new value redeploys the code. Ignored with lambda_zip (computed)."
  type        = string
  default     = null
}

variable "architecture" {
  description = "arm64 or x86_64 (must match the zip)."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the function (null = none reserved, the account's unreserved pool)."
  type        = number
  default     = null
}

variable "subnet_ids" {
  description = "Subnets to run the function in (empty = no VPC). They need egress to https://openrouter.ai and to Secrets Manager (NAT gateway, or a Secrets Manager VPC endpoint plus NAT)."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function in the VPC (with subnet_ids; they must allow outbound HTTPS)."
  type        = list(string)
  default     = []
}

variable "permissions_boundary" {
  description = "ARN of an IAM policy to set as the permissions boundary of the function's role (null = none)."
  type        = string
  default     = null
}

variable "application_log_level" {
  description = "Lambda logging_config application_log_level of the JSON logs (TRACE, DEBUG, INFO, WARN, ERROR, FATAL); also sets RUST_LOG. rotor never logs key material at any level."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.application_log_level)
    error_message = "application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "management_key_secret_arn" {
  description = "ARN of the secret holding the OpenRouter management key (plain key or JSON with field management_key)."
  type        = string
}

variable "management_key_field" {
  description = "JSON field of the management-key secret holding the key (empty = management_key, OPENROUTER_MANAGEMENT_KEY or api_key, or a plain value)."
  type        = string
  default     = ""
}

variable "rotated_secret_arn_patterns" {
  description = "Optional narrowing of the secrets the function may rotate. Whatever the patterns, the role only touches secrets whose rotation function is this function (condition secretsmanager:resource/AllowRotationLambdaArn). null = any secret of the account and region."
  type        = list(string)
  default     = null
}

variable "management_key_kms_key_arn" {
  description = "Customer managed KMS key of the management-key secret (null = AWS managed key, no KMS permission): kms:Decrypt via Secrets Manager for that secret only."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Customer managed KMS key of the rotated secrets (null = AWS managed key, no KMS permissions)."
  type        = string
  default     = null
}

variable "rotated_secret_ids" {
  description = "Secrets (ARN or name) to attach a rotation schedule to (made with `rotor init aws://...`)."
  type        = list(string)
  default     = []
}

variable "schedule_expression" {
  description = "Secrets Manager ScheduleExpression (rate() or cron(), at most every 4 hours)."
  type        = string
  default     = "rate(30 days)"
}

variable "rotation_window" {
  description = "Secrets Manager rotation window (duration), e.g. 2h."
  type        = string
  default     = "2h"
}

variable "retire_schedule_expression" {
  description = "EventBridge schedule invoking the function with {\"rotor\":\"retire\",...} per rotated secret: usage-aware retirement of drained old keys between rotations (null = off)."
  type        = string
  default     = null
}

variable "openrouter_base_url" {
  type    = string
  default = "https://openrouter.ai/api/v1"
}

variable "policy" {
  description = "Policy defaults (ROTOR_* variables): grace_period, limit, limit_reset, expires_after, test_mode, name_template, observation_window, disable_first, disable_delay, max_retirement_wait."
  type = object({
    grace_period  = optional(string, "2h")
    limit         = optional(string, "")
    limit_reset   = optional(string, "")
    expires_after = optional(string, "")
    test_mode     = optional(string, "auth")
    name_template = optional(string, "")
    # Usage-aware retirement (docs/lifecycle.md).
    observation_window  = optional(string, "")
    disable_first       = optional(string, "")
    disable_delay       = optional(string, "")
    max_retirement_wait = optional(string, "")
  })
  default = {}
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "alarm_actions" {
  description = "ARNs notified when the function reports errors."
  type        = list(string)
  default     = []
}

variable "tags" {
  type    = map(string)
  default = {}
}
