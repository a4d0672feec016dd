# rotor: the Secrets Manager rotation Lambda for OpenRouter keys, with a least-privilege role, the
# permission for Secrets Manager, log retention, an error alarm and rotation schedules.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  management_key_secret_id = var.management_key_field == "" ? var.management_key_secret_arn : "${var.management_key_secret_arn}#${var.management_key_field}"
  environment = { for k, v in {
    OPENROUTER_MANAGEMENT_KEY_SECRET_ID = local.management_key_secret_id
    OPENROUTER_BASE_URL                 = var.openrouter_base_url
    ROTOR_GRACE_PERIOD                  = var.policy.grace_period
    ROTOR_LIMIT                         = var.policy.limit
    ROTOR_LIMIT_RESET                   = var.policy.limit_reset
    ROTOR_EXPIRES_AFTER                 = var.policy.expires_after
    ROTOR_TEST_MODE                     = var.policy.test_mode
    ROTOR_NAME_TEMPLATE                 = var.policy.name_template
    ROTOR_OBSERVATION_WINDOW            = var.policy.observation_window
    ROTOR_DISABLE_FIRST                 = var.policy.disable_first
    ROTOR_DISABLE_DELAY                 = var.policy.disable_delay
    ROTOR_MAX_RETIREMENT_WAIT           = var.policy.max_retirement_wait
    RUST_LOG                            = "info"
  } : k => v if v != "" }
}

resource "aws_cloudwatch_log_group" "rotor" {
  # checkov:skip=CKV_AWS_158:The logs never contain key material (secret ids, version ids, key hashes only); default CloudWatch Logs encryption is enough.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "rotation" {
  statement {
    sid = "RotateTheRotatedSecretsOnly"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = var.rotated_secret_arn_patterns
  }
  statement {
    sid       = "ReadTheManagementKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.management_key_secret_arn]
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.rotor.arn}:*"]
  }
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseTheCustomerKeyForSecretsManagerOnly"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:SecretARN"
        values   = var.rotated_secret_arn_patterns
      }
    }
  }
}

resource "aws_iam_role" "rotor" {
  name               = "${var.name}-rotation"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "rotor" {
  name   = "rotor-rotation"
  role   = aws_iam_role.rotor.id
  policy = data.aws_iam_policy_document.rotation.json
}

resource "aws_lambda_function" "rotor" {
  # checkov:skip=CKV_AWS_117:The function must reach api.openrouter.ai on the internet; outside a VPC it needs no NAT gateway.
  # checkov:skip=CKV_AWS_116:Secrets Manager invokes the function synchronously and retries the rotation itself; a DLQ would never receive anything.
  # checkov:skip=CKV_AWS_173:The environment holds no secret (the management-key secret's ARN, URLs, policy settings).
  # checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; the zip is built from source by cargo lambda.
  # checkov:skip=CKV_AWS_50:X-Ray tracing adds cost and nothing a rotation needs; the JSON logs carry secret, step, token and duration.
  function_name                  = var.name
  description                    = "rotor OpenRouter key rotation for Secrets Manager"
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = 128
  timeout                        = 60
  reserved_concurrent_executions = 5
  role                           = aws_iam_role.rotor.arn
  tags                           = var.tags

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.rotor.name
  }

  environment {
    variables = local.environment
  }
}

resource "aws_lambda_permission" "secretsmanager" {
  statement_id   = "AllowSecretsManager"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.rotor.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "rotor rotation function reported errors; search its log group for \"rotation step failed\"."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.rotor.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}

resource "aws_secretsmanager_secret_rotation" "rotor" {
  for_each            = toset(var.rotated_secret_ids)
  secret_id           = each.value
  rotation_lambda_arn = aws_lambda_function.rotor.arn
  rotate_immediately  = false
  rotation_rules {
    schedule_expression = var.schedule_expression
    duration            = var.rotation_window
  }
  depends_on = [aws_lambda_permission.secretsmanager]
}

resource "aws_cloudwatch_event_rule" "retire" {
  for_each            = var.retire_schedule_expression == null ? toset([]) : toset(var.rotated_secret_ids)
  name                = "${var.name}-retire-${substr(sha256(each.value), 0, 8)}"
  description         = "rotor scheduled retirement of drained keys"
  schedule_expression = var.retire_schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "retire" {
  for_each = aws_cloudwatch_event_rule.retire
  rule     = each.value.name
  arn      = aws_lambda_function.rotor.arn
  input    = jsonencode({ rotor = "retire", SecretId = each.key })
}

resource "aws_lambda_permission" "retire" {
  for_each      = aws_cloudwatch_event_rule.retire
  statement_id  = "AllowRetireSchedule-${substr(sha256(each.key), 0, 8)}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.rotor.function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value.arn
}
