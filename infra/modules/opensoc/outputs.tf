output "stream_name" {
  description = "The Kinesis stream sensors write to (opensoc-sensor --stream, or [stream] name in its config)."
  value       = aws_kinesis_stream.this.name
}

output "stream_arn" {
  description = "ARN of the stream."
  value       = aws_kinesis_stream.this.arn
}

output "bucket_name" {
  description = "The lake bucket."
  value       = aws_s3_bucket.lake.id
}

output "bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.lake.arn
}

output "lake_uri" {
  description = "The lake root every tool takes (opensoc query --lake, OPENSOC_LAKE, Spark/Polars/DuckDB paths): s3://BUCKET/lake."
  value       = local.lake_uri
}

output "geoip_uri" {
  description = "Where to upload the MaxMind databases (aws s3 cp GeoLite2-City.mmdb …); null when GeoIP is off."
  value       = var.geoip_prefix == null ? null : "s3://${local.bucket}/${var.geoip_prefix}"
}

output "kms_key_arn" {
  description = "The key that encrypts the stream, the bucket, the logs and the queues (created, or var.kms_key_arn)."
  value       = local.kms_key_arn
}

output "function_names" {
  description = "Deployed function names by role (ingest, maintain, and query / carve / webhook when their zips were packaged)."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "function_arns" {
  description = "Deployed function ARNs by role."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "function_urls" {
  description = "HTTPS endpoints of query and carve (AWS_IAM auth: sign requests with SigV4, service lambda), by function."
  value       = { for k, u in aws_lambda_function_url.this : k => u.function_url }
}

output "webhook_url" {
  description = "The webhook's HTTPS endpoint (POST {url}ingest/SOURCE with the shared secret or an HMAC signature), or null when the webhook is not deployed."
  value       = length(aws_lambda_function_url.webhook) > 0 ? aws_lambda_function_url.webhook[0].function_url : null
}

output "sensor_policy_arn" {
  description = "IAM policy to attach to the sensors' role or user: put records on the stream and claim-check segments."
  value       = aws_iam_policy.sensor.arn
}

output "sensor_config" {
  description = "An opensoc-sensor configuration for this deployment (add [[capture]], [syslog] and [[tail]] sections)."
  value       = <<-EOT
    [stream]
    name = "${aws_kinesis_stream.this.name}"

    [claim_check]
    bucket = "${aws_s3_bucket.lake.id}"
    prefix = "${local.prefix.segments}"
  EOT
}

output "glue_database" {
  description = "The Glue database holding one table per Delta table (Athena: SELECT … FROM <database>.flows)."
  value       = var.enable_catalog ? aws_glue_catalog_database.this[0].name : null
}

output "athena_workgroup" {
  description = "The Athena workgroup to run queries in (results encrypted, scans capped)."
  value       = var.enable_catalog ? aws_athena_workgroup.this[0].name : null
}

output "alarm_topic_arn" {
  description = "The SNS topic the alarms notify: subscribe an email, chat or pager endpoint."
  value       = local.alarm_topic_arn
}

output "ingest_failures_queue_url" {
  description = "Batches ingest gave up on (shard and sequence range), to replay."
  value       = aws_sqs_queue.ingest_failures.id
}

output "dead_letters_queue_url" {
  description = "Scheduled or asynchronous invocations that failed for good."
  value       = aws_sqs_queue.dead_letters.id
}
