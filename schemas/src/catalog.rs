//! The tables as a Hive metastore (AWS Glue) sees them: column names with
//! Hive types, the partition column apart. The Terraform module's Glue tables
//! are generated from this (`opensoc schema --format glue` writes
//! `infra/modules/opensoc/tables.json`), so the catalog never drifts from
//! what the writers write.

use arrow_schema::DataType;

use crate::{PARTITION_COLUMN, Table};

/// A column as the catalog declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    /// The column's name.
    pub name: String,
    /// Its Hive type (`string`, `bigint`, `timestamp`, `array<string>`, …).
    pub hive_type: String,
}

/// A table as the catalog declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogTable {
    /// The table's name (also its folder under the lake root).
    pub name: &'static str,
    /// One line on what a row is.
    pub description: &'static str,
    /// Every column but the partition column, in schema order.
    pub columns: Vec<CatalogColumn>,
    /// The partition columns (`event_date`).
    pub partition_keys: Vec<CatalogColumn>,
}

/// An Arrow type with no Hive equivalent in our schemas.
#[derive(Debug, thiserror::Error)]
#[error("column {column}: Arrow type {data_type} has no Hive type")]
pub struct UnsupportedType {
    /// The column.
    pub column: String,
    /// Its Arrow type.
    pub data_type: DataType,
}

/// The Hive type of an Arrow type, as Delta's own Hive mapping has it.
pub fn hive_type(data_type: &DataType) -> Option<String> {
    Some(match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::List(f) | DataType::LargeList(f) => format!("array<{}>", hive_type(f.data_type())?),
        DataType::Struct(fields) => {
            let inner: Option<Vec<String>> =
                fields.iter().map(|f| hive_type(f.data_type()).map(|t| format!("{}:{t}", f.name()))).collect();
            format!("struct<{}>", inner?.join(","))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", hive_type(kv[0].data_type())?, hive_type(kv[1].data_type())?)
            }
            _ => return None,
        },
        _ => return None,
    })
}

impl Table {
    /// One line on what a row of the table is.
    pub fn description(self) -> &'static str {
        match self {
            Table::Flows => {
                "Bidirectional flows with Community ID, per-direction counters and GeoIP (OCSF Network Activity 4001)"
            }
            Table::Packets => "Flow chunks: one flow's pcap records within one ingest batch, in time order",
            Table::Dns => "DNS transactions: query, type, rcode, answers (OCSF DNS Activity 4003)",
            Table::Http => "HTTP/1.x transactions: method, host, URI, status, user agent (OCSF HTTP Activity 4002)",
            Table::Tls => "TLS ClientHellos: SNI, version, ALPN, JA3 and JA4",
            Table::Quarantine => "Input that could not be decoded or parsed, with the stage, the reason and the bytes",
            Table::Logs => "Log events: syslog, Zeek, Suricata EVE, CEF, JSON lines, normalized with the raw line",
            Table::Intel => "Threat-intelligence indicators, one row per indicator per feed load",
            Table::Findings => {
                "Findings: what detection flagged, triage-scored and enriched (OCSF Detection Finding 2004)"
            }
            Table::CarveAudit => "Carve audit: who asked for which packets, and what they got (OCSF API Activity 6003)",
            Table::FindingEvents => {
                "Alert workflow, append-only: status, assignee, comment, tag and case changes of findings (who, when, what)"
            }
            Table::Models => {
                "Behavioural models: per-host baselines, periodic pairs and lake-wide sets, one row per entity per training run"
            }
        }
    }

    /// The table as the catalog declares it.
    pub fn catalog(self) -> Result<CatalogTable, UnsupportedType> {
        let schema = self.schema();
        let mut columns = Vec::with_capacity(schema.fields().len());
        let mut partition_keys = Vec::new();
        for field in schema.fields() {
            let hive_type = hive_type(field.data_type()).ok_or_else(|| UnsupportedType {
                column: field.name().clone(),
                data_type: field.data_type().clone(),
            })?;
            let column = CatalogColumn { name: field.name().clone(), hive_type };
            if field.name() == PARTITION_COLUMN {
                partition_keys.push(column);
            } else {
                columns.push(column);
            }
        }
        Ok(CatalogTable { name: self.name(), description: self.description(), columns, partition_keys })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{Field, Fields, TimeUnit};

    use super::*;

    #[test]
    fn every_table_maps_to_hive_with_event_date_as_the_partition() {
        for t in Table::ALL {
            let c = t.catalog().unwrap_or_else(|e| panic!("{}: {e}", t.name()));
            assert_eq!(c.partition_keys, vec![CatalogColumn { name: "event_date".into(), hive_type: "date".into() }]);
            assert_eq!(c.columns.len() + 1, t.schema().fields().len(), "{}", t.name());
            assert!(c.columns.iter().all(|col| col.name != "event_date"));
        }
    }

    #[test]
    fn nested_types_are_spelled_as_hive_spells_them() {
        let list = DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
        assert_eq!(hive_type(&list).as_deref(), Some("array<string>"));
        let st = DataType::Struct(Fields::from(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        ]));
        assert_eq!(hive_type(&st).as_deref(), Some("struct<a:bigint,t:timestamp>"));
        assert_eq!(hive_type(&DataType::UInt64), None, "Delta has no unsigned types");
    }
}
