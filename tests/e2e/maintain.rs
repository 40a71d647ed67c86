//! `opensoc maintain`: compaction keeps every row and carve result, retention
//! drops whole old partitions, and maintenance running while ingest commits
//! loses nothing.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::cloud::demo_captures;
use crate::support::{capinfos, opensoc, query, run, tempdir};

/// Keep every table's data (the demo captures are years old, so the
/// default retention would delete them).
const KEEP_ALL: [&str; 9] =
    ["flows=0", "packets=0", "dns=0", "http=0", "tls=0", "logs=0", "quarantine=0", "findings=0", "intel=0"];

fn ingest_as(lake: &Path, sensor: &str) {
    let out = run(opensoc()
        .args(["ingest", "--no-progress", "--sensor-id", sensor, "--lake"])
        .arg(lake)
        .args(demo_captures()));
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
}

fn maintain(lake: &Path, retention: &[&str]) -> Vec<Value> {
    let mut c = opensoc();
    c.args(["maintain", "--format", "json", "--lake"]).arg(lake);
    for r in retention {
        c.args(["--retention", r]);
    }
    let out = run(&mut c);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn counts(lake: &Path) -> Value {
    query(
        lake,
        "SELECT (SELECT count(*) FROM flows) AS flows, (SELECT CAST(sum(pkt_count) AS BIGINT) FROM packets) AS packets, \
         (SELECT count(*) FROM dns) AS dns, (SELECT count(*) FROM http) AS http, (SELECT count(*) FROM tls) AS tls",
    )[0]
    .clone()
}

fn carve(lake: &Path, cid: &str, out: &Path) -> Vec<u8> {
    let o = run(opensoc().args(["carve", "--lake"]).arg(lake).args(["--community-id", cid, "-o"]).arg(out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn compaction_keeps_every_row_and_carve_and_retention_drops_old_partitions() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    for s in ["s1", "s2", "s3"] {
        ingest_as(&lake, s);
    }
    let before = counts(&lake);
    let cid = query(&lake, "SELECT community_id FROM flows WHERE app_proto = 'http' ORDER BY bytes DESC LIMIT 1")[0]
        ["community_id"]
        .as_str()
        .unwrap()
        .to_string();
    let carved_before = carve(&lake, &cid, &dir.path().join("before.pcap"));

    let reports = maintain(&lake, &KEEP_ALL);
    let flows = reports.iter().find(|r| r["table"] == "flows").unwrap();
    assert!(flows["skipped"].is_null(), "{flows}");
    assert!(
        flows["files_after"].as_u64().unwrap() < flows["files_before"].as_u64().unwrap(),
        "three ingests' small files are compacted: {flows}"
    );
    assert!(flows["checkpoint_version"].as_i64().is_some());
    assert_eq!(counts(&lake), before, "every row is still there");
    let carved_after = carve(&lake, &cid, &dir.path().join("after.pcap"));
    assert_eq!(carved_after, carved_before, "the carve gives the same bytes");
    assert!(capinfos(&dir.path().join("after.pcap")).0 > 0);
    // Readers of the lake as of before maintenance still work: vacuum keeps 7 days.
    assert!(reports.iter().all(|r| r["vacuumed_files"] == 0), "{reports:?}");

    // Retention: packets keep 1 day, so the years-old demo partitions go; the rest stays.
    let keep_but_packets: Vec<&str> = KEEP_ALL.iter().copied().filter(|r| !r.starts_with("packets")).collect();
    let mut retention = keep_but_packets.clone();
    retention.push("packets=1");
    let reports = maintain(&lake, &retention);
    let packets = reports.iter().find(|r| r["table"] == "packets").unwrap();
    assert!(packets["retention_files_removed"].as_u64().unwrap() > 0, "{packets}");
    let after = counts(&lake);
    assert!(after["packets"].is_null() || after["packets"] == 0, "{after}");
    assert_eq!(after["flows"], before["flows"]);
}

#[test]
fn maintenance_while_ingest_commits_loses_nothing() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest_as(&lake, "w0");
    let one = counts(&lake);
    // Six more ingests in the background, one after the other…
    let lake2 = lake.clone();
    let writer = std::thread::spawn(move || {
        for i in 1..=6 {
            ingest_as(&lake2, &format!("w{i}"));
        }
    });
    // …while maintenance runs again and again.
    let mut runs = 0;
    let mut retries = 0;
    while !writer.is_finished() || runs < 2 {
        let mut c = opensoc();
        c.args(["maintain", "--format", "json", "--lake"]).arg(&lake).stderr(Stdio::piped());
        for r in KEEP_ALL {
            c.args(["--retention", r]);
        }
        let out = run(&mut c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "maintenance failed or skipped a table: {stderr}");
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let r: Value = serde_json::from_str(l).unwrap();
            retries += r["retries"].as_u64().unwrap();
        }
        runs += 1;
    }
    writer.join().unwrap();
    let all = counts(&lake);
    for k in ["flows", "packets", "dns", "http", "tls"] {
        assert_eq!(
            all[k].as_u64().unwrap(),
            7 * one[k].as_u64().unwrap(),
            "{k}: {all} vs 7 × {one} ({runs} runs, {retries} retries)"
        );
    }
    let per_sensor = query(&lake, "SELECT sensor_id, count(*) AS n FROM flows GROUP BY sensor_id");
    assert_eq!(per_sensor.len(), 7);
    assert!(per_sensor.iter().all(|r| r["n"] == one["flows"]), "{per_sensor:?}");
}
