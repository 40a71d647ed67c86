//! Behavioural models: `opensoc model eval` on generated days of traffic
//! with injected anomalies (beacons, exfiltration, new-country logins,
//! generated-domain bursts) mixed with the demo captures — precision and
//! recall per kind against the generator's own list of what it injected,
//! near misses that must stay quiet — and what ingest does with no model
//! or a damaged one.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{ingest, opensoc, query, repo, run, shared_data, tempdir};

/// Precision and recall every kind must reach (4 injections per kind).
const MIN_PRECISION: f64 = 0.8;
const MIN_RECALL: f64 = 0.75;

fn demo_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("testdata/demo"))
        .expect("testdata/demo")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    v
}

#[test]
fn injected_anomalies_are_found_with_precision_and_recall_over_the_thresholds() {
    let dir = tempdir();
    let work = dir.path().join("eval");
    let mut cmd = opensoc();
    cmd.args(["model", "eval", "--days", "7", "--seed", "1", "--format", "json", "--work"])
        .arg(&work)
        .arg("--geoip")
        .arg(shared_data().join("geoip"));
    for c in demo_captures() {
        cmd.arg("--mix").arg(c);
    }
    let out = run(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "model eval failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings");
    let false_positives: Vec<&Value> = findings.iter().filter(|f| f["matches"].is_null()).collect();
    for k in report["kinds"].as_array().expect("kinds") {
        let (p, r) = (k["precision"].as_f64().unwrap(), k["recall"].as_f64().unwrap());
        assert_eq!(k["injected"], 4, "{k}");
        assert!(
            p >= MIN_PRECISION && r >= MIN_RECALL,
            "{}: precision {p} recall {r} (need {MIN_PRECISION}/{MIN_RECALL}); false positives: {false_positives:#?}",
            k["kind"]
        );
    }
    // The contract of the rule names.
    let rule_of = |kind: &str| {
        findings.iter().find(|f| f["matches"].as_str().is_some_and(|m| m.starts_with(kind))).map(|f| f["rule"].clone())
    };
    assert!(rule_of("beacon").and_then(|r| r.as_str().map(|s| s.contains("beacon"))).unwrap_or(false));
    assert!(rule_of("new-country").and_then(|r| r.as_str().map(|s| s.contains("new-"))).unwrap_or(false));
    // Near misses stay quiet: no history, thin history, twice the usual
    // volume (10.1.0.26), a network others use (.27), a few new domains
    // (.29), the known periodic check (.30).
    for host in ["10.1.200.1", "10.1.200.2", "10.1.0.26", "10.1.0.27", "10.1.0.29", "10.1.0.30"] {
        let hits: Vec<&Value> = findings.iter().filter(|f| f["src_ip"] == host || f["dst_ip"] == host).collect();
        assert!(hits.is_empty(), "{host} was flagged: {hits:#?}");
    }
    let scoring = &report["scoring"];
    for k in ["scored", "unscored_new_host", "unscored_thin_history"] {
        assert!(scoring[k].as_u64().unwrap_or(0) > 0, "{k}: {scoring}");
    }
    // The explanation names the host, its norm and the peer.
    let exfil = findings.iter().find(|f| f["matches"].as_str().is_some_and(|m| m.starts_with("exfiltration"))).unwrap();
    let d = exfil["description"].as_str().unwrap();
    assert!(d.contains("its norm for 15:00 UTC") && d.contains("to 216.160.83.6"), "{d}");
    // The lake says why the thin host is not scored, in its row.
    let lake = work.join("lake");
    let rows = query(&lake, "SELECT scored, note FROM models WHERE entity = '10.1.200.2'");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["scored"], false);
    assert!(rows[0]["note"].as_str().unwrap_or("").contains("too little history"), "{rows:?}");
    // Findings carry the model's rule and flow into triage like others.
    let rows = query(
        &lake,
        "SELECT count(*) AS n FROM findings WHERE rule LIKE 'model.%' AND severity IN ('Medium', 'High', 'Critical')",
    );
    assert_eq!(
        rows[0]["n"].as_u64().unwrap_or(0) as usize,
        findings.iter().filter(|f| f["rule"].as_str().unwrap_or("").starts_with("model.")).count()
    );
}

#[test]
fn ingest_goes_on_without_scoring_when_the_model_is_missing_or_damaged() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let captures = demo_captures();
    // Training where there is no lake is a clear error.
    let out = run(opensoc().args(["model", "train", "--lake"]).arg(&lake));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such folder") && err.contains("ingest"), "{err}");

    let (_, totals, first_code) = ingest(&lake, &captures);
    assert!(totals["scoring"]["status"].as_str().unwrap_or("").contains("no model"), "{totals}");
    let packets = totals["totals"]["packets"].as_u64().unwrap();
    // A window without flows is a clear error too, and commits nothing.
    let out = run(opensoc().args(["model", "train", "--until", "1990-01-01", "--lake"]).arg(&lake));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no flows between") && err.contains("--window"), "{err}");

    // The demo captures are minutes long: accept any history to train.
    let out = run(opensoc()
        .args([
            "model",
            "train",
            "--window",
            "36500",
            "--min-history-hours",
            "1",
            "--min-history-days",
            "1",
            "--format",
            "json",
            "--lake",
        ])
        .arg(&lake));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trained: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(trained["hosts"].as_u64().unwrap() > 0 && trained["scored_hosts"].as_u64().unwrap() > 0, "{trained}");
    let (_, totals, _) = ingest(&lake, &captures);
    assert!(
        totals["scoring"]["status"].as_str().unwrap_or("").contains(trained["model_id"].as_str().unwrap()),
        "{totals}"
    );
    assert!(totals["scoring"]["rows"]["scored"].as_u64().unwrap() > 0, "{totals}");

    // Damage every data file of the models table.
    let mut damaged = 0;
    for e in walkdir::WalkDir::new(lake.join("models")).into_iter().flatten() {
        if e.path().extension().is_some_and(|x| x == "parquet") {
            std::fs::write(e.path(), b"not parquet at all").unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0);
    let out = run(opensoc()
        .arg("ingest")
        .arg("--lake")
        .arg(&lake)
        .args(["--format", "json", "--no-progress"])
        .args(&captures));
    let err = String::from_utf8_lossy(&out.stderr);
    // The same exit status as without a model (3 when a capture has damage).
    assert_eq!(out.status.code(), Some(first_code), "{err}");
    assert!(err.contains("warning: anomaly scoring off") && err.contains("model"), "{err}");
    let last: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["totals"]["packets"].as_u64(), Some(packets), "every packet stored without scoring: {last}");
    assert_eq!(last["scoring"]["rows"]["scored"], 0);
    let flows = query(&lake, "SELECT count(*) AS n FROM flows");
    assert!(flows[0]["n"].as_u64().unwrap() > 0);
}
