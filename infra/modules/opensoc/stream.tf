# The stream the sensors write to (opensoc-sensor, or any producer: records
# without the OpenSOC envelope are taken as log lines).

resource "aws_kinesis_stream" "this" {
  name             = var.name
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.stream_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = local.kms_key_arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  shard_level_metrics = ["IncomingBytes", "IncomingRecords", "IteratorAgeMilliseconds", "WriteProvisionedThroughputExceeded"]

  tags = local.tags
}
