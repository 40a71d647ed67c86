//! The OCSF export: a lake exported to the moto server's S3 in Security
//! Lake's layout, read back with pyarrow (independent of our writer) and
//! checked for each class's required attributes, time units, sorting,
//! compression and partitions; the Community IDs and finding ids equal what
//! SQL says; later runs export only what was committed since — compaction
//! exports nothing again.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::cloud::Moto;
use crate::support::{ingest, opensoc, query, repo, run, tempdir, venv_tool};

const CHECK: &str = r#"
import json, os, re, sys, datetime
import pyarrow.fs as pafs, pyarrow.parquet as pq

bucket_prefix = sys.argv[1]
endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ["AWS_ENDPOINT_URL"]
fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1",
                       access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"])
required = {
    "network_activity": (4001, ["src_endpoint.ip", "dst_endpoint.ip", "connection_info.protocol_num", "traffic.bytes"]),
    "http_activity": (4002, ["http_request.http_method", "http_request.url.hostname", "dst_endpoint.ip"]),
    "dns_activity": (4003, ["src_endpoint.ip", "dst_endpoint.ip"]),
    "detection_finding": (2004, ["finding_info.uid", "finding_info.title"]),
}
base = ["activity_id", "category_uid", "class_uid", "type_uid", "severity_id", "time",
        "metadata.version", "metadata.product.name", "metadata.product.vendor_name"]
def get(row, dotted):
    for part in dotted.split("."):
        row = None if row is None else row.get(part)
    return row
out = {}
problems = []
for folder, (uid, attrs) in required.items():
    infos = fs.get_file_info(pafs.FileSelector(f"{bucket_prefix}/{folder}", recursive=True, allow_not_found=True))
    files = sorted(i.path for i in infos if i.type == pafs.FileType.File)
    rows, corr, ids = 0, [], []
    for f in files:
        m = re.search(r"/region=us-east-1/accountId=123456789012/eventDay=(\d{8})/[^/]+\.parquet$", f)
        if not m:
            problems.append(f"{f}: not in region=/accountId=/eventDay= layout"); continue
        day = m.group(1)
        pf = pq.ParquetFile(f, filesystem=fs)
        for g in range(pf.metadata.num_row_groups):
            rg = pf.metadata.row_group(g)
            if rg.total_byte_size > 256 * 1024 * 1024:
                problems.append(f"{f}: row group {g} over 256 MB")
            for c in range(rg.num_columns):
                if rg.column(c).compression != "ZSTD":
                    problems.append(f"{f}: column {rg.column(c).path_in_schema} is {rg.column(c).compression}")
        data = pf.read().to_pylist()
        times = [r["time"] for r in data]
        if times != sorted(times):
            problems.append(f"{f}: not sorted by time")
        for r in data:
            for a in base + attrs:
                if get(r, a) is None:
                    problems.append(f"{f}: {a} missing"); break
            if r["class_uid"] != uid or r["type_uid"] != uid * 100 + r["activity_id"]:
                problems.append(f"{f}: class {r['class_uid']} type {r['type_uid']}")
            # Objects that are present carry their own required attributes.
            for obj, attr in [("query", "hostname"), ("http_response", "code")]:
                if r.get(obj) is not None and r[obj].get(attr) is None:
                    problems.append(f"{f}: {obj} without {attr}")
            if uid == 4003 and r["query"] is None and r["rcode_id"] is None:
                problems.append(f"{f}: a DNS event with neither query nor answer")
            if r["metadata"]["version"] != "1.3.0":
                problems.append(f"{f}: version {r['metadata']['version']}")
            if not (10**12 <= r["time"] < 10**13):
                problems.append(f"{f}: time {r['time']} is not in ms")
            d = datetime.datetime.fromtimestamp(r["time"] / 1000, datetime.timezone.utc).strftime("%Y%m%d")
            if d != day:
                problems.append(f"{f}: a row of {d} in eventDay={day}")
            corr.append(r["metadata"]["correlation_uid"])
            if uid == 2004:
                ids.append(r["finding_info"]["uid"])
        rows += len(data)
    out[folder] = {"files": len(files), "rows": rows, "correlation": corr, "finding_ids": ids}
print(json.dumps({"classes": out, "problems": problems[:20]}))
"#;

fn export(moto: &Moto, lake: &std::path::Path, to: &str) -> Value {
    let out = run(moto.opensoc().args(["export", "ocsf", "--lake"]).arg(lake).args([
        "--to",
        to,
        "--region",
        "us-east-1",
        "--account-id",
        "123456789012",
        "--format",
        "json",
    ]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the export's JSON report")
}

fn rows_of(report: &Value) -> u64 {
    report.as_array().unwrap().iter().map(|c| c["rows"].as_u64().unwrap()).sum()
}

fn read_back(moto: &Moto, python: &std::path::Path, script: &std::path::Path) -> Value {
    let mut cmd = Command::new(python);
    moto.env(&mut cmd);
    let out = run(cmd.arg(script).arg("ocsf-lake/ext/opensoc"));
    assert!(out.status.success(), "pyarrow: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("the checker's JSON");
    assert_eq!(v["problems"], serde_json::json!([]), "OCSF problems");
    v
}

fn count(lake: &std::path::Path, sql: &str) -> u64 {
    query(lake, sql)[0]["n"].as_u64().unwrap()
}

#[test]
fn the_lake_exports_to_ocsf_parquet_that_pyarrow_reads_back_and_later_runs_add_only_what_is_new() {
    let python = venv_tool("OPENSOC_LAKE_PYTHON", "lake-venv", "python", "polars deltalake duckdb pyarrow");
    let moto = Moto::start();
    moto.stream_and_bucket("ocsf", "ocsf-lake", 1);
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let demo: Vec<_> = std::fs::read_dir(repo().join("testdata/demo"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".pcap"))
        .collect();
    ingest(&lake, &demo);
    let detect = repo().join("testdata/detect");
    ingest(&lake, &[detect.join("nmap-syn-scan.pcap.gz")]);
    let script = dir.path().join("check.py");
    std::fs::write(&script, CHECK).unwrap();
    let to = "s3://ocsf-lake/ext/opensoc/";

    let first = export(&moto, &lake, to);
    let seen = read_back(&moto, &python, &script);
    let c = &seen["classes"];
    let flows = count(&lake, "SELECT count(*) AS n FROM flows");
    assert_eq!(c["network_activity"]["rows"].as_u64(), Some(flows));
    assert_eq!(c["dns_activity"]["rows"].as_u64(), Some(count(&lake, "SELECT count(*) AS n FROM dns")));
    assert_eq!(c["http_activity"]["rows"].as_u64(), Some(count(&lake, "SELECT count(*) AS n FROM http")));
    assert_eq!(c["detection_finding"]["rows"].as_u64(), Some(count(&lake, "SELECT count(*) AS n FROM findings")));
    assert_eq!(
        rows_of(&first),
        flows
            + c["dns_activity"]["rows"].as_u64().unwrap()
            + c["http_activity"]["rows"].as_u64().unwrap()
            + c["detection_finding"]["rows"].as_u64().unwrap()
    );
    // The Community ID is each flow's correlation uid; finding ids are the API's.
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array().unwrap().iter().filter_map(|x| x.as_str().map(String::from)).collect()
    };
    let cids: BTreeSet<String> = query(&lake, "SELECT DISTINCT community_id FROM flows WHERE community_id IS NOT NULL")
        .iter()
        .map(|r| r["community_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(set(&c["network_activity"]["correlation"]), cids);
    let ids: BTreeSet<String> =
        query(&lake, &format!("SELECT {} AS id FROM findings", opensoc_lake::workflow::FINDING_ID_SQL))
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(set(&c["detection_finding"]["finding_ids"]), ids);
    assert!(c["detection_finding"]["rows"].as_u64().unwrap() >= 1, "the scan is a finding");

    // Nothing new: nothing written.
    assert_eq!(rows_of(&export(&moto, &lake, to)), 0);
    // New data in days that already have files (a capture sent again):
    // exactly its rows.
    let again = demo
        .iter()
        .filter(|p| p.to_string_lossy().contains(".pcap"))
        .min_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
        .clone();
    ingest(&lake, &[again]);
    let third = export(&moto, &lake, to);
    let flows_after = count(&lake, "SELECT count(*) AS n FROM flows");
    let network = third.as_array().unwrap().iter().find(|r| r["class_uid"] == 4001).unwrap();
    assert_eq!(network["rows"].as_u64(), Some(flows_after - flows));
    // Compaction rewrites that day's files (dataChange false): nothing to
    // export. (Retention off: the demo captures are years old.)
    let keep: Vec<String> = ["flows", "packets", "dns", "http", "tls", "logs", "findings", "quarantine"]
        .iter()
        .flat_map(|t| ["--retention".to_string(), format!("{t}=0")])
        .collect();
    let out =
        run(opensoc().args(["maintain", "--vacuum-hours", "0", "--format", "json", "--lake"]).arg(&lake).args(&keep));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let compacted: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["table"] == "flows")
        .map(|r| r["partitions_compacted"].as_u64().unwrap_or(0))
        .sum();
    assert!(compacted >= 1, "maintenance compacted the day of flows: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows_of(&export(&moto, &lake, to)), 0, "compaction is not new data");
    let seen = read_back(&moto, &python, &script);
    let c = &seen["classes"];
    assert_eq!(c["network_activity"]["rows"].as_u64(), Some(flows_after), "every flow once");
    assert_eq!(c["dns_activity"]["rows"].as_u64(), Some(count(&lake, "SELECT count(*) AS n FROM dns")));
    assert_eq!(c["detection_finding"]["rows"].as_u64(), Some(count(&lake, "SELECT count(*) AS n FROM findings")));
}

#[test]
fn bad_export_settings_are_refused_before_anything_is_written() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest(&lake, &[repo().join("testdata/detect/nmap-syn-scan.pcap.gz")]);
    let out_dir = dir.path().join("out");
    for (args, says) in [
        (vec!["--region", "us-east-1", "--account-id", "42"], "12 digits"),
        (vec!["--region", "../x", "--account-id", "123456789012"], "region"),
        (vec!["--region", "us-east-1", "--account-id", "123456789012", "--class", "email"], "unknown class"),
    ] {
        let out = run(opensoc().args(["export", "ocsf", "--lake"]).arg(&lake).arg("--to").arg(&out_dir).args(&args));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!out_dir.join("_opensoc").exists(), "nothing written");
    // A local folder works as a destination too, and --full re-exports.
    let ok = |extra: &[&str]| {
        let out = run(opensoc()
            .args(["export", "ocsf", "--format", "json", "--lake"])
            .arg(&lake)
            .arg("--to")
            .arg(&out_dir)
            .args(["--region", "eu-west-1", "--account-id", "123456789012"])
            .args(extra));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        rows_of(&serde_json::from_slice(&out.stdout).unwrap())
    };
    let first = ok(&[]);
    assert!(first > 0);
    assert_eq!(ok(&[]), 0);
    assert_eq!(ok(&["--full"]), first);
}
