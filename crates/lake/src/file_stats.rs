//! Delta file statistics (`numRecords`, `minValues`, `maxValues`,
//! `nullCount`) from a Parquet file's footer, for files this crate writes
//! itself ([`crate::append`]). delta-rs computes the same for its own
//! writers but keeps the function private; this follows its rules so both
//! kinds of file prune alike: the first 32 columns, no binary columns,
//! nothing for list elements, timestamps cut to milliseconds (as the Delta
//! protocol writes them). Tests check the result against delta-rs's on the
//! same rows, for every table.

use std::collections::HashMap;

use chrono::{DateTime, Timelike as _};
use deltalake::parquet::basic::{ConvertedType, LogicalType, TimeUnit, TimestampType, Type as PhysicalType};
use deltalake::parquet::file::metadata::ParquetMetaData;
use deltalake::parquet::file::statistics::Statistics;
use deltalake::parquet::schema::types::ColumnDescriptor;
use deltalake::protocol::{ColumnCountStat, ColumnValueStat, Stats};
use serde_json::Value;

/// Columns Delta keeps statistics for unless a table says otherwise
/// (`delta.dataSkippingNumIndexedCols`; none of ours do).
const INDEXED_COLUMNS: usize = 32;

/// A min or max, ordered as its logical type orders.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Bound {
    Bool(bool),
    Int(i64),
    Float(f64),
    Date(i32),
    /// Nanoseconds since the epoch, UTC.
    Timestamp(i64),
    String(String),
}

impl Bound {
    fn json(self) -> Value {
        match self {
            Bound::Bool(v) => Value::from(v),
            Bound::Int(v) => Value::from(v),
            Bound::Float(v) => Value::from(v),
            Bound::Date(days) => Value::from(crate::time::day_text(days).unwrap_or_default()),
            Bound::Timestamp(ns) => {
                let t = DateTime::from_timestamp(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
                    .unwrap_or_default()
                    .naive_utc();
                let format = if t.nanosecond() == 0 { "%Y-%m-%dT%H:%M:%SZ" } else { "%Y-%m-%dT%H:%M:%S%.3fZ" };
                Value::from(t.format(format).to_string())
            }
            Bound::String(s) => Value::from(s),
        }
    }
}

/// A column's statistics over the row groups so far.
#[derive(Default)]
struct Column {
    min: Option<Bound>,
    max: Option<Bound>,
    nulls: i64,
}

/// The statistics of a written file, as the JSON of its `add` action.
pub(crate) fn stats_json(metadata: &ParquetMetaData) -> Result<String, serde_json::Error> {
    let schema = metadata.file_metadata().schema_descr();
    let mut stats = Stats {
        num_records: metadata.file_metadata().num_rows(),
        min_values: HashMap::new(),
        max_values: HashMap::new(),
        null_count: HashMap::new(),
    };
    for (i, descr) in schema.columns().iter().enumerate().take(INDEXED_COLUMNS) {
        // Binary values and list elements get no statistics (delta-rs's rules).
        if is_binary(descr) || descr.max_rep_level() > 0 {
            continue;
        }
        let mut column: Option<Column> = None;
        for group in metadata.row_groups() {
            let Some(s) = group.column(i).statistics() else { continue };
            let c = column.get_or_insert_with(Column::default);
            c.nulls += s.null_count_opt().unwrap_or_default() as i64;
            if let (Some(lo), Some(hi)) = (bound(s, descr, true), bound(s, descr, false)) {
                c.min = Some(match c.min.take() {
                    Some(m) if m < lo => m,
                    _ => lo,
                });
                c.max = Some(match c.max.take() {
                    Some(m) if m > hi => m,
                    _ => hi,
                });
            }
        }
        let Some(c) = column else { continue };
        let name = descr.name().to_string();
        if let Some(min) = c.min {
            stats.min_values.insert(name.clone(), ColumnValueStat::Value(min.json()));
        }
        if let Some(max) = c.max {
            stats.max_values.insert(name.clone(), ColumnValueStat::Value(max.json()));
        }
        stats.null_count.insert(name, ColumnCountStat::Value(c.nulls));
    }
    serde_json::to_string(&stats)
}

fn logical(descr: &ColumnDescriptor) -> Option<LogicalType> {
    descr.logical_type_ref().cloned().or(match descr.converted_type() {
        ConvertedType::UTF8 => Some(LogicalType::String),
        ConvertedType::DATE => Some(LogicalType::Date),
        _ => None,
    })
}

fn is_binary(descr: &ColumnDescriptor) -> bool {
    descr.physical_type() == PhysicalType::BYTE_ARRAY && logical(descr) != Some(LogicalType::String)
}

/// A row group's min (`min`) or max of a column, for the types our tables
/// use; other types get no bounds (a file without bounds is never pruned).
fn bound(s: &Statistics, descr: &ColumnDescriptor, min: bool) -> Option<Bound> {
    fn pick<T: Copy>(lo: Option<&T>, hi: Option<&T>, min: bool) -> Option<T> {
        if min { lo.copied() } else { hi.copied() }
    }
    match (s, logical(descr)) {
        (Statistics::Boolean(v), _) => pick(v.min_opt(), v.max_opt(), min).map(Bound::Bool),
        (Statistics::Double(v), _) => pick(v.min_opt(), v.max_opt(), min).map(Bound::Float),
        (Statistics::Int32(v), Some(LogicalType::Date)) => pick(v.min_opt(), v.max_opt(), min).map(Bound::Date),
        (Statistics::Int32(v), None | Some(LogicalType::Integer { .. })) => {
            pick(v.min_opt(), v.max_opt(), min).map(|x| Bound::Int(x as i64))
        }
        (Statistics::Int64(v), Some(LogicalType::Timestamp(TimestampType { is_adjusted_to_u_t_c: true, unit }))) => {
            let raw = pick(v.min_opt(), v.max_opt(), min)?;
            let ns = match unit {
                TimeUnit::MILLIS => raw.checked_mul(1_000_000)?,
                TimeUnit::MICROS => raw.checked_mul(1_000)?,
                TimeUnit::NANOS => raw,
            };
            Some(Bound::Timestamp(ns))
        }
        (Statistics::Int64(v), None | Some(LogicalType::Integer { .. })) => {
            pick(v.min_opt(), v.max_opt(), min).map(Bound::Int)
        }
        (Statistics::ByteArray(v), Some(LogicalType::String)) => {
            let bytes = if min { v.min_bytes_opt() } else { v.max_bytes_opt() }?;
            String::from_utf8(bytes.to_vec()).ok().map(Bound::String)
        }
        _ => None,
    }
}
