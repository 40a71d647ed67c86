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

/// `opensoc maintain --format json`: the exit status and the table reports.
fn maintain_status(lake: &Path, retention: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let mut c = opensoc();
    c.args(["maintain", "--format", "json", "--lake"]).arg(lake);
    for r in retention {
        c.args(["--retention", r]);
    }
    let out = run(&mut c);
    let reports = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code(), reports, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn maintain(lake: &Path, retention: &[&str]) -> Vec<Value> {
    let (code, reports, stderr) = maintain_status(lake, retention);
    assert_eq!(code, Some(0), "{stderr}");
    reports
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
    let days = query(&lake, "SELECT count(DISTINCT event_date) AS n FROM flows")[0]["n"].as_u64().unwrap();
    assert_eq!(flows["partitions_zordered"].as_u64(), flows["partitions_compacted"].as_u64(), "{flows}");
    assert!(flows["partitions_compacted"].as_u64().unwrap() <= days, "{flows}");

    // A second run finds nothing new: compacted partitions are not rewritten.
    let again = maintain(&lake, &KEEP_ALL);
    for r in &again {
        assert_eq!(r["partitions_compacted"], 0, "nothing arrived, nothing to rewrite: {r}");
        assert_eq!(r["files_after"], r["files_before"], "{r}");
    }
    // Log entries past the log retention (30 days) go once a checkpoint
    // covers them: commits leave this to maintenance.
    let log = lake.join("flows/_delta_log");
    let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400);
    for entry in std::fs::read_dir(&log).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(month_ago).unwrap();
        }
    }
    let reports = maintain(&lake, &KEEP_ALL);
    let flows = reports.iter().find(|r| r["table"] == "flows").unwrap();
    assert!(flows["expired_log_files_removed"].as_u64().unwrap() > 0, "{flows}");
    assert!(!log.join("00000000000000000000.json").exists(), "the first version's entry is gone");
    assert_eq!(counts(&lake), before, "the table reads the same from its checkpoint");

    // New files in old partitions: those partitions, and only those, again.
    ingest_as(&lake, "s4");
    let before = counts(&lake);
    let reports = maintain(&lake, &KEEP_ALL);
    assert_eq!(counts(&lake), before, "every row is still there");
    let flows = reports.iter().find(|r| r["table"] == "flows").unwrap();
    let compacted = flows["partitions_compacted"].as_u64().unwrap();
    assert!(compacted > 0 && compacted <= days, "{flows}");
    assert!(flows["files_after"].as_u64().unwrap() < flows["files_before"].as_u64().unwrap(), "{flows}");

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

/// `opensoc query --stats`: the last stderr line is the scan's JSON.
fn query_stats(lake: &Path, sql: &str) -> Value {
    let out = run(opensoc().args(["query", "--stats", "--format", "csv", "--lake"]).arg(lake).arg(sql));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    serde_json::from_str(stderr.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

#[test]
fn query_and_carve_report_what_they_read_and_pruning_shows_in_it() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest_as(&lake, "s1");
    ingest_as(&lake, "s2");
    let days = query(&lake, "SELECT count(DISTINCT event_date) AS n FROM flows")[0]["n"].as_u64().unwrap();
    assert!(days > 1, "the demo captures span several days");

    // A full scan opens every file.
    // (Sums, not count(*): a count is answered from the log's statistics
    // without reading a file.)
    let all = query_stats(&lake, "SELECT sum(bytes) FROM flows");
    assert!(all["files_total"].as_u64().unwrap() >= 2 * days, "{all}");
    assert_eq!(all["files_scanned"], all["files_total"], "{all}");
    assert!(all["bytes_scanned"].as_u64().unwrap() > 0, "{all}");

    // One day: partition pruning keeps that day's files only.
    let day =
        query(&lake, "SELECT CAST(min(event_date) AS VARCHAR) AS d FROM flows")[0]["d"].as_str().unwrap().to_string();
    let files_that_day =
        query(&lake, &format!("SELECT count(DISTINCT sensor_id) AS n FROM flows WHERE event_date = '{day}'"))[0]["n"]
            .as_u64()
            .unwrap();
    let one = query_stats(&lake, &format!("SELECT sum(bytes) FROM flows WHERE event_date = '{day}'"));
    assert_eq!(one["files_planned"].as_u64(), Some(files_that_day), "one file per ingest in that day: {one}");
    assert!(one["files_planned"].as_u64() < all["files_total"].as_u64(), "{one}");

    // A Community ID lookup opens only files whose statistics may hold it,
    // and after maintenance (one file per day) fewer than before.
    let cid = query(&lake, "SELECT community_id FROM flows ORDER BY bytes DESC LIMIT 1")[0]["community_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lookup_sql = format!("SELECT * FROM flows WHERE community_id = '{cid}'");
    let before = query_stats(&lake, &lookup_sql);
    assert!(before["files_scanned"].as_u64() < before["files_total"].as_u64(), "{before}");
    maintain(&lake, &KEEP_ALL);
    let after = query_stats(&lake, &lookup_sql);
    assert!(after["files_total"].as_u64().unwrap() <= days, "one file per day after compaction: {after}");
    let (b, a) = (before["files_scanned"].as_u64().unwrap(), after["files_scanned"].as_u64().unwrap());
    assert!(a >= 1 && (a < b || a == 1), "lookup files before {b}, after {a}");

    // The carve of that flow, bounded by its times as the page carves it,
    // says the same of the packets table.
    let times = &query(
        &lake,
        &format!(
            "SELECT CAST(first_ts_ns / 1000000000 AS BIGINT) AS f, CAST(last_ts_ns / 1000000000 + 1 AS BIGINT) AS t \
             FROM flows WHERE community_id = '{cid}'"
        ),
    )[0];
    let (from, to) = (times["f"].to_string(), times["t"].to_string());
    let out = run(opensoc()
        .args(["carve", "--json", "--lake"])
        .arg(&lake)
        .args(["--community-id", &cid, "--from", &from, "--to", &to, "-o"])
        .arg(dir.path().join("c.pcap")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let scan = &summary["scan"];
    assert!(summary["packets"].as_u64().unwrap() > 0, "{summary}");
    assert!(scan["files_scanned"].as_u64().unwrap() >= 1, "{scan}");
    assert!(scan["files_scanned"].as_u64() < scan["files_total"].as_u64(), "statistics pruned the other days: {scan}");
    assert!(scan["bytes_scanned"].as_u64().unwrap() > 0, "{scan}");
}

#[test]
fn a_damaged_table_is_reported_and_left_untouched_while_the_others_are_maintained() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest_as(&lake, "s1");
    ingest_as(&lake, "s2");
    // Damage the dns table's last commit.
    let log = lake.join("dns/_delta_log");
    let mut commits: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    commits.sort();
    let last = commits.last().unwrap().clone();
    std::fs::write(&last, b"{\"add\": garbage\n").unwrap();
    let files = |table: &str| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = walkdir::WalkDir::new(lake.join(table))
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect();
        v.sort();
        v
    };
    let dns_before = files("dns");

    let (code, reports, stderr) = maintain_status(&lake, &KEEP_ALL);
    assert_eq!(code, Some(3), "a skipped table is a partial run: {stderr}");
    let dns = reports.iter().find(|r| r["table"] == "dns").expect("dns is reported");
    let reason = dns["skipped"].as_str().unwrap_or_else(|| panic!("dns should be skipped: {dns}"));
    assert!(reason.contains("dns") && reason.contains("cannot be read"), "{reason}");
    assert!(!reason.contains("with_backtrace"), "no library backtrace in the message: {reason}");
    let flows = reports.iter().find(|r| r["table"] == "flows").unwrap();
    assert!(flows["skipped"].is_null(), "{flows}");
    assert!(flows["files_after"].as_u64() < flows["files_before"].as_u64(), "the others are compacted: {flows}");
    assert_eq!(files("dns"), dns_before, "nothing of the damaged table was written or deleted");
    assert_eq!(std::fs::read(&last).unwrap(), b"{\"add\": garbage\n");
}
