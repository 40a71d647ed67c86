//! Rows of the `intel` table.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int32Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use opensoc_schemas::{Table, event_date, ts_micros};

use super::Indicator;

/// A Delta timestamp column (µs, UTC) from times in ns.
pub(crate) fn ts(v: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(v.map(|t| t.map(ts_micros))).with_timezone("UTC"))
}

/// The indicators of one feed file as `intel` rows, loaded at `loaded_ns`
/// (which also gives the partition date).
pub fn intel_batch(
    indicators: &[Indicator],
    feed_file: &str,
    loaded_ns: i64,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let n = indicators.len();
    let day = event_date(loaded_ns);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(indicators.iter().map(|i| i.kind.as_str()))),
        Arc::new(StringArray::from_iter_values(indicators.iter().map(|i| i.value.as_str()))),
        Arc::new(StringArray::from_iter_values(indicators.iter().map(|i| &*i.source))),
        Arc::new(Int32Array::from_iter(indicators.iter().map(|i| i.confidence.map(i32::from)))),
        ts(indicators.iter().map(|i| i.first_seen_ns)),
        ts(indicators.iter().map(|i| i.last_seen_ns)),
        ts(indicators.iter().map(|i| i.expires_ns)),
        Arc::new(StringArray::from_iter(indicators.iter().map(|i| i.description.as_deref()))),
        ts(std::iter::repeat_n(Some(loaded_ns), n)),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(feed_file, n))),
        Arc::new(Date32Array::from_iter_values(std::iter::repeat_n(day, n))),
    ];
    RecordBatch::try_new(Table::Intel.schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::IndicatorKind;
    use arrow::array::Array;

    #[test]
    fn indicators_become_rows_of_the_intel_schema() {
        let mut a = Indicator::new(IndicatorKind::Ip, "192.0.2.1", "feed");
        a.confidence = Some(70);
        a.expires_ns = Some(1_500);
        let b = Indicator::new(IndicatorKind::Domain, "evil.example", "feed");
        let batch = intel_batch(&[a, b], "feed.txt", 86_400_000_000_000 + 5).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), Table::Intel.schema());
        let day = batch.column_by_name("event_date").unwrap().as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(day.value(1), 1);
        let exp =
            batch.column_by_name("expires").unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!((exp.value(0), exp.is_null(1)), (1, true));
    }
}
