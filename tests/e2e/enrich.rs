//! GeoIP enrichment through `opensoc ingest --geoip`, checked against the
//! JSON MaxMind's test databases were built from.

use std::net::IpAddr;

use opensoc_enrich::source_json::SourceJson;
use serde_json::Value;

use crate::cloud::demo_captures;
use crate::support::{opensoc, query, run, shared_data, tempdir};

#[test]
fn ingest_with_geoip_fills_both_endpoints_country_and_asn_as_the_databases_source_says() {
    let geoip = shared_data().join("geoip");
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let out = run(opensoc()
        .args(["ingest", "--no-progress", "--format", "json", "--geoip"])
        .arg(&geoip)
        .arg("--lake")
        .arg(&lake)
        .args(demo_captures()));
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    let asn = SourceJson::read(&geoip.join("GeoLite2-ASN-Test.json")).unwrap();
    let city = SourceJson::read(&geoip.join("GeoIP2-City-Test.json")).unwrap();
    let rows = query(
        &lake,
        "SELECT src_ip, dst_ip, src_country, dst_country, src_asn, dst_asn, src_as_org, dst_as_org FROM flows",
    );
    assert!(rows.len() > 100);
    let mut with_asn = 0;
    for r in &rows {
        for side in ["src", "dst"] {
            let ip: IpAddr = r[format!("{side}_ip")].as_str().unwrap().parse().unwrap();
            let a = asn.record(ip);
            let want_asn = a.and_then(|v| v["autonomous_system_number"].as_u64());
            assert_eq!(r[format!("{side}_asn")].as_u64(), want_asn, "{side} {ip}: {r}");
            let want_org = a.and_then(|v| v["autonomous_system_organization"].as_str());
            assert_eq!(r[format!("{side}_as_org")].as_str(), want_org, "{side} {ip}");
            let c = city.record(ip);
            let want_country =
                c.and_then(|v| v["country"]["iso_code"].as_str().or(v["registered_country"]["iso_code"].as_str()));
            assert_eq!(r[format!("{side}_country")].as_str(), want_country, "{side} {ip}");
            with_asn += usize::from(want_asn.is_some());
        }
    }
    assert!(with_asn >= 20, "the demo captures reach networks of the test ASN database: {with_asn}");

    // Without --geoip the columns are there and empty.
    let plain = dir.path().join("plain");
    run(opensoc().args(["ingest", "--no-progress", "--lake"]).arg(&plain).args(demo_captures()));
    let n = query(&plain, "SELECT count(*) AS n FROM flows WHERE src_asn IS NOT NULL OR dst_asn IS NOT NULL");
    assert_eq!(n[0]["n"], Value::from(0));

    // A folder without databases is a clear error before anything is read.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(opensoc()
        .args(["ingest", "--no-progress", "--geoip"])
        .arg(&empty)
        .arg("--lake")
        .arg(dir.path().join("l3"))
        .args(demo_captures()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no MaxMind database"), "{stderr}");
    assert!(!dir.path().join("l3/flows").exists(), "no table was created");
}

#[test]
fn intel_load_stores_every_good_indicator_and_reports_each_bad_one() {
    let feeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/enrich/testdata/intel");
    let files: Vec<_> =
        ["stix-bundle.json", "misp-event.json", "drop.txt", "urlhaus.csv"].iter().map(|f| feeds.join(f)).collect();
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let out = run(opensoc().args(["intel", "load", "--format", "json", "--lake"]).arg(&lake).args(&files));
    assert_eq!(out.status.code(), Some(3), "some items are bad: {}", String::from_utf8_lossy(&out.stderr));
    let reports: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(u64, u64)> =
        reports.iter().map(|r| (r["indicators"].as_u64().unwrap(), r["errors"].as_u64().unwrap())).collect();
    assert_eq!(summary, [(5, 3), (5, 1), (2, 1), (2, 1)], "{reports:?}");
    let rows = query(&lake, "SELECT source, kind, value FROM intel ORDER BY source, kind, value");
    assert_eq!(rows.len(), 14);
    let has = |source: &str, kind: &str, value: &str| {
        rows.iter().any(|r| r["source"] == source && r["kind"] == kind && r["value"] == value)
    };
    assert!(has("stix-bundle", "ip", "2001:db8::/48"));
    assert!(has("stix-bundle", "hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert!(has("misp-event", "ip", "192.0.2.77"), "the port of ip|port is dropped");
    assert!(has("drop", "ip", "1.10.16.0/20"));
    assert!(has("urlhaus", "url", "https://evil.example.com/a.exe"), "scheme and host lower-cased");
    let stix =
        query(&lake, "SELECT confidence, CAST(expires AS VARCHAR) AS expires FROM intel WHERE value = '198.51.100.23'");
    assert_eq!(stix[0]["confidence"], 85);
    assert!(stix[0]["expires"].as_str().unwrap().starts_with("2025-01-01"), "{stix:?}");
}
