//! The parsers on samples written to the published formats
//! (testdata/logs: RFC 5424 §6.5, RFC 3164 §5.4, Suricata's EVE docs,
//! Zeek's TSV and JSON logs, the CEF guide) and on hostile lines.

use serde_json::Value;

use super::*;

const RECEIVED: i64 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z

fn sample(name: &str) -> Vec<u8> {
    let p = crate::test_paths::crate_dir().join("../../testdata/logs").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parse_file(name: &str, source_type: &str) -> Vec<Result<Parsed, ParseError>> {
    let mut p = LogParser::new();
    sample(name)
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| p.parse(source_type, name, RECEIVED, l))
        .collect()
}

fn events(name: &str, source_type: &str) -> Vec<LogRow> {
    parse_file(name, source_type)
        .into_iter()
        .filter_map(|r| match r.unwrap_or_else(|e| panic!("{name}: {e}")) {
            Parsed::Event(row) => Some(*row),
            Parsed::Header => None,
        })
        .collect()
}

fn fields(row: &LogRow) -> Value {
    serde_json::from_str(row.fields.as_deref().expect("fields")).expect("fields are JSON")
}

fn iso(s: &str) -> i64 {
    time::parse_iso(s).unwrap()
}

#[test]
fn rfc5424_examples() {
    let rows = events("rfc5424.log", "syslog");
    assert_eq!(rows.len(), 4);
    let r = &rows[0];
    assert_eq!(r.ts_ns, iso("2003-10-11T22:14:15.003Z"));
    assert_eq!((r.host.as_deref(), r.app.as_deref(), r.severity), (Some("mymachine.example.com"), Some("su"), Some(2)));
    assert_eq!(r.message.as_deref(), Some("'su root' failed for lonvick on /dev/pts/8"), "the BOM is dropped");
    assert_eq!(fields(r)["msgid"], "ID47");
    assert_eq!(fields(r)["facility"], 4);
    let r = &rows[1];
    assert_eq!(r.ts_ns, iso("2003-08-24T12:14:15.000003Z"), "the offset is applied");
    assert_eq!(fields(r)["procid"], "8710");
    assert_eq!(r.severity, Some(5));
    let f = fields(&rows[2]);
    assert_eq!(f["sd"]["exampleSDID@32473"]["eventID"], "1011");
    assert_eq!(rows[2].message.as_deref(), Some("An application event log entry..."));
    let f = fields(&rows[3]);
    assert_eq!(f["sd"]["examplePriority@32473"]["class"], "high");
    assert_eq!(rows[3].message, None);
}

#[test]
fn rfc3164_examples_and_files_without_pri() {
    let rows = events("rfc3164.log", "syslog");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].ts_ns, iso("2023-10-11T22:14:15Z"), "the year is the receive time's");
    assert_eq!((rows[0].host.as_deref(), rows[0].app.as_deref()), (Some("mymachine"), Some("su")));
    assert_eq!(rows[1].host.as_deref(), Some("10.0.0.99"));
    assert_eq!(rows[1].message.as_deref(), Some("Use the BFG!"));
    assert_eq!(fields(&rows[2])["pid"], "4121");
    assert_eq!(rows[2].app.as_deref(), Some("sshd"));
    assert_eq!(rows[2].src_ip.as_deref(), Some("203.0.113.7"), "the peer sshd names");
    assert_eq!(rows[0].src_ip, None);
    assert_eq!(rows[3].severity, None, "a file line has no PRI");
    assert_eq!(rows[3].host.as_deref(), Some("bastion"));
    assert_eq!(rows[3].ts_ns, iso("2023-11-22T03:12:09Z") - 365 * 86_400_000_000_000, "not in the future: last year");
}

#[test]
fn cef_bare_and_inside_syslog() {
    let rows = events("cef.log", "cef");
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    assert_eq!((r.src_ip.as_deref(), r.dst_ip.as_deref(), r.src_port), (Some("10.0.0.1"), Some("2.1.2.2"), Some(1232)));
    assert_eq!((r.severity, r.message.as_deref()), (Some(2), Some("worm successfully stopped")));
    assert_eq!(r.ts_ns, RECEIVED);
    let r = &rows[1];
    assert_eq!(fields(r)["name"], "detected a | in message");
    assert_eq!(fields(r)["act"], "blocked a |");
    assert_eq!(r.dst_ip.as_deref(), Some("1.1.1.1"));
    assert_eq!(r.host.as_deref(), Some("host"));
    let r = &rows[2];
    assert_eq!(r.source_type, "cef");
    assert_eq!((r.dst_port, r.host.as_deref()), (Some(443), Some("fw01")));
    assert_eq!(r.message.as_deref(), Some("Blocked a URL with = signs a=b"));
    assert_eq!(fields(r)["request"], "https://bad.example/x");
    assert_eq!(r.app.as_deref(), Some("Palo Alto Networks PAN-OS"));
    // Syslog that carries CEF is CEF too.
    let mut p = LogParser::new();
    let Parsed::Event(row) =
        p.parse("syslog", "x", RECEIVED, sample("cef.log").split(|b| *b == b'\n').nth(2).unwrap()).unwrap()
    else {
        panic!("an event")
    };
    assert_eq!(row.source_type, "cef");
}

#[test]
fn suricata_eve_event_types() {
    let rows = events("eve.json", "suricata-eve");
    let by_type: Vec<(&str, Option<&str>)> =
        rows.iter().map(|r| (r.app.as_deref().unwrap(), r.message.as_deref())).collect();
    assert_eq!(
        by_type,
        vec![
            ("alert", Some("ET INFO Possible Kali Linux hostname in DHCP Request Packet")),
            ("dns", Some("twitter.com")),
            ("http", Some("GET www.digip.org/jansson/releases/")),
            ("tls", Some("www.google.com")),
            ("flow", Some("tls 26 pkts 11153 bytes, state closed")),
            ("fileinfo", Some("/jansson/releases/")),
        ]
    );
    let a = &rows[0];
    assert_eq!(a.ts_ns, iso("2017-04-07T21:24:37.251547Z"));
    assert_eq!((a.src_ip.as_deref(), a.dst_port, a.severity), (Some("192.168.2.14"), Some(80), Some(2)));
    assert_eq!(a.community_id.as_deref(), Some("1:pl1Cs+QVS4HHfHsyQlOkVh1nLHk="));
    assert_eq!(rows[1].dst_ip, None, "the docs' anonymized x.x.250.50 is not an address");
    assert_eq!(fields(&rows[1])["dest_ip"], "x.x.250.50", "but it is kept in the fields");
}

#[test]
fn zeek_tsv_with_headers_and_json() {
    let all = parse_file("conn.log", "zeek");
    assert_eq!(all.iter().filter(|r| matches!(r, Ok(Parsed::Header))).count(), 9);
    let rows = events("conn.log", "zeek");
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(r.ts_ns, 1_562_600_677_167_017_000);
    assert_eq!(r.app.as_deref(), Some("conn"));
    assert_eq!(
        (r.src_ip.as_deref(), r.src_port, r.dst_ip.as_deref(), r.dst_port),
        (Some("192.168.4.76"), Some(46378), Some("31.3.245.133"), Some(80))
    );
    let f = fields(r);
    assert_eq!(f["orig_bytes"], 77);
    assert_eq!(f["duration"], 0.254839);
    assert_eq!(f["tunnel_parents"], serde_json::json!([]));
    assert!(f.get("local_orig").is_none(), "unset fields are left out");
    let rows = events("dns.log", "zeek");
    assert_eq!(rows[0].message.as_deref(), Some("testmyids.com"));
    assert_eq!(rows[0].app.as_deref(), Some("dns"));
    assert_eq!(rows[1].ts_ns, iso("2020-06-05T14:39:59.512593Z"));
    assert_eq!(rows[1].src_ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(rows[1].app.as_deref(), Some("dns"), "the path from the file name");
}

#[test]
fn zeek_tsv_without_a_header_is_an_error_naming_the_fix() {
    let mut p = LogParser::new();
    let e = p.parse("zeek", "/var/log/zeek/conn.log", RECEIVED, b"1562600677.1\tC1\t1.2.3.4").unwrap_err();
    assert!(e.reason.contains("#fields"), "{e}");
    // A header, then a line with the wrong number of values.
    let header = b"#fields\tts\tuid";
    assert_eq!(p.parse("zeek", "o", RECEIVED, header), Ok(Parsed::Header));
    assert!(p.parse("zeek", "o", RECEIVED, b"1.0\tC1\textra").unwrap_err().reason.contains("3 values for the 2"));
    assert!(matches!(p.parse("zeek", "o", RECEIVED, b"1.0\tC1"), Ok(Parsed::Event(_))));
}

#[test]
fn generic_json_uses_common_names() {
    let rows = events("app.ndjson", "json");
    let r = &rows[0];
    assert_eq!((r.host.as_deref(), r.severity, r.src_port), (Some("web-1"), Some(3), Some(41000)));
    assert_eq!((r.src_ip.as_deref(), r.dst_ip.as_deref()), (Some("203.0.113.9"), Some("10.0.0.5")));
    assert_eq!(r.message.as_deref(), Some("upstream timed out"));
    let r = &rows[1];
    assert_eq!(r.ts_ns, 1_709_294_400_000_000_000);
    assert_eq!((r.severity, r.host.as_deref(), r.src_ip.as_deref()), (Some(4), Some("api-2"), Some("198.51.100.4")));
}

#[test]
fn detection_names_each_format() {
    for (line, t) in [
        (&br#"{"timestamp":"x","event_type":"alert"}"#[..], "suricata-eve"),
        (br#"{"ts":1.0,"uid":"C1"}"#, "zeek"),
        (br#"{"message":"m"}"#, "json"),
        (b"#separator \\x09", "zeek"),
        (b"CEF:0|a|b|c|d|e|1|", "cef"),
        (b"<13>hello", "syslog"),
        (b"Nov 22 03:12:09 h a: m", "syslog"),
        (b"plain words", "text"),
    ] {
        assert_eq!(detect(line), t, "{}", String::from_utf8_lossy(line));
    }
}

#[test]
fn malformed_lines_are_precise_errors() {
    let errs: Vec<String> = parse_file("malformed.log", "syslog").into_iter().map(|r| r.unwrap_err().reason).collect();
    assert!(errs[0].contains("PRI \"999\""), "{errs:?}");
    assert!(errs[1].contains("[broken]") || errs[1].contains("unterminated"), "{errs:?}");
    assert!(errs[2].contains("not RFC 3339"), "{errs:?}");
    let mut p = LogParser::new();
    for (t, line, want) in [
        ("suricata-eve", &b"{\"event_type\":\"alert\"}"[..], "timestamp"),
        ("suricata-eve", b"[1,2]", "not a JSON object"),
        ("json", b"{\"a\":", "not JSON"),
        ("json", b"plain text", "not JSON"),
        ("cef", b"CEF:0|only|three", "header has"),
        ("cef", b"CEF:x|a|b|c|d|e|1|k=v", "version"),
        ("cef", b"nothing here", "no 'CEF:'"),
        ("syslog", b"no pri and no time", "neither"),
        ("syslog", b"<13\xff>x", "not UTF-8"),
        ("zeek", b"{\"uid\":\"C\"}", "no ts"),
    ] {
        let e = p.parse(t, "o", RECEIVED, line).unwrap_err();
        assert!(e.to_string().contains(want), "{t} {:?}: {e}", String::from_utf8_lossy(line));
    }
}

#[test]
fn unknown_sources_keep_their_text() {
    let mut p = LogParser::new();
    let Ok(Parsed::Event(r)) = p.parse("stream-raw", "kinesis", RECEIVED, b"a line from elsewhere\r\n") else {
        panic!()
    };
    assert_eq!((r.source_type.as_str(), r.message.as_deref()), ("stream-raw", Some("a line from elsewhere")));
    assert_eq!((r.ts_ns, r.raw.as_slice()), (RECEIVED, &b"a line from elsewhere"[..]));
    let Ok(Parsed::Event(r)) =
        p.parse("stream-raw", "kinesis", RECEIVED, br#"{"timestamp":"2024-01-01T00:00:00Z","event_type":"dns"}"#)
    else {
        panic!()
    };
    assert_eq!(r.source_type, "suricata-eve", "a foreign line in a known format is parsed");
}

#[test]
fn hostile_lines_never_panic() {
    let mut p = LogParser::new();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let corpus: Vec<Vec<u8>> =
        ["rfc5424.log", "rfc3164.log", "cef.log", "eve.json", "conn.log", "dns.log", "app.ndjson"]
            .iter()
            .flat_map(|f| sample(f).split(|b| *b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>())
            .collect();
    for line in &corpus {
        for cut in 0..line.len().min(200) {
            for t in ["syslog", "cef", "zeek", "suricata-eve", "json", "x"] {
                let _ = p.parse(t, "o", RECEIVED, &line[..cut]);
                // A byte flipped somewhere.
                let mut m = line.clone();
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if !m.is_empty() {
                    let i = (seed as usize) % m.len();
                    m[i] = (seed >> 32) as u8;
                }
                let _ = p.parse(t, "o", RECEIVED, &m);
            }
        }
    }
}

#[test]
fn named_json_sources_parse_as_json_and_keep_their_name() {
    let mut p = LogParser::new();
    let ok = p.parse("json:github", "webhook", RECEIVED, br#"{"action":"push","sender":{"login":"x"}}"#).unwrap();
    let Parsed::Event(row) = ok else { panic!("an event") };
    assert_eq!(row.source_type, "github");
    assert!(row.fields.as_deref().unwrap().contains("push"));
    // Not JSON, or not an object: an error (quarantine), not a text event.
    let e = p.parse("json:github", "webhook", RECEIVED, b"action=push").unwrap_err();
    assert!(e.to_string().contains("not JSON"), "{e}");
    let e = p.parse("json:github", "webhook", RECEIVED, b"[1,2]").unwrap_err();
    assert!(e.to_string().contains("not a JSON object"), "{e}");
    // An EVE record sent to a named source is still read as EVE.
    let eve = br#"{"timestamp":"2024-01-01T00:00:00Z","event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2"}"#;
    let Parsed::Event(row) = p.parse("json:ids", "webhook", RECEIVED, eve).unwrap() else { panic!("an event") };
    assert_eq!(row.source_type, "ids");
    assert_eq!(row.src_ip.as_deref(), Some("10.0.0.1"));
}
