//! The Terraform module's variable validations, evaluated without terraform:
//! every `validation` block's condition is evaluated with hcl-rs, with the
//! few Terraform functions they use, for each variable's default (it must
//! pass) and for wrong values (each must fail). This is what `terraform
//! validate` would report for a misconfigured variable.

use std::collections::BTreeMap;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Body, Expression, Value};

fn variables_tf() -> Body {
    let path = crate::support::repo().join("infra/modules/opensoc/variables.tf");
    hcl::parse(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One variable: its default and its validations (condition, message).
struct Variable {
    default: Option<Expression>,
    validations: Vec<(Expression, String)>,
}

fn variables() -> BTreeMap<String, Variable> {
    let mut out = BTreeMap::new();
    for block in variables_tf().blocks().filter(|b| b.identifier() == "variable") {
        let name = block.labels()[0].as_str().to_string();
        let default = block.body().attributes().find(|a| a.key() == "default").map(|a| a.expr().clone());
        let validations = block
            .body()
            .blocks()
            .filter(|b| b.identifier() == "validation")
            .map(|v| {
                let cond = v.body().attributes().find(|a| a.key() == "condition").expect("condition").expr().clone();
                let msg = v.body().attributes().find(|a| a.key() == "error_message").expect("error_message");
                let msg = match msg.expr() {
                    Expression::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (cond, msg)
            })
            .collect();
        out.insert(name, Variable { default, validations });
    }
    out
}

// The Terraform functions the conditions use. `regex` gives null where
// Terraform's raises an error, and `can` is true for anything but null:
// `can(regex(p, s))` then means what it means in Terraform.
fn regex_fn(args: FuncArgs) -> Result<Value, String> {
    let (Value::String(pattern), subject) = (&args[0], &args[1]) else { return Err("regex: pattern".into()) };
    let Value::String(s) = subject else { return Ok(Value::Null) };
    let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
    Ok(re.find(s).map_or(Value::Null, |m| Value::from(m.as_str())))
}

fn can_fn(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(!args[0].is_null()))
}

fn contains_fn(args: FuncArgs) -> Result<Value, String> {
    let Value::Array(list) = &args[0] else { return Err("contains: not a list".into()) };
    Ok(Value::Bool(list.contains(&args[1])))
}

fn alltrue_fn(args: FuncArgs) -> Result<Value, String> {
    let Value::Array(list) = &args[0] else { return Err("alltrue: not a list".into()) };
    Ok(Value::Bool(list.iter().all(|v| v == &Value::Bool(true))))
}

fn floor_fn(args: FuncArgs) -> Result<Value, String> {
    let Value::Number(n) = &args[0] else { return Err("floor: not a number".into()) };
    let f = n.as_f64().ok_or("floor: not finite")?.floor();
    // Whole numbers compare equal to integers only as integers.
    Ok(Value::from(f as i64))
}

fn fileexists_fn(args: FuncArgs) -> Result<Value, String> {
    let Value::String(p) = &args[0] else { return Err("fileexists: not a string".into()) };
    Ok(Value::Bool(std::path::Path::new(p).is_file()))
}

fn length_fn(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(match &args[0] {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        other => return Err(format!("length of {other:?}")),
    } as i64))
}

fn context(vars: &BTreeMap<String, Value>) -> Context<'static> {
    let mut ctx = Context::new();
    let any = || ParamType::nullable(ParamType::Any);
    ctx.declare_func("regex", FuncDef::builder().params([ParamType::String, any()]).build(regex_fn));
    ctx.declare_func("can", FuncDef::builder().param(any()).build(can_fn));
    ctx.declare_func("contains", FuncDef::builder().params([ParamType::Any, any()]).build(contains_fn));
    ctx.declare_func("alltrue", FuncDef::builder().param(ParamType::Any).build(alltrue_fn));
    ctx.declare_func("floor", FuncDef::builder().param(ParamType::Number).build(floor_fn));
    ctx.declare_func("fileexists", FuncDef::builder().param(ParamType::String).build(fileexists_fn));
    ctx.declare_func("length", FuncDef::builder().param(ParamType::Any).build(length_fn));
    let object: hcl::Map<String, Value> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    ctx.declare_var("var", Value::Object(object));
    ctx
}

/// The failing validations' messages for `vars` (empty: all pass).
fn failures(all: &BTreeMap<String, Variable>, name: &str, vars: &BTreeMap<String, Value>) -> Vec<String> {
    let ctx = context(vars);
    let mut out = Vec::new();
    for (cond, msg) in &all[name].validations {
        match cond.evaluate(&ctx) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => out.push(msg.clone()),
            other => panic!("{name}: condition {cond} evaluated to {other:?}"),
        }
    }
    out
}

fn v(hcl_text: &str) -> Value {
    let body = hcl::parse(&format!("x = {hcl_text}")).unwrap_or_else(|e| panic!("{hcl_text}: {e}"));
    body.attributes().next().unwrap().expr().evaluate(&Context::new()).unwrap()
}

#[test]
fn variable_validations_accept_the_defaults_and_reject_wrong_values() {
    let all = variables();
    let artifacts = crate::support::tempdir();
    for zip in ["opensoc-ingest.zip", "opensoc-maintain.zip"] {
        std::fs::write(artifacts.path().join(zip), b"PK").unwrap();
    }
    let empty = crate::support::tempdir();
    let mut defaults: BTreeMap<String, Value> = BTreeMap::new();
    for (name, var) in &all {
        let value = match &var.default {
            Some(e) => e.evaluate(&Context::new()).unwrap_or_else(|e| panic!("{name}: default: {e}")),
            None => Value::Null,
        };
        defaults.insert(name.clone(), value);
    }
    defaults.insert("artifacts_dir".into(), Value::from(artifacts.path().display().to_string()));

    // The defaults (and values a deployer would use) pass.
    let good: &[(&str, &str)] = &[
        ("name", r#""opensoc-prod""#),
        ("kms_key_arn", r#""arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab""#),
        ("shard_count", "8"),
        ("stream_retention_hours", "168"),
        ("segments_expiration_days", "2"),
        ("bucket_name", r#""acme-opensoc-lake""#),
        ("geoip_prefix", "null"),
        ("lake_tiering_days", "null"),
        ("retention_days", "{ packets = 3, logs = 90 }"),
        ("maintain_schedule", r#""rate(1 day)""#),
        ("intel_sync_schedule", r#""cron(0 * * * ? *)""#),
        ("intel_feeds", r#"[{ url = "s3://intel/drop.txt", source = "drop", csv = false }]"#),
        ("memory_mb", "{ ingest = 1769, webhook = 512 }"),
        ("webhook_secret", r#""a-secret-of-twenty-chars""#),
        ("webhook_max_body_kib", "1024"),
        ("ocsf_export_uri", r#""s3://aws-security-data-lake-us-east-1-abc/ext/opensoc/""#),
        ("ocsf_export_schedule", r#""rate(6 hours)""#),
        ("model_settings", r#"{ threshold = 60, internal = ["10.0.0.0/8"], min_active_hours = 24 }"#),
        ("model_window_days", "30"),
        ("model_train_schedule", r#""rate(12 hours)""#),
        ("investigator_principal_arns", r#"["arn:aws:iam::123456789012:role/soc-analyst"]"#),
        ("rules_layer_arn", r#""arn:aws:lambda:eu-west-1:123456789012:layer:opensoc-rules:3""#),
        ("query_limits", "{ timeout_seconds = 50, max_rows = 100000, memory_mib = 2048 }"),
        ("carve_limits", "{ max_packets = 10, max_mib = 1, max_span_hours = 168, inline_kib = 4400 }"),
    ];
    for name in all.keys() {
        let f = failures(&all, name, &defaults);
        assert!(f.is_empty(), "{name}: the default fails its validation: {f:?}");
    }
    for (name, text) in good {
        let mut vars = defaults.clone();
        vars.insert(name.to_string(), v(text));
        let f = failures(&all, name, &vars);
        assert!(f.is_empty(), "{name} = {text} should pass: {f:?}");
    }

    // Wrong values fail, each with its message.
    let bad: &[(&str, &str)] = &[
        ("name", r#""OpenSOC""#),
        ("name", r#""ab""#),
        ("lambda_architecture", r#""arm""#),
        ("kms_key_arn", r#""alias/opensoc""#),
        ("stream_mode", r#""on-demand""#),
        ("shard_count", "0"),
        ("shard_count", "1.5"),
        ("stream_retention_hours", "12"),
        ("stream_retention_hours", "9000"),
        ("bucket_name", r#""My_Bucket""#),
        ("segments_expiration_days", "1"),
        ("carve_expiration_days", "0"),
        ("noncurrent_version_expiration_days", "0"),
        ("packets_noncurrent_expiration_days", "0"),
        ("lake_tiering_days", "-1"),
        ("ingest_batch_size", "0"),
        ("ingest_batch_size", "10001"),
        ("ingest_batching_window_seconds", "301"),
        ("ingest_starting_position", r#""AT_TIMESTAMP""#),
        ("ingest_maximum_retry_attempts", "-2"),
        ("geoip_prefix", r#""/geoip/""#),
        ("geoip_prefix", r#""geoip""#),
        ("geoip_prefix", r#""../geoip/""#),
        ("score_aggregation", r#""avg""#),
        ("rules_layer_arn", r#""arn:aws:lambda:eu-west-1:123:layer:x""#),
        ("retention_days", "{ flow = 7 }"),
        ("query_limits", "{ timeout_seconds = 60, max_rows = 1, memory_mib = 1024 }"),
        ("query_limits", "{ timeout_seconds = 30, max_rows = 10, memory_mib = 8 }"),
        ("carve_limits", "{ max_packets = 0, max_mib = 1, max_span_hours = 1, inline_kib = 1 }"),
        ("carve_limits", "{ max_packets = 1, max_mib = 1, max_span_hours = 1, inline_kib = 6000 }"),
        ("retention_days", "{ flows = -1 }"),
        ("retention_days", "{ flows = 1.5 }"),
        ("vacuum_hours", "1"),
        ("webhook_secret", r#""short""#),
        ("webhook_max_body_kib", "0"),
        ("webhook_max_body_kib", "7000"),
        ("ocsf_export_uri", r#""https://bucket/ext/""#),
        ("ocsf_export_schedule", r#""every hour""#),
        ("model_settings", "{ threshhold = 60 }"),
        ("model_window_days", "2"),
        ("model_window_days", "14.5"),
        ("model_train_schedule", r#""daily""#),
        ("memory_mb", "{ hook = 512 }"),
        ("target_file_mib", "8"),
        ("zorder_max_partition_mib", "9000"),
        ("maintain_schedule", r#""daily""#),
        ("intel_sync_schedule", r#""every hour""#),
        ("intel_feeds", r#"[{ url = "ftp://intel/x", source = "x", csv = false }]"#),
        ("intel_feeds", r#"[{ url = "https://intel/x", source = "", csv = false }]"#),
        ("memory_mb", "{ ingest = 128 }"),
        ("memory_mb", "{ ingst = 1024 }"),
        ("reserved_concurrency", "{ ingest = -2 }"),
        ("tracing_mode", r#""active""#),
        ("investigator_principal_arns", r#"["arn:aws:iam::123456789012:group/soc"]"#),
        ("carve_presign_expiry_seconds", "30"),
        ("log_retention_days", "10"),
        ("iterator_age_alarm_ms", "10"),
        ("athena_bytes_scanned_cutoff", "1000"),
    ];
    for (name, text) in bad {
        let mut vars = defaults.clone();
        vars.insert(name.to_string(), v(text));
        let f = failures(&all, name, &vars);
        assert!(!f.is_empty(), "{name} = {text} should fail its validation");
        assert!(f.iter().all(|m| m.len() > 20), "{name}: unclear message {f:?}");
    }
    let mut vars = defaults.clone();
    vars.insert("artifacts_dir".into(), Value::from(empty.path().display().to_string()));
    let f = failures(&all, "artifacts_dir", &vars);
    assert!(f.iter().any(|m| m.contains("scripts/package")), "an empty artifacts_dir says how to fill it: {f:?}");

    // Every validated variable has a wrong value above.
    for (name, var) in &all {
        if !var.validations.is_empty() && name != "artifacts_dir" {
            assert!(
                bad.iter().any(|(n, _)| n == name),
                "variable {name} has validations but no wrong value tested here"
            );
        }
    }
}
