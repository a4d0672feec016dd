variable "name" {
  description = "Name of the function and prefix of its resources."
  type        = string
  default     = "rotor"
}

variable "lambda_zip" {
  description = "Path of bootstrap.zip (cargo lambda build --release --arm64 --output-format zip -p rotor-aws --bin bootstrap)."
  type        = string
}

variable "architecture" {
  description = "arm64 or x86_64 (must match the zip)."
  type        = string
  default     = "arm64"
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
  description = "ARN patterns of the secrets the function may rotate (least privilege)."
  type        = list(string)
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
