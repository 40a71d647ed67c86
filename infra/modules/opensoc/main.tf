# OpenSOC on AWS: the stream the sensors write to, the lake bucket, the
# functions that fill and serve it, and the catalog that lets Athena read it.
# One file per concern: kms.tf, stream.tf, bucket.tf, functions.tf, iam.tf,
# schedules.tf, alarms.tf, catalog.tf; outputs.tf; variables.tf.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region

  bucket     = coalesce(var.bucket_name, "${var.name}-lake-${local.account}-${local.region}")
  bucket_arn = "arn:${local.partition}:s3:::${local.bucket}"

  # Where everything lives in the bucket. The lake's tables are folders
  # under lake/ (lake/flows/, lake/packets/, …).
  prefix = {
    lake      = "lake/"
    segments  = "segments/"
    carve     = "carve/"
    geoip     = coalesce(var.geoip_prefix, "geoip/")
    intel     = "intel/"
    athena    = "athena/"
    artifacts = "artifacts/"
  }
  lake_uri = "s3://${local.bucket}/${trimsuffix(local.prefix.lake, "/")}"

  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn

  common_env = merge(
    { OPENSOC_LAKE = local.lake_uri },
    var.log_level == null ? {} : { RUST_LOG = var.log_level },
  )

  # The query and carve functions share one HTTP router and its settings
  # (crates/web/src/env.rs): the page of the query function shows the carve
  # limits, and the carve function answers its own large carves with
  # presigned URLs to carve/.
  web_env = {
    OPENSOC_QUERY_TIMEOUT_SECONDS = tostring(var.query_limits.timeout_seconds)
    OPENSOC_QUERY_MAX_ROWS        = tostring(var.query_limits.max_rows)
    OPENSOC_QUERY_MEMORY_MIB      = tostring(var.query_limits.memory_mib)
    OPENSOC_CARVE_MAX_PACKETS     = tostring(var.carve_limits.max_packets)
    OPENSOC_CARVE_MAX_MIB         = tostring(var.carve_limits.max_mib)
    OPENSOC_CARVE_MAX_SPAN_HOURS  = tostring(var.carve_limits.max_span_hours)
    OPENSOC_CARVE_INLINE_KIB      = tostring(var.carve_limits.inline_kib)
    OPENSOC_CARVE_OUTPUT          = "s3://${local.bucket}/${local.prefix.carve}"
    OPENSOC_CARVE_URL_SECONDS     = tostring(var.carve_presign_expiry_seconds)
    OPENSOC_INVESTIGATORS         = join(",", var.investigator_principal_arns)
    # Behind one signing proxy in front of both functions (docs/deploy.md),
    # the page's carve requests go to the same origin.
    OPENSOC_CARVE_URL = "/api/carve"
  }

  # Every function: its binary (the zip scripts/package writes), timeout and
  # environment. A function is deployed when its zip is in artifacts_dir.
  functions = {
    ingest = {
      binary      = "opensoc-ingest"
      description = "OpenSOC ingest: Kinesis records into the Delta lake, enriched and scored, exactly once per shard"
      timeout     = 300
      env = merge(local.common_env,
        var.geoip_prefix == null ? {} : { OPENSOC_GEOIP = "s3://${local.bucket}/${var.geoip_prefix}" },
        var.rules_layer_arn == null ? {} : { OPENSOC_RULES = "/opt/rules" },
        {
          OPENSOC_NO_BUILTIN_RULES  = var.no_builtin_rules ? "1" : "0"
          OPENSOC_SCORE_AGGREGATION = var.score_aggregation
          OPENSOC_NO_SCORING        = var.model_scoring ? "0" : "1"
        },
      )
    }
    maintain = {
      binary      = "opensoc-maintain"
      description = "OpenSOC maintain: retention, compaction, checkpoints and vacuum of the lake; threat-intel sync; model training"
      timeout     = 900
      env = merge(local.common_env, {
        OPENSOC_INTEL_FEEDS     = jsonencode(var.intel_feeds)
        OPENSOC_RETENTION       = join(",", [for t, d in var.retention_days : "${t}=${d}"])
        OPENSOC_VACUUM_HOURS    = tostring(var.vacuum_hours)
        OPENSOC_TARGET_FILE_MIB = tostring(var.target_file_mib)
        OPENSOC_ZORDER_MAX_MIB  = tostring(var.zorder_max_partition_mib)
        OPENSOC_OCSF_EXPORT     = var.ocsf_export_uri == null ? "" : var.ocsf_export_uri
        OPENSOC_ACCOUNT_ID      = local.account
        # The behavioural model: days learned from, and its settings.
        OPENSOC_MODEL_WINDOW_DAYS = tostring(var.model_window_days)
        OPENSOC_MODEL_SETTINGS    = jsonencode(var.model_settings)
      })
    }
    query = {
      binary      = "opensoc-query"
      description = "OpenSOC query: read-only SQL over the lake and the investigator's page"
      timeout     = 60
      env         = merge(local.common_env, local.web_env)
    }
    carve = {
      binary      = "opensoc-carve"
      description = "OpenSOC carve: PCAP of a flow, host or time range from the packets table"
      timeout     = 120
      env         = merge(local.common_env, local.web_env)
    }
    # The webhook never touches the lake: events go onto the stream, and
    # reach the lake through ingest like every other log line.
    webhook = {
      binary      = "opensoc-webhook"
      description = "OpenSOC webhook: JSON events from any producer, checked by HMAC or shared secret, onto the stream"
      timeout     = 30
      env = merge(
        var.log_level == null ? {} : { RUST_LOG = var.log_level },
        {
          OPENSOC_STREAM               = aws_kinesis_stream.this.name
          OPENSOC_WEBHOOK_SECRET       = var.webhook_secret == null ? "" : var.webhook_secret
          OPENSOC_WEBHOOK_MAX_BODY_KIB = tostring(var.webhook_max_body_kib)
          OPENSOC_WEBHOOK_NAME         = "${var.name}-webhook"
        },
      )
    }
  }
  # A function is deployed when its zip is in artifacts_dir (the webhook
  # also needs its secret).
  deployed = {
    for k, f in local.functions : k => f
    if fileexists("${var.artifacts_dir}/${f.binary}.zip") && (k != "webhook" || var.webhook_secret != null)
  }

  # The functions reached over HTTPS (function URLs with AWS_IAM auth).
  url_functions = toset([for k in ["query", "carve"] : k if contains(keys(local.deployed), k)])

  tags = merge({ "opensoc:deployment" = var.name }, var.tags)
}
