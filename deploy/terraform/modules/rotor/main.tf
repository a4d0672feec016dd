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
    RUST_LOG                            = local.rust_log[var.application_log_level]
  } : k => v if v != "" }

  # Lambda's application log level (logging_config) as rotor's RUST_LOG, so the function does not
  # even format the lines Lambda would drop.
  rust_log = { TRACE = "trace", DEBUG = "debug", INFO = "info", WARN = "warn", ERROR = "error", FATAL = "error" }

  region = data.aws_region.current.region
  # Built from the name, not the resource: the role's policy would otherwise depend on the function.
  function_arn = "arn:${data.aws_partition.current.partition}:lambda:${local.region}:${data.aws_caller_identity.current.account_id}:function:${var.name}"
  rotated_secret_arn_patterns = var.rotated_secret_arn_patterns != null ? var.rotated_secret_arn_patterns : [
    "arn:${data.aws_partition.current.partition}:secretsmanager:${local.region}:${data.aws_caller_identity.current.account_id}:secret:*",
  ]
  in_vpc = length(var.subnet_ids) > 0
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
    resources = local.rotated_secret_arn_patterns
    # Only secrets whose rotation function is this one (SAM's SecretsManagerRotationPolicy).
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:resource/AllowRotationLambdaArn"
      values   = [local.function_arn]
    }
  }
  statement {
    sid       = "ReadTheManagementKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.management_key_secret_arn]
  }
  dynamic "statement" {
    for_each = var.management_key_kms_key_arn == null ? [] : [var.management_key_kms_key_arn]
    content {
      sid       = "DecryptTheManagementKeyViaSecretsManagerOnly"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:SecretARN"
        values   = [var.management_key_secret_arn]
      }
    }
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.rotor.arn}:*"]
  }
  # Through Secrets Manager only, so bounded by the conditioned statement above.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseTheCustomerKeyForSecretsManagerOnly"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:SecretARN"
        values   = local.rotated_secret_arn_patterns
      }
    }
  }
}

resource "aws_iam_role" "rotor" {
  name                 = "${var.name}-rotation"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

# In a VPC the function needs to manage its network interfaces (AWS's managed policy for it).
resource "aws_iam_role_policy_attachment" "vpc" {
  count      = local.in_vpc ? 1 : 0
  role       = aws_iam_role.rotor.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy" "rotor" {
  name   = "rotor-rotation"
  role   = aws_iam_role.rotor.id
  policy = data.aws_iam_policy_document.rotation.json
}

resource "aws_lambda_function" "rotor" {
  # checkov:skip=CKV_AWS_117:The function must reach api.openrouter.ai on the internet; outside a VPC it needs no NAT gateway. Set subnet_ids to run it in a VPC with egress.
  # checkov:skip=CKV_AWS_116:Secrets Manager invokes the function synchronously and retries the rotation itself; a DLQ would never receive anything.
  # checkov:skip=CKV_AWS_173:The environment holds no secret (the management-key secret's ARN, URLs, policy settings).
  # checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; the zip is built from source by cargo lambda.
  # checkov:skip=CKV_AWS_50:X-Ray tracing adds cost and nothing a rotation needs; the JSON logs carry secret, step, token and duration.
  function_name = var.name
  description   = "rotor OpenRouter key rotation for Secrets Manager"
  # The package: a local zip (lambda_zip) or an object in S3 (s3_bucket, s3_key).
  filename          = var.lambda_zip
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = var.lambda_zip != null ? filebase64sha256(var.lambda_zip) : var.source_code_hash
  handler           = "bootstrap"
  runtime           = "provided.al2023"
  architectures     = [var.architecture]
  memory_size       = 128
  timeout           = 60
  # null (the default): no reserved concurrency, the account's unreserved pool.
  reserved_concurrent_executions = var.reserved_concurrency
  role                           = aws_iam_role.rotor.arn
  tags                           = var.tags

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.rotor.name
    application_log_level = var.application_log_level
    system_log_level      = "INFO"
  }

  environment {
    variables = local.environment
  }

  depends_on = [aws_iam_role_policy_attachment.vpc]

  lifecycle {
    precondition {
      condition     = (var.lambda_zip != null) != (var.s3_bucket != null && var.s3_key != null)
      error_message = "Set lambda_zip, or s3_bucket and s3_key, not both."
    }
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
