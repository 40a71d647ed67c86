# Alarms on what needs a person: ingest falling behind the stream, function
# errors, throttled ingest, batches given up on, failed schedule runs, and
# sensors throttled by the stream (they spool to disk, but the spool is finite).

resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_arn == null ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = local.kms_key_arn
  tags              = local.tags
}

locals {
  alarm_topic_arn = var.alarm_topic_arn != null ? var.alarm_topic_arn : aws_sns_topic.alarms[0].arn

  alarms = merge(
    {
      ingest-iterator-age = {
        description = "Ingest is more than ${var.iterator_age_alarm_ms} ms behind the stream: raise its memory or add shards."
        namespace   = "AWS/Lambda", metric = "IteratorAge", statistic = "Maximum"
        dimensions  = { FunctionName = aws_lambda_function.this["ingest"].function_name }
        threshold   = var.iterator_age_alarm_ms, periods = 3
      }
      ingest-throttles = {
        description = "Ingest invocations are throttled: its reserved concurrency is below the shard count."
        namespace   = "AWS/Lambda", metric = "Throttles", statistic = "Sum"
        dimensions  = { FunctionName = aws_lambda_function.this["ingest"].function_name }
        threshold   = 0, periods = 3
      }
      ingest-failed-batches = {
        description = "Ingest gave up on a batch: its shard and sequence range are on the ingest-failures queue, to replay."
        namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", statistic = "Maximum"
        dimensions  = { QueueName = aws_sqs_queue.ingest_failures.name }
        threshold   = 0, periods = 1
      }
      dead-letters = {
        description = "A scheduled or asynchronous invocation failed for good: see the dead-letters queue."
        namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", statistic = "Maximum"
        dimensions  = { QueueName = aws_sqs_queue.dead_letters.name }
        threshold   = 0, periods = 1
      }
      sensor-throttled = {
        description = "Sensors are throttled by the stream and spooling to disk: add shards or use ON_DEMAND."
        namespace   = "AWS/Kinesis", metric = "WriteProvisionedThroughputExceeded", statistic = "Sum"
        dimensions  = { StreamName = aws_kinesis_stream.this.name }
        threshold   = 0, periods = 3
      }
    },
    {
      for f in keys(local.deployed) : "${f}-errors" => {
        description = "The ${f} function failed; its log group says why."
        namespace   = "AWS/Lambda", metric = "Errors", statistic = "Sum"
        dimensions  = { FunctionName = aws_lambda_function.this[f].function_name }
        threshold   = 0, periods = 1
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  dimensions          = each.value.dimensions
  period              = 300
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags
}
