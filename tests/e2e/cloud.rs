//! The cloud path over the real wire: `opensoc-sensor` → Kinesis → `opensoc
//! esm` (the ingest function's handler) → Delta on S3, all against a moto
//! server process (S3 and Kinesis) with the real AWS SDK clients.
//! Each test starts its own server on a free port. Built with `--features
//! docker`, `OPENSOC_TEST_BACKEND=localstack` runs the same cases on a
//! LocalStack container, and `=minio` keeps Kinesis in moto but the lake and
//! the claim-checked segments in a MinIO container (see [`crate::containers`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ingest, opensoc, query, run, tempdir, venv_tool};

/// A moto server for one test (or the containers standing in for it);
/// stopped on drop.
pub struct Moto {
    child: Option<Child>,
    port: u16,
    /// Where S3 requests go when not to `port` (MinIO).
    s3_port: Option<u16>,
    #[cfg(feature = "docker")]
    _containers: Option<crate::containers::Containers>,
    state: tempfile::TempDir,
    sensors: std::cell::Cell<u32>,
}

/// Credentials every server here accepts (MinIO wants a secret of 8+ characters).
pub const ACCESS_KEY: &str = "opensoc";
pub const SECRET_KEY: &str = "opensoc-secret";

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn moto_server() -> PathBuf {
    venv_tool("OPENSOC_MOTO_SERVER", "venv", "moto_server", "'moto[server]'")
}

impl Moto {
    pub fn start() -> Moto {
        match std::env::var("OPENSOC_TEST_BACKEND").as_deref() {
            Ok("moto") | Err(_) => Moto::start_moto(),
            #[cfg(feature = "docker")]
            Ok(name) => crate::containers::start(name),
            #[cfg(not(feature = "docker"))]
            Ok(name) => panic!(
                "OPENSOC_TEST_BACKEND={name} needs the container backends: run `cargo nextest run --features docker` \
                 on a machine with Docker (scripts/test-docker)"
            ),
        }
    }

    pub(crate) fn start_moto() -> Moto {
        let port = free_port();
        let state = tempdir();
        let log = std::fs::File::create(state.path().join("moto.log")).unwrap();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto::assemble(Some(child), port, None, state)
    }

    pub(crate) fn assemble(child: Option<Child>, port: u16, s3_port: Option<u16>, state: tempfile::TempDir) -> Moto {
        Moto {
            child,
            port,
            s3_port,
            #[cfg(feature = "docker")]
            _containers: None,
            state,
            sensors: std::cell::Cell::new(0),
        }
    }

    /// Take the server apart (to re-assemble it with another S3).
    #[cfg(feature = "docker")]
    pub(crate) fn into_parts(mut self) -> (Option<Child>, u16, tempfile::TempDir) {
        let child = self.child.take();
        let state = std::mem::replace(&mut self.state, tempdir());
        (child, self.port, state)
    }

    #[cfg(feature = "docker")]
    pub(crate) fn with_containers(mut self, c: crate::containers::Containers) -> Moto {
        self._containers = Some(c);
        self
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Apply the AWS SDK's standard environment for this server.
    pub fn env<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        self.env_at(c, &self.endpoint())
    }

    fn env_at<'a>(&self, c: &'a mut Command, endpoint: &str) -> &'a mut Command {
        c.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL_S3");
        if let Some(p) = self.s3_port {
            c.env("AWS_ENDPOINT_URL_S3", format!("http://127.0.0.1:{p}"));
        }
        c
    }

    /// Where S3 requests go.
    pub fn s3_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port.unwrap_or(self.port))
    }

    /// Create a stream and a bucket with `opensoc stack up`.
    pub fn stream_and_bucket(&self, stream: &str, bucket: &str, shards: u32) {
        let out = run(opensoc().args(["stack", "up", "--port", &self.port.to_string()]).args([
            "--stream",
            stream,
            "--bucket",
            bucket,
            "--shards",
            &shards.to_string(),
        ]));
        assert!(out.status.success(), "stack up: {}", String::from_utf8_lossy(&out.stderr));
        if self.s3_port.is_some() {
            // The lake's bucket belongs in the separate S3 server.
            let (rt, s3) = self.s3();
            match rt.block_on(s3.create_bucket().bucket(bucket).send()) {
                Ok(_) => {}
                Err(e) => {
                    let msg = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
                    assert!(msg.contains("BucketAlreadyOwnedByYou"), "creating bucket {bucket}: {msg}");
                }
            }
        }
    }

    fn s3(&self) -> (tokio::runtime::Runtime, aws_sdk_s3::Client) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let conf = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(self.s3_endpoint())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "e2e"))
                .load(),
        );
        (rt, aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build()))
    }

    /// Keys and sizes of the objects under `prefix`.
    pub fn s3_objects(&self, bucket: &str, prefix: &str) -> Vec<(String, i64)> {
        let (rt, s3) = self.s3();
        let out = rt.block_on(s3.list_objects_v2().bucket(bucket).prefix(prefix).send()).unwrap();
        out.contents().iter().map(|o| (o.key().unwrap_or_default().to_string(), o.size().unwrap_or(0))).collect()
    }

    /// Put an object.
    pub fn s3_put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let (rt, s3) = self.s3();
        rt.block_on(s3.put_object().bucket(bucket).key(key).body(bytes.into()).send()).unwrap();
    }

    /// Delete an object.
    pub fn s3_delete(&self, bucket: &str, key: &str) {
        let (rt, s3) = self.s3();
        rt.block_on(s3.delete_object().bucket(bucket).key(key).send()).unwrap();
    }

    /// `opensoc-sensor` talking to this server, with a spool of its own.
    pub fn sensor(&self) -> Command {
        self.sensor_at(&self.endpoint())
    }

    /// `opensoc-sensor` talking to `endpoint` (a proxy in front of the server).
    pub fn sensor_at(&self, endpoint: &str) -> Command {
        // Built beside `opensoc` by `cargo nextest run --workspace` / `cargo build --workspace`.
        let bin = Path::new(env!("CARGO_BIN_EXE_opensoc")).with_file_name("opensoc-sensor");
        assert!(bin.is_file(), "{} is missing: build it with `cargo build -p opensoc-sensor`", bin.display());
        let mut c = Command::new(bin);
        self.env_at(&mut c, endpoint);
        let n = self.sensors.get();
        self.sensors.set(n + 1);
        c.env("OPENSOC_SPOOL_DIR", self.state.path().join(format!("spool-{n}")))
            .env("OPENSOC_SENSOR_STATE", self.state.path().join(format!("sensor-state-{n}")))
            .env("RUST_BACKTRACE", "1");
        c
    }

    pub fn opensoc(&self) -> Command {
        let mut c = opensoc();
        self.env(&mut c);
        c
    }

    /// `opensoc esm --until-idle` with a checkpoint file in `dir`.
    pub fn esm(&self, stream: &str, lake: &str, dir: &Path) -> Command {
        self.esm_with_checkpoint(stream, lake, &dir.join(format!("esm-{stream}.json")))
    }

    fn esm_with_checkpoint(&self, stream: &str, lake: &str, checkpoint: &Path) -> Command {
        let mut c = self.opensoc();
        c.args(["esm", "--stream", stream, "--lake", lake, "--until-idle", "--format", "json"])
            .arg("--checkpoint-file")
            .arg(checkpoint);
        c
    }

    pub fn query(&self, lake: &str, sql: &str) -> Vec<Value> {
        let out = run(self.opensoc().args(["query", "--lake", lake, "--format", "json", sql]));
        assert!(out.status.success(), "query {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn demo_captures() -> Vec<PathBuf> {
    let dir = crate::support::repo().join("testdata/demo");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    v
}

pub const COUNTS: &str = "SELECT (SELECT count(*) FROM flows) AS flows, (SELECT sum(pkt_count) FROM packets) AS packets, \
     (SELECT count(*) FROM dns) AS dns, (SELECT count(*) FROM http) AS http, (SELECT count(*) FROM tls) AS tls, \
     (SELECT count(*) FROM quarantine) AS quarantine";

pub fn counts(rows: Vec<Value>) -> Value {
    rows.into_iter().next().expect("one row")
}

/// What `opensoc ingest` stores for the demo captures.
pub fn local_counts() -> Value {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest(&lake, &demo_captures());
    counts(query(&lake, COUNTS))
}

pub fn write_logs(dir: &Path) -> (PathBuf, PathBuf, usize) {
    let syslog = dir.join("syslog.log");
    let mut s = String::new();
    for i in 0..250 {
        s.push_str(&format!("<34>Oct 11 22:14:{:02} host{} su: 'su root' failed for user{i}\n", i % 60, i % 7));
        s.push_str(&format!("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID{i} [exampleSDID@32473 iut=\"3\"] An application event {i}\n"));
    }
    std::fs::write(&syslog, s).unwrap();
    let eve = dir.join("eve.json");
    let mut e = String::new();
    for i in 0..300 {
        e.push_str(&format!(
            "{{\"timestamp\":\"2024-01-01T00:00:{:02}.000000+0000\",\"event_type\":\"alert\",\"src_ip\":\"10.0.0.{}\",\"dest_ip\":\"8.8.8.8\",\"alert\":{{\"signature_id\":{i}}}}}\n",
            i % 60,
            i % 250
        ));
    }
    std::fs::write(&eve, e).unwrap();
    (syslog, eve, 500 + 300)
}

#[test]
fn sensor_to_stream_to_lake_equals_local_ingest_and_redelivery_adds_nothing() {
    let moto = Moto::start();
    moto.stream_and_bucket("e2e", "lake-e2e", 4);
    let dir = tempdir();
    let (syslog, eve, lines) = write_logs(dir.path());
    let out = run(moto
        .sensor()
        .args(["replay", "--stream", "e2e", "--sensor-id", "edge-1"])
        .args(demo_captures())
        .arg("--logs")
        .args([&syslog, &eve]));
    assert!(out.status.success(), "sensor replay failed: {}", String::from_utf8_lossy(&out.stderr));
    let lake = "s3://lake-e2e/lake";
    let out = run(&mut moto.esm("e2e", lake, dir.path()));
    assert!(out.status.success(), "esm failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["shards"], 4);
    let expected = local_counts();
    assert_eq!(counts(moto.query(lake, COUNTS)), expected, "the cloud path stores what local ingest stores");
    let logs =
        moto.query(lake, "SELECT source_type, count(*) AS n FROM logs GROUP BY source_type ORDER BY source_type");
    assert_eq!(
        logs,
        vec![
            serde_json::json!({"source_type": "suricata-eve", "n": 300}),
            serde_json::json!({"source_type": "syslog", "n": 500})
        ]
    );
    assert_eq!(logs.iter().map(|r| r["n"].as_u64().unwrap()).sum::<u64>(), lines as u64);
    let sensors = moto.query(lake, "SELECT DISTINCT sensor_id FROM flows");
    assert_eq!(sensors, vec![serde_json::json!({"sensor_id": "edge-1"})]);

    // Redeliver the whole stream: exactly once means nothing changes.
    let out = run(moto.esm("e2e", lake, dir.path()).args(["--from", "trim-horizon"]));
    assert!(out.status.success(), "esm redelivery failed: {}", String::from_utf8_lossy(&out.stderr));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(again["records"].as_u64().unwrap() > 0, "the redelivery re-read the stream: {again}");
    assert_eq!(counts(moto.query(lake, COUNTS)), expected);
    assert_eq!(moto.query(lake, "SELECT count(*) AS n FROM logs")[0]["n"], lines as u64);
}

#[test]
fn a_crash_at_any_point_then_redelivery_leaves_exact_counts() {
    let moto = Moto::start();
    let expected = local_counts();
    for point in ["before-write", "between-tables", "after-commit", "after-response-built"] {
        let stream = format!("crash-{point}");
        let bucket = format!("lake-{point}");
        moto.stream_and_bucket(&stream, &bucket, 2);
        let dir = tempdir();
        let out = run(moto.sensor().args(["replay", "--stream", &stream]).args(demo_captures()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lake = format!("s3://{bucket}/lake");
        // The worker dies at the point (abort, like kill -9)…
        let out = moto.esm(&stream, &lake, dir.path()).env("OPENSOC_CRASH_AT", point).output().unwrap();
        assert!(out.status.code().is_none(), "{point}: the worker should have been killed: {out:?}");
        // …and the next one is handed the same records again.
        let out = run(&mut moto.esm(&stream, &lake, dir.path()));
        assert!(out.status.success(), "{point}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(counts(moto.query(&lake, COUNTS)), expected, "after a crash at {point}");
    }
}

#[test]
fn four_workers_on_four_shards_commit_to_the_same_tables_at_once() {
    let moto = Moto::start();
    moto.stream_and_bucket("par", "lake-par", 4);
    let dir = tempdir();
    // Several replays, so every shard gets records of every table.
    for i in 0..3 {
        let out = run(moto
            .sensor()
            .args(["replay", "--stream", "par", "--sensor-id", &format!("s{i}")])
            .args(demo_captures()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let lake = "s3://lake-par/lake";
    // Create the tables first, so the workers race on commits, not on creation.
    let out = run(moto.esm("par", lake, dir.path()).args(["--from", "latest"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    shard_workers(&moto, "par", lake, dir.path(), &["--from", "trim-horizon"]);
    let one = local_counts();
    let got = counts(moto.query(lake, COUNTS));
    for k in ["flows", "packets", "dns", "http", "tls", "quarantine"] {
        assert_eq!(got[k].as_u64().unwrap(), 3 * one[k].as_u64().unwrap(), "{k}: {got} vs 3 × {one}");
    }
    let per_sensor =
        moto.query(lake, "SELECT sensor_id, count(*) AS n FROM flows GROUP BY sensor_id ORDER BY sensor_id");
    assert_eq!(per_sensor.len(), 3);
    assert!(per_sensor.iter().all(|r| r["n"] == one["flows"]), "{per_sensor:?}");
}

/// `opensoc esm --shard` for each of 4 shards, as 4 processes at once;
/// each must succeed. Returns their standard outputs.
fn shard_workers(moto: &Moto, stream: &str, lake: &str, dir: &Path, args: &[&str]) -> Vec<String> {
    let workers: Vec<Child> = (0..4)
        .map(|i| {
            moto.esm_with_checkpoint(stream, lake, &dir.join(format!("w{i}.json")))
                .args(args)
                .args(["--shard", &format!("shardId-{i:012}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    workers
        .into_iter()
        .map(|w| {
            let out = w.wait_with_output().unwrap();
            assert!(out.status.success(), "worker: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

#[test]
fn garbage_on_the_stream_is_quarantined_with_reasons_and_the_rest_lands() {
    let moto = Moto::start();
    moto.stream_and_bucket("junk", "lake-junk", 1);
    let dir = tempdir();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_kinesis::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "t"))
            .load()
            .await;
        let k = aws_sdk_kinesis::Client::new(&conf);
        let random: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        let writer = opensoc_schemas::envelope::RecordWriter::new("junk-sensor", 3).unwrap();
        let mut lines = Vec::new();
        opensoc_schemas::envelope::push_log_line(&mut lines, 1, "x", b"<13>Jan  1 00:00:00 host app: one good line");
        // A line its declared type does not fit: quarantined on its own.
        opensoc_schemas::envelope::push_log_line(&mut lines, 2, "x", b"not syslog at all");
        let good = writer.record(opensoc_schemas::envelope::Kind::Logs, "syslog", 1, 0, &lines).unwrap();
        // The payload starts after the 29-byte header, the sensor id and the label.
        let payload_at = 29 + "junk-sensor".len() + 1 + "syslog".len();
        let mut bad_zstd = good.clone();
        bad_zstd[payload_at..].iter_mut().for_each(|b| *b = b'!');
        let truncated = good[..20].to_vec();
        let mut bomb = good.clone();
        bomb[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        let kpl = opensoc_lake::stream::kpl::aggregate("pk", &[b"kpl line a", b"kpl line b"]);
        let records: Vec<(&str, Vec<u8>)> = vec![
            ("random bytes", random),
            ("bad zstd", bad_zstd),
            ("truncated", truncated),
            ("bomb", bomb),
            ("good", good),
            ("kpl", kpl),
            ("third party", b"<13>Jan  1 00:00:00 fw kernel: DROP IN=eth0\n".to_vec()),
        ];
        for (pk, data) in records {
            k.put_record()
                .stream_name("junk")
                .partition_key(pk)
                .data(aws_sdk_kinesis::primitives::Blob::new(data))
                .send()
                .await
                .unwrap();
        }
    });
    let lake = "s3://lake-junk/lake";
    let out = run(&mut moto.esm("junk", lake, dir.path()));
    assert!(out.status.success(), "garbage must not fail the batch: {}", String::from_utf8_lossy(&out.stderr));
    let q =
        moto.query(lake, "SELECT reason, length(encode(raw, 'hex')) / 2 AS raw_len FROM quarantine ORDER BY reason");
    let reasons: Vec<&str> = q.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(q.len(), 5, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("not text")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("syslog: neither <PRI> nor a timestamp")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("does not decompress")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("truncated")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("over the")), "{reasons:?}");
    assert!(q.iter().all(|r| r["raw_len"].as_u64().unwrap() > 0), "the bytes are kept");
    let logs = moto.query(lake, "SELECT source_type, message FROM logs ORDER BY message");
    let messages: Vec<&str> = logs.iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(messages, vec!["DROP IN=eth0", "kpl line a", "kpl line b", "one good line"], "{logs:?}");
}

#[test]
fn a_zeek_tsv_log_spread_over_shards_parses_on_workers_that_never_saw_its_header() {
    let moto = Moto::start();
    moto.stream_and_bucket("zeek", "lake-zeek", 4);
    let dir = tempdir();
    // A conn.log of a few MiB: many records, spread over the 4 shards.
    let sample = std::fs::read_to_string(crate::support::repo().join("testdata/logs/conn.log")).unwrap();
    let (header, rest): (Vec<&str>, Vec<&str>) =
        sample.lines().partition(|l| l.starts_with('#') && !l.starts_with("#close"));
    let row = rest.iter().find(|l| !l.starts_with('#')).unwrap();
    let n = 30_000;
    let mut text = header.join("\n") + "\n";
    for i in 0..n {
        text.push_str(&row.replacen("CgyLhY3QzDA2ftlRN5", &format!("C{i:017}"), 1));
        text.push('\n');
    }
    let log = dir.path().join("conn.log");
    std::fs::write(&log, text).unwrap();
    let out = run(moto.sensor().args(["replay", "--stream", "zeek", "--sensor-id", "z1", "--logs"]).arg(&log));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // One worker process per shard: none shares another's parser state.
    let lake = "s3://lake-zeek/lake";
    let outputs = shard_workers(&moto, "zeek", lake, dir.path(), &[]);
    let records =
        |o: &str| serde_json::from_str::<Value>(o.trim()).ok().and_then(|v| v["records"].as_u64()).unwrap_or(0);
    let shards_with_data = outputs.iter().filter(|o| records(o) > 0).count();
    assert!(shards_with_data >= 2, "the file's records went to several shards: {outputs:?}");
    let got = moto.query(
        lake,
        "SELECT count(*) AS n, count(DISTINCT fields) AS distinct_rows, min(app) AS app, min(dst_port) AS port FROM logs",
    );
    assert_eq!(got[0]["n"], n, "every data line, once: {got:?}");
    assert_eq!(got[0]["distinct_rows"], n);
    assert_eq!((got[0]["app"].as_str(), got[0]["port"].as_u64()), (Some("conn"), Some(80)));
    let bad = moto.query(lake, "SELECT count(*) AS n FROM quarantine");
    assert_eq!(bad[0]["n"], 0, "no line without its header");
}
