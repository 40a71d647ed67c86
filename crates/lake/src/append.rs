//! Appending record batches to a date-partitioned table, one commit.
//!
//! delta-rs's `DeltaTable::write` plans the write with DataFusion and
//! splits every batch by partition with `take`, copying every column —
//! for the `packets` table, a gigabyte of packet bytes per gigabyte of
//! capture. Here each batch is cut into runs of one `event_date` with
//! zero-copy slices (the ingest pipeline emits its rows grouped by day),
//! and every run becomes its partition's Parquet file, written straight to
//! its place in the table (a local file streams to disk; an object store
//! gets one upload per file) with statistics from [`crate::file_stats`].
//! A table with a column of large binary values (the `packets` table's
//! pcap records) names it, and its files are written by
//! [`crate::blob_file`]; a table whose statistics `file_stats` does not
//! cover (struct or map columns) goes through delta-rs's
//! [`RecordBatchWriter`]. The commit is the same `WRITE` (append) entry
//! delta-rs makes, written by [`crate::commit`] with the conflict checks
//! of a blind append, so application transactions keep stream ingest
//! exactly once — without delta-rs's rebuild of the table's file list
//! after every commit.

use buoyant_kernel::expressions::Scalar;
use buoyant_kernel::schema::DataType as KernelType;
use deltalake::arrow::array::{Array, Date32Array, UInt32Array};
use deltalake::arrow::compute::take_record_batch;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::scalars::ScalarExt as _;
use deltalake::kernel::{Action, Add};
use deltalake::parquet::file::metadata::ParquetMetaData;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter, WriteMode};
use deltalake::{DeltaTable, DeltaTableError};
use futures::StreamExt as _;
use indexmap::IndexMap;
use opensoc_schemas::PARTITION_COLUMN;

use crate::commit::CommitOptions;

/// Append `batches` to `table` in one commit, as the version after `base`
/// (or the first free one after it: see [`crate::commit`]), and return the
/// version. `table`'s snapshot may be older than `base`: the table is
/// brought up to date only when the commit's version is due a checkpoint,
/// and then it is returned too.
/// `blob` names a column of large binary values whose files
/// [`crate::blob_file`] writes.
pub(crate) async fn append_partitioned(
    table: &DeltaTable,
    base: u64,
    batches: Vec<RecordBatch>,
    props: WriterProperties,
    options: CommitOptions,
    blob: Option<&'static str>,
) -> Result<(u64, Option<DeltaTable>), DeltaTableError> {
    let started = std::time::Instant::now();
    // delta-rs's writer only for tables whose statistics we do not compute.
    let mut writer = match blob.is_some() || own_files(table)? {
        true => None,
        false => Some(RecordBatchWriter::for_table(table)?),
    };
    let mut adds = Vec::new();
    let mut files = Vec::new();
    for batch in batches {
        for (day, run) in runs_by_day(batch)? {
            let value = day.map_or(Scalar::Null(KernelType::DATE), Scalar::Date);
            let partition = IndexMap::from([(PARTITION_COLUMN.to_string(), value)]);
            if let Some(blob) = blob {
                files.extend(split_files(&run, blob)?.into_iter().map(|f| (partition.clone(), f)));
                continue;
            }
            let Some(theirs) = writer.take() else {
                files.push((partition, run));
                continue;
            };
            let mut theirs = theirs.with_writer_properties(bloom_sized(&props, &run));
            theirs.write_partition(run, &partition, WriteMode::Default).await?;
            // Close the day's file before the next day's opens: a batch that
            // spans hundreds of days holds one open Parquet writer, not one
            // per day (each holds buffers for every column).
            adds.extend(theirs.flush().await?.into_iter().map(Action::Add));
            writer = Some(theirs);
        }
    }
    // Files are encoded on blocking threads, as many at once as there are
    // cores (each holds at most one file's buffers, or on an object store
    // the file itself until its upload).
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let mut pending = files.into_iter();
    let mut running = futures::stream::FuturesUnordered::new();
    loop {
        while running.len() < parallel {
            let Some((partition, rows)) = pending.next() else { break };
            running.push(write_file(table, rows, partition, &props, blob));
        }
        match running.next().await {
            Some(add) => adds.push(Action::Add(add?)),
            None => break,
        }
    }
    drop(running);
    let files = adds.len();
    let written = started.elapsed();
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
        predicate: None,
    };
    let version = crate::commit::commit(table, base, adds, operation, options).await?;
    let committed = started.elapsed();
    let checkpointed = checkpoint_if_due(table, version).await?;
    tracing::debug!(
        table = %table.table_url(),
        version,
        files,
        write_ms = written.as_millis() as u64,
        commit_ms = (committed - written).as_millis() as u64,
        checkpoint_ms = (started.elapsed() - committed).as_millis() as u64,
        "appended"
    );
    Ok((version, checkpointed))
}

/// Write a checkpoint at `version` when the table's checkpoint interval
/// says so (as delta-rs does after its commits: readers then replay at most
/// that many JSON entries), and return the table brought to `version`.
async fn checkpoint_if_due(table: &DeltaTable, version: u64) -> Result<Option<DeltaTable>, DeltaTableError> {
    use deltalake::table::config::TablePropertiesExt as _;
    let interval = table.snapshot()?.table_config().checkpoint_interval().get();
    if !(version + 1).is_multiple_of(interval) {
        return Ok(None);
    }
    let mut table = table.clone();
    table.update_incremental(Some(version)).await?;
    deltalake::checkpoints::create_checkpoint(&table, None).await?;
    Ok(Some(table))
}

/// Most bytes of binary values in one file of a blob table: an object
/// store's file is built in memory before its upload.
const FILE_BLOB_BYTES: usize = 128 << 20;

/// A day's run cut into files of at most [`FILE_BLOB_BYTES`] of `blob`
/// values (zero-copy slices).
fn split_files(run: &RecordBatch, blob: &str) -> Result<Vec<RecordBatch>, DeltaTableError> {
    let column =
        run.column_by_name(blob).ok_or_else(|| DeltaTableError::Generic(format!("batch has no column {blob}")))?;
    Ok(crate::blob_file::row_groups(crate::blob_file::binary(column)?, usize::MAX, FILE_BLOB_BYTES)
        .into_iter()
        .map(|(start, len)| run.slice(start, len))
        .collect())
}

/// `props` with each bloom filter sized for no more distinct values than
/// `rows` has rows. A filter is allocated (zeroed) for the most values a
/// row group may hold, then folded down once filled: for the many small
/// files of a batch that spans days, that was a 128 KiB filter per column
/// for a few hundred values.
fn bloom_sized(props: &WriterProperties, rows: &RecordBatch) -> WriterProperties {
    let values = rows.num_rows().max(1) as u64;
    let mut sized = props.clone().into_builder();
    for field in rows.schema().fields() {
        let path = ColumnPath::from(field.name().as_str());
        if props.bloom_filter_properties(&path).is_some_and(|b| b.ndv() > values) {
            sized = sized.set_column_bloom_filter_max_ndv(path, values);
        }
    }
    sized.build()
}

/// True when this crate writes the table's files itself: every column is
/// one whose statistics [`crate::file_stats`] computes as delta-rs does
/// (flat columns and lists of them; not structs or maps).
fn own_files(table: &DeltaTable) -> Result<bool, DeltaTableError> {
    use deltalake::arrow::datatypes::DataType;
    let schema = table.snapshot()?.snapshot().arrow_schema();
    let flat = |t: &DataType| !t.is_nested();
    Ok(schema.fields().iter().all(|f| match f.data_type() {
        DataType::List(item) => flat(item.data_type()),
        t => flat(t),
    }))
}

/// Write one file into its partition and return its `add` action: with
/// [`crate::blob_file`] when the table has a `blob` column, else with
/// parquet-rs's Arrow writer. delta-rs's own writer costs milliseconds
/// of bookkeeping per file (schema conversions, a writer window, a staged
/// upload), and a batch spanning days writes dozens of small files. The
/// Parquet encoding runs on a blocking thread.
async fn write_file(
    table: &DeltaTable,
    mut rows: RecordBatch,
    partition: IndexMap<String, Scalar>,
    props: &WriterProperties,
    blob: Option<&'static str>,
) -> Result<Add, DeltaTableError> {
    // Delta keeps partition values in the log, not in the files.
    if let Ok(i) = rows.schema().index_of(PARTITION_COLUMN) {
        rows.remove_column(i);
    }
    let dir: Vec<String> = partition.iter().map(|(k, v)| format!("{k}={}", v.serialize_encoded())).collect();
    // The blob column's codec, else the file's default one.
    let codec_column = blob.map_or_else(|| ColumnPath::new(Vec::new()), ColumnPath::from);
    let codec = props.compression(&codec_column).to_string().to_lowercase();
    let path = format!("{}/part-00000-{}-c000.{codec}.parquet", dir.join("/"), uuid::Uuid::new_v4());
    let props = bloom_sized(props, &rows);
    let local = match table.table_url().scheme() {
        "file" => table.table_url().to_file_path().ok(),
        _ => None,
    };
    let blocking_error = |e: tokio::task::JoinError| DeltaTableError::Generic(format!("writing {path}: {e}"));
    let (size, metadata) = match local {
        Some(root) => {
            let file = root.join(&path);
            tokio::task::spawn_blocking(move || write_local(&file, &rows, blob, props))
                .await
                .map_err(blocking_error)??
        }
        None => {
            let (bytes, metadata) = tokio::task::spawn_blocking(move || {
                let mut bytes = Vec::new();
                let metadata = encode(&mut bytes, &rows, blob, props)?;
                Ok::<_, DeltaTableError>((bytes, metadata))
            })
            .await
            .map_err(blocking_error)??;
            let size = bytes.len() as u64;
            object_store::ObjectStoreExt::put(
                &table.log_store().object_store(None),
                &object_store::path::Path::from(path.as_str()),
                bytes.into(),
            )
            .await?;
            (size, metadata)
        }
    };
    let stats = crate::file_stats::stats_json(&metadata)?;
    Ok(Add {
        path,
        size: size as i64,
        partition_values: partition.iter().map(|(k, v)| (k.clone(), (!v.is_null()).then(|| v.serialize()))).collect(),
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(stats),
        ..Default::default()
    })
}

/// Stream a file to local disk; its size and metadata.
fn write_local(
    file: &std::path::Path,
    rows: &RecordBatch,
    blob: Option<&str>,
    props: WriterProperties,
) -> Result<(u64, ParquetMetaData), DeltaTableError> {
    let io = |e: std::io::Error| DeltaTableError::Generic(format!("writing {}: {e}", file.display()));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if blob.is_none() {
        let mut out = std::io::BufWriter::with_capacity(256 << 10, std::fs::File::create(file).map_err(io)?);
        let metadata = encode(&mut out, rows, None, props)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        return Ok((file.metadata().map_err(io)?.len(), metadata));
    }
    // Around the page cache: see crate::direct_file.
    let mut out = crate::direct_file::DirectFile::create(file).map_err(io)?;
    let metadata = encode(&mut out, rows, blob, props)?;
    let size = out.finish().map_err(io)?;
    Ok((size, metadata))
}

/// `rows` as one Parquet file into `sink`.
fn encode<W: std::io::Write + Send>(
    sink: &mut W,
    rows: &RecordBatch,
    blob: Option<&str>,
    props: WriterProperties,
) -> Result<ParquetMetaData, DeltaTableError> {
    if let Some(blob) = blob {
        return Ok(crate::blob_file::write(sink, rows, blob, props)?);
    }
    let mut writer = deltalake::parquet::arrow::ArrowWriter::try_new(sink, rows.schema(), Some(props))?;
    writer.write(rows)?;
    Ok(writer.close()?)
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
        let txn = crate::CommitOptions::default().with_transactions(vec![Transaction::new("test-app", 7)]);
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

    /// Packets over three days, with and without flows (null flow columns),
    /// at times with sub-millisecond parts.
    fn packets_batch() -> RecordBatch {
        use opensoc_net::community_id::{CommunityIdHasher, FlowTuple};
        use opensoc_net::{FlowRef, LinkType, Packet};
        use opensoc_rows::tables::PacketChunks;
        let hasher = CommunityIdHasher::new(0);
        let day_ns = 86_400 * 1_000_000_000i64;
        let mut chunks = PacketChunks::default();
        let src = chunks.begin_source("test.pcap");
        for i in 0..300i64 {
            let data = vec![i as u8; 40 + (i as usize * 13) % 900];
            let pkt = Packet {
                ts_ns: (19_000 + i % 3) * day_ns + i * 1_234_567 + 89,
                origlen: data.len() as u32,
                linktype: LinkType(1),
                interface: 0,
                data: &data,
            };
            let (ip_lo, ip_hi) = (format!("10.0.{}.1", i % 7).parse().unwrap(), "192.168.1.2".parse().unwrap());
            let port_lo = 1000 + (i % 7) as u16;
            let tuple = FlowTuple { src: ip_lo, dst: ip_hi, proto: 6, sport: Some(port_lo), dport: Some(443) };
            let flow = (i % 5 != 0).then(|| FlowRef {
                flow_id: (i % 7) as u64,
                community_id: hasher.hash(&tuple),
                ip_lo,
                ip_hi,
                port_lo,
                port_hi: 443,
                proto: 6,
                direction: 0,
            });
            chunks.push(src, &pkt, flow, (i % 2 == 0).then_some(7));
        }
        chunks.take_batch("sensor-1").unwrap().unwrap()
    }

    #[tokio::test]
    async fn blob_files_carry_the_statistics_delta_rs_would_write_and_read_back_whole() {
        use deltalake::arrow::compute::concat_batches;
        use opensoc_schemas::Table;
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::open(crate::LakeLocation::parse(&dir.path().to_string_lossy()).unwrap()).await.unwrap();
        let table = lake.table(Table::Packets).await.unwrap();
        let props = crate::lake::writer_properties(Table::Packets);
        let batch = packets_batch();
        for (day, run) in runs_by_day(batch.clone()).unwrap() {
            assert!(day.is_some());
            let ours = write_as_delta_rs_would(&table, dir.path(), Table::Packets, day, run, &props).await;
            assert!(ours.path.starts_with(&format!("{PARTITION_COLUMN}=")), "{}", ours.path);
        }
        // Through the lake: every row back, the same as written.
        lake.append(Table::Packets, vec![batch.clone()], None).await.unwrap();
        let engine = crate::sql::SqlEngine::new(&lake).await.unwrap();
        let (schema, back) = engine
            .query("SELECT * FROM packets ORDER BY event_date, community_id NULLS FIRST, first_ts")
            .await
            .unwrap();
        let back = concat_batches(&schema, &back).unwrap();
        assert_eq!(back.num_rows(), batch.num_rows());
        for name in ["data", "community_id", "first_ts", "pkt_count", "vlan", "source"] {
            let theirs = batch.column_by_name(name).unwrap();
            // DataFusion reads strings and binaries as views.
            let ours = deltalake::arrow::compute::cast(back.column_by_name(name).unwrap(), theirs.data_type()).unwrap();
            assert!(ours.as_ref() == theirs.as_ref(), "column {name} differs");
        }
    }

    fn stats_of(add: &Add) -> serde_json::Value {
        serde_json::from_str(add.stats.as_deref().unwrap()).unwrap()
    }

    /// Write one day's `run` of table `t` (in a lake at `root`) as the lake
    /// does and as delta-rs's writer does; assert equal statistics,
    /// partition values, a name that gives the codec, and a size that matches
    /// the file on disk. Ours.
    async fn write_as_delta_rs_would(
        table: &DeltaTable,
        root: &std::path::Path,
        t: opensoc_schemas::Table,
        day: Option<i32>,
        run: RecordBatch,
        props: &WriterProperties,
    ) -> Add {
        let value = day.map_or(Scalar::Null(KernelType::DATE), Scalar::Date);
        let partition = IndexMap::from([(PARTITION_COLUMN.to_string(), value)]);
        let mut theirs = RecordBatchWriter::for_table(table).unwrap().with_writer_properties(props.clone());
        theirs.write_partition(run.clone(), &partition, WriteMode::Default).await.unwrap();
        let theirs = theirs.flush().await.unwrap().remove(0);
        let blob = (t == opensoc_schemas::Table::Packets).then_some("data");
        let ours = write_file(table, run, partition, props, blob).await.unwrap();
        assert_eq!(stats_of(&ours), stats_of(&theirs), "statistics of {t:?} on day {day:?}");
        assert_eq!(ours.partition_values, theirs.partition_values);
        assert!(ours.path.ends_with(".snappy.parquet"), "named for its codec: {}", ours.path);
        let on_disk = std::fs::metadata(root.join(t.name()).join(&ours.path)).unwrap().len();
        assert_eq!(ours.size as u64, on_disk);
        ours
    }

    /// Rows of every table the ingest pipeline fills, from the demo
    /// captures (one cut short, for quarantine rows) and the sample logs.
    async fn every_tables_rows(
        lake: &crate::Lake,
        dir: &std::path::Path,
    ) -> Vec<(opensoc_schemas::Table, RecordBatch)> {
        use opensoc_rows::capture::{CaptureFile, Fill};
        use opensoc_rows::{Batch, BatchLimits};
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/demo");
        let whole = std::fs::read(demo.join("wikipedia.pcap")).unwrap();
        let cut = dir.join("cut.pcap");
        std::fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
        let mut batch = Batch::default();
        let limits = BatchLimits { packet_bytes: usize::MAX, flows: usize::MAX };
        for capture in ["wikipedia.pcap", "dns-edns-ecs.pcap", "chrome-1250-tls-x25519-kyber.pcap", "erspan.pcap"]
            .map(|f| demo.join(f))
            .into_iter()
            .chain([cut])
        {
            let mut file = CaptureFile::open(&capture, Default::default(), &mut batch, None);
            while file.fill(&mut batch, &limits, None, &mut ()) != Fill::Done {}
        }
        let logs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/logs");
        for (name, kind) in [("eve.json", "suricata"), ("conn.log", "zeek"), ("rfc5424.log", "syslog")] {
            let text = std::fs::read(logs.join(name)).unwrap();
            let lines = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate().map(|(i, line)| {
                crate::logs::LogLine {
                    received_ns: 1_700_000_000_000_000_000,
                    origin: name,
                    line,
                    line_no: Some(i as u64 + 1),
                }
            });
            let mut parser = lake.log_parser();
            crate::logs::parse_lines(&mut parser, kind, lines, &mut batch.logs, &mut batch.quarantine);
        }
        let mut out = Vec::new();
        for (table, rows) in batch.take_record_batches("sensor-1").unwrap() {
            out.push((table, lake.prepare(table, rows).await.unwrap().0));
        }
        out
    }

    #[tokio::test]
    async fn every_tables_files_carry_the_statistics_delta_rs_would_write() {
        use opensoc_schemas::Table;
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::open(crate::LakeLocation::parse(&dir.path().to_string_lossy()).unwrap()).await.unwrap();
        let tables = every_tables_rows(&lake, dir.path()).await;
        let names: Vec<_> = tables.iter().map(|(t, _)| *t).collect();
        for t in [Table::Packets, Table::Flows, Table::Dns, Table::Http, Table::Tls, Table::Quarantine, Table::Logs] {
            assert!(names.contains(&t), "no rows for {t:?}: the test data should fill every table");
        }
        for (t, rows) in tables {
            let table = lake.table(t).await.unwrap();
            assert!(own_files(&table).unwrap(), "{t:?} is written by delta-rs instead");
            let props = crate::lake::writer_properties(t);
            for (day, run) in runs_by_day(rows).unwrap() {
                let ours = write_as_delta_rs_would(&table, dir.path(), t, day, run, &props).await;
                // Booleans have bounds; lists (answers) have no statistics at all.
                if t == Table::Dns {
                    let stats = stats_of(&ours);
                    assert!(stats["minValues"]["rd"].is_boolean(), "{stats}");
                    assert!(stats["nullCount"].get("answers").is_none(), "{stats}");
                }
            }
        }
    }

    #[test]
    fn a_batch_without_the_partition_column_is_an_error() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let b = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1]))]).unwrap();
        let err = runs_by_day(b).unwrap_err().to_string();
        assert!(err.contains(PARTITION_COLUMN), "{err}");
    }
}
