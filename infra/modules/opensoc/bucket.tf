# The lake bucket. Layout (local.prefix):
#   lake/<table>/      the Delta tables (flows, packets, dns, http, tls, logs,
#                      findings, intel, quarantine)
#   segments/          claim-check packet segments PUT by the sensors
#   carve/             carve outputs behind presigned URLs
#   geoip/             MaxMind databases the ingest function reads
#   intel/             threat-intel files for s3:// feeds
#   athena/            Athena query results
#   artifacts/         the functions' zips (Lambda reads them from here)

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles the lake's storage bill; it is the deployer's choice, made outside this module.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: the stream carries claims for new segments, and Delta readers follow the transaction log.
  #checkov:skip=CKV_AWS_18:Access logging is enabled by var.access_log_bucket (an existing log bucket of the deployer's); the module cannot create the log bucket without logging it too.
  bucket        = local.bucket
  force_destroy = var.force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    # One data key per bucket instead of a KMS call per object: a busy lake
    # writes thousands of small objects an hour.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "lake" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.lake.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3-access/${local.bucket}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  # Segments are copied into the packets table by ingest; they only need to
  # outlive a replay of the stream.
  rule {
    id     = "segments-expire"
    status = "Enabled"
    filter {
      prefix = local.prefix.segments
    }
    expiration {
      days = var.segments_expiration_days
    }
  }

  # Packets are most of the lake's bytes: their replaced versions (after
  # compaction, retention, vacuum) go sooner than the other tables'.
  rule {
    id     = "packets-old-versions"
    status = "Enabled"
    filter {
      prefix = "${local.prefix.lake}packets/"
    }
    noncurrent_version_expiration {
      noncurrent_days = var.packets_noncurrent_expiration_days
    }
  }

  # Months-old partitions are read rarely; Intelligent-Tiering moves each
  # file to its cheaper tiers after 30 and 90 days unread, back on a read.
  rule {
    id     = "lake-intelligent-tiering"
    status = var.lake_tiering_days == null ? "Disabled" : "Enabled"
    filter {
      prefix = local.prefix.lake
    }
    transition {
      days          = coalesce(var.lake_tiering_days, 30)
      storage_class = "INTELLIGENT_TIERING"
    }
  }

  rule {
    id     = "carve-outputs-expire"
    status = "Enabled"
    filter {
      prefix = local.prefix.carve
    }
    expiration {
      days = var.carve_expiration_days
    }
  }

  rule {
    id     = "athena-results-expire"
    status = "Enabled"
    filter {
      prefix = local.prefix.athena
    }
    expiration {
      days = 7
    }
  }

  # The lake's own retention is Delta's (opensoc maintain deletes partitions
  # and vacuums); S3 only drops the versions vacuum left behind, and
  # unfinished multipart uploads of crashed writers.
  rule {
    id     = "old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.lake]
}

# TLS 1.2 or later only, for everyone.
data "aws_iam_policy_document" "lake_bucket" {
  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = data.aws_iam_policy_document.lake_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.lake]
}
