//! The Terraform module and examples under `infra/`, checked without a
//! terraform binary: every file parses (python-hcl2), checkov finds no failed
//! check and every skip gives its reason, every function binary under
//! `functions/` is deployed with its environment and permissions, the Glue
//! columns are the schemas crate's, and every variable and output is
//! documented.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{opensoc, run, venv_tool};

fn repo() -> PathBuf {
    crate::support::repo()
}

fn module_dir() -> PathBuf {
    repo().join("infra/modules/opensoc")
}

/// Every `.tf` file under `dir`, parsed by python-hcl2, by path relative to `dir`.
fn parse_tf(dir: &Path) -> BTreeMap<String, Value> {
    let python = venv_tool("OPENSOC_HCL_PYTHON", "hcl-venv", "python", "python-hcl2");
    const SCRIPT: &str = r#"
import hcl2, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
out, bad = {}, []
for f in sorted(root.rglob("*.tf")):
    if ".terraform" in f.parts:
        continue
    try:
        with open(f) as fh:
            out[str(f.relative_to(root))] = hcl2.load(fh)
    except Exception as e:
        bad.append(f"{f.relative_to(root)}: {e}")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
json.dump(out, sys.stdout)
"#;
    let out = Command::new(&python).arg("-c").arg(SCRIPT).arg(dir).output().expect("running python-hcl2");
    assert!(out.status.success(), "Terraform files that do not parse:\n{}", String::from_utf8_lossy(&out.stderr));
    let parsed: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).expect("python-hcl2 JSON");
    parsed.into_iter().map(|(k, v)| (k, unquote(v))).collect()
}

/// python-hcl2 keeps the quotes of string literals and labels; drop them.
fn unquote(v: Value) -> Value {
    let strip = |s: String| -> String {
        if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') { s[1..s.len() - 1].to_string() } else { s }
    };
    match v {
        Value::String(s) => Value::String(strip(s)),
        Value::Array(a) => Value::Array(a.into_iter().map(unquote).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (strip(k), unquote(v))).collect()),
        other => other,
    }
}

/// All blocks of `kind` (`resource`, `variable`, `output`, `locals`, `data`)
/// in the parsed files, merged into one object (labels → bodies).
fn blocks(files: &BTreeMap<String, Value>, kind: &str) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for doc in files.values() {
        for block in doc.get(kind).and_then(Value::as_array).into_iter().flatten() {
            if let Some(o) = block.as_object() {
                for (k, v) in o {
                    match (out.get_mut(k), v) {
                        (Some(Value::Object(have)), Value::Object(more)) => {
                            have.extend(more.clone());
                        }
                        _ => {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_terraform_file_parses() {
    let files = parse_tf(&repo().join("infra"));
    for needed in ["modules/opensoc/main.tf", "examples/aws/main.tf", "examples/localstack/main.tf"] {
        assert!(files.contains_key(needed), "{needed} missing from infra/ (parsed: {:?})", files.keys());
    }
    // Both examples use the module, by a relative path that exists.
    for example in ["examples/aws/main.tf", "examples/localstack/main.tf"] {
        let modules = blocks(&BTreeMap::from([(example.to_string(), files[example].clone())]), "module");
        let source = modules["opensoc"]["source"].as_str().expect("module source");
        let dir = repo().join("infra").join(Path::new(example).parent().unwrap()).join(source);
        assert!(dir.join("main.tf").is_file(), "{example}: module source {source} is not the module");
    }
}

#[test]
fn checkov_finds_no_failed_check_and_every_skip_says_why() {
    let checkov = venv_tool("OPENSOC_CHECKOV", "checkov-venv", "checkov", "checkov");
    let out = Command::new(&checkov)
        .args(["--framework", "terraform", "--skip-download", "-o", "json", "-d"])
        .arg(repo().join("infra"))
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .expect("running checkov");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json_start = stdout.find(['[', '{']).unwrap_or_else(|| panic!("checkov printed no JSON: {stdout}"));
    let report: Value = serde_json::from_str(&stdout[json_start..])
        .unwrap_or_else(|e| panic!("checkov's JSON: {e}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    // One report per framework run, or a list of them.
    let reports: Vec<&Value> = match &report {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    for r in reports {
        let results = &r["results"];
        passed += results["passed_checks"].as_array().map_or(0, Vec::len);
        for f in results["failed_checks"].as_array().into_iter().flatten() {
            failed.push(format!("{} {} ({}:{})", f["check_id"], f["resource"], f["file_path"], f["file_line_range"]));
        }
        for s in results["skipped_checks"].as_array().into_iter().flatten() {
            let reason = s["check_result"]["suppress_comment"].as_str().unwrap_or("").trim().to_string();
            skipped.push((format!("{} {}", s["check_id"], s["resource"]), reason));
        }
    }
    assert!(failed.is_empty(), "checkov failed checks:\n{}", failed.join("\n"));
    assert!(passed >= 50, "checkov passed only {passed} checks: did it read the module?");
    for (check, reason) in &skipped {
        assert!(reason.len() >= 20, "{check} is skipped without a reason (#checkov:skip=ID:why)");
    }
}

/// `[[bin]]` names of every crate under functions/, with the crate's folder.
fn function_binaries() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let manifest: toml::Table = toml::from_str(&text).unwrap();
        for bin in manifest.get("bin").and_then(|b| b.as_array()).into_iter().flatten() {
            out.push((bin["name"].as_str().unwrap().to_string(), dir.clone()));
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no [[bin]] under functions/");
    out
}

/// Every Rust source text of a function crate.
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    for e in walkdir::WalkDir::new(dir.join("src")).into_iter().filter_map(Result::ok) {
        if e.path().extension().is_some_and(|x| x == "rs") {
            text.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    text
}

/// The `OPENSOC_*` variables a source text reads (as string literals).
fn env_vars_read(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("\"OPENSOC_") {
        let tail = &rest[i + 1..];
        let end =
            tail.find(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())).unwrap_or(tail.len());
        if tail[end..].starts_with('"') {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// The actions a function's role is given, by the resources' expressions.
fn granted(statements: &Value) -> Vec<(BTreeSet<String>, Vec<String>)> {
    statements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let actions = s["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            let resources = s["resources"]
                .as_array()
                .map(|r| r.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect())
                .unwrap_or_else(|| vec![s["resources"].as_str().unwrap_or("").to_string()]);
            (actions, resources)
        })
        .collect()
}

fn allows(grants: &[(BTreeSet<String>, Vec<String>)], action: &str, resource_hint: &str) -> bool {
    grants.iter().any(|(a, r)| a.contains(action) && r.iter().any(|x| x.contains(resource_hint)))
}

#[test]
fn every_function_binary_is_deployed_with_its_environment_and_permissions() {
    let files = parse_tf(&module_dir());
    let locals = blocks(&files, "locals");
    let functions = locals["functions"].as_object().expect("local.functions");
    let statements = locals["function_statements"].as_object().expect("local.function_statements");
    let common_env = locals["common_env"].as_str().unwrap_or_default().to_string();
    let resources = blocks(&files, "resource");
    let data = blocks(&files, "data");
    let lake_fn = std::fs::read_to_string(repo().join("crates/lake/src/function.rs")).unwrap();
    let web_env = std::fs::read_to_string(repo().join("crates/web/src/env.rs")).unwrap();

    for (binary, dir) in function_binaries() {
        let (key, def) = functions
            .iter()
            .find(|(_, f)| f["binary"].as_str() == Some(binary.as_str()))
            .unwrap_or_else(|| panic!("{binary} (in {}) has no entry in local.functions of main.tf", dir.display()));
        let src = sources(&dir);

        // Environment: every OPENSOC_* variable the binary reads is set.
        let mut env_text = def["env"].to_string();
        if env_text.contains("local.common_env") {
            env_text.push_str(&common_env);
        }
        if env_text.contains("local.web_env") {
            env_text.push_str(&locals["web_env"].to_string());
        }
        let mut wanted = env_vars_read(&src);
        // The HTTP functions run opensoc_web::lambda::run_function, which
        // reads the lake's variable and the web settings.
        let web_function = src.contains("run_function(");
        if src.contains("lake_from_env") || web_function {
            wanted.extend(env_vars_read(&lake_fn));
        }
        if src.contains("WebConfig::from_env") || web_function {
            wanted.extend(env_vars_read(&web_env));
        }
        // The webhook writes the stream and nothing else.
        let stream_writer = src.contains("StreamSink");
        assert!(wanted.contains("OPENSOC_LAKE") || stream_writer, "{binary}: does not read OPENSOC_LAKE?");
        for var in &wanted {
            assert!(
                env_text.contains(&format!("{var} ="))
                    || env_text.contains(&format!("{var}="))
                    || env_text.contains(&format!("\"{var}\":")),
                "{binary} reads {var} but the module's environment for {key} does not set it: {env_text}"
            );
        }

        // Permissions, by what the binary does.
        let grants = granted(statements.get(key).unwrap_or_else(|| panic!("no function_statements for {key}")));
        if stream_writer {
            assert!(allows(&grants, "kinesis:PutRecords", "aws_kinesis_stream"), "{key} cannot put records");
            assert!(!allows(&grants, "s3:GetObject", "lake_objects"), "{key} needs no access to the lake");
            assert!(env_text.contains("OPENSOC_STREAM"), "{key}: no stream in its environment");
            let url = resources["aws_lambda_function_url"].to_string();
            assert!(url.contains("NONE") && url.contains("webhook"), "{key}: its URL must take unsigned calls: {url}");
            continue;
        }
        assert!(allows(&grants, "s3:GetObject", "lake_objects"), "{key}: cannot read the lake");
        assert!(allows(&grants, "s3:ListBucket", "bucket_arn"), "{key}: cannot list the lake");
        if src.contains("KinesisEvent") {
            for action in
                ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream", "kinesis:ListShards"]
            {
                assert!(allows(&grants, action, "aws_kinesis_stream"), "{key} reads Kinesis but lacks {action}");
            }
            assert!(allows(&grants, "s3:PutObject", "lake_objects"), "{key} ingests but cannot write the lake");
            let esm = resources["aws_lambda_event_source_mapping"].to_string();
            assert!(
                esm.contains(&format!("aws_lambda_function.this[\\\"{key}\\\"]")),
                "{key}: no event source mapping: {esm}"
            );
        }
        if src.contains("OPENSOC_GEOIP") {
            assert!(allows(&grants, "s3:GetObject", "geoip_objects"), "{key} reads GeoIP from S3 but may not");
        }
        if src.contains("maintain(") {
            for action in ["s3:PutObject", "s3:DeleteObject"] {
                assert!(allows(&grants, action, "lake_objects"), "{key} maintains the lake but lacks {action}");
            }
            let schedules = locals["schedules"].to_string();
            assert!(schedules.contains("maintain"), "{key}: no maintenance schedule");
        }
        if src.contains("ocsf::export") {
            let schedules = locals["schedules"].to_string();
            assert!(schedules.contains("ocsf-export"), "{key} exports OCSF but has no schedule for it");
            let policy = data["aws_iam_policy_document"]["ocsf_export"].to_string();
            assert!(
                policy.contains("s3:PutObject") && policy.contains("ocsf_export_objs"),
                "{key} exports OCSF but may not write it: {policy}"
            );
        }
        if src.contains("Role::Carve") {
            assert!(allows(&grants, "s3:PutObject", "carve_audit"), "{key} carves but cannot append the carve audit");
            assert!(allows(&grants, "s3:PutObject", "carve_objects"), "{key} carves but cannot write large outputs");
            assert!(allows(&grants, "s3:GetObject", "carve_objects"), "{key} presigns GETs of outputs it cannot read");
        }
        if src.contains("Role::Query") {
            assert!(!allows(&grants, "s3:PutObject", "lake_objects"), "{key} only reads the lake");
            assert!(
                allows(&grants, "s3:PutObject", "workflow_objs"),
                "{key} serves the alert workflow but cannot append finding_events"
            );
            let urls = resources["aws_lambda_function_url"].to_string();
            assert!(urls.contains("AWS_IAM"), "{key}: its function URL must use AWS_IAM auth: {urls}");
        }
        if src.contains("intel_sync") {
            assert!(allows(&grants, "s3:GetObject", "intel_objects"), "{key} syncs s3:// feeds but cannot read them");
        }
    }
}

#[test]
fn no_policy_grants_wildcard_actions_or_unscoped_resources() {
    let files = parse_tf(&module_dir());
    let locals = blocks(&files, "locals");
    let data = blocks(&files, "data");
    let docs = data["aws_iam_policy_document"].as_object().unwrap();
    let mut checked = 0;
    // The role statements (local.function_statements).
    for (f, statements) in locals["function_statements"].as_object().unwrap() {
        for (actions, resources) in granted(statements) {
            for a in &actions {
                assert!(!a.contains('*'), "{f}: wildcard action {a}");
                checked += 1;
            }
            for r in &resources {
                assert!(r != "*" && !r.is_empty(), "{f}: unscoped resource for {actions:?}");
            }
        }
    }
    // The policy documents: Allow statements name their actions; "*" as a
    // resource only where the service has no resource-level permissions
    // (X-Ray) or in the key policy (where "*" means the key itself).
    for (name, doc) in docs {
        for st in doc["statement"].as_array().into_iter().flatten() {
            if st["effect"].as_str() == Some("Deny") || st.get("actions").is_none() {
                continue;
            }
            let text = st["actions"].to_string();
            assert!(!text.contains('*'), "policy {name}: wildcard action in {text}");
            checked += 1;
            if st["resources"].to_string().contains("\"*\"") {
                assert!(
                    name == "kms" || text.contains("xray:"),
                    "policy {name}: statement {} allows {text} on \"*\"",
                    st["sid"]
                );
            }
        }
    }
    assert!(checked > 20, "only {checked} actions checked: did the policies parse?");
}

#[test]
fn glue_columns_are_the_schemas_crates() {
    let out = run(opensoc().args(["schema", "--format", "glue"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(module_dir().join("tables.json")).unwrap()).unwrap();
    assert_eq!(
        generated, committed,
        "infra/modules/opensoc/tables.json is out of date: run `cargo run -- schema --format glue > infra/modules/opensoc/tables.json`"
    );
    // And the module builds its Glue tables from that file, one per table.
    let catalog = std::fs::read_to_string(module_dir().join("catalog.tf")).unwrap();
    assert!(catalog.contains("file(\"${path.module}/tables.json\")"), "catalog.tf no longer reads tables.json");
    let tables = committed["tables"].as_object().unwrap();
    for t in opensoc_schemas::Table::ALL.map(|t| t.name()) {
        let cols = tables[t]["columns"].as_array().unwrap_or_else(|| panic!("{t} missing"));
        assert!(cols.len() > 3, "{t}: {} columns", cols.len());
        assert_eq!(tables[t]["partition_keys"][0]["name"], "event_date", "{t}");
    }
    let flows: Vec<&str> =
        tables["flows"]["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for c in opensoc_schemas::FLOWS_CONTRACT_COLUMNS {
        assert!(flows.contains(&c), "flows lacks {c} in the catalog");
    }
}

#[test]
fn every_variable_and_output_is_described_and_documented() {
    let files = parse_tf(&module_dir());
    let readme = std::fs::read_to_string(module_dir().join("README.md")).expect("infra/modules/opensoc/README.md");
    let mut n = 0;
    for kind in ["variable", "output"] {
        for (name, body) in blocks(&files, kind) {
            let desc = body["description"].as_str().unwrap_or("");
            assert!(desc.len() >= 15, "{kind} {name}: no real description ({desc:?})");
            assert!(readme.contains(&format!("`{name}`")), "{kind} {name} is not in the module's README.md");
            n += 1;
        }
    }
    assert!(n > 40, "only {n} variables and outputs");
}

#[test]
fn variables_that_take_a_closed_set_or_a_range_are_validated() {
    let files = parse_tf(&module_dir());
    // Free-form values: anything the type allows is fine.
    let free = [
        "tags",
        "force_destroy",
        "no_builtin_rules",
        "log_level",
        "access_log_bucket",
        "alarm_topic_arn",
        "intel_bucket_arns",
        "enable_catalog",
        "model_scoring",
    ];
    for (name, body) in blocks(&files, "variable") {
        if free.contains(&name.as_str()) {
            continue;
        }
        let validations = body["validation"].as_array().map_or(0, Vec::len);
        assert!(validations > 0, "variable {name} has no validation block");
        for v in body["validation"].as_array().into_iter().flatten() {
            let cond = v["condition"].as_str().unwrap_or("");
            let msg = v["error_message"].as_str().unwrap_or("");
            assert!(cond.contains(&format!("var.{name}")), "variable {name}: its validation does not test it: {cond}");
            assert!(msg.contains(&name) || msg.len() > 40, "variable {name}: unclear error message {msg:?}");
        }
    }
}
