output "function_arn" {
  description = "The rotation function (RotationLambdaARN)."
  value       = aws_lambda_function.rotor.arn
}

output "role_arn" {
  value = aws_iam_role.rotor.arn
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.rotor.name
}
