# The Glue catalog: one database, and one table per Delta table of the lake,
# so Athena (which reads Delta natively), Spark on EMR or Glue, and Trino's
# Delta connector with a Glue metastore find them by name. The columns come
# from tables.json, which `opensoc schema --format glue` writes from the
# schemas crate (the test script checks that the two agree).

locals {
  catalog = jsondecode(file("${path.module}/tables.json"))
}

resource "aws_glue_catalog_database" "this" {
  count = var.enable_catalog ? 1 : 0

  name         = replace(var.name, "-", "_")
  description  = "OpenSOC ${var.name}: the Delta tables of ${local.lake_uri}"
  location_uri = "${local.lake_uri}/"
  tags         = local.tags
}

resource "aws_glue_catalog_table" "this" {
  for_each = { for name, table in local.catalog.tables : name => table if var.enable_catalog }

  name          = each.key
  database_name = aws_glue_catalog_database.this[0].name
  description   = each.value.description
  table_type    = "EXTERNAL_TABLE"

  # Athena reads the schema and the files from the Delta log at the location
  # (table_type DELTA); Spark's Delta source reads the serde's path.
  parameters = {
    EXTERNAL       = "TRUE"
    table_type     = "DELTA"
    classification = "delta"
  }

  storage_descriptor {
    location      = "${local.lake_uri}/${each.key}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        path = "${local.lake_uri}/${each.key}/"
      }
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }

  dynamic "partition_keys" {
    for_each = each.value.partition_keys
    content {
      name = partition_keys.value.name
      type = partition_keys.value.type
    }
  }
}

# Athena queries run in this workgroup: its settings are enforced, results
# are encrypted with the key and expire with the athena/ lifecycle rule, and
# a query that would scan more than athena_bytes_scanned_cutoff is cancelled.
resource "aws_athena_workgroup" "this" {
  count = var.enable_catalog ? 1 : 0

  name          = var.name
  description   = "OpenSOC ${var.name}: SQL over the lake"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${local.bucket}/${local.prefix.athena}"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = local.kms_key_arn
      }
    }
  }

  tags = local.tags
}
