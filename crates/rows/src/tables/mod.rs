//! Turning OpenSOC records into Arrow record batches of the lake's tables.
//! Each builder collects rows and produces one batch in its table's schema.

mod flows;
mod logs;
mod meta;
mod packets;
mod quarantine;

pub use flows::FlowRows;
pub use logs::{LogRow, LogRows};
pub use meta::{DnsRows, HttpRows, TlsRows};
pub use packets::{ChunkKey, DEFAULT_MAX_CHUNK_BYTES, PacketChunks};
pub use quarantine::{MAX_RAW, QuarantineRow, QuarantineRows};

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use crate::RowsError;

pub use opensoc_schemas::{event_date, ts_micros};

pub(crate) fn ts_col(v: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(v.into_iter().map(ts_micros)).with_timezone("UTC"))
}

pub(crate) fn date_col(v: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(Date32Array::from_iter_values(v.into_iter().map(event_date)))
}

pub(crate) fn str_col<'a>(v: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(v))
}

/// Addresses as text, formatted straight into the column (no `String`
/// per row).
pub(crate) fn ip_col(v: impl IntoIterator<Item = Option<std::net::IpAddr>>) -> ArrayRef {
    use std::fmt::Write as _;
    let mut b = arrow::array::StringBuilder::new();
    for ip in v {
        match ip {
            // Formatting into a builder cannot fail.
            Some(ip) => {
                let _ = write!(b, "{ip}");
                b.append_value("");
            }
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

pub(crate) fn i32_col(v: impl IntoIterator<Item = Option<i32>>) -> ArrayRef {
    Arc::new(Int32Array::from_iter(v))
}

pub(crate) fn i64_col(v: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from_iter(v))
}

/// Assemble a batch from named columns, in the table's schema order.
/// The GeoIP columns, all null: the ingest pipeline's to fill.
pub(crate) fn null_enrichment(rows: usize) -> Vec<(&'static str, ArrayRef)> {
    opensoc_schemas::ENRICHMENT_COLUMNS
        .iter()
        .zip(opensoc_schemas::enrichment())
        .map(|(&name, field)| (name, arrow::array::new_null_array(field.data_type(), rows)))
        .collect()
}

pub(crate) fn assemble(table: Table, mut cols: Vec<(&'static str, ArrayRef)>) -> Result<RecordBatch, RowsError> {
    let schema = table.schema();
    let mut ordered = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let at = cols.iter().position(|(n, _)| *n == field.name()).ok_or_else(|| RowsError::Arrow {
            table: table.name(),
            source: arrow::error::ArrowError::SchemaError(format!("no column {}", field.name())),
        })?;
        ordered.push(cols.swap_remove(at).1);
    }
    RecordBatch::try_new(schema, ordered).map_err(|source| RowsError::Arrow { table: table.name(), source })
}
