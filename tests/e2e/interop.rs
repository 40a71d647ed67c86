//! The lake read by other engines: Polars (`read_delta`), the deltalake
//! Python package (delta-rs's, but its own reader), and DuckDB over the
//! files the Delta log lists. Each must see what `opensoc query` sees, before
//! and after maintenance rewrote the files — a reader that ignored the log
//! would count compacted rows twice.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{ingest, opensoc, query, run, tempdir, venv_tool};

fn lake_python() -> PathBuf {
    venv_tool("OPENSOC_LAKE_PYTHON", "lake-venv", "python", "polars deltalake duckdb pyarrow")
}

/// Per table: rows by Polars, by deltalake, by DuckDB; for flows the byte
/// total and distinct Community IDs by each; for packets the bytes of
/// packet records each decodes.
const READERS: &str = r#"
import json, os, sys
import duckdb, polars as pl
from deltalake import DeltaTable
lake = sys.argv[1]
out = {}
for t in sys.argv[2:]:
    path = f"{lake}/{t}"
    dt = DeltaTable(path)
    files = dt.file_uris()
    con = duckdb.connect()
    duck = con.sql(f"SELECT count(*) FROM read_parquet({files!r}, hive_partitioning = true)").fetchall()[0][0] if files else 0
    df = pl.read_delta(path)
    row = {"polars": df.height, "deltalake": dt.to_pyarrow_table(columns=["event_date"]).num_rows, "duckdb": duck, "version": dt.version(), "files": len(files)}
    if t == "flows":
        row["polars_bytes"] = int(df["bytes"].sum())
        row["polars_cids"] = df["community_id"].n_unique()
        row["duckdb_bytes"] = int(con.sql(f"SELECT sum(bytes) FROM read_parquet({files!r}, hive_partitioning = true)").fetchall()[0][0])
        row["polars_days"] = sorted(str(d) for d in df["event_date"].unique().to_list())
    if t == "packets":
        # Decodes every page of the record column, which opensoc writes itself.
        row["polars_data_bytes"] = int(df["data"].bin.size().sum())
        row["duckdb_data_bytes"] = int(con.sql(f"SELECT sum(octet_length(data)) FROM read_parquet({files!r}, hive_partitioning = true)").fetchall()[0][0])
        row["deltalake_data_bytes"] = sum(len(v) for v in dt.to_pyarrow_table(columns=["data"])["data"].to_pylist())
    out[t] = row
    con.close()
json.dump(out, sys.stdout)
sys.stdout.flush()
# Skip interpreter teardown: the engines' native thread pools can abort it
# ("terminate called without an active exception") after the work is done.
os._exit(0)
"#;

fn read_with_others(lake: &Path, tables: &[&str]) -> Value {
    let out = Command::new(lake_python()).arg("-c").arg(READERS).arg(lake).args(tables).output().expect("python");
    assert!(out.status.success(), "the other readers failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from the readers")
}

fn ours(lake: &Path, table: &str) -> i64 {
    query(lake, &format!("SELECT count(*) AS n FROM {table}"))[0]["n"].as_i64().unwrap()
}

#[test]
fn polars_deltalake_and_duckdb_read_what_opensoc_wrote_before_and_after_maintenance() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let repo = crate::support::repo();
    // Several ingests: more than one version, and partitions with several
    // files for maintenance to merge, as a stream leaves them.
    ingest(&lake, &[repo.join("testdata/demo")]);
    ingest(&lake, &[repo.join("testdata/demo")]);
    ingest(&lake, &[repo.join("testdata/detect"), repo.join("testdata/logs")]);
    let tables = ["flows", "packets", "dns", "http", "tls", "logs", "findings", "quarantine"];

    let check = |stage: &str| -> Value {
        let others = read_with_others(&lake, &tables);
        for t in tables {
            let n = ours(&lake, t);
            assert!(n > 0, "{stage}: {t} is empty; the test data should fill it");
            for reader in ["polars", "deltalake", "duckdb"] {
                assert_eq!(
                    others[t][reader].as_i64(),
                    Some(n),
                    "{stage}: {reader} counts {t} differently: {}",
                    others[t]
                );
            }
        }
        let totals = &query(&lake, "SELECT sum(bytes) AS b, count(DISTINCT community_id) AS c FROM flows")[0];
        let f = &others["flows"];
        assert_eq!(f["polars_bytes"], totals["b"], "{stage}: flows bytes (polars)");
        assert_eq!(f["duckdb_bytes"], totals["b"], "{stage}: flows bytes (duckdb)");
        assert_eq!(f["polars_cids"], totals["c"], "{stage}: distinct community ids");
        // The record bytes each chunk holds, as opensoc counted them when writing.
        let data_bytes = &query(&lake, "SELECT sum(byte_count) AS b FROM packets")[0]["b"];
        for reader in ["polars", "duckdb", "deltalake"] {
            let theirs = &others["packets"][format!("{reader}_data_bytes")];
            assert_eq!(theirs, data_bytes, "{stage}: packet record bytes ({reader})");
        }
        // event_date reads back as a date, not a string or a number.
        let days: Vec<String> = query(&lake, "SELECT DISTINCT CAST(event_date AS VARCHAR) AS d FROM flows ORDER BY d")
            .iter()
            .map(|r| r["d"].as_str().unwrap().to_string())
            .collect();
        let polars_days: Vec<String> =
            f["polars_days"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
        assert_eq!(polars_days, days, "{stage}: partition dates");
        others
    };

    let before = check("before maintenance");
    let out = run(opensoc().args(["maintain", "--vacuum-hours", "0", "--format", "json", "--lake"]).arg(&lake).args([
        "--retention",
        "flows=0",
        "--retention",
        "packets=0",
        "--retention",
        "dns=0",
        "--retention",
        "http=0",
        "--retention",
        "tls=0",
        "--retention",
        "logs=0",
        "--retention",
        "findings=0",
        "--retention",
        "quarantine=0",
    ]));
    assert!(out.status.success(), "maintain: {}", String::from_utf8_lossy(&out.stderr));
    let after = check("after maintenance");
    // Maintenance did rewrite files, so the readers followed the log.
    let flows_files = (before["flows"]["files"].as_i64().unwrap(), after["flows"]["files"].as_i64().unwrap());
    assert!(flows_files.1 < flows_files.0, "flows files {flows_files:?}: compaction should have merged them");
    assert!(after["flows"]["version"].as_i64() > before["flows"]["version"].as_i64());
}
