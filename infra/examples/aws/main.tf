# OpenSOC in an AWS account: the stream, the lake, the functions, the catalog.
#
#   scripts/package                      # dist/lambda/*.zip (arm64)
#   cd infra/examples/aws
#   terraform init && terraform apply -var region=eu-west-1
#
# docs/deploy.md walks through it, from the sensor's policy to Athena.

terraform {
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.20, < 7.0"
    }
  }

  # Keep the state in S3 in real deployments:
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "opensoc/terraform.tfstate"
  #   region       = "eu-west-1"
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "opensoc" }
  }
}

module "opensoc" {
  source = "../../modules/opensoc"

  name          = var.name
  artifacts_dir = "${path.root}/../../../dist/lambda"

  stream_mode = "ON_DEMAND"

  retention_days = {
    packets = 7
    flows   = 365
  }

  intel_feeds = [
    { url = "https://feodotracker.abuse.ch/downloads/ipblocklist.txt", source = "feodo" },
    { url = "https://sslbl.abuse.ch/blacklist/ja3_fingerprints.csv", source = "sslbl-ja3", csv = true },
  ]

  investigator_principal_arns = var.investigator_principal_arns
  alarm_topic_arn             = var.alarm_topic_arn
}

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "opensoc"
}

variable "investigator_principal_arns" {
  description = "IAM roles or users allowed to call the query and carve function URLs."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arn" {
  description = "An existing SNS topic for the alarms (null: the module creates one)."
  type        = string
  default     = null
}

output "lake_uri" {
  description = "The lake root (OPENSOC_LAKE, opensoc query --lake)."
  value       = module.opensoc.lake_uri
}

output "stream_name" {
  description = "The stream the sensors write to."
  value       = module.opensoc.stream_name
}

output "sensor_policy_arn" {
  description = "Attach to the sensors' role."
  value       = module.opensoc.sensor_policy_arn
}

output "sensor_config" {
  description = "opensoc-sensor configuration for this deployment."
  value       = module.opensoc.sensor_config
}

output "function_urls" {
  description = "Query and carve endpoints (SigV4)."
  value       = module.opensoc.function_urls
}

output "athena_workgroup" {
  description = "Run Athena queries here."
  value       = module.opensoc.athena_workgroup
}

output "glue_database" {
  description = "The tables' Glue database."
  value       = module.opensoc.glue_database
}
