//! Detection through `opensoc ingest`: the built-in behavioural rules on
//! real traffic (an nmap SYN scan, and DNS tunnel and DGA traffic captured
//! on loopback — testdata/detect), Suricata alerts, user rules from a
//! folder, score aggregation, and log files parsed with bad lines
//! quarantined. tshark is the oracle for what the captures hold.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cloud::demo_captures;
use crate::support::{capinfos, ingest, opensoc, query, require, run, tempdir, tshark_fields};

fn testdata(rel: &str) -> PathBuf {
    crate::support::repo().join("testdata").join(rel)
}

fn detect_captures() -> Vec<PathBuf> {
    vec![testdata("detect/nmap-syn-scan.pcap.gz"), testdata("detect/dns-tunnel-dga.pcap.gz")]
}

/// `SELECT …` of one finding by rule, which must be the only one.
fn only_finding(lake: &Path, rule: &str) -> Value {
    let rows = query(
        lake,
        &format!(
            "SELECT rule, score, severity, src_ip, dst_ip, indicator, indicator_kind, rules, description, \
             CAST(carve_from AS BIGINT) AS from_us, CAST(carve_to AS BIGINT) AS to_us, community_id \
             FROM findings WHERE rule = '{rule}'"
        ),
    );
    assert_eq!(rows.len(), 1, "one {rule} finding: {rows:?}");
    rows[0].clone()
}

fn us_text(us: i64) -> String {
    format!("{}.{:06}", us.div_euclid(1_000_000), us.rem_euclid(1_000_000))
}

#[test]
fn behavioural_rules_find_the_scan_the_tunnel_and_the_dga_burst_and_nothing_in_ordinary_traffic() {
    require("tshark");
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let mut inputs = detect_captures();
    inputs.extend(demo_captures());
    ingest(&lake, &inputs);

    // The scan: tshark counts the ports 127.0.0.1 sent a bare SYN to.
    let scan = &detect_captures()[0];
    let syn_ports: std::collections::BTreeSet<String> = tshark_fields(
        scan,
        &["tcp.dstport"],
        &["-Y", "ip.src == 127.0.0.1 && tcp.flags.syn == 1 && tcp.flags.ack == 0"],
    )
    .into_iter()
    .map(|f| f[0].clone())
    .collect();
    assert!(syn_ports.len() > 100, "the capture is a scan: {} ports", syn_ports.len());
    let f = only_finding(&lake, "opensoc.portscan.vertical");
    assert_eq!((f["src_ip"].as_str(), f["dst_ip"].as_str()), (Some("127.0.0.1"), Some("127.0.0.3")));
    assert_eq!(f["indicator"], "src_ip=127.0.0.1 dst_ip=127.0.0.3");
    assert_eq!(f["severity"], "High");
    assert!(f["description"].as_str().unwrap().contains("reached 101 within 60s"), "{f}");
    // Its time window carves the probes that made it.
    let (from, to) = (f["from_us"].as_i64().unwrap(), f["to_us"].as_i64().unwrap() + 1);
    let out_pcap = dir.path().join("scan.pcap");
    let out = run(opensoc()
        .args(["carve", "--lake"])
        .arg(&lake)
        .args(["--host", "127.0.0.3", "--from", &us_text(from), "--to", &us_text(to), "-o"])
        .arg(&out_pcap));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (carved, damaged) = capinfos(&out_pcap);
    assert!(!damaged);
    assert!(carved >= 101, "at least the 101 probes: {carved}");

    // The tunnel: many distinct long names under one domain, per tshark.
    let dns = &detect_captures()[1];
    let tunnel: std::collections::BTreeSet<String> =
        tshark_fields(dns, &["dns.qry.name"], &["-Y", "ip.src == 127.0.0.5 && dns.flags.response == 0"])
            .into_iter()
            .map(|f| f[0].clone())
            .filter(|q| q.ends_with(".exfil-example.net"))
            .collect();
    assert!(tunnel.len() > 20);
    let f = only_finding(&lake, "opensoc.dns.tunnel");
    assert_eq!(f["src_ip"], "127.0.0.5");
    assert_eq!(f["indicator"], "src_ip=127.0.0.5 registered_domain=exfil-example.net");
    let f = only_finding(&lake, "opensoc.dns.dga");
    assert_eq!(f["src_ip"], "127.0.0.6");
    assert_eq!(f["severity"], "Medium");

    // The ordinary lookups in the same capture and the demo captures raise nothing.
    let others =
        query(&lake, "SELECT rule, src_ip FROM findings WHERE src_ip NOT IN ('127.0.0.1', '127.0.0.5', '127.0.0.6')");
    assert_eq!(others, Vec::<Value>::new());
}

const HTTP_RULE: &str = r#"
title: Wikipedia visit
id: test.wikipedia
level: low
logsource: {category: http}
detection:
  wiki:
    host|endswith: wikipedia.org
  condition: wiki
---
title: Any GET
id: test.get
score: 45
logsource: {category: http}
detection:
  get:
    method: GET
  condition: get
"#;

#[test]
fn rules_from_a_folder_fire_with_scores_aggregated_as_configured_and_bad_rules_stop_the_start() {
    let dir = tempdir();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("web")).unwrap();
    std::fs::write(rules.join("web/http.yml"), HTTP_RULE).unwrap();
    let config = dir.path().join("opensoc.toml");
    std::fs::write(&config, "[detect]\nscore_aggregation = \"sum\"\n").unwrap();
    let lake = dir.path().join("lake");
    let out = run(opensoc()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--no-progress", "--rules"])
        .arg(&rules)
        .arg("--lake")
        .arg(&lake)
        .args(demo_captures()));
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    // SQL over the http table is the oracle for which rows each rule names.
    let wiki = query(&lake, "SELECT count(*) AS n FROM http WHERE lower(host) LIKE '%wikipedia.org'")[0]["n"].clone();
    let gets = query(&lake, "SELECT count(*) AS n FROM http WHERE upper(method) = 'GET'")[0]["n"].clone();
    let both = query(
        &lake,
        "SELECT count(*) AS n FROM http WHERE lower(host) LIKE '%wikipedia.org' AND upper(method) = 'GET'",
    )[0]["n"]
        .clone();
    assert!(both.as_u64().unwrap() > 0, "the demo has Wikipedia GETs");
    let found = query(
        &lake,
        "SELECT array_to_string(rules, ',') AS rules, score, count(*) AS n FROM findings \
         WHERE source_table = 'http' GROUP BY 1, 2 ORDER BY 1",
    );
    let n = |rules: &str| found.iter().filter(|r| r["rules"] == rules).map(|r| r["n"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(n("test.get,test.wikipedia"), both.as_u64().unwrap(), "{found:?}");
    assert_eq!(n("test.get") + n("test.get,test.wikipedia"), gets.as_u64().unwrap());
    assert_eq!(n("test.wikipedia") + n("test.get,test.wikipedia"), wiki.as_u64().unwrap());
    let summed = found.iter().find(|r| r["rules"] == "test.get,test.wikipedia").unwrap();
    assert_eq!(summed["score"], 45 + 30, "sum of both rules' scores, as configured");

    // A broken rule: the start fails, naming it; nothing is ingested.
    std::fs::write(rules.join("broken.yml"), "title: Broken\ndetection:\n  s: {a|re: '('}\n  condition: s\n").unwrap();
    let lake2 = dir.path().join("lake2");
    let out = run(opensoc()
        .args(["ingest", "--no-progress", "--rules"])
        .arg(&rules)
        .arg("--lake")
        .arg(&lake2)
        .args(demo_captures()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("broken.yml") && stderr.contains("Broken") && stderr.contains("regular expression"),
        "{stderr}"
    );
    assert!(!lake2.join("flows").exists(), "nothing written");
}

#[test]
fn log_files_are_parsed_alerts_become_findings_and_bad_lines_are_quarantined_with_their_line() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    let (reports, totals, code) = ingest(&lake, &[testdata("logs")]);
    assert_eq!(code, 3, "quarantined lines make the exit code 3");
    assert_eq!(totals["totals"]["logs"], 23);
    assert_eq!(totals["totals"]["quarantined"], 3);
    assert_eq!(reports.len(), 8);
    let per_type = query(&lake, "SELECT source_type, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1");
    assert_eq!(
        per_type,
        vec![
            json!({"source_type": "cef", "n": 3}),
            json!({"source_type": "json", "n": 2}),
            json!({"source_type": "suricata-eve", "n": 6}),
            json!({"source_type": "syslog", "n": 8}),
            json!({"source_type": "zeek", "n": 4}),
        ]
    );
    let bad = query(&lake, "SELECT position, stage, reason FROM quarantine ORDER BY position");
    assert_eq!(bad.iter().map(|r| r["position"].as_str().unwrap()).collect::<Vec<_>>(), ["line 1", "line 2", "line 3"]);
    assert!(bad.iter().all(|r| r["stage"] == "parse" && r["reason"].as_str().unwrap().starts_with("syslog: ")));
    let raw = query(&lake, "SELECT CAST(raw AS VARCHAR) AS raw FROM quarantine WHERE position = 'line 3'");
    assert_eq!(raw[0]["raw"], "<34>1 not-a-time host app - ID47 - message", "the bytes are kept");
    // The EVE alert is a finding with its endpoints and Community ID.
    let f = query(&lake, "SELECT rule, severity, src_ip, dst_port, community_id, indicator FROM findings");
    assert_eq!(
        f,
        vec![json!({"rule": "suricata.alert", "severity": "High", "src_ip": "192.168.2.14", "dst_port": 80,
                    "community_id": "1:pl1Cs+QVS4HHfHsyQlOkVh1nLHk=", "indicator": "2017918"})]
    );
}
