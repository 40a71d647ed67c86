//! Rules, Suricata alerts and triage on batches of log rows.

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int32Type;
use opensoc_rows::tables::{LogRow, LogRows};

use super::*;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

fn sshd(i: i64, ip: &str) -> LogRow {
    LogRow {
        ts_ns: T0 + i * S,
        received_ns: T0 + i * S,
        source_type: "syslog".into(),
        origin: "auth.log".into(),
        app: Some("sshd".into()),
        host: Some("bastion".into()),
        src_ip: Some(ip.into()),
        message: Some(format!("Failed password for root from {ip} port {} ssh2", 40000 + i)),
        raw: b"x".to_vec(),
        ..Default::default()
    }
}

fn batch(rows: Vec<LogRow>) -> RecordBatch {
    LogRows(rows).take_batch("test").unwrap().unwrap()
}

fn rule_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn strings(b: &RecordBatch, col: &str) -> Vec<String> {
    let mut c = b.column_by_name(col).unwrap().clone();
    if matches!(c.data_type(), arrow::datatypes::DataType::Timestamp(..)) {
        c = arrow::compute::cast(&c, &arrow::datatypes::DataType::Int64).unwrap();
    }
    let c = arrow::compute::cast(&c, &arrow::datatypes::DataType::Utf8).unwrap();
    let s = c.as_string::<i32>();
    (0..s.len()).map(|i| if s.is_null(i) { String::new() } else { s.value(i).to_string() }).collect()
}

#[test]
fn the_builtin_rules_load() {
    let set = RuleSet::builtin();
    let ids: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "opensoc.portscan.vertical",
            "opensoc.portscan.horizontal",
            "opensoc.dns.tunnel",
            "opensoc.dns.dga",
            "opensoc.ssh.bruteforce"
        ]
    );
    for (name, text) in builtin::RULES {
        let (_, errors) = rule::parse_rules(text, Path::new(name), &mut Fields::default());
        assert!(errors.is_empty(), "{errors:?}");
    }
}

#[test]
fn windowed_counts_fire_once_per_key_and_redelivery_counts_nothing_twice() {
    let d = Detector::default();
    let mut rows: Vec<LogRow> = (0..10).map(|i| sshd(i, "203.0.113.7")).collect();
    rows.extend((0..5).map(|i| sshd(i, "198.51.100.1")));
    let b = batch(rows);
    let early = d.detect(Table::Logs, &b);
    assert!(early.is_empty(), "10 events are not more than 10 …: {early:?}");
    let one_more = batch(vec![sshd(10, "203.0.113.7")]);
    let f = d.findings(Table::Logs, &one_more).unwrap().expect("… the 11th is");
    assert_eq!(strings(&f, "rule"), ["opensoc.ssh.bruteforce"]);
    assert_eq!(strings(&f, "src_ip"), ["203.0.113.7"]);
    assert_eq!(strings(&f, "indicator"), ["src_ip=203.0.113.7"]);
    assert_eq!(strings(&f, "carve_from"), [(T0 / 1000).to_string()], "from the first failure");
    // The same rows again (a redelivery) and more of the same window: nothing new.
    assert!(d.detect(Table::Logs, &b).is_empty());
    assert!(d.detect(Table::Logs, &batch(vec![sshd(11, "203.0.113.7")])).is_empty());
    // The other address redelivered many times is still 5 distinct events.
    for _ in 0..5 {
        assert!(d.detect(Table::Logs, &batch((0..5).map(|i| sshd(i, "198.51.100.1")).collect())).is_empty());
    }
}

#[test]
fn a_window_counts_a_batchs_rows_in_time_order_whatever_their_order_in_the_batch() {
    // Eleven failures a second apart (the rule fires on the 11th) and
    // more after, in a shuffled order: the finding spans the first
    // eleven, as it would had they come in order.
    let mut order: Vec<i64> = (0..20).collect();
    order.reverse();
    order.swap(3, 17);
    let d = Detector::default();
    let f = d
        .findings(Table::Logs, &batch(order.iter().map(|&i| sshd(i, "203.0.113.7")).collect()))
        .unwrap()
        .expect("more than ten failures");
    assert_eq!(strings(&f, "rule"), ["opensoc.ssh.bruteforce"]);
    assert_eq!(strings(&f, "carve_from"), [(T0 / 1000).to_string()], "from the first failure");
    assert_eq!(strings(&f, "carve_to"), [((T0 + 10 * S) / 1000).to_string()], "to the eleventh");
}

const CUSTOM: &str = r#"
title: Root login from outside
id: custom.root-outside
level: high
logsource: {product: linux, service: sshd}
detection:
  selection:
    message|contains|all: ['password', 'root']
  internal:
    src_ip|cidr: ['10.0.0.0/8', '192.168.0.0/16']
  keywords:
    - 'ssh2'
  condition: selection and keywords and not internal
---
title: Any sshd line
id: custom.any-sshd
score: 20
logsource: {product: linux}
detection:
  s:
    app|re: '^ssh'
  condition: s
"#;

#[test]
fn user_rules_combine_with_and_or_not_and_scores_aggregate() {
    let dir = rule_dir(&[("custom.yml", CUSTOM)]);
    for (agg, want) in [(ScoreAggregation::Max, 75), (ScoreAggregation::Sum, 95), (ScoreAggregation::Mean, 48)] {
        let mut rules = RuleSet::empty();
        assert_eq!(rules.load_dir(dir.path()), Ok(2));
        let d = Detector::new(rules, agg);
        let b = batch(vec![sshd(0, "203.0.113.7"), sshd(1, "10.1.2.3")]);
        let f = d.findings(Table::Logs, &b).unwrap().unwrap();
        assert_eq!(f.num_rows(), 2, "one finding per row");
        assert_eq!(strings(&f, "rule"), ["custom.root-outside", "custom.any-sshd"]);
        assert_eq!(strings(&f, "rules")[0], "[custom.root-outside, custom.any-sshd]", "{agg:?}");
        let scores = f.column_by_name("score").unwrap().as_primitive::<Int32Type>();
        assert_eq!((scores.value(0), scores.value(1)), (want, 20), "{agg:?}");
        assert_eq!(strings(&f, "severity")[0], severity(want));
        assert_eq!(strings(&f, "matched_field")[0], "message");
    }
    // The product filter: a JSON row with app sshd is not syslog.
    let mut rules = RuleSet::empty();
    rules.load_dir(dir.path()).unwrap();
    let mut row = sshd(0, "203.0.113.7");
    row.source_type = "json".into();
    assert!(Detector::new(rules, ScoreAggregation::Max).detect(Table::Logs, &batch(vec![row])).is_empty());
}

#[test]
fn bad_rules_are_named_and_the_good_ones_load() {
    let dir = rule_dir(&[
        ("good.yaml", CUSTOM),
        ("bad.yml", "title: Broken\ndetection:\n  s:\n    a|re: '('\n  condition: s\n"),
        ("worse.yml", "title: [unclosed\n"),
        ("cond.yml", "title: Cond\ndetection:\n  s: {a: 1}\n  condition: s and t\n"),
        ("notes.txt", "not a rule"),
    ]);
    let mut rules = RuleSet::empty();
    let errors = rules.load_dir(dir.path()).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{text:?}");
    assert!(
        text.iter().any(|e| e.contains("bad.yml") && e.contains("Broken") && e.contains("regular expression")),
        "{text:?}"
    );
    assert!(text.iter().any(|e| e.contains("worse.yml") && e.contains("not YAML")), "{text:?}");
    assert!(text.iter().any(|e| e.contains("cond.yml") && e.contains("\"t\", which is not a selection")), "{text:?}");
    assert_eq!(rules.rules().len(), 2, "the good file still loads");
    assert!(RuleSet::empty().load_dir(Path::new("/no/such/folder")).unwrap_err()[0].reason.contains("cannot read"));
}

#[test]
fn a_user_rule_replaces_the_builtin_with_its_id() {
    let dir = rule_dir(&[(
        "ssh.yml",
        "title: Stricter\nid: opensoc.ssh.bruteforce\nlevel: critical\nlogsource: {service: sshd}\ndetection:\n  f: {message|contains: Failed}\n  condition: f | count() by src_ip > 1\n",
    )]);
    let mut rules = RuleSet::builtin();
    rules.load_dir(dir.path()).unwrap();
    let ssh: Vec<&Rule> = rules.rules().iter().filter(|r| r.id == "opensoc.ssh.bruteforce").collect();
    assert_eq!(ssh.len(), 1);
    assert_eq!((ssh[0].title.as_str(), ssh[0].score), ("Stricter", 95));
    let d = Detector::new(rules, ScoreAggregation::Max);
    let f = d.findings(Table::Logs, &batch((0..2).map(|i| sshd(i, "192.0.2.9")).collect())).unwrap().unwrap();
    assert_eq!(strings(&f, "severity"), ["Critical"]);
}

#[test]
fn suricata_alerts_are_findings_scored_by_severity() {
    let mut p = crate::logs::LogParser::new();
    let mut rows = Vec::new();
    for (sev, sid) in [(1, 2017918), (3, 2100498)] {
        let line = format!(
            r#"{{"timestamp":"2024-01-01T00:00:00.000001Z","event_type":"alert","src_ip":"10.0.0.1","src_port":1234,"dest_ip":"192.0.2.1","dest_port":80,"proto":"TCP","community_id":"1:abc","alert":{{"signature_id":{sid},"signature":"ET TEST {sid}","category":"Test","severity":{sev}}}}}"#
        );
        let crate::logs::Parsed::Event(r) = p.parse("suricata-eve", "eve.json", T0, line.as_bytes()).unwrap() else {
            panic!()
        };
        rows.push(*r);
    }
    let f = Detector::default().findings(Table::Logs, &batch(rows)).unwrap().unwrap();
    assert_eq!(strings(&f, "rule"), ["suricata.alert", "suricata.alert"]);
    assert_eq!(strings(&f, "severity"), ["High", "Medium"]);
    assert_eq!(strings(&f, "indicator"), ["2017918", "2100498"]);
    assert_eq!(strings(&f, "description")[0], "ET TEST 2017918 (Test)");
    assert_eq!(strings(&f, "community_id")[0], "1:abc");
    assert_eq!(strings(&f, "dst_port")[0], "80");
    assert_eq!(strings(&f, "time_ns")[0], "1704067200000001000", "no precision lost");
    assert_eq!(strings(&f, "time")[0], "1704067200000001");
    assert_eq!(strings(&f, "intel_sources")[0], "[suricata]");
}
