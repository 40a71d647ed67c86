# ---------------------------------------------------------------------------
# Naming and packaging
# ---------------------------------------------------------------------------

variable "name" {
  description = "Prefix of every resource's name (stream, bucket, functions, roles, Glue database). Lowercase letters, digits and hyphens, 3 to 24 characters, starting with a letter."
  type        = string
  default     = "opensoc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,23}$", var.name))
    error_message = "name must be 3 to 24 characters of lowercase letters, digits and hyphens, starting with a letter (it becomes part of S3 bucket and IAM role names)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "artifacts_dir" {
  description = "Folder holding the Lambda zips that scripts/package writes (opensoc-ingest.zip, opensoc-maintain.zip, and opensoc-query.zip / opensoc-carve.zip / opensoc-webhook.zip when those functions are built). A function whose zip is absent is not deployed, except ingest and maintain, which are required."
  type        = string

  validation {
    condition     = fileexists("${var.artifacts_dir}/opensoc-ingest.zip") && fileexists("${var.artifacts_dir}/opensoc-maintain.zip")
    error_message = "artifacts_dir must hold opensoc-ingest.zip and opensoc-maintain.zip: run scripts/package (it writes dist/lambda/) and point artifacts_dir at that folder."
  }
}

variable "lambda_architecture" {
  description = "CPU architecture the zips were built for: arm64 (scripts/package's default, Graviton) or x86_64 (scripts/package --x86-64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"arm64\" or \"x86_64\", matching how scripts/package built the zips."
  }
}

# ---------------------------------------------------------------------------
# Encryption
# ---------------------------------------------------------------------------

variable "kms_key_arn" {
  description = "ARN of an existing customer-managed KMS key for the stream, the bucket, the logs, the queues and the functions' environment. When null, the module creates one (with rotation) and grants the services it needs."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$", var.kms_key_arn))
    error_message = "kms_key_arn must be null (the module creates a key) or a KMS key ARN such as arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab (aliases are not accepted: IAM policies need the key ARN)."
  }
}

# ---------------------------------------------------------------------------
# Stream
# ---------------------------------------------------------------------------

variable "stream_mode" {
  description = "Kinesis capacity mode: ON_DEMAND (scales by itself; the default) or PROVISIONED (shard_count shards)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  description = "Shards of the stream when stream_mode is PROVISIONED (1 MB/s or 1,000 records/s in per shard; see docs/cost.md for sizing). Ignored for ON_DEMAND."
  type        = number
  default     = 2

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 4096 && floor(var.shard_count) == var.shard_count
    error_message = "shard_count must be a whole number from 1 to 4096."
  }
}

variable "stream_retention_hours" {
  description = "How long the stream keeps records (24 to 8760 hours). Longer retention lets ingest catch up after a longer outage."
  type        = number
  default     = 48

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be between 24 and 8760 (Kinesis' limits)."
  }
}

# ---------------------------------------------------------------------------
# Lake bucket
# ---------------------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the lake bucket. When null: <name>-lake-<account id>-<region>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete a bucket that still holds the lake. Keep false outside throw-away environments."
  type        = bool
  default     = false
}

variable "segments_expiration_days" {
  description = "Days before the sensors' claim-check packet segments (segments/) expire. Ingest copies them into the packets table within minutes; they only need to outlive a replay of the stream, so at least stream_retention_hours."
  type        = number
  default     = 3

  validation {
    condition     = var.segments_expiration_days * 24 >= var.stream_retention_hours
    error_message = "segments_expiration_days must cover stream_retention_hours: a replayed claim would point at an expired segment."
  }
}

variable "carve_expiration_days" {
  description = "Days before carve outputs (carve/) expire; presigned URLs to them stop working then."
  type        = number
  default     = 1

  validation {
    condition     = var.carve_expiration_days >= 1
    error_message = "carve_expiration_days must be at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days the bucket keeps overwritten or deleted object versions (the bucket is versioned). Vacuumed lake files stay recoverable this long."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "packets_noncurrent_expiration_days" {
  description = "Days the bucket keeps replaced or deleted versions of packets-table files (lake/packets/). Packets are most of the lake's bytes, so this is shorter than noncurrent_version_expiration_days."
  type        = number
  default     = 1

  validation {
    condition     = var.packets_noncurrent_expiration_days >= 1
    error_message = "packets_noncurrent_expiration_days must be at least 1."
  }
}

variable "lake_tiering_days" {
  description = "Days after which lake files move to S3 Intelligent-Tiering (cheaper once a file is not read for 30 days, with no retrieval fee). Null keeps them in S3 Standard."
  type        = number
  default     = 30

  validation {
    condition     = var.lake_tiering_days == null ? true : var.lake_tiering_days >= 0
    error_message = "lake_tiering_days must be null or a number of days >= 0."
  }
}

variable "access_log_bucket" {
  description = "Name of an existing bucket that receives the lake bucket's S3 server access logs (prefix s3-access/<bucket>/). Null disables access logging."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------
# Ingest
# ---------------------------------------------------------------------------

variable "ingest_batch_size" {
  description = "Most records per ingest invocation (1 to 10000). Bigger batches make fewer, larger Delta commits."
  type        = number
  default     = 1000

  validation {
    condition     = var.ingest_batch_size >= 1 && var.ingest_batch_size <= 10000
    error_message = "ingest_batch_size must be between 1 and 10000 (Lambda's limit for Kinesis)."
  }
}

variable "ingest_batching_window_seconds" {
  description = "How long Lambda gathers records before invoking ingest (0 to 300 s). Trades latency for fewer commits."
  type        = number
  default     = 10

  validation {
    condition     = var.ingest_batching_window_seconds >= 0 && var.ingest_batching_window_seconds <= 300
    error_message = "ingest_batching_window_seconds must be between 0 and 300."
  }
}

variable "ingest_starting_position" {
  description = "Where a new event source mapping starts reading: TRIM_HORIZON (everything the stream holds; the default) or LATEST."
  type        = string
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.ingest_starting_position)
    error_message = "ingest_starting_position must be TRIM_HORIZON or LATEST."
  }
}

variable "ingest_maximum_retry_attempts" {
  description = "Retries of a failing batch before its records go to the on-failure destination (-1 retries until the records expire). Bisect-on-error halves the batch at each retry, so a poison record is isolated quickly."
  type        = number
  default     = 10

  validation {
    condition     = var.ingest_maximum_retry_attempts >= -1 && var.ingest_maximum_retry_attempts <= 10000
    error_message = "ingest_maximum_retry_attempts must be between -1 (until expiry) and 10000."
  }
}

variable "geoip_prefix" {
  description = "Prefix inside the lake bucket holding the MaxMind databases (GeoLite2-City.mmdb, GeoLite2-ASN.mmdb, …). Null turns GeoIP enrichment off."
  type        = string
  default     = "geoip/"

  validation {
    condition     = var.geoip_prefix == null || can(regex("^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*/$", var.geoip_prefix))
    error_message = "geoip_prefix must be null or a relative prefix ending in \"/\", such as \"geoip/\" (no leading slash, no segment starting with a dot, so no \"..\")."
  }
}

variable "score_aggregation" {
  description = "How the scores of several rules that fire on one row combine into the triage score: max, sum or mean."
  type        = string
  default     = "max"

  validation {
    condition     = contains(["max", "sum", "mean"], var.score_aggregation)
    error_message = "score_aggregation must be max, sum or mean."
  }
}

variable "no_builtin_rules" {
  description = "Turn the built-in detection rules off (rules packaged under /opt/rules in a layer still load)."
  type        = bool
  default     = false
}

variable "rules_layer_arn" {
  description = "ARN of a Lambda layer holding your detection rules under rules/ (mounted at /opt/rules). Null: the built-in rules only."
  type        = string
  default     = null

  validation {
    condition     = var.rules_layer_arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", var.rules_layer_arn))
    error_message = "rules_layer_arn must be null or a versioned layer ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)."
  }
}

# ---------------------------------------------------------------------------
# Maintenance and intel
# ---------------------------------------------------------------------------

variable "retention_days" {
  description = "Days each table keeps, by table name, over the defaults of opensoc maintain (packets 7, quarantine 30, findings, finding_events and carve_audit 730, intel forever, every other table 365). 0 keeps a table forever."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for t, d in var.retention_days : contains(["flows", "packets", "dns", "http", "tls", "quarantine", "logs", "intel", "findings", "carve_audit", "finding_events"], t) && d >= 0 && floor(d) == d])
    error_message = "retention_days keys must be table names (flows, packets, dns, http, tls, quarantine, logs, intel, findings, carve_audit, finding_events) and values whole numbers of days >= 0."
  }
}

variable "vacuum_hours" {
  description = "Age in hours after which maintenance deletes files no longer in a table's current version. Readers and time travel older than this break; Delta's own safety floor is 168 (7 days)."
  type        = number
  default     = 168

  validation {
    condition     = var.vacuum_hours >= 24
    error_message = "vacuum_hours must be at least 24: a shorter window can delete files a running query or ingest still reads."
  }
}

variable "target_file_mib" {
  description = "Size compaction aims for, in MiB per Parquet file (16 to 1024)."
  type        = number
  default     = 128

  validation {
    condition     = var.target_file_mib >= 16 && var.target_file_mib <= 1024
    error_message = "target_file_mib must be between 16 and 1024."
  }
}

variable "zorder_max_partition_mib" {
  description = "Largest day of flows or packets the maintain function rewrites in Z-order (MiB); larger days are bin-packed instead. A Z-order needs about twice the partition in memory, so keep it under half of memory_mb[\"maintain\"]."
  type        = number
  default     = 1536

  validation {
    condition     = var.zorder_max_partition_mib >= 0 && var.zorder_max_partition_mib <= 8192
    error_message = "zorder_max_partition_mib must be between 0 (never Z-order) and 8192 (a 10 GB function's limit)."
  }
}

variable "maintain_schedule" {
  description = "EventBridge schedule expression for lake maintenance (retention, compaction, checkpoints, vacuum)."
  type        = string
  default     = "cron(30 2 * * ? *)"

  validation {
    condition     = can(regex("^(cron\\([^)]+\\)|rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\))$", var.maintain_schedule))
    error_message = "maintain_schedule must be an EventBridge expression such as \"cron(30 2 * * ? *)\" or \"rate(1 day)\"."
  }
}

variable "intel_sync_schedule" {
  description = "EventBridge schedule expression for the threat-intel feed sync."
  type        = string
  default     = "rate(1 hour)"

  validation {
    condition     = can(regex("^(cron\\([^)]+\\)|rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\))$", var.intel_sync_schedule))
    error_message = "intel_sync_schedule must be an EventBridge expression such as \"rate(1 hour)\" or \"cron(0 * * * ? *)\"."
  }
}

variable "intel_feeds" {
  description = "Threat-intel feeds the maintain function syncs into the intel table: url (https:// or s3://), source (the name findings cite), csv (true for CSV feeds). A feed whose content has not changed since its last load is not loaded again."
  type = list(object({
    url    = string
    source = string
    csv    = optional(bool, false)
  }))
  default = []

  validation {
    condition     = alltrue([for f in var.intel_feeds : can(regex("^(https://|s3://)", f.url)) && length(f.source) > 0])
    error_message = "every intel feed needs a url starting with https:// or s3:// and a non-empty source name."
  }
}

variable "intel_bucket_arns" {
  description = "ARNs of buckets other than the lake bucket that s3:// intel feeds read from (read-only access is granted to the maintain function)."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------

variable "memory_mb" {
  description = "Memory of each function in MB, by function (ingest, maintain, query, carve, webhook). CPU grows with memory: ingest at 3008 MB gets two vCPUs."
  type        = map(number)
  default = {
    ingest   = 3008
    maintain = 4096
    query    = 4096
    carve    = 2048
    webhook  = 512
  }

  validation {
    condition     = alltrue([for f, m in var.memory_mb : contains(["ingest", "maintain", "query", "carve", "webhook"], f) && m >= 512 && m <= 10240])
    error_message = "memory_mb keys must be ingest, maintain, query, carve or webhook, and values between 512 and 10240 MB (the Delta and DataFusion stack needs at least 512)."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of each function, by function. Bounds the cost of a runaway and keeps capacity for ingest. -1 leaves a function unreserved."
  type        = map(number)
  default = {
    ingest   = 50
    maintain = 2
    query    = 20
    carve    = 10
    webhook  = 20
  }

  validation {
    condition     = alltrue([for f, c in var.reserved_concurrency : contains(["ingest", "maintain", "query", "carve", "webhook"], f) && c >= -1])
    error_message = "reserved_concurrency keys must be ingest, maintain, query, carve or webhook, and values -1 (unreserved) or more."
  }
}

variable "webhook_secret" {
  description = "Shared secret of the webhook function (at least 16 characters): producers send it as a bearer token or sign bodies with it (HMAC-SHA256). Null leaves the webhook undeployed. Stored encrypted with the module's KMS key in the function's environment."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.webhook_secret == null ? true : length(var.webhook_secret) >= 16
    error_message = "webhook_secret must be at least 16 characters (or null to leave the webhook out)."
  }
}

variable "webhook_max_body_kib" {
  description = "Largest webhook request body in KiB (1 to 6000: a function URL takes at most 6 MB); gzip bodies may decompress to 8 times this."
  type        = number
  default     = 6000

  validation {
    condition     = var.webhook_max_body_kib >= 1 && var.webhook_max_body_kib <= 6000 && floor(var.webhook_max_body_kib) == var.webhook_max_body_kib
    error_message = "webhook_max_body_kib must be a whole number from 1 to 6000."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing of the functions: Active or PassThrough."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "log_level" {
  description = "RUST_LOG of every function (e.g. info, debug, opensoc_lake=debug). Null keeps each function's default (info, with the Delta libraries at warn)."
  type        = string
  default     = null
}

variable "investigator_principal_arns" {
  description = "IAM principals (roles or users) allowed to call the query and carve function URLs (AWS_IAM auth: requests must be SigV4-signed)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.investigator_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", p))])
    error_message = "investigator_principal_arns must be IAM role or user ARNs (arn:aws:iam::123456789012:role/NAME)."
  }
}

variable "carve_presign_expiry_seconds" {
  description = "Lifetime of the presigned URL of a large carve output (60 s to 7 days)."
  type        = number
  default     = 3600

  validation {
    condition     = var.carve_presign_expiry_seconds >= 60 && var.carve_presign_expiry_seconds <= 604800
    error_message = "carve_presign_expiry_seconds must be between 60 and 604800 (SigV4's 7-day limit)."
  }
}

variable "query_limits" {
  description = "Limits of one query of the query function: run time (seconds, below the function's 60 s timeout), rows returned before the answer is cut, and memory for joins, sorts and aggregates (MiB; nothing spills to disk)."
  type = object({
    timeout_seconds = optional(number, 30)
    max_rows        = optional(number, 10000)
    memory_mib      = optional(number, 1024)
  })
  default = { timeout_seconds = 30, max_rows = 10000, memory_mib = 1024 }

  validation {
    condition     = var.query_limits.timeout_seconds >= 1 && var.query_limits.timeout_seconds <= 55 && var.query_limits.max_rows >= 1 && var.query_limits.memory_mib >= 64
    error_message = "query_limits: timeout_seconds between 1 and 55 (the function stops at 60), max_rows at least 1, memory_mib at least 64."
  }
}

variable "carve_limits" {
  description = "Limits of one carve of the carve function: packets and MiB of packet data delivered, and the longest time range in hours. Carves above inline_kib are written to carve/ and answered with a presigned URL."
  type = object({
    max_packets    = optional(number, 1000000)
    max_mib        = optional(number, 1024)
    max_span_hours = optional(number, 24)
    inline_kib     = optional(number, 4096)
  })
  default = { max_packets = 1000000, max_mib = 1024, max_span_hours = 24, inline_kib = 4096 }

  validation {
    condition     = var.carve_limits.max_packets >= 1 && var.carve_limits.max_mib >= 1 && var.carve_limits.max_span_hours >= 1 && var.carve_limits.inline_kib >= 1 && var.carve_limits.inline_kib <= 4400
    error_message = "carve_limits: every limit at least 1; inline_kib at most 4400 (Lambda answers at most 6 MB, and base64 adds a third)."
  }
}

# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups, in days (one of CloudWatch's allowed values)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when ingest falls this far behind the stream (the oldest record's age, in ms)."
  type        = number
  default     = 300000

  validation {
    condition     = var.iterator_age_alarm_ms >= 1000
    error_message = "iterator_age_alarm_ms must be at least 1000."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify. Null: the module creates an encrypted topic (output alarm_topic_arn) to subscribe to."
  type        = string
  default     = null
}

variable "athena_bytes_scanned_cutoff" {
  description = "Largest scan of one Athena query in the workgroup, in bytes (at least 10 MB). Guards against a query that reads the whole packets table."
  type        = number
  default     = 107374182400

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff must be at least 10485760 (10 MB, Athena's minimum)."
  }
}

variable "enable_catalog" {
  description = "Create the Glue database and tables and the Athena workgroup. Turn off where Glue and Athena are unavailable (LocalStack's community edition)."
  type        = bool
  default     = true
}

variable "ocsf_export_uri" {
  description = "Where the maintain function writes the OCSF 1.3 export of the lake (Amazon Security Lake custom-source location, s3://BUCKET/ext/SOURCE/), one folder per class; null turns the export off. The role gets s3:GetObject and s3:PutObject under it (grant the bucket's KMS key separately if it has one)."
  type        = string
  default     = null

  validation {
    condition     = var.ocsf_export_uri == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.ocsf_export_uri))
    error_message = "ocsf_export_uri must be an s3://BUCKET/PREFIX/ URI (or null)."
  }
}

variable "ocsf_export_schedule" {
  description = "EventBridge schedule of the OCSF export (each run exports what was committed since the last)."
  type        = string
  default     = "rate(1 hour)"

  validation {
    condition     = can(regex("^(cron\\([^)]+\\)|rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\))$", var.ocsf_export_schedule))
    error_message = "ocsf_export_schedule must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "model_scoring" {
  description = "Train a behavioural model daily (the maintain function's model-train task) and score incoming flows, DNS and TLS rows against it in ingest. Off: neither."
  type        = bool
  default     = true
}

variable "model_train_schedule" {
  description = "EventBridge schedule of the model training (each run learns from the last model_window_days and commits a new model; ingest switches to it within a minute)."
  type        = string
  default     = "cron(30 4 * * ? *)"

  validation {
    condition     = can(regex("^(cron\\([^)]+\\)|rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\))$", var.model_train_schedule))
    error_message = "model_train_schedule must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "model_window_days" {
  description = "Days of flows, DNS and TLS the behavioural model learns from."
  type        = number
  default     = 14

  validation {
    condition     = var.model_window_days >= 3 && var.model_window_days <= 90 && floor(var.model_window_days) == var.model_window_days
    error_message = "model_window_days must be a whole number of days from 3 to 90 (hosts need 3 days of history to be scored)."
  }
}

variable "model_settings" {
  description = "The model's scoring settings (opensoc_model::Settings), e.g. { threshold = 60, internal = [\"10.0.0.0/8\"], min_active_hours = 24 }; omitted keys keep their defaults. See docs/configuration.md."
  type        = any
  default     = {}

  validation {
    condition = alltrue([for k, v in var.model_settings : contains([
      "internal", "min_active_hours", "min_active_days", "threshold", "volume_ratio", "volume_floor_bytes",
      "beacon_min_connections", "beacon_max_jitter", "beacon_max_size_jitter", "beacon_min_interval_s",
      "beacon_max_interval_s", "domain_burst", "domain_burst_window_s",
    ], k)])
    error_message = "model_settings takes internal, min_active_hours, min_active_days, threshold, volume_ratio, volume_floor_bytes, beacon_min_connections, beacon_max_jitter, beacon_max_size_jitter, beacon_min_interval_s, beacon_max_interval_s, domain_burst and domain_burst_window_s (see docs/configuration.md)."
  }
}
