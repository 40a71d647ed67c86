//! Appending record batches to a date-partitioned table, one commit.
//!
//! delta-rs's `DeltaTable::write` plans the write with DataFusion and
//! splits every batch by partition with `take`, copying every column —
//! for the `packets` table, a gigabyte of packet bytes per gigabyte of
//! capture. Here each batch is cut into runs of one `event_date` with
//! zero-copy slices (the ingest pipeline emits its rows grouped by day),
//! and every run is streamed straight into its partition's Parquet file by
//! [`RecordBatchWriter::write_partition`]; the file is closed before the
//! next day's opens. The commit is the same `WRITE` (append) operation
//! delta-rs makes, with the same conflict checking, so application
//! transactions keep stream ingest exactly once.

use buoyant_kernel::expressions::Scalar;
use buoyant_kernel::schema::DataType as KernelType;
use deltalake::arrow::array::{Array, Date32Array, UInt32Array};
use deltalake::arrow::compute::take_record_batch;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableError};
use indexmap::IndexMap;
use opensoc_schemas::PARTITION_COLUMN;

/// Append `batches` to `table` in one commit and return the table at the
/// version the commit made.
pub(crate) async fn append_partitioned(
    mut table: DeltaTable,
    batches: Vec<RecordBatch>,
    props: WriterProperties,
    commit: Option<CommitProperties>,
) -> Result<DeltaTable, DeltaTableError> {
    let mut writer = RecordBatchWriter::for_table(&table)?.with_writer_properties(props);
    let mut adds = Vec::new();
    for batch in batches {
        for (day, run) in runs_by_day(batch)? {
            let value = day.map_or(Scalar::Null(KernelType::DATE), Scalar::Date);
            let partition = IndexMap::from([(PARTITION_COLUMN.to_string(), value)]);
            writer.write_partition(run, &partition, WriteMode::Default).await?;
            // Close the day's file before the next day's opens: a batch that
            // spans hundreds of days holds one open Parquet writer, not one
            // per day (each holds buffers for every column).
            adds.extend(writer.flush().await?.into_iter().map(Action::Add));
        }
    }
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
        predicate: None,
    };
    let committed = CommitBuilder::from(commit.unwrap_or_default())
        .with_actions(adds)
        .build(Some(table.snapshot()?), table.log_store(), operation)
        .await?;
    // The snapshot the commit produced (as delta-rs's own writers keep it):
    // reloading the log instead would replay it on every commit.
    table.state = Some(committed.snapshot());
    Ok(table)
}

/// Cut a batch into runs of rows with the same `event_date`. Rows already
/// grouped by day are sliced without a copy; a batch whose days interleave
/// is first sorted by day (one `take`), so no day gets many tiny writes.
fn runs_by_day(batch: RecordBatch) -> Result<Vec<(Option<i32>, RecordBatch)>, DeltaTableError> {
    let days = day_column(&batch)?;
    let starts = run_starts(&days);
    let distinct = {
        let mut d: Vec<_> = starts.iter().map(|&i| day_at(&days, i)).collect();
        d.sort_unstable();
        d.dedup();
        d.len()
    };
    let (batch, days, starts) = if distinct < starts.len() {
        // A stable sort: rows of one day keep their order.
        let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
        order.sort_by_key(|&i| day_at(&days, i as usize));
        let sorted = take_record_batch(&batch, &UInt32Array::from(order))?;
        let days = day_column(&sorted)?;
        let starts = run_starts(&days);
        (sorted, days, starts)
    } else {
        (batch, days, starts)
    };
    let ends = starts.iter().skip(1).copied().chain([batch.num_rows()]);
    Ok(starts.iter().zip(ends).map(|(&s, e)| (day_at(&days, s), batch.slice(s, e - s))).collect())
}

fn day_column(batch: &RecordBatch) -> Result<Date32Array, DeltaTableError> {
    let col = batch
        .column_by_name(PARTITION_COLUMN)
        .ok_or_else(|| DeltaTableError::Generic(format!("batch has no {PARTITION_COLUMN} column")))?;
    col.as_any()
        .downcast_ref::<Date32Array>()
        .cloned()
        .ok_or_else(|| DeltaTableError::Generic(format!("{PARTITION_COLUMN} is {}, not a date", col.data_type())))
}

fn day_at(days: &Date32Array, i: usize) -> Option<i32> {
    days.is_valid(i).then(|| days.value(i))
}

/// The first row of every run of equal days.
fn run_starts(days: &Date32Array) -> Vec<usize> {
    (0..days.len()).filter(|&i| i == 0 || day_at(days, i) != day_at(days, i - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use deltalake::arrow::array::Int32Array;
    use deltalake::arrow::datatypes::{DataType, Field, Schema};

    fn batch(days: &[Option<i32>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, false),
            Field::new(PARTITION_COLUMN, DataType::Date32, true),
        ]));
        let n = Int32Array::from_iter_values(0..days.len() as i32);
        RecordBatch::try_new(schema, vec![Arc::new(n), Arc::new(Date32Array::from(days.to_vec()))]).unwrap()
    }

    fn summary(runs: &[(Option<i32>, RecordBatch)]) -> Vec<(Option<i32>, Vec<i32>)> {
        runs.iter()
            .map(|(d, b)| {
                let n = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
                (*d, n.values().to_vec())
            })
            .collect()
    }

    #[test]
    fn grouped_days_become_slices_in_order() {
        let runs = runs_by_day(batch(&[Some(3), Some(3), Some(1), None, None])).unwrap();
        assert_eq!(summary(&runs), vec![(Some(3), vec![0, 1]), (Some(1), vec![2]), (None, vec![3, 4])]);
    }

    #[test]
    fn interleaved_days_are_sorted_into_one_run_each() {
        let runs = runs_by_day(batch(&[Some(2), Some(1), Some(2), Some(1), Some(5)])).unwrap();
        assert_eq!(summary(&runs), vec![(Some(1), vec![1, 3]), (Some(2), vec![0, 2]), (Some(5), vec![4])]);
    }

    #[tokio::test]
    async fn a_batch_spanning_days_is_one_commit_with_one_file_per_day_and_every_row() {
        use deltalake::kernel::Transaction;
        use opensoc_net::{LinkType, Packet};
        use opensoc_rows::tables::PacketChunks;
        use opensoc_schemas::Table;

        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::open(crate::LakeLocation::parse(&dir.path().to_string_lossy()).unwrap()).await.unwrap();
        let before = lake.table(Table::Packets).await.unwrap().version().unwrap();
        let day_ns = 86_400 * 1_000_000_000i64;
        let mut chunks = PacketChunks::default();
        let src = chunks.begin_source("test");
        for i in 0..30i64 {
            // Days 100, 101 and 102 interleaved, on two link types.
            let data = [i as u8; 60];
            let pkt = Packet {
                ts_ns: (100 + i % 3) * day_ns + i,
                origlen: 60,
                linktype: LinkType(if i % 2 == 0 { 1 } else { 101 }),
                interface: 0,
                data: &data,
            };
            chunks.push(src, &pkt, None, None);
        }
        let batch = chunks.take_batch("s").unwrap().unwrap();
        let txn = CommitProperties::default().with_application_transaction(Transaction::new("test-app", 7));
        let committed = lake.append(Table::Packets, vec![batch], Some(txn)).await.unwrap();
        assert_eq!(committed.version, before + 1, "one commit");
        assert_eq!(committed.rows, 6, "a chunk per link type and day");

        let table = lake.table(Table::Packets).await.unwrap();
        assert_eq!(table.version(), Some(before + 1));
        let mut days: Vec<String> = table
            .snapshot()
            .unwrap()
            .log_data()
            .iter()
            .map(|f| f.partition_values_map().remove(PARTITION_COLUMN).flatten().unwrap_or_default())
            .collect();
        days.sort();
        assert_eq!(days, vec!["1970-04-11", "1970-04-12", "1970-04-13"], "one file per day");
        let app_version = table.snapshot().unwrap().transaction_version(table.log_store().as_ref(), "test-app").await;
        assert_eq!(app_version.unwrap(), Some(7), "the application transaction is committed");
    }

    #[test]
    fn a_batch_without_the_partition_column_is_an_error() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let b = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1]))]).unwrap();
        let err = runs_by_day(b).unwrap_err().to_string();
        assert!(err.contains(PARTITION_COLUMN), "{err}");
    }
}
