//! # opensoc-schemas
//!
//! The contracts of OpenSOC, with no I/O: the Arrow schema of every lake
//! table, the stream [`envelope`], and the column documentation with its OCSF mapping (see
//! `schemas/README.md`). Every writer and reader of the lake takes its
//! schemas from here.
//!
//! Conventions:
//! - time: `*_ts` columns are Delta `timestamp` (UTC, microseconds — what
//!   Athena, Spark, Trino and DuckDB all read); the full nanosecond value is
//!   kept beside them in `*_ts_ns` (BIGINT, ns since the epoch);
//! - addresses are text (`10.0.0.1`, `2001:db8::1`), ports and protocol numbers INT;
//! - every table is partitioned by `event_date` (DATE, UTC) and lists its
//!   filter columns first, because Delta keeps statistics for the first 32.

pub mod catalog;
pub mod envelope;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The `flows` columns SQL written against the lake may rely on, by name
/// (the contract of issue 2; every other column may be added to).
pub const FLOWS_CONTRACT_COLUMNS: [&str; 11] = [
    "community_id",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "proto",
    "packets",
    "bytes",
    "first_ts",
    "last_ts",
    "sensor_id",
];

/// The partition column every table has.
pub const PARTITION_COLUMN: &str = "event_date";

/// The tables of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Bidirectional flows (OCSF Network Activity, 4001).
    Flows,
    /// Flow chunks: one flow's packets within one ingest batch.
    Packets,
    /// DNS transactions (OCSF DNS Activity, 4003).
    Dns,
    /// HTTP transactions (OCSF HTTP Activity, 4002).
    Http,
    /// TLS ClientHellos.
    Tls,
    /// Rejected input with the reason.
    Quarantine,
    /// Log events: syslog, Zeek, Suricata EVE, JSON lines, third-party records.
    Logs,
    /// Threat-intelligence indicators, one row per indicator per load.
    Intel,
    /// Findings: what detection flagged, scored and enriched (OCSF
    /// Detection Finding, 2004).
    Findings,
    /// One row per carve asked of the lake: who, which filter, what came
    /// out (OCSF API Activity, 6003).
    CarveAudit,
    /// The analysts' work on findings, append-only: status, assignee,
    /// comments, tags and cases, one row per change (who, when, what).
    FindingEvents,
    /// Behavioural models: one row per entity profile per training run
    /// (a header row, one per host, per periodic pair, and the lake-wide
    /// sets), committed at once; the newest run is the model in use.
    Models,
}

impl Table {
    /// Every table, in creation order.
    pub const ALL: [Table; 12] = [
        Table::Flows,
        Table::Packets,
        Table::Dns,
        Table::Http,
        Table::Tls,
        Table::Quarantine,
        Table::Logs,
        Table::Intel,
        Table::Findings,
        Table::CarveAudit,
        Table::FindingEvents,
        Table::Models,
    ];

    /// The table's name (also its folder under the lake root).
    pub fn name(self) -> &'static str {
        match self {
            Table::Flows => "flows",
            Table::Packets => "packets",
            Table::Dns => "dns",
            Table::Http => "http",
            Table::Tls => "tls",
            Table::Quarantine => "quarantine",
            Table::Logs => "logs",
            Table::Intel => "intel",
            Table::Findings => "findings",
            Table::CarveAudit => "carve_audit",
            Table::FindingEvents => "finding_events",
            Table::Models => "models",
        }
    }

    /// Look a table up by name.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The table's Arrow schema (partition column last).
    pub fn schema(self) -> SchemaRef {
        let fields = match self {
            Table::Flows => flows(),
            Table::Packets => packets(),
            Table::Dns => dns(),
            Table::Http => http(),
            Table::Tls => tls(),
            Table::Quarantine => quarantine(),
            Table::Logs => logs(),
            Table::Intel => intel(),
            Table::Findings => findings(),
            Table::CarveAudit => carve_audit(),
            Table::FindingEvents => finding_events(),
            Table::Models => models(),
        };
        Arc::new(Schema::new(fields))
    }
}

fn f(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, true)
}

fn req(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, false)
}

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The `event_date` (days since the epoch, UTC) of a timestamp in ns.
pub fn event_date(ts_ns: i64) -> i32 {
    ts_ns.div_euclid(NS_PER_DAY) as i32
}

/// Nanoseconds to the microseconds Delta timestamps hold.
pub fn ts_micros(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(1000)
}

/// The Delta-compatible timestamp type: UTC, microseconds.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn utf8_list() -> DataType {
    DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)))
}

fn endpoints() -> Vec<Field> {
    vec![
        f("community_id", DataType::Utf8),
        f("src_ip", DataType::Utf8),
        f("src_port", DataType::Int32),
        f("dst_ip", DataType::Utf8),
        f("dst_port", DataType::Int32),
        f("proto", DataType::Int32),
    ]
}

/// Columns the ingest pipeline fills by enrichment (placed last).
pub const ENRICHMENT_COLUMNS: [&str; 14] = [
    "src_country",
    "dst_country",
    "src_asn",
    "dst_asn",
    "src_as_org",
    "dst_as_org",
    "src_city",
    "dst_city",
    "src_latitude",
    "dst_latitude",
    "src_longitude",
    "dst_longitude",
    "src_anonymity",
    "dst_anonymity",
];

/// The [`ENRICHMENT_COLUMNS`] of both endpoints, filled by the ingest
/// pipeline's GeoIP enrichment (null without it): country (ISO code), ASN
/// and its organisation, city, coordinates, and the anonymous-IP flags
/// (`anonymous,vpn,hosting,public_proxy,residential_proxy,tor_exit`,
/// comma-joined; null when none).
pub fn enrichment() -> Vec<Field> {
    ENRICHMENT_COLUMNS
        .iter()
        .map(|name| {
            let t = if name.ends_with("_asn") {
                DataType::Int64
            } else if name.ends_with("_latitude") || name.ends_with("_longitude") {
                DataType::Float64
            } else {
                DataType::Utf8
            };
            f(name, t)
        })
        .collect()
}

fn flows() -> Vec<Field> {
    let mut v = vec![req("first_ts", ts_type()), req("last_ts", ts_type())];
    v.extend(endpoints());
    v.extend([
        req("packets", DataType::Int64),
        req("bytes", DataType::Int64),
        req("src_packets", DataType::Int64),
        req("dst_packets", DataType::Int64),
        req("src_bytes", DataType::Int64),
        req("dst_bytes", DataType::Int64),
        req("src_payload_bytes", DataType::Int64),
        req("dst_payload_bytes", DataType::Int64),
        req("src_tcp_flags", DataType::Int32),
        req("dst_tcp_flags", DataType::Int32),
        f("app_proto", DataType::Utf8),
        f("vlan", DataType::Int32),
        f("tunnel", DataType::Utf8),
        f("outer_src_ip", DataType::Utf8),
        f("outer_dst_ip", DataType::Utf8),
        req("end_reason", DataType::Utf8),
        req("first_ts_ns", DataType::Int64),
        req("last_ts_ns", DataType::Int64),
        req("sensor_id", DataType::Utf8),
        f("source", DataType::Utf8),
    ]);
    // Last, past the 32 columns Delta keeps statistics for: min/max of
    // unsorted countries prune nothing.
    v.extend(enrichment());
    v.push(req(PARTITION_COLUMN, DataType::Date32));
    v
}

fn packets() -> Vec<Field> {
    vec![
        f("community_id", DataType::Utf8),
        f("ip_lo", DataType::Utf8),
        f("ip_hi", DataType::Utf8),
        f("port_lo", DataType::Int32),
        f("port_hi", DataType::Int32),
        f("proto", DataType::Int32),
        req("first_ts", ts_type()),
        req("last_ts", ts_type()),
        req("first_ts_ns", DataType::Int64),
        req("last_ts_ns", DataType::Int64),
        req("sensor_id", DataType::Utf8),
        req("linktype", DataType::Int32),
        f("vlan", DataType::Int32),
        req("pkt_count", DataType::Int64),
        req("byte_count", DataType::Int64),
        f("source", DataType::Utf8),
        req("data", DataType::Binary),
        req(PARTITION_COLUMN, DataType::Date32),
    ]
}

fn dns() -> Vec<Field> {
    let mut v = vec![req("ts", ts_type())];
    v.extend(endpoints());
    v.extend([
        f("trans_id", DataType::Int32),
        f("query", DataType::Utf8),
        f("qtype", DataType::Int32),
        f("qtype_name", DataType::Utf8),
        f("qclass", DataType::Int32),
        f("rcode", DataType::Int32),
        f("rcode_name", DataType::Utf8),
        f("answers", utf8_list()),
        f("ttls", DataType::List(Arc::new(Field::new("element", DataType::Int64, true)))),
        f("rtt_ns", DataType::Int64),
        f("aa", DataType::Boolean),
        f("tc", DataType::Boolean),
        f("rd", DataType::Boolean),
        f("ra", DataType::Boolean),
        req("ts_ns", DataType::Int64),
        req("sensor_id", DataType::Utf8),
        req(PARTITION_COLUMN, DataType::Date32),
    ]);
    v
}

fn http() -> Vec<Field> {
    let mut v = vec![req("ts", ts_type())];
    v.extend(endpoints());
    v.extend([
        f("method", DataType::Utf8),
        f("host", DataType::Utf8),
        f("uri", DataType::Utf8),
        f("version", DataType::Utf8),
        f("user_agent", DataType::Utf8),
        f("referrer", DataType::Utf8),
        f("request_content_type", DataType::Utf8),
        f("request_content_length", DataType::Int64),
        f("status", DataType::Int32),
        f("reason", DataType::Utf8),
        f("response_content_type", DataType::Utf8),
        f("response_content_length", DataType::Int64),
        f("server", DataType::Utf8),
        req("ts_ns", DataType::Int64),
        req("sensor_id", DataType::Utf8),
        req(PARTITION_COLUMN, DataType::Date32),
    ]);
    v
}

fn tls() -> Vec<Field> {
    let mut v = vec![req("ts", ts_type())];
    v.extend(endpoints());
    v.extend([
        f("sni", DataType::Utf8),
        f("version", DataType::Utf8),
        f("version_num", DataType::Int32),
        f("alpn", utf8_list()),
        f("ja3", DataType::Utf8),
        f("ja4", DataType::Utf8),
        f("ja3_string", DataType::Utf8),
        f("cipher_count", DataType::Int32),
        f("extension_count", DataType::Int32),
        req("ts_ns", DataType::Int64),
        req("sensor_id", DataType::Utf8),
        req(PARTITION_COLUMN, DataType::Date32),
    ]);
    v
}

fn quarantine() -> Vec<Field> {
    vec![
        req("ts", ts_type()),
        req("source", DataType::Utf8),
        f("position", DataType::Utf8),
        req("stage", DataType::Utf8),
        req("reason", DataType::Utf8),
        f("raw", DataType::Binary),
        req("sensor_id", DataType::Utf8),
        req(PARTITION_COLUMN, DataType::Date32),
    ]
}

fn logs() -> Vec<Field> {
    vec![
        req("ts", ts_type()),
        req("source_type", DataType::Utf8),
        f("host", DataType::Utf8),
        f("src_ip", DataType::Utf8),
        f("dst_ip", DataType::Utf8),
        f("community_id", DataType::Utf8),
        f("severity", DataType::Int32),
        f("app", DataType::Utf8),
        f("src_port", DataType::Int32),
        f("dst_port", DataType::Int32),
        f("message", DataType::Utf8),
        f("fields", DataType::Utf8),
        req("ts_ns", DataType::Int64),
        req("received_ts_ns", DataType::Int64),
        req("origin", DataType::Utf8),
        req("sensor_id", DataType::Utf8),
        req("raw", DataType::Binary),
    ]
    .into_iter()
    .chain(enrichment())
    .chain([req(PARTITION_COLUMN, DataType::Date32)])
    .collect()
}

fn intel() -> Vec<Field> {
    vec![
        req("kind", DataType::Utf8),
        req("value", DataType::Utf8),
        req("source", DataType::Utf8),
        f("confidence", DataType::Int32),
        f("first_seen", ts_type()),
        f("last_seen", ts_type()),
        f("expires", ts_type()),
        f("description", DataType::Utf8),
        req("loaded_at", ts_type()),
        req("feed_file", DataType::Utf8),
        req(PARTITION_COLUMN, DataType::Date32),
    ]
}

fn findings() -> Vec<Field> {
    let mut v = vec![
        req("time", ts_type()),
        req("rule", DataType::Utf8),
        req("score", DataType::Int32),
        req("severity", DataType::Utf8),
    ];
    v.extend(endpoints());
    v.extend([
        req("matched_field", DataType::Utf8),
        req("indicator", DataType::Utf8),
        req("indicator_kind", DataType::Utf8),
        f("intel_sources", utf8_list()),
        f("rules", utf8_list()),
        f("description", DataType::Utf8),
        req("source_table", DataType::Utf8),
        f("carve_from", ts_type()),
        f("carve_to", ts_type()),
        req("time_ns", DataType::Int64),
        req("sensor_id", DataType::Utf8),
    ]);
    v.extend(enrichment());
    v.push(req(PARTITION_COLUMN, DataType::Date32));
    v
}

fn carve_audit() -> Vec<Field> {
    vec![
        req("time", ts_type()),
        req("principal", DataType::Utf8),
        req("via", DataType::Utf8),
        req("filter", DataType::Utf8),
        f("from_ts", ts_type()),
        f("to_ts", ts_type()),
        req("outcome", DataType::Utf8),
        f("error", DataType::Utf8),
        req("packets", DataType::Int64),
        req("bytes", DataType::Int64),
        f("format", DataType::Utf8),
        f("delivery", DataType::Utf8),
        req("files_scanned", DataType::Int64),
        req("bytes_scanned", DataType::Int64),
        req("elapsed_ms", DataType::Int64),
        req("time_ns", DataType::Int64),
        req(PARTITION_COLUMN, DataType::Date32),
    ]
}

fn finding_events() -> Vec<Field> {
    vec![
        req("time", ts_type()),
        req("finding_id", DataType::Utf8),
        req("event_id", DataType::Utf8),
        req("principal", DataType::Utf8),
        req("via", DataType::Utf8),
        f("status", DataType::Utf8),
        f("assignee", DataType::Utf8),
        f("comment", DataType::Utf8),
        f("tags_added", utf8_list()),
        f("tags_removed", utf8_list()),
        f("case_id", DataType::Utf8),
        f("case_title", DataType::Utf8),
        req("time_ns", DataType::Int64),
        req(PARTITION_COLUMN, DataType::Date32),
    ]
}

fn models() -> Vec<Field> {
    vec![
        req("trained_at", ts_type()),
        req("model_id", DataType::Utf8),
        req("entity_kind", DataType::Utf8),
        req("entity", DataType::Utf8),
        f("scored", DataType::Boolean),
        f("note", DataType::Utf8),
        f("active_hours", DataType::Int64),
        f("active_days", DataType::Int64),
        req("profile", DataType::Utf8),
        f("sketch", DataType::Binary),
        req("window_from", ts_type()),
        req("window_to", ts_type()),
        req("trained_at_ns", DataType::Int64),
        req(PARTITION_COLUMN, DataType::Date32),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_has_the_documented_columns() {
        let s = Table::Flows.schema();
        for c in FLOWS_CONTRACT_COLUMNS {
            assert!(s.field_with_name(c).is_ok(), "flows lacks {c}");
        }
        assert_eq!(s.field_with_name("first_ts").unwrap().data_type(), &ts_type());
    }

    #[test]
    fn event_dates_are_utc_days_and_handle_pre_epoch_times() {
        assert_eq!(event_date(0), 0);
        assert_eq!(event_date(NS_PER_DAY - 1), 0);
        assert_eq!(event_date(NS_PER_DAY), 1);
        assert_eq!(event_date(-1), -1);
        assert_eq!(ts_micros(1_999), 1);
        assert_eq!(ts_micros(-1), -1);
    }

    #[test]
    fn every_table_ends_with_the_partition_column_and_names_round_trip() {
        for t in Table::ALL {
            let s = t.schema();
            assert_eq!(s.fields().last().unwrap().name(), PARTITION_COLUMN, "{}", t.name());
            assert_eq!(Table::from_name(t.name()), Some(t));
            // Every column but the enrichment ones is among the first 32,
            // which Delta keeps statistics for.
            let last_filtered = s
                .fields()
                .iter()
                .rposition(|f| !ENRICHMENT_COLUMNS.contains(&f.name().as_str()) && f.name() != PARTITION_COLUMN)
                .unwrap();
            assert!(
                last_filtered < 32 || t == Table::Packets,
                "{}: column {last_filtered} has no statistics",
                t.name()
            );
        }
    }

    #[test]
    fn packets_filter_columns_come_before_the_data() {
        let s = Table::Packets.schema();
        let data = s.index_of("data").unwrap();
        for c in ["community_id", "ip_lo", "ip_hi", "port_lo", "port_hi", "proto", "first_ts", "last_ts"] {
            assert!(s.index_of(c).unwrap() < data);
        }
    }
}
