# One role per function, each with only what that function does. No
# wildcard actions; resources are the bucket's prefixes, the stream, the key,
# the queues and the function's own log group. X-Ray's two write actions are
# the only ones on "*": X-Ray has no resource-level permissions.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.deployed

  name                 = "${var.name}-${each.key}"
  description          = "OpenSOC ${each.key} function"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

locals {
  lake_objects     = "${local.bucket_arn}/${local.prefix.lake}*"
  segment_objects  = "${local.bucket_arn}/${local.prefix.segments}*"
  carve_objects    = "${local.bucket_arn}/${local.prefix.carve}*"
  geoip_objects    = "${local.bucket_arn}/${local.prefix.geoip}*"
  intel_objects    = "${local.bucket_arn}/${local.prefix.intel}*"
  carve_audit_objs = "${local.bucket_arn}/${local.prefix.lake}carve_audit/*"
  workflow_objs    = "${local.bucket_arn}/${local.prefix.lake}finding_events/*"
  # The OCSF export's destination (e.g. Security Lake's custom-source prefix).
  ocsf_export_objs = var.ocsf_export_uri == null ? [] : ["arn:aws:s3:::${trimsuffix(trimprefix(var.ocsf_export_uri, "s3://"), "/")}/*"]
  delta_log_objs   = "${local.bucket_arn}/${local.prefix.lake}*/_delta_log/*"

  # What each function may do, as policy statements (sid, actions,
  # resources, and an optional s3:prefix condition for ListBucket).
  function_statements = {
    ingest = [
      { sid = "ReadTheStream", actions = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:SubscribeToShard"], resources = [aws_kinesis_stream.this.arn], prefixes = [] },
      { sid = "ReadAndAppendTheLake", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.lake_objects], prefixes = [] },
      # delta-rs drops transaction-log entries older than the log retention
      # when it writes a checkpoint after a commit; nothing else is deleted.
      { sid = "ExpireOldLogEntries", actions = ["s3:DeleteObject"], resources = [local.delta_log_objs], prefixes = [] },
      { sid = "ListTheLake", actions = ["s3:ListBucket"], resources = [local.bucket_arn], prefixes = [local.prefix.lake, local.prefix.geoip] },
      { sid = "ReadSegmentsAndGeoip", actions = ["s3:GetObject"], resources = [local.segment_objects, local.geoip_objects], prefixes = [] },
      { sid = "ReportFailedBatches", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.ingest_failures.arn, aws_sqs_queue.dead_letters.arn], prefixes = [] },
    ]
    maintain = [
      { sid = "RewriteTheLake", actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = [local.lake_objects], prefixes = [] },
      { sid = "ListTheLake", actions = ["s3:ListBucket"], resources = [local.bucket_arn], prefixes = [local.prefix.lake, local.prefix.intel] },
      { sid = "ReadIntelFiles", actions = ["s3:GetObject"], resources = concat([local.intel_objects], [for b in var.intel_bucket_arns : "${b}/*"]), prefixes = [] },
      { sid = "KeepFailedRuns", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.dead_letters.arn], prefixes = [] },
    ]
    query = [
      { sid = "ReadTheLake", actions = ["s3:GetObject"], resources = [local.lake_objects], prefixes = [] },
      # The alert workflow: analysts' changes are appended to finding_events.
      { sid = "AppendTheAlertWorkflow", actions = ["s3:PutObject"], resources = [local.workflow_objs], prefixes = [] },
      { sid = "ListTheLake", actions = ["s3:ListBucket"], resources = [local.bucket_arn], prefixes = [local.prefix.lake] },
      { sid = "KeepFailedRuns", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.dead_letters.arn], prefixes = [] },
    ]
    webhook = [
      { sid = "PutEventsOnTheStream", actions = ["kinesis:PutRecords", "kinesis:PutRecord"], resources = [aws_kinesis_stream.this.arn], prefixes = [] },
      { sid = "KeepFailedRuns", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.dead_letters.arn], prefixes = [] },
    ]
    carve = [
      { sid = "ReadTheLake", actions = ["s3:GetObject"], resources = [local.lake_objects], prefixes = [] },
      { sid = "AppendTheCarveAudit", actions = ["s3:PutObject"], resources = [local.carve_audit_objs], prefixes = [] },
      { sid = "WriteAndShareCarves", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.carve_objects], prefixes = [] },
      { sid = "ListTheLake", actions = ["s3:ListBucket"], resources = [local.bucket_arn], prefixes = [local.prefix.lake, local.prefix.carve] },
      { sid = "KeepFailedRuns", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.dead_letters.arn], prefixes = [] },
    ]
  }
}

data "aws_iam_policy_document" "function" {
  for_each = local.deployed

  dynamic "statement" {
    for_each = local.function_statements[each.key]
    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = length(statement.value.prefixes) > 0 ? [1] : []
        content {
          test     = "StringLike"
          variable = "s3:prefix"
          values   = flatten([for p in statement.value.prefixes : [p, "${p}*"]])
        }
      }
    }
  }

  # Every function reads and writes encrypted objects, records and messages.
  statement {
    sid       = "UseTheKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "WriteTraces"
    effect    = "Allow"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.deployed

  name   = "${var.name}-${each.key}"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

# What a sensor needs (attach it to the sensor host's role or user): put
# records on the stream, put claim-check segments, and encrypt both.
data "aws_iam_policy_document" "sensor" {
  statement {
    sid       = "WriteTheStream"
    effect    = "Allow"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary", "kinesis:ListShards"]
    resources = [aws_kinesis_stream.this.arn]
  }

  statement {
    sid       = "PutSegments"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.segment_objects]
  }

  statement {
    sid       = "EncryptRecordsAndSegments"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_policy" "sensor" {
  name        = "${var.name}-sensor"
  description = "OpenSOC sensor: write the ${var.name} stream and claim-check segments"
  policy      = data.aws_iam_policy_document.sensor.json
  tags        = local.tags
}

# The OCSF export, when configured: the maintain role writes the export and
# reads back its own state file, under the destination prefix only.
data "aws_iam_policy_document" "ocsf_export" {
  count = length(local.ocsf_export_objs) > 0 && contains(keys(local.deployed), "maintain") ? 1 : 0

  statement {
    sid       = "WriteTheOcsfExport"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = local.ocsf_export_objs
  }
}

resource "aws_iam_role_policy" "ocsf_export" {
  count = length(data.aws_iam_policy_document.ocsf_export)

  name   = "${var.name}-maintain-ocsf-export"
  role   = aws_iam_role.function["maintain"].id
  policy = data.aws_iam_policy_document.ocsf_export[0].json
}
