# EventBridge runs maintain on two schedules: the nightly lake maintenance
# and, when feeds are configured, the frequent threat-intel sync. Each rule's
# input names its task (the function's event: {"tasks": [...]}).

locals {
  schedules = merge(
    {
      maintain = {
        expression  = var.maintain_schedule
        description = "OpenSOC ${var.name}: retention, compaction, checkpoints and vacuum"
        input       = { tasks = ["maintain"] }
      }
    },
    length(var.intel_feeds) == 0 ? {} : {
      intel-sync = {
        expression  = var.intel_sync_schedule
        description = "OpenSOC ${var.name}: threat-intel feed sync"
        input       = { tasks = ["intel-sync"] }
      }
    },
    var.model_scoring ? {
      model-train = {
        expression  = var.model_train_schedule
        description = "OpenSOC ${var.name}: behavioural model training from the lake's recent history"
        input       = { tasks = ["model-train"] }
      }
    } : {},
    var.ocsf_export_uri == null ? {} : {
      ocsf-export = {
        expression  = var.ocsf_export_schedule
        description = "OpenSOC ${var.name}: OCSF export of what is new in the lake"
        input       = { tasks = ["ocsf-export"] }
      }
    },
  )
}

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each = local.schedules

  name                = "${var.name}-${each.key}"
  description         = each.value.description
  schedule_expression = each.value.expression
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = local.schedules

  rule  = aws_cloudwatch_event_rule.schedule[each.key].name
  arn   = aws_lambda_function.this["maintain"].arn
  input = jsonencode(each.value.input)

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}

resource "aws_lambda_permission" "schedule" {
  for_each = local.schedules

  statement_id  = "schedule-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["maintain"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}
