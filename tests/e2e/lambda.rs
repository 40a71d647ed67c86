//! The ingest Lambda binary (`opensoc-ingest`, built on `lambda_runtime`)
//! running under a Lambda runtime emulator — cargo-lambda's `watch
//! --only-lambda-apis`, a real Runtime API and Invoke API server — fed by
//! `opensoc esm --function`, which invokes it through the AWS SDK's Lambda
//! client exactly as Lambda's event source mapping invokes a deployed
//! function. S3 and Kinesis are a moto server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cloud::{COUNTS, Moto, counts, demo_captures, free_port, local_counts};
use crate::support::{run, tempdir, venv_tool};

/// The function name the emulator gives a function it does not start.
const FUNCTION: &str = "_";

fn cargo_lambda() -> PathBuf {
    venv_tool("OPENSOC_CARGO_LAMBDA", "venv", "cargo-lambda", "--no-deps cargo-lambda")
}

/// A Lambda runtime emulator and the ingest function connected to it;
/// both stopped on drop.
pub struct Function {
    emulator: Child,
    function: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Function {
    fn start(moto: &Moto, lake: &str, dir: &Path) -> Function {
        Function::start_bin(moto, "opensoc-ingest", lake, &[], dir)
    }

    /// Run the function binary `bin` under the emulator, with extra environment.
    pub fn start_bin(moto: &Moto, bin: &str, lake: &str, env: &[(&str, &str)], dir: &Path) -> Function {
        let port = free_port();
        let emulator = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
            // It reads the package's manifest even when it starts nothing.
            .current_dir(crate::support::repo().join("functions/ingest"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("emulator.log")).unwrap())
            .spawn()
            .expect("starting cargo-lambda");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the Lambda emulator did not start: {}",
                std::fs::read_to_string(dir.join("emulator.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let bin = Path::new(env!("CARGO_BIN_EXE_opensoc")).with_file_name(bin);
        assert!(bin.is_file(), "{} is missing: build it with `cargo build --workspace --bins`", bin.display());
        let log = dir.join("function.log");
        let mut cmd = Command::new(bin);
        moto.env(&mut cmd)
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("OPENSOC_LAKE", lake)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit());
        let function = cmd.spawn().expect("starting the function binary");
        Function { emulator, function, port, log }
    }

    /// `opensoc esm --function` invoking this function through the emulator.
    fn esm(&self, moto: &Moto, stream: &str, checkpoint: &Path) -> Command {
        let mut c = moto.opensoc();
        c.env("AWS_ENDPOINT_URL_LAMBDA", format!("http://127.0.0.1:{}", self.port))
            .args(["esm", "--stream", stream, "--function", FUNCTION, "--until-idle", "--format", "json"])
            .arg("--checkpoint-file")
            .arg(checkpoint);
        c
    }

    /// The function's log lines, each parsed (they must all be JSON).
    fn log_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {l}")))
            .collect()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        for c in [&mut self.function, &mut self.emulator] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn delivered(lines: &[Value]) -> (u64, u64) {
    let ingested: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "delivery ingested").collect();
    let records = ingested.iter().map(|l| l["fields"]["records"].as_u64().unwrap()).sum();
    let commits = ingested.iter().map(|l| l["fields"]["commits"].as_u64().unwrap()).sum();
    (records, commits)
}

#[test]
fn the_ingest_function_under_a_lambda_emulator_stores_what_local_ingest_stores_exactly_once() {
    let moto = Moto::start();
    moto.stream_and_bucket("fn", "lake-fn", 2);
    let dir = tempdir();
    let lake = "s3://lake-fn/lake";
    let function = Function::start(&moto, lake, dir.path());
    let out = run(moto.sensor().args(["replay", "--stream", "fn", "--sensor-id", "edge-fn"]).args(demo_captures()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let checkpoint = dir.path().join("esm.json");
    let out = run(&mut function.esm(&moto, "fn", &checkpoint));
    assert!(out.status.success(), "esm --function: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = report["records"].as_u64().unwrap();
    assert!(records > 0, "{report}");
    assert_eq!(report["item_failure_retries"], 0, "{report}");
    assert_eq!(counts(moto.query(lake, COUNTS)), local_counts(), "the function stores what local ingest stores");

    // Its logs are JSON lines (CloudWatch), one summary per delivery.
    let (logged, commits) = delivered(&function.log_lines());
    assert_eq!(logged, records, "every delivered record is accounted for in the function's logs");
    assert!(commits > 0);

    // The whole stream again, through the function: nothing is added and
    // no table commits anything.
    let out = run(function.esm(&moto, "fn", &checkpoint).args(["--from", "trim-horizon"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(counts(moto.query(lake, COUNTS)), local_counts());
    let (logged_again, commits_again) = delivered(&function.log_lines());
    assert_eq!(logged_again, 2 * records);
    assert_eq!(commits_again, commits, "a redelivery commits nothing");
}

/// Invoke the function under the emulator with `payload` through the AWS
/// SDK's Lambda client: the response body, and the function error if any.
fn invoke(function: &Function, payload: Value) -> (Value, Option<String>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{}", function.port))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new("k", "s", None, None, "e2e"))
            .load()
            .await;
        let client = aws_sdk_lambda::Client::new(&conf);
        let sent = client
            .invoke()
            .function_name(FUNCTION)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
            .send()
            .await;
        match sent {
            Ok(out) => {
                let body: Value =
                    out.payload().and_then(|b| serde_json::from_slice(b.as_ref()).ok()).unwrap_or(Value::Null);
                // A function error: the body's errorType says which.
                let kind = out.function_error().map(|_| body["errorType"].as_str().unwrap_or("Unhandled").to_string());
                (body, kind)
            }
            // Lambda answers a function error with 200 and X-Amz-Function-Error;
            // the emulator answers 500 with the same body.
            Err(e) => {
                let raw = e.raw_response().map(|r| r.body().bytes().unwrap_or_default().to_vec()).unwrap_or_default();
                let body: Value = serde_json::from_slice(&raw).unwrap_or_else(|_| {
                    panic!("invoking the function: {}", aws_sdk_lambda::error::DisplayErrorContext(&e))
                });
                let kind = body["errorType"].as_str().unwrap_or("Unhandled").to_string();
                (body, Some(kind))
            }
        }
    })
}

#[test]
fn the_maintain_function_syncs_intel_and_compacts_under_a_lambda_emulator() {
    let moto = Moto::start();
    moto.stream_and_bucket("m-stream", "lake-m", 1);
    moto.s3_put("lake-m", "feeds/watch.txt", b"# watch\n192.0.2.10\nevil.example\n".to_vec());
    let dir = tempdir();
    let lake = "s3://lake-m/lake";
    for s in ["a", "b"] {
        let out = run(moto
            .opensoc()
            .args(["ingest", "--no-progress", "--sensor-id", s, "--lake", lake])
            .args(demo_captures()));
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let before = counts(moto.query(lake, COUNTS));
    let feeds = r#"[{"url": "s3://lake-m/feeds/watch.txt", "source": "watch"}]"#;
    let keep = "flows=0,packets=0,dns=0,http=0,tls=0,logs=0,quarantine=0,findings=0";
    let function = Function::start_bin(
        &moto,
        "opensoc-maintain",
        lake,
        &[
            ("OPENSOC_INTEL_FEEDS", feeds),
            ("OPENSOC_RETENTION", keep),
            ("OPENSOC_OCSF_EXPORT", "s3://lake-m/ext/opensoc/"),
            ("OPENSOC_ACCOUNT_ID", "123456789012"),
        ],
        dir.path(),
    );
    let (resp, err) =
        invoke(&function, serde_json::json!({"tasks": ["intel-sync", "maintain"], "tables": ["flows", "dns"]}));
    assert_eq!(err, None, "{resp}");
    assert_eq!(resp["intel"][0]["status"], "loaded", "{resp}");
    assert_eq!(resp["intel"][0]["indicators"], 2);
    let tables = resp["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "{resp}");
    for t in tables {
        assert!(t["skipped"].is_null(), "{t}");
        assert!(t["files_after"].as_u64() < t["files_before"].as_u64(), "two ingests' files compacted: {t}");
    }
    assert_eq!(counts(moto.query(lake, COUNTS)), before, "no row lost");
    // An EventBridge schedule's event runs everything; the feed is unchanged now.
    let scheduled =
        serde_json::json!({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let (resp, err) = invoke(&function, scheduled);
    assert_eq!(err, None, "{resp}");
    assert_eq!(resp["intel"][0]["status"], "unchanged");
    assert_eq!(resp["tables"].as_array().unwrap().len(), opensoc_schemas::Table::ALL.len(), "every table");
    // The OCSF export task (also part of the scheduled run above, so
    // nothing is new now); the objects are there, one folder per class.
    assert_eq!(resp["ocsf"].as_array().map(Vec::len), Some(4), "{resp}");
    let flows_rows = resp["ocsf"][0]["rows"].as_u64().unwrap();
    assert_eq!(Some(flows_rows), moto.query(lake, "SELECT count(*) AS n FROM flows")[0]["n"].as_u64());
    let (resp, err) = invoke(&function, serde_json::json!({"tasks": ["ocsf-export"]}));
    assert_eq!(err, None, "{resp}");
    assert!(resp["ocsf"].as_array().unwrap().iter().all(|c| c["rows"] == 0), "nothing new: {resp}");
    assert!(
        !moto
            .s3_objects("lake-m", "ext/opensoc/network_activity/region=us-east-1/accountId=123456789012/eventDay=")
            .is_empty()
    );
    // The daily model: learned from the lake on S3 and committed to `models`.
    let (resp, err) = invoke(&function, serde_json::json!({"tasks": ["model-train"]}));
    assert_eq!(err, None, "{resp}");
    let hosts = resp["model"]["hosts"].as_u64().unwrap_or(0);
    assert!(hosts > 0 && resp["model"]["rows_read"]["flows"].as_u64().unwrap_or(0) > 0, "{resp}");
    let stored = moto.query(lake, "SELECT count(*) AS n FROM models WHERE entity_kind = 'host'");
    assert_eq!(stored[0]["n"].as_u64(), Some(hosts), "one row per host profiled");
    // A task it does not know is a function error, naming it.
    let (resp, err) = invoke(&function, serde_json::json!({"tasks": ["defrag"]}));
    assert_eq!(err.as_deref(), Some("BadRequest"), "{resp}");
    assert!(resp["errorMessage"].as_str().unwrap().contains("unknown task \"defrag\""), "{resp}");
    let logs = function.log_lines();
    assert!(logs.iter().any(|l| l["fields"]["message"] == "table maintained"), "JSON logs per table");
}
