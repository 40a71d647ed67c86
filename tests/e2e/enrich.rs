//! GeoIP enrichment through `opensoc ingest --geoip`, checked against the
//! JSON MaxMind's test databases were built from.

use std::net::IpAddr;
use std::path::Path;

use opensoc_enrich::source_json::SourceJson;
use serde_json::Value;

use crate::cloud::{Moto, demo_captures};
use crate::support::{ingest, opensoc, query, run, shared_data, tempdir};

/// `opensoc ingest --geoip DIR` of the demo captures into `lake`; exit 0, or
/// 3 for the captures' damaged packets.
fn ingest_demo_with_geoip(lake: &Path, geoip: &Path) {
    let out = run(opensoc()
        .args(["ingest", "--no-progress", "--geoip"])
        .arg(geoip)
        .arg("--lake")
        .arg(lake)
        .args(demo_captures()));
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
}

/// City, coordinates and anonymous-IP flags of one endpoint, as the
/// databases' source JSON says.
fn check_place(r: &Value, side: &str, ip: IpAddr, city: Option<&Value>, anon: Option<&Value>) {
    let want_city = city.and_then(|v| v["city"]["names"]["en"].as_str());
    assert_eq!(r[format!("{side}_city")].as_str(), want_city, "{side} {ip} city");
    for (col, key) in [("latitude", "latitude"), ("longitude", "longitude")] {
        let want = city.and_then(|v| v["location"][key].as_f64());
        assert_eq!(r[format!("{side}_{col}")].as_f64(), want, "{side} {ip} {col}");
    }
    let flags: Vec<&str> = [
        ("is_anonymous", "anonymous"),
        ("is_anonymous_vpn", "vpn"),
        ("is_hosting_provider", "hosting"),
        ("is_public_proxy", "public_proxy"),
        ("is_residential_proxy", "residential_proxy"),
        ("is_tor_exit_node", "tor_exit"),
    ]
    .into_iter()
    .filter(|(k, _)| anon.is_some_and(|a| a[*k].as_bool() == Some(true)))
    .map(|(_, n)| n)
    .collect();
    let want = (!flags.is_empty()).then(|| flags.join(","));
    assert_eq!(r[format!("{side}_anonymity")].as_str(), want.as_deref(), "{side} {ip} anonymity");
}

#[test]
fn ingest_with_geoip_fills_both_endpoints_country_and_asn_as_the_databases_source_says() {
    let geoip = shared_data().join("geoip");
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest_demo_with_geoip(&lake, &geoip);
    let asn = SourceJson::read(&geoip.join("GeoLite2-ASN-Test.json")).unwrap();
    let city = SourceJson::read(&geoip.join("GeoIP2-City-Test.json")).unwrap();
    let anon = SourceJson::read(&geoip.join("GeoIP2-Anonymous-IP-Test.json")).unwrap();
    let rows = query(
        &lake,
        "SELECT src_ip, dst_ip, src_country, dst_country, src_asn, dst_asn, src_as_org, dst_as_org, \
         src_city, dst_city, src_latitude, dst_latitude, src_longitude, dst_longitude, src_anonymity, dst_anonymity \
         FROM flows",
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
            check_place(r, side, ip, c, anon.record(ip));
            with_asn += usize::from(want_asn.is_some());
        }
    }
    assert!(with_asn >= 20, "the demo captures reach networks of the test ASN database: {with_asn}");

    // Log events' endpoints get the same columns.
    let logs = crate::support::repo().join("testdata/logs");
    let out =
        run(opensoc().args(["ingest", "--no-progress", "--geoip"]).arg(&geoip).arg("--lake").arg(&lake).arg(&logs));
    assert_eq!(out.status.code(), Some(3), "malformed.log is quarantined: {}", String::from_utf8_lossy(&out.stderr));
    let rows = query(
        &lake,
        "SELECT src_ip, dst_ip, src_country, dst_country, src_asn, dst_asn, src_city, dst_city, src_latitude, \
         dst_latitude, src_longitude, dst_longitude, src_anonymity, dst_anonymity FROM logs",
    );
    let (mut located, mut anonymous) = (0, 0);
    for r in &rows {
        for side in ["src", "dst"] {
            let Some(ip) = r[format!("{side}_ip")].as_str() else {
                assert!(r[format!("{side}_country")].is_null());
                continue;
            };
            let ip: IpAddr = ip.parse().unwrap();
            let c = city.record(ip);
            let want =
                c.and_then(|v| v["country"]["iso_code"].as_str().or(v["registered_country"]["iso_code"].as_str()));
            assert_eq!(r[format!("{side}_country")].as_str(), want, "log {side} {ip}");
            let want_asn = asn.record(ip).and_then(|v| v["autonomous_system_number"].as_u64());
            assert_eq!(r[format!("{side}_asn")].as_u64(), want_asn, "log {side} {ip}");
            check_place(r, side, ip, c, anon.record(ip));
            located += usize::from(want.is_some());
            anonymous += usize::from(!r[format!("{side}_anonymity")].is_null());
        }
    }
    assert!(located >= 3, "the sample logs name addresses of the test City database: {located}");
    assert!(anonymous >= 1, "and of the Anonymous-IP database: {anonymous}");

    // Without --geoip the columns are there and empty.
    let plain = dir.path().join("plain");
    ingest(&plain, &demo_captures());
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
fn geoip_databases_in_s3_enrich_like_the_local_folder() {
    let geoip = shared_data().join("geoip");
    let moto = Moto::start();
    moto.stream_and_bucket("geo-stream", "geo", 1);
    for f in std::fs::read_dir(&geoip).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.ends_with(".mmdb") {
            moto.s3_put("geo", &format!("maxmind/{name}"), std::fs::read(f.path()).unwrap());
        }
    }
    let dir = tempdir();
    let local = dir.path().join("local");
    ingest_demo_with_geoip(&local, &geoip);
    let from_s3 = dir.path().join("s3");
    let out = run(moto
        .opensoc()
        .env("OPENSOC_CACHE_DIR", dir.path().join("cache"))
        .args(["ingest", "--no-progress", "--geoip", "s3://geo/maxmind/", "--lake"])
        .arg(&from_s3)
        .args(demo_captures()));
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    let sql = "SELECT community_id, first_ts_ns, src_country, dst_country, src_asn, dst_asn, src_as_org, dst_as_org \
               FROM flows ORDER BY community_id, first_ts_ns";
    let (a, b) = (query(&local, sql), query(&from_s3, sql));
    assert!(a.len() > 100);
    assert_eq!(a, b, "the same answers from the S3 copies");
    assert!(a.iter().any(|r| !r["dst_asn"].is_null()));

    // A prefix with no databases is a clear error before anything is read.
    let out = run(moto
        .opensoc()
        .env("OPENSOC_CACHE_DIR", dir.path().join("cache"))
        .args(["ingest", "--no-progress", "--geoip", "s3://geo/nothing-here/", "--lake"])
        .arg(dir.path().join("l3"))
        .args(demo_captures()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no .mmdb objects"), "{stderr}");
}

#[test]
fn intel_load_stores_every_good_indicator_and_reports_each_bad_one() {
    let feeds = crate::support::repo().join("crates/enrich/testdata/intel");
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

#[test]
fn an_intel_hit_becomes_a_finding_with_geo_asn_and_a_carvable_flow() {
    let geoip = shared_data().join("geoip");
    let dir = tempdir();
    // Which demo addresses the test ASN database knows, and a DNS name.
    let scout = dir.path().join("scout");
    ingest_demo_with_geoip(&scout, &geoip);
    let pick = query(&scout, "SELECT dst_ip, dst_asn FROM flows WHERE dst_asn IS NOT NULL ORDER BY dst_ip LIMIT 1");
    let (ip, asn) = (pick[0]["dst_ip"].as_str().unwrap().to_string(), pick[0]["dst_asn"].clone());
    let name = query(&scout, "SELECT query FROM dns WHERE query LIKE '%.%.%' ORDER BY query LIMIT 1")[0]["query"]
        .as_str()
        .unwrap()
        .to_string();
    let parent = name.split_once('.').unwrap().1.to_string();

    // The feed lists the address and the name's parent domain.
    let lake = dir.path().join("lake");
    let feed = dir.path().join("watchlist.txt");
    std::fs::write(&feed, format!("# test feed\n{ip}\n{parent}\n")).unwrap();
    let out = run(opensoc().args(["intel", "load", "--lake"]).arg(&lake).arg(&feed));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ingest_demo_with_geoip(&lake, &geoip);

    // One finding per flow that has the address at either end, naming the flow.
    let flows = query(
        &lake,
        &format!("SELECT community_id FROM flows WHERE src_ip = '{ip}' OR dst_ip = '{ip}' ORDER BY community_id"),
    );
    let hits = query(
        &lake,
        &format!(
            "SELECT community_id, matched_field, rule, severity, score, intel_sources, dst_asn, \
             CAST(carve_from AS VARCHAR) AS carve_from FROM findings WHERE indicator = '{ip}' ORDER BY community_id"
        ),
    );
    assert!(!flows.is_empty());
    assert_eq!(
        hits.iter().map(|h| h["community_id"].clone()).collect::<Vec<_>>(),
        flows.iter().map(|f| f["community_id"].clone()).collect::<Vec<_>>()
    );
    for h in &hits {
        assert_eq!(h["rule"], "intel.ip");
        assert_eq!(h["score"], 50, "no confidence in a plain list: the default");
        assert_eq!(h["severity"], "Medium");
        assert_eq!(h["intel_sources"], serde_json::json!(["watchlist"]));
        if h["matched_field"] == "dst_ip" {
            assert_eq!(h["dst_asn"], asn, "the finding carries the endpoint's ASN");
        }
        assert!(h["carve_from"].is_string());
    }
    // Every DNS row under the listed domain is a finding.
    let dns =
        query(&lake, &format!("SELECT count(*) AS n FROM dns WHERE query = '{parent}' OR query LIKE '%.{parent}'"));
    let dns_hits = query(&lake, "SELECT count(*) AS n FROM findings WHERE matched_field = 'dns.query'");
    assert_eq!(dns_hits[0]["n"], dns[0]["n"]);
    assert!(dns[0]["n"].as_u64().unwrap() >= 1);

    // The finding's flow carves.
    let cid = hits[0]["community_id"].as_str().unwrap();
    let pcap = dir.path().join("hit.pcap");
    let out = run(opensoc().args(["carve", "--lake"]).arg(&lake).args(["--community-id", cid, "-o"]).arg(&pcap));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata(&pcap).unwrap().len() > 24, "packets carved");
}

#[test]
fn findings_from_the_stream_equal_local_ones_and_a_redelivery_adds_none() {
    let dir = tempdir();
    // A feed listing every responder address of the demo's DNS servers' flows.
    let scout = dir.path().join("scout");
    ingest(&scout, &demo_captures());
    let ips = query(&scout, "SELECT DISTINCT dst_ip FROM flows WHERE dst_port = 53 ORDER BY dst_ip");
    assert!(!ips.is_empty());
    let feed = dir.path().join("resolvers.txt");
    std::fs::write(&feed, ips.iter().map(|r| format!("{}\n", r["dst_ip"].as_str().unwrap())).collect::<String>())
        .unwrap();
    let hits = "SELECT count(*) AS n FROM findings";

    // Locally.
    let local = dir.path().join("local");
    run(opensoc().args(["intel", "load", "--lake"]).arg(&local).arg(&feed));
    ingest(&local, &demo_captures());
    let expected = query(&local, hits)[0]["n"].as_u64().unwrap();
    assert!(expected > 0);

    // Through the stream, then the whole stream again.
    let moto = Moto::start();
    moto.stream_and_bucket("intel", "lake-intel", 2);
    let lake = "s3://lake-intel/lake";
    let out = run(moto.opensoc().args(["intel", "load", "--lake", lake]).arg(&feed));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(moto.sensor().args(["replay", "--stream", "intel"]).args(demo_captures()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&mut moto.esm("intel", lake, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(moto.query(lake, hits)[0]["n"].as_u64(), Some(expected), "the stream finds what local ingest finds");
    let out = run(moto.esm("intel", lake, dir.path()).args(["--from", "trim-horizon"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(moto.query(lake, hits)[0]["n"].as_u64(), Some(expected), "a redelivery adds no finding");
}

/// Kills the child when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn intel_sync_fetches_files_http_and_s3_and_loads_only_what_changed() {
    let intel = crate::support::repo().join("crates/enrich/testdata/intel");
    let moto = Moto::start();
    moto.stream_and_bucket("intel-stream", "feeds", 1);
    moto.s3_put("feeds", "stix/bundle.json", std::fs::read(intel.join("stix-bundle.json")).unwrap());
    let dir = tempdir();
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::write(web.join("watchlist.txt"), "# test\n192.0.2.10\n198.51.100.0/24\nevil.example\n").unwrap();
    let port = crate::cloud::free_port();
    let _http = Server(
        std::process::Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(&web)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the HTTP server did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let config = dir.path().join("opensoc.toml");
    std::fs::write(
        &config,
        format!(
            "[[intel.feeds]]\nurl = \"{}\"\nsource = \"urlhaus\"\ncsv = true\n",
            intel.join("urlhaus.csv").display()
        ),
    )
    .unwrap();
    let lake = dir.path().join("lake");
    let http = format!("http://127.0.0.1:{port}/watchlist.txt");
    let sync = || {
        let out = run(moto
            .opensoc()
            .arg("--config")
            .arg(&config)
            .args(["intel", "sync", "--format", "json", "--lake"])
            .arg(&lake)
            .args([http.as_str(), "s3://feeds/stix/bundle.json", &format!("http://127.0.0.1:{port}/missing.txt")]));
        let reports: Vec<Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (out.status.code(), reports)
    };
    let statuses = |r: &[Value]| r.iter().map(|f| f["status"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let count = || query(&lake, "SELECT count(*) AS n FROM intel")[0]["n"].as_u64().unwrap();

    let (code, first) = sync();
    assert_eq!(code, Some(3), "a missing feed makes it partial: {first:?}");
    assert_eq!(statuses(&first), ["loaded", "loaded", "loaded", "failed"]);
    assert!(first[3]["errors"][0].as_str().unwrap().contains("404"), "{first:?}");
    assert_eq!(first[1]["indicators"], 3);
    let loaded: u64 = first.iter().map(|f| f["indicators"].as_u64().unwrap()).sum();
    assert_eq!(count(), loaded);
    let sources = query(&lake, "SELECT DISTINCT source FROM intel ORDER BY source");
    assert_eq!(sources.len(), 3, "{sources:?}");

    // Nothing changed: nothing loads.
    let (_, second) = sync();
    assert_eq!(statuses(&second), ["unchanged", "unchanged", "unchanged", "failed"]);
    assert_eq!(count(), loaded);

    // The web feed grows: only it loads again.
    std::fs::write(web.join("watchlist.txt"), "192.0.2.10\n198.51.100.0/24\nevil.example\n203.0.113.99\n").unwrap();
    let (_, third) = sync();
    assert_eq!(statuses(&third), ["unchanged", "loaded", "unchanged", "failed"]);
    assert_eq!(count(), loaded + 4);
    let hit = query(&lake, "SELECT source FROM intel WHERE value = '203.0.113.99'");
    assert_eq!(hit, vec![serde_json::json!({"source": "watchlist"})]);

    // The feed goes back to its first content: a new load (the newest load
    // of a feed is what counts), not "unchanged" because an old load matched.
    std::fs::write(web.join("watchlist.txt"), "# test\n192.0.2.10\n198.51.100.0/24\nevil.example\n").unwrap();
    let (_, fourth) = sync();
    assert_eq!(statuses(&fourth), ["unchanged", "loaded", "unchanged", "failed"]);
    // Maintenance retires the two superseded loads of the web feed (3 + 4
    // rows); the other feeds' single loads stay.
    let loads = query(
        &lake,
        "SELECT feed_file, CAST(loaded_at AS BIGINT) AS at, count(*) AS n FROM intel GROUP BY 1, 2 ORDER BY 2",
    );
    let out = run(opensoc().args(["maintain", "--tables", "intel", "--format", "json", "--lake"]).arg(&lake));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["superseded_intel_rows_removed"], 7, "{report}\n{loads:#?}");
    assert_eq!(count(), loaded, "one load per feed left");
    let dropped = query(&lake, "SELECT count(*) AS n FROM intel WHERE value = '203.0.113.99'");
    assert_eq!(dropped[0]["n"], 0, "the indicator the feed dropped is gone");
    // A second run has nothing to retire.
    let out = run(opensoc().args(["maintain", "--tables", "intel", "--format", "json", "--lake"]).arg(&lake));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["superseded_intel_rows_removed"], 0, "{report}");
}
