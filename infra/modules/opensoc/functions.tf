# The Lambda functions (provided.al2023, zips from scripts/package), their
# log groups, the Kinesis event source mapping of ingest, the function URLs
# of query and carve, and the queues that keep what failed.

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.deployed

  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

# The zips go through the bucket: Lambda takes at most 50 MB uploaded
# directly, and ours are larger (the Delta, DataFusion and AWS SDK stack).
# One key per function in the versioned bucket; each function pins the
# version it runs, and replaced versions expire with the bucket's rule.
resource "aws_s3_object" "artifact" {
  for_each = local.deployed

  bucket      = aws_s3_bucket.lake.id
  key         = "${local.prefix.artifacts}${each.value.binary}.zip"
  source      = "${var.artifacts_dir}/${each.value.binary}.zip"
  source_hash = filemd5("${var.artifacts_dir}/${each.value.binary}.zip")
  kms_key_id  = local.kms_key_arn
  tags        = local.tags

  depends_on = [aws_s3_bucket_versioning.lake, aws_s3_bucket_server_side_encryption_configuration.lake]
}

resource "aws_lambda_function" "this" {
  for_each = local.deployed
  #checkov:skip=CKV_AWS_117:The functions reach only S3, Kinesis and KMS over TLS with IAM auth; a VPC would add NAT or endpoint costs and no protection the bucket policy does not give.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile of the deployer's; the zips' SHA-256 are pinned through source_code_hash and listed in dist/lambda/manifest.json.

  function_name    = "${var.name}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  s3_bucket         = aws_s3_object.artifact[each.key].bucket
  s3_key            = aws_s3_object.artifact[each.key].key
  s3_object_version = aws_s3_object.artifact[each.key].version_id
  source_code_hash  = filebase64sha256("${var.artifacts_dir}/${each.value.binary}.zip")
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = [var.lambda_architecture]
  memory_size      = lookup(var.memory_mb, each.key, 2048)
  timeout          = each.value.timeout
  kms_key_arn      = local.kms_key_arn

  reserved_concurrent_executions = lookup(var.reserved_concurrency, each.key, -1)

  layers = each.key == "ingest" && var.rules_layer_arn != null ? [var.rules_layer_arn] : []

  # Scratch space: maintain rewrites partitions, carve assembles captures.
  ephemeral_storage {
    size = each.key == "maintain" || each.key == "carve" ? 4096 : 512
  }

  environment {
    variables = each.value.env
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # Asynchronous invocations that fail (the schedules' maintain runs) are kept.
  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letters.arn
  }

  # The functions log JSON lines already; Lambda's own lines become JSON too.
  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.function]
}

# Ingest reads the stream. A failing batch is halved until the bad record is
# alone (bisect), records already committed are reported by sequence number
# (ReportBatchItemFailures: ingest commits exactly once, so a retry re-sends
# nothing twice), and a batch that keeps failing is described on the
# on-failure queue (shard and sequence range, to replay it).
resource "aws_lambda_event_source_mapping" "ingest" {
  event_source_arn  = aws_kinesis_stream.this.arn
  function_name     = aws_lambda_function.this["ingest"].arn
  starting_position = var.ingest_starting_position

  batch_size                         = var.ingest_batch_size
  maximum_batching_window_in_seconds = var.ingest_batching_window_seconds

  # One batch per shard at a time: ingest's exactly-once checkpoint is the
  # shard's last sequence number, committed with the data, which concurrent
  # batches of one shard would leapfrog. Scale with shards instead.
  parallelization_factor = 1

  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.ingest_maximum_retry_attempts
  function_response_types        = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.ingest_failures.arn
    }
  }

  depends_on = [aws_iam_role_policy.function]
}

resource "aws_sqs_queue" "ingest_failures" {
  name                      = "${var.name}-ingest-failures"
  kms_master_key_id         = local.kms_key_arn
  message_retention_seconds = 1209600
  tags                      = local.tags
}

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  kms_master_key_id         = local.kms_key_arn
  message_retention_seconds = 1209600
  tags                      = local.tags
}

# EventBridge puts a schedule's event here when it cannot invoke maintain.
data "aws_iam_policy_document" "dead_letters" {
  statement {
    sid       = "SchedulesKeepFailedInvocations"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for r in aws_cloudwatch_event_rule.schedule : r.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy    = data.aws_iam_policy_document.dead_letters.json
}

# Query and carve over HTTPS: SigV4-signed requests only.
resource "aws_lambda_function_url" "this" {
  for_each = local.url_functions

  function_name      = aws_lambda_function.this[each.key].function_name
  authorization_type = "AWS_IAM"
  invoke_mode        = "BUFFERED"
}

locals {
  url_grants = {
    for pair in setproduct(tolist(local.url_functions), var.investigator_principal_arns) :
    "${pair[0]}|${pair[1]}" => { function = pair[0], principal = pair[1] }
  }
}

resource "aws_lambda_permission" "url" {
  for_each = local.url_grants

  statement_id           = "url-${substr(sha256(each.key), 0, 16)}"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this[each.value.function].function_name
  principal              = each.value.principal
  function_url_auth_type = "AWS_IAM"
}

# The webhook over HTTPS for producers that cannot sign SigV4 (GitHub, SaaS
# audit feeds): the function checks the shared secret or the body's
# HMAC-SHA256 signature before it reads or stores anything.
resource "aws_lambda_function_url" "webhook" {
  #checkov:skip=CKV_AWS_258:Webhook producers cannot sign SigV4; every request is authenticated by the function (HMAC-SHA256 of the body or the shared secret, constant-time) before anything is read or stored.
  count = contains(keys(local.deployed), "webhook") ? 1 : 0

  function_name      = aws_lambda_function.this["webhook"].function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "webhook_url" {
  #checkov:skip=CKV_AWS_301:The webhook URL is public by design (see aws_lambda_function_url.webhook); the permission allows only InvokeFunctionUrl with auth type NONE.
  count = length(aws_lambda_function_url.webhook)

  statement_id           = "webhook-url"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this["webhook"].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# Function URLs created since October 2025 also need lambda:InvokeFunction
# for the caller (limited here to calls made through the URL).
resource "aws_lambda_permission" "url_invoke" {
  for_each = local.url_grants

  statement_id             = "url-invoke-${substr(sha256(each.key), 0, 16)}"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this[each.value.function].function_name
  principal                = each.value.principal
  invoked_via_function_url = true
}
