# OpenSOC on LocalStack, for development: the same module, applied with
# tflocal (PyPI terraform-local), which points the AWS provider at
# http://localhost:4566.
#
#   scripts/package --x86-64             # LocalStack runs the zips in Docker on this machine's CPU
#   docker compose -f localstack/docker-compose.yml up -d
#   cd infra/examples/localstack
#   tflocal init && tflocal apply
#
# The community edition has no Glue or Athena: enable_catalog is off. Query
# the lake with `opensoc query --lake s3://…` (AWS_ENDPOINT_URL set) instead.

terraform {
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.20, < 7.0"
    }
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true
}

module "opensoc" {
  source = "../../modules/opensoc"

  name                = "opensoc-dev"
  artifacts_dir       = "${path.root}/../../../dist/lambda"
  lambda_architecture = "x86_64"
  enable_catalog      = false
  force_destroy       = true

  stream_mode            = "PROVISIONED"
  shard_count            = 2
  stream_retention_hours = 24

  # Small functions for a laptop.
  memory_mb            = { ingest = 1024, maintain = 1024, query = 1024, carve = 1024 }
  reserved_concurrency = { ingest = -1, maintain = -1, query = -1, carve = -1 }
  tracing_mode         = "PassThrough"

  # Fixed names, so the sensor and the scripts find them.
  bucket_name = "opensoc-dev-lake"
}

output "lake_uri" {
  description = "The lake root: opensoc query --lake <this>, with AWS_ENDPOINT_URL=http://localhost:4566."
  value       = module.opensoc.lake_uri
}

output "stream_name" {
  description = "The stream: opensoc-sensor --stream <this>, with AWS_ENDPOINT_URL=http://localhost:4566."
  value       = module.opensoc.stream_name
}

output "function_names" {
  description = "The deployed functions."
  value       = module.opensoc.function_names
}
