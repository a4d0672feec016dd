output "function_arn" {
  description = "The rotation function (RotationLambdaARN)."
  value       = aws_lambda_function.rotor.arn
}

output "function_name" {
  description = "The rotation function's name."
  value       = aws_lambda_function.rotor.function_name
}

output "role_arn" {
  description = "The function's execution role."
  value       = aws_iam_role.rotor.arn
}

output "role_name" {
  description = "The function's execution role (attach extra policies to it by name)."
  value       = aws_iam_role.rotor.name
}

output "log_group_name" {
  description = "The function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.rotor.name
}
