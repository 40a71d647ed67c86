//! Scoring end to end on hand-made batches: a trained model, rows built
//! like the ingest pipeline's, and what comes out.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use crate::score::rules;
use crate::train::{FlowSample, Trainer};
use crate::{Model, Scorer, Settings, store};

const H: i64 = 3_600_000_000_000;
const S: i64 = 1_000_000_000;

/// Eight days of a host that sends ~50 kB an hour to US and GB peers
/// during working hours, and looks up a few domains.
fn model() -> Model {
    let mut t = Trainer::new(Settings::default());
    for day in 0..8 {
        for hour in 8..18 {
            let ts = (day * 24 + hour) * H;
            for (i, (peer, c, asn)) in [("216.160.83.56", "US", 209), ("81.2.69.160", "GB", 2856)].iter().enumerate() {
                let f = FlowSample {
                    src_ip: "10.1.0.10",
                    dst_ip: peer,
                    dst_port: 443,
                    src_bytes: 25_000 + (day * 100) + i as i64,
                    dst_bytes: 90_000,
                    first_ts_ns: ts + i as i64 * 60 * S,
                    src_country: None,
                    dst_country: Some(c),
                    src_asn: None,
                    dst_asn: Some(*asn),
                };
                t.add_flow(&f);
            }
            t.add_name("dns", "10.1.0.10", "www.example.com", ts);
            t.add_name("dns", "10.1.0.10", "api.github.com", ts);
        }
        // A thin host: one hour a day for two days.
        if day < 2 {
            t.add_flow(&FlowSample {
                src_ip: "10.1.0.99",
                dst_ip: "216.160.83.56",
                dst_port: 80,
                src_bytes: 10,
                dst_bytes: 10,
                first_ts_ns: day * 24 * H,
                src_country: None,
                dst_country: Some("US"),
                src_asn: None,
                dst_asn: Some(209),
            });
        }
    }
    let mut periodic: Vec<(i64, i64)> = (0..50).map(|i| (8 * 24 * H - 50 * 300 * S + i * 300 * S, 500)).collect();
    t.add_pair_connections("10.1.0.10", "216.160.83.57", 8443, 6, &mut periodic);
    t.finish("m-test".into(), 8 * 24 * H, (0, 8 * 24 * H))
}

struct Flow<'a> {
    src: &'a str,
    dst: &'a str,
    port: i32,
    proto: i32,
    src_bytes: i64,
    ts: i64,
    dst_country: Option<&'a str>,
    dst_asn: Option<i64>,
}

fn flows(rows: &[Flow<'_>]) -> RecordBatch {
    let s = |f: &dyn Fn(&Flow) -> Option<String>| -> ArrayRef { Arc::new(StringArray::from_iter(rows.iter().map(f))) };
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("src_ip", s(&|r| Some(r.src.into()))),
        ("dst_ip", s(&|r| Some(r.dst.into()))),
        ("dst_port", Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.port))) as ArrayRef),
        ("proto", Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.proto)))),
        ("src_bytes", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.src_bytes)))),
        ("dst_bytes", Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| 100)))),
        ("first_ts_ns", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.ts)))),
        ("src_tcp_flags", Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 0x1b)))),
        ("end_reason", s(&|_| Some("idle".into()))),
        ("src_country", s(&|_| None)),
        ("dst_country", s(&|r| r.dst_country.map(String::from))),
        ("src_asn", Arc::new(Int64Array::from_iter(rows.iter().map(|_| None::<i64>)))),
        ("dst_asn", Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.dst_asn)))),
    ];
    RecordBatch::try_from_iter(cols).expect("batch")
}

fn flow<'a>(src: &'a str, dst: &'a str, ts: i64) -> Flow<'a> {
    Flow { src, dst, port: 443, proto: 6, src_bytes: 500, ts, dst_country: Some("US"), dst_asn: Some(209) }
}

const DAY9: i64 = 9 * 24 * H;

#[test]
fn the_model_survives_its_rows_and_damage_is_named() {
    let m = model();
    let batch = store::to_batch(&m).expect("rows");
    assert_eq!(batch.schema(), Table::Models.schema());
    let back = store::from_batches(std::slice::from_ref(&batch)).expect("read back");
    assert_eq!(back, m);
    // One host row lost: the header's count no longer matches.
    let err = store::from_batches(&[batch.slice(0, batch.num_rows() - 2)]).unwrap_err().to_string();
    assert!(err.contains("model m-test is corrupt") && err.contains("host and"), "{err}");
    // A damaged profile.
    let mut cols = batch.columns().to_vec();
    let profiles: Vec<String> = (0..batch.num_rows())
        .map(|i| {
            if i == 2 {
                "{\"active".into()
            } else {
                arrow::array::AsArray::as_string::<i32>(&cols[8]).value(i).to_string()
            }
        })
        .collect();
    cols[8] = Arc::new(StringArray::from(profiles));
    let damaged = RecordBatch::try_new(batch.schema(), cols).expect("batch");
    let err = store::from_batches(&[damaged]).unwrap_err().to_string();
    assert!(err.contains("host 10.1.0.10") || err.contains("host 10.1.0.99"), "{err}");
    assert!(store::from_batches(&[]).unwrap_err().to_string().contains("no header row"));
}

#[test]
fn a_new_country_and_a_new_asn_are_flagged_once_and_thin_hosts_never() {
    let scorer = Scorer::new(Arc::new(model()));
    let mut rows = vec![
        Flow { dst_country: Some("BT"), dst_asn: Some(35908), ..flow("10.1.0.10", "67.43.156.10", DAY9 + 10 * H) },
        Flow { dst_country: Some("BT"), dst_asn: Some(35908), ..flow("10.1.0.10", "67.43.156.11", DAY9 + 10 * H + S) },
        // Usual country and network.
        flow("10.1.0.10", "216.160.83.58", DAY9 + 10 * H),
        // The thin host and an unknown one do the same: not scored.
        Flow { dst_country: Some("BT"), dst_asn: Some(35908), ..flow("10.1.0.99", "67.43.156.10", DAY9) },
        Flow { dst_country: Some("BT"), dst_asn: Some(35908), ..flow("10.9.9.9", "67.43.156.10", DAY9) },
    ];
    let found = scorer.score(Table::Flows, &flows(&rows));
    let names: Vec<&str> = found.iter().map(|a| a.rule).collect();
    assert_eq!(names, [rules::NEW_COUNTRY, rules::NEW_ASN], "{found:#?}");
    assert_eq!(found[0].row, 0);
    assert!(
        found[0].description.contains("in BT (AS35908)") && found[0].description.contains("usual: GB, US"),
        "{}",
        found[0].description
    );
    assert_eq!(found[0].score, 70);
    let c = scorer.counts();
    assert_eq!((c.scored, c.unscored_thin_history, c.unscored_new_host), (3, 1, 1));
    // An inbound login from the same country the next hour: already reported today.
    let login = Flow { src: "67.43.156.12", dst: "10.1.0.10", port: 22, ..rows.swap_remove(0) };
    assert!(scorer.score(Table::Flows, &flows(&[login])).is_empty());
}

#[test]
fn bytes_far_above_the_hours_norm_are_a_volume_spike() {
    let scorer = Scorer::new(Arc::new(model()));
    // Twice the norm: nothing.
    let normal: Vec<Flow> = (0..4)
        .map(|i| Flow { src_bytes: 25_000, ..flow("10.1.0.10", "216.160.83.56", DAY9 + 14 * H + i * S) })
        .collect();
    assert!(scorer.score(Table::Flows, &flows(&normal)).is_empty());
    let exfil: Vec<Flow> = (0..10)
        .map(|i| Flow { src_bytes: 5_000_000, ..flow("10.1.0.10", "216.160.83.60", DAY9 + 14 * H + 60 * S + i * S) })
        .collect();
    let found = scorer.score(Table::Flows, &flows(&exfil));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].rule, rules::VOLUME);
    assert_eq!(found[0].indicator, "216.160.83.60");
    assert!(
        found[0].description.contains("14:00 UTC") && found[0].description.contains("to 216.160.83.60 (US, AS209)"),
        "{}",
        found[0].description
    );
}

#[test]
fn regular_connections_are_a_beacon_unless_the_pair_was_periodic() {
    let scorer = Scorer::new(Arc::new(model()));
    let jitter = [0, 2, -1, 1, -2, 0, 1, -1, 2, 0, -2, 1];
    let beacon: Vec<Flow> = jitter
        .iter()
        .enumerate()
        .map(|(i, j)| flow("10.1.0.10", "89.160.20.200", DAY9 + (i as i64 * 60 + j) * S))
        .collect();
    let known: Vec<Flow> =
        (0..12).map(|i| Flow { port: 8443, ..flow("10.1.0.10", "216.160.83.57", DAY9 + i * 300 * S) }).collect();
    let random: Vec<Flow> = [0, 7, 95, 100, 340, 351, 900, 1400, 1401, 2800]
        .iter()
        .map(|s| flow("10.1.0.10", "216.160.83.59", DAY9 + s * S))
        .collect();
    // Regular timing, but sizes of ordinary browsing.
    let sizes = [300, 2400, 900, 15000, 600, 4100, 250, 8000, 1200, 700, 3300, 520];
    let browsing: Vec<Flow> = sizes
        .iter()
        .enumerate()
        .map(|(i, b)| Flow { src_bytes: *b, ..flow("10.1.0.10", "216.160.83.56", DAY9 + i as i64 * 120 * S) })
        .collect();
    // Just as regular, but to the internal resolver: not looked at.
    let resolver: Vec<Flow> =
        (0..12).map(|i| Flow { port: 53, proto: 17, ..flow("10.1.0.10", "10.1.255.53", DAY9 + i * 60 * S) }).collect();
    let mut all = beacon;
    all.extend(resolver);
    all.extend(known);
    all.extend(random);
    all.extend(browsing);
    let found = scorer.score(Table::Flows, &flows(&all));
    let beacons: Vec<_> = found.iter().filter(|a| a.rule == rules::BEACON).collect();
    assert_eq!(beacons.len(), 1, "{found:#?}");
    assert_eq!(beacons[0].indicator, "89.160.20.200");
    let d = &beacons[0].description;
    assert!(
        d.contains("connected to 89.160.20.200:443/tcp") && (d.contains("every 60 s") || d.contains("every 61 s")),
        "{d}"
    );
}

#[test]
fn a_burst_of_domains_nobody_looked_up_is_flagged_and_a_few_are_not() {
    let scorer = Scorer::new(Arc::new(model()));
    let batch = |names: &[String], start: i64| {
        RecordBatch::try_from_iter(vec![
            ("src_ip", Arc::new(StringArray::from_iter_values(names.iter().map(|_| "10.1.0.10"))) as ArrayRef),
            ("query", Arc::new(StringArray::from_iter_values(names.iter()))),
            ("ts_ns", Arc::new(Int64Array::from_iter_values((0..names.len() as i64).map(|i| start + i * 5 * S)))),
        ])
        .expect("batch")
    };
    let few: Vec<String> =
        ["new-shop.example.org", "www.example.com", "blog.other.net"].iter().map(|s| s.to_string()).collect();
    assert!(scorer.score(Table::Dns, &batch(&few, DAY9)).is_empty());
    let dga: Vec<String> = (0..20)
        .map(|i| {
            format!("www.{}.com", ["xkqzjvhw", "pqmzrtyl", "vbnqwxzk", "jhgtrfds", "zxcvbqwe"][i % 5].repeat(1 + i / 5))
        })
        .collect();
    let found = scorer.score(Table::Dns, &batch(&dga, DAY9 + H));
    assert!(!found.is_empty() && found.iter().all(|a| a.rule == rules::NEW_DOMAINS), "{found:#?}");
    assert_eq!(found.len(), 1, "one finding per burst: {found:#?}");
    assert!(found[0].description.contains("looked up 8 domains"), "{}", found[0].description);
}
