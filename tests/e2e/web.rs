//! The investigator's HTTP API through `opensoc serve` on a real port, and
//! the query and carve Lambda binaries under a Lambda runtime emulator fed
//! function-URL events: SQL in three formats, hostile SQL, carving checked
//! against tshark and capinfos, limits, auth, the carve audit, the alert
//! queue and an alert's context.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::cloud::demo_captures;
use crate::support::{capinfos, opensoc, query, repo, require, run, shared_data, tempdir};

/// A lake of the demo and detection captures, with GeoIP, and a STIX feed
/// that names one demo address (with an ASN) at confidence 95 — so the top
/// alert is an enriched intel hit. Returns the address.
pub fn investigation_lake(dir: &Path) -> (PathBuf, String) {
    let geoip = shared_data().join("geoip");
    let scout = dir.join("scout");
    let ingest = |lake: &Path, extra: &[PathBuf]| {
        let out = run(opensoc()
            .args(["ingest", "--no-progress", "--geoip"])
            .arg(&geoip)
            .arg("--lake")
            .arg(lake)
            .args(demo_captures())
            .args(extra));
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    };
    ingest(&scout, &[]);
    let pick = query(
        &scout,
        "SELECT dst_ip FROM flows WHERE dst_asn IS NOT NULL AND dst_as_org IS NOT NULL ORDER BY dst_ip LIMIT 1",
    );
    let ip = pick[0]["dst_ip"].as_str().expect("a demo address the test databases know").to_string();
    let lake = dir.join("lake");
    let feed = dir.join("c2-feed.json");
    let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--1", "created": "2024-01-01T00:00:00Z",
        "modified": "2024-01-01T00:00:00Z", "name": "C2 server", "description": "Command and control of a test botnet",
        "pattern": format!("[{}-addr:value = '{ip}']", if ip.contains(':') { "ipv6" } else { "ipv4" }), "pattern_type": "stix",
        "valid_from": "2020-01-01T00:00:00Z", "confidence": 95}]});
    std::fs::write(&feed, bundle.to_string()).unwrap();
    let out = run(opensoc().args(["intel", "load", "--lake"]).arg(&lake).arg(&feed));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let detect = repo().join("testdata/detect");
    ingest(&lake, &[detect.join("nmap-syn-scan.pcap.gz"), detect.join("dns-tunnel-dga.pcap.gz")]);
    (lake, ip)
}

/// `opensoc serve` on a free port; stopped on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Serve `lake` with extra arguments.
    pub fn start(lake: &Path, args: &[&str]) -> Server {
        let mut child = opensoc()
            .args(["serve", "--listen", "127.0.0.1:0", "--lake"])
            .arg(lake)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting opensoc serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("opensoc serve did not say where it listens: {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A 4xx with a JSON error message.
    pub fn refused(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        self.json()["error"].as_str().expect("an error message").to_string()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build())
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("an HTTP answer");
    let headers = r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let body = r.body_mut().with_config().limit(u64::MAX).read_to_vec().unwrap();
    Reply { status: r.status().as_u16(), headers, body }
}

pub fn get(url: &str, params: &[(&str, &str)], token: Option<&str>) -> Reply {
    let mut req = agent().get(url);
    for (k, v) in params {
        req = req.query(*k, *v);
    }
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    reply(req.call())
}

/// POST `body` with these headers.
pub fn send(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(body))
}

/// POST `body` as `content_type`, with the bearer token when given.
fn post_as(url: &str, content_type: &str, body: &[u8], token: Option<&str>) -> Reply {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b));
    }
    send(url, &headers, body)
}

pub fn post(url: &str, body: &[u8], token: Option<&str>) -> Reply {
    post_as(url, "text/plain", body, token)
}

/// POST a JSON body.
pub fn post_json(url: &str, body: &Value, token: Option<&str>) -> Reply {
    post_as(url, "application/json", body.to_string().as_bytes(), token)
}

fn sql(server: &Server, format: &str, text: &str) -> Reply {
    post(&format!("{}/api/query?format={format}", server.base), text.as_bytes(), None)
}

#[test]
fn sql_over_http_answers_json_csv_and_arrow_like_the_command_and_refuses_what_is_not_a_read() {
    let dir = tempdir();
    let (lake, _) = investigation_lake(dir.path());
    let server = Server::start(&lake, &["--query-timeout", "3", "--query-memory-mib", "64", "--query-max-rows", "50"]);
    let q = "SELECT src_ip, dst_ip, sum(bytes) AS bytes FROM flows GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 20";
    let cli = query(&lake, q);
    let r = sql(&server, "json", q);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["rows"].as_array().unwrap(), &cli, "the API answers what `opensoc query` answers");
    assert_eq!(body["columns"][2], json!({"name": "bytes", "type": "Int64"}));
    assert_eq!((body["row_count"].as_u64(), body["truncated"].as_bool()), (Some(cli.len() as u64), Some(false)));
    // CSV: a header and one line per row, same values.
    let csv = sql(&server, "csv", q);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<String> = csv.text().lines().map(str::to_string).collect();
    assert_eq!(lines[0], "src_ip,dst_ip,bytes");
    assert_eq!(lines.len(), cli.len() + 1);
    assert_eq!(
        lines[1],
        format!("{},{},{}", cli[0]["src_ip"].as_str().unwrap(), cli[0]["dst_ip"].as_str().unwrap(), cli[0]["bytes"])
    );
    // Arrow IPC reads back with the arrow reader.
    let arrow = sql(&server, "arrow", q);
    assert_eq!(arrow.header("content-type"), Some("application/vnd.apache.arrow.stream"));
    let reader = deltalake::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow.body), None).unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, cli.len());
    // The row limit cuts and says so.
    let many = sql(&server, "json", "SELECT community_id FROM flows");
    assert_eq!(many.status, 200);
    assert_eq!((many.json()["row_count"].as_u64(), many.json()["truncated"].as_bool()), (Some(50), Some(true)));
    assert_eq!(many.header("x-opensoc-truncated"), Some("true"));

    // Hostile SQL: refused with the reason, never a 500.
    for (statement, status, says) in [
        ("DROP TABLE flows", 403, "DDL not supported"),
        ("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'", 403, "DDL not supported"),
        ("INSERT INTO flows SELECT * FROM flows", 403, "not supported"),
        ("COPY flows TO '/tmp/opensoc-stolen.csv'", 403, "DML not supported"),
        ("SET datafusion.execution.batch_size = 1", 403, "not supported"),
        ("SELECT * FROM '/etc/passwd'", 400, "not found"),
        ("SELECT * FROM generate_series(1, 1000000000000)", 403, "not a table of the lake"),
        ("SELECT nosuch FROM flows", 400, "No field named nosuch"),
        ("SELECT * FROM nosuchtable", 400, "not found"),
        ("SELEC 1", 400, "invalid query"),
        (
            "SELECT a.community_id, b.community_id, c.community_id FROM flows a, flows b, flows c ORDER BY 1, 2, 3",
            422,
            "more memory than the limit",
        ),
        ("SELECT max(a.bytes + b.bytes + c.bytes) FROM flows a, flows b, flows c", 422, "longer than the limit"),
    ] {
        let r = sql(&server, "json", statement);
        let message = r.refused(status);
        assert!(message.contains(says), "{statement}: {message}");
    }
    assert!(!Path::new("/tmp/opensoc-stolen.csv").exists());
    // Bad requests.
    assert!(sql(&server, "json", "   ").refused(400).contains("body is empty"));
    assert!(sql(&server, "yaml", "SELECT 1").refused(400).contains("format"));
    let r = post(&format!("{}/api/query?format=json&evil=1", server.base), b"SELECT 1", None);
    assert!(r.refused(400).contains("unknown field"));
    let r = post(&format!("{}/api/query", server.base), &[0xff, 0xfe, 0x00], None);
    assert!(r.refused(400).contains("UTF-8"));
    let huge = format!("SELECT 1 -- {}", "x".repeat(100_000));
    assert!(sql(&server, "json", &huge).refused(413).contains("larger than"));
    assert!(get(&format!("{}/api/../../etc/passwd", server.base), &[], None).status == 404);
    assert!(get(&format!("{}/assets/..%2f..%2fCargo.toml", server.base), &[], None).refused(404).contains("no asset"));
}

#[test]
fn a_time_bounded_query_reads_only_the_files_of_its_days() {
    let dir = tempdir();
    let (lake, _) = investigation_lake(dir.path());
    let server = Server::start(&lake, &[]);
    // The newest day of flows, and how many flows it has (the oracle: a
    // query without partition predicates).
    let day =
        query(&lake, "SELECT CAST(max(event_date) AS VARCHAR) AS d FROM flows")[0]["d"].as_str().unwrap().to_string();
    let all =
        sql(&server, "json", &format!("SELECT count(*) AS n FROM flows WHERE CAST(first_ts AS DATE) = DATE '{day}'"));
    let bounded = sql(
        &server,
        "json",
        &format!(
            "SELECT count(*) AS n FROM flows WHERE event_date = DATE '{day}' AND CAST(first_ts AS DATE) = DATE '{day}'"
        ),
    );
    assert_eq!(bounded.json()["rows"], all.json()["rows"]);
    let scan = &bounded.json()["scan"];
    let total = scan["files_total"].as_u64().unwrap();
    let scanned = scan["files_scanned"].as_u64().unwrap();
    assert!(total >= 2, "the lake has several flows files: {scan}");
    assert!(scanned < total, "the day's partition is all it reads: {scan}");
    assert_eq!(all.json()["scan"]["files_scanned"].as_u64().unwrap(), total, "without it, every file");
}

/// The first demo flow with packets, its Community ID and time range.
fn a_flow(lake: &Path) -> (String, String, String, u64) {
    let f = &query(
        lake,
        "SELECT community_id, CAST(first_ts_ns AS VARCHAR) AS f, CAST(last_ts_ns AS VARCHAR) AS l, packets FROM flows \
         WHERE community_id IS NOT NULL AND proto = 6 ORDER BY packets DESC, community_id LIMIT 1",
    )[0];
    let secs = |ns: &str| {
        let ns: i64 = ns.parse().unwrap();
        format!("{}.{:09}", ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
    };
    (
        f["community_id"].as_str().unwrap().to_string(),
        secs(f["f"].as_str().unwrap()),
        secs(f["l"].as_str().unwrap()),
        f["packets"].as_u64().unwrap(),
    )
}

#[test]
fn carving_over_http_gives_what_tshark_finds_and_every_carve_is_audited() {
    require("tshark");
    let dir = tempdir();
    let (lake, _) = investigation_lake(dir.path());
    let server = Server::start(&lake, &["--carve-max-packets", "2000"]);
    let carve = |params: &[(&str, &str)]| get(&format!("{}/api/carve", server.base), params, None);

    // One flow: what the command line carves, byte for byte, and the flow's packets.
    let (cid, from, to, packets) = a_flow(&lake);
    let r = carve(&[("community_id", &cid), ("from", &from), ("to", &to)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/vnd.tcpdump.pcap"));
    assert!(r.header("content-disposition").unwrap().starts_with("attachment; filename=\"opensoc-flow-"));
    let http_pcap = dir.path().join("http.pcap");
    std::fs::write(&http_pcap, &r.body).unwrap();
    let (n, damaged) = capinfos(&http_pcap);
    assert!(!damaged);
    assert_eq!(n, packets, "the flow's packets");
    let cli_pcap = dir.path().join("cli.pcap");
    let out = run(opensoc().args(["carve", "--lake"]).arg(&lake).args(["--community-id", &cid, "-o"]).arg(&cli_pcap));
    assert!(out.status.success());
    assert_eq!(std::fs::read(&cli_pcap).unwrap(), r.body);

    // Filter expressions, against tshark over the same captures: over
    // HTTP within the flow's day, and on the command line over everything.
    let merged = dir.path().join("all.pcap");
    let detect = repo().join("testdata/detect");
    let out = run(Command::new("mergecap")
        .args(["-F", "pcap", "-w"])
        .arg(&merged)
        .args(demo_captures())
        .args([detect.join("nmap-syn-scan.pcap.gz"), detect.join("dns-tunnel-dga.pcap.gz")]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tshark_count = |filter: &str| {
        let out = run(Command::new("tshark").arg("-r").arg(&merged).args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-e",
            "frame.number",
        ]));
        assert!(out.status.success(), "{filter}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().count() as u64
    };
    let day = from.split('.').next().unwrap().parse::<i64>().unwrap() / 86_400 * 86_400;
    let (day_from, day_to) = (day.to_string(), format!("{}.999999999", day + 86_399));
    for (expr, display) in [
        ("udp and not port 53", "udp && !(udp.port == 53)"),
        ("(port 443 or port 80) and tcp", "tcp && (tcp.port == 443 || tcp.port == 80)"),
        ("net 192.168.0.0/16 or host 10.0.0.1", "ip.addr == 192.168.0.0/16 || ip.addr == 10.0.0.1"),
        ("net 2003:de::/32 and (tcp or udp)", "ipv6.addr == 2003:de::/32 && (tcp || udp)"),
        ("net 141.142.0.0/16 and not port 80", "ip.addr == 141.142.0.0/16 && !(tcp.port == 80 || udp.port == 80)"),
    ] {
        let expected = tshark_count(display);
        assert!(expected > 0, "{display} matches something in the demo captures");
        let out = run(opensoc()
            .args(["carve", "--lake"])
            .arg(&lake)
            .args(["--filter", expr, "-o"])
            .arg(dir.path().join("f.pcap")));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(capinfos(&dir.path().join("f.pcap")).0, expected, "{expr} carves what tshark's {display} finds");
        let in_day =
            tshark_count(&format!("({display}) && frame.time_epoch >= {day_from} && frame.time_epoch <= {day_to}"));
        let r = carve(&[("filter", expr), ("from", &day_from), ("to", &day_to)]);
        if in_day == 0 {
            assert!(r.refused(404).contains("no packets match"));
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
            std::fs::write(dir.path().join("d.pcap"), &r.body).unwrap();
            assert_eq!(capinfos(&dir.path().join("d.pcap")).0, in_day, "{expr} within the day");
        }
    }

    // Bad filters and ranges: a 400 that says what is wrong.
    for (params, says) in [
        (vec![("community_id", cid.as_str())], "give both ends of the time range"),
        (vec![("community_id", cid.as_str()), ("from", &to), ("to", &from)], "ends before it starts"),
        (vec![("host", "10.0.0.1"), ("from", "2024-01-01"), ("to", "2024-01-03")], "spans at most"),
        (vec![("community_id", "1:nope"), ("from", &from), ("to", &to)], "not a Community ID"),
        (vec![("host", "10.0.0.999"), ("from", &from), ("to", &to)], "not an IP address"),
        (vec![("net", "10.0.0.0/40"), ("from", &from), ("to", &to)], "CIDR"),
        (vec![("port", "http"), ("from", &from), ("to", &to)], "not a port"),
        (vec![("proto", "ipx"), ("from", &from), ("to", &to)], "not a protocol"),
        (vec![("sensor", "../../etc/passwd"), ("from", &from), ("to", &to)], "not a sensor id"),
        (vec![("filter", "host 10.0.0.1 and ("), ("from", &from), ("to", &to)], "the filter ends where"),
        (vec![("filter", "(host 10.0.0.1"), ("from", &from), ("to", &to)], "never closed"),
        (vec![("filter", "src host 10.0.0.1"), ("from", &from), ("to", &to)], "direction-free"),
        (vec![("from", "yesterday"), ("to", &to)], "cannot read"),
        (vec![("from", &from), ("to", &to), ("file", "/etc/passwd")], "unknown field"),
        (vec![("from", &from), ("to", &to), ("format", "exe")], "not auto, pcap or pcapng"),
    ] {
        let message = carve(&params).refused(400);
        assert!(message.contains(says), "{params:?}: {message}");
    }
    // Over the packet cap: 413, before anything is written. Nothing matching: 404.
    let small = Server::start(&lake, &["--carve-max-packets", "5"]);
    assert!(packets > 5);
    let over = get(&format!("{}/api/carve", small.base), &[("community_id", &cid), ("from", &from), ("to", &to)], None);
    assert!(over.refused(413).contains("more than 5 packets"));
    let none = carve(&[("host", "192.0.2.254"), ("from", &from), ("to", &to)]);
    assert!(none.refused(404).contains("no packets match host 192.0.2.254"));

    // The audit: one row per carve that reached the lake, with its outcome.
    let audit =
        query(&lake, "SELECT principal, via, filter, outcome, packets, delivery FROM carve_audit ORDER BY time");
    assert!(
        audit.iter().all(|a| a["principal"].as_str().unwrap().starts_with("local:") || a["via"] == "cli"),
        "{audit:?}"
    );
    let ok = audit.iter().find(|a| a["via"] == "serve" && a["outcome"] == "ok").expect("the flow carve is audited");
    assert_eq!(ok["filter"], format!("community_id {cid}"));
    assert_eq!(ok["packets"].as_u64(), Some(packets));
    assert_eq!(ok["delivery"], "inline");
    assert!(audit.iter().any(|a| a["outcome"] == "empty" && a["filter"] == "host 192.0.2.254"));
    assert!(audit.iter().any(|a| a["outcome"] == "refused" && a["filter"] == format!("community_id {cid}")));
}

#[test]
fn a_token_guards_the_api_but_not_the_page() {
    let dir = tempdir();
    let (lake, _) = investigation_lake(dir.path());
    let server = Server::start(&lake, &["--token", "s3cret-token"]);
    let url = format!("{}/api/query?format=json", server.base);
    let missing = post(&url, b"SELECT 1 AS one", None);
    assert!(missing.refused(401).contains("missing credentials"));
    assert!(missing.header("www-authenticate").is_some());
    assert!(post(&url, b"SELECT 1 AS one", Some("wrong")).refused(401).contains("not valid"));
    let ok = post(&url, b"SELECT 1 AS one", Some("s3cret-token"));
    assert_eq!(ok.json()["rows"], json!([{"one": 1}]));
    let findings = get(&format!("{}/api/findings", server.base), &[], None);
    assert_eq!(findings.status, 401);
    let page = get(&format!("{}/", server.base), &[], None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/assets/app.js"));
    assert!(page.header("content-security-policy").unwrap().contains("default-src 'self'"));
    let js = get(&format!("{}/assets/app.js", server.base), &[], None);
    assert_eq!((js.status, js.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
}

#[test]
fn the_queue_is_sorted_by_score_and_an_alert_brings_its_enrichment_intel_and_activity() {
    let dir = tempdir();
    let (lake, ip) = investigation_lake(dir.path());
    let server = Server::start(&lake, &[]);
    let queue = get(&format!("{}/api/findings", server.base), &[], None).json();
    let list = queue["findings"].as_array().unwrap();
    let n = query(&lake, "SELECT count(*) AS n FROM findings")[0]["n"].as_u64().unwrap();
    assert_eq!(queue["total"].as_u64(), Some(n));
    assert_eq!(list.len() as u64, n.min(200));
    let scores: Vec<i64> = list.iter().map(|f| f["score"].as_i64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "by score: {scores:?}");
    let top = &list[0];
    assert_eq!((top["rule"].as_str(), top["score"].as_i64()), (Some("intel.ip"), Some(95)));
    // Filters.
    let high = get(&format!("{}/api/findings", server.base), &[("severity", "high")], None).json();
    let high_n = query(&lake, "SELECT count(*) AS n FROM findings WHERE severity = 'High'")[0]["n"].as_u64().unwrap();
    assert_eq!(high["total"].as_u64(), Some(high_n));
    let by_host = get(&format!("{}/api/findings", server.base), &[("host", &ip)], None).json();
    assert!(
        by_host["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["src_ip"] == ip.as_str() || f["dst_ip"] == ip.as_str())
    );
    let by_rule = get(&format!("{}/api/findings", server.base), &[("rule", "opensoc.dns")], None).json();
    let rules: std::collections::BTreeSet<&str> =
        by_rule["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["opensoc.dns.dga", "opensoc.dns.tunnel"].into());
    for (params, says) in [
        (vec![("severity", "urgent")], "not one of"),
        (vec![("rule", "x' OR 1=1 --")], "not a rule id"),
        (vec![("host", "nobody")], "not an IP address"),
        (vec![("from", "2024-02-01"), ("to", "2024-01-01")], "ends before"),
        (vec![("limit", "0")], "1 to 1000"),
    ] {
        assert!(get(&format!("{}/api/findings", server.base), &params, None).refused(400).contains(says));
    }

    // The top alert with its context.
    let id = top["id"].as_str().unwrap();
    let alert = get(&format!("{}/api/findings/{id}", server.base), &[], None).json();
    let f = &alert["finding"];
    assert_eq!(f["indicator"], ip.as_str());
    let side = if f["src_ip"] == ip.as_str() { "src" } else { "dst" };
    let ep = &alert["endpoints"][side];
    let flow = &query(
        &lake,
        &format!(
            "SELECT {side}_country AS country, {side}_asn AS asn, {side}_as_org AS org FROM flows \
             WHERE community_id = '{}'",
            f["community_id"].as_str().unwrap()
        ),
    )[0];
    assert_eq!((&ep["country"], &ep["asn"], &ep["as_org"]), (&flow["country"], &flow["asn"], &flow["org"]));
    assert!(ep["asn"].is_number() && ep["as_org"].is_string(), "{ep}");
    assert_eq!(ep["intel"][0]["source"], "c2-feed");
    assert_eq!(ep["intel"][0]["confidence"], 95);
    assert_eq!(ep["intel"][0]["description"], "C2 server", "the STIX indicator's name");
    // Related rows: the flow itself is among them, and the timeline counts them.
    let flows = alert["flows"].as_array().unwrap();
    assert!(flows.iter().any(|r| r["community_id"] == f["community_id"]));
    let counted: u64 = alert["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "flows")
        .map(|t| t["n"].as_u64().unwrap())
        .sum();
    assert!(counted >= flows.len() as u64 && counted > 0, "{}", alert["timeline"]);
    // Its carve request carves the flow.
    let c = &alert["carve"];
    let r = get(
        &format!("{}/api/carve", server.base),
        &[
            ("community_id", c["community_id"].as_str().unwrap()),
            ("from", c["from"].as_str().unwrap()),
            ("to", c["to"].as_str().unwrap()),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Ids that are not: 400; unknown: 404.
    assert!(
        get(&format!("{}/api/findings/..%2f..%2fetc", server.base), &[], None)
            .refused(400)
            .contains("not a finding id")
    );
    assert!(
        get(&format!("{}/api/findings/0000000000000000", server.base), &[], None).refused(404).contains("no finding")
    );
}

// ---- the functions ---------------------------------------------------------

/// A function-URL event (payload format 2.0) for `method path?query`,
/// signed by `arn` when given.
fn url_event(method: &str, path: &str, query: &str, body: Option<&str>, arn: Option<&str>) -> Value {
    let mut ctx = json!({
        "accountId": "123456789012", "apiId": "opensoc", "domainName": "opensoc.lambda-url.us-east-1.on.aws",
        "domainPrefix": "opensoc", "requestId": "r1", "routeKey": "$default", "stage": "$default",
        "time": "23/Nov/2026:12:00:00 +0000", "timeEpoch": 1795435200000u64,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
    });
    if let Some(arn) = arn {
        ctx["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AROA:alice",
            "principalOrgId": null, "userArn": arn, "userId": "AROA:alice"}});
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "opensoc.lambda-url.us-east-1.on.aws", "content-type": "text/plain", "accept": "*/*"},
        "requestContext": ctx, "body": body, "isBase64Encoded": false,
    })
}

pub fn invoke(port: u16, event: &Value) -> Value {
    let r = post(
        &format!("http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"),
        event.to_string().as_bytes(),
        None,
    );
    assert_eq!(r.status, 200, "the emulator answers: {}", r.text());
    r.json()
}

pub fn body_of(resp: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let body = resp["body"].as_str().unwrap_or("");
    if resp["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD.decode(body).unwrap()
    } else {
        body.as_bytes().to_vec()
    }
}

fn header_of<'a>(resp: &'a Value, name: &str) -> Option<&'a str> {
    resp["headers"].as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
}

#[test]
fn the_query_and_carve_functions_answer_signed_function_url_calls_on_an_s3_lake() {
    use crate::cloud::Moto;
    use crate::lambda::Function;
    let moto = Moto::start();
    moto.stream_and_bucket("web", "lake-web", 1);
    let dir = tempdir();
    // The demo captures in a local lake (the oracle) and in one on S3.
    let local = dir.path().join("local");
    crate::support::ingest(&local, &demo_captures());
    let lake = "s3://lake-web/lake";
    let out = run(moto.opensoc().args(["ingest", "--no-progress", "--lake", lake]).args(demo_captures()));
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    for sub in ["q", "c"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let allowed = "arn:aws:iam::123456789012:role/soc/Investigator";
    let alice = "arn:aws:sts::123456789012:assumed-role/Investigator/alice";
    let query_fn =
        Function::start_bin(&moto, "opensoc-query", lake, &[("OPENSOC_INVESTIGATORS", allowed)], &dir.path().join("q"));
    let carve_fn = Function::start_bin(
        &moto,
        "opensoc-carve",
        lake,
        &[
            ("OPENSOC_INVESTIGATORS", allowed),
            ("OPENSOC_CARVE_OUTPUT", "s3://lake-web/carve/"),
            ("OPENSOC_CARVE_URL_SECONDS", "600"),
            ("OPENSOC_CARVE_INLINE_KIB", "1"),
        ],
        &dir.path().join("c"),
    );

    // Unsigned: 401. Signed by someone else: 403. Signed by an investigator: the answer.
    let q = "SELECT count(*) AS n FROM flows";
    let r = invoke(query_fn.port, &url_event("POST", "/api/query", "format=json", Some(q), None));
    assert_eq!(r["statusCode"], 401, "{r}");
    assert!(
        String::from_utf8(body_of(&r)).unwrap().contains("not signed")
            || String::from_utf8(body_of(&r)).unwrap().contains("no IAM identity")
    );
    let mallory = "arn:aws:sts::123456789012:assumed-role/Admin/mallory";
    let r = invoke(query_fn.port, &url_event("POST", "/api/query", "format=json", Some(q), Some(mallory)));
    assert_eq!(r["statusCode"], 403, "{r}");
    let r = invoke(query_fn.port, &url_event("POST", "/api/query", "format=json", Some(q), Some(alice)));
    assert_eq!(r["statusCode"], 200, "{r}");
    let n = serde_json::from_slice::<Value>(&body_of(&r)).unwrap()["rows"][0]["n"].clone();
    assert_eq!(n, query(&local, q)[0]["n"], "the S3 lake holds what the local one does");
    let r =
        invoke(query_fn.port, &url_event("POST", "/api/query", "format=json", Some("DROP TABLE flows"), Some(alice)));
    assert_eq!(r["statusCode"], 403);
    // The query function answers the page, not carving.
    let page = invoke(query_fn.port, &url_event("GET", "/", "", None, Some(alice)));
    assert_eq!(page["statusCode"], 200);
    assert_eq!(invoke(query_fn.port, &url_event("GET", "/api/carve", "", None, Some(alice)))["statusCode"], 404);

    // A small carve (one DNS exchange) comes back inline, base64 in the event answer.
    let enc = |s: &str| s.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let dns = &query(
        &local,
        "SELECT community_id, first_ts_ns AS f, last_ts_ns AS l, packets FROM flows \
         WHERE proto = 17 AND dst_port = 53 AND bytes < 900 ORDER BY community_id LIMIT 1",
    )[0];
    let qs = format!(
        "community_id={}&from={}&to={}",
        enc(dns["community_id"].as_str().unwrap()),
        dns["f"].as_i64().unwrap() / 1_000_000_000,
        dns["l"].as_i64().unwrap() / 1_000_000_000 + 1
    );
    let r = invoke(carve_fn.port, &url_event("GET", "/api/carve", &qs, None, None));
    assert_eq!(r["statusCode"], 401);
    let r = invoke(carve_fn.port, &url_event("GET", "/api/carve", &qs, None, Some(alice)));
    assert_eq!(r["statusCode"], 200, "{r}");
    let pcap = dir.path().join("fn.pcap");
    std::fs::write(&pcap, body_of(&r)).unwrap();
    assert_eq!(capinfos(&pcap).0, dns["packets"].as_u64().unwrap());
    // A large one (the biggest TCP flow) goes to S3: 303 to a presigned URL
    // that serves the file.
    let (cid, from, to, packets) = a_flow(&local);
    let qs = format!("community_id={}&from={from}&to={to}", enc(&cid));
    let r = invoke(carve_fn.port, &url_event("GET", "/api/carve", &qs, None, Some(alice)));
    assert_eq!(r["statusCode"], 303, "{r}");
    let location = header_of(&r, "location").expect("a Location header").to_string();
    assert!(location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=600"), "{location}");
    let fetched = get(&location, &[], None);
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    let big = dir.path().join("big.pcap");
    std::fs::write(&big, &fetched.body).unwrap();
    assert_eq!(capinfos(&big).0, packets);
    assert!(fetched.body.len() > 1024);

    // The audit names the IAM identity.
    let audit = moto.query(lake, "SELECT principal, via, outcome, delivery FROM carve_audit ORDER BY time");
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|a| a["principal"] == alice && a["via"] == "function"));
    assert_eq!(audit[0]["delivery"], "inline");
    assert!(audit[1]["delivery"].as_str().unwrap().starts_with("s3://lake-web/carve/"));
    let lines = std::fs::read_to_string(&carve_fn.log).unwrap();
    let answered: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {l}")))
        .filter(|l| l["fields"]["message"] == "carve answered")
        .collect();
    assert_eq!(answered.len(), 2, "one JSON log line per carve: {lines}");
    assert_eq!(answered[0]["fields"]["principal"], alice);
}
